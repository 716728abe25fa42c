r"""Rounding the biases so that the chip's optimum stays at the operating point.

The bias integer of neuron ``i`` is :math:`m_i 2^{e_i}` with a 13-bit mantissa, so its
rounding error is up to half a quantum :math:`2^{e_i}`, a relative :math:`2^{-13}` of
the bias: small, but it moves the optimum of the chip's rate model
:math:`r = [b' + W'_q r]_+` in two ways that independent nearest rounding ignores:

- a **silent** cause (:math:`r_i = 0`) whose slack :math:`s_i = b'_i + \sum_j W'_{q,ij}
  r_j < 0` is smaller than the rounding error becomes active when its bias is rounded
  up (on the Fig. 2 discrimination task, dozens of silent causes sit within a quantum
  of threshold; rounded up, they fire at ~0.01 Hz and inhibit the true cause). Rounding
  a silent cause's bias *down* (floor) never shrinks its slack: it stays silent;
- the **active** causes' rates respond to bias errors :math:`\epsilon` (voltage units
  per step) through the active block, :math:`\Delta r_A = M \epsilon_A/(S\Delta t)`,
  :math:`M = (I - W'_{q,AA})^{-1}`, which amplifies along the ill-conditioned
  directions of overlapping features. Choosing the mantissas jointly to minimize
  :math:`|M \epsilon_A|` is a closest-vector problem; :func:`optimum_bias_round`
  solves it greedily by diffusion rounding (Babai's nearest plane,
  :func:`compiler.hardware.encoding.diffusion_round`) with
  :math:`H = (MQ)^T (MQ)`, :math:`Q = \mathrm{diag}(2^{e_A})`.

The exponents are those of nearest rounding (the finest that fit); a mantissa pushed
past its range is clipped. Time O(N + |A|^3), memory O(|A|^2) (refused above
:data:`MAX_ACTIVE_DENSE` active causes: those get nearest rounding, and the record
says so).
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import scipy.sparse as sp

from compiler.hardware.encoding import EncodedBias, diffusion_round

ACTIVE_FRACTION = 1e-9
"""Rates at or below this fraction of the largest count as silent (round-off of the
rate model's solution)."""
MAX_ACTIVE_DENSE = 4096
"""Most active causes whose biases are rounded jointly (an |A| x |A| dense metric)."""


def optimum_bias_round(encoded: EncodedBias, target, rates, chip_weights, mantissa_bits: int) -> EncodedBias:
    r"""Re-round the mantissas of ``encoded`` (module docstring), keeping its exponents.

    Parameters
    ----------
    encoded : EncodedBias
        Nearest rounding of ``target`` (:func:`compiler.hardware.encoding.encode_bias`).
    target : ndarray (N,)
        The real bias targets (voltage units per step).
    rates : ndarray (N,)
        Operating rates (Hz): active causes are those above :data:`ACTIVE_FRACTION` of
        the largest.
    chip_weights : ndarray (N, N) or sparse matrix
        Folded chip weights :math:`W'_q` (thresholds per spike).
    mantissa_bits : int
        Signed bias mantissa bits.
    """
    target = np.asarray(target, float)
    quantum = np.ldexp(1.0, np.asarray(encoded.exponent, int))
    x = target / quantum
    mant = np.sign(x) * np.floor(np.abs(x) + 0.5)
    rates = np.asarray(rates, float)
    active = np.flatnonzero(rates > ACTIVE_FRACTION * float(np.max(rates, initial=0.0)))
    silent = np.ones(target.shape[0], bool)
    silent[active] = False
    mant[silent] = np.floor(x[silent])
    if 0 < active.size <= MAX_ACTIVE_DENSE:
        block = chip_weights[active][:, active]
        block = block.toarray() if sp.issparse(block) else np.asarray(block, float)
        # H = (MQ)^T (MQ) with M = (I - W'_AA)^-1, so H^-1 = Q^-1 (I - W'_AA)(I - W'_AA)^T Q^-1:
        # no inverse of the (possibly ill-conditioned) block is formed.
        scaled = (np.eye(active.size) - block) / quantum[active][:, None]
        mant[active] = diffusion_round(x[active][None, :], precision=scaled @ scaled.T)[0]
    lo, hi = -(2 ** (mantissa_bits - 1)), 2 ** (mantissa_bits - 1) - 1
    clipped_mask = np.asarray(encoded.clipped_mask, bool) if encoded.clipped_mask is not None else \
        np.zeros(target.shape[0], bool)
    mant = np.where(clipped_mask, encoded.mantissa, np.clip(mant, lo, hi)).astype(np.asarray(encoded.mantissa).dtype)
    return replace(encoded, mantissa=mant, effective=np.left_shift(mant.astype(np.int64), encoded.exponent))
