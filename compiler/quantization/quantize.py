r"""``compile()``: a float :class:`IFNetwork` to exactly representable chip integers.

Pipeline (each step in its own module):

1. **Fold** (:mod:`compiler.frontend.fold`): :math:`x_i = (V_i - H_i)/D_i`,
   :math:`W'_{ij} = W_{ij}/D_i`, :math:`b'_i = b_i/D_i`: one shared threshold (1),
   reset to 0, as the chip needs.
2. **Decays**: :math:`\delta_u + 1 = \mathrm{round}(2^{12}(1 - e^{-\Delta t/\tau_s}))`
   (:math:`\delta_u = 4095` for delta synapses); the weights use the *quantized*
   :math:`d = (\delta_u + 1)/2^{12}`, so a spike's total charge is exact whatever the
   rounding of :math:`\delta_u`. Leak: :math:`\delta_v = \mathrm{round}(2^{12}(1 - e^{-\Delta t/\tau_m}))`.
3. **Delays**: ``round(delay / dt)`` steps, minus the step Dense always adds
   (``DelayDense`` holds the rest, at most 63); plain ``Dense`` when every delay is
   the one-step latency.
4. **Operating point** (:mod:`compiler.frontend.operating_point`): the rates of the network's
   rate model, at which the small dynamic corrections of step 7 are evaluated.
5. **Scale** (:mod:`compiler.quantization.scale`): the largest :math:`S` (``vth << 6``) allowed by the
   threshold mantissa, the voltage headroom, the bias range, the worst one-step input
   against the synaptic accumulator and the 24-bit current, and the weight range.
6. **Weights** (:mod:`compiler.hardware.encoding`): targets
   :math:`A_{ij} = S W'_{ij} d / 2^6` summed-input units per spike, rounded at the
   finest quantum the chosen number of splits allows (coarse split with a large
   exponent, residual to finer splits), always exactly representable by Lava Dense.
7. **Bias**: :math:`\beta_i = S b'_i \Delta t` plus the current-truncation,
   hard-reset and weight-rounding corrections (:mod:`compiler.quantization.corrections`,
   :mod:`compiler.quantization.overshoot`), rounded to the finest mantissa/exponent pair.

The result records every target, choice and clip count in ``info`` (see
:meth:`FixedPointNetwork.report`).

Sparse networks (CSR weights, :attr:`IFNetwork.is_sparse`) are compiled without any
(N, N) array: every step works on the nnz stored weights (fold, scale, encoding,
corrections: the same elementwise operations as the dense path, so a network compiled
from its dense and its sparse form gives identical integers with ``rounding="nearest"``;
stochastic rounding draws per stored weight instead of per matrix entry). The splits
are CSR matrices sharing the weights' pattern (explicit zeros where a split
contributes nothing) in the smallest signed integer dtype of the mantissas; a uniform
delay stays a scalar; ``info`` holds CSR targets. The split-count search keeps only the
best candidate's integers and the others' statistics. Time: O(nnz) per candidate
split count plus the rate model (O(nnz) per Gauss-Seidel sweep) and the calibration
of the truncation correction (O(N + spikes x fan-out) per step); memory O(nnz).
"""
from __future__ import annotations

import math
import numbers
import warnings
from dataclasses import dataclass, replace
from typing import Optional, Union

import numpy as np
import scipy.sparse as sp

from compiler.quantization.corrections import (current_truncation_deficit, reset_overshoot_bias,
                                               weight_rounding_compensation)
from compiler.quantization.bias_rounding import ACTIVE_FRACTION, optimum_bias_round
from compiler.quantization.overshoot import measured_overshoot, overshoot_steps
from compiler.hardware.encoding import (ROUNDING_MODES, WeightFormat, effective_weight_bits, encode_bias, encode_weights,
                       mantissa_range, smallest_int_dtype)
from compiler.quantization.fixed_point import FixedPointNetwork
from compiler.frontend.fold import fold
from compiler.hardware.config import BIAS_BITS_RANGE, DEFAULT_HW, HardwareConfig
from compiler.frontend.network import IFNetwork, with_data
from compiler.quantization.stability import check_stable
from compiler.frontend.operating_point import rate_model
from compiler.quantization.scale import choose_scale, worst_step_input

RESET_COMPENSATIONS = ("measured", "half_step", "none")
"""``reset_compensation`` choices: the overshoot measured in the network's own dynamics
(:mod:`compiler.quantization.overshoot`), the constant-drive model
(:mod:`compiler.quantization.corrections`), or none."""
BIAS_ROUNDINGS = ("auto", "optimum", "nearest", "stochastic")
"""``bias_rounding`` choices (see :mod:`compiler.quantization.bias_rounding`)."""
AUTO_COUPLING_SHIFT = 0.05
"""The ``coupling_shift`` ``"auto"`` applies when the rounded coupling lost its soft
margin (measured on the Fig. 2 mixture task: rate error 40.8 % -> 4.2 % at T = 64 s,
float 19.2 %)."""
SOFT_MARGIN_FRACTION = 0.5
"""``coupling_shift="auto"`` shifts when the chip coupling's smallest eigenvalue is
below this fraction of the float one's."""
WEIGHT_COMPENSATIONS = ("bias", "none")
"""``weight_compensation`` choices (see "Weight rounding" in
:mod:`compiler.quantization.corrections`)."""
TRUNCATION_COMPENSATIONS = ("bias", "none")
"""``truncation_compensation`` choices (see :mod:`compiler.quantization.corrections`)."""
WEIGHT_BITS_RANGE = (2, 24)
"""Bounds of ``weight_bits``: at least 2, and never more than the config's
``weights.mantissa_bits`` (at most 24); see "Weight bits" in :mod:`compiler.hardware.config`."""
MAX_SPLITS = 8
"""Largest ``weight_splits`` / ``max_splits``."""
ZEROED_WEIGHTS_WARN_FRACTION = 0.05
"""Share of a network's non-zero weights that may quantize to zero before
:func:`compile` warns (:class:`QuantizationWarning`, with the counts and the cause); with
``strict=True`` any zeroed non-zero weight raises :class:`QuantizationError`."""
ROUNDOFF_WEIGHT_FRACTION = 1e-9
"""Weights below this fraction of the largest ``|W|`` are floating-point round-off (e.g.
``-U^T U`` of orthogonal features gives entries ~1e-17): they do not count as non-zero
weights for :data:`ZEROED_WEIGHTS_WARN_FRACTION` and ``strict``."""
DEFAULT_HEADROOM = 4.0
"""Default ``voltage_headroom``: thresholds of room below the reset (with room near one threshold,
inhibited neurons forget their inhibition; measured deepest excursion on the Fig. 2
discrimination task: 1.2-1.5 thresholds)."""


