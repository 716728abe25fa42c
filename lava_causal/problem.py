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
Lawson-Hanson active-set method; the equations are in that module's docstring). The
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
        u.setflags(write=False)
        mu.setflags(write=False)
        object.__setattr__(self, "features", u)
        object.__setattr__(self, "observation", mu)
        object.__setattr__(self, "alpha", _check_scalar("alpha", self.alpha, minimum=0.0))
        object.__setattr__(self, "beta", _check_scalar("beta", self.beta, minimum=0.0))
        object.__setattr__(self, "sigma", _check_scalar("sigma", self.sigma, minimum=0.0, strict=True))
        zero = np.flatnonzero(~np.any(u != 0, axis=0))
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
        generalised Lawson-Hanson active-set method; equations in that module's
        docstring). An NNLS estimate whose :class:`MapCertificate` fails is polished
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
        contents = read_npz(path, "problem", keys=("features", "observation"),
                            optional=("alpha", "beta", "sigma"))
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

