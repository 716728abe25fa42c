r"""What Lava's fixed-point models keep exactly, checked before any Lava process is built.

Lava's models (lava-nc 0.10) clip, truncate or mis-cast out-of-range values silently,
so the backend refuses them instead. This module holds those limits (the constants
below), the weights Lava's ``Dense`` keeps unchanged in each sign mode
(:func:`representable_weight_range`, :func:`weight_sign_mode`), the whole-network
check (:func:`check_lava_compatible`, after :func:`lava_refusal` of emulator-only
configs) and the choice between ``Dense`` and ``Sparse`` connections
(:func:`resolve_connectivity`).

Nothing here imports Lava: the checks run, and give the same answers, where Lava is
not installed.
"""
from __future__ import annotations

from typing import Tuple

import numpy as np

from compiler.hardware.config import LAVA_WEIGHT_REGISTER_BITS
from compiler.quantization.fixed_point import FixedPointNetwork

# Limits of Lava's fixed-point models (lava-nc 0.10): values outside them are clipped,
# truncated or mis-cast silently by Lava, so run_lava refuses them.
LAVA_WEIGHT_BITS = LAVA_WEIGHT_REGISTER_BITS
"""Dense clips weights to 8 bits (``clip_weights(..., num_bits=8)`` in ``models.py``):
the register width; ``num_weight_bits`` (the weight bits, <= 8) floors away the rest."""
LAVA_MAX_DELAY = 63
"""DelayDense delays are 6-bit (a larger one raises inside the process model)."""
BIAS_MANT_RANGE = (-(2 ** 12), 2 ** 12 - 1)
"""``bias_mant``: signed 13-bit (``PyLifModelBitAcc``)."""
BIAS_EXP_RANGE = (0, 7)
"""``bias_exp``: unsigned 3-bit."""
VTH_RANGE = (0, 2 ** 17 - 1)
"""``vth``: unsigned 17-bit mantissa."""
DECAY_RANGE = (0, 2 ** 12 - 1)
"""``du``, ``dv``: unsigned 12-bit."""

SIGN_MODES = ("excitatory", "inhibitory", "mixed")
"""Lava ``SignMode`` names (``lava.utils.weightutils``) used by :func:`weight_sign_mode`."""

CONNECTIVITIES = ("auto", "dense", "sparse")
"""``connectivity`` choices of :func:`compiler.run_lava`."""
SPARSE_DENSITY = 0.25
"""``connectivity="auto"`` uses Lava ``Sparse`` for dense weights when at most this
fraction of them (over all splits) is non-zero and there are no per-synapse delays
(sparse weights always use it)."""


