r"""A Lava process that counts the spikes arriving on its input port.

Reading spikes through ``Monitor`` costs one message per element and step (about
17 us each in lava-nc 0.10: 2000 steps x 1000 neurons take ~35 s). A
:class:`SpikeCounter` connected to ``LIF.s_out`` accumulates, every step,

.. math::

    \mathrm{count}_i \leftarrow \mathrm{count}_i + [s_i \ne 0],

and ``count.get()`` reads the totals once after the run (N messages).
"""
import typing as ty

import numpy as np
from lava.magma.core.process.ports.ports import InPort
from lava.magma.core.process.process import AbstractProcess, LogConfig
from lava.magma.core.process.variable import Var


class SpikeCounter(AbstractProcess):
    """Counts spikes per unit over a run.

    Parameters
    ----------
    shape : tuple of int
        Shape of the spiking population it listens to.
    name : str, optional
        Name of the Process.
    log_config : LogConfig, optional
        Logging options.

    Attributes
    ----------
    s_in : InPort
        Connect a spiking ``s_out`` here (e.g. ``lif.s_out.connect(counter.s_in)``).
    count : Var
        Spikes received per unit since the start (initially 0).
    """

    def __init__(self, *,
                 shape: ty.Tuple[int, ...],
                 name: ty.Optional[str] = None,
                 log_config: ty.Optional[LogConfig] = None) -> None:
        super().__init__(shape=shape, name=name, log_config=log_config)
        self.s_in = InPort(shape=shape)
        self.count = Var(shape=shape, init=np.zeros(shape, dtype=np.int32))
