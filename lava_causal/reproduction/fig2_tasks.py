"""Fig. 2: discrimination, mixture and approximation with the tuned nLIF network.

Paper: discrimination: only neuron 10 stays active, angular error in 20 ms
windows ~0 within 100 ms, a handful of spikes from other neurons; mixture: rates match
the mixture, % error -> 0 with T; approximation: sparse response matching the rate
network. Float runs at dt = 0.01 ms; the chip column is the Loihi 2 compile on the
bit-exact emulator (dt = 0.1 ms), same duration and trials.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from tqdm.auto import tqdm

from .. import metrics, tasks
from ..network import build_network
from .common import Output, chip_rates, cumulative_curve, float_run, loglog_slope, mean_metrics, \
    windowed_angular_errors

NAME = "fig2_tasks"
TASK_NAMES = ("discrimination", "mixture", "approximation")
WINDOW = 0.02


def run(out, quick=False, seed=0, progress=True) -> dict:
    trials, duration = (3, 1.0) if quick else (20, 10.0)
    output = Output(out, NAME, quick, seed)
    output.settings.update(trials=trials, duration=duration, window=WINDOW, tau_syn=5e-3)
    numbers = {}
    fig, axes = plt.subplots(len(TASK_NAMES), 3, figsize=(13, 3.2 * len(TASK_NAMES)))
    for row, name in zip(axes, tqdm(TASK_NAMES, desc="fig2", disable=not progress)):
        problem = tasks.TASKS[name](seed)
        r_star = problem.map_estimate()
        network = build_network(problem, tau_syn=5e-3)
        result = float_run(network, duration, trials, seed, window=WINDOW)
        rates = result.rates
        support = np.flatnonzero(r_star > 1e-6)
        active = np.flatnonzero(rates.mean(axis=0) > 0.5)
        angular = windowed_angular_errors(problem, result.counts_per_window, WINDOW)
        at_100ms = angular[:, int(round(0.1 / WINDOW)) - 1]
        times, rel = cumulative_curve(result.counts_per_window, WINDOW, lambda r: metrics.relative_error(problem, r, r_star))
        _, pct = cumulative_curve(result.counts_per_window, WINDOW, lambda r: metrics.percent_error(problem, r))
        others = np.setdiff1d(np.arange(problem.n_causes), support)
        numbers[name] = {
            "float": mean_metrics(problem, rates, r_star),
            "loihi2": mean_metrics(problem, chip_rates(network, duration, trials, seed), r_star),
            "map_angular_error_deg": metrics.angular_error(problem, r_star),
            "map_support": support.tolist(), "active_causes": active.tolist(),
            "spikes_outside_support_per_trial": float(result.counts[:, others].sum(axis=1).mean()),
            "angular_error_20ms_window_at_100ms_deg": float(np.mean(at_100ms)),
            "angular_error_20ms_windows_after_100ms_median_deg": float(np.median(angular[:, 5:])),
            "slope_relative_error_vs_T": loglog_slope(times, rel, t_min=0.1),
            "slope_percent_error_vs_T": loglog_slope(times, pct, t_min=0.1),
        }
        _panel(row, name, r_star, rates, angular, times, rel)
    output.figure(fig, NAME)
    return output.write(numbers)


def _panel(row, name, r_star, rates, angular, times, rel):
    ax = row[0]
    idx = np.arange(r_star.size)
    ax.bar(idx, rates.mean(axis=0), color="tab:blue", label="network rate")
    ax.plot(idx, r_star, "r.", ms=4, label="MAP r*")
    ax.set_title(f"{name}: rates (Hz)")
    ax.set_xlabel("cause")
    ax.legend(fontsize=7)
    ax = row[1]
    t = WINDOW * np.arange(1, angular.shape[1] + 1)
    shown = t <= 1.0
    ax.plot(t[shown], angular[:, shown].mean(axis=0))
    ax.set_xlabel("time (s)")
    ax.set_ylabel("angular error, 20 ms windows (deg)")
    ax = row[2]
    ax.loglog(times, rel.mean(axis=0), label="nLIF")
    ax.loglog(times, rel.mean(axis=0)[-1] * times[-1] / times, "k--", lw=1, label="1/T")
    ax.set_xlabel("T (s)")
    ax.set_ylabel("|r(T) - r*| / |r*|")
    ax.legend(fontsize=7)
