r"""A vectorized, bit-exact emulator of Lava's ``fixed_pt`` LIF + Dense/DelayDense.

It reproduces, integer for integer, the step of ``PyLifModelBitAcc`` and
``PyDenseModelBitAcc`` / ``PyDelayDenseModelBitAcc`` (lava-nc 0.10), written out in
:mod:`compiler.hardware.arithmetic`: Dense's one-step latency, the per-split and per-delay
floor shift of summed input, the 6-bit activation shift, the truncating 12-bit
current decay, 24-bit wrap of ``u``, saturation of ``v``, the strictly-greater
threshold and the hard reset to zero. A hypothetical chip whose neuron resets by
subtraction (:attr:`compiler.hardware.arithmetic.ChipArithmetic.reset` ``"subtract"``,
config ``loihi2_subtractive``: :math:`v \leftarrow v - \theta_m 2^{6}` on a spike, the
overshoot kept) runs the same step with that reset; Lava cannot run it, so there the
emulator is the reference. Trials are independent copies of the network,
advanced in parallel (numba), in chunks of steps of about :data:`CHUNK_SECONDS` each
with the whole state carried between chunks (so Ctrl-C is answered between chunks and
the counts do not depend on the chunking: :func:`run_in_chunks`; its pacing and
progress bar also serve the float simulator and the staged model).

The synapses are listed by presynaptic neuron once per network, in the splits' own
narrow integer dtypes, and cached with it (:func:`synapses_of`): dense networks as
:class:`DenseSynapses` (``weights[k, j, :]`` the contiguous row a spike of ``j``
adds; per-synapse delays as a transposed ``uint8``/``uint16`` array, none for plain
Dense or a uniform delay), sparse ones (CSR splits on one pattern,
:class:`FixedPointNetwork` ``is_sparse``) as :class:`SparseSynapses` (O(N + s nnz),
nothing N x N), run event-driven by :func:`_emulate_sparse_chunk`. A step costs O(N)
for the neurons (a branch-free loop LLVM vectorizes, :func:`_lif_step`, about 1 ns a
neuron) plus, per spike and split, one row of N (dense) or the spike's fan-out
(sparse); the pending input, its wraps and every spike of the two kernels are the
same, integer for integer (also with per-synapse or uniform delays).

The kernels keep the pending input in ``int32`` (Lava's channel word: only
:math:`w_{32}(A)` below is ever used, and sums and left shifts commute with that
wrap) and ``u``, ``v`` as doubles holding integers, on which every operation of the
step is exact (:func:`_lif_step`). When the network's largest possible summed input
:math:`B` (:func:`input_bound`) satisfies :math:`B\,2^{6} < 2^{24}`, the 32-bit wraps
below provably never change a value and are skipped (:func:`neuron_mode`).

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
import weakref
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Optional

import numba
import numpy as np
from numba import njit, prange

from compiler.hardware.encoding import smallest_int_dtype
from compiler.quantization.fixed_point import FixedPointNetwork
from compiler.system.resources import check_emulate
from compiler.quantization.stability import check_stable
from compiler.backends.results import RatesFromCounts
from compiler.system.sparse import same_pattern

LAVA_WORD_BITS = 32
"""Width of the ``int32`` arrays of Lava's fixed-point models and channels."""

SUBTRACT_MODE = 8
"""The :func:`neuron_mode` bit of the subtractive reset (``v -= vth`` on a spike,
:attr:`ChipArithmetic.reset` ``"subtract"``); clear: the hard reset ``v = 0``."""

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


def run_switching(run_steps: Callable, begin: int, end: int, switch: int, before, after) -> None:
    """Steps ``begin .. end - 1`` as ``run_steps(b, e, parameter)``: with ``before``
    for the steps below ``switch`` and ``after`` from it on (a stimulus's bias, then
    the network's), so a chunk that straddles the switch runs as two."""
    if begin < switch:
        run_steps(begin, min(end, switch), before)
    if end > switch:
        run_steps(max(begin, switch), end, after)


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

    Built once per network (:func:`synapses_of`) by :meth:`of` in O(N + s nnz) time from the splits' shared CSR
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
    row_abs: Optional[np.ndarray] = None

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
        n = first.shape[0]
        row_abs = np.stack([np.bincount(targets, weights=np.abs(stacked[k].astype(np.float64)),
                                        minlength=n) for k in range(stacked.shape[0])]).astype(np.int64)
        return cls(indptr=t_indptr, targets=targets, weights=stacked, delays=per_synapse,
                   uniform_delay=uniform, max_delay=max_delay, row_abs=row_abs)



def max_delay_of(delays) -> int:
    """Largest delay in steps of ``FixedPointNetwork.delays`` (None, an int, a dense
    array or a CSR matrix): 0 for None."""
    if delays is None:
        return 0
    if np.ndim(delays) == 0 and not hasattr(delays, "nnz"):
        return int(delays)
    return int(delays.max()) if np.prod(delays.shape) else 0


