r"""Accuracy metrics of rates against the MAP solution.

Every metric takes ``(problem, rates, r_star=None)`` in that order; ``r_star`` defaults
to ``problem.map_estimate()``. Two names are kept apart everywhere (API, JSON, tables):

* ``relative_error_of_mean`` :math:`= |\bar r - r^*| / |r^*|`, the error of the
  trial-mean rates :math:`\bar r = \frac1K \sum_k r_k`;
* ``mean_relative_error`` :math:`= \frac1K \sum_k |r_k - r^*| / |r^*|`, the mean of the
  per-trial errors (what budgets, sweeps and recommend report).

The first is smaller: averaging trials removes the part of each trial's error that
differs between initial states. For one trial they coincide. Where the MAP is not
unique (``problem.map_certificate().unique`` is False: rank-deficient active set, only
:math:`U r^*` is determined) every rate error compares reconstructions instead,
:math:`|U (r - r^*)| / |U r^*|`.
"""
from __future__ import annotations

import numpy as np

from .problem import CausalProblem

_TINY = 1e-300


def _reference(problem: CausalProblem, r_star):
    return problem.map_estimate() if r_star is None else np.asarray(r_star, float)


def map_is_unique(problem: CausalProblem) -> bool:
    """Whether ``problem``'s MAP is unique (its certificate says so)."""
    return bool(problem.map_certificate().unique)


def reconstruction_error(problem: CausalProblem, rates, r_star=None) -> float:
    r""":math:`|U r - U r^*| / |U r^*|` (absolute :math:`|U r|` when :math:`U r^* = 0`)."""
    rs = _reference(problem, r_star)
    u = problem.features
    ref = u @ rs
    denom = np.linalg.norm(ref)
    return float(np.linalg.norm(u @ np.asarray(rates, float) - ref) / (denom if denom > 0 else 1.0))


def relative_error(problem: CausalProblem, rates, r_star=None) -> float:
    r""":math:`|r - r^*| / |r^*|` for one rate vector (absolute :math:`|r|` when
    :math:`r^* = 0`); :func:`reconstruction_error` where the MAP is not unique."""
    rs = _reference(problem, r_star)
    if not map_is_unique(problem):
        return reconstruction_error(problem, rates, rs)
    r = np.asarray(rates, float)
    denom = np.linalg.norm(rs)
    return float(np.linalg.norm(r - rs) / (denom if denom > 0 else 1.0))


def mean_relative_error(problem: CausalProblem, rates, r_star=None) -> float:
    """Mean over trials of :func:`relative_error`; ``rates`` (trials, N) or (N,)."""
    rs = _reference(problem, r_star)
    return float(np.mean([relative_error(problem, r, rs) for r in np.atleast_2d(rates)]))


def relative_error_of_mean(problem: CausalProblem, rates, r_star=None) -> float:
    """:func:`relative_error` of the trial-mean rates; ``rates`` (trials, N) or (N,)."""
    return relative_error(problem, np.atleast_2d(np.asarray(rates, float)).mean(axis=0), r_star)


def angular_error(problem: CausalProblem, rates, r_star=None) -> float:
    r"""Angle in degrees between the observation :math:`\mu` and the
    reconstruction :math:`U r` (the paper's main metric); 90 when :math:`U r = 0`.
    ``r_star`` is accepted for a uniform signature and not used."""
    mu = problem.observation
    rec = problem.features @ np.asarray(rates, float)
    nm, nr = np.linalg.norm(mu), np.linalg.norm(rec)
    if nm == 0 or nr == 0:
        return 90.0
    c = np.clip(mu @ rec / (nm * nr), -1.0, 1.0)
    return float(np.degrees(np.arccos(c)))


def percent_error(problem: CausalProblem, rates, r_star=None) -> float:
    r""":math:`100 |\mu - U r| / |\mu|` (``r_star`` unused, uniform signature)."""
    mu = problem.observation
    return float(100.0 * np.linalg.norm(mu - problem.features @ np.asarray(rates, float))
                 / max(np.linalg.norm(mu), _TINY))


