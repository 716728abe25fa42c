"""``study``: a factorial sensitivity study from a TOML spec, resumable, local or on Dask."""
from __future__ import annotations

from ._common import CliError, positive_int, print_json

ORDER = 25


def cmd_study(args):
    """Run (or resume) the study of a spec and write its table, heatmap and effects."""
    from ..study import SpecError, load_spec, run

    try:
        spec = load_spec(args.spec)
        result = run(spec, args.out, scheduler=args.scheduler, jobs=args.jobs, progress=not args.json)
    except (SpecError, ValueError) as exc:
        raise CliError(f"study: {exc}") from None
    figures = []
    if len(result.factors) >= 2:
        figures.append(result.heatmap(f"{args.out}/heatmap.png", result.factors[0], result.factors[1]))
    summary = dict(result.summary)
    summary["figures"] = figures
    summary["effects"] = result.effects() if result.factors else []
    if args.json:
        print_json(summary)
        return
    print(f"{summary['cells_total']} cells: {summary['cells_computed']} computed, {summary['cells_cached']} "
          f"from the store ({summary['cells_corrupt']} corrupt, recomputed) in {summary['seconds']:.1f} s")
    if result.factors:
        print(result.effects_table())
    print(f"wrote {summary['files']['csv']}" + (f" and {summary['files']['parquet']}"
                                                if summary['files'].get('parquet') else "")
          + "".join(f", {f}" for f in figures))


def register(sub):
    p = sub.add_parser("study", help="a factorial study (factors x levels over a problem family) from a TOML "
                                     "spec; resumable; local processes or Dask")
    p.add_argument("spec", help="study spec (.toml)")
    p.add_argument("--out", required=True, help="folder of the cell store and the results")
    p.add_argument("--scheduler", default="local",
                   help="local (joblib), dask (a LocalCluster) or a Dask scheduler address tcp://host:port")
    p.add_argument("--jobs", type=positive_int("--jobs"), default=1, help="worker processes")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=cmd_study)
