r"""Fast, exact, event-aware float simulation of an :class:`compiler.IFNetwork`.

This is the float reference every other backend is compared with. Time runs on a
grid of step :math:`\Delta t`; step ``k`` covers :math:`(k\Delta t, (k+1)\Delta t]`.

Update of one step
------------------
Between spikes the state of neuron ``i`` (voltage :math:`V_i`, synaptic current
:math:`I_i`) follows the linear ODE

.. math::

    \frac{dV_i}{dt} = -\lambda_m V_i + b_i + I_i, \qquad
    \frac{dI_i}{dt} = -\lambda_s I_i,

with :math:`\lambda_m = 1/\tau_m` (0 when non-leaky) and :math:`\lambda_s =
1/\tau_s`. It is integrated **exactly** over a time :math:`t` (one step,
:math:`t = \Delta t`, or a jump of ``n`` steps, :math:`t = n\Delta t`):

.. math::

    V_i(t) &= a(t)\,V_i + c_b(t)\,b_i + c_I(t)\,I_i, \qquad I_i(t) = q(t)\,I_i,\\
    a(t) &= e^{-\lambda_m t}, \qquad
    c_b(t) = \frac{1 - e^{-\lambda_m t}}{\lambda_m} \;(= t \text{ if } \lambda_m = 0),
    \qquad q(t) = e^{-\lambda_s t},\\
    c_I(t) &= \int_0^t e^{-\lambda_m (t-s)} e^{-\lambda_s s}\,ds
           = t\,e^{-\lambda_m t}\,\frac{e^{x} - 1}{x},\quad x = (\lambda_m - \lambda_s)\,t,

so the non-leaky exponential synapse gives :math:`V \leftarrow V + b\Delta t +
\tau_s(1 - e^{-\Delta t/\tau_s}) I`, :math:`I \leftarrow e^{-\Delta t/\tau_s} I`,
and equal time constants need no special case. With delta synapses
(``tau_syn == 0``) there is no current: :math:`V \leftarrow a V + c_b b`.
White noise (``noise_std`` :math:`=\sigma`, variance :math:`\sigma^2` per second)
adds :math:`\sigma\sqrt{\Delta t}\,\xi`, :math:`\xi \sim N(0, 1)`, to every
:math:`V_i` after the deterministic part of each step (Euler-Maruyama).

End of step ``k``, in this order:

1. **arrivals**: delayed spike charges due at step ``k`` are added, to :math:`I`
   (exponential synapses) or to :math:`V` (delta synapses);
2. **threshold** (strict): every neuron with :math:`V_i > \Theta_i` spikes once and
   is reset, :math:`V_i \leftarrow V_i - D_i` (``"subtract"``) or
   :math:`V_i \leftarrow \Theta_i - D_i` (``"hard"``); all resets of a round happen
   before its deliveries;
3. **delivery**: a spike of ``j`` adds :math:`W_{ij}/\tau_s` to :math:`I_i`
   (exponential; it acts on :math:`V` from step ``k + 1`` on and delivers the total
   charge :math:`W_{ij}`) or :math:`W_{ij}` to :math:`V_i` (delta), at the end of
   step :math:`k + d_{ij}` with :math:`d_{ij} =` ``round(delay_ij / dt)`` whole steps
   (delays are rounded to the nearest step, half to even). ``d_ij = 0`` means now;
4. **cascade**: zero-delay delta synapses can push other neurons over threshold in
   the same step, so steps 2-3 repeat in rounds (a neuron may spike again in a later
   round) until no neuron is above threshold, at most ``max_cascade`` rounds. In every
   other case there is one round, i.e. at most one spike per neuron per step.

A step that ends with a neuron still above threshold is *truncated*: the network
asked for more spikes than the step allows (a run-away, an overshoot larger than the
reset depth, or an endless zero-delay cascade). Truncated steps are counted and
reported with a :class:`RuntimeWarning`; the excess voltage carries over to the next
step, so the run always ends.

Event-aware skipping
--------------------
Without noise the state between spikes is the closed form above, so the simulator
jumps over every step in which it can *prove* that no neuron reaches threshold and no
delayed charge arrives, landing on the step grid. Over :math:`[0, T]`, :math:`V_i(t)`
has at most one maximum: from the ODE, :math:`V_i'(t) = e^{-\lambda_m t}(d_0 - h(t))`
with :math:`d_0 = V_i'(0) = -\lambda_m V_i + b_i + I_i` and :math:`h(t) =
\lambda_s I_i (e^{(\lambda_m - \lambda_s)t} - 1)/(\lambda_m - \lambda_s)`
(:math:`\lambda_s I_i t` when the rates are equal), monotone with the sign of
:math:`I_i`; an interior maximum exists only when :math:`I_i > 0` and :math:`d_0 > 0`,
at

.. math::

    t^* = \frac{d_0}{\lambda_s I_i}\,\frac{\log(1 + y)}{y}, \qquad
    y = \frac{d_0 (\lambda_m - \lambda_s)}{\lambda_s I_i} > -1.

Jumps stop before any :math:`t^*` whose :math:`V_i(t^*)` exceeds threshold; below that
horizon the maximum over :math:`[0, T]` sits at an endpoint, so "no neuron above
threshold at :math:`T = n\Delta t`" is an exact test, monotone in ``n``. The largest
safe ``n`` is searched from a first test at twice the previous jump: a test that
fails names a neuron above threshold, whose own first crossing step is found by a
scalar regula falsi (Illinois) on the step grid (its voltage is unimodal, so the
crossing is unique); the next test is the step before it, which either ends the search
or names an earlier neuron (galloping doubles the test while tests pass). The state is
then advanced by ``n + 1`` steps in one closed-form update (the jump and the step that
may spike or receive charge), which also reports whether a neuron is above threshold,
so steps without spikes need no scan. Without leak and with every :math:`b_i \ge 0` no
voltage has an interior maximum (:math:`V' = b + I e^{-t/\tau_s}` changes sign only
upwards), so the peak test is skipped. The result equals stepping one step at a time
up to float rounding; a jump costs O(N) per test instead of O(N n).

This is the default path without noise (``SKIP_EXACT``) for leaky neurons or a
negative drive: an event costs a few passes over the N neurons (about 2-5 end-point
tests, some ending early, the update, the scan when a neuron is above threshold), and
a spike's delivery one more (a vectorized row add ``I += W'[j]`` when every delay is
zero, one row into the ring of pending charges when all delays are equal, a
per-synapse delay test otherwise).

Non-leaky neurons with every :math:`b_i \ge 0` (the causal tasks) take a shorter
search on the same path. With exponential synapses :math:`V_i(t) = V_i + b_i t +
\tau_s(1 - e^{-t/\tau_s}) I_i` is concave for :math:`I_i \ge 0` (below its tangent at
0, slope :math:`b_i + I_i`) and convex for :math:`I_i < 0` (on :math:`[0, h]` below its
chord), so :math:`\{t : V_i(t) > \Theta\}` is a right interval and the tangent's or the
chord's crossing is a lower bound on the neuron's. One vectorized *horizon pass* at
``h`` steps (from twice the previous jump; branch-free: selects and integer counts,
no early exit, no float reduction) computes every :math:`V_i(h)` and the bound of each
neuron above threshold there. If none is, all of :math:`[0, h]` is safe and ``h``
doubles; otherwise the neuron with the smallest bound (an integer min over the bounds'
bits, which vectorizes) gets its exact first crossing step ``s`` by a scalar regula
falsi on the step grid, and every other neuron whose bound is not after ``s - 1`` is
checked at ``s - 1`` (one by one when there are at most
:data:`_FEW_CONTENDERS`, else by another horizon pass at ``s - 1``). When no other
bound falls at or before ``s`` the leading neuron is the only one to spike: with dense
zero-delay exponential synapses its jump, its reset and its row ``I += W'[j]`` are
then not applied at once but folded into the next horizon pass, so such an event costs
about one pass over the neurons (mixture tasks: ~2 horizon passes per spike, against
5-7 passes for the search above). The propagators :math:`c_I(m\Delta t)`,
:math:`e^{-m\Delta t/\tau_s}` of jumps up to :data:`_TABLE_STEPS` steps are kept in a
lazily filled per-chunk table (no exponential per tested step). Every test uses the
end-point formula above and the update the same one, so the spikes are those of the
search above; bounds keep a margin of :data:`_BOUND_MARGIN` steps against rounding.

A second path (``SKIP_BOUND``, non-leaky neurons only, chosen by
:data:`_FORCE_MODE`) needs no search: with :math:`c(t) = \tau_s(1 - e^{-t/\tau_s})`,
:math:`V(t) = V + b t + I c(t)` and :math:`c(t) \le \min(t, \tau_s)`,
:math:`c(t) \ge \rho \min(t, \tau_s)` (:math:`\rho = 1 - e^{-1}`, concavity), so
:math:`V(t) \le V + b t + I' \min(t, \tau_s)` with :math:`I' = I` (:math:`I \ge 0`) or
:math:`\rho I` (:math:`I < 0`), whose first crossing of threshold is closed form. Every
jump covers the whole steps below the smallest such bound and computes the next bound
in the same pass (one pass per jump, a near-threshold step one pass). It is exact
(the same spikes) but its bound is loose when strong inhibition balances a strong drive
(:math:`I \approx -b`, the mixture tasks): it then takes many short jumps and is slower
than ``SKIP_EXACT``, which is why it is not the default. ``STEP`` takes every step
(the path with noise, and the tests' reference).

Folded units
------------
The kernel does not integrate :math:`V` itself but :math:`x_i = (V_i - H_i)/D_i`
(:mod:`compiler.frontend.fold`, with :math:`H_i = \Theta_i - D_i` the reset potential): every
neuron then has threshold 1 and reset 0 (subtract 1, or set 0 for the hard reset),
weights :math:`W_{ij}/D_i`, drive :math:`(b_i - H_i/\tau_m)/D_i`, noise
:math:`\sigma/D_i`. Spikes are unchanged (the map is affine and increasing), but the
distance from reset to threshold is 1 whatever the network's scale: in voltage units
a causal network with :math:`\sigma = 10^7` has :math:`D_i \approx 10^{-14}` next to
a threshold of 1, its drive per step is below one rounding unit of :math:`V`, and it
never spiked. Scaling :math:`V`, the weights onto a neuron, its drive, reset depth
and threshold by one factor leaves the folded network, hence the spikes, unchanged
(exactly when the factor is a power of two). Initial states are drawn directly in
folded units; ``v0`` and ``final_voltages`` are in voltage units, so they carry
:math:`V`'s rounding (``x0`` gives folded initial states exactly; a ``v0`` that cannot
resolve a tiny :math:`D_i` is warned about).

Sparse networks
---------------
With CSR weights (``network.is_sparse``) the fold lists the synapses by presynaptic
neuron (:func:`compiler.backends.emulator.transposed_pattern`, O(N + nnz) time,
about :data:`compiler.system.resources.SIMULATE_SPARSE_SYNAPSE` bytes per synapse,
nothing N x N) and a spike of ``j`` costs its fan-out instead of N; a step costs
O(N) for the neurons (the skipping tests included), so a run is O(steps N + spikes x
fan-out) in time and O(nnz + N d) in memory per trial for delays of up to ``d`` steps.
Delays are a scalar or a CSR matrix on the weights' pattern. The spikes, final
voltages and truncations are identical to the dense form's (``W.toarray()``, the
same delays, zero off the pattern): every target receives the same increments
(:math:`W_{ij}/D_i`, the same division) in the same order (spikes by increasing id,
one increment per synapse), and a uniform delay marks its arrival step on every spike
as the dense kernel's zeros do, so both skip the same steps. A dense form whose
delay matrix is non-zero off the pattern can skip differently (up to float rounding).

Chunks, Ctrl-C and progress
---------------------------
A trial runs in chunks of about :data:`compiler.backends.emulator.CHUNK_SECONDS` of work (sized
from the measured rate of the previous chunk, the first from the network size). A
chunk ends only at the top of the step loop, after a whole step or jump, and every
piece of state (voltages, currents, the delayed-charge ring, counts, the spike record,
the noise generator) lives in arrays passed from chunk to chunk, so the spikes do not
depend on the chunking. Between chunks Python runs again: Ctrl-C raises
``KeyboardInterrupt`` within about a chunk (worker threads finish their chunk and
stop), and no result is returned. ``progress`` shows a tqdm bar.

Noise generator
---------------
The normal :math:`\xi_{k,i}` of neuron ``i`` in step ``k`` is a pure function of the
trial's 64-bit key and the counter :math:`c = kN + i`: the SplitMix64 word
:math:`\mathrm{mix}(key + (c + 1)\gamma)` feeds the 256-layer ziggurat of Marsaglia and
Tsang (numpy's tables; 8 bits choose the layer, one the sign, the top 52 the abscissa).
About 99 % of the draws end in the rectangles, computed for all N neurons of a step in
two branch-free vectorized passes (~2-3 ns per draw here, against ~24 ns for the Mersenne
Twister with polar Box-Muller used before); the rest finish with the exact wedge and tail
tests from a second stream. There is no generator state to carry between chunks (the
counter is the step), trials differ by their keys (drawn from ``seed``), and results do
not depend on chunking or threads. The numbers differ from the Mersenne Twister's that
earlier versions drew for the same seed (same distribution; the functions ``_mt_*``
remain for :mod:`lava_causal.staged`). A noisy step costs about 3 ns per neuron, i.e.
O(steps N) whatever the spikes.
"""
from __future__ import annotations

