"""Run a :class:`~compiler.FixedPointNetwork` on Lava, built from stock Lava processes.

One ``LIF`` population and one ``Dense`` (``DelayDense``, ``Sparse``) per weight split,
with a :class:`~compiler.backends.lava.processes.SpikeCounter` reading ``LIF.s_out``;
``fixed_pt`` matches :func:`compiler.emulate` spike for spike, on Lava's CPU models or
on Loihi 2 (Intel's lava-loihi). Lava (lava-nc 0.10) installs only on Python 3.10 and is
imported only when a function needs it; without it those raise
:class:`BackendUnavailable` (:func:`lava_status` says why).

Modules, each importing only those above it:

* :mod:`~compiler.backends.lava.checks`: what Lava keeps exactly (weight sign modes,
  ranges, emulator-only configs, Dense or Sparse); no Lava needed.
* :mod:`~compiler.backends.lava.cleanup`: child processes that die with the parent,
  signals held back during cleanup.
* :mod:`~compiler.backends.lava.runtime`: importing Lava, run configs, running a
  network with a timeout and always stopping it.
* :mod:`~compiler.backends.lava.build`: the Lava processes of one trial; the float
  conversion of ``floating_pt``.
* :mod:`~compiler.backends.lava.run`: :func:`run_lava`, the trial loop;
  :func:`run_lava_stream`, one network run for many inputs that differ in bias.
* :mod:`~compiler.backends.lava.processes`: the custom SpikeCounter process (imports Lava).
"""
from compiler.backends.lava.build import LavaNetwork, build_lava_network, float_parameters
from compiler.backends.lava.checks import (BIAS_EXP_RANGE, BIAS_MANT_RANGE, CONNECTIVITIES, DECAY_RANGE,
                                           LAVA_MAX_DELAY, LAVA_WEIGHT_BITS, SIGN_MODES, SPARSE_DENSITY,
                                           VTH_RANGE, check_lava_compatible, lava_refusal,
                                           representable_weight_range, resolve_connectivity,
                                           weight_density, weight_sign_mode)
from compiler.backends.lava.run import run_lava, run_lava_stream
from compiler.backends.lava.runtime import (INTERRUPT_GRACE, KILL_GRACE, STOP_GRACE, TAGS, TARGETS,
                                            BackendUnavailable, default_timeout, import_lava,
                                            lava_status, loihi_available, run_config, running,
                                            shutdown)

__all__ = ["run_lava", "run_lava_stream", "BackendUnavailable", "lava_status", "loihi_available", "import_lava",
           "check_lava_compatible", "lava_refusal", "representable_weight_range", "weight_sign_mode",
           "resolve_connectivity", "weight_density", "build_lava_network", "LavaNetwork",
           "float_parameters", "run_config", "running", "shutdown", "default_timeout",
           "TAGS", "TARGETS", "SIGN_MODES", "CONNECTIVITIES", "SPARSE_DENSITY",
           "LAVA_WEIGHT_BITS", "LAVA_MAX_DELAY", "BIAS_MANT_RANGE", "BIAS_EXP_RANGE", "VTH_RANGE",
           "DECAY_RANGE", "STOP_GRACE", "INTERRUPT_GRACE", "KILL_GRACE"]
