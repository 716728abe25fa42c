r"""Run a :class:`FixedPointNetwork` on Lava, built from stock Lava processes.

The network is one ``lava.proc.lif.process.LIF`` population and one
``lava.proc.dense.process.Dense`` per weight split (``DelayDense`` when the network
has delays), each with its own ``weight_exp``, ``num_weight_bits`` and an explicit
``sign_mode``, all feeding ``LIF.a_in``. Only stock processes carry the dynamics, so
the same network is deployable on Loihi 2. Spikes are counted inside the network by a
:class:`compiler.processes.SpikeCounter` on ``LIF.s_out`` and read once at the end.

Tags
----
``fixed_pt`` runs Lava's bit-accurate models (``PyLifModelBitAcc``,
``PyDenseModelBitAcc``/``PyDelayDenseModelBitAcc``); :func:`compiler.emulate` matches
it spike for spike (see :mod:`compiler.emulator` for the step).

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

Trials
------
Trials run one after the other, one freshly built Lava network per trial (Lava
startup is ~0.3-1 s each; a block-diagonal network of all trials would need
(trials N)^2 dense weights per split), with initial voltages from
:func:`compiler.emulator.resolve_initial_voltages`: the same ``seed`` gives the same
voltages as :func:`compiler.emulate`.

Runtime safety
--------------
Each trial runs non-blocking (``RunSteps(blocking=False)``) while the caller polls the
runtime's response channels against a deadline, so a hung run raises
:class:`TimeoutError`; a Lava process that crashes (after which Lava itself would wait
forever) raises :class:`RuntimeError` at once. The runtime is always stopped in
``finally`` (also on errors, ``KeyboardInterrupt``, the CLI's ``Terminated`` and any
other ``BaseException``): Lava's own ``stop()`` gets :data:`STOP_GRACE` seconds
(:data:`INTERRUPT_GRACE` when interrupted); if it does not return, or cannot (a process
is dead), the run's child processes are terminated by handle (SIGKILL after
:data:`KILL_GRACE`), its shared memory segments unlinked and its shared-memory server
stopped. Signals that arrive during that cleanup are held back and re-delivered after
it (one skips the graceful stop), and one that arrives while Lava forks (where CPython
would drop the exception its handler raises) is acted on once ``run()`` returns
(:class:`compiler.processes_cleanup.SignalGuard`). The children are forked inside
:func:`compiler.processes_cleanup.children_die_with_parent`, so on Linux they die with
the parent even when it cannot clean up (SIGKILL, a crash), after which the
``multiprocessing`` resource tracker unlinks the segments.
"""
from __future__ import annotations

import multiprocessing
import os
import sys
import threading
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from typing import List, Optional, Tuple

import numpy as np

from .emulator import ExecutionResult, resolve_initial_voltages
from .fixed_point import FixedPointNetwork
from .hardware import LAVA_WEIGHT_REGISTER_BITS
from .processes_cleanup import (SignalGuard, alive, children_die_with_parent, terminate_pids,
                                terminate_processes, wait_until)

TAGS = ("fixed_pt", "floating_pt")
"""Lava ProcessModel tags :func:`run_lava` can select."""
TARGETS = ("cpu", "loihi2")
"""``cpu``: Lava's Python models (``Loihi2SimCfg``); ``loihi2``: ``Loihi2HwCfg``."""

# Limits of Lava's fixed-point models (lava-nc 0.10): values outside them are clipped,
# truncated or mis-cast silently by Lava, so run_lava refuses them.
LAVA_WEIGHT_BITS = LAVA_WEIGHT_REGISTER_BITS
"""Dense clips weights to 8 bits (``clip_weights(..., num_bits=8)`` in ``models.py``):
the register width; ``num_weight_bits`` (the weight bits, <= 8) floors away the rest."""
LAVA_MAX_DELAY = 63
"""DelayDense delays are 6-bit (a larger one raises inside the process model)."""
BIAS_MANT_RANGE = (-(2 ** 12), 2 ** 12 - 1)
"""``bias_mant``: signed 13-bit (``PyLifModelBitAcc``)."""
BIAS_EXP_RANGE = (0, 7)
"""``bias_exp``: unsigned 3-bit."""
VTH_RANGE = (0, 2 ** 17 - 1)
"""``vth``: unsigned 17-bit mantissa."""
DECAY_RANGE = (0, 2 ** 12 - 1)
"""``du``, ``dv``: unsigned 12-bit."""