def _smallest_unsigned(hi: int):
    """The smallest unsigned dtype holding ``0 .. hi``."""
    for dtype in (np.uint8, np.uint16, np.uint32):
        if hi <= np.iinfo(dtype).max:
            return np.dtype(dtype)
    return np.dtype(np.uint64)


@dataclass(frozen=True, eq=False)
class DenseSynapses:
    """The synapses of a dense :class:`FixedPointNetwork`, stored by presynaptic
    neuron for :func:`_emulate_chunk`: a spike of ``j`` reads the contiguous rows
    ``weights[k, j, :]`` (and ``delays[j, :]``).

    ``weights[k, j, i]`` is split ``k``'s mantissa from pre ``j`` to post ``i``
    (``fixed.weights[k][i, j]`` transposed) in the smallest signed dtype holding every
    split (int8 for Loihi's 8-bit mantissas). ``delays`` is empty for plain Dense or a
    uniform delay (``uniform_delay``), else ``delays[j, i]`` in the smallest unsigned
    dtype, with ``delay_lo[j]``, ``delay_hi[j]`` the smallest and largest delay of row
    ``j`` (the delay groups a spike of ``j`` can touch). Built once per network
    (:func:`synapses_of`, O(s N^2)); memory :math:`N^2 (s\\,b + b_d)` bytes for
    ``b``-byte mantissas and ``b_d``-byte delays (none without per-synapse delays).
    """

    weights: np.ndarray
    delays: np.ndarray
    delay_lo: np.ndarray
    delay_hi: np.ndarray
    uniform_delay: int
    max_delay: int
    row_abs: np.ndarray

    @classmethod
    def of(cls, weights, delays=None) -> "DenseSynapses":
        """From the splits' (N, N) integer matrices (rows = post) and ``delays`` (None,
        an int or an (N, N) integer array)."""
        n = weights[0].shape[0]
        lo = min(int(np.min(w)) for w in weights)
        hi = max(int(np.max(w)) for w in weights)
        dtype = smallest_int_dtype(lo, hi)
        stacked = np.empty((len(weights), n, n), dtype)
        row_abs = np.zeros((len(weights), n), np.int64)
        block = 256
        for k, w in enumerate(weights):
            stacked[k] = np.asarray(w).T  # one strided pass, no int64 temporary
            for j in range(0, n, block):  # sum_j |W[i, j]| in blocks of pre rows
                row_abs[k] += np.abs(stacked[k, j:j + block].astype(np.int64)).sum(axis=0)
        empty = np.zeros((0, 0), np.uint8)
        none = np.zeros(0, np.int64)
        if delays is None:
            return cls(stacked, empty, none, none, 0, 0, row_abs)
        if np.ndim(delays) == 0:
            uniform = int(delays)
            if uniform < 0:
                raise ValueError(f"a uniform delay must be an integer >= 0, got {delays!r}")
            return cls(stacked, empty, none, none, uniform, uniform, row_abs)
        d = np.asarray(delays)
        dmin, dmax = int(d.min()), int(d.max())
        if dmin < 0:
            raise ValueError("delays must be >= 0 steps")
        if dmin == dmax:  # per-synapse in form, uniform in fact
            return cls(stacked, empty, none, none, dmax, dmax, row_abs)
        narrow = np.empty((n, n), _smallest_unsigned(dmax))
        narrow[:] = d.T
        return cls(stacked, narrow, narrow.min(axis=1).astype(np.int64),
                   narrow.max(axis=1).astype(np.int64), 0, dmax, row_abs)

    @property
    def nbytes(self) -> int:
        return int(self.weights.nbytes + self.delays.nbytes)


_SYNAPSE_CACHE = weakref.WeakKeyDictionary()
_SYNAPSE_LOCK = threading.Lock()


def cached_synapses(fixed):
    """The store :func:`synapses_of` built for ``fixed``, or None when none is cached
    (nothing is built; used by the memory estimate)."""
    try:
        with _SYNAPSE_LOCK:
            hit = _SYNAPSE_CACHE.get(fixed)
    except TypeError:  # not weak-referenceable
        return None
    key = (tuple(id(w) for w in fixed.weights), id(fixed.delays))
    return hit[1] if hit is not None and hit[0] == key else None


def synapses_of(fixed: FixedPointNetwork):
    """The synapses of ``fixed`` listed by presynaptic neuron in narrow dtypes
    (:class:`DenseSynapses` or, sparse, :class:`SparseSynapses`), built once per
    network object and cached (weakly: the cache goes with the network, and is not
    pickled or saved with it). The key holds the identity of the weight and delay
    fields, so a field replaced with ``object.__setattr__`` is rebuilt."""
    key = (tuple(id(w) for w in fixed.weights), id(fixed.delays))
    with _SYNAPSE_LOCK:
        hit = _SYNAPSE_CACHE.get(fixed)
    if hit is not None and hit[0] == key:
        return hit[1]
    if fixed.is_sparse:
        syn = SparseSynapses.of(fixed.weights, fixed.delays)
    else:
        syn = DenseSynapses.of(fixed.weights, fixed.delays)
    with _SYNAPSE_LOCK:
        _SYNAPSE_CACHE[fixed] = (key, syn)
    return syn


