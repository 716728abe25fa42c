r"""Operation counts and an energy *estimate* per decode.

Model (an estimate, not a measurement)
--------------------------------------
For a run of ``T`` steps with spike counts ``n_j`` per neuron (mean over trials),
``s`` weight splits and fan-out ``f_j`` (synapses leaving ``j`` summed over splits):

.. math::

    \text{SynOps} = \sum_j n_j f_j,\qquad \text{NeuronUpdates} = N T,

    E \approx \text{SynOps}\,e_{syn} + \text{NeuronUpdates}\,e_{neu}
              + P_{chip}\,e_{chip},

with ``e_syn`` = ``energy.synaptic_op_pj`` and ``e_neu`` = ``energy.neuron_update_pj``
from the hardware config (Davies et al. 2018, IEEE Micro, Loihi 1 figures; for Loihi 2
they are *assumed* and listed as unverified in the config). Spike packets between cores
and chips come from a :class:`compiler.deploy.placement.Placement`: :math:`P_{chip} = T
\sum_j \rho_j |H_j \setminus \{h_j\}|` packets cross chips, priced at
:math:`e_{chip}` = ``board.inter_chip_spike_pj`` when the config gives it (a board
config, :mod:`compiler.hardware.config`), else counted only (0 J); packets between cores
are counted, not priced (no per-hop figure in the configs). The time per decode is the model
time ``T * dt``; the chip's wall-clock time per step is not in the configs, so no wall
time is claimed.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from compiler.quantization.fixed_point import FixedPointNetwork
from compiler.hardware.config import load_hardware
from compiler.deploy.placement import Placement, place


def estimate_cost(fixed: FixedPointNetwork, result, hw=None, placement: Placement = None) -> dict:
    """Estimate the operations and energy of one decode (see module docstring).

    Parameters
    ----------
    fixed : FixedPointNetwork
    result : ExecutionResult
        A run of ``fixed`` (emulator or Lava): its counts and steps.
    hw : str, path or HardwareConfig, optional
        Defaults to the config ``fixed`` was compiled for.
    placement : Placement, optional
        Computed with :func:`compiler.deploy.placement.place` (rates from ``result``) when None.

    Returns
    -------
    dict
        ``synaptic_ops``, ``neuron_updates``, ``spikes``, ``packets_between_cores``,
        ``packets_between_chips``, ``energy_j`` (estimate), ``model_time_s``, and
        ``model`` / ``figures`` / ``unverified`` stating how it was obtained.
    """
    hw = load_hardware(fixed.hw_name if hw is None else hw)
    counts = np.asarray(result.counts, float).mean(axis=0)
    steps = int(result.steps)
    if steps < 1:
        raise ValueError(f"result covers {steps} steps: a cost estimate needs a run of >= 1 step")
    if not np.all(np.isfinite(counts)) or np.any(counts < 0):
        raise ValueError("result counts must be finite and >= 0")
    if counts.shape != (fixed.n,):
        raise ValueError(f"result has counts for {counts.shape[0]} neurons, the network has {fixed.n}")
    fan_out = np.zeros(fixed.n)
    for w in fixed.weights:  # dense or CSR splits (a stored zero is no synapse)
        if sp.issparse(w):
            w = w.tocsr()
            fan_out += np.bincount(w.indices[w.data != 0], minlength=fixed.n)
        else:
            fan_out += (np.asarray(w) != 0).sum(axis=0)
    if placement is None:
        placement = place(fixed, hw=hw, rates=result)
    syn_ops = float(counts @ fan_out)
    updates = float(fixed.n * steps)
    chip_packets = placement.traffic()["chip_crossings"] * steps
    chip_pj = 0.0 if hw.inter_chip_spike_pj is None else chip_packets * hw.inter_chip_spike_pj
    energy_pj = syn_ops * hw.synaptic_op_pj + updates * hw.neuron_update_pj + chip_pj
    return {"label": "estimate", "hw": hw.name, "steps": steps,
            "spikes": float(counts.sum()), "synaptic_ops": syn_ops, "neuron_updates": updates,
            "packets_between_cores": placement.traffic()["core_crossings"] * steps,
            "packets_between_chips": chip_packets,
            "cores": placement.n_cores, "chips": placement.n_chips,
            "energy_j": energy_pj * 1e-12,
            "energy_synaptic_j": syn_ops * hw.synaptic_op_pj * 1e-12,
            "energy_neuron_j": updates * hw.neuron_update_pj * 1e-12,
            "energy_inter_chip_j": chip_pj * 1e-12,
            "inter_chip_priced": hw.inter_chip_spike_pj is not None,
            "model_time_s": steps * fixed.dt,
            "model": "E = SynOps * synaptic_op_pj + N * steps * neuron_update_pj"
                     + (" + chip packets * inter_chip_spike_pj; inter-core packets counted, not priced"
                        if hw.inter_chip_spike_pj is not None else
                        "; inter-core/chip packets counted, not priced (no board.inter_chip_spike_pj)")
                     + "; wall time not estimated",
            "figures": {"synaptic_op_pj": hw.synaptic_op_pj, "neuron_update_pj": hw.neuron_update_pj,
                        "inter_chip_spike_pj": hw.inter_chip_spike_pj,
                        "source": "Davies et al. 2018, IEEE Micro 38(1) (Loihi 1), via compiler/hardware/configs/"
                                  f"{hw.name}.toml"},
            "unverified": [k for k in ("energy.synaptic_op_pj", "energy.neuron_update_pj",
                                       "board.inter_chip_spike_pj")
                           if hw.is_unverified(k)]}


def qp_cost(n_vars: int, nnz_q: int, iterations: int, hw=None) -> dict:
    r"""The same energy model applied to a gradient-type QP solver on the chip (as in
    lava-optimization's QP solver): each iteration updates every variable once and
    multiplies by the quadratic cost matrix once,

    .. math::

        \text{SynOps} = \text{iterations}\cdot \mathrm{nnz}(Q),\quad
        \text{NeuronUpdates} = \text{iterations}\cdot n.

    An estimate on the same figures as :func:`estimate_cost` (graded, not spiking,
    messages are assumed to cost one synaptic op each)."""
    hw = load_hardware(hw if hw is not None else "loihi2")
    syn_ops = float(iterations) * nnz_q
    updates = float(iterations) * n_vars
    return {"label": "estimate", "hw": hw.name, "iterations": int(iterations),
            "synaptic_ops": syn_ops, "neuron_updates": updates,
            "energy_j": (syn_ops * hw.synaptic_op_pj + updates * hw.neuron_update_pj) * 1e-12,
            "model": "E = iterations * (nnz(Q) * synaptic_op_pj + n * neuron_update_pj)"}
