"""``decode``: a compiled decoder (``compile FEATURES.npz -o decoder.npz``) on a stream of
observations."""
from __future__ import annotations

import json

import numpy as np

from compiler.system.files import atomic_output, read_npz, to_jsonable

from ._common import CliError, output_path, positive_float, positive_int, print_json, seed

ORDER = 15


def read_observations(path, m: int) -> np.ndarray:
    """The (K, M) observations of a file: its ``observation`` (M,) or (K, M) array (a
    problem file's member name) or ``observations``."""
    from ..decoder import observation_matrix

    contents = read_npz(path, "observations", optional=("observation", "observations", "features",
                                                            "alpha", "beta", "sigma"))
    found = [k for k in ("observation", "observations") if k in contents]
    if len(found) != 1:
        raise ValueError(f"observations file {str(path)!r} must hold one array named 'observation' "
                         f"or 'observations' (K x M), found {sorted(contents)}")
    return observation_matrix(contents[found[0]], m)


def cmd_decode(args):
    """Decode every observation of a file with one compiled decoder."""
    from ..decoder import load_decoder

    output_path(args.output, args.decoder, args.observations)
    try:
        decoder = load_decoder(args.decoder)
        observations = read_observations(args.observations, decoder.m)
    except ValueError as exc:
        raise CliError(f"decode: {exc}") from None
    try:
        result = decoder.decode(observations, steps=args.steps, target_error=args.target_error,
                                backend=args.backend, seed=args.seed, metrics=args.metrics)
    except ValueError as exc:
        raise CliError(f"decode: {exc}") from None
    out = result.to_dict()
    if args.output:
        arrays = {k: v for k, v in out.items() if isinstance(v, np.ndarray)}
        scalars = {k: v for k, v in out.items() if not isinstance(v, np.ndarray)}
        with atomic_output(args.output) as fh:
            np.savez(fh, **arrays, provenance=np.array(json.dumps(to_jsonable(scalars))))
    if args.json:
        print_json(out)
        return
    k = result.rates.shape[0]
    print(f"decoded {k} observation(s) with {args.decoder}: backend {result.backend}, hw {result.hw}, "
          f"dt {result.dt:g} s, seed {result.seed}, {result.wall_time:.3f} s")
    for i in range(min(k, 20)):
        active = np.flatnonzero(result.rates[i] > 0)
        top = active[np.argsort(result.rates[i][active])[::-1][:6]]
        line = f"  {i:>4}: {int(result.steps[i])} steps, active causes " + ", ".join(
            f"{j} ({result.rates[i, j]:.1f} Hz)" for j in top) + (" ..." if active.size > 6 else "")
        if result.relative_error is not None:
            line += f"; error vs MAP {100 * result.relative_error[i]:.2f} %"
        if result.estimated_error is not None:
            line += f"; estimated {100 * result.estimated_error[i]:.2f} %"
        print(line)
    if k > 20:
        print(f"  ... {k - 20} more (use -o or --json)")
    if int(result.bias_clipped.sum()):
        print(f"warning: {int(np.count_nonzero(result.bias_clipped))} observation(s) had biases beyond the "
              "compiled range (clipped): recompile with design observations like these")
    if args.output:
        print(f"wrote {args.output}")


def register(sub):
    p = sub.add_parser("decode", help="decode a stream of observations with a compiled decoder "
                                      "(`compile FEATURES.npz -o decoder.npz`)")
    p.add_argument("decoder", help="decoder file written by `compile FEATURES.npz -o ...`")
    p.add_argument("observations", help=".npz with 'observation' or 'observations' (K x M)")
    p.add_argument("--backend", choices=["emulator", "lava", "loihi2"], default="emulator")
    p.add_argument("--steps", type=positive_int("--steps"), default=None,
                   help="chip steps per decode (default 1000; with --target-error the most steps)")
    p.add_argument("--target-error", type=positive_float("--target-error", 1.0), default=None,
                   help="stop each decode when its estimated relative error is at most this")
    p.add_argument("--seed", type=seed, default=None, help="seed of the initial voltages")
    p.add_argument("--metrics", action="store_true",
                   help="also solve each observation's exact MAP and report the error")
    p.add_argument("-o", "--output", help="write rates, counts, steps and provenance (.npz)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_decode)
