r"""One check of a compiled network's integers against its hardware config.

:func:`check_fixed_point` is the single place that knows which integers a
:class:`~compiler.FixedPointNetwork` may hold. It is called

* by :func:`compiler.load` (:mod:`compiler.quantization.serialize`) on every file read,
* by :func:`compiler.emulate` before it runs (through :meth:`FixedPointNetwork.validate`),
* by :func:`compiler.check_lava_compatible` (``lava=True``), hence by :func:`compiler.run_lava`,

and, for the checks that need no config (:func:`check_structure`), by
``FixedPointNetwork.__post_init__``, so a network built in code with integers no config
could hold is refused when it is made.

What is checked (each failure is a :class:`FixedPointError` naming the field, the
offending value, or the count and an example index, the allowed range and the config):

=====================  ==================================================================
field                  allowed
=====================  ==================================================================
arithmetic             the config's :class:`ChipArithmetic` (Lava: ``LAVA_LOIHI``); each
                       width within the config schema's range
hw_name                the recorded config's ``name``
num_weight_bits        ``2 .. weights.mantissa_bits`` (Lava: at most 8)
weights[k]             representable in its sign mode with ``num_weight_bits`` significant
                       bits in the config's register (:mod:`compiler.hardware.encoding`): multiples
                       of :math:`2^{R-b+[\text{mixed}]}` in ``[0, 2^R - step]``,
                       ``[-(2^R - step), 0]`` or ``[-2^R, 2^R - step]``
weights[k] diagonal    zero, for compiled networks (``info["fold"]`` present): the float
                       network has none (its reset is the self-interaction)
weight_exps            one per split, each in ``weights.exponent_min .. exponent_max``
n_splits               equal to ``info["splits"]["chosen"]`` and
                       ``info["weight_precision"]["weight_splits"]`` when recorded
bias_mant              signed ``bias.mantissa_bits`` (or the compile's recorded
                       ``bias_bits`` override, emulator only)
bias_exp               ``bias.exponent_min .. exponent_max``
vth                    ``1 .. 2**threshold.mantissa_bits - 1``, and ``vth << shift`` below
                       the largest voltage (else no neuron could fire)
du, dv                 ``0 .. 2**decay.bits - 1``
delays                 ``0 .. weights.max_delay_steps``, shape (N, N)
shapes, types          (N, N) weights, (N,) bias arrays, integer values (integral dtypes
                       in files, :mod:`compiler.quantization.serialize`), finite ``dt > 0``
=====================  ==================================================================

The config is ``hw`` when given, else the one recorded in ``info["hw"]`` (every
compiled network records it; it is re-checked against the config schema,
:meth:`HardwareConfig.validated`). A hand-built network records none (its default
``hw_name`` commits it to nothing): it gets the config-free checks of
:func:`check_structure` (the widest ranges of the config schema, its own arithmetic,
``weight_exp`` within :data:`WEIGHT_EXP_WORD_RANGE`), and, for Lava, Lava's own limits
(:data:`LAVA_LIMITS`). ``check_fixed_point(fixed, hw="loihi2")`` holds it to a config.

Sparse networks (CSR splits) are checked on their stored values, never densified:
every split must share the same ``indptr`` and ``indices`` (one canonical pattern:
sorted, no duplicates), integer dtypes, per-synapse delays the same pattern; ranges,
steps and the zero diagonal as above. O(nnz) time, no extra (N, N) memory.

Cost: a few vectorized passes over each (N, N) matrix (min, max, a bit mask for the
step), no Python loop over entries; the verdict is cached on the (frozen) network per
config, so repeated :func:`compiler.emulate` calls pay it once (measured: see
``tests/test_artifacts.py::test_validation_cost_is_small``).
"""
from __future__ import annotations

import numbers
from typing import Optional, Tuple

import numpy as np
import scipy.sparse as sp

