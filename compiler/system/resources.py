r"""Memory and step estimates, checked before a run starts instead of failing in it.

A run that cannot fit (``--trials 1000000000``, ``N = 60000`` causes, ``--duration
1e300``) is refused up front with one line giving the estimate and the limit, e.g.::

    needs ~745 GiB for the float simulation (1000000000 trials x 100 neurons: voltages,
    counts), more than the 18.2 GiB available; reduce --trials/N

Memory model (bytes; :math:`N` neurons, :math:`T` trials, :math:`s` weight splits,
8-byte floats and integers; the factors were measured with ``tracemalloc`` at
:math:`N` = 1000-2000 and rounded up):

* building the network from a problem (:math:`J = -U^TU/\sigma^2 - \beta I`, the
  weights) and its stability check: :math:`4 \cdot 8N^2` at the peak, :math:`8N^2`
  kept (the network's weights); the exact MAP: :math:`3 \cdot 8N^2`;
* the float simulator: :math:`3 \cdot 8N^2` (transposed weights, integer delays and
  the rounding of the delays), per trial :math:`8N(5 + 2W)` (initial and final
  voltages, counts of the :math:`W` windows, stacked), per worker thread a delay ring
  of :math:`9N(d+1)` for delays of up to :math:`d` steps, :math:`8 \cdot 8N` of
  local state, noise scratch and crossing bounds and a 32 KiB propagator table, and
  with ``record_spikes``
  56 bytes per spike;
* compiling: :math:`(12 + 1.25 s) \cdot 8N^2` at the peak for a given ``s``,
  :math:`25 \cdot 8N^2` for ``weight_splits="auto"``, :math:`12 \cdot 8N^2` more with
  delays; the compiled network keeps :math:`(3.5 + s) \cdot 8N^2`;
* the emulator: :math:`\max(5 \cdot 8, s\,b + b_d) N^2` (stability check of the
  integers; the synapses by presynaptic neuron, :math:`b`-byte mantissas and
  :math:`b_d`-byte delays, kept with the network), per trial :math:`N(32 + 4(d + 2))`
  (``u``, ``v``, bias, counts, the ``int32`` pending ring) plus, with ``record``, the
  raster of ``steps`` x :math:`N` booleans, per worker thread
  :math:`N(8(d + 1) + 4(d + 2) + 33)`;
* sparse networks (:math:`\mathrm{nnz}` synapses, CSR) replace every :math:`N^2`
  term: the float simulator keeps :data:`SIMULATE_SPARSE_SYNAPSE` bytes per synapse
  (folded weights, targets, the transposition and delays) and the emulator
  :data:`EMULATE_SPARSE_SYNAPSE` per synapse plus :math:`s` mantissa bytes per split
  (its check of the integers and the synapses listed by presynaptic neuron); per
  worker thread the emulator also keeps delay-group sums of :math:`17N(d + 1)`, so a
  run is :math:`O(\mathrm{nnz} + T N (d + 2))`.

The limit is :func:`compiler.system.files.memory_limit`: 80 % of the memory this process
can still allocate (system, cgroup and ``ulimit -v``), or ``$LAVA_CAUSAL_MEMORY_LIMIT``
(``4G``, ``512M``; ``none`` switches the check off).

Steps are ``round(duration / dt)``. More than :data:`STEP_LIMIT` (``1e10``) is
refused unless forced (``force=True``, ``--force``): the emulator advances every
neuron every step, ~1.5e8 neuron-steps per second per thread (measured, N = 100), so
``1e10`` steps of 100 neurons already take about two hours. More than
:data:`MAX_STEPS` cannot be counted in 64-bit integers and is refused even when
forced.
"""
from __future__ import annotations

import math
import os
from numbers import Integral, Real
from typing import Optional

from compiler.system.files import MEMORY_LIMIT_ENV, format_bytes, memory_limit

FLOAT_BYTES = 8
"""Bytes per float64 / int64 entry."""

STEP_LIMIT = 10**10
"""Most steps a run may take unless forced."""

MAX_STEPS = 2**62
"""Most steps a run may take even when forced (64-bit step counters)."""

