"""Signals leave nothing behind: no Lava child, no loky worker, no /dev/shm entry.

The command-line tests start ``python -m lava_causal.cli`` in a subprocess, wait until
its children exist, signal it and then check every process seen in its tree and every
``/dev/shm`` entry it had mapped (or named with its pid): other tests and programs may
create /dev/shm entries at the same time, so only what is attributable to the run is
checked. Process trees are read from ``/proc`` (Linux only).
"""
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc; Linux only")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHM = "/dev/shm"


# ------------------------------------------------------------------ /proc
def _stat(pid):
    """(state, ppid, starttime) of ``pid``, or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except OSError:
        return None
    fields = text[text.rfind(")") + 2:].split()
    return fields[0], int(fields[1]), int(fields[19])


def _descendants(root):
    """{pid: starttime} of the live descendants of ``root``."""
    children = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = _stat(int(name))
            if st and st[0] not in "ZX":
                children.setdefault(st[1], []).append((int(name), st[2]))
    found, todo = {}, [root]
    while todo:
        for pid, start in children.get(todo.pop(), []):
            found[pid] = start
            todo.append(pid)
    return found


def _alive(procs):
    """Those of ``procs`` ({pid: starttime}) still running (same process, not a zombie)."""
    left = []
    for pid, start in procs.items():
        st = _stat(pid)
        if st and st[0] not in "ZX" and st[2] == start:
            left.append(pid)
    return left


def _cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""


def _shm_mapped(pids):
    """Names of the /dev/shm entries mapped by ``pids``."""
    names = set()
    for pid in pids:
        try:
            with open(f"/proc/{pid}/maps") as f:
                for line in f:
                    if " /dev/shm/" in line:
                        names.add(line.split("/dev/shm/", 1)[1].split()[0])
        except OSError:
            pass
    return names


def _kill_left(procs):
    """SIGKILL what is left of ``procs`` (after a failed test), resource trackers last: once
    the others are gone they exit by themselves and unlink what was registered with them;
    killing them first would leak those segments for good."""
    def kill(pids):
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass

    trackers = [pid for pid in _alive(procs) if b"resource_tracker" in _cmdline(pid)]
    kill([pid for pid in _alive(procs) if pid not in trackers])
    deadline = time.monotonic() + 5
    while _alive({pid: procs[pid] for pid in trackers}) and time.monotonic() < deadline:
        time.sleep(0.05)
    kill(_alive(procs))


class Run:
    """A CLI command in a subprocess, its process tree and the /dev/shm entries it used."""

    def __init__(self, tmp_path, *args, group=False):
        self.out = open(tmp_path / "stdout.txt", "w+")  # files, not pipes: an orphan holding
        self.err = open(tmp_path / "stderr.txt", "w+")  # a pipe would block the test
        self.proc = subprocess.Popen([sys.executable, "-m", "lava_causal.cli", *args], cwd=ROOT,
                                     stdout=self.out, stderr=self.err, start_new_session=group)
        self.seen, self.shm = {}, set()

    def sample(self):
        tree = _descendants(self.proc.pid)
        self.seen.update(tree)
        self.shm |= _shm_mapped([self.proc.pid, *tree])
        return tree

    def wait_for(self, ready, timeout=120.0):
        """Sample the tree until ``ready(tree)``; fails if the command ended first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            tree = self.sample()
            if ready(tree):
                return tree
            assert self.proc.poll() is None, f"command ended early:\n{self.stderr()}"
            time.sleep(0.02)
        pytest.fail(f"not ready after {timeout} s:\n{self.stderr()}")

    def forked(self, tree):
        """The descendants forked from the command (same command line)."""
        own = _cmdline(self.proc.pid)
        return [pid for pid in tree if _cmdline(pid) == own]

    def ours(self, name):
        """Whether /dev/shm entry ``name`` belongs to this run: mapped by its tree, or
        named with its pid (joblib's ``sem.loky-PID-*``, ``joblib_memmapping_folder_PID_*``)."""
        return name in self.shm or f"-{self.proc.pid}-" in name or f"_{self.proc.pid}_" in name

    def leftovers(self, timeout):
        """Processes and /dev/shm entries of the run still there after up to ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while True:
            procs = _alive(self.seen)
            shm = sorted(n for n in set(os.listdir(SHM)) if self.ours(n))
            if (not procs and not shm) or time.monotonic() > deadline:
                return procs, shm
            time.sleep(0.05)

    def stderr(self):
        self.err.flush()
        self.err.seek(0)
        return self.err.read()

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        _kill_left(self.seen)
        for name in self.shm:  # a failed test leaves nothing either
            if name.startswith("psm_") and os.path.exists(os.path.join(SHM, name)):
                os.unlink(os.path.join(SHM, name))
        self.out.close()
        self.err.close()


@pytest.fixture(scope="module")
def problem_file(tmp_path_factory):
    from lava_causal import tasks

    path = tmp_path_factory.mktemp("signals") / "discrimination.npz"
    tasks.discrimination(0, n=30, m=30).save(path)
    return str(path)


@pytest.fixture
def run(tmp_path):
    runs = []

    def start(*args, group=False):
        runs.append(Run(tmp_path, *args, group=group))
        return runs[-1]

    yield start
    for r in runs:
        r.close()


def _lava_solve(run, problem_file, group=False):
    return run("solve", problem_file, "--backend", "lava", "--duration", "30", group=group)


def _last_line(text):
    lines = [line for line in text.replace("\r", "\n").splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _without_tracker_notes(text):
    """The lines of ``text`` but the (rare, harmless) notes of loky's resource tracker, a
    separate process, about a semaphore it found already unlinked."""
    lines, skip = [], False
    for line in text.splitlines():
        if "resource_tracker.py" in line and "UserWarning" in line:
            skip = True
            continue
        if skip and line.startswith("  "):
            continue
        skip = False
        if line.strip():
            lines.append(line)
    return lines


def _lava_running(r):
    """Lava's processes are forked and its channels' segments exist."""
    return lambda tree: len(r.forked(tree)) >= 4 and any(n.startswith("psm_") for n in r.shm)


# ------------------------------------------------------- the command line
@pytest.mark.lava
def test_sigterm_of_a_lava_solve_exits_143_and_leaves_no_process_or_segment(run, problem_file):
    r = _lava_solve(run, problem_file)
    r.wait_for(_lava_running(r))
    time.sleep(0.5)  # executing steps
    r.sample()
    t0 = time.monotonic()
    r.proc.send_signal(signal.SIGTERM)
    assert r.proc.wait(timeout=30) == 143
    exited = time.monotonic() - t0
    procs, shm = r.leftovers(timeout=5)
    assert procs == [] and shm == [], (procs, shm)
    assert _last_line(r.stderr()) == "error: terminated by SIGTERM"
    assert "Traceback" not in r.stderr()  # children no longer raise the parent's exception
    assert exited < 15, exited


@pytest.mark.lava
def test_sigterm_while_lava_forks_its_processes_is_not_lost(run, problem_file):
    # The first forked child appears while Lava is still forking the others: a signal
    # landing in fork()'s Python callbacks was dropped by CPython and the run went on.
    r = _lava_solve(run, problem_file)
    r.wait_for(lambda tree: len(r.forked(tree)) >= 1)
    r.proc.send_signal(signal.SIGTERM)
    assert r.proc.wait(timeout=30) == 143
    r.sample()
    procs, shm = r.leftovers(timeout=5)
    assert procs == [] and shm == [], (procs, shm)
    assert _last_line(r.stderr()) == "error: terminated by SIGTERM"


@pytest.mark.lava
def test_sigterm_to_the_whole_process_group_of_a_lava_solve(run, problem_file):
    # As systemd or a shell's job control do: the children die at once (default action
    # again), so the parent must not wait for Lava's stop() to answer.
    r = _lava_solve(run, problem_file, group=True)
    r.wait_for(_lava_running(r))
    time.sleep(0.5)
    r.sample()
    os.killpg(r.proc.pid, signal.SIGTERM)
    assert r.proc.wait(timeout=30) == 143
    procs, shm = r.leftovers(timeout=5)
    assert procs == [] and shm == [], (procs, shm)
    assert _last_line(r.stderr()) == "error: terminated by SIGTERM"


@pytest.mark.lava
def test_sigkill_of_the_parent_takes_lava_children_with_it(run, problem_file):
    # No finally runs: the children die by PR_SET_PDEATHSIG, then the resource tracker
    # unlinks the segments.
    r = _lava_solve(run, problem_file)
    r.wait_for(_lava_running(r))
    r.sample()
    r.proc.kill()
    r.proc.wait(timeout=10)
    procs, shm = r.leftovers(timeout=10)
    assert procs == [] and shm == [], (procs, shm)


def test_sigterm_of_a_parallel_sweep_leaves_no_loky_worker(run, problem_file):
    r = run("sweep", problem_file, "--param", "weight_bits", "--values", "3,4,5,6", "--jobs", "2",
            "--duration", "20", "--json")
    tree = r.wait_for(lambda tree: sum(b"LokyProcess" in _cmdline(p) for p in tree) >= 2)
    time.sleep(1.0)  # the workers are computing
    r.sample()
    assert any(b"LokyProcess" in _cmdline(p) for p in tree)
    r.proc.send_signal(signal.SIGTERM)
    assert r.proc.wait(timeout=30) == 143
    procs, shm = r.leftovers(timeout=5)
    assert procs == [] and shm == [], (procs, shm)
    assert _without_tracker_notes(r.stderr()) == ["error: terminated by SIGTERM"]


# -------------------------------------------------------------- in process
class Interrupt(BaseException):
    """Stands for the CLI's Terminated: a BaseException raised by a signal handler."""


