"""Argument types, errors and output helpers shared by the sub-commands."""
from __future__ import annotations

import argparse
import json
import math
import os

from compiler.system.files import check_output_path, npz_members, to_jsonable

from ..problem import CausalProblem


class CliError(Exception):
    """A user error, reported as one line on stderr with exit status 2."""


class Parser(argparse.ArgumentParser):
    """argparse that raises :class:`CliError` instead of printing usage and exiting."""

    def error(self, message):
        raise CliError(f"{self.prog}: {message}")


def _number(name, kind, minimum, strict, maximum=None):
    """Argument type: a finite ``kind`` >= ``minimum`` (> when ``strict``) and, when
    given, <= ``maximum``; errors name the flag, the range and the value."""
    noun = "an integer" if kind is int else "a finite number"
    relation = ">" if strict else ">="
    wanted = (f"{noun} in {minimum}..{maximum}" if kind is int and maximum is not None and not strict
              else f"{noun} {relation} {minimum}" + ("" if maximum is None else f" and <= {maximum:g}"))

    def parse(text):
        try:
            value = kind(text)
        except (ValueError, OverflowError):
            raise argparse.ArgumentTypeError(f"{name} must be {noun}, got {text!r}") from None
        if kind is float and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{name} must be {wanted}, got {text}")
        if (value <= minimum if strict else value < minimum) or (maximum is not None and value > maximum):
            raise argparse.ArgumentTypeError(f"{name} must be {wanted}, got {text}")
        return value
    parse.__name__ = name  # argparse names the type in its own messages
    return parse


def positive_float(name, maximum=None):
    """Argument type for a finite number > 0 (and <= ``maximum``)."""
    return _number(name, float, 0, strict=True, maximum=maximum)


def non_negative_float(name, maximum=None):
    """Argument type for a finite number >= 0 (and <= ``maximum``)."""
    return _number(name, float, 0, strict=False, maximum=maximum)


def positive_int(name, maximum=None):
    """Argument type for an integer >= 1 (and <= ``maximum``)."""
    return _number(name, int, 1, strict=False, maximum=maximum)


def int_range(name, minimum, maximum):
    """Argument type for an integer in ``minimum..maximum``."""
    return _number(name, int, minimum, strict=False, maximum=maximum)


seed = _number("--seed", int, 0, strict=False)
"""Argument type for a seed: any integer >= 0 (also the 128-bit ones drawn from OS
entropy and printed by earlier versions; ``numpy.random.default_rng`` takes them)."""


def number_list(name, kind=float):
    """Argument type for a comma-separated list such as ``3,4,5``."""
    def parse(text):
        try:
            values = [kind(v) for v in text.split(",") if v.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be comma-separated numbers, got {text!r}") from None
        if not values:
            raise argparse.ArgumentTypeError(f"{name} must list at least one value")
        bad = [v for v in values if kind is float and not math.isfinite(v)]
        if bad:
            raise argparse.ArgumentTypeError(f"{name} must be finite numbers, got {text!r}")
        return values
    return parse


def add_hw_argument(parser, default="loihi2"):
    """``--hw``: a config name from ``compiler/hardware/configs/`` or a path to a TOML file. With
    ``default=None`` the value stays None when the flag is not given (so a command can
    tell whether it was), and the help names ``loihi2``."""
    parser.add_argument("--hw", default=default,
                        help="hardware config: name in compiler/hardware/configs/ or path to a .toml (default "
                             f"{default or 'loihi2'})")


def add_force_argument(parser):
    """``--force``: run even when the step or memory estimate exceeds its limit."""
    parser.add_argument("--force", action="store_true",
                        help="run even when the estimated steps (> 1e10) or memory exceed the limits "
                             "(memory limit: $LAVA_CAUSAL_MEMORY_LIMIT, default 80%% of available)")


def output_path(path, *inputs, flag="-o"):
    """Check an output file name before any work (:func:`compiler.system.files.check_output_path`:
    not a folder, not one of ``inputs``, in a folder this process may write); return it.
    None passes through. Raises :class:`CliError` naming ``flag`` and the path."""
    if path is None:
        return None
    try:
        check_output_path(path, inputs)
    except OSError as exc:
        raise CliError(f"cannot write {flag} {os.fspath(path)!r}: {exc.strerror}") from None
    except ValueError as exc:
        raise CliError(f"{flag}: {exc}") from None
    return path


def output_folder(path, flag="--out"):
    """Check an output folder before any work: not an existing file, and the nearest
    existing folder above it writable. Returns it."""
    shown = os.fspath(path)
    if os.path.exists(shown) and not os.path.isdir(shown):
        raise CliError(f"cannot write {flag} {shown!r}: it is a file, not a folder")
    try:
        check_output_path(os.path.join(shown, "x"))
    except OSError as exc:
        raise CliError(f"cannot write {flag} {shown!r}: {exc.strerror}") from None
    return path


def print_json(obj) -> None:
    """Print ``obj`` as one JSON object."""
    print(json.dumps(to_jsonable(obj), indent=1))


def load_problem(path, force: bool = False) -> CausalProblem:
    """Load a problem file, turning any loading error into a :class:`CliError`.

    The ``features`` header of a dense problem is read first: a problem whose N causes
    could not even be built into a network in the memory available
    (:func:`compiler.system.resources.check_problem`) is refused before its arrays are
    loaded (``force`` skips that). A sparse problem (O(nnz) to load) is checked by its
    couplings once loaded."""
    from compiler.system import resources

    try:
        members = npz_members(path, "problem")
        shape = members.get("features", ((),))[0]
        if len(shape) == 2 and min(shape) > 0:
            resources.check_problem(shape[0], shape[1], force=force)
        problem = CausalProblem.load(path)
        if problem.is_sparse:
            resources.check_problem(problem.n_inputs, problem.n_causes, force=force,
                                    features=problem.features)
        return problem
    except ValueError as exc:
        raise CliError(str(exc)) from None
