r"""Seeded families of causal inference problems with known generating causes.

Every family maps ``(seed, parameters)`` to a :class:`~lava_causal.problem.CausalProblem`
of the generative model :math:`\mu = U r + \epsilon`, and remembers the generating
cause vector :math:`r_{true}` (:func:`make_problem_with_truth`, :func:`describe`).
The ground truth the toolkit scores against is the certified exact MAP
``problem.map_estimate()``; :math:`r_{true}` is what generated :math:`\mu`.

The ``"random"`` family
-----------------------
A factorial simulator: each parameter controls one property of the data, and the
others are held fixed by common random numbers (the features, the causes and the
noise are drawn from separate streams of one seed, so changing ``noise`` rescales
the same noise vector, changing ``sparsity`` grows the same nested set of present
causes, and changing ``intensity`` maps the same uniform draws to a new range).

Features (M x N, unit columns). A common direction :math:`c` (a uniformly random unit
vector of :math:`R^M`) and i.i.d. :math:`z_i \sim N(0, I_M/M)` give

.. math::

    u_i(t) = \frac{\sqrt{t}\, c + \sqrt{1 - t}\, z_i}{|\sqrt{t}\, c + \sqrt{1 - t}\, z_i|},

with the mixing weight :math:`t \in [0, 1]` calibrated by bisection so that the mean
absolute coherence :math:`\kappa(U) = \frac{1}{N(N-1)} \sum_{i \ne j} |u_i \cdot u_j|`
of the draw equals ``overlap`` (on the first :data:`CALIBRATION_COLUMNS` columns
when N is larger). Independent directions are not exactly orthogonal: at
:math:`t = 0`, :math:`\kappa \approx \sqrt{2/(\pi M)}` (about 0.13 for M = 40), so
an ``overlap`` below that floor gives :math:`t = 0` and the floor's coherence.
Features are mixed-sign.

Conditioning (optional ``condition`` :math:`= \kappa_2 \ge 1`). The singular values
of :math:`U = P \Sigma Q^T` are replaced by the geometric spread
:math:`s_k = \kappa_2^{-k/(K-1)}`, :math:`k = 0 \dots K-1`, :math:`K = \min(M, N)`,
keeping the singular vectors, and the columns are renormalized; the two steps
alternate until :math:`s_{max}/s_{min}` is within :data:`CONDITION_TOLERANCE` of
:math:`\kappa_2` (they converge in a few rounds; at most 100). ``condition`` wins over ``overlap``:
the spectrum that ``overlap`` shaped (one large singular value along :math:`c`) is
replaced, so ``overlap`` then only selects the singular vectors; :func:`describe`
reports the coherence that results. For N <= M, :math:`\mathrm{cond}(U^T U) =
\kappa_2^2`; for N > M, :math:`U^T U` is singular and :math:`\kappa_2` is the spread
of the M non-zero singular values.

Causes. :math:`k = \max(1, \mathrm{round}(\text{sparsity} \cdot N))` causes, the
first :math:`k` of a random permutation, are present with intensities
:math:`r_i = lo + (hi - lo) v_i`, :math:`v_i \sim U[0, 1]`, (lo, hi) = ``intensity``
(Hz); the others are 0. With ``classes`` :math:`= K`, class :math:`k` is a fixed
random subset :math:`S_k` of :math:`\max(1, \mathrm{round}(\text{sparsity} \cdot N))`
causes (the same subsets for every seed of a given N, K and sparsity); the seed picks
one class :math:`k \sim U\{0 \dots K-1\}`, and cause :math:`i` is present with
probability :data:`CLASS_IN` if :math:`i \in S_k`, else :data:`CLASS_OUT` (if none
is, the first cause of :math:`S_k` is); intensities as above.

Observation: :math:`\mu = U r_{true} + \text{noise} \cdot \xi`, :math:`\xi \sim N(0, I_M)`.

Prior: ``alpha``, ``beta``, ``sigma`` as in :class:`~lava_causal.problem.CausalProblem`.
For N > M with :math:`\alpha = \beta = 0` the MAP is not unique (:math:`U^T U` is
singular), so when the caller does not give ``alpha`` it defaults to
:data:`OVERCOMPLETE_ALPHA` if N > M and ``beta`` = 0, else to 0. An explicit
``alpha = 0`` is kept: the problem is then valid but its MAP is one of many minimizers.

Presets
-------
The paper's tasks ``"discrimination"``, ``"mixture"``, ``"approximation"``,
``"overcomplete"`` and ``"four_cause_mixture"`` are families too:
``make_problem(name, seed, **kw)`` is ``lava_causal.tasks.TASKS[name](seed, **kw)``
(only that function's own parameters are accepted). Their generating causes:
``amplitude`` times the unit vector of cause :data:`~lava_causal.tasks.TARGET`
(discrimination, overcomplete), the four ``amplitudes`` at causes 10, 20, 30, 40
(four_cause_mixture), the least-squares solution of :math:`U r = \mu` when M >= N
(mixture: exact up to rounding), and none for approximation (its :math:`\mu` lies
outside the cone of the features; :math:`r_{true}` is ``None``).

Seeds
-----
Each family draws from ``numpy.random.default_rng`` on a
:class:`numpy.random.SeedSequence` of ``(seed, crc32(family name))``, so families
never share streams; the same ``(family, seed, parameters)`` give bit-identical
problems. The presets keep their tasks' own seeding.
"""
from __future__ import annotations

