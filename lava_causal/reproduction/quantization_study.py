"""The paper's tasks on Loihi 1, Loihi 2 and the hypothetical 16-bit-weight target.

For each task and target: the chip's (bit-exact emulator) relative rate error, percent
error and angular error next to the float network's, same duration and trials, plus
the distance of the quantized problem's own optimum r_q from r* (what the weight
precision forces, independent of dynamics). Defaults of ``compiler.compile`` (dt =
0.1 ms, automatic weight splits, compensations on).
"""
from __future__ import annotations

import warnings

import matplotlib.pyplot as plt
import numpy as np
from tqdm.auto import tqdm

import compiler

from .. import tasks
from ..network import build_network
from .common import CHIP_DT, SIMULATION_SEED_OFFSET, Output, float_run, mean_metrics

NAME = "quantization_study"
TASK_NAMES = ("discrimination", "mixture", "approximation", "four_cause_mixture")
TARGETS = ("loihi1", "loihi2", "wide16")


def run(out, quick=False, seed=0, progress=True) -> dict:
    trials, duration = (2, 1.0) if quick else (16, 5.0)
    output = Output(out, NAME, quick, seed)
    output.settings.update(trials=trials, duration=duration, targets=TARGETS)
    numbers = {}
    jobs = [(t, h) for t in TASK_NAMES for h in (None,) + TARGETS]
    for task, hw in tqdm(jobs, desc="quantization", disable=not progress):
        problem = tasks.TASKS[task](seed)
        r_star = problem.map_estimate()
        network = build_network(problem, tau_syn=5e-3)
        entry = numbers.setdefault(task, {})
        if hw is None:
            entry["float"] = mean_metrics(problem, float_run(network, duration, trials, seed).rates, r_star)
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", compiler.QuantizationWarning)
            fixed = compiler.compile(network, hw=hw, dt=CHIP_DT)
        chip = compiler.emulate(fixed, int(round(duration / CHIP_DT)), trials=trials,
                                seed=seed + SIMULATION_SEED_OFFSET)
        r_q = compiler.effective_rates(fixed).rates
        entry[hw] = {**mean_metrics(problem, chip.rates, r_star), "weight_splits": len(fixed.weights),
                     "r_q_vs_r_star": float(np.linalg.norm(r_q - r_star) / np.linalg.norm(r_star))}
    fig, ax = plt.subplots(figsize=(8, 4))
    columns = ("float",) + TARGETS
    for k, col in enumerate(columns):
        ax.bar(np.arange(len(TASK_NAMES)) + 0.2 * (k - 1.5),
               [numbers[t][col]["percent_error"] for t in TASK_NAMES], 0.2, label=col)
    ax.set_xticks(range(len(TASK_NAMES)))
    ax.set_xticklabels(TASK_NAMES)
    ax.set_yscale("log")
    ax.set_ylabel("percent error 100 |mu - U r| / |mu|")
    ax.legend()
    output.figure(fig, NAME)
    return output.write(numbers)
