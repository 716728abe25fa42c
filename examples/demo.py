"""The main job on the embedded default problem (what ``make demo`` runs).

The paper's Fig. 2 discrimination task (N = M = 100, mu = 50 u_10):

1. exact MAP (scipy NNLS, KKT-checked);
2. the tuned spiking network simulated in float (dt = 0.01 ms, tau_s = 5 ms), with a
   spike raster and the error-versus-time plot saved as PNG;
3. the same network compiled for Loihi 2 (dt = 0.1 ms), run on the bit-exact emulator
   (same trials and duration) and on Lava's CPU simulator (``fixed_pt`` models, one
   trial), whose spike counts must equal the emulator's on that trial;
4. float and chip metrics side by side;
5. the error budget of the chip run (which chip effect costs how much accuracy) and
   its waterfall chart (PNG).

Lava (step 3's comparison) needs lava-nc, which installs only on Python 3.10; the core
runs on any Python >= 3.10. ``--lava auto`` (default) runs the comparison when Lava is
installed and says why not otherwise; ``skip`` leaves it out; ``only`` runs just the
compilation and the Lava-versus-emulator comparison (``make demo`` runs the demo on the
core Python with ``skip``, then ``only`` on Python 3.10 when there is one).

    python examples/demo.py [--out DIR] [--duration S] [--trials K] [--seed S]
                            [--lava-duration S] [--hw NAME] [--lava {auto,skip,only}]
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import matplotlib.pyplot as plt
import numpy as np

import compiler
from lava_causal import build_network, error_budget, metrics, simulate, statistics, tasks
from lava_causal.plots import cumulative_errors, plot_error_vs_time, plot_raster, save_figure
from lava_causal.provenance import versions

CHIP_DT = 1e-4


def metric_summary(problem, rates, r_star) -> dict:
    """Mean over trials with its 95 % interval, for every per-trial metric, from
    (trials, N) rates; ``relative_error``'s mean is ``mean_relative_error``."""
    return {("mean_relative_error" if key == "relative_error" else key): (float(v.mean()), statistics.mean_ci(v))
            for key, v in metrics.trial_metrics(problem, rates, r_star).items()}  # names as metrics.trial_means


def print_side_by_side(columns: dict) -> None:
    """One row per metric, one column per run: mean over trials [95 % interval]."""
    names = list(columns)
    print(f"{'metric':>20} " + " ".join(f"{n:>24}" for n in names))
    for key in next(iter(columns.values())):
        cells = []
        for name in names:
            mean, (lo, hi) = columns[name][key]
            ci = f"[{lo:.3g}, {hi:.3g}]" if np.isfinite(lo) and np.isfinite(hi) else "[n/a: < 3 trials]"
            cells.append(f"{mean:>10.4g} {ci:<20}")
        print(f"{key:>20} " + " ".join(f"{c:>31}" for c in cells))


def drop_undefined_gap(problem, r_star, columns: dict) -> dict:
    """``columns`` without ``objective_gap`` when L(r*) is 0 (a noiseless task), where
    the gap relative to it is undefined."""
    if problem.objective(r_star) < 1e-9 * problem.objective(np.zeros_like(r_star)):
        for column in columns.values():
            column.pop("objective_gap")
        print("(objective_gap left out: it is relative to L(r*), which is 0 on this noiseless task)")
    return columns


def make_figure(problem, result, r_star, path):
    fig, (ax_raster, ax_err) = plt.subplots(1, 2, figsize=(11, 4))
    times, ids = result.spikes[0]
    plot_raster(ax_raster, times, ids, highlight=np.flatnonzero(r_star > 0),
                duration=min(result.duration, 1.0), title="Discrimination: first second, trial 0")
    t, err = cumulative_errors(result.counts_per_window, result.window, r_star,
                               lambda r, rs: metrics.relative_error(problem, r, rs))
    plot_error_vs_time(ax_err, t, err, label=f"float nLIF ({result.trials} trials)")
    return save_figure(fig, path)


def float_part(problem, r_star, args):
    network = build_network(problem, tau_syn=5e-3)
    start = time.perf_counter()
    result = simulate(network, args.duration, dt=1e-5, trials=args.trials, seed=args.seed,
                      record_spikes=True, window=0.02)
    print(f"\n[float] {args.trials} trials x {args.duration:g} s, dt = {result.dt:g} s, seed {result.seed}: "
          f"{time.perf_counter() - start:.2f} s wall")
    non_target = result.counts.sum(axis=1) - result.counts[:, tasks.TARGET]
    print(f"  cause {tasks.TARGET}: {result.rates[:, tasks.TARGET].mean():.3f} Hz (r* {r_star[tasks.TARGET]:.3f}); "
          f"spikes of the other 99 causes per trial: {non_target.mean():.1f}")
    path = make_figure(problem, result, r_star, os.path.join(args.out, "demo_float.png"))
    print(f"  raster and error-versus-time plot: {path}")
    return network, result