@pytest.fixture
def sigusr1_raises():
    calls = []

    def handler(signum, frame):
        calls.append(signum)
        raise Interrupt(signum)

    previous = signal.signal(signal.SIGUSR1, handler)
    yield calls
    signal.signal(signal.SIGUSR1, previous)


class SignalWhenRunning(threading.Thread):
    """Send ``signum`` to this process once a Lava run in it is executing steps (its
    processes forked, its segments mapped), recording those segments first."""

    def __init__(self, signum=signal.SIGUSR1, timeout=120.0):
        super().__init__(daemon=True)
        self.signum, self.timeout = signum, timeout
        self.segments = set()
        self.cancelled = threading.Event()

    def run(self):
        deadline = time.monotonic() + self.timeout
        while not self.cancelled.is_set() and time.monotonic() < deadline:
            mapped = {n for n in _shm_mapped([os.getpid()]) if n.startswith("psm_")}
            own = _cmdline(os.getpid())
            forked = [pid for pid in _descendants(os.getpid()) if _cmdline(pid) == own]
            if mapped and len(forked) >= 3:
                time.sleep(0.5)
                self.segments = {n for n in _shm_mapped([os.getpid()]) if n.startswith("psm_")}
                os.kill(os.getpid(), self.signum)
                return
            time.sleep(0.02)

    def cancel(self):
        self.cancelled.set()