def bias_range(fixed: FixedPointNetwork):
    """``(lo, hi, why)``: the effective biases ``bias_mant << bias_exp`` the network's
    bias fields allow, from its config (``bias.mantissa_bits``, or the compile's
    ``bias_bits`` override, and ``bias.exponent_max``) or, for a hand-built network,
    the widest any config allows (:mod:`compiler.quantization.validate`)."""
    from compiler.hardware.config import BIAS_BITS_RANGE
    from compiler.quantization.validate import _SCHEMA_RANGE, resolve_config

    cfg = resolve_config(fixed)
    if cfg is None:
        bits, emax = _SCHEMA_RANGE["bias_mantissa_bits"][1], _SCHEMA_RANGE["bias_exponent_max"][1]
        why = "the widest range of any hardware config"
    else:
        bits, emax = cfg.bias_mantissa_bits, cfg.bias_exponent_max
        options = (fixed.info or {}).get("options")
        override = options.get("bias_bits") if isinstance(options, dict) else None
        if (isinstance(override, int) and not isinstance(override, bool)
                and bits < override <= BIAS_BITS_RANGE[1]):
            bits = override
        why = f"config {cfg.name!r}" if hasattr(cfg, "name") else "the network's config"
    why = f"{bits}-bit signed mantissa << exponent up to {emax}, {why}"
    return -(1 << (bits - 1)) << emax, ((1 << (bits - 1)) - 1) << emax, why


BIAS_CLIP = 2.0 ** 40
"""Biases enter the kernel as doubles clipped to this magnitude: ``decay(v) + u`` is
below :math:`2^{32}` in magnitude and ``v`` saturates at :math:`\\pm(2^{23}-1)`, so a
larger bias gives the same saturated voltage, and every sum stays exact in double."""


