r"""Choosing the integer scale :math:`S` (voltage units per folded threshold).

In folded units (:mod:`compiler.frontend.fold`) the threshold is 1, so the chip's threshold
``vth << threshold_shift`` *is* the scale :math:`S`: one unit of :math:`x` is
:math:`S` voltage units. Every integer is proportional to :math:`S`:

.. math::

    \beta_i = S\, b'_i\, \Delta t \ \text{(bias per step)}, \qquad
    A_{ij} = \frac{S\, W'_{ij}\, \kappa}{2^{\text{act}}} \ \text{(summed-input units per spike)},

with :math:`\kappa = d = (\delta_u + 1)/2^{12}` for exponential synapses (a spike
adding :math:`c` to ``u`` delivers :math:`c/d` to ``v``) and :math:`\kappa = 1` for
delta synapses. Rounding errors are fixed in absolute units, so :math:`S` is chosen as
large as every range allows:

* threshold mantissa: :math:`S \le (2^{b_\theta} - 1)\, 2^{\text{shift}}`;
* voltage headroom: :math:`S \le (2^{b_v - 1} - 1)/H`, so the voltage register holds
  :math:`H` thresholds below the reset before an inhibited neuron saturates (and
  forgets inhibition) and :math:`H - 1` above threshold for the overshoot;
* bias: :math:`S |b'_i| \Delta t \le |m_b|_{\max} 2^{e_{\max}}`;
* current and synaptic input: the worst one-step input, every presynaptic neuron of
  one sign spiking in the same step (or the ``k`` largest with
  ``max_simultaneous_spikes = k``), :math:`S\,\kappa\, \Sigma^{\pm}_i`, must fit the
  synaptic input accumulator (:math:`2^{b_{in}} - 1`) and, on top of the operating
  point's mean current :math:`S |\sum_j W'_{ij} \hat r_j \Delta t|`, the current
  register (:math:`2^{b_u - 1} - 1`; ``u`` wraps);
* weights: the largest :math:`|A_{ij}|` must fit the top split at the largest exponent.

:math:`S` is then rounded down to a multiple of :math:`2^{\text{shift}}`.

Cost: a few passes over the weights, O(N^2) for dense and O(nnz) for CSR weights
(the ``k`` largest per row: one sort of the stored entries, O(nnz log nnz)).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Optional

import numpy as np
import scipy.sparse as sp

from compiler.frontend.network import row_of_entries
from compiler.hardware.config import HardwareConfig

BIAS_MARGIN = 0.98
"""Fraction of the bias range the scale leaves to the nominal bias (the rest is for
the small dynamic corrections added later)."""


def worst_step_input(weights_folded, kappa, max_simultaneous_spikes=None) -> float:
    r""":math:`\max_i \max(\Sigma^+_i, \Sigma^-_i)` of :math:`\kappa |W'_{ij}|` over the
    presynaptic neurons of each sign (the ``k`` largest of each sign if given), i.e.
    the largest one-step input per unit of :math:`S`. Dense (N, N) or CSR weights."""
    if sp.issparse(weights_folded):
        return _worst_step_input_sparse(sp.csr_matrix(weights_folded), kappa, max_simultaneous_spikes)
    w = np.asarray(weights_folded, float) * kappa
    pos = np.where(w > 0, w, 0.0)
    neg = np.where(w < 0, -w, 0.0)
    if max_simultaneous_spikes is not None and max_simultaneous_spikes < w.shape[1]:
        k = int(max_simultaneous_spikes)
        pos = -np.sort(-pos, axis=1)[:, :k]
        neg = -np.sort(-neg, axis=1)[:, :k]
    if w.size == 0:
        return 0.0
    return float(max(pos.sum(axis=1).max(), neg.sum(axis=1).max()))


def _worst_step_input_sparse(w: sp.csr_matrix, kappa, max_simultaneous_spikes) -> float:
    """:func:`worst_step_input` over the stored entries of a CSR matrix, O(nnz)."""
    n = w.shape[0]
    if w.nnz == 0:
        return 0.0
    vals = w.data.astype(float) * kappa
    rows = row_of_entries(w)
    best = 0.0
    for part in (np.where(vals > 0, vals, 0.0), np.where(vals < 0, -vals, 0.0)):
        if max_simultaneous_spikes is not None and max_simultaneous_spikes < w.shape[1]:
            order = np.lexsort((-part, rows))  # by row, largest first
            rank = np.arange(part.size) - w.indptr[rows[order]]
            keep = order[rank < int(max_simultaneous_spikes)]
            sums = np.bincount(rows[keep], weights=part[keep], minlength=n)
        else:
            sums = np.bincount(rows, weights=part, minlength=n)
        best = max(best, float(sums.max()))
    return best


def _abs_max(weights) -> float:
    """Largest :math:`|W'_{ij}|` of dense or CSR weights."""
    data = weights.data if sp.issparse(weights) else weights
    return float(np.max(np.abs(data), initial=0.0))


@dataclass
class ScaleChoice:
    """The chosen scale and why.

    Attributes
    ----------
    scale : int
        :math:`S = \\text{vth} \\ll \\text{shift}`.
    vth : int
    limits : dict
        Upper bound on :math:`S` from each constraint (inf when not binding).
    limited_by : str
        Name of the smallest bound.
    """

    scale: int
    vth: int
    limits: Dict[str, float] = field(default_factory=dict)
    limited_by: str = ""


def choose_scale(weights_folded, bias_folded, dt, kappa, hw: HardwareConfig, headroom: float,
                 weight_capacity: float, activation_shift: int,
                 operating_rates: Optional[np.ndarray] = None,
                 max_simultaneous_spikes: Optional[int] = None,
                 bias_range: Optional[tuple] = None) -> ScaleChoice:
    """Largest :math:`S` within every range (see the module docstring).

    Parameters
    ----------
    weights_folded, bias_folded : ndarray
        :math:`W'` (dense (N, N) or CSR) and :math:`b'` (thresholds per spike / per
        second).
    dt, kappa : float
    hw : HardwareConfig
    headroom : float
        :math:`H`, thresholds of room below the reset.
    weight_capacity : float
        Largest :math:`|A|` (summed-input units) the splits can hold.
    activation_shift : int
    operating_rates : ndarray, optional
    max_simultaneous_spikes : int, optional
    bias_range : (int, int), optional
        Signed bias mantissa range (default from ``hw``).
    """
    inf = float("inf")
    limits = {}
    limits["threshold_mantissa"] = float(hw.threshold_mantissa_max << hw.threshold_shift)
    limits["voltage_headroom"] = hw.voltage_limit / float(headroom)
    lo, hi = bias_range if bias_range is not None else hw.bias_mantissa_range
    b = np.asarray(bias_folded, float) * dt
    top = BIAS_MARGIN * 2.0 ** hw.bias_exponent_max
    with np.errstate(divide="ignore"):
        pos = np.where(b > 0, top * hi / np.where(b > 0, b, 1.0), inf)
        neg = np.where(b < 0, top * (-lo) / np.where(b < 0, -b, 1.0), inf)
    limits["bias_range"] = float(min(pos.min(initial=inf), neg.min(initial=inf)))
    step = worst_step_input(weights_folded, kappa, max_simultaneous_spikes)
    mean_u = 0.0
    if operating_rates is not None and kappa < 1.0:
        w = weights_folded if sp.issparse(weights_folded) else np.asarray(weights_folded)
        mean_u = float(np.max(np.abs(w @ (np.asarray(operating_rates) * dt)), initial=0.0))
    limits["current_range"] = hw.current_limit / (step + mean_u) if step + mean_u > 0 else inf
    limits["synaptic_input"] = hw.synaptic_input_limit / step if step > 0 else inf
    wmax = _abs_max(weights_folded) * kappa
    limits["weight_range"] = (weight_capacity * 2.0 ** activation_shift / wmax) if wmax > 0 else inf
    limited_by = min(limits, key=limits.get)
    s = limits[limited_by]
    vth = int(min(np.floor(s / 2 ** hw.threshold_shift), hw.threshold_mantissa_max))
    return ScaleChoice(scale=vth << hw.threshold_shift, vth=vth, limits=limits, limited_by=limited_by)
