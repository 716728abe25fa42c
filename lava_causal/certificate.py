r"""A posteriori certificate that ``r`` minimizes :math:`L` over :math:`r \ge 0`.

:func:`certify` checks any ``r`` against the MAP problem of a
:class:`~lava_causal.problem.CausalProblem`,
:math:`L(r) = |\mu - U r|^2/(2\sigma^2) + \alpha\sum_i r_i + \tfrac\beta2|r|^2`, and
returns a :class:`MapCertificate`; it needs no knowledge of how ``r`` was found.
All quantities are computed on :math:`\tilde U = U/\sigma`,
:math:`\tilde\mu = \mu/\sigma` with :math:`G = \tilde U^T\tilde U + \beta I` and
:math:`\nabla L(r) = \tilde U^T(\tilde U r - \tilde\mu) + \alpha 1 + \beta r`, in the
frame scaled by a power of two :math:`c \approx 1/|\tilde\mu|` (exact; it avoids over-
and underflow and leaves every relative quantity below unchanged).

KKT residual
------------
The conditions are :math:`r \ge 0`, :math:`\nabla L \ge 0`,
:math:`r_i \nabla_i L = 0`. Per cause, in Jacobi-scaled units
(:math:`G_{ii} r_i` has the units of a gradient: it is what :math:`\nabla_i L`
would change by if :math:`r_i` dropped to 0),

.. math::

    \kappa_i = \frac{|\min(\hat G_{ii} r_i,\ \nabla_i L(r))|}{s_i},\qquad
    s_i = d_i\Big(|\tilde\mu| + \sum_j d_j\,|r_j|\Big) + \alpha,\qquad
    d_i = \sqrt{G_{ii}} = (|\tilde u_i|^2 + \beta)^{1/2},

and ``kkt_residual`` :math:`= \max_i \kappa_i`. :math:`s_i` bounds every term of
:math:`\nabla_i L` (:math:`|\tilde u_i^T y| \le |\tilde u_i||y|`,
:math:`\beta|r_i| \le d_i^2|r_i|`), and also the error that a backward-stable solve
of the stacked system :math:`[\tilde U; \sqrt\beta I]` leaves in it (its
columns have norms :math:`d_j`), so rounding makes :math:`\kappa_i \approx
\epsilon_{mach}`. :math:`\kappa_i` splits into ``primal_infeasibility``
:math:`\max(0, -r_i)\hat G_{ii}/s_i`, ``dual_infeasibility``
:math:`\max(0, -\nabla_i L)/s_i` and ``complementarity``
:math:`\min(r_i^+ \hat G_{ii}, (\nabla_i L)^+)/s_i` (each reported as the max over
causes; ``kkt_residual`` is the largest of the three). It is invariant under
:math:`(\mu, \alpha) \to c(\mu, \alpha)` (:math:`r \to c r`) for any :math:`c > 0`
and under column scaling :math:`u_i \to k_i u_i`, :math:`r_i \to r_i/k_i` (an
equivalent problem when :math:`\alpha = \beta = 0`; per-cause penalties scale
alike). :math:`\hat G_{ii} = G_{ii} = d_i^2`, except that an all-zero feature with
:math:`\beta = 0` (:math:`G_{ii} = 0`) uses :math:`\max_j G_{jj}`; :math:`0/0 = 0`.

Duality gap
-----------
With :math:`y = \tilde U r - \tilde\mu`, Fenchel-Young
(:math:`\tfrac12|w|^2 \ge y^T w - \tfrac12|y|^2`) gives for every :math:`r' \ge 0`
:math:`L(r') \ge D(y) = -\tfrac12|y|^2 - y^T\tilde\mu + \sum_i
\min_{t\ge0}[(\tilde u_i^T y + \alpha)t + \tfrac\beta2 t^2]`, so
:math:`L(r) - L(r^*) \le L(r) - D(y)`, with equality at the MAP.

For a dual point :math:`\theta y` (:math:`\theta \le 1`), with
:math:`v_i = \theta\tilde u_i^T y + \alpha`, the identity
:math:`y^T\tilde\mu = y^T\tilde U r - |y|^2` gives

.. math::

    L(r) - D(\theta y) = \tfrac12(1-\theta)^2|y|^2 + \sum_i t_i,\qquad
    t_i = \begin{cases} r_i v_i + \tfrac\beta2 r_i^2 & v_i \ge 0\\
    (\beta r_i + v_i)^2/(2\beta) & v_i < 0 .\end{cases}

* :math:`\beta > 0`: every point is dual feasible; the gap is the smaller of
  :math:`\theta = 1` and the :math:`\theta` below (which helps when
  :math:`\beta \ll G_{ii}`, where :math:`v_i^2/(2\beta)` would magnify rounding).
* :math:`\beta = 0, \alpha > 0`: :math:`D` is finite only where all
  :math:`v_i \ge 0`; the point is scaled into feasibility,
  :math:`\theta = \min(1, \alpha/\max_i(-\tilde u_i^T y))`, so
  :math:`L(r) - D(\theta y) = \tfrac12(1-\theta)^2|y|^2 + \sum_i r_i(\alpha +
  \theta\,\tilde u_i^T y)`.
* :math:`\alpha = \beta = 0`: the feasible set :math:`\tilde U^T y \ge 0` is a cone
  that a rounded :math:`y` generally misses, so the gap is the complementarity
  :math:`r^T\nabla L(r)` (the same formula with :math:`\theta = 1`); it bounds
  :math:`L(r) - L(r^*)` whenever :math:`\nabla L(r) \ge 0`, which the KKT residual
  checks (convexity: :math:`L(r^*) \ge L(r) + \nabla L^T(r^* - r) \ge L(r) -
  r^T\nabla L`).

Every term is non-negative for :math:`r \ge 0` and is summed as such (no
cancellation). ``duality_gap`` is the gap divided by
:math:`\tfrac12(|\tilde\mu| + \sum_j d_j|r_j|)^2 + \alpha\sum_j|r_j|`, which bounds
the size of the terms of :math:`L(r)` (at least
:math:`L(0) \ge L(r^*)`); it has the same invariances as the KKT residual.

Uniqueness
----------
:math:`S = \{i: r_i > 0\}`; ``n_active`` :math:`= |S|`,
``active_rank`` is the numerical rank of :math:`[\tilde U_S; \sqrt\beta I]`
(singular values above :math:`\max(M + [\beta>0]|S|, |S|)\,\epsilon_{mach}\,
\sigma_{max}`), ``active_condition`` :math:`= \mathrm{cond}(G_{SS}) =
(\sigma_{max}/\sigma_{min})^2` (``inf`` if rank-deficient, 1 for :math:`S =
\emptyset`). With :math:`\beta > 0`, :math:`L` is strictly convex and ``unique`` is
True. With :math:`\beta = 0` every minimizer has the same :math:`\tilde U r^*`
and gradient; the minimizers are :math:`\{r \ge 0: r_i = 0\ (i \notin E),\
\tilde U_E r_E = \tilde U r^*\}` with :math:`E = S \cup K`, :math:`K` the
bound causes whose gradient is zero (numerically: :math:`|\nabla_i L| \le
\max(10^{-12}, 100\,\kappa) s_i`, :data:`DEGENERACY_TOLERANCE`). ``unique`` is False when
:math:`\tilde U_S` is rank-deficient (:math:`r^* + t\,d`, :math:`\tilde U_S d = 0`,
stays optimal for small :math:`|t|`), or when a null vector :math:`d` of
:math:`\tilde U_E` has :math:`d_i \ge 0` on :math:`E \setminus S` and is not 0
there (a small linear program); True otherwise. ``unique`` False means the
coefficients are not determined, but :math:`U r^*` (and :math:`L(r^*)`) are.

Scale
-----
Everything but the uniqueness part costs two products with :math:`\tilde U`
(O(MN) dense, O(nnz) for sparse features; nothing N x N). The uniqueness part
factors only the active columns, restricted for sparse features to the rows
:math:`R` they touch (rows outside :math:`R` are zero and change no singular value):
an SVD of :math:`|R| \times |S|`, and for the degenerate test a QR of the rows
touched by :math:`S \cup K`. When :math:`|S|`, or :math:`|S| + |K|` for the linear
program, exceeds :data:`ACTIVE_DENSE_LIMIT` these are not computed: ``active_rank``
is -1, ``active_condition`` NaN and/or ``unique`` None, and ``note`` says why
(never a guessed value).

This module does not import :mod:`lava_causal.problem`: :func:`certify` takes the
problem as an argument.
"""
from __future__ import annotations

