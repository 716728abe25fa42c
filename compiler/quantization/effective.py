r"""The float network a set of chip integers actually implements.

For a :class:`FixedPointNetwork` with scale :math:`S` (its threshold), the summed
input one spike of ``j`` delivers to ``i`` is
:math:`A_{ij} = \sum_k \mathrm{shift}(W^{(k)}_{ij}, e_k)` (exact for compiled networks:
their mantissas are multiples of :math:`2^{-e_k}`), which enters ``u`` as
:math:`A_{ij} 2^{\text{act}}` and, with decay :math:`d = 1 - F/2^{12}`, adds
:math:`A_{ij} 2^{\text{act}}/d` to ``v`` in total (untruncated; delta synapses:
:math:`d = 1`). In folded units (threshold 1, reset 0)

.. math::

    W'_{ij} = \frac{A_{ij}\, 2^{\text{act}}}{d\, S}, \qquad
    b'_i = \frac{m_i 2^{e_i} - \beta^{\mathrm{corr}}_i}{S\, \Delta t}, \qquad
    \tau_s = \frac{-\Delta t}{\ln(1 - d)},

and unfolding with the original reset depths and thresholds (``info["fold"]``) gives
weights and bias in the original float units. :math:`\beta^{\mathrm{corr}}` are the
dynamic corrections the compiler added to the bias (current truncation, reset
overshoot, ``info["corrections"]``): they compensate chip dynamics, not the network,
so they are removed unless ``include_corrections=True``. The weight-rounding
compensation (``info["corrections"]["weights"]``) stays in either case: it belongs to
the quantized network's rate model, whose optimum it moves back to the float one. Solving the rate model (for
a causal-inference network: its KKT system) of this network gives the exact optimum
of the *quantized* problem.

A sparse :class:`FixedPointNetwork` (CSR splits) gives a sparse :class:`IFNetwork`:
:math:`A` is summed over the splits' shared pattern, entries whose integers are all zero
are dropped, and a per-synapse delay keeps the remaining pattern. O(nnz).
"""
from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp

from compiler.quantization.fixed_point import FixedPointNetwork
from compiler.frontend.fold import fold, unfold
from compiler.frontend.network import IFNetwork, with_data
from compiler.frontend.operating_point import OperatingPoint, rate_model


def hardware_dict(fixed: FixedPointNetwork) -> dict:
    """The hardware config a network was compiled for: ``info["hw"]``, else the config
    named by ``fixed.hw_name`` (flat dict, see :meth:`HardwareConfig.to_dict`)."""
    hw = (fixed.info or {}).get("hw")
    if hw:
        return hw
    from compiler.hardware.config import ConfigError, HardwareConfig
    try:
        return HardwareConfig.load(fixed.hw_name).to_dict()
    except ConfigError:
        return HardwareConfig.load().to_dict()


def effective_input(fixed: FixedPointNetwork) -> np.ndarray:
    """Summed-input units one spike delivers, :math:`A_{ij}`, all splits, shape (N, N):
    int64, a CSR matrix with the splits' shared pattern (explicit zeros kept) for sparse
    networks."""
    if fixed.is_sparse:
        total = np.zeros(fixed.weights[0].nnz, np.int64)
        for w, e in zip(fixed.weights, fixed.weight_exps):
            data = w.data.astype(np.int64)
            total += (data << e) if e >= 0 else (data >> (-e))
        return with_data(fixed.weights[0], total)
    total = np.zeros((fixed.n, fixed.n), np.int64)
    for w, e in zip(fixed.weights, fixed.weight_exps):
        total += (w << e) if e >= 0 else (w >> (-e))
    return total


