r"""Wall-clock time per step and "ms and mJ per decode": an *estimate* before booking hardware.

Model (an estimate, not a measurement)
--------------------------------------
The form follows the max-affine lower-bound runtime model of Timcheck, Pierro and
Shrestha, "A Compute and Communication Runtime Model for Loihi 2", arXiv:2601.10035
(2026): in one algorithmic time step every NeuroCore works through its neuron updates
(DendOps), synaptic operations (SynOps) and outgoing spike messages while the routers
carry messages over the mesh links with dimension-order (X-Y) routing; a barrier
synchronisation closes the step. Because compute and communication overlap, the step
takes at least the largest of the per-core and per-link terms, plus the barrier:

.. math::

    T_{step} = \max\Big( \max_c D_c\, t_{neu},\ \max_c S_c\, t_{syn},\
               \max_c M_c\, t_{out},\ \max_{\ell} L_\ell\, t_{link},\
               \max_{(h,h')} X_{hh'}\, t_{chip} \Big) + T_{bar},
    \qquad T_{bar} = t_{bar} + (H - 1)\, t_{bar,chip}

(``overlap="max"``, the paper's lower bound). With ``overlap="sum"`` a core's three
compute terms are added instead (a core works through them in sequence, as SANA-FE
models Loihi), which is never lower:

.. math::

    T_{step} = \max\Big( \max_c (D_c t_{neu} + S_c t_{syn} + M_c t_{out}),\
               \max_\ell L_\ell t_{link},\ \max X_{hh'} t_{chip} \Big) + T_{bar}.

Per step, with :math:`\rho_j` the spikes of neuron :math:`j` per step, :math:`K` weight
splits (each its own Dense process and axon), :math:`c_j` the core of :math:`j` and
:math:`C_j` the cores holding its targets (its own included when it has one there):

* :math:`D_c = n_c`, the neurons of core :math:`c` (every neuron is updated every step);
* :math:`S_c = \sum_k \sum_{(i, j):\, W^{(k)}_{ij} \ne 0,\ c_i = c} \rho_j`, synaptic ops
  at the destination core (the same count as :func:`compiler.deploy.cost.estimate_cost`);
* :math:`M_c = K \sum_{j:\, c_j = c} \rho_j |C_j|`, spike messages the core sends;
* :math:`L_\ell = K \sum_j \rho_j\, |\{d \in C_j \setminus \{c_j\}:\ \ell \in
  \mathrm{XY}(c_j, d)\}|`, messages crossing directed mesh link :math:`\ell`. Core
  :math:`c` with on-chip index :math:`q` (cores are numbered chip by chip, see
  :func:`compiler.place`) sits at router :math:`r = \lfloor q / \text{cores\_per\_router}
  \rfloor`, coordinates :math:`(r \bmod \text{mesh\_columns},\ \lfloor r /
  \text{mesh\_columns}\rfloor)`; a message first moves along x, then along y. Cores on one
  router exchange messages without a mesh link;
* :math:`X_{hh'}`: messages from chip :math:`h` to chip :math:`h'`. *Simplification*:
  a message crossing chips is charged once to the directed chip-to-chip link (at
  ``chip_link_message_ns``, default ``link_message_ns``), and not to the mesh links of
  either chip; :math:`H` is the number of chips used.

Constants (``[runtime]`` of the hardware config, each with its source in the TOML): the
paper's own measured Loihi 2 constants could not be read from the stored copy of the paper
(only its abstract and third-party summaries), so ``loihi2`` / ``kapoho_point`` carry
**Loihi 1** figures (Davies et al. 2018 via SANA-FE's ``arch/loihi.yaml``), all listed as
unverified. Replace them when the paper's values are at hand; the model does not change.

Per decode of :math:`T` steps (:func:`decode_cost`):

.. math::

    t_{decode} = T\, T_{step},\qquad
    E_{decode} = E_{dyn} + H\, P_{static}\, t_{decode},\qquad
    \mathrm{EDP} = E_{decode}\, t_{decode},

with :math:`E_{dyn}` from :func:`compiler.deploy.cost.estimate_cost` (SynOps and neuron
updates priced by ``[energy]``; Loihi 1 figures, unverified) and :math:`P_{static}` =
``runtime.static_power_w`` (per chip, :math:`H` chips) when the config gives it (neither shipped config does: no
public per-chip static power figure was found, so static energy is not priced).
The spike rates are the run's mean counts per step; a step time from a run's mean rates
is the time of an average step, not of the busiest one.
"""
from __future__ import annotations