def resolve_bias(fixed: FixedPointNetwork, trials: int, bias=None) -> np.ndarray:
    """The (trials, N) effective biases of a run as a C-contiguous array of doubles: the
    network's ``effective_bias``, or ``bias`` (integers, shape (N,) or (trials, N),
    within :func:`bias_range`; ValueError naming the value and the range). Always the
    same array type (8 N bytes per trial, counted by the memory estimate), so the kernels
    are compiled once for both cases."""
    if bias is None:
        b = fixed.effective_bias.astype(np.float64)
        return np.ascontiguousarray(np.broadcast_to(np.clip(b, -BIAS_CLIP, BIAS_CLIP),
                                                    (trials, fixed.n)))
    arr = np.asarray(bias)
    if arr.shape == (fixed.n,):
        arr = arr[None, :]
    if arr.shape not in ((1, fixed.n), (trials, fixed.n)):
        raise ValueError(f"bias must have shape ({fixed.n},) or ({trials}, {fixed.n}), got "
                         f"{np.shape(bias)}")
    if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise ValueError(f"bias must hold integers (effective biases bias_mant << bias_exp), "
                         f"got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.floating):
        bad = ~(np.isfinite(arr) & (arr == np.round(arr)))
        if np.any(bad):
            index = tuple(int(i) for i in np.unravel_index(np.flatnonzero(bad)[0], arr.shape))
            raise ValueError(f"bias must hold integers (effective biases bias_mant << bias_exp): "
                             f"bias{list(index)} = {arr[index]!r}")
    lo, hi, why = bias_range(fixed)
    out = (arr < lo) | (arr > hi)
    if np.any(out):
        index = tuple(int(i) for i in np.unravel_index(np.flatnonzero(out)[0], arr.shape))
        raise ValueError(f"bias{list(index)} = {int(arr[index])} is outside the allowed range "
                         f"{lo} .. {hi} ({int(np.count_nonzero(out))} value(s); {why})")
    b = np.clip(arr.astype(np.float64), -BIAS_CLIP, BIAS_CLIP)
    return np.ascontiguousarray(np.broadcast_to(b, (trials, fixed.n)))


def input_bound(syn, exps) -> int:
    r""":math:`B \ge |A_i|`, the summed input of any neuron at any step: per split the
    row sum :math:`S_{ki} = \sum_j |W^{(k)}_{ij}|` (``syn.row_abs``; every synapse adds
    to a given step's input at most once, from the one step its delay points back to)
    shifted by :math:`e_k`, plus, for :math:`e_k < 0`, one per delay group (each floor
    moves a negative sum by less than one); max over neurons."""
    groups = syn.max_delay + 1 if syn.delays.shape[0] > 0 else 1
    # In double: exact below 2**53, and any larger bound is far beyond the wraps anyway.
    total = np.zeros(syn.row_abs.shape[1], np.float64)
    for k, e in enumerate(exps):
        s = syn.row_abs[k].astype(np.float64) * 2.0 ** e
        total += s if e >= 0 else np.floor(s) + groups
    return int(total.max()) if total.size else 0


def neuron_mode(fixed: FixedPointNetwork, syn) -> int:
    r"""Which loop of :func:`_lif_step` is exact for ``fixed`` (``syn``: its
    :func:`synapses_of`).

    The 32-bit wraps are identities when the summed input cannot reach them: with
    :math:`|A| \le B` (``syn.input_bound``) and :math:`B\,2^{6} < 2 \cdot 2^{23}`, a ``u``
    within :math:`\pm 2^{23}` gives ``decay(u) + a 2^6`` within :math:`\pm 3 \cdot 2^{23}`,
    which the 24-bit wrap brings back within :math:`\pm 2^{23}` (so by induction from
    ``u = 0`` neither 32-bit wrap ever changes a value); then bit 0 is clear. Bit 1 is
    set when ``v`` leaks (``dv`` above zero). 4: ``decay_bits`` above 22, where
    :math:`|x|\,\mathrm{factor}` could exceed :math:`2^{53}` (the integer decay). Plus
    :data:`SUBTRACT_MODE` (8) when the chip resets by subtraction
    (:attr:`compiler.hardware.arithmetic.ChipArithmetic.reset` ``"subtract"``)."""
    ar = fixed.arithmetic
    reset = SUBTRACT_MODE if ar.subtractive else 0
    if 31 + ar.decay_bits > 53:
        return 4 + reset
    sm = ar.state_max
    act = input_bound(syn, fixed.weight_exps) << ar.activation_shift
    wraps = not (act < 2 * sm and sm + act < 2 ** (LAVA_WORD_BITS - 1))
    leak = ar.voltage_decay_factor(fixed.dv) != ar.decay_unity
    return int(wraps) + 2 * int(leak) + reset


def emulate(fixed: FixedPointNetwork, steps: int, trials: int = 1, seed=None, v0=None,
            record: bool = False, *, allow_unstable: bool = False, progress=None,
            bias=None, stimulus=None) -> ExecutionResult:
    r"""Run ``fixed`` for ``steps`` chip steps, bit-exactly as Lava ``fixed_pt`` would.

    Parameters
    ----------
    fixed : FixedPointNetwork
    steps : int
        Number of chip steps (>= 1).
    trials : int
        Independent copies, differing only in initial voltages (and ``bias``).
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
    bias : array_like of int, optional
        Effective biases (``bias_mant << bias_exp`` units, added to ``v`` every step),
        shape (N,) for every trial or (trials, N) per trial, overriding the network's;
        each within :func:`bias_range` (the range the network's bias fields allow).
        Recorded as ``provenance["bias"] = "per-trial"``.
    stimulus : compiler.Stimulus, optional
        Other bias fields for the first ``stimulus.steps`` steps (every trial), then
        the network's (or ``bias``); the state runs on across the switch. Recorded as
        ``provenance["stimulus_steps"]``.

    The synapses are listed by presynaptic neuron in the splits' own narrow integer
    dtypes (:func:`synapses_of`, built once per network and cached), so a spike of
    ``j`` reads one contiguous row per split. Dense weights (:class:`DenseSynapses`)
    run :func:`_emulate_chunk`: per step O(N) for the neurons (vectorized) plus O(s N)
    per spike, memory :math:`N^2 (s\,b + b_d)` bytes for ``b``-byte mantissas and
    ``b_d``-byte per-synapse delays (none for plain Dense or a uniform delay). Sparse
    weights (CSR splits sharing one pattern, :class:`SparseSynapses`) run
    :func:`_emulate_sparse_chunk`: per step O(N) plus O(s x fan-out) per spike, memory
    O(N + s nnz). Both keep per trial a pending-input ring of ``4 N (max_delay + 2)``
    bytes (``int32``: Lava's channel word, see :func:`_emulate_chunk`) and ``u``, ``v``
    as doubles, and give the same spikes, integer for integer.

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
        Bad arguments (``bias``: not integers, a wrong shape, or outside the allowed
        range, named with the value), or the float network the integers implement
        (:func:`compiler.effective_network`, recomputed from the integers, so a
        tampered file cannot pass on a stored verdict) is unstable
        (:func:`compiler.quantization.stability.check_stable`, once per ``fixed``, then cached) and
        ``allow_unstable`` is False; :class:`compiler.system.resources.ResourceError` when
        the run (:func:`compiler.system.resources.check_emulate`: state, synapses, the
        raster of ``record``) needs more memory than the limit, before allocating it.
    """
    if not isinstance(fixed, FixedPointNetwork):
        raise TypeError(f"fixed must be a FixedPointNetwork, got {type(fixed).__name__}")
    fixed.validate()  # compiler.quantization.validate.check_fixed_point: every integer within its config (cached)
    if not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"steps must be an integer >= 1, got {steps!r}")
    check_progress(progress)
    v_init, used_seed = resolve_initial_voltages(fixed, trials, seed, v0)
    n, trials = fixed.n, v_init.shape[0]
    bias_all = resolve_bias(fixed, trials, bias)
    switch = 0
    if stimulus is not None:
        stimulus_bias = stimulus.biases(fixed, trials)
        switch = stimulus.steps
    check_emulate(fixed, steps, trials, record=record, step_limit=None,
                  hint="reduce trials or N", force_hint="", store=cached_synapses(fixed))
    check_stable(fixed, allow_unstable=allow_unstable)
    ar = fixed.arithmetic
    exps = np.asarray(fixed.weight_exps, dtype=np.int64)
    steps = int(steps)
    sparse = fixed.is_sparse
    syn = synapses_of(fixed)
    ring = syn.max_delay + 2
    u_factor, v_factor = ar.current_decay_factor(fixed.du), ar.voltage_decay_factor(fixed.dv)
    # The whole kernel state lives here and is passed to every chunk (_emulate_chunk).
    u = np.zeros((trials, n), np.float64)
    v = np.array(v_init, dtype=np.float64, order="C")
    pending = np.zeros((trials, ring, n), np.int32)
    counts = np.zeros((trials, n), np.int64)
    raster = np.zeros((trials, steps, n) if record else (0, 0, n), np.bool_)
    neuron = (float(fixed.threshold), float(u_factor), float(v_factor), 2.0 ** -ar.decay_bits,
              2.0 ** ar.activation_shift, float(ar.state_max), float(ar.state_max - 1),
              np.int64(neuron_mode(fixed, syn)), np.int64(u_factor), np.int64(v_factor), np.int64(ar.decay_bits))
    state = (u, v, pending, counts, raster)

    def run_steps(begin, end, biases):
        if sparse:
            _emulate_sparse_chunk(syn.indptr, syn.targets, syn.weights, syn.delays, syn.uniform_delay,
                                  exps, syn.max_delay, biases, neuron, *state, begin, end, bool(record))
        else:
            _emulate_chunk(syn.weights, exps, syn.delays, syn.delay_lo, syn.delay_hi, syn.uniform_delay,
                           syn.max_delay, biases, neuron, *state, begin, end, bool(record))

    def advance(begin, end):
        run_switching(run_steps, begin, end, switch, stimulus_bias if switch else None, bias_all)

    start = time.perf_counter()
    with _threads_at_most(trials):
        run_in_chunks(advance, steps, first_chunk_steps(n, trials, numba.get_num_threads()),
                      progress, desc="emulate", unit="step")
    wall = time.perf_counter() - start
    provenance = {"backend": "emulator", "numpy": np.__version__, "numba": numba.__version__,
                  "hw": fixed.hw_name, "dt": fixed.dt, "steps": int(steps), "trials": int(trials),
                  "seed": used_seed, "weights": "sparse" if sparse else "dense"}
    if bias is not None:
        provenance["bias"] = "per-trial"
    if stimulus is not None:
        provenance["stimulus_steps"] = stimulus.steps
    return ExecutionResult(
        counts=counts, steps=int(steps), dt=fixed.dt, seed=used_seed, backend="emulator",
        hw_name=fixed.hw_name, raster=raster if record else None, wall_time=wall,
        provenance=provenance)


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
def _wrap32(x):
    """:func:`_wrap_word` to 32 bits of an integer held in a double: exact for
    :math:`|x| < 2^{52}` (every operation is on integers or powers of two)."""
    return x - 4294967296.0 * np.floor((x + 2147483648.0) * (1.0 / 4294967296.0))


