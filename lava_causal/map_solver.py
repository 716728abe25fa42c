r"""The exact MAP solver of :class:`~lava_causal.problem.CausalProblem`.

:func:`solve_map` minimizes

.. math::

    L(r) = \frac{|\mu - U r|^2}{2\sigma^2} + \alpha \sum_i r_i + \frac{\beta}{2}|r|^2,
    \quad r \ge 0,

and returns the estimate with its :class:`~lava_causal.certificate.MapCertificate`;
a path whose estimate fails the certificate is polished by the active-set method.

Exact rescaling
---------------
Every path solves an exactly equivalent *rescaled* problem (:func:`_scaled_problem`):
with :math:`\tilde U = U/\sigma`, :math:`\tilde\mu = \mu/\sigma`, column norms
:math:`d_i = (|\tilde u_i|^2 + \beta)^{1/2}` and a power of two
:math:`c \approx 1/|\tilde\mu|`, the variables :math:`x_i = c\, d_i r_i` solve

.. math::

    \min_{x \ge 0}\ \tfrac12 |A x - b|^2 + a^T x + \tfrac12 \sum_i \rho_i x_i^2,
    \qquad A = \tilde U D^{-1},\ b = c\tilde\mu,\ a = c\alpha/d,\ \rho = \beta/d^2,

whose objective is :math:`c^2 L(r)` (the stacked columns :math:`[A; \mathrm{diag}\sqrt\rho]`
have unit norm, :math:`|b| \in [\tfrac12, 1)`). Both maps are exact, so every
tolerance is relative. Causes with an all-zero feature have :math:`r_i^* = 0`
(allowed when :math:`\alpha > 0` or :math:`\beta > 0`) and are dropped from the
rescaled problem; :math:`\mu = 0`, or no non-zero feature, gives :math:`r^* = 0`
(method ``"trivial"``).

Paths
-----
* ``"nnls-stacked"``, :math:`\beta > 0`: completing the square,
  :math:`a_i x_i + \tfrac12\rho_i x_i^2 = \tfrac12(\sqrt{\rho_i}\,x_i + a_i/\sqrt{\rho_i})^2
  - a_i^2/(2\rho_i)`, so

  .. math::

      x = \mathrm{nnls}\big([A; \mathrm{diag}\sqrt\rho],\ [b; -a/\sqrt\rho]\big)

  (Lawson-Hanson, scipy; :func:`_nnls`), unless :math:`\alpha/\sqrt\beta` is so large
  that this right-hand side would swamp :math:`b` (:data:`STACKED_RHS_RATIO`).
* ``"nnls"``, :math:`\alpha = \beta = 0` (:math:`a = \rho = 0`):
  :math:`x = \mathrm{nnls}(A, b)` (when N > M or :math:`U_S` is rank-deficient only
  :math:`U r^*` is unique).
* ``"qr-nnls"``, :math:`\alpha > 0, \beta = 0`, :math:`M \ge N`, full column rank and
  :math:`\mathrm{rcond}(R) >` :data:`QR_RCOND`: with the thin QR :math:`A = QR` and
  :math:`R^T w = a`,

  .. math::

      \tfrac12|Ax-b|^2 + a^Tx = \tfrac12|Rx - (Q^Tb - w)|^2 + \text{const},
      \qquad x = \mathrm{nnls}(R,\ Q^Tb - w)

  (:func:`_qr_nnls`).
* ``"active-set"``, otherwise (singular or ill-conditioned Gram matrix, or the
  stacked right-hand side too large): the generalised Lawson-Hanson method
  (:func:`_active_set`) on the problem as it stands, with the Hessian
  :math:`H = A^TA + \mathrm{diag}\,\rho` and gradient
  :math:`\nabla = A^T(Ax - b) + a + \rho x`; each passive set :math:`P` solves

  .. math::

      \min_{z} \tfrac12|A_P z - b|^2 + a_P^T z + \tfrac12\sum_{i\in P}\rho_i z_i^2,
      \qquad H_{PP}\, z = (A^Tb - a)_P

  by Cholesky, or on the stacked columns by SVD (:class:`_PassiveSolver`).

* ``"working-set"``, sparse features or :math:`N >` :data:`DENSE_PATH_LIMIT`
  (:func:`_working_set`): exact on a small set of causes :math:`W`, grown from the
  gradient. Each round solves the subproblem on :math:`W` exactly (primal-dual
  active set on the dense block :math:`A_W` restricted to the rows it touches,
  :func:`_pdas`, else :func:`_active_set` warm-started), computes the full gradient
  :math:`\nabla = A^T(Ax - b) + a + \rho x` with two products with :math:`A`
  (O(nnz); the Gram matrix is never formed), and sets :math:`W \leftarrow
  \{x_i > 0\} \cup` the most violating causes (:math:`x_i = 0`,
  :math:`\nabla_i < -` :data:`WORKING_SET_TOLERANCE` :math:`s_i`), at most
  :math:`\max(` :data:`WORKING_SET_START` :math:`, |W|)` of them; it stops when there
  is none. Each round that adds a violator strictly lowers the objective (the last
  point is feasible for the next subproblem, which a violator improves), so no set
  repeats and the method terminates. Time per round: O(nnz) (dense: O(MN)) plus
  :math:`O(|R||W|^2 + |W|^3)` for the block; memory O(nnz + N + |R||W| + |W|^2).
  Above :data:`WORKING_SET_LIMIT` causes in :math:`W` it stops with its best point
  (the certificate then fails).

An NNLS estimate whose certificate fails is polished by :func:`_active_set`
warm-started from it (``"<path>+active-set"``), then, if need be, started afresh; the
first certified estimate is returned, else the one closest to certification.

This module does not import :mod:`lava_causal.problem`: :func:`solve_map` takes the
problem as an argument.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.linalg.lapack
import scipy.optimize
import scipy.sparse

from .certificate import EPS, MapCertificate, certify, column_norms, inverse_power_of_two

__all__ = ["GRAM_RCOND", "QR_RCOND", "STACKED_RHS_RATIO", "ENTER_TOLERANCE", "DENSE_PATH_LIMIT",
           "WORKING_SET_TOLERANCE", "WORKING_SET_START", "WORKING_SET_LIMIT", "solve_map"]

DENSE_PATH_LIMIT = 2000
"""Dense problems with more causes than this, and every sparse problem, are solved by the
working-set method (module docstring); the others by the dense NNLS / QR / active-set paths."""

WORKING_SET_TOLERANCE = 1e-13
r"""The working-set method adds a bound cause when :math:`\nabla_i < -` this
:math:`\times s_i` (:math:`s_i = |b| + \sum_j x_j + a_i`, the scale of the rescaled
gradient): above the rounding of the sparse products, well below the certificate's
:data:`~lava_causal.certificate.KKT_TOLERANCE`."""

WORKING_SET_START = 100
"""Most causes the working-set method adds in its first round (then up to the size of the set)."""

WORKING_SET_LIMIT = 20000
"""Most causes in the working set (its dense block is |R| x |W|)."""

GRAM_RCOND = 1e-8
r"""The active-set method solves a passive-set subproblem on the Gram matrix (Cholesky)
only while LAPACK's reciprocal condition estimate of :math:`H_{PP}` exceeds this;
below it, it solves on the columns themselves (SVD), never squaring the condition."""

QR_RCOND = 1e-15
r"""The QR + NNLS path (:math:`\alpha > 0, \beta = 0`, full column rank) is tried only
while the reciprocal condition estimate of :math:`R` (:math:`\tilde U D^{-1} = QR`)
exceeds this (beyond it, :math:`R` is numerically singular); otherwise the active-set
method solves the problem directly. Either way the certificate decides."""

STACKED_RHS_RATIO = 1e3
r"""With :math:`\beta > 0` the stacked NNLS completes the square: its right-hand side
:math:`[b; -a/\sqrt\rho]` has norm :math:`(|b|^2 + N c^2\alpha^2/\beta)^{1/2}`, and
its rounding grows with it. When the penalty part exceeds ``STACKED_RHS_RATIO``
:math:`|b|` (large :math:`\alpha/\sqrt\beta`), the active-set method, which keeps
the linear term as it is, solves the problem instead."""

ENTER_TOLERANCE = 1e-15
r"""The active-set method lets a bound cause enter when its gradient is below
``-ENTER_TOLERANCE`` times its scale :math:`s_i` (see :mod:`lava_causal.certificate`),
about the rounding level, so it stops only at a point as exact as the arithmetic
allows; a cause that entered on rounding noise and is dropped at once is barred
(anti-cycling)."""


def solve_map(problem) -> tuple[np.ndarray, MapCertificate]:
    """The exact MAP estimate of ``problem`` and its certificate (module docstring).

    Returns
    -------
    r : ndarray, shape (N,)
        The first certified estimate, else the one closest to certification.
    certificate : MapCertificate
        Its certificate; ``certificate.method`` names the path (``certified`` may be
        False: the caller decides whether to raise).
    """
    sp = _scaled_problem(problem)
    if sp is None:
        r = np.zeros(problem.n_causes)
        return r, certify(problem, r, "trivial")
    A, b, a, ridge = sp.A, sp.b, sp.a, sp.ridge
    if scipy.sparse.issparse(A) or A.shape[1] > DENSE_PATH_LIMIT:
        r = sp.to_r(_working_set(A, b, a, ridge))
        return r, certify(problem, r, "working-set")
    x, method = None, "active-set"
    try:
        if problem.beta > 0 and np.linalg.norm(a / np.sqrt(ridge)) <= STACKED_RHS_RATIO * np.linalg.norm(b):
            x = _nnls(np.vstack([A, np.diag(np.sqrt(ridge))]),
                      np.concatenate([b, -a / np.sqrt(ridge)]))
            method = "nnls-stacked"
        elif problem.beta > 0:
            pass        # alpha/sqrt(beta) too large for the stacked NNLS: active set
        elif problem.alpha == 0:
            x = _nnls(A, b)
            method = "nnls"
        elif A.shape[0] >= A.shape[1]:
            x = _qr_nnls(A, b, a)
            method = "qr-nnls" if x is not None else "active-set"
    except RuntimeError:    # NNLS iteration limit
        x, method = None, "active-set"
    if x is None:
        x = _active_set(A, b, a, ridge)
    x = _drop_roundoff(x)
    r = sp.to_r(x)
    cert = certify(problem, r, method)
    if cert.certified or method == "active-set":
        return r, cert
    best = (r, cert)
    for start in (x, None):     # polish from the estimate, else start afresh
        r2 = sp.to_r(_drop_roundoff(_active_set(A, b, a, ridge, x0=start)))
        cert2 = certify(problem, r2, method + "+active-set")
        if cert2.certified:
            return r2, cert2
        if _badness(cert2) < _badness(best[1]):
            best = (r2, cert2)
    return best


def _drop_roundoff(x: np.ndarray) -> np.ndarray:
    r"""``x`` with entries at round-off level, :math:`x_i \le N \epsilon \max_j x_j`, set
    to 0 (in the rescaled problem every column has unit norm, so such an entry moves
    :math:`Ax` by less than the rounding of the others): NNLS leaves them in its
    passive set, and they would count as active causes."""
    x = np.array(x, float)
    x[x <= x.size * EPS * max(float(x.max(initial=0.0)), 0.0)] = 0.0
    return x


def _badness(cert: MapCertificate) -> float:
    """How far ``cert`` is from certified, in units of its tolerances (<= 1: certified)."""
    return max(cert.kkt_residual / cert.kkt_tolerance, abs(cert.duality_gap) / cert.gap_tolerance)


# ---------------------------------------------------------------- the rescaled problem
@dataclass(frozen=True)
class _Scaled:
    r"""The rescaled problem :math:`\min_{x\ge0} \tfrac12|Ax-b|^2 + a^Tx + \tfrac12\sum_i
    \rho_i x_i^2` on the causes ``keep`` (non-zero features), with
    :math:`x = c\,d \odot r_{keep}` (module docstring)."""

    A: np.ndarray
    b: np.ndarray
    a: np.ndarray
    ridge: np.ndarray
    keep: np.ndarray
    d: np.ndarray
    c: float
    n: int

    def to_r(self, x) -> np.ndarray:
        r = np.zeros(self.n)
        r[self.keep] = np.maximum(x, 0.0) / (self.c * self.d)
        return r


def _scaled_problem(p):
    r"""The exactly equivalent rescaled problem (module docstring), or None when
    :math:`r^* = 0` trivially (:math:`\mu = 0`, or every feature is zero)."""
    ut = p.features / p.sigma
    mut = p.observation / p.sigma
    norms = column_norms(ut)
    keep = norms > 0
    scale = float(np.linalg.norm(mut))
    if scale == 0 or not keep.any():
        return None
    c = inverse_power_of_two(scale)
    d = np.hypot(norms[keep], np.sqrt(p.beta))
    if scipy.sparse.issparse(ut):
        A = scipy.sparse.csc_matrix(ut[:, np.flatnonzero(keep)] if not keep.all() else ut, copy=True)
        A.data /= np.repeat(d, np.diff(A.indptr))
    else:
        A = ut[:, keep] / d
    return _Scaled(A=A, b=c * mut, a=c * p.alpha / d, ridge=p.beta / d ** 2,
                   keep=keep, d=d, c=c, n=p.n_causes)


# ---------------------------------------------------------------- NNLS paths
def _nnls(a, y):
    r"""scipy's Lawson-Hanson NNLS, with a generous iteration cap.

    A large tall system (at least 500 columns and more than 1.5 rows per column, e.g.
    the stacked :math:`[A; \mathrm{diag}\sqrt\rho]` with :math:`M \ge N/2`) is first
    reduced by a thin QR, :math:`a = QR`: :math:`|a x - y|^2 = |R x - Q^T y|^2 +
    |(I - QQ^T) y|^2`, the same minimizer on a square system (backward stable; about
    3x faster with scipy 1.15 at M = N = 1000, slower below a few hundred columns)."""
    if a.shape[1] >= 500 and a.shape[0] > 1.5 * a.shape[1]:
        q, rr = scipy.linalg.qr(a, mode="economic", check_finite=False)
        a, y = rr, q.T @ y
    try:
        r, _ = scipy.optimize.nnls(a, y, maxiter=50 * a.shape[1])
    except TypeError:  # older scipy
        r, _ = scipy.optimize.nnls(a, y)
    return r


def _qr_nnls(A, b, a):
    r""":math:`\min_{x\ge0}\tfrac12|Ax-b|^2 + a^Tx` for full column rank :math:`A` as an NNLS.

    With :math:`A = QR` (thin QR of the columns, not a Cholesky factor of the squared
    Gram matrix) and :math:`R^T w = a`: :math:`\tfrac12|Ax-b|^2 + a^Tx =
    \tfrac12|Rx - (Q^Tb - w)|^2 + \text{const}`, so :math:`x = \mathrm{nnls}(R,
    Q^Tb - w)`. Returns None when :math:`R` is numerically rank-deficient or its
    reciprocal condition estimate is below :data:`QR_RCOND`.
    """
    q, rr = scipy.linalg.qr(A, mode="economic", check_finite=False)
    diag = np.abs(np.diag(rr))
    if diag.min() <= diag.max() * max(A.shape) * EPS:
        return None
    rcond, info = scipy.linalg.lapack.dtrcon(rr, norm="1", uplo="U", diag="N")
    if info != 0 or not rcond > QR_RCOND:
        return None
    w = scipy.linalg.solve_triangular(rr, a, trans="T", lower=False, check_finite=False)
    return _nnls(rr, q.T @ b - w)


# ---------------------------------------------------------------- active-set method
class _PassiveSolver:
    r"""Solves the passive-set subproblem of :func:`_active_set`,

    .. math::

        \min_{z} \tfrac12|A_P z - b|^2 + a_P^T z + \tfrac12\sum_{i\in P}\rho_i z_i^2 .

    On the Gram matrix :math:`H_{PP}` (:math:`H = A^TA + \mathrm{diag}\,\rho`) by
    Cholesky while LAPACK's condition estimate says it is safe
    (:data:`GRAM_RCOND`); otherwise on the stacked columns
    :math:`B = [A_P; \mathrm{diag}\sqrt{\rho_P}]`, :math:`\bar b = [b; 0]`, by SVD
    :math:`B = W\Sigma V^T` of numerical rank :math:`k`: the minimum-norm
    :math:`w = (B^T)^+ a_P` gives :math:`a_P^Tz = w^TBz` whenever :math:`a_P \in
    \mathrm{range}(B^T)`, and then :math:`z = B^+(\bar b - w) = V_k(\Sigma_k^{-1}W_k^T\bar b
    - \Sigma_k^{-2}V_k^Ta_P)`. When :math:`B` is rank-deficient and :math:`a_P` has a
    component :math:`e = (I - V_kV_k^T)a_P` in :math:`\mathrm{null}(B)`, the
    subproblem is unbounded below along the ray :math:`-e` (:math:`Be = 0`,
    :math:`a_P^T(-e) = -|e|^2 < 0`); the ray is returned instead.
    """

    def __init__(self, A, b, a, ridge):
        self.A, self.b, self.a, self.ridge = A, b, a, ridge
        self.H = A.T @ A
        self.H[np.diag_indices_from(self.H)] += ridge
        self.f = A.T @ b - a            # gradient = H x - f

    def solve(self, idx):
        h = self.H[np.ix_(idx, idx)]
        try:
            cf = scipy.linalg.cho_factor(h, lower=False, check_finite=False)
            rcond, info = scipy.linalg.lapack.dpocon(cf[0], float(np.abs(h).sum(axis=0).max()))
            if info == 0 and rcond > GRAM_RCOND:
                return scipy.linalg.cho_solve(cf, self.f[idx], check_finite=False), None
        except np.linalg.LinAlgError:
            pass
        return self.solve_svd(idx)

    def solve_svd(self, idx):
        bp = self.A[:, idx]
        rhs = self.b
        if np.any(self.ridge[idx] > 0):
            bp = np.vstack([bp, np.diag(np.sqrt(self.ridge[idx]))])
            rhs = np.concatenate([self.b, np.zeros(idx.size)])
        w, s, vt = scipy.linalg.svd(bp, full_matrices=False, check_finite=False,
                                    lapack_driver="gesdd")
        k = int(np.sum(s > s[0] * max(bp.shape) * EPS)) if s.size and s[0] > 0 else 0
        ap = self.a[idx]
        v = vt[:k].T
        proj = v.T @ ap
        if k < idx.size:
            e = ap - v @ proj
            if np.linalg.norm(e) > 1e3 * EPS * np.sqrt(idx.size) * np.linalg.norm(ap):
                return None, -e
        return v @ ((w[:, :k].T @ rhs) / s[:k] - proj / s[:k] ** 2), None


def _active_set(A, b, a, ridge, x0=None, max_iter=None):
    r"""Generalised Lawson-Hanson active-set method for

    .. math::

        \min_{x \ge 0}\ \tfrac12|Ax - b|^2 + a^Tx + \tfrac12\sum_i\rho_i x_i^2
        \qquad (a, \rho \ge 0),

    the rescaled MAP problem (it is NNLS when :math:`a = \rho = 0`). It keeps a
    feasible :math:`x` and a passive set :math:`P` (:math:`x_i = 0` off :math:`P`):

    1. *Inner loop*: solve the subproblem on :math:`P` (:class:`_PassiveSolver`); if
       the solution :math:`z` is positive, :math:`x_P = z`; otherwise step from
       :math:`x_P` toward :math:`z` (or along the unbounded ray) as far as
       feasibility allows, drop the causes that reach 0, and repeat. The objective
       never increases.
    2. *Outer loop*: with the gradient :math:`\nabla = A^T(Ax - b) + a + \rho x`
       computed from :math:`A` itself, add the cause with the most negative
       :math:`\nabla_j` among those below :math:`-` :data:`ENTER_TOLERANCE`
       :math:`s_j` (:math:`s_j` as in :mod:`lava_causal.certificate`); stop when
       there is none. A cause that is dropped again at once without any change of
       :math:`x` is barred until :math:`x` changes (Lawson-Hanson's anti-cycling rule).

    ``x0`` (any point; clipped at 0) warm-starts it, e.g. from a first-order or NNLS
    solution. At most ``max_iter`` (default :math:`3n + 100`) outer iterations.
    Optimality is not assumed: the caller certifies the result.
    """
    n = A.shape[1]
    solver = _PassiveSolver(A, b, a, ridge)
    colnorm = np.sqrt(np.einsum("ij,ij->j", A, A) + ridge)
    bnorm = float(np.linalg.norm(b))
    x = np.zeros(n) if x0 is None else np.maximum(np.asarray(x0, dtype=float), 0.0)
    passive = x > 0
    barred = np.zeros(n, dtype=bool)
    max_iter = 3 * n + 100 if max_iter is None else int(max_iter)

    def inner():
        for _ in range(n + 2):
            idx = np.flatnonzero(passive)
            if idx.size == 0:
                return
            z, ray = solver.solve(idx)
            xp = x[idx]
            if ray is None:
                if np.all(z > 0):
                    x[idx] = z
                    return
                step, tmax = z - xp, 1.0
            else:
                step, tmax = ray, np.inf
            neg = np.flatnonzero(step < 0)
            if neg.size == 0:   # cannot happen for a >= 0; stop rather than loop
                return
            ratios = xp[neg] / -step[neg]
            k = int(np.argmin(ratios))
            t = min(float(ratios[k]), tmax)
            xp = xp + t * step
            if t == ratios[k]:
                xp[neg[k]] = 0.0
            xp[xp < 0] = 0.0
            x[idx] = xp
            passive[idx[xp <= 0]] = False

    inner()
    for _ in range(max_iter):
        grad = A.T @ (A @ x - b) + a + ridge * x
        scale = colnorm * (bnorm + colnorm @ x) + a
        enter = ~passive & ~barred & (grad < -ENTER_TOLERANCE * scale)
        if not enter.any():
            break
        j = int(np.argmin(np.where(enter, grad, np.inf)))
        before = x.copy()
        passive[j] = True
        inner()
        if np.array_equal(x, before):
            barred[j] = True
            passive[j] = False
        else:
            barred[:] = False
    return x


# ---------------------------------------------------------------- working-set method
def _gradient(A, b, a, ridge, x):
    r""":math:`A^T(Ax - b) + a + \rho x`, by two products with :math:`A` (O(nnz))."""
    return np.asarray(A.T @ (np.asarray(A @ x).ravel() - b)).ravel() + a + ridge * x


def _block(A, b, cols, ridge):
    r"""Dense ``A[:, cols]`` restricted to the rows it touches (sparse ``A``; all rows
    for dense), ``b`` on those rows (the subproblem on ``cols`` up to a constant), and
    for sparse ``A`` the block's Hessian :math:`A_W^TA_W + \mathrm{diag}\,\rho_W` as a
    sparse matrix (else None)."""
    if not scipy.sparse.issparse(A):
        return A[:, cols], b, None
    blk = A[:, cols]
    rows = np.unique(blk.indices)
    blk = blk[rows, :]
    gram = scipy.sparse.csr_matrix(blk.T @ blk + scipy.sparse.diags(ridge[cols]))
    return blk.toarray(), b[rows], gram


def _fista(h, f, x0, max_iter=3000):
    r"""Accelerated projected gradient (FISTA with gradient restart, O'Donoghue & Candès
    2015) on :math:`\min_{x\ge0}\tfrac12 x^THx - f^Tx` with the step :math:`1/L`,
    :math:`L = \max_i\sum_j|H_{ij}| \ge \lambda_{max}(H)` (Gershgorin: never too long a
    step); ``h`` dense or sparse (then a step costs O(nnz(H))). Stops when the
    projected-gradient step moves no entry by more than :math:`10^{-13}` of the
    largest, when the support has not changed in 300 steps, or after ``max_iter``
    steps; it only warm-starts :func:`_pdas`, which makes the result exact."""
    lip = float(np.asarray(abs(h).sum(axis=1)).max())
    if not lip > 0:
        return np.maximum(x0, 0.0)
    x = np.maximum(np.asarray(x0, float), 0.0)
    y, t = x.copy(), 1.0
    support, steady = x > 0, 0
    for _ in range(max_iter):
        grad = h @ y - f
        x_new = np.maximum(y - grad / lip, 0.0)
        if np.dot(grad, x_new - x) > 0:     # restart: momentum points uphill
            t, y = 1.0, x.copy()
            continue
        t_new = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * t * t))
        y = x_new + ((t - 1.0) / t_new) * (x_new - x)
        moved = float(np.abs(x_new - x).max())
        x, t = x_new, t_new
        if moved <= 1e-13 * max(float(x.max()), EPS):
            break
        new_support = x > 0
        steady = steady + 1 if np.array_equal(new_support, support) else 0
        support = new_support
        if steady >= 300:
            break
    return x


def _pdas(A, b, a, ridge, x0, max_iter=50, gram=None):
    r"""Primal-dual active set (Hintermüller, Ito & Kunisch 2002) for the dense
    subproblem :math:`\min_{x\ge0}\tfrac12|Ax-b|^2 + a^Tx + \tfrac12\sum\rho_i x_i^2`
    with unit stacked columns (so the dual step constant is 1): with
    :math:`\lambda = Hx - f`, free set :math:`F = \{x_i - \lambda_i > 0\}`, solve
    :math:`H_{FF}x_F = f_F`, :math:`x_{F^c} = 0`; a repeated :math:`F` is a KKT point
    (:math:`x_F > 0`, :math:`\lambda_{F^c} \ge 0`). It starts from :func:`_fista`
    warm-started at ``x0`` (near the answer PDAS settles in a step or two). Returns None when it does not settle
    in ``max_iter`` steps or a subsystem is ill-conditioned or singular (the caller
    falls back to :func:`_active_set`). ``gram``: :math:`H` as a sparse matrix, for a
    cheaper :func:`_fista`."""
    solver = _PassiveSolver(A, b, a, ridge)
    x = _fista(solver.H if gram is None else gram, solver.f, x0)
    free = None
    for _ in range(max_iter):
        lam = solver.H @ x - solver.f
        new = x - lam > 0
        if free is not None and np.array_equal(new, free):
            return x
        free = new
        idx = np.flatnonzero(free)
        x = np.zeros_like(x)
        if idx.size:
            z, ray = solver.solve(idx)
            if ray is not None or not np.all(np.isfinite(z)):
                return None
            x[idx] = z
    return None


def _working_set(A, b, a, ridge):
    r"""The exact minimizer of :math:`\tfrac12|Ax-b|^2 + a^Tx + \tfrac12\sum_i\rho_i x_i^2`
    over :math:`x \ge 0` for sparse (or large dense) :math:`A` with unit stacked
    columns, by the working-set method of the module docstring."""
    n = A.shape[1]
    bnorm = float(np.linalg.norm(b))
    x = np.zeros(n)
    work = np.zeros(0, dtype=np.int64)
    for _ in range(200):
        grad = _gradient(A, b, a, ridge, x)
        scale = bnorm + float(x.sum()) + a
        viol = np.flatnonzero((x <= 0) & (grad < -WORKING_SET_TOLERANCE * scale))
        if viol.size == 0:
            break
        budget = max(WORKING_SET_START, work.size)
        if viol.size > budget:
            viol = viol[np.argpartition(grad[viol] / scale[viol], budget - 1)[:budget]]
        work = np.union1d(np.flatnonzero(x > 0), viol)
        if work.size > WORKING_SET_LIMIT:
            break
        blk, bb, gram = _block(A, b, work, ridge)
        x0 = x[work]
        z = _pdas(blk, bb, a[work], ridge[work], x0, gram=gram)
        if z is None:
            z = _active_set(blk, bb, a[work], ridge[work], x0=x0)
        z = _drop_roundoff(z)
        x = np.zeros(n)
        x[work] = z
    return x
