"""``budget``, ``sweep`` and ``recommend``: what accuracy the chip costs, and why."""
from __future__ import annotations

import os

from ..budget import error_budget
from ..sweep import PARAMS, recommend, sweep
from ._common import (add_force_argument, add_hw_argument, load_problem, non_negative_float, number_list,
                      output_path, positive_float, positive_int, print_json, seed)

ORDER = 20


def _common_arguments(p, duration=5.0):
    p.add_argument("problem")
    add_hw_argument(p)
    p.add_argument("--dt", type=positive_float("--dt"), default=1e-4, help="seconds per chip step")
    p.add_argument("--duration", type=positive_float("--duration"), default=duration, help="window T (s)")
    p.add_argument("--trials", type=positive_int("--trials"), default=8)
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--weight-bits", type=positive_int("--weight-bits"), default=None)
    p.add_argument("--weight-splits", type=positive_int("--weight-splits"), default=None)
    p.add_argument("--ci-width", type=positive_float("--ci-width"), default=None,
                   help="add trials until every 95 %% interval is at most this wide (fraction, 0.002 = 0.2 points)")
    p.add_argument("--max-trials", type=positive_int("--max-trials"), default=256,
                   help="most trials --ci-width may use")
    p.add_argument("--allow-unstable", action="store_true", help="run unstable networks instead of refusing them")
    add_force_argument(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")


def _compile_options(args) -> dict:
    options = {}
    if args.weight_bits is not None:
        options["weight_bits"] = args.weight_bits
    if args.weight_splits is not None:
        options["weight_splits"] = args.weight_splits
    return options


def _show(result, args, plot_name):
    """Print ``result`` (table or JSON) and draw its plot when ``--plot`` was given."""
    path = result.plot(args.plot) if args.plot else None
    print_json(result.to_dict()) if args.json else print(result.table())
    if path and not args.json:
        print(f"{plot_name}: {path}")


def cmd_budget(args):
    """Print the error budget of a problem on a chip."""
    output_path(args.plot, args.problem, flag="--plot")
    problem = load_problem(args.problem, args.force)
    mistune = None if args.mistune is None else (-args.mistune, 0.0)
    budget = error_budget(problem, hw=args.hw, dt=args.dt, duration=args.duration, trials=args.trials,
                          seed=args.seed, mistune=mistune, noise_std=args.noise,
                          confirm_on_lava=args.confirm_on_lava, name=os.path.basename(args.problem),
                          ci_width=args.ci_width, max_trials=max(args.max_trials, args.trials),
                          allow_unstable=args.allow_unstable, **_compile_options(args))
    _show(budget, args, "waterfall chart")


def cmd_sweep(args):
    """Error against one parameter."""
    output_path(args.plot, args.problem, flag="--plot")
    problem = load_problem(args.problem, args.force)
    options = _compile_options(args)
    options.pop(args.param, None)
    result = sweep(problem, args.param, args.values, hw=args.hw, dt=args.dt, duration=args.duration,
                   trials=args.trials, seed=args.seed, n_jobs=args.jobs, progress=not args.json,
                   name=os.path.basename(args.problem), ci_width=args.ci_width,
                   max_trials=max(args.max_trials, args.trials), allow_unstable=args.allow_unstable, **options)
    _show(result, args, "sweep plot")


def cmd_recommend(args):
    """The cheapest settings meeting a target error; exit status 1 when none does."""
    problem = load_problem(args.problem, args.force)
    found = recommend(problem, args.target, hw=args.hw, trials=args.trials, seed=args.seed,
                      ci_width=args.ci_width, max_trials=max(args.max_trials, args.trials),
                      allow_unstable=args.allow_unstable, progress=not args.json)
    print_json(found.to_dict()) if args.json else print(found)
    return 0 if found.met else 1


def register(sub):
    p = sub.add_parser("budget", help="error budget: which chip effect costs how much accuracy")
    _common_arguments(p)
    p.add_argument("--mistune", type=non_negative_float("--mistune"), default=None,
                   help="amplitude a of a U[-a, 0] mistuning of J")
    p.add_argument("--noise", type=non_negative_float("--noise"), default=0.0,
                   help="white-noise std per sqrt(s) on the voltage")
    p.add_argument("--confirm-on-lava", action="store_true", help="also run Lava fixed_pt (slow)")
    p.add_argument("--plot", help="write the waterfall chart (PNG)")
    p.set_defaults(func=cmd_budget)

    p = sub.add_parser("sweep", help="error against one parameter")
    _common_arguments(p)
    p.add_argument("--param", required=True, choices=sorted(PARAMS))
    p.add_argument("--values", required=True, type=number_list("--values"), help="e.g. 3,4,5,6,7,8")
    p.add_argument("--jobs", type=positive_int("--jobs"), default=1, help="joblib workers over values")
    p.add_argument("--plot", help="write the sweep plot (PNG)")
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("recommend", help="cheapest weight bits, dt and duration meeting a target error")
    p.add_argument("problem")
    p.add_argument("--target", required=True, type=positive_float("--target"),
                   help="mean_relative_error (mean over trials of |r - r*|/|r*|) whose 95 %% upper bound "
                        "must meet it, e.g. 0.02")
    add_hw_argument(p)
    p.add_argument("--trials", type=positive_int("--trials"), default=8)
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--ci-width", type=positive_float("--ci-width"), default=None,
                   help="add trials until each candidate's 95 %% interval is at most this wide")
    p.add_argument("--max-trials", type=positive_int("--max-trials"), default=256)
    p.add_argument("--allow-unstable", action="store_true")
    add_force_argument(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_recommend)
