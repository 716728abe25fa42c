"""RLS-trained recurrent spiking networks on Loihi 2: float against chip.

Trains recurrent LIF networks with recursive least squares (Kim & Chow, eLife 2018)
so that each neuron's synaptic drive follows a target after a brief stimulus, compiles
each trained network for Loihi 2, runs it on the bit-exact emulator with the same
stimulus and initial voltages, and scores both against the target rates (mean over
neurons of the correlation of the trial-averaged filtered rate with the target).

    python examples/rls_patterns.py --quick --json   # one small network on sinusoids
    python examples/rls_patterns.py [--out out/rls_patterns]

The full run trains N = 200 networks on the three tasks (sinusoids, the network's own
innate trajectory, heterogeneous rate patterns), measures the chip budget of the
sinusoid network at dt = 0.1 ms and 0.2 ms, and writes ``summary.json`` and
``rls_patterns.png`` (target, float and chip PSTH of four neurons per task).
"""
from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import numpy as np

from compiler import QuantizationWarning
from compiler.system.files import to_jsonable, write_json
from lava_causal.rls import compile_trained, pattern_budget, run_chip, score, simulate
from lava_causal.rls.experiment import TASKS, TEST_SEED_OFFSET, run_experiment, train_task
from lava_causal.rls.patterns import reference_rates

CHIP_DT = 2e-4


def full(out: Path, seed: int) -> dict:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from lava_causal.plots import save_figure

    summary = {"seed": seed, "chip_dt": CHIP_DT, "tasks": {}}
    fig, axes = plt.subplots(len(TASKS), 4, figsize=(14, 8), sharex=True)
    sinusoid_network = None
    for row, kind in enumerate(TASKS):
        result = train_task(kind, 200, duration=1.0, trials=20, seed=seed)
        net, task = result.network, result.task
        floats = score(simulate(net, task, 8, 1e-4, seed + TEST_SEED_OFFSET).filtered, task, net)
        fixed = compile_trained(net, task, "loihi2", CHIP_DT)
        chip = score(run_chip(fixed, net, task, 8, seed + TEST_SEED_OFFSET)[0], task, net)
        summary["tasks"][kind] = {"float": floats.to_dict(), "chip": chip.to_dict(), "training": result.settings}
        print(f"{kind:14s} float {floats.correlation:.3f} [{floats.correlation_ci[0]:.3f}, "
              f"{floats.correlation_ci[1]:.3f}]  chip {chip.correlation:.3f} [{chip.correlation_ci[0]:.3f}, "
              f"{chip.correlation_ci[1]:.3f}]  normalised error float {floats.normalised_error:.3f} "
              f"chip {chip.normalised_error:.3f}")
        ref = reference_rates(task, net)
        shown = np.argsort(-ref.std(0))[:4]
        for col, i in enumerate(shown):
            ax = axes[row, col]
            ax.plot(task.times, ref[:, i], color="k", lw=2, label="target")
            ax.plot(task.times, floats.psth[:, i], color="tab:blue", label="float")
            ax.plot(task.times, chip.psth[:, i], color="tab:red", ls="--", label="Loihi 2 emulator")
            ax.set_title(f"{kind}, neuron {i}", fontsize=9)
            if col == 0:
                ax.set_ylabel("rate (Hz)")
        if kind == "sinusoids":
            sinusoid_network = result
    axes[0, 0].legend(fontsize=7)
    for ax in axes[-1]:
        ax.set_xlabel("time after stimulus (s)")
    summary["figure"] = save_figure(fig, out / "rls_patterns.png")
    for dt in (1e-4, CHIP_DT):
        budget = pattern_budget(sinusoid_network.network, sinusoid_network.task, "loihi2", dt, trials=16,
                                seed=seed + TEST_SEED_OFFSET)
        summary[f"budget_dt_{dt:g}"] = budget.to_dict()
        print(f"\nbudget, sinusoids, Loihi 2 at dt = {dt:g} s (16 paired trials):\n{budget.table()}")
    write_json(out / "summary.json", summary)
    print(f"wrote {out / 'summary.json'} and {summary['figure']}")
    return summary


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one small network on sinusoids (< 1 min)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="out/rls_patterns")
    args = parser.parse_args(argv)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", QuantizationWarning)   # weights rounding to 0: in the budget
        if args.quick:
            report = run_experiment("sinusoids", n=60, duration=1.0, train_trials=8, test_trials=6,
                                    chip_dt=CHIP_DT, seed=args.seed, progress=False)
        else:
            report = full(Path(args.out), args.seed)
    if args.json:
        print(json.dumps(to_jsonable(report), indent=1))
    elif args.quick:
        print(f"float correlation {report['float_correlation']:.3f}, chip correlation "
              f"{report['chip_correlation']:.3f} (seed {report['seed']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