class QuantizationError(ValueError):
    """A parameter does not fit the hardware (raised with ``strict=True``, or when no
    scale at all fits). The message names the parameter and the limit."""


class QuantizationWarning(UserWarning):
    """Values were clipped to fit the hardware, or more than
    :data:`ZEROED_WEIGHTS_WARN_FRACTION` of the non-zero weights quantized to zero
    (``strict=False``)."""


def _check_int(name, value, lo, hi, extra=""):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not lo <= value <= hi:
        raise ValueError(f"{name} must be an integer in {lo}..{hi}{extra}, got {value!r}")
    return int(value)


def _check_choice(name, value, choices):
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")
    return value


def compile(network: IFNetwork, hw: Union[str, HardwareConfig] = DEFAULT_HW, dt: float = 1e-4, *,
            strict: bool = False, weight_bits: Optional[int] = None, bias_bits: Optional[int] = None,
            rounding: str = "nearest", weight_splits: Union[int, str] = "auto", seed=None,
            reset_compensation: str = "measured", truncation_compensation: str = "bias",
            weight_compensation: str = "bias", bias_rounding: str = "auto", rate_covariance=None,
            coupling_shift: Union[float, str] = "auto",
            operating_rates="auto", voltage_headroom: float = DEFAULT_HEADROOM,
            max_simultaneous_spikes: Optional[int] = None,
            max_splits: int = 4, allow_unstable: bool = False) -> FixedPointNetwork:
    r"""Compile a float network to a hardware target's fixed point.

    Parameters
    ----------
    network : IFNetwork
    hw : str, path or HardwareConfig
        Target, e.g. ``"loihi2"`` (see :func:`compiler.list_hardware`).
    dt : float
        Seconds of model time per chip step, > 0.
    strict : bool
        Raise :class:`QuantizationError` when anything is clipped (default: warn
        with counts).
    weight_bits : int, optional
        The weight bits :math:`b`: significant bits of one split's weight, Lava Dense's
        ``num_weight_bits`` (each split holds :math:`2^b` levels), 2..the config's
        ``weights.mantissa_bits``; default that (8 on Loihi). More raises ValueError
        naming both. On a Lava-runnable config the mantissas are multiples of
        :math:`2^{8-b}` (:math:`2^{9-b}` mixed) in Lava's 8-bit register, so
        ``weight_bits=6`` on ``loihi2`` and a config with ``mantissa_bits = 6`` give the
        same values (see "Weight bits" in :mod:`compiler.hardware.config`).
    bias_bits : int, optional
        Signed bias mantissa bits, 2..24; default the chip's (13).
    rounding : {"nearest", "stochastic", "diffusion"}
        Rounding of weights and biases; ``"stochastic"`` is unbiased and seeded;
        ``"diffusion"`` rounds the weights of each row one after another, each choice
        compensating the rounding errors made so far as seen by the causes' rates
        (:func:`compiler.hardware.encoding.diffusion_round`, with ``rate_covariance``;
        dense networks only, O(N^3)), and the bias to nearest.
    weight_splits : int or "auto"
        Dense processes per connection (coarse + finer exponents). ``"auto"``: the
        fewest that reach the finest weight quantum any number of splits (up to
        ``max_splits``) can reach, one summed-input unit.
    seed : int, optional
        Seed of stochastic rounding and of the calibration's spike-train phases.
    reset_compensation : {"measured", "half_step", "none"}
        Bias correction for the overshoot lost by the chip's hard reset (only for
        networks with subtractive reset on a chip that resets hard): ``"measured"``
        runs the folded float network closed loop at the chip's step and adds each
        neuron's mean overshoot per step (:mod:`compiler.quantization.overshoot`);
        ``"half_step"`` adds :math:`\tfrac12 S (\hat r\Delta t)^2`, exact only for a
        constant drive (:mod:`compiler.quantization.corrections`).
    truncation_compensation : {"bias", "none"}
        Bias correction for the charge the truncating current decay loses.
    weight_compensation : {"bias", "none"}
        Bias correction for the weight rounding at the operating rates,
        :math:`S\Delta t\,(W' - W'_q)\hat r`: the operating point (the exact optimum
        with ``operating_rates="auto"``) becomes a fixed point of the chip's rate
        model ("Weight rounding" in :mod:`compiler.quantization.corrections`).
    bias_rounding : {"auto", "optimum", "nearest", "stochastic"}
        ``"optimum"``: silent causes' biases rounded down (their slack never shrinks)
        and the active causes' mantissas chosen jointly to keep the chip's optimum
        nearest the operating point (:mod:`compiler.quantization.bias_rounding`; needs
        operating rates). ``"auto"``: ``"stochastic"`` with ``rounding="stochastic"``,
        else ``"optimum"`` when there are operating rates, else ``"nearest"``.
    coupling_shift : float or "auto"
        :math:`\epsilon \in [0, 1)`: the chip weights are :math:`W'/(1 + \epsilon)` rounded,
        and the weight compensation (required) restores the float optimum, so the
        chip's coupling :math:`D(I - W'_q) \approx (U^TU + \epsilon D)/(1+\epsilon)` gains a
        margin :math:`\epsilon D` along its soft directions. For ill-conditioned problems,
        whose soft directions weight rounding can make slightly unstable (the Fig. 2
        mixture task: smallest eigenvalue +2.6e-5 in float, -3.2e-3 with 8-bit weights),
        it turns an error floor into fast convergence; on well-conditioned ones it
        changes the dynamics of marginal silent causes and can cost accuracy.
        ``"auto"`` (default): :data:`AUTO_COUPLING_SHIFT` when the weight rounding
        leaves the quantized coupling's smallest eigenvalue on the active causes below
        :data:`SOFT_MARGIN_FRACTION` of the float one's (dense networks with the weight
        compensation; one O(|A|^3) eigenvalue problem), else 0; ``info["coupling_shift"]``
        records both eigenvalues and the choice.
    rate_covariance : ndarray (N, N), optional
        Second moment :math:`E[r r^T]` (Hz^2) of the causes' rates that
        ``rounding="diffusion"`` weighs the rounding errors with; default
        :math:`\hat r \hat r^T + \mathrm{diag}(\hat r^2)` from the operating rates.
    operating_rates : "auto", array of shape (N,), or None
        Rates (Hz) at which the corrections are evaluated: ``"auto"`` solves the
        network's rate model; None disables both corrections.
    voltage_headroom : float
        Thresholds of room below the reset the voltage register must hold, >= 2.
    max_simultaneous_spikes : int, optional
        Bound on presynaptic spikes per step used for the worst-case input check
        (default: all of them, a guarantee).
    max_splits : int
        Most splits ``"auto"`` considers, 1..8.
    allow_unstable : bool
        Compile a network whose rates can run away (warning) instead of refusing it
        (``ValueError``, :func:`compiler.quantization.stability.check_stable`).

    Returns
    -------
    FixedPointNetwork
        With ``info`` holding the targets, choices, corrections and clip counts.

    Raises
    ------
    ValueError
        Bad arguments (naming the parameter, value and allowed range); unknown
        ``hw`` (:class:`compiler.ConfigError`).
    QuantizationError
        ``strict=True`` and something was clipped or a non-zero weight quantized to
        zero, or no scale fits at all.
    ConfigError
        ``hw`` is a config the emulator does not implement (e.g.
        ``dense_latency_steps != 1``, :data:`compiler.hardware.config.EMULATOR_DATAPATH`),
        also for a :class:`HardwareConfig` built in code (:meth:`HardwareConfig.validated`).

    Warns
    -----
    QuantizationWarning
        Values clipped, or more than :data:`ZEROED_WEIGHTS_WARN_FRACTION` of the
        non-zero weights quantized to zero (counts, the largest zeroed target, the
        finest quantum, the scale's binding limit and ``state.activation_shift``).
    """
    if not isinstance(network, IFNetwork):
        raise TypeError(f"network must be a compiler.IFNetwork, got {type(network).__name__}")
    check_stable(network, allow_unstable=allow_unstable)
    hwc = HardwareConfig.load(hw).validated()  # configs built in code too (ConfigError)
    if isinstance(dt, bool) or not isinstance(dt, numbers.Real) or not math.isfinite(dt) or dt <= 0:
        raise ValueError(f"dt must be a finite number > 0 (seconds per step), got {dt!r}")
    dt = float(dt)
    if not isinstance(strict, (bool, np.bool_)):
        raise ValueError(f"strict must be True or False, got {strict!r}")
    fmt = hwc.weight_format(weight_bits)  # ValueError naming weight_bits and weights.mantissa_bits
    nwb = fmt.num_weight_bits
    bbits = hwc.bias_mantissa_bits if bias_bits is None else _check_int(
        "bias_bits", bias_bits, *BIAS_BITS_RANGE, f" (the {hwc.name} chip has {hwc.bias_mantissa_bits})")
    _check_choice("rounding", rounding, ROUNDING_MODES)
    _check_choice("reset_compensation", reset_compensation, RESET_COMPENSATIONS)
    _check_choice("truncation_compensation", truncation_compensation, TRUNCATION_COMPENSATIONS)
    _check_choice("weight_compensation", weight_compensation, WEIGHT_COMPENSATIONS)
    _check_choice("bias_rounding", bias_rounding, BIAS_ROUNDINGS)
    if isinstance(coupling_shift, str):
        _check_choice("coupling_shift", coupling_shift, ("auto",))
    elif (isinstance(coupling_shift, bool) or not isinstance(coupling_shift, numbers.Real)
            or not math.isfinite(coupling_shift) or not 0 <= coupling_shift < 1):
        raise ValueError(f"coupling_shift must be 'auto' or a number in [0, 1), got {coupling_shift!r}")
    elif coupling_shift > 0 and weight_compensation != "bias":
        raise ValueError("coupling_shift > 0 needs weight_compensation='bias' (without it the chip's "
                         f"optimum moves by the shift), got weight_compensation={weight_compensation!r}")
    else:
        coupling_shift = float(coupling_shift)
    max_splits = _check_int("max_splits", max_splits, 1, MAX_SPLITS)
    if isinstance(weight_splits, str):
        _check_choice("weight_splits", weight_splits, ("auto",))
    else:
        weight_splits = _check_int("weight_splits", weight_splits, 1, MAX_SPLITS, ' or "auto"')
    if (isinstance(voltage_headroom, bool) or not isinstance(voltage_headroom, numbers.Real)
            or not math.isfinite(voltage_headroom) or voltage_headroom < 2):
        raise ValueError(f"voltage_headroom must be a finite number >= 2 (thresholds below the reset), "
                         f"got {voltage_headroom!r}")
    if max_simultaneous_spikes is not None:
        max_simultaneous_spikes = _check_int("max_simultaneous_spikes", max_simultaneous_spikes, 1, 2 ** 31)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0):
        raise ValueError(f"seed must be None or an integer >= 0, got {seed!r}")
    if "stochastic" in (rounding, bias_rounding) and seed is None:
        seed = int(np.random.SeedSequence().entropy % (2 ** 63))
    n = network.n
    given_rates = None
    if isinstance(operating_rates, str):
        _check_choice("operating_rates", operating_rates, ("auto",))
    elif operating_rates is not None:
        given_rates = np.asarray(operating_rates, dtype=float)
        if given_rates.shape != (n,) or not np.all(np.isfinite(given_rates)) or np.any(given_rates < 0):
            raise ValueError(f"operating_rates must be 'auto', None or a finite array of shape ({n},) "
                             f"with values >= 0 Hz, got shape {given_rates.shape}")

    lava_compatible = bool(hwc.lava_runnable and bbits <= hwc.bias_mantissa_bits)
    clipped = {"weights": 0, "bias": 0, "delays": 0, "decay": 0, "leak": 0}
    limits_text = {}

    # 1. fold
    folded = fold(network)
    # 2. decays
    du, kappa, tau_eff, clipped["decay"], limits_text["decay"] = _current_decay(network.tau_syn, dt, hwc)
    dv, leak_eff, clipped["leak"], limits_text["leak"] = _voltage_decay(network.leak_tau, dt, hwc)
    # 3. delays
    if sp.issparse(folded.delays):
        delay_target = with_data(folded.delays, folded.delays.data / dt)  # the pattern, zero delays kept
    else:
        delay_target = folded.delays / dt
    delays, clipped["delays"], limits_text["delays"] = _delays(delay_target, folded.weights, hwc)
    # 4. operating point
    exp_syn = kappa < 1.0
    want_trunc = exp_syn and truncation_compensation == "bias"
    chip_resets_hard = hwc.reset_mode == "hard"
    reset_mode = reset_compensation if folded.reset_mode == "subtract" and chip_resets_hard else "none"
    want_weights = weight_compensation == "bias"
    op_info = {"source": "none", "method": "none", "converged": True, "residual": 0.0}
    rates = None
    if operating_rates is None:
        op_info["source"] = "disabled"
    elif given_rates is not None:
        rates = given_rates
        op_info.update(source="given", method="given")
    elif want_trunc or reset_mode != "none" or want_weights or exp_syn or rounding == "diffusion":
        op = rate_model(folded)
        op_info.update(source="auto", method=op.method, converged=op.converged, residual=op.residual)
        if op.converged:
            rates = op.rates
        else:
            warnings.warn(f"the rate model of {network.name!r} did not converge (residual {op.residual:.3g} Hz, "
                          f"{op.method}); dynamic corrections are disabled. Pass operating_rates= to set "
                          f"them.", QuantizationWarning, stacklevel=2)
    if rates is not None and np.any(rates * dt > 1):
        warnings.warn(f"{int(np.sum(rates * dt > 1))} neuron(s) have operating rates above one spike per "
                      f"step (1/dt = {1 / dt:g} Hz): the chip fires at most once per step",
                      QuantizationWarning, stacklevel=2)
    if bias_rounding == "auto":
        bias_rounding = ("stochastic" if rounding == "stochastic" else
                         "optimum" if rates is not None else "nearest")
    elif bias_rounding == "optimum" and rates is None:
        raise ValueError("bias_rounding='optimum' needs operating rates (operating_rates='auto' or an array), "
                         "got operating_rates=None")
    plan = CorrectionPlan(truncation=want_trunc, reset=reset_mode, weights=want_weights, delays=delays,
                          bias_rounding=bias_rounding,
                          coupling_shift=0.0 if coupling_shift == "auto" else coupling_shift,
                          leak=hwc.arithmetic.voltage_decay_fraction(dv),
                          covariance=_diffusion_covariance(rounding, rate_covariance, rates, n, folded))

    # 5. scale
    capacity = _weight_capacity(fmt, max_splits if weight_splits == "auto" else weight_splits)
    choice = choose_scale(folded.weights, folded.bias, dt, kappa, hwc, voltage_headroom, capacity,
                          hwc.activation_shift, operating_rates=rates,
                          max_simultaneous_spikes=max_simultaneous_spikes,
                          bias_range=(-(2 ** (bbits - 1)), 2 ** (bbits - 1) - 1))
    if choice.vth < 1:
        raise QuantizationError(
            f"threshold: no scale fits: {choice.limited_by} allows at most S = {choice.limits[choice.limited_by]:.4g} "
            f"voltage units per threshold, below one threshold step (2**{hwc.threshold_shift}); "
            f"all limits: { {k: float(f'{v:.4g}') for k, v in choice.limits.items()} }")
    # 6-7. weights, bias; shrink S in the rare case rounding pushed the worst input over
    for _attempt in range(64):
        scale = choice.scale
        q = _quantize_at(scale, folded, kappa, dt, hwc, fmt, weight_splits, max_splits, rounding, seed,
                         rates, plan, du, bbits, max_simultaneous_spikes, exp_syn)
        over = max(q["worst"] / hwc.synaptic_input_limit, (q["worst"] + q["mean_u"]) / hwc.current_limit)
        if over <= 1.0 or choice.vth <= 1:
            break
        vth = max(1, min(choice.vth - 1, int(choice.vth / (over * 1.001))))
        choice.limited_by += "" if choice.limited_by.endswith("(after rounding)") else " (after rounding)"
        choice.vth, choice.scale = vth, vth << hwc.threshold_shift
    shift_info = {"requested": coupling_shift, "applied": plan.coupling_shift}
    if coupling_shift == "auto":
        plan, q, shift_info = _auto_coupling_shift(plan, q, folded, kappa, hwc, choice.scale, rates,
                                                   lambda p: _quantize_at(choice.scale, folded, kappa, dt, hwc, fmt,
                                                                          weight_splits, max_splits, rounding, seed,
                                                                          rates, p, du, bbits,
                                                                          max_simultaneous_spikes, exp_syn))
    enc, encb, corrections = q["enc"], q["encb"], q["corrections"]
    target_a, bias_nominal, candidates = q["target_a"], q["bias_nominal"], q["candidates"]
    chosen_k, reason, worst, mean_u = q["chosen_k"], q["reason"], q["worst"], q["mean_u"]
    clipped["weights"] = enc.clipped
    clipped["bias"] = encb.clipped
    clipped["synaptic_input"] = int(worst > hwc.synaptic_input_limit)
    clipped["current"] = int(worst + mean_u > hwc.current_limit)
    limits_text["weights"] = (f"largest representable |input per spike| with {chosen_k} split(s): "
                              f"{_weight_capacity(fmt, chosen_k):.0f} summed-input units "
                              f"(weights.exponent_max = {hwc.weight_exponent_max})")
    limits_text["bias"] = (f"|bias| <= {2 ** (bbits - 1)} * 2**{hwc.bias_exponent_max} "
                           f"(bias.mantissa_bits = {bbits}, bias.exponent_max = {hwc.bias_exponent_max})")
    limits_text["synaptic_input"] = (f"worst one-step input {worst:.0f} u units exceeds 2**{hwc.synaptic_input_bits} - 1 "
                                     f"(state.synaptic_input_bits)")
    limits_text["current"] = (f"worst one-step input {worst:.0f} + mean current {mean_u:.0f} exceeds "
                              f"2**{hwc.current_bits - 1} - 1 (state.current_bits; u wraps)")

    info = {
        "format": "lava-causal compiled network",
        "hw": hwc.to_dict(),
        "lava_compatible": lava_compatible,
        "options": {"hw": hwc.name, "dt": dt, "strict": bool(strict), "weight_bits": nwb, "bias_bits": bbits,
                    "rounding": rounding, "weight_splits": weight_splits, "seed": seed,
                    "reset_compensation": reset_compensation,
                    "truncation_compensation": truncation_compensation,
                    "weight_compensation": weight_compensation, "bias_rounding": bias_rounding,
                    "coupling_shift": plan.coupling_shift,
                    "operating_rates": op_info["source"], "voltage_headroom": float(voltage_headroom),
                    "max_simultaneous_spikes": max_simultaneous_spikes, "max_splits": max_splits},
        "fold": {"reset": folded.reset, "threshold": folded.threshold, "reset_mode": folded.reset_mode,
                 "tau_syn": folded.tau_syn, "leak_tau": folded.leak_tau, "name": network.name,
                 "weights": network.weights, "bias": network.bias},
        "scale": {"S": int(scale), "vth": int(choice.vth), "kappa": float(kappa),
                  "limits": {k: float(v) for k, v in choice.limits.items()}, "limited_by": choice.limited_by,
                  "voltage_headroom": float(voltage_headroom),
                  "headroom_thresholds": float(hwc.voltage_limit / scale)},
        "targets": {"weights": target_a, "bias": bias_nominal, "delay_steps": delay_target,
                    "tau_syn": float(network.tau_syn), "leak_tau": network.leak_tau},
        "decay": {"du": int(du), "dv": int(dv), "kappa": float(kappa), "tau_syn_effective": tau_eff,
                  "leak_tau_effective": leak_eff},
        "splits": {"requested": weight_splits, "chosen": int(chosen_k), "quanta": [int(q) for q in enc.quanta],
                   "modes": list(enc.modes), "reason": reason,
                   "candidates": {str(k): dict(c) for k, c in candidates.items()}},
        "weight_precision": _precision_info(fmt, enc),
        "corrections": {"truncation": corrections.truncation, "reset": corrections.reset,
                        "weights": corrections.weights, "reset_method": reset_mode,
                        "operating_rates": None if rates is None else np.asarray(rates, float),
                        "operating_point": op_info},
        "input_check": {"worst_step_input": float(worst), "mean_current": mean_u,
                        "synaptic_input_limit": int(hwc.synaptic_input_limit),
                        "current_limit": int(hwc.current_limit),
                        "max_simultaneous_spikes": max_simultaneous_spikes},
        "clipped": {k: int(v) for k, v in clipped.items()},
        "limits": limits_text,
        "coupling_shift": shift_info,
    }
    zeroed = _zeroed_weights(target_a, enc, choice, hwc)
    info["zeroed_weights"] = {k: v for k, v in zeroed.items() if k != "text"}
    fixed = FixedPointNetwork(weights=_split_matrices(enc, folded.weights), weight_exps=tuple(enc.exponents),
                              bias_mant=encb.mantissa, bias_exp=encb.exponent, vth=choice.vth, du=du, dv=dv,
                              dt=dt, num_weight_bits=nwb, delays=delays, hw_name=hwc.name,
                              arithmetic=hwc.arithmetic, info=info)
    _enforce(clipped, limits_text, strict)
    _enforce_zeroed(zeroed, strict)
    return fixed


