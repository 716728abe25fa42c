r"""Hardware targets: one validated TOML file per chip in ``compiler/hardware/configs/``.

A :class:`HardwareConfig` holds every bit width, range and per-core limit the compiler
uses, each a named field read from a file such as ``compiler/hardware/configs/loihi2.toml`` (every
value there carries a comment with its source). Adding a chip is adding a file.

Schema (all keys required unless marked, unknown keys rejected)::

    format_version = 1            name = "..."   description = "..."
    lava_runnable = true|false    unverified = ["section.key", ...]
    emulator_only_reason = "..."  (required with lava_runnable = false, rejected otherwise)
    [weights]    mantissa_bits exponent_min exponent_max max_delay_steps dense_latency_steps
    [bias]       mantissa_bits exponent_min exponent_max
    [threshold]  mantissa_bits shift
    [state]      current_bits voltage_bits activation_shift synaptic_input_bits
    [decay]      bits current_offset voltage_offset
    [core]       neurons_per_core cores_per_chip synapse_memory_bits input_axons_per_core
                 output_axons_per_core threshold_profiles_per_core
    [energy]     synaptic_op_pj neuron_update_pj
    [neuron]     (optional table) reset = "hard" (default) | "subtract"
    [board]      (optional table) chips_per_board, inter_chip_spike_pj (optional)
    [runtime]    (optional table) neuron_update_ns synaptic_op_ns spike_out_ns link_message_ns
                 barrier_ns cores_per_router mesh_columns, and (optional) chip_link_message_ns
                 chip_barrier_ns static_power_w

The optional ``[neuron]`` table says what a spike does to the voltage: ``reset =
"hard"`` (the default when the table or key is absent) sets it to 0, as Lava's LIF and
Loihi 2's stock neuron do; ``reset = "subtract"`` subtracts the threshold and keeps the
overshoot, a custom microcode neuron that only :func:`compiler.emulate` runs (Lava's LIF
cannot, so :data:`LAVA_DATAPATH` requires ``"hard"``; ``loihi2_subtractive.toml`` is
Loihi 2 with it, a hypothetical target). :attr:`HardwareConfig.reset_mode` holds it and
:attr:`HardwareConfig.arithmetic` carries it to the emulator (:class:`ChipArithmetic`
``reset``).

The optional ``[board]`` table describes a board of identical chips (e.g.
``kapoho_point.toml``: 8 Loihi 2 chips): ``chips_per_board`` bounds the chips
:func:`compiler.place` may use (it refuses a network that needs more, naming the binding
limit), and ``inter_chip_spike_pj``, when given, prices each spike that crosses chips in
:func:`compiler.estimate_cost` (an estimate, like the other energy figures). Configs
without it describe one chip and leave the chip count unbounded.

The optional ``[runtime]`` table holds the constants of the wall-clock model of
:mod:`compiler.deploy.runtime_model` (time per neuron update, synaptic op, outgoing spike
message and mesh-link message, the per-step barrier, the mesh layout, and optionally an
inter-chip link time, a per-extra-chip barrier and a static power). Configs without it
get no wall-clock estimate (:func:`compiler.deploy.runtime_model.step_time` refuses them,
naming the table). Like ``[energy]``, these figures are estimates; each carries its source
in the TOML file and the uncertain ones are listed in ``unverified``.

Weight bits: one definition
---------------------------
The **weight bits** :math:`b` of a connection are its *significant* bits per split: the
bits Lava's ``Dense`` calls ``num_weight_bits``. One split holds a mantissa
:math:`m = n\,2^{s}` with

.. math::

    n \in [0,\ 2^{b} - 1] \text{ (excitatory)},\quad
    [-(2^{b} - 1),\ 0] \text{ (inhibitory)},\quad
    [-2^{b-1},\ 2^{b-1} - 1] \text{ (mixed)}, \qquad
    s = R - b + [\text{mixed}],

stored in a register of :math:`R` bits (:attr:`HardwareConfig.weight_register_bits`),
and one spike delivers :math:`n\,2^{q}` summed-input units, :math:`q = s + e`
(``weight_exp`` :math:`e`). So a :math:`b`-bit weight has :math:`2^{b}` levels whatever
:math:`R` is; :math:`R` only shifts where the exponent range puts them. This is what
``compile(weight_bits=b)`` means, what a sweep over ``weight_bits`` varies and what
``FixedPointNetwork.num_weight_bits`` holds (passed to Lava's Dense unchanged).

A config's ``weights.mantissa_bits`` is the chip's weight bits: the default and the
largest ``b`` a compile may ask for (more raises, naming both). The register width
:math:`R` follows from the backend: on a Lava-runnable config it is Lava Dense's
8-bit register (:data:`LAVA_WEIGHT_REGISTER_BITS`; ``clip_weights(..., num_bits=8)``
then ``truncate_weights`` in ``lava/utils/weightutils.py``), so ``mantissa_bits = 6``
there means ``num_weight_bits = 6``: mantissas that are multiples of 4 in ``[0, 252]``
(excitatory) or ``[-252, 0]`` (inhibitory) and multiples of 8 in ``[-256, 248]``
(mixed), exactly what ``compile(hw="loihi2", weight_bits=6)`` emits, and which Lava
keeps unchanged. On an emulator-only config (``lava_runnable = false``, e.g.
``wide16``) the register is the mantissa itself, :math:`R = b`.

With ``k`` splits (:mod:`compiler.hardware.encoding`) the effective precision of a connection
is :math:`b + (q_1 - q_k)` bits (at most :math:`k\,b`): :func:`compiler.deploy.report.weight_precision`.

Lava-runnable configs
---------------------
``lava_runnable = true`` is checked against what Lava's ``fixed_pt`` models hard-code
(:data:`LAVA_DATAPATH`: 8-bit weight register, 13-bit bias mantissa, 3-bit bias
exponent, 17-bit threshold mantissa shifted by 6, 24-bit state, 6-bit activation shift,
12-bit decays with offsets 1 and 0, 6-bit delays, one step of Dense latency); a config
that differs must say ``lava_runnable = false`` with an ``emulator_only_reason``, and
:func:`compiler.run_lava` refuses networks compiled for it up front.

The bias mantissa is signed (``mantissa_bits`` including the sign).

What the emulator honours
-------------------------
Every key the compiler reads is either honoured by :func:`compiler.emulate` (and by
:func:`compiler.run_lava` on a Lava-runnable config) or refused when the config is
loaded (:data:`EMULATOR_DATAPATH`, checked for every config, Lava-runnable or not):

=================================  =======================================================
key                                where it acts
=================================  =======================================================
weights.mantissa_bits              weight register / ``num_weight_bits``: the range of
                                   every mantissa (:func:`compiler.quantization.validate.check_fixed_point`)
weights.exponent_min,              range of ``weight_exp``; the emulator shifts each
weights.exponent_max               split's summed input by it
weights.max_delay_steps            range of ``DelayDense`` delays; the emulator's delay ring
weights.dense_latency_steps        **must be 1**: the emulator and Lava's Dense deliver a
                                   spike on the next step only; other values are refused
                                   on load (:data:`EMULATOR_DATAPATH`)
bias.mantissa_bits,                range of ``bias_mant`` / ``bias_exp``; the emulator adds
bias.exponent_min,                 ``bias_mant << bias_exp`` every step
bias.exponent_max
threshold.mantissa_bits,           range of ``vth``; the emulator fires on
threshold.shift                    ``v > vth << shift`` (``ChipArithmetic.threshold_shift``)
state.current_bits                 width of ``u`` (wraps); must equal ``state.voltage_bits``:
                                   the emulator models one state width (refused otherwise)
state.voltage_bits                 width of ``v`` (saturates), ``ChipArithmetic.state_bits``
state.activation_shift             the emulator shifts the summed input by it; the compiler
                                   warns when the shift zeroes weights (:mod:`compiler.quantization.quantize`)
state.synaptic_input_bits          a *limit*: the compiler keeps the worst-case one-step
                                   input under it (clip count ``synaptic_input``, an error
                                   with ``strict=True``); neither the emulator nor Lava's CPU
                                   models saturate the accumulator, so a network compiled
                                   past it (with a warning) is emulated without that overflow
decay.bits, decay.current_offset,  the emulator's decay factors (``ChipArithmetic``)
decay.voltage_offset
neuron.reset                       the emulator's reset after a spike: ``v = 0``
                                   (``"hard"``) or ``v - vth << shift`` (``"subtract"``,
                                   ``ChipArithmetic.reset``); Lava runs ``"hard"`` only
core.*, energy.*, board.*,         placement, cost and runtime models only (no effect on
runtime.*                          dynamics)
=================================  =======================================================

A compiled network records its config (``info["hw"]``) and its
:class:`ChipArithmetic`; :func:`compiler.quantization.validate.check_fixed_point` checks the two agree
and that every integer is within the config's ranges, on load, before
:func:`compiler.emulate` and in :func:`compiler.check_lava_compatible`.
"""
from __future__ import annotations