SIGN_MODES = ("excitatory", "inhibitory", "mixed")
"""Lava ``SignMode`` names (``lava.utils.weightutils``) used by :func:`weight_sign_mode`."""

STOP_GRACE = 10.0
"""Seconds allowed for Lava's ``stop()`` before the run's processes are terminated."""
INTERRUPT_GRACE = 2.0
"""The same after an interruption (``KeyboardInterrupt``, ``Terminated``, any
non-``Exception``); Lava's ``stop()`` of a running network takes ~0.1-0.5 s."""
KILL_GRACE = 2.0
"""Seconds between SIGTERM and SIGKILL when the run's processes are terminated."""
_DEAD_PEER_GRACE = 0.5
"""Seconds a graceful stop may go on after one of the run's processes has exited (they
exit as they stop; one killed meanwhile, e.g. by a signal to the process group, leaves
``stop()`` waiting forever)."""
_POLL = (1e-3, 2e-2)
"""First and longest interval between polls of a running network, in seconds."""


class BackendUnavailable(RuntimeError):
    """A requested Lava target cannot run on this machine (e.g. Loihi 2 without
    Intel's ``lava-loihi``)."""


def import_lava() -> None:
    """Import Lava's runtime safely, whatever ran before.

    Lava's ``message_infrastructure/multiprocessing.py`` calls
    ``multiprocessing.set_start_method('fork')`` when first imported, which raises
    "context has already been set" once anything fixed the start method (numba's
    parallel layer does, e.g. after :func:`compiler.emulate`). If the method is
    already ``fork``, that call is a no-op in effect, so it is skipped during the
    import; any other start method is refused with a clear error.
    """
    module = "lava.magma.runtime.message_infrastructure.multiprocessing"
    if module in sys.modules:
        return
    method = multiprocessing.get_start_method(allow_none=True)
    if method not in (None, "fork"):
        raise RuntimeError(f"Lava needs the 'fork' multiprocessing start method; this "
                           f"process already uses {method!r}")
    original = multiprocessing.set_start_method

    def keep_fork(method, force=False):
        if method != "fork" or multiprocessing.get_start_method(allow_none=True) is None:
            original(method, force=force)

    multiprocessing.set_start_method = keep_fork
    try:
        __import__(module)
    finally:
        multiprocessing.set_start_method = original


# --------------------------------------------------------------------- weights
def representable_weight_range(sign_mode: str, num_weight_bits: int = LAVA_WEIGHT_BITS
                               ) -> Tuple[int, int, int]:
    r"""The integer weights Lava's fixed-point Dense keeps unchanged.

    Dense clips weights to 8 bits and then floors away the low bits
    (``clip_weights``, ``truncate_weights`` in ``lava/utils/weightutils.py``). A weight
    ``w`` survives both unchanged if and only if

    .. math::

        \mathrm{lo} \le w \le \mathrm{hi} \quad\text{and}\quad w \equiv 0 \pmod{\mathrm{step}},
        \qquad \mathrm{step} = 2^{8 - n_w + m},

    with :math:`n_w` = ``num_weight_bits`` and :math:`m = 1` in mixed sign mode (the
    sign takes one of the 8 bits), 0 otherwise:

    ============  =================  =========================  ===================
    sign_mode     lo                 hi                         for n_w = 8
    ============  =================  =========================  ===================
    excitatory    0                  256 - step                 [0, 255], step 1
    inhibitory    -(256 - step)      0                          [-255, 0], step 1
    mixed         -256               256 - step                 even in [-256, 254]
    ============  =================  =========================  ===================

    Parameters
    ----------
    sign_mode : {"excitatory", "inhibitory", "mixed"}
    num_weight_bits : int
        Dense ``num_weight_bits``, 1..8.

    Returns
    -------
    (lo, hi, step) : tuple of int
    """
    if sign_mode not in SIGN_MODES:
        raise ValueError(f"sign_mode must be one of {SIGN_MODES}, got {sign_mode!r}")
    _check_weight_bits(num_weight_bits)
    mixed = int(sign_mode == "mixed")
    if mixed and num_weight_bits == 1:
        raise ValueError("num_weight_bits = 1 leaves no magnitude bit in mixed sign mode")
    step = 2 ** (LAVA_WEIGHT_BITS - num_weight_bits + mixed)
    top = 2 ** LAVA_WEIGHT_BITS - step
    return {"excitatory": (0, top, step), "inhibitory": (-top, 0, step),
            "mixed": (-(2 ** LAVA_WEIGHT_BITS), top, step)}[sign_mode]


