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
(:func:`compiler.hardware.encoding.encode_bias`, the compile's rounding), with the
fold of :mod:`compiler.frontend.fold` (:math:`H_i/\tau_m` only with a leak). The two
corrections (:mod:`compiler.quantization.corrections`) depend on the operating rates:
either those recorded at compile time (``operating_rates=None``: the same correction
for every input, cost O(K N)) or per input (the rates given, e.g. each input's exact
optimum: the current-decay calibration then runs once per input, O(N x 20,000) steps
each). With the rates the compile used, the integers are exactly those of compiling
the network with that bias (same scale, same weights): tests/test_decoder.py.

The weights, thresholds, decays and delays are untouched, so every input shares the
compiled scale; a bias beyond the bias range at that scale is clipped to the extreme
mantissa and counted per input (``clipped``): the caller must not ignore it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from compiler.frontend.fold import fold_bias
from compiler.hardware.encoding import encode_bias
from compiler.quantization.effective import effective_input
from compiler.quantization.fixed_point import FixedPointNetwork
from compiler.quantization.quantize import bias_corrections
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
    if operating_rates is None:
        corrections = (np.asarray(recorded["truncation"], float) + np.asarray(recorded["reset"], float))
        total = nominal + corrections[None, :]
        source = "compiled"
    else:
        rates = np.asarray(operating_rates, dtype=float)
        rates = np.broadcast_to(rates, b.shape) if rates.ndim == 1 else rates
        if rates.shape != b.shape or not np.all(np.isfinite(rates)) or np.any(rates < 0):
            raise ValueError(f"operating_rates must be finite, >= 0 Hz, of shape ({n},) or {b.shape}")
        exp_syn = float(info["decay"]["kappa"]) < 1.0
        want_trunc = exp_syn and options["truncation_compensation"] == "bias"
        want_reset = fold_info["reset_mode"] == "subtract" and options["reset_compensation"] == "half_step"
        effective = effective_input(fixed) if want_trunc else np.zeros((n, n))
        total = np.empty_like(nominal)
        for k in range(b.shape[0]):
            trunc, reset = bias_corrections(scale, effective, rates[k], fixed.dt, hwc, fixed.du,
                                            options["seed"], want_trunc, want_reset)
            total[k] = nominal[k] + trunc + reset
        source = "per input"
    bits, rounding = int(options["bias_bits"]), options["rounding"]
    if rounding == "stochastic":
        # One encode per input, each with the compile's generator state: input k then
        # gets the integers compiling it alone would give.
        parts = [encode_bias(row, bits, hwc.bias_exponent_min, hwc.bias_exponent_max, rounding,
                             np.random.default_rng(options["seed"] + 1)) for row in total]
        mant = np.stack([p.mantissa for p in parts])
        expo = np.stack([p.exponent for p in parts])
        clipped = np.array([p.clipped for p in parts], np.int64)
    else:  # nearest rounding is elementwise: all inputs at once
        enc = encode_bias(total, bits, hwc.bias_exponent_min, hwc.bias_exponent_max, rounding)
        mant, expo = enc.mantissa, enc.exponent
        clipped = enc.clipped_mask.sum(axis=1).astype(np.int64)
    return Rebiased(bias_mant=mant, bias_exp=expo, effective=np.left_shift(mant, expo),
                    clipped=clipped, corrections=source)
