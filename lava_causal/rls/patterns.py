r"""How well a run reproduces a task's patterns.

A run is scored on its *filtered rates*: each neuron's spike train passed through the
synaptic filter, :math:`\hat r_i(t) = x_i(t)/\tau_s` (Hz; :math:`x` jumps by 1 per
spike and decays with :math:`\tau_s`), sampled every ``sample_dt`` after the stimulus.
The reference is the target rate :math:`\phi(b_i + f_i(t))`
(:meth:`~lava_causal.rls.targets.Task.target_rates`) through the same filter
(unit gain, started at its first value), so the filter's lag is not counted as error.

* **correlation**: mean over neurons of the Pearson correlation of the trial-averaged
  filtered rate (the PSTH over the run's trials) with the reference, over the pattern;
  neurons whose reference is constant are left out (``scored``). Its 95 % interval
  resamples trials (percentile bootstrap, seeded).
* **normalised error**: :math:`\sum_{t,i} (\bar r_i - \tilde r_i)^2 / \sum_{t,i}
  (\tilde r_i - \langle \tilde r_i\rangle_t)^2` for the PSTH :math:`\bar r`
  (0 is perfect, 1 is as far as a constant at each neuron's mean).
* per trial, the same two numbers of the single-trial filtered rate
  (``trial_correlation``, ``trial_error``): what paired comparisons between runs use.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.signal import lfilter

from ..statistics import LEVEL, SEED, mean_ci
from .model import RecurrentNetwork
from .targets import Task

BOOTSTRAP = 999
"""Resamples of the trial bootstrap of the PSTH correlation."""


def exponential_filter(values, keep: float, axis: int = 0, unit_gain: bool = True):
    r""":math:`y_t = k y_{t-1} + (1 - k) v_t` (or :math:`+ v_t` without unit gain)
    along ``axis``, started at steady state of the first value (unit gain) or at 0."""
    v = np.asarray(values, float)
    b = [1.0 - keep] if unit_gain else [1.0]
    if not unit_gain:
        return lfilter(b, [1.0, -keep], v, axis=axis)
    first = np.take(v, [0], axis=axis)
    zi = keep * first
    return lfilter(b, [1.0, -keep], v, axis=axis, zi=zi)[0]


def reference_rates(task: Task, network: RecurrentNetwork) -> np.ndarray:
    """The target rates through the recording's filter (module docstring), (S, N)."""
    keep = np.exp(-task.sample_dt / network.tau_s)
    return exponential_filter(task.target_rates(network), keep)


def filtered_from_raster(raster, tau_s: float, dt: float, offset: int, every: int, samples: int) -> np.ndarray:
    r"""Filtered spike trains :math:`x` (trials, S, N) from a raster (trials, steps, N):
    :math:`x_t = e^{-\Delta t/\tau_s} x_{t-1} + s_t`, sampled after steps
    ``offset + (q + 1) every - 1`` (the float recorder's samples)."""
    raster = np.asarray(raster)
    x = exponential_filter(raster.astype(np.float64), float(np.exp(-dt / tau_s)), axis=1, unit_gain=False)
    idx = offset + (np.arange(samples) + 1) * every - 1
    if idx[-1] >= raster.shape[1]:
        raise ValueError(f"the raster has {raster.shape[1]} steps, the pattern needs {idx[-1] + 1}")
    return x[:, idx, :]


def _correlations(a, b) -> np.ndarray:
    """Per-column Pearson correlation of (S, N) arrays (NaN where either is constant)."""
    a = a - a.mean(0)
    b = b - b.mean(0)
    den = np.sqrt((a * a).sum(0) * (b * b).sum(0))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (a * b).sum(0) / np.where(den > 0, den, 1.0), np.nan)


def _error(rates, ref, scored) -> float:
    spread = ((ref - ref.mean(0)) ** 2)[:, scored].sum()
    return float(((rates - ref) ** 2)[:, scored].sum() / spread)


@dataclass(frozen=True, eq=False)
class PatternScore:
    """Scores of one run (module docstring)."""

    correlation: float
    correlation_ci: tuple
    normalised_error: float
    trial_correlation: np.ndarray
    trial_error: np.ndarray
    per_neuron_correlation: np.ndarray
    scored: int
    mean_rate: float
    psth: np.ndarray = field(repr=False, default=None)

    def to_dict(self) -> dict:
        """Numbers only (no arrays but the per-trial ones)."""
        return {"correlation": self.correlation, "correlation_ci95": list(self.correlation_ci),
                "normalised_error": self.normalised_error,
                "trial_correlation": self.trial_correlation.tolist(),
                "trial_correlation_mean": float(self.trial_correlation.mean()),
                "trial_correlation_ci95": list(mean_ci(self.trial_correlation)),
                "trial_error": self.trial_error.tolist(), "scored_neurons": self.scored,
                "mean_rate_hz": self.mean_rate}


def score(filtered, task: Task, network: RecurrentNetwork) -> PatternScore:
    """Score a run's filtered spike trains ``filtered`` (trials, S, N) on ``task``."""
    x = np.asarray(filtered, float)
    if x.ndim != 3 or x.shape[1:] != task.drive.shape:
        raise ValueError(f"filtered must have shape (trials, {task.drive.shape[0]}, {task.n}), got {x.shape}")
    rates = x / network.tau_s
    ref = reference_rates(task, network)
    scored = ref.std(0) > 0
    if not scored.any():
        raise ValueError("every target rate is constant: nothing to correlate")
    psth = rates.mean(0)
    per_neuron = _correlations(psth, ref)
    trial_corr = np.array([np.nanmean(_correlations(r, ref)[scored]) for r in rates])
    trial_err = np.array([_error(r, ref, scored) for r in rates])
    rng = np.random.default_rng(SEED)
    trials = x.shape[0]
    boot = [np.nanmean(_correlations(rates[rng.integers(0, trials, trials)].mean(0), ref)[scored])
            for _ in range(BOOTSTRAP if trials >= 3 else 0)]
    ci = (tuple(float(v) for v in np.percentile(boot, [50 * (1 - LEVEL), 50 * (1 + LEVEL)]))
          if boot else (-np.inf, np.inf))
    return PatternScore(correlation=float(np.nanmean(per_neuron[scored])), correlation_ci=ci,
                        normalised_error=_error(psth, ref, scored), trial_correlation=trial_corr,
                        trial_error=trial_err, per_neuron_correlation=per_neuron, scored=int(scored.sum()),
                        mean_rate=float(rates.mean()), psth=psth)


def drive_correlation(drive, task: Task) -> np.ndarray:
    """Per trial, the mean over neurons of the correlation of the recorded synaptic
    drive (trials, S, N) with its target (float runs only: the chip's current is not
    read out). Neurons with a constant target are left out."""
    d = np.asarray(drive, float)
    keep = task.drive.std(0) > 0
    return np.array([np.nanmean(_correlations(trial, task.drive)[keep]) for trial in d])
