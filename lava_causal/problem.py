r"""The causal inference problem: data, energy and the certified exact MAP solution.

Generative model (Moreno-Bote & Drugowitsch, Sci. Rep. 5:17531, 2015): :math:`\mu = U r + \epsilon`,
:math:`\epsilon \sim N(0, \sigma^2 I_M)`, prior
:math:`p(r) \propto \prod_i e^{-\alpha r_i - \beta r_i^2/2}` on :math:`r \ge 0`.
The MAP estimate minimizes

.. math::

    L(r) = \frac{|\mu - U r|^2}{2\sigma^2} + \alpha \sum_i r_i + \frac{\beta}{2}|r|^2,
    \quad r \ge 0,

equivalently the energy :math:`E(r) = -\tfrac12 r^T J r - g^T r` with
:math:`J = -U^T U/\sigma^2 - \beta I` and :math:`g = U^T \mu/\sigma^2 - \alpha`.

Exact MAP and its certificate
-----------------------------
:meth:`CausalProblem.map_estimate` delegates to :func:`lava_causal.map_solver.solve_map`
(an exact rescaling, then stacked NNLS, NNLS, QR + NNLS or a generalised
Lawson-Hanson active-set method for small dense problems, and a working-set method
(exact primal-dual active set on a growing set of causes, O(nnz) per round) for sparse
features or N > 2000; the equations are in that module's docstring). The
returned :math:`r` is verified by :func:`lava_causal.certificate.certify` (a
scale-invariant KKT residual and a relative Lagrange duality gap; formulas in that
module's docstring), exposed as :meth:`CausalProblem.map_certificate`; an estimate
that fails either tolerance raises :class:`MapNotCertified`.

:class:`MapCertificate`, :class:`MapNotCertified` and the tolerances
(:data:`KKT_TOLERANCE`, :data:`GAP_TOLERANCE`, :data:`DEGENERACY_TOLERANCE`, and the
solver's :data:`GRAM_RCOND`, :data:`QR_RCOND`, :data:`STACKED_RHS_RATIO`,
:data:`ENTER_TOLERANCE`) are re-exported here.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import scipy.sparse

from compiler.system.files import atomic_output, read_npz

from .certificate import (DEGENERACY_TOLERANCE, GAP_TOLERANCE, KKT_TOLERANCE, MapCertificate,
                          MapNotCertified, certify)
from .certificate import kkt_residual as _kkt_residual
from .map_solver import ENTER_TOLERANCE, GRAM_RCOND, QR_RCOND, STACKED_RHS_RATIO, solve_map

__all__ = ["CausalProblem", "MapCertificate", "MapNotCertified", "KKT_TOLERANCE", "GAP_TOLERANCE",
           "DEGENERACY_TOLERANCE", "GRAM_RCOND", "QR_RCOND", "STACKED_RHS_RATIO", "ENTER_TOLERANCE"]


def _check_scalar(name, value, *, minimum, strict=False):
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not np.isfinite(v) or (v <= minimum if strict else v < minimum):
        rel = ">" if strict else ">="
        raise ValueError(f"{name} must be finite and {rel} {minimum:g}, got {value!r}")
    return v


_SPARSE_MEMBERS = ("features_data", "features_indices", "features_indptr", "features_shape")
"""Members of a problem file that store sparse features as CSC (:meth:`CausalProblem.save`)."""


def _sparse_features(value) -> "scipy.sparse.csc_matrix":
    """``value`` (any ``scipy.sparse`` matrix or array) as a validated canonical float64
    ``csc_matrix`` (sorted indices, no duplicates, no stored zeros); O(nnz), never dense."""
    if np.iscomplexobj(value):
        raise ValueError(f"features must be real numbers, got a complex sparse matrix (dtype "
                         f"{value.dtype}); pass the real part explicitly if that is what you mean")
    if value.dtype.kind not in "biuf":
        raise ValueError(f"features must be a matrix of real numbers, got dtype {value.dtype}")
    if len(value.shape) != 2 or 0 in value.shape:
        raise ValueError(f"features must be a non-empty 2-D array (M, N), got shape {value.shape}")
    u = scipy.sparse.csc_matrix(value, dtype=float, copy=True)
    if not np.all(np.isfinite(u.data)):
        raise ValueError("features must be finite; found NaN or infinite values")
    u.sum_duplicates()
    u.eliminate_zeros()
    u.sort_indices()
    for arr in (u.data, u.indices, u.indptr):
        arr.setflags(write=False)
    return u


def _sparse_from_members(contents, path) -> "scipy.sparse.csc_matrix":
    """The CSC features stored by :meth:`CausalProblem.save`, with their structure
    checked (shape, index ranges, monotone ``indptr``) before any use."""
    data, indices, indptr, shape = (contents[k] for k in _SPARSE_MEMBERS)
    bad = lambda why: ValueError(f"problem file {path!r}: sparse features {why}")
    if shape.shape != (2,) or shape.dtype.kind not in "iu" or np.any(shape <= 0):
        raise bad(f"need a positive integer shape (M, N), got {shape.tolist()!r}")
    m, n = (int(v) for v in shape)
    if data.ndim != 1 or indices.ndim != 1 or indptr.ndim != 1:
        raise bad("members must be 1-D")
    if indices.dtype.kind not in "iu" or indptr.dtype.kind not in "iu":
        raise bad(f"indices and indptr must be integers, got {indices.dtype} and {indptr.dtype}")
    if data.dtype.kind not in "biuf":
        raise bad(f"data must be real numbers, got dtype {data.dtype}")
    if indptr.size != n + 1 or indptr[0] != 0 or np.any(np.diff(indptr) < 0):
        raise bad(f"indptr must be {n + 1} non-decreasing offsets starting at 0")
    if int(indptr[-1]) != data.size or indices.size != data.size:
        raise bad(f"indptr ends at {int(indptr[-1])} but data has {data.size} and indices "
                  f"{indices.size} entries")
    if indices.size and (int(indices.min()) < 0 or int(indices.max()) >= m):
        raise bad(f"row indices must lie in [0, {m})")
    return scipy.sparse.csc_matrix((data.astype(float), indices.astype(np.int64), indptr.astype(np.int64)),
                                   shape=(m, n))


@dataclass(frozen=True, eq=False)
class CausalProblem:
    r"""A non-negative MAP causal inference problem.

    Parameters
    ----------
    features : array_like or scipy.sparse matrix, shape (M, N)
        Feature matrix :math:`U`; column :math:`u_i` is cause ``i``'s feature vector.
        A ``scipy.sparse`` matrix (any format) is kept sparse, as a canonical float64
        ``csc_matrix`` (validated in O(nnz); :attr:`is_sparse`); nothing of a sparse
        problem allocates N x N (:attr:`coupling` is then sparse too).
    observation : array_like, shape (M,)
        Observation :math:`\mu`.
    alpha : float, >= 0
        L1 prior strength (global inhibition in the network).
    beta : float, >= 0
        L2 prior strength (deepens every neuron's reset).
    sigma : float, > 0
        Observation noise standard deviation.
    """

    features: np.ndarray
    observation: np.ndarray
    alpha: float = 0.0
    beta: float = 0.0
    sigma: float = 1.0

    def __post_init__(self):
        def real_array(name, value):
            raw = np.asarray(value)
            if np.iscomplexobj(raw):
                raise ValueError(f"{name} must be real numbers, got a complex array (dtype {raw.dtype}); "
                                 f"pass the real part explicitly if that is what you mean")
            if raw.dtype.kind not in "biufO":
                raise ValueError(f"{name} must be an array of real numbers, got dtype {raw.dtype}")
            try:
                return np.array(raw, dtype=float)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{name} must be an array of real numbers ({exc})") from None

        for name in ("alpha", "beta", "sigma"):
            value = getattr(self, name)
            if np.iscomplexobj(value):
                raise ValueError(f"{name} must be a real number, got {value!r}")
        sparse = scipy.sparse.issparse(self.features)
        if sparse:
            u = _sparse_features(self.features)
        else:
            u = real_array("features", self.features)
            if u.ndim != 2 or 0 in u.shape:
                raise ValueError(f"features must be a non-empty 2-D array (M, N), got shape {u.shape}")
            if not np.all(np.isfinite(u)):
                raise ValueError("features must be finite; found NaN or infinite values")
        mu = real_array("observation", self.observation)
        if mu.ndim != 1 or mu.shape[0] != u.shape[0]:
            raise ValueError(
                f"observation must have shape ({u.shape[0]},) to match features (M, N) = {u.shape}, "
                f"got shape {mu.shape}")
        if not np.all(np.isfinite(mu)):
            raise ValueError("observation must be finite; found NaN or infinite values")
        if not sparse:
            u.setflags(write=False)
        mu.setflags(write=False)
        object.__setattr__(self, "features", u)
        object.__setattr__(self, "observation", mu)
        object.__setattr__(self, "alpha", _check_scalar("alpha", self.alpha, minimum=0.0))
        object.__setattr__(self, "beta", _check_scalar("beta", self.beta, minimum=0.0))
        object.__setattr__(self, "sigma", _check_scalar("sigma", self.sigma, minimum=0.0, strict=True))
        zero = np.flatnonzero(np.diff(u.indptr) == 0) if sparse else np.flatnonzero(~np.any(u != 0, axis=0))
        if zero.size and self.alpha == 0 and self.beta == 0:
            raise ValueError(
                f"features has all-zero column(s) {zero[:10].tolist()}: with alpha = beta = 0 the MAP "
                f"intensity of such a cause is undetermined (it does not enter L); drop the cause or "
                f"set alpha > 0 or beta > 0 (then its MAP intensity is 0)")

    # ------------------------------------------------------------ quantities
    @property
    def n_causes(self) -> int:
        """N, the number of causes (neurons)."""
        return self.features.shape[1]

    @property
    def n_inputs(self) -> int:
        """M, the observation dimension."""
        return self.features.shape[0]

    @property
    def is_sparse(self) -> bool:
        """Whether :attr:`features` is a ``scipy.sparse.csc_matrix``."""
        return scipy.sparse.issparse(self.features)

    @property
    def coupling(self):
        r""":math:`J = -U^T U/\sigma^2 - \beta I`, shape (N, N): a dense array, or for
        sparse features a ``csr_matrix`` (time and memory
        :math:`O(\sum_m k_m^2)`, :math:`k_m` the causes touching input m)."""
        u = self.features / self.sigma
        if self.is_sparse:
            return scipy.sparse.csr_matrix(-(u.T @ u) - self.beta * scipy.sparse.identity(self.n_causes))
        return -(u.T @ u) - self.beta * np.eye(self.n_causes)

    @property
    def drive(self) -> np.ndarray:
        r""":math:`g = U^T \mu / \sigma^2 - \alpha`, shape (N,)."""
        return np.asarray(self.features.T @ self.observation).ravel() / self.sigma**2 - self.alpha

    def objective(self, r) -> float:
        r"""Negative log posterior up to a constant, :math:`L(r)` (O(MN) dense, O(nnz) sparse)."""
        r = np.asarray(r, dtype=float)
        res = self.observation - np.asarray(self.features @ r).ravel()
        return float(res @ res / (2 * self.sigma**2) + self.alpha * r.sum() + 0.5 * self.beta * r @ r)

    def gradient(self, r) -> np.ndarray:
        r""":math:`\nabla L(r) = -(J r + g) = U^T(U r - \mu)/\sigma^2 + \alpha + \beta r`,
        computed from :math:`U` (O(MN) dense, O(nnz) sparse; no N x N)."""
        r = np.asarray(r, dtype=float)
        res = np.asarray(self.features @ r).ravel() - self.observation
        return np.asarray(self.features.T @ res).ravel() / self.sigma**2 + self.alpha + self.beta * r

    def kkt_residual(self, r) -> float:
        r"""Scale-invariant violation of the KKT conditions of :math:`\min_{r\ge0} L(r)`:
        :math:`\max_i |\min(\hat G_{ii} r_i, \nabla_i L(r))|/s_i`, zero exactly at the
        MAP (formula and invariances in :mod:`lava_causal.certificate`). Negative entries
        of ``r`` (primal infeasibility), negative gradients (dual infeasibility) and
        complementarity all count."""
        return _kkt_residual(self, self._as_rates(r))

    def map_certificate(self, r=None) -> MapCertificate:
        """The :class:`MapCertificate` of ``r`` (default: the solver's MAP estimate,
        cached; returned even when it failed, with ``certified`` False)."""
        if r is None:
            return self._map_solution()[1]
        return certify(self, self._as_rates(r), "given")

    # ------------------------------------------------------------ exact MAP
    def map_estimate(self) -> np.ndarray:
        r"""Certified exact MAP estimate :math:`r^*`, shape (N,).

        Solved by :func:`lava_causal.map_solver.solve_map` on the exactly rescaled
        problem, by the path that suits :math:`(\alpha, \beta)` and the conditioning
        (stacked NNLS for :math:`\beta > 0`, NNLS for :math:`\alpha = \beta = 0`, QR +
        NNLS for :math:`\alpha > 0, \beta = 0` at full column rank, else the
        generalised Lawson-Hanson active-set method; for sparse features or
        N > :data:`~lava_causal.map_solver.DENSE_PATH_LIMIT` the working-set method;
        equations in that module's docstring). An NNLS estimate whose :class:`MapCertificate` fails is polished
        by the active-set method; the first certified estimate is returned. Cached,
        with its certificate (:meth:`map_certificate`).

        Raises
        ------
        MapNotCertified
            No estimate met :data:`KKT_TOLERANCE` and :data:`GAP_TOLERANCE`; the
            message names the failed residual, its value, the tolerance and the
            condition number of the active set.
        """
        r, cert = self._map_solution()
        if not cert.certified:
            raise MapNotCertified(
                f"exact MAP not certified ({cert.method}, {self.n_inputs} x {self.n_causes}, "
                f"alpha={self.alpha:g}, beta={self.beta:g}): " + "; ".join(cert.failures())
                + f"; cond(G_SS) of its {cert.n_active} active cause(s) {cert.active_condition:.3g}",
                certificate=cert, estimate=r.copy())
        return r.copy()

    def _map_solution(self):
        cached = self.__dict__.get("_map_result")
        if cached is None:
            cached = solve_map(self)
            object.__setattr__(self, "_map_result", cached)
        return cached

    def _as_rates(self, r) -> np.ndarray:
        r = np.asarray(r, dtype=float)
        if r.shape != (self.n_causes,):
            raise ValueError(f"r must have shape ({self.n_causes},), got {r.shape}")
        if not np.all(np.isfinite(r)):
            raise ValueError("r must be finite")
        return r

    # ------------------------------------------------------------ persistence
    def save(self, path) -> None:
        """Write an ``.npz`` with ``features``, ``observation``, ``alpha``, ``beta``,
        ``sigma``, atomically (a temporary file renamed into place). Sparse features
        are stored as CSC members ``features_data``, ``features_indices``,
        ``features_indptr`` and ``features_shape`` (no dense ``features``)."""
        if self.is_sparse:
            u = self.features
            feats = dict(features_data=u.data, features_indices=u.indices,
                         features_indptr=u.indptr, features_shape=np.array(u.shape, dtype=np.int64))
        else:
            feats = dict(features=self.features)
        with atomic_output(path) as fh:
            np.savez(fh, observation=self.observation, alpha=self.alpha, beta=self.beta,
                     sigma=self.sigma, **feats)

    @classmethod
    def load(cls, path) -> "CausalProblem":
        """Read an ``.npz`` written by :meth:`save` (``alpha``, ``beta``, ``sigma``
        optional; dense ``features`` or the four sparse CSC members, whose structure is
        checked). Raises ``ValueError`` naming the file for a missing, corrupt or
        incomplete file, and for a K x M ``observation`` (a stream for a decoder:
        :func:`read_problem_file`)."""
        path = os.fspath(path)
        contents = read_problem_file(path, require_observation=True)
        observation = contents.pop("observation")
        if np.ndim(observation) != 1:
            raise ValueError(f"problem file {path!r}: observation must have shape (M,), got "
                             f"{np.shape(observation)} (a K x M stream of observations is decoded "
                             "with `lava-causal decode`)")
        try:
            return cls(contents.pop("features"), observation, **contents)
        except ValueError as exc:
            raise ValueError(f"problem file {path!r}: {exc}") from None



def read_problem_file(path, require_observation: bool = False) -> dict:
    """The members of a problem file: ``features`` (dense array or CSC matrix, from the
    four sparse members), ``observation`` when present (M,) or (K, M), and the scalars
    ``alpha``, ``beta``, ``sigma`` that are present. ValueError names the file and what is
    missing or malformed; values are validated by :class:`CausalProblem`."""
    path = os.fspath(path)
    keys = ("observation",) if require_observation else ()
    optional = ("features", "alpha", "beta", "sigma") + _SPARSE_MEMBERS
    if not require_observation:
        optional = ("observation",) + optional
    contents = read_npz(path, "problem", keys=keys, optional=optional)
    sparse = [k for k in _SPARSE_MEMBERS if k in contents]
    if "features" not in contents:
        if len(sparse) != len(_SPARSE_MEMBERS):
            missing = ["features"] if not sparse else [k for k in _SPARSE_MEMBERS if k not in contents]
            raise ValueError(f"problem file {path!r} lacks array(s) {missing}")
        contents["features"] = _sparse_from_members(contents, path)
    elif sparse:
        raise ValueError(f"problem file {path!r} holds both dense features and sparse "
                         f"member(s) {sparse}")
    out = {"features": contents["features"]}
    if "observation" in contents:
        out["observation"] = contents["observation"]
    for key in ("alpha", "beta", "sigma"):
        if key in contents:
            val = contents[key]
            if val.size != 1:
                raise ValueError(f"problem file {path!r}: {key} must be a scalar, got shape {val.shape}")
            out[key] = float(val.reshape(()))
    return out
