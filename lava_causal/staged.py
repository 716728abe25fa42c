r"""A float model of the chip in which each source of error can be switched on alone.

The error budget (:mod:`lava_causal.budget`) needs the network run at the chip's step
with the chip's semantics, but with real numbers, so that weight quantization, bias
quantization, the hard reset and so on can be added one at a time. This module is that
model. It works in folded units (:mod:`compiler.frontend.fold`: threshold 1, reset 0), one step
of length :math:`\Delta t`:

.. math::

    u_i &\leftarrow (1 - d)\, u_i + d \sum_j W_{ij}\, s_j(t - 1 - \ell_{ij}) \\
    x_i &\leftarrow (1 - d_v)\, x_i + u_i + b_i \Delta t + \sigma_i \sqrt{\Delta t}\, \xi \\
    s_i(t) &= [x_i > 1], \quad x_i \leftarrow x_i - 1 \text{ (subtractive) or } 0 \text{ (hard)}

which is the emulator's update (:func:`compiler.emulate`) without integers (unless
``truncation``, below): Dense's
one-step latency plus the compiled extra delays :math:`\ell_{ij}`, a current that
decays geometrically and delivers a spike's total charge :math:`W_{ij}` (in
thresholds), strictly-greater threshold. With ``saturate`` the voltage is clipped at
:math:`\pm(2^{23} - 1)/S` and the current wraps at :math:`\pm 2^{23}/S` (S: the chip's
threshold in voltage units), as the 24-bit registers do. With ``truncation`` the two
decays truncate toward zero in the chip's integer units, :math:`u \leftarrow
\mathrm{trunc}((1 - d)\,u S)/S` and likewise :math:`x`, and the bias includes the
compiler's truncation correction: with the chip's weights and bias this is the
chip's integer arithmetic (up to the rounding of :math:`/S` in double).

:class:`StageIngredients` holds both versions (float and quantized) of every ingredient,
read from the source network and its :class:`compiler.FixedPointNetwork`;
:class:`ChipEffects` says which quantized ones to use.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numba
import numpy as np
from numba import njit, prange

import compiler
from compiler.quantization.effective import effective_input
from compiler.backends.emulator import check_progress, first_chunk_steps, run_in_chunks, run_switching
from compiler.frontend.fold import fold

from .simulator import _MT_N, _mt_normal, _mt_seed


@dataclass(frozen=True)
class ChipEffects:
    """Which chip effects :func:`run_staged` applies (all off: the float network at
    the chip's step and latency, subtractive reset).

    ``truncation`` makes the decays truncate in the chip's integer units (the only
    effect :meth:`chip` leaves off: it is the integer arithmetic, not a real-number
    effect). ``reset_compensation`` and ``weight_compensation`` add the compiler's bias
    corrections for the hard reset and the weight rounding to the float bias (until
    ``bias`` switches to the chip's integers, which hold them)."""

    hard_reset: bool = False
    weights: bool = False
    bias: bool = False
    threshold_and_decay: bool = False
    saturation: bool = False
    reset_compensation: bool = False
    weight_compensation: bool = False
    truncation: bool = False

    def with_(self, **changes) -> "ChipEffects":
        """A copy with some effects switched."""
        return replace(self, **changes)

    @classmethod
    def chip(cls) -> "ChipEffects":
        """Every effect on but ``truncation``: the chip's semantics in real numbers."""
        return cls(True, True, True, True, True, True, True, False)


@dataclass(frozen=True, eq=False)
class StageIngredients:
    r"""Float and quantized ingredients of one network, in folded units.

    Attributes
    ----------
    weights_float, weights_chip : ndarray (N, N)
        Total charge per spike :math:`W'_{ij}` (thresholds): the folded float weights
        and what the chip integers deliver, :math:`A_{ij} 2^6 / (d_q S)`.
    bias_float, bias_chip : ndarray (N,)
        Drive :math:`b'_i` (thresholds per second), float and chip (the chip's bias
        integers without the compiler's decay-truncation correction, which only the
        integer arithmetic needs).
    reset_correction : ndarray (N,)
        The compiler's hard-reset compensation (thresholds per second), added with
        ``reset_compensation`` when the chip bias is not yet used.
    weight_correction : ndarray (N,)
        The compiler's weight-rounding compensation (thresholds per second), added
        with ``weight_compensation`` likewise.
    truncation_correction : ndarray (N,)
        The compiler's decay-truncation compensation (thresholds per second), added
        with ``truncation``.
    chip_resets_hard : bool
        Whether the chip's neuron resets to 0 (else it subtracts, a custom neuron):
        ``hard_reset`` has an effect only then.
    decay_float, decay_chip : float
        Fraction :math:`d` of the current removed per step: :math:`1 - e^{-\Delta t/\tau_s}`
        and :math:`(\delta_u + 1)/2^{12}` (1 for delta synapses).
    leak_float, leak_chip : float
        Voltage decay per step, likewise (0 without leak).
    delays : ndarray (N, N) of int
        Extra steps beyond Dense's one-step latency (the compiled delays).
    scale : int
        The chip's threshold S in voltage units.
    state_max : int
        :math:`2^{23}`: the 24-bit register bound.
    dt : float
    """

    weights_float: np.ndarray
    weights_chip: np.ndarray
    bias_float: np.ndarray
    bias_chip: np.ndarray
    reset_correction: np.ndarray
    weight_correction: np.ndarray
    truncation_correction: np.ndarray
    chip_resets_hard: bool
    decay_float: float
    decay_chip: float
    leak_float: float
    leak_chip: float
    delays: np.ndarray
    scale: int
    state_max: int
    dt: float

    @classmethod
    def from_compiled(cls, network: compiler.IFNetwork, fixed: compiler.FixedPointNetwork) -> "StageIngredients":
        """Read both versions from ``network`` and its compile ``fixed``."""
        folded = fold(network)
        ar = fixed.arithmetic
        s = float(fixed.threshold)
        dt = fixed.dt
        decay_chip = ar.current_decay_fraction(fixed.du)
        decay_float = 1.0 if network.tau_syn == 0 else -math.expm1(-dt / network.tau_syn)
        leak_chip = ar.voltage_decay_fraction(fixed.dv)
        leak_float = 0.0 if network.leak_tau is None else -math.expm1(-dt / network.leak_tau)
        weights_chip = effective_input(fixed) * 2.0 ** ar.activation_shift / (decay_chip * s)
        corrections = (fixed.info or {}).get("corrections", {})
        truncation, reset, weight = (np.asarray(corrections[key], float) if corrections.get(key) is not None
                                     else np.zeros(fixed.n) for key in ("truncation", "reset", "weights"))
        bias_chip = (fixed.effective_bias - truncation) / (s * dt)
        bias_float = np.array(folded.bias, float)
        delays = (np.zeros((fixed.n, fixed.n), np.int64) if fixed.delays is None
                  else np.asarray(fixed.delays, np.int64))
        return cls(weights_float=np.array(folded.weights, float), weights_chip=weights_chip,
                   bias_float=bias_float, bias_chip=bias_chip, reset_correction=reset / (s * dt),
                   weight_correction=weight / (s * dt), truncation_correction=truncation / (s * dt),
                   chip_resets_hard=not ar.subtractive,
                   decay_float=decay_float, decay_chip=decay_chip, leak_float=leak_float,
                   leak_chip=leak_chip, delays=delays, scale=int(fixed.threshold),
                   state_max=int(ar.state_max), dt=dt)

    def parameters(self, effects: ChipEffects):
        """(weights, bias, decay, leak) that ``effects`` selects."""
        weights = self.weights_chip if effects.weights else self.weights_float
        if effects.bias:
            bias = self.bias_chip
        else:
            bias = (self.bias_float + (self.reset_correction if effects.reset_compensation else 0.0)
                    + (self.weight_correction if effects.weight_compensation else 0.0))
        if effects.truncation:
            bias = bias + self.truncation_correction
        if effects.threshold_and_decay:
            return weights, bias, self.decay_chip, self.leak_chip
        return weights, bias, self.decay_float, self.leak_float


def run_staged(ingredients: StageIngredients, effects: ChipEffects, x0: np.ndarray, steps: int,
               noise_std=0.0, noise_seed: int = 0, *, progress=None, record: bool = False,
               stimulus: "StageIngredients" = None, stimulus_steps: int = 0):
    """Spike counts, shape (trials, N), of the model of the module docstring
    (with ``record``: ``(counts, raster)``, the raster (trials, steps, N) booleans).

    Parameters
    ----------
    ingredients : StageIngredients
    effects : ChipEffects
    x0 : ndarray (trials, N)
        Initial folded voltages (0 = reset, 1 = threshold).
    steps : int
        Steps of ``ingredients.dt``.
    noise_std : float or ndarray (N,)
        Folded white-noise amplitude :math:`\\sigma_i` (thresholds per square-root
        second); 0 for none.
    noise_seed : int
        Seed of the noise; trial k uses ``noise_seed + k`` (modulo 2**32; the numbers
        of numba's ``np.random.seed`` / ``standard_normal``, with the generator state
        kept in arrays).
    progress : bool or None
        tqdm bar (see :func:`compiler.emulate`); None: only for long runs on a terminal.
    record : bool
        Also return the per-step raster.
    stimulus : StageIngredients, optional
        The ingredients of the same network and compile with the stimulus's bias
        (the source network with that bias, and the compile with the stimulus's bias
        fields, :class:`compiler.Stimulus`): its bias, as ``effects`` selects, is used
        for the first ``stimulus_steps`` steps.

    The run proceeds in chunks of steps (:func:`compiler.backends.emulator.run_in_chunks`), the
    state (currents, voltages, delay ring, counts, noise generators) carried over, so
    the counts do not depend on the chunking; Ctrl-C raises ``KeyboardInterrupt``
    between chunks.
    """
    check_progress(progress)
    weights, bias, decay, leak = ingredients.parameters(effects)
    x0 = np.ascontiguousarray(x0, float)
    trials, n = x0.shape
    noise = np.broadcast_to(np.asarray(noise_std, float), (n,)) * math.sqrt(ingredients.dt)
    noise = np.ascontiguousarray(noise)
    noisy = bool(np.any(noise > 0.0))
    s = float(ingredients.scale)
    max_delay = int(ingredients.delays.max(initial=0))
    w_in = np.ascontiguousarray(weights * decay)
    delays = np.ascontiguousarray(ingredients.delays, np.int64)
    bias_step = np.ascontiguousarray(bias * ingredients.dt)
    switch = int(stimulus_steps) if stimulus is not None else 0
    if stimulus is not None:
        stimulus_step = np.ascontiguousarray(stimulus.parameters(effects)[1] * ingredients.dt)
    # The whole kernel state, carried from chunk to chunk.
    u = np.zeros((trials, n))
    x = x0.copy()
    pending = np.zeros((trials, max_delay + 2, n))
    counts = np.zeros((trials, n), np.int64)
    raster = np.zeros((trials, int(steps), n) if record else (0, 0, n), np.bool_)
    mt = np.zeros((trials if noisy else 0, _MT_N), np.int64)
    rng_index = np.full(trials, _MT_N, np.int64)
    rng_spare = np.zeros((trials, 2))  # (has spare, spare value)
    for tr in range(mt.shape[0]):
        _mt_seed(mt[tr], int(noise_seed) + tr)

    def run_steps(begin, end, biases):
        _staged_chunk(w_in, delays, max_delay, biases, 1.0 - decay, 1.0 - leak,
                      bool(effects.hard_reset and ingredients.chip_resets_hard), bool(effects.saturation),
                      (ingredients.state_max - 1) / s, ingredients.state_max / s, noise, noisy,
                      u, x, pending, counts, mt, rng_index, rng_spare, raster, bool(record),
                      bool(effects.truncation), s, begin, end)

    def advance(begin, end):
        run_switching(run_steps, begin, end, switch, stimulus_step if switch else None, bias_step)

    threads = numba.get_num_threads()
    steps = int(steps)
    run_in_chunks(advance, steps, first_chunk_steps(n * (20 if noisy else 1), trials, threads),
                  progress, desc="staged model", unit="step")
    return (counts, raster) if record else counts


@njit(cache=True, parallel=True)
def _staged_chunk(w_in, delays, max_delay, bias_step, u_keep, x_keep, hard_reset, saturate,
                  x_limit, u_limit, noise, noisy, u_all, x_all, pending_all, counts, mt_all,
                  rng_index, rng_spare, raster, record, truncate, scale, t_begin, t_end):
    """Steps ``t_begin .. t_end - 1`` of every trial, in place (state as in
    :func:`compiler.backends.emulator._emulate_chunk`, plus each trial's noise generator:
    ``mt_all[tr]``, ``rng_index[tr]``, ``rng_spare[tr]``). Returns nothing."""
    trials, n = x_all.shape
    ring = max_delay + 2
    for tr in prange(trials):
        # Local copies (written back below): arrays the compiler knows are not aliased
        # keep the inner loops vectorized (views of the arguments ran ~30 % slower).
        u = u_all[tr].copy()
        x = x_all[tr].copy()
        pending = pending_all[tr].copy()
        spiked = np.zeros(n, np.int64)
        index = 0
        has_spare = False
        spare = 0.0
        if noisy:
            mt = mt_all[tr]
            index = rng_index[tr]
            has_spare = rng_spare[tr, 0] != 0.0
            spare = rng_spare[tr, 1]
        else:
            mt = np.zeros(0, np.int64)
        for t in range(t_begin, t_end):
            slot = t % ring
            n_spiked = 0
            for i in range(n):
                uu = (np.trunc(u[i] * scale * u_keep) / scale if truncate else u[i] * u_keep) + pending[slot, i]
                pending[slot, i] = 0.0
                if saturate:
                    if uu > u_limit:
                        uu -= 2.0 * u_limit
                    elif uu <= -u_limit:
                        uu += 2.0 * u_limit
                u[i] = uu
                xx = (np.trunc(x[i] * scale * x_keep) / scale if truncate else x[i] * x_keep) + uu + bias_step[i]
                if noisy:
                    z, index, has_spare, spare = _mt_normal(mt, index, has_spare, spare)
                    xx += noise[i] * z
                if saturate:
                    if xx > x_limit:
                        xx = x_limit
                    elif xx < -x_limit:
                        xx = -x_limit
                if xx > 1.0:
                    xx = 0.0 if hard_reset else xx - 1.0
                    spiked[n_spiked] = i
                    n_spiked += 1
                    counts[tr, i] += 1
                    if record:
                        raster[tr, t, i] = True
                x[i] = xx
            for s in range(n_spiked):
                j = spiked[s]
                for i in range(n):
                    pending[(t + 1 + delays[i, j]) % ring, i] += w_in[i, j]
        u_all[tr] = u
        x_all[tr] = x
        pending_all[tr] = pending
        if noisy:
            rng_index[tr] = index
            rng_spare[tr, 0] = 1.0 if has_spare else 0.0
            rng_spare[tr, 1] = spare
