r"""A trained RLS network on the chip: compile, run with its stimulus, score.

:func:`compile_trained` compiles the network's :class:`compiler.IFNetwork`
(:meth:`~lava_causal.rls.model.RecurrentNetwork.to_ifnetwork`). The compiler's
operating-point corrections need operating rates; a pattern generator has no fixed
point, so they are evaluated at its *time-averaged* float rates over the pattern
(measured, ``operating_rates``): the weight-rounding compensation then corrects the
mean drive each neuron loses to rounding, not its time course. The source network
resets hard, as the chip does, so no reset compensation applies.

:func:`run_chip` runs ``trials`` trials on the emulator or Lava with the task's
stimulus (:class:`compiler.Stimulus`) and the same initial voltages as the float
runs (:func:`lava_causal.rls.simulation.initial_voltages`, scaled to the chip's
threshold), and returns the filtered spike trains the float recorder would give
(:func:`~lava_causal.rls.patterns.filtered_from_raster`).
"""
from __future__ import annotations

import warnings

import numpy as np

import compiler

from .model import RecurrentNetwork
from .simulation import initial_voltages, simulate, trial_layout
from .targets import Task

BACKENDS = ("emulator", "lava")


def measured_rates(network: RecurrentNetwork, task: Task, dt: float = 1e-4, trials: int = 4, seed: int = 0):
    """Time-averaged float rates (Hz) over the pattern, shape (N,), from ``trials`` runs."""
    run = simulate(network, task, trials=trials, dt=dt, seed=seed)
    return run.filtered.mean(axis=(0, 1)) / network.tau_s


def compile_trained(network: RecurrentNetwork, task: Task, hw="loihi2", dt: float = 1e-4,
                    operating_rates="measured", **options) -> compiler.FixedPointNetwork:
    """Compile ``network`` for ``hw`` at step ``dt`` (module docstring).

    ``operating_rates``: ``"measured"`` (the float run's mean rates), an array, or None
    (no operating-point corrections). Other keywords go to :func:`compiler.compile`;
    its warnings (e.g. weights that round to zero) are raised as usual.
    ``allow_unstable`` defaults to True: the compiler's stability check is of the
    non-leaky linear rate model, which says nothing of a leaky pattern generator's
    trajectories (a network it calls unstable compiles with its RuntimeWarning)."""
    trial_layout(task, dt)  # the chip step must divide the stimulus and the sampling
    if isinstance(operating_rates, str):
        if operating_rates != "measured":
            raise ValueError(f"operating_rates must be 'measured', an array or None, got {operating_rates!r}")
        operating_rates = measured_rates(network, task, dt=min(dt, 1e-4))
    options.setdefault("reset_compensation", "none")
    options.setdefault("allow_unstable", True)
    return compiler.compile(network.to_ifnetwork(), hw, dt, operating_rates=operating_rates, **options)


def chip_voltages(fixed: compiler.FixedPointNetwork, seed: int, trials: int) -> np.ndarray:
    """The float runs' initial voltages (thresholds, [0, 1)) in the chip's integers."""
    v = initial_voltages(seed, trials, fixed.n)
    return np.floor(v * float(fixed.threshold)).astype(np.int64)


def run_chip(fixed: compiler.FixedPointNetwork, network: RecurrentNetwork, task: Task, trials: int = 8,
             seed: int = 0, backend: str = "emulator", **run_options):
    """Filtered spike trains (trials, S, N) of ``trials`` chip trials, and the
    :class:`compiler.ExecutionResult` (module docstring)."""
    from .patterns import filtered_from_raster

    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    stim_steps, pattern_steps, every = trial_layout(task, fixed.dt)
    stimulus = compiler.make_stimulus(fixed, network.stimulus_bias(task.stimulus), stim_steps)
    v0 = chip_voltages(fixed, seed, trials)
    steps = stim_steps + pattern_steps
    if backend == "emulator":
        result = compiler.emulate(fixed, steps, trials, v0=v0, record=True, stimulus=stimulus,
                                  allow_unstable=True, **run_options)
    else:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="record=True reads")
            result = compiler.run_lava(fixed, steps, v0=v0, record=True, trials=trials, stimulus=stimulus,
                                       **run_options)
    filtered = filtered_from_raster(result.raster, network.tau_s, fixed.dt, stim_steps, every,
                                    task.drive.shape[0])
    return filtered, result