import math
import numbers
from typing import Optional

import numpy as np
import scipy.sparse as sp

from compiler.deploy.cost import estimate_cost
from compiler.deploy.placement import Placement, place
from compiler.hardware.config import HardwareConfig, load_hardware
from compiler.quantization.fixed_point import FixedPointNetwork

PAPER = ("Timcheck, Pierro, Shrestha, 'A Compute and Communication Runtime Model for Loihi 2', "
         "arXiv:2601.10035 (2026): model form (max over per-core compute and per-link NoC terms "
         "+ barrier, X-Y routing); its constants were not available here")
"""The source of the model's form."""

RUNTIME_KEYS = ("runtime.neuron_update_ns", "runtime.synaptic_op_ns", "runtime.spike_out_ns",
                "runtime.link_message_ns", "runtime.barrier_ns", "runtime.cores_per_router",
                "runtime.mesh_columns", "runtime.chip_link_message_ns", "runtime.chip_barrier_ns",
                "runtime.static_power_w")
"""The config keys the runtime model reads."""

OVERLAPS = ("max", "sum")
"""Accepted ``overlap`` values."""


def _hw_for(fixed, hw, placement) -> HardwareConfig:
    if hw is None:
        hw = placement.hw if placement is not None else fixed.hw_name
    cfg = load_hardware(hw)
    if not cfg.has_runtime:
        where = f"{cfg.name!r}" + (f" ({cfg.path})" if cfg.path else "")
        raise ValueError(f"hw: hardware config {where} has no [runtime] table, so no wall-clock estimate "
                         f"can be made; use a config with one (e.g. 'loihi2', 'kapoho_point') or add "
                         f"[runtime] to it (see compiler.hardware.config)")
    return cfg


def _check_placement(fixed, placement) -> Placement:
    if not isinstance(placement, Placement):
        raise TypeError(f"placement must be a Placement from compiler.place, got {type(placement).__name__}")
    if np.shape(placement.core_of) != (fixed.n,):
        raise ValueError(f"placement places {np.shape(placement.core_of)[0]} neurons, the network has {fixed.n}: "
                         f"placement must come from compiler.place of this network")
    return placement


def spikes_per_step(fixed: FixedPointNetwork, spikes) -> np.ndarray:
    """Mean spikes per step per neuron, shape (N,), from ``spikes``: a run (``counts``
    of shape (trials, N) and ``steps``; mean over trials divided by steps) or an array
    of spikes per step, shape (N,).

    Raises
    ------
    ValueError
        Wrong shape, negative or non-finite values, or a run of < 1 step (the message
        names ``spikes``).
    """
    if hasattr(spikes, "counts") and hasattr(spikes, "steps"):
        steps = spikes.steps
        if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or steps < 1:
            raise ValueError(f"spikes: the run covers {steps!r} steps; a step time needs a run of >= 1 step")
        counts = np.asarray(spikes.counts, float)
        if counts.ndim != 2 or counts.shape[1] != fixed.n:
            raise ValueError(f"spikes: the run has counts of shape {counts.shape}, the network has {fixed.n} "
                             f"neurons (expected (trials, {fixed.n}))")
        rho = counts.mean(axis=0) / int(steps)
    else:
        try:
            rho = np.asarray(spikes, float)
        except (TypeError, ValueError):
            raise TypeError(f"spikes must be a run (with counts and steps) or an array of spikes per step, "
                            f"got {type(spikes).__name__}") from None
        if rho.shape != (fixed.n,):
            raise ValueError(f"spikes must hold {fixed.n} spikes-per-step values (one per neuron), got shape "
                             f"{rho.shape}")
    if not np.all(np.isfinite(rho)) or np.any(rho < 0):
        raise ValueError("spikes must be finite and >= 0 (spikes per step per neuron)")
    return rho


def _router_xy(placement: Placement, cores_per_router: int, columns: int):
    """Per core: chip, router x and router y (cores numbered chip by chip)."""
    chip = np.asarray(placement.chip_of_core, np.int64)
    n_cores = len(chip)
    start = {}
    for c in range(n_cores):  # first core index of each chip
        start.setdefault(int(chip[c]), c)
    local = np.array([c - start[int(chip[c])] for c in range(n_cores)], np.int64)
    router = local // cores_per_router
    return chip, router % columns, router // columns