from compiler.hardware.arithmetic import LAVA_LOIHI, ChipArithmetic
from compiler.hardware.config import _SCHEMA, BIAS_BITS_RANGE, LAVA_DATAPATH, ConfigError, HardwareConfig
from compiler.system.sparse import same_pattern

LAVA_WORD_BITS = 32
"""Width of Lava's ``int32`` channels (as ``compiler.backends.emulator.LAVA_WORD_BITS``)."""

_SCHEMA_RANGE = {field_name: (lo, hi) for _s, _k, field_name, _t, lo, hi in _SCHEMA}
_LAVA = {field_name: value for _key, field_name, _rel, value, _why in LAVA_DATAPATH}
LAVA_LIMITS = {
    "weight_register_bits": _LAVA["weight_mantissa_bits"],
    "max_delay_steps": _LAVA["max_delay_steps"],
    "bias_mantissa_bits": _LAVA["bias_mantissa_bits"],
    "bias_exponent_min": _LAVA["bias_exponent_min"],
    "bias_exponent_max": _LAVA["bias_exponent_max"],
    "threshold_mantissa_bits": _LAVA["threshold_mantissa_bits"],
    "decay_bits": _LAVA["decay_bits"],
}
"""Lava ``fixed_pt`` limits (from :data:`compiler.hardware.config.LAVA_DATAPATH`, the one table
of them) that ``check_fixed_point(..., lava=True)`` enforces whatever the config says."""

WEIGHT_EXP_WORD_RANGE = (-(LAVA_WORD_BITS - 1), LAVA_WORD_BITS - 1)
"""``weight_exp`` of a network that records no config: any shift of the 32-bit word the
emulator and Lava's Dense compute in (Lava itself accepts any integer; a compiled
network is held to its config's ``weights.exponent_min .. exponent_max``)."""

# Arithmetic fields and the schema key bounding each.
_ARITHMETIC_FIELDS = (("state_bits", "voltage_bits", "state.voltage_bits"),
                      ("decay_bits", "decay_bits", "decay.bits"),
                      ("current_decay_offset", "current_decay_offset", "decay.current_offset"),
                      ("voltage_decay_offset", "voltage_decay_offset", "decay.voltage_offset"),
                      ("activation_shift", "activation_shift", "state.activation_shift"),
                      ("threshold_shift", "threshold_shift", "threshold.shift"))


class FixedPointError(ValueError):
    """A :class:`~compiler.FixedPointNetwork` holds a value its hardware config (or any
    config) cannot hold. The message names the field, the value (or the count of bad
    entries and an example index), the allowed range and the config.

    Attributes
    ----------
    field : str
        E.g. ``"weights[0]"``, ``"bias_exp"``, ``"vth"``.
    value : int, str or None
        The offending value (an example entry for arrays).
    allowed : str
        The allowed range or rule, e.g. ``"[0, 7]"``.
    count : int or None
        Number of offending entries (arrays only).
    index : tuple or None
        Index of the example entry (arrays only).
    config : str
        The config checked against, e.g. ``"hardware config 'loihi2' (.../loihi2.toml)"``.
    """

    def __init__(self, message: str, *, field: str = "", value=None, allowed: str = "", count=None,
                 index=None, config: str = ""):
        super().__init__(message)
        self.field, self.value, self.allowed = field, value, allowed
        self.count, self.index, self.config = count, index, config


# ---------------------------------------------------------------------- helpers
def _fail(field, value, allowed, why, where, count=None, index=None, size=None):
    context = "; ".join(x for x in (why, where) if x)
    context = f" ({context})" if context else ""
    if count is None:
        message = f"{field} = {value!r} is out of range {allowed}{context}"
    else:
        at = f" at index {index[0] if len(index) == 1 else index}" if index is not None else ""
        message = (f"{field}: {count} of {size} value{'s' if size != 1 else ''} out of range {allowed}, "
                   f"e.g. {value}{at}{context}")
    raise FixedPointError(message, field=field, value=value, allowed=allowed, count=count, index=index,
                          config=where)


