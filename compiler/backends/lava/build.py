r"""The stock Lava processes of a :class:`FixedPointNetwork`, for one trial.

The network is one ``lava.proc.lif.process.LIF`` population and one
``lava.proc.dense.process.Dense`` per weight split (``DelayDense`` when the network
has delays, ``lava.proc.sparse.process.Sparse`` or ``DelaySparse`` for sparse
weights, built from the CSR splits without densifying, see
:func:`~compiler.backends.lava.checks.resolve_connectivity`), each with its own
``weight_exp``, ``num_weight_bits`` and an explicit ``sign_mode``, all feeding
``LIF.a_in``. Only stock processes carry the dynamics, so the same network is
deployable on Loihi 2. Spikes are counted inside the network by a
:class:`compiler.backends.lava.processes.SpikeCounter` on ``LIF.s_out`` and read once
at the end; a ``Monitor`` records the raster when asked.

Tags
----
``fixed_pt`` runs Lava's bit-accurate models (``PyLifModelBitAcc``,
``PyDenseModelBitAcc``/``PyDelayDenseModelBitAcc``); :func:`compiler.emulate` matches
it spike for spike (see :mod:`compiler.backends.emulator` for the step).

``floating_pt`` runs Lava's float models of the *same* network, converted to the same
integer units (see :func:`float_parameters`). Lava's float step is

.. math::

    u \leftarrow u (1 - \delta_u^f) + a, \qquad
    v \leftarrow v (1 - \delta_v^f) + u + b^f, \qquad
    s = v > \theta^f,\ v \leftarrow 0 \text{ where } s,

with :math:`a = \sum_k W^{f,(k)} s` (the float Dense ignores ``weight_exp``) and the
float LIF ignores ``bias_exp``. It is close to, not bit-identical with, ``fixed_pt``:
no floor in the weight shift, no truncation in the decays, no wrap of ``u`` and no
saturation of ``v``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional

import numpy as np

from compiler.backends.lava.checks import check_choice, check_lava_compatible, resolve_connectivity
from compiler.backends.lava.runtime import TAGS, import_lava
from compiler.quantization.fixed_point import FixedPointNetwork


def float_parameters(fixed: FixedPointNetwork) -> dict:
    r"""Parameters of Lava's float LIF/Dense that run ``fixed`` in the same units.

    Matching Lava's float step (module docstring) with the fixed-point one
    (:mod:`compiler.hardware.arithmetic`) term by term:

    .. math::

        \delta_u^f = \frac{d_u + 1}{2^{12}}, \quad
        \delta_v^f = \frac{d_v}{2^{12}}, \quad
        b^f_i = b_{m,i}\, 2^{b_{e,i}}, \quad
        \theta^f = \theta_m 2^{6}, \quad
        W^{f,(k)} = W^{(k)}\, 2^{e_k + 6},

    i.e. the decay offset, bias exponent, threshold shift, weight exponent and the
    6-bit activation shift are folded into float values; ``u`` starts at 0 and ``v``
    at the same integers as in ``fixed_pt``.

    Returns
    -------
    dict
        ``du``, ``dv``, ``vth`` (floats), ``bias_mant`` (float array, to be used with
        ``bias_exp = 0``) and ``weights`` (tuple of float matrices, one per split).
    """
    ar = fixed.arithmetic
    unity = float(ar.decay_unity)
    return {
        "du": (fixed.du + ar.current_decay_offset) / unity,
        "dv": (fixed.dv + ar.voltage_decay_offset) / unity,
        "vth": float(fixed.threshold),
        "bias_mant": fixed.effective_bias.astype(float),
        "weights": tuple(w * 2.0 ** (e + ar.activation_shift)
                         for w, e in zip(fixed.weights, fixed.weight_exps)),
    }


FLOAT_CONVERSION = ("du=(du+1)/4096, dv=dv/4096, bias=bias_mant<<bias_exp, "
                    "vth=vth<<6, W=W*2**(weight_exp+6)")
""":func:`float_parameters` in one line, for a run's provenance."""


@dataclass
class LavaNetwork:
    """The Lava processes of one trial.

    Attributes
    ----------
    lif : lava.proc.lif.process.LIF
        The neurons; run the network through it (``lif.run(...)``).
    connections : list of Dense, DelayDense or Sparse
        One per weight split, ``lif.s_out -> conn.s_in``, ``conn.a_out -> lif.a_in``.
    counter : compiler.backends.lava.processes.SpikeCounter
        Counts ``lif.s_out`` per neuron.
    monitor : lava.proc.monitor.process.Monitor or None
        Probes ``lif.s_out`` every step when a raster is recorded.
    """

    lif: object
    connections: List[object]
    counter: object
    monitor: Optional[object] = None


