"""Exit statuses of the command line: signals, closed pipes, memory, unmet targets."""
import os
import signal
import subprocess
import sys
import time

import pytest

from lava_causal import cli
from lava_causal.cli import Terminated, main, terminations_raise

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _cli(*args, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "lava_causal.cli", *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def test_sigterm_and_sighup_raise_terminated_and_handlers_are_restored():
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Terminated) as caught:
        with terminations_raise():
            os.kill(os.getpid(), signal.SIGHUP)
            time.sleep(1)
    assert caught.value.signum == signal.SIGHUP and "SIGHUP" in str(caught.value)
    assert signal.getsignal(signal.SIGTERM) is before


SLOW_COMMAND = """
import time, lava_causal.cli as c
def slow(args):
    try:
        print('started', flush=True)
        time.sleep(60)
    finally:
        print('finally ran', flush=True)
class Parser:
    def parse_args(self, argv=None):
        return type('Args', (), {'func': staticmethod(slow)})()
c.build_parser = Parser
raise SystemExit(c.main([]))
"""


@pytest.mark.parametrize("signum, status", [(signal.SIGTERM, 143), (signal.SIGHUP, 129),
                                            (signal.SIGINT, 130)])
def test_signal_mid_command_runs_finally_and_exits_with_one_line(tmp_path, signum, status):
    script = tmp_path / "slow.py"
    script.write_text(SLOW_COMMAND)
    proc = subprocess.Popen([sys.executable, str(script)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "started"
    proc.send_signal(signum)
    assert proc.wait(timeout=20) == status
    out, err = proc.stdout.read(), proc.stderr.read()
    assert "finally ran" in out
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: ")


def test_closed_pipe_ends_quietly(tmp_path):
    """`lava-causal info | head -1`: no BrokenPipe traceback."""
    proc = _cli("info")
    proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read()
    proc.wait(timeout=60)
    assert "Traceback" not in err and "BrokenPipe" not in err
    assert proc.returncode in (0, cli.EXIT_BROKEN_PIPE)


def test_memory_error_is_a_user_error(monkeypatch, capsys):
    def boom(args):
        raise MemoryError()

    monkeypatch.setattr(cli, "build_parser", lambda: _Fixed(boom))
    assert main([]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: out of memory")


def test_recommend_exits_1_when_the_target_is_not_met(tmp_path, capsys):
    problem = tmp_path / "p.npz"
    assert main(["task", "discrimination", "-o", str(problem)]) == 0
    assert main(["recommend", str(problem), "--target", "1e-9", "--trials", "3", "--json"]) == 1
    assert '"met": false' in capsys.readouterr().out


class _Fixed:
    """A parser stand-in whose parse_args returns a namespace running ``func``."""

    def __init__(self, func):
        self.func = func

    def parse_args(self, argv=None):
        return type("Args", (), {"func": staticmethod(self.func)})()
