"""Speed of the bit-exact emulator against Lava's fixed_pt CPU models, same network.

The network is what the compiler emits for a causal-inference task (hand-picked
integers, no quantizer needed): N neurons with dense all-to-all inhibition split over
two Dense processes (coarse 8-bit weights at ``weight_exp = 1`` and an even fine part
at ``weight_exp = -6``), exponential synapses (du = 80, (du + 1)/4096 ~ dt / 5 ms),
dt = 0.1 ms, one neuron driven at ~50 Hz and the others biased just below what its
inhibition cancels (marginal, as in the discrimination task). 2000 steps = 0.2 s.

Both backends start from the same seeded initial voltages and must give identical
spike counts (exit status 1 otherwise). Emulator times exclude numba compilation (a
warm-up run comes first). A Lava time is one ``run_lava`` call: build + Lava
compilation + process startup + execution + readout, with the execution alone also
shown. Both are the best of several repeats (the machine may be shared; the load
average is recorded).

Usage::

    python benchmarks/emulator_vs_lava.py            # N = 100 and 1000, writes results/
    python benchmarks/emulator_vs_lava.py --quick    # N = 50, 200 steps, prints only
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from compiler import FixedPointNetwork, emulate, run_lava  # noqa: E402
from lava_causal.provenance import versions  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "emulator_vs_lava.md"
VTH = 2 ** 14          # threshold mantissa: effective threshold S = 2^20
DU = 80                # (du + 1) / 4096 = 0.0198 ~ 0.1 ms / 5 ms
DT = 1e-4
TARGET_RATE = 50.0     # Hz


def causal_like_network(n: int, seed: int = 0) -> FixedPointNetwork:
    """The benchmark network (module docstring) with ``n`` neurons."""
    rng = np.random.default_rng(seed)
    scale = VTH << 6
    decay = (DU + 1) / 4096
    overlap = rng.uniform(0.6, 0.9, (n, n))               # like u_i . u_j of Fig. 2
    overlap = (overlap + overlap.T) / 2
    np.fill_diagonal(overlap, 0.0)
    charge = -scale * overlap * decay / 64                 # Dense input per spike
    coarse = np.round(charge / 2)                          # weight_exp 1, inhibitory
    fine = 2 * np.round((charge - 2 * coarse) * 32)        # weight_exp -6, even: mixed
    steps_per_spike = 1.0 / (TARGET_RATE * DT)
    drive = scale / steps_per_spike                        # the target's bias per step
    bias = overlap[:, 0] * drive * 0.995                   # others: just below cancelled
    bias[0] = drive
    bias_exp = np.where(bias > 4095, 1, 0)
    return FixedPointNetwork(weights=(coarse, fine), weight_exps=(1, -6),
                             bias_mant=np.round(bias / 2.0 ** bias_exp), bias_exp=bias_exp,
                             vth=VTH, du=DU, dv=0, dt=DT, hw_name="loihi2",
                             info={"benchmark": "causal-like, all-to-all inhibition"})


EMU_REPEATS = 20
LAVA_REPEATS = 3


def best_of(repeats, run):
    """The smallest wall time of ``repeats`` calls of ``run()`` and the last result."""
    best, result = np.inf, None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - t0)
    return best, result


def benchmark(n, steps, seed=0, emu_repeats=EMU_REPEATS, lava_repeats=LAVA_REPEATS):
    """One row: wall times of both backends on the N-neuron network."""
    fixed = causal_like_network(n, seed)
    emulate(fixed, 10, seed=seed)  # warm-up: numba compilation / cache load
    emu_s, emu = best_of(emu_repeats, lambda: emulate(fixed, steps, seed=seed))
    lava_runs = [run_lava(fixed, steps, seed=seed) for _ in range(lava_repeats)]
    return {"n": n, "steps": steps, "emu_s": emu_s,
            "lava_s": min(r.wall_time for r in lava_runs),
            "lava_exec_s": min(r.provenance["execute_s"] for r in lava_runs),
            "spikes": int(emu.counts.sum()), "target_hz": float(emu.rates[0, 0]),
            "identical": all(np.array_equal(emu.counts, r.counts) for r in lava_runs)}


def provenance() -> dict:
    """Machine and package versions."""
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"date": datetime.datetime.now().isoformat(timespec="seconds"),
            "platform": platform.platform(), "cpu": cpu, "cores": os.cpu_count(),
            "load average (1, 5, 15 min)": ", ".join(f"{x:.2f}" for x in os.getloadavg()),
            **versions()}


def markdown(rows, prov) -> str:
    """The results table with provenance and method notes."""
    lines = ["# Emulator vs Lava fixed_pt: wall time, same network, identical counts", "",
             "Generated by `benchmarks/emulator_vs_lava.py`. Network: all-to-all inhibition "
             "over two Dense splits (weight_exp 1 and -6), du = 80, dt = 0.1 ms, one neuron "
             f"at ~50 Hz, the rest marginal, one trial. Emulator: best of {EMU_REPEATS} "
             f"after a warm-up run (numba compile time excluded). Lava: best of "
             f"{LAVA_REPEATS} `run_lava` calls (build + compile + startup + execution + "
             f"readout); 'Lava exec' is the execution alone. Ratio = Lava / emulator.", "",
             "| N | steps | spikes | target Hz | emulator (s) | Lava total (s) | Lava exec (s) "
             "| ratio total | ratio exec | counts identical |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['n']} | {r['steps']} | {r['spikes']} | {r['target_hz']:.0f} | "
            f"{r['emu_s']:.4f} | {r['lava_s']:.2f} | {r['lava_exec_s']:.2f} | "
            f"{r['lava_s'] / r['emu_s']:.0f}x | {r['lava_exec_s'] / r['emu_s']:.0f}x | "
            f"{'yes' if r['identical'] else 'NO'} |")
    if os.getloadavg()[0] > (os.cpu_count() or 1):
        lines += ["", "Note: the load average exceeded the core count during this run (a "
                  "shared machine); both backends' times include that contention."]
    lines += ["", "Provenance:", ""] + [f"- {k}: {v}" for k, v in prov.items()]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N = 50, 200 steps, print only")
    parser.add_argument("--output", type=Path, default=None,
                        help="markdown file (default benchmarks/results/emulator_vs_lava.md; "
                             "none with --quick)")
    args = parser.parse_args(argv)
    sizes, steps = ((50,), 200) if args.quick else ((100, 1000), 2000)
    prov = provenance()
    rows = [benchmark(n, steps) for n in sizes]
    text = markdown(rows, prov)
    print(text)
    output = args.output or (None if args.quick else RESULTS)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text)
        print(f"wrote {output}")
    return 0 if all(r["identical"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
