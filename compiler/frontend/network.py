"""The float integrate-and-fire network that the compiler takes as input.

Nothing here knows about causal inference: an :class:`IFNetwork` is a population of
current-based integrate-and-fire neurons with recurrent weights, a constant drive,
a per-neuron reset depth, a threshold, a synaptic kernel, delays and an optional leak.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Optional, Union

import numpy as np
import scipy.linalg
import scipy.sparse as sp
import scipy.sparse.linalg

from compiler.system.sparse import same_pattern

RESET_MODES = ("subtract", "hard")

STABILITY_TOL = 1e-9
r"""Default relative tolerance of the stability check: the symmetric part of
:math:`W - \mathrm{diag}(D)` counts as negative semidefinite when its largest
eigenvalue is below ``STABILITY_TOL * max(D)``, and a growth rate found on the
simplex proves instability when it exceeds the same bound."""

_EIGSH_MIN_N = 1500
"""From this size on the largest eigenvalue (for messages) comes from ARPACK
(``eigsh(k=1)``) instead of LAPACK's selected-eigenvalue ``eigh``."""


def _as_float_array(name, value, shape=None):
    arr = np.array(value, dtype=float)
    if shape is not None and arr.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"{name} must be finite; {bad} value(s) are NaN or infinite")
    return arr


def _freeze_csr(m: sp.csr_matrix) -> sp.csr_matrix:
    for arr in (m.data, m.indices, m.indptr):
        arr.setflags(write=False)
    return m


def _as_sparse_weights(value) -> sp.csr_matrix:
    r"""A canonical float64 CSR copy of sparse ``weights`` (sorted indices, duplicates
    summed, stored zeros removed), checked without densifying: square, non-empty,
    finite, zero diagonal. Time and memory O(nnz)."""
    w = sp.csr_matrix(value, dtype=np.float64, copy=True)
    if w.ndim != 2 or w.shape[0] != w.shape[1] or w.shape[0] == 0:
        raise ValueError(f"weights must be a non-empty square (N, N) matrix, got shape {w.shape}")
    w.sum_duplicates()
    if not np.all(np.isfinite(w.data)):
        bad = int(w.data.size - np.count_nonzero(np.isfinite(w.data)))
        raise ValueError(f"weights must be finite; {bad} value(s) are NaN or infinite")
    w.eliminate_zeros()
    w.sort_indices()
    if np.any(w.diagonal() != 0):
        raise ValueError("weights must have a zero diagonal (the reset is the self-interaction)")
    return _freeze_csr(w)


def _as_sparse_delay(value, weights: sp.csr_matrix) -> sp.csr_matrix:
    """A float64 CSR delay with exactly the pattern of ``weights`` (stored zero delays
    allowed), finite and >= 0. O(nnz)."""
    d = sp.csr_matrix(value, dtype=np.float64, copy=True)
    if d.shape != weights.shape:
        raise ValueError(f"delay must be a scalar or a CSR matrix of shape {weights.shape}, got {d.shape}")
    d.sum_duplicates()
    d.sort_indices()
    if not same_pattern(d, weights):
        raise ValueError("a sparse delay must have exactly the sparsity pattern of the weights "
                         "(one stored delay per stored weight)")
    if not np.all(np.isfinite(d.data)):
        raise ValueError("delay must be finite")
    if d.data.size and d.data.min() < 0:
        raise ValueError(f"delay must be >= 0 seconds, smallest is {d.data.min():g}")
    return _freeze_csr(d)


def row_of_entries(m: sp.csr_matrix) -> np.ndarray:
    """Row index of every stored entry of a CSR matrix, shape (nnz,)."""
    return np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))


