r"""The causal inference problem and its exact MAP solution.

Generative model (SPEC section 1): :math:`\mu = U r + \epsilon`,
:math:`\epsilon \sim N(0, \sigma^2 I_M)`, prior
:math:`p(r) \propto \prod_i e^{-\alpha r_i - \beta r_i^2/2}` on :math:`r \ge 0`.
The MAP estimate minimizes

.. math::

    L(r) = \frac{|\mu - U r|^2}{2\sigma^2} + \alpha \sum_i r_i + \frac{\beta}{2}|r|^2,
    \quad r \ge 0,

equivalently the energy :math:`E(r) = -\tfrac12 r^T J r - g^T r` with
:math:`J = -U^T U/\sigma^2 - \beta I` and :math:`g = U^T \mu/\sigma^2 - \alpha 1`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.optimize

from compiler.files import atomic_output, read_npz


def _check_scalar(name, value, *, minimum, strict=False):
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not np.isfinite(v) or (v <= minimum if strict else v < minimum):
        rel = ">" if strict else ">="
        raise ValueError(f"{name} must be finite and {rel} {minimum:g}, got {value!r}")
    return v


@dataclass(frozen=True, eq=False)
class CausalProblem:
    r"""A non-negative MAP causal inference problem.

    Parameters
    ----------
    features : array_like, shape (M, N)
        Feature matrix :math:`U`; column :math:`u_i` is cause ``i``'s feature vector.
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
        u = np.array(self.features, dtype=float)
        if u.ndim != 2 or 0 in u.shape:
            raise ValueError(f"features must be a non-empty 2-D array (M, N), got shape {u.shape}")
        if not np.all(np.isfinite(u)):
            raise ValueError("features must be finite; found NaN or infinite values")
        mu = np.array(self.observation, dtype=float)
        if mu.ndim != 1 or mu.shape[0] != u.shape[0]:
            raise ValueError(
                f"observation must have shape ({u.shape[0]},) to match features (M, N) = {u.shape}, "
                f"got shape {mu.shape}")
        if not np.all(np.isfinite(mu)):
            raise ValueError("observation must be finite; found NaN or infinite values")
        zero = np.flatnonzero(np.linalg.norm(u, axis=0) == 0)
        if zero.size:
            raise ValueError(f"features has all-zero column(s) {zero[:10].tolist()}; every cause needs a feature")
        u.setflags(write=False)
        mu.setflags(write=False)
        object.__setattr__(self, "features", u)
        object.__setattr__(self, "observation", mu)
        object.__setattr__(self, "alpha", _check_scalar("alpha", self.alpha, minimum=0.0))
        object.__setattr__(self, "beta", _check_scalar("beta", self.beta, minimum=0.0))
        object.__setattr__(self, "sigma", _check_scalar("sigma", self.sigma, minimum=0.0, strict=True))

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
    def coupling(self) -> np.ndarray:
        r""":math:`J = -U^T U/\sigma^2 - \beta I`, shape (N, N)."""
        u = self.features / self.sigma
        return -(u.T @ u) - self.beta * np.eye(self.n_causes)

    @property
    def drive(self) -> np.ndarray:
        r""":math:`g = U^T \mu / \sigma^2 - \alpha`, shape (N,)."""
        return self.features.T @ self.observation / self.sigma**2 - self.alpha

    def objective(self, r) -> float:
        r"""Negative log posterior up to a constant, :math:`L(r)`."""
        r = np.asarray(r, dtype=float)
        res = self.observation - self.features @ r
        return float(res @ res / (2 * self.sigma**2) + self.alpha * r.sum() + 0.5 * self.beta * r @ r)

    def gradient(self, r) -> np.ndarray:
        r""":math:`\nabla L(r) = -(J r + g)`."""
        return -(self.coupling @ np.asarray(r, dtype=float) + self.drive)

    def kkt_residual(self, r) -> float:
        r"""Relative violation of the KKT conditions of :math:`\min_{r\ge0} L(r)`.

        With :math:`G = \nabla L(r)`, the conditions are :math:`r \ge 0`,
        :math:`G \ge 0` and :math:`r_i G_i = 0`; the residual is
        :math:`|\min(r, G)|_\infty` (zero exactly at the optimum) divided by the
        scale :math:`\max(|g|_\infty, 1)`. Negative entries of ``r`` count in full.
        """
        r = np.asarray(r, dtype=float)
        g = self.gradient(r)
        scale = max(float(np.max(np.abs(self.drive))), 1.0)
        return float(np.max(np.abs(np.minimum(r, g))) / scale)

    # ------------------------------------------------------------ exact MAP
    def map_estimate(self) -> np.ndarray:
        """Exact MAP estimate :math:`r^*` (SPEC section 1), shape (N,).

        * beta > 0: NNLS on the stacked system :math:`[U/\\sigma; \\sqrt\\beta I]`.
        * beta = alpha = 0: NNLS on :math:`(U, \\mu)` (when N > M only
          :math:`U r^*` is unique).
        * beta = 0, alpha > 0, :math:`U^T U` positive definite: NNLS on the
          Cholesky factor.
        * beta = 0, alpha > 0, :math:`U^T U` singular: a bound-constrained convex
          QP solved by L-BFGS-B and polished on the detected active set.
        """
        cached = self.__dict__.get("_map")
        if cached is not None:
            return cached.copy()
        u, mu, s = self.features, self.observation, self.sigma
        n = self.n_causes
        if self.beta > 0:
            a = np.vstack([u / s, np.sqrt(self.beta) * np.eye(n)])
            y = np.concatenate([mu / s, -(self.alpha / np.sqrt(self.beta)) * np.ones(n)])
            r = _nnls(a, y)
        elif self.alpha == 0:
            r = _nnls(u / s, mu / s)
        else:
            gram = u.T @ u / s**2
            try:
                chol = scipy.linalg.cholesky(gram, lower=True)
                if np.linalg.cond(chol) > 1e7:
                    raise np.linalg.LinAlgError("ill-conditioned")
                y = scipy.linalg.solve_triangular(chol, self.drive, lower=True)
                r = _nnls(chol.T, y)
            except np.linalg.LinAlgError:
                r = self._solve_bound_qp()
        r = np.maximum(r, 0.0)
        object.__setattr__(self, "_map", r)
        return r.copy()

    def _solve_bound_qp(self) -> np.ndarray:
        r"""min L(r) s.t. r >= 0 for a singular Gram matrix (beta = 0, alpha > 0, N > M).

        L-BFGS-B finds the support; on the support S the optimum solves
        :math:`G_{SS} r_S = g_S` (:math:`G = U^T U/\sigma^2`), and a minimum-norm
        least-squares correction polishes it to machine precision when it keeps r >= 0.
        """
        n = self.n_causes
        gram = -self.coupling  # beta = 0 here
        r = np.zeros(n)
        for _ in range(20):
            res = scipy.optimize.minimize(
                self.objective, r, jac=self.gradient, method="L-BFGS-B",
                bounds=[(0, None)] * n, options={"ftol": 1e-16, "gtol": 1e-13, "maxiter": 50000})
            r = np.maximum(res.x, 0)
            support = r > 1e-9 * max(1.0, r.max())
            if support.any():
                gs = gram[np.ix_(support, support)]
                step = np.linalg.lstsq(gs, self.drive[support] - gs @ r[support], rcond=None)[0]
                cand = r.copy()
                cand[support] += step
                if np.all(cand >= 0) and self.kkt_residual(cand) < self.kkt_residual(r):
                    r = cand
            if self.kkt_residual(r) < 1e-11:
                break
        return r

    # ------------------------------------------------------------ persistence
    def save(self, path) -> None:
        """Write an ``.npz`` with ``features``, ``observation``, ``alpha``, ``beta``,
        ``sigma``, atomically (a temporary file renamed into place)."""
        with atomic_output(path) as fh:
            np.savez(fh, features=self.features, observation=self.observation,
                     alpha=self.alpha, beta=self.beta, sigma=self.sigma)

    @classmethod
    def load(cls, path) -> "CausalProblem":
        """Read an ``.npz`` written by :meth:`save` (``alpha``, ``beta``, ``sigma``
        optional). Raises ``ValueError`` naming the file for a missing, corrupt or
        incomplete file."""
        path = os.fspath(path)
        contents = read_npz(path, "problem")
        missing = [k for k in ("features", "observation") if k not in contents]
        if missing:
            raise ValueError(f"problem file {path!r} lacks array(s) {missing}")
        kwargs = {}
        for key in ("alpha", "beta", "sigma"):
            if key in contents:
                val = contents[key]
                if val.size != 1:
                    raise ValueError(f"problem file {path!r}: {key} must be a scalar, got shape {val.shape}")
                kwargs[key] = float(val.reshape(()))
        try:
            return cls(contents["features"], contents["observation"], **kwargs)
        except ValueError as exc:
            raise ValueError(f"problem file {path!r}: {exc}") from None


def _nnls(a, y):
    try:
        r, _ = scipy.optimize.nnls(a, y, maxiter=50 * a.shape[1])
    except TypeError:  # older scipy
        r, _ = scipy.optimize.nnls(a, y)
    return r
