"""The ``lava-causal`` command line.

Sub-commands live in :mod:`lava_causal.commands`, one module per concern. Every user
error (missing or corrupt file, bad value, a network that does not fit the chip or in
memory, a backend that is not installed) ends with exit status 2 and one line on
stderr, never a traceback. Ctrl-C ends with 130, SIGTERM with 143 and SIGHUP with 129,
each after every ``finally`` has run (Lava runtimes stopped, workers shut down, temporary
files removed); a closed output pipe (``| head``) ends quietly with 141. A command that
ran but did not reach what was asked (``recommend`` missing its target) returns 1.
"""
from __future__ import annotations

import importlib
import os
import pkgutil
import signal
import sys
import threading
import warnings
from contextlib import contextmanager

from . import commands
from .commands._common import CliError, Parser

EXIT_USAGE = 2
EXIT_INTERRUPTED = 128 + signal.SIGINT
EXIT_BROKEN_PIPE = 128 + signal.SIGPIPE
TERMINATING_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))
"""Signals turned into :class:`Terminated` while a command runs."""


class Terminated(BaseException):
    """SIGTERM or SIGHUP, raised in the main thread so that every ``finally`` runs.

    A ``BaseException`` like ``KeyboardInterrupt``: ``except Exception`` does not
    swallow it. ``signum`` is the signal number; the CLI exits with ``128 + signum``.
    """

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = int(signum)

    def __str__(self) -> str:
        return f"terminated by {signal.Signals(self.signum).name}"


def _raise_terminated(signum, frame):
    raise Terminated(signum)


@contextmanager
def terminations_raise():
    """While active (main thread only), SIGTERM and SIGHUP raise :class:`Terminated`;
    the previous handlers are restored on exit."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}
    try:
        for signum in TERMINATING_SIGNALS:
            previous[signum] = signal.signal(signum, _raise_terminated)
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)

USER_ERRORS = (CliError, ValueError, OSError, RuntimeError, MemoryError)
"""Errors reported as one line. ValueError covers ``ConfigError``, ``QuantizationError``
and ``SerializationError``; RuntimeError covers ``BackendUnavailable`` and Lava timeouts;
MemoryError a computation that did not fit (most are refused before they start)."""


def command_modules():
    """The public modules of :mod:`lava_causal.commands`, in their ``ORDER``."""
    found = [importlib.import_module(f"{commands.__name__}.{info.name}")
             for info in pkgutil.iter_modules(commands.__path__) if not info.name.startswith("_")]
    return sorted(found, key=lambda module: (getattr(module, "ORDER", 100), module.__name__))


def build_parser() -> Parser:
    """The argument parser with every registered sub-command."""
    parser = Parser(prog="lava-causal",
                    description="Exact Bayesian causal inference in spiking networks, "
                                "from float simulation to Loihi fixed point.")
    sub = parser.add_subparsers(dest="command", parser_class=Parser, metavar="COMMAND")
    sub.required = True
    for module in command_modules():
        module.register(sub)
    return parser


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    message = text[0] if text else type(exc).__name__
    if isinstance(exc, MemoryError):
        message = f"out of memory{': ' + message if text else ''}; reduce the problem size, trials or duration"
    if isinstance(exc, OSError) and exc.filename and exc.strerror:
        message = f"{exc.filename}: {exc.strerror}"
    return message


def main(argv=None) -> int:
    """Entry point; returns the exit status (module docstring)."""
    try:
        with terminations_raise():
            args = build_parser().parse_args(argv)
            with warnings.catch_warnings():
                warnings.simplefilter("default")
                status = args.func(args)
            sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except USER_ERRORS as exc:
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Terminated as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 128 + exc.signum
    return status if isinstance(status, int) else 0


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
