r"""The charge a hard reset loses, measured in the network's own dynamics.

The float network subtracts the reset depth on a spike and keeps the overshoot above
threshold; the chip's stock neuron sets :math:`v \leftarrow 0` and loses it. In folded
units (threshold 1, reset 0, :mod:`compiler.frontend.fold`) a spike at a step where
the voltage reaches :math:`x > 1` loses :math:`o = x - 1`, and the charge neuron
:math:`i` loses per step is

.. math::

    c_i = \lim_{T\to\infty} \frac1T \sum_{\text{spikes of } i \text{ in } [0, T)} o,

which the compiler adds back to the bias (:math:`S c_i` voltage units per step). The
overshoot is the net input of the crossing step above what was needed, so it depends
on the *distribution* of the per-step input at the moment of crossing, not only on its
mean: for i.i.d. positive increments :math:`X` renewal theory gives
:math:`E[o] \approx E[X^2]/(2E[X])`, i.e. :math:`\tfrac12 S\hat r\Delta t` only for a
constant drive (the ``half_step`` model of :mod:`compiler.quantization.corrections`);
a neuron whose input fluctuates with its inhibitors' spikes overshoots several times
more (6-13x on the Fig. 6 four-cause mixture and random tall problems at
:math:`\Delta t` = 0.1 ms).

:func:`measured_overshoot` therefore runs the folded float network *closed loop* at
the chip's step, with the chip's semantics except the reset (Dense's one-step latency
plus the compiled delays, the chip's current decay :math:`d`, the strictly-greater
threshold, subtractive reset), from a seeded random state, and averages the overshoot
of every spike after a burn-in:

.. math::

    u_i &\leftarrow (1 - d)\, u_i + d \sum_j W'_{ij} s_j(t - 1 - \ell_{ij}), \qquad
    x_i \leftarrow (1 - d_v)\, x_i + u_i + b'_i \Delta t, \\
    s_i(t) &= [x_i > 1], \qquad c_i \mathrel{+}= (x_i - 1)\,s_i(t), \qquad
    x_i \leftarrow x_i - s_i(t).

Compensating with the subtractive network's own overshoot is first order: the
compensated hard-reset network's input statistics differ from the subtractive one's
only by the compensation itself. Time O(steps x (N + spikes x fan-out)) (the synapses
are stored by presynaptic neuron, CSC, so dense and sparse networks run the same
event-driven loop), memory O(nnz + N x (max delay + 2)).
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from numba import njit

BURN_IN_FRACTION = 0.1
"""Share of the calibration's steps run before overshoots are counted."""
OVERSHOOT_WORK = 50_000_000
"""Most neuron updates plus synaptic events of one calibration (:func:`overshoot_steps`):
networks of up to a few hundred neurons get the full
:func:`compiler.quantization.corrections.calibration_steps`, larger or busier ones
fewer (never fewer than :data:`MIN_OVERSHOOT_STEPS`)."""
MIN_OVERSHOOT_STEPS = 10_000
"""Fewest counted steps of the calibration (a 50 Hz neuron at 0.1 ms: 50 spikes)."""