def _check_scalar(field, value, lo, hi, why="", where=""):
    if not lo <= value <= hi:
        _fail(field, value, f"[{lo}, {hi}]", why, where)


def _check_array(field, arr, lo, hi, why="", where=""):
    """Range check of an integer array, a CSR matrix (its stored values) or an integer
    scalar (a uniform delay): two reductions when it passes."""
    if sp.issparse(arr):
        values = arr.data
    elif np.ndim(arr) == 0:
        _check_scalar(field, int(arr), lo, hi, why, where)
        return
    else:
        values = arr
    if values.size == 0:
        return
    if int(values.min()) >= lo and int(values.max()) <= hi:
        return
    bad = (values < lo) | (values > hi)
    _report_bad(field, arr, bad, f"[{lo}, {hi}]", why, where)


def _entry_index(arr, flat: int) -> tuple:
    """(row, column) of stored entry ``flat`` of a CSR matrix, or the index of flat
    position ``flat`` of an array."""
    if sp.issparse(arr):
        return int(np.searchsorted(arr.indptr, flat, side="right") - 1), int(arr.indices[flat])
    return tuple(int(i) for i in np.unravel_index(flat, arr.shape))


def _report_bad(field, arr, bad, allowed, why, where):
    flat = np.flatnonzero(bad)
    index = _entry_index(arr, int(flat[0]))
    value = int(arr.data[flat[0]]) if sp.issparse(arr) else int(arr[index])
    size = int(arr.data.size) if sp.issparse(arr) else int(arr.size)
    _fail(field, value, allowed, why, where, count=int(flat.size), index=index, size=size)


def check_sparse_layout(fixed) -> None:
    """Sparse networks: every split a canonical integer CSR matrix with the first
    split's ``indptr`` and ``indices``; per-synapse delays the same. O(nnz).

    Raises
    ------
    FixedPointError
    """
    weights = fixed.weights
    if not sp.issparse(weights[0]):
        return
    first = weights[0]
    for k, w in enumerate(weights):
        field = f"weights[{k}]"
        if not sp.isspmatrix_csr(w) or not np.issubdtype(w.data.dtype, np.integer):
            raise FixedPointError(f"{field} must be an integer csr_matrix, got {type(w).__name__} of "
                                  f"{w.dtype}", field=field, value=str(w.dtype), allowed="an integer csr_matrix")
        if w.indices.size != w.data.size or w.indptr.size != w.shape[0] + 1:
            raise FixedPointError(f"{field}: corrupt CSR arrays", field=field, allowed="a valid csr_matrix")
        if k == 0:
            if not first.has_canonical_format:
                raise FixedPointError(f"{field}: CSR indices must be sorted without duplicates",
                                      field=field, allowed="canonical CSR")
        elif not same_pattern(w, first):
            raise FixedPointError(f"{field}: its sparsity pattern differs from weights[0]'s (every split must "
                                  f"share one indptr/indices, explicit zeros where it contributes nothing)",
                                  field=field, allowed="the pattern of weights[0]")
    d = fixed.delays
    if sp.issparse(d) and not (same_pattern(d, first) and np.issubdtype(d.data.dtype, np.integer)):
        raise FixedPointError("delays: a sparse delay matrix must hold integers with exactly the weights' "
                              "pattern", field="delays", allowed="the pattern of weights[0]")


def integer_scalar(name: str, value) -> int:
    """``value`` as a Python int: an integer (not a bool), or a float with an integer
    value; anything else (strings, 2.5, nan, True) raises :class:`FixedPointError`."""
    if isinstance(value, (bool, np.bool_)):
        raise FixedPointError(f"{name} must be an integer, got {value!r}", field=name, value=value,
                              allowed="an integer")
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real) and np.isfinite(value) and float(value) == int(value):
        return int(value)
    raise FixedPointError(f"{name} must be an integer, got {value!r}", field=name, value=value,
                          allowed="an integer")


