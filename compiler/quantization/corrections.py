r"""Bias corrections for two losses of the chip's integer dynamics.

Both are evaluated at an operating point (rates :math:`\hat r`, see
:mod:`compiler.frontend.operating_point`) and added to the integer bias, where the loss shows
up: in the voltage, every step.

Current-decay truncation
------------------------
The chip decays the current as :math:`u \leftarrow \mathrm{sgn}(u)\lfloor |u| F / 2^{12}
\rfloor + a\,2^{6}` with :math:`F = 2^{12} - (\delta_u + 1)`, dropping a fraction
:math:`\epsilon_t \in [0, 1)` of a unit toward zero every step. The deficit against the
exact current :math:`\tilde u \leftarrow \tilde u F/2^{12} + a 2^6` (whose per-spike
integral :math:`c/d`, :math:`d = (\delta_u + 1)/2^{12}`, the weights are scaled for)
obeys

.. math::

    \tilde u_t - u_t = \mathrm{sgn}(u)\,D_t, \qquad D_{t+1} = (1 - d) D_t + \epsilon_t,

so while :math:`|u| \gg 1/d` it settles at :math:`\bar\epsilon / d \approx 0.5/d` units
per step (25 at :math:`\delta_u + 1 = 82`), whatever the size or number of the spikes
that made :math:`u`: the loss is a property of the *register*, not of each spike
(per-spike corrections over-correct overlapping inputs). When :math:`|u| < 1/d` it
decays by exactly one unit per step, and a silent register loses nothing. The
voltage therefore receives :math:`\Delta_i = E[\tilde u_i - u_i]` fewer units per
step. :func:`current_truncation_deficit` measures :math:`\Delta_i` exactly by running
the integer and the exact current registers of every neuron side by side, open loop
(the current does not depend on the voltage), driven by regular spike trains at the
operating rates with random phases. The bias gets :math:`+\Delta_i`.

Hard-reset overshoot
--------------------
The float network subtracts the reset depth and keeps the overshoot above threshold;
the chip sets :math:`v \leftarrow 0` and loses it, so each spike costs
:math:`S + o_i` instead of :math:`S`. With a constant drive :math:`\beta` per step the
period becomes :math:`\lfloor S/\beta \rfloor + 1` steps instead of :math:`S/\beta`:
rates are biased low by up to one step per period. Model: the overshoot is uniform
over one step's net drive, whose mean for a neuron firing at :math:`\hat r_i` is
:math:`S \hat r_i \Delta t`, so :math:`E[o_i] = \tfrac12 S \hat r_i \Delta t` and the
lost charge per step is

.. math::

    \beta^{\mathrm{reset}}_i = E[o_i]\, \hat r_i \Delta t = \tfrac12 S (\hat r_i \Delta t)^2,

added to the bias. For a constant drive it turns the period into
:math:`\lfloor P - \tfrac12 + \tfrac1{4P} \rfloor + 1 \approx \mathrm{round}(P)`
(:math:`P = S/\beta`): error at most half a step per period instead of one. Fluctuating
input makes overshoots larger; ``reset_compensation="measured"``
(:mod:`compiler.quantization.overshoot`) measures them in the network's own dynamics
instead of modelling them.

Weight rounding
---------------
The observation enters through the bias, which the host sets at 13 + 3 bits, while the
weights are rounded to the chip's weight grid: with folded float weights :math:`W'`
and what the integers deliver, :math:`W'_q = A\,2^{6}/(d S)`, the chip's rate model
:math:`r = [b' + W'_q r]_+` has another optimum than the float one. Adding

.. math::

    \beta^{\mathrm{weights}}_i = S\,\Delta t \sum_j (W'_{ij} - W'_{q,ij})\, \hat r_j
        = \Delta t\, \frac{2^{6}}{d} \sum_j (T_{ij} - A_{ij})\, \hat r_j

(:math:`T_{ij} = S W'_{ij} d/2^{6}` the weight targets) makes
:math:`b' + W'_q \hat r = b' + W' \hat r` for every neuron: at :math:`\hat r = r^*`
the float optimum is *exactly* a fixed point of the quantized rate model, active
causes (:math:`r_i = b'_i + \sum_j W'_{ij} r_j`) and silent ones (their slack
:math:`b'_i + \sum_j W'_{ij} r_j < 0` unchanged) alike, for any :math:`U`
(overcomplete too: nothing is inverted). :func:`weight_rounding_compensation` computes
it, O(nnz). With :math:`\hat r` the operating rates of one compile this is exact for
that compile's observation; for a stream of observations (one compile, new biases,
:mod:`compiler.quantization.rebias`) :math:`\hat r` must follow each observation.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from numba import njit

CALIBRATION_STEPS = 20000
"""Minimum steps of the open-loop current calibration."""
CALIBRATION_MAX_STEPS = 200000
"""Most steps of the open-loop current calibration."""
CALIBRATION_PERIODS = 4
"""The calibration covers at least this many periods of the slowest active input."""
CALIBRATION_WORK = 400_000_000
"""Most neuron-steps (N x steps) of the calibration above :data:`CALIBRATION_STEPS`:
networks of up to 2,000 neurons get up to :data:`CALIBRATION_MAX_STEPS`, larger ones
fewer (never fewer than :data:`CALIBRATION_STEPS`), so the calibration stays
O(N x 20,000) at chip scale."""


def calibration_steps(rates, dt) -> int:
    """Steps covering :data:`CALIBRATION_PERIODS` periods of the slowest active input,
    within [:data:`CALIBRATION_STEPS`, :data:`CALIBRATION_MAX_STEPS`] and, above the
    minimum, at most :data:`CALIBRATION_WORK` / N."""
    active = np.asarray(rates, float)
    n = max(1, active.size)
    active = active[active * dt > 1e-7]
    if active.size == 0:
        return CALIBRATION_STEPS
    need = int(np.ceil(CALIBRATION_PERIODS / (active.min() * dt)))
    top = min(CALIBRATION_MAX_STEPS, max(CALIBRATION_STEPS, CALIBRATION_WORK // n))
    return int(min(max(need, CALIBRATION_STEPS), top))


def current_truncation_deficit(effective_input, rates, dt, activation_shift, decay_factor,
                               decay_bits, steps=None, seed=0) -> np.ndarray:
    r"""Mean per-step deficit :math:`E[\tilde u_i - u_i]` of every neuron's current
    register (voltage units per step), see the module docstring.

    Parameters
    ----------
    effective_input : ndarray (N, N) of int, or sparse matrix
        Summed-input units one spike of ``j`` delivers to ``i`` (all splits). A sparse
        matrix is run by columns (CSC): each spike touches only its stored targets,
        so a step costs O(N + spikes x fan-out) instead of O(N + spikes x N); both
        give identical deficits.
    rates : ndarray (N,)
        Operating rates in Hz.
    dt : float
    activation_shift, decay_factor, decay_bits : int
        The datapath: ``u`` gets ``a << activation_shift`` and decays as
        ``(|u| * decay_factor) >> decay_bits``.
    steps : int, optional
        Default :func:`calibration_steps`.
    seed : int
        Seed of the spike trains' random phases.
    """
    rates = np.asarray(rates, float)
    if steps is None:
        steps = calibration_steps(rates, dt)
    rng = np.random.default_rng(seed)
    phase = rng.random(rates.shape[0])
    per_step = np.clip(rates * dt, 0.0, 1.0)
    burn = int(min(steps // 4, 10 * (1 << decay_bits) // max(1, (1 << decay_bits) - decay_factor)))
    if sp.issparse(effective_input):
        csc = sp.csc_matrix(effective_input)
        csc.sort_indices()
        vals = np.ascontiguousarray(csc.data.astype(np.int64) << int(activation_shift))
        return _deficit_kernel_csc(csc.indptr.astype(np.int64), csc.indices.astype(np.int64), vals, per_step,
                                   phase, int(decay_factor), int(decay_bits), int(steps), burn)
    c = np.ascontiguousarray(np.asarray(effective_input, np.int64) << int(activation_shift))
    return _deficit_kernel(c, per_step, phase, int(decay_factor), int(decay_bits), int(steps), burn)


@njit(cache=True)
def _deficit_kernel_csc(indptr, rows, vals, per_step, phase, factor, bits, steps, burn):
    """:func:`_deficit_kernel` by columns: only firing presynaptic neurons are stepped
    and only neurons with a stored input are updated (the others' registers stay 0
    exactly), on contiguous copies of their state (vectorizable), each in the same
    order of floating-point operations: identical deficits."""
    n = per_step.shape[0]
    firing = np.flatnonzero(per_step > 0.0)
    slot = np.full(n, -1, np.int64)  # compressed index of each receiving neuron
    nt = 0
    for j in firing:
        for k in range(indptr[j], indptr[j + 1]):
            if slot[rows[k]] < 0:
                slot[rows[k]] = 0
    for i in range(n):
        if slot[i] == 0:
            slot[i] = nt
            nt += 1
    target = np.empty(rows.shape[0], np.int64)  # compressed row of every stored entry
    for k in range(rows.shape[0]):
        target[k] = slot[rows[k]]
    nf = firing.shape[0]
    p = per_step[firing].copy()
    ph = phase[firing].copy()
    # The integer register u is held in float64, exactly: |u| * factor < 2**53, so
    # trunc(u * factor / 2**bits) is the integer sign(u) floor(|u| factor >> bits)
    # (vectorizable; u - ue is then the same float subtraction as with an int64 u).
    u = np.zeros(nt)
    ue = np.zeros(nt)
    acc = np.zeros(nt)
    inc = np.zeros(nt)
    f = factor / float(1 << bits)
    scale = 1.0 / float(1 << bits)
    fac = float(factor)
    for t in range(steps + burn):
        for m in range(nf):
            ph[m] += p[m]
            if ph[m] >= 1.0:
                ph[m] -= 1.0
                j = firing[m]
                for k in range(indptr[j], indptr[j + 1]):
                    inc[target[k]] += vals[k]
        if t >= burn:
            for i in range(nt):
                u[i] = np.trunc(u[i] * fac * scale) + inc[i]
                ue[i] = ue[i] * f + inc[i]
                inc[i] = 0.0
                acc[i] += ue[i] - u[i]
        else:
            for i in range(nt):
                u[i] = np.trunc(u[i] * fac * scale) + inc[i]
                ue[i] = ue[i] * f + inc[i]
                inc[i] = 0.0
    out = np.zeros(n)
    for i in range(n):
        if slot[i] >= 0:
            out[i] = acc[slot[i]] / steps
    return out


@njit(cache=True)
def _deficit_kernel(c, per_step, phase, factor, bits, steps, burn):
    n = c.shape[0]
    u = np.zeros(n, np.int64)
    ue = np.zeros(n)
    acc = np.zeros(n)
    f = factor / float(1 << bits)
    inc = np.zeros(n, np.int64)
    spikers = np.zeros(n, np.int64)
    for t in range(steps + burn):
        ns = 0
        for j in range(n):
            if per_step[j] > 0.0:
                phase[j] += per_step[j]
                if phase[j] >= 1.0:
                    phase[j] -= 1.0
                    spikers[ns] = j
                    ns += 1
        for i in range(n):
            inc[i] = 0
        for s in range(ns):
            j = spikers[s]
            for i in range(n):
                inc[i] += c[i, j]
        for i in range(n):
            x = u[i]
            if x >= 0:
                x = (x * factor) >> bits
            else:
                x = -(((-x) * factor) >> bits)
            u[i] = x + inc[i]
            ue[i] = ue[i] * f + inc[i]
            if t >= burn:
                acc[i] += ue[i] - u[i]
    return acc / steps


def reset_overshoot_bias(scale: int, rates, dt) -> np.ndarray:
    r""":math:`\tfrac12 S (\hat r_i \Delta t)^2`: the charge per step lost to hard resets
    (voltage units), see the module docstring."""
    x = np.clip(np.asarray(rates, float) * dt, 0.0, 1.0)
    return 0.5 * float(scale) * x ** 2


def weight_rounding_compensation(target, effective, rates, dt, activation_shift, kappa) -> np.ndarray:
    r""":math:`\beta^{\mathrm{weights}} = \Delta t\, 2^{\text{act}}/d\,(T - A)\,\hat r`
    (voltage units per step, shape (N,) or (K, N) for rates (K, N)), see the module
    docstring.

    Parameters
    ----------
    target : ndarray (N, N) or sparse matrix
        Float weight targets :math:`T` (summed-input units per spike).
    effective : ndarray (N, N) or sparse matrix
        What the integers deliver, :math:`A` (all splits); sparse: the pattern of
        ``target``.
    rates : ndarray (N,) or (K, N)
        :math:`\hat r` (Hz).
    dt : float
    activation_shift : int
    kappa : float
        The chip's current decay fraction :math:`d` per step (1: delta synapses).
    """
    if sp.issparse(target):
        diff = target.copy()
        diff.data = np.asarray(target.data, float) - np.asarray(effective.data, float)
    else:
        diff = np.asarray(target, float) - np.asarray(effective, float)
    r = np.asarray(rates, float)
    out = (diff @ r.T).T if r.ndim == 2 else diff @ r
    return np.asarray(out) * (dt * 2.0 ** activation_shift / kappa)
