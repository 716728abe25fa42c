r"""Accuracy metrics of a rate vector against the MAP solution (SPEC section 4)."""
from __future__ import annotations

import numpy as np

from .problem import CausalProblem

_TINY = 1e-300


def relative_error(rates, r_star) -> float:
    r""":math:`|r - r^*| / |r^*|` (absolute :math:`|r|` when :math:`r^* = 0`)."""
    r, rs = np.asarray(rates, float), np.asarray(r_star, float)
    denom = np.linalg.norm(rs)
    return float(np.linalg.norm(r - rs) / (denom if denom > 0 else 1.0))


def angular_error(problem: CausalProblem, rates) -> float:
    r"""Angle in degrees between the observation :math:`\mu` and the
    reconstruction :math:`U r` (the paper's main metric); 90 when :math:`U r = 0`."""
    mu = problem.observation
    rec = problem.features @ np.asarray(rates, float)
    nm, nr = np.linalg.norm(mu), np.linalg.norm(rec)
    if nm == 0 or nr == 0:
        return 90.0
    c = np.clip(mu @ rec / (nm * nr), -1.0, 1.0)
    return float(np.degrees(np.arccos(c)))


def percent_error(problem: CausalProblem, rates) -> float:
    r""":math:`100 |\mu - U r| / |\mu|`."""
    mu = problem.observation
    return float(100.0 * np.linalg.norm(mu - problem.features @ np.asarray(rates, float))
                 / max(np.linalg.norm(mu), _TINY))


def objective_gap(problem: CausalProblem, rates, r_star=None) -> float:
    r""":math:`(L(r) - L(r^*)) / \max(|L(r^*)|, \epsilon)`, >= 0 up to rounding."""
    rs = problem.map_estimate() if r_star is None else r_star
    l_star = problem.objective(rs)
    return float((problem.objective(rates) - l_star) / max(abs(l_star), 1e-12))


def support(rates, threshold: float = 0.5) -> np.ndarray:
    """Boolean mask of causes with rate above ``threshold`` (Hz)."""
    return np.asarray(rates, float) > threshold


def support_f1(rates, r_star, threshold: float = 0.5) -> float:
    """F1 score (harmonic mean of precision and recall) of the support
    ``{i : r_i > threshold}`` against that of ``r_star``; 1 when both are empty."""
    est, true = support(rates, threshold), support(r_star, threshold)
    tp = int(np.sum(est & true))
    if est.sum() == 0 and true.sum() == 0:
        return 1.0
    if tp == 0:
        return 0.0
    precision, recall = tp / est.sum(), tp / true.sum()
    return float(2 * precision * recall / (precision + recall))


def support_precision_recall(rates, r_star, threshold: float = 0.5):
    """(precision, recall) of the estimated support (each 1 when undefined)."""
    est, true = support(rates, threshold), support(r_star, threshold)
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
    rs = problem.map_estimate() if r_star is None else r_star
    per_trial = [all_metrics(problem, r, rs) for r in np.atleast_2d(rates)]
    return {key: np.array([m[key] for m in per_trial]) for key in per_trial[0]}


def all_metrics(problem: CausalProblem, rates, r_star=None) -> dict:
    """Every scalar metric for one rate vector, as a dict."""
    rs = problem.map_estimate() if r_star is None else r_star
    return {
        "relative_error": relative_error(rates, rs),
        "angular_error_deg": angular_error(problem, rates),
        "percent_error": percent_error(problem, rates),
        "objective_gap": objective_gap(problem, rates, rs),
        "support_f1": support_f1(rates, rs),
    }