def _link_loads(pair_src, pair_dst, weight, chip, x, y):
    """Messages per directed mesh link (X-Y routing) and per directed chip pair."""
    mesh: dict = {}
    chips: dict = {}
    if len(pair_src) == 0:
        return mesh, chips
    key = np.stack([pair_src, pair_dst], axis=1)
    uniq, inv = np.unique(key, axis=0, return_inverse=True)
    w = np.bincount(inv.ravel(), weights=weight, minlength=len(uniq))
    for (s, d), load in zip(uniq, w):
        if load == 0:
            continue
        hs, hd = int(chip[s]), int(chip[d])
        if hs != hd:
            chips[(hs, hd)] = chips.get((hs, hd), 0.0) + load
            continue
        x0, y0, x1, y1 = int(x[s]), int(y[s]), int(x[d]), int(y[d])
        step = 1 if x1 > x0 else -1
        for xx in range(x0, x1, step):  # along x first, in row y0
            k = (hs, xx, y0, "E" if step > 0 else "W")
            mesh[k] = mesh.get(k, 0.0) + load
        step = 1 if y1 > y0 else -1
        for yy in range(y0, y1, step):  # then along y, in column x1
            k = (hs, x1, yy, "N" if step > 0 else "S")
            mesh[k] = mesh.get(k, 0.0) + load
    return mesh, chips


