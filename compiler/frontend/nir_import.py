r"""Import a NIR graph (Neuromorphic Intermediate Representation) as an :class:`IFNetwork`.

:func:`from_nir` reads what :func:`compiler.to_nir` writes (the round trip gives the
same network to floating-point precision) and the graphs other tools write: layers
``Input -> Affine -> LIF/CubaLIF -> Affine -> ... -> Output``, recurrent layers with
an ``Affine``/``Linear`` edge from a neuron node back to itself (also as nested
subgraphs, as snnTorch writes ``RSynaptic``), and ``Delay`` nodes. Every spiking
node becomes a block of neurons of one network; the weights of every path from one
block to another (or to itself) become that block of the full matrix :math:`W`.

Node equations (nir 1.0.8) and their mapping
--------------------------------------------
The network's equation (see :class:`IFNetwork`) is

.. math::

    \dot V_i = -\frac{V_i}{\tau_m} + b_i + \sum_j W_{ij} \sum_l k(t - t_j^l - d_{ij}),
    \qquad \int k = 1 .

A NIR spike train is :math:`S(t) = \sum_l \delta(t - t^l)`; the inputs of a node are
summed. Along a path from a spiking node to the input :math:`I` of a spiking node:

* ``Affine(W, b)``: :math:`y = W x + b`; ``Linear(W)``: :math:`y = W x`;
  ``Scale(s)``: :math:`y = s \odot x`. ``weight[i, j]`` is from ``j`` to ``i``.
* ``Delay(d)``: :math:`y(t) = x(t - d)`. A delay vector met before any mixing matrix
  (indexed by the presynaptic neuron ``j``) or after the last one (indexed by the
  postsynaptic neuron ``i``) gives :math:`d_{ij} = d^{pre}_j + d^{post}_i`; a
  non-uniform delay between two mixing matrices is a delay per path and refused.
* ``LI(tau, r, v_leak)`` as a synapse: :math:`\tau \dot y = (v_{leak} - y) + r x`,
  i.e. :math:`y = r\,(k * x) + v_{leak}` with :math:`k(t) = e^{-t/\tau}/\tau`: gain
  :math:`r`, kernel :math:`\tau_s = \tau` (``tau = 0``: :math:`y = r x + v_{leak}`, no
  kernel), constant :math:`v_{leak}`.

The spiking node ``i`` with input :math:`I_i` (sum of the above) then gives
:math:`W_{ij} = g_i\,M_{ij}` and :math:`b_i = g_i c_i + e_i`, with :math:`M` the
product of the path's matrices and gains, :math:`c` the constant part of
:math:`I` (``Affine`` biases and ``LI`` leaks carried along the path), and

* ``IF(r, v_threshold, v_reset)``: :math:`\dot v = r I`: :math:`g = r`, :math:`e = 0`,
  no leak.
* ``LIF(tau, r, v_leak, v_threshold, v_reset)``: :math:`\tau \dot v = (v_{leak} - v) + r I`,
  i.e. :math:`\dot v = -v/\tau + v_{leak}/\tau + (r/\tau) I`: :math:`g = r/\tau`,
  :math:`e = v_{leak}/\tau`, ``leak_tau = tau``.
* ``CubaLIF(tau_syn, tau_mem, r, v_leak, v_threshold, v_reset, w_in)``:
  :math:`\tau_{syn} \dot I' = -I' + w_{in} I` and
  :math:`\tau_{mem} \dot v = (v_{leak} - v) + r I'`, i.e. :math:`I' = w_{in}(k * I)`:
  :math:`g = w_{in} r/\tau_{mem}`, :math:`e = v_{leak}/\tau_{mem}`,
  ``leak_tau = tau_mem``, kernel :math:`\tau_s = \tau_{syn}` (``tau_syn = 0``: delta).
* nir 1.0.8 has no current-based IF node ("CubaIF"). A ``LIF`` or ``CubaLIF`` with an
  infinite membrane time constant is read as the non-leaky neuron in ``IF``'s
  convention, :math:`\dot v = r I'` (:math:`g = w_{in} r`, :math:`e = 0`, no leak):
  the literal limit of :math:`\tau \dot v = (v_{leak} - v) + r I` at fixed ``r`` is a
  neuron that never moves. ``r`` must then be finite (snnTorch writes
  ``r = tau_mem / dt``, infinite for ``beta = 1``: refused, the gain is undefined).

Spiking: :math:`\Theta_i` = ``v_threshold``; NIR resets *to* ``v_reset``, so the
reset depth is :math:`D_i = \Theta_i - v_{reset,i}` (must be > 0) and
``reset_mode="hard"`` (:math:`V \leftarrow \Theta - D = v_{reset}`), unless the graph's
``metadata["reset_mode"]`` says otherwise: :func:`compiler.to_nir` records the
original mode there (and ``"subtract"`` under ``metadata["not_carried"]``), so its
round trip is exact. ``metadata["name"]`` becomes the network's name.

What is merged, dropped, refused
--------------------------------
* One network has one leak and one kernel: every spiking node must have the same
  membrane time constant (or none), and every path between spiking nodes the same
  kernel: none (delta synapses) or exactly one exponential (an ``LI`` or the
  ``CubaLIF``'s synapse) with one ``tau`` (two in series, or mixed, is refused).
  When no path joins spiking nodes, ``tau_syn`` is the ``CubaLIF``'s (all equal), else 0.
* External inputs (``Input`` nodes) carry nothing at compile time: the network's only
  input is its constant drive, so the weights from an ``Input`` are dropped and only
  biases (``Affine``) and leaks (``LI``/``LIF``/``CubaLIF`` ``v_leak``) become drive.
  A constant passes delays and synapse kernels unchanged except for a start-up
  transient of about ``tau_syn`` (as in :func:`compiler.to_nir`).
* Nodes downstream of the last spiking node that reach no spiking node (linear
  readouts into ``Output``) are checked but do not enter the network.
* NIR has no initial state: the network draws its initial voltages as usual.
* Refused with a ValueError naming the node and its type: ``Conv1d``, ``Conv2d``,
  ``Flatten``, ``SumPool2d``, ``AvgPool2d``, ``Threshold``, ``I``, ``CubaLI`` and any
  other type; parameters that are not 1-D vectors of the layer's size (or scalars);
  weights that are not 2-D; sizes that do not match along an edge; a loop through no
  spiking node; self-connections (the diagonal of :math:`W` is the reset in
  :class:`IFNetwork`); two paths with different delays onto one synapse. Bad values
  name the node, parameter, value and allowed range: non-finite values, ``tau <= 0``
  (``tau_syn`` and ``LI``'s ``tau`` may be 0), ``v_threshold <= v_reset``.

Memory: :class:`IFNetwork` holds dense (N, N) weights (and a dense delay matrix only
when delays are not uniform); blocks are written into it in place, and
``scipy.sparse`` weights of an in-memory graph are multiplied sparse and scattered
into their block without a dense copy.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional

import numpy as np
import scipy.sparse

from compiler.frontend.network import RESET_MODES, IFNetwork

_SPIKING = ("IF", "LIF", "CubaLIF")
_PASS = ("Affine", "Linear", "Scale", "Delay", "LI", "Input", "Output")


def _import_nir():
    try:
        import nir
    except ImportError as exc:  # pragma: no cover - nir is a dependency
        raise RuntimeError(f"NIR import needs the nir package ({exc}); pip install nir") from None
    return nir


def _label(name, node) -> str:
    return f"node {name!r} ({type(node).__name__})"


@dataclass
class _Spikes:
    """Spikes of block ``src`` seen at some node: ``M @ s`` (``M`` None: identity,
    1-D: diagonal, else a 2-D dense or sparse matrix) delayed by
    ``pre[j] + post[i]`` and filtered by ``kernels`` (tuple of (tau, node name))."""
    src: str
    m: object
    pre: np.ndarray
    post: np.ndarray
    kernels: tuple
    post_delay_node: Optional[str] = None

    @property
    def size(self) -> int:
        return len(self.post)


class _Graph:
    """A NIR graph flattened (subgraphs inlined), checked and sized."""

    def __init__(self, graph):
        nir = _import_nir()
        self.nir = nir
        self.nodes, self.edges = {}, []
        self._inline(graph, "", top=True)
        self.preds = {name: [] for name in self.nodes}
        for a, b in self.edges:
            self.preds[b].append(a)
        for name, node in self.nodes.items():
            kind = type(node).__name__
            if kind not in _SPIKING + _PASS + ("_Through",):
                raise ValueError(f"{_label(name, node)} is not supported: from_nir reads "
                                 f"{', '.join(_SPIKING + _PASS)} nodes and nested graphs")
        self.sizes = self._infer_sizes()

    # ------------------------------------------------------------ structure
    def _inline(self, graph, prefix, top):
        nir = _import_nir()
        local = {}
        for name, node in graph.nodes.items():
            full = f"{prefix}{name}"
            if isinstance(node, nir.NIRGraph):
                self._inline(node, f"{full}.", top=False)
                ins = [k for k, v in node.nodes.items() if isinstance(v, nir.Input)]
                outs = [k for k, v in node.nodes.items() if isinstance(v, nir.Output)]
                if len(ins) != 1 or len(outs) != 1:
                    raise ValueError(f"{_label(full, node)} must have one Input and one Output node "
                                     f"to be inlined, has {len(ins)} and {len(outs)}")
                local[name] = (f"{full}.{outs[0]}", f"{full}.{ins[0]}")
            else:
                if not top and isinstance(node, (nir.Input, nir.Output)):
                    node = _Through(node)  # a subgraph's ports pass their input on
                self.nodes[full] = node
                local[name] = (full, full)
        for a, b in graph.edges:
            self.edges.append((self._resolve(a, local, prefix, 0), self._resolve(b, local, prefix, 1)))

    def _resolve(self, ref, local, prefix, side):
        if ref in local:
            return local[ref][side]
        full = f"{prefix}{ref}"
        if full in self.nodes:  # "sub.inner" written by tools that address inner nodes
            return full
        raise ValueError(f"edge end {ref!r} names no node of the graph")

    def _infer_sizes(self) -> dict:
        """Layer size of every node: from its weights or 1-D parameters; scalar
        parameters take the size of a neighbour."""
        sizes = {}
        for name, node in self.nodes.items():
            kind = type(node).__name__
            if kind in ("Affine", "Linear"):
                w = node.weight
                if len(w.shape) != 2:
                    raise ValueError(f"{_label(name, node)}: weight must be 2-D (out, in), "
                                     f"got shape {tuple(w.shape)}")
                sizes[name] = (int(w.shape[1]), int(w.shape[0]))
            elif kind in ("Input", "Output", "_Through"):
                continue
            else:
                shapes = {key: np.shape(value) for key, value in _params(node).items()}
                dims = {s for s in shapes.values() if s != ()}
                if any(len(s) != 1 for s in dims) or len(dims) > 1:
                    raise ValueError(f"{_label(name, node)}: parameters must be 1-D vectors of one "
                                     f"length (or scalars), got shapes {shapes}")
                if dims:
                    n = dims.pop()[0]
                    sizes[name] = (n, n)
        changed = True
        while changed:
            changed = False
            for a, b in self.edges:
                if a in sizes and b not in sizes and not _has_weights(self.nodes[b]):
                    sizes[b] = (sizes[a][1], sizes[a][1])
                    changed = True
                elif b in sizes and a not in sizes and not _has_weights(self.nodes[a]):
                    sizes[a] = (sizes[b][0], sizes[b][0])
                    changed = True
        for a, b in self.edges:
            if a in sizes and b in sizes and sizes[a][1] != sizes[b][0]:
                raise ValueError(f"edge {a!r} -> {b!r}: {_label(a, self.nodes[a])} gives {sizes[a][1]} "
                                 f"values, {_label(b, self.nodes[b])} takes {sizes[b][0]}")
        for name, node in self.nodes.items():
            if name not in sizes and type(node).__name__ in _PARAMS:
                raise ValueError(f"{_label(name, node)}: cannot tell its size (scalar parameters "
                                 f"and no sized neighbour)")
        return sizes


class _Through:
    """A subgraph's Input or Output node inside the flattened graph: identity."""

    def __init__(self, node):
        self.node = node