@njit(cache=True, inline="always")
def _decay(x, factor, bits):
    """sign(x) * ((|x| * factor) >> bits): truncation toward zero."""
    if x >= 0:
        return (x * factor) >> bits
    return -(((-x) * factor) >> bits)


@njit(cache=True, inline="always")
def _lif_loop(u, v, row, bias, flags, vth, u_factor, v_factor, scale, act_scale, state_max, v_limit,
              wraps, leak, subtract):
    """The loop of :func:`_lif_step` in double; ``wraps``, ``leak`` and ``subtract`` are
    constants at each call site, so each of the eight variants compiles to a branch-free
    loop. ``u_factor`` and ``v_factor`` come scaled by ``2**-decay_bits`` (exact: a power
    of two), so ``x * factor`` is the exact real product :math:`x f / 2^{b}`."""
    n = u.shape[0]
    two_state = 2.0 * state_max
    count = 0
    for i in range(n):
        act = np.float64(row[i]) * act_scale
        row[i] = 0
        if wraps:
            act = _wrap32(act)
        uu = np.trunc(u[i] * u_factor) + act
        if wraps:
            uu = _wrap32(uu)
        count += _settle(u, v, flags, i, uu, np.trunc(v[i] * v_factor) if leak else v[i], bias[i],
                         two_state, state_max, v_limit, vth, subtract)
    return count