def step_time(fixed: FixedPointNetwork, placement: Optional[Placement] = None, spikes=None, hw=None, *,
              overlap: str = "max") -> dict:
    r"""Estimate the wall-clock time of one algorithmic step (module docstring).

    Parameters
    ----------
    fixed : FixedPointNetwork
    placement : Placement, optional
        From :func:`compiler.place`; computed with the rates of ``spikes`` (when a run)
        when None.
    spikes : run, array of shape (N,), or None
        A run of ``fixed`` (its mean counts per step), or spikes per step per neuron. None
        uses the traffic weights of ``placement`` (``Placement.spikes_per_step``: measured
        rates with a floor for silent neurons, or 1 per step without rates).
    hw : str, path or HardwareConfig, optional
        Config with a ``[runtime]`` table; default the placement's (else ``fixed``'s).
    overlap : {"max", "sum"}
        ``"max"``: the paper's max-affine lower bound; ``"sum"``: a core's compute terms
        add up.

    Returns
    -------
    dict
        ``step_time_s`` (estimate, seconds), ``barrier_s``, ``terms_s`` (each term's
        maximum, seconds), ``binding`` (the largest term), ``compute_s`` (per core,
        seconds, the terms combined as ``overlap``), per-core counts ``neuron_updates``,
        ``synaptic_ops``, ``spike_messages``, ``max_link_messages``,
        ``max_chip_link_messages``, ``cores``, ``chips``, ``label = "estimate"``,
        ``model``, ``figures`` (constants with sources) and ``unverified``.

    Raises
    ------
    TypeError, ValueError
        ``fixed`` not a FixedPointNetwork, a placement of another network, bad
        ``spikes``, an unknown ``overlap``, or ``hw`` without a ``[runtime]`` table (the
        message names the parameter).
    """
    if not isinstance(fixed, FixedPointNetwork):
        raise TypeError(f"fixed must be a FixedPointNetwork, got {type(fixed).__name__}")
    if overlap not in OVERLAPS:
        raise ValueError(f"overlap must be one of {list(OVERLAPS)}, got {overlap!r}")
    if placement is not None:
        _check_placement(fixed, placement)
    cfg = _hw_for(fixed, hw, placement)
    if placement is None:
        rates = spikes if hasattr(spikes, "mean_rates") else None
        placement = place(fixed, hw=cfg, rates=rates)
    rho = np.asarray(placement.spikes_per_step, float) if spikes is None else spikes_per_step(fixed, spikes)
    core_of = np.asarray(placement.core_of, np.int64)
    n_cores = placement.n_cores
    K = fixed.n_splits

    neurons = np.bincount(core_of, minlength=n_cores).astype(float)
    syn_ops = np.zeros(n_cores)
    pattern = None
    for w in fixed.weights:  # (post, pre); a stored zero is no synapse
        m = sp.coo_matrix(w)
        keep = m.data != 0
        rows, cols = m.row[keep], m.col[keep]
        syn_ops += np.bincount(core_of[rows], weights=rho[cols], minlength=n_cores)
        p = sp.csr_matrix((np.ones(rows.size, bool), (rows, cols)), shape=(fixed.n, fixed.n))
        pattern = p if pattern is None else (pattern + p)
    pattern = pattern.tocoo()
    # distinct (destination core, source neuron) pairs: one message per split each
    pairs = np.unique(core_of[pattern.row] * np.int64(fixed.n) + pattern.col)
    dst_core, src = pairs // fixed.n, pairs % fixed.n
    src_core = core_of[src]
    messages = K * np.bincount(src_core, weights=rho[src], minlength=n_cores)
    remote = dst_core != src_core
    chip, x, y = _router_xy(placement, cfg.runtime_cores_per_router, cfg.runtime_mesh_columns)
    mesh, chips = _link_loads(src_core[remote], dst_core[remote], K * rho[src[remote]], chip, x, y)
    max_link = max(mesh.values(), default=0.0)
    max_chip_link = max(chips.values(), default=0.0)

    ns = 1e-9
    t_neu, t_syn, t_out = cfg.runtime_neuron_update_ns, cfg.runtime_synaptic_op_ns, cfg.runtime_spike_out_ns
    t_link = cfg.runtime_link_message_ns
    t_chip = cfg.runtime_chip_link_message_ns if cfg.runtime_chip_link_message_ns is not None else t_link
    n_chips = placement.n_chips
    barrier = (cfg.runtime_barrier_ns + (n_chips - 1) * (cfg.runtime_chip_barrier_ns or 0.0)) * ns
    per_core = {"neuron_updates": neurons * t_neu * ns, "synaptic_ops": syn_ops * t_syn * ns,
                "spike_messages": messages * t_out * ns}
    terms = {k: float(v.max()) for k, v in per_core.items()}
    terms["mesh_links"] = max_link * t_link * ns
    terms["chip_links"] = max_chip_link * t_chip * ns
    if overlap == "max":
        compute = np.maximum.reduce(list(per_core.values()))
        busiest = max(terms.values())
    else:
        compute = sum(per_core.values())
        busiest = max(float(compute.max()), terms["mesh_links"], terms["chip_links"])
    binding = max(terms, key=terms.get) if busiest > 0 else "barrier"
    if overlap == "sum" and busiest > 0 and float(compute.max()) >= max(terms["mesh_links"], terms["chip_links"]):
        binding = "compute (sum)"
    figures = _figures(cfg)
    return {"label": "estimate", "hw": cfg.name, "overlap": overlap,
            "step_time_s": busiest + barrier, "barrier_s": barrier, "terms_s": terms, "binding": binding,
            "compute_s": compute, "neuron_updates": neurons, "synaptic_ops": syn_ops, "spike_messages": messages,
            "max_link_messages": float(max_link), "max_chip_link_messages": float(max_chip_link),
            "link_messages": mesh, "chip_link_messages": chips,
            "cores": n_cores, "chips": n_chips, "spike_source": ("placement traffic weights" if spikes is None
                                                                 else "given spikes"),
            "model": ("T_step = max(max_c D_c t_neu, max_c S_c t_syn, max_c M_c t_out, max_link L t_link, "
                      "max_chip_pair X t_chip) + t_bar + (H-1) t_bar_chip" if overlap == "max" else
                      "T_step = max(max_c (D_c t_neu + S_c t_syn + M_c t_out), max_link L t_link, "
                      "max_chip_pair X t_chip) + t_bar + (H-1) t_bar_chip")
                     + "; X-Y routing on a mesh of routers; form after " + PAPER,
            "figures": figures,
            "unverified": [k for k in RUNTIME_KEYS if cfg.is_unverified(k)]}


