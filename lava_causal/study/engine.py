r"""Running a study: cells as independent tasks, locally (joblib) or on Dask distributed.

:func:`run` expands the spec into cells (:meth:`lava_causal.study.spec.Spec.cells`),
reads every finished cell from the store under ``out`` (:mod:`lava_causal.study.store`),
computes the missing ones and writes each as it arrives, in the driving process, so a
run killed at any point (Ctrl-C, SIGTERM, a lost worker) keeps every finished cell and
loses at most those in flight. Schedulers:

- ``"local"``: joblib processes (``jobs`` of them; 1 runs in this process);
- ``"dask"``: a :class:`dask.distributed.LocalCluster` of ``jobs`` single-threaded
  worker processes, started and closed here;
- ``"tcp://host:port"`` (any Dask scheduler address): that cluster, whose workers need
  this package installed.

Every scheduler calls the same pure :func:`lava_causal.study.cells.run_cell`, so the
table does not depend on where the cells ran. Then the table (one row per cell x
metric, :mod:`lava_causal.study.results`) is written as Parquet and CSV with a
``summary.json``.
"""
from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Iterator, Optional, Tuple

from tqdm.auto import tqdm

from .cells import run_cell
from .results import StudyResult
from .spec import Spec, load_spec
from .store import CellStore, CorruptCell, cell_key

SCHEDULERS = ("local", "dask")
"""Named schedulers; anything else given as ``scheduler`` must be a Dask address."""


def settings_of(cell: dict) -> dict:
    """What a cell's key hashes: everything but the factor labels."""
    return {k: cell[k] for k in ("family", "problem", "compile", "run")}


def run(spec, out, scheduler: str = "local", jobs: int = 1, progress: Optional[bool] = None) -> StudyResult:
    """Run (or resume) a study and write its results under ``out``.

    Parameters
    ----------
    spec : Spec, dict, TOML text or path
        The study (:func:`lava_causal.study.spec.load_spec`).
    out : path
        Folder of the cell store (``cells/``) and the results (``results.parquet``,
        ``results.csv``, ``summary.json``).
    scheduler : {"local", "dask"} or a Dask scheduler address
    jobs : int
        Worker processes (``local``: joblib's ``n_jobs``; ``dask``: LocalCluster workers).
    progress : bool, optional
        tqdm bar (None: on a terminal).

    Returns
    -------
    StudyResult
        With ``summary``: ``cells_total``, ``cells_computed``, ``cells_cached``,
        ``cells_corrupt`` (found corrupt and recomputed).
    """
    spec = spec if isinstance(spec, Spec) else load_spec(spec)
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be an integer >= 1, got {jobs!r}")
    if not isinstance(scheduler, str) or not (scheduler in SCHEDULERS or "://" in scheduler):
        raise ValueError(f"scheduler must be 'local', 'dask' or a Dask scheduler address like "
                         f"'tcp://host:8786', got {scheduler!r}")
    out = Path(out)
    store = CellStore(out / "cells")
    cells = spec.cells()
    keys = [cell_key(settings_of(c)) for c in cells]
    results, corrupt = {}, []
    for key, cell in zip(keys, cells):
        try:
            found = store.read(key, settings_of(cell))
        except CorruptCell as exc:
            corrupt.append(str(exc))
            found = None
        if found is not None:
            results[key] = found
    pending = {k: c for k, c in zip(keys, cells) if k not in results}   # equal cells run once
    missing = list(pending.items())
    for message in corrupt:
        warnings.warn(f"corrupt study cell, recomputed: {message}", RuntimeWarning, stacklevel=2)
    start = time.perf_counter()
    bar = tqdm(total=len(missing), desc="study", unit="cell", disable=not _show(progress))
    finished = _execute(missing, scheduler, jobs)
    try:
        for key, result in finished:
            store.write(key, settings_of(pending[key]), result)
            results[key] = result
            bar.update(1)
    finally:
        finished.close()   # stops the workers now when this loop raised
        bar.close()
    summary = {"cells_total": len(cells), "cells_computed": len(missing), "cells_cached": len(cells) - len(missing),
               "cells_corrupt": len(corrupt), "seconds": time.perf_counter() - start, "scheduler": scheduler,
               "jobs": jobs, "spec": spec.source}
    result = StudyResult(spec=spec, cells=cells, keys=keys, results=results, summary=summary)
    result.write(out)
    return result


