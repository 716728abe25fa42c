"""``task`` (write a paper task) and ``solve`` (run a backend, compare with the MAP)."""
from __future__ import annotations

import numpy as np

from .. import tasks
from ..solve import BACKENDS, solve_problem
from ._common import (CliError, add_hw_argument, load_problem, positive_float, positive_int,
                      print_json, seed)

ORDER = 0


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
    problem = load_problem(args.problem)
    report = solve_problem(problem, backend=args.backend, duration=args.duration, dt=args.dt,
                           trials=args.trials, seed=args.seed, hw=args.hw, tau_syn=args.tau_syn)
    if args.json:
        print_json(report)
    else:
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


def register(sub):
    p = sub.add_parser("task", help="write one of the paper's tasks as a problem .npz")
    p.add_argument("name", choices=sorted(tasks.TASKS))
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("-o", "--output", required=True)
    p.set_defaults(func=cmd_task)

    p = sub.add_parser("solve", help="run the network on a problem and compare with the exact MAP")
    p.add_argument("problem")
    p.add_argument("--backend", default="float", choices=BACKENDS)
    p.add_argument("--duration", type=positive_float("--duration"), default=5.0, help="seconds")
    p.add_argument("--dt", type=positive_float("--dt"), default=None,
                   help="seconds per step (default 1e-5 float, 1e-4 chip)")
    p.add_argument("--trials", type=positive_int("--trials"), default=1)
    p.add_argument("--seed", type=seed, default=None)
    add_hw_argument(p)
    p.add_argument("--tau-syn", type=float, default=5e-3, help="synaptic time constant (s), 0 = delta")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_solve)
