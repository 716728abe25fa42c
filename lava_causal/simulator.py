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
safe ``n`` is found by galloping and bisection, the state is advanced by ``n``
steps at once, and the next step (the one that may spike or receive charge) is taken
singly. The result equals stepping one step at a time up to float rounding; a jump
costs O(N log n) instead of O(N n).
"""
from __future__ import annotations

import math
import os
import platform
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from numbers import Integral, Real
from typing import List, Optional, Tuple

import numba
import numpy as np
from numba import njit

from compiler import IFNetwork
from compiler.network import check_stable
from compiler.results import RatesFromCounts

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
def _all_below(v, cur, bias, theta, t, inv_tm, inv_ts):
    """True when every neuron is at or below threshold at time t (no spikes)."""
    a, cb, ci, _ = _propagator(t, inv_tm, inv_ts)
    for i in range(v.shape[0]):
        if a * v[i] + cb * bias[i] + ci * cur[i] > theta[i]:
            return False
    return True


@njit(cache=True, nogil=True)
def _safe_steps(v, cur, bias, theta, inv_tm, inv_ts, dt, cap):
    """Largest n <= cap such that no neuron exceeds threshold in the next n steps."""
    n = v.shape[0]
    for i in range(n):
        if v[i] > theta[i]:
            return 0
    if inv_ts > 0.0:
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
            if a * v[i] + cb * bias[i] + ci * cur[i] > theta[i]:
                cap = int(t_peak / dt)
    # Invariant: lo steps are safe, hi steps are not (or exceed cap).
    lo = 0
    hi = cap + 1
    stride = 1
    while lo + stride < hi:
        if _all_below(v, cur, bias, theta, (lo + stride) * dt, inv_tm, inv_ts):
            lo += stride
            stride *= 2
        else:
            hi = lo + stride
            break
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _all_below(v, cur, bias, theta, mid * dt, inv_tm, inv_ts):
            lo = mid
        else:
            hi = mid
    return lo


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


@njit(cache=True, nogil=True)
def _simulate_trial(v0, w_t, d_t, bias, theta, depth, hard_reset, inv_tm, inv_ts, dt,
                    n_steps, window_steps, n_windows, max_rounds, noise_scale, noise_seed,
                    record):
    """One trial. ``w_t[j, i]`` is the increment of I_i (or V_i) per spike of j and
    ``d_t[j, i]`` its delay in steps. Returns (final V, counts per window, spike
    steps, spike neuron ids, truncated steps)."""
    n = v0.shape[0]
    v = v0.copy()
    cur = np.zeros(n)
    exp_syn = inv_ts > 0.0
    target = cur if exp_syn else v
    n_slots = d_t.max() + 1
    buf = np.zeros((n_slots, n))
    pending = np.zeros(n_slots, np.bool_)
    next_due = n_steps
    counts = np.zeros((n_windows, n), np.int64)
    capacity = _INITIAL_RECORD_CAPACITY if record else 0
    rec_steps = np.empty(capacity, np.int64)
    rec_ids = np.empty(capacity, np.int64)
    n_rec = 0
    truncated = 0
    fired = np.empty(n, np.int64)
    a1, cb1, ci1, q1 = _propagator(dt, inv_tm, inv_ts)
    noisy = noise_scale > 0.0
    if noisy:
        np.random.seed(noise_seed)
    k = 0
    while k < n_steps:
        if not noisy:
            skip = _safe_steps(v, cur, bias, theta, inv_tm, inv_ts, dt, next_due - k)
            if skip > 0:
                # Step k + skip is unsafe, due or past the end: step it singly next.
                a, cb, ci, q = _propagator(skip * dt, inv_tm, inv_ts)
                _advance(v, cur, bias, a, cb, ci, q)
                k += skip
                if k == n_steps:
                    break
        _advance(v, cur, bias, a1, cb1, ci1, q1)
        if noisy:
            for i in range(n):
                v[i] += noise_scale * np.random.standard_normal()
        if k == next_due:
            slot = k % n_slots
            for i in range(n):
                target[i] += buf[slot, i]
                buf[slot, i] = 0.0
            pending[slot] = False
            next_due = _next_pending(pending, k, n_slots, n_steps)
        window = k // window_steps
        for rnd in range(max_rounds + 1):
            m = 0
            for i in range(n):
                if v[i] > theta[i]:
                    fired[m] = i
                    m += 1
            if m == 0:
                break
            if rnd == max_rounds:
                truncated += 1
                break
            for f in range(m):
                j = fired[f]
                counts[window, j] += 1
                if hard_reset:
                    v[j] = theta[j] - depth[j]
                else:
                    v[j] -= depth[j]
                if record:
                    if n_rec == capacity:
                        capacity *= 2
                        grown = np.empty(capacity, np.int64)
                        grown[:n_rec] = rec_steps[:n_rec]
                        rec_steps = grown
                        grown = np.empty(capacity, np.int64)
                        grown[:n_rec] = rec_ids[:n_rec]
                        rec_ids = grown
                    rec_steps[n_rec] = k
                    rec_ids[n_rec] = j
                    n_rec += 1
            for f in range(m):
                j = fired[f]
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
        k += 1
    return v, counts, rec_steps[:n_rec].copy(), rec_ids[:n_rec].copy(), truncated


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
        from . import __version__
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


def _initial_state(network, trials, v0, seed):
    if seed is None:
        seed = int(np.random.SeedSequence().entropy)
    elif isinstance(seed, bool) or not isinstance(seed, Integral) or seed < 0:
        raise ValueError(f"seed must be None or an integer >= 0, got {seed!r}")
    seed = int(seed)
    rng = np.random.default_rng(seed)
    if v0 is None:
        v = network.initial_voltages(rng, trials)
    else:
        v = np.array(v0, dtype=float)
        if v.shape not in ((network.n,), (trials, network.n)):
            raise ValueError(f"v0 must have shape ({network.n},) or ({trials}, {network.n}), "
                             f"got {v.shape}")
        if not np.all(np.isfinite(v)):
            raise ValueError("v0 must be finite; found NaN or infinite values")
        v = np.ascontiguousarray(np.broadcast_to(v, (trials, network.n)))
    noise_seeds = rng.integers(0, 2**32, size=trials)
    return seed, v, noise_seeds


def simulate(network: IFNetwork, duration: float, dt: float = 1e-5, trials: int = 1,
             seed: Optional[int] = None, noise_std: float = 0.0, record_spikes: bool = False,
             window: Optional[float] = None, v0=None,
             max_cascade: int = DEFAULT_MAX_CASCADE, *,
             allow_unstable: bool = False) -> SimulationResult:
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
    max_cascade : int
        Most spike rounds per step with zero-delay delta synapses (>= 1).
    allow_unstable : bool
        Simulate a network whose rates can run away (see below) with a warning
        instead of refusing it.

    Returns
    -------
    SimulationResult

    Raises
    ------
    ValueError
        The network is unstable (:func:`compiler.network.check_stable`: checked once
        per network object, then cached) and ``allow_unstable`` is False; also bad
        arguments.

    Warns
    -----
    RuntimeWarning
        When steps were truncated (more spikes requested than a step allows), and
        when an unstable network runs with ``allow_unstable=True``.
    """
    if not isinstance(network, IFNetwork):
        raise TypeError(f"network must be a compiler.IFNetwork, got {type(network).__name__}")
    duration = _number("duration", duration, "> 0 (seconds)", lambda x: x > 0)
    dt = _number("dt", dt, f"> 0 and < duration ({duration:g} s)", lambda x: 0 < x < duration)
    trials = _positive_int("trials", trials)
    max_cascade = _positive_int("max_cascade", max_cascade)
    noise_std = _number("noise_std", noise_std, ">= 0 (per sqrt(second))", lambda x: x >= 0)
    n_steps = int(round(duration / dt))
    if window is None:
        window_steps = n_steps
    else:
        window = _number("window", window, f">= dt ({dt:g} s) and <= duration ({duration:g} s)",
                         lambda x: dt <= x <= duration)
        window_steps = int(round(window / dt))
    n_windows = -(-n_steps // window_steps)
    seed, v_init, noise_seeds = _initial_state(network, trials, v0, seed)
    check_stable(network, allow_unstable=allow_unstable)

    exp_syn = network.tau_syn > 0
    inv_ts = 1.0 / network.tau_syn if exp_syn else 0.0
    inv_tm = 0.0 if network.leak_tau is None else 1.0 / network.leak_tau
    w_t = np.array((network.weights / network.tau_syn if exp_syn else network.weights).T, order="C")
    d_t = np.array(np.rint(network.delays / dt).astype(np.int64).T, order="C")
    cascade = not exp_syn and bool(np.any((d_t == 0) & (w_t != 0)))
    theta = np.array(network.thresholds, dtype=float)
    bias = np.array(network.bias, dtype=float)
    depth = np.array(network.reset, dtype=float)
    noise_scale = float(noise_std) * math.sqrt(dt)

    def run(trial):
        return _simulate_trial(
            v_init[trial], w_t, d_t, bias, theta, depth,
            network.reset_mode == "hard", inv_tm, inv_ts, dt, n_steps, window_steps,
            n_windows, max_cascade if cascade else 1, noise_scale, int(noise_seeds[trial]),
            bool(record_spikes))

    workers = min(trials, numba.config.NUMBA_NUM_THREADS, os.cpu_count() or 1)
    if workers > 1:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            out = list(pool.map(run, range(trials)))
    else:
        out = [run(trial) for trial in range(trials)]

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
        final_voltages=np.stack([o[0] for o in out]), truncated_steps=truncated,
        window=None if window is None else window_steps * dt,
        counts_per_window=None if window is None else per_window,
        spikes=[((o[2] + 1) * dt, o[3]) for o in out] if record_spikes else None,
        max_cascade=max_cascade, network_name=network.name)
