"""Long numba runs are interruptible and chunked: Ctrl-C (SIGINT) during a float
simulation, an emulator run or the staged model ends it within about a chunk, with
KeyboardInterrupt through the API and exit status 130 through the command line (no
crash, no traceback); SIGTERM ends the command line with 143. Chunked runs give the
same spikes as unchunked ones (state carried between chunks), and long runs can show
a progress bar.

Before chunking, Ctrl-C was ignored until the kernel returned and then the process
crashed (rc -11) or raised ``SystemError: ... returned a result with an exception
set``: the kernels returned tuples of arrays, numba's boxing of an array runs Python
code (``numba.core.serialize._numba_unpickle``) where the pending KeyboardInterrupt
was raised, and its tuple boxing stored the resulting NULL without checking.
"""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import compiler
import compiler.backends.emulator as emulator_module
import lava_causal.simulator as simulator_module
from lava_causal import build_network, simulate, tasks
from lava_causal.staged import ChipEffects, StageIngredients, run_staged

from _helpers import RandomPacer

ROOT = Path(__file__).resolve().parents[1]
LATENCY = 5.0
"""Seconds allowed from the signal to the end of the process (a chunk is ~0.2 s; the
rest is interpreter shutdown on a loaded machine)."""

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX signals")

_SETUP = """
import sys, time, warnings
warnings.simplefilter("ignore")
import numpy as np
from lava_causal import tasks, build_network, simulate
import compiler
net = build_network(tasks.mixture(0), tau_syn=5e-3, delay=1e-3)
kind, trials = sys.argv[1], int(sys.argv[2])
if kind == "float":
    run = lambda steps: simulate(net, steps * 1e-5, dt=1e-5, trials=trials, seed=0, noise_std=1.0)
elif kind == "emulator":
    fixed = compiler.compile(net, hw="loihi2", dt=1e-4)
    run = lambda steps: compiler.emulate(fixed, steps, trials=trials, seed=0)
else:
    from lava_causal.staged import ChipEffects, StageIngredients, run_staged
    fixed = compiler.compile(net, hw="loihi2", dt=1e-4)
    ingredients = StageIngredients.from_compiled(net, fixed)
    x0 = np.random.default_rng(0).random((trials, net.n))
    run = lambda steps: run_staged(ingredients, ChipEffects(hard_reset=True), x0, steps,
                                   noise_std=1.0)
run(10)  # compiles the kernels (or loads numba's cache) before the marker
print("started", flush=True)
try:
    run(10**9)
    print("finished", flush=True)
except KeyboardInterrupt:
    print("interrupted", flush=True)
"""


def _interrupt(args, sig=signal.SIGINT, after=1.0):
    """Start ``args``, wait for its first stdout line ("started") and ``after`` seconds
    more (deep inside the run), send ``sig``; (first line, stdout, stderr, rc, latency)."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        first = proc.stdout.readline()
        time.sleep(after)
        assert proc.poll() is None, proc.communicate()
        sent = time.perf_counter()
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
        return first, out, err, proc.returncode, time.perf_counter() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


@pytest.mark.parametrize("kind, trials", [("float", 1), ("emulator", 1), ("staged", 2)])
def test_ctrl_c_raises_keyboard_interrupt_through_the_api(kind, trials):
    first, out, err, rc, latency = _interrupt([sys.executable, "-c", _SETUP, kind, str(trials)])
    assert first.strip() == "started", err
    assert out.strip() == "interrupted", (out, err)
    assert rc == 0, err
    assert "Error" not in err and "Traceback" not in err, err
    assert latency < LATENCY


@pytest.fixture(scope="module")
def problem_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("interrupt") / "mixture.npz"
    problem = tasks.mixture(0)
    np.savez(path, features=problem.features, observation=problem.observation)
    return path


_CLI = """
import contextlib, io, sys
from lava_causal import cli
args = sys.argv[1:]
with contextlib.redirect_stdout(io.StringIO()):  # a short run first: numba compiles (or
    cli.main(args[:-4] + ["--duration", "0.002"] + args[-2:])  # loads its cache) here