import inspect
import numbers
import weakref
import zlib

import numpy as np

from .. import tasks
from ..problem import CausalProblem

__all__ = ["FAMILIES", "make_problem", "make_problem_with_truth", "describe", "mean_coherence",
           "CALIBRATION_COLUMNS", "CONDITION_TOLERANCE", "CLASS_IN", "CLASS_OUT", "OVERCOMPLETE_ALPHA"]

CALIBRATION_COLUMNS = 256
"""At most this many columns calibrate the ``overlap`` mixing weight (O(M x 256^2) per step)."""

CONDITION_TOLERANCE = 1e-6
"""Relative tolerance of the imposed condition number :math:`s_{max}/s_{min}`."""

CLASS_IN = 0.9
"""Probability that a cause of the drawn class's subset is present."""

CLASS_OUT = 0.02
"""Probability that a cause outside the drawn class's subset is present."""

OVERCOMPLETE_ALPHA = 1.0
"""Default ``alpha`` of the ``"random"`` family when N > M and ``beta`` = 0."""

_BISECTION_STEPS = 40
_CONDITION_ROUNDS = 100
_CLASS_STREAM = 0x636C6173   # "clas": class subsets depend on the family, not on the seed

_RANDOM_DEFAULTS = {"n": 40, "m": 40, "overlap": 0.0, "condition": None, "sparsity": 0.2,
                    "intensity": (10.0, 50.0), "noise": 0.0, "alpha": None, "beta": 0.0,
                    "sigma": 1.0, "classes": None}
_RANDOM_RANGES = {"n": (1, 10000), "m": (1, 10000), "overlap": (0.0, 0.95), "condition": (1.0, 1e8),
                  "sparsity": (0.0, 1.0), "intensity": (0.0, 1e6), "noise": (0.0, 1e6),
                  "alpha": (0.0, 1e6), "beta": (0.0, 1e6), "sigma": (0.0, 1e6), "classes": (1, 1000)}
_INTEGER = frozenset({"n", "m", "classes"})
_OPEN_BELOW = frozenset({"sparsity", "sigma"})
"""Parameters whose lower bound is excluded."""

_TRUTH: "weakref.WeakKeyDictionary[CausalProblem, dict]" = weakref.WeakKeyDictionary()
"""Problem -> its family, seed, parameters, generating causes and class (for :func:`describe`)."""