import math
import os
import platform
import threading
import time
import warnings
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from numbers import Integral, Real
from typing import List, Optional, Tuple

import numba
import numpy as np
from numba import njit

from compiler import IFNetwork
from compiler.backends.emulator import (FIRST_CHUNK_WORK, ChunkPacer, RunProgress, check_progress,
                                        transposed_pattern)
from compiler.system.resources import check_simulate
from compiler.system.sparse import same_pattern
from compiler.quantization.stability import check_stable
from compiler.backends.results import RatesFromCounts

DEFAULT_MAX_CASCADE = 100
"""Default bound on spike rounds per step for zero-delay delta synapses."""

_INITIAL_RECORD_CAPACITY = 1024


# --------------------------------------------------------------------- kernels
@njit(cache=True, nogil=True)
def _rel_expm1(x):
    """(e^x - 1) / x, accurate near 0."""
    if x == 0.0:
        return 1.0
    return math.expm1(x) / x


@njit(cache=True, nogil=True)
def _rel_log1p(x):
    """log(1 + x) / x, accurate near 0."""
    if x == 0.0:
        return 1.0
    return math.log1p(x) / x


@njit(cache=True, nogil=True)
def _propagator(t, inv_tm, inv_ts):
    """Coefficients (a, c_b, c_I, q) of the exact solution over a time t."""
    if inv_tm == 0.0:
        a = 1.0
        cb = t
    else:
        a = math.exp(-t * inv_tm)
        cb = -math.expm1(-t * inv_tm) / inv_tm
    if inv_ts == 0.0:
        return a, cb, 0.0, 0.0
    ci = t * a * _rel_expm1((inv_tm - inv_ts) * t)
    return a, cb, ci, math.exp(-t * inv_ts)


@njit(cache=True, nogil=True)
def _advance(v, cur, bias, a, cb, ci, q):
    """Apply the closed-form solution (a, c_b, c_I, q) to every neuron in place."""
    for i in range(v.shape[0]):
        v[i] = a * v[i] + cb * bias[i] + ci * cur[i]
        cur[i] *= q


@njit(cache=True, nogil=True)
def _first_above(v, cur, bias, theta, t, inv_tm, inv_ts):
    """The first neuron (by index) above the (common) threshold at time t, -1 if none."""
    a, cb, ci, _ = _propagator(t, inv_tm, inv_ts)
    for i in range(v.shape[0]):
        if a * v[i] + cb * bias[i] + ci * cur[i] > theta:
            return i
    return -1


@njit(cache=True, nogil=True, inline="always")
def _value_at(v, c, b, m, dt, inv_tm, inv_ts):
    """One neuron's state after m steps, by the same formula as the end-point tests."""
    if m == 0:
        return v
    a, cb, ci, _ = _propagator(m * dt, inv_tm, inv_ts)
    return a * v + cb * b + ci * c


@njit(cache=True, nogil=True)
def _first_crossing(v, c, b, theta, inv_tm, inv_ts, dt, lo, hi, tab):
    """The first step in (lo, hi] at which one neuron is above threshold, given that it is
    not at lo and is at hi (its voltage is unimodal, so the crossing is unique there):
    regula falsi on the step grid with the Illinois correction, then bisection. Values
    by :func:`_value_on_grid` (``tab``: the propagator table of a non-leaky run, (2, 0)
    for none)."""
    fa = _value_on_grid(v, c, b, lo, dt, inv_tm, inv_ts, tab) - theta
    fb = _value_on_grid(v, c, b, hi, dt, inv_tm, inv_ts, tab) - theta
    side = 0
    evals = 0
    while hi - lo > 1:
        evals += 1
        if evals <= 8 and fb > fa:
            m = lo + np.int64((-fa) / (fb - fa) * (hi - lo))
            m = min(max(m, lo + 1), hi - 1)
        else:
            m = (lo + hi) // 2
        fm = _value_on_grid(v, c, b, m, dt, inv_tm, inv_ts, tab) - theta
        if fm > 0.0:
            hi = m
            fb = fm
            if side == -1:
                fa *= 0.5
            side = -1
        else:
            lo = m
            fa = fm
            if side == 1:
                fb *= 0.5
            side = 1
    return hi


@njit(cache=True, nogil=True)
def _safe_steps(v, cur, bias, theta, inv_tm, inv_ts, dt, cap, guess=1, check_now=True,
                peaks=True):
    """Largest n <= cap such that no neuron exceeds threshold in the next n steps, and
    the number of end-point tests it took. ``guess``: where to test first;
    ``check_now``: False when no neuron is known to be above threshold now; ``peaks``:
    False when no voltage can have an interior maximum (non-leaky neurons with
    ``bias >= 0``: :math:`V' = b + I e^{-t/\tau_s}` then changes sign only upwards)."""
    n = v.shape[0]
    if check_now:
        for i in range(n):
            if v[i] > theta:
                return 0, 0
    if inv_ts > 0.0 and peaks:
        # Interior maxima (I_i > 0, d0 > 0) that exceed threshold bound the horizon.
        for i in range(n):
            if cur[i] <= 0.0:
                continue
            d0 = -inv_tm * v[i] + bias[i] + cur[i]
            if d0 <= 0.0:
                continue
            y = d0 * (inv_tm - inv_ts) / (inv_ts * cur[i])
            if y <= -1.0:
                continue  # h(t) never reaches d0: V_i rises monotonically
            t_peak = d0 / (inv_ts * cur[i]) * _rel_log1p(y)
            if t_peak >= cap * dt:
                continue
            a, cb, ci, _ = _propagator(t_peak, inv_tm, inv_ts)
            if a * v[i] + cb * bias[i] + ci * cur[i] > theta:
                cap = int(t_peak / dt)
    # Invariant: lo steps are safe, hi steps are not (or exceed cap). A failed test names
    # a neuron above threshold; its own first crossing (a scalar search) is the next
    # candidate, so a test either ends the search or hands it to an earlier neuron.
    lo = 0
    hi = cap + 1
    m = min(max(guess, 1), cap)
    tests = 0
    while hi - lo > 1:
        tests += 1
        j = _first_above(v, cur, bias, theta, m * dt, inv_tm, inv_ts)
        if j < 0:
            lo = m
            m = min(2 * m, hi - 1) if hi == cap + 1 else (lo + hi) // 2
        else:
            hi = _first_crossing(v[j], cur[j], bias[j], theta, inv_tm, inv_ts, dt, lo, m,
                                 np.empty((2, 0)))
            m = hi - 1
            if m <= lo:
                break
    return lo, tests


