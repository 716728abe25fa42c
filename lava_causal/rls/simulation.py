r"""Float runs of a :class:`~lava_causal.rls.model.RecurrentNetwork` on a
:class:`~lava_causal.rls.targets.Task`: stimulus, then the pattern, recorded.

Each trial starts from voltages drawn uniformly in [0, 1) (seeded; trial ``k`` of
``seed`` is the same whichever backend runs it, :func:`initial_voltages`), with no
synaptic activity, runs the stimulus for ``stimulus_duration`` and then the pattern
for ``task.duration``; the filtered spike trains :math:`x` and the synaptic drive
:math:`u` are recorded every ``task.sample_dt`` after the stimulus offset
(:mod:`lava_causal.rls.dynamics`). Time O(steps x (N + spikes x N)) per trial.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .dynamics import run_trial
from .model import RecurrentNetwork
from .targets import Task


def steps_of(seconds: float, dt: float, name: str) -> int:
    """``seconds / dt`` as an integer number of steps; ValueError unless it is one."""
    steps = seconds / dt
    if abs(steps - round(steps)) > 1e-6 * max(1.0, steps):
        raise ValueError(f"{name} = {seconds:g} s is not a whole number of steps of dt = {dt:g} s")
    return int(round(steps))


def check_dt(dt) -> float:
    """A valid step length (s)."""
    try:
        dt = float(dt)
    except (TypeError, ValueError):
        raise ValueError(f"dt must be a number of seconds, got {dt!r}") from None
    if not (np.isfinite(dt) and 0 < dt <= 1e-3):
        raise ValueError(f"dt must be in (0, 1e-3] seconds, got {dt}")
    return dt


def initial_voltages(seed: int, trials: int, n: int) -> np.ndarray:
    """Trial initial voltages, U[0, 1), shape (trials, N): the same for every backend."""
    return np.random.default_rng([int(seed), 0x52_4C_53]).random((trials, n))


@dataclass(frozen=True, eq=False)
class FloatRun:
    """Recordings of float trials.

    Attributes
    ----------
    filtered : ndarray (trials, S, N)
        Filtered spike trains :math:`x` (divide by :math:`\\tau_s` for Hz).
    drive : ndarray (trials, S, N)
        Synaptic drive :math:`u` (thresholds).
    counts : ndarray (trials, N)
        Spikes over the whole trial (stimulus included).
    provenance : dict
    """

    filtered: np.ndarray
    drive: np.ndarray
    counts: np.ndarray
    provenance: dict = field(default_factory=dict)


def trial_layout(task: Task, dt: float):
    """(stimulus steps, pattern steps, record_every) of ``task`` at step ``dt``."""
    dt = check_dt(dt)
    record_every = steps_of(task.sample_dt, dt, "sample_dt")
    stim_steps = steps_of(task.stimulus_duration, dt, "stimulus_duration")
    return stim_steps, task.drive.shape[0] * record_every, record_every


def simulate(network: RecurrentNetwork, task: Task, trials: int = 1, dt: float = 1e-4, seed: int = 0) -> FloatRun:
    """Run ``trials`` float trials of ``network`` on ``task`` (module docstring)."""
    task.check_network(network)
    if not isinstance(trials, (int, np.integer)) or trials < 1:
        raise ValueError(f"trials must be an integer >= 1, got {trials!r}")
    stim_steps, pattern_steps, record_every = trial_layout(task, dt)
    n, samples = network.n, task.drive.shape[0]
    v0 = initial_voltages(seed, trials, n)
    filtered = np.zeros((trials, samples, n))
    drive = np.zeros((trials, samples, n))
    counts = np.zeros((trials, n), np.int64)
    omega_t = np.ascontiguousarray(network.omega.T)
    no_pre = np.zeros((n, 1), np.int64)
    no_p = np.zeros((0, 1, 1))
    no_targets = np.zeros((0, n))
    a_m, a_s = math.exp(-dt / network.tau_m), math.exp(-dt / network.tau_s)
    for k in range(trials):
        run_trial(omega_t, no_pre, no_p, network.bias, task.stimulus, stim_steps, v0[k].copy(),
                  stim_steps + pattern_steps, a_m, a_s, False, 1, no_targets, record_every,
                  filtered[k], drive[k], counts[k])
    return FloatRun(filtered, drive, counts,
                    {"backend": "float (rls.dynamics)", "dt": dt, "trials": int(trials), "seed": int(seed),
                     "numpy": np.__version__})
