"""The whole path for one task, as the example and ``lava-causal rls`` run it: build,
train, score in float, compile, run on the chip, score, and (optionally) the budget.

The presets (:data:`PRESETS`) are the settings measured to train each kind of task:
a weak random network for sinusoids and rate patterns, an inhibition-dominated
irregular one (8.6 Hz, trial-to-trial drive correlation 0.07 before training) whose
own trajectory is the innate target, with a stronger RLS prior (lambda = 10).
"""
from __future__ import annotations

import time

import numpy as np

from ..provenance import versions
from ..statistics import mean_ci
from . import targets
from .innate import innate
from .budget import pattern_budget
from .deploy import compile_trained, run_chip
from .model import random_network
from .patterns import drive_correlation, score
from .simulation import simulate
from .training import TrainingResult, train

TASKS = ("sinusoids", "innate", "heterogeneous")
PRESETS = {
    "sinusoids": {"gain": 0.2, "mean": 0.0, "bias": 1.2, "regularization": 1.0},
    "innate": {"gain": 0.7, "mean": -5.0, "bias": 2.0, "regularization": 10.0},
    "heterogeneous": {"gain": 0.2, "mean": 0.0, "bias": 1.2, "regularization": 1.0},
}
TEST_SEED_OFFSET = 17
"""Test trials use seed + this (training trials use their own stream)."""


def make_task(kind: str, network, duration: float, seed: int, period: float = 0.5, amplitude: float = 0.3,
              rates=None, transfer_noise: float = None):
    """The task of ``kind`` for ``network`` (``rates``: a user's (S, N) rate patterns for
    ``heterogeneous`` instead of the generated set)."""
    if kind == "sinusoids":
        return targets.sinusoids(network.n, duration, period, amplitude, seed)
    if kind == "innate":
        return innate(network, duration, seed)
    if kind == "heterogeneous":
        extra = {} if transfer_noise is None else {"transfer_noise": transfer_noise}
        if rates is not None:
            return targets.rate_task(rates, network, seed=seed, **extra)
        return targets.heterogeneous(network, duration, seed, **extra)
    raise ValueError(f"task must be one of {TASKS}, got {kind!r}")


def train_task(kind: str = "sinusoids", n: int = 200, connectivity: float = 0.3, duration: float = 1.0,
               trials: int = 20, seed: int = 0, dt: float = 1e-4, learn_every: float = 2e-3,
               period: float = 0.5, amplitude: float = 0.3, rates=None, progress=None,
               **overrides) -> TrainingResult:
    """Build the preset network of ``kind`` (``overrides``: gain, mean, bias,
    regularization, tau_m, tau_s) and train it on its task."""
    if kind not in PRESETS:
        raise ValueError(f"task must be one of {TASKS}, got {kind!r}")
    settings = {**PRESETS[kind], **{k: v for k, v in overrides.items() if v is not None}}
    regularization = settings.pop("regularization")
    network = random_network(n, connectivity=connectivity, seed=seed, **settings)
    task = make_task(kind, network, duration, seed + 1, period, amplitude, rates)
    result = train(network, task, trials=trials, dt=dt, learn_every=learn_every,
                   regularization=regularization, seed=seed, progress=progress)
    result.settings.update(kind=kind, n=n, connectivity=connectivity, **settings)
    return result


def _summary(s) -> dict:
    return {"correlation": s.correlation, "correlation_ci95": list(s.correlation_ci),
            "normalised_error": s.normalised_error, "trial_correlation": float(s.trial_correlation.mean()),
            "mean_rate_hz": s.mean_rate}


def float_report(result: TrainingResult, trials: int = 8, seed: int = 0, dt: float = None) -> dict:
    """Scores of ``trials`` float test trials (at the training step unless ``dt``)."""
    dt = result.settings.get("dt", 1e-4) if dt is None else dt
    run = simulate(result.network, result.task, trials, dt, seed + TEST_SEED_OFFSET)
    drive = drive_correlation(run.drive, result.task)
    return {**_summary(score(run.filtered, result.task, result.network)), "dt": dt,
            "drive_correlation": float(drive.mean()), "drive_correlation_ci95": list(mean_ci(drive))}


def deploy_report(result: TrainingResult, hw="loihi2", dt: float = 2e-4, trials: int = 8, seed: int = 0,
                  backend: str = "emulator", budget: bool = False, **compile_options) -> dict:
    """Compile, run ``trials`` chip test trials (the float report's initial voltages),
    score; with ``budget`` also :func:`~lava_causal.rls.budget.pattern_budget`."""
    start = time.perf_counter()
    fixed = compile_trained(result.network, result.task, hw, dt, **compile_options)
    filtered, run = run_chip(fixed, result.network, result.task, trials, seed + TEST_SEED_OFFSET, backend)
    out = {**_summary(score(filtered, result.task, result.network)), "backend": run.backend, "hw": fixed.hw_name,
           "dt": fixed.dt, "weight_bits": fixed.info["options"]["weight_bits"],
           "compile_options": compile_options, "seconds": time.perf_counter() - start}
    if budget:
        b = pattern_budget(result.network, result.task, hw, dt, float_dt=result.settings.get("dt", 1e-4),
                           trials=max(trials, 3), seed=seed + TEST_SEED_OFFSET, fixed=fixed)
        out["budget"] = b.to_dict()
        out["budget_table"] = b.table()
    return out


def run_experiment(kind: str = "sinusoids", n: int = 200, duration: float = 1.0, train_trials: int = 20,
                   test_trials: int = 8, hw="loihi2", chip_dt: float = 2e-4, seed: int = 0, budget: bool = False,
                   progress=None, **train_options) -> dict:
    """Train on ``kind``, score in float and on the chip: one JSON-able dict with
    ``float_correlation``, ``chip_correlation`` (mean over neurons of the PSTH
    correlation with the target rates), their intervals and errors, and how it was made."""
    start = time.perf_counter()
    result = train_task(kind, n, duration=duration, trials=train_trials, seed=seed, progress=progress,
                        **train_options)
    floats = float_report(result, test_trials, seed)
    chip = deploy_report(result, hw, chip_dt, test_trials, seed, budget=budget)
    return {"task": kind, "n": n, "k": result.network.k, "duration_s": duration, "seed": seed,
            "float_correlation": floats["correlation"], "chip_correlation": chip["correlation"],
            "float_correlation_ci95": floats["correlation_ci95"], "chip_correlation_ci95": chip["correlation_ci95"],
            "float_normalised_error": floats["normalised_error"], "chip_normalised_error": chip["normalised_error"],
            "float_drive_correlation": floats["drive_correlation"],
            "training_rms_error": result.error.tolist(), "float": floats, "chip": chip,
            "training": result.settings, "test_trials": test_trials,
            "seconds": time.perf_counter() - start, "versions": versions()}
