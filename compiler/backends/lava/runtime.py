r"""Lava's runtime: importing it safely, run configs, running a network, and stopping it.

Availability
------------
Lava (lava-nc 0.10, the last release) installs only on Python 3.10 with numpy < 2.
:func:`lava_status` says whether it imports here, and :func:`import_lava` (called by
everything that needs Lava) raises :class:`BackendUnavailable`, one line naming the
``lava-causal[lava]`` extra and this Python's version, where it does not. Loihi 2
needs Intel's ``lava-loihi`` on top (:func:`loihi_available`, :func:`run_config`).

Runtime safety
--------------
A network runs non-blocking (``RunSteps(blocking=False)``) while the caller polls the
runtime's response channels against a deadline (:func:`running`), so a hung run raises
:class:`TimeoutError`; a Lava process that crashes (after which Lava itself would wait
forever) raises :class:`RuntimeError` at once. The runtime is always stopped in
``finally`` (also on errors, ``KeyboardInterrupt``, the CLI's ``Terminated`` and any
other ``BaseException``): Lava's own ``stop()`` gets :data:`STOP_GRACE` seconds
(:data:`INTERRUPT_GRACE` when interrupted); if it does not return, or cannot (a process
is dead), the run's child processes are terminated by handle (SIGKILL after
:data:`KILL_GRACE`), its shared memory segments unlinked and its shared-memory server
stopped (:func:`shutdown`). Signals that arrive during that cleanup are held back and
re-delivered after it (one skips the graceful stop), and one that arrives while Lava
forks (where CPython would drop the exception its handler raises) is acted on once
``run()`` returns (:class:`compiler.backends.lava.cleanup.SignalGuard`). The children
are forked inside :func:`compiler.backends.lava.cleanup.children_die_with_parent`, so
on Linux they die with the parent even when it cannot clean up (SIGKILL, a crash),
after which the ``multiprocessing`` resource tracker unlinks the segments.
"""
from __future__ import annotations

import importlib
import multiprocessing
import os
import platform
import sys
import threading
import time
from contextlib import contextmanager
from typing import Optional, Tuple

from compiler.backends.lava.checks import check_choice
from compiler.backends.lava.cleanup import (SignalGuard, alive, children_die_with_parent, terminate_pids,
                                            terminate_processes, wait_until)

TAGS = ("fixed_pt", "floating_pt")
"""Lava ProcessModel tags :func:`compiler.run_lava` can select."""
TARGETS = ("cpu", "loihi2")
"""``cpu``: Lava's Python models (``Loihi2SimCfg``); ``loihi2``: ``Loihi2HwCfg``."""

LAVA_PYTHON = (3, 10)
"""The only Python (major, minor) lava-nc 0.10 installs on (``pyproject.toml``'s
``lava`` extra)."""

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
    """The Lava backend, or a requested Lava target, cannot run on this machine: lava-nc
    does not import (:func:`lava_status`), or Loihi 2 without Intel's ``lava-loihi``."""


