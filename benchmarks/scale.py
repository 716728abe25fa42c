"""Scale: a causal problem with many causes and sparse features, through every stage.

Each cause touches ``--touch`` of the ``M`` inputs (sparse non-negative features), so
J = -U^T U / sigma^2 - beta I is sparse. Prints the wall time of each stage: building
the problem and network, compiling to Loihi 2 fixed point, placing on cores and chips,
emulating ``--steps`` chip steps, the exact MAP (NNLS, optional) and the cost estimate.

Usage: python benchmarks/scale.py [--n 10000] [--m 10000] [--touch 3] [--steps 1000]
"""
from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

import compiler
from compiler.deploy.cost import estimate_cost
from compiler.deploy.placement import place
from lava_causal import CausalProblem, build_network


def sparse_problem(n, m, touch, seed=0, beta=0.1):
    """Features with ``touch`` non-zero inputs per cause (unit columns); observation from
    ~1 % active causes."""
    rng = np.random.default_rng(seed)
    u = np.zeros((m, n))
    for i in range(n):
        rows = rng.choice(m, touch, replace=False)
        u[rows, i] = rng.uniform(0.5, 1.0, touch)
    u /= np.linalg.norm(u, axis=0)
    active = rng.choice(n, max(1, n // 100), replace=False)
    y = u[:, active] @ rng.uniform(20, 50, active.size)
    return CausalProblem(features=u, observation=y, alpha=0.0, beta=beta)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--m", type=int, default=None, help="inputs (default n)")
    ap.add_argument("--touch", type=int, default=3)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--hw", default="loihi2")
    ap.add_argument("--map", action="store_true", help="also time the exact MAP (NNLS)")
    ap.add_argument("--operating-rates", choices=["auto", "none"], default="none",
                    help="compile's operating_rates: 'auto' solves a dense NNLS rate model "
                         "(O(N^3), hours at N = 10,000); 'none' disables the dynamic corrections")
    args = ap.parse_args(argv)
    times = {}

    def stage(name, fn):
        t0 = time.perf_counter()
        out = fn()
        times[name] = time.perf_counter() - t0
        print(f"{name:<10} {times[name]:8.2f} s", flush=True)
        return out

    problem = stage("problem", lambda: sparse_problem(args.n, args.m or args.n, args.touch))
    network = stage("network", lambda: build_network(problem))
    print(f"N = {network.n}, non-zero weights {np.count_nonzero(network.weights)} "
          f"({np.count_nonzero(network.weights) / network.n ** 2:.2e} of N^2)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fixed = stage("compile", lambda: compiler.compile(
            network, hw=args.hw, operating_rates=None if args.operating_rates == "none" else "auto"))
    placement = stage("place", lambda: place(fixed, hw=args.hw))
    result = stage("emulate", lambda: compiler.emulate(fixed, args.steps, seed=0))
    stage("cost", lambda: estimate_cost(fixed, result, hw=args.hw, placement=placement))
    if args.map:
        stage("map (NNLS)", problem.map_estimate)
    rep = placement.report()
    print(f"placement: {rep['cores']} cores, {rep['chips']} chip(s), synapse memory "
          f"{rep['synapse_memory_kib']:.0f} KiB, binding {rep['binding']}; "
          f"spikes in {args.steps} steps: {int(result.counts.sum())}")
    return times


if __name__ == "__main__":
    main()
