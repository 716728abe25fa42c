r"""A vectorized, bit-exact emulator of Lava's ``fixed_pt`` LIF + Dense/DelayDense.

It reproduces, integer for integer, the step of ``PyLifModelBitAcc`` and
``PyDenseModelBitAcc`` / ``PyDelayDenseModelBitAcc`` (lava-nc 0.10), written out in
:mod:`compiler.hardware.arithmetic`: Dense's one-step latency, the per-split and per-delay
floor shift of summed input, the 6-bit activation shift, the truncating 12-bit
current decay, 24-bit wrap of ``u``, saturation of ``v``, the strictly-greater
threshold and the hard reset to zero. Trials are independent copies of the network,
advanced in parallel (numba), in chunks of steps of about :data:`CHUNK_SECONDS` each
with the whole state carried between chunks (so Ctrl-C is answered between chunks and
the counts do not depend on the chunking: :func:`run_in_chunks`; its pacing and
progress bar also serve the float simulator and the staged model).

Sparse networks (CSR splits on one pattern, :class:`FixedPointNetwork` ``is_sparse``)
run event-driven (:func:`_emulate_sparse_chunk`): the synapses are listed once by
presynaptic neuron (:class:`SparseSynapses`, O(N + s nnz) time and memory, nothing
N x N), a step costs O(N) for the neurons plus the fan-out of its spikes per split,
and the pending input, its wraps and every spike are those of the dense kernel on
``W.toarray()``, integer for integer (also with per-synapse or uniform delays).

Lava's numpy models also wrap at 32 bits where their arrays are ``int32`` (measured
against lava-nc 0.10, see ``tests/test_emulator_lava.py``): Dense's output travels
through an ``int32`` channel and LIF's ``a_in`` sums the splits in ``int32``; the
6-bit activation shift and the addition to the decayed current are ``int32`` too.
So, with :math:`w_{32}` the 32-bit two's complement wrap and :math:`A` the exact
summed input of one step,

.. math::

    u \leftarrow \mathrm{wrap}_{24}\Big(w_{32}\big(\mathrm{decay}(u)
          + w_{32}(w_{32}(A)\, 2^{6})\big)\Big),

where :math:`\mathrm{wrap}_{24}` subtracts (adds) :math:`2^{24}` **once** when the value
is above :math:`2^{23}` (at or below :math:`-2^{23}`), exactly like Lava: a sum beyond
:math:`\pm 3 \cdot 2^{23}` is left outside the 24-bit range. These wraps only matter
when :math:`|A| \ge 2^{17}` (u wrap) or :math:`|A| \ge 2^{25}` (int32 wrap). The
voltage sum ``decay(v) + u + bias`` cannot reach :math:`2^{31}` (|u| stays below
:math:`2^{31} - 2^{24}` after the wrap), so it needs no 32-bit wrap.
"""
from __future__ import annotations

import math
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Optional

import numba
import numpy as np
from numba import njit, prange

from compiler.quantization.fixed_point import FixedPointNetwork
from compiler.system.resources import check_emulate
from compiler.quantization.stability import check_stable
from compiler.backends.results import RatesFromCounts
from compiler.system.sparse import same_pattern

LAVA_WORD_BITS = 32
"""Width of the ``int32`` arrays of Lava's fixed-point models and channels."""

CHUNK_SECONDS = 0.2
"""Wall time aimed at by one chunk of a long kernel run (emulator, float simulator,
staged model). Between chunks Python regains control, so Ctrl-C (``KeyboardInterrupt``)
or a terminating signal turned into an exception is raised within about this long."""

AUTO_PROGRESS_SECONDS = 2.0
"""With ``progress=None`` a bar appears once a run is estimated to need longer still."""

_FIRST_CHUNK_SECONDS = 0.05
_NOMINAL_NEURON_STEPS_PER_SECOND = 3e7
"""A deliberately low guess at one thread's throughput, used only to size the first
chunk; later chunks are sized from the measured rate."""
FIRST_CHUNK_WORK = _FIRST_CHUNK_SECONDS * _NOMINAL_NEURON_STEPS_PER_SECOND
"""Neuron updates in the first chunk of a run on one thread (later chunks follow the
measured rate)."""