# ------------------------------------------------------------------ seeding
def _rngs(family: str, seed: int, count: int):
    """``count`` independent generators spawned from ``SeedSequence((seed, crc32(family)))``."""
    root = np.random.SeedSequence((seed, zlib.crc32(family.encode())))
    return [np.random.default_rng(s) for s in root.spawn(count)]


# ------------------------------------------------------------------ validation
def _interval_text(name, interval) -> str:
    lo, hi = interval
    return f"{'(' if name in _OPEN_BELOW else '['}{lo:g}, {hi:g}]"


def _bad(family, name, value, interval, kind=None) -> ValueError:
    kind = kind or ("an integer" if name in _INTEGER else "a number")
    return ValueError(f"family {family!r}: parameter {name!r} = {value!r} must be {kind} in "
                      f"{_interval_text(name, interval)}")


def _check_number(family, name, value, interval):
    """``value`` as int or float inside ``interval``; ValueError naming all four otherwise."""
    integer = name in _INTEGER
    valid_type = numbers.Integral if integer else numbers.Real
    if isinstance(value, bool) or not isinstance(value, valid_type):
        raise _bad(family, name, value, interval)
    v = int(value) if integer else float(value)
    lo, hi = interval
    below = v <= lo if name in _OPEN_BELOW else v < lo
    if not np.isfinite(v) or below or v > hi:
        raise _bad(family, name, value, interval)
    return v


def _check_intensity(family, value, interval):
    """``(lo, hi)`` with both ends in ``interval`` and lo <= hi."""
    pair = "a pair (lo, hi) with lo <= hi, both"
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) != 2:
        raise _bad(family, "intensity", value, interval, pair)
    try:
        lo, hi = (_check_number(family, "intensity", v, interval) for v in value)
    except ValueError:
        raise _bad(family, "intensity", value, interval, pair) from None
    if lo > hi:
        raise _bad(family, "intensity", value, interval, pair)
    return (lo, hi)


def _check_random(family: str, params: dict) -> dict:
    """The ``"random"`` family's parameters, validated, with defaults filled in."""
    out = dict(_RANDOM_DEFAULTS)
    for name, value in params.items():
        interval = _RANDOM_RANGES[name]
        if value is None and _RANDOM_DEFAULTS[name] is None:
            out[name] = None
        elif name == "intensity":
            out[name] = _check_intensity(family, value, interval)
        else:
            out[name] = _check_number(family, name, value, interval)
    if out["alpha"] is None:
        out["alpha"] = OVERCOMPLETE_ALPHA if out["n"] > out["m"] and out["beta"] == 0 else 0.0
    if out["condition"] not in (None, 1.0) and min(out["n"], out["m"]) < 2:
        raise ValueError(f"family {family!r}: parameter 'condition' = {out['condition']!r} needs "
                         f"min(n, m) >= 2 (one singular value always has condition 1), got "
                         f"n = {out['n']}, m = {out['m']}")
    return out


def _check_family(family):
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; allowed: {', '.join(sorted(FAMILIES))}")


def _check_known(family, params):
    defaults = FAMILIES[family][1]
    for name, value in params.items():
        if name not in defaults:
            raise ValueError(f"family {family!r}: unknown parameter {name!r} = {value!r}; allowed: "
                             f"{', '.join(sorted(defaults))}")


def _check_seed(family, seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"family {family!r}: seed = {seed!r} must be an integer >= 0")
    return int(seed)


# ------------------------------------------------------------------ features
def mean_coherence(features) -> float:
    r"""Mean absolute coherence of the columns of ``features``.

    .. math::

        \kappa(U) = \frac{1}{N(N-1)} \sum_{i \ne j} \frac{|u_i \cdot u_j|}{|u_i|\,|u_j|}

    (zero columns count as orthogonal to all). Returns ``nan`` for N = 1. O(M N^2).
    """
    return _coherences(np.asarray(features, dtype=float))[0]