def soft_margin(folded, effective, activation_shift: int, kappa: float, scale: int, active):
    r"""Smallest eigenvalues of the symmetric parts of :math:`D(I - W')_{AA}` (float) and
    :math:`D(I - W'_q)_{AA}` (the chip's, ``effective`` summed-input units per spike) on
    the active causes ``active``: the margin of the dynamics around the optimum along
    their softest direction (for a tuned network the smallest eigenvalue of
    :math:`U_A^T U_A + \beta D_A`; silent causes stay silent). O(|A|^3), dense."""
    d = np.asarray(folded.reset, float)[active]
    out = []
    for w in (np.asarray(folded.weights, float), folded_chip_weights(effective, activation_shift, kappa, scale)):
        g = d[:, None] * (np.eye(d.size) - w[np.ix_(active, active)])
        out.append(float(np.linalg.eigvalsh(0.5 * (g + g.T))[0]) if d.size else math.inf)
    return tuple(out)


def _auto_coupling_shift(plan, q, folded, kappa, hwc, scale, rates, requantize):
    """``coupling_shift="auto"``: keep ``q`` (no shift) unless the rounding took the
    coupling's soft margin below :data:`SOFT_MARGIN_FRACTION` of the float one; then
    requantize with :data:`AUTO_COUPLING_SHIFT`. Returns (plan, q, record)."""
    record = {"requested": "auto", "applied": 0.0}
    if folded.is_sparse or not plan.weights or rates is None:
        record["reason"] = "not evaluated (sparse network, no weight compensation or no operating rates)"
        return plan, q, record
    effective = q["enc"].effective
    active = np.flatnonzero(rates > ACTIVE_FRACTION * float(np.max(rates, initial=0.0)))
    margin_float, margin_chip = soft_margin(folded, effective, hwc.activation_shift, kappa, scale, active)
    record.update(margin_float=margin_float, margin_chip=margin_chip)
    if margin_chip >= SOFT_MARGIN_FRACTION * margin_float:
        record["reason"] = "the rounded coupling keeps its soft margin"
        return plan, q, record
    plan = replace(plan, coupling_shift=AUTO_COUPLING_SHIFT)
    q = requantize(plan)
    record.update(applied=AUTO_COUPLING_SHIFT,
                  margin_shifted=soft_margin(folded, q["enc"].effective, hwc.activation_shift, kappa, scale,
                                             active)[1],
                  reason=f"rounding took the soft margin from {margin_float:.3g} to {margin_chip:.3g}")
    return plan, q, record