def _check_weight_bits(num_weight_bits):
    valid = isinstance(num_weight_bits, (int, np.integer)) and 1 <= num_weight_bits <= LAVA_WEIGHT_BITS
    if not valid:
        raise ValueError(f"num_weight_bits must be an integer in 1..{LAVA_WEIGHT_BITS} "
                         f"(Lava Dense holds at most {LAVA_WEIGHT_BITS}-bit weights), "
                         f"got {num_weight_bits!r}")


def _representable(weights: np.ndarray, sign_mode: str, num_weight_bits: int) -> np.ndarray:
    """Boolean mask of the entries Lava keeps unchanged in ``sign_mode``."""
    lo, hi, step = representable_weight_range(sign_mode, num_weight_bits)
    return (weights >= lo) & (weights <= hi) & (weights % step == 0)


def weight_sign_mode(weights, num_weight_bits: int = LAVA_WEIGHT_BITS,
                     name: str = "weights") -> str:
    """The sign mode in which Lava keeps every entry of ``weights`` exactly.

    Lava's own choice (``determine_sign_mode``) is tried first: ``"excitatory"``
    when all entries are >= 0 (an all-zero matrix included), ``"inhibitory"`` when
    all are <= 0, ``"mixed"`` otherwise. An all-non-positive matrix that reaches
    -256 with only multiples of the mixed step falls back to ``"mixed"``.
    :func:`run_lava` passes the result explicitly as Dense's ``sign_mode``.

    Raises
    ------
    ValueError
        When no sign mode represents every entry; the message names the limit, the
        number of offending entries and the worst one.
    """
    w = np.asarray(weights, dtype=np.int64)
    _check_weight_bits(num_weight_bits)
    if w.size == 0 or w.min() >= 0:
        modes = ["excitatory"]
    elif w.max() <= 0:
        modes = ["inhibitory", "mixed"]
    else:
        modes = ["mixed"]
    modes = [m for m in modes if not (m == "mixed" and num_weight_bits == 1)]
    if not modes:
        raise ValueError(f"{name}: mixed-sign weights need num_weight_bits >= 2 "
                         f"(the sign takes one of Lava's {LAVA_WEIGHT_BITS} bits)")
    for mode in modes:
        if np.all(_representable(w, mode, num_weight_bits)):
            return mode
    mode = modes[0]
    lo, hi, step = representable_weight_range(mode, num_weight_bits)
    bad = ~_representable(w, mode, num_weight_bits)
    worst = int(w[bad][np.argmax(np.abs(w[bad]))])
    raise ValueError(
        f"{name}: {int(bad.sum())} entr{'y is' if bad.sum() == 1 else 'ies are'} not representable "
        f"by Lava Dense with num_weight_bits={num_weight_bits} in {mode} sign mode "
        f"(allowed: multiples of {step} in [{lo}, {hi}]); e.g. {worst}. Lava would silently "
        f"clip/truncate it: quantize to representable values instead.")