from dataclasses import dataclass

from typing import Optional

import numpy as np
import scipy.linalg
import scipy.optimize
import scipy.sparse
import scipy.sparse.csgraph


__all__ = ["KKT_TOLERANCE", "GAP_TOLERANCE", "DEGENERACY_TOLERANCE", "ACTIVE_DENSE_LIMIT", "MapCertificate",
           "MapNotCertified", "certify", "kkt_residual", "column_norms", "inverse_power_of_two"]

KKT_TOLERANCE = 1e-9
"""Largest :attr:`MapCertificate.kkt_residual` (relative, per cause) a certified MAP may have."""

GAP_TOLERANCE = 1e-10
"""Largest :attr:`MapCertificate.duality_gap` (relative) a certified MAP may have."""

DEGENERACY_TOLERANCE = 1e-12
r"""A bound cause (:math:`r_i = 0`) counts as degenerate in the uniqueness test when
:math:`|\nabla_i L| \le \max(` ``DEGENERACY_TOLERANCE`` :math:`, 100\,\kappa)\, s_i`
(:math:`\kappa` the KKT residual of ``r``): its gradient is zero to within the
accuracy of ``r`` itself (module docstring)."""

ACTIVE_DENSE_LIMIT = 5000
r"""Largest active set (:math:`|S|`, or :math:`|S| + |K|` for the uniqueness linear
program) whose dense factorization the certificate computes; above it rank,
condition and/or uniqueness are reported as not computed (module docstring)."""

