r"""Capacity and learning error: pattern error against network size, pattern duration
and synaptic time constant, in float and on the chip.

Kim & Chow (2018) find that the longest pattern a network learns grows with its size,
and that the learning error has two sources: a synaptic drive too slow to follow the
target (large :math:`\tau_s` against the target's timescale) and spike-train
fluctuations (small :math:`\tau_s`, few spikes per filter time). Here both are
measured with :func:`~lava_causal.targets.smooth_random` targets (random smooth
patterns, whose information grows with their duration):

* :func:`capacity`: for each N and duration, train (same preset, same seeds) and score
  ``test_trials`` test trials in float and, with ``chip``, on the emulator;
* :func:`synaptic_sweep`: for each :math:`\tau_s` at one N and duration.

Every row carries the drive error (float: RMS of :math:`u - f` over the pattern
divided by the target's RMS, mean over trials with a 95 % interval) and the rate
scores of :mod:`lava_causal.rls.patterns` (float and chip). Cost: one training per
row, :math:`O(\text{trials} \times \text{duration}/\Delta t_{\text{learn}} \times 3NK^2)`
flops.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import List

import numpy as np
from tqdm.auto import tqdm

from ..provenance import versions
from ..statistics import mean_ci
from .deploy import compile_trained, run_chip
from .model import random_network
from .patterns import score
from .simulation import simulate
from .targets import smooth_random
from .training import train


def drive_error(drive, task) -> np.ndarray:
    """Per trial, :math:`|u - f| / |f|` over the pattern (RMS over time and neurons)."""
    d = np.asarray(drive, float)
    return np.sqrt(((d - task.drive[None]) ** 2).mean(axis=(1, 2)) / (task.drive ** 2).mean())


@dataclass(frozen=True, eq=False)
class CapacityResult:
    """Rows (one dict per setting) and how they were made."""

    rows: List[dict]
    settings: dict = field(default_factory=dict)

    def table(self, keys=("n", "duration_s", "tau_s")) -> str:
        """A Markdown table of the rows."""
        shown = [k for k in keys if k in self.rows[0]]
        head = shown + ["float drive error [95 % CI]", "float PSTH correlation", "chip PSTH correlation",
                        "float rate error", "chip rate error"]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for r in self.rows:
            chip_c = f"{r['chip_correlation']:.3f}" if "chip_correlation" in r else "-"
            chip_e = f"{r['chip_normalised_error']:.3f}" if "chip_normalised_error" in r else "-"
            lines.append("| " + " | ".join(f"{r[k]:g}" for k in shown) +
                         f" | {r['float_drive_error']:.3f} [{r['float_drive_error_ci95'][0]:.3f}, "
                         f"{r['float_drive_error_ci95'][1]:.3f}] | {r['float_correlation']:.3f} | {chip_c} | "
                         f"{r['float_normalised_error']:.3f} | {chip_e} |")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"rows": self.rows, "settings": self.settings}


def _row(n, duration, tau_s, timescale, connectivity, train_trials, test_trials, dt, seed, chip, hw, chip_dt):
    network = random_network(n, connectivity=connectivity, gain=0.2, tau_s=tau_s, seed=seed)
    task = smooth_random(n, duration, timescale, seed=seed + 1)
    start = time.perf_counter()
    result = train(network, task, trials=train_trials, dt=dt, seed=seed, progress=False)
    trained = result.network
    run = simulate(trained, task, test_trials, dt, seed + 17)
    errors = drive_error(run.drive, task)
    s = score(run.filtered, task, trained)
    row = {"n": n, "k": trained.k, "duration_s": duration, "tau_s": tau_s,
           "float_drive_error": float(errors.mean()), "float_drive_error_ci95": list(mean_ci(errors)),
           "float_correlation": s.correlation, "float_correlation_ci95": list(s.correlation_ci),
           "float_normalised_error": s.normalised_error, "training_rms_error_last": float(result.error[-1])}
    if chip:
        fixed = compile_trained(trained, task, hw, chip_dt)
        filtered, _ = run_chip(fixed, trained, task, test_trials, seed + 17)
        c = score(filtered, task, trained)
        row.update(chip_correlation=c.correlation, chip_correlation_ci95=list(c.correlation_ci),
                   chip_normalised_error=c.normalised_error)
    row["seconds"] = time.perf_counter() - start
    return row


def _settings(**kwargs) -> dict:
    return {**kwargs, "versions": versions(), "targets": "smooth_random"}


def capacity(sizes=(50, 100, 200), durations=(0.5, 1.0, 2.0, 4.0), timescale: float = 0.1,
             connectivity: float = 0.3, tau_s: float = 0.05, train_trials: int = 20, test_trials: int = 8,
             dt: float = 1e-4, chip: bool = True, hw="loihi2", chip_dt: float = 2e-4, seed: int = 0,
             progress=None) -> CapacityResult:
    """Pattern error for every (N, duration) (module docstring)."""
    grid = [(n, d) for n in sizes for d in durations]
    rows = [_row(n, d, tau_s, timescale, connectivity, train_trials, test_trials, dt, seed, chip, hw, chip_dt)
            for n, d in tqdm(grid, desc="capacity", disable=progress is False)]
    return CapacityResult(rows, _settings(sizes=list(sizes), durations=list(durations), timescale=timescale,
                                          connectivity=connectivity, tau_s=tau_s, train_trials=train_trials,
                                          test_trials=test_trials, dt=dt, chip=chip, hw=str(hw), chip_dt=chip_dt,
                                          seed=seed))


def synaptic_sweep(taus=(0.005, 0.01, 0.02, 0.05, 0.1, 0.2), n: int = 200, duration: float = 1.0,
                   timescale: float = 0.05, connectivity: float = 0.3, train_trials: int = 20,
                   test_trials: int = 8, dt: float = 1e-4, chip: bool = False, hw="loihi2",
                   chip_dt: float = 2e-4, seed: int = 0, progress=None) -> CapacityResult:
    """Pattern error for every synaptic time constant (module docstring)."""
    rows = [_row(n, duration, tau, timescale, connectivity, train_trials, test_trials, dt, seed, chip, hw, chip_dt)
            for tau in tqdm(taus, desc="tau_s sweep", disable=progress is False)]
    return CapacityResult(rows, _settings(taus=list(taus), n=n, duration=duration, timescale=timescale,
                                          connectivity=connectivity, train_trials=train_trials,
                                          test_trials=test_trials, dt=dt, chip=chip, hw=str(hw),
                                          chip_dt=chip_dt, seed=seed))