def objective_gap(problem: CausalProblem, rates, r_star=None) -> float:
    r""":math:`(L(r) - L(r^*)) / \max(|L(r^*)|, \epsilon)`, >= 0 up to rounding."""
    rs = _reference(problem, r_star)
    l_star = problem.objective(rs)
    return float((problem.objective(rates) - l_star) / max(abs(l_star), 1e-12))


def support(rates, threshold: float = 0.5) -> np.ndarray:
    """Boolean mask of causes with rate above ``threshold`` (Hz)."""
    return np.asarray(rates, float) > threshold


def support_f1(problem: CausalProblem, rates, r_star=None, threshold: float = 0.5) -> float:
    """F1 score (harmonic mean of precision and recall) of the support
    ``{i : r_i > threshold}`` against that of ``r_star``; 1 when both are empty."""
    precision, recall = support_precision_recall(problem, rates, r_star, threshold)
    if precision + recall == 0:
        return 0.0
    return float(2 * precision * recall / (precision + recall))


def support_precision_recall(problem: CausalProblem, rates, r_star=None, threshold: float = 0.5):
    """(precision, recall) of the estimated support (each 1 when undefined)."""
    est, true = support(rates, threshold), support(_reference(problem, r_star), threshold)
    tp = int(np.sum(est & true))
    precision = tp / est.sum() if est.sum() else 1.0
    recall = tp / true.sum() if true.sum() else 1.0
    return float(precision), float(recall)


def cv_isi(spike_times, min_spikes: int = 3) -> float:
    """Coefficient of variation of inter-spike intervals, averaged over neurons
    with at least ``min_spikes`` spikes; ``spike_times`` is a sequence (one per
    neuron) of spike-time arrays. NaN when no neuron qualifies."""
    cvs = []
    for times in spike_times:
        t = np.sort(np.asarray(times, float))
        if t.size >= min_spikes:
            isi = np.diff(t)
            if isi.mean() > 0:
                cvs.append(isi.std() / isi.mean())
    return float(np.mean(cvs)) if cvs else float("nan")


def trial_metrics(problem: CausalProblem, rates, r_star=None) -> dict:
    """Every metric of :func:`all_metrics` for each trial: name -> array (trials,).

    ``rates`` has shape (trials, N) or (N,) (one trial)."""
    rs = _reference(problem, r_star)
    per_trial = [all_metrics(problem, r, rs) for r in np.atleast_2d(rates)]
    return {key: np.array([m[key] for m in per_trial]) for key in per_trial[0]}


def trial_means(problem: CausalProblem, rates, r_star=None) -> dict:
    """Mean over trials of every per-trial metric, with the mean of ``relative_error``
    named ``mean_relative_error``, plus ``relative_error_of_mean`` (the error of the
    trial-mean rates); ``rates`` (trials, N) or (N,)."""
    rs = _reference(problem, r_star)
    means = {("mean_relative_error" if key == "relative_error" else key): float(values.mean())
             for key, values in trial_metrics(problem, rates, rs).items()}
    means["relative_error_of_mean"] = relative_error_of_mean(problem, rates, rs)
    return means


def all_metrics(problem: CausalProblem, rates, r_star=None) -> dict:
    """Every scalar metric of one rate vector, as a dict (:data:`METRICS` order)."""
    rs = _reference(problem, r_star)
    return {name: function(problem, rates, rs) for name, function in _FUNCTIONS.items()}


_FUNCTIONS = {"relative_error": relative_error, "angular_error_deg": angular_error,
              "percent_error": percent_error, "objective_gap": objective_gap,
              "support_f1": support_f1, "reconstruction_error": reconstruction_error}
METRICS = tuple(_FUNCTIONS)
"""Names of the per-trial metrics of :func:`all_metrics`, in order."""