def effective_network(fixed: FixedPointNetwork, include_corrections: bool = False) -> IFNetwork:
    """The :class:`IFNetwork` (original float units) that ``fixed``'s integers implement.

    Parameters
    ----------
    fixed : FixedPointNetwork
    include_corrections : bool
        Keep the compiler's dynamic bias corrections in the bias (the raw chip), and
        use the chip's reset (:attr:`compiler.hardware.arithmetic.ChipArithmetic.reset`:
        ``reset_mode="hard"`` on Lava's LIF, ``"subtract"`` on a subtractive-reset chip
        such as ``loihi2_subtractive``). Default: remove them and keep the source network's
        reset mode (the quantized version of the *intended* network).
    """
    if not isinstance(fixed, FixedPointNetwork):
        raise TypeError(f"fixed must be a FixedPointNetwork, got {type(fixed).__name__}")
    ar = fixed.arithmetic
    info = fixed.info or {}
    s = float(fixed.threshold)
    unity = float(ar.decay_unity)
    factor = ar.current_decay_factor(fixed.du)
    d = 1.0 - factor / unity
    tau = 0.0 if factor == 0 else -fixed.dt / math.log(factor / unity)
    a = effective_input(fixed)
    if np.any((a.diagonal() if sp.issparse(a) else np.diag(a)) != 0):
        raise ValueError("the fixed-point network has self-connections, which an IFNetwork cannot express")
    if sp.issparse(a):
        w_folded = with_data(a, a.data * 2.0 ** ar.activation_shift / (d * s))
    else:
        w_folded = a * 2.0 ** ar.activation_shift / (d * s)
    bias_int = fixed.effective_bias.astype(float)
    corr = info.get("corrections", {})
    if not include_corrections:
        for key in ("truncation", "reset"):
            if corr.get(key) is not None:
                bias_int = bias_int - np.asarray(corr[key], float)
    b_folded = bias_int / (s * fixed.dt)
    fold_info = info.get("fold", {})
    reset = np.asarray(fold_info.get("reset", np.ones(fixed.n)), float)
    threshold = np.asarray(fold_info.get("threshold", np.ones(fixed.n)), float)
    vfactor = ar.voltage_decay_factor(fixed.dv)
    leak = None if vfactor == ar.decay_unity else (
        fixed.dt * 1e-12 if vfactor == 0 else -fixed.dt / math.log(vfactor / unity))
    w, b = unfold(w_folded, b_folded, reset, threshold, leak)
    latency = int(hardware_dict(fixed)["dense_latency_steps"])
    if sp.issparse(a):
        w, delay = _sparse_weights_and_delay(w, fixed.delays, latency, fixed.dt)
    else:
        delay_steps = (0 if fixed.delays is None else fixed.delays) + latency
        delay = np.broadcast_to(np.asarray(delay_steps, float) * fixed.dt, (fixed.n, fixed.n)).copy()
        if np.all(delay == delay.flat[0]):
            delay = float(delay.flat[0])
    mode = ar.reset if include_corrections else fold_info.get("reset_mode", "hard")
    thr = threshold if np.any(threshold != threshold[0]) else float(threshold[0])
    return IFNetwork(weights=w, bias=b, reset=reset, threshold=thr, tau_syn=tau, delay=delay,
                     leak_tau=leak, reset_mode=mode,
                     name=f"effective({fold_info.get('name', fixed.hw_name)})")


def _sparse_weights_and_delay(w, delays, latency, dt):
    """Drop the stored zeros of CSR weights; the delay as a float (uniform) or a CSR
    matrix of the remaining pattern, seconds."""
    keep = w.data != 0
    if sp.issparse(delays):
        steps = delays.data.astype(float) + latency
        values = steps[keep] * dt
        uniform = values.size == 0 or np.all(values == values[0])
    else:
        values = None
        uniform = True
        steps = (0 if delays is None else int(delays)) + latency
    rows = np.repeat(np.arange(w.shape[0]), np.diff(w.indptr))[keep]
    pruned = sp.csr_matrix((w.data[keep], (rows, w.indices[keep])), shape=w.shape)
    if uniform:
        if values is None:
            delay = float(steps) * dt
        else:
            delay = float(values[0]) if values.size else float(latency) * dt
        return pruned, delay
    return pruned, sp.csr_matrix((values, (rows, w.indices[keep])), shape=w.shape)


def effective_rates(fixed: FixedPointNetwork, include_corrections: bool = False) -> OperatingPoint:
    """Steady-state rates (Hz) of the rate model of :func:`effective_network`: for a
    causal-inference network, the exact optimum of the *quantized* problem (the
    solution of its KKT system), see :mod:`compiler.frontend.operating_point`."""
    return rate_model(fold(effective_network(fixed, include_corrections=include_corrections)))