def check_progress(progress):
    """``progress`` as given, when it is None (auto), True or False; else a ValueError."""
    if progress is not None and not isinstance(progress, bool):
        raise ValueError(f"progress must be None (auto), True or False, got {progress!r}")
    return progress


class ChunkPacer:
    """Sizes successive chunks of kernel work so that each takes about ``target`` seconds.

    ``first`` (an estimate from the work size) sizes the first chunk; afterwards the
    size follows the measured rate (units per second), changing by at most 4x per
    chunk, so a mis-estimate or a burst of activity cannot produce a chunk much longer
    than ``target``. Units are whatever the kernel counts (steps, neuron updates).
    """

    def __init__(self, first: float, target: float = CHUNK_SECONDS, minimum: int = 1):
        self.target = float(target)
        self.minimum = max(1, int(minimum))
        self.size = max(self.minimum, int(first))

    def record(self, units: int, seconds: float) -> None:
        """Adapt the next size to ``units`` done in ``seconds``."""
        if units <= 0:
            return
        if seconds <= 0.0:
            ideal = self.size * 4.0
        else:
            ideal = units / seconds * self.target
        self.size = max(self.minimum, int(min(max(ideal, self.size / 4.0), self.size * 4.0)))


def first_chunk_steps(neurons: int, trials: int, threads: int = 1) -> int:
    """Steps of the first chunk of a run advancing ``trials`` copies of ``neurons``
    neurons on ``threads`` threads (about :data:`_FIRST_CHUNK_SECONDS` at a low guess of
    the throughput)."""
    per_step = max(1, neurons) * max(1, math.ceil(trials / max(1, threads)))
    return max(1, int(FIRST_CHUNK_WORK / per_step))


class RunProgress:
    """A tqdm bar over ``total`` units for a long run.

    ``progress=True`` shows it from the start, ``False`` never; ``None`` (auto) shows
    it only in the main thread of the main process, when stderr is a terminal and no
    other tqdm bar is open, and once the time still needed (estimated from the rate
    since the first update) exceeds :data:`AUTO_PROGRESS_SECONDS` (so tests, pipes,
    worker threads and processes, runs nested in a sweep and short runs get none). Use as a context
    manager: the bar is closed on exit, also when the run is interrupted.
    """

    def __init__(self, progress, total: int, desc: str, unit: str = "step"):
        check_progress(progress)
        self.total = int(total)
        self.desc = desc
        self.unit = unit
        self.done = 0
        self.bar = None
        self.auto = progress is None and _auto_progress_possible()
        self._mark = None
        if progress:
            self._open()

    def _open(self):
        from tqdm.auto import tqdm
        self.bar = tqdm(total=self.total, desc=self.desc, unit=self.unit, unit_scale=True,
                        dynamic_ncols=True, initial=self.done)

    def update(self, done: int) -> None:
        """Move the bar to ``done`` units (absolute)."""
        done = int(done)
        if self.bar is None and self.auto and 0 < done < self.total:
            # The rate is measured from the first update on: the first chunk may include
            # numba's compilation, which says nothing about the rest of the run.
            now = time.perf_counter()
            if self._mark is None:
                self._mark = (now, done)
            elif done > self._mark[1]:
                rate = (done - self._mark[1]) / max(now - self._mark[0], 1e-9)
                if (self.total - done) / rate > AUTO_PROGRESS_SECONDS:
                    self.auto = False
                    self._open()
        if self.bar is not None and done > self.done:
            self.bar.update(done - self.done)
        self.done = max(self.done, done)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def _auto_progress_possible() -> bool:
    """Main thread of the main process, stderr a terminal, no other tqdm bar open (a
    sweep's, a reproduction's): nested runs and joblib workers stay quiet."""
    import multiprocessing

    if threading.current_thread() is not threading.main_thread():
        return False
    if multiprocessing.parent_process() is not None:
        return False
    try:
        if sys.stderr is None or not sys.stderr.isatty():
            return False
    except (AttributeError, ValueError):
        return False
    from tqdm import tqdm
    return not len(getattr(tqdm, "_instances", ()))