def _coherences(u: np.ndarray):
    """(mean, max) of :math:`|u_i \\cdot u_j|/(|u_i||u_j|)` over i != j; nan for N = 1."""
    n = u.shape[1]
    if n < 2:
        return float("nan"), float("nan")
    norms = np.linalg.norm(u, axis=0)
    unit = np.divide(u, norms, out=np.zeros_like(u), where=norms > 0)
    g = np.abs(unit.T @ unit)
    np.fill_diagonal(g, 0.0)
    return float(g.sum() / (n * (n - 1))), float(g.max())


def _unit_columns(u: np.ndarray) -> np.ndarray:
    return u / np.linalg.norm(u, axis=0, keepdims=True)


def _mix(c: np.ndarray, z: np.ndarray, t: float) -> np.ndarray:
    r""":math:`u_i(t)`, the normalized mixture of the common direction and :math:`z_i`."""
    return _unit_columns(np.sqrt(t) * c[:, None] + np.sqrt(1.0 - t) * z)


def _calibrate(c: np.ndarray, z: np.ndarray, overlap: float) -> float:
    """Mixing weight t with mean coherence of the first columns equal to ``overlap``
    (bisection on [0, 1]; 0 when ``overlap`` is below the coherence at t = 0)."""
    z = z[:, :CALIBRATION_COLUMNS]
    if z.shape[1] < 2:
        return overlap
    if mean_coherence(_mix(c, z, 0.0)) >= overlap:
        return 0.0
    lo, hi = 0.0, 1.0
    for _ in range(_BISECTION_STEPS):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if mean_coherence(_mix(c, z, mid)) < overlap else (lo, mid)
    return 0.5 * (lo + hi)


def _impose_condition(u: np.ndarray, condition: float) -> np.ndarray:
    r"""``u`` with the geometric singular spectrum :math:`s_k = \kappa_2^{-k/(K-1)}` and
    unit columns, by alternating the two projections (module docstring)."""
    for _ in range(_CONDITION_ROUNDS):
        p, s, qt = np.linalg.svd(u, full_matrices=False)
        if abs(s[0] / s[-1] / condition - 1.0) <= CONDITION_TOLERANCE:
            break
        u = _unit_columns((p * np.geomspace(1.0, 1.0 / condition, s.size)) @ qt)
    return u


def _random_features(rng, p: dict) -> np.ndarray:
    """The ``"random"`` family's M x N unit-column features (module docstring)."""
    m, n = p["m"], p["n"]
    c = _unit_columns(rng.normal(size=(m, 1)))[:, 0]
    z = rng.normal(size=(m, n)) / np.sqrt(m)
    u = _mix(c, z, _calibrate(c, z, p["overlap"]))
    return u if p["condition"] is None else _impose_condition(u, p["condition"])


# ------------------------------------------------------------------ causes
def _present_count(n: int, sparsity: float) -> int:
    return max(1, int(round(sparsity * n)))


def _class_subsets(n: int, k: int, classes: int):
    """The fixed subsets :math:`S_0 \\dots S_{K-1}` of ``k`` causes each (seed-independent)."""
    rng = np.random.default_rng(np.random.SeedSequence((_CLASS_STREAM, n, k, classes)))
    return [rng.permutation(n)[:k] for _ in range(classes)]


def _class_presence(rng, n: int, k: int, classes: int):
    """(present mask, class index) of one draw from the class mixture."""
    index = int(rng.integers(classes))
    subset = _class_subsets(n, k, classes)[index]
    prob = np.full(n, CLASS_OUT)
    prob[subset] = CLASS_IN
    present = rng.random(n) < prob
    if not present.any():
        present[subset[0]] = True
    return present, index


def _random_causes(rng, p: dict):
    """(:math:`r_{true}`, class index or None) of the ``"random"`` family."""
    n = p["n"]
    k = _present_count(n, p["sparsity"])
    order = rng.permutation(n)
    levels = rng.random(n)
    if p["classes"] is None:
        present, index = np.zeros(n, dtype=bool), None
        present[order[:k]] = True
    else:
        present, index = _class_presence(rng, n, k, p["classes"])
    lo, hi = p["intensity"]
    return np.where(present, lo + (hi - lo) * levels, 0.0), index