@njit(cache=True, inline="always")
def _settle(u, v, flags, i, uu, decayed_v, bias, two_state, state_max, v_limit, vth, subtract):
    """The end of neuron ``i``'s step, shared by both loops: the 24-bit wrap of ``u``
    (once, like Lava), ``v = decay(v) + u + bias`` saturated, the strict threshold and
    the reset, hard (``v = 0``, Lava's LIF) or, with the constant ``subtract``,
    subtractive (``v - vth``, the overshoot kept: :attr:`ChipArithmetic.reset`); writes
    ``u[i]``, ``v[i]``, ``flags[i]`` and returns 1 for a spike."""
    uu = uu - two_state if uu > state_max else uu
    uu = uu + two_state if uu <= -state_max else uu
    u[i] = uu
    vv = decayed_v + uu + bias
    vv = v_limit if vv > v_limit else vv
    vv = -v_limit if vv < -v_limit else vv
    s = vv > vth
    v[i] = (vv - vth if subtract else 0.0) if s else vv
    flags[i] = s
    return 1 if s else 0


@njit(cache=True, inline="always")
def _lif_step(u, v, row, bias, flags, vth, u_factor, v_factor, scale, act_scale, state_max,
              v_limit, mode, iu_factor, iv_factor, decay_bits):
    r"""One LIF step of every neuron of one trial (``PyLifModelBitAcc``, module
    docstring), consuming the input due now (``row``, the ``int32`` pending slot,
    cleared): ``flags[i]`` says whether ``i`` spiked; returns how many did. O(N),
    branch-free (selects), so LLVM vectorizes it (about 1 ns per neuron).

    ``u``, ``v`` and ``bias`` are doubles holding integers, and every operation is
    exact in double: ``row`` already holds :math:`w_{32}(A)` (the ring sums modulo
    :math:`2^{32}`), the activation :math:`a\,2^{6}` is below :math:`2^{47}` before its
    wrap (:func:`_wrap32`), ``decay(x)`` is ``trunc(x * factor * 2**-bits)`` with
    :math:`|x| < 2^{31}` and ``factor`` :math:`\le 2^{b}`, so the product is exact while
    :math:`31 + b \le 53`, and ``decay(v) + u + bias`` stays below :math:`2^{41}`
    (:data:`BIAS_CLIP`). ``mode`` (:func:`neuron_mode`) picks the loop: bit 0 set, the
    32-bit wraps are applied (else the network's input bound proves them identities);
    bit 1 set, ``v`` leaks (else ``decay(v) = v``); 4, the integer :func:`_decay` (a
    ``decay_bits`` too wide for the exact double product); plus :data:`SUBTRACT_MODE`
    (8), the subtractive reset ``v -= vth`` on a spike (:attr:`ChipArithmetic.reset`
    ``"subtract"``, a hypothetical chip) instead of ``v = 0``. Each combination is its
    own loop with the choices as constants (:func:`_lif_loop`), so none costs a branch
    per neuron. The kernels unpack their ``neuron`` tuple once and pass the scalars."""
    if mode >= SUBTRACT_MODE:
        return _lif_variant(u, v, row, bias, flags, vth, u_factor, v_factor, scale, act_scale, state_max,
                            v_limit, mode - SUBTRACT_MODE, iu_factor, iv_factor, decay_bits, True)
    return _lif_variant(u, v, row, bias, flags, vth, u_factor, v_factor, scale, act_scale, state_max,
                        v_limit, mode, iu_factor, iv_factor, decay_bits, False)


@njit(cache=True, inline="always")
def _lif_variant(u, v, row, bias, flags, vth, u_factor, v_factor, scale, act_scale, state_max,
                 v_limit, mode, iu_factor, iv_factor, decay_bits, subtract):
    """:func:`_lif_step` for one reset (``subtract``, a constant at both call sites) and
    ``mode`` without :data:`SUBTRACT_MODE`: picks the loop."""
    u_factor = u_factor * scale
    v_factor = v_factor * scale
    if mode == 0:
        return _lif_loop(u, v, row, bias, flags, vth, u_factor, v_factor, scale, act_scale,
                         state_max, v_limit, False, False, subtract)
    if mode == 1:
        return _lif_loop(u, v, row, bias, flags, vth, u_factor, v_factor, scale, act_scale,
                         state_max, v_limit, True, False, subtract)
    if mode == 2:
        return _lif_loop(u, v, row, bias, flags, vth, u_factor, v_factor, scale, act_scale,
                         state_max, v_limit, False, True, subtract)
    if mode == 3:
        return _lif_loop(u, v, row, bias, flags, vth, u_factor, v_factor, scale, act_scale,
                         state_max, v_limit, True, True, subtract)
    n = u.shape[0]
    two_state = 2.0 * state_max
    count = 0
    for i in range(n):
        act = _wrap32(np.float64(row[i]) * act_scale)
        row[i] = 0
        uu = _wrap32(np.float64(_decay(np.int64(u[i]), iu_factor, decay_bits)) + act)
        count += _settle(u, v, flags, i, uu, np.float64(_decay(np.int64(v[i]), iv_factor, decay_bits)),
                         bias[i], two_state, state_max, v_limit, vth, subtract)
    return count