def run_in_chunks(advance: Callable[[int, int], None], total: int, first: int, progress=None,
                  desc: str = "run", unit: str = "step") -> None:
    """Call ``advance(begin, end)`` on consecutive ranges covering ``[0, total)``, each
    sized by a :class:`ChunkPacer` to take about :data:`CHUNK_SECONDS`, with a
    :class:`RunProgress` bar.

    ``advance`` runs a kernel that keeps its whole state in arrays it is given, so the
    chunks compose to the unchunked run exactly. Between chunks Python runs again: a
    pending Ctrl-C raises ``KeyboardInterrupt`` there (in the main thread), and the
    caller's partial arrays are simply dropped.
    """
    pacer = ChunkPacer(first)
    with RunProgress(progress, total, desc, unit) as bar:
        done = 0
        while done < total:
            end = min(int(total), done + pacer.size)
            start = time.perf_counter()
            advance(done, end)
            pacer.record(end - done, time.perf_counter() - start)
            done = end
            bar.update(done)


@dataclass
class ExecutionResult(RatesFromCounts):
    """Spike counts of a fixed-point run (emulator or Lava).

    Attributes
    ----------
    counts : ndarray, shape (trials, N)
        Spikes per neuron over the run.
    steps : int
        Chip steps run.
    dt : float
        Seconds of model time per step; ``rates = counts / (steps * dt)``.
    seed : int or None
        Seed of the initial-voltage draw (None when ``v0`` was given).
    backend : str
        ``"emulator"``, ``"lava-fixed_pt"``, ``"lava-floating_pt"`` or ``"loihi2"``.
    hw_name : str
        Hardware config the network was compiled for.
    raster : ndarray of bool, shape (trials, steps, N), or None
        Per-step spikes, when recorded.
    wall_time : float
        Seconds spent running (excluding compilation of the emulator kernel).
    provenance : dict
        Versions and settings.
    """

    counts: np.ndarray
    steps: int
    dt: float
    seed: Optional[int]
    backend: str
    hw_name: str
    raster: Optional[np.ndarray] = None
    wall_time: float = 0.0
    provenance: dict = field(default_factory=dict)

    @property
    def duration(self) -> float:
        """Model time covered, ``steps * dt`` seconds."""
        return self.steps * self.dt


def resolve_initial_voltages(fixed: FixedPointNetwork, trials: int, seed, v0):
    """The (trials, N) integer initial voltages of a run and the seed that drew them.

    ``v0`` (shape (N,) or (trials, N)) wins over ``seed``; otherwise
    :meth:`FixedPointNetwork.initial_voltages` draws them, with a fresh seed recorded
    when ``seed`` is None.
    """
    if not isinstance(trials, (int, np.integer)) or trials < 1:
        raise ValueError(f"trials must be an integer >= 1, got {trials!r}")
    if v0 is not None:
        v = np.asarray(v0)
        if v.shape == (fixed.n,):
            v = np.broadcast_to(v, (trials, fixed.n))
        if v.shape != (trials, fixed.n):
            raise ValueError(f"v0 must have shape ({fixed.n},) or ({trials}, {fixed.n}), got {v.shape}")
        limit = fixed.arithmetic.state_max - 1
        if np.any(np.abs(v) > limit) or np.any(v != np.round(v)):
            raise ValueError(f"v0 must hold integers within +/-{limit}")
        return np.ascontiguousarray(v, dtype=np.int64), None
    if seed is None:
        seed = int(np.random.SeedSequence().entropy % (2**63))
    return fixed.initial_voltages(trials, seed).astype(np.int64), seed


def index_dtype(size: int):
    """``int32`` when indices below ``size`` fit in it, else ``int64``."""
    return np.int32 if size < 2**31 else np.int64


