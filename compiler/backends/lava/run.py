r""":func:`run_lava`, the Lava backend's entry: check, build, run and read out each trial.

Trials
------
Trials run one after the other, one freshly built Lava network per trial
(:func:`~compiler.backends.lava.build.build_lava_network`; Lava startup is ~0.3-1 s
each; a block-diagonal network of all trials would need (trials N)^2 dense weights per
split), each run and stopped by :func:`~compiler.backends.lava.runtime.running`, with
initial voltages from :func:`compiler.backends.emulator.resolve_initial_voltages`: the
same ``seed`` gives the same voltages as :func:`compiler.emulate`.

The config's refusal, ``tag``, ``target``, ``steps``, the network's ranges and the
connectivity are checked before Lava is imported, so a bad network gives the same
ValueError with or without Lava; then, where lava-nc does not import,
:class:`~compiler.backends.lava.runtime.BackendUnavailable` follows.
"""
from __future__ import annotations

import os
import time
import warnings
from dataclasses import replace
from typing import Optional

import numpy as np

from compiler.backends.emulator import ExecutionResult, resolve_initial_voltages
from compiler.backends.lava.build import FLOAT_CONVERSION, build_lava_network
from compiler.backends.lava.checks import (check_choice, check_lava_compatible, lava_refusal,
                                           resolve_connectivity)
from compiler.backends.lava.runtime import (TAGS, TARGETS, default_timeout, lava_version, run_again,
                                            run_config, running)
from compiler.quantization.fixed_point import FixedPointNetwork