def check_choice(name: str, value, choices) -> None:
    """ValueError naming ``name`` and the valid ``choices`` unless ``value`` is one."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")


# --------------------------------------------------------------------- weights
def representable_weight_range(sign_mode: str, num_weight_bits: int = LAVA_WEIGHT_BITS
                               ) -> Tuple[int, int, int]:
    r"""The integer weights Lava's fixed-point Dense keeps unchanged.

    Dense clips weights to 8 bits and then floors away the low bits
    (``clip_weights``, ``truncate_weights`` in ``lava/utils/weightutils.py``). A weight
    ``w`` survives both unchanged if and only if

    .. math::

        \mathrm{lo} \le w \le \mathrm{hi} \quad\text{and}\quad w \equiv 0 \pmod{\mathrm{step}},
        \qquad \mathrm{step} = 2^{8 - n_w + m},

    with :math:`n_w` = ``num_weight_bits`` and :math:`m = 1` in mixed sign mode (the
    sign takes one of the 8 bits), 0 otherwise:

    ============  =================  =========================  ===================
    sign_mode     lo                 hi                         for n_w = 8
    ============  =================  =========================  ===================
    excitatory    0                  256 - step                 [0, 255], step 1
    inhibitory    -(256 - step)      0                          [-255, 0], step 1
    mixed         -256               256 - step                 even in [-256, 254]
    ============  =================  =========================  ===================

    Parameters
    ----------
    sign_mode : {"excitatory", "inhibitory", "mixed"}
    num_weight_bits : int
        Dense ``num_weight_bits``, 1..8.

    Returns
    -------
    (lo, hi, step) : tuple of int
    """
    if sign_mode not in SIGN_MODES:
        raise ValueError(f"sign_mode must be one of {SIGN_MODES}, got {sign_mode!r}")
    _check_weight_bits(num_weight_bits)
    mixed = int(sign_mode == "mixed")
    if mixed and num_weight_bits == 1:
        raise ValueError("num_weight_bits = 1 leaves no magnitude bit in mixed sign mode")
    step = 2 ** (LAVA_WEIGHT_BITS - num_weight_bits + mixed)
    top = 2 ** LAVA_WEIGHT_BITS - step
    return {"excitatory": (0, top, step), "inhibitory": (-top, 0, step),
            "mixed": (-(2 ** LAVA_WEIGHT_BITS), top, step)}[sign_mode]


def _check_weight_bits(num_weight_bits):
    valid = isinstance(num_weight_bits, (int, np.integer)) and 1 <= num_weight_bits <= LAVA_WEIGHT_BITS
    if not valid:
        raise ValueError(f"num_weight_bits must be an integer in 1..{LAVA_WEIGHT_BITS} "
                         f"(Lava Dense holds at most {LAVA_WEIGHT_BITS}-bit weights), "
                         f"got {num_weight_bits!r}")


def _representable(weights: np.ndarray, sign_mode: str, num_weight_bits: int) -> np.ndarray:
    """Boolean mask of the entries Lava keeps unchanged in ``sign_mode``."""
    lo, hi, step = representable_weight_range(sign_mode, num_weight_bits)
    return (weights >= lo) & (weights <= hi) & (weights % step == 0)


def weight_sign_mode(weights, num_weight_bits: int = LAVA_WEIGHT_BITS,
                     name: str = "weights") -> str:
    """The sign mode in which Lava keeps every entry of ``weights`` exactly.

    Lava's own choice (``determine_sign_mode``) is tried first: ``"excitatory"``
    when all entries are >= 0 (an all-zero matrix included), ``"inhibitory"`` when
    all are <= 0, ``"mixed"`` otherwise. An all-non-positive matrix that reaches
    -256 with only multiples of the mixed step falls back to ``"mixed"``.
    :func:`compiler.run_lava` passes the result explicitly as Dense's ``sign_mode``.

    Raises
    ------
    ValueError
        When no sign mode represents every entry; the message names the limit, the
        number of offending entries and the worst one.
    """
    w = np.asarray(weights, dtype=np.int64)
    _check_weight_bits(num_weight_bits)
    if w.size == 0 or w.min() >= 0:
        modes = ["excitatory"]
    elif w.max() <= 0:
        modes = ["inhibitory", "mixed"]
    else:
        modes = ["mixed"]
    modes = [m for m in modes if not (m == "mixed" and num_weight_bits == 1)]
    if not modes:
        raise ValueError(f"{name}: mixed-sign weights need num_weight_bits >= 2 "
                         f"(the sign takes one of Lava's {LAVA_WEIGHT_BITS} bits)")
    for mode in modes:
        if np.all(_representable(w, mode, num_weight_bits)):
            return mode
    mode = modes[0]
    lo, hi, step = representable_weight_range(mode, num_weight_bits)
    bad = ~_representable(w, mode, num_weight_bits)
    worst = int(w[bad][np.argmax(np.abs(w[bad]))])
    raise ValueError(
        f"{name}: {int(bad.sum())} entr{'y is' if bad.sum() == 1 else 'ies are'} not representable "
        f"by Lava Dense with num_weight_bits={num_weight_bits} in {mode} sign mode "
        f"(allowed: multiples of {step} in [{lo}, {hi}]); e.g. {worst}. Lava would silently "
        f"clip/truncate it: quantize to representable values instead.")


# -------------------------------------------------------------- validation
def lava_refusal(fixed: FixedPointNetwork) -> str:
    """"" when ``fixed`` was compiled for a Lava-runnable config (or carries no config),
    else the one-line reason: the config's name and file, ``lava_runnable = false`` and
    its ``emulator_only_reason`` (:meth:`compiler.HardwareConfig.lava_refusal`)."""
    hw = (fixed.info or {}).get("hw")
    if not hw or hw.get("lava_runnable", True):
        return ""
    from compiler.hardware.config import HardwareConfig
    try:
        return HardwareConfig.from_flat_dict(hw).lava_refusal()
    except TypeError:  # a config dict from another version: name and flag only
        return (f"hardware config {hw.get('name', fixed.hw_name)!r} is emulator-only (lava_runnable = false: "
                f"{hw.get('emulator_only_reason') or 'no reason recorded'}); run it with compiler.emulate")


def check_lava_compatible(fixed: FixedPointNetwork) -> Tuple[str, ...]:
    """Check that Lava runs ``fixed`` without silently changing any parameter.

    First refuses a network compiled for an emulator-only config
    (``lava_runnable = false``, :func:`lava_refusal`). Then checks the datapath
    (:data:`compiler.LAVA_LOIHI`), the weights of every split (:func:`weight_sign_mode`
    with the network's ``num_weight_bits``), delays (<= 63), ``bias_mant`` (13-bit
    signed), ``bias_exp`` (0..7), ``vth`` (17-bit) and ``du``/``dv`` (12-bit).

    Returns
    -------
    tuple of str
        The sign mode of each split, in order.

    Raises
    ------
    ValueError
        Naming the first parameter out of Lava's range and the limit.
    """
    from compiler.quantization.validate import check_fixed_point  # the one check of ranges
    return check_fixed_point(fixed, lava=True)


# ------------------------------------------------------------ connectivity
def weight_density(fixed: FixedPointNetwork) -> float:
    """Fraction of (target, source) pairs with a non-zero weight in any split: O(N^2)
    for dense weights, O(s nnz) for sparse ones (never densified)."""
    if fixed.is_sparse:
        nonzero = np.zeros(fixed.weights[0].nnz, bool)  # splits share one pattern
        for w in fixed.weights:
            nonzero |= w.data != 0
        return float(np.count_nonzero(nonzero)) / float(fixed.n) ** 2
    nonzero = np.zeros((fixed.n, fixed.n), bool)
    for w in fixed.weights:
        nonzero |= np.asarray(w) != 0
    return float(nonzero.mean())


def resolve_connectivity(fixed: FixedPointNetwork, connectivity: str = "auto") -> str:
    """``"dense"`` or ``"sparse"``: what :func:`~compiler.backends.lava.build.build_lava_network`
    will use.

    Sparse (Lava ``Sparse``, or ``DelaySparse`` with delays: CSR weights, the same
    clip/truncate/shift arithmetic as ``Dense``/``DelayDense``). ``"auto"`` takes it for
    a network with sparse (CSR) weights, and for dense weights without delays when at
    most :data:`SPARSE_DENSITY` of them are non-zero. ``"dense"`` on sparse weights is a
    ValueError: Lava's ``Dense`` holds the N x N matrix, which a sparse network never
    builds.
    """
    check_choice("connectivity", connectivity, CONNECTIVITIES)
    sparse_weights = fixed.is_sparse
    if connectivity == "dense" and sparse_weights:
        n = fixed.n
        raise ValueError(f"connectivity='dense' needs the {n} x {n} weight matrices "
                         f"({fixed.n_splits} x {8 * n * n / 2**30:.3g} GiB as int64) of a network "
                         "stored sparse; use 'sparse' or 'auto' (Lava Sparse/DelaySparse)")
    if connectivity == "auto":
        sparse = sparse_weights or (fixed.delays is None and weight_density(fixed) <= SPARSE_DENSITY)
        return "sparse" if sparse else "dense"
    return connectivity