def _signal_when_running(signum=signal.SIGUSR1):
    thread = SignalWhenRunning(signum)
    thread.start()
    return thread


def _lava_children():
    import multiprocessing

    return [p for p in multiprocessing.active_children() if not p.name.startswith("Loky")]


@pytest.fixture
def network():
    """A small random Lava-runnable network (as in test_emulator_lava)."""
    from compiler import FixedPointNetwork

    rng = np.random.default_rng(1)
    n = 8
    w = rng.integers(-128, 128, (n, n)) * 2
    np.fill_diagonal(w, 0)
    return FixedPointNetwork(weights=(w,), weight_exps=(0,), bias_mant=rng.integers(0, 4000, n),
                             bias_exp=rng.integers(0, 4, n), vth=2000, du=200, dv=40, dt=1e-4)


@pytest.mark.lava
def test_any_base_exception_from_a_signal_stops_lava_and_frees_its_segments(network, sigusr1_raises):
    from compiler import run_lava

    trigger = _signal_when_running()
    try:
        with pytest.raises(Interrupt):
            run_lava(network, 10_000_000, seed=1)
    finally:
        trigger.cancel()
    assert _lava_children() == []
    assert trigger.segments and not [n for n in trigger.segments if os.path.exists(os.path.join(SHM, n))]