EMULATOR_NEURON_STEPS_PER_SECOND = 1.5e8
"""Measured emulator throughput per thread (N = 100, lava-causal's discrimination task;
1e6 steps in 0.67 s), for the time quoted when steps are refused."""

AUTO_SPLITS = 4
"""Splits assumed for ``weight_splits="auto"`` (the compiler's default ``max_splits``)."""

NETWORK_PEAK, NETWORK_KEPT, MAP_PEAK = 4.0, 1.0, 3.0
SIMULATE_SHARED = 3.0
COMPILE_BASE, COMPILE_PER_SPLIT, COMPILE_AUTO, COMPILE_DELAYS = 12.0, 1.25, 25.0, 12.0
FIXED_KEPT_BASE = 3.5
EMULATE_CHECK = 5.0
"""Multiples of :math:`8N^2` bytes measured for each stage (module docstring)."""

SIMULATE_SPARSE_SYNAPSE = 40
"""Bytes per synapse of the float simulator on a sparse network: the folded weight
and its temporary (16), target and transposition indices (8), the rounded delay and
its temporary (16)."""
EMULATE_SPARSE_SYNAPSE = 48
"""Bytes per synapse of the emulator on a sparse network beside its mantissas: the
target and transposition indices (8), a per-synapse delay (8) and the stability
check of the integers on a sparse float network (32)."""

SPIKE_RECORD_BYTES = 56
"""Bytes per recorded spike of the float simulator (step and id, growing buffers,
times)."""


class ResourceError(ValueError):
    """A run refused before it started: not enough memory, or too many steps. The
    message is one line with the estimate, the limit and what to change."""


# --------------------------------------------------------------------- helpers
def _count(name, value, minimum=0) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _workers(trials: int, workers: Optional[int]) -> int:
    if workers is not None:
        return max(1, min(int(workers), trials))
    try:
        import numba
        threads = numba.config.NUMBA_NUM_THREADS
    except Exception:  # noqa: BLE001 - numba missing: count cores
        threads = os.cpu_count() or 1
    return max(1, min(trials, threads, os.cpu_count() or 1))


LINEAR_VECTORS = 64
"""Per-neuron vectors (bias, thresholds, resets, masks, ...) allowed beside each
``N x N`` term: ``64 * 8N`` bytes."""


def _n2(n: int, factor: float) -> int:
    return int(math.ceil(factor * FLOAT_BYTES * n * n)) + LINEAR_VECTORS * FLOAT_BYTES * n


def steps_for(duration, dt, name: str = "--duration") -> int:
    """``round(duration / dt)`` as a Python int (any size), after checking that both
    are finite and > 0 (ValueError naming ``name`` otherwise)."""
    for label, value in ((name, duration), ("--dt", dt)):
        if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value) \
                or value <= 0:
            raise ValueError(f"{label} must be a finite number > 0 (seconds), got {value!r}")
    ratio = float(duration) / float(dt)
    if not math.isfinite(ratio):
        raise ResourceError(f"{name} {duration:g} s at dt {dt:g} s is more steps than can be "
                            f"counted; shorten {name} or raise --dt")
    return int(round(ratio))


# --------------------------------------------------------------------- estimates
def problem_memory(m: int, n: int) -> int:
    """Peak bytes of a problem of ``m`` inputs and ``n`` causes with its exact MAP
    (the solver's Gram matrices): features and observation plus :math:`3 \\cdot 8N^2`."""
    m, n = _count("M", m, 1), _count("N", n, 1)
    return 2 * FLOAT_BYTES * m * (n + 1) + _n2(n, MAP_PEAK)


def network_memory(n: int) -> int:
    """Peak bytes of building the tuned network of ``n`` causes and checking its
    stability (:math:`4 \\cdot 8N^2`)."""
    return _n2(_count("N", n, 1), NETWORK_PEAK)