import math
import numbers
import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Optional, Tuple, Union

try:
    import tomllib  # Python >= 3.11
except ImportError:  # Python 3.10: the same parser, packaged
    import tomli as tomllib

from compiler.hardware.arithmetic import RESET_MODES, ChipArithmetic
from compiler.hardware.encoding import WeightFormat

HW_DIR = Path(__file__).resolve().parent / "configs"
"""Directory searched for configs given by name (``"loihi2"`` -> ``compiler/hardware/configs/loihi2.toml``)."""

DEFAULT_HW = "loihi2"
"""Target used when none is given."""

CONFIG_FORMAT_VERSION = 1
"""Newest config ``format_version`` this reader understands."""


BIAS_BITS_RANGE = (2, 24)
"""Allowed ``compile(bias_bits=)`` overrides (signed mantissa bits; above the config's
``bias.mantissa_bits`` the network is emulator-only)."""

LAVA_WEIGHT_REGISTER_BITS = 8
"""Width of Lava Dense's weight register: ``clip_weights(..., num_bits=8)`` in
``lava/proc/dense/models.py`` (``num_weight_bits`` <= 8 then floors away low bits)."""

# Lava fixed_pt constants a Lava-runnable config must respect:
# (section.key, field, relation, Lava's value, where Lava fixes it)
LAVA_DATAPATH = (
    ("weights.mantissa_bits", "weight_mantissa_bits", "<=", LAVA_WEIGHT_REGISTER_BITS,
     "Dense clips weights to 8 bits (lava: proc/dense/models.py, utils/weightutils.py)"),
    ("weights.max_delay_steps", "max_delay_steps", "<=", 63,
     "DelayDense delays are 6-bit (lava: proc/dense/models.py)"),
    ("weights.dense_latency_steps", "dense_latency_steps", "==", 1,
     "Dense sends the previous step's input (lava: proc/dense/models.py)"),
    ("bias.mantissa_bits", "bias_mantissa_bits", "<=", 13,
     "bias_mant is signed 13-bit (lava: proc/lif/models.py)"),
    ("bias.exponent_min", "bias_exponent_min", ">=", 0,
     "bias_exp is unsigned 3-bit (lava: proc/lif/models.py)"),
    ("bias.exponent_max", "bias_exponent_max", "<=", 7,
     "bias_exp is unsigned 3-bit (lava: proc/lif/models.py)"),
    ("threshold.mantissa_bits", "threshold_mantissa_bits", "<=", 17,
     "vth is a 17-bit mantissa (lava: proc/lif/models.py)"),
    ("threshold.shift", "threshold_shift", "==", 6,
     "LIF shifts vth by vth_shift = 6 (lava: proc/lif/models.py)"),
    ("state.current_bits", "current_bits", "==", 24,
     "u is 24-bit (lava: proc/lif/models.py uv_bitwidth)"),
    ("state.voltage_bits", "voltage_bits", "==", 24,
     "v is 24-bit (lava: proc/lif/models.py uv_bitwidth)"),
    ("state.activation_shift", "activation_shift", "==", 6,
     "a_in enters u shifted by act_shift = 6 (lava: proc/lif/models.py)"),
    ("decay.bits", "decay_bits", "==", 12,
     "du, dv are 12-bit, decay_shift = 12 (lava: proc/lif/models.py)"),
    ("decay.current_offset", "current_decay_offset", "==", 1,
     "ds_offset = 1 (lava: proc/lif/models.py)"),
    ("decay.voltage_offset", "voltage_decay_offset", "==", 0,
     "dm_offset = 0 (lava: proc/lif/models.py)"),
    ("neuron.reset", "reset_mode", "==", "hard",
     "LIF sets v to 0 after a spike (lava: proc/lif/models.py AbstractPyLifModelFixed.reset_voltage)"),
)
"""What ``lava_runnable = true`` promises: each entry is (key, field, relation, Lava's
value, source). :meth:`HardwareConfig.from_dict` rejects a Lava-runnable config that
breaks one."""

