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

Traffic: neuron :math:`j` fires :math:`\rho_j` spikes per step (from measured rates when
given, else 1). A spike is sent once to every core holding one of its targets, so the
spikes crossing cores per step are :math:`\sum_j \rho_j\, |C_j \setminus \{c_j\}|`
(:math:`C_j` the destination cores of :math:`j`), and likewise for chips.

Partitioning is recursive bisection of the synapse graph (undirected, edge weight
:math:`\rho_j + \rho_i` for the synapse pair) with networkx's Kernighan-Lin refinement of
an initial split taken from a reverse Cuthill-McKee ordering; a group is split when it
breaks a core limit, into parts sized by how many cores it needs. Cores come out in
depth-first order, so consecutive cores are graph neighbours; chips take
``core.cores_per_chip`` consecutive cores.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Optional, Union

import numpy as np
import scipy.sparse as sp

from compiler.quantization.fixed_point import FixedPointNetwork
from compiler.hardware.config import HardwareConfig

KL_MAX_EDGES = 400_000
"""Groups with more synapse-graph edges than this skip the (pure Python) Kernighan-Lin
refinement and keep the reverse Cuthill-McKee split."""

KL_MAX_ITER = 3
"""Kernighan-Lin passes per bisection (networkx ``max_iter``). Measured on a 10,000-neuron
sparse network: 3 passes gave the same 26 cores and a cut within 1 % of 10 passes, 4x faster."""

LIMIT_KEYS = {"neurons": "core.neurons_per_core", "synapse_memory": "core.synapse_memory_bits",
              "input_axons": "core.input_axons_per_core", "output_axons": "core.output_axons_per_core"}
"""Per-core resource -> the hardware config key that limits it."""


class PlacementError(ValueError):
    """The network cannot be placed; the message names the limit and the values."""


# ------------------------------------------------------------------ resource model
def synapse_matrix(fixed: FixedPointNetwork) -> sp.csr_matrix:
    """Boolean (post, pre) CSR matrix of the synapses present in any weight split."""
    mask = np.zeros((fixed.n, fixed.n), bool)
    for w in fixed.weights:
        mask |= w != 0
    return sp.csr_matrix(mask)


def bits_per_synapse(fixed: FixedPointNetwork, hw: HardwareConfig) -> int:
    r"""Stored bits of one synapse's weight and delay, :math:`b = b_w + b_d`."""
    delay_bits = 0 if fixed.delays is None else int(math.ceil(math.log2(hw.max_delay_steps + 1)))
    return int(fixed.num_weight_bits) + delay_bits