def compile_for_chip(network, args):
    fixed = compiler.compile(network, hw=args.hw, dt=CHIP_DT)
    print(f"\n[compile] {args.hw}, dt = {CHIP_DT:g} s\n{compiler.quantization_report(fixed).table()}")
    return fixed


def emulator_part(fixed, args):
    steps = int(round(args.duration / CHIP_DT))
    emulated = compiler.emulate(fixed, steps, trials=args.trials, seed=args.seed)
    print(f"\n[emulator] {args.trials} trials x {steps} steps ({emulated.duration:g} s), seed {emulated.seed}: "
          f"{emulated.wall_time:.3f} s wall")
    return emulated


def lava_part(fixed, args):
    """One trial on Lava's CPU ``fixed_pt`` models, which must spike exactly as the
    emulator does; None (with the reason printed) when Lava is not installed and
    ``--lava auto``."""
    lava_steps = int(round(args.lava_duration / CHIP_DT))
    print(f"[lava fixed_pt] 1 trial x {lava_steps} steps on Lava's CPU simulator ...", flush=True)
    try:
        on_lava = compiler.run_lava(fixed, lava_steps, tag="fixed_pt", seed=args.seed, trials=1)
    except compiler.BackendUnavailable as exc:
        if args.lava == "only":
            raise SystemExit(f"error: {exc}")
        print(f"  skipped: {exc}")
        return None
    check = compiler.emulate(fixed, lava_steps, trials=1, seed=args.seed)
    same = bool(np.array_equal(on_lava.counts, check.counts))
    print(f"  {on_lava.wall_time:.1f} s wall; spike counts identical to the emulator's: {same} "
          f"({int(on_lava.counts.sum())} spikes)")
    if not same:
        raise SystemExit("error: Lava fixed_pt and the emulator disagree; please report this")
    return on_lava


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="out", help="output folder")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds of model time")
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--lava-duration", type=float, default=1.0,
                        help="seconds of model time run on Lava (1 trial; Lava takes ~1.5 ms per step)")
    parser.add_argument("--hw", default="loihi2")
    parser.add_argument("--lava", choices=("auto", "skip", "only"), default="auto",
                        help="the Lava comparison: when installed (auto), never (skip), or alone (only)")
    args = parser.parse_args(argv)

    problem = tasks.discrimination(seed=0)
    r_star = problem.map_estimate()
    print(f"Fig. 2 discrimination task: M = {problem.n_inputs}, N = {problem.n_causes}, mu = 50 u_{tasks.TARGET}; "
          f"MAP support {np.flatnonzero(r_star > 1e-9).tolist()}, r*[{tasks.TARGET}] = {r_star[tasks.TARGET]:.3f} Hz, "
          f"certificate: {problem.map_certificate().summary()}")
    print(f"versions: {versions()}")

    if args.lava == "only":
        fixed = compile_for_chip(build_network(problem, tau_syn=5e-3), args)
        on_lava = lava_part(fixed, args)
        print_side_by_side(drop_undefined_gap(problem, r_star, {
            f"{args.hw} Lava 1x{on_lava.duration:g}s": metric_summary(problem, on_lava.rates, r_star)}))
        return 0
    network, floating = float_part(problem, r_star, args)
    fixed = compile_for_chip(network, args)
    emulated = emulator_part(fixed, args)
    on_lava = None if args.lava == "skip" else lava_part(fixed, args)

    print("\nMAP accuracy, mean over trials [95 % interval] (mean_relative_error = mean over trials of "
          "||r_k - r*|| / ||r*||):")
    columns = {
        f"float {args.trials}x{args.duration:g}s": metric_summary(problem, floating.rates, r_star),
        f"{args.hw} emu {args.trials}x{args.duration:g}s": metric_summary(problem, emulated.rates, r_star),
    }
    if on_lava is not None:
        columns[f"{args.hw} Lava 1x{on_lava.duration:g}s"] = metric_summary(problem, on_lava.rates, r_star)
    print_side_by_side(drop_undefined_gap(problem, r_star, columns))

    print()
    budget = error_budget(problem, hw=args.hw, dt=CHIP_DT, duration=args.duration, trials=args.trials,
                          seed=args.seed, name="Fig. 2 discrimination")
    print(budget.table())
    print(f"waterfall chart: {budget.plot(os.path.join(args.out, 'demo_budget.png'))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