def _diffusion_covariance(rounding, rate_covariance, rates, n, folded):
    r"""The rate second moment diffusion rounding weighs errors with (None for other
    roundings): ``rate_covariance`` validated, else :math:`\hat r\hat r^T +
    \mathrm{diag}(\hat r^2)` (all ones without operating rates)."""
    if rounding != "diffusion":
        if rate_covariance is not None:
            raise ValueError(f"rate_covariance is used by rounding='diffusion' only, got rounding={rounding!r}")
        return None
    if folded.is_sparse:
        raise ValueError("rounding='diffusion' needs a dense network (it updates an N x N array, O(N^3)); "
                         "use rounding='nearest' or 'stochastic' for sparse networks")
    if rate_covariance is not None:
        cov = np.asarray(rate_covariance, dtype=float)
        if cov.shape != (n, n) or not np.all(np.isfinite(cov)) or not np.allclose(cov, cov.T):
            raise ValueError(f"rate_covariance must be a finite symmetric array of shape ({n}, {n}), "
                             f"got shape {cov.shape}")
        return cov
    r = np.ones(n) if rates is None else np.asarray(rates, float)
    return np.outer(r, r) + np.diag(r ** 2)


def _zeroed_weights(target_a, enc, choice, hwc: HardwareConfig) -> dict:
    """Non-zero weights (above round-off, :data:`ROUNDOFF_WEIGHT_FRACTION`) whose integers
    are all zero: counts, share, largest zeroed target
    (summed-input units), finest quantum and the cause, for :func:`_enforce_zeroed`."""
    pattern = target_a if sp.issparse(target_a) else None
    target = np.asarray(target_a.data if pattern is not None else target_a, float)
    nonzero = np.abs(target) > ROUNDOFF_WEIGHT_FRACTION * float(np.max(np.abs(target), initial=0.0))
    zeroed = nonzero & (np.asarray(enc.effective) == 0)
    n_nonzero = int(np.count_nonzero(nonzero))
    n_zeroed = int(np.count_nonzero(zeroed))
    fraction = n_zeroed / n_nonzero if n_nonzero else 0.0
    largest = float(np.max(np.abs(target[zeroed]), initial=0.0))
    quantum = int(enc.quanta[-1]) if len(enc.quanta) else 0
    text = ""
    if n_zeroed:
        first = int(np.flatnonzero(zeroed)[0])
        if pattern is not None:  # (row, column) of the first zeroed stored entry
            index = (int(np.searchsorted(pattern.indptr, first, side="right") - 1), int(pattern.indices[first]))
        else:
            index = tuple(int(i) for i in np.unravel_index(first, target.shape))
        text = (f"weights: {n_zeroed} of {n_nonzero} non-zero weights ({100 * fraction:.1f} %) quantize to 0, "
                f"e.g. [{index[0]}, {index[1]}]: their charge per spike A = S W' d / 2**activation_shift is below "
                f"half the finest weight quantum 2**{quantum} summed-input units (largest zeroed |A| = "
                f"{largest:.3g}) with S = {int(choice.scale)} limited by {choice.limited_by} and "
                f"state.activation_shift = {hwc.activation_shift} of hardware config {hwc.name!r}"
                + (f" ({hwc.path})" if hwc.path else "")
                + ("; 2**0 is the finest quantum the datapath has: only a smaller activation_shift or a larger "
                   "binding limit keeps them" if quantum <= 0 else
                   "; more weight_splits (a finer quantum), a smaller activation_shift or a larger binding limit "
                   "keeps them"))
    return {"count": n_zeroed, "nonzero": n_nonzero, "fraction": fraction, "largest_target": largest,
            "finest_quantum_exp": quantum, "activation_shift": int(hwc.activation_shift),
            "warn_fraction": ZEROED_WEIGHTS_WARN_FRACTION, "text": text}