# -------------------------------------------------------------- validation
def lava_refusal(fixed: FixedPointNetwork) -> str:
    """"" when ``fixed`` was compiled for a Lava-runnable config (or carries no config),
    else the one-line reason: the config's name and file, ``lava_runnable = false`` and
    its ``emulator_only_reason`` (:meth:`compiler.HardwareConfig.lava_refusal`)."""
    hw = (fixed.info or {}).get("hw")
    if not hw or hw.get("lava_runnable", True):
        return ""
    from .hardware import HardwareConfig
    try:
        return HardwareConfig.from_flat_dict(hw).lava_refusal()
    except TypeError:  # a config dict from another version: name and flag only
        return (f"hardware config {hw.get('name', fixed.hw_name)!r} is emulator-only (lava_runnable = false: "
                f"{hw.get('emulator_only_reason') or 'no reason recorded'}); run it with compiler.emulate")


def check_lava_compatible(fixed: FixedPointNetwork) -> Tuple[str, ...]:
    """Check that Lava runs ``fixed`` without silently changing any parameter.

    First refuses a network compiled for an emulator-only config
    (``lava_runnable = false``, :func:`lava_refusal`). Then checks the datapath
    (:data:`compiler.LAVA_LOIHI`), the weights of every split (:func:`weight_sign_mode`
    with the network's ``num_weight_bits``), delays (<= 63), ``bias_mant`` (13-bit
    signed), ``bias_exp`` (0..7), ``vth`` (17-bit) and ``du``/``dv`` (12-bit).

    Returns
    -------
    tuple of str
        The sign mode of each split, in order.

    Raises
    ------
    ValueError
        Naming the first parameter out of Lava's range and the limit.
    """
    from .validate import check_fixed_point  # the one check of ranges (compiler/validate.py)
    return check_fixed_point(fixed, lava=True)


# ----------------------------------------------------------- float models
def float_parameters(fixed: FixedPointNetwork) -> dict:
    r"""Parameters of Lava's float LIF/Dense that run ``fixed`` in the same units.

    Matching Lava's float step (module docstring) with the fixed-point one
    (:mod:`compiler.arithmetic`) term by term:

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


# ------------------------------------------------------------ the network
@dataclass
class LavaNetwork:
    """The Lava processes of one trial.

    Attributes
    ----------
    lif : lava.proc.lif.process.LIF
        The neurons; run the network through it (``lif.run(...)``).
    connections : list of Dense, DelayDense or Sparse
        One per weight split, ``lif.s_out -> conn.s_in``, ``conn.a_out -> lif.a_in``.
    counter : compiler.processes.SpikeCounter
        Counts ``lif.s_out`` per neuron.
    monitor : lava.proc.monitor.process.Monitor or None
        Probes ``lif.s_out`` every step when a raster is recorded.
    """

    lif: object
    connections: List[object]
    counter: object
    monitor: Optional[object] = None


CONNECTIVITIES = ("auto", "dense", "sparse")
"""``connectivity`` choices of :func:`run_lava`."""
SPARSE_DENSITY = 0.25
"""``connectivity="auto"`` uses Lava ``Sparse`` when at most this fraction of the
weights (over all splits) is non-zero and there are no per-synapse delays."""


def weight_density(fixed: FixedPointNetwork) -> float:
    """Fraction of (target, source) pairs with a non-zero weight in any split."""
    nonzero = np.zeros((fixed.n, fixed.n), bool)
    for w in fixed.weights:
        nonzero |= np.asarray(w) != 0
    return float(nonzero.mean())


def resolve_connectivity(fixed: FixedPointNetwork, connectivity: str = "auto") -> str:
    """``"dense"`` or ``"sparse"``: what :func:`build_lava_network` will use.

    Sparse (Lava ``Sparse``, CSR weights, the same clip/truncate/shift arithmetic as
    ``Dense``) needs a network without per-synapse delays; ``"sparse"`` with delays is a
    ValueError.
    """
    _check_choice("connectivity", connectivity, CONNECTIVITIES)
    if connectivity == "sparse" and fixed.delays is not None:
        raise ValueError("connectivity='sparse' needs a network without per-synapse delays "
                         "(DelaySparse is not supported); use 'dense' or 'auto'")
    if connectivity == "auto":
        sparse = fixed.delays is None and weight_density(fixed) <= SPARSE_DENSITY
        return "sparse" if sparse else "dense"
    return connectivity


def build_lava_network(fixed: FixedPointNetwork, v0, tag: str = "fixed_pt",
                       record_steps: int = 0, connectivity: str = "auto") -> LavaNetwork:
    """Build the stock Lava processes of ``fixed`` for one trial.

    Parameters
    ----------
    fixed : FixedPointNetwork
        Checked with :func:`check_lava_compatible`.
    v0 : array_like of int, shape (N,)
        Initial voltages.
    tag : {"fixed_pt", "floating_pt"}
        ``floating_pt`` uses :func:`float_parameters`.
    record_steps : int
        When > 0, a ``Monitor`` probes ``lif.s_out`` for this many steps.
    connectivity : {"auto", "dense", "sparse"}
        See :func:`resolve_connectivity`.
    """
    import_lava()
    from lava.proc.dense.process import DelayDense, Dense
    from lava.proc.lif.process import LIF
    from lava.utils.weightutils import SignMode

    from compiler.processes import SpikeCounter

    _check_choice("tag", tag, TAGS)
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
            from lava.proc.sparse.process import Sparse
            from scipy.sparse import csr_matrix

            conn = Sparse(**dict(args, weights=csr_matrix(args["weights"])))
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


# ------------------------------------------------------------ the runtime
def default_timeout(steps: int, n: int) -> float:
    """Default wall-clock limit of one trial's execution, in seconds:
    ``60 + steps * (2 ms + 20 us * n)``, 10-40x what Lava's CPU models need on a
    2-core machine (~1,000-4,000 steps/s for N = 100-1000)."""
    return 60.0 + steps * (2e-3 + 2e-5 * n)


def _check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")


def loihi_available() -> bool:
    """Whether Intel's ``lava-loihi`` extension is installed (``lava.utils.loihi``)."""
    import_lava()
    from lava.utils import loihi

    return bool(loihi.is_installed())


