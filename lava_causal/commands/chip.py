"""``compile`` (quantize a problem's network for a chip) and ``info`` (targets, support)."""
from __future__ import annotations

import argparse

import compiler
from compiler.hardware.encoding import ROUNDING_MODES
from compiler.quantization.quantize import (BIAS_BITS_RANGE, BIAS_ROUNDINGS, MAX_SPLITS, RESET_COMPENSATIONS,
                                            WEIGHT_COMPENSATIONS)

from compiler.system import resources
from ..network import build_network
from ..solve import CHIP_DT
from compiler.system.files import npz_members
from ._common import (CliError, add_force_argument, add_hw_argument, int_range, load_problem,
                      non_negative_float, output_path, positive_float, positive_int, print_json,
                      seed)

ORDER = 10


def cmd_compile(args):
    """Compile the tuned network of a problem, or a NIR graph's network (``--nir``,
    :func:`compiler.from_nir`), and print the quantization report."""
    if (args.problem is None) == (args.nir is None):
        raise CliError("compile: give a problem file or --nir GRAPH, not both" if args.problem
                       else "compile: give a problem file or --nir GRAPH")
    splits = args.weight_splits if args.weight_splits is not None else "auto"
    if args.nir is not None:
        if args.tau_syn is not None:
            raise CliError("compile: --tau-syn applies to a problem's network; a NIR graph carries "
                           "its own synapses")
        output_path(args.output, args.nir)
        network = compiler.from_nir(args.nir)
    else:
        output_path(args.output, args.problem)
        if is_decoder_input(args.problem):
            return compile_decoder_file(args, splits)
        problem = load_problem(args.problem, args.force)
        resources.check_problem(problem.n_inputs, problem.n_causes, chip=True,
                                splits=splits, emulate=False, force=args.force,
                                features=problem.features)
        network = build_network(problem, tau_syn=5e-3 if args.tau_syn is None else args.tau_syn)
    fixed = compiler.compile(network, hw=args.hw, dt=args.dt, **compile_options(args, splits))
    report = compiler.quantization_report(fixed)
    if args.json:
        print_json(report)
    else:
        print(report.table())
    if args.output:
        fixed.save(args.output)
        if not args.json:
            print(f"wrote the compiled network to {args.output} (read it with compiler.load)")


def compile_options(args, splits) -> dict:
    """The :func:`compiler.compile` options of ``compile``'s flags."""
    return dict(strict=args.strict, weight_bits=args.weight_bits, bias_bits=args.bias_bits,
                rounding=args.rounding, weight_splits=splits, seed=args.seed,
                reset_compensation=args.reset_compensation, weight_compensation=args.weight_compensation,
                bias_rounding=args.bias_rounding, coupling_shift=args.coupling_shift,
                allow_unstable=args.allow_unstable)


def coupling_shift(text: str):
    """``--coupling-shift``: "auto" or a number in [0, 1)."""
    if text == "auto":
        return text
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"--coupling-shift must be 'auto' or a number in [0, 1), got {text!r}")
    return value


def is_decoder_input(path) -> bool:
    """Whether a problem file holds features alone or a K x M stream of observations:
    ``compile`` then makes a decoder (compiled once, decoding many observations)."""
    try:
        members = npz_members(path, "problem")
    except ValueError as exc:
        raise CliError(str(exc)) from None
    shape = members.get("observation", (None,))[0]
    return shape is None or len(shape) == 2


def compile_decoder_file(args, splits):
    """``compile FEATURES.npz``: a :class:`lava_causal.decoder.Decoder` from the features
    (and the prior) of a file without a single observation; a K x M ``observation`` is
    the design set. Prints the quantization report; ``-o`` writes the decoder."""
    from ..decoder import compile_decoder
    from ..problem import read_problem_file

    try:
        contents = read_problem_file(args.problem)
        features = contents["features"]
        m, n = features.shape
        resources.check_problem(m, n, chip=True, splits=splits, emulate=False, force=args.force,
                                features=features)
        decoder = compile_decoder(
            features, hw=args.hw, dt=args.dt, alpha=contents.get("alpha", 0.0),
            beta=contents.get("beta", 0.0), sigma=contents.get("sigma", 1.0),
            tau_syn=5e-3 if args.tau_syn is None else args.tau_syn,
            design_observations=contents.get("observation"), **compile_options(args, splits))
    except ValueError as exc:
        raise CliError(f"compile: {exc}") from None
    report = compiler.quantization_report(decoder.fixed)
    if args.json:
        print_json({"decoder": {"n_causes": n, "n_inputs": m, "design": (
            "mean of the file's observations" if "observation" in contents else
            "every cause at the design rate")}, **report})
    else:
        print(report.table())
    if args.output:
        decoder.save(args.output)
        if not args.json:
            print(f"wrote the decoder to {args.output} (decode observations with `lava-causal decode "
                  f"{args.output} OBSERVATIONS.npz`)")


def hardware_summary() -> list:
    """One dict per config in ``compiler/hardware/configs/``: name, description, key widths, whether
    Lava's CPU models can run it, and which of its figures are unverified."""
    rows = []
    for name in compiler.list_hardware():
        hw = compiler.load_hardware(name)
        rows.append({"name": name, "description": hw.description,
                     "weight_bits": hw.weight_mantissa_bits, "bias_bits": hw.bias_mantissa_bits,
                     "voltage_bits": hw.voltage_bits, "lava_runnable": hw.lava_runnable,
                     "emulator_only_reason": hw.emulator_only_reason,
                     "unverified": list(hw.unverified)})
    return rows


