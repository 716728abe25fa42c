"""The main job on the embedded default problem (what ``make demo`` runs).

The paper's Fig. 2 discrimination task (N = M = 100, mu = 50 u_10): exact MAP, the
tuned spiking network simulated in float, metrics, a spike raster and the
error-versus-time plot (PNG).

    python examples/demo.py [--out DIR] [--duration S] [--trials K] [--seed S]
"""
from __future__ import annotations

import argparse
import os
import sys

import matplotlib.pyplot as plt
import numpy as np

from lava_causal import build_network, metrics, simulate, tasks
from lava_causal.plots import cumulative_errors, plot_error_vs_time, plot_raster, save_figure
from lava_causal.provenance import versions


def float_run(problem, duration, trials, seed):
    """Float simulation (dt = 0.01 ms, exponential synapses, tau_s = 5 ms)."""
    network = build_network(problem, tau_syn=5e-3)
    result = simulate(network, duration, dt=1e-5, trials=trials, seed=seed,
                      record_spikes=True, window=0.02)
    return result


def print_metrics(label, problem, rates, r_star):
    m = metrics.all_metrics(problem, rates, r_star)
    print(f"{label:<28}" + "  ".join(f"{k} {v:.4g}" for k, v in m.items()))
    return m


def make_figure(problem, result, r_star, path):
    fig, (ax_raster, ax_err) = plt.subplots(1, 2, figsize=(11, 4))
    times, ids = result.spikes[0]
    plot_raster(ax_raster, times, ids, highlight=np.flatnonzero(r_star > 0),
                duration=min(result.duration, 1.0), title="Discrimination: first second, trial 0")
    t, err = cumulative_errors(result.counts_per_window, result.window, r_star, metrics.relative_error)
    plot_error_vs_time(ax_err, t, err, label=f"float nLIF ({result.trials} trials)")
    return save_figure(fig, path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="out", help="output folder")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds simulated")
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    problem = tasks.discrimination(seed=0)
    r_star = problem.map_estimate()
    print(f"Fig. 2 discrimination task: M = {problem.n_inputs}, N = {problem.n_causes}, "
          f"mu = 50 u_{tasks.TARGET}; MAP support {np.flatnonzero(r_star > 1e-9).tolist()}, "
          f"r*[{tasks.TARGET}] = {r_star[tasks.TARGET]:.3f} Hz")
    result = float_run(problem, args.duration, args.trials, args.seed)
    print(f"float simulator: {args.trials} trials x {args.duration:g} s, dt = {result.dt:g} s, "
          f"seed {result.seed}, versions {versions()}")
    rates = result.rates
    non_target = result.counts.sum(axis=1) - result.counts[:, tasks.TARGET]
    print(f"mean rate of cause {tasks.TARGET}: {rates[:, tasks.TARGET].mean():.3f} Hz; "
          f"non-target spikes per trial: {non_target.mean():.1f}")
    per_trial = [metrics.all_metrics(problem, r, r_star) for r in rates]
    for key in per_trial[0]:
        vals = np.array([m[key] for m in per_trial])
        print(f"  {key:>20}: {vals.mean():.4g} +/- {vals.std():.2g} (over trials)")
    path = make_figure(problem, result, r_star, os.path.join(args.out, "demo_float.png"))
    print(f"raster and error-versus-time plot: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