def run_config(target: str, tag: str):
    """The Lava RunConfig for ``target`` and ``tag``: ``Loihi2SimCfg(select_tag=tag)``
    on ``cpu``; ``Loihi2HwCfg`` on ``loihi2`` (fixed_pt only), which raises
    :class:`BackendUnavailable` unless lava-loihi is installed."""
    _check_choice("target", target, TARGETS)
    _check_choice("tag", tag, TAGS)
    import_lava()
    if target == "cpu":
        from lava.magma.core.run_configs import Loihi2SimCfg

        return Loihi2SimCfg(select_tag=tag)
    if tag != "fixed_pt":
        raise ValueError(f"target 'loihi2' runs fixed point only; got tag={tag!r}")
    if not loihi_available():
        raise BackendUnavailable(
            "target 'loihi2' needs Intel's lava-loihi extension (not on the public package "
            "index; available to INRC members) and access to Loihi 2 hardware. "
            "lava.utils.loihi.is_installed() is False here: use target='cpu' "
            "(Lava's bit-accurate CPU models) or compiler.emulate().")
    from lava.magma.core.run_configs import Loihi2HwCfg

    return Loihi2HwCfg(select_tag=tag)


@contextmanager
def running(root, steps: int, run_cfg, timeout: float, stop_grace: float = STOP_GRACE):
    """Run the Lava network of ``root`` for ``steps`` steps; yield once it is done.

    The body of the ``with`` block may read Vars (the runtime is still up). The
    runtime is stopped on exit, whatever happens (:func:`shutdown`; after a
    ``KeyboardInterrupt`` or another non-``Exception`` such as the CLI's ``Terminated``
    Lava's ``stop()`` gets :data:`INTERRUPT_GRACE` seconds instead of ``stop_grace``).
    Lava's processes are forked inside
    :func:`~compiler.processes_cleanup.children_die_with_parent`. Yields a dict
    of timings: ``startup_s`` (Lava compilation, runtime start, process fork) and
    ``execute_s`` (from the run command until every step is done).

    Raises
    ------
    TimeoutError
        When the run has not finished ``timeout`` seconds after it started.
    RuntimeError
        When a process model raised (Lava's own error).
    """
    from lava.magma.core.run_conditions import RunSteps

    grace = stop_grace
    with children_die_with_parent() as forked, SignalGuard() as signals:
        try:
            t0 = time.perf_counter()
            root.run(condition=RunSteps(num_steps=int(steps), blocking=False), run_cfg=run_cfg)
            signals.release()  # a signal that arrived while Lava forked: act on it now
            t1 = time.perf_counter()
            _wait_until_done(root.runtime, steps, timeout)
            yield {"startup_s": t1 - t0, "execute_s": time.perf_counter() - t1}
        except BaseException as exc:
            if not isinstance(exc, Exception):
                grace = min(stop_grace, INTERRUPT_GRACE)
            raise
        finally:
            signals.hold()  # a signal now ends the graceful stop early, then is re-raised
            try:
                shutdown(root, grace, abort=signals.urgent)
            finally:
                if forked is not None:  # anything else forked for this run and still alive,
                    # e.g. forked as the run was interrupted, before Lava recorded it
                    terminate_pids(forked.pids(), KILL_GRACE)


