r"""The rate model of an integrate-and-fire network: its steady-state firing rates.

The compiler's dynamic corrections (current-decay truncation, hard-reset overshoot)
are second-order terms that depend on how active each neuron and its inputs are. They
are evaluated at an *operating point*: the rates of the network's rate model.

For a non-leaky network in folded units (:mod:`compiler.frontend.fold`), integrating the
dynamics over a long window gives, for every neuron, the complementarity conditions

.. math::

    r \ge 0, \qquad s = b' + W' r - r \le 0, \qquad r_i s_i = 0,

a linear complementarity problem (LCP). In original units it reads
:math:`M r \ge b`, :math:`M = \mathrm{diag}(D) - W`. When :math:`M` is symmetric
positive definite it is the convex QP :math:`\min_{r \ge 0} \tfrac12 r^T M r - b^T r`,
solved exactly by NNLS on the Cholesky factor :math:`M = L L^T`
(:math:`\min |L^T r - L^{-1} b|^2`). Otherwise projected Gauss-Seidel
:math:`r_i \leftarrow [b'_i + \sum_{j \ne i} W'_{ij} r_j]_+` is iterated.

A leak is approximated by its value at the mean voltage of an active neuron,
:math:`x = 1/2` in folded units: :math:`b'_i \to b'_i - 1/(2\tau_m)` (an approximation;
the corrections it feeds are small).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.optimize
from numba import njit

from compiler.frontend.fold import FoldedNetwork

PGS_MAX_SWEEPS = 20000
"""Most projected Gauss-Seidel sweeps before giving up."""
PGS_TOL = 1e-9
"""Relative change of the rates below which Gauss-Seidel has converged."""


@dataclass(frozen=True)
class OperatingPoint:
    """Steady-state rates of a network's rate model.

    Attributes
    ----------
    rates : ndarray (N,)
        Hz.
    method : str
        ``"nnls"`` (exact QP), ``"gauss-seidel"`` or ``"given"``.
    converged : bool
    residual : float
        Largest violation of the complementarity conditions, in Hz.
    """

    rates: np.ndarray
    method: str
    converged: bool
    residual: float


def lcp_residual(weights, bias, rates) -> float:
    """Largest violation of the folded LCP conditions (Hz)."""
    s = bias + weights @ rates - rates
    return float(np.max(np.abs(np.minimum(rates, -s))))


def rate_model(folded: FoldedNetwork) -> OperatingPoint:
    """Solve the LCP of the module docstring for ``folded``."""
    w, b = folded.weights, folded.bias.copy()
    if folded.leak_tau is not None:
        b = b - 0.5 / folded.leak_tau
    d = folded.reset
    m = np.diag(d) - w * d[:, None]          # diag(D) - W in original units
    rhs = b * d
    if np.allclose(m, m.T, rtol=1e-12, atol=1e-12 * np.abs(m).max()):
        try:
            chol = scipy.linalg.cholesky(0.5 * (m + m.T), lower=True)
            y = scipy.linalg.solve_triangular(chol, rhs, lower=True)
            try:
                r, _ = scipy.optimize.nnls(chol.T, y, maxiter=50 * len(b))
            except TypeError:  # older scipy
                r, _ = scipy.optimize.nnls(chol.T, y)
            res = lcp_residual(w, b, r)
            scale = max(1.0, float(np.max(np.abs(b))))
            if res < 1e-6 * scale:
                return OperatingPoint(r, "nnls", True, res)
        except (np.linalg.LinAlgError, ValueError, RuntimeError):
            pass
    r, sweeps = _pgs(np.ascontiguousarray(w), np.ascontiguousarray(b), PGS_MAX_SWEEPS, PGS_TOL)
    ok = bool(np.all(np.isfinite(r))) and sweeps < PGS_MAX_SWEEPS
    r = np.where(np.isfinite(r), r, 0.0)
    return OperatingPoint(r, "gauss-seidel", ok, lcp_residual(w, b, r))


@njit(cache=True)
def _pgs(w, b, max_sweeps, tol):
    n = b.shape[0]
    r = np.zeros(n)
    for sweep in range(max_sweeps):
        change = 0.0
        top = 1.0
        for i in range(n):
            s = b[i]
            for j in range(n):
                if j != i:
                    s += w[i, j] * r[j]
            new = s if s > 0.0 else 0.0
            if abs(new - r[i]) > change:
                change = abs(new - r[i])
            r[i] = new
            if new > top:
                top = new
        if not np.isfinite(change) or change > 1e12:
            return r, max_sweeps
        if change < tol * top:
            return r, sweep
    return r, max_sweeps