def _shared(n: int, factor: float, nnz: Optional[int], per_synapse: float) -> int:
    """The network-sized part of a run: ``factor`` x :math:`8N^2` dense, or
    ``per_synapse`` bytes per synapse for ``nnz`` sparse synapses (and the per-neuron
    vectors)."""
    if nnz is None:
        return _n2(n, factor)
    return int(math.ceil(per_synapse * _count("nnz", nnz))) + (LINEAR_VECTORS + 1) * FLOAT_BYTES * n


def simulate_memory(n: int, trials: int = 1, *, delay_steps: int = 0, n_windows: int = 1,
                    spikes_per_trial: float = 0.0, workers: Optional[int] = None,
                    nnz: Optional[int] = None) -> int:
    """Bytes :func:`lava_causal.simulate` allocates for ``n`` neurons and ``trials``
    trials (the network itself not counted: it exists already).

    ``delay_steps``: the largest delay in steps (the ring of pending charges);
    ``n_windows``: counting windows; ``spikes_per_trial``: expected spikes per trial
    when spikes are recorded (0 when not); ``workers``: threads (default numba's);
    ``nnz``: the synapses of a sparse network (None: dense, :math:`3 \\cdot 8N^2`)."""
    n, trials = _count("N", n, 1), _count("trials", trials, 1)
    delay_steps, n_windows = _count("delay_steps", delay_steps), _count("n_windows", n_windows, 1)
    per_trial = FLOAT_BYTES * n * (5 + 2 * n_windows) + 2 * FLOAT_BYTES
    # the ring, local copies (4 N), the noise scratch (3 N: normals, words, layers), the
    # event search's crossing bounds (N) and its propagator table (2 x 2048 doubles)
    per_worker = ((FLOAT_BYTES + 1) * n * (delay_steps + 1) + 8 * FLOAT_BYTES * n
                  + 2 * 2048 * FLOAT_BYTES)
    spikes = SPIKE_RECORD_BYTES * max(0.0, float(spikes_per_trial)) * trials
    return int(_shared(n, SIMULATE_SHARED, nnz, SIMULATE_SPARSE_SYNAPSE) + trials * per_trial
               + _workers(trials, workers) * per_worker + spikes)


def compile_memory(n: int, splits="auto", delays: bool = False) -> int:
    """Peak bytes of :func:`compiler.compile` for ``n`` neurons (``splits`` an int or
    ``"auto"``; ``delays``: the network has synaptic delays)."""
    n = _count("N", n, 1)
    factor = COMPILE_AUTO if splits in (None, "auto") else \
        COMPILE_BASE + COMPILE_PER_SPLIT * _count("weight_splits", splits, 1)
    return _n2(n, factor + (COMPILE_DELAYS if delays else 0.0))


def compiled_memory(n: int, splits="auto") -> int:
    """Bytes a compiled network of ``n`` neurons keeps (:math:`(3.5 + s) \\cdot 8N^2`)."""
    s = AUTO_SPLITS if splits in (None, "auto") else _count("weight_splits", splits, 1)
    return _n2(_count("N", n, 1), FIXED_KEPT_BASE + s)


def emulate_memory(n: int, trials: int = 1, steps: int = 1, *, splits: int = 1,
                   max_delay: int = 0, record: bool = False, workers: Optional[int] = None,
                   nnz: Optional[int] = None, weight_bytes: int = 8, built: bool = False) -> int:
    """Bytes :func:`compiler.emulate` allocates (the compiled network not counted);
    ``nnz``: the synapses of a sparse network, None for a dense one; ``weight_bytes``:
    the mantissas' bytes as the emulator stores them (narrowest dtype; 8 when unknown);
    ``built``: the network ran before, so its synapse store and stability verdict are
    cached with it and only the run's state is new."""
    n, trials = _count("N", n, 1), _count("trials", trials, 1)
    steps, splits = _count("steps", steps, 1), _count("splits", splits, 1)
    max_delay = _count("max_delay", max_delay)
    weight_bytes = _count("weight_bytes", weight_bytes, 1)
    delay_bytes = 2 if max_delay > 0 else 0  # per-synapse delays, uint8 or uint16 (dense)
    shared = _shared(n, max(EMULATE_CHECK, (splits * weight_bytes + delay_bytes) / FLOAT_BYTES), nnz,
                     EMULATE_SPARSE_SYNAPSE + splits * weight_bytes)
    if built:
        shared = (LINEAR_VECTORS + 1) * FLOAT_BYTES * n
    ring = 4 * n * (max_delay + 2)  # the int32 pending-input ring
    per_trial = 4 * FLOAT_BYTES * n + ring  # u, v (doubles), bias, counts
    per_worker = FLOAT_BYTES * n * (max_delay + 1) + ring + 33 * n  # delay-group sums, copies, ids
    if nnz is not None:
        per_worker += (2 * FLOAT_BYTES + 1) * n * (max_delay + 1)  # delay-group sums, lists
    raster = trials * steps * n if record else 0
    return int(shared + trials * per_trial + _workers(trials, workers) * per_worker + raster)