@njit(cache=True)
def _transpose_pattern(indptr, indices, n, t_indptr, t_indices, perm):
    """CSR (rows = post) to CSR of the transpose (rows = pre) by a counting sort:
    ``t_indices[t_indptr[j]:t_indptr[j + 1]]`` are the posts of pre ``j`` in increasing
    order and ``perm[q]`` the position in the original ``data`` of transposed entry
    ``q``. O(N + nnz) time, no memory beyond the outputs."""
    for p in range(indices.shape[0]):
        t_indptr[indices[p] + 1] += 1
    for j in range(n):
        t_indptr[j + 1] += t_indptr[j]
    fill = t_indptr[:n].copy()
    for i in range(n):
        for p in range(indptr[i], indptr[i + 1]):
            j = indices[p]
            q = fill[j]
            t_indices[q] = i
            perm[q] = p
            fill[j] = q + 1


def transposed_pattern(matrix):
    """``(t_indptr, t_indices, perm)`` of a square CSR ``matrix`` (rows = post): the
    same synapses listed by presynaptic neuron (:func:`_transpose_pattern`), with
    ``data[perm]`` their values in that order. O(N + nnz) time and memory (int32
    indices below 2**31)."""
    n = matrix.shape[0]
    nnz = int(matrix.indptr[-1])
    t_indptr = np.zeros(n + 1, np.int64)
    t_indices = np.empty(nnz, index_dtype(n))
    perm = np.empty(nnz, index_dtype(max(nnz, 1)))
    _transpose_pattern(np.asarray(matrix.indptr, np.int64), np.asarray(matrix.indices), n,
                       t_indptr, t_indices, perm)
    return t_indptr, t_indices, perm


@dataclass(frozen=True, eq=False)
class SparseSynapses:
    """The synapses of a sparse :class:`FixedPointNetwork`, listed by presynaptic
    neuron for event-driven propagation (:func:`_emulate_sparse_chunk`).

    Built once per run by :meth:`of` in O(N + s nnz) time from the splits' shared CSR
    pattern (rows = post): ``targets[indptr[j]:indptr[j + 1]]`` are the posts of ``j``,
    ``weights[k, p]`` the mantissa of synapse ``p`` in split ``k`` (the splits' own
    integer dtype), ``delays[p]`` its delay in steps (empty when the delay is uniform,
    ``uniform_delay``). Memory: ``8 (N + 1) + nnz (4 + s b + b_d)`` bytes for ``b``-byte
    mantissas and ``b_d``-byte delays (int32 indices).
    """

    indptr: np.ndarray
    targets: np.ndarray
    weights: np.ndarray
    delays: np.ndarray
    uniform_delay: int
    max_delay: int

    @classmethod
    def of(cls, weights, delays=None) -> "SparseSynapses":
        """From the splits' CSR matrices (one shared pattern, contract of
        :class:`FixedPointNetwork`) and ``delays`` (None, an int, or a CSR matrix with
        that pattern). ValueError when the patterns differ."""
        import scipy.sparse

        first = weights[0]
        for k, w in enumerate(weights):
            if not scipy.sparse.issparse(w) or w.format != "csr" or not same_pattern(first, w):
                raise ValueError(f"sparse weight splits must be CSR matrices sharing one pattern "
                                 f"(indptr, indices); split {k} does not match split 0")
        t_indptr, targets, perm = transposed_pattern(first)
        dtype = np.result_type(*[w.dtype for w in weights])
        stacked = np.empty((len(weights), perm.shape[0]), dtype)
        for k, w in enumerate(weights):
            stacked[k] = w.data[perm]
        uniform, per_synapse = 0, np.zeros(0, np.int64)
        if delays is None:
            pass
        elif scipy.sparse.issparse(delays):
            if delays.format != "csr" or not same_pattern(first, delays):
                raise ValueError("sparse delays must be a CSR matrix with the weights' pattern")
            per_synapse = delays.data[perm]
            if per_synapse.size and per_synapse.min() < 0:
                raise ValueError("delays must be >= 0 steps")
        else:
            uniform = int(delays)
            if np.ndim(delays) != 0 or uniform < 0:
                raise ValueError(f"a uniform delay must be an integer >= 0, got {delays!r}")
        max_delay = int(per_synapse.max()) if per_synapse.size else uniform
        return cls(indptr=t_indptr, targets=targets, weights=stacked, delays=per_synapse,
                   uniform_delay=uniform, max_delay=max_delay)