def weight_range(sign_mode: str, register_bits: int, weight_bits: int) -> Tuple[int, int, int]:
    r"""``(lo, hi, step)`` of the mantissas a split holds in ``sign_mode`` with
    ``weight_bits`` significant bits in a ``register_bits`` register: multiples of
    ``step`` :math:`= 2^{R - b + [\text{mixed}]}` in ``[lo, hi]`` (see
    :mod:`compiler.hardware.encoding`; for ``R = 8`` the values Lava Dense keeps unchanged)."""
    mixed = int(sign_mode == "mixed")
    step = 1 << (register_bits - weight_bits + mixed)
    top = (1 << register_bits) - step
    return {"excitatory": (0, top, step), "inhibitory": (-top, 0, step),
            "mixed": (-(1 << register_bits), top, step)}[sign_mode]


def _split_sign_mode(field, w, register_bits, weight_bits, why, where) -> str:
    """The sign mode in which split ``w`` is representable (as Lava's
    ``determine_sign_mode``; an all-non-positive matrix reaching ``-2**R`` falls back to
    mixed), else FixedPointError with the count and an example entry. CSR: its stored
    values (zeros fit every mode)."""
    matrix = w
    if sp.issparse(w):
        w = w.data
    wmin, wmax = (int(w.min()), int(w.max())) if w.size else (0, 0)
    modes = ["excitatory"] if wmin >= 0 else (["inhibitory", "mixed"] if wmax <= 0 else ["mixed"])
    for mode in modes:
        lo, hi, step = weight_range(mode, register_bits, weight_bits)
        if lo <= wmin and wmax <= hi and (step == 1 or not np.any(np.bitwise_and(w, step - 1))):
            return mode
    mode = modes[0]
    lo, hi, step = weight_range(mode, register_bits, weight_bits)
    allowed = f"multiples of {step} in [{lo}, {hi}]" if step > 1 else f"[{lo}, {hi}]"
    outside = (w < lo) | (w > hi)
    if np.any(outside):  # report the range first, with the largest offender
        bad, what = outside, f"out of range [{lo}, {hi}]"
        flat = np.flatnonzero(bad)
        example = int(flat[np.argmax(np.abs(w.ravel()[flat]))])
    else:
        bad, what = np.bitwise_and(w, step - 1) != 0, f"not multiples of {step}"
        flat = np.flatnonzero(bad)
        example = int(flat[0])
    index = _entry_index(matrix, example)
    value = int(w.ravel()[example])
    count = int(flat.size)
    context = "; ".join(x for x in (why, where) if x)
    raise FixedPointError(
        f"{field}: {count} entr{'y is' if count == 1 else 'ies are'} not representable with "
        f"num_weight_bits = {weight_bits} in {mode} sign mode ({what}; allowed: {allowed}); e.g. "
        f"{value} at index {index} ({context})", field=field, value=value, allowed=allowed,
        count=count, index=index, config=where)


def describe_config(cfg: Optional[HardwareConfig]) -> str:
    """``"hardware config 'loihi2' (/path/loihi2.toml)"``, for messages."""
    if cfg is None:
        return "no hardware config recorded: config-independent limits"
    return f"hardware config {cfg.name!r}" + (f" ({cfg.path})" if cfg.path else "")


