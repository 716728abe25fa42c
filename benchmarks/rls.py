"""RLS-trained recurrent networks: training speed, chip budget, capacity and learning error.

1. Training throughput of :func:`lava_causal.rls.train` (numba: the trial loop compiled,
   the neurons' RLS updates in parallel) against a NumPy implementation of the same
   equations (vectorized over neurons: the batched K x K products with ``einsum``), the
   same network, task and initial voltages, measured in the same run; the weights of
   the two after one trial are compared.
2. The chip budget of the N = 200 sinusoid network at dt = 0.1, 0.2 and 0.5 ms (16 paired
   trials, :func:`lava_causal.rls.pattern_budget`).
3. Capacity: the pattern error against N and pattern duration (smooth random targets,
   timescale 100 ms), float and Loihi 2 emulator; and the learning error against the
   synaptic time constant (N = 200, 1 s, timescale 50 ms).

Usage::

    python benchmarks/rls.py           # writes results/rls.md and results/rls_capacity.png (~10 min)
    python benchmarks/rls.py --quick   # throughput only, prints
"""
from __future__ import annotations

import argparse
import math
import sys
import time
import warnings

import numpy as np

from _common import RESULTS_DIR, provenance, provenance_lines, publish
from compiler import QuantizationWarning
from lava_causal.rls import pattern_budget, random_network, sinusoids, train
from lava_causal.rls.capacity import capacity, synaptic_sweep
from lava_causal.rls.experiment import TEST_SEED_OFFSET
from lava_causal.rls.simulation import initial_voltages, trial_layout

RESULTS = RESULTS_DIR / "rls.md"
FIGURE = RESULTS_DIR / "rls_capacity.png"