def max_delay_of(delays) -> int:
    """Largest delay in steps of ``FixedPointNetwork.delays`` (None, an int, a dense
    array or a CSR matrix): 0 for None."""
    if delays is None:
        return 0
    if np.ndim(delays) == 0 and not hasattr(delays, "nnz"):
        return int(delays)
    return int(delays.max()) if np.prod(delays.shape) else 0


def emulate(fixed: FixedPointNetwork, steps: int, trials: int = 1, seed=None, v0=None,
            record: bool = False, *, allow_unstable: bool = False, progress=None) -> ExecutionResult:
    """Run ``fixed`` for ``steps`` chip steps, bit-exactly as Lava ``fixed_pt`` would.

    Parameters
    ----------
    fixed : FixedPointNetwork
    steps : int
        Number of chip steps (>= 1).
    trials : int
        Independent copies, differing only in initial voltages.
    seed : int or None
        Seed of the initial voltages (shared with :func:`compiler.run_lava`).
    v0 : array_like of int, optional
        Initial voltages, shape (N,) or (trials, N); overrides ``seed``.
    record : bool
        Also return the per-step raster (trials x steps x N booleans).
    allow_unstable : bool
        Run a network whose rates can run away with a warning instead of refusing it.
    progress : bool or None
        tqdm progress bar: True always, False never, None (default) only for a run
        estimated to take more than :data:`AUTO_PROGRESS_SECONDS`, in the main thread,
        with stderr on a terminal.

    Dense weights run :func:`_emulate_chunk`: per step O(N) for the neurons plus
    O(s N) per spike (a column of every split), memory :math:`8 N^2 (s + 1)` for the
    stacked weights and delays. Sparse weights (CSR splits sharing one pattern,
    :class:`SparseSynapses`) run :func:`_emulate_sparse_chunk`, event-driven: per step
    O(N) plus O(s x fan-out) per spike, memory O(N + s nnz) for the synapses; both
    keep per trial ``8 N (max_delay + 2)`` bytes of pending input (and, sparse, per
    thread ``17 N (max_delay + 1)`` bytes of delay-group sums) and give the same
    spikes, integer for integer.

    The run proceeds in chunks of steps of about :data:`CHUNK_SECONDS` each, the whole
    state (``u``, ``v``, the pending-input ring, counts) carried from chunk to chunk, so
    the result does not depend on the chunking; between chunks Ctrl-C raises
    ``KeyboardInterrupt`` (no partial result is returned).

    Returns
    -------
    ExecutionResult

    Raises
    ------
    ValueError
        Bad arguments, or the float network the integers implement
        (:func:`compiler.effective_network`, recomputed from the integers, so a
        tampered file cannot pass on a stored verdict) is unstable
        (:func:`compiler.quantization.stability.check_stable`, once per ``fixed``, then cached) and
        ``allow_unstable`` is False; :class:`compiler.system.resources.ResourceError` when
        the run (:func:`compiler.system.resources.check_emulate`: state, stacked weights, the
        raster of ``record``) needs more memory than the limit, before allocating it.
    """
    if not isinstance(fixed, FixedPointNetwork):
        raise TypeError(f"fixed must be a FixedPointNetwork, got {type(fixed).__name__}")
    fixed.validate()  # compiler.quantization.validate.check_fixed_point: every integer within its config (cached)
    if not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"steps must be an integer >= 1, got {steps!r}")
    check_progress(progress)
    v_init, used_seed = resolve_initial_voltages(fixed, trials, seed, v0)
    check_emulate(fixed, steps, v_init.shape[0], record=record, step_limit=None,
                  hint="reduce trials or N", force_hint="")
    check_stable(fixed, allow_unstable=allow_unstable)
    ar = fixed.arithmetic
    exps = np.asarray(fixed.weight_exps, dtype=np.int64)
    steps = int(steps)
    n, trials = fixed.n, v_init.shape[0]
    sparse = fixed.is_sparse
    if sparse:
        synapses = SparseSynapses.of(fixed.weights, fixed.delays)
        max_delay = synapses.max_delay
    else:
        weights = np.ascontiguousarray(np.stack(fixed.weights), dtype=np.int64)
        max_delay = max_delay_of(fixed.delays)
        delays = (np.zeros((n, n), np.int64) if fixed.delays is None
                  else np.ascontiguousarray(np.broadcast_to(fixed.delays, (n, n)), dtype=np.int64))
    bias = fixed.effective_bias.astype(np.int64)
    u_factor, v_factor = ar.current_decay_factor(fixed.du), ar.voltage_decay_factor(fixed.dv)
    # The whole kernel state lives here and is passed to every chunk (_emulate_chunk).
    u = np.zeros((trials, n), np.int64)
    v = np.array(v_init, dtype=np.int64, order="C")
    pending = np.zeros((trials, max_delay + 2, n), np.int64)
    counts = np.zeros((trials, n), np.int64)
    raster = np.zeros((trials, steps, n) if record else (0, 0, n), np.bool_)
    neuron = (bias, np.int64(fixed.threshold), np.int64(u_factor), np.int64(v_factor),
              np.int64(ar.decay_bits), np.int64(ar.activation_shift), np.int64(ar.state_max),
              np.int64(LAVA_WORD_BITS))
    state = (u, v, pending, counts, raster)

    def advance(begin, end):
        if sparse:
            _emulate_sparse_chunk(synapses.indptr, synapses.targets, synapses.weights,
                                  synapses.delays, synapses.uniform_delay, exps, max_delay, neuron,
                                  *state, begin, end, bool(record))
        else:
            _emulate_chunk(weights, exps, delays, max_delay, neuron, *state, begin, end, bool(record))

    start = time.perf_counter()
    with _threads_at_most(trials):
        run_in_chunks(advance, steps, first_chunk_steps(n, trials, numba.get_num_threads()),
                      progress, desc="emulate", unit="step")
    wall = time.perf_counter() - start
    return ExecutionResult(
        counts=counts, steps=int(steps), dt=fixed.dt, seed=used_seed, backend="emulator",
        hw_name=fixed.hw_name, raster=raster if record else None, wall_time=wall,
        provenance={"backend": "emulator", "numpy": np.__version__, "numba": numba.__version__,
                    "hw": fixed.hw_name, "dt": fixed.dt, "steps": int(steps), "trials": int(trials),
                    "seed": used_seed, "weights": "sparse" if sparse else "dense"})


