r"""Export a network as a NIR graph (Neuromorphic Intermediate Representation).

Mapping of :class:`compiler.IFNetwork` (see its docstring for the equations):

* ``rec``: ``nir.Affine(weight=W, bias=b)``, the recurrent weights and the constant
  drive (NIR's Affine adds ``b`` continuously, so the drive passes the synapse filter:
  identical after a transient of ``tau_syn`` from the start).
* ``syn`` (only when ``tau_syn > 0``): ``nir.LI(tau=tau_s, r=1, v_leak=0)``,
  :math:`\tau_s \dot I = -I + W s(t) + b`, whose impulse response
  :math:`e^{-t/\tau_s}/\tau_s` is the network's kernel.
* ``delay`` (only when all delays are equal and positive): ``nir.Delay``.
* ``neuron``: ``nir.IF(r=1, v_threshold=Theta, v_reset=Theta - D)`` without leak,
  :math:`\dot V = I`, or ``nir.LIF(tau=tau_m, r=tau_m, v_leak=0, ...)`` with leak,
  :math:`\tau_m \dot V = -V + \tau_m I`.
* edges ``input -> syn``, ``neuron -> rec -> syn -> [delay ->] neuron -> output``.

NIR has no sparse weights: a sparse (CSR) network is written with its weights
densified, and refused above :data:`NIR_DENSE_LIMIT` bytes of them (the error gives
the dense size); its per-synapse delays count as uniform when all stored ones agree.

What NIR cannot carry (recorded under ``metadata["not_carried"]``): the reset rule
(NIR neurons reset *to* ``v_reset``: the chip's and ``reset_mode="hard"``'s hard reset
matches, ``"subtract"``, which keeps the overshoot, does not); per-synapse delays
(refused unless uniform); every fixed-point detail of a compiled network (integer
mantissas and exponents, the ``>> 12`` decay truncation, 24-bit wrap and saturation,
Dense's one-step latency, weight splits): a :class:`FixedPointNetwork` is exported as
its :func:`compiler.effective_network`, i.e. the float network its integers implement.
"""
from __future__ import annotations

import os
import shutil
import tempfile

import numpy as np
import scipy.sparse

from compiler.quantization.effective import effective_network
from compiler.system.files import atomic_output, format_bytes
from compiler.quantization.fixed_point import FixedPointNetwork
from compiler.frontend.network import IFNetwork


def _import_nir():
    try:
        import nir
    except ImportError as exc:  # pragma: no cover - nir is a dependency
        raise RuntimeError(f"NIR export needs the nir package ({exc}); pip install nir") from None
    return nir


NIR_DENSE_LIMIT = 2**28
"""Most bytes of dense float64 weights written for a sparse network (N up to 5792):
NIR (nir 1.0) has no sparse type and ``nir.write`` stores weights as dense HDF5
arrays, so a sparse network is densified for export and refused above this."""


def _dense_weights(network) -> np.ndarray:
    """The weights as the dense float array NIR stores; a sparse network's only up to
    :data:`NIR_DENSE_LIMIT` bytes (ValueError above it, giving the dense size)."""
    if not scipy.sparse.issparse(network.weights):
        return np.asarray(network.weights, float)
    n = network.n
    nbytes = 8 * n * n
    if nbytes > NIR_DENSE_LIMIT:
        raise ValueError(f"NIR stores weights dense (nir has no sparse type): this sparse network "
                         f"of {n} neurons and {network.weights.nnz} synapses would need a {n} x {n} "
                         f"float64 matrix of {format_bytes(nbytes)}, more than the "
                         f"{format_bytes(NIR_DENSE_LIMIT)} limit of the export")
    return network.weights.toarray().astype(float)


def to_nir_graph(network):
    """The :class:`nir.NIRGraph` of ``network`` (an IFNetwork, or a FixedPointNetwork
    exported as its effective float network); see the module docstring."""
    nir = _import_nir()
    if isinstance(network, FixedPointNetwork):
        source = f"FixedPointNetwork for {network.hw_name} (effective float network)"
        network = effective_network(network, include_corrections=True)
    elif isinstance(network, IFNetwork):
        source = "IFNetwork"
    else:
        raise TypeError(f"network must be an IFNetwork or FixedPointNetwork, got {type(network).__name__}")
    n = network.n
    w = _dense_weights(network)
    theta = np.broadcast_to(np.asarray(network.threshold, float), (n,)).copy()
    reset = np.asarray(network.reset, float)
    if scipy.sparse.issparse(network.delay):  # per synapse, on the weights' pattern
        offdiag = np.asarray(network.delay.data, float)
    else:
        delay = np.broadcast_to(np.asarray(network.delay, float), (n, n))
        offdiag = delay[~np.eye(n, dtype=bool)] if n > 1 else delay.ravel()
    if offdiag.size and np.ptp(offdiag) > 0:
        raise ValueError(f"NIR's Delay is per neuron: per-synapse delays (from {offdiag.min()} to "
                         f"{offdiag.max()} s) cannot be exported")
    d = float(offdiag[0]) if offdiag.size else 0.0
    nodes = {"input": nir.Input(input_type=np.array([n])),
             "rec": nir.Affine(weight=w, bias=np.asarray(network.bias, float)),
             "output": nir.Output(output_type=np.array([n]))}
    if network.leak_tau is None:
        nodes["neuron"] = nir.IF(r=np.ones(n), v_threshold=theta, v_reset=theta - reset)
    else:
        tau = np.full(n, float(network.leak_tau))
        nodes["neuron"] = nir.LIF(tau=tau, r=tau.copy(), v_leak=np.zeros(n), v_threshold=theta,
                                  v_reset=theta - reset)
    chain = ["rec"]
    if network.tau_syn > 0:
        nodes["syn"] = nir.LI(tau=np.full(n, float(network.tau_syn)), r=np.ones(n), v_leak=np.zeros(n))
        chain.append("syn")
    if d > 0:
        nodes["delay"] = nir.Delay(delay=np.full(n, d))
        chain.append("delay")
    chain.append("neuron")
    edges = [("input", chain[1]), ("neuron", "rec"), ("neuron", "output")]
    edges += list(zip(chain[:-1], chain[1:]))
    not_carried = ["fixed-point arithmetic (mantissas, exponents, decay truncation, 24-bit wrap/"
                   "saturation, one-step Dense latency, weight splits)"]
    if network.reset_mode == "subtract":
        not_carried.append("reset_mode='subtract' (NIR resets to v_reset: overshoot lost)")
    metadata = {"source": source, "reset_mode": network.reset_mode,
                "not_carried": "; ".join(not_carried), "name": network.name}
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata)


def to_nir(network, path) -> str:
    """Write ``network`` as a NIR (HDF5) file at ``path`` atomically; return the path.
    Read it with ``nir.read(path)``.

    ``nir.write`` needs a file name, so the graph is first written into a hidden
    temporary folder beside ``path`` (``.tmp-XXXXXXXX/``, removed in every case),
    then copied into place by :func:`compiler.system.files.atomic_output`."""
    nir = _import_nir()
    graph = to_nir_graph(network)
    shown = os.fspath(path)
    path = os.path.abspath(shown)
    directory = os.path.dirname(path)
    try:
        os.makedirs(directory, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=".tmp-", dir=directory)
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, shown) from None
    try:
        scratch = os.path.join(tmp, "graph.nir")
        try:
            nir.write(scratch, graph)
        except OSError as exc:
            raise OSError(exc.errno, exc.strerror or str(exc), shown) from None
        with open(scratch, "rb") as src, atomic_output(path) as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return path
