"""CPU ProcessModels of :class:`SpikeCounter`, one per Lava tag.

Both count ``s_in != 0`` per step; they differ only in the port and Var types,
which must match the spikes of the LIF model selected with the same tag
(``int32`` spikes from ``PyLifModelBitAcc``, ``float`` from ``PyLifModelFloat``).
"""
import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from compiler.backends.lava.processes.spike_counter.process import SpikeCounter


class AbstractPySpikeCounterModel(PyLoihiProcessModel):
    """Shared step: add one to ``count`` where a (non-zero) spike arrived."""

    s_in: PyInPort = None
    count: np.ndarray = None

    def run_spk(self):
        """Spiking phase: receive this step's spikes and count them."""
        self.count += self.s_in.recv() != 0


@implements(proc=SpikeCounter, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PySpikeCounterModelFixed(AbstractPySpikeCounterModel):
    """Fixed-point model: integer spikes in, 32-bit integer counts."""

    s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    count: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=32)


@implements(proc=SpikeCounter, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PySpikeCounterModelFloat(AbstractPySpikeCounterModel):
    """Floating-point model: float spikes in, integer counts."""

    s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    count: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=32)