@contextmanager
def _threads_at_most(trials: int):
    """Run numba's parallel region on at most ``trials`` threads (trials are the
    parallel loop). Idle workers are not free: with one trial on a loaded machine,
    waiting for them made a 1 ms run take 20-35 ms."""
    previous = numba.get_num_threads()
    numba.set_num_threads(max(1, min(int(trials), previous)))
    try:
        yield
    finally:
        numba.set_num_threads(previous)


@njit(cache=True, inline="always")
def _shift(x, e):
    """Lava's weight-exponent shift: left for e > 0, arithmetic (floor) right otherwise."""
    return x << e if e > 0 else x >> (-e)


@njit(cache=True, inline="always")
def _wrap_word(x, bits):
    """Two's complement wrap of ``x`` to ``bits`` bits (numpy ``int32`` overflow)."""
    half = np.int64(1) << (bits - 1)
    return ((x + half) & ((half << 1) - 1)) - half


@njit(cache=True, inline="always")
def _decay(x, factor, bits):
    """sign(x) * ((|x| * factor) >> bits): truncation toward zero."""
    if x >= 0:
        return (x * factor) >> bits
    return -(((-x) * factor) >> bits)


@njit(cache=True, inline="always")
def _lif_step(u, v, pending, slot, bias, vth_eff, u_factor, v_factor, decay_bits, act_shift,
              state_max, word_bits, spiked, counts, raster, tr, t, record):
    """One LIF step of every neuron of trial ``tr`` (``PyLifModelBitAcc``, module
    docstring), consuming the input due now (``pending[slot]``, cleared). Writes the
    ids of the neurons that spiked to ``spiked`` and returns how many: O(N). The
    kernels unpack their ``neuron`` tuple ``(bias, vth_eff, u_factor, v_factor,
    decay_bits, act_shift, state_max, word_bits)`` once and pass the scalars: unpacked
    in here, the inlined loop ran 50 % slower."""
    n = u.shape[0]
    v_limit = state_max - 1
    n_spiked = 0
    for i in range(n):
        # Lava: int32 channel / a_in sum, int32 shift, int32 add (module docstring)
        a = _wrap_word(pending[slot, i], word_bits)
        pending[slot, i] = 0
        act = _wrap_word(a << act_shift, word_bits)
        uu = _wrap_word(_decay(u[i], u_factor, decay_bits) + act, word_bits)
        if uu > state_max:
            uu -= 2 * state_max
        elif uu <= -state_max:
            uu += 2 * state_max
        u[i] = uu
        vv = _decay(v[i], v_factor, decay_bits) + uu + bias[i]
        if vv > v_limit:
            vv = v_limit
        elif vv < -v_limit:
            vv = -v_limit
        if vv > vth_eff:
            vv = 0
            spiked[n_spiked] = i
            n_spiked += 1
            counts[tr, i] += 1
            if record:
                raster[tr, t, i] = True
        v[i] = vv
    return n_spiked


