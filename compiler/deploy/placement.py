r"""Placing a compiled network on cores and chips: :func:`place` and :class:`Placement`.

Resource model (per core :math:`c`, stated once and used by :mod:`compiler.deploy.cost` and the
quantization report):

* **Neurons**: :math:`n_c \le` ``core.neurons_per_core``.
* **Axons**: every (source neuron :math:`j`, destination core :math:`c`, weight split
  :math:`k`) with at least one synapse from :math:`j` onto a neuron of :math:`c` is one
  output axon of :math:`j`'s core and one input axon of :math:`c` (each split is its own
  Dense process). Input axons :math:`a^{in}_c = K \cdot |\{j : \exists i \in c, W_{ij}
  \ne 0\}|` must not exceed ``core.input_axons_per_core``, output axons likewise
  ``core.output_axons_per_core``.
* **Synapse memory**: synapses are stored at the destination core, one synapse list per
  input axon, in whichever format is smaller: dense (a weight for every neuron of the
  core) or sparse (weight plus a target index),

  .. math::

      B_c = K \sum_{j} \min\big(n_c\, b,\; k_{jc}\, (b + \lceil \log_2 n_c \rceil)\big),
      \qquad b = b_w + b_d,

  with :math:`k_{jc}` the synapses from :math:`j` onto core :math:`c`, :math:`b_w`
  the weight bits (``num_weight_bits``), :math:`b_d` the delay bits (6 with
  DelayDense, else 0). :math:`B_c \le` ``core.synapse_memory_bits``. Loihi's real
  synapse encodings (run-length, box) differ in detail; this is the model.
* **Chips**: at most ``core.cores_per_chip`` cores per chip, and at most
  ``board.chips_per_board`` chips when the config describes a board (e.g.
  ``kapoho_point``: 8 Loihi 2 chips), or ``max_chips`` when given.

Traffic: neuron :math:`j` fires :math:`\rho_j` spikes per step (from measured rates when
given, else 1). A spike is sent once to every core holding one of its targets, so the
spikes crossing cores per step are :math:`\sum_j \rho_j\, |C_j \setminus \{c_j\}|`
(:math:`C_j` the destination cores of :math:`j`), and crossing chips
:math:`\sum_j \rho_j\, |H_j \setminus \{h_j\}|` (:math:`H_j` the chips of :math:`C_j`).

Partitioning (``method="metis"``, the default when pymetis is installed)
------------------------------------------------------------------------
1. The synapse graph is made undirected with edge weight :math:`\rho_j + \rho_i` for
   the synapse pair (integers for METIS, scaled to at most 1000) and cut by METIS
   k-way (pymetis) into :math:`k_0` parts, with two balance constraints per vertex:
   1 (neurons) and its fan-in (synapses stored on its core, the synapse-memory proxy),
   :math:`k_0 = \max(\lceil N / n_{core} \rceil,\ \lceil K\,\mathrm{nnz}\,(b + \lceil\log_2
   n\rceil) / B_{core} \rceil)` over a fill of 0.95 (:data:`METIS_FILL`).
2. **Refinement**: every part that breaks a per-core limit (neurons, synapse memory,
   input axons) is cut again by METIS on its own subgraph into as many parts as that
   limit needs, until none does; then every core over ``core.output_axons_per_core``
   is cut the same way (its neurons' destinations change with the partition, so this
   alternates with the first kind until both hold). ``Placement.info["refined"]``
   counts the re-cuts per limit; the report's ``binding`` names the limit closest to
   full.
3. When refinement grew the core count by more than 10 %, step 1 runs again with the
   refined count and the assignment with fewer cores (then less traffic) is kept.
4. **Chips**: the core graph (cores as vertices, edge weight the spikes per step between
   them) is cut by METIS into :math:`\lceil \text{cores} / \text{cores\_per\_chip} \rceil`
   parts, then cores are moved greedily out of over-full chips to the chip they send
   most to that has room. Cores are numbered chip by chip.

Time and memory, with :math:`\mathrm{nnz}` synapses: building the synapse graph,
the per-core resources and the traffic are :math:`O(\mathrm{nnz} \log \mathrm{nnz})` time
(one sort of (core, source) keys) and :math:`O(N + \mathrm{nnz})` memory; METIS is
:math:`O(\mathrm{nnz})` per level, about :math:`O(\mathrm{nnz} \log k)` in all; each
refinement round touches only the rows of the parts it cuts. Nothing is :math:`N \times N`
(a dense input is :math:`N \times N` already; it is read once into a CSR pattern).
Measured: ``docs/deployment.md``.

The older methods stay: ``"kl"`` (recursive bisection of the synapse graph with
networkx's Kernighan-Lin refinement of an initial split taken from a reverse
Cuthill-McKee ordering; a group is split when it breaks a core limit, into parts sized
by how many cores it needs; cores in depth-first order, chips take
``core.cores_per_chip`` consecutive cores), ``"rcm"`` (the same without Kernighan-Lin)
and ``"random"`` (a baseline). ``"auto"`` is ``"metis"`` when pymetis is importable, else
``"kl"`` with a warning up to :data:`KL_FALLBACK_MAX_NEURONS` neurons and an error above.
"""
from __future__ import annotations

import math
import os
import time
import warnings
from dataclasses import dataclass, field
from typing import Optional, Union

import numpy as np
import scipy.sparse as sp

from compiler.quantization.fixed_point import FixedPointNetwork
from compiler.hardware.config import HardwareConfig
from compiler.system.sparse import same_pattern

KL_MAX_EDGES = 400_000
"""Groups with more synapse-graph edges than this skip the (pure Python) Kernighan-Lin
refinement and keep the reverse Cuthill-McKee split."""

KL_MAX_ITER = 3
"""Kernighan-Lin passes per bisection (networkx ``max_iter``). Measured on a 10,000-neuron
sparse network: 3 passes gave the same 26 cores and a cut within 1 % of 10 passes, 4x faster."""

KL_FALLBACK_MAX_NEURONS = 20_000
"""Without pymetis, ``method="auto"`` falls back to ``"kl"`` (with a warning) up to this many
neurons and refuses above (Kernighan-Lin took 28 s at 10,000 neurons and grows faster than
linearly)."""

METIS_FILL = 0.95
"""Fraction of a core's neurons and synapse memory the first METIS cut aims at (METIS
balances within a few per cent; refinement fixes the rest)."""

METIS_MAX_EDGE_WEIGHT = 1000
"""Largest integer edge weight handed to METIS (rates are scaled to 1..this)."""

