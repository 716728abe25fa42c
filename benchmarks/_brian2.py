"""Brian2, the float simulator's peer: one run of an IFNetwork in a fresh process.

Each Brian2 run is its own subprocess (``run_brian2``): cpp_standalone keeps one device
per process, and a fresh process gives cython and cpp_standalone the same start.

Model: the non-leaky integrate-and-fire network with exponential synapses that
``lava_causal.simulate`` runs, dv/dt = b + I, dI/dt = -I/tau_s, threshold v > theta,
reset v -= D, a spike of j adding W_ij/tau_s to I_i. Brian2's 'exact' (linear)
integrator rejects this non-leaky system (its matrix is singular), so it is written as
Q = v + tau_s I: dQ/dt = b, dI/dt = -I/tau_s, v = Q - tau_s I, reset Q -= D, on_pre
I += w and Q += tau_s w, which Brian2 integrates exactly with method 'independent'
(Q += b dt, I *= exp(-dt/tau_s)). White noise (sigma per square-root second) is added
after the deterministic update of every step, Q += sigma sqrt(dt) randn(), by a
``run_regularly`` operation in the 'groups' slot: the Euler-Maruyama step of the float
simulator. Spikes are counted in the reset (no monitor). Many trials are independent
copies in one NeuronGroup with block-diagonal synapses.

Timings: ``run_s`` is the simulation loop only (cython: ``Network.run`` after a
zero-length run that generated and compiled or cache-loaded the code; cpp_standalone:
Brian2's own measurement of the generated program's main loop,
``device._last_run_time``); ``build_s`` is everything else (network construction, code
generation and C++/Cython compilation, for cpp_standalone also the program's start and
the result readback). Brian2 runs single-threaded (cpp_standalone without OpenMP).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

TARGETS = ("cython", "cpp_standalone")


def run_brian2(net, v0, duration: float, dt: float, target: str, noise_std: float = 0.0,
               seed: int = 0, timeout: float = 3600.0) -> dict:
    """Simulate ``net`` (an IFNetwork: non-leaky, exponential synapses) with Brian2 in a
    subprocess. ``v0``: (trials, N) initial voltages. Returns ``counts`` (trials, N),
    ``run_s``, ``build_s``, ``target``, ``brian2`` (version)."""
    if target not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
    if net.leak_tau is not None or not net.tau_syn > 0 or np.any(net.delays != 0):
        raise ValueError("the Brian2 model covers non-leaky networks with exponential "
                         "synapses and no delays")
    with tempfile.TemporaryDirectory(prefix="brian2-bench-") as tmp:
        inputs = os.path.join(tmp, "inputs.npz")
        np.savez(inputs, v0=np.asarray(v0, float), bias=net.bias, theta=net.thresholds,
                 reset=net.reset, weights=np.asarray(net.weights), tau_syn=net.tau_syn,
                 duration=duration, dt=dt, noise_std=noise_std, seed=seed)
        out = os.path.join(tmp, "counts.npy")
        proc = subprocess.run([sys.executable, os.path.abspath(__file__), target, inputs, out, tmp],
                              capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise RuntimeError(f"Brian2 {target} failed: {proc.stderr.strip()[-2000:]}")
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        result["counts"] = np.load(out)
    return result


def _child(target: str, inputs: str, out: str, workdir: str) -> None:
    """The subprocess: build, run, write counts, print the timings as one JSON line."""
    import brian2 as b2

    start = time.perf_counter()
    data = np.load(inputs)
    v0, weights = data["v0"], data["weights"]
    trials, n = v0.shape
    dt, duration = float(data["dt"]), float(data["duration"])
    noise_std = float(data["noise_std"])
    if target == "cpp_standalone":
        b2.set_device("cpp_standalone", directory=os.path.join(workdir, "standalone"),
                      build_on_run=False)
    else:
        b2.prefs.codegen.target = "cython"
    b2.BrianLogger.suppress_name("deprecated_independent")
    b2.seed(int(data["seed"]))
    namespace = {"tau_s": float(data["tau_syn"]) * b2.second,
                 "sigma_step": noise_std * np.sqrt(dt)}
    neurons = b2.NeuronGroup(
        trials * n,
        """dQ/dt = b : 1
        dI/dt = -I/tau_s : Hz
        v = Q - tau_s*I : 1
        b : Hz (constant)
        theta : 1 (constant)
        D : 1 (constant)
        n_spikes : integer""",
        threshold="v > theta", reset="Q -= D\nn_spikes += 1", method="independent",
        dt=dt * b2.second, namespace=namespace, name="neurons")
    if noise_std > 0:
        neurons.run_regularly("Q += sigma_step*randn()", when="groups", order=1, name="noise")
    neurons.Q = v0.ravel()
    neurons.b = np.tile(data["bias"], trials) * b2.Hz
    neurons.theta = np.tile(data["theta"], trials)
    neurons.D = np.tile(data["reset"], trials)
    post, pre = np.nonzero(weights)
    offset = (np.arange(trials) * n)[:, None]
    synapses = b2.Synapses(neurons, neurons, "w : Hz (constant)",
                           on_pre="I_post += w\nQ_post += tau_s*w", dt=dt * b2.second,
                           namespace=namespace, name="recurrent")
    synapses.connect(i=(pre + offset).ravel(), j=(post + offset).ravel())
    synapses.w = np.tile(weights[post, pre] / float(data["tau_syn"]), trials) * b2.Hz
    network = b2.Network(neurons, synapses)
    if target == "cpp_standalone":
        network.run(duration * b2.second)
        b2.device.build(directory=os.path.join(workdir, "standalone"), compile=True, run=True,
                        debug=False)
        run_s = float(b2.device._last_run_time)
    else:
        network.run(0 * b2.second)  # code generation / Cython compilation or cache load
        begin = time.perf_counter()
        network.run(duration * b2.second)
        run_s = time.perf_counter() - begin
    counts = np.asarray(neurons.n_spikes[:]).reshape(trials, n)
    np.save(out, counts)
    total = time.perf_counter() - start
    print(json.dumps({"run_s": run_s, "build_s": total - run_s, "target": target,
                      "brian2": b2.__version__}))


if __name__ == "__main__":
    _child(*sys.argv[1:5])
