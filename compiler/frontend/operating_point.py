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

Sparse networks (CSR :math:`W'`, :mod:`compiler.frontend.fold`) are solved by the same
projected Gauss-Seidel on the stored entries (:func:`_pgs_csr`): the same sweeps in
the same order as the dense ``_pgs``, O(nnz) time per sweep and O(N) extra memory,
stopped when the largest change of a sweep is below :data:`PGS_TOL` times the
largest rate and the KKT residual :func:`lcp_residual` is below :data:`PGS_KKT_TOL`
of the largest drive (reported converged when that residual is below ``1e-6`` of it);
no (N, N) factor.
Gauss-Seidel converges for symmetric positive (semi)definite :math:`M` (row scaling by
:math:`D_i` does not change its iterates), but slowly when :math:`M` is ill-conditioned;
so for symmetric :math:`M` every :data:`PGS_CHUNK` sweeps the active set
:math:`A = \{r_i > 0\}` is solved exactly, :math:`M_{AA} r_A = b_A` by conjugate
gradients (O(nnz) per iteration) once the active set is the same after two chunks,
projected on :math:`r \ge 0`, and accepted when the KKT residual is met (method
``"gauss-seidel + active-set CG"``); the sweeps go on from it when it lowered the
residual, else from before it (after :data:`PGS_CG_FAILURES` such steps Gauss-Seidel
goes on alone). It gives the same rates as NNLS to the stopping tolerance (1e-8 relative
on small networks).

A leak is approximated by its value at the mean voltage of an active neuron,
:math:`x = 1/2` in folded units: :math:`b'_i \to b'_i - 1/(2\tau_m)` (an approximation;
the corrections it feeds are small).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.optimize
import scipy.sparse as sp
import scipy.sparse.linalg
from numba import njit

from compiler.frontend.fold import FoldedNetwork

PGS_MAX_SWEEPS = 20000
"""Most projected Gauss-Seidel sweeps before giving up."""
PGS_TOL = 1e-9
"""Relative change of the rates below which Gauss-Seidel has converged."""
PGS_KKT_TOL = 1e-11
"""Sparse Gauss-Seidel also needs the KKT residual :func:`lcp_residual` below this
fraction of ``max(1, max |b'|)`` before it stops."""
PGS_CHUNK = 20
"""Sparse, symmetric :math:`M`: Gauss-Seidel sweeps between active-set CG steps."""
PGS_CG_MAX_ITERATIONS = 2000
"""Most CG iterations of one active-set step."""
PGS_CG_FAILURES = 5
"""Active-set steps that do not lower the KKT residual (they are undone) before the
sparse solver goes on with Gauss-Seidel alone."""


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
    if sp.issparse(w):
        return _rate_model_sparse(sp.csr_matrix(w), b, np.asarray(folded.reset, float))
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


def _rate_model_sparse(w: sp.csr_matrix, b: np.ndarray, d: np.ndarray) -> OperatingPoint:
    """Projected Gauss-Seidel on CSR weights with active-set CG steps (module
    docstring). O(nnz) per sweep and per CG iteration, O(nnz) memory."""
    w.sort_indices()
    n = b.shape[0]
    scale = max(1.0, float(np.max(np.abs(b), initial=0.0)))
    kkt_tol = PGS_KKT_TOL * scale
    indptr, indices = w.indptr.astype(np.int64), w.indices.astype(np.int64)
    data = np.ascontiguousarray(w.data, dtype=np.float64)
    b = np.ascontiguousarray(b, dtype=np.float64)
    m = _symmetric_lcp_matrix(w, d)
    r = np.zeros(n)
    method = "gauss-seidel"
    sweeps_done = 0
    ok = False
    failures = 0
    previous = None
    while sweeps_done < PGS_MAX_SWEEPS:
        chunk = PGS_MAX_SWEEPS - sweeps_done if m is None else min(PGS_CHUNK, PGS_MAX_SWEEPS - sweeps_done)
        sweeps = _pgs_csr(indptr, indices, data, b, r, chunk, PGS_TOL, kkt_tol)
        sweeps_done += min(sweeps, chunk) + 1
        if sweeps < 0:  # diverged
            break
        if sweeps < chunk:
            ok = True
            break
        active = r > 0
        if m is not None and previous is not None and np.array_equal(active, previous):
            before, res_before = r.copy(), _kkt_csr(indptr, indices, data, b, r)
            if _active_set_step(m, b * d, r):
                res = _kkt_csr(indptr, indices, data, b, r)
                if res <= kkt_tol:
                    ok, method = True, "gauss-seidel + active-set CG"
                    break
                if not res < res_before:  # no better (e.g. singular M_AA): undo
                    r[:] = before
                    failures += 1
                    if failures >= PGS_CG_FAILURES:
                        m = None  # plain Gauss-Seidel from here on
            active = r > 0
        previous = active
    finite = bool(np.all(np.isfinite(r)))
    r = np.where(np.isfinite(r), r, 0.0)
    res = lcp_residual(w, b, r)
    ok = ok and finite and res < 1e-6 * scale
    return OperatingPoint(r, method, ok, res)


