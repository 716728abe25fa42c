"""Shared pieces of the reproductions: runs, error curves, slopes, output files."""
from __future__ import annotations

import argparse
import json
import os
import warnings

import numpy as np

import compiler
from compiler.system.files import write_json

from .. import metrics
from ..plots import save_figure
from ..provenance import versions
from ..simulator import simulate

FLOAT_DT = 1e-5
CHIP_DT = 1e-4
SIMULATION_SEED_OFFSET = 1000
"""Simulations use ``seed + 1000``: tasks built with ``seed`` draw from the same
generator and would correlate features and initial voltages."""


class Output:
    """The output folder of one experiment: figures and one JSON of numbers."""

    def __init__(self, out, name: str, quick: bool, seed: int):
        self.folder = os.path.abspath(os.fspath(out))
        self.name = name
        self.settings = {"experiment": name, "quick": quick, "seed": seed, "float_dt": FLOAT_DT,
                         "chip_dt": CHIP_DT, "versions": versions()}
        self.files = []

    def figure(self, fig, stem: str) -> str:
        path = save_figure(fig, os.path.join(self.folder, f"{stem}.png"))
        self.files.append(path)
        return path

    def write(self, numbers: dict) -> dict:
        """Write ``<name>.json`` with the numbers, settings and figure paths."""
        record = {"numbers": numbers, "settings": self.settings, "figures": self.files}
        path = os.path.join(self.folder, f"{self.name}.json")
        write_json(path, record)
        record["json"] = path
        return record


def float_run(network, duration, trials, seed, window=None, record=False, noise_std=0.0, dt=FLOAT_DT):
    """:func:`lava_causal.simulate` with the reproduction's seed convention, cascade
    warnings silenced (their counts are in ``truncated_steps``)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return simulate(network, duration, dt=dt, trials=trials, seed=seed + SIMULATION_SEED_OFFSET,
                        window=window, record_spikes=record, noise_std=noise_std)


def chip_rates(network, duration, trials, seed, hw="loihi2", dt=CHIP_DT, **options):
    """Rates (trials, N) of ``network`` compiled for ``hw`` on the bit-exact emulator."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", compiler.QuantizationWarning)
        fixed = compiler.compile(network, hw=hw, dt=dt, **options)
    steps = int(round(duration / dt))
    return compiler.emulate(fixed, steps, trials=trials, seed=seed + SIMULATION_SEED_OFFSET).rates


mean_metrics = metrics.trial_means
"""Trial means of every metric (:func:`lava_causal.metrics.trial_means`)."""


def cumulative_curve(counts_per_window, window, fn):
    """``fn(rates)`` of the cumulative rates n(T)/T at the end of each window, per
    trial: returns times (W,) and values (trials, W)."""
    cum = np.cumsum(np.asarray(counts_per_window, float), axis=1)
    times = window * np.arange(1, cum.shape[1] + 1)
    rates = cum / times[None, :, None]
    return times, np.array([[fn(rates[t, w]) for w in range(cum.shape[1])] for t in range(cum.shape[0])])


def loglog_slope(times, errors, t_min=None) -> float:
    """Least-squares slope of log(mean error) against log T (from ``t_min`` on)."""
    times = np.asarray(times, float)
    mean = np.asarray(errors, float).reshape(-1, times.size).mean(axis=0)
    keep = (mean > 0) & (times >= (t_min if t_min is not None else times[0]))
    return float(np.polyfit(np.log(times[keep]), np.log(mean[keep]), 1)[0])


def windowed_angular_errors(problem, counts_per_window, window) -> np.ndarray:
    """Angular error (deg) of the rates in each single window, shape (trials, W)."""
    rates = np.asarray(counts_per_window, float) / window
    return np.array([[metrics.angular_error(problem, r) for r in trial] for trial in rates])


def main_for(module_run, description: str, argv=None) -> int:
    """The command line of an ``examples/figN_*.py`` script."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="small version, seconds")
    parser.add_argument("--out", default="out/reproduction", help="output folder")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.seed < 0:
        parser.error(f"--seed must be >= 0, got {args.seed}")
    record = module_run(args.out, quick=args.quick, seed=args.seed)
    print(json.dumps(record["numbers"], indent=1, default=float))
    print(f"wrote {record['json']} and {len(record['figures'])} figure(s)")
    return 0