def _show(progress):
    import sys

    return bool(progress) if progress is not None else sys.stderr.isatty()


def _execute(missing, scheduler, jobs) -> Iterator[Tuple[str, dict]]:
    """(key, result) of every missing cell, as each finishes (:func:`execute`)."""
    return execute([(key, (cell,)) for key, cell in missing], run_cell, scheduler, jobs)


def execute(tasks, function, scheduler: str = "local", jobs: int = 1) -> Iterator[Tuple[object, object]]:
    """``(key, function(*args))`` for every ``(key, args)`` of ``tasks``, as each finishes,
    on a scheduler of :data:`SCHEDULERS` or a Dask address (module docstring); the
    engine of studies and of :func:`lava_causal.sweep`.

    ``function`` and its arguments must be picklable for anything but one local job.
    When the consumer stops early (an exception, Ctrl-C, SIGTERM in its loop) and
    closes the generator (``close()`` in a ``finally``), nothing keeps running: joblib's queued and running tasks are aborted and, after an
    interruption, its reusable workers killed (:func:`stop_workers`); a Dask
    LocalCluster is closed, a remote client disconnected."""
    if not tasks:
        return
    if scheduler == "local":
        if jobs == 1:
            for key, args in tasks:
                yield key, function(*args)
            return
        from joblib import Parallel, delayed

        outputs = Parallel(n_jobs=jobs, return_as="generator_unordered")(
            delayed(_keyed)(function, key, args) for key, args in tasks)
        try:
            for item in outputs:   # not ``yield from``: that would close joblib's generator unguarded
                yield item
        except BaseException as exc:
            stop_workers(outputs, interrupted=not isinstance(exc, Exception))
            raise
        return
    yield from _execute_dask(tasks, function, scheduler, jobs)


def _keyed(function, key, args):
    return key, function(*args)


def _execute_dask(tasks, function, scheduler, jobs):
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise ValueError("scheduler='dask' needs dask.distributed: pip install 'lava-causal[study]'") from None
    cluster = LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True, dashboard_address=None) \
        if scheduler == "dask" else None
    client = Client(cluster if cluster is not None else scheduler)
    try:
        futures = [client.submit(_keyed, function, key, args, pure=False) for key, args in tasks]
        for future in as_completed(futures):
            yield future.result()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def stop_workers(outputs, interrupted: bool) -> None:
    """Leave no joblib worker behind a run that raised.

    Closing the generator makes joblib abort what is still queued or running (its
    loky backend kills its workers) now, not whenever the generator is collected, and
    without its "tasks have been cancelled" warning. After an interruption
    (``KeyboardInterrupt``, the CLI's ``Terminated``) the process-wide reusable loky
    executor is also terminated, killing its workers (and their children), since joblib
    re-creates it after an abort inside ``parallel_config``; other backends are left
    to joblib. A signal arriving meanwhile is re-raised once the workers are gone
    (:class:`compiler.backends.lava.cleanup.SignalGuard`).
    """
    import warnings

    from compiler.backends.lava.cleanup import SignalGuard

    with SignalGuard() as signals, warnings.catch_warnings():
        signals.hold()
        warnings.simplefilter("ignore")
        outputs.close()
        if not interrupted:
            return
        try:
            from joblib.externals.loky import reusable_executor
        except ImportError:  # pragma: no cover - a joblib without loky
            return
        executor = getattr(reusable_executor, "_executor", None)
        if executor is None:
            return
        if hasattr(executor, "terminate"):  # joblib's MemmappingExecutor: also its temp folder
            executor.terminate(kill_workers=True)
        else:
            executor.shutdown(wait=True, kill_workers=True)
