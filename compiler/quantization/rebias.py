r"""New biases for a compiled network: one compile, many inputs.

A network whose input enters only through its bias (the causal network's drive
:math:`g = U^T\mu/\sigma^2 - \alpha`, any network driven by a constant current) is
compiled once; each new input changes only the integer bias fields. For a float bias
:math:`b` (the source network's units, per second) the chip bias of neuron ``i`` is
what :func:`compiler.compile` would encode at the compiled scale :math:`S`:

.. math::

    \beta_i = S\,\Delta t\, b'_i + \beta^{\mathrm{trunc}}_i + \beta^{\mathrm{reset}}_i,
    \qquad b'_i = \frac{b_i - H_i/\tau_m}{D_i},

rounded to the compile's ``bias_bits`` mantissa and exponent range
(:func:`compiler.hardware.encoding.encode_bias`, the compile's rounding; nearest after
diffusion-rounded weights), with the fold of :mod:`compiler.frontend.fold`
(:math:`H_i/\tau_m` only with a leak), plus the weight-rounding compensation
:math:`\beta^{\mathrm{weights}}` when the compile used it. The corrections
(:mod:`compiler.quantization.corrections`, :mod:`compiler.quantization.overshoot`)
depend on the operating rates:

- ``operating_rates=None``: the truncation and reset corrections recorded at compile
  time (the same for every input, O(K N)), and the weight compensation at each input's
  *predicted* rates (:func:`linear_rates`: one fixed solve on the compile's active
  set, :math:`\hat r = [(I - W'_{AA})^{-1} b']_+`, O(K N^2)): the weight term must
  follow the input, since at another input's optimum :math:`r^*` the chip's rate model
  is off by :math:`(W' - W'_q) r^*`; it is exact for every input whose optimum has the
  compile's active set;
- rates given per input (e.g. each input's exact optimum): every correction at those
  rates (the current-decay and overshoot calibrations then run once per input,
  O(N x 20,000) steps each). With the rates a compile of that input used, the integers
  are exactly those of compiling the network with that bias (same scale, same
  weights): tests/test_decoder.py.

The weights, thresholds, decays and delays are untouched, so every input shares the
compiled scale; a bias beyond the bias range at that scale is clipped to the extreme
mantissa and counted per input (``clipped``): the caller must not ignore it.
"""
from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np

import scipy.linalg
import scipy.sparse as sp
import scipy.sparse.linalg

from compiler.frontend.fold import fold_bias, fold_weights
from compiler.hardware.encoding import encode_bias
from compiler.quantization.effective import effective_input
from compiler.quantization.fixed_point import FixedPointNetwork
from compiler.quantization.corrections import weight_rounding_compensation
from compiler.quantization.quantize import CorrectionPlan, bias_corrections, folded_chip_weights, round_bias
from compiler.quantization.validate import resolve_config


@dataclass(frozen=True)
class Rebiased:
    """Integer bias fields for K inputs: ``bias_mant``, ``bias_exp`` (K, N) int64,
    ``effective`` (K, N) int64 (``bias_mant << bias_exp``, what the emulator adds per
    step), ``clipped`` (K,) neurons whose bias did not fit, ``corrections`` "compiled"
    or "per input"."""

    bias_mant: np.ndarray
    bias_exp: np.ndarray
    effective: np.ndarray
    clipped: np.ndarray
    corrections: str


def compiled_scale(fixed: FixedPointNetwork) -> int:
    """The scale :math:`S` (voltage units per threshold) a compiled network records."""
    try:
        return int(fixed.info["scale"]["S"])
    except (KeyError, TypeError):
        raise ValueError("the network carries no compile record (info['scale']): only networks "
                         "made by compiler.compile can be given new biases") from None


