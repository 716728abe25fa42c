r"""A recurrent LIF network whose recurrent weights RLS trains, and its
:class:`compiler.IFNetwork`.

The network is the one of :mod:`lava_causal.rls.dynamics` (dimensionless units:
threshold 1, reset and rest 0, drives in thresholds). Each neuron ``i`` receives from a
fixed random subset :math:`S_i` of K other neurons (its presynaptic subset, the same K
for every neuron, self excluded); only those weights exist and only they are trained.
The initial weights are :math:`\Omega_{ij} \sim \mathcal{N}(0, g^2/K)` on
:math:`S_i`: with :math:`g` near 1 and above, the untrained network fires irregularly
(its "innate" activity).

As an :class:`compiler.IFNetwork` (seconds, volts in thresholds):

.. math::

    \frac{dV_i}{dt} = -\frac{V_i}{\tau_m} + \frac{b_i}{\tau_m}
        + \sum_{j} W_{ij} \sum_l \frac{e^{-(t - t_j^l)/\tau_s}}{\tau_s},
    \qquad W_{ij} = \Omega_{ij}\frac{\tau_s}{\tau_m},

threshold 1, reset depth 1, hard reset (to 0), leak :math:`\tau_m`.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from compiler import IFNetwork

TAU_M = 0.01
"""Default membrane time constant (s)."""
TAU_S = 0.05
"""Default synaptic decay time constant (s)."""
BIAS = 1.2
r"""Default constant bias in thresholds: a neuron without recurrent input fires
tonically at :math:`1/(\tau_m \ln(b/(b-1)))` = 56 Hz."""


def _positive(name, value):
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be finite and > 0, got {value}")
    return value


@dataclass(frozen=True, eq=False)
class RecurrentNetwork:
    r"""A recurrent LIF network with presynaptic subsets (module docstring).

    Attributes
    ----------
    omega : ndarray (N, N)
        Weights :math:`\Omega_{ij}` (thresholds of drive per unit of filtered spike
        train); zero outside the presynaptic subsets and on the diagonal.
    presynaptic : ndarray (N, K) of int64
        :math:`S_i`, sorted, without ``i``.
    bias : ndarray (N,)
        Constant bias :math:`b_i` in thresholds.
    tau_m, tau_s : float
        Membrane and synaptic time constants (s).
    seed : int
        Seed the initial weights and subsets were drawn with.
    gain : float
        :math:`g` of the initial weights.
    """

    omega: np.ndarray
    presynaptic: np.ndarray
    bias: np.ndarray
    tau_m: float = TAU_M
    tau_s: float = TAU_S
    seed: int = 0
    gain: float = 1.0
    name: str = field(default="RLS network")

    def __post_init__(self):
        omega = np.array(self.omega, dtype=float)
        n = omega.shape[0] if omega.ndim == 2 else -1
        if omega.ndim != 2 or omega.shape != (n, n) or n < 2:
            raise ValueError(f"omega must be a square (N, N) matrix with N >= 2, got shape {omega.shape}")
        if not np.all(np.isfinite(omega)):
            raise ValueError("omega must be finite")
        pre = np.array(self.presynaptic, dtype=np.int64)
        if pre.ndim != 2 or pre.shape[0] != n or pre.shape[1] < 1:
            raise ValueError(f"presynaptic must have shape ({n}, K) with K >= 1, got {pre.shape}")
        if pre.min() < 0 or pre.max() >= n or np.any(pre == np.arange(n)[:, None]):
            raise ValueError("presynaptic subsets must hold indices 0..N-1 other than the neuron itself")
        mask = np.zeros((n, n), bool)
        mask[np.repeat(np.arange(n), pre.shape[1]), pre.ravel()] = True
        if mask.sum() != pre.size:
            raise ValueError("presynaptic subsets must not repeat a neuron")
        if np.any(omega[~mask] != 0):
            raise ValueError("omega must be zero outside the presynaptic subsets")
        bias = np.array(self.bias, dtype=float)
        if bias.shape != (n,) or not np.all(np.isfinite(bias)):
            raise ValueError(f"bias must be finite with shape ({n},), got {bias.shape}")
        for name in ("tau_m", "tau_s"):
            object.__setattr__(self, name, _positive(name, getattr(self, name)))
        for arr in (omega, pre, bias):
            arr.setflags(write=False)
        object.__setattr__(self, "omega", omega)
        object.__setattr__(self, "presynaptic", pre)
        object.__setattr__(self, "bias", bias)

    @property
    def n(self) -> int:
        """Number of neurons."""
        return self.omega.shape[0]

    @property
    def k(self) -> int:
        """Presynaptic subset size K."""
        return self.presynaptic.shape[1]

    def with_weights(self, omega) -> "RecurrentNetwork":
        """A copy with new weights (same subsets)."""
        return replace(self, omega=omega)

    def to_ifnetwork(self) -> IFNetwork:
        r"""The :class:`compiler.IFNetwork` (module docstring): what the compiler takes."""
        return IFNetwork(weights=self.omega * (self.tau_s / self.tau_m), bias=self.bias / self.tau_m,
                         reset=np.ones(self.n), threshold=1.0, tau_syn=self.tau_s, leak_tau=self.tau_m,
                         reset_mode="hard", name=self.name)

    def stimulus_bias(self, stimulus) -> np.ndarray:
        r"""The IFNetwork bias (per second) while ``stimulus`` (thresholds, (N,)) is on:
        :math:`(b + s)/\tau_m`."""
        return (self.bias + np.asarray(stimulus, float)) / self.tau_m


def random_network(n: int, k: int = None, connectivity: float = 0.3, gain: float = 1.0,
                   mean: float = 0.0, bias: float = BIAS, tau_m: float = TAU_M, tau_s: float = TAU_S, seed: int = 0) -> RecurrentNetwork:
    r"""An untrained network: N neurons, each with a random presynaptic subset of
    ``k`` others (default ``round(connectivity * (N - 1))``), weights
    :math:`\mathcal{N}(\mu/K, g^2/K)` (``mean`` :math:`\mu`, ``gain`` :math:`g`), bias
    ``bias`` for every neuron.

    Time and memory O(N^2) (the weights are kept dense: N up to a few thousand).
    """
    if not isinstance(n, (int, np.integer)) or n < 2:
        raise ValueError(f"n must be an integer >= 2, got {n!r}")
    if k is None:
        connectivity = float(connectivity)
        if not 0 < connectivity <= 1:
            raise ValueError(f"connectivity must be in (0, 1], got {connectivity}")
        k = max(1, int(round(connectivity * (n - 1))))
    if not isinstance(k, (int, np.integer)) or not 1 <= k <= n - 1:
        raise ValueError(f"k (presynaptic subset size) must be an integer in 1..{n - 1}, got {k!r}")
    gain = float(gain)
    if not (np.isfinite(gain) and gain >= 0):
        raise ValueError(f"gain must be finite and >= 0, got {gain}")
    rng = np.random.default_rng(seed)
    pre = np.empty((n, k), np.int64)
    for i in range(n):
        others = rng.choice(n - 1, size=k, replace=False)
        pre[i] = np.sort(others + (others >= i))
    omega = np.zeros((n, n))
    rows = np.repeat(np.arange(n), k)
    omega[rows, pre.ravel()] = rng.normal(mean / k, gain / np.sqrt(k), n * k)
    return RecurrentNetwork(omega=omega, presynaptic=pre, bias=np.full(n, float(bias)), tau_m=tau_m,
                            tau_s=tau_s, seed=int(seed), gain=gain, name=f"RLS network (N={n}, K={k})")