EPS = np.finfo(float).eps
"""Machine epsilon of float64 (shared with :mod:`lava_causal.map_solver`)."""


class MapNotCertified(ValueError):
    """The exact-MAP solver's best estimate failed its certificate.

    A ``ValueError``, so the command line prints the one-line message and exits 2.
    ``certificate`` is the failing :class:`MapCertificate`, ``estimate`` the estimate.
    """

    def __init__(self, message, certificate=None, estimate=None):
        super().__init__(message)
        self.certificate = certificate
        self.estimate = estimate


@dataclass(frozen=True)
class MapCertificate:
    r"""A posteriori certificate that ``r`` minimizes :math:`L` over :math:`r \ge 0`.

    The formulas (KKT residual, duality gap, uniqueness) and their invariances are in
    the docstring of :mod:`lava_causal.certificate`; :func:`certify` computes it.

    Attributes
    ----------
    kkt_residual, primal_infeasibility, dual_infeasibility, complementarity : float
    duality_gap : float
        Relative gap (signed; non-negative for :math:`r \ge 0`).
    objective : float
        :math:`L(r)`.
    dual_bound : float
        :math:`L(r)` minus the absolute gap (a lower bound on :math:`L(r^*)` where
        the duality-gap section of the module docstring says so).
    n_active, active_rank : int
        ``active_rank`` is -1 when not computed (``note`` says why).
    active_condition : float
        NaN when not computed.
    unique : bool or None
        None when not checked (``note`` says why).
    method : str
        Which path produced ``r``: ``"nnls-stacked"`` (:math:`\beta > 0`), ``"nnls"``
        (:math:`\alpha = \beta = 0`), ``"qr-nnls"`` (:math:`\alpha > 0, \beta = 0`,
        full column rank), ``"active-set"`` (generalised Lawson-Hanson,
        :func:`lava_causal.map_solver._active_set`), ``"<path>+active-set"`` (a path's
        estimate polished by the active-set method), ``"working-set"`` (sparse
        features or N > :data:`lava_causal.map_solver.DENSE_PATH_LIMIT`:
        :func:`lava_causal.map_solver._working_set`), ``"trivial"`` (:math:`\mu = 0`
        or no non-zero feature: :math:`r^* = 0`), ``"given"`` (an ``r`` passed by the
        caller).
    certified : bool
        ``kkt_residual <= kkt_tolerance`` and ``|duality_gap| <= gap_tolerance``.
    kkt_tolerance, gap_tolerance : float
        The tolerances applied (:data:`KKT_TOLERANCE`, :data:`GAP_TOLERANCE`).
    note : str
        Why a part (rank, condition, uniqueness) was not computed; empty otherwise.
    """

    kkt_residual: float
    primal_infeasibility: float
    dual_infeasibility: float
    complementarity: float
    duality_gap: float
    objective: float
    dual_bound: float
    n_active: int
    active_rank: int
    active_condition: float
    unique: Optional[bool]
    method: str
    certified: bool
    kkt_tolerance: float = KKT_TOLERANCE
    gap_tolerance: float = GAP_TOLERANCE
    note: str = ""

    def failures(self) -> list:
        """One phrase per failed check (empty when certified)."""
        out = []
        if not self.kkt_residual <= self.kkt_tolerance:
            parts = {"primal infeasibility": self.primal_infeasibility,
                     "dual infeasibility": self.dual_infeasibility,
                     "complementarity": self.complementarity}
            worst = max(parts, key=lambda k: parts[k])
            out.append(f"KKT residual {self.kkt_residual:.3g} > tolerance {self.kkt_tolerance:g} "
                       f"(largest part: {worst})")
        if not abs(self.duality_gap) <= self.gap_tolerance:
            out.append(f"relative duality gap {self.duality_gap:.3g} > tolerance {self.gap_tolerance:g}")
        return out

    def summary(self) -> str:
        """A one-line description."""
        state = "certified" if self.certified else "NOT certified: " + "; ".join(self.failures())
        return (f"MAP ({self.method}) {state}; KKT residual {self.kkt_residual:.2g}, "
                f"duality gap {self.duality_gap:.2g}, {self.n_active} active cause(s), rank "
                f"{self.active_rank}, cond(G_SS) {self.active_condition:.3g}"
                f"{'' if self.unique or self.unique is None else ', not unique (U r* is)'}"
                f"{'' if not self.note else '; ' + self.note}")