def expected_rate(network) -> float:
    """A cheap guess of the total firing rate (Hz, summed over neurons) of a float
    network: each neuron's rate without recurrent input, :math:`\\max(b_i, 0)/D_i`
    (an upper bound when the coupling is inhibitory, as in the causal networks).
    Used only to size a spike recording."""
    import numpy as np

    bias = np.broadcast_to(np.asarray(network.bias, float), (network.n,))
    depth = np.broadcast_to(np.asarray(network.reset, float), (network.n,))
    with np.errstate(divide="ignore", invalid="ignore"):
        rates = np.where(depth > 0, np.maximum(bias, 0.0) / depth, 0.0)
    return float(np.sum(rates[np.isfinite(rates)]))


def _sparse_nnz(weights) -> Optional[int]:
    """Stored entries of sparse weights (``scipy.sparse``, or a tuple of splits sharing
    one pattern: the first's), None for dense ones."""
    if isinstance(weights, (tuple, list)):
        weights = weights[0] if weights else None
    nnz = getattr(weights, "nnz", None)
    return None if nnz is None or not hasattr(weights, "indptr") else int(nnz)


# --------------------------------------------------------------------- checks
ALWAYS_FITS = 64 * 2**20
"""Estimates below this (64 MiB) are not checked against the machine's memory (reading
it costs more than a small run itself)."""


def check_memory(nbytes: int, what: str, hint: str = "reduce --trials/N", *, limit="auto",
                 force: bool = False) -> int:
    """Refuse ``nbytes`` (the estimate for ``what``) above ``limit`` (``"auto"``:
    :func:`compiler.system.files.memory_limit`; None: no limit) with a :class:`ResourceError`
    of one line: ``needs ~X GiB for <what>, more than the Y GiB available; <hint>``.
    ``force`` skips the check. Returns ``nbytes``."""
    nbytes = int(nbytes)
    if force or (limit == "auto" and nbytes < ALWAYS_FITS):
        return nbytes
    source = ""
    if limit == "auto":
        limit = memory_limit()
        if os.environ.get(MEMORY_LIMIT_ENV):
            source = f" (${MEMORY_LIMIT_ENV})"
    if limit is not None and nbytes > limit:
        raise ResourceError(f"needs ~{format_bytes(nbytes)} for {what}, more than the "
                            f"{format_bytes(limit)} available{source}; {hint}")
    return nbytes


def check_steps(steps: int, what: str = "the run", hint: str = "shorten --duration or raise --dt",
                *, limit: int = STEP_LIMIT, force: bool = False, neurons: Optional[int] = None,
                trials: int = 1, emulated: bool = False, force_hint: str = "or pass --force") -> int:
    """Refuse more than ``limit`` steps (unless ``force``) and more than
    :data:`MAX_STEPS` (always) with a one-line :class:`ResourceError`; ``neurons``
    and ``trials`` (with ``emulated``) add the emulator's expected time to the message;
    ``force_hint`` ends it (say ``"or force=True"`` from the library). Returns ``steps``."""
    steps = _count("steps", steps, 1)
    if steps > MAX_STEPS:
        raise ResourceError(f"{what} needs {steps:.3g} steps, more than the {MAX_STEPS:.3g} "
                            f"a 64-bit counter allows; {hint}")
    if not force and limit is not None and steps > limit:
        extra = ""
        if emulated and neurons:
            seconds = steps * neurons * trials / (EMULATOR_NEURON_STEPS_PER_SECOND
                                                  * _workers(trials, None))
            extra = f" (~{_duration_words(seconds)} of emulation)"
        raise ResourceError(f"{what} needs {steps:.3g} steps{extra}, more than the limit of "
                            f"{limit:.3g}; {hint}" + (f", {force_hint}" if force_hint else ""))
    return steps