def loihi_status() -> str:
    """Whether Intel's lava-loihi is installed, in words."""
    try:
        return ("installed: --backend loihi2 runs on hardware" if compiler.backends.lava.loihi_available()
                else "not installed: Loihi hardware needs Intel's lava-loihi (CPU simulation works)")
    except compiler.BackendUnavailable:
        return ("not installed: Loihi hardware needs Intel's lava-loihi on top of lava-nc, "
                "which is not installed here (see backends)")


def cmd_info(args):
    """List the hardware configs, the backends that run here (and why not the others) and
    whether Loihi support is installed."""
    from compiler.backends.lava import lava_status, loihi_available

    from ..provenance import versions
    from ..solve import BACKENDS

    lava_ok, lava_line = lava_status()
    try:
        loihi_ok = lava_ok and loihi_available()
    except compiler.BackendUnavailable as exc:  # lava imports, its runtime does not
        lava_ok, lava_line, loihi_ok = False, str(exc), False
    status = {"float": (True, "always: the float simulator (numba)"),
              "emulator": (True, "always: the bit-exact fixed-point emulator (numba)"),
              "lava": (lava_ok, lava_line), "lava-float": (lava_ok, lava_line),
              "loihi2": (loihi_ok, loihi_status() if lava_ok else lava_line)}
    info = {"hardware": hardware_summary(), "loihi": loihi_status(),
            "backends": {name: {"available": status[name][0], "detail": status[name][1]}
                         for name in BACKENDS},
            "config_dir": str(compiler.hardware.config.HW_DIR), "versions": versions()}
    if args.json:
        print_json(info)
        return
    print(f"hardware configs in {info['config_dir']}:")
    for row in info["hardware"]:
        where = "Lava CPU + chip" if row["lava_runnable"] else f"emulator only ({row['emulator_only_reason']})"
        print(f"  {row['name']:<8} {row['weight_bits']:>2}-bit weights, {row['bias_bits']:>2}-bit bias, "
              f"{row['voltage_bits']}-bit voltage; {where}; {len(row['unverified'])} unverified figures"
              f"\n           {row['description']}")
    print("backends (--backend):")
    for name, backend in info["backends"].items():
        print(f"  {name:<10} {'yes' if backend['available'] else 'no ':<3}  {backend['detail']}")
    print(f"Loihi support: {info['loihi']}")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in info["versions"].items()))


def register(sub):
    p = sub.add_parser("compile", help="quantize a problem's (or a NIR graph's) network for a chip; "
                                       "print the report. A file of features alone (or with a "
                                       "K x M observation) makes a decoder for `decode`")
    p.add_argument("problem", nargs="?", help="problem file (.npz); features alone: a decoder; "
                                              "or give --nir")
    p.add_argument("--nir", metavar="GRAPH", help="compile the network of a NIR graph (.nir) instead")
    add_hw_argument(p)
    p.add_argument("--dt", type=positive_float("--dt"), default=CHIP_DT, help="seconds per chip step")
    p.add_argument("--tau-syn", type=non_negative_float("--tau-syn"), default=None,
                   help="synaptic time constant (s) of a problem's network, 0 = delta (default 5e-3)")
    p.add_argument("--weight-bits", type=positive_int("--weight-bits"), default=None)
    p.add_argument("--bias-bits", type=int_range("--bias-bits", *BIAS_BITS_RANGE), default=None)
    p.add_argument("--weight-splits", type=positive_int("--weight-splits", MAX_SPLITS), default=None,
                   help=f"Dense processes per connection, 1..{MAX_SPLITS} (default: auto)")
    p.add_argument("--rounding", choices=list(ROUNDING_MODES), default="nearest",
                   help="weight rounding (diffusion: errors cancel along each row; dense networks)")
    p.add_argument("--reset-compensation", choices=list(RESET_COMPENSATIONS), default="measured",
                   help="bias correction of the hard reset's lost overshoot (default measured)")
    p.add_argument("--weight-compensation", choices=list(WEIGHT_COMPENSATIONS), default="bias",
                   help="compensate the weight rounding in the bias (default bias)")
    p.add_argument("--bias-rounding", choices=list(BIAS_ROUNDINGS), default="auto",
                   help="bias rounding (optimum: keeps the chip's optimum at the operating point)")
    p.add_argument("--coupling-shift", type=coupling_shift, default="auto",
                   help="'auto' or epsilon in [0, 1): weights W'/(1+eps), optimum restored by the bias")
    p.add_argument("--seed", type=seed, default=None)
    p.add_argument("--strict", action="store_true", help="fail instead of clipping")
    p.add_argument("--allow-unstable", action="store_true",
                   help="compile a network whose rates can run away (see the stability check)")
    p.add_argument("-o", "--output", help="write the compiled network (.npz)")
    add_force_argument(p)
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_compile)

    p = sub.add_parser("info", help="list hardware configs, the backends that run here, "
                                      "and whether Loihi support is installed")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_info)
