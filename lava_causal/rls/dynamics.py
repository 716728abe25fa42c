r"""The float dynamics of a recurrent LIF network, one trial at a time, with optional
recursive-least-squares learning of its recurrent weights.

Units are dimensionless (threshold 1, reset and rest 0, every drive in thresholds).
With :math:`x_j` the exponentially filtered spike train of neuron ``j`` (it jumps by 1
at each spike and decays with :math:`\tau_s`, so :math:`x_j \approx r_j \tau_s`) and
the *synaptic drive* :math:`u_i = \sum_j \Omega_{ij} x_j`:

.. math::

    \tau_m \frac{dV_i}{dt} = -V_i + b_i + s_i(t) + u_i(t), \qquad
    V_i > 1 \Rightarrow \text{spike},\ V_i \leftarrow 0,

with :math:`b_i` a constant bias and :math:`s_i(t)` a brief stimulus (the first
``stim_steps`` steps). One step of length :math:`\Delta t`, with
:math:`a_m = e^{-\Delta t/\tau_m}`, :math:`a_s = e^{-\Delta t/\tau_s}`:

.. math::

    V_i &\leftarrow a_m V_i + (1 - a_m)(b_i + s_i + u_i) \\
    x &\leftarrow a_s x + \mathbb{1}_{\text{spiked}}, \qquad
    u \leftarrow a_s u + \sum_{j\ \text{spiked}} \Omega_{:j}

(the voltage update is exact for a drive constant over the step). This is the
:class:`compiler.IFNetwork` with leak :math:`\tau_m`, exponential synapses
:math:`\tau_s`, hard reset, threshold 1, reset depth 1, bias :math:`b_i/\tau_m` and
weights :math:`W_{ij} = \Omega_{ij}\tau_s/\tau_m` (:mod:`lava_causal.rls.model`).

**Learning** (Kim & Chow 2018, their RLS): every ``learn_every`` steps inside the
training window each neuron ``i`` updates the weights from its presynaptic subset
:math:`S_i` (``pre[i]``, K neurons) so that :math:`u_i` follows its target
:math:`f_i(t)`: with :math:`r = x_{S_i}`, the error :math:`e_i = u_i - f_i(t)` and its
inverse-correlation matrix :math:`P_i` (K x K, :math:`P_i(0) = I/\lambda`),

.. math::

    k = \frac{P_i r}{1 + r^T P_i r}, \qquad
    \Omega_{i S_i} \leftarrow \Omega_{i S_i} - e_i\, k^T, \qquad
    P_i \leftarrow P_i - k\, (P_i r)^T .

Cost per step O(N) plus O(N) per spike; per learning step O(N K^2) (the neurons in
parallel); memory :math:`8 N K^2` bytes for the :math:`P_i`.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True, parallel=True)
def _learn(omega_t, pre, p, x, u, target):
    """One RLS update of every neuron's incoming weights (module docstring), in place;
    recomputes each ``u_i`` from the new weights."""
    n, k = pre.shape
    for i in prange(n):
        r = np.empty(k)
        pr = np.zeros(k)
        for a in range(k):
            r[a] = x[pre[i, a]]
        for a in range(k):
            acc = 0.0
            for b in range(k):
                acc += p[i, a, b] * r[b]
            pr[a] = acc
        denom = 1.0
        for a in range(k):
            denom += r[a] * pr[a]
        c = 1.0 / denom
        err = u[i] - target[i]
        drive = 0.0
        for a in range(k):
            j = pre[i, a]
            w = omega_t[j, i] - err * c * pr[a]
            omega_t[j, i] = w
            drive += w * r[a]
        for a in range(k):
            ca = c * pr[a]
            for b in range(k):
                p[i, a, b] -= ca * pr[b]
        u[i] = drive


@njit(cache=True)
def run_trial(omega_t, pre, p, bias, stim, stim_steps, v, steps, a_m, a_s,
              learn, learn_every, targets, record_every, rec_x, rec_u, counts):
    r"""Run one trial of ``steps`` steps in place (module docstring).

    Parameters
    ----------
    omega_t : ndarray (N, N)
        Transposed weights, ``omega_t[j, i]`` = :math:`\Omega_{ij}` (updated when learning).
    pre : ndarray (N, K) of int64
        Presynaptic subsets (only read when learning).
    p : ndarray (N, K, K)
        RLS inverse-correlation matrices (updated when learning).
    bias, stim : ndarray (N,)
        Constant bias and the stimulus added during the first ``stim_steps`` steps.
    v : ndarray (N,)
        Initial voltages (overwritten with the final ones).
    learn : bool
        Apply RLS at steps ``stim_steps + q * learn_every`` (q = 0 .. len(targets) - 1)
        towards ``targets[q]``.
    record_every : int
        Record ``x`` and ``u`` after every ``record_every``-th step counted from the
        stimulus offset (row q holds step ``stim_steps + (q + 1) * record_every - 1``),
        as many rows as ``rec_x`` has.
    counts : ndarray (N,) of int64
        Spikes per neuron, added to.
    """
    n = v.shape[0]
    x = np.zeros(n)
    u = np.zeros(n)
    spiked = np.empty(n, np.int64)
    keep = 1.0 - a_m
    n_learn = targets.shape[0] if learn else 0
    n_rec = rec_x.shape[0]
    for t in range(steps):
        n_spiked = 0
        on = t < stim_steps
        for i in range(n):
            drive = bias[i] + u[i]
            if on:
                drive += stim[i]
            vi = a_m * v[i] + keep * drive
            if vi > 1.0:
                vi = 0.0
                spiked[n_spiked] = i
                n_spiked += 1
                counts[i] += 1
            v[i] = vi
        for i in range(n):
            x[i] *= a_s
            u[i] *= a_s
        for s in range(n_spiked):
            j = spiked[s]
            x[j] += 1.0
            row = omega_t[j]
            for i in range(n):
                u[i] += row[i]
        since = t - stim_steps
        if since >= 0:
            if n_learn > 0 and since % learn_every == 0:
                q = since // learn_every
                if q < n_learn:
                    _learn(omega_t, pre, p, x, u, targets[q])
            if n_rec > 0 and (since + 1) % record_every == 0:
                q = (since + 1) // record_every - 1
                if q < n_rec:
                    rec_x[q] = x
                    rec_u[q] = u