def _wait_until_done(runtime, steps, timeout):
    """Poll the runtime services' reply channels until every one has answered,
    then let Lava read the replies (``wait()`` raises on a reported process error).

    Lava's processes live until ``stop()``; one that exits during the run has
    crashed (e.g. an exception in ``run_spk``, after which Lava itself would wait
    forever), so that raises at once instead of waiting for the timeout.
    """
    deadline = time.monotonic() + timeout
    ports = list(runtime.service_to_runtime)
    actors = list(getattr(getattr(runtime, "_messaging_infrastructure", None), "actors", []))
    pause, longest = _POLL
    while not all(port.probe() for port in ports):
        dead = [actor for actor in actors if not _alive(actor)]
        if dead:
            raise RuntimeError(_describe_crash(dead, steps))
        if time.monotonic() > deadline:
            raise TimeoutError(f"Lava run of {steps} steps did not finish within "
                               f"timeout={timeout:g} s; the runtime was stopped")
        time.sleep(pause)
        pause = min(2 * pause, longest)
    runtime.wait()


def _describe_crash(dead, steps) -> str:
    """Error message naming the crashed Lava processes and their last traceback."""
    lines = [f"{len(dead)} Lava process(es) exited during a run of {steps} steps; the "
             f"runtime was stopped."]
    for actor in dead:
        error = getattr(actor, "exception", None)
        if error:
            message = " ".join(str(error[0]).split())
            lines.append(f"{actor.name}: {type(error[0]).__name__}: {message[:300]}")
    return "\n".join(lines)


def shutdown(root, stop_grace: float = STOP_GRACE, abort: Optional[threading.Event] = None) -> None:
    """Stop the runtime of ``root`` and leave no Lava process or segment behind.

    Lava's ``stop()`` is tried first (in a helper thread, at most ``stop_grace``
    seconds, less if ``abort`` is set or a process dies meanwhile) when all of the run's
    processes are alive; otherwise, or if it does not return, :func:`_force_shutdown`
    terminates them.
    """
    runtime = getattr(root, "runtime", None)
    if runtime is None:
        return
    infra = getattr(runtime, "_messaging_infrastructure", None)
    actors = list(getattr(infra, "actors", []))
    first_death = []

    def hopeless():  # a signal asks to hurry, or a process died and stop() is not done
        if abort is not None and abort.is_set():
            return True
        if not first_death and not all(_alive(a) for a in actors):
            first_death.append(time.monotonic())  # processes also exit as they stop
        return bool(first_death) and time.monotonic() - first_death[0] > _DEAD_PEER_GRACE

    graceful = getattr(runtime, "_is_started", False) and all(_alive(a) for a in actors) \
        and not (abort is not None and abort.is_set())
    try:
        if graceful and _call_with_timeout(runtime.stop, stop_grace, hopeless):
            return
    except Exception:  # noqa: BLE001 - whatever failed, the processes must still go
        pass
    _force_shutdown(runtime)