def _duration_words(seconds: float) -> str:
    for unit, size in (("years", 365.25 * 86400), ("days", 86400), ("hours", 3600),
                       ("minutes", 60)):
        if seconds >= size:
            return f"{seconds / size:.3g} {unit}"
    return f"{seconds:.3g} s"


# --------------------------------------------------------------------- whole runs
def check_simulate(network, duration, dt=1e-5, trials: int = 1, *, window=None,
                   record_spikes: bool = False, force: bool = False, limit="auto",
                   hint: str = "reduce --trials/N", force_hint: str = "or pass --force",
                   step_limit: Optional[int] = STEP_LIMIT) -> dict:
    """What :func:`lava_causal.simulate` (float) will need, refused when too much.

    Checks ``duration`` and ``dt`` (finite, > 0), the steps against
    :data:`STEP_LIMIT` and the memory (:func:`simulate_memory`: shared N x N arrays,
    per-trial state, delay rings, spike recording sized by :func:`expected_rate`)
    against the limit. ``step_limit=None`` checks only :data:`MAX_STEPS` (what
    :func:`lava_causal.simulate` itself does: a long run is the caller's choice, memory
    is not). Returns ``{"steps", "bytes"}``; raises :class:`ResourceError`.
    """
    trials = _count("trials", trials, 1)
    steps = check_steps(steps_for(duration, dt), "the float simulation", force=force,
                        force_hint=force_hint, limit=step_limit)
    n = network.n
    n_windows = 1
    if window is not None and window > 0 and math.isfinite(window):
        n_windows = max(1, -(-steps // max(1, int(round(window / dt)))))
    import numpy as np

    nnz = _sparse_nnz(network.weights)
    delays = network.delay
    if nnz is not None and hasattr(delays, "nnz"):  # sparse delays: their stored values
        delays = delays.data
    delays = np.asarray(delays, float)
    delay_steps = int(round(float(delays.max()) / dt)) if delays.size else 0
    spikes = expected_rate(network) * steps * dt if record_spikes else 0.0
    nbytes = simulate_memory(n, trials, delay_steps=delay_steps, n_windows=n_windows,
                             spikes_per_trial=spikes, nnz=nnz)
    parts = ["voltages", "counts"] + (["delay rings"] if delay_steps else []) + \
        ([f"~{spikes * trials:.3g} recorded spikes"] if record_spikes else [])
    check_memory(nbytes, f"the float simulation ({trials} trial(s) x {n} neurons: "
                         f"{', '.join(parts)})", hint, limit=limit, force=force)
    return {"steps": steps, "bytes": nbytes}


def check_emulate(fixed, steps: int, trials: int = 1, *, record: bool = False,
                  force: bool = False, limit="auto", hint: str = "reduce --trials/N",
                  force_hint: str = "or pass --force", step_limit: Optional[int] = STEP_LIMIT,
                  store=None) -> dict:
    """What :func:`compiler.emulate` will need for a compiled network (anything with
    ``n``, ``n_splits`` and ``max_delay``), refused when too much: the steps against
    :data:`STEP_LIMIT` and :func:`emulate_memory` against the limit (the raster of
    ``record`` included); ``step_limit=None`` checks only :data:`MAX_STEPS` (what
    :func:`compiler.emulate` itself does). ``store``: the emulator's synapse store of
    ``fixed`` when it is built already (:func:`compiler.backends.emulator.cached_synapses`;
    only the run's state is then new). Returns ``{"steps", "bytes"}``."""
    trials = _count("trials", trials, 1)
    n = int(fixed.n)
    steps = check_steps(steps, "the emulation", force=force, neurons=n, trials=trials,
                        emulated=True, force_hint=force_hint, limit=step_limit)
    nnz = _sparse_nnz(fixed.weights)
    nbytes = emulate_memory(n, trials, steps, splits=int(fixed.n_splits),
                            max_delay=int(fixed.max_delay), record=record, nnz=nnz,
                            **_emulator_store(fixed, nnz, store))
    what = f"the emulation ({trials} trial(s) x {n} neurons, {fixed.n_splits} split(s)" + \
        (f", a raster of {steps:.3g} steps" if record else "") + ")"
    check_memory(nbytes, what, hint + ("; or record no raster" if record else ""),
                 limit=limit, force=force)
    return {"steps": steps, "bytes": nbytes}


def _emulator_store(fixed, nnz, store) -> dict:
    """``weight_bytes`` and ``built`` of :func:`emulate_memory` for ``fixed``: the
    synapse store's mantissa bytes when it is built (``store``; then the store and the
    stability verdict exist already), else a sparse network's own dtype, or 8 for a
    dense one (an upper bound; scanning N^2 values here would cost more than a short
    run)."""
    if store is not None:
        return {"weight_bytes": int(store.weights.dtype.itemsize), "built": True}
    return {"weight_bytes": int(fixed.weights[0].dtype.itemsize) if nnz is not None else FLOAT_BYTES,
            "built": False}


SPARSE_BYTES_PER_COUPLING = 256
"""Peak bytes per coupling (non-zero of :math:`U^TU`) over building, checking,
compiling and stability-checking a sparse problem's network (measured: 0.93 GB for the
whole process at N = 100,000 with 4.5 M couplings, about 207 B each, rounded up)."""


def coupling_bound(features) -> int:
    r"""Upper bound on the couplings (off-diagonal non-zeros of :math:`U^TU`) of sparse
    features :math:`U`: :math:`\sum_m k_m^2` with :math:`k_m` the causes touching input
    :math:`m`; O(nnz(U)) time, O(M) memory."""
    import numpy as np

    if features.format == "csr":
        per_input = np.diff(features.indptr)
    else:
        rows = features.indices if features.format == "csc" else features.tocoo().row
        per_input = np.bincount(rows, minlength=features.shape[0])
    return int(np.sum(per_input.astype(np.int64) ** 2))


def check_problem(m: int, n: int, *, chip: bool = False, splits="auto", delays: bool = False,
                  emulate: Optional[bool] = None, force: bool = False, limit="auto",
                  hint: str = "reduce N (the number of causes)", features=None) -> int:
    """Memory to build a problem's network, check it, solve its exact MAP and, with
    ``chip``, compile it (``splits``, ``delays``) and (``emulate``, default ``chip``)
    check the compiled network's stability before a run, refused when too much: the
    peak over those stages with what each keeps. Sparse ``features`` (scipy.sparse)
    are estimated by their couplings (:func:`coupling_bound` x
    :data:`SPARSE_BYTES_PER_COUPLING`), dense ones by :math:`N^2`. Returns the bytes."""
    n = _count("N", n, 1)
    if features is not None and hasattr(features, "nnz"):
        couplings = coupling_bound(features)
        nbytes = SPARSE_BYTES_PER_COUPLING * (couplings + n)
        return check_memory(nbytes, f"the sparse network of {n} causes (~{couplings:.3g} couplings)",
                            hint, limit=limit, force=force)
    base = 2 * FLOAT_BYTES * _count("M", m, 1) * (n + 1)
    kept = _n2(n, NETWORK_KEPT)
    stages = [network_memory(n), kept + _n2(n, MAP_PEAK)]
    what = f"the network of {n} causes (N x N couplings, stability check, exact MAP"
    if chip:
        stages.append(kept + compile_memory(n, splits, delays))
        what += ", compilation"
        if chip if emulate is None else emulate:
            stages.append(kept + compiled_memory(n, splits) + _n2(n, EMULATE_CHECK))
    nbytes = base + max(stages)
    return check_memory(nbytes, what + ")", hint, limit=limit, force=force)