def with_data(m: sp.csr_matrix, data) -> sp.csr_matrix:
    """A CSR matrix with the pattern of ``m`` (shared index arrays) and new ``data``."""
    out = sp.csr_matrix((np.asarray(data), m.indices, m.indptr), shape=m.shape, copy=False)
    out.has_sorted_indices = True
    return out


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
    weights : ndarray, shape (N, N), or scipy.sparse matrix
        ``weights[i, j]`` is the total charge one spike of ``j`` delivers to ``i``.
        The diagonal must be zero (self-interaction is the reset). A sparse matrix is
        stored as a canonical float64 ``csr_matrix`` (sorted indices, duplicates
        summed, stored zeros removed; :attr:`is_sparse`) and never densified: its
        checks, the fold, the rate model, the stability check and :func:`compiler.compile`
        take time and memory O(nnz) (the stability check: see :meth:`stability`).
    bias : ndarray, shape (N,)
        Constant drive :math:`b_i` (voltage per second).
    reset : ndarray, shape (N,)
        Reset depth :math:`D_i > 0`.
    threshold : float or ndarray, shape (N,)
        Threshold :math:`\Theta_i`. Default 1.
    tau_syn : float
        Synaptic time constant in seconds; 0 means delta synapses.
    delay : float, ndarray of shape (N, N), or csr_matrix
        Synaptic delay in seconds, >= 0: a scalar, or per synapse a dense (N, N)
        array (dense weights) or a CSR matrix with exactly the weights' pattern
        (sparse weights).
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
        if sp.issparse(self.weights):
            self._post_init_sparse()
            return
        if sp.issparse(self.delay):
            raise ValueError("a sparse delay needs sparse weights with the same pattern")
        w = _as_float_array("weights", self.weights)
        if w.ndim != 2 or w.shape[0] != w.shape[1] or w.shape[0] == 0:
            raise ValueError(f"weights must be a non-empty square (N, N) matrix, got shape {w.shape}")
        n = w.shape[0]
        if np.any(np.diag(w) != 0):
            raise ValueError("weights must have a zero diagonal (the reset is the self-interaction)")
        dl = _as_float_array("delay", self.delay)
        if dl.shape not in ((), (n, n)):
            raise ValueError(f"delay must be a scalar or shape ({n}, {n}), got {dl.shape}")
        if np.any(dl < 0):
            raise ValueError(f"delay must be >= 0 seconds, smallest is {dl.min():g}")
        for arr in (w, dl):
            arr.setflags(write=False)
        self._check_vectors(n, w, dl if dl.ndim else float(dl))

    def _post_init_sparse(self):
        """:meth:`__post_init__` for sparse weights: O(nnz), nothing (N, N)."""
        w = _as_sparse_weights(self.weights)
        n = w.shape[0]
        if sp.issparse(self.delay):
            dl = _as_sparse_delay(self.delay, w)
        else:
            dl = _as_float_array("delay", self.delay)
            if dl.shape != ():
                raise ValueError(f"delay of a sparse network must be a scalar or a CSR matrix with the "
                                 f"weights' pattern, got an array of shape {dl.shape}")
            if dl < 0:
                raise ValueError(f"delay must be >= 0 seconds, smallest is {float(dl):g}")
            dl = float(dl)
        self._check_vectors(n, w, dl)

    def _check_vectors(self, n, w, dl):
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
        if self.leak_tau is not None:
            lt = float(self.leak_tau)
            if not np.isfinite(lt) or lt <= 0:
                raise ValueError(f"leak_tau must be > 0 seconds or None, got {self.leak_tau}")
            object.__setattr__(self, "leak_tau", lt)
        if self.reset_mode not in RESET_MODES:
            raise ValueError(f"reset_mode must be one of {RESET_MODES}, got {self.reset_mode!r}")
        for arr in (b, d, th):
            arr.setflags(write=False)
        object.__setattr__(self, "weights", w)
        object.__setattr__(self, "bias", b)
        object.__setattr__(self, "reset", d)
        object.__setattr__(self, "threshold", th if th.ndim else float(th))
        object.__setattr__(self, "tau_syn", tau)
        object.__setattr__(self, "delay", dl)

    # ------------------------------------------------------------------ basics
    @property
    def n(self) -> int:
        """Number of neurons."""
        return self.weights.shape[0]

    @property
    def is_sparse(self) -> bool:
        """True when :attr:`weights` is a (canonical, float64) ``csr_matrix``."""
        return sp.issparse(self.weights)

    @property
    def nnz(self) -> int:
        """Number of non-zero weights (stored entries of a sparse network)."""
        return int(self.weights.nnz) if self.is_sparse else int(np.count_nonzero(self.weights))

    @property
    def thresholds(self) -> np.ndarray:
        r"""Per-neuron thresholds :math:`\Theta_i`, shape (N,)."""
        return np.broadcast_to(np.asarray(self.threshold, dtype=float), (self.n,))

    @property
    def reset_potential(self) -> np.ndarray:
        r"""Per-neuron reset potentials :math:`H_i = \Theta_i - D_i`, shape (N,)."""
        return self.thresholds - self.reset

    @property
    def delays(self):
        r"""Delay matrix in seconds, shape (N, N): a read-only broadcast for dense
        networks; for sparse ones a CSR matrix with the weights' pattern (a scalar
        delay filled in, O(nnz))."""
        if self.is_sparse:
            if sp.issparse(self.delay):
                return self.delay
            return with_data(self.weights, np.full(self.weights.nnz, float(self.delay)))
        return np.broadcast_to(np.asarray(self.delay, dtype=float), (self.n, self.n))

    def effective_matrix(self):
        r"""Rate-level interaction :math:`W - \mathrm{diag}(D)` (the reset acts as
        self-inhibition of strength :math:`D_i` per spike); CSR for sparse networks."""
        if self.is_sparse:
            return (self.weights - sp.diags(self.reset, format="csr")).tocsr()
        return self.weights - np.diag(self.reset)

    def symmetric_part(self):
        r""":math:`A_s = (A + A^T)/2` of :math:`A = W - \mathrm{diag}(D)`, shape (N, N)
        (CSR for sparse networks, O(nnz))."""
        a = self.effective_matrix()
        if self.is_sparse:
            s = (0.5 * (a + a.T)).tocsr()
            s.sum_duplicates()
            s.sort_indices()
            return s
        return 0.5 * (a + a.T)

    def is_negative_definite(self, tol: float = 1e-12) -> bool:
        r"""True when the symmetric part of :math:`A = W - \mathrm{diag}(D)` is
        negative definite (largest eigenvalue < -tol)."""
        return self.max_symmetric_eigenvalue() < -tol

    def max_symmetric_eigenvalue(self) -> float:
        r"""Largest eigenvalue of the symmetric part of :math:`W - \mathrm{diag}(D)`."""
        return _largest_eigenpair(self.symmetric_part())[0]

    def max_growth_rate(self, restarts: int = 64, iterations: int = 3000, seed: int = 0,
                        stop_above: Optional[float] = None, extra_starts=None) -> float:
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
        a negative one is the best found, not a proof. Cost: up to ``iterations``
        products of the (N, N) matrix with (N, ``restarts``) starts.

        ``stop_above``: return as soon as one start exceeds this value (a proof, when
        it is >= 0). ``extra_starts``: further non-negative start vectors, shape (N,)
        or (k, N), e.g. the positive and negative parts of the top eigenvector.
        """
        return _max_growth_rate(self.symmetric_part(), restarts, iterations, seed,
                                stop_above, extra_starts)

    def stability(self, tol: float = STABILITY_TOL) -> "Stability":
        r"""Stability verdict of the rate dynamics on :math:`r \ge 0`, computed once
        per network and ``tol`` (cached on this frozen object).

        With :math:`A_s` the symmetric part of :math:`A = W - \mathrm{diag}(D)` and
        the scale :math:`s = \max_i D_i`:

        1. **negative semidefinite**: a Cholesky factorization of
           :math:`-A_s + \mathrm{tol}\, s\, I` succeeds exactly when the largest
           eigenvalue of :math:`A_s` is below :math:`\mathrm{tol}\,s` (up to rounding
           of order :math:`N\epsilon s`): stable. This includes the tuned network of an
           overcomplete problem (:math:`J = -U^T U`, N > M, exact zero eigenvalues;
           its QP is bounded). Cost :math:`N^3/3` flops, measured on two cores with
           the (N, N) symmetric part: 0.1 ms at N = 100, 20 ms at N = 1000, 0.33 s at
           N = 3000.
        2. otherwise, a second Cholesky proves strict copositivity when :math:`-A_s`
           splits into a positive definite part and a non-negative off-diagonal part
           (:func:`_split_certificate`: every network whose interactions are all
           inhibitory, e.g. positive features, mistuned or quantized).
        3. otherwise (mixed-sign interactions: mistuned, excitatory) the largest
           eigenvalue is computed for the record (LAPACK selected eigenvalue, or
           ARPACK ``eigsh(k=1)`` from N = 1500 on) and :meth:`max_growth_rate`
           searches the simplex, started also from the positive and negative parts of
           the top eigenvector: a value above :math:`\mathrm{tol}\,s` proves
           instability (the search stops there: 65 ms at N = 100, 0.24 s at N = 1000,
           3.1 s at N = 3000 for U[-0.1, 0.1] mistuning); otherwise the network counts
           as stable (best found, not a proof) after up to 3000 products with an
           (N, 64) block: 0.5 s at N = 100, 15 s at N = 1000.

        Sparse networks (:attr:`is_sparse`) never form an (N, N) matrix; with
        :math:`A_s` in CSR:

        1. **copositive (M-matrix split)**: the split of step 2 above, proved without
           a factorization: :math:`T = -\mathrm{diag}(A_s) + \mathrm{tol}\,s\,I - P`
           (:math:`P` the positive off-diagonal part of :math:`A_s`) is a symmetric
           Z-matrix; a vector :math:`v > 0` with :math:`T v > 0` (checked in floating
           point with a rounding margin; found by conjugate gradients on
           :math:`T v = 1`) proves it a non-singular M-matrix, hence positive definite,
           so :math:`x^T A_s x \le x^T(\mathrm{diag}(A_s) + P)x < \mathrm{tol}\,s`
           on the simplex: a proof. Networks whose interactions are all inhibitory pass
           at once (:math:`P = 0`). Cost O(nnz) per CG iteration.
        2. **negative semidefinite (Lanczos estimate)**: the largest eigenvalue
           :math:`\theta` of :math:`A_s` from ARPACK (``eigsh(k=1, which="LA")``) and
           the residual :math:`\rho = |A_s v - \theta v|` of its vector; stable when
           :math:`\theta + \rho \le \mathrm{tol}\,s`. A Ritz value never exceeds
           :math:`\lambda_{\max}` and :math:`\rho` bounds the distance to an
           eigenvalue, so this is an *estimate*, not a proof: an eigenvalue the Krylov
           space missed could lie above it (the method name says so). O(nnz) per
           Lanczos step.
        3. otherwise the simplex search of step 3 with sparse products
           (:math:`Bx = A_s x + c\,(1^T x) 1`), started also from the pairs of the
           largest stored couplings: O(nnz) per start and iteration.
        """
        cache = self.__dict__.setdefault("_stability_cache", {})
        key = float(tol)
        if key not in cache:
            cache[key] = _stability_of(self.symmetric_part(), key, self.name)
        return cache[key]

    def is_stable(self, tol: float = STABILITY_TOL) -> bool:
        r"""Whether the rate dynamics on :math:`r \ge 0` are stable (no run-away).

        The verdict of :meth:`stability` (cached): negative semidefiniteness of the
        symmetric part of :math:`W - \mathrm{diag}(D)` (up to ``tol`` relative to the
        largest reset depth) is sufficient; when it fails (mistuned connectivity),
        stability needs strict copositivity of its negative, searched by
        :meth:`max_growth_rate`. Mistuning with zero-mean noise U[-0.1, 0.1]
        typically breaks it; a negative mean, U[-0.2, 0], keeps it (the paper's Fig. 4).
        """
        return self.stability(tol).stable

    def replace(self, **changes) -> "IFNetwork":
        """A validated copy with some fields changed."""
        return replace(self, **changes)

    def initial_voltages(self, rng: np.random.Generator, trials: int) -> np.ndarray:
        r"""Independent uniform initial voltages in :math:`[H_i, \Theta_i]`, shape (trials, N)."""
        return self.voltages_at(rng.random((trials, self.n)))

    def voltages_at(self, fraction) -> np.ndarray:
        r"""Voltages a ``fraction`` of the way from reset to threshold,
        :math:`V = H + x D` (the inverse of the fold, :mod:`compiler.frontend.fold`)."""
        return self.reset_potential + np.asarray(fraction, float) * self.reset

    def to_dict(self) -> dict:
        """Plain arrays and scalars, e.g. for ``np.savez``."""
        return {
            "weights": self.weights, "bias": self.bias, "reset": self.reset,
            "threshold": np.asarray(self.threshold), "tau_syn": self.tau_syn,
            "delay": self.delay if sp.issparse(self.delay) else np.asarray(self.delay),
            "leak_tau": np.nan if self.leak_tau is None else self.leak_tau,
            "reset_mode": self.reset_mode, "name": self.name,
        }

    @classmethod
    def from_dict(cls, d: dict) -> "IFNetwork":
        """Inverse of :meth:`to_dict`."""
        leak = float(d["leak_tau"])
        return cls(
            weights=d["weights"] if sp.issparse(d["weights"]) else np.asarray(d["weights"]),
            bias=np.asarray(d["bias"]), reset=np.asarray(d["reset"]), threshold=np.asarray(d["threshold"]),
            tau_syn=float(d["tau_syn"]), delay=d["delay"] if sp.issparse(d["delay"]) else np.asarray(d["delay"]),
            leak_tau=None if np.isnan(leak) else leak,
            reset_mode=str(d["reset_mode"]), name=str(d["name"]),
        )


# ------------------------------------------------------------------ stability
@dataclass(frozen=True)
class Stability:
    r"""Verdict of the stability check (:meth:`IFNetwork.stability`, :func:`compiler.quantization.stability.check_stable`).

    Attributes
    ----------
    stable : bool
    method : str
        ``"negative semidefinite"`` or ``"copositive (PSD + non-negative split)"``
        (a Cholesky factorization proved it), or ``"copositive search"``
        (:meth:`IFNetwork.max_growth_rate` decided).
    max_eigenvalue : float or None
        Largest eigenvalue of the symmetric part :math:`A_s` of
        :math:`W - \mathrm{diag}(D)`; None when a Cholesky test passed (not needed).
    growth_rate : float or None
        Largest :math:`x^T A_s x` found on the simplex :math:`\{x \ge 0, \sum x = 1\}`;
        None when not searched. Positive: a non-negative run-away direction (a proof).
    bound : float
        ``tol * max(D) + resolution``: the growth on the simplex every test allows.
    tol : float
    seconds : float
        Wall time of the check.
    name : str
        Name of the network checked.
    resolution : float
        Weight resolution of chip integers added to the bound (0 for float networks;
        see :func:`compiler.quantization.stability.check_stable` for fixed-point networks).
    """

    stable: bool
    method: str
    max_eigenvalue: Optional[float]
    growth_rate: Optional[float]
    bound: float
    tol: float
    seconds: float
    name: str = "network"
    resolution: float = 0.0

    def message(self) -> str:
        """One line explaining the verdict (used in errors and warnings)."""
        within = (f" (tolerance {self.bound:.3g}, of which {self.resolution:.3g} is the weight "
                  f"resolution of the chip integers)" if self.resolution else "")
        if self.stable:
            if self.method == "copositive search":
                return (f"network {self.name!r} is stable: the symmetric part A_s of W - diag(D) has "
                        f"largest eigenvalue {self.max_eigenvalue:.6g}, but the largest growth rate "
                        f"x^T A_s x found on the non-negative simplex is {self.growth_rate:.6g}{within}")
            return f"network {self.name!r} is stable ({self.method}{within})"
        return (f"network {self.name!r} is unstable: the symmetric part A_s of W - diag(D) has largest "
                f"eigenvalue {self.max_eigenvalue:.6g} and its rates can run away along a non-negative "
                f"direction, growth rate x^T A_s x = {self.growth_rate:.6g} found on the simplex "
                f"{{x >= 0, sum x = 1}}{within}; check the weights (mistuning, signs, reset depths) or "
                f"pass allow_unstable=True (command line: --allow-unstable) to run it anyway")

    def to_dict(self) -> dict:
        """Plain values, e.g. for JSON."""
        return {"stable": self.stable, "method": self.method, "max_eigenvalue": self.max_eigenvalue,
                "growth_rate": self.growth_rate, "bound": self.bound, "tol": self.tol,
                "seconds": self.seconds, "name": self.name, "resolution": self.resolution}


def _scale(a_sym) -> float:
    """Scale of the tolerance: the largest reset depth, max |diag(A_s)|."""
    if sp.issparse(a_sym):
        top = float(np.max(np.abs(a_sym.data), initial=0.0))
        return float(np.max(np.abs(a_sym.diagonal()), initial=0.0)) or top or 1.0
    return float(np.max(np.abs(np.diag(a_sym)))) or float(np.max(np.abs(a_sym))) or 1.0


def _cholesky_nsd(a_sym: np.ndarray, bound: float) -> bool:
    r"""True when :math:`-A_s + \mathrm{bound}\,I` has a Cholesky factor, i.e.
    :math:`\lambda_{\max}(A_s) < \mathrm{bound}`, hence :math:`x^T A_s x \le
    \mathrm{bound}\,|x|^2 \le \mathrm{bound}` on the simplex. Cost :math:`N^3/3`."""
    if sp.issparse(a_sym):
        return _lanczos_nsd(a_sym, bound)
    shifted = -a_sym
    shifted.flat[:: a_sym.shape[0] + 1] += bound
    try:
        scipy.linalg.cholesky(shifted, lower=True, overwrite_a=True, check_finite=False)
        return True
    except np.linalg.LinAlgError:
        return False


def _stability_of(a_sym: np.ndarray, tol: float, name: str, resolution: float = 0.0) -> Stability:
    r"""The tests of :meth:`IFNetwork.stability` on a symmetric matrix. Each one
    certifies :math:`x^T A_s x \le \mathrm{bound}` on the simplex, with
    ``bound = tol * max|diag| + resolution``, or (the search) refutes it."""
    start = time.perf_counter()
    bound = tol * _scale(a_sym) + resolution

    def verdict(stable, method, lam=None, growth=None):
        return Stability(bool(stable), method, lam, growth, bound, tol, time.perf_counter() - start,
                         name, resolution)

    if sp.issparse(a_sym):
        if _split_certificate(a_sym, bound):
            return verdict(True, SPARSE_SPLIT_METHOD)
        if _lanczos_nsd(a_sym, bound):
            return verdict(True, LANCZOS_METHOD)
    elif _cholesky_nsd(a_sym, bound):
        return verdict(True, "negative semidefinite")
    elif _split_certificate(a_sym, bound):
        return verdict(True, "copositive (PSD + non-negative split)")
    lam, vec = _largest_eigenpair(a_sym)
    starts = [np.maximum(vec, 0.0), np.maximum(-vec, 0.0)]
    starts = [x / x.sum() for x in starts if x.sum() > 0]
    growth = _max_growth_rate(a_sym, stop_above=bound, extra_starts=starts or None)
    return verdict(growth <= bound, "copositive search", lam, growth)


def _split_certificate(a_sym: np.ndarray, bound: float) -> bool:
    r"""A sufficient condition for :math:`x^T A_s x \le \mathrm{bound}` on the
    simplex (strict copositivity of :math:`-A_s` up to the bound): split
    :math:`-A_s = S + P` with :math:`P` the positive part of the off-diagonal of
    :math:`-A_s` (entrywise non-negative, so :math:`x^T P x \ge 0` on
    :math:`x \ge 0`) and check :math:`S + \mathrm{bound}\,I` positive definite by
    Cholesky. Covers every network whose off-diagonal interactions are all
    inhibitory (positive features, U[-a, 0] mistuning of them, their quantized
    versions) at the cost of one more :math:`N^3/3` factorization. Sparse ``a_sym``:
    :func:`_m_matrix_certificate` (O(nnz) per CG iteration)."""
    if sp.issparse(a_sym):
        return _m_matrix_certificate(a_sym, bound)
    n = a_sym.shape[0]
    diag = -np.diag(a_sym)
    if np.any(diag + bound <= 0):
        return False
    s = -np.maximum(a_sym, 0.0)  # off-diagonal: minus the positive part of A_s
    np.fill_diagonal(s, 0.0)
    if not s.any():
        return True  # every off-diagonal entry of A_s is <= 0: S is the positive diagonal
    s.flat[:: n + 1] = diag + bound
    try:
        scipy.linalg.cholesky(s, lower=True, overwrite_a=True, check_finite=False)
        return True
    except np.linalg.LinAlgError:
        return False


SPARSE_SPLIT_METHOD = "copositive (non-negative split, M-matrix certificate)"
"""Method name of the sparse split certificate (a proof), see :meth:`IFNetwork.stability`."""
LANCZOS_METHOD = "negative semidefinite (Lanczos estimate, not a proof)"
"""Method name of the sparse Lanczos test (an estimate), see :meth:`IFNetwork.stability`."""
CG_MAX_ITERATIONS = 500
"""Most conjugate-gradient iterations of the sparse M-matrix certificate."""
LANCZOS_MAX_ITERATIONS = 3000
"""Most ARPACK restarts (``maxiter``) of the sparse Lanczos test."""


def _m_matrix_certificate(a_sym: sp.csr_matrix, bound: float) -> bool:
    r"""Sparse split certificate: :math:`T = \mathrm{diag}(\mathrm{bound} - a_{ii}) - P`,
    :math:`P` the positive off-diagonal part of :math:`A_s`, is a symmetric Z-matrix;
    :math:`v > 0` and :math:`Tv > 0` prove it a non-singular M-matrix (then
    :math:`D_v T D_v` is strictly diagonally dominant with a positive diagonal), hence
    positive definite, hence :math:`x^T A_s x \le x^T(\mathrm{diag}(A_s) + P)x
    < \mathrm{bound}\,|x|^2` for :math:`x \ge 0`. :math:`v` comes from CG on
    :math:`Tv = 1`; :math:`Tv` must exceed its floating-point error bound
    :math:`(k+2)\epsilon\,(|T|v)_i` (:math:`k` the most entries of a row), so the
    verdict is a proof. Time O(nnz) per iteration (at most :data:`CG_MAX_ITERATIONS`),
    memory O(nnz)."""
    diag = bound - a_sym.diagonal()
    if np.any(diag <= 0):
        return False
    a_sym = sp.csr_matrix(a_sym)
    rows = row_of_entries(a_sym)
    positive = (a_sym.data > 0) & (a_sym.indices != rows)
    if not positive.any():
        return True  # every off-diagonal entry of A_s is <= 0: T is the positive diagonal
    off = sp.csr_matrix((a_sym.data[positive], (rows[positive], a_sym.indices[positive])), shape=a_sym.shape)
    t = (sp.diags(diag, format="csr") - off).tocsr()
    ones = np.ones(t.shape[0])
    try:
        v, _info = scipy.sparse.linalg.cg(t, ones, rtol=1e-10, maxiter=CG_MAX_ITERATIONS,
                                          M=sp.diags(1.0 / diag))
    except TypeError:  # scipy < 1.12 names it tol
        v, _info = scipy.sparse.linalg.cg(t, ones, tol=1e-10, maxiter=CG_MAX_ITERATIONS,
                                          M=sp.diags(1.0 / diag))
    if not np.all(np.isfinite(v)) or np.any(v <= 0):
        return False
    tv = t @ v
    k = int(np.max(np.diff(t.indptr), initial=1))
    err = (k + 2) * np.finfo(float).eps * (abs(t) @ v)
    return bool(np.all(tv > err))


def _lanczos_nsd(a_sym: sp.csr_matrix, bound: float) -> bool:
    r"""Lanczos estimate :math:`\theta + |A_s v - \theta v| \le \mathrm{bound}` (see
    :meth:`IFNetwork.stability`, sparse step 2: an estimate, not a proof); False when
    ARPACK does not converge. O(nnz) per Lanczos step."""
    pair = _sparse_top_eigenpair(a_sym)
    if pair is None:
        return False
    lam, vec = pair
    resid = float(np.linalg.norm(a_sym @ vec - lam * vec))
    return lam + resid <= bound


def _sparse_top_eigenpair(a_sym: sp.csr_matrix):
    """Largest eigenpair of a sparse symmetric matrix by ARPACK, None if it fails."""
    n = a_sym.shape[0]
    if n < 3:
        val, vec = np.linalg.eigh(a_sym.toarray())  # at most 2 x 2
        return float(val[-1]), vec[:, -1]
    try:
        v0 = np.random.default_rng(0).random(n) + 0.5
        val, vec = scipy.sparse.linalg.eigsh(a_sym, k=1, which="LA", tol=1e-12, v0=v0,
                                             maxiter=LANCZOS_MAX_ITERATIONS)
        return float(val[0]), vec[:, 0]
    except scipy.sparse.linalg.ArpackNoConvergence as exc:
        if len(exc.eigenvalues):
            return float(exc.eigenvalues[0]), exc.eigenvectors[:, 0]
        return None
    except scipy.sparse.linalg.ArpackError:
        return None


def _largest_eigenpair(a_sym):
    """Largest eigenvalue and its unit eigenvector of a symmetric matrix (dense or CSR)."""
    n = a_sym.shape[0]
    if sp.issparse(a_sym):
        pair = _sparse_top_eigenpair(a_sym)
        if pair is None:
            raise np.linalg.LinAlgError("ARPACK found no eigenvalue of the sparse symmetric part")
        return pair
    if n >= _EIGSH_MIN_N:
        try:
            val, vec = scipy.sparse.linalg.eigsh(a_sym, k=1, which="LA", tol=1e-10)
            return float(val[0]), vec[:, 0]
        except scipy.sparse.linalg.ArpackNoConvergence:
            pass
    val, vec = scipy.linalg.eigh(a_sym, subset_by_index=[n - 1, n - 1], check_finite=False)
    return float(val[0]), vec[:, 0]


def _max_growth_rate(a, restarts: int = 64, iterations: int = 3000, seed: int = 0,
                     stop_above: Optional[float] = None, extra_starts=None) -> float:
    """:meth:`IFNetwork.max_growth_rate` on a symmetric matrix ``a`` (dense, or CSR:
    products O(nnz) per start, pair starts from the stored couplings)."""
    n = a.shape[0]
    sparse = sp.issparse(a)
    diag = a.diagonal() if sparse else np.diag(a)
    if n == 1:
        return float(diag[0])
    diag_max = float(np.max(diag))
    if stop_above is not None and diag_max > stop_above:
        return diag_max  # a vertex already grows
    # B = A + shift 11^T must be positive for monotone ascent; a small margin above
    # -min(A) converges 2-3x faster than a margin of 1.
    if sparse:
        a_min = min(float(np.min(a.data, initial=0.0)), 0.0 if a.nnz < n * n else np.inf)
    else:
        a_min = float(a.min())
    shift = 1e-2 * max(float(np.max(np.abs(diag))), 1e-300) - a_min
    rng = np.random.default_rng(seed)
    starts = [np.full(n, 1.0 / n)]
    for i, j in _top_pairs(a, diag, restarts // 4 if sparse else restarts // 2):
        x = np.full(n, 1e-3 / n)
        x[[i, j]] += 0.5
        starts.append(x / x.sum())
    starts += list(rng.dirichlet(np.full(n, 0.5), size=max(restarts - len(starts), 1)))
    if extra_starts is not None:
        extra = np.atleast_2d(np.asarray(extra_starts, float))
        starts += [x / x.sum() for x in extra if x.sum() > 0]
    x = np.array(starts).T  # (n, starts)
    if sparse:
        def times_b(y):
            return a @ y + shift * y.sum(axis=0, keepdims=True)
    else:
        b = a + shift

        def times_b(y):
            return b @ y
    best = -np.inf
    for _ in range(iterations):
        bx = times_b(x)
        xbx = np.sum(x * bx, axis=0, keepdims=True)
        # On the simplex x^T A x = x^T B x - shift: the current values come for free.
        best = max(best, float(xbx.max()) - shift)
        if stop_above is not None and best > stop_above:
            return float(max(best, diag_max))
        new = x * bx / xbx
        done = np.max(np.abs(new - x)) < 1e-12
        x = new
        if done:
            break
    best = max(best, float(np.max(np.sum(x * (a @ x), axis=0))))
    return float(max(best, diag_max))


def _top_pairs(a, diag, count: int):
    """Vertex pairs (i, j), i != j, with the largest :math:`x^T A x` at
    :math:`x = (e_i + e_j)/2`: dense, every other of the ``count`` largest of the
    (N, N) table (as before); CSR, the ``count`` largest over the stored couplings."""
    if sp.issparse(a):
        upper = sp.triu(a, k=1, format="coo")
        if upper.nnz == 0:
            return []
        val = (diag[upper.row] + diag[upper.col] + 2 * upper.data) / 4
        order = np.argsort(val)[::-1][:count]
        return [(int(upper.row[k]), int(upper.col[k])) for k in order]
    n = a.shape[0]
    pair_val = (diag[:, None] + diag[None, :] + 2 * a) / 4
    np.fill_diagonal(pair_val, -np.inf)
    return [divmod(int(k), n) for k in np.argsort(pair_val, axis=None)[::-1][: count: 2]]