METHODS = ("auto", "metis", "kl", "rcm", "random")
"""Accepted ``place(method=)`` values."""

LIMIT_KEYS = {"neurons": "core.neurons_per_core", "synapse_memory": "core.synapse_memory_bits",
              "input_axons": "core.input_axons_per_core", "output_axons": "core.output_axons_per_core"}
"""Per-core resource -> the hardware config key that limits it."""


class PlacementError(ValueError):
    """The network cannot be placed; the message names the limit and the values."""


# ------------------------------------------------------------------ resource model
def synapse_matrix(fixed: FixedPointNetwork) -> sp.csr_matrix:
    """Boolean (post, pre) CSR matrix of the synapses present in any weight split
    (a stored entry that is zero in every split is no synapse).

    Dense splits (N x N already) and CSR splits are both read; CSR splits sharing one
    ``indptr``/``indices`` (the :class:`FixedPointNetwork` layout) are combined in
    :math:`O(\\mathrm{nnz})` time and memory without densifying; other CSR splits are
    united with sparse additions.
    """
    ws = tuple(fixed.weights)
    n = int(fixed.n)
    if not ws:
        return sp.csr_matrix((n, n), dtype=bool)
    if not any(sp.issparse(w) for w in ws):
        mask = np.zeros((n, n), bool)
        for w in ws:
            mask |= np.asarray(w) != 0
        return sp.csr_matrix(mask)
    mats = [w.tocsr() if sp.issparse(w) else sp.csr_matrix(np.asarray(w)) for w in ws]
    first = mats[0]
    same = all(same_pattern(m, first) for m in mats[1:])
    if same and first.has_sorted_indices:
        keep = first.data != 0
        for m in mats[1:]:
            keep |= m.data != 0
        counts = np.add.reduceat(keep.astype(np.int64), first.indptr[:-1]) if first.nnz else np.zeros(n, np.int64)
        counts[np.diff(first.indptr) == 0] = 0  # reduceat of an empty row repeats the next value
        indptr = np.zeros(n + 1, np.int64)
        np.cumsum(counts, out=indptr[1:])
        out = sp.csr_matrix((np.ones(int(indptr[-1]), bool), first.indices[keep], indptr), shape=(n, n))
    else:
        out = None
        for m in mats:
            m = m.copy()
            m.eliminate_zeros()
            pattern = sp.csr_matrix((np.ones(m.nnz, np.int8), m.indices, m.indptr), shape=(n, n))
            out = pattern if out is None else out + pattern
        out = sp.csr_matrix((np.ones(out.nnz, bool), out.indices, out.indptr), shape=(n, n))
    out.sort_indices()
    out.has_canonical_format = True
    return out


def bits_per_synapse(fixed: FixedPointNetwork, hw: HardwareConfig) -> int:
    r"""Stored bits of one synapse's weight and delay, :math:`b = b_w + b_d`."""
    delay_bits = 0 if fixed.delays is None else int(math.ceil(math.log2(hw.max_delay_steps + 1)))
    return int(fixed.num_weight_bits) + delay_bits


def _index_bits(n_core: int) -> int:
    return int(math.ceil(math.log2(max(n_core, 2))))


def _index_bits_array(n_core: np.ndarray) -> np.ndarray:
    n = np.maximum(np.asarray(n_core, np.int64), 2) - 1
    bits = np.zeros(n.shape, np.int64)
    while np.any(n > 0):  # bit length of n_c - 1 = ceil(log2 n_c), exact for every integer
        bits += n > 0
        n = n >> 1
    return bits


def group_resources(syn: sp.csr_matrix, members: np.ndarray, splits: int, bits: int) -> dict:
    r"""Neurons, input axons and synapse memory :math:`B_c` (module docstring) of a core
    holding ``members`` (post-synaptic rows of ``syn``)."""
    sub = syn[members]
    per_source = np.asarray(sub.getnnz(axis=0))
    k = per_source[per_source > 0]
    n_c = len(members)
    dense = n_c * bits
    sparse = k * (bits + _index_bits(n_c))
    memory = splits * int(np.minimum(dense, sparse).sum())
    return {"neurons": n_c, "input_axons": splits * int(k.size), "synapse_memory": memory}


def _pairs(syn: sp.csr_matrix, part_of: np.ndarray, rows: Optional[np.ndarray] = None):
    r"""Distinct (part, source) pairs of the synapses onto ``rows`` (all when None):
    parts :math:`c`, sources :math:`j` and synapse counts :math:`k_{jc}`, sorted by part.
    One sort of :math:`\mathrm{nnz}` int64 keys: :math:`O(\mathrm{nnz}\log\mathrm{nnz})`."""
    n = np.int64(syn.shape[1])
    if rows is None:
        indptr, indices, lab = syn.indptr, syn.indices, part_of
    else:
        sub = syn[rows]
        indptr, indices, lab = sub.indptr, sub.indices, part_of[rows]
    key = np.repeat(np.asarray(lab, np.int64), np.diff(indptr))
    key *= n
    key += indices
    key.sort()
    if key.size == 0:
        empty = np.zeros(0, np.int64)
        return empty, empty, empty
    first = np.empty(key.size, bool)
    first[0] = True
    np.not_equal(key[1:], key[:-1], out=first[1:])
    starts = np.flatnonzero(first)
    del first
    counts = np.diff(np.append(starts, key.size))
    uniq = key[starts]
    del key
    return uniq // n, uniq % n, counts


def core_resources(syn: sp.csr_matrix, core_of: np.ndarray, n_cores: int, splits: int, bits: int,
                   rows: Optional[np.ndarray] = None) -> dict:
    r"""Per-core neurons, input axons and synapse memory :math:`B_c` of an assignment
    (the model of the module docstring, as :func:`group_resources` for every core at once).

    ``rows``: restrict to these neurons (their cores' figures are exact only when
    ``rows`` holds every neuron of those cores). :math:`O(\mathrm{nnz}\log\mathrm{nnz})`
    time, :math:`O(\mathrm{nnz})` memory.
    """
    lab = core_of if rows is None else core_of[rows]
    neurons = np.bincount(lab, minlength=n_cores).astype(np.int64)
    core, _src, k = _pairs(syn, core_of, rows)
    n_c = neurons[core]
    per_pair = np.minimum(n_c * bits, k * (bits + _index_bits_array(n_c)))
    memory = splits * np.bincount(core, weights=per_pair, minlength=n_cores)
    return {"neurons": neurons, "input_axons": splits * np.bincount(core, minlength=n_cores).astype(np.int64),
            "synapse_memory": np.rint(memory).astype(np.int64)}