def _sparse_connection(args: dict, delays):
    r"""A Lava ``Sparse`` (no delays, or all zero) or ``DelaySparse`` for one split.

    ``args["weights"]`` is a dense matrix (of a dense network, made CSR here) or the
    split's CSR matrix, passed on without densifying: its stored zeros are dropped and
    its mantissas widened to int64, as the dense path gives them to ``Dense``
    (``clip_weights`` must not work in a narrow dtype). ``delays`` (None, an int, a
    dense matrix or a CSR matrix with the splits' pattern) become a CSR int64 matrix on
    the weights' pattern: ``DelaySparse`` delivers a spike of delay :math:`d` sent at
    step :math:`t` at :math:`t + 1 + d`, like ``DelayDense``. O(nnz) time and memory.
    """
    import scipy.sparse
    from lava.proc.sparse.process import DelaySparse, Sparse

    given = args["weights"]
    w = given.tocsr(copy=True) if scipy.sparse.issparse(given) else scipy.sparse.csr_matrix(given)
    if np.issubdtype(w.dtype, np.integer):
        w = w.astype(np.int64)
    w.eliminate_zeros()
    args = dict(args, weights=w)
    if delays is None:
        return Sparse(**args)
    if scipy.sparse.issparse(delays):
        d = delays.tocsr().astype(np.int64)
    elif np.ndim(delays) == 0:  # uniform: the same delay on every synapse
        d = w.astype(np.int64, copy=True)
        d.data[:] = int(delays)
    else:  # a dense network's delays, on its (dense) weights' pattern
        d = scipy.sparse.csr_matrix(np.where(np.asarray(given) != 0, delays, 0).astype(np.int64))
    if d.nnz == 0 or d.max() == 0:
        return Sparse(**args)
    return DelaySparse(delays=d, **args)


def build_lava_network(fixed: FixedPointNetwork, v0, tag: str = "fixed_pt",
                       record_steps: int = 0, connectivity: str = "auto") -> LavaNetwork:
    """Build the stock Lava processes of ``fixed`` for one trial.

    Parameters
    ----------
    fixed : FixedPointNetwork
        Checked with :func:`~compiler.backends.lava.checks.check_lava_compatible`.
    v0 : array_like of int, shape (N,)
        Initial voltages.
    tag : {"fixed_pt", "floating_pt"}
        ``floating_pt`` uses :func:`float_parameters`.
    record_steps : int
        When > 0, a ``Monitor`` probes ``lif.s_out`` for this many steps.
    connectivity : {"auto", "dense", "sparse"}
        See :func:`~compiler.backends.lava.checks.resolve_connectivity`.

    Raises
    ------
    BackendUnavailable
        When lava-nc does not import (:func:`~compiler.backends.lava.runtime.import_lava`).
    """
    import_lava()
    from lava.proc.dense.process import DelayDense, Dense
    from lava.proc.lif.process import LIF
    from lava.utils.weightutils import SignMode

    from compiler.backends.lava.processes import SpikeCounter

    check_choice("tag", tag, TAGS)
    modes = check_lava_compatible(fixed)
    n = fixed.n
    v0 = np.asarray(v0, dtype=np.int64).reshape(n)
    if tag == "fixed_pt":
        lif = LIF(shape=(n,), u=0, v=v0, du=fixed.du, dv=fixed.dv, bias_mant=fixed.bias_mant,
                  bias_exp=fixed.bias_exp, vth=fixed.vth)
        conn_args = [dict(weights=w, weight_exp=e, num_weight_bits=fixed.num_weight_bits,
                          sign_mode=SignMode[mode.upper()])
                     for w, e, mode in zip(fixed.weights, fixed.weight_exps, modes)]
    else:
        fp = float_parameters(fixed)
        lif = LIF(shape=(n,), u=0.0, v=v0.astype(float), du=fp["du"], dv=fp["dv"],
                  bias_mant=fp["bias_mant"], bias_exp=0, vth=fp["vth"])
        conn_args = [dict(weights=w) for w in fp["weights"]]
    connections = []
    sparse = resolve_connectivity(fixed, connectivity) == "sparse"
    for args in conn_args:
        if sparse:
            conn = _sparse_connection(args, fixed.delays)
        elif fixed.delays is None:
            conn = Dense(**args)
        else:
            conn = DelayDense(delays=fixed.delays, **args)
        lif.s_out.connect(conn.s_in)
        conn.a_out.connect(lif.a_in)
        connections.append(conn)
    counter = SpikeCounter(shape=(n,))
    lif.s_out.connect(counter.s_in)
    monitor = None
    if record_steps > 0:
        from lava.proc.monitor.process import Monitor

        monitor = Monitor()
        monitor.probe(lif.s_out, record_steps)
    return LavaNetwork(lif=lif, connections=connections, counter=counter, monitor=monitor)
