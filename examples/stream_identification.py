"""Which stored causes are present? A stream of noisy odour-like mixtures decoded by one
compiled network, accuracy against decision time.

Setup: N stored causes (``tasks.positive_features``: non-negative features over M
inputs), K observations each a mixture of 1-5 causes at 10-60 Hz plus Gaussian
observation noise (``benchmarks/decode.py``'s ``observation_stream``). One decoder is
compiled for Loihi 2 from the features alone; each observation is decoded on the
bit-exact emulator for a decision time of T steps (0.1 ms each), and a cause is called
present when its rate exceeds ``--threshold`` Hz. Accuracy: F1 of the called set
against the causes truly present (mean over observations, 95 % bootstrap interval).

Baselines on the CPU: **nearest template** (the one cause whose feature is most similar
to the observation, cosine), and **NNLS** (the exact MAP, same threshold): the network
converges to the latter as T grows.

Usage::

    python examples/stream_identification.py --out out/            # N = 100, K = 200
    python examples/stream_identification.py --quick --json        # small, prints JSON
"""
from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import scipy.optimize

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from decode import observation_stream  # noqa: E402

from compiler import QuantizationWarning  # noqa: E402
from compiler.system.files import atomic_output, to_jsonable  # noqa: E402
from lava_causal import statistics, tasks  # noqa: E402
from lava_causal.decoder import compile_decoder  # noqa: E402
from lava_causal.provenance import versions  # noqa: E402

DECISION_STEPS = (250, 500, 1000, 2000, 4000, 8000, 16000)


def f1_scores(called, present) -> np.ndarray:
    """Per-row F1 of boolean masks (1 when both are empty)."""
    tp = np.sum(called & present, axis=1)
    n_called, n_true = called.sum(axis=1), present.sum(axis=1)
    precision = np.where(n_called > 0, tp / np.maximum(n_called, 1), 1.0)
    recall = np.where(n_true > 0, tp / np.maximum(n_true, 1), 1.0)
    total = precision + recall
    return np.where(total > 0, 2 * precision * recall / np.where(total > 0, total, 1), 0.0)


def summary(scores) -> dict:
    lo, hi = statistics.mean_ci(scores)
    return {"f1": float(np.mean(scores)), "ci": [lo, hi]}


def run(n, m, k, steps_list, threshold, seed):
    features = tasks.positive_features(seed=0, m=m, n=n)
    obs, causes = observation_stream(features, k, seed=seed)
    present = causes > 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", QuantizationWarning)
        decoder = compile_decoder(features, hw="loihi2", dt=1e-4)
    spiking = []
    for steps in steps_list:
        result = decoder.decode(obs, steps=steps, seed=seed)
        spiking.append({"steps": steps, "decision_ms": 1e3 * steps * decoder.dt,
                        **summary(f1_scores(result.rates > threshold, present))})
    unit = features / np.linalg.norm(features, axis=0)
    nearest = np.zeros_like(present)
    nearest[np.arange(k), np.argmax(obs @ unit, axis=1)] = True
    nnls = np.stack([scipy.optimize.nnls(features, mu)[0] for mu in obs])
    return {"n": n, "m": m, "observations": k, "threshold_hz": threshold, "seed": seed,
            "hw": decoder.hw, "dt": decoder.dt, "backend": "emulator", "spiking": spiking,
            "nearest_template": summary(f1_scores(nearest, present)),
            "nnls": summary(f1_scores(nnls > threshold, present)),
            "causes_present_mean": float(present.sum(axis=1).mean()), "versions": versions()}


def plot(report, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.4))
    xs = [row["decision_ms"] for row in report["spiking"]]
    ys = [row["f1"] for row in report["spiking"]]
    err = np.array([[row["f1"] - row["ci"][0], row["ci"][1] - row["f1"]] for row in report["spiking"]]).T
    ax.errorbar(xs, ys, yerr=err, marker="o", label="spiking decoder (Loihi 2 emulator)")
    for key, style in (("nnls", "--"), ("nearest_template", ":")):
        ax.axhline(report[key]["f1"], linestyle=style, color="k",
                   label={"nnls": "NNLS (exact MAP), CPU", "nearest_template": "nearest template"}[key])
    ax.set_xscale("log")
    ax.set_xlabel("decision time (ms of chip time)")
    ax.set_ylabel("F1 of the causes called present")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title(f"N = {report['n']} stored causes, {report['observations']} noisy mixtures", fontsize=9)
    fig.tight_layout()
    with atomic_output(path) as fh:
        fig.savefig(fh, format="png", dpi=130)
    plt.close(fig)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N = 50, K = 40, fewer decision times")
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object")
    parser.add_argument("--out", type=Path, default=None, help="folder for the figure and report")
    parser.add_argument("--threshold", type=float, default=5.0, help="Hz above which a cause is present")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if args.quick:
        report = run(50, 50, 40, DECISION_STEPS[:5], args.threshold, args.seed)
    else:
        report = run(100, 100, 200, DECISION_STEPS, args.threshold, args.seed)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        plot(report, args.out / "stream_identification.png")
        with atomic_output(args.out / "stream_identification.json", "w") as fh:
            json.dump(to_jsonable(report), fh, indent=1)
    if args.json:
        print(json.dumps(to_jsonable(report)))
    else:
        print(f"N = {report['n']}, {report['observations']} observations, "
              f"{report['causes_present_mean']:.1f} causes present on average")
        for row in report["spiking"]:
            print(f"  {row['decision_ms']:>7.1f} ms: F1 {row['f1']:.3f} [{row['ci'][0]:.3f}, {row['ci'][1]:.3f}]")
        for key in ("nnls", "nearest_template"):
            print(f"  {key}: F1 {report[key]['f1']:.3f} [{report[key]['ci'][0]:.3f}, {report[key]['ci'][1]:.3f}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
