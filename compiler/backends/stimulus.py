r"""A brief input at the start of a run: other bias fields for the first steps.

Networks whose input is a cue (a pattern generator started by a short stimulus, a
memory loaded by a pulse) need a run whose bias differs for its first ``steps``
steps and then returns to the network's own, with the state (voltages, currents,
pending spikes) carried across the switch. :class:`Stimulus` holds the integer bias
fields of that first phase; :func:`compiler.emulate` and :func:`compiler.run_lava`
take it as ``stimulus=`` and give the same spikes (the Lava run pauses after ``steps``
steps, sets ``bias_mant`` and ``bias_exp`` back and runs on).

:func:`make_stimulus` encodes a float bias the way the compile encoded the network's
(:func:`compiler.quantization.rebias.rebias`, with the corrections evaluated at the
compile's operating rates, so they are the network's own).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from compiler.quantization.fixed_point import FixedPointNetwork


@dataclass(frozen=True, eq=False)
class Stimulus:
    """Bias fields for the first ``steps`` steps of a run.

    Attributes
    ----------
    steps : int
        Steps (>= 1) the stimulus lasts; from step ``steps`` on the network's own bias.
    bias_mant, bias_exp : ndarray (N,) of int64
        The bias fields during the stimulus.
    """

    steps: int
    bias_mant: np.ndarray
    bias_exp: np.ndarray

    def __post_init__(self):
        if not isinstance(self.steps, (int, np.integer)) or isinstance(self.steps, bool) or self.steps < 1:
            raise ValueError(f"stimulus steps must be an integer >= 1, got {self.steps!r}")
        mant, expo = np.asarray(self.bias_mant), np.asarray(self.bias_exp)
        if mant.ndim != 1 or mant.shape != expo.shape:
            raise ValueError(f"stimulus bias_mant and bias_exp must be 1-D of one shape, got "
                             f"{mant.shape} and {expo.shape}")
        for name, arr in (("bias_mant", mant), ("bias_exp", expo)):
            if not np.issubdtype(arr.dtype, np.integer):
                raise ValueError(f"stimulus {name} must hold integers, got dtype {arr.dtype}")
        if expo.size and expo.min() < 0:
            raise ValueError(f"stimulus bias_exp must be >= 0, smallest is {int(expo.min())}")
        object.__setattr__(self, "steps", int(self.steps))
        object.__setattr__(self, "bias_mant", mant.astype(np.int64))
        object.__setattr__(self, "bias_exp", expo.astype(np.int64))

    @property
    def effective(self) -> np.ndarray:
        """``bias_mant << bias_exp``: what the neuron adds per step during the stimulus."""
        return np.left_shift(self.bias_mant, self.bias_exp)

    def biases(self, fixed: FixedPointNetwork, trials: int = 1) -> np.ndarray:
        """The (trials, N) effective biases of the stimulus for the emulator's kernels
        (:func:`compiler.backends.emulator.resolve_bias`); ValueError unless the fields
        fit ``fixed`` (its N and its bias field range)."""
        from compiler.backends.emulator import resolve_bias

        if self.bias_mant.shape != (fixed.n,):
            raise ValueError(f"the stimulus is for {self.bias_mant.size} neurons, the network has {fixed.n}")
        return resolve_bias(fixed, trials, self.effective)

    def applied_to(self, fixed: FixedPointNetwork) -> FixedPointNetwork:
        """``fixed`` with the stimulus's bias fields (what runs during the stimulus)."""
        self.biases(fixed)
        return replace(fixed, bias_mant=self.bias_mant, bias_exp=self.bias_exp)


def make_stimulus(fixed: FixedPointNetwork, bias, steps: int) -> Stimulus:
    """The :class:`Stimulus` that gives ``fixed``'s neurons the float bias ``bias``
    (the source network's units, per second, shape (N,)) for ``steps`` steps.

    Raises ValueError when a bias does not fit the compiled scale (clipped), naming how
    many."""
    from compiler.quantization.rebias import rebias

    bias = np.asarray(bias, float)
    if bias.shape != (fixed.n,):
        raise ValueError(f"stimulus bias must have shape ({fixed.n},), got {bias.shape}")
    rates = (fixed.info or {}).get("corrections", {}).get("operating_rates")
    fields = rebias(fixed, bias, operating_rates=None if rates is None else np.asarray(rates, float))
    if fields.clipped[0]:
        raise ValueError(f"the stimulus bias of {int(fields.clipped[0])} neuron(s) does not fit the compiled "
                         f"bias range; compile with more bias_bits or a smaller stimulus")
    return Stimulus(int(steps), fields.bias_mant[0], fields.bias_exp[0])