def synapse_memory_bits(fixed: FixedPointNetwork, hw: Union[str, HardwareConfig, None] = None) -> int:
    """Synapse memory of the whole network on one (unbounded) core, bits: the model's
    :math:`B_c` with every neuron on the same core. Spread over cores the total changes
    little (sparse lists need fewer index bits on smaller cores; dense rows are per core);
    :func:`place` gives the per-core figures."""
    hw = HardwareConfig.load(hw or fixed.hw_name)
    syn = synapse_matrix(fixed)
    return group_resources(syn, np.arange(fixed.n), fixed.n_splits, bits_per_synapse(fixed, hw))["synapse_memory"]


def cores_lower_bound(fixed: FixedPointNetwork, hw: Union[str, HardwareConfig, None] = None,
                      memory_bits: Optional[int] = None) -> int:
    r"""Cores needed by neuron count and total synapse memory,
    :math:`\max(\lceil N/n_{core}\rceil, \lceil B/B_{core}\rceil, 1)` (an estimate that
    ignores axons and fragmentation; :func:`place` gives the real count)."""
    hw = HardwareConfig.load(hw or fixed.hw_name)
    mem = synapse_memory_bits(fixed, hw) if memory_bits is None else memory_bits
    return max(1, math.ceil(fixed.n / hw.neurons_per_core), math.ceil(mem / hw.synapse_memory_bits))


def spike_rates_per_step(fixed: FixedPointNetwork, rates=None) -> tuple:
    r"""Expected spikes per step per neuron :math:`\rho_j` and where they came from.

    ``rates`` may be None (1 per step: every synapse weighs the same), an array of
    rates in Hz, shape (N,), or a result with ``mean_rates`` (float simulation,
    emulator or Lava run); Hz are turned into spikes per step with ``fixed.dt``.
    """
    if rates is None:
        return np.ones(fixed.n), "uniform (no rates given)"
    source = type(rates).__name__
    if hasattr(rates, "mean_rates"):
        rates = rates.mean_rates
    r = np.asarray(rates, float)
    if r.shape != (fixed.n,) or not np.all(np.isfinite(r)) or np.any(r < 0):
        raise ValueError(f"rates must be {fixed.n} finite non-negative values in Hz, got shape {r.shape}")
    rho = r * fixed.dt
    floor = 1e-3 * max(float(rho.mean()), 1e-12)  # silent neurons still carry structure
    return np.maximum(rho, floor), f"measured rates ({source})" if source != "ndarray" else "given rates (Hz)"


def destination_counts(syn: sp.csr_matrix, part_of: np.ndarray) -> np.ndarray:
    r"""Per source neuron :math:`j`, the number of distinct parts (cores or chips) that
    hold at least one of its targets, :math:`|C_j|`."""
    _part, src, _k = _pairs(syn, np.asarray(part_of, np.int64))
    return np.bincount(src, minlength=syn.shape[1])


def crossing_counts(syn: sp.csr_matrix, part_of: np.ndarray) -> np.ndarray:
    r"""Per source :math:`j`, the destination parts other than its own,
    :math:`|C_j \setminus \{c_j\}|` (its spike's crossings)."""
    part_of = np.asarray(part_of, np.int64)
    part, src, _k = _pairs(syn, part_of)
    other = part != part_of[src]
    return np.bincount(src[other], minlength=syn.shape[1])


# ------------------------------------------------------------------ partitioning
def _limits(hw: HardwareConfig) -> dict:
    return {"neurons": hw.neurons_per_core, "synapse_memory": hw.synapse_memory_bits,
            "input_axons": hw.input_axons_per_core}


def _cores_needed(res: dict, limits: dict) -> int:
    return max(math.ceil(res[k] / limits[k]) for k in limits)


def _single_neuron_error(neuron: int, res: dict, limits: dict) -> PlacementError:
    key = max(limits, key=lambda k: res[k] / limits[k])
    return PlacementError(f"neuron {int(neuron)} alone needs {key.replace('_', ' ')} {int(res[key])} > "
                          f"{LIMIT_KEYS[key]} = {limits[key]}: it cannot fit on any core")


def _split(syn_sym: sp.csr_matrix, members: np.ndarray, n_left: int, rng, use_kl: bool):
    """Split ``members`` into two groups of ``n_left`` and the rest, few edges cut."""
    from scipy.sparse.csgraph import reverse_cuthill_mckee

    sub = syn_sym[members][:, members]
    order = reverse_cuthill_mckee(sub.tocsr(), symmetric_mode=True)
    left = np.zeros(len(members), bool)
    left[order[:n_left]] = True
    if use_kl and sub.nnz // 2 <= KL_MAX_EDGES and 0 < n_left < len(members):
        import networkx as nx
        from networkx.algorithms.community import kernighan_lin_bisection

        graph = nx.from_scipy_sparse_array(sp.triu(sub, k=1).tocsr(), edge_attribute="weight")
        graph.add_nodes_from(range(len(members)))
        a = set(np.flatnonzero(left).tolist())
        b = set(range(len(members))) - a
        a, b = kernighan_lin_bisection(graph, partition=(a, b), max_iter=KL_MAX_ITER, weight="weight",
                                       seed=int(rng.integers(2**31)))
        left[:] = False
        left[list(a)] = True
    return members[left], members[~left]


def _bisect(syn, syn_sym, members, splits, bits, limits, rng, use_kl, out):
    res = group_resources(syn, members, splits, bits)
    need = _cores_needed(res, limits)
    if need <= 1:
        out.append(members)
        return
    if len(members) == 1:
        raise _single_neuron_error(members[0], res, limits)
    need = min(need, len(members))
    k_left = need // 2
    n_left = max(1, min(len(members) - 1, round(len(members) * k_left / need)))
    left, right = _split(syn_sym, members, n_left, rng, use_kl)
    for part in (left, right):
        _bisect(syn, syn_sym, part, splits, bits, limits, rng, use_kl, out)


def _traffic_graph(syn: sp.csr_matrix, rho: np.ndarray) -> sp.csr_matrix:
    r"""Undirected synapse graph, edge weight :math:`\rho_j + \rho_i` for the pair (no
    diagonal). :math:`O(\mathrm{nnz})` memory (about twice ``syn``'s pattern)."""
    n = syn.shape[0]
    weighted = sp.csr_matrix((rho[syn.indices], syn.indices, syn.indptr), shape=(n, n))
    sym = (weighted + weighted.T).tocsr()
    del weighted
    coo_rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(sym.indptr))
    off = coo_rows != sym.indices
    if not np.all(off):
        sym = sp.csr_matrix((sym.data[off], sym.indices[off],
                             np.concatenate([[0], np.cumsum(np.bincount(coo_rows[off], minlength=n))])),
                            shape=(n, n))
    del coo_rows, off
    sym.sort_indices()
    return sym