# Non-leaky neurons with b >= 0 (``SKIP_EXACT``'s event search without peaks). Over a
# horizon of h steps V_i(t) = V_i + b_i t + c(t) I_i, c(t) = tau_s (1 - e^{-t/tau_s}),
# is concave for I_i >= 0 (below its tangent at 0, slope b_i + I_i) and convex for
# I_i < 0 (below its chord from 0 to h), so {t: V_i(t) > 1} is a right interval and
# the tangent's or chord's crossing of 1 is a lower bound on V_i's.
_BOUND_MARGIN = 1e-6
"""Steps of margin on a crossing bound (float rounding of the end-point formula)."""


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _bound_at(xi, c, b, cb, ci, hf, dt):
    """(crossing bound in steps or inf, whether above 1 at the horizon) of one neuron:
    its value at the horizon is ``xi + cb b + ci c`` (the end-point formula); the bound
    is the tangent's crossing (c >= 0, concave) or the chord's (c < 0, convex)."""
    vh = xi + cb * b + ci * c
    up = c >= 0.0
    num = (1.0 - xi) * (1.0 if up else hf)
    den = (b + c) * dt if up else vh - xi
    ab = vh > 1.0
    return (num / den if ab else np.inf), ab


@njit(cache=True, nogil=True, error_model="numpy")
def _horizon_pass(x, cur, bias, row, add_row, pend, cb_p, ci_p, q_p, jr, hard, lbuf, cb, ci,
                  h, dt):
    """One vectorized pass over the neurons. First it completes the last event, when
    ``pend``: the advance by the propagator (1, ``cb_p``, ``ci_p``, ``q_p``), the reset
    of neuron ``jr`` (to 0 when ``hard``, else by 1) and, with ``add_row``, the delivery
    ``cur += row`` (the same float operations as :func:`_advance`, the reset and the
    row add one after the other); then it computes every neuron's value at ``h`` steps
    and, for those above 1 there, a lower bound on their first crossing in steps
    (``lbuf``, inf for the others; :func:`_bound_at`). Returns (neurons above 1 at h,
    neurons above 1 now). Branch-free (selects, integer counts, no float reduction), so
    it vectorizes."""
    n = x.shape[0]
    nab = 0
    now = 0
    hf = float(h)
    if pend:
        for i in range(n):
            xi = 1.0 * x[i] + cb_p * bias[i] + ci_p * cur[i]
            xi = (0.0 if hard else xi - 1.0) if i == jr else xi
            c = cur[i] * q_p
            if add_row:
                c = c + row[i]
            x[i] = xi
            cur[i] = c
            l, ab = _bound_at(xi, c, bias[i], cb, ci, hf, dt)
            lbuf[i] = l
            nab += ab
            now += xi > 1.0
    elif add_row:
        for i in range(n):
            xi = x[i]
            c = cur[i] + row[i]
            cur[i] = c
            l, ab = _bound_at(xi, c, bias[i], cb, ci, hf, dt)
            lbuf[i] = l
            nab += ab
            now += xi > 1.0
    else:
        for i in range(n):
            xi = x[i]
            l, ab = _bound_at(xi, cur[i], bias[i], cb, ci, hf, dt)
            lbuf[i] = l
            nab += ab
            now += xi > 1.0
    return nab, now


@njit(cache=True, nogil=True)
def _min_bits(bits):
    """The smallest of ``bits``: the int64 views of non-negative doubles (inf allowed),
    whose integer order is their order. An integer reduction vectorizes where a float
    min does not (without fast-math flags)."""
    m = np.int64(0x7FF0000000000000)  # +inf
    for i in range(bits.shape[0]):
        b = bits[i]
        m = b if b < m else m
    return m


@njit(cache=True, nogil=True)
def _count_below(lbuf, thr):
    """Entries of ``lbuf`` below ``thr`` (vectorized)."""
    m = 0
    for i in range(lbuf.shape[0]):
        m += lbuf[i] < thr
    return m


_TABLE_STEPS = 2048
"""Jumps (in steps) whose propagators a non-leaky trial keeps in its lazily filled
table (``tab``, per chunk: 2 x 16 KiB)."""


@njit(cache=True, nogil=True, inline="always")
def _tab_at(tab, m, dt, inv_ts):
    """(c_I, q) of a jump of m steps without leak, from the table ``tab`` (2, M) (NaN:
    not yet computed) or :func:`_propagator` (the same numbers)."""
    if m < tab.shape[1]:
        ci = tab[0, m]
        if ci == ci:
            return ci, tab[1, m]
        _, _, ci, q = _propagator(m * dt, 0.0, inv_ts)
        tab[0, m] = ci
        tab[1, m] = q
        return ci, q
    _, _, ci, q = _propagator(m * dt, 0.0, inv_ts)
    return ci, q


@njit(cache=True, nogil=True, inline="always")
def _value_tab(v, c, b, m, dt, inv_ts, tab):
    """:func:`_value_at` without leak (a = 1, c_b = m dt), c_I from the table."""
    if m == 0:
        return v
    ci, _ = _tab_at(tab, m, dt, inv_ts)
    return 1.0 * v + (m * dt) * b + ci * c


@njit(cache=True, nogil=True, inline="always")
def _value_on_grid(v, c, b, m, dt, inv_tm, inv_ts, tab):
    """:func:`_value_at`; without leak :func:`_value_tab` (the same numbers, c_I from
    the table ``tab`` where it has them)."""
    if inv_tm == 0.0:
        return _value_tab(v, c, b, m, dt, inv_ts, tab)
    return _value_at(v, c, b, m, dt, inv_tm, inv_ts)


@njit(cache=True, nogil=True)
def _next_event_nl(x, cur, bias, row, add_row, pend, cb_p, ci_p, q_p, jr, hard, lbuf, inv_ts,
                   dt, cap, guess, tab):
    """Non-leaky, b >= 0: the largest n <= cap such that no neuron exceeds 1 in the next
    n steps, the passes over the neurons it took, the neuron that crosses at step
    n + 1 (-1 if unknown) and whether it is surely the only one above 1 there. The
    first pass completes the last event first (``pend``, ``add_row``: see
    :func:`_horizon_pass`).

    A horizon pass at h steps (vectorized, :func:`_horizon_pass`) either finds every
    neuron at or below 1 at h (then all of [0, h] is safe: the horizon doubles) or
    names the neuron with the smallest crossing bound, whose exact crossing step s is
    found by a scalar search (:func:`_first_crossing`). Neurons whose bound is not after
    s - 1 are checked at s - 1, one by one when they are few (a neuron at or below 1
    at both ends of [0, s - 1] is below on all of it), else by another horizon pass at
    h = s - 1."""
    lo = 0
    h = min(max(guess, 1), cap)
    passes = 0
    s = -1  # a step at which a neuron is known to be above 1 (-1: none yet)
    j = -1
    while True:
        ci, _ = _tab_at(tab, h, dt, inv_ts)
        cb = h * dt
        nab, now = _horizon_pass(x, cur, bias, row, add_row, pend, cb_p, ci_p, q_p, jr, hard,
                                 lbuf, cb, ci, h, dt)
        add_row = False
        pend = False
        passes += 1
        if now > 0:
            return 0, passes, -1, False
        if nab == 0:  # every neuron at or below 1 at h: all of [0, h] is safe
            if s >= 0:
                return h, passes, j, False  # h = s - 1
            if h >= cap:
                return cap, passes, -1, False
            lo = h
            h = min(2 * h, cap)
            continue
        j = 0
        if nab == 1:
            while lbuf[j] == np.inf:
                j += 1
        else:
            bits = lbuf.view(np.int64)
            m = _min_bits(bits)
            while bits[j] != m:
                j += 1
        s = _first_crossing(x[j], cur[j], bias[j], 1.0, 0.0, inv_ts, dt, lo, h, tab)
        if s - 1 <= lo:
            return s - 1, passes, j, _alone(lbuf, j, s)
        thr = (s - 1) * (1.0 + 1e-9) + _BOUND_MARGIN
        others = _count_below(lbuf, thr) - (1 if lbuf[j] < thr else 0)
        if others == 0:
            return s - 1, passes, j, _alone(lbuf, j, s)
        if others > _FEW_CONTENDERS:
            h = s - 1
            continue
        lead = j
        for i in range(x.shape[0]):
            if i == lead or not lbuf[i] < thr:
                continue
            if _value_tab(x[i], cur[i], bias[i], s - 1, dt, inv_ts, tab) > 1.0:
                s = _first_crossing(x[i], cur[i], bias[i], 1.0, 0.0, inv_ts, dt, lo, s - 1, tab)
                thr = (s - 1) * (1.0 + 1e-9) + _BOUND_MARGIN
                j = i
                if s - 1 <= lo:
                    break
        return s - 1, passes, j, _alone(lbuf, j, s)


@njit(cache=True, nogil=True)
def _alone(lbuf, j, s):
    """Whether no neuron but ``j`` can be above 1 at step ``s``: every other crossing
    bound in ``lbuf`` (of a horizon at or after s) is after s."""
    thr = s * (1.0 + 1e-9) + _BOUND_MARGIN
    return _count_below(lbuf, thr) - (1 if lbuf[j] < thr else 0) == 0


_FEW_CONTENDERS = 4
"""Neurons checked one by one before another horizon pass is cheaper."""


@njit(cache=True, nogil=True)
def _advance_count(v, cur, bias, a, cb, ci, q):
    """:func:`_advance`, and the number of neurons then above 1 (vectorized)."""
    m = 0
    for i in range(v.shape[0]):
        xi = a * v[i] + cb * bias[i] + ci * cur[i]
        v[i] = xi
        cur[i] *= q
        m += xi > 1.0
    return m


