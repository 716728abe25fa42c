r"""Fig. 4: irregular spiking and precise rates with a low-rank network.

Paper: shifted-cosine features, M << N (low-rank J), mu = 50 u_10; CV_ISI 3.20
(exponential synapses), 3.48 (delta), 2.89 (delta, 2 ms delay), 2.98 at N = 500;
angular error ~1 deg and stable; a network mistuned by U[-0.2, 0] behaves similarly;
log error against log T has slope -1.04 +/- 0.01.

Reconstruction: the feature formula was lost. Signed shifted cosines
(``tasks.cosine_basis``) contain (near-)antipodal pairs whose mutual excitation is
about one reset depth: with delta synapses, with or without the 2 ms delay, one spike
sets off a runaway cascade (zero-delay delta synapses), so they cannot give the paper's delta
results. We therefore use *raised* cosines, :math:`U_{ij} \propto 1 + \cos(2\pi i/M -
2\pi j/N)` with unit columns (M = 20, rank 3, all non-negative, so every coupling is
inhibitory), mu = 50 u_10, alpha = 1 (a small L1 prior against the near-degenerate
directions). Errors are the angular error and the reconstruction (percent) error: with
low-rank features neighbouring causes are nearly interchangeable, so activity spreads
over them and the rate vector converges slowly while the reconstruction converges fast.
CV_ISI is averaged over neurons with at least 3 spikes, across trials.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from tqdm.auto import tqdm

from .. import metrics, tasks
from ..network import build_network, mistune
from ..problem import CausalProblem
from .common import Output, chip_rates, cumulative_curve, float_run, loglog_slope, mean_metrics

NAME = "fig4_variability"
WINDOW = 0.02
MISTUNING = (-0.2, 0.0)


def raised_cosine_problem(n=100, m=20, amplitude=50.0, alpha=1.0) -> CausalProblem:
    """The reconstructed Fig. 4 problem (module docstring)."""
    i, j = np.arange(m)[:, None], np.arange(n)[None, :]
    u = 1.0 + np.cos(2 * np.pi * i / m - 2 * np.pi * j / n)
    u /= np.linalg.norm(u, axis=0)
    return CausalProblem(u, amplitude * u[:, tasks.TARGET], alpha=alpha)


def conditions(seed, n=100):
    problem = raised_cosine_problem(n)
    exp = build_network(problem, tau_syn=5e-3)
    return problem, {
        "exponential": exp,
        "delta": build_network(problem, tau_syn=0.0),
        "delta, 2 ms delay": build_network(problem, tau_syn=0.0, delay=2e-3),
        "exponential, mistuned U[-0.2, 0]": mistune(exp, *MISTUNING, seed=seed + 7),
    }


def reconstruction_error(problem, rates, r_star) -> float:
    r"""Distance of the reconstruction from the MAP's, :math:`|U(r - r^*)| / |U r^*|`
    (the MAP's own reconstruction is not exact here: alpha = 1)."""
    u = problem.features
    return float(np.linalg.norm(u @ (np.asarray(rates) - r_star)) / np.linalg.norm(u @ r_star))


def cv_over_trials(result) -> float:
    trains = [t for k in range(result.trials) for t in result.spike_trains(k)]
    return metrics.cv_isi(trains)


def run(out, quick=False, seed=0, progress=True) -> dict:
    trials, duration, big_duration = (2, 1.0, 0.5) if quick else (10, 20.0, 10.0)
    output = Output(out, NAME, quick, seed)
    output.settings.update(trials=trials, duration=duration, window=WINDOW, mistuning=MISTUNING)
    problem, nets = conditions(seed)
    r_star = problem.map_estimate()
    numbers = {}
    fig, (ax_raster, ax_err) = plt.subplots(1, 2, figsize=(12, 4))
    for label, net in tqdm(list(nets.items()), desc="fig4", disable=not progress):
        result = float_run(net, duration, trials, seed, window=WINDOW, record=True)
        times, err = cumulative_curve(result.counts_per_window, WINDOW,
                                      lambda r: reconstruction_error(problem, r, r_star))
        numbers[label] = {"cv_isi": cv_over_trials(result), **mean_metrics(problem, result.rates, r_star),
                          "reconstruction_error_vs_map": float(err[:, -1].mean()),
                          "slope_reconstruction_error_vs_T": loglog_slope(times, err, t_min=0.2),
                          "stable": bool(net.is_stable()),
                          "steps_with_cascade": int(result.truncated_steps.sum())}
        ax_err.loglog(times, err.mean(axis=0), label=label)
        if label == "exponential":
            t, ids = result.spikes[0]
            keep = t < min(1.0, duration)
            ax_raster.plot(t[keep], ids[keep], "|", ms=3)
    numbers["exponential"]["loihi2"] = mean_metrics(
        problem, chip_rates(nets["exponential"], duration, trials, seed), r_star)
    big_problem, big_nets = conditions(seed, n=500)
    big = float_run(big_nets["exponential"], big_duration, max(2, trials // 2), seed, record=True)
    # errors against mu only: the MAP of the N = 500 problem is a slow QP (N > M, alpha > 0)
    numbers["exponential, N = 500"] = {
        "cv_isi": cv_over_trials(big),
        "angular_error_deg": float(np.mean([metrics.angular_error(big_problem, r) for r in big.rates])),
        "percent_error": float(np.mean([metrics.percent_error(big_problem, r) for r in big.rates]))}
    ax_raster.set_xlabel("time (s)")
    ax_raster.set_ylabel("neuron")
    ax_raster.set_title("exponential synapses, trial 0")
    ax_err.set_xlabel("T (s)")
    ax_err.set_ylabel("|U(r(T) - r*)| / |U r*|")
    ax_err.legend(fontsize=7)
    output.figure(fig, NAME)
    return output.write(numbers)