_alive = alive


def _call_with_timeout(fn, timeout: float, abort=None) -> bool:
    """Call ``fn()`` in a daemon thread; True if it returned within ``timeout`` (and
    before ``abort``, an Event or a callable, was set or true)."""
    done = threading.Event()

    def target():
        try:
            fn()
            done.set()
        except BaseException:  # noqa: BLE001 - any failure means "not stopped cleanly"
            pass

    thread = threading.Thread(target=target, name="lava-stop", daemon=True)
    thread.start()
    return wait_until(done.is_set, timeout, abort)


def _force_shutdown(runtime) -> None:
    """Terminate this runtime's own child processes by handle (one shared
    :data:`KILL_GRACE`, then SIGKILL), unlink its shared memory segments and stop its
    shared-memory server and watchdogs (lava-nc 0.10 internals:
    ``_messaging_infrastructure``, ``_watchdog_manager``)."""
    infra = getattr(runtime, "_messaging_infrastructure", None)
    terminate_processes(list(getattr(infra, "actors", [])), KILL_GRACE)
    smm = getattr(infra, "smm", None)
    if smm is not None:
        segments = list(getattr(smm, "_shared_memory_handles", []))
        _call_with_timeout(smm.shutdown, 5.0)  # its server unlinks them if it can
        _release_segments(segments)
    watchdogs = getattr(runtime, "_watchdog_manager", None)
    if watchdogs is not None:
        _call_with_timeout(watchdogs.stop, 5.0)
    runtime._is_running = False
    runtime._is_started = False


def _release_segments(segments) -> None:
    """Close and unlink those of ``segments`` (the ``SharedMemory`` handles of Lava's
    ``SharedMemoryManager`` wrapper) that still exist: its server, killed or hung, did
    not unlink them."""
    for handle in segments:
        try:
            handle.close()
        except (OSError, BufferError, ValueError):  # still exported: unlink anyway
            pass
        if os.path.isdir("/dev/shm") and not os.path.exists(f"/dev/shm/{handle.name.lstrip('/')}"):
            continue  # unlinked by the server (unlinking again would warn at exit)
        try:
            handle.unlink()
        except OSError:
            pass


