r"""The paper's tasks (Moreno-Bote & Drugowitsch 2015), each a function of a seed.

Indices keep the paper's numbers: cause 10 is ``features[:, 10]`` (0-based), so
``TARGET == 10`` and Fig. 6 uses causes 10, 20, 30 and 40.

Feature families
----------------
* Fig. 2 and 6: :math:`U_{ij} \sim U[0, 1]` i.i.d., columns normalized to 1,
  M = N = 100 (mean overlap :math:`u_i \cdot u_j \approx 0.75`).
* Fig. 3: :math:`U_{ij} \sim U[-0.5, 0.5]`, unit columns, M = 10, N = 100.
* Fig. 4: shifted cosines :math:`U_{ij} \propto \cos(2\pi i/M - 2\pi j/N)`, unit
  columns, M = 20, N = 100: rank 2, so J is low rank, and cause j + N/2 is
  antipodal to cause j (reconstruction; the paper's formula was lost).
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import scipy.sparse

from .problem import CausalProblem

TARGET = 10
"""Index of the stimulated cause in the discrimination tasks (the paper's "10th")."""


def _unit_columns(u: np.ndarray) -> np.ndarray:
    return u / np.linalg.norm(u, axis=0, keepdims=True)


def positive_features(seed=None, m: int = 100, n: int = 100) -> np.ndarray:
    """Fig. 2 features: i.i.d. U[0, 1] entries, unit-norm columns, shape (m, n)."""
    rng = np.random.default_rng(seed)
    return _unit_columns(rng.random((m, n)))


def discrimination(seed=None, n: int = 100, m: int = 100, amplitude: float = 50.0,
                   alpha: float = 0.0, beta: float = 0.0) -> CausalProblem:
    r"""Fig. 2a-c: :math:`\mu = 50 u_{10}`; only cause 10 is active at the MAP."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n <= TARGET:
        raise ValueError(f"n must be an integer > {TARGET} (the target cause is number {TARGET}), got {n!r}")
    u = positive_features(seed, m, n)
    return CausalProblem(u, amplitude * u[:, TARGET], alpha=alpha, beta=beta)


def mixture(seed=None, n: int = 100, m: int = 100, amplitude: float = 50.0,
            background: float = 10.0, alpha: float = 0.0, beta: float = 0.0) -> CausalProblem:
    r"""Fig. 2d-f: :math:`\mu = 50 u_{10} + \sum_{j \ne 10} a_j u_j`, :math:`a_j \sim U[0, 10]`.
    Ill-conditioned (cond(U^T U) ~ 1e6)."""
    rng = np.random.default_rng(seed)
    u = _unit_columns(rng.random((m, n)))
    a = rng.uniform(0.0, background, n)
    a[TARGET] = amplitude
    return CausalProblem(u, u @ a, alpha=alpha, beta=beta)


def approximation(seed=None, n: int = 100, m: int = 100, amplitude: float = 1000.0,
                  alpha: float = 0.0, beta: float = 0.0) -> CausalProblem:
    r"""Fig. 2g-i: :math:`\mu = 1000 e_1`, outside the cone of the features."""
    u = positive_features(seed, m, n)
    mu = np.zeros(m)
    mu[0] = amplitude
    return CausalProblem(u, mu, alpha=alpha, beta=beta)


def overcomplete(seed=None, n: int = 100, m: int = 10, amplitude: float = 50.0,
                 regularization: str = "l1", alpha: float = 5.0, beta: float = 1.0) -> CausalProblem:
    r"""Fig. 3: mixed-sign features :math:`U[-0.5, 0.5]`, M = 10, N = 100,
    :math:`\mu = 50 u_{10}`. ``regularization`` is ``"none"``, ``"l1"`` (uses
    ``alpha``) or ``"l2"`` (uses ``beta``). The leaky variant is a network option
    (``build_network(..., leak_tau=...)``) on the ``"none"`` problem."""
    choices = {"none": (0.0, 0.0), "l1": (alpha, 0.0), "l2": (0.0, beta)}
    if regularization not in choices:
        raise ValueError(f"regularization must be one of {sorted(choices)}, got {regularization!r}")
    rng = np.random.default_rng(seed)
    u = _unit_columns(rng.uniform(-0.5, 0.5, (m, n)))
    a, b = choices[regularization]
    return CausalProblem(u, amplitude * u[:, TARGET], alpha=a, beta=b)


def cosine_features(n: int = 100, m: int = 20, phase: float = 0.0) -> np.ndarray:
    r"""Shifted cosines :math:`U_{ij} \propto \cos(2\pi i/M - 2\pi j/N + \phi)`, unit
    columns, shape (m, n). Rank 2; for even n, column j + n/2 equals minus column j."""
    i = np.arange(m)[:, None]
    j = np.arange(n)[None, :]
    return _unit_columns(np.cos(2 * np.pi * i / m - 2 * np.pi * j / n + phase))


def cosine_basis(seed=None, n: int = 100, m: int = 20, amplitude: float = 50.0,
                 alpha: float = 1.0, beta: float = 0.0) -> CausalProblem:
    r"""Fig. 4: shifted-cosine features (low-rank J), :math:`\mu = 50 u_{10}`.

    The paper's feature formula and Table 1 were lost; this reconstruction keeps
    what the text states (shifted cosines, M << N, low-rank J, unit norm). A small
    L1 prior (alpha = 1) removes the neutral direction of antipodal pairs. ``seed``
    draws a random phase of the cosine grid (``None`` or 0 gives phase 0)."""
    phase = 0.0 if not seed else float(np.random.default_rng(seed).uniform(0, 2 * np.pi))
    u = cosine_features(n, m, phase)
    return CausalProblem(u, amplitude * u[:, TARGET], alpha=alpha, beta=beta)


def four_cause_mixture(seed=None, n: int = 100, m: int = 100,
                       amplitudes=(50.0, 50.0, 5.0, 1.0), alpha: float = 0.0,
                       beta: float = 0.0) -> CausalProblem:
    r"""Fig. 6: :math:`\mu = 50 u_{10} + 50 u_{20} + 5 u_{30} + 1 u_{40}` on Fig. 2 features."""
    u = positive_features(seed, m, n)
    r = np.zeros(n)
    r[[10, 20, 30, 40]] = amplitudes
    return CausalProblem(u, u @ r, alpha=alpha, beta=beta)


def random_problem(seed=None, m: int = 30, n: int = 20, alpha: float = 0.0, beta: float = 0.0,
                   density: float = 0.3, amplitude: float = 20.0, noise: float = 1.0) -> CausalProblem:
    """A random problem: unit features with mixed signs, a sparse non-negative cause
    vector and Gaussian observation noise. Used by tests and studies."""
    rng = np.random.default_rng(seed)
    u = _unit_columns(rng.normal(size=(m, n)))
    r = amplitude * rng.random(n) * (rng.random(n) < density)
    return CausalProblem(u, u @ r + noise * rng.normal(size=m), alpha=alpha, beta=beta)


def sparse_causes(n: int, m=None, per_cause: int = 3, active: int = 50, seed=0, sigma: float = 1.0,
                  alpha: float = 1.0, beta: float = 0.0, amplitude: float = 20.0,
                  noise: float = 0.0, window: Optional[int] = None) -> CausalProblem:
    r"""A large sparse problem: N causes, each touching ``per_cause`` of M inputs.

    Column :math:`u_i` has ``per_cause`` distinct random rows (anywhere among the M
    inputs; with ``window``, local features: among the ``window`` inputs around input
    :math:`\lfloor iM/N \rfloor`, cyclically, like receptive fields on a sensor, so the
    coupling graph is a band of about ``window`` N / M causes) with positive weights
    :math:`U[0.5, 1.5]`, normalized to unit norm; ``active`` random causes have rates
    :math:`r_i \sim` ``amplitude`` :math:`\cdot U[0.5, 1.5]` (the others 0), and
    :math:`\mu = U r + \epsilon`, :math:`\epsilon \sim N(0,` ``noise`` :math:`^2 I_M)`.
    With M < N (default M = N // 5) the problem is overcomplete, so ``alpha`` > 0
    (default 1) or ``beta`` > 0 makes the MAP sparse and unique. (With ``noise``
    comparable to ``alpha`` many causes explain noise and the MAP is no longer sparse.)

    Returns a :class:`CausalProblem` with ``csc_matrix`` features: O(N ``per_cause``)
    time and memory (N = 10^6 builds in about a second, ~60 MB), nothing M x N dense.
    """
    n = int(n)
    m = max(int(per_cause), n // 5) if m is None else int(m)
    k = int(per_cause)
    if n < 1 or k < 1 or m < k:
        raise ValueError(f"need n >= 1, per_cause >= 1 and m >= per_cause, got n={n}, m={m}, "
                         f"per_cause={k}")
    active = int(active)
    if not 0 <= active <= n:
        raise ValueError(f"active must lie in [0, n], got {active}")
    if window is not None and not k <= int(window) <= m:
        raise ValueError(f"window must lie in [per_cause, m] = [{k}, {m}], got {window}")
    span = m if window is None else int(window)
    centre = np.zeros((n, 1), np.int64) if window is None else \
        (np.arange(n, dtype=np.int64) * m // n - span // 2)[:, None]
    rng = np.random.default_rng(seed)
    rows = (centre + rng.integers(0, span, (n, k))) % m
    rows.sort(axis=1)
    while True:     # distinct rows per cause: redraw the (rare) repeated ones
        dup = np.zeros(rows.shape, dtype=bool)
        dup[:, 1:] = rows[:, 1:] == rows[:, :-1]
        if not dup.any():
            break
        rows[dup] = (np.broadcast_to(centre, rows.shape)[dup] + rng.integers(0, span, int(dup.sum()))) % m
        rows.sort(axis=1)
    w = rng.uniform(0.5, 1.5, (n, k))
    w /= np.sqrt(np.einsum("ij,ij->i", w, w))[:, None]
    u = scipy.sparse.csc_matrix((w.ravel(), rows.ravel(), np.arange(0, n * k + 1, k)), shape=(m, n))
    r = np.zeros(n)
    r[rng.choice(n, active, replace=False)] = amplitude * rng.uniform(0.5, 1.5, active)
    mu = u @ r
    if noise:
        mu = mu + noise * rng.normal(size=m)
    return CausalProblem(u, mu, alpha=alpha, beta=beta, sigma=sigma)


TASKS = {
    "discrimination": discrimination,
    "mixture": mixture,
    "approximation": approximation,
    "overcomplete": overcomplete,
    "cosine_basis": cosine_basis,
    "four_cause_mixture": four_cause_mixture,
}
"""Name -> task function, as used by ``lava-causal task NAME``."""