# ---------------------------------------------------------------- public entry points
def certify(problem, r: np.ndarray, method: str) -> MapCertificate:
    """The :class:`MapCertificate` of ``r`` for ``problem``.

    Parameters
    ----------
    problem : CausalProblem
        Supplies ``features``, ``observation``, ``alpha``, ``beta``, ``sigma`` and
        ``objective``.
    r : ndarray, shape (N,)
        Finite rates (already validated; they may be negative, which counts as primal
        infeasibility).
    method : str
        Recorded as :attr:`MapCertificate.method`.
    """
    f = _frame(problem, r)
    kkt, primal, dual, comp = _kkt(f)
    rc, uy, y, al, be, absr = f["rc"], f["uy"], f["y"], f["al"], f["be"], f["absr"]
    thetas = [1.0] if be > 0 or al == 0 else []
    worst = float(np.max(-uy))
    if al > 0:      # the largest theta <= 1 with theta U^T y + alpha >= 0
        thetas.append(al / worst if worst > al else 1.0)
    gap = min(_gap_at(theta, rc, uy, float(y @ y), al, be) for theta in thetas)
    denom = 0.5 * f["size"] ** 2 + al * float(absr.sum())
    rel_gap = 0.0 if gap == 0 else (gap / denom if denom > 0 else np.inf)
    objective = problem.objective(r)
    n_active, rank, cond, unique, note = _uniqueness(f, kkt)
    certified = bool(kkt <= KKT_TOLERANCE and abs(rel_gap) <= GAP_TOLERANCE)
    return MapCertificate(
        kkt_residual=float(kkt), primal_infeasibility=float(primal),
        dual_infeasibility=float(dual), complementarity=float(comp),
        duality_gap=float(rel_gap), objective=objective,
        dual_bound=float(objective - gap / f["c"] / f["c"]), n_active=n_active,
        active_rank=rank, active_condition=cond, unique=unique, method=method,
        certified=certified, kkt_tolerance=KKT_TOLERANCE, gap_tolerance=GAP_TOLERANCE, note=note)


def kkt_residual(problem, r: np.ndarray) -> float:
    r""":math:`\max_i \kappa_i` (module docstring) of the finite rates ``r``, shape (N,)."""
    return _kkt(_frame(problem, r))[0]


# ---------------------------------------------------------------- exact scaling helpers
def column_norms(u) -> np.ndarray:
    """Euclidean norms of the columns of ``u`` (dense, or sparse in O(nnz)), without
    under- or overflow."""
    if scipy.sparse.issparse(u):
        u = scipy.sparse.csc_matrix(u)
        cols = np.repeat(np.arange(u.shape[1]), np.diff(u.indptr))
        big = np.zeros(u.shape[1])
        if u.nnz:
            big = np.asarray(abs(u).max(axis=0).toarray()).ravel()
        safe = np.where(big > 0, big, 1.0)
        scaled = u.data / safe[cols]
        return big * np.sqrt(np.bincount(cols, weights=scaled * scaled, minlength=u.shape[1]))
    big = np.max(np.abs(u), axis=0)
    safe = np.where(big > 0, big, 1.0)
    return big * np.sqrt(np.einsum("ij,ij->j", u / safe, u / safe))