def _has_weights(node) -> bool:
    return type(node).__name__ in ("Affine", "Linear")


_PARAMS = {"IF": ("r", "v_threshold", "v_reset"),
           "LIF": ("tau", "r", "v_leak", "v_threshold", "v_reset"),
           "CubaLIF": ("tau_syn", "tau_mem", "r", "v_leak", "v_threshold", "v_reset", "w_in"),
           "LI": ("tau", "r", "v_leak"), "Scale": ("scale",), "Delay": ("delay",)}


def _params(node) -> dict:
    return {key: getattr(node, key) for key in _PARAMS[type(node).__name__]}


def _vector(name, node, key, n, low=None, allow_inf=False, strict=True) -> np.ndarray:
    """Parameter ``key`` of ``node`` as a float vector of length n, checked."""
    value = getattr(node, key)
    if scipy.sparse.issparse(value):
        value = value.toarray()
    arr = np.broadcast_to(np.asarray(value, dtype=float), (n,))
    bad = np.isnan(arr) if allow_inf else ~np.isfinite(arr)
    if low is not None:
        bad |= (arr <= low) if strict else (arr < low)
    if np.any(bad):
        i = int(np.flatnonzero(bad)[0])
        wanted = ("finite" if not allow_inf else "not NaN") + (
            "" if low is None else f" and {'>' if strict else '>='} {low:g}")
        raise ValueError(f"{_label(name, node)}: {key}[{i}] = {arr[i]:g}, must be {wanted}")
    return arr


