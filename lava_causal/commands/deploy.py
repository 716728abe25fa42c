"""``place`` (cores and chips), ``cost`` (energy estimate per decode) and ``export`` (NIR)."""
from __future__ import annotations

import compiler
from compiler.deploy.cost import estimate_cost
from compiler.deploy.nir_export import to_nir
from compiler.deploy.placement import place

from compiler.system import resources
from ..network import build_network
from ..solve import CHIP_DT
from ._common import (CliError, add_force_argument, add_hw_argument, load_problem,
                      non_negative_float, output_path, positive_float, positive_int, print_json,
                      seed)

ORDER = 40


def _steps(args):
    """Emulator steps of ``--duration`` (None for 0), refused before any work when
    shorter than one step or beyond the step limit."""
    if not args.duration:
        return None
    steps = resources.steps_for(args.duration, args.dt)
    if steps < 1:
        raise CliError(f"--duration {args.duration:g} s is shorter than one step of --dt {args.dt:g} s")
    return resources.check_steps(steps, f"--duration {args.duration:g} s at --dt {args.dt:g} s",
                                 force=args.force, emulated=True)


def _compiled(args, problem=None, run=False):
    problem = load_problem(args.problem, args.force) if problem is None else problem
    resources.check_problem(problem.n_inputs, problem.n_causes, chip=True, emulate=run,
                            force=args.force, features=problem.features)
    network = build_network(problem, tau_syn=args.tau_syn)
    return network, compiler.compile(network, hw=args.hw, dt=args.dt, seed=args.seed)


def _run(fixed, args, steps):
    resources.check_emulate(fixed, steps, force=args.force)
    return compiler.emulate(fixed, steps, seed=args.seed)


def cmd_place(args):
    """Place a problem's compiled network on cores and chips; print the placement."""
    output_path(args.plot, args.problem, flag="--plot")
    steps = _steps(args)
    _, fixed = _compiled(args, run=steps is not None)
    rates = _run(fixed, args, steps) if steps is not None else None
    placement = place(fixed, hw=args.hw, rates=rates, max_chips=args.max_chips)
    if args.json:
        print_json(dict(placement.report()))
    else:
        print(placement.report().table())
    if args.plot:
        print(f"wrote the core map to {placement.plot(args.plot)}")


def cmd_cost(args):
    """Estimate operations and energy of one decode (emulated run of --duration)."""
    steps = _steps(args)
    _, fixed = _compiled(args, run=True)
    est = estimate_cost(fixed, _run(fixed, args, steps), hw=args.hw)
    if args.json:
        print_json(est)
        return
    print(f"ESTIMATE for {est['hw']} ({est['steps']} steps = {est['model_time_s']:g} s model time):")
    for key in ("spikes", "synaptic_ops", "neuron_updates", "packets_between_cores",
                "packets_between_chips"):
        print(f"  {key:<22} {est[key]:.4g}")
    print(f"  {'energy (J)':<22} {est['energy_j']:.3g}  (synaptic {est['energy_synaptic_j']:.3g}, "
          f"neuron {est['energy_neuron_j']:.3g})")
    print(f"  model: {est['model']}")
    print(f"  figures: {est['figures']}; unverified: {', '.join(est['unverified']) or 'none'}")


def cmd_export(args):
    """Write a problem's network (float, or compiled with --compiled) as a NIR file."""
    output_path(args.nir, args.problem, flag="--nir")
    problem = load_problem(args.problem, args.force)
    if args.compiled:
        network = _compiled(args, problem)[1]
    else:
        resources.check_problem(problem.n_inputs, problem.n_causes, force=args.force,
                                features=problem.features)
        network = build_network(problem, tau_syn=args.tau_syn)
    print(f"wrote {to_nir(network, args.nir)} (read it with nir.read)")


def register(sub):
    def common(p, duration=0.5, zero_ok=False):
        p.add_argument("problem")
        add_hw_argument(p)
        p.add_argument("--dt", type=positive_float("--dt"), default=CHIP_DT, help="seconds per chip step")
        p.add_argument("--tau-syn", type=non_negative_float("--tau-syn"), default=5e-3,
                       help="synaptic time constant (s), 0 = delta")
        p.add_argument("--seed", type=seed, default=0)
        add_force_argument(p)
        if duration is not None:
            kind = non_negative_float if zero_ok else positive_float
            p.add_argument("--duration", type=kind("--duration"), default=duration,
                           help="seconds of emulated run giving the firing rates (default %(default)s"
                                + (", 0: no run" if zero_ok else "") + ")")
            p.add_argument("--json", action="store_true")

    p = sub.add_parser("place", help="place a problem's compiled network on cores and chips")
    common(p, duration=0.0, zero_ok=True)
    p.add_argument("--max-chips", type=positive_int("--max-chips"), default=None)
    p.add_argument("--plot", help="draw the core map to this image file")
    p.set_defaults(func=cmd_place)

    p = sub.add_parser("cost", help="estimate operations and energy per decode (an estimate)")
    common(p)
    p.set_defaults(func=cmd_cost)

    p = sub.add_parser("export", help="write the network as a NIR graph")
    common(p, duration=None)
    p.add_argument("--nir", required=True, help="output .nir file")
    p.add_argument("--compiled", action="store_true",
                   help="export the compiled network's effective float network instead")
    p.set_defaults(func=cmd_export)