def _index_bits(n_core: int) -> int:
    return int(math.ceil(math.log2(max(n_core, 2))))


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
    coo = syn.tocoo()
    pairs = np.unique(coo.col.astype(np.int64) * (int(part_of.max()) + 1) + part_of[coo.row])
    return np.bincount(pairs // (int(part_of.max()) + 1), minlength=syn.shape[1])


def crossing_counts(syn: sp.csr_matrix, part_of: np.ndarray) -> np.ndarray:
    r"""Per source :math:`j`, the destination parts other than its own,
    :math:`|C_j \setminus \{c_j\}|` (its spike's crossings)."""
    coo = syn.tocoo()
    width = int(part_of.max()) + 1
    keys = np.unique(coo.col.astype(np.int64) * width + part_of[coo.row])
    src, dst = keys // width, keys % width
    other = dst != part_of[src]
    return np.bincount(src[other], minlength=syn.shape[1])


# ------------------------------------------------------------------ partitioning
def _limits(hw: HardwareConfig) -> dict:
    return {"neurons": hw.neurons_per_core, "synapse_memory": hw.synapse_memory_bits,
            "input_axons": hw.input_axons_per_core}


def _cores_needed(res: dict, limits: dict) -> int:
    return max(math.ceil(res[k] / limits[k]) for k in limits)


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
        key = max(limits, key=lambda k: res[k] / limits[k])
        raise PlacementError(
            f"neuron {int(members[0])} alone needs {key.replace('_', ' ')} {res[key]} > "
            f"{LIMIT_KEYS[key]} = {limits[key]}: it cannot fit on any core")
    need = min(need, len(members))
    k_left = need // 2
    n_left = max(1, min(len(members) - 1, round(len(members) * k_left / need)))
    left, right = _split(syn_sym, members, n_left, rng, use_kl)
    for part in (left, right):
        _bisect(syn, syn_sym, part, splits, bits, limits, rng, use_kl, out)


def place(fixed: FixedPointNetwork, hw: Union[str, HardwareConfig, None] = None, rates=None, *,
          max_chips: Optional[int] = None, method: str = "kl", seed: int = 0) -> "Placement":
    r"""Assign neurons to cores and chips within ``hw``'s per-core limits.

    Parameters
    ----------
    fixed : FixedPointNetwork
    hw : str, path or HardwareConfig, optional
        Target (default the one ``fixed`` was compiled for).
    rates : array (Hz), result with ``mean_rates``, or None
        Expected firing rates that weight the traffic (see :func:`spike_rates_per_step`).
    max_chips : int, optional
        Chips available (e.g. 8 on a Kapoho Point board); default unbounded.
    method : {"kl", "rcm", "random"}
        ``"kl"``: recursive bisection refined by Kernighan-Lin (networkx);
        ``"rcm"``: the same bisection without the refinement; ``"random"``: a
        random balanced assignment to the cores ``"kl"`` needs (a baseline).
    seed : int
        Seed of Kernighan-Lin's tie breaking and the random baseline.

    Returns
    -------
    Placement

    Raises
    ------
    PlacementError
        A neuron alone breaks a core limit, a core's output axons exceed
        ``core.output_axons_per_core``, or more than ``max_chips`` chips are needed.
    """
    if not isinstance(fixed, FixedPointNetwork):
        raise TypeError(f"fixed must be a FixedPointNetwork, got {type(fixed).__name__}")
    if method not in ("kl", "rcm", "random"):
        raise ValueError(f"method must be 'kl', 'rcm' or 'random', got {method!r}")
    hw = HardwareConfig.load(hw or fixed.hw_name)
    rho, rate_source = spike_rates_per_step(fixed, rates)
    syn = synapse_matrix(fixed)
    bits = bits_per_synapse(fixed, hw)
    splits = fixed.n_splits
    limits = _limits(hw)
    rng = np.random.default_rng(seed)
    # Undirected traffic weights: synapse j -> i carries rho_j per step.
    weighted = syn.multiply(rho[None, :]).tocsr()
    syn_sym = (weighted + weighted.T).tocsr()
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
    chip_of_core = np.arange(n_cores) // hw.cores_per_chip
    n_chips = int(chip_of_core[-1]) + 1
    if max_chips is not None and n_chips > max_chips:
        raise PlacementError(f"chips: the network needs {n_chips} chips of {hw.cores_per_chip} cores "
                             f"(core.cores_per_chip) but max_chips = {max_chips}")
    return Placement.build(fixed, hw, syn, core_of, chip_of_core, rho, rate_source, method, limits)


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
        """Compute every per-core figure of an assignment (checked against the limits)."""
        n_cores = len(chip_of_core)
        bits = bits_per_synapse(fixed, hw)
        res = [group_resources(syn, np.flatnonzero(core_of == c), fixed.n_splits, bits) for c in range(n_cores)]
        chip_of = chip_of_core[core_of]
        out_axons = fixed.n_splits * np.bincount(core_of, weights=destination_counts(syn, core_of),
                                                 minlength=n_cores).astype(np.int64)
        p = cls(hw=hw, core_of=core_of, chip_of_core=chip_of_core,
                neurons=np.array([r["neurons"] for r in res], np.int64),
                input_axons=np.array([r["input_axons"] for r in res], np.int64),
                output_axons=out_axons,
                synapse_memory=np.array([r["synapse_memory"] for r in res], np.int64),
                core_crossings=crossing_counts(syn, core_of), chip_crossings=crossing_counts(syn, chip_of),
                fanout=np.asarray(syn.getnnz(axis=0), np.int64), spikes_per_step=rho,
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