@njit(cache=True, inline="always")
def _compact(flags, words, spiked, counts, raster, tr, t, record):
    """The ids of the flagged neurons into ``spiked`` (returns how many), counted and
    recorded: scans ``flags`` eight at a time (``words``, its uint64 view)."""
    m = 0
    for w in range(words.shape[0]):
        if words[w] != 0:
            for i in range(8 * w, 8 * w + 8):
                if flags[i]:
                    spiked[m] = i
                    m += 1
                    counts[tr, i] += 1
                    if record:
                        raster[tr, t, i] = True
    return m


@njit(cache=True, parallel=True)
def _emulate_chunk(weights, exps, delays, delay_lo, delay_hi, uniform_delay, max_delay, bias_all,
                   neuron, u_all, v_all, pending_all, counts, raster, t_begin, t_end, record):
    r"""Advance every trial over steps ``t_begin .. t_end - 1`` in place (dense weights
    by presynaptic neuron, :class:`DenseSynapses`: ``weights`` (splits, N, N) with
    ``weights[k, j, i]`` from ``j`` to ``i``; ``delays`` (N, N) by pre, or empty for
    ``uniform_delay``; ``bias_all`` (trials, N); ``neuron``: see :func:`_lif_step`):
    O(N) (vectorized) + O(s N) per spike per step, one contiguous row per split and
    spike.

    The pending ring is ``int32``: Lava uses the summed input only through its 32-bit
    wrap :math:`w_{32}(A)` (module docstring), and additions and left shifts commute
    with that wrap, so summing modulo :math:`2^{32}` gives the same integer. Per split:

    - ``weight_exp >= 0``: each row adds :math:`w\,2^{e}` straight into the ring slot of
      its delay (the shift is linear);
    - ``weight_exp < 0``: Lava sums the split's input per delay group and floor-shifts
      each sum once, so the rows are summed exactly (int64) per delay group first (one
      spike: the row itself), then shifted into the ring; with per-synapse delays only
      the groups between the spiking rows' smallest and largest delay are visited.

    Without per-synapse delays (plain Dense, or one delay for all) a spike's rows go
    to one slot, with no per-synapse delay lookup.

    The state (``u_all``, ``v_all``: (trials, N) doubles; ``pending_all``: (trials,
    ring, N), the input due at step ``t`` in slot ``t % ring``; ``counts``; ``raster``
    indexed by the absolute step) is entirely in the arrays, so consecutive chunks
    compose to one run. Returns nothing: a kernel that returns a tuple of arrays can
    hand Python a tuple holding NULL when Ctrl-C arrives during the run (numba's boxing
    runs Python code, the pending KeyboardInterrupt is raised there and the tuple
    boxing does not check for it), which crashed the interpreter.
    """
    n_splits, n, _ = weights.shape
    trials = v_all.shape[0]
    ring = max_delay + 2  # pending input for steps t+1 .. t+1+max_delay, plus the current
    per_synapse = delays.shape[0] > 0
    any_negative = False
    for k in range(n_splits):
        if exps[k] < 0:
            any_negative = True
    n_groups = (max_delay + 1 if per_synapse else 1) if any_negative else 0
    vth, u_factor, v_factor, scale, act_scale, state_max, v_limit, mode, \
        iu_factor, iv_factor, decay_bits = neuron
    n_pad = (n + 7) // 8 * 8
    for tr in prange(trials):
        # Local copies, written back at the end: arrays the compiler knows are not
        # aliased keep the inner loops as fast as with the state allocated in here.
        u = u_all[tr].copy()
        v = v_all[tr].copy()
        bias = bias_all[tr].copy()
        pending = pending_all[tr].copy()
        group = np.zeros((n_groups, n), np.int64)
        flags = np.zeros(n_pad, np.uint8)
        words = flags.view(np.uint64)
        spiked = np.zeros(n, np.int64)
        for t in range(t_begin, t_end):
            if _lif_step(u, v, pending[t % ring], bias, flags, vth, u_factor, v_factor, scale,
                         act_scale, state_max, v_limit, mode, iu_factor, iv_factor,
                         decay_bits) == 0:
                continue
            m = _compact(flags, words, spiked, counts, raster, tr, t, record)
            base = (t + 1) % ring
            for k in range(n_splits):
                e = exps[k]
                if not per_synapse:
                    target = pending[(base + uniform_delay) % ring]
                    if e == 0:
                        for s in range(m):
                            w = weights[k, spiked[s]]
                            for i in range(n):
                                target[i] += w[i]
                    elif e > 0:
                        for s in range(m):
                            w = weights[k, spiked[s]]
                            for i in range(n):
                                target[i] += np.int64(w[i]) << e
                    elif m == 1:
                        w = weights[k, spiked[0]]
                        for i in range(n):
                            target[i] += np.int64(w[i]) >> (-e)
                    else:
                        g = group[0]
                        w = weights[k, spiked[0]]
                        for i in range(n):
                            g[i] = w[i]
                        for s in range(1, m):
                            w = weights[k, spiked[s]]
                            for i in range(n):
                                g[i] += w[i]
                        for i in range(n):
                            target[i] += g[i] >> (-e)
                elif e >= 0:
                    for s in range(m):
                        j = spiked[s]
                        w = weights[k, j]
                        d = delays[j]
                        for i in range(n):
                            slot = base + np.int64(d[i])
                            slot = slot - ring if slot >= ring else slot
                            pending[slot, i] += np.int64(w[i]) << e
                else:
                    lo, hi = max_delay, 0
                    for s in range(m):
                        j = spiked[s]
                        lo = min(lo, delay_lo[j])
                        hi = max(hi, delay_hi[j])
                        w = weights[k, j]
                        d = delays[j]
                        for i in range(n):
                            group[d[i], i] += w[i]
                    for dd in range(lo, hi + 1):
                        target = pending[(base + dd) % ring]
                        g = group[dd]
                        for i in range(n):
                            target[i] += g[i] >> (-e)
                            g[i] = 0
        u_all[tr] = u
        v_all[tr] = v
        pending_all[tr] = pending


