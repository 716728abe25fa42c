"""A factorial quantization study: weight bits x time step x feature overlap, with and
without the compiler's weight compensation, on the controlled "random" problem family.

4 x 3 x 3 x 2 = 72 cells of 16 paired trials x 4 s each on the Loihi 2 emulator; the
store under ``--out`` makes a rerun (or a run after Ctrl-C) compute only the missing
cells. Writes ``results.parquet``/``.csv``, ``summary.json``, a heatmap of the error
over weight bits and overlap, the error against weight bits faceted by overlap, and
prints the effects table (main effects and two-factor interactions ranked).

Usage::

    python examples/factorial_study.py [--out out/factorial_study] [--jobs 2] [--scheduler dask]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lava_causal.study import run

SPEC = {
    "problem": {"family": "random", "seed": 11, "n": 20, "m": 30, "sparsity": 0.3, "noise": 0.5},
    "factors": {"weight_bits": [3, 4, 6, 8], "dt": [1e-4, 5e-4, 1e-3], "overlap": [0.15, 0.4, 0.7],
                "weight_compensation": ["bias", "none"]},
    "run": {"hw": "loihi2", "duration": 4.0, "trials": 16, "seed": 1,
            "metrics": ["relative_error", "percent_error"]},
    "compile": {"weight_splits": 1},
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="out/factorial_study")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--scheduler", default="local")
    parser.add_argument("--figures", default=None, help="folder of the figures (default: --out)")
    args = parser.parse_args(argv)
    result = run(SPEC, args.out, scheduler=args.scheduler, jobs=args.jobs, progress=True)
    s = result.summary
    print(f"{s['cells_total']} cells: {s['cells_computed']} computed, {s['cells_cached']} from the store, "
          f"{s['seconds']:.1f} s ({s['scheduler']}, {s['jobs']} jobs)")
    print(result.effects_table("relative_error"))
    figures = Path(args.figures or args.out)
    print(result.heatmap(figures / "factorial_heatmap.png", "weight_bits", "overlap"))
    print(result.factor_plot(figures / "factorial_weight_bits.png", "weight_bits", facet="overlap",
                             hue="weight_compensation"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