def _enforce_zeroed(zeroed: dict, strict: bool) -> None:
    """strict: any zeroed non-zero weight raises; else warn above the share
    :data:`ZEROED_WEIGHTS_WARN_FRACTION`."""
    if not zeroed["count"]:
        return
    if strict:
        raise QuantizationError("does not fit the hardware: " + zeroed["text"])
    if zeroed["fraction"] > ZEROED_WEIGHTS_WARN_FRACTION:
        warnings.warn(f"quantization zeroed weights: {zeroed['text']} (warned above "
                      f"{100 * ZEROED_WEIGHTS_WARN_FRACTION:g} %, ZEROED_WEIGHTS_WARN_FRACTION)",
                      QuantizationWarning, stacklevel=3)


def _quantize_at(scale, folded, kappa, dt, hwc, fmt, weight_splits, max_splits, rounding, seed, rates,
                 plan: "CorrectionPlan", du, bbits, max_simultaneous_spikes, exp_syn):
    """Weights (with the split choice), corrections and bias at scale ``scale``.

    Sparse ``folded.weights``: everything on the (nnz,) stored values; ``enc.effective``
    and the mantissas are (nnz,) vectors (:func:`_split_matrices` makes the CSR splits).
    The split-count search keeps the integers of the leading candidate only (the
    others' statistics are recorded): memory of two candidates, not ``max_splits``."""
    w = folded.weights
    sparse = sp.issparse(w)
    target_values = scale * (w.data if sparse else w) * kappa / 2.0 ** hwc.activation_shift
    target_a = with_data(w, target_values) if sparse else target_values
    encoded_target = target_values / (1.0 + plan.coupling_shift)   # the compensation restores the shift
    ks = range(1, max_splits + 1) if weight_splits == "auto" else [weight_splits]
    candidates, lead, enc = {}, None, None
    for k in ks:
        rng = np.random.default_rng(seed) if rounding == "stochastic" else None
        c = encode_weights(encoded_target, k, fmt, rounding, rng, covariance=plan.covariance)
        candidates[k] = {"finest_quantum": int(c.quanta[-1]), "clipped": int(c.clipped),
                         "max_abs_error": float(np.max(np.abs(c.effective - encoded_target), initial=0.0))}
        if lead is None or (c.quanta[-1], c.clipped) < lead[1]:  # the first of the best
            lead, enc = (k, (c.quanta[-1], c.clipped)), c
        del c
    if weight_splits == "auto":
        best_q = min(c["finest_quantum"] for c in candidates.values())
        chosen_k = lead[0]  # fewest splits with the finest quantum, then the fewest clipped
        reason = (f"fewest splits reaching the finest weight quantum 2**{best_q} summed-input units"
                  + (f" (1 split: 2**{candidates[1]['finest_quantum']})" if chosen_k > 1 else ""))
    else:
        chosen_k = weight_splits
        reason = "requested"
    effective = with_data(w, enc.effective) if sparse else enc.effective
    bias_nominal = scale * folded.bias * dt
    corrections = bias_corrections(scale, effective, rates, dt, hwc, du, seed, plan, target=target_a,
                                   folded=folded)
    encb = round_bias(bias_nominal + corrections.total, plan, bbits, hwc, seed, rates,
                      lambda: folded_chip_weights(effective, hwc.activation_shift, kappa, scale))
    as_float = with_data(w, enc.effective.astype(float)) if sparse else enc.effective.astype(float)
    worst = worst_step_input(as_float, 1.0, max_simultaneous_spikes) * 2.0 ** hwc.activation_shift
    mean_u = 0.0
    if rates is not None and exp_syn:
        per_spike = with_data(w, as_float.data * 2.0 ** hwc.activation_shift / kappa) if sparse \
            else enc.effective * 2.0 ** hwc.activation_shift / kappa
        mean_u = float(np.max(np.abs(per_spike @ (rates * dt)), initial=0.0))
    return dict(enc=enc, encb=encb, corrections=corrections, target_a=target_a, bias_nominal=bias_nominal,
                candidates=candidates, chosen_k=chosen_k, reason=reason, worst=worst, mean_u=mean_u)