def _random_family(seed: int, **params):
    r"""The ``"random"`` family: returns ``(problem, r_true, class index or None)``."""
    p = _check_random("random", params)
    feature_rng, cause_rng, noise_rng = _rngs("random", seed, 3)
    u = _random_features(feature_rng, p)
    r, index = _random_causes(cause_rng, p)
    mu = u @ r + p["noise"] * noise_rng.normal(size=p["m"])
    return CausalProblem(u, mu, alpha=p["alpha"], beta=p["beta"], sigma=p["sigma"]), r, index


# ------------------------------------------------------------------ presets
def _target_causes(problem, kw):
    r = np.zeros(problem.n_causes)
    r[tasks.TARGET] = kw["amplitude"]
    return r


def _four_causes(problem, kw):
    r = np.zeros(problem.n_causes)
    r[[10, 20, 30, 40]] = kw["amplitudes"]
    return r


def _least_squares_causes(problem, kw):
    if problem.n_inputs < problem.n_causes:
        return None
    return np.linalg.lstsq(problem.features, problem.observation, rcond=None)[0]


_PRESET_TRUTH = {
    "discrimination": _target_causes,
    "mixture": _least_squares_causes,
    "approximation": lambda problem, kw: None,
    "overcomplete": _target_causes,
    "four_cause_mixture": _four_causes,
}
"""Preset name -> function (problem, parameters) -> its generating causes or None."""


def _task_defaults(task) -> dict:
    return {name: p.default for name, p in inspect.signature(task).parameters.items() if name != "seed"}


def _preset(name: str):
    """The family function of the paper's task ``name`` (module docstring)."""
    def family(seed: int, **params):
        task = tasks.TASKS[name]
        try:
            problem = task(seed, **params)
        except ValueError as exc:
            raise ValueError(f"family {name!r}: {exc}") from None
        r = _PRESET_TRUTH[name](problem, {**_task_defaults(task), **params})
        return problem, r, None
    family.__name__ = family.__qualname__ = f"preset_{name}"
    family.__doc__ = f"The paper's task ``{name}``: returns ``(problem, r_true or None, None)``."
    return family


FAMILIES = {
    "random": (_random_family, _RANDOM_DEFAULTS, _RANDOM_RANGES),
    **{name: (_preset(name), _task_defaults(tasks.TASKS[name]), {}) for name in _PRESET_TRUTH},
}
"""Family name -> ``(function, defaults, ranges)``.

``function(seed, **params)`` returns ``(problem, r_true, class index)`` (no
validation of names: use :func:`make_problem`); ``defaults`` maps every accepted
parameter to its default (``None``: see the module docstring); ``ranges`` maps a
numeric parameter to its allowed ``(lo, hi)`` (``sparsity`` and ``sigma`` exclude
``lo``; ``intensity``'s two ends each lie in its range). The presets' ranges are
empty: their tasks validate their own parameters."""


# ------------------------------------------------------------------ public API
def make_problem_with_truth(family: str, seed: int = 0, **params):
    r"""A seeded problem of ``family`` and the cause vector that generated it.

    Parameters
    ----------
    family : str
        A key of :data:`FAMILIES`: ``"random"`` or a paper task.
    seed : int, >= 0
        Same ``(family, seed, params)``, bit-identical problem.
    **params
        The family's parameters (:data:`FAMILIES`; module docstring).

    Returns
    -------
    problem : CausalProblem
        With :math:`\mu = U r_{true} + \epsilon`.
    r_true : ndarray, shape (N,), or None
        The generating causes (``None`` where none exists: the ``"approximation"``
        task). The exact MAP is ``problem.map_estimate()``.

    Raises
    ------
    ValueError
        An unknown family or parameter, or a value outside its range; the one-line
        message names the family, the parameter, the value and the allowed range.
    """
    _check_family(family)
    _check_known(family, params)
    seed = _check_seed(family, seed)
    problem, r, index = FAMILIES[family][0](seed, **params)
    _TRUTH[problem] = {"family": family, "seed": seed, "params": dict(params),
                       "true_causes": None if r is None else np.array(r, dtype=float), "class": index}
    return problem, (None if r is None else np.array(r, dtype=float))