print("started", flush=True)
sys.exit(cli.main(args))
"""


@pytest.mark.parametrize("backend, trials, sig, status", [
    ("float", 2, signal.SIGINT, 130),      # trials on worker threads
    ("emulator", 2, signal.SIGINT, 130),   # numba parallel region
    ("float", 1, signal.SIGTERM, 143)])    # the main thread's kernel
def test_command_line_ends_cleanly_on_signals(problem_file, backend, trials, sig, status):
    args = [sys.executable, "-c", _CLI, "solve", str(problem_file), "--backend", backend,
            "--duration", "1e4", "--trials", str(trials)]  # _CLI warms up with 0.002 s first
    first, out, err, rc, latency = _interrupt(args, sig=sig)
    assert first.strip() == "started"
    assert rc == status, (rc, err)
    assert "Traceback" not in err, err
    assert err.strip().splitlines() == [
        "error: interrupted" if sig == signal.SIGINT else "error: terminated by SIGTERM"], err
    assert latency < LATENCY


# ------------------------------------------------------------------ chunked == unchunked



class _OneChunk(RandomPacer):
    @property
    def size(self):
        self.chunks += 1
        return 1 << 62


def _with_pacer(monkeypatch, module, pacer, run):
    monkeypatch.setattr(module, "ChunkPacer", pacer)
    try:
        return run()
    finally:
        monkeypatch.undo()


FLOAT_CASES = {
    "exp-delay-noise": (lambda: build_network(tasks.mixture(0), tau_syn=5e-3, delay=1e-3),
                        dict(noise_std=3.0)),
    "delta-cascade": (lambda: build_network(tasks.discrimination(0), tau_syn=0.0), {}),
    "delta-delay-noise": (lambda: build_network(tasks.mixture(1), tau_syn=0.0, delay=2e-3),
                          dict(noise_std=1.0)),
    "exp-skipping": (lambda: build_network(tasks.mixture(0), tau_syn=5e-3), dict(duration=2.0)),
}


@pytest.mark.parametrize("case", sorted(FLOAT_CASES))
def test_float_chunked_equals_unchunked(monkeypatch, case):
    make, extra = FLOAT_CASES[case]
    net = make()
    kwargs = dict(dict(duration=0.5, dt=1e-4, trials=2, seed=3, record_spikes=True, window=0.05), **extra)
    whole_pacer, chunked_pacer = _OneChunk(0), RandomPacer(500)
    whole = _with_pacer(monkeypatch, simulator_module, whole_pacer, lambda: simulate(net, **kwargs))
    chunked = _with_pacer(monkeypatch, simulator_module, chunked_pacer,
                          lambda: simulate(net, **kwargs))
    assert chunked_pacer.chunks > 20 * whole_pacer.chunks
    if case == "exp-skipping":
        assert whole.counts.sum(axis=1).min() > 1024  # the spike record grows during the run
    np.testing.assert_array_equal(chunked.counts_per_window, whole.counts_per_window)
    for (ta, ia), (tb, ib) in zip(chunked.spikes, whole.spikes):
        np.testing.assert_array_equal(ta, tb)
        np.testing.assert_array_equal(ia, ib)
    np.testing.assert_array_equal(chunked.final_voltages, whole.final_voltages)
    np.testing.assert_array_equal(chunked.truncated_steps, whole.truncated_steps)


def test_emulator_chunked_equals_unchunked(monkeypatch):
    net = build_network(tasks.mixture(0), tau_syn=5e-3, delay=2e-3)
    fixed = compiler.compile(net, hw="loihi2", dt=1e-4)
    assert fixed.max_delay > 0

    def run():
        return compiler.emulate(fixed, 3000, trials=3, seed=4, record=True)

    whole = _with_pacer(monkeypatch, emulator_module, _OneChunk(0), run)
    chunked_pacer = RandomPacer(40)
    chunked = _with_pacer(monkeypatch, emulator_module, chunked_pacer, run)
    assert chunked_pacer.chunks > 50 and whole.counts.sum() > 1000
    np.testing.assert_array_equal(chunked.counts, whole.counts)
    np.testing.assert_array_equal(chunked.raster, whole.raster)


@pytest.mark.parametrize("noise", [0.0, 2.0])
def test_staged_chunked_equals_unchunked(monkeypatch, noise):
    net = build_network(tasks.mixture(0), tau_syn=5e-3, delay=1e-3)
    fixed = compiler.compile(net, hw="loihi2", dt=1e-4)
    ingredients = StageIngredients.from_compiled(net, fixed)
    x0 = np.random.default_rng(1).random((3, net.n))

    def run():
        return run_staged(ingredients, ChipEffects.chip(), x0, 4000,
                          noise_std=noise, noise_seed=9)

    whole = _with_pacer(monkeypatch, emulator_module, _OneChunk(0), run)
    chunked = _with_pacer(monkeypatch, emulator_module, RandomPacer(50), run)
    assert whole.sum() > 500
    np.testing.assert_array_equal(chunked, whole)


def test_noise_generator_draws_numpys_legacy_normals():
    # The simulator's and the staged model's noise: MT19937 seeded like np.random.seed,
    # polar Box-Muller like RandomState.standard_normal (and numba's np.random).
    for seed in (0, 5, 2**32 - 1):
        mt = np.zeros(simulator_module._MT_N, np.int64)
        simulator_module._mt_seed(mt, seed)
        index, has_spare, spare, drawn = simulator_module._MT_N, False, 0.0, []
        for _ in range(1500):  # crosses two regenerations of the 624-word state
            z, index, has_spare, spare = simulator_module._mt_normal(mt, index, has_spare, spare)
            drawn.append(z)
        np.testing.assert_array_equal(drawn, np.random.RandomState(seed).standard_normal(1500))


def test_pacer_aims_at_the_chunk_time():
    pacer = emulator_module.ChunkPacer(100, target=0.2)
    pacer.record(100, 0.001)  # far too fast: grows by at most 4x
    assert pacer.size == 400
    for _ in range(10):
        pacer.record(pacer.size, pacer.size / 1e6)  # 1e6 units per second
    assert pacer.size == pytest.approx(2e5, rel=1e-6)
    pacer.record(pacer.size, 10.0)  # a slow chunk: shrinks by at most 4x
    assert pacer.size == 50_000


# ------------------------------------------------------------------ progress
def test_progress_bar_on_request_only(capsys):
    net = build_network(tasks.discrimination(0), tau_syn=5e-3)
    fixed = compiler.compile(net, hw="loihi2", dt=1e-4)
    simulate(net, 0.2, dt=1e-4, seed=0, progress=True)
    compiler.emulate(fixed, 500, seed=0, progress=True)
    err = capsys.readouterr().err
    assert "simulate" in err and "emulate" in err and "100%" in err
    simulate(net, 0.2, dt=1e-4, seed=0)  # auto: not a terminal here
    compiler.emulate(fixed, 500, seed=0, progress=False)
    assert capsys.readouterr().err == ""
    for bad in ("yes", 1):
        with pytest.raises(ValueError, match="progress"):
            simulate(net, 0.2, dt=1e-4, progress=bad)
        with pytest.raises(ValueError, match="progress"):
            compiler.emulate(fixed, 10, progress=bad)


_AUTO = """
import sys, warnings
warnings.simplefilter("ignore")
import compiler
from lava_causal import tasks, build_network, simulate
net = build_network(tasks.mixture(0), tau_syn=5e-3)
fixed = compiler.compile(net, hw="loihi2", dt=1e-4)
simulate(net, 0.5, dt=1e-5, seed=0)
compiler.emulate(fixed, 2000, trials=2, seed=0)  # short runs: no bar
print("short runs done", file=sys.stderr, flush=True)
try:
    compiler.emulate(fixed, 10**9, trials=2, seed=0)
except KeyboardInterrupt:
    print("interrupted", flush=True)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="pseudo-terminal")
def test_auto_progress_bar_on_a_terminal_for_long_runs_only():
    import fcntl
    import pty
    import select
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # 24 x 100
    proc = subprocess.Popen([sys.executable, "-c", _AUTO], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=slave, text=True)
    os.close(slave)
    seen, deadline = "", time.monotonic() + 60
    try:
        while "emulate" not in seen.partition("short runs done")[2] and time.monotonic() < deadline:
            if select.select([master], [], [], 1.0)[0]:
                try:
                    seen += os.read(master, 4096).decode(errors="replace")
                except OSError:
                    break
        before, marker, after = seen.partition("short runs done")
        assert marker, seen
        assert "%" not in before and "simulate" not in before, before  # short: no bar
        assert "emulate" in after, seen  # the long run's bar: about 2 s in
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
        assert out.strip() == "interrupted"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        os.close(master)
