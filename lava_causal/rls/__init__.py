"""Recurrent spiking networks trained with recursive least squares (Kim & Chow, eLife
2018), and their deployment through the compiler.

- :mod:`.model`: the network (LIF, exponential synapses, presynaptic subsets) and its
  :class:`compiler.IFNetwork`;
- :mod:`.targets`, :mod:`.innate`: tasks (sinusoids, heterogeneous rate patterns, smooth random; the innate trajectory);
- :mod:`.dynamics`, :mod:`.simulation`, :mod:`.training`: float runs and RLS;
- :mod:`.patterns`: scores (correlation, normalised error);
- :mod:`.deploy`: compile and run on the emulator or Lava with the stimulus;
- :mod:`.budget`: which chip effect costs what;
- :mod:`.capacity`: pattern error against network size and pattern duration.
"""
from .model import RecurrentNetwork, random_network
from .targets import Task, heterogeneous, heterogeneous_rates, rate_task, sinusoids
from .innate import innate
from .simulation import FloatRun, simulate
from .training import TrainingResult, train
from .patterns import PatternScore, score
from .deploy import compile_trained, run_chip
from .budget import PatternBudget, pattern_budget

__all__ = ["RecurrentNetwork", "random_network", "Task", "sinusoids", "innate", "heterogeneous",
           "heterogeneous_rates", "rate_task", "FloatRun", "simulate", "TrainingResult", "train",
           "PatternScore", "score", "compile_trained", "run_chip", "PatternBudget", "pattern_budget"]
