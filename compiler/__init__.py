"""lava-causal's compiler: float integrate-and-fire networks to Loihi fixed point.

It knows nothing about causal inference. See ``IFNetwork`` for the input format.
"""
from compiler.hardware.arithmetic import LAVA_LOIHI, ChipArithmetic
from compiler.quantization.effective import effective_input, effective_network, effective_rates
from compiler.backends.emulator import ExecutionResult, emulate
from compiler.backends.stimulus import Stimulus, make_stimulus
from compiler.quantization.fixed_point import FixedPointNetwork

load = FixedPointNetwork.load
"""Read a compiled-network file (:meth:`FixedPointNetwork.load`)."""
from compiler.hardware.config import ConfigError, HardwareConfig, list_hardware, load_hardware
from compiler.deploy.cost import estimate_cost
from compiler.deploy.runtime_model import decode_cost, step_time
from compiler.backends.lava import (BackendUnavailable, check_lava_compatible, representable_weight_range,
                           run_lava, weight_sign_mode)
from compiler.frontend.network import IFNetwork, Stability
from compiler.quantization.stability import check_stable
from compiler.deploy.nir_export import to_nir, to_nir_graph
from compiler.frontend.nir_import import from_nir
from compiler.frontend.operating_point import rate_model
from compiler.deploy.placement import Placement, PlacementError, place
from compiler.quantization.quantize import QuantizationError, QuantizationWarning, compile
from compiler.deploy.report import QuantizationReport, WeightPrecision, quantization_report, weight_precision
from compiler.quantization.serialize import InvalidNetworkFile, SerializationError
from compiler.quantization.validate import FixedPointError, check_fixed_point

__all__ = ["IFNetwork", "check_stable", "Stability", "weight_precision", "WeightPrecision", "FixedPointNetwork", "ChipArithmetic", "LAVA_LOIHI",
           "ExecutionResult", "emulate", "Stimulus", "make_stimulus",
           "run_lava", "BackendUnavailable", "representable_weight_range", "weight_sign_mode",
           "check_lava_compatible",
           "compile", "QuantizationError", "QuantizationWarning", "QuantizationReport", "quantization_report",
           "HardwareConfig", "ConfigError", "list_hardware", "load_hardware",
           "effective_network", "effective_input", "effective_rates", "rate_model",
           "load", "SerializationError", "InvalidNetworkFile", "FixedPointError", "check_fixed_point",
           "place", "Placement", "PlacementError", "estimate_cost", "step_time", "decode_cost", "to_nir", "to_nir_graph", "from_nir"]

