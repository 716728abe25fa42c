r"""The integer arithmetic of Loihi's current-based LIF compartment, in one place.

Every bit width and shift the emulator, the quantizer and the Lava backend use is a
named field of :class:`ChipArithmetic`, read from a hardware config. The defaults are
those of Lava's bit-accurate models (lava-nc 0.10, ``lava/proc/lif/models.py``
``PyLifModelBitAcc`` and ``lava/proc/dense/models.py`` ``PyDenseModelBitAcc``).

One chip step, for every neuron (all integers):

.. math::

    a &= \sum_k \mathrm{shift}\!\left(\textstyle\sum_{j \in \text{spiked}(t-1-d_{ij})} W^{(k)}_{ij},\ e_k\right)
        \quad\text{(Dense output, one step late; shift floors)}\\
    u &\leftarrow \mathrm{sgn}(u)\,\big\lfloor |u| (2^{12} - (\delta_u + 1)) / 2^{12} \big\rfloor
        + a \cdot 2^{6} \quad\text{(wraps to 24-bit two's complement)}\\
    v &\leftarrow \mathrm{sgn}(v)\,\big\lfloor |v| (2^{12} - \delta_v) / 2^{12} \big\rfloor + u
        + b_m 2^{b_e} \quad\text{(clipped to } \pm(2^{23}-1))\\
    s &= v > \theta_m 2^{6}, \qquad v \leftarrow
        \begin{cases} 0 & \text{reset = "hard" (Lava's LIF)}\\
                      v - \theta_m 2^{6} & \text{reset = "subtract"} \end{cases}
        \quad\text{where } s.

The hard reset is what Lava's LIF (Loihi 2's stock neuron) does: the overshoot
:math:`v - \theta_m 2^{6}` above threshold is lost. The subtractive reset keeps it; it
describes a *hypothetical* chip (a custom microcode neuron on Loihi 2, config
``loihi2_subtractive``) that only :func:`compiler.emulate` runs.
"""
from __future__ import annotations

from dataclasses import dataclass

RESET_MODES = ("hard", "subtract")
r"""Allowed :attr:`ChipArithmetic.reset`: ``"hard"`` (:math:`v \leftarrow 0`, Lava's LIF)
and ``"subtract"`` (:math:`v \leftarrow v - \theta_m 2^{6}`, hypothetical, emulator only)."""


@dataclass(frozen=True)
class ChipArithmetic:
    """Bit widths and shifts of the neuron and synapse datapath.

    Attributes
    ----------
    state_bits : int
        Width of the current ``u`` and voltage ``v`` registers (24): ``u`` wraps,
        ``v`` saturates at :math:`\\pm(2^{b-1} - 1)`.
    decay_bits : int
        Width of ``du``/``dv``; decays are applied as multiplication by
        :math:`2^{b} - \\text{decay}` followed by a right shift of ``b`` (12).
    current_decay_offset : int
        Added to ``du`` (Loihi's 1-bit ``ds_offset``, 1), so ``du = 4095`` clears
        ``u`` every step (a delta synapse).
    voltage_decay_offset : int
        Added to ``dv`` (``dm_offset``, 0).
    activation_shift : int
        Synaptic input is shifted left by this many bits before entering ``u`` (6).
    threshold_shift : int
        The threshold mantissa is shifted left by this many bits (6).
    reset : {"hard", "subtract"}
        What a spike does to ``v``: ``"hard"`` (default, Lava's LIF) sets it to 0,
        ``"subtract"`` subtracts the threshold ``vth << threshold_shift`` and keeps the
        overshoot (a hypothetical custom neuron, emulator only).

    Raises
    ------
    ValueError
        ``reset`` is not one of :data:`RESET_MODES`.
    """

    state_bits: int = 24
    decay_bits: int = 12
    current_decay_offset: int = 1
    voltage_decay_offset: int = 0
    activation_shift: int = 6
    threshold_shift: int = 6
    reset: str = "hard"

    def __post_init__(self):
        if self.reset not in RESET_MODES:
            raise ValueError(f"ChipArithmetic.reset = {self.reset!r} is not allowed; allowed: "
                             f"{', '.join(map(repr, RESET_MODES))}")

    @property
    def subtractive(self) -> bool:
        """Whether a spike subtracts the threshold from ``v`` (else ``v`` is set to 0)."""
        return self.reset == "subtract"

    @property
    def state_max(self) -> int:
        """:math:`2^{b-1}`: ``u`` wraps above it; ``v`` saturates at one less."""
        return 2 ** (self.state_bits - 1)

    @property
    def decay_unity(self) -> int:
        """:math:`2^{\\text{decay\\_bits}}`, the decay denominator (4096)."""
        return 2 ** self.decay_bits

    def threshold_value(self, vth_mant: int) -> int:
        """The integer the voltage must exceed: ``vth_mant << threshold_shift``."""
        return int(vth_mant) << self.threshold_shift

    def current_decay_factor(self, du: int) -> int:
        """Multiplier of ``|u|`` before the 12-bit shift: :math:`4096 - (du + 1)`."""
        return self.decay_unity - (int(du) + self.current_decay_offset)

    def voltage_decay_factor(self, dv: int) -> int:
        """Multiplier of ``|v|`` before the 12-bit shift: :math:`4096 - dv`."""
        return self.decay_unity - (int(dv) + self.voltage_decay_offset)

    def current_decay_fraction(self, du: int) -> float:
        """Fraction :math:`d` of the current removed per step, :math:`1 - F/2^{12}` (1: delta synapses)."""
        return 1.0 - self.current_decay_factor(du) / float(self.decay_unity)

    def voltage_decay_fraction(self, dv: int) -> float:
        """Fraction :math:`d_v` of the voltage removed per step (0: no leak)."""
        return 1.0 - self.voltage_decay_factor(dv) / float(self.decay_unity)


LAVA_LOIHI = ChipArithmetic()
"""The arithmetic of Lava's ``fixed_pt`` LIF/Dense models (Loihi 1 and 2)."""