EMULATOR_DATAPATH = (
    ("weights.dense_latency_steps", "dense_latency_steps", "==", 1,
     "the emulator and Lava implement 1 step only (compiler.emulate delivers a spike's input on the "
     "next step, as Lava's Dense does)"),
)
"""What :func:`compiler.emulate` implements, checked for *every* config (each entry as in
:data:`LAVA_DATAPATH`): a config outside it is refused on load instead of compiling to a
network the emulator would run differently. ``state.current_bits == state.voltage_bits``
is checked with the cross-field rules."""

_RELATIONS = {"<=": lambda a, b: a <= b, ">=": lambda a, b: a >= b, "==": lambda a, b: a == b}


class ConfigError(ValueError):
    """A hardware config is missing, unreadable, or has a missing, unknown or
    out-of-range key. The message names the key and the file."""


# (section, key, field name, type, minimum, maximum)
_SCHEMA = (
    ("weights", "mantissa_bits", "weight_mantissa_bits", int, 2, 24),
    ("weights", "exponent_min", "weight_exponent_min", int, -16, 0),
    ("weights", "exponent_max", "weight_exponent_max", int, 0, 16),
    ("weights", "max_delay_steps", "max_delay_steps", int, 0, 1 << 16),
    ("weights", "dense_latency_steps", "dense_latency_steps", int, 0, 16),
    ("bias", "mantissa_bits", "bias_mantissa_bits", int, 2, 32),
    ("bias", "exponent_min", "bias_exponent_min", int, 0, 16),
    ("bias", "exponent_max", "bias_exponent_max", int, 0, 24),
    ("threshold", "mantissa_bits", "threshold_mantissa_bits", int, 1, 31),
    ("threshold", "shift", "threshold_shift", int, 0, 16),
    ("state", "current_bits", "current_bits", int, 8, 32),
    ("state", "voltage_bits", "voltage_bits", int, 8, 32),
    ("state", "activation_shift", "activation_shift", int, 0, 16),
    ("state", "synaptic_input_bits", "synaptic_input_bits", int, 1, 40),
    ("decay", "bits", "decay_bits", int, 1, 24),
    ("decay", "current_offset", "current_decay_offset", int, 0, 1),
    ("decay", "voltage_offset", "voltage_decay_offset", int, 0, 1),
    ("core", "neurons_per_core", "neurons_per_core", int, 1, 1 << 24),
    ("core", "cores_per_chip", "cores_per_chip", int, 1, 1 << 20),
    ("core", "synapse_memory_bits", "synapse_memory_bits", int, 1, 1 << 40),
    ("core", "input_axons_per_core", "input_axons_per_core", int, 1, 1 << 24),
    ("core", "output_axons_per_core", "output_axons_per_core", int, 1, 1 << 24),
    ("core", "threshold_profiles_per_core", "threshold_profiles_per_core", int, 1, 1 << 16),
    ("energy", "synaptic_op_pj", "synaptic_op_pj", float, 0.0, 1e6),
    ("energy", "neuron_update_pj", "neuron_update_pj", float, 0.0, 1e6),
)
# Optional tables: (section, key, field name, type, minimum, maximum, required in the table)
_OPTIONAL_SCHEMA = (
    ("board", "chips_per_board", "chips_per_board", int, 1, 1 << 16, True),
    ("board", "inter_chip_spike_pj", "inter_chip_spike_pj", float, 0.0, 1e6, False),
    ("runtime", "neuron_update_ns", "runtime_neuron_update_ns", float, 0.0, 1e6, True),
    ("runtime", "synaptic_op_ns", "runtime_synaptic_op_ns", float, 0.0, 1e6, True),
    ("runtime", "spike_out_ns", "runtime_spike_out_ns", float, 0.0, 1e6, True),
    ("runtime", "link_message_ns", "runtime_link_message_ns", float, 0.0, 1e6, True),
    ("runtime", "barrier_ns", "runtime_barrier_ns", float, 0.0, 1e9, True),
    ("runtime", "cores_per_router", "runtime_cores_per_router", int, 1, 1 << 16, True),
    ("runtime", "mesh_columns", "runtime_mesh_columns", int, 1, 1 << 16, True),
    ("runtime", "chip_link_message_ns", "runtime_chip_link_message_ns", float, 0.0, 1e9, False),
    ("runtime", "chip_barrier_ns", "runtime_chip_barrier_ns", float, 0.0, 1e9, False),
    ("runtime", "static_power_w", "static_power_w", float, 0.0, 1e4, False),
)
# Optional tables of string choices: (section, key, field name, allowed values, default)
_CHOICE_SCHEMA = (
    ("neuron", "reset", "reset_mode", RESET_MODES, "hard"),
)
_TOP = ("format_version", "name", "description", "lava_runnable", "unverified")
_OPTIONAL_TOP = ("emulator_only_reason",)


