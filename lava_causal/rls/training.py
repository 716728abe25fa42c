r"""Recursive-least-squares training of a recurrent LIF network's weights
(Kim & Chow, eLife 2018; the update is in :mod:`lava_causal.rls.dynamics`).

Each training trial starts from fresh random voltages (seeded), runs the stimulus,
then the pattern with RLS active every ``learn_every`` seconds: each neuron's
synaptic drive is pulled towards its target from its presynaptic subset's filtered
spike trains. The inverse-correlation matrices :math:`P_i` persist across trials.
Cost per trial: the run (:mod:`lava_causal.rls.simulation`) plus
:math:`3 N K^2` flops per learning step; memory :math:`8 N K^2` bytes (refused above
:func:`compiler.system.resources.check_memory`'s limit, with the estimate).
"""
from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from compiler.system.files import atomic_output, read_npz
from compiler.system.resources import check_memory

from .dynamics import run_trial
from .model import RecurrentNetwork
from .simulation import check_dt, initial_voltages, steps_of, trial_layout
from .targets import Task


@dataclass(frozen=True, eq=False)
class TrainingResult:
    """A trained network and how it was made.

    Attributes
    ----------
    network : RecurrentNetwork
        The trained weights.
    task : Task
    error : ndarray (trials,)
        Root-mean-square drive error :math:`|u - f|` over each training trial's
        learning steps (before each update).
    settings : dict
        trials, dt, learn_every, regularization, seed, wall time.
    """

    network: RecurrentNetwork
    task: Task
    error: np.ndarray
    settings: dict = field(default_factory=dict)

    def save(self, path) -> None:
        """Write the network, the task and the training record to ``path`` (``.npz``,
        atomically; read back with :func:`load_trained`)."""
        net, task = self.network, self.task
        meta = {"format": FORMAT, "tau_m": net.tau_m, "tau_s": net.tau_s, "seed": net.seed, "gain": net.gain,
                "name": net.name, "sample_dt": task.sample_dt, "stimulus_duration": task.stimulus_duration,
                "kind": task.kind, "transfer_noise": task.transfer_noise, "task_settings": task.settings,
                "training": self.settings}
        with atomic_output(path) as fh:
            np.savez(fh, omega=net.omega, presynaptic=net.presynaptic, bias=net.bias, drive=task.drive,
                     stimulus=task.stimulus, error=self.error, meta=np.array(json.dumps(meta)))


FORMAT = "lava-causal rls 1"
"""Format tag of a saved :class:`TrainingResult`."""


def load_trained(path) -> TrainingResult:
    """Read a file written by :meth:`TrainingResult.save`; ValueError naming the file
    when it is missing, corrupt, of another format or inconsistent."""
    path = os.fspath(path)
    contents = read_npz(path, "trained RLS network",
                        keys=("omega", "presynaptic", "bias", "drive", "stimulus", "error", "meta"))
    try:
        meta = json.loads(str(contents["meta"]))
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT!r} file")
        network = RecurrentNetwork(omega=contents["omega"], presynaptic=contents["presynaptic"],
                                   bias=contents["bias"], tau_m=meta["tau_m"], tau_s=meta["tau_s"],
                                   seed=int(meta["seed"]), gain=float(meta["gain"]), name=str(meta["name"]))
        task = Task(contents["drive"], contents["stimulus"], float(meta["sample_dt"]),
                    float(meta["stimulus_duration"]), str(meta["kind"]), dict(meta["task_settings"]),
                    float(meta["transfer_noise"]))
        task.check_network(network)
        error = np.asarray(contents["error"], float)
        if error.ndim != 1:
            raise ValueError("error must be one value per training trial")
        return TrainingResult(network, task, error, dict(meta["training"]))
    except (ValueError, KeyError, TypeError, json.JSONDecodeError) as exc:
        raise ValueError(f"trained RLS network file {path!r}: {exc}") from None


def train(network: RecurrentNetwork, task: Task, trials: int = 20, dt: float = 1e-4,
          learn_every: float = 2e-3, regularization: float = 1.0, seed: int = 0,
          progress: bool = None) -> TrainingResult:
    r"""Train ``network``'s weights on ``task`` with RLS (module docstring).

    Parameters
    ----------
    trials : int
        Training trials (each: stimulus, then the pattern with learning on).
    dt : float
        Step (s), at most 1 ms.
    learn_every : float
        Seconds between RLS updates, a whole number of steps.
    regularization : float
        :math:`\lambda` of :math:`P_i(0) = I/\lambda`, > 0.
    seed : int
        Seed of the trials' initial voltages (trial k uses :func:`initial_voltages`
        of ``seed + 1_000_003``, disjoint from test trials of small seeds).
    progress : bool or None
        tqdm bar over trials (None: when stderr is a terminal).
    """
    task.check_network(network)
    dt = check_dt(dt)
    if not isinstance(trials, (int, np.integer)) or trials < 1:
        raise ValueError(f"trials must be an integer >= 1, got {trials!r}")
    regularization = float(regularization)
    if not (np.isfinite(regularization) and regularization > 0):
        raise ValueError(f"regularization must be > 0, got {regularization}")
    every = steps_of(float(learn_every), dt, "learn_every")
    if every < 1:
        raise ValueError(f"learn_every must be at least one step of dt = {dt:g} s, got {learn_every}")
    n, k = network.n, network.k
    check_memory(8 * n * k * k + 16 * n * n, f"RLS training of N = {n}, K = {k} (8 N K^2 bytes of P matrices)",
                 "reduce N or the connectivity")
    stim_steps, pattern_steps, record_every = trial_layout(task, dt)
    learn_times = np.arange(0, pattern_steps, every) * dt
    targets = np.ascontiguousarray(task.drive_at(learn_times))
    omega_t = np.ascontiguousarray(network.omega.T)
    pre = np.ascontiguousarray(network.presynaptic)
    p = np.broadcast_to(np.eye(k) / regularization, (n, k, k)).copy()
    a_m, a_s = math.exp(-dt / network.tau_m), math.exp(-dt / network.tau_s)
    v0 = initial_voltages(seed + 1_000_003, trials, n)
    samples = task.drive.shape[0]
    rec_x, rec_u = np.zeros((samples, n)), np.zeros((samples, n))
    reference = task.drive
    error = np.zeros(trials)
    counts = np.zeros(n, np.int64)
    start = time.perf_counter()
    with tqdm(range(trials), desc="RLS training", unit="trial", leave=False,
              disable=None if progress is None else not progress) as bar:
        for trial in bar:
            run_trial(omega_t, pre, p, network.bias, task.stimulus, stim_steps, v0[trial].copy(),
                      stim_steps + pattern_steps, a_m, a_s, True, every, targets, record_every,
                      rec_x, rec_u, counts)
            error[trial] = float(np.sqrt(np.mean((rec_u - reference) ** 2)))
            bar.set_postfix(rms_error=f"{error[trial]:.3f}")
    trained = network.with_weights(omega_t.T.copy())
    return TrainingResult(trained, task, error, {
        "trials": int(trials), "dt": dt, "learn_every": float(learn_every),
        "regularization": regularization, "seed": int(seed), "wall_s": time.perf_counter() - start})