@dataclass(frozen=True)
class CorrectionPlan:
    r"""Which bias corrections a compile applies: ``truncation`` (bool), ``reset``
    (:data:`RESET_COMPENSATIONS`, "none" unless the source resets subtractively and
    the chip hard), ``weights`` (bool), ``bias_rounding`` ("optimum", "nearest" or
    "stochastic"), ``coupling_shift`` (the weights are encoded at :math:`1/(1+\epsilon)`
    of their targets), the compiled extra ``delays`` (None, int or
    matrix) and leak fraction the overshoot calibration runs with, and the rate
    ``covariance`` of diffusion rounding (None: other rounding)."""

    truncation: bool
    reset: str
    weights: bool
    bias_rounding: str = "nearest"
    coupling_shift: float = 0.0
    delays: object = None
    leak: float = 0.0
    covariance: Optional[np.ndarray] = None


@dataclass(frozen=True)
class BiasCorrections:
    """The dynamic bias corrections, voltage units per step, each shape (N,):
    ``truncation`` (current decay), ``reset`` (hard-reset overshoot), ``weights``
    (weight rounding at the operating rates)."""

    truncation: np.ndarray
    reset: np.ndarray
    weights: np.ndarray

    @property
    def total(self) -> np.ndarray:
        return self.truncation + self.reset + self.weights


