"""lava-causal: exact Bayesian causal inference (MAP of non-negative causes) in a
spiking network, simulated in float, compiled to Loihi fixed point and run on Lava."""
from . import metrics, statistics, tasks
from .network import build_network, mistune, signal_tracking_network
from .problem import CausalProblem, MapCertificate, MapNotCertified
from .simulator import SimulationResult, simulate
from .budget import ErrorBudget, error_budget
from .sweep import Recommendation, SweepResult, recommend, sweep

from .provenance import __version__

__all__ = ["CausalProblem", "MapCertificate", "MapNotCertified", "statistics", "build_network", "signal_tracking_network", "mistune",
           "metrics", "tasks", "simulate", "SimulationResult",
           "error_budget", "ErrorBudget", "sweep", "SweepResult", "recommend", "Recommendation",
           "__version__"]