def _uniform(name, node, key, arr) -> float:
    """The one value of a vector that IFNetwork holds as a scalar."""
    first = float(arr[0])
    if np.any(arr != first) and not np.allclose(arr, first, rtol=1e-6, atol=0):
        raise ValueError(f"{_label(name, node)}: {key} ranges from {arr.min():g} to {arr.max():g}; "
                         f"IFNetwork has one value for all neurons")
    return first


def _apply(mat, term: _Spikes, name, node) -> _Spikes:
    """``mat @ term``: mat a diagonal (1-D) or a 2-D matrix."""
    if np.ndim(mat) == 1:
        m = mat if term.m is None else (mat * term.m if np.ndim(term.m) == 1 else _rowscale(mat, term.m))
        return _Spikes(term.src, m, term.pre, term.post, term.kernels, term.post_delay_node)
    if np.ptp(term.post) > 0:
        raise ValueError(f"node {term.post_delay_node!r} (Delay) gives each neuron its own delay before "
                         f"the weights of {_label(name, node)} mix them: a delay per path, which "
                         f"IFNetwork cannot hold")
    if term.m is None:
        m = mat
    elif np.ndim(term.m) == 1:
        m = mat.multiply(term.m[None, :]).tocsr() if scipy.sparse.issparse(mat) else mat * term.m[None, :]
    else:
        m = mat @ term.m
    post = np.full(mat.shape[0], term.post[0] if term.size else 0.0)
    return _Spikes(term.src, m, term.pre, post, term.kernels, None)