@njit(cache=True, nogil=True)
def _next_pending(pending, k, n_slots, n_steps):
    """First step after k with a pending delayed arrival, n_steps if none."""
    for offset in range(1, n_slots):
        s = k + offset
        if s >= n_steps:
            break
        if pending[s % n_slots]:
            return s
    return n_steps


# Mersenne Twister MT19937 with numba's ``np.random.seed(int)`` initialization and its
# ``np.random.standard_normal`` (polar Box-Muller keeping the second value of a pair):
# the same numbers numba's global generator draws, but with the state in arrays that a
# chunked run carries from chunk to chunk (numba's own state is per thread and cannot
# be saved). State: ``mt`` (624 words in int64) and (index, has_spare, spare).
_MT_N = 624


@njit(cache=True, nogil=True)
def _mt_seed(mt, seed):
    """Initialize ``mt`` like ``np.random.seed(seed)`` (seed taken modulo 2**32)."""
    s = seed & 0xFFFFFFFF
    for pos in range(_MT_N):
        mt[pos] = s
        s = (1812433253 * (s ^ (s >> 30)) + pos + 1) & 0xFFFFFFFF


@njit(cache=True, nogil=True)
def _mt_twist(mt):
    for i in range(_MT_N):
        y = (mt[i] & 0x80000000) | (mt[(i + 1) % _MT_N] & 0x7FFFFFFF)
        value = mt[(i + 397) % _MT_N] ^ (y >> 1)
        if y & 1:
            value ^= 0x9908B0DF
        mt[i] = value


@njit(cache=True, nogil=True, inline="always")
def _mt_word(mt, index):
    """The next tempered 32-bit word and the new index."""
    if index >= _MT_N:
        _mt_twist(mt)
        index = 0
    y = mt[index]
    y ^= y >> 11
    y ^= (y << 7) & 0x9D2C5680
    y ^= (y << 15) & 0xEFC60000
    y ^= y >> 18
    return y, index + 1


@njit(cache=True, nogil=True, inline="always")
def _mt_double(mt, index):
    """A double in [0, 1) with 53 random bits, and the new index."""
    a, index = _mt_word(mt, index)
    b, index = _mt_word(mt, index)
    return ((a >> 5) * 67108864.0 + (b >> 6)) / 9007199254740992.0, index


@njit(cache=True, nogil=True, inline="always")
def _mt_normal(mt, index, has_spare, spare):
    """One standard normal; returns (value, index, has_spare, spare)."""
    if has_spare:
        return spare, index, False, 0.0
    while True:
        u1, index = _mt_double(mt, index)
        u2, index = _mt_double(mt, index)
        x1 = 2.0 * u1 - 1.0
        x2 = 2.0 * u2 - 1.0
        r2 = x1 * x1 + x2 * x2
        if r2 < 1.0 and r2 != 0.0:
            break
    f = math.sqrt(-2.0 * math.log(r2) / r2)
    return f * x2, index, True, f * x1


# Counter-based normal generator (the noise). Word ``c`` of a trial's stream is the
# SplitMix64 output ``mix64(key + (c + 1) * GAMMA)`` (Steele, Lea & Flood 2014): a
# pure function of (key, c), so a chunked run needs no generator state beyond the step
# counter. The noise of neuron ``i`` in step ``k`` uses word ``c = k * N + i`` and
# turns it into a standard normal with the 256-layer ziggurat of Marsaglia & Tsang
# (2000) as numpy's ``Generator.standard_normal`` uses it (8 bits pick the layer, one
# the sign, the top 52 the abscissa). The ~1 % of words that fall outside their layer's
# rectangle are finished by the exact wedge / tail tests with words from a second
# stream (key ``mix64(key ^ _ALT)``, counters ``64 c + j``). Each trial has its own
# 64-bit key; two trials' streams overlap only if their keys nearly coincide
# (probability ~ 2**-23 per pair for 2**40 draws).
_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_ALT = np.uint64(0xD1B54A32D192ED03)


def _ziggurat_tables():
    """(x_i, k_i / 2**52, f_i) of the 256-layer normal ziggurat (numpy's constants)."""
    r, v = 3.6541528853610088, 0.00492867323399
    ki, wi, fi = np.zeros(256), np.zeros(256), np.zeros(256)
    dn = tn = r
    q = v / math.exp(-0.5 * dn * dn)
    ki[0], ki[1] = math.floor((dn / q) * 2.0**52), 0.0
    wi[0], wi[255] = q, dn
    fi[0], fi[255] = 1.0, math.exp(-0.5 * dn * dn)
    for i in range(254, 0, -1):
        dn = math.sqrt(-2.0 * math.log(v / dn + math.exp(-0.5 * dn * dn)))
        ki[i + 1] = math.floor((dn / tn) * 2.0**52)
        tn = dn
        fi[i] = math.exp(-0.5 * dn * dn)
        wi[i] = dn
    return wi, ki / 2.0**52, fi


_ZIG_X, _ZIG_K, _ZIG_F = _ziggurat_tables()
_ZIG_R = 3.6541528853610088


@njit(cache=True, nogil=True, inline="always")
def _mix64(z):
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@njit(cache=True, nogil=True, inline="always")
def _word(key, c):
    """Word ``c`` (uint64) of the stream with ``key``."""
    return _mix64(key + (c + np.uint64(1)) * _GAMMA)


