"""Benchmark: lava_causal.simulate against Brian2 (cython and cpp_standalone), every workload.

Workloads (tuned nLIF networks of the paper's tasks, exponential synapses tau_s = 5 ms,
dt = 0.01 ms, identical initial voltages in all simulators):

- ``tasks.discrimination(seed=0)``, N = 100: one neuron fires at 50 Hz, the rest are
  silent (the quiet case, where the simulator skips the steps between spikes);
- ``tasks.mixture(seed=0)``, N = 100: all 100 neurons active (~580 spikes/s);
- ``tasks.mixture(seed=0, n=1000, m=1000)``: all 1000 active (~5,100 spikes/s);
- the N = 100 mixture with white noise (``noise_std`` = 1 reset depth per square-root
  second), where every step of every neuron draws a normal number;
- the N = 1000 discrimination task (scale).

Every row is measured in this run against both Brian2 targets (:mod:`_brian2`: the
model, and what its times cover); each ratio is Brian2's run time over ours. Ours: best
of several calls after one that loaded numba's cache; the 1-thread column is a
subprocess with NUMBA_NUM_THREADS=1 (Brian2 runs single-threaded). Brian2's build
(construction, code generation, compilation) is reported apart.

Agreement: noiseless rows must give rates within 1 Hz per neuron of Brian2's (exit 1
otherwise; in practice the counts are identical). With noise the generators differ,
so the trial-mean rates are compared statistically: the largest per-neuron difference,
and the population-mean difference with its standard error (paired by neuron); the
row fails when that mean difference is significant (|z| > 4) or above 1 Hz.

Run: ``.venv/bin/python benchmarks/float_simulator.py`` (writes
``benchmarks/results/float_simulator.md``); ``--quick`` for a short check.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass

import numpy as np

from _brian2 import TARGETS, run_brian2
from _common import RESULTS_DIR, best_of, provenance, provenance_lines, write_result
from lava_causal import build_network, simulate, tasks

RESULTS = RESULTS_DIR / "float_simulator.md"
TAU_S = 5e-3
DT = 1e-5
NOISE_STD = 1.0
RATE_TOLERANCE_HZ = 1.0
NOISE_Z_LIMIT = 4.0


@dataclass(frozen=True)
class Workload:
    """One benchmark row: a task of size n, simulated for ``duration`` s, ``trials`` copies."""

    task: str
    n: int
    duration: float
    trials: int
    noise_std: float = 0.0

    @property
    def label(self) -> str:
        noise = f", noise {self.noise_std:g}" if self.noise_std else ""
        return f"{self.task}{noise}"

    def network(self):
        problem = getattr(tasks, self.task)(seed=0, n=self.n, m=self.n)
        return build_network(problem, tau_syn=TAU_S)

    def initial_voltages(self, net):
        return net.initial_voltages(np.random.default_rng(0), self.trials)

    def scaled(self, duration_factor: float, trials_cap: int) -> "Workload":
        return Workload(self.task, self.n, self.duration * duration_factor,
                        min(self.trials, trials_cap), self.noise_std)


WORKLOADS = (
    Workload("discrimination", 100, 5.0, 1),
    Workload("discrimination", 100, 5.0, 200),
    Workload("mixture", 100, 5.0, 1),
    Workload("mixture", 100, 5.0, 200),
    Workload("mixture", 1000, 2.0, 10),
    Workload("mixture", 100, 2.0, 20, NOISE_STD),
    Workload("discrimination", 1000, 2.0, 10),
)


def ours(workload: Workload, repeats: int):
    """Best wall time of ``simulate`` over ``repeats`` calls (after a warm-up), and the
    last result."""
    net = workload.network()
    v0 = workload.initial_voltages(net)
    simulate(net, 0.01, dt=DT, v0=v0[:1], noise_std=workload.noise_std, seed=0)  # numba cache
    return best_of(repeats, lambda: simulate(net, workload.duration, dt=DT, v0=v0,
                                              trials=workload.trials,
                                              noise_std=workload.noise_std, seed=1))


def ours_single_thread(workload: Workload, repeats: int) -> float:
    """:func:`ours` in a subprocess limited to one numba thread."""
    env = {**os.environ, "NUMBA_NUM_THREADS": "1"}
    config = json.dumps({**workload.__dict__, "repeats": repeats})
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--ours-json", config],
                         env=env, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["seconds"]


def agreement(workload: Workload, counts, theirs) -> dict:
    """How far our rates are from Brian2's: ``max_hz`` (largest per-neuron difference of
    the trial-mean rates), ``mean_hz`` and ``z`` (population mean difference over its
    standard error, paired by neuron; noisy rows only), ``ok``."""
    mine = counts.mean(axis=0) / workload.duration
    other = theirs.mean(axis=0) / workload.duration
    diff = mine - other
    out = {"max_hz": float(np.max(np.abs(diff))), "identical": bool(np.array_equal(counts, theirs))}
    if workload.noise_std == 0:
        out["ok"] = out["max_hz"] < RATE_TOLERANCE_HZ
        return out
    # Per-trial population rates are independent across trials within a simulator.
    per_trial = (counts.sum(axis=1) - theirs.sum(axis=1)) / workload.duration / workload.n
    se = float(np.std(per_trial, ddof=1) / np.sqrt(len(per_trial))) if len(per_trial) > 1 else np.inf
    mean = float(diff.mean())
    out.update(mean_hz=mean, se_hz=se, z=mean / se if se > 0 else 0.0)
    out["ok"] = abs(out["z"]) <= NOISE_Z_LIMIT and abs(mean) < RATE_TOLERANCE_HZ
    return out


def measure(workload: Workload, repeats: int) -> dict:
    """One row: our times (threads, 1 thread), Brian2's per target, the agreement."""
    seconds, result = ours(workload, repeats)
    row = {"workload": workload, "ours_s": seconds,
           "ours_1t_s": ours_single_thread(workload, repeats),
           "spikes_per_trial": float(result.counts.sum() / workload.trials)}
    net = workload.network()
    v0 = workload.initial_voltages(net)
    for target in TARGETS:
        progress(f"  Brian2 {target}")
        theirs = run_brian2(net, v0, workload.duration, DT, target, noise_std=workload.noise_std)
        row[target] = {"run_s": theirs["run_s"], "build_s": theirs["build_s"],
                       **agreement(workload, result.counts, theirs["counts"])}
        row["brian2"] = theirs["brian2"]
    return row


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def markdown(rows, prov, threads: int) -> str:
    lines = ["# Float simulator vs Brian2 (cython and cpp_standalone), every workload", "",
             "Generated by `benchmarks/float_simulator.py`. Tuned nLIF networks, exponential "
             f"synapses tau_s = {TAU_S * 1e3:g} ms, dt = {DT * 1e3:g} ms, identical initial "
             "voltages. Times are the simulation only (Brian2: the run loop; its build, code "
             "generation and compilation apart). Ratio = Brian2 run time / ours "
             f"({threads} threads); '1 thread' = ours with NUMBA_NUM_THREADS=1.", "",
             "| workload | N | simulated (s) | trials | spikes/trial | ours (s) | ours 1 thread (s) "
             "| cython (s) | ratio | cpp_standalone (s) | ratio | ratio 1 thread | rates vs Brian2 |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        w, cy, cpp = r["workload"], r["cython"], r["cpp_standalone"]
        if w.noise_std:
            agree = (f"mean diff {cpp['mean_hz']:+.3f} ± {cpp['se_hz']:.3f} Hz (z {cpp['z']:+.1f}), "
                     f"max {cpp['max_hz']:.2f} Hz (cpp); {cy['mean_hz']:+.3f} ± {cy['se_hz']:.3f} "
                     "Hz (cython)")
        else:
            same = cy["identical"] and cpp["identical"]
            agree = ("counts identical" if same else
                     f"max {max(cy['max_hz'], cpp['max_hz']):.3f} Hz")
        lines.append(
            f"| {w.label} | {w.n} | {w.duration:g} | {w.trials} | {r['spikes_per_trial']:,.0f} | "
            f"{r['ours_s']:.4f} | {r['ours_1t_s']:.4f} | {cy['run_s']:.2f} | "
            f"{cy['run_s'] / r['ours_s']:,.0f}x | {cpp['run_s']:.3f} | "
            f"{cpp['run_s'] / r['ours_s']:,.1f}x | {cpp['run_s'] / r['ours_1t_s']:,.1f}x | "
            f"{agree}{'' if cy['ok'] and cpp['ok'] else ' **FAIL**'} |")
    builds = ", ".join(f"{r['workload'].label} N={r['workload'].n}: cython "
                       f"{r['cython']['build_s']:.0f} s, cpp {r['cpp_standalone']['build_s']:.0f} s"
                       for r in rows)
    lines += ["", f"- Brian2 build + compile + (cpp) program start and readback, not in the "
              f"ratios: {builds}.",
              "- Noise: sigma = "
              f"{NOISE_STD:g} reset depth per square-root second, added after the deterministic "
              "part of each step in both simulators (different generators, so the comparison is "
              "statistical: per-trial population rates, paired by trial index).",
              f"- ratio 1 thread = cpp_standalone run time / ours on one thread (Brian2 runs "
              "single-threaded)."]
    if os.getloadavg()[0] > (os.cpu_count() or 1):
        lines += ["- The load average exceeded the core count during this run (a shared "
                  "machine); all times include that contention."]
    lines += provenance_lines(prov)
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true",
                        help="durations / 10, at most 4 trials; nothing written unless --out")
    parser.add_argument("--out", default=None, help=f"markdown output (default {RESULTS})")
    parser.add_argument("--only", default=None,
                        help="comma-separated row numbers (0-based) to run, e.g. 3,5")
    parser.add_argument("--ours-json", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.ours_json:  # single-thread timing subprocess
        cfg = json.loads(args.ours_json)
        repeats = cfg.pop("repeats")
        seconds, _ = ours(Workload(**cfg), repeats)
        print(json.dumps({"seconds": seconds}))
        return 0

    import numba

    workloads = [w.scaled(0.1, 4) if args.quick else w for w in WORKLOADS]
    if args.only:
        workloads = [workloads[int(k)] for k in args.only.split(",")]
    prov = provenance()
    threads = min(numba.config.NUMBA_NUM_THREADS, os.cpu_count() or 1)
    rows = []
    for w in workloads:
        progress(f"{w.label}, N = {w.n}, {w.duration:g} s, {w.trials} trials")
        rows.append(measure(w, repeats=3))
    prov["brian2"] = rows[0]["brian2"]
    text = markdown(rows, prov, threads)
    print(text)
    out = args.out or (None if (args.quick or args.only) else RESULTS)
    if out:
        write_result(out, text)
    return 0 if all(r[t]["ok"] for r in rows for t in TARGETS) else 1


if __name__ == "__main__":
    sys.exit(main())