def _figures(cfg: HardwareConfig) -> dict:
    src = f"compiler/hardware/configs/{cfg.name}.toml [runtime] (see its comments)"
    return {
        "neuron_update_ns": cfg.runtime_neuron_update_ns, "synaptic_op_ns": cfg.runtime_synaptic_op_ns,
        "spike_out_ns": cfg.runtime_spike_out_ns, "link_message_ns": cfg.runtime_link_message_ns,
        "barrier_ns": cfg.runtime_barrier_ns, "cores_per_router": cfg.runtime_cores_per_router,
        "mesh_columns": cfg.runtime_mesh_columns,
        "chip_link_message_ns": cfg.runtime_chip_link_message_ns,
        "chip_barrier_ns": cfg.runtime_chip_barrier_ns, "static_power_w": cfg.static_power_w,
        "synaptic_op_pj": cfg.synaptic_op_pj, "neuron_update_pj": cfg.neuron_update_pj,
        "inter_chip_spike_pj": cfg.inter_chip_spike_pj,
        "sources": {
            "model_form": PAPER,
            "times": ("Loihi 1 figures from SANA-FE arch/loihi.yaml (github SLAM-Lab/SANA-FE), attributed there "
                      "to Davies et al. 2018, IEEE Micro 38(1); assumed for Loihi 2, unverified; via " + src),
            "mesh_layout": "Loihi 1 layout (4 cores per router, 8 routers per row), assumed for Loihi 2; via " + src,
            "energy": "Davies et al. 2018 (Loihi 1), via compiler/deploy/cost.py and the [energy] table",
            "static_power_w": ("not priced: no public Loihi 2 static power figure found" if cfg.static_power_w is None
                               else src),
        }}


def decode_cost(fixed: FixedPointNetwork, result, hw=None, placement: Optional[Placement] = None, *,
                overlap: str = "max") -> dict:
    r"""Estimate time, energy and energy-delay product of one decode (module docstring).

    Parameters
    ----------
    fixed : FixedPointNetwork
    result : ExecutionResult
        A run of ``fixed`` (emulator or Lava): its mean counts and its number of steps.
    hw : str, path or HardwareConfig, optional
        Config with ``[runtime]`` and ``[energy]``; default the one ``fixed`` was compiled for.
    placement : Placement, optional
        Computed with :func:`compiler.place` (rates from ``result``) when None.
    overlap : {"max", "sum"}
        As in :func:`step_time`.

    Returns
    -------
    dict
        ``time_per_decode_s`` = steps x ``step_time_s``, ``energy_per_decode_j`` (dynamic
        energy of :func:`compiler.deploy.cost.estimate_cost` + static power x time when
        priced), ``energy_dynamic_j``, ``energy_static_j`` (None when not priced),
        ``edp_js`` (J s), ``decodes_per_second``, ``model_time_s`` (steps x dt),
        ``realtime_factor`` (model time / wall time), ``step`` (the :func:`step_time`
        dict), ``cost`` (the :func:`estimate_cost` dict), ``label = "estimate"``,
        ``model``, ``figures`` and ``unverified``.

    Raises
    ------
    TypeError, ValueError
        As :func:`step_time`, or as :func:`compiler.deploy.cost.estimate_cost` for a bad
        ``result``.
    """
    if not isinstance(fixed, FixedPointNetwork):
        raise TypeError(f"fixed must be a FixedPointNetwork, got {type(fixed).__name__}")
    if not (hasattr(result, "counts") and hasattr(result, "steps")):
        raise TypeError(f"result must be a run of fixed (an ExecutionResult with counts and steps), "
                        f"got {type(result).__name__}")
    if placement is not None:
        _check_placement(fixed, placement)
    cfg = _hw_for(fixed, hw, placement)
    if placement is None:
        placement = place(fixed, hw=cfg, rates=result)
    step = step_time(fixed, placement, result, hw=cfg, overlap=overlap)
    cost = estimate_cost(fixed, result, hw=cfg, placement=placement)
    steps = int(result.steps)
    t = steps * step["step_time_s"]
    static = None if cfg.static_power_w is None else cfg.static_power_w * placement.n_chips * t
    energy = cost["energy_j"] + (static or 0.0)
    model_time = steps * fixed.dt
    return {"label": "estimate", "hw": cfg.name, "steps": steps,
            "step_time_s": step["step_time_s"], "time_per_decode_s": t,
            "energy_per_decode_j": energy, "energy_dynamic_j": cost["energy_j"], "energy_static_j": static,
            "edp_js": energy * t, "decodes_per_second": (1.0 / t) if t > 0 else math.inf,
            "model_time_s": model_time, "realtime_factor": model_time / t if t > 0 else math.inf,
            "binding": step["binding"], "cores": placement.n_cores, "chips": placement.n_chips,
            "step": step, "cost": cost,
            "model": ("t_decode = steps * T_step (" + step["model"] + "); E = " + cost["model"]
                      + ("; + static_power_w * chips * t_decode" if static is not None
                         else "; static power not priced (no cited figure)") + "; EDP = E * t_decode"),
            "figures": step["figures"],
            "unverified": sorted(set(step["unverified"]) | set(cost["unverified"]))}