@pytest.mark.lava
def test_a_second_signal_during_cleanup_skips_the_graceful_stop_and_is_re_raised(
        network, sigusr1_raises, monkeypatch):
    from compiler import run_lava
    from compiler.backends.lava import runtime

    stops = []
    call = runtime._call_with_timeout

    def stop_interrupted(fn, timeout, abort=None):
        if getattr(fn, "__name__", "") == "stop" and abort is not None:
            stops.append(timeout)
            os.kill(os.getpid(), signal.SIGUSR1)  # the second signal, while stopping
            time.sleep(0.2)
            assert abort() if callable(abort) else abort.is_set()
        return call(fn, timeout, abort)

    monkeypatch.setattr(runtime, "_call_with_timeout", stop_interrupted)  # looked up by shutdown
    monkeypatch.setattr(runtime.SignalGuard, "__init__", _guard_with(signal.SIGUSR1))
    trigger = _signal_when_running()
    t0 = time.monotonic()
    try:
        with pytest.raises(Interrupt):
            run_lava(network, 10_000_000, seed=1)
    finally:
        trigger.cancel()
    assert stops == [runtime.INTERRUPT_GRACE]
    assert sigusr1_raises == [signal.SIGUSR1, signal.SIGUSR1]  # both delivered, none lost
    assert _lava_children() == []
    assert time.monotonic() - t0 < 60


def _guard_with(*signals):
    from compiler.backends.lava.cleanup import SignalGuard

    original = SignalGuard.__init__

    def init(self, signals_=signals):
        original(self, signals_)

    return init


# -------------------------------------------------------- the mechanisms
CHILD_SCRIPT = """
import multiprocessing as mp, os, sys, time, signal
from compiler.backends.lava.cleanup import children_die_with_parent
ctx = mp.get_context("fork")
signal.signal(signal.SIGTERM, lambda *a: None)  # a Python handler the children must not keep
with children_die_with_parent() as forked:
    tied = ctx.Process(target=time.sleep, args=(60,)); tied.start()
    time.sleep(0.3)
    recorded = forked.pids()
free = ctx.Process(target=time.sleep, args=(60,)); free.start()
time.sleep(0.3)
print(tied.pid, free.pid, *recorded, flush=True)
time.sleep(60)
"""


def _script_env():
    """The environment of a helper script: this checkout's packages first (a script's
    own directory, not the working directory, heads its sys.path)."""
    path = os.environ.get("PYTHONPATH")
    return dict(os.environ, PYTHONPATH=ROOT + (os.pathsep + path if path else ""))


def _signal_mask(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1], 16)
    return 0


def test_children_forked_in_the_block_die_with_their_parent_others_do_not(tmp_path):
    from compiler.backends.lava.cleanup import supported

    if not supported():
        pytest.skip("no prctl here")
    script = tmp_path / "children.py"
    script.write_text(CHILD_SCRIPT)
    proc = subprocess.Popen([sys.executable, str(script)], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                            env=_script_env())
    procs = {}
    try:
        tied, free, *recorded = map(int, proc.stdout.readline().split())
        procs = {pid: _stat(pid)[2] for pid in (tied, free)}
        assert recorded == [tied]  # the block's pipe names the child it forked
        bit = lambda s: 1 << (s - 1)  # noqa: E731
        assert not _signal_mask(tied, "SigCgt") & bit(signal.SIGTERM)  # default action again
        assert _signal_mask(tied, "SigIgn") & bit(signal.SIGINT)  # Ctrl-C is the parent's
        assert _signal_mask(free, "SigCgt") & bit(signal.SIGTERM)
        proc.kill()
        proc.wait(timeout=10)
        deadline = time.monotonic() + 5
        while tied in _alive(procs) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _alive(procs) == [free]
    finally:
        proc.kill()
        _kill_left(procs)