def rebias(fixed: FixedPointNetwork, bias, operating_rates=None) -> Rebiased:
    """Chip bias fields of ``fixed`` for new float biases (see the module docstring).

    Parameters
    ----------
    fixed : FixedPointNetwork
        Made by :func:`compiler.compile` (it records the scale, the fold and the
        options).
    bias : array_like, shape (N,) or (K, N)
        Float biases in the source network's units (per second).
    operating_rates : array_like, shape (N,) or (K, N), optional
        Rates (Hz) at which to evaluate the corrections per input; None keeps the
        compile's.

    Returns
    -------
    Rebiased
    """
    scale = compiled_scale(fixed)
    info = fixed.info
    n = fixed.n
    b = np.asarray(bias, dtype=float)
    if b.ndim == 1:
        b = b[None, :]
    if b.ndim != 2 or b.shape[1] != n:
        raise ValueError(f"bias must have shape ({n},) or (K, {n}), got {np.shape(bias)}")
    if not np.all(np.isfinite(b)):
        raise ValueError("bias must be finite; found NaN or infinite values")
    options, fold_info = info["options"], info["fold"]
    hwc = resolve_config(fixed)
    folded = fold_bias(b, np.asarray(fold_info["reset"], float), np.asarray(fold_info["threshold"], float),
                       fold_info["leak_tau"])
    nominal = scale * folded * fixed.dt
    recorded = info["corrections"]
    plan = correction_plan(fixed)
    effective = effective_input(fixed)
    kappa = float(info["decay"]["kappa"])
    if operating_rates is None:
        corrections = (np.asarray(recorded["truncation"], float) + np.asarray(recorded["reset"], float))
        total = nominal + corrections[None, :]
        rates = None
        if recorded.get("operating_rates") is not None and (plan.weights or plan.bias_rounding == "optimum"):
            rates = linear_rates(fixed, folded)
        if plan.weights and rates is not None:
            total += weight_rounding_compensation(info["targets"]["weights"], effective, rates, fixed.dt,
                                                  hwc.activation_shift, kappa)
        source = "compiled"
    else:
        rates = np.asarray(operating_rates, dtype=float)
        rates = np.broadcast_to(rates, b.shape) if rates.ndim == 1 else rates
        if rates.shape != b.shape or not np.all(np.isfinite(rates)) or np.any(rates < 0):
            raise ValueError(f"operating_rates must be finite, >= 0 Hz, of shape ({n},) or {b.shape}")
        weights = folded_weights(fixed) if plan.reset == "measured" else None
        total = np.empty_like(nominal)
        for k in range(b.shape[0]):
            network = SimpleNamespace(weights=weights, bias=folded[k])
            corr = bias_corrections(scale, effective, rates[k], fixed.dt, hwc, fixed.du, options["seed"], plan,
                                    target=info["targets"]["weights"], folded=network)
            total[k] = nominal[k] + corr.total
        source = "per input"
    bits = int(options["bias_bits"])
    if plan.bias_rounding == "nearest":  # elementwise: all inputs at once
        enc = encode_bias(total, bits, hwc.bias_exponent_min, hwc.bias_exponent_max, "nearest")
        mant, expo = enc.mantissa, enc.exponent
        clipped = enc.clipped_mask.sum(axis=1).astype(np.int64)
    else:
        # One encode per input, with the compile's generator state (stochastic) or the
        # input's own rates (optimum): input k gets the integers compiling it alone gives.
        chip_weights = folded_chip_weights(effective, hwc.activation_shift, kappa, scale)
        parts = [round_bias(row, plan, bits, hwc, options["seed"], None if rates is None else rates[k],
                            lambda: chip_weights) for k, row in enumerate(total)]
        mant = np.stack([p.mantissa for p in parts])
        expo = np.stack([p.exponent for p in parts])
        clipped = np.array([p.clipped for p in parts], np.int64)
    return Rebiased(bias_mant=mant, bias_exp=expo, effective=np.left_shift(mant, expo),
                    clipped=clipped, corrections=source)


def correction_plan(fixed: FixedPointNetwork) -> CorrectionPlan:
    """The corrections ``fixed``'s compile applied (files written before a choice
    existed: the behaviour of their time, half-step reset and no weight compensation)."""
    info = fixed.info
    options, fold_info = info["options"], info["fold"]
    hwc = resolve_config(fixed)
    exp_syn = float(info["decay"]["kappa"]) < 1.0
    recorded = info["corrections"]
    method = recorded.get("reset_method")
    if method is None:
        method = "half_step" if (fold_info["reset_mode"] == "subtract"
                                 and options.get("reset_compensation") == "half_step") else "none"
    bias_rounding = options.get("bias_rounding", "stochastic" if options["rounding"] == "stochastic" else "nearest")
    return CorrectionPlan(truncation=exp_syn and options["truncation_compensation"] == "bias", reset=method,
                          weights=options.get("weight_compensation", "none") == "bias",
                          bias_rounding=bias_rounding, delays=fixed.delays,
                          leak=hwc.arithmetic.voltage_decay_fraction(fixed.dv))


def folded_weights(fixed: FixedPointNetwork):
    """The compiled float network's folded weights :math:`W'_{ij} = W_{ij}/D_i`
    (dense or CSR), from the compile record."""
    fold_info = fixed.info["fold"]
    return fold_weights(fold_info["weights"], fold_info["reset"])


def linear_rates(fixed: FixedPointNetwork, folded_bias) -> np.ndarray:
    r"""Rates predicted for folded biases ``folded_bias`` (K, N) by the compile's active
    set :math:`A` (causes active at its operating point): :math:`\hat r_A =
    [(I - W'_{AA})^{-1} b'_A]_+`, 0 elsewhere, the exact optimum of every input whose
    optimum has the same active set (then the weight compensation makes it exactly a
    fixed point of the chip's rate model), a first-order one near it. A singular
    :math:`I - W'_{AA}` (overcomplete features without a prior on the active set) is
    solved in the least-squares sense. O(|A|^3) once per call plus O(K |A|^2)
    (sparse: a sparse LU)."""
    b = np.atleast_2d(np.asarray(folded_bias, float))
    rates = np.asarray(fixed.info["corrections"]["operating_rates"], float)
    active = np.flatnonzero(rates > 0)
    out = np.zeros_like(b)
    if active.size == 0:
        return out
    w = folded_weights(fixed)
    if sp.issparse(w):
        system = sp.identity(active.size, format="csc") - sp.csc_matrix(w[active][:, active])
        solution = scipy.sparse.linalg.splu(system).solve(np.ascontiguousarray(b[:, active].T))
    else:
        system = np.eye(active.size) - w[np.ix_(active, active)]
        try:
            solution = scipy.linalg.solve(system, b[:, active].T)
        except (np.linalg.LinAlgError, scipy.linalg.LinAlgWarning):
            solution = np.linalg.lstsq(system, b[:, active].T, rcond=None)[0]
    out[:, active] = np.maximum(np.asarray(solution).T, 0.0)
    return out