# ------------------------------------------------------------------ run_lava
def run_lava(fixed: FixedPointNetwork, steps: int, tag: str = "fixed_pt", seed=None, v0=None,
             target: str = "cpu", timeout: Optional[float] = None, record: bool = False,
             trials: int = 1, connectivity: str = "auto") -> ExecutionResult:
    """Run ``fixed`` on Lava for ``steps`` steps and count spikes in the network.

    Parameters
    ----------
    fixed : FixedPointNetwork
        Must pass :func:`check_lava_compatible` (else ValueError, before any Lava
        process is built; a network compiled for an emulator-only config such as
        ``wide16`` is refused first, naming the config and ``lava_runnable``).
    steps : int
        Chip steps per trial (>= 1).
    tag : {"fixed_pt", "floating_pt"}
        Lava models: bit-accurate, or float (converted with :func:`float_parameters`).
    seed : int or None
        Seed of the initial voltages; the same seed gives the same voltages as
        :func:`compiler.emulate`.
    v0 : array_like of int, optional
        Initial voltages, shape (N,) or (trials, N); overrides ``seed``.
    target : {"cpu", "loihi2"}
        ``cpu`` runs Lava's Python models (``Loihi2SimCfg``). ``loihi2`` uses
        ``Loihi2HwCfg`` and needs Intel's lava-loihi (else :class:`BackendUnavailable`);
        there the SpikeCounter runs on the host CPU (untested on hardware).
    timeout : float or None
        Wall-clock seconds allowed for each trial's execution; default
        :func:`default_timeout`.
    record : bool
        Also record the raster with a ``Monitor`` (slow: ~17 us per neuron and step;
        meant for short runs).
    trials : int
        Independent runs, one after the other, each a fresh Lava network.
    connectivity : {"auto", "dense", "sparse"}
        Lava ``Dense``/``DelayDense`` or ``Sparse`` connection processes; ``"auto"``
        picks ``Sparse`` for sparse weights (:func:`resolve_connectivity`). Both give
        the same spikes.

    Returns
    -------
    ExecutionResult
        ``backend`` is ``"lava-fixed_pt"``, ``"lava-floating_pt"`` or ``"loihi2"``;
        ``wall_time`` covers everything (building, Lava compilation and startup,
        execution, readout); ``provenance`` has ``startup_s`` (Lava compilation and
        startup) and ``execute_s`` (the steps alone), summed over trials.

    Raises
    ------
    TimeoutError
        A trial did not finish within ``timeout`` (the runtime is stopped first).
    BackendUnavailable
        ``target="loihi2"`` without lava-loihi.
    """
    refusal = lava_refusal(fixed) if isinstance(fixed, FixedPointNetwork) else ""
    if refusal:
        raise ValueError(refusal)
    _check_choice("tag", tag, TAGS)
    _check_choice("target", target, TARGETS)
    if not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"steps must be an integer >= 1, got {steps!r}")
    check_lava_compatible(fixed)
    connectivity = resolve_connectivity(fixed, connectivity)
    run_cfg = run_config(target, tag)
    v_init, used_seed = resolve_initial_voltages(fixed, trials, seed, v0)
    timeout = default_timeout(steps, fixed.n) if timeout is None else float(timeout)
    if not timeout > 0:
        raise ValueError(f"timeout must be > 0 seconds, got {timeout}")
    if record and trials * steps * fixed.n > 2_000_000:
        warnings.warn(f"record=True reads {trials * steps * fixed.n:,} values through Lava's "
                      f"Monitor (~17 us each); expect minutes", stacklevel=2)
    counts = np.zeros((trials, fixed.n), np.int64)
    raster = np.zeros((trials, steps, fixed.n), bool) if record else None
    start = time.perf_counter()
    timings = {"startup_s": 0.0, "execute_s": 0.0}
    for trial in range(trials):
        net = build_lava_network(fixed, v_init[trial], tag, record_steps=steps if record else 0,
                                 connectivity=connectivity)
        with running(net.lif, steps, run_cfg, timeout) as times:
            for key in timings:
                timings[key] += times[key]
            counts[trial] = np.rint(net.counter.count.get()).astype(np.int64)
            if record:
                data = net.monitor.get_data()[net.lif.name]["s_out"]
                raster[trial] = np.asarray(data).reshape(steps, fixed.n) != 0
    wall = time.perf_counter() - start
    backend = "loihi2" if target == "loihi2" else f"lava-{tag}"
    return ExecutionResult(
        counts=counts, steps=int(steps), dt=fixed.dt, seed=used_seed, backend=backend,
        hw_name=fixed.hw_name, raster=raster, wall_time=wall,
        provenance=dict(_provenance(fixed, backend, tag, target, run_cfg, steps, trials, used_seed,
                                    timeout, timings), connectivity=connectivity))


def _provenance(fixed, backend, tag, target, run_cfg, steps, trials, seed, timeout, timings):
    from importlib.metadata import PackageNotFoundError, version

    try:
        lava_version = version("lava-nc")
    except PackageNotFoundError:  # pragma: no cover - source checkout of lava
        lava_version = "unknown"
    prov = {"backend": backend, "lava-nc": lava_version, "numpy": np.__version__,
            "tag": tag, "target": target, "run_config": type(run_cfg).__name__,
            "hw": fixed.hw_name, "dt": fixed.dt, "steps": int(steps), "trials": int(trials),
            "trials_mode": "sequential (one Lava network per trial)", "seed": seed,
            "timeout_s": timeout, **timings, "cpu_count": os.cpu_count()}
    if tag == "floating_pt":
        prov["float_conversion"] = ("du=(du+1)/4096, dv=dv/4096, bias=bias_mant<<bias_exp, "
                                    "vth=vth<<6, W=W*2**(weight_exp+6)")
    return prov