@njit(cache=True, parallel=True)
def _emulate_chunk(weights, exps, delays, max_delay, neuron, u_all, v_all, pending_all, counts,
                   raster, t_begin, t_end, record):
    """Advance every trial over steps ``t_begin .. t_end - 1`` in place (dense weights,
    ``weights`` (splits, N, N), ``delays`` (N, N); ``neuron``: see :func:`_lif_step`):
    O(N + spikes x N) per step.

    The state (``u_all``, ``v_all``: (trials, N); ``pending_all``: (trials, ring, N),
    the input due at step ``t`` in slot ``t % ring``; ``counts``; ``raster`` indexed by
    the absolute step) is entirely in the arrays, so consecutive chunks compose to one
    run. Returns nothing: a kernel that returns a tuple of arrays can hand Python a
    tuple holding NULL when Ctrl-C arrives during the run (numba's boxing runs Python
    code, the pending KeyboardInterrupt is raised there and the tuple boxing does not
    check for it), which crashed the interpreter.
    """
    n_splits, n, _ = weights.shape
    trials = v_all.shape[0]
    ring = max_delay + 2  # pending input for steps t+1 .. t+1+max_delay, plus the current
    bias, vth_eff, u_factor, v_factor, decay_bits, act_shift, state_max, word_bits = neuron
    for tr in prange(trials):
        # Local copies, written back at the end: arrays the compiler knows are not
        # aliased keep the inner loops as fast as with the state allocated in here.
        u = u_all[tr].copy()
        v = v_all[tr].copy()
        pending = pending_all[tr].copy()
        group = np.zeros((max_delay + 1, n), np.int64)
        spiked = np.zeros(n, np.int64)
        for t in range(t_begin, t_end):
            n_spiked = _lif_step(u, v, pending, t % ring, bias, vth_eff, u_factor, v_factor,
                                 decay_bits, act_shift, state_max, word_bits, spiked, counts,
                                 raster, tr, t, record)
            if n_spiked == 0:
                continue
            # Dense/DelayDense: per split and per delay group, sum then shift (floor).
            for k in range(n_splits):
                group[:, :] = 0
                for s in range(n_spiked):
                    j = spiked[s]
                    for i in range(n):
                        group[delays[i, j], i] += weights[k, i, j]
                for d in range(max_delay + 1):
                    target = (t + 1 + d) % ring
                    for i in range(n):
                        pending[target, i] += _shift(group[d, i], exps[k])
        u_all[tr] = u
        v_all[tr] = v
        pending_all[tr] = pending