def numpy_train(network, task, trials, dt=1e-4, learn_every=2e-3, regularization=1.0, seed=0):
    """The RLS of :mod:`lava_causal.rls.dynamics` in NumPy (the reference)."""
    n, k = network.n, network.k
    stim_steps, pattern_steps, _ = trial_layout(task, dt)
    every = int(round(learn_every / dt))
    targets = task.drive_at(np.arange(0, pattern_steps, every) * dt)
    omega_t = network.omega.T.copy()
    pre = network.presynaptic
    rows = np.repeat(np.arange(n), k).reshape(n, k)
    p = np.broadcast_to(np.eye(k) / regularization, (n, k, k)).copy()
    a_m, a_s = math.exp(-dt / network.tau_m), math.exp(-dt / network.tau_s)
    v0 = initial_voltages(seed + 1_000_003, trials, n)
    for trial in range(trials):
        v, x, u = v0[trial].copy(), np.zeros(n), np.zeros(n)
        for t in range(stim_steps + pattern_steps):
            drive = network.bias + u + (task.stimulus if t < stim_steps else 0.0)
            v = a_m * v + (1 - a_m) * drive
            spiked = np.flatnonzero(v > 1.0)
            v[spiked] = 0.0
            x *= a_s
            u *= a_s
            x[spiked] += 1.0
            u += omega_t[spiked].sum(0)
            since = t - stim_steps
            if since >= 0 and since % every == 0 and since // every < len(targets):
                r = x[pre]
                pr = np.einsum("nab,nb->na", p, r)
                c = 1.0 / (1.0 + (r * pr).sum(1))
                err = u - targets[since // every]
                w = omega_t[pre, rows] - (err * c)[:, None] * pr
                omega_t[pre, rows] = w
                p -= c[:, None, None] * pr[:, :, None] * pr[:, None, :]
                u = (w * r).sum(1)
    return omega_t.T


def throughput(n=200, trials=2):
    net = random_network(n, connectivity=0.3, gain=0.2, seed=1)
    task = sinusoids(n, duration=1.0, seed=2)
    train(net, task, trials=1, progress=False)   # compile
    start = time.perf_counter()
    ours = train(net, task, trials=trials, progress=False)
    t_ours = time.perf_counter() - start
    start = time.perf_counter()
    ref = numpy_train(net, task, trials)
    t_ref = time.perf_counter() - start
    one = train(net, task, trials=1, progress=False).network.omega
    diff = float(np.abs(one - numpy_train(net, task, 1)).max() / np.abs(one).max())
    seconds = trials * (task.duration + task.stimulus_duration)
    return [f"| RLS training, N = {n}, K = {net.k}, {trials} trials x {seconds / trials:.2f} s, dt = 0.1 ms, "
            f"update every 2 ms | {t_ours:.2f} s ({seconds / t_ours:.2f} model s/s) | {t_ref:.2f} s "
            f"({seconds / t_ref:.2f} model s/s) | {t_ref / t_ours:.1f}x |"], diff, ours, ref


def budgets(seed=0):
    net = random_network(200, connectivity=0.3, gain=0.2, seed=seed)
    task = sinusoids(200, duration=1.0, seed=seed + 1)
    trained = train(net, task, trials=20, seed=seed, progress=False).network
    out = []
    for dt in (1e-4, 2e-4, 5e-4):
        b = pattern_budget(trained, task, "loihi2", dt, trials=16, seed=seed + TEST_SEED_OFFSET)
        out += ["", f"Loihi 2 at dt = {dt * 1e3:g} ms (16 paired trials; costliest effect: {b.costliest()}):", "",
                b.table()]
    return out


def figure(cap, sweep):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from lava_causal.plots import save_figure

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    for n in sorted({r["n"] for r in cap.rows}):
        rows = [r for r in cap.rows if r["n"] == n]
        d = [r["duration_s"] for r in rows]
        line, = a.plot(d, [r["float_normalised_error"] for r in rows], "o-", label=f"N = {n}, float")
        a.plot(d, [r["chip_normalised_error"] for r in rows], "s--", color=line.get_color(), label=f"N = {n}, chip")
    a.set_xscale("log")
    a.set_xlabel("pattern duration (s)")
    a.set_ylabel("normalised rate error (PSTH)")
    a.legend(fontsize=7)
    a.set_title("capacity: smooth random targets (100 ms)")
    taus = [r["tau_s"] * 1e3 for r in sweep.rows]
    b.errorbar(taus, [r["float_drive_error"] for r in sweep.rows],
               yerr=np.array([[r["float_drive_error"] - r["float_drive_error_ci95"][0],
                               r["float_drive_error_ci95"][1] - r["float_drive_error"]] for r in sweep.rows]).T,
               fmt="o-")
    b.set_xscale("log")
    b.set_xlabel("synaptic time constant (ms)")
    b.set_ylabel("drive error |u - f| / |f| (float)")
    b.set_title("learning error against tau_s (N = 200, targets 50 ms)")
    return save_figure(fig, FIGURE)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", QuantizationWarning)
    rows, diff, _, _ = throughput(100 if args.quick else 200, 1 if args.quick else 2)
    lines = ["# RLS-trained recurrent networks", "", "Generated by `benchmarks/rls.py`.", "",
             "| workload | lava_causal.rls (numba) | NumPy reference (same equations) | ratio |", "|---|---|---|---|",
             *rows, "", f"Weights after one trial, both implementations: largest difference {diff:.1e} of the "
             "largest weight."]
    if not args.quick:
        start = time.perf_counter()
        lines += ["", "## Chip budget (sinusoids, N = 200, K = 60, trained 20 trials)"] + budgets()
        cap = capacity(progress=False)
        sweep = synaptic_sweep(progress=False)
        lines += ["", "## Capacity: smooth random targets (timescale 100 ms), 20 training trials, 8 test trials, "
                  "Loihi 2 emulator at dt = 0.2 ms", "", cap.table(("n", "duration_s")), "",
                  "## Learning error against the synaptic time constant (N = 200, 1 s, timescale 50 ms)", "",
                  sweep.table(("tau_s",)), "", f"Figure: `{FIGURE.name}`. Part 2-3 took "
                  f"{time.perf_counter() - start:.0f} s."]
        figure(cap, sweep)
    return publish(RESULTS, "\n".join(lines + provenance_lines(provenance())) + "\n", not args.quick)


if __name__ == "__main__":
    sys.exit(main())