def overshoot_steps(rates, dt: float, nnz: int) -> int:
    r"""Steps of :func:`measured_overshoot`: :func:`~compiler.quantization.corrections.calibration_steps`,
    bounded by :data:`OVERSHOOT_WORK` over the expected cost of a step,
    :math:`N + \sum_j \hat r_j \Delta t \cdot \mathrm{nnz}/N`, and at least
    :data:`MIN_OVERSHOOT_STEPS`."""
    from compiler.quantization.corrections import calibration_steps

    rates = np.asarray(rates, float)
    n = max(1, rates.size)
    per_step = n + float(np.clip(rates * dt, 0.0, 1.0).sum()) * nnz / n
    return int(max(MIN_OVERSHOOT_STEPS, min(calibration_steps(rates, dt), OVERSHOOT_WORK // per_step)))


def measured_overshoot(weights, bias, decay: float, leak: float, dt: float, steps: int,
                       delays=None, seed: int = 0) -> np.ndarray:
    r"""Mean overshoot per step :math:`c_i` (thresholds per step) of every neuron of a
    folded network run at the chip's step with subtractive reset (module docstring).

    Parameters
    ----------
    weights : ndarray (N, N) or sparse matrix
        Folded weights :math:`W'_{ij}` (thresholds per spike, total charge).
    bias : ndarray (N,)
        Folded drive :math:`b'_i` (thresholds per second).
    decay : float
        Fraction :math:`d` of the current removed per step (the chip's, 1 for delta
        synapses).
    leak : float
        Fraction :math:`d_v` of the voltage removed per step (0 without leak).
    dt : float
        Seconds per step.
    steps : int
        Steps whose overshoots are counted (after :data:`BURN_IN_FRACTION` more).
    delays : None, int or matrix of ints
        Extra steps beyond Dense's one-step latency (the compiled delays): None or 0
        for none, an int for a uniform delay, or per synapse (dense (N, N) or sparse
        with the weights' pattern).
    seed : int
        Seed of the random initial state :math:`x_0 \sim U[0, 1)^N`.

    Returns
    -------
    ndarray (N,)
    """
    rows, cols, values, extra = _entries(weights, delays)
    n = int(np.asarray(bias).shape[0])
    order = np.argsort(cols, kind="stable")
    indptr = np.concatenate(([0], np.cumsum(np.bincount(cols, minlength=n)))).astype(np.int64)
    x0 = np.random.default_rng([int(seed), 0x6F76657273]).random(n)
    burn = int(np.ceil(BURN_IN_FRACTION * steps))
    return _overshoot_kernel(indptr, np.ascontiguousarray(rows[order]),
                             np.ascontiguousarray(values[order] * float(decay)),
                             np.ascontiguousarray(extra[order]),
                             np.ascontiguousarray(np.asarray(bias, float) * dt), 1.0 - float(decay),
                             1.0 - float(leak), x0, int(steps), burn)


def _entries(weights, delays):
    """(rows, cols, weights, extra delay steps) of the non-zero synapses, int64/float."""
    if sp.issparse(weights):
        coo = sp.coo_matrix(weights)
        rows, cols, values = coo.row.astype(np.int64), coo.col.astype(np.int64), coo.data.astype(float)
        if sp.issparse(delays):  # the weights' pattern, entry for entry
            extra = np.asarray(sp.coo_matrix(delays).data, np.int64)
        else:
            extra = np.full(values.size, 0 if delays is None else int(delays), np.int64)
    else:
        w = np.asarray(weights, float)
        rows, cols = (a.astype(np.int64) for a in np.nonzero(w))
        values = w[rows, cols]
        if delays is None or np.isscalar(delays):
            extra = np.full(values.size, 0 if delays is None else int(delays), np.int64)
        else:
            extra = np.asarray(delays, np.int64)[rows, cols]
    keep = values != 0
    return rows[keep], cols[keep], values[keep], extra[keep]


@njit(cache=True)
def _overshoot_kernel(indptr, rows, charge, extra, bias_step, u_keep, x_keep, x0, steps, burn):
    """The loop of the module docstring; ``charge`` is :math:`d W'_{ij}` per stored
    entry (CSC by presynaptic neuron)."""
    n = x0.shape[0]
    ring = 2
    for k in range(extra.shape[0]):
        ring = max(ring, extra[k] + 2)
    pending = np.zeros((ring, n))
    u = np.zeros(n)
    x = x0.copy()
    over = np.zeros(n)
    spiked = np.zeros(n, np.int64)
    for t in range(steps + burn):
        slot = t % ring
        n_spiked = 0
        for i in range(n):
            u[i] = u[i] * u_keep + pending[slot, i]
            pending[slot, i] = 0.0
            xx = x[i] * x_keep + u[i] + bias_step[i]
            if xx > 1.0:
                if t >= burn:
                    over[i] += xx - 1.0
                xx -= 1.0
                spiked[n_spiked] = i
                n_spiked += 1
            x[i] = xx
        for s in range(n_spiked):
            j = spiked[s]
            for k in range(indptr[j], indptr[j + 1]):
                pending[(t + 1 + extra[k]) % ring, rows[k]] += charge[k]
    return over / steps
