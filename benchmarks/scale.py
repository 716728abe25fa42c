"""Scale: sparse causal problems through every stage, time and peak memory per stage.

Each cause touches ``--per-cause`` of ``M = N / 5`` inputs (``lava_causal.tasks.sparse_causes``),
so ``J = -U^T U / sigma^2 - beta I`` is sparse (about 45 non-zeros per row at 3 per cause).
For every ``N`` the stages run in one process, in order: building the problem, its exact
MAP (certified), the tuned network, compiling to Loihi 2 with defaults, placing on
``--place-hw`` (default: ``loihi2`` up to 500,000 neurons, ``kapoho_point``, 8 chips,
above), emulating ``--steps`` chip steps. Each row gives the stage's wall time and the
process's peak resident memory during that stage (Linux: the peak is reset before each
stage through ``/proc/self/clear_refs``; it includes what earlier stages still hold).
Each ``N`` runs in a fresh subprocess, so one size's memory does not carry into the next.

Usage::

    python benchmarks/scale.py [--n 10000 100000 1000000] [--steps 1000] [--per-cause 3]
                               [--active 50] [--place-hw NAME] [--out benchmarks/results/scale.md]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import warnings

from _common import RESULTS_DIR, provenance, provenance_lines, write_result

STAGES = ("problem", "map", "network", "compile", "place", "emulate")
MULTI_CHIP_FROM = 500_000
"""Above this many neurons the default placement target is the 8-chip board."""


def _reset_peak() -> bool:
    """Reset the kernel's peak-RSS counter of this process (Linux); False if it cannot."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _peak_bytes() -> int:
    """Peak resident memory of this process since the last reset (VmHWM), in bytes."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def run_one(n: int, steps: int, per_cause: int, active: int, place_hw: str, seed: int,
            window=None, weight_splits="auto") -> dict:
    """All stages for one ``N``, in this process; a dict of per-stage seconds and bytes."""
    import numpy as np

    import compiler
    from lava_causal import build_network, tasks

    rows = {}

    def stage(name, fn, may_fail=False):
        """Run one stage; a refusal (ValueError, e.g. PlacementError) of a stage that
        ``may_fail`` is recorded with its message and the pipeline goes on."""
        reset = _reset_peak()
        t0 = time.perf_counter()
        try:
            out = fn()
            error = None
        except ValueError as exc:
            if not may_fail:
                raise
            out, error = None, str(exc).splitlines()[0]
        rows[name] = {"seconds": time.perf_counter() - t0, "peak_bytes": _peak_bytes(),
                      "peak_is_stage": reset, "error": error}
        print(f"  N = {n:>9,}  {name:<8} {rows[name]['seconds']:8.2f} s  "
              f"{rows[name]['peak_bytes'] / 2**30:6.2f} GiB" + (f"  refused: {error}" if error else ""),
              file=sys.stderr, flush=True)
        return out

    problem = stage("problem", lambda: tasks.sparse_causes(n, per_cause=per_cause, active=active,
                                                           seed=seed, window=window))
    r_star = stage("map", problem.map_estimate)
    network = stage("network", lambda: build_network(problem))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fixed = stage("compile", lambda: compiler.compile(network, hw="loihi2", dt=1e-4,
                                                          weight_splits=weight_splits))
    placement = stage("place", lambda: compiler.place(fixed, hw=place_hw), may_fail=True)
    result = stage("emulate", lambda: compiler.emulate(fixed, steps, seed=seed))
    report = placement.report() if placement is not None else {}
    summary = {
        "n": n, "m": problem.n_inputs, "steps": steps, "per_cause": per_cause, "seed": seed,
        "window": window, "weight_splits": weight_splits,
        "active_in_map": int(np.count_nonzero(r_star > 0)),
        "weights_nnz": int(network.weights.nnz) if hasattr(network.weights, "nnz")
        else int(np.count_nonzero(network.weights)),
        "splits": int(fixed.n_splits), "place_hw": place_hw,
        "cores": report.get("cores"), "chips": report.get("chips"),
        "spikes": int(result.counts.sum()),
        "certificate": problem.map_certificate().summary(),
    }
    return {"stages": rows, **summary}


def child_main(args) -> int:
    splits = "auto" if args.weight_splits == "auto" else int(args.weight_splits)
    out = run_one(args.child, args.steps, args.per_cause, args.active, args.place_hw_resolved,
                  args.seed, args.window, splits)
    print(json.dumps(out))
    return 0


def format_table(results: list) -> str:
    sizes = [r["n"] for r in results]
    lines = ["| stage | " + " | ".join(f"N = {n:,}" for n in sizes) + " |",
             "|---|" + "---|" * len(sizes)]
    for name in STAGES:
        cells = []
        for r in results:
            row = r["stages"].get(name)
            cells.append("-" if row is None else
                         f"{row['seconds']:.2f} s, {row['peak_bytes'] / 2**30:.2f} GiB"
                         + (" (refused)" if row.get("error") else ""))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append("| compile + place + emulate | " + " | ".join(
        f"{sum(r['stages'][s]['seconds'] for s in ('compile', 'place', 'emulate')):.1f} s" for r in results) + " |")
    lines.append("| whole pipeline | " + " | ".join(
        f"{sum(v['seconds'] for v in r['stages'].values()):.1f} s, peak "
        f"{max(v['peak_bytes'] for v in r['stages'].values()) / 2**30:.2f} GiB" for r in results) + " |")
    lines.append("| M / couplings (non-zero weights) / splits | " + " | ".join(
        f"{r['m']:,} / {r['weights_nnz']:,} / {r['splits']}" for r in results) + " |")
    lines.append("| placed on / cores / chips | " + " | ".join(
        f"{r['place_hw']} / {r['cores']} / {r['chips']}" for r in results) + " |")
    lines.append("| causes active in r* / spikes emulated | " + " | ".join(
        f"{r['active_in_map']} / {r['spikes']:,}" for r in results) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--per-cause", type=int, default=3)
    ap.add_argument("--active", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--window", type=int, default=None,
                    help="local features: each cause's inputs within this many neighbouring inputs "
                         "(default: anywhere, a random coupling graph)")
    ap.add_argument("--weight-splits", default="auto", help="compile's weight_splits (default auto)")
    ap.add_argument("--place-hw", default=None,
                    help=f"placement config (default loihi2; kapoho_point above {MULTI_CHIP_FROM:,} neurons)")
    ap.add_argument("--out", default=str(RESULTS_DIR / "scale.md"))
    ap.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--place-hw-resolved", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child is not None:
        return child_main(args)

    results = []
    for n in args.n:
        place_hw = args.place_hw or ("kapoho_point" if n > MULTI_CHIP_FROM else "loihi2")
        cmd = [sys.executable, __file__, "--child", str(n), "--steps", str(args.steps),
               "--per-cause", str(args.per_cause), "--active", str(args.active),
               "--seed", str(args.seed), "--place-hw-resolved", place_hw,
               "--weight-splits", args.weight_splits] + (["--window", str(args.window)] if args.window else [])
        done = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
        if done.returncode != 0:
            print(f"N = {n:,}: failed (rc {done.returncode}); see above", file=sys.stderr)
            return 1
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    table = format_table(results)
    print(table)
    prov = provenance()
    text = "\n".join([
        "# Scale: sparse causal problems through every stage", "",
        f"`python benchmarks/scale.py --n {' '.join(map(str, args.n))} --steps {args.steps} "
        f"--per-cause {args.per_cause} --active {args.active} --seed {args.seed}"
        + (f" --window {args.window}" if args.window else "")
        + f" --weight-splits {args.weight_splits}`: each cause "
        f"touches {args.per_cause} of M = N/5 inputs"
        + (f" within a window of {args.window} neighbouring inputs" if args.window else " (anywhere)")
        + f", {args.active} causes generate the observation; compile for loihi2 (dt 0.1 ms, "
        f"weight_splits {args.weight_splits}), one trial emulated. Each "
        "cell: wall time and the process's peak resident memory during the stage (it "
        "includes what earlier stages still hold). Each N in a fresh process.", "",
        table, "",
        "MAP certificates: " + "; ".join(f"N = {r['n']:,}: {r['certificate']}" for r in results), "",
        *[f"Refused at N = {r['n']:,}, {name}: {row['error']}" for r in results
          for name, row in r["stages"].items() if row.get("error")], "",
        *provenance_lines(prov), ""])
    write_result(args.out, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