def _rowscale(g, m):
    if m is None:
        return np.asarray(g, float).copy()
    if np.ndim(m) == 1:
        return g * m
    if scipy.sparse.issparse(m):
        return scipy.sparse.diags(g) @ m
    return g[:, None] * m


def _weights(name, node):
    w = node.weight
    if scipy.sparse.issparse(w):
        w = w.tocsr().astype(float)
        data = w.data
    else:
        w = np.asarray(w, dtype=float)
        data = w
    if not np.all(np.isfinite(data)):
        raise ValueError(f"{_label(name, node)}: weight has NaN or infinite entries")
    return w


class _Reader:
    """Signals at node outputs as sums of :class:`_Spikes` and constants."""

    def __init__(self, graph: _Graph):
        self.g = graph
        self.cache, self.active = {}, set()

    def at_input(self, name):
        """(spike terms, constant vector) summed over the edges into ``name``."""
        n = self.g.sizes[name][0]
        terms, const = [], np.zeros(n)
        for pred in self.g.preds[name]:
            t, c = self.output(pred)
            terms += t
            const = const + c
        return terms, const

    def output(self, name):
        if name in self.cache:
            return self.cache[name]
        node = self.g.nodes[name]
        kind = type(node).__name__
        n_out = self.g.sizes.get(name, (0, 0))[1]
        if kind in _SPIKING:
            result = ([_Spikes(name, None, np.zeros(n_out), np.zeros(n_out), ())], np.zeros(n_out))
        elif kind == "Input":
            result = ([], np.zeros(n_out))  # external input: carries nothing at compile time
        elif kind == "Output":
            raise ValueError(f"{_label(name, node)} feeds other nodes; an Output must be a sink")
        else:
            if name in self.active:
                raise ValueError(f"{_label(name, node)} is on a loop through no spiking node "
                                 f"(an algebraic loop)")
            self.active.add(name)
            result = self._through(name, node, kind, *self.at_input(name))
            self.active.discard(name)
        self.cache[name] = result
        return result

    def _through(self, name, node, kind, terms, const):
        n = self.g.sizes[name][0]
        if kind == "_Through":
            return terms, const
        if kind in ("Affine", "Linear"):
            w = _weights(name, node)
            out = [_apply(w, t, name, node) for t in terms]
            const = w @ const
            if kind == "Affine":
                const = const + _vector(name, node, "bias", w.shape[0])
            return out, np.asarray(const, float).ravel()
        if kind == "Scale":
            s = _vector(name, node, "scale", n)
            return [_apply(s, t, name, node) for t in terms], s * const
        if kind == "Delay":
            d = _vector(name, node, "delay", n, low=0.0, strict=False)
            out = []
            for t in terms:
                if t.m is None or np.ndim(t.m) == 1:  # still one value per presynaptic neuron
                    out.append(_Spikes(t.src, t.m, t.pre + d, t.post, t.kernels, t.post_delay_node))
                else:
                    out.append(_Spikes(t.src, t.m, t.pre, t.post + d, t.kernels,
                                       name if np.ptp(d) > 0 else t.post_delay_node))
            return out, const
        # LI: a synapse kernel with gain r and constant v_leak
        tau = _uniform(name, node, "tau", _vector(name, node, "tau", n, low=0.0, strict=False))
        r = _vector(name, node, "r", n)
        kernel = ((tau, name),) if tau > 0 else ()
        out = [_apply(r, t, name, node) for t in terms]
        for t in out:
            t.kernels = t.kernels + kernel
        return out, r * const + _vector(name, node, "v_leak", n)