def _symmetric_lcp_matrix(w: sp.csr_matrix, d: np.ndarray):
    r""":math:`M = \mathrm{diag}(D) - W` (original units, CSR) when it is symmetric to
    1e-12 of its largest entry, else None. O(nnz)."""
    rows = np.repeat(np.arange(w.shape[0]), np.diff(w.indptr))
    wo = sp.csr_matrix((w.data * d[rows], w.indices, w.indptr), shape=w.shape)
    m = (sp.diags(d) - wo).tocsr()
    asym = (m - m.T).tocsr()
    top = float(np.max(np.abs(m.data), initial=0.0))
    if asym.nnz and float(np.max(np.abs(asym.data))) > 1e-12 * top:
        return None
    return m


def _active_set_step(m: sp.csr_matrix, rhs: np.ndarray, r: np.ndarray) -> bool:
    r"""Solve :math:`M_{AA} r_A = b_A` on the active set :math:`A = \{r_i > 0\}` by
    conjugate gradients and, if the solution is finite, set ``r`` to its projection
    :math:`\max(r_A, 0)` (0 elsewhere) in place. Returns whether ``r`` changed."""
    active = np.flatnonzero(r > 0)
    if active.size == 0:
        return False
    sub = m[active][:, active].tocsr()
    diag = sub.diagonal()
    if np.any(diag <= 0):
        return False
    kw = dict(maxiter=PGS_CG_MAX_ITERATIONS, M=sp.diags(1.0 / diag), x0=r[active])
    try:
        y, _info = scipy.sparse.linalg.cg(sub, rhs[active], rtol=1e-13, **kw)
    except TypeError:  # scipy < 1.12 names it tol
        y, _info = scipy.sparse.linalg.cg(sub, rhs[active], tol=1e-13, **kw)
    if not np.all(np.isfinite(y)):
        return False
    r[:] = 0.0
    r[active] = np.maximum(y, 0.0)
    return True


@njit(cache=True, inline="always")
def _project(r, i, s, change, top):
    """One Gauss-Seidel update :math:`r_i = [s]_+`; the sweep's largest change and rate."""
    new = s if s > 0.0 else 0.0
    if abs(new - r[i]) > change:
        change = abs(new - r[i])
    r[i] = new
    if new > top:
        top = new
    return change, top


@njit(cache=True)
def _pgs_csr(indptr, indices, data, b, r, max_sweeps, tol, kkt_tol):
    """Sweeps of projected Gauss-Seidel on ``r`` in place; returns the sweep at which
    it converged (change and KKT), ``max_sweeps`` if it did not, -1 if it diverged."""
    n = b.shape[0]
    for sweep in range(max_sweeps):
        change = 0.0
        top = 1.0
        for i in range(n):
            s = b[i]
            for k in range(indptr[i], indptr[i + 1]):
                j = indices[k]
                if j != i:
                    s += data[k] * r[j]
            change, top = _project(r, i, s, change, top)
        if not np.isfinite(change) or change > 1e12:
            return -1
        if change < tol * top and _kkt_csr(indptr, indices, data, b, r) <= kkt_tol:
            return sweep
    return max_sweeps


@njit(cache=True)
def _kkt_csr(indptr, indices, data, b, r):
    worst = 0.0
    for i in range(b.shape[0]):
        s = b[i] - r[i]
        for k in range(indptr[i], indptr[i + 1]):
            if indices[k] != i:
                s += data[k] * r[indices[k]]
        v = abs(min(r[i], -s))
        if v > worst:
            worst = v
    return worst


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
            change, top = _project(r, i, s, change, top)
        if not np.isfinite(change) or change > 1e12:
            return r, max_sweeps
        if change < tol * top:
            return r, sweep
    return r, max_sweeps
