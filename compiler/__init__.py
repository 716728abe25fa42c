"""lava-causal's compiler: float integrate-and-fire networks to Loihi fixed point.

It knows nothing about causal inference. See ``IFNetwork`` for the input format.
"""
from .network import IFNetwork

__all__ = ["IFNetwork"]