def run_lava(fixed: FixedPointNetwork, steps: int, tag: str = "fixed_pt", seed=None, v0=None,
             target: str = "cpu", timeout: Optional[float] = None, record: bool = False,
             trials: int = 1, connectivity: str = "auto", stimulus=None) -> ExecutionResult:
    """Run ``fixed`` on Lava for ``steps`` steps and count spikes in the network.

    Parameters
    ----------
    fixed : FixedPointNetwork
        Must pass :func:`~compiler.backends.lava.checks.check_lava_compatible` (else
        ValueError, before any Lava process is built; a network compiled for an
        emulator-only config such as ``wide16`` is refused first, naming the config and
        ``lava_runnable``).
    steps : int
        Chip steps per trial (>= 1).
    tag : {"fixed_pt", "floating_pt"}
        Lava models: bit-accurate, or float (converted with
        :func:`~compiler.backends.lava.build.float_parameters`).
    seed : int or None
        Seed of the initial voltages; the same seed gives the same voltages as
        :func:`compiler.emulate`.
    v0 : array_like of int, optional
        Initial voltages, shape (N,) or (trials, N); overrides ``seed``.
    target : {"cpu", "loihi2"}
        ``cpu`` runs Lava's Python models (``Loihi2SimCfg``). ``loihi2`` uses
        ``Loihi2HwCfg`` and needs Intel's lava-loihi (else :class:`BackendUnavailable`);
        there the SpikeCounter runs on the host CPU (untested on hardware).
    timeout : float or None
        Wall-clock seconds allowed for each trial's execution; default
        :func:`~compiler.backends.lava.runtime.default_timeout`.
    record : bool
        Also record the raster with a ``Monitor`` (slow: ~17 us per neuron and step;
        meant for short runs).
    trials : int
        Independent runs, one after the other, each a fresh Lava network.
    connectivity : {"auto", "dense", "sparse"}
        Lava ``Dense``/``DelayDense`` or ``Sparse`` connection processes; ``"auto"``
        picks ``Sparse`` for sparse weights
        (:func:`~compiler.backends.lava.checks.resolve_connectivity`). Both give the
        same spikes.
    stimulus : compiler.Stimulus, optional
        Other bias fields for the first ``stimulus.steps`` steps: the network is built
        with them, run that many steps, paused, given its own ``bias_mant`` and
        ``bias_exp`` back and run on (``fixed_pt`` only); the same spikes as
        :func:`compiler.emulate` with the same stimulus.

    Returns
    -------
    ExecutionResult
        ``backend`` is ``"lava-fixed_pt"``, ``"lava-floating_pt"`` or ``"loihi2"``;
        ``wall_time`` covers everything (building, Lava compilation and startup,
        execution, readout); ``provenance`` has ``startup_s`` (Lava compilation and
        startup) and ``execute_s`` (the steps alone), summed over trials.

    Raises
    ------
    TimeoutError
        A trial did not finish within ``timeout`` (the runtime is stopped first).
    BackendUnavailable
        lava-nc does not import here (one line naming the ``lava-causal[lava]`` extra
        and this Python's version), or ``target="loihi2"`` without lava-loihi.
    """
    _check_run(fixed, steps, tag, target)
    check_lava_compatible(fixed)
    first = fixed
    if stimulus is not None:
        if tag != "fixed_pt":
            raise ValueError(f"a stimulus runs with tag='fixed_pt' only, got tag={tag!r}")
        first = stimulus.applied_to(fixed)
        check_lava_compatible(first)
    connectivity = resolve_connectivity(fixed, connectivity)
    run_cfg = run_config(target, tag)
    v_init, used_seed = resolve_initial_voltages(fixed, trials, seed, v0)
    timeout = default_timeout(steps, fixed.n) if timeout is None else float(timeout)
    if not timeout > 0:
        raise ValueError(f"timeout must be > 0 seconds, got {timeout}")
    if record and trials * steps * fixed.n > 2_000_000:
        warnings.warn(f"record=True reads {trials * steps * fixed.n:,} values through Lava's "
                      f"Monitor (~17 us each); expect minutes", stacklevel=2)
    counts = np.zeros((trials, fixed.n), np.int64)
    raster = np.zeros((trials, steps, fixed.n), bool) if record else None
    start = time.perf_counter()
    timings = {"startup_s": 0.0, "execute_s": 0.0}
    for trial in range(trials):
        switch = min(stimulus.steps, steps) if stimulus is not None else steps
        net = build_lava_network(first, v_init[trial], tag, record_steps=steps if record else 0,
                                 connectivity=connectivity)
        with running(net.lif, switch, run_cfg, timeout) as times:
            for key in timings:
                timings[key] += times[key]
            if switch < steps:
                net.lif.bias_mant.set(np.asarray(fixed.bias_mant, np.int64))
                net.lif.bias_exp.set(np.asarray(fixed.bias_exp, np.int64))
                timings["execute_s"] += run_again(net.lif, steps - switch, timeout)
            counts[trial] = np.rint(net.counter.count.get()).astype(np.int64)
            if record:
                data = net.monitor.get_data()[net.lif.name]["s_out"]
                raster[trial] = np.asarray(data).reshape(steps, fixed.n) != 0
    wall = time.perf_counter() - start
    backend = "loihi2" if target == "loihi2" else f"lava-{tag}"
    provenance = dict(_provenance(fixed, backend, tag, target, run_cfg, steps, trials, used_seed,
                                  timeout, timings), connectivity=connectivity)
    if stimulus is not None:
        provenance["stimulus_steps"] = stimulus.steps
    return ExecutionResult(
        counts=counts, steps=int(steps), dt=fixed.dt, seed=used_seed, backend=backend,
        hw_name=fixed.hw_name, raster=raster, wall_time=wall, provenance=provenance)


def _check_run(fixed, steps, tag, target) -> None:
    """The checks every Lava run makes before Lava is imported: the config's refusal
    (an emulator-only config), ``tag``, ``target`` and ``steps``."""
    refusal = lava_refusal(fixed) if isinstance(fixed, FixedPointNetwork) else ""
    if refusal:
        raise ValueError(refusal)
    check_choice("tag", tag, TAGS)
    check_choice("target", target, TARGETS)
    if not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"steps must be an integer >= 1, got {steps!r}")


def _provenance(fixed, backend, tag, target, run_cfg, steps, trials, seed, timeout, timings):
    prov = {"backend": backend, "lava-nc": lava_version(), "numpy": np.__version__,
            "tag": tag, "target": target, "run_config": type(run_cfg).__name__,
            "hw": fixed.hw_name, "dt": fixed.dt, "steps": int(steps), "trials": int(trials),
            "trials_mode": "sequential (one Lava network per trial)", "seed": seed,
            "timeout_s": timeout, **timings, "cpu_count": os.cpu_count()}
    if tag == "floating_pt":
        prov["float_conversion"] = FLOAT_CONVERSION
    return prov


