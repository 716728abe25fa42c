"""Benchmark: lava_causal.simulate against Brian2 on the paper's Fig. 2 discrimination task.

Task: ``tasks.discrimination(seed=0)`` (N = M = 100, mu = 50 u_10), the tuned nLIF
network with exponential synapses (tau_s = 5 ms), dt = 0.01 ms, 5 s simulated, 1 and
200 trials with the same initial voltages in both simulators; then a scale run,
N = M = 1000, 10 s, 10 trials.

Brian2 model (runtime mode, codegen target 'cython'): the same equations,
dv/dt = b + I, dI/dt = -I/tau_s, threshold v > theta, reset v -= D, on_pre
I += W/tau_s. Brian2's 'exact' (linear) integrator rejects this non-leaky system (its
matrix is singular), so it is written as Q = v + tau_s I: dQ/dt = b, dI/dt = -I/tau_s,
v = Q - tau_s I, reset Q -= D, on_pre I += w, Q += tau_s w, which Brian2 integrates
exactly with method 'independent' (Q += b dt, I *= exp(-dt/tau_s)). Spikes are counted
in the reset (no monitor). Many trials are independent copies in one NeuronGroup with
block-diagonal synapses (faster than a Python loop of networks).

Timings: wall clock of the simulation only. Ours: best of several calls after a first
call that loads numba's on-disk cache (or compiles; reported separately). Brian2:
``Network.run`` after a zero-length run that compiled or loaded its Cython code;
building the network (synapse creation) is reported separately. Brian2 runs
single-threaded; ours runs trials in parallel threads, so many-trial rows are also
given with one thread (a subprocess with NUMBA_NUM_THREADS=1).

Run: ``.venv/bin/python benchmarks/float_simulator.py`` (writes
``benchmarks/results/float_simulator.md``); ``--quick`` for a tiny check.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np

import numba
from _common import cpu_model, write_result
from lava_causal import build_network, metrics, simulate, tasks

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "float_simulator.md")
TAU_S = 5e-3
DT = 1e-5
FULL = {"duration": 5.0, "trials": 200, "scale_n": 1000, "scale_duration": 10.0, "scale_trials": 10}
QUICK = {"duration": 0.2, "trials": 4, "scale_n": 200, "scale_duration": 0.5, "scale_trials": 2}


def problem_and_voltages(n, trials, task="discrimination"):
    """A task of size n (seed 0), its network and fixed initial voltages."""
    problem = getattr(tasks, task)(seed=0, n=n, m=n)
    net = build_network(problem, tau_syn=TAU_S)
    return problem, net, net.initial_voltages(np.random.default_rng(0), trials)


def time_ours(net, duration, v0, repeats):
    """Best wall time of ``repeats`` calls, and the last result."""
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        result = simulate(net, duration, dt=DT, v0=v0, trials=len(v0))
        best = min(best, time.perf_counter() - start)
    return best, result


def time_ours_single_thread(n, duration, trials, repeats):
    """time_ours in a subprocess limited to one numba thread."""
    env = {**os.environ, "NUMBA_NUM_THREADS": "1"}
    config = json.dumps({"n": n, "duration": duration, "trials": trials, "repeats": repeats})
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--ours-json", config],
                         env=env, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["seconds"]


def brian2_run(net, v0, duration, target):
    """Simulate with Brian2; returns (counts (trials, N), run seconds, build seconds)."""
    import brian2 as b2

    b2.prefs.codegen.target = target
    b2.BrianLogger.suppress_name("deprecated_independent")
    trials, n = v0.shape
    start = time.perf_counter()
    namespace = {"tau_s": net.tau_syn * b2.second}
    neurons = b2.NeuronGroup(
        trials * n,
        """dQ/dt = b : 1
        dI/dt = -I/tau_s : Hz
        v = Q - tau_s*I : 1
        b : Hz (constant)
        theta : 1 (constant)
        D : 1 (constant)
        n_spikes : integer""",
        threshold="v > theta", reset="Q -= D\nn_spikes += 1", method="independent",
        dt=DT * b2.second, namespace=namespace, name="neurons")
    neurons.Q = v0.ravel()
    neurons.b = np.tile(net.bias, trials) * b2.Hz
    neurons.theta = np.tile(net.thresholds, trials)
    neurons.D = np.tile(net.reset, trials)
    post, pre = np.nonzero(net.weights)
    offset = (np.arange(trials) * n)[:, None]
    synapses = b2.Synapses(neurons, neurons, "w : Hz (constant)",
                           on_pre="I_post += w\nQ_post += tau_s*w", dt=DT * b2.second,
                           namespace=namespace, name="recurrent")
    synapses.connect(i=(pre + offset).ravel(), j=(post + offset).ravel())
    synapses.w = np.tile(net.weights[post, pre] / net.tau_syn, trials) * b2.Hz
    network = b2.Network(neurons, synapses)
    network.run(0 * b2.second)  # code generation / Cython compilation or cache load
    build = time.perf_counter() - start
    start = time.perf_counter()
    network.run(duration * b2.second)
    seconds = time.perf_counter() - start
    counts = np.asarray(neurons.n_spikes[:]).reshape(trials, n)
    return counts, seconds, build


def brian2_target():
    """'cython' when Brian2 can compile and run it here, else 'numpy' (with the reason)."""
    _, net, v0 = problem_and_voltages(100, 1)
    try:
        brian2_run(net, v0, 1e-3, "cython")
        return "cython", ""
    except Exception as exc:  # compiler missing, cache dir not writable, ...
        return "numpy", f"Brian2 Cython target failed ({type(exc).__name__}: {exc}); fell back to 'numpy'"


def compare(ours, theirs, duration, label):
    """Max per-neuron rate difference in Hz; asserts it is below 1 Hz."""
    diff = float(np.max(np.abs(ours - theirs)) / duration)
    assert diff < 1.0, f"{label}: rates differ by {diff:.3f} Hz (> 1 Hz) between simulators"
    return diff


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, nothing written")
    parser.add_argument("--no-brian2-scale", action="store_true",
                        help="skip Brian2 on the N = 1000 scale run")
    parser.add_argument("--out", default=None, help=f"markdown output (default {RESULTS}; "
                        "--quick writes only when given)")
    parser.add_argument("--ours-json", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.ours_json:  # single-thread timing subprocess
        cfg = json.loads(args.ours_json)
        _, net, v0 = problem_and_voltages(cfg["n"], cfg["trials"])
        time_ours(net, 0.01, v0[:1], 1)  # load the numba cache
        seconds, _ = time_ours(net, cfg["duration"], v0, cfg["repeats"])
        print(json.dumps({"seconds": seconds}))
        return

    cfg = QUICK if args.quick else FULL
    out_path = args.out or (None if args.quick else RESULTS)
    lines = []

    def emit(line=""):
        print(line, flush=True)
        lines.append(line)

    def progress(message):
        print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    import brian2
    load_start = os.getloadavg()
    progress("checking Brian2's Cython target")
    target, fallback_note = brian2_target()
    threads = min(numba.config.NUMBA_NUM_THREADS, os.cpu_count() or 1)

    problem, net, v0 = problem_and_voltages(100, cfg["trials"])
    start = time.perf_counter()
    simulate(net, 0.01, dt=DT, v0=v0[:1])
    first_call = time.perf_counter() - start

    T = cfg["duration"]
    rows = []
    progress("1 trial")
    ours1, res1 = time_ours(net, T, v0[:1], 5)
    b_counts, b1, b1_build = brian2_run(net, v0[:1], T, target)
    rows.append(("discrimination, 1 trial", 100, T, 1, f"{ours1:.4f}", f"{b1:.2f}", f"{b1 / ours1:,.0f}x",
                 f"{compare(res1.counts, b_counts, T, '1 trial'):.3f}"))

    progress(f"{cfg['trials']} trials")
    oursk, resk = time_ours(net, T, v0, 3)
    oursk_1t = time_ours_single_thread(100, T, cfg["trials"], 3)
    b_counts, bk, bk_build = brian2_run(net, v0, T, target)
    diff_k = compare(resk.counts, b_counts, T, f"{cfg['trials']} trials")
    rows.append((f"discrimination, {cfg['trials']} trials, {threads} threads", 100, T, cfg["trials"],
                 f"{oursk:.4f}", f"{bk:.2f}", f"{bk / oursk:,.0f}x", f"{diff_k:.3f}"))
    rows.append((f"discrimination, {cfg['trials']} trials, 1 thread", 100, T, cfg["trials"],
                 f"{oursk_1t:.4f}", f"{bk:.2f}", f"{bk / oursk_1t:,.0f}x", f"{diff_k:.3f}"))

    progress("mixture task, 1 trial")
    _, mix_net, mix_v0 = problem_and_voltages(100, 1, "mixture")
    ours_mix, res_mix = time_ours(mix_net, T, mix_v0, 5)
    b_counts, b_mix, _ = brian2_run(mix_net, mix_v0, T, target)
    rows.append(("mixture (dense activity), 1 trial", 100, T, 1, f"{ours_mix:.4f}",
                 f"{b_mix:.2f}", f"{b_mix / ours_mix:,.0f}x",
                 f"{compare(res_mix.counts, b_counts, T, 'mixture'):.3f}"))

    n_big, T_big, k_big = cfg["scale_n"], cfg["scale_duration"], cfg["scale_trials"]
    big_problem, big_net, big_v0 = problem_and_voltages(n_big, k_big)
    progress(f"scale run, N = {n_big}")
    ours_big, res_big = time_ours(big_net, T_big, big_v0, 2)
    if args.no_brian2_scale:
        rows.append((f"discrimination (scale), {threads} threads", n_big, T_big, k_big, f"{ours_big:.3f}",
                     "not run", "", ""))
        big_build = None
    else:
        b_counts, b_big, big_build = brian2_run(big_net, big_v0, T_big, target)
        rows.append((f"discrimination (scale), {threads} threads", n_big, T_big, k_big, f"{ours_big:.3f}",
                     f"{b_big:.2f}", f"{b_big / ours_big:,.0f}x",
                     f"{compare(res_big.counts, b_counts, T_big, 'scale'):.3f}"))

    emit("# Float simulator vs Brian2")
    emit()
    emit(f"Fig. 2 tasks (`tasks.discrimination(seed=0)`, mu = 50 u_10: one neuron fires at "
         f"50 Hz; `tasks.mixture(seed=0)`: all 100 neurons active, ~{res_mix.counts.sum() / T:.0f} "
         f"spikes/s), tuned nLIF network, exponential synapses tau_s = {TAU_S * 1e3:g} ms, "
         f"dt = {DT * 1e3:g} ms, identical initial voltages in both simulators.")
    emit()
    emit(f"| run | N | simulated (s) | trials | ours (s) | Brian2 '{target}' (s) | speed-up "
         "| max rate difference (Hz) |")
    emit("|---|---|---|---|---|---|---|---|")
    for row in rows:
        emit("| " + " | ".join(str(x) for x in row) + " |")
    emit()
    emit("- Wall-clock time of the simulation only. Ours: best of several calls; numba's "
         f"compile or cache load is excluded (first call in this process: {first_call:.2f} s). "
         "Brian2: `Network.run` after a zero-length run that generated and compiled (or "
         f"cache-loaded) its code; building the network took {b1_build:.2f} s (1 trial), "
         f"{bk_build:.2f} s ({cfg['trials']} trials)"
         + ("" if big_build is None else f", {big_build:.2f} s (scale)") + ", excluded.")
    emit("- Brian2 runs single-threaded; its many-trial runs are independent copies in one "
         "NeuronGroup with block-diagonal synapses. Ours runs trials in parallel threads; "
         "the 1-thread row is a subprocess with NUMBA_NUM_THREADS=1.")
    emit("- Brian2 model: Q = v + tau_s I, dQ/dt = b, dI/dt = -I/tau_s, v = Q - tau_s I, "
         "reset Q -= D, on_pre I += W/tau_s and Q += W (exact, method 'independent'; "
         "'exact' rejects the singular non-leaky system). Spikes counted in the reset.")
    if fallback_note:
        emit(f"- **{fallback_note}.**")
    r_star = problem.map_estimate()
    emit(f"- Accuracy of ours at T = {T:g} s, {cfg['trials']} trials: relative rate error "
         f"{metrics.mean_relative_error(problem, resk.rates, r_star):.4f} (mean_relative_error: mean of per-"
         f"trial errors), percent error {np.mean([metrics.percent_error(problem, r) for r in resk.rates]):.3f} %, "
         f"{np.delete(resk.counts, tasks.TARGET, axis=1).sum(axis=1).mean():.2f} non-target "
         "spikes per trial.")
    big_star = big_problem.map_estimate()
    emit(f"- Scale run (N = M = {n_big}, {T_big:g} s, {k_big} trials): relative rate error "
         f"{metrics.mean_relative_error(big_problem, res_big.rates, big_star):.4f}, "
         f"{res_big.counts.sum() / k_big:.0f} spikes per trial.")
    emit()
    emit("Provenance")
    emit()
    load_end = os.getloadavg()
    for key, value in (
            ("date", time.strftime("%Y-%m-%d %H:%M:%S %Z")),
            ("python", platform.python_version()), ("numpy", np.__version__),
            ("numba", numba.__version__), ("brian2", brian2.__version__),
            ("platform", platform.platform()), ("cpu", cpu_model()),
            ("cpu count", os.cpu_count()), ("numba threads", threads),
            ("load average (1, 5, 15 min) at start / end",
             " / ".join(", ".join(f"{x:.2f}" for x in load) for load in (load_start, load_end))),
            ("mode", "quick" if args.quick else "full")):
        emit(f"- {key}: {value}")
    if out_path:
        write_result(out_path, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