@njit(cache=True, nogil=True, inline="always")
def _unit(w):
    """A double in [0, 1) from the top 53 bits of ``w``."""
    return float(w >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@njit(cache=True, nogil=True)
def _normal_slow(key, c, w):
    """Finish a draw whose first word ``w`` (counter ``c``) fell outside the ziggurat's
    rectangles: wedge or tail test, then fresh tries, all from the second stream."""
    alt = _mix64(key ^ _ALT)
    j = np.uint64(c) * np.uint64(64)
    while True:
        idx = np.int64(w & np.uint64(0xFF))
        sign = (w >> np.uint64(8)) & np.uint64(1)
        u = float(w >> np.uint64(12)) * (1.0 / 4503599627370496.0)
        x = u * _ZIG_X[idx]
        if u < _ZIG_K[idx]:
            return -x if sign else x
        if idx == 0:  # the tail beyond r, by Marsaglia's exponential method
            while True:
                xx = -math.log1p(-_unit(_word(alt, j))) / _ZIG_R
                yy = -math.log1p(-_unit(_word(alt, j + np.uint64(1))))
                j += np.uint64(2)
                if yy + yy > xx * xx:
                    return -(_ZIG_R + xx) if sign else _ZIG_R + xx
        if ((_ZIG_F[idx - 1] - _ZIG_F[idx]) * _unit(_word(alt, j)) + _ZIG_F[idx]
                < math.exp(-0.5 * x * x)):
            j += np.uint64(1)
            return -x if sign else x
        w = _word(alt, j + np.uint64(1))
        j += np.uint64(2)


@njit(cache=True, nogil=True)
def _fill_normals(z, key, c0, bits, low):
    """``z[i]`` = the standard normal of counter ``c0 + i`` of the stream ``key``
    (``bits``, ``low``: uint64 and int64 scratch of z's length). Two branch-free,
    vectorized passes cover the rectangles (~99 % of draws); the rest are finished one
    by one (:func:`_normal_slow`)."""
    n = z.shape[0]
    base = np.uint64(c0)
    for i in range(n):
        w = _word(key, base + np.uint64(i))
        bits[i] = (w >> np.uint64(12)) | np.uint64(0x3FF0000000000000)  # 1 + u, u in [0, 1)
        low[i] = np.int64(w & np.uint64(0x1FF))  # layer (8 bits) and sign (bit 8)
    one_plus_u = bits.view(np.float64)
    first = n
    last = -1
    for i in range(n):
        idx = low[i] & 0xFF
        u = one_plus_u[i] - 1.0
        x = u * _ZIG_X[idx]
        z[i] = x if low[i] < 256 else -x
        out = u >= _ZIG_K[idx]
        first = min(first, i if out else n)
        last = max(last, i if out else -1)
    if last >= 0:
        for i in range(first, last + 1):
            idx = low[i] & 0xFF
            if one_plus_u[i] - 1.0 >= _ZIG_K[idx]:
                z[i] = _normal_slow(key, c0 + i, _word(key, base + np.uint64(i)))


def noise_key(seed: int) -> np.uint64:
    """The 64-bit stream key of a trial's noise seed."""
    return np.uint64(int(_mix64_py(int(seed) & 0xFFFFFFFFFFFFFFFF)))


def _mix64_py(z: int) -> int:
    m = 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & m
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & m
    return z ^ (z >> 31)


@njit(cache=True, nogil=True, inline="always")
def _deliver(target, buf, pending, i, w, delay, k, n_steps, next_due):
    """One spike's charge ``w`` onto neuron ``i`` after ``delay`` steps: now (``target``)
    for 0, else into the ring ``buf`` (dropped past the end of the run). Returns the
    first step with a pending arrival. Used by the sparse loop of
    :func:`_simulate_chunk`; the dense loop writes the same lines out (the compiler
    does not vectorize it through this function)."""
    if delay == 0:
        target[i] += w
    elif k + delay < n_steps:
        s = k + delay
        slot = s % pending.shape[0]
        buf[slot, i] += w
        pending[slot] = True
        if s < next_due:
            next_due = s
    return next_due



# Conservative first-passage bound (non-leaky neurons). With c(t) = tau_s (1 - e^{-t/tau_s}),
# V(t) = V + b t + I c(t), and c(t) <= min(t, tau_s) (I >= 0), c(t) >= rho min(t, tau_s)
# with rho = 1 - 1/e (I < 0; c is concave), so V(t) <= U(t) = V + b t + I' min(t, tau_s)
# with I' = I or rho I: a piecewise linear bound whose first crossing of 1 is closed form.
_RHO = -math.expm1(-1.0)
_SAFETY = 1.0 - 1e-9
"""Relative margin on a bound's time (rounding of the closed-form update)."""
_NO_SYN_TAU = 1e300


@njit(cache=True, nogil=True, inline="always")
def _bound_time(x, c, b, tau, rho):
    """Lower bound on the first time neuron (x, c, b) exceeds 1 (inf if never)."""
    ie = c if c >= 0.0 else rho * c
    s = b + ie
    d = 1.0 - x
    t1 = d / s if s > 0.0 else 0.0
    t2 = (d - ie * tau) / b if b > 0.0 else 0.0
    return t1 if (s > 0.0 and d < s * tau) else (t2 if b > 0.0 else np.inf)


@njit(cache=True, nogil=True, error_model="numpy")
def _bound_pass(x, cur, bias, tau, rho):
    """The smallest :func:`_bound_time` over all neurons."""
    t = np.inf
    for i in range(x.shape[0]):
        t = min(t, _bound_time(x[i], cur[i], bias[i], tau, rho))
    return t


@njit(cache=True, nogil=True, error_model="numpy")
def _advance_bound(x, cur, bias, a, cb, ci, q, tau, rho):
    """:func:`_advance` and then :func:`_bound_pass` of the new state in one pass; also
    the largest new x."""
    t = np.inf
    top = -np.inf
    for i in range(x.shape[0]):
        xi = a * x[i] + cb * bias[i] + ci * cur[i]
        c = cur[i] * q
        x[i] = xi
        cur[i] = c
        top = max(top, xi)
        t = min(t, _bound_time(xi, c, bias[i], tau, rho))
    return t, top


@njit(cache=True, nogil=True, inline="always")
def _steps_within(t, inv_dt, cap):
    """Whole steps surely inside a bound time ``t``, at most ``cap``."""
    f = t * inv_dt * _SAFETY
    if f >= cap:
        return cap
    return max(np.int64(f), 0)


@njit(cache=True, nogil=True)
def _advance_noisy(x, cur, bias, a, cb, ci, q, noise, z):
    """One step with the noise ``noise[i] * z[i]`` added after the exact part; whether
    a neuron is then above threshold."""
    above = False
    for i in range(x.shape[0]):
        xi = (a * x[i] + cb * bias[i] + ci * cur[i]) + noise[i] * z[i]
        x[i] = xi
        cur[i] *= q
        above |= xi > 1.0
    return above


# Paths of the step loop (``mode`` of _simulate_chunk).
STEP, SKIP_EXACT, SKIP_BOUND = 0, 1, 2
_FORCE_MODE = None
"""Tests: force a path (STEP steps one step at a time) instead of the automatic one."""

# Slots of the integer state of one trial (``_simulate_chunk``'s ``state``).
_K, _NEXT_DUE, _N_REC, _TRUNCATED, _JUMPS, _SINGLES, _LAST_SKIP = range(7)
_STATE_SIZE = 7
_NORMAL_WORK = 5
"""Work units of one normal draw, in units of one neuron update (measured ~5x)."""


@njit(cache=True, nogil=True)
def _simulate_chunk(x_io, cur_io, buf_io, pending_io, counts, rec_steps, rec_ids, state, key,
                    w_t, d_t, d_uniform, sp_indptr, sp_targets, sp_w, sp_d, sp_uniform, bias,
                    noise, noisy, hard_reset, inv_tm, inv_ts, dt, n_steps, window_steps,
                    max_rounds, record, mode, budget):
    """Advance one trial, in folded units (threshold 1, reset 0), from step
    ``state[_K]`` until about ``budget`` work units are done, the run ends, or the spike
    record may overflow. Dense (``sp_indptr`` empty): ``w_t[j, i]`` is the increment of
    I_i (or x_i) per spike of j and ``d_t[j, i]`` its delay in steps; a spike costs
    O(N). Sparse (:class:`_FoldedRun`): the synapses ``p`` of j are
    ``sp_indptr[j] <= p < sp_indptr[j + 1]``, onto ``sp_targets[p]`` with increment
    ``sp_w[p]`` and delay ``sp_d[p]`` (``sp_uniform`` for all when ``sp_d`` is empty);
    a spike costs its fan-out. Both add the same increments to the same targets in the
    same order (spikes in increasing id, each target once per spike), so they give the
    same floats; a uniform delay marks its arrival step on every spike, as the dense
    kernel does through the zeros of ``w_t``, so both skip the same steps.

    ``mode``: :data:`STEP` (every step; with noise), :data:`SKIP_EXACT` (galloping
    and bisection on exact end-point tests, :func:`_safe_steps`; leaky neurons) or
    :data:`SKIP_BOUND` (one pass per jump on the first-passage bound, non-leaky
    neurons). ``d_uniform``: the delay of every dense synapse in steps, or -1 when
    ``d_t`` differs between synapses.

    Every piece of state is in the arrays, updated in place, and the chunk stops only
    at the top of the step loop, where that state is complete: consecutive chunks
    compose to one run exactly, whatever the budgets (a jump over safe steps is never
    cut at a chunk end). ``x_io``, ``cur_io`` (N,): voltages and currents; ``buf_io``,
    ``pending_io`` (n_slots, N), (n_slots,): delayed charges by arrival step modulo
    n_slots; ``counts`` (n_windows, N); ``rec_steps``, ``rec_ids``: spike record (``state[_N_REC]``
    used); ``key``: the noise stream (its counter is the step); ``state[_K]``,
    ``state[_NEXT_DUE]``, ``state[_TRUNCATED]``. Returns the work units done (~ neuron
    updates), which the driver uses to size the next chunk. Returns a scalar, never
    arrays: see :func:`compiler.backends.emulator._emulate_chunk` on why.
    """
    # Local copies, written back at the end: arrays the compiler knows are not aliased
    # keep the inner loops vectorized.
    x = x_io.copy()
    cur = cur_io.copy()
    buf = buf_io.copy()
    pending = pending_io.copy()
    n = x.shape[0]
    exp_syn = inv_ts > 0.0
    target = cur if exp_syn else x
    n_slots = pending.shape[0]
    capacity = rec_steps.shape[0]
    k = state[_K]
    next_due = state[_NEXT_DUE]
    n_rec = state[_N_REC]
    truncated = state[_TRUNCATED]
    fired = np.empty(n, np.int64)
    sparse = sp_indptr.shape[0] > 0
    per_synapse = sp_d.shape[0] > 0
    a1, cb1, ci1, q1 = _propagator(dt, inv_tm, inv_ts)
    tau = 1.0 / inv_ts if exp_syn else _NO_SYN_TAU
    inv_dt = 1.0 / dt
    bound = mode == SKIP_BOUND
    if noisy:
        z = np.empty(n)
        z_bits = np.empty(n, np.uint64)
        z_low = np.empty(n, np.int64)
    else:
        z = np.empty(0)
        z_bits = np.empty(0, np.uint64)
        z_low = np.empty(0, np.int64)
    t_bound = _bound_pass(x, cur, bias, tau, _RHO) if bound else 0.0
    peaks = inv_tm > 0.0 or bias.shape[0] == 0 or bias.min() < 0.0
    nl = mode == SKIP_EXACT and not peaks
    lbuf = np.empty(n if nl else 0)
    tab = np.full((2, _TABLE_STEPS if nl else 0), np.nan)
    # Dense zero-delay exponential synapses on the non-leaky path: the row of the last
    # spike of a step is added to I in the next horizon pass (``carry``), not separately.
    defer = nl and exp_syn and not sparse and d_uniform == 0
    carry = -1
    no_row = np.empty(0)
    # A single-spike event whose advance (propagator (1, cb_p, ci_p, q_p)) and reset of
    # j_p also wait for the next horizon pass (``pend``).
    pend = False
    cb_p = ci_p = 0.0
    q_p = 1.0
    j_p = -1
    above_now = True  # unknown at the start of a chunk
    n_above = 0
    hint = -1
    work = 0  # every chunk takes at least one step or jump, whatever the budget
    while k < n_steps:
        if work >= budget:
            break
        if record and n_rec + n * max_rounds > capacity:
            break  # the driver grows the record and calls again
        if bound:
            skip = _steps_within(t_bound, inv_dt, next_due - k)
            if skip > 0:
                # No neuron can reach threshold in these steps: jump, then bound again.
                a, cb, ci, q = _propagator(skip * dt, inv_tm, inv_ts)
                t_bound, top = _advance_bound(x, cur, bias, a, cb, ci, q, tau, _RHO)
                k += skip
                work += 2 * n
                state[_JUMPS] += 1
                continue
            t_bound, top = _advance_bound(x, cur, bias, a1, cb1, ci1, q1, tau, _RHO)
            work += 2 * n
            state[_SINGLES] += 1
        else:
            if mode == SKIP_EXACT:
                if nl:
                    skip, tests, hint, alone = _next_event_nl(
                        x, cur, bias, w_t[carry] if carry >= 0 else no_row, carry >= 0, pend,
                        cb_p, ci_p, q_p, j_p, hard_reset, lbuf, inv_ts, dt, next_due - k,
                        2 * state[_LAST_SKIP] + 1, tab)
                    carry = -1
                    pend = False
                    if defer and alone and k + skip < n_steps:
                        # One spike (of ``hint``) at step k + skip and nothing else: the
                        # advance, its reset and its row wait for the next horizon pass.
                        ci_p, q_p = _tab_at(tab, skip + 1, dt, inv_ts)
                        cb_p = (skip + 1) * dt
                        xj = 1.0 * x[hint] + cb_p * bias[hint] + ci_p * cur[hint]
                        xr = 0.0 if hard_reset else xj - 1.0
                        if xj > 1.0 and not xr > 1.0:
                            if skip > 0:
                                state[_LAST_SKIP] = skip
                            k += skip
                            counts[k // window_steps, hint] += 1
                            if record:
                                rec_steps[n_rec] = k
                                rec_ids[n_rec] = hint
                                n_rec += 1
                            pend = True
                            j_p = hint
                            carry = hint
                            above_now = False
                            work += n * (1 + tests) + 2 * n
                            k += 1
                            continue
                else:
                    skip, tests = _safe_steps(x, cur, bias, 1.0, inv_tm, inv_ts, dt,
                                              next_due - k, 2 * state[_LAST_SKIP] + 1,
                                              above_now, peaks)
                    hint = -1
                work += n * (1 + tests)
                if skip > 0:
                    state[_LAST_SKIP] = skip
                    if k + skip == n_steps:
                        a, cb, ci, q = _propagator(skip * dt, inv_tm, inv_ts)
                        _advance(x, cur, bias, a, cb, ci, q)
                        k += skip
                        break
                    # Step k + skip is unsafe or due: the jump and that step in one update.
                    if nl:
                        ci, q = _tab_at(tab, skip + 1, dt, inv_ts)
                        a, cb = 1.0, (skip + 1) * dt
                    else:
                        a, cb, ci, q = _propagator((skip + 1) * dt, inv_tm, inv_ts)
                    k += skip
                else:
                    a, cb, ci, q = a1, cb1, ci1, q1
                n_above = _advance_count(x, cur, bias, a, cb, ci, q)
                above_now = n_above > 0
                top = 2.0 if above_now else 0.0
            elif noisy:
                _fill_normals(z, key, k * n, z_bits, z_low)
                above = _advance_noisy(x, cur, bias, a1, cb1, ci1, q1, noise, z)
                work += _NORMAL_WORK * n
                top = 2.0 if above else 0.0
            else:
                _advance(x, cur, bias, a1, cb1, ci1, q1)
                top = 2.0
            work += 2 * n
        changed = False
        if mode == SKIP_EXACT and (k == next_due or top > 1.0):
            above_now = False  # set again below if the step ends truncated
        if k == next_due:
            slot = k % n_slots
            for i in range(n):
                target[i] += buf[slot, i]
                buf[slot, i] = 0.0
            pending[slot] = False
            next_due = _next_pending(pending, k, n_slots, n_steps)
            hint = -1
            work += n
            changed = True
            top = 2.0
        if top > 1.0:
            window = k // window_steps
            for rnd in range(max_rounds + 1):
                if rnd == 0 and hint >= 0 and n_above == 1 and x[hint] > 1.0:
                    fired[0] = hint  # the one neuron above is the one the search named
                    m = 1
                elif rnd > 0 and max_rounds == 1:
                    # No zero-delay coupling of x: only this round's spikers can still
                    # be above threshold.
                    m_prev = m
                    m = 0
                    for f in range(m_prev):
                        if x[fired[f]] > 1.0:
                            fired[m] = fired[f]
                            m += 1
                else:
                    m = 0
                    for i in range(n):
                        if x[i] > 1.0:
                            fired[m] = i
                            m += 1
                if m == 0:
                    break
                if rnd == max_rounds:
                    truncated += 1
                    above_now = True
                    break
                changed = True
                for f in range(m):
                    j = fired[f]
                    counts[window, j] += 1
                    if hard_reset:
                        x[j] = 0.0
                    else:
                        x[j] -= 1.0
                    if record:
                        rec_steps[n_rec] = k
                        rec_ids[n_rec] = j
                        n_rec += 1
                for f in range(m):
                    j = fired[f]
                    if sparse:
                        for p in range(sp_indptr[j], sp_indptr[j + 1]):
                            next_due = _deliver(target, buf, pending, sp_targets[p], sp_w[p],
                                                sp_d[p] if per_synapse else sp_uniform, k,
                                                n_steps, next_due)
                        if not per_synapse and 0 < sp_uniform and k + sp_uniform < n_steps:
                            pending[(k + sp_uniform) % n_slots] = True
                            next_due = min(next_due, k + sp_uniform)
                        work += sp_indptr[j + 1] - sp_indptr[j]
                    elif d_uniform == 0 and defer and f == m - 1:
                        carry = j  # added by the next horizon pass
                    elif d_uniform == 0:  # all delays zero: one vectorized row
                        row = w_t[j]
                        for i in range(n):
                            target[i] += row[i]
                        work += n
                    elif d_uniform > 0:  # one delay for all: one row into the ring
                        if k + d_uniform < n_steps:
                            s = k + d_uniform
                            slot = s % n_slots
                            row = w_t[j]
                            for i in range(n):
                                buf[slot, i] += row[i]
                            pending[slot] = True
                            if s < next_due:
                                next_due = s
                        work += n
                    else:  # written out: through _deliver this loop ran 4-20x slower
                        for i in range(n):
                            delay = d_t[j, i]
                            if delay == 0:
                                target[i] += w_t[j, i]
                            elif k + delay < n_steps:
                                s = k + delay
                                buf[s % n_slots, i] += w_t[j, i]
                                pending[s % n_slots] = True
                                if s < next_due:
                                    next_due = s
                        work += n
                work += n
        if bound and changed:
            t_bound = _bound_pass(x, cur, bias, tau, _RHO)
            work += n
        k += 1
        hint = -1
    if pend:
        _advance(x, cur, bias, 1.0, cb_p, ci_p, q_p)
        x[j_p] = 0.0 if hard_reset else x[j_p] - 1.0
    if carry >= 0:
        row = w_t[carry]
        for i in range(n):
            cur[i] += row[i]
    x_io[:] = x
    cur_io[:] = cur
    buf_io[:, :] = buf
    pending_io[:] = pending
    state[_K] = k
    state[_NEXT_DUE] = next_due
    state[_N_REC] = n_rec
    state[_TRUNCATED] = truncated
    return work


# --------------------------------------------------------------------- result
@dataclass(frozen=True, eq=False)
class SimulationResult(RatesFromCounts):
    """Spike counts (and optionally spikes) of a float simulation.

    Attributes
    ----------
    counts : ndarray of int, shape (trials, N)
        Spikes per neuron over the whole run.
    duration : float
        Simulated time in seconds, ``n_steps * dt``.
    dt : float
        Step in seconds.
    seed : int
        Seed of the ``numpy.random.Generator`` that drew the initial voltages and the
        per-trial noise seeds (drawn from OS entropy when none was given).
    trials : int
    noise_std : float
        White-noise standard deviation per square-root second.
    initial_voltages, final_voltages : ndarray, shape (trials, N)
    truncated_steps : ndarray of int, shape (trials,)
        Steps that ended with a neuron still above threshold (see module docstring).
    window : float or None
        Window length in seconds (``window_steps * dt``) when windows were requested.
    counts_per_window : ndarray of int, shape (trials, n_windows, N), or None
        Spikes per window; window ``w`` holds steps ``w*window_steps`` to
        ``(w+1)*window_steps - 1``, i.e. spike times in :math:`(wW, (w+1)W]`; the last
        window may be shorter.
    spikes : list of (times, ids) or None
        With ``record_spikes``: one ``(times, neuron_ids)`` pair of arrays per trial,
        sorted by time; a spike in step ``k`` has time ``(k + 1) * dt``.
    max_cascade : int
    network_name : str
    backend : str
        ``"float"``.
    """

    counts: np.ndarray
    duration: float
    dt: float
    seed: int
    trials: int
    noise_std: float
    initial_voltages: np.ndarray
    final_voltages: np.ndarray
    truncated_steps: np.ndarray
    window: Optional[float] = None
    counts_per_window: Optional[np.ndarray] = None
    spikes: Optional[List[Tuple[np.ndarray, np.ndarray]]] = None
    max_cascade: int = DEFAULT_MAX_CASCADE
    network_name: str = "network"
    backend: str = "float"

    @property
    def n(self) -> int:
        """Number of neurons."""
        return self.counts.shape[1]

    @property
    def n_steps(self) -> int:
        """Number of simulated steps."""
        return int(round(self.duration / self.dt))

    def spike_trains(self, trial: int = 0) -> List[np.ndarray]:
        """Spike times (s) of each neuron in one trial, a list of N arrays (e.g. for
        :func:`lava_causal.metrics.cv_isi`). Needs ``record_spikes=True``."""
        if self.spikes is None:
            raise ValueError("spike_trains needs a result simulated with record_spikes=True")
        if not 0 <= trial < self.trials:
            raise ValueError(f"trial must be in [0, {self.trials - 1}], got {trial}")
        times, ids = self.spikes[trial]
        return [times[ids == i] for i in range(self.n)]

    def provenance(self) -> dict:
        """Where the numbers came from: backend, step, duration, seed and versions."""
        from .provenance import __version__
        return {
            "backend": self.backend, "dt": self.dt, "duration": self.duration,
            "n_steps": self.n_steps, "trials": self.trials, "seed": self.seed,
            "noise_std": self.noise_std, "window": self.window,
            "max_cascade": self.max_cascade,
            "truncated_steps": int(self.truncated_steps.sum()),
            "network": self.network_name, "lava_causal": __version__,
            "numpy": np.__version__, "numba": numba.__version__,
            "python": platform.python_version(), "platform": platform.platform(),
        }

    def to_dict(self) -> dict:
        """Arrays and :meth:`provenance` in one flat dict (spikes as flat arrays
        ``spike_trial``, ``spike_time``, ``spike_id`` when recorded)."""
        out = {"counts": self.counts, "rates": self.rates,
               "initial_voltages": self.initial_voltages,
               "final_voltages": self.final_voltages,
               "truncated_steps_per_trial": self.truncated_steps}
        if self.counts_per_window is not None:
            out["counts_per_window"] = self.counts_per_window
        if self.spikes is not None:
            out["spike_trial"] = np.concatenate(
                [np.full(len(t), k, dtype=np.int64) for k, (t, _) in enumerate(self.spikes)])
            out["spike_time"] = np.concatenate([t for t, _ in self.spikes])
            out["spike_id"] = np.concatenate([i for _, i in self.spikes])
        out.update(self.provenance())
        return out


# --------------------------------------------------------------------- driver
def _number(name, value, allowed, valid):
    """``float(value)`` when it is a finite real number with ``valid(value)``, else
    a ValueError naming the parameter, the value and the allowed range."""
    if (isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value)
            or not valid(float(value))):
        raise ValueError(f"{name} must be a finite number {allowed}, got {value!r}")
    return float(value)


def _positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def _per_trial(name, value, network, trials):
    v = np.array(value, dtype=float)
    if v.shape not in ((network.n,), (trials, network.n)):
        raise ValueError(f"{name} must have shape ({network.n},) or ({trials}, {network.n}), "
                         f"got {v.shape}")
    if not np.all(np.isfinite(v)):
        raise ValueError(f"{name} must be finite; found NaN or infinite values")
    return np.ascontiguousarray(np.broadcast_to(v, (trials, network.n)))


def _initial_state(network, trials, v0, seed, x0=None):
    """(seed, initial voltages (trials, N), their folded values or None, noise seeds)."""
    if seed is None:
        seed = int(np.random.SeedSequence().entropy)
    elif isinstance(seed, bool) or not isinstance(seed, Integral) or seed < 0:
        raise ValueError(f"seed must be None or an integer >= 0, got {seed!r}")
    seed = int(seed)
    rng = np.random.default_rng(seed)
    if v0 is not None and x0 is not None:
        raise ValueError("give v0 (voltages) or x0 (folded states), not both")
    if x0 is not None:
        fraction = _per_trial("x0", x0, network, trials)
        v = network.voltages_at(fraction)
    elif v0 is None:
        # network.initial_voltages(rng, trials), keeping the fractions: they are the
        # folded voltages exactly, whatever the scale of V.
        fraction = rng.random((trials, network.n))
        v = network.voltages_at(fraction)
    else:
        fraction = None
        v = _per_trial("v0", v0, network, trials)
    noise_seeds = rng.integers(0, 2**63, size=trials)
    return seed, v, fraction, noise_seeds


RESOLUTION_WARNING = 1e-6
"""Relative resolution of a folded voltage (one rounding of ``V`` in units of the reset
depth) above which a ``v0`` given in voltage units is warned about."""


@dataclass(frozen=True, eq=False)
class _FoldedRun:
    """The network in the simulator's folded units (:mod:`compiler.frontend.fold`)."""

    w_t: np.ndarray       # (N, N): w_t[j, i] = increment of I'_i (or x_i) per spike of j
    d_t: np.ndarray       # (N, N) int: delay of j -> i in steps
    bias: np.ndarray      # (N,) b'_i, thresholds per second
    noise: np.ndarray     # (N,) sigma sqrt(dt) / D_i
    low: np.ndarray       # (N,) reset potential H_i (x = 0)
    depth: np.ndarray     # (N,) reset depth D_i (x = 1 at threshold)
    # Sparse networks (w_t, d_t then (0, 0)): the synapses by presynaptic neuron,
    # sp_targets[sp_indptr[j]:sp_indptr[j + 1]] the posts of j (see _simulate_chunk).
    sp_indptr: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    sp_targets: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    sp_w: np.ndarray = field(default_factory=lambda: np.zeros(0))
    sp_d: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # empty: uniform
    sp_uniform: int = 0
    d_uniform: int = -1   # dense: the delay of every synapse in steps, -1 when they differ

    @property
    def sparse(self) -> bool:
        return self.sp_indptr.shape[0] > 0

    @property
    def synapses(self) -> tuple:
        """The connectivity arguments of :func:`_simulate_chunk`."""
        return (self.w_t, self.d_t, self.d_uniform, self.sp_indptr, self.sp_targets, self.sp_w,
                self.sp_d, self.sp_uniform)

    @property
    def max_delay_steps(self) -> int:
        if not self.sparse:
            return int(self.d_t.max())
        return int(self.sp_d.max(initial=0)) if self.sp_d.shape[0] else self.sp_uniform

    @property
    def zero_delay_coupling(self) -> bool:
        """Whether some non-zero synapse has delay 0 (delta synapses then cascade)."""
        if not self.sparse:
            return bool(np.any((self.d_t == 0) & (self.w_t != 0)))
        if self.sp_d.shape[0]:
            return bool(np.any((self.sp_d == 0) & (self.sp_w != 0)))
        return self.sp_uniform == 0 and bool(np.any(self.sp_w != 0))

    def to_folded(self, v):
        return (np.asarray(v, float) - self.low) / self.depth

    def to_voltage(self, x):
        return self.low + np.asarray(x, float) * self.depth


def _fold_for_run(network: IFNetwork, dt: float, noise_std: float) -> _FoldedRun:
    """The fold of :func:`compiler.frontend.fold.fold`, transposed for the kernel: two N x N
    arrays (weights, delays) and no N x N temporaries (the memory estimate,
    :func:`compiler.system.resources.simulate_memory`, allows three)."""
    n = network.n
    depth = np.array(network.reset, dtype=float)
    low = np.array(network.reset_potential, dtype=float)
    exp_syn = network.tau_syn > 0
    sparse = network.is_sparse
    sp = {}
    w_t = np.empty((0, 0) if sparse else (n, n))
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):  # checked below
        # w_t[j, i] = W_ij / D_i (/ tau_s: the current step of one spike)
        per_post = depth * network.tau_syn if exp_syn else depth
        if sparse:
            sp["sp_indptr"], sp["sp_targets"], perm = transposed_pattern(network.weights)
            sp["sp_w"] = network.weights.data[perm] / per_post[sp["sp_targets"]]
        else:
            np.divide(network.weights.T, per_post, out=w_t)
        bias = np.array(network.bias, dtype=float)
        if network.leak_tau is not None:
            bias = bias - low / network.leak_tau
        bias = bias / depth
        noise = float(noise_std) * math.sqrt(dt) / depth
    finite_in = np.isfinite(w_t).all(axis=0) if not sparse else np.ones(n, bool)
    if sparse:
        finite_in[sp["sp_targets"][~np.isfinite(sp["sp_w"])]] = False
    bad = ~(finite_in & np.isfinite(bias) & np.isfinite(noise))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{int(bad.sum())} neuron(s) cannot be simulated: dividing by the reset depth "
            f"(neuron {i}: D = {depth[i]:g}) overflows its weights, bias or noise; rescale "
            "the network (V, weights, bias, reset depth and threshold of a neuron by one factor "
            "leave its spikes unchanged)")
    if sparse:
        return _FoldedRun(w_t=w_t, d_t=np.zeros((0, 0), np.int64), bias=bias, noise=noise,
                          low=low, depth=depth, **sp, **_sparse_delay_steps(network, dt, perm))
    d_t = np.empty((n, n), np.int64)  # d_t[j, i] = round(delay_ij / dt), by row blocks
    delays_t = network.delays.T
    for start in range(0, n, 256):
        d_t[start:start + 256] = np.rint(delays_t[start:start + 256] / dt)
    first = int(d_t.flat[0])
    uniform = first if bool(np.all(d_t == first)) else -1
    return _FoldedRun(w_t=w_t, d_t=d_t, bias=bias, noise=noise, low=low, depth=depth,
                      d_uniform=uniform)