def inverse_power_of_two(v: float) -> float:
    """The power of two :math:`c` with :math:`c v \\in [1/2, 1)` (exact scaling)."""
    _, e = np.frexp(v)
    return float(np.ldexp(1.0, -int(e)))


# ---------------------------------------------------------------- the certificate's parts
def _frame(problem, r):
    """Quantities of the certificate in the frame scaled by a power of two
    :math:`c \\approx 1/|\\tilde\\mu|` (exact; avoids over- and underflow)."""
    ut = problem.features / problem.sigma
    mut = problem.observation / problem.sigma
    scale = float(np.linalg.norm(mut))
    c = inverse_power_of_two(scale) if scale > 0 else 1.0
    rc, mc, al, be = c * r, c * mut, c * problem.alpha, problem.beta
    norms = column_norms(ut)
    y = np.asarray(ut @ rc).ravel() - mc
    uy = np.asarray(ut.T @ y).ravel()
    grad = uy + al + be * rc
    absr = np.abs(rc)
    d = np.sqrt(norms ** 2 + be)
    size = float(np.linalg.norm(mc) + d @ absr)
    s = d * size + al
    return dict(c=c, ut=ut, rc=rc, al=al, be=be, norms=norms, y=y, uy=uy, grad=grad,
                absr=absr, size=size, s=s)


def _kkt(f):
    """``(kkt_residual, primal, dual, complementarity)`` of a :func:`_frame`."""
    gdiag = f["norms"] ** 2 + f["be"]
    ghat = np.where(gdiag > 0, gdiag, gdiag.max() if gdiag.max() > 0 else 1.0)
    rc, grad, s = f["rc"], f["grad"], f["s"]
    primal = _max_ratio(np.maximum(-rc, 0.0) * ghat, s)
    dual = _max_ratio(np.maximum(-grad, 0.0), s)
    comp = _max_ratio(np.minimum(np.maximum(rc, 0.0) * ghat, np.maximum(grad, 0.0)), s)
    return max(primal, dual, comp), primal, dual, comp


def _active_block(ut, cols):
    """``ut[:, cols]`` as a dense array; for sparse ``ut`` only the rows it touches
    (the others are zero), with the rows kept."""
    if not scipy.sparse.issparse(ut):
        return ut[:, cols], np.arange(ut.shape[0])
    block = ut[:, cols]
    rows = np.unique(block.indices)
    return block[rows, :].toarray(), rows


def _active_singular_values(ut, cols, be):
    r"""Singular values of :math:`[\tilde U_S; \sqrt\beta I]`, descending. For sparse
    features :math:`\tilde U_S` is block diagonal after permuting rows and columns by the
    connected components of its pattern (causes sharing an input), so each block is
    factored alone (union of the blocks' singular values; O(sum of block SVDs))."""
    blocks = [cols]
    if scipy.sparse.issparse(ut) and cols.size > 1:
        pattern = ut[:, cols]
        pattern = scipy.sparse.csr_matrix((np.ones(pattern.nnz), pattern.indices, pattern.indptr),
                                          shape=(cols.size, ut.shape[0]))   # U_S^T pattern
        count, label = scipy.sparse.csgraph.connected_components(pattern @ pattern.T, directed=False)
        if count > 1:
            order = np.argsort(label, kind="stable")
            blocks = np.split(cols[order], np.flatnonzero(np.diff(label[order])) + 1)
    values = []
    for block in blocks:
        b_s, _ = _active_block(ut, block)
        if be > 0:
            b_s = np.vstack([b_s, np.sqrt(be) * np.eye(block.size)])
        values.append(scipy.linalg.svd(b_s, compute_uv=False, check_finite=False))
    return np.sort(np.concatenate(values))[::-1]


