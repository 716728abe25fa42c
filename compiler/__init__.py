"""lava-causal's compiler: float integrate-and-fire networks to Loihi fixed point.

It knows nothing about causal inference. See ``IFNetwork`` for the input format.
"""
from .arithmetic import LAVA_LOIHI, ChipArithmetic
from .effective import effective_input, effective_network, effective_rates
from .emulator import ExecutionResult, emulate
from .fixed_point import FixedPointNetwork

load = FixedPointNetwork.load
"""Read a compiled-network file (:meth:`FixedPointNetwork.load`)."""
from .hardware import ConfigError, HardwareConfig, list_hardware, load_hardware
from .cost import estimate_cost
from .lava_backend import (BackendUnavailable, check_lava_compatible, representable_weight_range,
                           run_lava, weight_sign_mode)
from .network import IFNetwork, Stability
from .stability import check_stable
from .nir_export import to_nir, to_nir_graph
from .operating_point import rate_model
from .placement import Placement, PlacementError, place
from .quantize import QuantizationError, QuantizationWarning, compile
from .report import QuantizationReport, WeightPrecision, weight_precision
from .serialize import InvalidNetworkFile, SerializationError
from .validate import FixedPointError, check_fixed_point

__all__ = ["IFNetwork", "check_stable", "Stability", "weight_precision", "WeightPrecision", "FixedPointNetwork", "ChipArithmetic", "LAVA_LOIHI",
           "ExecutionResult", "emulate",
           "run_lava", "BackendUnavailable", "representable_weight_range", "weight_sign_mode",
           "check_lava_compatible",
           "compile", "QuantizationError", "QuantizationWarning", "QuantizationReport",
           "HardwareConfig", "ConfigError", "list_hardware", "load_hardware",
           "effective_network", "effective_input", "effective_rates", "rate_model",
           "load", "SerializationError", "InvalidNetworkFile", "FixedPointError", "check_fixed_point",
           "place", "Placement", "PlacementError", "estimate_cost", "to_nir", "to_nir_graph"]