def run_lava_stream(fixed: FixedPointNetwork, steps: int, bias_mant, bias_exp, v0,
                    target: str = "cpu", timeout: Optional[float] = None,
                    connectivity: str = "auto") -> ExecutionResult:
    """Run ``fixed`` on Lava for K inputs that differ only in bias, building and
    starting the Lava network **once**.

    Input ``k`` runs ``steps`` steps from initial voltages ``v0[k]`` with bias fields
    ``bias_mant[k]``, ``bias_exp[k]`` (K x N integers, e.g. from
    :func:`compiler.quantization.rebias.rebias`). Between inputs the paused network's
    Vars are set: ``LIF.bias_mant``, ``bias_exp``, ``v`` (to ``v0[k]``), ``u`` (0), every
    connection's ``a_buff`` (its pending input, 0) and the counter (0), so each input
    starts from the state a freshly built network has: its counts equal
    ``run_lava(replace(fixed, bias_mant=..., bias_exp=...), steps, v0=v0[k])`` and the
    emulator's. ``fixed_pt`` only. ``provenance`` has ``startup_s`` (once),
    ``execute_s`` (all inputs), ``reset_s`` (setting the Vars, all inputs) and
    ``inputs``.
    """
    _check_run(fixed, steps, "fixed_pt", target)
    bias_mant = np.atleast_2d(np.asarray(bias_mant, np.int64))
    bias_exp = np.atleast_2d(np.asarray(bias_exp, np.int64))
    k = bias_mant.shape[0]
    if bias_mant.shape != (k, fixed.n) or bias_exp.shape != (k, fixed.n):
        raise ValueError(f"bias_mant and bias_exp must have shape (K, {fixed.n}), got "
                         f"{bias_mant.shape} and {bias_exp.shape}")
    v_init, _ = resolve_initial_voltages(fixed, k, None, v0)
    # Every input's fields within the config (the same check as a compiled network's).
    for i in range(k):
        check_lava_compatible(replace(fixed, bias_mant=bias_mant[i], bias_exp=bias_exp[i]))
    connectivity = resolve_connectivity(fixed, connectivity)
    run_cfg = run_config(target, "fixed_pt")
    timeout = default_timeout(steps, fixed.n) if timeout is None else float(timeout)
    first = replace(fixed, bias_mant=bias_mant[0], bias_exp=bias_exp[0])
    net = build_lava_network(first, v_init[0], "fixed_pt", connectivity=connectivity)
    counts = np.zeros((k, fixed.n), np.int64)
    timings = {"startup_s": 0.0, "execute_s": 0.0, "reset_s": 0.0}
    start = time.perf_counter()
    with running(net.lif, steps, run_cfg, timeout) as times:
        timings.update(startup_s=times["startup_s"], execute_s=times["execute_s"])
        counts[0] = np.rint(net.counter.count.get()).astype(np.int64)
        for i in range(1, k):
            t0 = time.perf_counter()
            net.lif.bias_mant.set(bias_mant[i])
            net.lif.bias_exp.set(bias_exp[i])
            net.lif.v.set(v_init[i])
            net.lif.u.set(np.zeros(fixed.n, np.int64))
            for conn in net.connections:
                conn.a_buff.set(np.zeros(conn.a_buff.shape, np.int64))
            net.counter.count.set(np.zeros(fixed.n))
            timings["reset_s"] += time.perf_counter() - t0
            timings["execute_s"] += run_again(net.lif, steps, timeout)
            counts[i] = np.rint(net.counter.count.get()).astype(np.int64)
    wall = time.perf_counter() - start
    backend = "loihi2" if target == "loihi2" else "lava-fixed_pt"
    prov = dict(_provenance(fixed, backend, "fixed_pt", target, run_cfg, steps, k, None, timeout,
                            timings), connectivity=connectivity, inputs=int(k),
                trials_mode="one Lava network, new bias and state per input")
    return ExecutionResult(counts=counts, steps=int(steps), dt=fixed.dt, seed=None, backend=backend,
                           hw_name=fixed.hw_name, wall_time=wall, provenance=prov)