def _sparse_delay_steps(network: IFNetwork, dt: float, perm) -> dict:
    """Delays of a sparse network in steps, ``round(delay / dt)``: one ``sp_uniform``
    for a scalar delay, else ``sp_d`` per synapse in the transposed order ``perm``
    (the delays' CSR must have the weights' pattern)."""
    import scipy.sparse

    delay = network.delay
    if not scipy.sparse.issparse(delay):
        if np.ndim(delay) != 0:
            raise ValueError("a sparse network's delay must be a scalar or a CSR matrix with "
                             "the weights' pattern")
        return {"sp_uniform": int(np.rint(float(delay) / dt))}
    if not same_pattern(network.weights, delay):
        raise ValueError("a sparse network's delay matrix must have the weights' pattern")
    return {"sp_d": np.rint(delay.data[perm] / dt).astype(np.int64)}


def _warn_coarse_v0(run: _FoldedRun, v, stacklevel=3):
    scale = np.maximum(np.abs(run.low), np.abs(run.low + run.depth))
    scale = np.maximum(scale, np.max(np.abs(v), axis=0))
    resolution = np.finfo(float).eps * scale / run.depth
    worst = int(np.argmax(resolution))
    if resolution[worst] > RESOLUTION_WARNING:
        warnings.warn(
            f"v0 is given in voltage units, where the reset depth of neuron {worst} "
            f"(D = {run.depth[worst]:g}) is {run.depth[worst] / scale[worst]:.2g} of the voltage "
            f"scale: its initial state is resolved only to {resolution[worst]:.2g} of D. Leave v0 "
            "out (initial states are then drawn in folded units, exactly) or rescale the "
            "network", RuntimeWarning, stacklevel=stacklevel)


