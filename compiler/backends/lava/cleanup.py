r"""Child processes that cannot outlive their parent, and cleanup that a signal cannot cut short.

Lava's CPU runtime (lava-nc 0.10) is built from ``multiprocessing`` with the ``fork``
start method (``lava.magma.runtime.message_infrastructure.multiprocessing``):

* every process model and runtime service is a ``SystemProcess`` (an
  ``mp.Process`` subclass) forked by ``MultiProcessing.build_actor`` from the thread
  that called ``run()``, and kept in ``MultiProcessing.actors``;
* ``MultiProcessing.start`` starts a ``multiprocessing.managers.SharedMemoryManager``:
  one more forked process, the server that tracks the channels' segments and unlinks
  them on ``shutdown()``. The segments themselves (``/dev/shm/psm_*``) are created by
  the parent (``SharedMemory(create=True)``, kept in ``smm._shared_memory_handles``)
  and attached by name in the children; every process that creates or attaches one
  registers it with the ``multiprocessing.resource_tracker`` (a fork-exec'd helper
  that unlinks what is still registered once every holder of its pipe has exited);
* with ``compile_config={"use_watchdog": True}`` a ``multiprocessing.Manager`` and
  two monitor processes are forked too (off by default).

A forked child inherits the parent's Python signal handlers, and nothing tells it when
the parent dies: a parent killed without running its ``finally`` (SIGKILL, a crash, or
SIGTERM without a handler) leaves the children simulating, then blocked forever on
their channels, holding the segments (and the resource tracker's pipe) open.

:func:`children_die_with_parent` fixes both for the processes forked *by the calling
thread* while it is active, from an ``os.register_at_fork(after_in_child=...)`` hook
that runs in each such child right after ``fork()`` (Linux only; elsewhere it does
nothing):

* ``prctl(PR_SET_PDEATHSIG, SIGKILL)``: the kernel kills the child when the thread
  that forked it ends, so when its process dies for any reason. (If the parent died
  before the call, the child exits at once.) The child's own children are not
  covered. Processes started by fork-*exec* (``subprocess``, the resource tracker,
  joblib's loky workers) run no Python hook and are not covered either.
* ``SIGTERM`` and ``SIGHUP`` back to their default action, so that terminating a child
  kills it at once instead of raising the parent's Python exception in it (which ran
  its exit handlers, printed a traceback and could block in them); ``SIGINT`` ignored,
  so that Ctrl-C (sent to the whole foreground process group) interrupts the parent
  only, which then stops the children itself.

Each such child also writes its pid to a pipe of the block (:class:`Forked`), so that
the parent can end every process it forked for a run, including one forked as the run
was interrupted, before the library that forked it recorded its handle.

:class:`SignalGuard` keeps SIGINT/SIGTERM/SIGHUP from being lost during ``fork()`` or
from cutting a cleanup short (main thread only); :func:`terminate_processes` and
:func:`terminate_pids` end processes by handle or pid with one shared grace period.
"""
from __future__ import annotations

import ctypes
import logging  # noqa: F401 - its at-fork hooks must be registered before ours
import multiprocessing
import os
import signal
import sys
import threading
import time
from contextlib import contextmanager
from typing import Iterable, List

PR_SET_PDEATHSIG = 1
"""``prctl`` option (``<linux/prctl.h>``)."""
PDEATHSIG = signal.SIGKILL
"""Signal a marked child gets when its parent dies: nothing in the child is worth saving
once the parent is gone, and SIGKILL cannot be caught or ignored by it."""
GUARDED = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP")
                 if hasattr(signal, name))
"""Signals a :class:`SignalGuard` handles."""

_marked = {}
"""thread ident -> list of the :class:`Forked` records of the blocks that thread is in."""
_lock = threading.Lock()
_hook_installed = False
_prctl = None


def _load_prctl():
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # pragma: no cover - a libc without prctl
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    fn.restype = ctypes.c_int
    return fn


def supported() -> bool:
    """Whether children can be tied to their parent here (Linux ``prctl``)."""
    global _prctl
    if _prctl is None:
        _prctl = _load_prctl() or False
    return bool(_prctl) and hasattr(os, "register_at_fork")