def _uniqueness(f, kkt):
    """``(n_active, active_rank, active_condition, unique, note)``; see the module docstring."""
    ut, rc, be = f["ut"], f["rc"], f["be"]
    support = rc > 0
    n_active = int(support.sum())
    if n_active == 0:
        return 0, 0, 1.0, True, ""
    if n_active > ACTIVE_DENSE_LIMIT:
        note = (f"rank, cond(G_SS) and uniqueness not computed: {n_active} active causes exceed "
                f"ACTIVE_DENSE_LIMIT = {ACTIVE_DENSE_LIMIT} for a dense factor")
        return n_active, -1, float("nan"), (True if be > 0 else None), note
    m = ut.shape[0]
    sv = _active_singular_values(ut, np.flatnonzero(support), be)
    # the tolerance uses the nominal shape, as for the dense columns
    rank = _numerical_rank(sv, (m + (n_active if be > 0 else 0), n_active))
    cond = float((sv[0] / sv[-1]) ** 2) if rank == n_active else float("inf")
    if be > 0:
        return n_active, rank, cond, True, ""
    if rank < n_active:
        return n_active, rank, cond, False, ""
    tol = max(DEGENERACY_TOLERANCE, 100.0 * kkt)
    degenerate = ~support & (np.abs(f["grad"]) <= tol * f["s"]) & (f["norms"] > 0)
    n_k = int(degenerate.sum())
    if n_k == 0:
        return n_active, rank, cond, True, ""
    if n_active + n_k > ACTIVE_DENSE_LIMIT:
        return n_active, rank, cond, None, (
            f"uniqueness not checked: {n_active} active and {n_k} degenerate bound causes "
            f"exceed ACTIVE_DENSE_LIMIT = {ACTIVE_DENSE_LIMIT}")
    # U_S has full column rank: a null vector d of U_E is fixed by d_K (K: bound
    # causes with zero gradient), and exists iff U_K d_K lies in range(U_S), i.e.
    # C d_K = 0 with C = Q_perp^T U_K (Q_perp: orthonormal basis of range(U_S)^perp).
    # Sparse: only the rows touched by S and K matter (the others are zero in both).
    idx_s, idx_k = np.flatnonzero(support), np.flatnonzero(degenerate)
    both, _ = _active_block(ut, np.concatenate([idx_s, idx_k]))
    u_s, u_k = both[:, :n_active], both[:, n_active:]
    q = scipy.linalg.qr(u_s, mode="full", check_finite=False)[0]
    c_mat = q[:, n_active:].T @ u_k
    tol = max(m, n_active + n_k) * EPS * float(np.sqrt(np.sum(u_s ** 2) + np.sum(u_k ** 2)))
    if c_mat.size == 0:
        return n_active, rank, cond, False, ""
    _, sv_c, vt = scipy.linalg.svd(c_mat, full_matrices=False, check_finite=False)
    k = int(np.sum(sv_c > tol))
    if k == 0:      # every d_K >= 0 works
        return n_active, rank, cond, False, ""
    # Is there d_K >= 0, sum(d_K) = 1, in the numerical null space of C (V_k^T d_K = 0)?
    lp = scipy.optimize.linprog(
        np.zeros(n_k), A_eq=np.vstack([vt[:k], np.ones((1, n_k))]),
        b_eq=np.concatenate([np.zeros(k), [1.0]]), bounds=(0, None), method="highs")
    return n_active, rank, cond, not lp.status == 0, ""


def _gap_at(theta, r, uy, yy, alpha, beta) -> float:
    r""":math:`L(r) - D(\theta y)` as a sum of terms that are non-negative for
    :math:`r \ge 0` (module docstring); ``uy`` is :math:`\tilde U^T y`,
    ``yy`` :math:`|y|^2`. With :math:`\beta = 0` a term with :math:`v_i < 0` would be
    infinite and is taken as :math:`r_i v_i` (the complementarity convention of
    :math:`\alpha = \beta = 0`)."""
    v = theta * uy + alpha
    if beta > 0:
        terms = np.where(v >= 0, r * v + 0.5 * beta * r * r, (beta * r + v) ** 2 / (2 * beta))
    else:
        terms = r * v
    return float(0.5 * (1 - theta) ** 2 * yy + np.sum(terms))


def _max_ratio(num, den) -> float:
    """max_i num_i / den_i with 0/0 = 0 and x/0 = inf (num >= 0, den >= 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.where(num > 0, num / np.where(den > 0, den, 0.0), 0.0)
    q = np.where((num > 0) & ~(den > 0), np.inf, q)
    return float(q.max()) if q.size else 0.0


def _numerical_rank(sv, shape) -> int:
    """Singular values above ``max(shape) * eps * sv[0]`` (as numpy's matrix_rank)."""
    if sv.size == 0 or not sv[0] > 0:
        return 0
    return int(np.sum(sv > sv[0] * max(shape) * EPS))