def _metis_available() -> bool:
    try:
        import pymetis  # noqa: F401
    except ImportError:
        return False
    return True


def _metis(graph: sp.csr_matrix, nparts: int, vweights: Optional[np.ndarray], seed: int,
           ufactor: int = 30) -> np.ndarray:
    """METIS k-way parts of a symmetric CSR graph (``graph.data`` the edge weights, any
    positive floats; uniform weights are passed as none). ``vweights``: (n, ncon) ints."""
    import pymetis

    n = graph.shape[0]
    nparts = int(min(nparts, n))
    if nparts <= 1:
        return np.zeros(n, np.int64)
    if nparts >= n:  # one vertex per part (METIS refuses)
        return np.arange(n, dtype=np.int64)
    if graph.nnz == 0:  # no edges: any balanced split is optimal
        return (np.arange(n, dtype=np.int64) * nparts) // n
    dt = pymetis.zero_copy_dtype()
    data = graph.data
    eweights = None
    if data.size and data.max() > data.min() * (1 + 1e-9):
        eweights = np.maximum(1, np.rint(data * (METIS_MAX_EDGE_WEIGHT / data.max()))).astype(dt)
    opts = pymetis.Options()
    opts.seed = int(seed)
    opts.ufactor = int(ufactor)
    vw = None if vweights is None else np.ascontiguousarray(vweights, dtype=dt).ravel()
    res = pymetis.part_graph(nparts, adjacency=pymetis.CSRAdjacency(graph.indptr.astype(dt, copy=False),
                                                                      graph.indices.astype(dt, copy=False)),
                             vweights=vw, eweights=eweights, options=opts, recursive=False)
    parts = np.frombuffer(res.vertex_part, dtype=np.dtype(f"i{res.vertex_part.itemsize}")).astype(np.int64)
    # METIS may leave parts empty; renumber densely.
    _, parts = np.unique(parts, return_inverse=True)
    return parts.astype(np.int64).ravel()


def _vertex_weights(syn: sp.csr_matrix, members: Optional[np.ndarray], by_memory: bool) -> Optional[np.ndarray]:
    """One METIS balance constraint: neurons (None: unit weights), or fan-in + 1 when
    synapse memory is what fills the cores (METIS' multi-constraint balance is too loose
    to pack cores tightly)."""
    if not by_memory:
        return None
    fan_in = np.diff(syn.indptr).astype(np.int64)
    if members is not None:
        fan_in = fan_in[members]
    return (fan_in + 1)[:, None]