class Forked:
    """The processes forked by one thread inside one :func:`children_die_with_parent`
    block: each such child writes its pid to a pipe, read here by :meth:`pids`."""

    def __init__(self):
        self.parent = os.getpid()
        self._read, self._write = os.pipe()  # not inherited by exec'd programs
        os.set_blocking(self._read, False)
        os.set_blocking(self._write, False)  # a child never blocks on it
        self._pids: List[int] = []

    def pids(self) -> List[int]:
        """Pids of the children forked so far (alive or not)."""
        if self._read >= 0:
            try:
                while True:
                    data = os.read(self._read, 4096)
                    if not data:
                        break
                    self._pids.extend(int.from_bytes(data[i:i + 4], "little")
                                      for i in range(0, len(data) - len(data) % 4, 4))
            except BlockingIOError:
                pass
        return list(self._pids)

    def close(self) -> None:
        self.pids()
        for fd in (self._read, self._write):
            if fd >= 0:
                os.close(fd)
        self._read = self._write = -1


def _after_fork_in_child() -> None:
    records = _marked.get(threading.get_ident(), [])
    mine = bool(records) and records[0].parent == os.getppid()
    for stack in _marked.values():  # every child drops the inherited pipe ends
        for record in stack:
            if mine and record in records:
                try:
                    os.write(record._write, os.getpid().to_bytes(4, "little"))
                except OSError:
                    pass
            for fd in (record._read, record._write):
                try:
                    os.close(fd)
                except OSError:
                    pass
    _marked.clear()  # this child is not inside the parent's block
    _forking.clear()
    if not records:
        return
    _prctl(PR_SET_PDEATHSIG, int(PDEATHSIG), 0, 0, 0)
    if os.getppid() != records[0].parent:  # the parent died between fork() and prctl()
        os._exit(1)
    for name, action in (("SIGTERM", signal.SIG_DFL), ("SIGHUP", signal.SIG_DFL),
                         ("SIGINT", signal.SIG_IGN)):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), action)


def _install_hook() -> None:
    global _hook_installed
    with _lock:
        if not _hook_installed:
            os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent,
                                after_in_child=_after_fork_in_child)
            _hook_installed = True


@contextmanager
def children_die_with_parent():
    """While active, processes this thread forks die with this process (module docstring).

    Yields a :class:`Forked` whose ``pids()`` lists them (``None`` where unsupported).
    Re-entrant; other threads' forks are unaffected. The parent-death signal is tied
    to the forking *thread*: use it only around code whose children are all ended
    before the block exits (as :func:`compiler.backends.lava.runtime.running` does), or from a
    thread that lives as long as they do.
    """
    if not supported():
        yield None
        return
    _install_hook()
    ident = threading.get_ident()
    record = Forked()
    _marked.setdefault(ident, []).append(record)
    try:
        yield record
    finally:
        stack = _marked.get(ident, [])
        if record in stack:
            stack.remove(record)
        if not stack:
            _marked.pop(ident, None)
        record.close()


# ------------------------------------------------------------------ signals
_forking = set()
"""Idents of the threads between our first ``before`` and last ``after_in_parent`` hook."""


def _before_fork() -> None:  # registered last, so called first
    _forking.add(threading.get_ident())


def _after_fork_in_parent() -> None:  # registered last, so called last
    _forking.discard(threading.get_ident())


