"""Argument types, errors and output helpers shared by the sub-commands."""
from __future__ import annotations

import argparse
import json

import numpy as np

from compiler.files import to_jsonable

from ..problem import CausalProblem


class CliError(Exception):
    """A user error, reported as one line on stderr with exit status 2."""


class Parser(argparse.ArgumentParser):
    """argparse that raises :class:`CliError` instead of printing usage and exiting."""

    def error(self, message):
        raise CliError(f"{self.prog}: {message}")


def _number(name, kind, minimum, strict):
    """Argument type: a finite ``kind`` >= ``minimum`` (> when ``strict``)."""
    relation = ">" if strict else ">="

    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{name} must be {'an integer' if kind is int else 'a number'}, got {text!r}") from None
        if not np.isfinite(value) or (value <= minimum if strict else value < minimum):
            raise argparse.ArgumentTypeError(f"{name} must be {relation} {minimum}, got {text}")
        return value
    return parse


def positive_float(name):
    """Argument type for a number > 0."""
    return _number(name, float, 0, strict=True)


def non_negative_float(name):
    """Argument type for a number >= 0."""
    return _number(name, float, 0, strict=False)


def positive_int(name):
    """Argument type for an integer >= 1."""
    return _number(name, int, 1, strict=False)


seed = _number("--seed", int, 0, strict=False)
"""Argument type for a seed (integer >= 0)."""


def number_list(name, kind=float):
    """Argument type for a comma-separated list such as ``3,4,5``."""
    def parse(text):
        try:
            values = [kind(v) for v in text.split(",") if v.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be comma-separated numbers, got {text!r}") from None
        if not values:
            raise argparse.ArgumentTypeError(f"{name} must list at least one value")
        return values
    return parse


def add_hw_argument(parser, default="loihi2"):
    """``--hw``: a config name from ``hw_configs/`` or a path to a TOML file."""
    parser.add_argument("--hw", default=default,
                        help="hardware config: name in hw_configs/ or path to a .toml (default %(default)s)")


def print_json(obj) -> None:
    """Print ``obj`` as one JSON object."""
    print(json.dumps(to_jsonable(obj), indent=1))


def load_problem(path) -> CausalProblem:
    """Load a problem file, turning any loading error into a :class:`CliError`."""
    try:
        return CausalProblem.load(path)
    except ValueError as exc:
        raise CliError(str(exc)) from None
