r"""Confidence intervals for accuracy figures from a finite number of trials.

Every figure a budget, sweep or recommendation reports is a mean over trials, and
budget rows are *paired*: every row runs the same trials (the same initial states), so
the change between two rows is estimated from per-trial differences
:math:`d_k = e^{(b)}_k - e^{(a)}_k`, which removes the trial-to-trial variance the two
rows share.

Intervals are bias-corrected and accelerated (BCa) bootstrap intervals of the mean
over trials (:func:`scipy.stats.bootstrap`, resampling trials, seeded so a result
replays), with two exact cases: with fewer than :data:`MIN_TRIALS` trials the interval
is :math:`(-\infty, \infty)` (nothing can be said), and when every value is the same
it is that value (a deterministic effect, e.g. a row that changes no spike). With few trials (8-16) a bootstrap
interval is somewhat too narrow; ask for more trials (``ci_width``) when a verdict
depends on it.
"""
from __future__ import annotations

import math
import warnings
from typing import Tuple

import numpy as np
import scipy.stats

LEVEL = 0.95
"""Confidence level of every interval."""
RESAMPLES = 4999
"""Bootstrap resamples."""
MIN_TRIALS = 3
"""Fewest trials for which an interval is computed."""
SEED = 0x63693935
"""Seed of the bootstrap resampling (intervals replay exactly)."""


def mean_ci(values, level: float = LEVEL) -> Tuple[float, float]:
    """Confidence interval ``(lo, hi)`` of the mean of ``values`` (one per trial)."""
    x = np.asarray(values, float).ravel()
    if x.size == 0 or not np.all(np.isfinite(x)):
        return (float("nan"), float("nan"))
    if x.size < MIN_TRIALS:
        return (-math.inf, math.inf)
    if np.all(x == x[0]):
        return (float(x[0]), float(x[0]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # BCa's degenerate-distribution warning: handled below
        res = scipy.stats.bootstrap((x,), np.mean, confidence_level=level, n_resamples=RESAMPLES,
                                    method="BCa", random_state=np.random.default_rng(SEED))
    lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
    if not (np.isfinite(lo) and np.isfinite(hi)):   # BCa undefined (e.g. one outlier): percentile
        lo, hi = (float(v) for v in np.percentile(_resampled_means(x), [50 * (1 - level), 50 * (1 + level)]))
    return (lo, hi)


def paired_difference_ci(before, after, level: float = LEVEL) -> Tuple[float, float]:
    """Confidence interval of ``mean(after - before)`` over paired trials."""
    a, b = np.asarray(before, float).ravel(), np.asarray(after, float).ravel()
    if a.shape != b.shape:
        raise ValueError(f"paired trials need equal lengths, got {a.size} and {b.size}")
    return mean_ci(b - a, level)


def paired_ratio_ci(numerator, denominator, level: float = LEVEL) -> Tuple[float, float]:
    r"""Confidence interval of :math:`\bar a/\bar b`, the ratio of the means of paired
    trials ``numerator`` :math:`a_k` and ``denominator`` :math:`b_k` (e.g. the chip's
    error over the float network's from the same initial states): BCa bootstrap
    resampling trials jointly, so the pairing's shared variance cancels."""
    a, b = np.asarray(numerator, float).ravel(), np.asarray(denominator, float).ravel()
    if a.shape != b.shape:
        raise ValueError(f"paired trials need equal lengths, got {a.size} and {b.size}")
    if a.size == 0 or not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))) or np.mean(b) <= 0:
        return (float("nan"), float("nan"))
    if a.size < MIN_TRIALS:
        return (-math.inf, math.inf)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = scipy.stats.bootstrap((a, b), lambda x, y, axis=-1: np.mean(x, axis=axis) / np.mean(y, axis=axis),
                                    paired=True, vectorized=True, confidence_level=level,
                                    n_resamples=RESAMPLES, method="BCa",
                                    random_state=np.random.default_rng(SEED))
    lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
    if not (np.isfinite(lo) and np.isfinite(hi)):
        index = np.random.default_rng(SEED).integers(0, a.size, (RESAMPLES, a.size))
        ratios = a[index].mean(axis=1) / b[index].mean(axis=1)
        lo, hi = (float(v) for v in np.percentile(ratios, [50 * (1 - level), 50 * (1 + level)]))
    return (lo, hi)


def excludes_zero(interval) -> bool:
    """True when the interval lies strictly on one side of 0 (a significant change)."""
    lo, hi = interval
    return bool(lo > 0 or hi < 0)


def trials_for_width(values, width: float, level: float = LEVEL) -> int:
    r"""Trials that should bring the interval of the mean of ``values`` to ``width``:
    the width falls like :math:`1/\sqrt{K}`, so :math:`K' = \lceil K (w/w_0)^2 \rceil`
    (at least :data:`MIN_TRIALS`)."""
    x = np.asarray(values, float).ravel()
    lo, hi = mean_ci(x, level)
    now = hi - lo
    if not math.isfinite(now):
        return max(MIN_TRIALS, 2 * x.size)
    if now <= width:
        return x.size
    return max(MIN_TRIALS, int(math.ceil(x.size * (now / width) ** 2)))


def _resampled_means(x):
    rng = np.random.default_rng(SEED)
    return x[rng.integers(0, x.size, (RESAMPLES, x.size))].mean(axis=1)