def round_bias(target, plan: CorrectionPlan, bits: int, hwc: HardwareConfig, seed, rates, chip_weights):
    """Encode the bias ``target`` (voltage units per step) with ``plan.bias_rounding``;
    ``chip_weights()`` gives the folded chip weights "optimum" rounding needs."""
    stochastic = plan.bias_rounding == "stochastic"
    rng = np.random.default_rng(None if seed is None else seed + 1) if stochastic else None
    encb = encode_bias(target, bits, hwc.bias_exponent_min, hwc.bias_exponent_max,
                       "stochastic" if stochastic else "nearest", rng)
    if plan.bias_rounding == "optimum":
        encb = optimum_bias_round(encb, target, rates, chip_weights(), bits)
    return encb


def folded_chip_weights(effective, activation_shift: int, kappa: float, scale: int):
    r"""What the integers deliver in folded units, :math:`W'_q = A\,2^{\text{act}}/(d S)`
    (dense or CSR like ``effective``)."""
    factor = 2.0 ** activation_shift / (kappa * float(scale))
    if sp.issparse(effective):
        return with_data(effective, np.asarray(effective.data, float) * factor)
    return np.asarray(effective, float) * factor


def bias_corrections(scale, effective, rates, dt, hwc: HardwareConfig, du, seed, plan: CorrectionPlan, *,
                     target=None, folded=None) -> BiasCorrections:
    """The dynamic bias corrections of :mod:`compiler.quantization.corrections` and
    :mod:`compiler.quantization.overshoot` at operating ``rates`` (Hz; None: none).

    Parameters
    ----------
    scale : int
        S, voltage units per threshold.
    effective : ndarray (N, N) or CSR
        Summed-input units one spike delivers to ``i`` (all splits).
    rates : ndarray (N,) or None
    dt : float
    hwc : HardwareConfig
    du : int
    seed : int or None
        The compile's (None: 0): seeds the calibrations.
    plan : CorrectionPlan
    target : ndarray (N, N) or CSR, optional
        The float weight targets (needed for ``plan.weights``).
    folded : FoldedNetwork, optional
        The folded float network (weights and bias; needed for ``plan.reset ==
        "measured"``).
    """
    n = effective.shape[0]
    zero = np.zeros(n)
    trunc, reset, weights = zero, zero, zero
    if rates is None:
        return BiasCorrections(trunc, reset, weights)
    seed = 0 if seed is None else int(seed)
    factor = hwc.arithmetic.current_decay_factor(du)
    kappa = hwc.arithmetic.current_decay_fraction(du)
    if plan.truncation:
        trunc = current_truncation_deficit(effective, rates, dt, hwc.activation_shift, factor,
                                           hwc.decay_bits, seed=seed)
    if plan.reset == "half_step":
        reset = reset_overshoot_bias(scale, rates, dt)
    elif plan.reset == "measured":
        nnz = folded.weights.nnz if sp.issparse(folded.weights) else int(np.count_nonzero(folded.weights))
        per_step = measured_overshoot(folded.weights, folded.bias, kappa, plan.leak, dt,
                                      overshoot_steps(rates, dt, nnz), delays=plan.delays, seed=seed)
        reset = float(scale) * per_step
    if plan.weights:
        weights = weight_rounding_compensation(target, effective, rates, dt, hwc.activation_shift, kappa)
    return BiasCorrections(trunc, reset, weights)


