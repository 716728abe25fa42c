"""``task`` (write a paper task) and ``solve`` (run a backend, compare with the MAP)."""
from __future__ import annotations

import numpy as np

from .. import tasks
from ..solve import BACKENDS, CONVERGENCE_TARGET, solve_problem
from ._common import (CliError, add_force_argument, add_hw_argument, load_problem,
                      non_negative_float, output_path, positive_float, positive_int, print_json,
                      seed)

ORDER = 0


def cmd_task(args):
    """Write one of the paper's tasks as a problem file."""
    output_path(args.output)
    problem = tasks.TASKS[args.name](args.seed)
    try:
        problem.save(args.output)
    except OSError as exc:
        raise CliError(f"cannot write {args.output!r}: {exc.strerror}") from None
    print(f"wrote {args.name} (seed {args.seed}, M={problem.n_inputs}, N={problem.n_causes}) to {args.output}")


def cmd_solve(args):
    """Run the network on a problem and compare its rates with the exact MAP."""
    if args.backend == "float" and args.hw is not None:
        raise CliError(f"--hw {args.hw} applies to the chip backends (emulator, lava, lava-float, "
                       f"loihi2), not to --backend float: drop --hw or choose a chip backend")
    problem = load_problem(args.problem, args.force)
    report = solve_problem(problem, backend=args.backend, duration=args.duration, dt=args.dt,
                           trials=args.trials, seed=args.seed, hw=args.hw or "loihi2",
                           tau_syn=args.tau_syn, allow_unstable=args.allow_unstable,
                           target=args.target_error, force=args.force)
    if args.json:
        print_json(report)
    else:
        print(format_solve_report(report))


TRIAL_MEAN_METRICS = ("angular_error_deg", "percent_error", "reconstruction_error", "objective_gap",
                      "support_f1")
"""Metrics of the trial-mean rates shown by :func:`format_solve_report` (when present)."""


def format_solve_report(report: dict) -> str:
    """Human-readable table of MAP versus measured rates, the two relative errors, the
    metrics of the trial-mean rates and the convergence diagnostics."""
    r_map, rates = np.asarray(report["map"]), np.asarray(report["rates"])
    shown = np.flatnonzero((r_map > 1e-6) | (rates > 0.5))
    lines = [f"backend {report['backend']}, duration {report['duration']:g} s, dt {report['dt']:g} s, "
             f"trials {report['trials']}, seed {report['seed']}"
             + (f", hw {report['hw']}, steps {report['steps']}" if report.get("hw") else ""),
             f"{'cause':>6} {'MAP r*':>10} {'rate (Hz)':>10}"]
    lines += [f"{i:>6d} {r_map[i]:>10.3f} {rates[i]:>10.3f}" for i in shown[:40]]
    if shown.size > 40:
        lines.append(f"... {shown.size - 40} more active causes")
    lines.append(f"{int(np.sum(rates <= 0.5))} of {rates.size} causes silent (<= 0.5 Hz; rates are "
                 f"trial means)")
    width = 24
    lines.append(f"{'relative_error_of_mean':>{width}}: {report['relative_error_of_mean']:.5g}"
                 "   |mean_k r_k - r*| / |r*|")
    lines.append(f"{'mean_relative_error':>{width}}: {report['mean_relative_error']:.5g}"
                 "   mean_k |r_k - r*| / |r*|")
    lines.append("metrics of the trial-mean rates:")
    for key in TRIAL_MEAN_METRICS:
        if key in report:
            lines.append(f"{key:>{width}}: {report[key]:.5g}")
    conv = report.get("convergence")
    if conv:
        lines.append("convergence:")
        drift = ("n/a (needs the float or emulator backend)" if conv["drift"] is None else
                 f"{conv['drift']:.3g} between T/2 and T, error ~ T^-{conv['exponent']:.2g}"
                 if conv["exponent"] is not None else f"{conv['drift']:.3g} between T/2 and T")
        unique = {True: "unique", False: "NOT unique", None: "uniqueness not checked"}[conv["map_unique"]]
        lines += [f"{'converged':>{width}}: {'yes' if conv['converged'] else 'no'} "
                  f"(target {conv['target']:g})",
                  f"{'drift':>{width}}: {drift}",
                  f"{'active causes':>{width}}: {conv['active_rates']} in the rates, "
                  f"{conv['active_map']} in r* (> 0.5 Hz); {conv['map_n_active']} with r*_i > 0",
                  f"{'MAP':>{width}}: {unique}, cond(G_SS) of the active set "
                  f"{conv['active_condition']:.3g}"]
        if conv["hint"]:
            lines.append(f"{'hint':>{width}}: {conv['hint']}")
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
    add_hw_argument(p, default=None)
    p.add_argument("--tau-syn", type=non_negative_float("--tau-syn"), default=5e-3,
                   help="synaptic time constant (s), 0 = delta")
    p.add_argument("--target-error", type=positive_float("--target-error"), default=CONVERGENCE_TARGET,
                   help="relative error of the trial-mean rates called converged (default %(default)g)")
    p.add_argument("--allow-unstable", action="store_true",
                   help="run a network whose rates can run away (warn instead of refusing)")
    add_force_argument(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_solve)