@dataclass
class _Block:
    name: str
    offset: int
    n: int
    gain: np.ndarray
    extra: np.ndarray
    leak: Optional[float]
    kernel: tuple
    threshold: np.ndarray
    reset: np.ndarray


def _block(name, node, offset, n) -> _Block:
    """A spiking node's gain, extra drive, leak, own kernel, threshold and reset depth."""
    kind = type(node).__name__
    r = _vector(name, node, "r", n, allow_inf=True)
    theta = _vector(name, node, "v_threshold", n)
    v_reset = _vector(name, node, "v_reset", n)
    bad = v_reset >= theta
    if np.any(bad):
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{_label(name, node)}: v_reset[{i}] = {v_reset[i]:g} must be below "
                         f"v_threshold[{i}] = {theta[i]:g} (the reset depth v_threshold - v_reset "
                         f"must be > 0)")
    gain, extra, leak, kernel = r, np.zeros(n), None, ()
    if kind in ("LIF", "CubaLIF"):
        key = "tau" if kind == "LIF" else "tau_mem"
        tau = _vector(name, node, key, n, low=0.0, allow_inf=True)
        v_leak = _vector(name, node, "v_leak", n)
        if np.all(np.isinf(tau)):
            pass  # the non-leaky limit in IF's convention (module docstring)
        else:
            leak = _uniform(name, node, key, tau)
            gain, extra = r / tau, v_leak / tau
        if kind == "CubaLIF":
            gain = gain * _vector(name, node, "w_in", n)
            tau_syn = _uniform(name, node, "tau_syn",
                               _vector(name, node, "tau_syn", n, low=0.0, strict=False))
            kernel = ((tau_syn, name),) if tau_syn > 0 else ()
    if not np.all(np.isfinite(gain)):
        i = int(np.flatnonzero(~np.isfinite(gain))[0])
        raise ValueError(f"{_label(name, node)}: r[{i}] = {r[i]:g} gives an undefined input gain; "
                         f"r must be finite")
    return _Block(name, offset, n, gain, extra, leak, kernel, theta, theta - v_reset)