class SignalGuard:
    """Keep SIGINT/SIGTERM/SIGHUP from being lost or from cutting a cleanup short.

    While the ``with`` block runs (main thread; elsewhere it does nothing, since Python
    runs signal handlers in the main thread only), a wrapper replaces their handlers:

    * normally it calls the previous handler at once (``KeyboardInterrupt``, the CLI's
      ``Terminated``);
    * while this thread is inside ``fork()``'s Python callbacks it records the signal
      instead: a handler runs at the first Python code after the signal arrives, which
      for a signal arriving during ``fork()`` is an at-fork callback (``logging``'s lock
      release), where CPython prints and drops the exception, so the signal was lost
      and the run went on. :meth:`release` (called by the guarded code at a safe point)
      or the end of the block delivers it;
    * after :meth:`hold` it records every signal (a cleanup in progress); :attr:`urgent`
      is set at once, so the cleanup can skip its graceful waits.

    On exit the previous handlers are restored and the first signal recorded, if any,
    is delivered to its previous handler (raising from ``__exit__``; the default
    action is re-raised with ``signal.raise_signal``).
    """

    def __init__(self, signals: Iterable[int] = GUARDED):
        self.signals = tuple(signals)
        self.urgent = threading.Event()
        self._pending: List[int] = []
        self._previous = {}
        self._holding = False

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            if supported():
                _install_hook()
            for signum in self.signals:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def _handle(self, signum, frame):
        if self._holding or threading.get_ident() in _forking:
            self._pending.append(signum)
            self.urgent.set()
            return
        _deliver(signum, self._previous.get(signum), frame)

    def hold(self) -> None:
        """From now on, record signals instead of delivering them."""
        self._holding = True

    def release(self) -> None:
        """Deliver a signal recorded so far (and stop holding; :attr:`urgent` is cleared)."""
        self._holding = False
        self.urgent.clear()
        if self._pending:
            signum = self._pending[0]
            self._pending.clear()
            _deliver(signum, self._previous.get(signum), None)

    def __exit__(self, *exc):
        previous, self._previous = self._previous, {}
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if self._pending:
            signum = self._pending[0]
            self._pending.clear()
            _deliver(signum, previous.get(signum), None)
        return False


def _deliver(signum: int, handler, frame=None) -> None:
    if handler is signal.SIG_IGN:
        return
    if callable(handler):
        handler(signum, frame)
    else:  # SIG_DFL, or a handler not set from Python
        signal.signal(signum, signal.SIG_DFL)
        signal.raise_signal(signum)


def wait_until(condition, timeout: float, abort=None, poll: float = 0.02) -> bool:
    """Poll ``condition()`` until it is true (True), ``timeout`` seconds pass or ``abort``
    (a :class:`threading.Event` or a callable) is set or true (False)."""
    gave_up = abort.is_set if isinstance(abort, threading.Event) else abort
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline or (gave_up is not None and gave_up()):
            return False
        time.sleep(poll)


# ---------------------------------------------------------------- processes
def alive(process) -> bool:
    """``process.is_alive()``, False for a closed or never-started process."""
    try:
        return process.is_alive()
    except (ValueError, AssertionError):  # closed, or not a child of this process
        return False


def terminate_processes(processes, grace: float = 2.0) -> List[int]:
    """End ``processes`` (``multiprocessing.Process`` handles): SIGTERM to every live
    one, one shared ``grace`` period for all to exit, SIGKILL to the rest, and join.
    Returns the pids that had to be killed."""
    processes = [p for p in processes if alive(p)]
    for p in processes:
        try:
            p.terminate()
        except (OSError, ValueError, AttributeError):
            pass
    wait_until(lambda: not any(alive(p) for p in processes), grace)
    killed = []
    for p in processes:
        if alive(p):
            killed.append(p.pid)
            try:
                p.kill()
            except (OSError, ValueError, AttributeError):
                pass
    for p in processes:
        try:
            multiprocessing.Process.join(p, 5.0)
        except (AssertionError, ValueError):
            pass
    return killed


def _child_state(pid: int):
    """``/proc`` state letter of ``pid`` if it is a live child of this process, else None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2:].split()
    if fields[0] in ("Z", "X") or int(fields[1]) != os.getpid():
        return None
    return fields[0]


def terminate_pids(pids, grace: float = 2.0) -> List[int]:
    """Like :func:`terminate_processes` for bare pids of this process's children
    (Linux: liveness from ``/proc``; a pid no longer our child is left alone). They are
    not reaped here (``multiprocessing`` reaps its own children when it polls them).
    Returns the pids that had to be killed."""
    def live():
        return [pid for pid in pids if _child_state(pid)]

    for pid in live():
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            pass
    wait_until(lambda: not live(), grace)
    killed = live()
    for pid in killed:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    wait_until(lambda: not live(), 5.0)
    multiprocessing.active_children()  # reap the multiprocessing ones
    return killed
