"""Fig. 5: robustness to external noise, and what shuffling does.

Paper: the network of Fig. 4 with white noise of variance 0, 0.01 and 0.3 on
the voltage: weak noise leaves the error unchanged, strong noise raises it modestly;
shuffling spike counts across trials or across time bins raises the error markedly,
because the network's precision comes from spikes coordinated across neurons. We use
the reconstructed Fig. 4 network (raised cosines, exponential synapses) and measure
the angular error of the population rate estimate in 100 ms bins: as recorded,
trial-shuffled (each neuron's count in a bin taken from a random trial) and
bin-shuffled (each neuron's bins permuted independently within its trial).
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from tqdm.auto import tqdm

from ..network import build_network
from .common import Output, float_run, mean_metrics, windowed_angular_errors
from .fig4_variability import raised_cosine_problem

NAME = "fig5_noise"
VARIANCES = (0.0, 0.01, 0.3)
BIN = 0.1


def shuffled(counts, rng, across: str):
    """Counts (trials, bins, N) shuffled across trials or across bins, per neuron."""
    out = np.empty_like(counts)
    trials, bins, n = counts.shape
    for i in range(n):
        if across == "trials":
            pick = rng.integers(0, trials, size=(trials, bins))
            out[:, :, i] = counts[pick, np.arange(bins)[None, :], i]
        else:
            for k in range(trials):
                out[k, :, i] = counts[k, rng.permutation(bins), i]
    return out


def run(out, quick=False, seed=0, progress=True) -> dict:
    trials, duration = (4, 1.0) if quick else (10, 10.0)
    output = Output(out, NAME, quick, seed)
    output.settings.update(trials=trials, duration=duration, bin=BIN, variances=VARIANCES)
    problem = raised_cosine_problem()
    network = build_network(problem, tau_syn=5e-3)
    rng = np.random.default_rng(seed + 5)
    numbers = {}
    for variance in tqdm(VARIANCES, desc="fig5", disable=not progress):
        result = float_run(network, duration, trials, seed, window=BIN, noise_std=float(np.sqrt(variance)))
        counts = result.counts_per_window
        numbers[f"variance {variance:g}"] = {
            **mean_metrics(problem, result.rates),
            "bin_angular_error_deg": float(windowed_angular_errors(problem, counts, BIN).mean()),
            "trial_shuffled_bin_angular_error_deg": float(windowed_angular_errors(
                problem, shuffled(counts, rng, "trials"), BIN).mean()),
            "bin_shuffled_bin_angular_error_deg": float(windowed_angular_errors(
                problem, shuffled(counts, rng, "bins"), BIN).mean()),
        }
    fig, ax = plt.subplots(figsize=(7, 4))
    labels = list(numbers)
    for k, (key, name) in enumerate((("bin_angular_error_deg", "recorded"),
                                     ("trial_shuffled_bin_angular_error_deg", "trial-shuffled"),
                                     ("bin_shuffled_bin_angular_error_deg", "bin-shuffled"))):
        ax.bar(np.arange(len(labels)) + 0.27 * (k - 1), [numbers[l][key] for l in labels], 0.27, label=name)
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels)
    ax.set_ylabel(f"angular error in {BIN * 1000:.0f} ms bins (deg)")
    ax.legend()
    output.figure(fig, NAME)
    return output.write(numbers)