# ------------------------------------------------------------ availability
def lava_version() -> str:
    """The installed lava-nc's version, ``"unknown"`` for a source checkout."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("lava-nc")
    except PackageNotFoundError:  # pragma: no cover - source checkout of lava
        return "unknown"


def lava_status() -> Tuple[bool, str]:
    """Whether lava-nc imports here, and one line: ``"lava-nc 0.10.0"`` or why not.

    Imports only the (namespace) packages ``lava`` and ``lava.magma``, not Lava's
    runtime (:func:`import_lava` does that).
    """
    try:
        importlib.import_module("lava")
        importlib.import_module("lava.magma")
    except ImportError as exc:
        python = platform.python_version()
        if not (isinstance(exc, ModuleNotFoundError) and exc.name in ("lava", "lava.magma")):
            return False, (f"lava-nc is installed but does not import on Python {python}: "
                           f"{type(exc).__name__}: {' '.join(str(exc).split())}")
        wanted = ".".join(map(str, LAVA_PYTHON))
        if sys.version_info[:2] != LAVA_PYTHON:
            return False, (f"the Lava backend needs lava-nc, which installs only on Python {wanted} "
                           f"(this is Python {python}): pip install 'lava-causal[lava]' in a "
                           f"Python {wanted} environment")
        return False, (f"the Lava backend needs lava-nc, which is not installed (this is Python "
                       f"{python}): pip install 'lava-causal[lava]'")
    return True, f"lava-nc {lava_version()}"


def import_lava() -> None:
    """Import Lava's runtime safely, whatever ran before.

    Raises :class:`BackendUnavailable` (the reason from :func:`lava_status`) when
    lava-nc does not import. Lava's
    ``message_infrastructure/multiprocessing.py`` calls
    ``multiprocessing.set_start_method('fork')`` when first imported, which raises
    "context has already been set" once anything fixed the start method (numba's
    parallel layer does, e.g. after :func:`compiler.emulate`). If the method is
    already ``fork``, that call is a no-op in effect, so it is skipped during the
    import; any other start method is refused with a clear error.
    """
    available, reason = lava_status()
    if not available:
        raise BackendUnavailable(reason)
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
    except ImportError as exc:
        raise BackendUnavailable(f"lava-nc {lava_version()} is installed but its runtime does not "
                                 f"import: {type(exc).__name__}: {' '.join(str(exc).split())}") from exc
    finally:
        multiprocessing.set_start_method = original


def loihi_available() -> bool:
    """Whether Intel's ``lava-loihi`` extension is installed (``lava.utils.loihi``);
    :class:`BackendUnavailable` without lava-nc."""
    import_lava()
    from lava.utils import loihi

    return bool(loihi.is_installed())


def run_config(target: str, tag: str):
    """The Lava RunConfig for ``target`` and ``tag``: ``Loihi2SimCfg(select_tag=tag)``
    on ``cpu``; ``Loihi2HwCfg`` on ``loihi2`` (fixed_pt only), which raises
    :class:`BackendUnavailable` unless lava-loihi is installed."""
    check_choice("target", target, TARGETS)
    check_choice("tag", tag, TAGS)
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


# ----------------------------------------------------------------- running
def default_timeout(steps: int, n: int) -> float:
    """Default wall-clock limit of one trial's execution, in seconds:
    ``60 + steps * (2 ms + 20 us * n)``, 10-40x what Lava's CPU models need on a
    2-core machine (~1,000-4,000 steps/s for N = 100-1000)."""
    return 60.0 + steps * (2e-3 + 2e-5 * n)


@contextmanager
def running(root, steps: int, run_cfg, timeout: float, stop_grace: float = STOP_GRACE):
    """Run the Lava network of ``root`` for ``steps`` steps; yield once it is done.

    The body of the ``with`` block may read Vars (the runtime is still up). The
    runtime is stopped on exit, whatever happens (:func:`shutdown`; after a
    ``KeyboardInterrupt`` or another non-``Exception`` such as the CLI's ``Terminated``
    Lava's ``stop()`` gets :data:`INTERRUPT_GRACE` seconds instead of ``stop_grace``).
    Lava's processes are forked inside
    :func:`~compiler.backends.lava.cleanup.children_die_with_parent`. Yields a dict
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


def run_again(root, steps: int, timeout: float) -> float:
    """Run the already started (and paused) network of ``root`` for ``steps`` more
    steps, inside the ``with`` block of :func:`running` (which stops it whatever
    happens); returns the seconds it took. Raises like :func:`running`."""
    from lava.magma.core.run_conditions import RunSteps

    start = time.perf_counter()
    root.run(condition=RunSteps(num_steps=int(steps), blocking=False))
    _wait_until_done(root.runtime, steps, timeout)
    return time.perf_counter() - start


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


# ---------------------------------------------------------------- stopping
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