def simulate(network: IFNetwork, duration: float, dt: float = 1e-5, trials: int = 1,
             seed: Optional[int] = None, noise_std: float = 0.0, record_spikes: bool = False,
             window: Optional[float] = None, v0=None,
             max_cascade: int = DEFAULT_MAX_CASCADE, *, x0=None,
             allow_unstable: bool = False, progress: Optional[bool] = None) -> SimulationResult:
    r"""Simulate ``network`` exactly on a step grid, all trials independently.

    The update equations, spike rules, delays and the event-aware skipping are in
    the module docstring. Trials run in parallel threads (``NUMBA_NUM_THREADS``).

    Parameters
    ----------
    network : compiler.IFNetwork
    duration : float
        Simulated time in seconds, > ``dt``. Rounded to ``round(duration / dt)`` steps.
    dt : float
        Step in seconds, > 0.
    trials : int
        Independent trials (different initial voltages and noise), >= 1.
    seed : int or None
        Seed of the ``numpy.random.Generator`` for initial voltages and noise; None
        draws one from OS entropy. The seed used is stored in the result.
    noise_std : float
        White-noise standard deviation :math:`\sigma` per square-root second (>= 0):
        :math:`V \leftarrow V + \sigma\sqrt{\Delta t}\,\xi` every step. Noise disables
        step skipping.
    record_spikes : bool
        Keep every spike as ``(times, ids)`` per trial.
    window : float or None
        Also count spikes in consecutive windows of this length (seconds, rounded to
        whole steps, ``dt <= window``).
    v0 : array_like, shape (N,) or (trials, N), optional
        Initial voltages; default uniform in :math:`[\Theta_i - D_i, \Theta_i]`
        (``network.initial_voltages``), independent per trial.
    x0 : array_like, shape (N,) or (trials, N), optional
        Initial states in folded units instead of ``v0``: the fraction of the way from
        reset to threshold, :math:`x = (V - H)/D` (``network.voltages_at(x0)`` is the
        voltage). Exact whatever the scale of V; prefer it to ``v0`` when the reset
        depth is tiny against the threshold.
    max_cascade : int
        Most spike rounds per step with zero-delay delta synapses (>= 1).
    allow_unstable : bool
        Simulate a network whose rates can run away (see below) with a warning
        instead of refusing it.
    progress : bool or None
        tqdm progress bar over trials x steps: True always, False never, None (default)
        only when the run is estimated to take more than
        :data:`compiler.backends.emulator.AUTO_PROGRESS_SECONDS`, from the main thread, with
        stderr on a terminal.

    Returns
    -------
    SimulationResult

    Raises
    ------
    ValueError
        The network is unstable (:func:`compiler.quantization.stability.check_stable`: checked once
        per network object, then cached) and ``allow_unstable`` is False; a reset depth
        so small that the folded parameters overflow; also bad arguments.
    KeyboardInterrupt
        On Ctrl-C, within about :data:`compiler.backends.emulator.CHUNK_SECONDS` (see the module
        docstring, "Chunks"); nothing is returned.

    Warns
    -----
    RuntimeWarning
        When steps were truncated (more spikes requested than a step allows), when an
        unstable network runs with ``allow_unstable=True``, and when ``v0`` (voltage
        units) cannot resolve a reset depth tiny against the voltages.

    The memory the run needs (:func:`compiler.system.resources.check_simulate`) is checked
    before anything is allocated: :class:`compiler.system.resources.ResourceError` (a
    ``ValueError``) gives the estimate and the limit (``$LAVA_CAUSAL_MEMORY_LIMIT``).
    """
    if not isinstance(network, IFNetwork):
        raise TypeError(f"network must be a compiler.IFNetwork, got {type(network).__name__}")
    duration = _number("duration", duration, "> 0 (seconds)", lambda x: x > 0)
    dt = _number("dt", dt, f"> 0 and < duration ({duration:g} s)", lambda x: 0 < x < duration)
    trials = _positive_int("trials", trials)
    max_cascade = _positive_int("max_cascade", max_cascade)
    noise_std = _number("noise_std", noise_std, ">= 0 (per sqrt(second))", lambda x: x >= 0)
    check_progress(progress)
    n_steps = int(round(duration / dt))
    if window is None:
        window_steps = n_steps
    else:
        window = _number("window", window, f">= dt ({dt:g} s) and <= duration ({duration:g} s)",
                         lambda x: dt <= x <= duration)
        window_steps = int(round(window / dt))
    n_windows = -(-n_steps // window_steps)
    check_simulate(network, duration, dt, trials, window=window, record_spikes=record_spikes,
                   step_limit=None, hint="reduce trials or N", force_hint="")
    seed, v_init, x_init, noise_seeds = _initial_state(network, trials, v0, seed, x0)
    check_stable(network, allow_unstable=allow_unstable)

    run = _fold_for_run(network, dt, noise_std)
    if x_init is None:
        _warn_coarse_v0(run, v_init)
        x_init = run.to_folded(v_init)
    n = network.n
    exp_syn = network.tau_syn > 0
    inv_ts = 1.0 / network.tau_syn if exp_syn else 0.0
    inv_tm = 0.0 if network.leak_tau is None else 1.0 / network.leak_tau
    cascade = not exp_syn and run.zero_delay_coupling
    rounds = max_cascade if cascade else 1
    noisy = noise_std > 0
    hard_reset = network.reset_mode == "hard"
    record = bool(record_spikes)
    n_slots = run.max_delay_steps + 1
    if _FORCE_MODE is not None:
        mode = _FORCE_MODE
    elif noisy:
        mode = STEP
    else:
        mode = SKIP_EXACT
    if noisy and mode != STEP:
        raise ValueError("noise needs the STEP path")
    done = np.zeros(trials, np.int64)  # steps completed per trial (progress)

    def run_trial(trial, stop=None, bar=None):
        """Chunk after chunk until the end (or ``stop`` is set: None)."""
        x = np.array(x_init[trial], dtype=float)
        cur = np.zeros(n)
        buf = np.zeros((n_slots, n))
        pending = np.zeros(n_slots, np.bool_)
        counts = np.zeros((n_windows, n), np.int64)
        capacity = max(_INITIAL_RECORD_CAPACITY, 2 * n * rounds) if record else 0
        rec_steps = np.empty(capacity, np.int64)
        rec_ids = np.empty(capacity, np.int64)
        state = np.zeros(_STATE_SIZE, np.int64)
        state[_NEXT_DUE] = n_steps
        key = noise_key(int(noise_seeds[trial]))
        pacer = ChunkPacer(FIRST_CHUNK_WORK)
        while state[_K] < n_steps:
            if stop is not None and stop.is_set():
                return None
            if record and state[_N_REC] + n * rounds > rec_steps.shape[0]:
                grown = max(2 * rec_steps.shape[0], state[_N_REC] + 2 * n * rounds)
                rec_steps = np.concatenate([rec_steps, np.empty(grown - rec_steps.shape[0], np.int64)])
                rec_ids = np.concatenate([rec_ids, np.empty(grown - rec_ids.shape[0], np.int64)])
            start = time.perf_counter()
            work = _simulate_chunk(x, cur, buf, pending, counts, rec_steps, rec_ids, state, key,
                                   *run.synapses, run.bias, run.noise, noisy, hard_reset,
                                   inv_tm, inv_ts, dt, n_steps, window_steps, rounds, record,
                                   mode, int(pacer.size))
            pacer.record(work, time.perf_counter() - start)
            done[trial] = state[_K]
            if bar is not None:
                bar.update(done.sum())
        n_rec = int(state[_N_REC])
        return x, counts, rec_steps[:n_rec].copy(), rec_ids[:n_rec].copy(), int(state[_TRUNCATED])

    workers = min(trials, numba.config.NUMBA_NUM_THREADS, os.cpu_count() or 1)
    with RunProgress(progress, trials * n_steps, desc="simulate", unit="step") as bar:
        if workers > 1:
            _compile_here(run, noisy, hard_reset, inv_tm, inv_ts, dt, rounds, record, mode)
            out = _run_threads(run_trial, trials, workers, lambda: bar.update(done.sum()))
        else:
            out = [run_trial(trial, bar=bar) for trial in range(trials)]

    per_window = np.stack([o[1] for o in out])
    truncated = np.array([o[4] for o in out], dtype=np.int64)
    if truncated.sum():
        limit = (f"max_cascade={max_cascade} zero-delay rounds" if cascade
                 else "one spike per neuron per step")
        warnings.warn(
            f"{int(truncated.sum())} step(s) over {trials} trial(s) ended with a neuron still "
            f"above threshold: the network asked for more spikes than a step allows ({limit}). "
            "It is running away or dt is too large. Antipodal features (u_j = -u_i) give "
            "W_ij = +D_i and cascade without end with zero-delay delta synapses: add a "
            "synaptic delay or use exponential synapses.", RuntimeWarning, stacklevel=2)
    sim_duration = duration if math.isclose(n_steps * dt, duration, rel_tol=1e-9) else n_steps * dt
    return SimulationResult(
        counts=per_window.sum(axis=1), duration=sim_duration, dt=dt, seed=seed, trials=trials,
        noise_std=noise_std, initial_voltages=v_init,
        final_voltages=run.to_voltage(np.stack([o[0] for o in out])), truncated_steps=truncated,
        window=None if window is None else window_steps * dt,
        counts_per_window=None if window is None else per_window,
        spikes=[((o[2] + 1) * dt, o[3]) for o in out] if record_spikes else None,
        max_cascade=max_cascade, network_name=network.name)


def _compile_here(run, noisy, hard_reset, inv_tm, inv_ts, dt, rounds, record, mode) -> None:
    """Compile (or load from numba's cache) the kernels in the calling thread, with a
    call that does no work (budget 0) on arguments of the run's types (the connectivity
    of ``run`` itself: nothing is read). On a first run numba compiles for seconds;
    Ctrl-C is then answered here, between the compiler's steps, instead of after worker
    threads have finished compiling."""
    i64 = np.int64
    _simulate_chunk(np.zeros(1), np.zeros(1), np.zeros((1, 1)), np.zeros(1, np.bool_),
                    np.zeros((1, 1), i64), np.empty(0, i64), np.empty(0, i64),
                    np.zeros(_STATE_SIZE, i64), np.uint64(0), *run.synapses,
                    np.zeros(1), np.zeros(1), noisy, hard_reset, inv_tm, inv_ts, dt, 1, 1, rounds,
                    record, mode, 0)


def _run_threads(run_trial, trials: int, workers: int, report) -> list:
    """``run_trial(trial, stop)`` for every trial on ``workers`` threads; the main
    thread waits (interruptibly) and calls ``report()`` a few times a second.

    On any exception in the waiting thread (Ctrl-C's ``KeyboardInterrupt``, a
    terminating signal turned into an exception) or in a trial, ``stop`` is set, queued
    trials are cancelled and running ones end after their current chunk, before the
    exception propagates: no thread outlives the call by more than one chunk.
    """
    stop = threading.Event()
    pool = ThreadPoolExecutor(max_workers=workers)
    try:
        futures = [pool.submit(run_trial, trial, stop) for trial in range(trials)]
        waiting = set(futures)
        while waiting:
            finished, waiting = wait(waiting, timeout=0.1, return_when=FIRST_EXCEPTION)
            for future in finished:
                future.result()  # raises a trial's exception here
            report()
        return [future.result() for future in futures]
    finally:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
