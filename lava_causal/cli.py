"""The ``lava-causal`` command line.

Sub-commands live in :mod:`lava_causal.commands`, one module per concern. Every user
error (missing or corrupt file, bad value, a network that does not fit the chip, a
backend that is not installed) ends with exit status 2 and one line on stderr, never a
traceback.
"""
from __future__ import annotations

import importlib
import pkgutil
import sys
import warnings

from . import commands
from .commands._common import CliError, Parser

EXIT_USAGE = 2

USER_ERRORS = (CliError, ValueError, OSError, RuntimeError)
"""Errors reported as one line. ValueError covers ``ConfigError``, ``QuantizationError``
and ``SerializationError``; RuntimeError covers ``BackendUnavailable`` and Lava timeouts."""


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
    if isinstance(exc, OSError) and exc.filename and exc.strerror:
        message = f"{exc.filename}: {exc.strerror}"
    return message


def main(argv=None) -> int:
    """Entry point; returns the exit status (0, 2 for a user error, 130 if interrupted)."""
    try:
        args = build_parser().parse_args(argv)
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            args.func(args)
    except USER_ERRORS as exc:
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
