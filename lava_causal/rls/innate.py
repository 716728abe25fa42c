"""The innate target: the untrained network's own trajectory (a target that needs a
run of the network, so it lives apart from :mod:`lava_causal.rls.targets`)."""
from __future__ import annotations

import numpy as np

from .model import RecurrentNetwork
from .simulation import simulate
from .targets import SAMPLE_DT, STIMULUS_DURATION, Task, _samples, random_stimulus


def innate(network: RecurrentNetwork, duration: float = 1.0, seed=0, dt: float = 1e-4,
           stimulus_amplitude: float = 1.0, sample_dt: float = SAMPLE_DT,
           stimulus_duration: float = STIMULUS_DURATION) -> Task:
    """The untrained ``network``'s own synaptic drive after a random stimulus, from one
    run with seeded initial voltages: the target that makes its innate trajectory
    repeatable."""
    rng = np.random.default_rng(seed)
    stim = random_stimulus(network.n, stimulus_amplitude, rng)
    probe = Task(np.zeros((_samples(duration, sample_dt), network.n)), stim, sample_dt, stimulus_duration)
    run = simulate(network, probe, trials=1, dt=dt, seed=int(rng.integers(2**31)))
    return Task(run.drive[0], stim, sample_dt, stimulus_duration, "innate",
                {"seed": seed, "stimulus_amplitude": float(stimulus_amplitude), "dt": dt})