# ---------------------------------------------------------------------- structure
def check_structure(fixed) -> None:
    """The checks that need no hardware config: every value within what *some* config
    of the schema (:mod:`compiler.hardware.config`) can hold (``weight_exp``: any shift of the
    32-bit word, :data:`WEIGHT_EXP_WORD_RANGE`), and consistent with the network's own
    :class:`ChipArithmetic`. Called by ``FixedPointNetwork.__post_init__``
    (shapes and integer types are established there) and by :func:`check_fixed_point`.
    Cost: two reductions per array (O(nnz) for sparse networks, plus the layout
    check :func:`check_sparse_layout`).

    Raises
    ------
    FixedPointError
    """
    where = "widest range of any hardware config"
    check_sparse_layout(fixed)
    ar = fixed.arithmetic
    if not isinstance(ar, ChipArithmetic):
        raise FixedPointError(f"arithmetic must be a ChipArithmetic, got {type(ar).__name__}",
                              field="arithmetic", value=ar, allowed="a ChipArithmetic")
    for attr, field_name, key in _ARITHMETIC_FIELDS:
        value = integer_scalar(f"arithmetic.{attr}", getattr(ar, attr))
        _check_scalar(f"arithmetic.{attr}", value, *_SCHEMA_RANGE[field_name], f"config key {key}", where)
    _check_scalar("num_weight_bits", fixed.num_weight_bits, *_SCHEMA_RANGE["weight_mantissa_bits"],
                  "weights.mantissa_bits", where)
    for k, e in enumerate(fixed.weight_exps):
        _check_scalar(f"weight_exps[{k}]", e, *WEIGHT_EXP_WORD_RANGE,
                      "a shift of the 32-bit summed-input word; Lava's Dense accepts any", where)
    reg = _SCHEMA_RANGE["weight_mantissa_bits"][1]
    for k, w in enumerate(fixed.weights):
        _check_array(f"weights[{k}]", w, -(1 << reg), (1 << reg) - 1, f"{reg}-bit weight register", where)
    bbits = _SCHEMA_RANGE["bias_mantissa_bits"][1]
    _check_array("bias_mant", fixed.bias_mant, -(1 << (bbits - 1)), (1 << (bbits - 1)) - 1,
                 f"{bbits}-bit signed bias mantissa", where)
    _check_array("bias_exp", fixed.bias_exp, _SCHEMA_RANGE["bias_exponent_min"][0],
                 _SCHEMA_RANGE["bias_exponent_max"][1], "bias.exponent_min/max", where)
    if fixed.delays is not None:
        _check_array("delays", fixed.delays, 0, _SCHEMA_RANGE["max_delay_steps"][1], "weights.max_delay_steps",
                     where)
    _check_threshold(fixed, (1 << _SCHEMA_RANGE["threshold_mantissa_bits"][1]) - 1, "threshold.mantissa_bits",
                     where)
    decay_max = (1 << ar.decay_bits) - 1
    for name in ("du", "dv"):
        _check_scalar(name, getattr(fixed, name), 0, decay_max,
                      f"{ar.decay_bits}-bit decay of the network's arithmetic", "")


def _check_threshold(fixed, vth_max, why, where):
    """``1 <= vth <= vth_max`` and ``vth << shift`` below the largest voltage."""
    ar = fixed.arithmetic
    fire_max = (ar.state_max - 2) >> ar.threshold_shift  # largest vth with vth << shift < v_max
    top = min(vth_max, fire_max)
    if 1 <= fixed.vth <= top:
        return
    if fixed.vth < 1:
        reason = f"vth must be > 0: v > vth << {ar.threshold_shift} would fire at rest; {why}"
    elif fixed.vth > vth_max:
        reason = why
    else:
        reason = (f"vth << {ar.threshold_shift} must stay below the largest voltage 2**{ar.state_bits - 1} - 1, "
                  f"or no neuron can fire")
    _fail("vth", fixed.vth, f"[1, {top}]", reason, where)