def _split_matrices(enc, weights) -> tuple:
    """The splits' mantissas: dense (N, N) int64 arrays as encoded, or for CSR
    ``weights`` CSR matrices sharing its pattern (one index array pair for all
    splits, explicit zeros kept) in the smallest integer dtype holding them all."""
    if not sp.issparse(weights):
        return tuple(enc.mantissas)
    lo = min((int(m.min()) for m in enc.mantissas if m.size), default=0)
    hi = max((int(m.max()) for m in enc.mantissas if m.size), default=0)
    dtype = smallest_int_dtype(lo, hi)
    return tuple(with_data(weights, m.astype(dtype)) for m in enc.mantissas)


def _precision_info(fmt: WeightFormat, enc) -> dict:
    """``info["weight_precision"]``: weight bits, splits, effective bits (see
    :func:`compiler.deploy.report.weight_precision`)."""
    k = len(enc.quanta)
    eff = effective_weight_bits(fmt.num_weight_bits, enc.quanta)
    return {"weight_bits": int(fmt.num_weight_bits), "weight_splits": int(k), "effective_bits": int(eff),
            "stored_bits": int(fmt.num_weight_bits * k), "register_bits": int(fmt.mantissa_bits),
            "quanta": [int(q) for q in enc.quanta],
            "text": f"{fmt.num_weight_bits} bits x {k} split{'s' if k != 1 else ''} ~ {eff}-bit effective"}


def _enforce(clipped, limits_text, strict):
    bad = {k: v for k, v in clipped.items() if v}
    if not bad:
        return
    parts = [f"{k}: {v} value(s) clipped ({limits_text.get(k, '')})" for k, v in bad.items()]
    if strict:
        raise QuantizationError("does not fit the hardware: " + "; ".join(parts))
    warnings.warn("quantization clipped values: " + "; ".join(parts), QuantizationWarning, stacklevel=3)


def _weight_capacity(fmt: WeightFormat, splits: int) -> float:
    """Largest |summed-input value| one spike can deliver with ``splits`` splits."""
    best = 0.0
    for mode in ("excitatory", "mixed"):
        lo, hi = mantissa_range(mode, fmt.num_weight_bits)
        q_hi = fmt.q_range(mode)[1]
        top = max(-lo, hi) * 2.0 ** q_hi
        lower = 2.0 ** q_hi - 1 if splits > 1 else 0.0
        best = max(best, top + lower)
    return best


def _current_decay(tau_syn, dt, hwc: HardwareConfig):
    """(du, kappa, effective tau, clipped, limit text) for the synaptic current."""
    unity = 2 ** hwc.decay_bits
    off = hwc.current_decay_offset
    limit = f"du in 0..{hwc.decay_max} (decay.bits = {hwc.decay_bits}), du + {off} = round(4096 (1 - exp(-dt/tau_syn)))"
    if tau_syn == 0:
        du = hwc.decay_max
        clipped = int(unity - (du + off) != 0)
    else:
        ideal = -math.expm1(-dt / tau_syn) * unity - off
        du = int(round(ideal))
        clipped = int(du < 0 or du > hwc.decay_max)
        du = int(min(max(du, 0), hwc.decay_max))
    factor = unity - (du + off)
    kappa = 1.0 - factor / unity
    tau_eff = 0.0 if factor == 0 else float(-dt / math.log(factor / unity))
    return du, kappa, tau_eff, clipped, limit


def _voltage_decay(leak_tau, dt, hwc: HardwareConfig):
    """(dv, effective tau_m or None, clipped, limit text) for the membrane leak."""
    unity = 2 ** hwc.decay_bits
    off = hwc.voltage_decay_offset
    limit = f"dv in 0..{hwc.decay_max} (decay.bits = {hwc.decay_bits})"
    if leak_tau is None:
        return 0, None, int(off != 0), limit
    dv = int(round(-math.expm1(-dt / leak_tau) * unity - off))
    clipped = int(dv < 0 or dv > hwc.decay_max)
    dv = int(min(max(dv, 0), hwc.decay_max))
    factor = unity - (dv + off)
    eff = None if factor == unity else (0.0 if factor == 0 else float(-dt / math.log(factor / unity)))
    return dv, eff, clipped, limit


def _delays(delay_steps, weights, hwc: HardwareConfig):
    """DelayDense delays (None for plain Dense), clip count, limit text. Sparse
    ``weights``: a scalar (uniform delay) or a CSR matrix of the weights' pattern."""
    lat = hwc.dense_latency_steps
    limit = (f"delay <= {hwc.max_delay_steps + lat} steps (weights.max_delay_steps = {hwc.max_delay_steps} "
             f"+ {lat} step Dense latency)")
    if sp.issparse(weights):
        return _sparse_delays(delay_steps, weights, hwc, limit)
    total = np.rint(delay_steps).astype(np.int64)
    used = weights != 0
    extra = total - lat
    if not np.any(used & (extra > 0)):
        return None, 0, limit
    clipped = int(np.count_nonzero(used & (extra > hwc.max_delay_steps)))
    return np.clip(extra, 0, hwc.max_delay_steps), clipped, limit


def _sparse_delays(delay_steps, weights, hwc: HardwareConfig, limit):
    """:func:`_delays` for CSR weights (every stored weight is used): None, an int
    (uniform delay) or an int8 CSR matrix with the weights' pattern. O(nnz)."""
    lat = hwc.dense_latency_steps
    if sp.issparse(delay_steps):
        extra = np.rint(delay_steps.data).astype(np.int64) - lat
    else:
        extra = np.full(1 if weights.nnz else 0, int(np.rint(delay_steps)) - lat, np.int64)
    if not np.any(extra > 0):
        return None, 0, limit
    clipped = int(np.count_nonzero(extra > hwc.max_delay_steps)) * (1 if extra.size == weights.nnz else weights.nnz)
    extra = np.clip(extra, 0, hwc.max_delay_steps)
    if np.all(extra == extra[0]):
        return int(extra[0]), clipped, limit
    return with_data(weights, extra.astype(smallest_int_dtype(0, int(extra.max())))), clipped, limit
