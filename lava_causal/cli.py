"""The ``lava-causal`` command line.

Every user error (missing or corrupt file, bad value) ends with exit status 2 and one
line on stderr, never a traceback.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import warnings

import numpy as np

from . import tasks
from .problem import CausalProblem
from .provenance import versions

EXIT_USAGE = 2


class CliError(Exception):
    """A user error reported as one line with exit status 2."""


# ---------------------------------------------------------------- argument types
def _positive_float(name):
    def parse(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a number, got {text!r}") from None
        if not np.isfinite(value) or value <= 0:
            raise argparse.ArgumentTypeError(f"{name} must be > 0, got {text}")
        return value
    return parse


def _positive_int(name):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be an integer, got {text!r}") from None
        if value < 1:
            raise argparse.ArgumentTypeError(f"{name} must be >= 1, got {text}")
        return value
    return parse


def _seed(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--seed must be a non-negative integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"--seed must be a non-negative integer, got {text}")
    return value


class _Parser(argparse.ArgumentParser):
    """argparse that reports errors as one line and exit status 2."""

    def error(self, message):
        raise CliError(f"{self.prog}: {message}")


# ---------------------------------------------------------------- output helpers
def write_atomic(path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file renamed into place."""
    directory = os.path.dirname(os.path.abspath(path)) or "."
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _to_jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def print_json(obj) -> None:
    print(json.dumps(_to_jsonable(obj), indent=1))


def _load_problem(path) -> CausalProblem:
    try:
        return CausalProblem.load(path)
    except ValueError as exc:
        raise CliError(str(exc)) from None


# ---------------------------------------------------------------- commands
def cmd_task(args):
    """Write one of the paper's tasks as a problem file."""
    problem = tasks.TASKS[args.name](args.seed)
    try:
        problem.save(args.output)
    except OSError as exc:
        raise CliError(f"cannot write {args.output!r}: {exc.strerror}") from None
    print(f"wrote {args.name} (seed {args.seed}, M={problem.n_inputs}, N={problem.n_causes}) to {args.output}")


def cmd_solve(args):
    """Run the network on a problem and compare its rates with the exact MAP."""
    from .solve import solve_problem

    problem = _load_problem(args.problem)
    try:
        report = solve_problem(problem, backend=args.backend, duration=args.duration, dt=args.dt,
                               trials=args.trials, seed=args.seed, hw=args.hw,
                               tau_syn=args.tau_syn)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if args.json:
        print_json(report)
        return
    print(format_solve_report(report))


def format_solve_report(report: dict) -> str:
    """Human-readable table of MAP versus measured rates, then the metrics."""
    r_map, rates = np.asarray(report["map"]), np.asarray(report["rates"])
    shown = np.flatnonzero((r_map > 1e-6) | (rates > 0.5))
    lines = [f"backend {report['backend']}, duration {report['duration']:g} s, dt {report['dt']:g} s, "
             f"trials {report['trials']}, seed {report['seed']}"
             + (f", hw {report['hw']}, steps {report['steps']}" if report.get("hw") else ""),
             f"{'cause':>6} {'MAP r*':>10} {'rate (Hz)':>10}"]
    lines += [f"{i:>6d} {r_map[i]:>10.3f} {rates[i]:>10.3f}" for i in shown[:40]]
    if shown.size > 40:
        lines.append(f"... {shown.size - 40} more active causes")
    lines.append(f"{int(np.sum(rates <= 0.5))} of {rates.size} causes silent (<= 0.5 Hz)")
    for key in ("relative_error", "angular_error_deg", "percent_error", "objective_gap", "support_f1"):
        lines.append(f"{key:>20}: {report[key]:.5g}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="lava-causal", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    sub.required = True

    p = sub.add_parser("task", help="write one of the paper's tasks as a problem .npz")
    p.add_argument("name", choices=sorted(tasks.TASKS))
    p.add_argument("--seed", type=_seed, default=0)
    p.add_argument("-o", "--output", required=True)
    p.set_defaults(func=cmd_task)

    p = sub.add_parser("solve", help="run the network on a problem and compare with the exact MAP")
    p.add_argument("problem")
    p.add_argument("--backend", default="float",
                   choices=["float", "emulator", "lava", "lava-float", "loihi2"])
    p.add_argument("--duration", type=_positive_float("--duration"), default=5.0, help="seconds")
    p.add_argument("--dt", type=_positive_float("--dt"), default=None,
                   help="seconds per step (default 1e-5 float, 1e-4 chip)")
    p.add_argument("--trials", type=_positive_int("--trials"), default=1)
    p.add_argument("--seed", type=_seed, default=None)
    p.add_argument("--hw", default="loihi2", help="hardware config name or path (chip backends)")
    p.add_argument("--tau-syn", type=float, default=5e-3, help="synaptic time constant (s), 0 = delta")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_solve)
    return parser


def main(argv=None) -> int:
    """Entry point; returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            args.func(args)
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
