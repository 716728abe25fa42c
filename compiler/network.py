"""The float integrate-and-fire network that the compiler takes as input.

Nothing here knows about causal inference: an :class:`IFNetwork` is a population of
current-based integrate-and-fire neurons with recurrent weights, a constant drive,
a per-neuron reset depth, a threshold, a synaptic kernel, delays and an optional leak.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Optional, Union

import numpy as np

RESET_MODES = ("subtract", "hard")


def _as_float_array(name, value, shape=None):
    arr = np.array(value, dtype=float)
    if shape is not None and arr.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"{name} must be finite; {bad} value(s) are NaN or infinite")
    return arr


@dataclass(frozen=True, eq=False)
class IFNetwork:
    r"""A recurrent population of current-based integrate-and-fire neurons.

    Membrane dynamics of neuron ``i`` (time in seconds):

    .. math::

        \frac{dV_i}{dt} = -\frac{V_i}{\tau_m} + b_i
            + \sum_{j \ne i} W_{ij} \sum_l k(t - t_j^l - d_{ij})

    with the leak term present only when ``leak_tau`` is set. The synaptic kernel
    integrates to one: :math:`k(t) = e^{-t/\tau_s}/\tau_s` for ``tau_syn > 0`` and
    :math:`k(t) = \delta(t)` for ``tau_syn == 0``. When :math:`V_i` exceeds the
    threshold :math:`\Theta_i` the neuron spikes and

    * ``reset_mode="subtract"``: :math:`V_i \leftarrow V_i - D_i` (overshoot kept),
    * ``reset_mode="hard"``: :math:`V_i \leftarrow \Theta_i - D_i` (overshoot lost).

    The reset potential is :math:`H_i = \Theta_i - D_i`; initial voltages are drawn
    uniformly in :math:`[H_i, \Theta_i]`.

    Parameters
    ----------
    weights : ndarray, shape (N, N)
        ``weights[i, j]`` is the total charge one spike of ``j`` delivers to ``i``.
        The diagonal must be zero (self-interaction is the reset).
    bias : ndarray, shape (N,)
        Constant drive :math:`b_i` (voltage per second).
    reset : ndarray, shape (N,)
        Reset depth :math:`D_i > 0`.
    threshold : float or ndarray, shape (N,)
        Threshold :math:`\Theta_i`. Default 1.
    tau_syn : float
        Synaptic time constant in seconds; 0 means delta synapses.
    delay : float or ndarray, shape (N, N)
        Synaptic delay in seconds, >= 0.
    leak_tau : float or None
        Membrane time constant in seconds; None means non-leaky.
    reset_mode : {"subtract", "hard"}
    """

    weights: np.ndarray
    bias: np.ndarray
    reset: np.ndarray
    threshold: Union[float, np.ndarray] = 1.0
    tau_syn: float = 5e-3
    delay: Union[float, np.ndarray] = 0.0
    leak_tau: Optional[float] = None
    reset_mode: str = "subtract"
    name: str = field(default="network")

    def __post_init__(self):
        w = _as_float_array("weights", self.weights)
        if w.ndim != 2 or w.shape[0] != w.shape[1] or w.shape[0] == 0:
            raise ValueError(f"weights must be a non-empty square (N, N) matrix, got shape {w.shape}")
        n = w.shape[0]
        if np.any(np.diag(w) != 0):
            raise ValueError("weights must have a zero diagonal (the reset is the self-interaction)")
        b = _as_float_array("bias", self.bias, (n,))
        d = _as_float_array("reset", self.reset, (n,))
        if np.any(d <= 0):
            raise ValueError(f"reset depths must be > 0; smallest is {d.min():g}")
        th = _as_float_array("threshold", self.threshold)
        if th.shape not in ((), (n,)):
            raise ValueError(f"threshold must be a scalar or shape ({n},), got {th.shape}")
        tau = float(self.tau_syn)
        if not np.isfinite(tau) or tau < 0:
            raise ValueError(f"tau_syn must be >= 0 seconds (0 = delta synapses), got {self.tau_syn}")
        dl = _as_float_array("delay", self.delay)
        if dl.shape not in ((), (n, n)):
            raise ValueError(f"delay must be a scalar or shape ({n}, {n}), got {dl.shape}")
        if np.any(dl < 0):
            raise ValueError(f"delay must be >= 0 seconds, smallest is {dl.min():g}")
        if self.leak_tau is not None:
            lt = float(self.leak_tau)
            if not np.isfinite(lt) or lt <= 0:
                raise ValueError(f"leak_tau must be > 0 seconds or None, got {self.leak_tau}")
            object.__setattr__(self, "leak_tau", lt)
        if self.reset_mode not in RESET_MODES:
            raise ValueError(f"reset_mode must be one of {RESET_MODES}, got {self.reset_mode!r}")
        for arr in (w, b, d, th, dl):
            arr.setflags(write=False)
        object.__setattr__(self, "weights", w)
        object.__setattr__(self, "bias", b)
        object.__setattr__(self, "reset", d)
        object.__setattr__(self, "threshold", th if th.ndim else float(th))
        object.__setattr__(self, "tau_syn", tau)
        object.__setattr__(self, "delay", dl if dl.ndim else float(dl))

    # ------------------------------------------------------------------ basics
    @property
    def n(self) -> int:
        """Number of neurons."""
        return self.weights.shape[0]

    @property
    def thresholds(self) -> np.ndarray:
        r"""Per-neuron thresholds :math:`\Theta_i`, shape (N,)."""
        return np.broadcast_to(np.asarray(self.threshold, dtype=float), (self.n,))

    @property
    def reset_potential(self) -> np.ndarray:
        r"""Per-neuron reset potentials :math:`H_i = \Theta_i - D_i`, shape (N,)."""
        return self.thresholds - self.reset

    @property
    def delays(self) -> np.ndarray:
        r"""Delay matrix in seconds, shape (N, N)."""
        return np.broadcast_to(np.asarray(self.delay, dtype=float), (self.n, self.n))

    def effective_matrix(self) -> np.ndarray:
        r"""Rate-level interaction :math:`W - \mathrm{diag}(D)` (the reset acts as
        self-inhibition of strength :math:`D_i` per spike)."""
        return self.weights - np.diag(self.reset)

    def is_negative_definite(self, tol: float = 1e-12) -> bool:
        r"""True when the symmetric part of :math:`A = W - \mathrm{diag}(D)` is
        negative definite (largest eigenvalue < -tol)."""
        return self.max_symmetric_eigenvalue() < -tol

    def max_symmetric_eigenvalue(self) -> float:
        r"""Largest eigenvalue of the symmetric part of :math:`W - \mathrm{diag}(D)`."""
        a = self.effective_matrix()
        return float(np.linalg.eigvalsh(0.5 * (a + a.T))[-1])

    def max_growth_rate(self, restarts: int = 64, iterations: int = 3000, seed: int = 0) -> float:
        r"""Largest value of :math:`x^T A_s x` found over the simplex
        :math:`\{x \ge 0, \sum x = 1\}`, :math:`A_s` the symmetric part of
        :math:`A = W - \mathrm{diag}(D)`.

        Rates are non-negative, so the network can only run away along non-negative
        directions: it is stable exactly when :math:`-A_s` is strictly copositive,
        i.e. this maximum is negative. The maximum of this standard quadratic
        program is searched with replicator dynamics
        :math:`x_i \leftarrow x_i (B x)_i / x^T B x`, :math:`B = A_s + c\,11^T > 0`
        (monotone ascent), started from the barycentre, every vertex pair with the
        largest couplings and random points. A positive value proves instability;
        a negative one is the best found, not a proof.
        """
        a = self.effective_matrix()
        a = 0.5 * (a + a.T)
        n = self.n
        if n == 1:
            return float(a[0, 0])
        shift = 1.0 - a.min()
        b = a + shift
        rng = np.random.default_rng(seed)
        starts = [np.full(n, 1.0 / n)]
        # Pairs (i, j) with the largest x^T A x at x = (e_i + e_j)/2.
        pair_val = (np.diag(a)[:, None] + np.diag(a)[None, :] + 2 * a) / 4
        np.fill_diagonal(pair_val, -np.inf)
        for k in np.argsort(pair_val, axis=None)[::-1][: restarts // 2: 2]:
            x = np.full(n, 1e-3 / n)
            i, j = divmod(int(k), n)
            x[[i, j]] += 0.5
            starts.append(x / x.sum())
        starts += list(rng.dirichlet(np.full(n, 0.5), size=max(restarts - len(starts), 1)))
        x = np.array(starts).T  # (n, starts)
        for _ in range(iterations):
            bx = b @ x
            new = x * bx / np.sum(x * bx, axis=0, keepdims=True)
            done = np.max(np.abs(new - x)) < 1e-12
            x = new
            if done:
                break
        best = np.max(np.sum(x * (a @ x), axis=0))
        return float(max(best, np.max(np.diag(a))))

    def is_stable(self, tol: float = 1e-9) -> bool:
        r"""Whether the rate dynamics on :math:`r \ge 0` are stable (no run-away).

        Negative definiteness of the symmetric part of :math:`W - \mathrm{diag}(D)`
        is sufficient; when it fails (low-rank or mistuned connectivity), stability
        needs strict copositivity of its negative, checked by
        :meth:`max_growth_rate`. Mistuning with zero-mean noise U[-0.1, 0.1]
        typically breaks it; a negative mean, U[-0.2, 0], keeps it (SPEC section 3).
        """
        if self.is_negative_definite():
            return True
        return self.max_growth_rate() < -tol

    def replace(self, **changes) -> "IFNetwork":
        """A validated copy with some fields changed."""
        return replace(self, **changes)

    def initial_voltages(self, rng: np.random.Generator, trials: int) -> np.ndarray:
        r"""Independent uniform initial voltages in :math:`[H_i, \Theta_i]`, shape (trials, N)."""
        return self.voltages_at(rng.random((trials, self.n)))

    def voltages_at(self, fraction) -> np.ndarray:
        r"""Voltages a ``fraction`` of the way from reset to threshold,
        :math:`V = H + x D` (the inverse of the fold, :mod:`compiler.fold`)."""
        return self.reset_potential + np.asarray(fraction, float) * self.reset

    def to_dict(self) -> dict:
        """Plain arrays and scalars, e.g. for ``np.savez``."""
        return {
            "weights": self.weights, "bias": self.bias, "reset": self.reset,
            "threshold": np.asarray(self.threshold), "tau_syn": self.tau_syn,
            "delay": np.asarray(self.delay),
            "leak_tau": np.nan if self.leak_tau is None else self.leak_tau,
            "reset_mode": self.reset_mode, "name": self.name,
        }

    @classmethod
    def from_dict(cls, d: dict) -> "IFNetwork":
        """Inverse of :meth:`to_dict`."""
        leak = float(d["leak_tau"])
        return cls(
            weights=np.asarray(d["weights"]), bias=np.asarray(d["bias"]),
            reset=np.asarray(d["reset"]), threshold=np.asarray(d["threshold"]),
            tau_syn=float(d["tau_syn"]), delay=np.asarray(d["delay"]),
            leak_tau=None if np.isnan(leak) else leak,
            reset_mode=str(d["reset_mode"]), name=str(d["name"]),
        )
