"""Fig. 6: the causal-inference network against signal tracking.

Paper: mu = 50 u_10 + 50 u_20 + 5 u_30 + 1 u_40 on the Fig. 2 features,
delta synapses with 0 or 2 ms delay. The nLIF network finds all four causes and its
error falls like 1/T; the signal-tracking network (Boerlin et al. 2013: leaky,
threshold D/2, hard reset to -D/2; our leak 50 ms) misses causes 30 and 40 and its
error saturates. A cause is "found" when its mean rate exceeds half its MAP value.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from tqdm.auto import tqdm

from .. import metrics, tasks
from ..network import build_network, signal_tracking_network
from .common import Output, chip_rates, cumulative_curve, float_run, loglog_slope, mean_metrics

NAME = "fig6_signal_tracking"
CAUSES = (10, 20, 30, 40)
WINDOW = 0.05


def run(out, quick=False, seed=0, progress=True) -> dict:
    trials, duration = (3, 6.0) if quick else (20, 20.0)
    output = Output(out, NAME, quick, seed)
    output.settings.update(trials=trials, duration=duration, causes=CAUSES, signal_tracking_leak_tau=0.05)
    problem = tasks.four_cause_mixture(seed)
    r_star = problem.map_estimate()
    nets = {"nLIF, delta": build_network(problem, tau_syn=0.0),
            "nLIF, delta, 2 ms delay": build_network(problem, tau_syn=0.0, delay=2e-3),
            "signal tracking, delta": signal_tracking_network(problem),
            "signal tracking, delta, 2 ms delay": signal_tracking_network(problem, delay=2e-3)}
    numbers = {"map_rates": {str(c): float(r_star[c]) for c in CAUSES}}
    fig, (ax_rates, ax_err) = plt.subplots(1, 2, figsize=(12, 4))
    for k, (label, net) in enumerate(tqdm(list(nets.items()), desc="fig6", disable=not progress)):
        result = float_run(net, duration, trials, seed, window=WINDOW)
        rates = result.rates.mean(axis=0)
        times, err = cumulative_curve(result.counts_per_window, WINDOW, lambda r: metrics.relative_error(problem, r, r_star))
        late = times >= duration / 10
        numbers[label] = {"rates": {str(c): float(rates[c]) for c in CAUSES},
                          "found": {str(c): bool(rates[c] > 0.5 * r_star[c]) for c in CAUSES},
                          **mean_metrics(problem, result.rates, r_star),
                          "slope_relative_error_last_decade": loglog_slope(times[late], err[:, late])}
        ax_rates.bar(np.arange(len(CAUSES)) + 0.2 * (k - 1.5), [rates[c] for c in CAUSES], 0.2, label=label)
        ax_err.loglog(times, err.mean(axis=0), label=label)
    chip = chip_rates(nets["nLIF, delta"], duration, trials, seed).mean(axis=0)
    numbers["nLIF, delta"]["loihi2"] = {"rates": {str(c): float(chip[c]) for c in CAUSES},
                                        "found": {str(c): bool(chip[c] > 0.5 * r_star[c]) for c in CAUSES},
                                        **mean_metrics(problem, chip, r_star)}
    ax_rates.plot(np.arange(len(CAUSES)), [r_star[c] for c in CAUSES], "k_", ms=20, label="MAP r*")
    ax_rates.set_xticks(range(len(CAUSES)))
    ax_rates.set_xticklabels([f"cause {c}" for c in CAUSES])
    ax_rates.set_yscale("log")
    ax_rates.set_ylabel("rate (Hz)")
    ax_rates.legend(fontsize=7)
    ax_err.set_xlabel("T (s)")
    ax_err.set_ylabel("|r(T) - r*| / |r*|")
    ax_err.legend(fontsize=7)
    output.figure(fig, NAME)
    return output.write(numbers)
