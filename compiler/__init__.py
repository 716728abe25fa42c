"""lava-causal's compiler: float integrate-and-fire networks to Loihi fixed point.

It knows nothing about causal inference. See ``IFNetwork`` for the input format.
"""
from .arithmetic import LAVA_LOIHI, ChipArithmetic
from .emulator import ExecutionResult, emulate
from .fixed_point import FixedPointNetwork
from .network import IFNetwork

__all__ = ["IFNetwork", "FixedPointNetwork", "ChipArithmetic", "LAVA_LOIHI",
           "ExecutionResult", "emulate"]