def _try_moves(syn, sym, labels, c, members, res, limits, splits, bits, n_parts, order, bounds, frozen):
    """Repair a slightly over-full part ``c`` by moving its best-connected boundary
    neurons to neighbouring parts (the exact resources of every touched part are
    recomputed); returns True when every touched part then fits, else undoes the moves.
    ``order``/``bounds`` list each part's members at the start of the round; parts in
    ``frozen`` (changed this round) receive no neurons, so those lists stay exact."""
    ratio = max(res[k][c] / limits[k] for k in limits)
    m = int(math.ceil(members.size * (1.0 - 1.0 / ratio))) + 1
    if ratio > 1.25 or m > max(8, members.size // 10):
        return False
    sub = sym[members]
    rows = np.repeat(np.arange(members.size), np.diff(sub.indptr))
    dest = labels[sub.indices]
    out = (dest != c) & ~frozen[dest]
    inner = dest == c
    if not np.any(out):
        return False
    gain = sp.coo_matrix((sub.data[out], (rows[out], dest[out])), shape=(members.size, n_parts)).tocsr()
    inside = np.bincount(rows[inner], weights=sub.data[inner], minlength=members.size)
    best_part = np.asarray(gain.argmax(axis=1)).ravel()
    best_gain = np.asarray(gain.max(axis=1).todense()).ravel() - inside
    movable = np.flatnonzero(np.asarray(gain.getnnz(axis=1)) > 0)
    if movable.size < m:
        return False
    pick = movable[np.argsort(-best_gain[movable], kind="stable")[:m]]
    old = labels[members[pick]].copy()
    labels[members[pick]] = best_part[pick]
    touched = np.unique(np.append(best_part[pick], c))
    ok = True
    for part in touched:
        part_members = order[bounds[part]:bounds[part + 1]]
        if part != c:
            part_members = np.concatenate([part_members, members[pick][best_part[pick] == part]])
        part_members = part_members[labels[part_members] == part]
        r = group_resources(syn, part_members, splits, bits)
        if _cores_needed(r, limits) > 1:
            ok = False
            break
    if not ok:
        labels[members[pick]] = old
    return ok


def _initial_parts(n: int, nnz: int, splits: int, bits: int, hw: HardwareConfig) -> int:
    k = max(1, math.ceil(n / hw.neurons_per_core))
    n_core = max(1, min(hw.neurons_per_core, math.ceil(n / k)))
    k_mem = math.ceil(splits * nnz * (bits + _index_bits(n_core)) / (hw.synapse_memory_bits * METIS_FILL))
    return int(min(n, max(k, k_mem)))


def _metis_partition(syn, sym, splits, bits, hw, k0, seed, counts):
    """METIS cut into ``k0`` parts, then re-cut parts that break a limit (module
    docstring, steps 1-2). Returns core labels; ``counts`` gathers re-cuts per limit."""
    n = syn.shape[0]
    limits = _limits(hw)
    by_memory = k0 > math.ceil(n / hw.neurons_per_core)
    # Neuron-bound: allow METIS the imbalance the cores have room for (moves repair the rest).
    slack = 30 if by_memory else int(np.clip((hw.neurons_per_core * k0 / max(n, 1) - 1) * 1000, 1, 30))
    labels = _metis(sym, k0, _vertex_weights(syn, None, by_memory), seed, slack)
    n_parts = int(labels.max()) + 1 if n else 0
    res = core_resources(syn, labels, n_parts, splits, bits)
    check = np.arange(n_parts)
    for _round in range(256):
        # (a) per-core limits that depend on the core's own members
        need = np.ones(n_parts, np.int64)
        why = np.zeros(n_parts, np.int64)
        for i, key in enumerate(limits):
            k_need = -(-res[key] // limits[key])
            why = np.where(k_need > need, i, why)
            need = np.maximum(need, k_need)
        over = check[need[check] > 1]
        if over.size == 0:
            # (b) output axons depend on every core's members
            out_axons = splits * np.bincount(labels, weights=destination_counts(syn, labels),
                                             minlength=n_parts).astype(np.int64)
            bad = np.flatnonzero(out_axons > hw.output_axons_per_core)
            if bad.size == 0:
                return labels
            need = np.zeros(n_parts, np.int64)
            need[bad] = np.maximum(2, -(-out_axons[bad] // hw.output_axons_per_core))
            over = bad
            reasons = ["output_axons"] * len(bad)
        else:
            reasons = [list(limits)[int(why[c])] for c in over]
        order = np.argsort(labels, kind="stable")
        bounds = np.searchsorted(labels[order], np.arange(n_parts + 1))
        changed = []
        frozen = np.zeros(n_parts + int(need[over].sum()) + 1, bool)  # parts re-cut or moved into
        frozen[over] = True
        for c, reason in zip(over.tolist(), reasons):
            members = order[bounds[c]:bounds[c + 1]]
            if members.size == 1:
                if reason == "output_axons":
                    raise PlacementError(f"neuron {int(members[0])} needs {int(out_axons[c])} output axons > "
                                         f"core.output_axons_per_core = {hw.output_axons_per_core}")
                raise _single_neuron_error(members[0], {k: res[k][c] for k in limits}, limits)
            counts[reason] = counts.get(reason, 0) + 1
            if reason != "output_axons" and need[c] == 2 and _try_moves(syn, sym, labels, c, members, res, limits,
                                                                     splits, bits, n_parts, order, bounds,
                                                                     frozen):
                counts["moves"] = counts.get("moves", 0) + 1
                touched = np.unique(labels[members])
                frozen[touched] = True
                changed.extend(touched.tolist())
                continue
            k = int(min(need[c], members.size))
            sub = sym[members][:, members]
            sub_labels = _metis(sub, k, _vertex_weights(syn, members, reason == "synapse_memory"),
                                seed + _round + 1)
            new_ids = np.concatenate([[c], n_parts + np.arange(int(sub_labels.max()))])
            labels[members] = new_ids[sub_labels]
            frozen[new_ids] = True
            changed.extend(new_ids.tolist())
            n_parts += int(sub_labels.max())
        changed = np.asarray(changed, np.int64)
        # Recompute the re-cut parts only.
        in_changed = np.zeros(n_parts, bool)
        in_changed[changed] = True
        rows = np.flatnonzero(in_changed[labels])
        part_res = core_resources(syn, labels, n_parts, splits, bits, rows=rows)
        for key in res:
            grown = np.zeros(n_parts, np.int64)
            grown[:len(res[key])] = res[key]
            grown[changed] = part_res[key][changed]
            res[key] = grown
        check = changed
    raise PlacementError("could not fit every core's limits after 256 rounds of re-cutting")  # pragma: no cover


def _chip_assignment(syn, core_of, rho, n_cores, cores_per_chip, seed):
    """Second-level partition: cores onto chips of ``cores_per_chip`` (module docstring,
    step 4). Returns the chip of each core."""
    n_chips = -(-n_cores // cores_per_chip)
    if n_chips <= 1:
        return np.zeros(n_cores, np.int64)
    dst, src, _k = _pairs(syn, core_of)
    own = core_of[src]
    off = dst != own
    graph = sp.coo_matrix((rho[src[off]], (own[off], dst[off])), shape=(n_cores, n_cores)).tocsr()
    graph = (graph + graph.T).tocsr()
    graph.sum_duplicates()
    chip = _metis(graph, n_chips, None, seed) if _metis_available() else np.arange(n_cores) // cores_per_chip
    if chip.max() + 1 < n_chips:  # METIS merged parts: spread again below
        pass
    # Enforce the hard capacity: move cores out of over-full chips, greedily by affinity.
    onehot = sp.csr_matrix((np.ones(n_cores), (np.arange(n_cores), chip)), shape=(n_cores, n_chips))
    affinity = np.asarray((graph @ onehot).todense())  # (cores, chips): spikes per step to each chip
    size = np.bincount(chip, minlength=n_chips)
    while np.any(size > cores_per_chip):
        a = int(np.argmax(size))
        room = size < cores_per_chip
        members = np.flatnonzero(chip == a)
        gain = affinity[np.ix_(members, np.flatnonzero(room))] - affinity[members, a][:, None]
        i, j = np.unravel_index(int(np.argmax(gain)), gain.shape)
        c, b = int(members[i]), int(np.flatnonzero(room)[j])
        chip[c] = b
        size[a] -= 1
        size[b] += 1
        col = graph[c].toarray().ravel()
        affinity[:, a] -= col
        affinity[:, b] += col
    return chip


def _board_chips(hw: HardwareConfig, max_chips: Optional[int]) -> Optional[int]:
    if max_chips is not None:
        return int(max_chips)
    return hw.chips_per_board or None


def _refuse_board(n_cores_needed: int, hw: HardwareConfig, max_chips: int, why: str) -> PlacementError:
    source = "max_chips" if hw.chips_per_board in (0, None) or max_chips != hw.chips_per_board \
        else "board.chips_per_board"
    chips = -(-n_cores_needed // hw.cores_per_chip)
    return PlacementError(f"chips: the network needs {chips} chips of {hw.cores_per_chip} cores "
                          f"(core.cores_per_chip; {n_cores_needed} cores, {why}) but {source} = {max_chips} "
                          f"(at most {max_chips * hw.cores_per_chip} cores)")


def place(fixed: FixedPointNetwork, hw: Union[str, HardwareConfig, None] = None, rates=None, *,
          max_chips: Optional[int] = None, method: str = "auto", seed: int = 0) -> "Placement":
    r"""Assign neurons to cores and chips within ``hw``'s per-core and per-board limits.

    Parameters
    ----------
    fixed : FixedPointNetwork
        Dense or CSR weight splits (read through :func:`synapse_matrix`, never densified).
    hw : str, path or HardwareConfig, optional
        Target (default the one ``fixed`` was compiled for). A board config (one with a
        ``[board]`` table, e.g. ``"kapoho_point"``) bounds the chips.
    rates : array (Hz), result with ``mean_rates``, or None
        Expected firing rates that weight the traffic (see :func:`spike_rates_per_step`).
    max_chips : int, optional
        Chips available; default ``board.chips_per_board`` of a board config, else
        unbounded.
    method : {"auto", "metis", "kl", "rcm", "random"}
        ``"metis"``: METIS k-way cut refined until every core fits, cores onto chips by a
        second METIS cut (module docstring); ``"auto"``: ``"metis"`` when pymetis is
        installed, else ``"kl"`` with a warning up to :data:`KL_FALLBACK_MAX_NEURONS`
        neurons; ``"kl"``: recursive bisection refined by Kernighan-Lin (networkx);
        ``"rcm"``: the same bisection without the refinement; ``"random"``: a random
        balanced assignment to the cores ``"kl"`` needs (a baseline).
    seed : int
        Seed of METIS, of Kernighan-Lin's tie breaking and of the random baseline.

    Returns
    -------
    Placement
        ``info["refined"]`` counts the METIS re-cuts per limit, ``info["timings_s"]`` the
        stages' seconds; ``report()["binding"]`` is the limit closest to full.

    Raises
    ------
    PlacementError
        A neuron alone breaks a core limit, a core's output axons exceed
        ``core.output_axons_per_core``, or more chips are needed than ``max_chips`` /
        ``board.chips_per_board`` (the message names the limit and the numbers).
    ImportError
        ``method="metis"`` without pymetis, or ``"auto"`` without it above
        :data:`KL_FALLBACK_MAX_NEURONS` neurons.

    Notes
    -----
    ``"metis"``: :math:`O(\mathrm{nnz}\log\mathrm{nnz})` time, :math:`O(N + \mathrm{nnz})`
    memory (module docstring). ``"kl"`` slices the graph once per bisection and runs
    pure-Python Kernighan-Lin: practical to about :math:`10^4` neurons.
    """
    if not isinstance(fixed, FixedPointNetwork):
        raise TypeError(f"fixed must be a FixedPointNetwork, got {type(fixed).__name__}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {list(METHODS)}, got {method!r}")
    hw = HardwareConfig.load(hw or fixed.hw_name)
    if method in ("auto", "metis") and not _metis_available():
        if method == "metis" or fixed.n > KL_FALLBACK_MAX_NEURONS:
            raise ImportError(f"placing {fixed.n} neurons needs METIS: pip install pymetis (the 'kl' fallback "
                              f"is limited to {KL_FALLBACK_MAX_NEURONS} neurons)")
        warnings.warn("pymetis is not installed: placing with networkx Kernighan-Lin (slower, fine for "
                      f"<= {KL_FALLBACK_MAX_NEURONS} neurons); pip install pymetis", RuntimeWarning, stacklevel=2)
        method = "kl"
    elif method == "auto":
        method = "metis"
    timings = {}
    t0 = time.perf_counter()
    rho, rate_source = spike_rates_per_step(fixed, rates)
    syn = synapse_matrix(fixed)
    bits = bits_per_synapse(fixed, hw)
    splits = fixed.n_splits
    limits = _limits(hw)
    chips_cap = _board_chips(hw, max_chips)
    timings["synapse_matrix"] = time.perf_counter() - t0
    # Refuse up front when even the lower bound does not fit the board.
    lower = {"neurons": math.ceil(fixed.n / hw.neurons_per_core),
             "synapse_memory": math.ceil(splits * syn.nnz * bits / hw.synapse_memory_bits)}
    if chips_cap is not None and max(lower.values()) > chips_cap * hw.cores_per_chip:
        key = max(lower, key=lower.get)
        why = (f"{fixed.n} neurons / core.neurons_per_core = {hw.neurons_per_core}" if key == "neurons" else
               f"at least {splits} x {syn.nnz} synapses x {bits} bits = {splits * syn.nnz * bits} bits / "
               f"core.synapse_memory_bits = {hw.synapse_memory_bits}")
        raise _refuse_board(max(lower.values()), hw, chips_cap, f"binding limit {LIMIT_KEYS[key]}: {why}")
    t0 = time.perf_counter()
    sym = _traffic_graph(syn, rho)
    timings["traffic_graph"] = time.perf_counter() - t0
    info = {}
    if method == "metis":
        t0 = time.perf_counter()
        counts: dict = {}
        k0 = _initial_parts(fixed.n, syn.nnz, splits, bits, hw)
        core_of = _metis_partition(syn, sym, splits, bits, hw, k0, seed, counts)
        n_cores = int(core_of.max()) + 1
        passes = [(k0, n_cores)]
        if n_cores > 1.1 * k0:
            counts2: dict = {}
            again = _metis_partition(syn, sym, splits, bits, hw, n_cores, seed + 7919, counts2)
            n2 = int(again.max()) + 1
            passes.append((n_cores, n2))
            better = n2 < n_cores or (n2 == n_cores and _cut(syn, again, rho) < _cut(syn, core_of, rho))
            if better:
                core_of, n_cores, counts = again, n2, counts2
        timings["partition"] = time.perf_counter() - t0
        if chips_cap is not None and -(-n_cores // hw.cores_per_chip) > chips_cap:
            binding = _binding_name(syn, core_of, n_cores, splits, bits, hw)
            raise _refuse_board(n_cores, hw, chips_cap, f"binding limit {binding} after partitioning")
        t0 = time.perf_counter()
        chip = _chip_assignment(syn, core_of, rho, n_cores, hw.cores_per_chip, seed)
        order = np.lexsort((np.arange(n_cores), chip))  # cores numbered chip by chip
        renumber = np.empty(n_cores, np.int64)
        renumber[order] = np.arange(n_cores)
        core_of = renumber[core_of]
        chip_of_core = chip[order]
        _, chip_of_core = np.unique(chip_of_core, return_inverse=True)
        timings["chips"] = time.perf_counter() - t0
        info = {"refined": counts, "metis_passes": [{"parts": a, "cores": b} for a, b in passes]}
    else:
        core_of, chip_of_core = _place_bisection(fixed, hw, syn, sym, splits, bits, limits, method, seed)
        n_chips = int(chip_of_core[-1]) + 1
        if chips_cap is not None and n_chips > chips_cap:
            raise _refuse_board(len(chip_of_core), hw, chips_cap, f"method {method!r}")
    t0 = time.perf_counter()
    p = Placement.build(fixed, hw, syn, core_of, np.asarray(chip_of_core, np.int64).ravel(), rho, rate_source,
                        method, limits)
    timings["build"] = time.perf_counter() - t0
    p.info.update(info)
    p.info["timings_s"] = timings
    p.info["max_chips"] = chips_cap
    return p


def _cut(syn, core_of, rho) -> float:
    return float(rho @ crossing_counts(syn, core_of))


def _binding_name(syn, core_of, n_cores, splits, bits, hw) -> str:
    res = core_resources(syn, core_of, n_cores, splits, bits)
    res["output_axons"] = splits * np.bincount(core_of, weights=destination_counts(syn, core_of),
                                               minlength=n_cores)
    lim = {**_limits(hw), "output_axons": hw.output_axons_per_core}
    key = max(lim, key=lambda k: float(np.mean(res[k])) / lim[k])
    return f"{LIMIT_KEYS[key]} (mean use {float(np.mean(res[key])) / lim[key]:.0%} per core)"


def _place_bisection(fixed, hw, syn, syn_sym, splits, bits, limits, method, seed):
    """The ``"kl"`` / ``"rcm"`` / ``"random"`` methods (module docstring)."""
    rng = np.random.default_rng(seed)
    groups = []
    pending = [np.arange(fixed.n)]
    for _ in range(64):  # re-split cores whose output axons overflow
        for members in pending:
            _bisect(syn, syn_sym, members, splits, bits, limits, rng, method == "kl", groups)
        core_of = _core_of(groups, fixed.n)
        if method == "random":
            core_of = _random_balanced(len(groups), fixed.n, rng)
            groups = [np.flatnonzero(core_of == c) for c in range(len(groups))]
        out_axons = splits * np.bincount(core_of, weights=destination_counts(syn, core_of),
                                         minlength=len(groups)).astype(np.int64)
        over = np.flatnonzero(out_axons > hw.output_axons_per_core)
        if over.size == 0 or method == "random":
            break
        pending = []
        for c in over:
            g = groups[c]
            if len(g) == 1:
                raise PlacementError(f"neuron {int(g[0])} needs {int(out_axons[c])} output axons > "
                                     f"core.output_axons_per_core = {hw.output_axons_per_core}")
            half = len(g) // 2
            pending.extend(_split(syn_sym, g, half, rng, method == "kl"))
        groups = [g for c, g in enumerate(groups) if c not in set(over.tolist())]
    else:  # pragma: no cover - 64 rounds of splitting
        raise PlacementError("output axons per core: could not fit after 64 re-splits")
    n_cores = len(groups)
    return core_of, np.arange(n_cores) // hw.cores_per_chip


def _core_of(groups, n):
    core_of = np.empty(n, np.int64)
    for c, g in enumerate(groups):
        core_of[g] = c
    return core_of


def _random_balanced(n_cores, n, rng):
    return rng.permutation(np.arange(n) % n_cores)


# ------------------------------------------------------------------ result
@dataclass
class Placement:
    r"""Neurons on cores, cores on chips, and what it costs.

    Attributes
    ----------
    hw : HardwareConfig
    core_of : ndarray of int, shape (N,)
        Core of each neuron.
    chip_of_core : ndarray of int, shape (cores,)
        Chip of each core.
    neurons, input_axons, output_axons, synapse_memory : ndarray of int, shape (cores,)
        Per-core use (module docstring).
    core_crossings, chip_crossings : ndarray of int, shape (N,)
        Per neuron, cores (chips) other than its own that each of its spikes reaches.
    spikes_per_step : ndarray, shape (N,)
        The traffic weights :math:`\rho_j` used.
    rate_source, method : str
    """

    hw: HardwareConfig
    core_of: np.ndarray
    chip_of_core: np.ndarray
    neurons: np.ndarray
    input_axons: np.ndarray
    output_axons: np.ndarray
    synapse_memory: np.ndarray
    core_crossings: np.ndarray
    chip_crossings: np.ndarray
    fanout: np.ndarray
    spikes_per_step: np.ndarray
    splits: int
    rate_source: str = ""
    method: str = "kl"
    info: dict = field(default_factory=dict)

    @classmethod
    def build(cls, fixed, hw, syn, core_of, chip_of_core, rho, rate_source, method, limits):
        """Compute every per-core figure of an assignment (checked against the limits).
        :math:`O(\\mathrm{nnz}\\log\\mathrm{nnz})` time: two sorts of (part, source) keys."""
        n_cores = len(chip_of_core)
        bits = bits_per_synapse(fixed, hw)
        core_of = np.asarray(core_of, np.int64)
        res = core_resources(syn, core_of, n_cores, fixed.n_splits, bits)
        dst, src, _k = _pairs(syn, core_of)
        core_cross = np.bincount(src[dst != core_of[src]], minlength=syn.shape[1])
        out_axons = fixed.n_splits * np.bincount(core_of[src], minlength=n_cores).astype(np.int64)
        del dst, src, _k
        chip_of = np.asarray(chip_of_core, np.int64)[core_of]
        p = cls(hw=hw, core_of=core_of, chip_of_core=np.asarray(chip_of_core, np.int64),
                neurons=res["neurons"], input_axons=res["input_axons"], output_axons=out_axons,
                synapse_memory=res["synapse_memory"],
                core_crossings=core_cross, chip_crossings=crossing_counts(syn, chip_of),
                fanout=np.bincount(syn.indices, minlength=syn.shape[1]).astype(np.int64), spikes_per_step=rho,
                splits=fixed.n_splits, rate_source=rate_source, method=method,
                info={"bits_per_synapse": bits, "n": fixed.n, "hw_name": hw.name})
        if method != "random":
            p.check()
        return p

    # -------------------------------------------------------------- derived
    @property
    def n_cores(self) -> int:
        """Cores used."""
        return len(self.chip_of_core)

    @property
    def n_chips(self) -> int:
        """Chips used."""
        return int(self.chip_of_core.max()) + 1

    def limits(self) -> dict:
        """Per-core limit of each resource (from the config)."""
        return {**_limits(self.hw), "output_axons": self.hw.output_axons_per_core}

    def utilization(self) -> dict:
        """Per resource, each core's use as a fraction of its limit, shape (cores,)."""
        lim = self.limits()
        return {k: getattr(self, k) / lim[k] for k in LIMIT_KEYS}

    def violations(self) -> list:
        """``"resource on core c: use > key = limit"`` for every broken limit (empty when valid)."""
        out = []
        for key, frac in self.utilization().items():
            for c in np.flatnonzero(frac > 1):
                out.append(f"{key.replace('_', ' ')} on core {c}: {int(getattr(self, key)[c])} > "
                           f"{LIMIT_KEYS[key]} = {self.limits()[key]}")
        return out

    def check(self) -> None:
        """Raise :class:`PlacementError` naming the first broken limit, if any."""
        bad = self.violations()
        if bad:
            raise PlacementError(f"placement on {self.hw.name} breaks {len(bad)} limit(s); first: {bad[0]}")

    def traffic(self) -> dict:
        r"""Expected spikes per step: sent (:math:`\sum_j \rho_j`), delivered to synapses
        (:math:`K \sum_j \rho_j f_j`), crossing cores and crossing chips (module docstring)."""
        rho = self.spikes_per_step
        return {"spikes_sent": float(rho.sum()),
                "synaptic_events": float(self.splits * rho @ self.fanout),
                "core_crossings": float(rho @ self.core_crossings),
                "chip_crossings": float(rho @ self.chip_crossings)}

    def report(self) -> "PlacementReport":
        """Cores and chips used, per-core utilization, synapse memory and traffic cut."""
        util = self.utilization()
        rep = PlacementReport(
            hw=self.hw.name, method=self.method, rate_source=self.rate_source, neurons=int(self.info["n"]),
            cores=self.n_cores, chips=self.n_chips, splits=self.splits,
            bits_per_synapse=int(self.info["bits_per_synapse"]),
            synapse_memory_bits=int(self.synapse_memory.sum()),
            synapse_memory_kib=float(self.synapse_memory.sum() / 8192.0),
            limits={k: int(v) for k, v in self.limits().items()},
            limit_keys=dict(LIMIT_KEYS),
            unverified=[LIMIT_KEYS[k] for k in LIMIT_KEYS if self.hw.is_unverified(LIMIT_KEYS[k])],
            utilization={k: {"max": float(v.max()), "mean": float(v.mean())} for k, v in util.items()},
            binding=max(util, key=lambda k: float(util[k].max())),
            per_core=[{"core": c, "chip": int(self.chip_of_core[c]), "neurons": int(self.neurons[c]),
                       "input_axons": int(self.input_axons[c]), "output_axons": int(self.output_axons[c]),
                       "synapse_memory_bits": int(self.synapse_memory[c]),
                       "utilization": {k: float(util[k][c]) for k in LIMIT_KEYS}} for c in range(self.n_cores)],
            traffic=self.traffic())
        return rep

    def plot(self, path, max_cores: int = 256):
        """Draw the core map (one square per core, shaded by its most-used resource,
        chips outlined) and per-core utilization bars; save atomically to ``path``."""
        import matplotlib
        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
        from matplotlib.patches import Rectangle

        util = self.utilization()
        worst = np.max(np.stack([util[k] for k in LIMIT_KEYS]), axis=0)
        n = min(self.n_cores, max_cores)
        side = int(math.ceil(math.sqrt(max(self.hw.cores_per_chip, 1))))
        fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4.5), gridspec_kw={"width_ratios": [1, 1.4]})
        cmap = plt.get_cmap("viridis")
        chips = int(self.chip_of_core[:n].max()) + 1
        for c in range(n):
            chip = int(self.chip_of_core[c])
            local = c - chip * self.hw.cores_per_chip
            x = chip * (side + 1) + local % side
            y = local // side
            ax.add_patch(Rectangle((x, -y), 0.9, 0.9, color=cmap(min(worst[c], 1.0))))
        for chip in range(chips):
            ax.add_patch(Rectangle((chip * (side + 1) - 0.1, -side + 0.9), side + 0.1, side + 0.1,
                                   fill=False, lw=1, ec="gray"))
        ax.set_xlim(-0.5, chips * (side + 1))
        ax.set_ylim(-side, 1.2)
        ax.set_aspect("equal")
        ax.axis("off")
        t = self.traffic()
        ax.set_title(f"{self.n_cores} cores on {self.n_chips} chip(s) ({self.hw.name}); colour = most-used "
                     f"resource\ncore crossings {t['core_crossings']:.3g}/step, chip {t['chip_crossings']:.3g}/step",
                     fontsize=9)
        sm = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(0, 1))
        fig.colorbar(sm, ax=ax, fraction=0.04, label="fraction of limit")
        idx = np.arange(n)
        width = 0.8 / len(LIMIT_KEYS)
        for i, key in enumerate(LIMIT_KEYS):
            bx.bar(idx + i * width, util[key][:n], width, label=key.replace("_", " "))
        bx.axhline(1.0, color="k", lw=0.8, ls="--")
        bx.set_xlabel("core")
        bx.set_ylabel("fraction of the per-core limit")
        bx.legend(fontsize=8)
        fig.tight_layout()
        from compiler.system.files import atomic_output
        fmt = os.path.splitext(os.fspath(path))[1].lstrip(".").lower() or "png"
        try:
            with atomic_output(path, "wb") as handle:
                fig.savefig(handle, format=fmt, dpi=120)
        finally:
            plt.close(fig)
        return path


class PlacementReport(dict):
    """:meth:`Placement.report`: a JSON-ready dict whose ``str()`` is a summary."""

    def __str__(self) -> str:
        return self.table()

    def table(self, max_rows: int = 16) -> str:
        """A text summary plus the first ``max_rows`` cores."""
        t = self["traffic"]
        lines = [f"Placement on {self['hw']} ({self['method']}, traffic weights: {self['rate_source']}): "
                 f"{self['neurons']} neurons on {self['cores']} core(s), {self['chips']} chip(s)",
                 f"synapse memory {self['synapse_memory_kib']:.1f} KiB ({self['splits']} split(s), "
                 f"{self['bits_per_synapse']} bits per synapse); binding limit: {self['binding']} "
                 f"({self['limit_keys'][self['binding']]})",
                 f"traffic per step: {t['spikes_sent']:.4g} spikes, {t['synaptic_events']:.4g} synaptic events, "
                 f"{t['core_crossings']:.4g} core crossings, {t['chip_crossings']:.4g} chip crossings"]
        head = f"{'resource':<16}{'limit':>10}{'max use':>9}{'mean use':>10}"
        lines += [head, "-" * len(head)]
        for k, u in self["utilization"].items():
            flag = " (unverified)" if self["limit_keys"][k] in self["unverified"] else ""
            lines.append(f"{k:<16}{self['limits'][k]:>10}{u['max']:>9.1%}{u['mean']:>10.1%}{flag}")
        head = f"{'core':>5}{'chip':>5}{'neurons':>9}{'in axons':>10}{'out axons':>11}{'syn KiB':>9}{'max use':>9}"
        lines += [head, "-" * len(head)]
        for row in self["per_core"][:max_rows]:
            lines.append(f"{row['core']:>5}{row['chip']:>5}{row['neurons']:>9}{row['input_axons']:>10}"
                         f"{row['output_axons']:>11}{row['synapse_memory_bits'] / 8192:>9.1f}"
                         f"{max(row['utilization'].values()):>9.1%}")
        if len(self["per_core"]) > max_rows:
            lines.append(f"... {len(self['per_core']) - max_rows} more core(s)")
        return "\n".join(lines)