# ---------------------------------------------------------------------- the check
def resolve_config(fixed, hw=None) -> Optional[HardwareConfig]:
    """The config ``fixed`` is checked against: ``hw`` (name, path or
    :class:`HardwareConfig`), else ``info["hw"]`` (re-validated against the schema),
    else None (a hand-built network: ``hw_name`` alone, a default, commits it to no
    config's ranges).

    Raises
    ------
    FixedPointError
        ``info["hw"]`` is not a valid config (field ``info['hw']``).
    ConfigError
        ``hw`` names no config.
    """
    if hw is not None:
        cfg = HardwareConfig.load(hw)
        return cfg.validated()
    recorded = (fixed.info or {}).get("hw")
    if recorded:
        source = f"info['hw'] of a network compiled for {fixed.hw_name!r}"
        try:
            fingerprint = tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in recorded.items()))
            hash(fingerprint)
        except (TypeError, AttributeError):
            fingerprint = None
        if fingerprint is not None and fingerprint in _RECORDED_CONFIGS:
            return _RECORDED_CONFIGS[fingerprint]
        try:
            cfg = HardwareConfig.from_flat_dict(recorded).validated(source=source)
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            message = str(exc) if isinstance(exc, ConfigError) else f"{type(exc).__name__}: {exc}"
            raise FixedPointError(f"info['hw'] (the recorded hardware config) is invalid: {message}",
                                  field="info['hw']", value=None, allowed="a valid hardware config",
                                  config=source) from None
        if fingerprint is not None:
            if len(_RECORDED_CONFIGS) >= 64:
                _RECORDED_CONFIGS.clear()
            _RECORDED_CONFIGS[fingerprint] = cfg
        return cfg
    return None


_RECORDED_CONFIGS: dict = {}
"""Validated configs by the content of a recorded ``info["hw"]`` (a few per session)."""


def check_fixed_point(fixed, hw=None, *, lava: bool = False) -> Tuple[str, ...]:
    """Check every integer of ``fixed`` against its hardware config (see the module
    docstring for the list); with ``lava=True`` also against what Lava's ``fixed_pt``
    models run unchanged (:data:`LAVA_LIMITS`, ``LAVA_LOIHI`` arithmetic, a
    Lava-runnable config).

    Parameters
    ----------
    fixed : FixedPointNetwork
    hw : str, path or HardwareConfig, optional
        Config to check against; default the one recorded in ``fixed.info["hw"]``,
        else none for a hand-built network (see :func:`resolve_config`).
    lava : bool
        Also require what :func:`compiler.run_lava` needs.

    Returns
    -------
    tuple of str
        The sign mode of each split (``"excitatory"``, ``"inhibitory"``, ``"mixed"``),
        the modes Lava's Dense needs.

    Raises
    ------
    FixedPointError (a ValueError)
        The first field out of range, naming the field, the value (or count and an
        example index), the allowed range and the config. With ``lava=True`` and an
        emulator-only config: the config's refusal (:meth:`HardwareConfig.lava_refusal`).
    TypeError
        ``fixed`` is not a FixedPointNetwork.

    The verdict is cached on ``fixed`` per (config, ``lava``, recorded split count,
    compiled or hand-built).
    """
    _require_network(fixed)
    cfg = resolve_config(fixed, hw)
    info = fixed.info or {}
    recorded_splits = _recorded_splits(info)
    options = info.get("options") if isinstance(info.get("options"), dict) else {}
    bias_bits = options.get("bias_bits")
    # The arrays are read-only and the dataclass frozen: the key holds what can still
    # change (the config resolved from info, info's records) plus the identity of each
    # field, so even an object.__setattr__ on a field is checked again.
    fields = (fixed.vth, fixed.du, fixed.dv, fixed.num_weight_bits, fixed.weight_exps, fixed.dt, fixed.arithmetic,
              tuple(id(w) for w in fixed.weights), id(fixed.bias_mant), id(fixed.bias_exp), id(fixed.delays))
    key = (cfg, bool(lava), "fold" in info, recorded_splits, bias_bits if isinstance(bias_bits, int) else None,
           hw is None and bool(info.get("hw")), fixed.hw_name, fields)
    cache = fixed.__dict__.setdefault("_validation_cache", {})
    if key in cache:
        return cache[key]
    modes = _check(fixed, cfg, lava, recorded_splits, bias_bits, from_info=key[5])
    cache[key] = modes
    return modes