@njit(cache=True, parallel=True)
def _emulate_sparse_chunk(indptr, targets, weights, delays, uniform_delay, exps, max_delay, bias_all,
                          neuron, u_all, v_all, pending_all, counts, raster, t_begin, t_end, record):
    r""":func:`_emulate_chunk` on sparse weights, event-driven: O(N) (vectorized) +
    O(s x fan-out) per spike per step.

    A split with ``weight_exp >= 0`` adds :math:`w\,2^{e}` of every synapse straight
    into the ``int32`` ring: the left shift is linear, also modulo :math:`2^{32}` where
    the ring sums wrap, and Lava uses only the 32-bit wrap of the sum, so this is the
    dense kernel's integer. The synapses are listed by presynaptic neuron
    (:class:`SparseSynapses`): ``targets[indptr[j]:indptr[j + 1]]`` are the targets of
    ``j``, ``weights[k, p]`` the mantissa of synapse ``p`` in split ``k`` (the splits'
    own narrow dtype) and ``delays[p]`` its delay (or, with ``delays`` empty,
    ``uniform_delay`` for all). Per split and per delay group the touched targets are
    summed (int64, exact), then shifted (floor) once, exactly like the dense kernel: an
    entry it adds zero to is one this kernel does not touch, and the shift of zero is
    zero, so both kernels write the same integers to the pending ring. Touched (delay,
    target) pairs are listed as they are first hit, so the shift pass costs the number
    of distinct pairs, not (max_delay + 1) x N.
    """
    n_splits = weights.shape[0]
    trials, n = v_all.shape
    ring = max_delay + 2
    per_synapse = delays.shape[0] > 0
    n_groups = max_delay + 1 if per_synapse else 1
    vth, u_factor, v_factor, scale, act_scale, state_max, v_limit, mode, \
        iu_factor, iv_factor, decay_bits = neuron
    n_pad = (n + 7) // 8 * 8
    for tr in prange(trials):
        spiked = np.zeros(n, np.int64)
        group = np.zeros(n_groups * n, np.int64)     # flat (delay, target) sums
        touched = np.zeros(n_groups * n, np.int64)   # flat indices hit this split
        seen = np.zeros(n_groups * n, np.bool_)
        flags = np.zeros(n_pad, np.uint8)
        words = flags.view(np.uint64)
        u, v, pending = u_all[tr].copy(), v_all[tr].copy(), pending_all[tr].copy()
        bias = bias_all[tr].copy()
        for t in range(t_begin, t_end):
            if _lif_step(u, v, pending[t % ring], bias, flags, vth, u_factor, v_factor, scale,
                         act_scale, state_max, v_limit, mode, iu_factor, iv_factor,
                         decay_bits) == 0:
                continue
            n_spiked = _compact(flags, words, spiked, counts, raster, tr, t, record)
            for k in range(n_splits):
                e = exps[k]
                if e >= 0:
                    # A left shift is linear (modulo 2**32, like the int32 ring): each
                    # synapse goes straight into the ring.
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