def _checked_number(full: str, value, typ, lo, hi, fail):
    """``value`` of key ``full`` checked for type and range (``fail(key, msg)`` raises)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        fail(full, f"must be a number, got {value!r}")
    if typ is int and not isinstance(value, int):
        fail(full, f"must be an integer, got {value!r}")
    if typ is float:
        value = float(value)
        if not math.isfinite(value):
            fail(full, f"must be finite, got {value!r}")
    if not lo <= value <= hi:
        fail(full, f"= {value!r} is out of range [{lo}, {hi}]")
    return value


@dataclass(frozen=True)
class HardwareConfig:
    """A hardware target's constants (see the module docstring for the file schema).

    Attributes
    ----------
    name, description : str
    lava_runnable : bool
        Whether Lava's ``fixed_pt`` models can run networks compiled for it (checked
        against :data:`LAVA_DATAPATH` when loading).
    weight_mantissa_bits : int
        The chip's weight bits: significant bits of one split's weight, Lava Dense's
        ``num_weight_bits`` (8); the default and largest ``compile(weight_bits=)``
        (see "Weight bits" in the module docstring).
    weight_exponent_min, weight_exponent_max : int
        Range of a Dense process's ``weight_exp``.
    max_delay_steps : int
        Largest ``DelayDense`` delay (6-bit: 63).
    dense_latency_steps : int
        Steps a spike always takes to reach its targets (Dense: 1; the only value the
        emulator and Lava implement, others are refused, :data:`EMULATOR_DATAPATH`).
    bias_mantissa_bits : int
        Bits of the signed bias mantissa, sign included (13: -4096..4095).
    bias_exponent_min, bias_exponent_max : int
        Range of ``bias_exp`` (0..7).
    threshold_mantissa_bits, threshold_shift : int
        ``vth`` width (17) and its left shift (6).
    current_bits, voltage_bits : int
        Widths of ``u`` (wraps) and ``v`` (saturates), 24.
    activation_shift : int
        Left shift of the summed synaptic input entering ``u`` (6).
    synaptic_input_bits : int
        Magnitude bits of one step's summed synaptic input in ``u`` units (21).
    decay_bits, current_decay_offset, voltage_decay_offset : int
        12-bit decays; ``du + 1`` and ``dv + 0`` are the effective decays.
    neurons_per_core, cores_per_chip, synapse_memory_bits, input_axons_per_core,
    output_axons_per_core, threshold_profiles_per_core : int
        Per-core and per-chip resources.
    synaptic_op_pj, neuron_update_pj : float
        Energy per synaptic operation and per neuron update, picojoules.
    chips_per_board : int
        Chips on the board (``[board]`` table); 0 when the config has none (one chip,
        chip count unbounded in placement).
    inter_chip_spike_pj : float or None
        Energy of one spike crossing chips, picojoules (``board.inter_chip_spike_pj``);
        None when not given (inter-chip spikes counted, not priced).
    runtime_neuron_update_ns, runtime_synaptic_op_ns, runtime_spike_out_ns,
    runtime_link_message_ns, runtime_barrier_ns : float or None
        ``[runtime]`` times, nanoseconds: per neuron update, per synaptic op, per
        outgoing spike message, per message on one mesh link, and the per-step barrier
        (:mod:`compiler.deploy.runtime_model`); None when the config has no ``[runtime]``.
    runtime_cores_per_router, runtime_mesh_columns : int or None
        Mesh layout: cores sharing one router, routers per mesh row.
    runtime_chip_link_message_ns, runtime_chip_barrier_ns : float or None
        Optional: time per message on a chip-to-chip link (default: ``link_message_ns``)
        and extra barrier time per chip beyond the first (default 0).
    static_power_w : float or None
        Optional static (idle) power of the chips in use, watts; None: not priced.
    unverified : tuple of str
        ``"section.key"`` names whose public figures are uncertain.
    reset_mode : {"hard", "subtract"}
        ``neuron.reset``: what a spike does to ``v`` (0, or ``v`` minus the threshold);
        ``"hard"`` when the config has no ``[neuron]`` table.
    emulator_only_reason : str
        Why Lava cannot run it ("" when ``lava_runnable``).
    path : str
        File the config was read from ("" when built in code).
    """

    name: str
    description: str
    lava_runnable: bool
    weight_mantissa_bits: int
    weight_exponent_min: int
    weight_exponent_max: int
    max_delay_steps: int
    dense_latency_steps: int
    bias_mantissa_bits: int
    bias_exponent_min: int
    bias_exponent_max: int
    threshold_mantissa_bits: int
    threshold_shift: int
    current_bits: int
    voltage_bits: int
    activation_shift: int
    synaptic_input_bits: int
    decay_bits: int
    current_decay_offset: int
    voltage_decay_offset: int
    neurons_per_core: int
    cores_per_chip: int
    synapse_memory_bits: int
    input_axons_per_core: int
    output_axons_per_core: int
    threshold_profiles_per_core: int
    synaptic_op_pj: float
    neuron_update_pj: float
    unverified: Tuple[str, ...] = ()
    emulator_only_reason: str = ""
    path: str = ""
    chips_per_board: int = 0
    inter_chip_spike_pj: Optional[float] = None
    runtime_neuron_update_ns: Optional[float] = None
    runtime_synaptic_op_ns: Optional[float] = None
    runtime_spike_out_ns: Optional[float] = None
    runtime_link_message_ns: Optional[float] = None
    runtime_barrier_ns: Optional[float] = None
    runtime_cores_per_router: Optional[int] = None
    runtime_mesh_columns: Optional[int] = None
    runtime_chip_link_message_ns: Optional[float] = None
    runtime_chip_barrier_ns: Optional[float] = None
    static_power_w: Optional[float] = None
    reset_mode: str = "hard"

    # ------------------------------------------------------------ loading
    @classmethod
    def load(cls, name_or_path: Union[str, os.PathLike, "HardwareConfig"] = DEFAULT_HW) -> "HardwareConfig":
        """Read and validate a config.

        Parameters
        ----------
        name_or_path : str or path-like or HardwareConfig
            A name from :func:`list_hardware` (resolved in :data:`HW_DIR`), or a
            path to a ``.toml`` file. A HardwareConfig is returned unchanged.

        Raises
        ------
        ConfigError
            Unknown name, missing or unreadable file, a file that is not UTF-8 or not
            valid TOML (one line naming the file and the problem), a missing, unknown,
            mistyped or out-of-range key, or a value the emulator does not implement
            (:data:`EMULATOR_DATAPATH`); the message names the key and the file.
        """
        if isinstance(name_or_path, HardwareConfig):
            return name_or_path
        path = resolve_config_path(name_or_path)
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except OSError as exc:
            raise ConfigError(f"hardware config {str(path)!r} cannot be read: {exc}") from None
        except UnicodeDecodeError as exc:
            line = exc.object[:exc.start].count(b"\n") + 1
            raise ConfigError(f"hardware config {str(path)!r} is not UTF-8 text (byte "
                              f"0x{exc.object[exc.start]:02x} at line {line}, offset {exc.start}): TOML "
                              f"files must be UTF-8") from None
        except (tomllib.TOMLDecodeError, ValueError) as exc:
            message = " ".join(str(exc).split())
            raise ConfigError(f"hardware config {str(path)!r} is not valid TOML: {message}") from None
        return cls.from_dict(data, source=str(path))

    @classmethod
    def from_dict(cls, data: dict, source: str = "<dict>") -> "HardwareConfig":
        """Validate a parsed config (the TOML's nested tables). ``source`` names the
        file in error messages."""
        def fail(key, msg):
            raise ConfigError(f"hardware config {source!r}: key {key!r} {msg}")

        if not isinstance(data, dict):
            raise ConfigError(f"hardware config {source!r}: top level must be a table")
        sections = sorted({s for s, *_ in _SCHEMA})
        optional_sections = sorted({s for s, *_ in _OPTIONAL_SCHEMA + _CHOICE_SCHEMA})
        for key in data:
            if key not in _TOP and key not in _OPTIONAL_TOP and key not in sections + optional_sections:
                fail(key, f"is unknown (allowed top-level keys: "
                          f"{list(_TOP + _OPTIONAL_TOP) + sections + optional_sections})")
        for key in _TOP:
            if key not in data:
                fail(key, "is missing")
        version = data["format_version"]
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            fail("format_version", f"must be an integer >= 1, got {version!r}")
        if version > CONFIG_FORMAT_VERSION:
            fail("format_version", f"is {version}, newer than this reader supports "
                                   f"({CONFIG_FORMAT_VERSION}); update lava-causal")
        for key in ("name", "description"):
            if not isinstance(data[key], str) or not data[key].strip():
                fail(key, f"must be a non-empty string, got {data[key]!r}")
        if not isinstance(data["lava_runnable"], bool):
            fail("lava_runnable", f"must be true or false, got {data['lava_runnable']!r}")
        reason = data.get("emulator_only_reason")
        if data["lava_runnable"] and reason is not None:
            fail("emulator_only_reason", "is only allowed with lava_runnable = false")
        if not data["lava_runnable"]:
            if reason is None:
                fail("emulator_only_reason", "is missing: lava_runnable = false needs a one-line reason "
                                             "(why Lava's fixed_pt models cannot run this chip)")
            if not isinstance(reason, str) or not reason.strip() or "\n" in reason.strip():
                fail("emulator_only_reason", f"must be a non-empty one-line string, got {reason!r}")
        values = {}
        for section in sections + optional_sections:
            table = data.get(section)
            if table is None:
                if section in optional_sections:
                    continue
                fail(section, "is missing (a [" + section + "] table is required)")
            if not isinstance(table, dict):
                fail(section, "must be a table")
            known = {k for s, k, *_ in _SCHEMA + _OPTIONAL_SCHEMA + _CHOICE_SCHEMA if s == section}
            for key in table:
                if key not in known:
                    fail(f"{section}.{key}", f"is unknown (allowed in [{section}]: {sorted(known)})")
        for section, key, field_name, typ, lo, hi in _SCHEMA:
            full = f"{section}.{key}"
            if key not in data[section]:
                fail(full, "is missing")
            value = data[section][key]
            values[field_name] = _checked_number(full, value, typ, lo, hi, fail)
        for section in optional_sections:
            table = data.get(section)
            if table is None:
                continue
            for sec, key, field_name, typ, lo, hi, required in _OPTIONAL_SCHEMA:
                if sec != section:
                    continue
                full = f"{section}.{key}"
                if key not in table:
                    if required:
                        fail(full, f"is missing (required in a [{section}] table)")
                    continue
                values[field_name] = _checked_number(full, table[key], typ, lo, hi, fail)
        for section, key, field_name, allowed, default in _CHOICE_SCHEMA:
            value = (data.get(section) or {}).get(key, default)
            if not isinstance(value, str) or value not in allowed:
                fail(f"{section}.{key}", f"= {value!r} is not allowed; allowed: "
                                         f"{', '.join(map(repr, allowed))} (default {default!r})")
            values[field_name] = value
        unverified = data["unverified"]
        if not isinstance(unverified, list) or not all(isinstance(u, str) for u in unverified):
            fail("unverified", "must be a list of 'section.key' strings")
        known_keys = {f"{s}.{k}" for s, k, *_ in _SCHEMA + _OPTIONAL_SCHEMA + _CHOICE_SCHEMA}
        for u in unverified:
            if u not in known_keys:
                fail("unverified", f"names {u!r}, which is not a config key")
        # Cross-field consistency.
        if values["weight_exponent_min"] > values["weight_exponent_max"]:
            fail("weights.exponent_min", f"= {values['weight_exponent_min']} exceeds "
                                         f"weights.exponent_max = {values['weight_exponent_max']}")
        if values["bias_exponent_min"] > values["bias_exponent_max"]:
            fail("bias.exponent_min", f"= {values['bias_exponent_min']} exceeds "
                                      f"bias.exponent_max = {values['bias_exponent_max']}")
        if values["current_bits"] != values["voltage_bits"]:
            fail("state.voltage_bits", f"= {values['voltage_bits']} differs from state.current_bits = "
                                       f"{values['current_bits']}; the emulator models one state width")
        if values["synaptic_input_bits"] > values["current_bits"] - 1:
            fail("state.synaptic_input_bits", f"= {values['synaptic_input_bits']} exceeds the magnitude "
                                              f"bits of u (state.current_bits - 1 = {values['current_bits'] - 1})")
        if values["threshold_mantissa_bits"] + values["threshold_shift"] > values["voltage_bits"]:
            fail("threshold.mantissa_bits", f"+ threshold.shift = {values['threshold_mantissa_bits']} + "
                                            f"{values['threshold_shift']} exceeds state.voltage_bits = "
                                            f"{values['voltage_bits']}")
        for full, field_name, rel, supported, why in EMULATOR_DATAPATH:
            if not _RELATIONS[rel](values[field_name], supported):
                raise ConfigError(f"{full} = {values[field_name]} in hardware config {source!r} is "
                                  f"unsupported: {why}; set {full} {'=' if rel == '==' else rel} {supported}")
        if data["lava_runnable"]:
            for full, field_name, rel, lava_value, why in LAVA_DATAPATH:
                if not _RELATIONS[rel](values[field_name], lava_value):
                    fail(full, f"= {values[field_name]!r} breaks lava_runnable = true: Lava needs {full} "
                               f"{rel} {lava_value!r} ({why}); set lava_runnable = false with an "
                               f"emulator_only_reason to keep it as an emulator-only target")
        return cls(name=data["name"], description=data["description"],
                   lava_runnable=data["lava_runnable"], unverified=tuple(unverified),
                   emulator_only_reason=(reason or "").strip(), path=source, **values)

    # ------------------------------------------------------------ derived
    @property
    def arithmetic(self) -> ChipArithmetic:
        """The neuron datapath (:class:`ChipArithmetic`) the emulator runs."""
        return ChipArithmetic(state_bits=self.voltage_bits, decay_bits=self.decay_bits,
                              current_decay_offset=self.current_decay_offset,
                              voltage_decay_offset=self.voltage_decay_offset,
                              activation_shift=self.activation_shift,
                              threshold_shift=self.threshold_shift, reset=self.reset_mode)

    @property
    def weight_register_bits(self) -> int:
        """:math:`R`, the width of the stored weight integer: Lava Dense's 8 bits
        (:data:`LAVA_WEIGHT_REGISTER_BITS`) on a Lava-runnable config, else
        ``weight_mantissa_bits`` (see "Weight bits" in the module docstring)."""
        return LAVA_WEIGHT_REGISTER_BITS if self.lava_runnable else self.weight_mantissa_bits

    def check_weight_bits(self, weight_bits=None) -> int:
        """The weight bits :math:`b` a compile uses: ``weight_bits``, or the chip's
        ``weights.mantissa_bits`` when None.

        Raises
        ------
        ValueError
            Not an integer >= 2, or more than the config's ``weights.mantissa_bits``
            (the message names both).
        """
        if weight_bits is None:
            return self.weight_mantissa_bits
        where = f"hardware config {self.name!r}" + (f" ({self.path})" if self.path else "")
        if isinstance(weight_bits, bool) or not isinstance(weight_bits, numbers.Integral) or weight_bits < 2:
            raise ValueError(f"weight_bits must be an integer in 2..{self.weight_mantissa_bits} (significant "
                             f"weight bits per split; weights.mantissa_bits = {self.weight_mantissa_bits} in "
                             f"{where}), got {weight_bits!r}")
        if weight_bits > self.weight_mantissa_bits:
            raise ValueError(f"weight_bits = {int(weight_bits)} exceeds weights.mantissa_bits = "
                             f"{self.weight_mantissa_bits} of {where}: weight bits are significant bits per "
                             f"split and the chip has {self.weight_mantissa_bits}; use weight_splits for more "
                             f"precision, or a config with wider weights (e.g. 'wide16', emulator only)")
        return int(weight_bits)

    def weight_format(self, weight_bits=None) -> WeightFormat:
        """What one Dense process holds with ``weight_bits`` significant bits
        (default the chip's): register :attr:`weight_register_bits`, the exponent range.
        Raises ValueError as :meth:`check_weight_bits`."""
        b = self.check_weight_bits(weight_bits)
        return WeightFormat(self.weight_register_bits, b, self.weight_exponent_min, self.weight_exponent_max)

    def lava_refusal(self) -> str:
        """"" when Lava can run it, else the one-line reason naming the config and the key."""
        if self.lava_runnable:
            return ""
        where = f"{self.name!r}" + (f" ({self.path})" if self.path else "")
        reason = self.emulator_only_reason or "no reason recorded"
        return (f"hardware config {where} is emulator-only (lava_runnable = false: {reason}); "
                f"run it with compiler.emulate, or compile for a Lava-runnable config")

    @property
    def voltage_limit(self) -> int:
        """Largest ``|v|``: :math:`2^{b_v - 1} - 1` (v saturates there)."""
        return 2 ** (self.voltage_bits - 1) - 1

    @property
    def current_limit(self) -> int:
        """Largest ``|u|`` before it wraps: :math:`2^{b_u - 1} - 1`."""
        return 2 ** (self.current_bits - 1) - 1

    @property
    def synaptic_input_limit(self) -> int:
        """Largest ``|sum of one step's synaptic input|`` in ``u`` units."""
        return 2 ** self.synaptic_input_bits - 1

    @property
    def bias_mantissa_range(self) -> Tuple[int, int]:
        """Signed bias mantissa range, e.g. (-4096, 4095)."""
        return -(2 ** (self.bias_mantissa_bits - 1)), 2 ** (self.bias_mantissa_bits - 1) - 1

    @property
    def threshold_mantissa_max(self) -> int:
        """Largest ``vth``: :math:`2^{b} - 1` (131071)."""
        return 2 ** self.threshold_mantissa_bits - 1

    @property
    def decay_max(self) -> int:
        """Largest ``du``/``dv``: :math:`2^{b} - 1` (4095)."""
        return 2 ** self.decay_bits - 1

    def is_unverified(self, key: str) -> bool:
        """Whether ``"section.key"`` is marked unverified in the file."""
        return key in self.unverified

    def to_dict(self) -> dict:
        """The config's fields as a flat dict (for provenance and serialization)."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["unverified"] = list(self.unverified)
        return out

    @classmethod
    def from_flat_dict(cls, d: dict) -> "HardwareConfig":
        """Inverse of :meth:`to_dict` (no validation: see :meth:`validated`)."""
        d = dict(d)
        d["unverified"] = tuple(d.get("unverified", ()))
        return cls(**d)

    def to_toml_dict(self) -> dict:
        """The config as the nested tables of its TOML file (inverse of :meth:`from_dict`)."""
        out = {"format_version": CONFIG_FORMAT_VERSION, "name": self.name, "description": self.description,
               "lava_runnable": self.lava_runnable, "unverified": list(self.unverified)}
        if not self.lava_runnable:
            out["emulator_only_reason"] = self.emulator_only_reason
        for section, key, field_name, *_ in _SCHEMA:
            out.setdefault(section, {})[key] = getattr(self, field_name)
        for section, key, field_name, _allowed, default in _CHOICE_SCHEMA:
            if getattr(self, field_name) != default:
                out.setdefault(section, {})[key] = getattr(self, field_name)
        for section, key, field_name, *_ in _OPTIONAL_SCHEMA:
            if section == "board" and not self.chips_per_board:
                continue  # no [board] table (chips_per_board = 0 means none)
            if getattr(self, field_name) is not None:
                out.setdefault(section, {})[key] = getattr(self, field_name)
        return out

    @property
    def has_runtime(self) -> bool:
        """Whether the config has a ``[runtime]`` table (wall-clock estimates possible)."""
        return self.runtime_barrier_ns is not None

    def validated(self, source: str = "") -> "HardwareConfig":
        """This config checked by the rules of :meth:`from_dict` (schema ranges, types,
        cross-field consistency, :data:`EMULATOR_DATAPATH`, :data:`LAVA_DATAPATH` when
        ``lava_runnable``): for configs built in code (``dataclasses.replace``,
        :meth:`from_flat_dict`) or recorded in a compiled network. Returns ``self``.

        Raises
        ------
        ConfigError
            As :meth:`from_dict`, naming ``source`` (default: the config's path or
            ``"<built in code>"``).
        """
        checked = HardwareConfig.from_dict(self.to_toml_dict(), source=source or self.path or "<built in code>")
        if checked.path != self.path:
            checked = HardwareConfig.from_flat_dict({**checked.to_dict(), "path": self.path})
        if checked != self:
            raise ConfigError(f"hardware config {source or self.path or '<built in code>'!r}: does not "
                              f"round-trip through its schema")
        return self


def resolve_config_path(name_or_path) -> Path:
    """The file a name or path refers to (see :meth:`HardwareConfig.load`)."""
    if not isinstance(name_or_path, (str, os.PathLike)):
        raise ConfigError(f"hw must be a config name {list_hardware()} or a path to a .toml "
                          f"file, got {name_or_path!r}")
    text = os.fspath(name_or_path)
    looks_like_path = (text.endswith(".toml") or os.sep in text or "/" in text
                       or isinstance(name_or_path, os.PathLike))
    if looks_like_path:
        path = Path(text).expanduser()
        if not path.is_file():
            raise ConfigError(f"hardware config file {text!r} does not exist")
        return path
    path = HW_DIR / f"{text}.toml"
    if not path.is_file():
        raise ConfigError(f"unknown hardware {text!r}; available: {list_hardware()} "
                          f"(in {str(HW_DIR)!r}), or give a path to a .toml file")
    return path


def list_hardware() -> list:
    """Names of the configs in :data:`HW_DIR`, sorted (e.g. ``['loihi1', 'loihi2', 'wide16']``)."""
    if not HW_DIR.is_dir():
        return []
    return sorted(p.stem for p in HW_DIR.glob("*.toml"))


def load_hardware(name_or_path=DEFAULT_HW) -> HardwareConfig:
    """Shorthand for :meth:`HardwareConfig.load`."""
    return HardwareConfig.load(name_or_path)