def _load(graph_or_path):
    nir = _import_nir()
    if isinstance(graph_or_path, nir.NIRGraph):
        return graph_or_path, "nir"
    if isinstance(graph_or_path, (str, os.PathLike)):
        path = os.fspath(graph_or_path)
        if not os.path.isfile(path):
            raise FileNotFoundError(2, "No such file or directory", path)
        try:  # from_nir checks types itself, naming the node (nir's check names none)
            graph = nir.read(path, type_check=False)
        except Exception as exc:  # h5py, KeyError, AssertionError: not a NIR graph
            raise ValueError(f"{path}: not a readable NIR graph ({type(exc).__name__}: {exc})".split("\n")[0]) \
                from None
        if not isinstance(graph, nir.NIRGraph):
            raise ValueError(f"{path}: holds a {type(graph).__name__}, not a NIRGraph")
        return graph, os.path.splitext(os.path.basename(path))[0]
    raise TypeError(f"from_nir takes a nir.NIRGraph or a path, got {type(graph_or_path).__name__}")


def from_nir(graph_or_path) -> IFNetwork:
    """The :class:`IFNetwork` of a NIR graph (module docstring: mapping and refusals).

    Parameters
    ----------
    graph_or_path : nir.NIRGraph or str or os.PathLike
        A graph, or a ``.nir`` file (read with ``nir.read``).

    Returns
    -------
    IFNetwork
        One neuron per element of each spiking node, in the order of the graph's nodes
        (subgraphs inlined where they stand).

    Raises
    ------
    ValueError
        An unsupported node, structure or parameter value, naming the node.
    FileNotFoundError
        ``graph_or_path`` is a path to no file.
    """
    graph, default_name = _load(graph_or_path)
    g = _Graph(graph)
    spiking = [name for name, node in g.nodes.items() if type(node).__name__ in _SPIKING]
    if not spiking:
        raise ValueError("the graph has no spiking node (IF, LIF or CubaLIF)")
    blocks, offset = {}, 0
    for name in spiking:
        n = g.sizes[name][0]
        blocks[name] = _block(name, g.nodes[name], offset, n)
        offset += n
    n_total = offset
    leaks = {b.leak for b in blocks.values()}
    if len(leaks) > 1:
        shown = ", ".join(f"{b.name!r}: {b.leak}" for b in blocks.values())
        raise ValueError(f"spiking nodes have different membrane time constants ({shown}); "
                         f"IFNetwork has one leak_tau")
    reader = _Reader(g)
    weights, bias = np.zeros((n_total, n_total)), np.zeros(n_total)
    kernels, delays = {}, []
    for name in spiking:
        b = blocks[name]
        terms, const = reader.at_input(name)
        rows = slice(b.offset, b.offset + b.n)
        bias[rows] = b.gain * const + b.extra
        for t in terms:
            if t.size != b.n:  # only with type_check=False graphs
                raise ValueError(f"{_label(name, g.nodes[name])} takes {b.n} inputs, gets {t.size}")
            src, m = blocks[t.src], _rowscale(b.gain, t.m)
            _add_block(weights, m, rows, src)
            kernels.setdefault(t.kernels + b.kernel, (t.src, name))
            delays.append((rows, src, t, m))
    _check_diagonal(weights, blocks, g)
    tau_syn = _tau_syn(kernels, blocks, g)
    delay = _delay_matrix(delays, weights)
    meta = graph.metadata if isinstance(graph.metadata, dict) else {}
    mode = meta.get("reset_mode", "hard")
    if mode not in RESET_MODES:
        raise ValueError(f"graph metadata reset_mode = {mode!r}, must be one of {RESET_MODES}")
    theta = np.concatenate([b.threshold for b in blocks.values()])
    reset = np.concatenate([b.reset for b in blocks.values()])
    return IFNetwork(weights=weights, bias=bias, reset=reset,
                     threshold=float(theta[0]) if np.all(theta == theta[0]) else theta,
                     tau_syn=tau_syn, delay=delay, leak_tau=leaks.pop(), reset_mode=str(mode),
                     name=str(meta.get("name", default_name)))