def _recorded_splits(info):
    out = []
    for section, name in (("splits", "chosen"), ("weight_precision", "weight_splits")):
        value = info.get(section, {}).get(name) if isinstance(info.get(section), dict) else None
        if value is not None:
            hashable = value if isinstance(value, int) and not isinstance(value, bool) else repr(value)
            out.append((f"info['{section}']['{name}']", hashable))
    return tuple(out)


def _check(fixed, cfg, lava, recorded_splits, bias_bits, from_info) -> Tuple[str, ...]:
    where = describe_config(cfg)
    check_sparse_layout(fixed)
    if lava and cfg is not None and not cfg.lava_runnable:
        raise FixedPointError(cfg.lava_refusal(), field="hw", value=cfg.name, allowed="lava_runnable = true",
                              config=where)
    if cfg is None and not lava:
        check_structure(fixed)  # with a config (or Lava's limits) the checks below are narrower
    ar = fixed.arithmetic
    n_splits = fixed.n_splits
    for name, value in recorded_splits:
        if value != n_splits:
            raise FixedPointError(f"n_splits = {n_splits} (weight matrices stored) disagrees with {name} = "
                                  f"{value}", field="n_splits", value=n_splits, allowed=f"{value!r}",
                                  config=where)
    if lava:
        if ar != LAVA_LOIHI:
            raise FixedPointError(f"Lava's LIF/Dense models implement LAVA_LOIHI arithmetic only; this network "
                                  f"was compiled for {ar}", field="arithmetic", value=ar,
                                  allowed=str(LAVA_LOIHI), config=where)
    if cfg is not None:
        if from_info and cfg.name != fixed.hw_name:
            raise FixedPointError(f"hw_name = {fixed.hw_name!r} disagrees with the recorded config's name "
                                  f"{cfg.name!r} (info['hw'])", field="hw_name", value=fixed.hw_name,
                                  allowed=repr(cfg.name), config=where)
        if ar != cfg.arithmetic:
            diff = ", ".join(f"{f} = {getattr(ar, f)} (config: {getattr(cfg.arithmetic, f)})"
                             for f in ChipArithmetic.__dataclass_fields__
                             if getattr(ar, f) != getattr(cfg.arithmetic, f))
            raise FixedPointError(f"arithmetic disagrees with {where}: {diff}", field="arithmetic", value=ar,
                                  allowed=str(cfg.arithmetic), config=where)
    if cfg is None and not lava:
        return tuple(_mode_only(w) for w in fixed.weights)  # config-free checks only
    if cfg is None:  # lava=True without a config: Lava's limits below, any 32-bit word shift
        for k, e in enumerate(fixed.weight_exps):
            _check_scalar(f"weight_exps[{k}]", e, *WEIGHT_EXP_WORD_RANGE,
                          "a shift of the 32-bit summed-input word; Lava's Dense accepts any", where)

    # Limits: the config's, intersected with Lava's for lava=True.
    def lim(field_name, lava_key=None, smaller=True):
        values = [getattr(cfg, field_name)] if cfg is not None else []
        if lava:
            values.append(LAVA_LIMITS[lava_key or field_name])
        return min(values) if smaller else max(values)

    register = lim("weight_register_bits")
    wbits_max = lim("weight_mantissa_bits", "weight_register_bits")
    wb_why = "; ".join(([f"weights.mantissa_bits = {cfg.weight_mantissa_bits}"] if cfg is not None else []) +
                       ([f"Lava Dense holds at most {LAVA_LIMITS['weight_register_bits']}-bit weights"]
                        if lava else []))
    _check_scalar("num_weight_bits", fixed.num_weight_bits, 2, wbits_max, wb_why, where)

    if cfg is not None:
        for k, e in enumerate(fixed.weight_exps):
            _check_scalar(f"weight_exps[{k}]", e, cfg.weight_exponent_min, cfg.weight_exponent_max,
                          "weights.exponent_min/max", where)
    reg_why = (f"{register}-bit weight register" + (" of Lava Dense" if lava else "")
               + (f", weights.mantissa_bits = {cfg.weight_mantissa_bits}" if cfg is not None else ""))
    modes = tuple(_split_sign_mode(f"weights[{k}]", w, register, fixed.num_weight_bits, reg_why, where)
                  for k, w in enumerate(fixed.weights))
    if "fold" in (fixed.info or {}):
        for k, w in enumerate(fixed.weights):
            diag = w.diagonal() if sp.issparse(w) else np.diagonal(w)
            bad = diag != 0
            if np.any(bad):
                i = int(np.flatnonzero(bad)[0])
                raise FixedPointError(
                    f"weights[{k}]: {int(bad.sum())} non-zero diagonal entr{'y' if bad.sum() == 1 else 'ies'}, "
                    f"e.g. {int(diag[i])} at index ({i}, {i}) (allowed: 0; a compiled network has no "
                    f"self-connections, its reset is the self-interaction; {where})",
                    field=f"weights[{k}]", value=int(diag[i]), allowed="0 on the diagonal",
                    count=int(bad.sum()), index=(i, i), config=where)

    bbits = lim("bias_mantissa_bits")
    if cfg is not None and not lava and isinstance(bias_bits, int) and not isinstance(bias_bits, bool):
        if cfg.bias_mantissa_bits < bias_bits <= BIAS_BITS_RANGE[1]:
            bbits = bias_bits  # compile(bias_bits=) override: emulator only (lava_compatible False)
    bias_why = f"{bbits}-bit signed mantissa" + (
        " (compile's bias_bits)" if cfg is not None and bbits != cfg.bias_mantissa_bits and not lava
        else ", bias.mantissa_bits")
    _check_array("bias_mant", fixed.bias_mant, -(1 << (bbits - 1)), (1 << (bbits - 1)) - 1, bias_why, where)
    _check_array("bias_exp", fixed.bias_exp, lim("bias_exponent_min", smaller=False), lim("bias_exponent_max"),
                 "bias.exponent_min/max", where)
    _check_threshold(fixed, (1 << lim("threshold_mantissa_bits")) - 1,
                     f"{lim('threshold_mantissa_bits')}-bit mantissa, threshold.mantissa_bits", where)
    decay_bits = lim("decay_bits")
    for name in ("du", "dv"):
        _check_scalar(name, getattr(fixed, name), 0, (1 << decay_bits) - 1, f"{decay_bits}-bit decay, decay.bits",
                      where)
    if fixed.delays is not None:
        _check_array("delays", fixed.delays, 0, lim("max_delay_steps"),
                     "DelayDense delays, weights.max_delay_steps" + (" (Lava: 6-bit)" if lava else ""), where)
    return modes


def _mode_only(w) -> str:
    """Sign mode of a split by its signs alone (no register known)."""
    if sp.issparse(w):
        w = w.data
    if w.size == 0 or w.min() >= 0:
        return "excitatory"
    return "inhibitory" if w.max() <= 0 else "mixed"


_NETWORK_FIELDS = ("weights", "weight_exps", "bias_mant", "bias_exp", "vth", "du", "dv", "dt",
                   "num_weight_bits", "delays", "hw_name", "arithmetic", "info")


def _require_network(fixed) -> None:
    """TypeError unless ``fixed`` has every field of a :class:`compiler.FixedPointNetwork`
    (checked by its fields: this module does not import :mod:`compiler.quantization.fixed_point`,
    which imports it)."""
    if not all(hasattr(fixed, name) for name in _NETWORK_FIELDS):
        raise TypeError(f"fixed must be a FixedPointNetwork, got {type(fixed).__name__}")