@njit(cache=True, parallel=True)
def _emulate_sparse_chunk(indptr, targets, weights, delays, uniform_delay, exps, max_delay, neuron,
                          u_all, v_all, pending_all, counts, raster, t_begin, t_end, record):
    r""":func:`_emulate_chunk` on sparse weights, event-driven: O(N + spikes x fan-out)
    per step.

    A split with ``weight_exp >= 0`` adds :math:`w\,2^{e}` of every synapse straight
    into the ring: the left shift is linear, also modulo :math:`2^{64}` where the int64
    sums wrap, and the 32-bit wrap of the sum comes later, so this is the dense
    kernel's integer. The synapses are listed by presynaptic neuron (:class:`SparseSynapses`):
    ``targets[indptr[j]:indptr[j + 1]]`` are the targets of ``j``, ``weights[k, p]``
    the mantissa of synapse ``p`` in split ``k`` and ``delays[p]`` its delay (or, with
    ``delays`` empty, ``uniform_delay`` for all). Per split and per delay group the
    touched targets are summed, then shifted (floor) once, exactly like the dense
    kernel: an entry it adds zero to is one this kernel does not touch, and the shift
    of zero is zero, so both kernels write the same integers to the pending ring.
    Touched (delay, target) pairs are listed as they are first hit, so the shift pass
    costs the number of distinct pairs, not (max_delay + 1) x N.
    """
    n_splits = weights.shape[0]
    trials, n = v_all.shape
    ring = max_delay + 2
    per_synapse = delays.shape[0] > 0
    n_groups = max_delay + 1 if per_synapse else 1
    bias, vth_eff, u_factor, v_factor, decay_bits, act_shift, state_max, word_bits = neuron
    for tr in prange(trials):
        spiked = np.zeros(n, np.int64)
        group = np.zeros(n_groups * n, np.int64)     # flat (delay, target) sums
        touched = np.zeros(n_groups * n, np.int64)   # flat indices hit this split
        seen = np.zeros(n_groups * n, np.bool_)
        u, v, pending = u_all[tr].copy(), v_all[tr].copy(), pending_all[tr].copy()
        for t in range(t_begin, t_end):
            n_spiked = _lif_step(u, v, pending, t % ring, bias, vth_eff, u_factor, v_factor,
                                 decay_bits, act_shift, state_max, word_bits, spiked, counts,
                                 raster, tr, t, record)
            for k in range(n_splits if n_spiked else 0):
                e = exps[k]
                if e >= 0:
                    # A left shift is linear (modulo 2**64, like the int64 sums of the
                    # dense kernel): each synapse goes straight into the ring.
                    for s in range(n_spiked):
                        j = spiked[s]
                        for p in range(indptr[j], indptr[j + 1]):
                            d = delays[p] if per_synapse else uniform_delay
                            pending[(t + 1 + d) % ring, targets[p]] += np.int64(weights[k, p]) << e
                    continue
                m = 0
                for s in range(n_spiked):
                    j = spiked[s]
                    for p in range(indptr[j], indptr[j + 1]):
                        w = weights[k, p]
                        if w == 0:
                            continue
                        idx = np.int64(targets[p])
                        if per_synapse:
                            idx += delays[p] * n
                        if not seen[idx]:
                            seen[idx] = True
                            touched[m] = idx
                            m += 1
                        group[idx] += w
                for q in range(m):
                    idx = touched[q]
                    d = idx // n if per_synapse else uniform_delay
                    i = idx - d * n if per_synapse else idx
                    pending[(t + 1 + d) % ring, i] += _shift(group[idx], e)
                    group[idx] = 0
                    seen[idx] = False
        u_all[tr] = u
        v_all[tr] = v
        pending_all[tr] = pending
