"""``reproduce``: the paper's figures and the quantization study."""
from __future__ import annotations

from ..reproduction import EXPERIMENTS, run
from ._common import output_folder, seed

ORDER = 30


def cmd_reproduce(args):
    """Run one experiment or all of them; print where the outputs went."""
    output_folder(args.out)
    names = list(EXPERIMENTS) if args.experiment == "all" else [args.experiment]
    for name in names:
        record = run(name, args.out, quick=args.quick, seed=args.seed, progress=True)
        print(f"{name}: {record['json']} ({len(record['figures'])} figure(s))")


def register(sub):
    p = sub.add_parser("reproduce", help="reproduce the paper's Figs. 2-6 and the quantization study")
    p.add_argument("experiment", choices=list(EXPERIMENTS) + ["all"])
    p.add_argument("--quick", action="store_true", help="small version that finishes in seconds")
    p.add_argument("--out", default="out/reproduction", help="output folder")
    p.add_argument("--seed", type=seed, default=0)
    p.set_defaults(func=cmd_reproduce)
