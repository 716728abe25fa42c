"""``rls train`` (an RLS-trained recurrent network on a task) and ``rls deploy``
(compile it, run it on the chip, score it against float, optionally with the budget)."""
from __future__ import annotations

from ._common import (CliError, add_hw_argument, output_path, positive_float, positive_int, print_json,
                      seed)

ORDER = 28


def cmd_train(args):
    """Train on a task and save the trained network."""
    import numpy as np

    from compiler.system.files import read_npz
    from ..rls.experiment import float_report, train_task

    output_path(args.output)
    rates = None
    if args.rates:
        rates = read_npz(args.rates, "rate patterns", keys=("rates",))["rates"]
        if np.ndim(rates) != 2 or rates.shape[1] != args.n:
            raise CliError(f"--rates {args.rates!r}: 'rates' must have shape (samples, --n {args.n}), "
                           f"got {np.shape(rates)}")
    result = train_task(args.task, args.n, args.connectivity, args.duration, args.trials, args.seed, args.dt,
                        args.learn_every, args.period, args.amplitude, rates, progress=not args.json,
                        gain=args.gain, mean=args.mean, bias=args.bias, regularization=args.regularization)
    result.save(args.output)
    report = {"output": args.output, "task": args.task, "n": args.n, "k": result.network.k,
              "training_rms_error_first": float(result.error[0]),
              "training_rms_error_last": float(result.error[-1]),
              "float": float_report(result, args.test_trials, args.seed), "training": result.settings}
    if args.json:
        print_json(report)
        return
    f = report["float"]
    print(f"trained {args.task} (N = {args.n}, K = {result.network.k}, {args.trials} trials, "
          f"{result.settings['wall_s']:.1f} s): drive RMS error {result.error[0]:.3f} -> {result.error[-1]:.3f}")
    print(f"float test ({args.test_trials} trials): PSTH correlation {f['correlation']:.3f} "
          f"[{f['correlation_ci95'][0]:.3f}, {f['correlation_ci95'][1]:.3f}], normalised error "
          f"{f['normalised_error']:.3f}, drive correlation {f['drive_correlation']:.3f}")
    print(f"wrote {args.output}")


def cmd_deploy(args):
    """Compile a trained network, run it on the chip and score it next to float."""
    from compiler.system.files import write_json
    from ..rls.experiment import deploy_report, float_report
    from ..rls.training import load_trained

    output_path(args.output, args.trained)
    result = load_trained(args.trained)
    options = {} if args.weight_bits is None else {"weight_bits": args.weight_bits}
    report = {"float": float_report(result, args.trials, args.seed),
              "chip": deploy_report(result, args.hw, args.dt, args.trials, args.seed, args.backend,
                                    budget=args.budget, **options),
              "trained": args.trained, "seed": args.seed, "trials": args.trials}
    report["float_correlation"] = report["float"]["correlation"]
    report["chip_correlation"] = report["chip"]["correlation"]
    if args.output:
        write_json(args.output, report)
    if args.json:
        print_json(report)
        return
    f, c = report["float"], report["chip"]
    for label, s in (("float", f), (f"chip ({c['backend']}, {c['hw']}, dt = {c['dt']:g} s)", c)):
        print(f"{label}: PSTH correlation {s['correlation']:.3f} [{s['correlation_ci95'][0]:.3f}, "
              f"{s['correlation_ci95'][1]:.3f}], normalised error {s['normalised_error']:.3f}, "
              f"{s['mean_rate_hz']:.1f} Hz")
    if args.budget:
        print(c["budget_table"])
    if args.output:
        print(f"wrote {args.output}")


def register(sub):
    from ..rls.experiment import TASKS

    p = sub.add_parser("rls", help="recurrent networks trained with recursive least squares: train, deploy")
    inner = p.add_subparsers(dest="rls_command", metavar="ACTION", parser_class=type(p))
    inner.required = True
    t = inner.add_parser("train", help="train a recurrent LIF network on target patterns and save it")
    t.add_argument("--task", choices=TASKS, default="sinusoids")
    t.add_argument("--n", type=positive_int("--n", 20000), default=200, help="neurons (default 200)")
    t.add_argument("--connectivity", type=positive_float("--connectivity", 1.0), default=0.3,
                   help="fraction of other neurons each neuron's weights are trained from (default 0.3)")
    t.add_argument("--duration", type=positive_float("--duration"), default=1.0, help="pattern seconds")
    t.add_argument("--period", type=positive_float("--period"), default=0.5, help="sinusoid period (s)")
    t.add_argument("--amplitude", type=positive_float("--amplitude"), default=0.3,
                   help="sinusoid amplitude (thresholds of drive)")
    t.add_argument("--rates", help="heterogeneous task: an .npz with 'rates' (samples x N, Hz, 1 ms samples)")
    t.add_argument("--trials", type=positive_int("--trials"), default=20, help="training trials")
    t.add_argument("--test-trials", type=positive_int("--test-trials"), default=8)
    t.add_argument("--dt", type=positive_float("--dt", 1e-3), default=1e-4, help="float step (s)")
    t.add_argument("--learn-every", type=positive_float("--learn-every"), default=2e-3,
                   help="seconds between RLS updates")
    t.add_argument("--regularization", type=positive_float("--regularization"), default=None,
                   help="RLS prior lambda (P(0) = I/lambda); default the task's preset")
    t.add_argument("--gain", type=positive_float("--gain"), default=None, help="initial weight gain g")
    t.add_argument("--mean", type=float, default=None, help="initial weight mean (x 1/K)")
    t.add_argument("--bias", type=float, default=None, help="constant bias (thresholds)")
    t.add_argument("--seed", type=seed, default=0)
    t.add_argument("-o", "--output", required=True, help="trained network (.npz)")
    t.add_argument("--json", action="store_true")
    t.set_defaults(func=cmd_train)
    d = inner.add_parser("deploy", help="compile a trained network, run it on the chip, score it against float")
    d.add_argument("trained", help="a file written by 'rls train'")
    add_hw_argument(d)
    d.add_argument("--dt", type=positive_float("--dt", 1e-3), default=2e-4, help="chip step (s, default 2e-4)")
    d.add_argument("--weight-bits", type=positive_int("--weight-bits", 8), default=None)
    d.add_argument("--backend", choices=("emulator", "lava"), default="emulator")
    d.add_argument("--trials", type=positive_int("--trials"), default=8, help="test trials")
    d.add_argument("--budget", action="store_true", help="also measure which chip effect costs what")
    d.add_argument("--seed", type=seed, default=0)
    d.add_argument("-o", "--output", help="write the report as JSON")
    d.add_argument("--json", action="store_true")
    d.set_defaults(func=cmd_deploy)