FORK_SCRIPT = """
import logging, os, signal, sys
# A signal arriving during fork() has its Python handler run in an at-fork callback
# (logging's lock release), where CPython prints and drops the exception; simulate it.
os.register_at_fork(after_in_parent=lambda: os.kill(os.getpid(), signal.SIGUSR1))
class Interrupt(BaseException):
    pass
def handler(signum, frame):
    raise Interrupt()
signal.signal(signal.SIGUSR1, handler)
from compiler.backends.lava.cleanup import SignalGuard, children_die_with_parent
guarded = sys.argv[1] == "guarded"
try:
    with children_die_with_parent(), SignalGuard((signal.SIGUSR1,)) as guard:
        if not guarded:
            signal.signal(signal.SIGUSR1, handler)
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
        guard.release()
        print("went on", flush=True)
except Interrupt:
    print("interrupted", flush=True)
"""


@pytest.mark.parametrize("mode, expected", [("unguarded", "went on"), ("guarded", "interrupted")])
def test_a_signal_during_fork_is_not_lost(tmp_path, mode, expected):
    script = tmp_path / "fork.py"
    script.write_text(FORK_SCRIPT)
    done = subprocess.run([sys.executable, str(script), mode], cwd=ROOT, capture_output=True, text=True,
                          env=_script_env(),
                          timeout=60)
    assert done.stdout.strip() == expected, done.stderr
    assert ("Exception ignored" in done.stderr) == (mode == "unguarded")


def test_signal_guard_holds_signals_during_cleanup_then_re_raises(sigusr1_raises):
    from compiler.backends.lava.cleanup import SignalGuard

    with pytest.raises(Interrupt):
        with SignalGuard((signal.SIGUSR1,)) as guard:
            guard.hold()
            os.kill(os.getpid(), signal.SIGUSR1)
            time.sleep(0.05)
            assert guard.urgent.is_set() and sigusr1_raises == []  # held, not raised
    assert sigusr1_raises == [signal.SIGUSR1]
    assert signal.getsignal(signal.SIGUSR1) is not None


def test_sweep_interrupted_in_its_loop_kills_the_loky_workers(monkeypatch):
    # The interruption lands in sweep's own loop body, not inside joblib's generator:
    # joblib aborts only when the generator is closed or collected (with a warning that
    # would add lines to the CLI's one-line error).
    import importlib
    import warnings

    from joblib.externals.loky import reusable_executor

    sweep_module = importlib.import_module("lava_causal.sweep")

    class Bar:
        def __init__(self, *a, **k):
            pass

        def update(self):
            raise KeyboardInterrupt

        def close(self):
            pass

    monkeypatch.setattr(sweep_module, "tqdm", Bar)
    monkeypatch.setattr(sweep_module, "error_budget", _slow_budget)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(KeyboardInterrupt):
            sweep_module.sweep(None, "dt", [0.0, 1.0, 2.0, 3.0], n_jobs=2)
    assert not [w for w in caught if "cancelled" in str(w.message)]  # joblib's early-exit warning
    executor = reusable_executor._executor
    workers = list(getattr(executor, "_processes", {}).values()) if executor is not None else []
    assert not [p for p in workers if p.is_alive()]
    assert not [p for p in _loky_children() if p.is_alive()]


def _slow_budget(problem, **job):
    time.sleep(0.05 if job["dt"] == 0 else 30)
    return job


def _loky_children():
    import multiprocessing

    return [p for p in multiprocessing.active_children() if p.name.startswith("Loky")]