def make_problem(family: str, seed: int = 0, **params) -> CausalProblem:
    """The problem of :func:`make_problem_with_truth` without its generating causes
    (which :func:`describe` still reports)."""
    return make_problem_with_truth(family, seed, **params)[0]


def _spectrum(u: np.ndarray):
    r"""(:math:`s_{max}/s_{min}` over the min(M, N) singular values, :math:`\mathrm{cond}(U^T U)`)."""
    s = np.linalg.svd(u, compute_uv=False)
    spread = float(s[0] / s[-1]) if s[-1] > 0 else float("inf")
    gram = spread**2 if u.shape[1] <= u.shape[0] else float("inf")
    return spread, gram


def _cause_properties(problem, r) -> dict:
    """Sparsity, intensity range and noise level measured against causes ``r`` (or None)."""
    if r is None:
        return {"true_causes": None, "sparsity": None, "n_present": None, "intensity": None, "noise": None}
    r = np.array(r, dtype=float)
    present = r[r > 0]
    residual = problem.observation - np.asarray(problem.features @ r).ravel()
    return {"true_causes": r, "sparsity": present.size / r.size, "n_present": int(present.size),
            "intensity": (float(present.min()), float(present.max())) if present.size else None,
            "noise": float(np.sqrt(residual @ residual / residual.size))}


def describe(problem: CausalProblem, true_causes=None) -> dict:
    r"""Measured properties of ``problem`` (and of its generating causes, when known).

    Parameters
    ----------
    problem : CausalProblem
        Any problem; those made here remember their family, seed, parameters and
        generating causes.
    true_causes : array_like, shape (N,), optional
        Generating causes to measure against (default: the remembered ones).

    Returns
    -------
    dict
        ``n_causes`` N, ``n_inputs`` M, ``overcompleteness`` N/M;
        ``coherence`` :math:`\kappa(U)` (:func:`mean_coherence`) and ``max_coherence``
        :math:`\max_{i \ne j} |u_i \cdot u_j|/(|u_i||u_j|)` (nan for N = 1);
        ``condition`` :math:`s_{max}/s_{min}` over the min(M, N) singular values of U
        and ``gram_condition`` :math:`\mathrm{cond}(U^T U)` (``inf`` for N > M);
        ``alpha``, ``beta``, ``sigma``; ``family``, ``seed``, ``params``, ``class``
        (the drawn latent class; None when unknown); and from :math:`r_{true}`:
        ``true_causes``, ``sparsity`` (fraction of :math:`r_i > 0`), ``n_present``,
        ``intensity`` (min, max of the present :math:`r_i`) and ``noise``
        :math:`\sqrt{|\mu - U r_{true}|^2 / M}`, each None when no causes are known.
        Cost O(M N min(M, N)) (dense features; sparse ones are densified).
    """
    u = problem.features.toarray() if problem.is_sparse else np.asarray(problem.features)
    known = _TRUTH.get(problem, {})
    mean, largest = _coherences(u)
    spread, gram = _spectrum(u)
    out = {"n_causes": problem.n_causes, "n_inputs": problem.n_inputs,
           "overcompleteness": problem.n_causes / problem.n_inputs,
           "coherence": mean, "max_coherence": largest, "condition": spread, "gram_condition": gram,
           "alpha": problem.alpha, "beta": problem.beta, "sigma": problem.sigma,
           "family": known.get("family"), "seed": known.get("seed"), "params": known.get("params"),
           "class": known.get("class")}
    r = known.get("true_causes") if true_causes is None else true_causes
    out.update(_cause_properties(problem, r))
    return out
