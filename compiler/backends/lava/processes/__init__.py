"""Custom Lava processes of the Lava backend, laid out like ``lava/proc/<name>/``
(``process.py`` declares the Process, ``models.py`` its ProcessModels, one per tag).

Importing this package imports Lava. Imports inside it are absolute on purpose:
Lava's compiler finds ProcessModels by executing every module in the Process's
directory as a stand-alone file, where relative imports fail.
"""
from compiler.backends.lava.processes.spike_counter.process import SpikeCounter

__all__ = ["SpikeCounter"]