def _add_block(weights, m, rows, src):
    """``weights[rows, src block] += m`` without a dense copy of a sparse ``m``."""
    block = weights[rows, slice(src.offset, src.offset + src.n)]  # a view
    if np.ndim(m) == 1:  # an edge without weights: one to one
        block[np.diag_indices(len(m))] += m
    elif scipy.sparse.issparse(m):
        coo = m.tocoo()
        np.add.at(block, (coo.row, coo.col), coo.data)
    else:
        block += m


def _check_diagonal(weights, blocks, g):
    diag = np.diag(weights)
    if np.any(diag != 0):
        i = int(np.flatnonzero(diag)[0])
        name = next(b.name for b in blocks.values() if b.offset <= i < b.offset + b.n)
        k = i - blocks[name].offset
        raise ValueError(f"{_label(name, g.nodes[name])}: neuron {k} connects to itself (weight "
                         f"{diag[i]:g}); IFNetwork has no self-connections (the reset is the "
                         f"self-interaction): remove the diagonal of the recurrent weights")


def _tau_syn(kernels, blocks, g) -> float:
    """The one synaptic kernel of every path between spiking nodes."""
    for chain, (src, post) in kernels.items():
        if len(chain) > 1:
            names = " then ".join(f"{n!r} (tau {tau:g} s)" for tau, n in chain)
            raise ValueError(f"the path from {src!r} to {post!r} filters spikes twice ({names}); "
                             f"IFNetwork has one exponential synapse")
    taus = {chain[0][0] if chain else 0.0 for chain in kernels}
    if len(taus) > 1:
        shown = "; ".join(f"{src!r} -> {post!r}: " + (f"tau {c[0][0]:g} s at {c[0][1]!r}" if c else "delta")
                          for c, (src, post) in kernels.items())
        raise ValueError(f"paths between spiking nodes have different synapses ({shown}); IFNetwork "
                         f"has one tau_syn")
    if taus:
        return taus.pop()
    own = {b.kernel[0][0] if b.kernel else 0.0 for b in blocks.values()}
    return own.pop() if len(own) == 1 else 0.0


def _delay_matrix(delays, weights):
    """A scalar when every synapse has one delay, else the (N, N) matrix."""
    totals = set()
    for rows, src, t, m in delays:
        if np.ptp(t.pre) > 0 or np.ptp(t.post) > 0:
            break
        totals.add(float(t.pre[0] + t.post[0]) if t.size else 0.0)
    else:
        if len(totals) <= 1:
            return totals.pop() if totals else 0.0
    n = weights.shape[0]
    out, seen = np.zeros((n, n)), np.zeros((n, n), bool)
    for rows, src, t, m in delays:
        cols = slice(src.offset, src.offset + src.n)
        d = t.post[:, None] + t.pre[None, :]
        if np.ndim(m) == 1:
            used = np.zeros((len(m), len(m)), bool)
            used[np.diag_indices(len(m))] = m != 0
        elif scipy.sparse.issparse(m):
            used = (m != 0).toarray()
        else:
            used = m != 0
        block, taken = out[rows, cols], seen[rows, cols]
        clash = used & taken & (block != d)
        if np.any(clash):
            i, j = np.argwhere(clash)[0]
            raise ValueError(f"two paths from {t.src!r} neuron {j} reach neuron {i} with delays "
                             f"{block[i, j]:g} and {d[i, j]:g} s; IFNetwork has one delay per synapse")
        block[used] = d[used]
        taken |= used
    return out
