"""Fig. 3: an overcomplete basis (M = 10, N = 100, mixed-sign features) with no prior,
an L1 prior, an L2 prior, and a leaky network.

Paper: L1 is the sparsest and its angular error goes to ~0 within a few
hundred ms; L2 is denser and its error does not decay; the leak acts like L1. Table 1
(alpha, beta, tau_m) was lost: we use alpha = 5, beta = 1 and tau_m = 50 ms (leak on
the unregularized problem), chosen so that each prior visibly shapes the response
while mu = 50 u_10 stays reconstructable. Sparsity: the number of causes firing above
1 Hz and the Hoyer measure (1 = one active cause, 0 = all equal).
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from tqdm.auto import tqdm

from .. import metrics, tasks
from ..network import build_network
from .common import Output, cumulative_curve, float_run, mean_metrics

NAME = "fig3_regularization"
WINDOW = 0.02
LEAK_TAU = 0.05
ALPHA, BETA = 5.0, 1.0


def hoyer(rates) -> float:
    r"""Hoyer sparsity :math:`(\sqrt{N} - |r|_1/|r|_2)/(\sqrt{N} - 1)` in [0, 1]."""
    r = np.abs(np.asarray(rates, float))
    n, l2 = r.size, np.linalg.norm(r)
    return 0.0 if l2 == 0 else float((np.sqrt(n) - r.sum() / l2) / (np.sqrt(n) - 1))


def variants(seed):
    """(label, problem, network) of the four conditions."""
    out = []
    for label, reg in (("none", "none"), ("L1", "l1"), ("L2", "l2")):
        p = tasks.overcomplete(seed, regularization=reg, alpha=ALPHA, beta=BETA)
        out.append((label, p, build_network(p, tau_syn=5e-3)))
    p = tasks.overcomplete(seed, regularization="none")
    out.append(("leaky", p, build_network(p, tau_syn=5e-3, leak_tau=LEAK_TAU)))
    return out


def run(out, quick=False, seed=0, progress=True) -> dict:
    trials, duration = (3, 1.0) if quick else (20, 5.0)
    output = Output(out, NAME, quick, seed)
    output.settings.update(trials=trials, duration=duration, alpha=ALPHA, beta=BETA, leak_tau=LEAK_TAU)
    numbers = {}
    fig, (ax_err, ax_rates) = plt.subplots(1, 2, figsize=(12, 4))
    for label, problem, network in tqdm(variants(seed), desc="fig3", disable=not progress):
        result = float_run(network, duration, trials, seed, window=WINDOW)
        rates = result.rates.mean(axis=0)
        times, ang = cumulative_curve(result.counts_per_window, WINDOW,
                                      lambda r, p=problem: metrics.angular_error(p, r))
        r_star = problem.map_estimate()
        numbers[label] = {
            "active_causes_above_1Hz": int(np.sum(rates > 1.0)),
            "hoyer_sparsity": hoyer(rates),
            "map_active_causes": int(np.sum(r_star > 1e-6)),
            "angular_error_deg_at_100ms": float(ang[:, int(round(0.1 / WINDOW)) - 1].mean()),
            "angular_error_deg_at_500ms": float(ang[:, min(ang.shape[1], int(round(0.5 / WINDOW))) - 1].mean()),
            "angular_error_deg_at_T": float(ang[:, -1].mean()),
            "vs_own_map": mean_metrics(problem, result.rates, r_star) if label != "leaky" else None,
        }
        ax_err.plot(times, ang.mean(axis=0), label=label)
        ax_rates.plot(np.sort(rates)[::-1], ".-", label=label)
    ax_err.set_xscale("log")
    ax_err.set_xlabel("T (s)")
    ax_err.set_ylabel("angular error of r(T) (deg)")
    ax_err.legend()
    ax_rates.set_yscale("symlog", linthresh=1.0)
    ax_rates.set_xlabel("cause (sorted by rate)")
    ax_rates.set_ylabel("rate (Hz)")
    ax_rates.set_xlim(0, 30)
    ax_rates.legend()
    output.figure(fig, NAME)
    return output.write(numbers)
