r"""One cell of a study: a problem, a compile, a batched run, per-trial metrics.

:func:`run_cell` is a pure function of the cell's settings (everything seeded), so a
cell gives the same numbers on any worker, local or remote. The problem comes from its
family (:func:`lava_causal.study.families.make_problem`); the ground truth is its
certified exact MAP :math:`r^*`. The trials of a cell run in one call (the emulator
or the float simulator advance them in parallel): initial states
:func:`lava_causal.budget.initial_states` of the run seed, the same in every cell of
the same problem size (cells are paired). With ``ci_width`` the cell doubles its
trials (the first ones unchanged) until the 95 % interval of its first metric's mean
is at most that wide, or ``max_trials`` is reached.

Cost of a cell: one compile (:func:`compiler.compile`, O(N^3) for a dense network's
operating point) plus ``trials x round(duration/dt)`` emulator steps, O(N + spikes x N)
each; memory O(N^2 x splits + trials x N).
"""
from __future__ import annotations

import time

import numpy as np

from .. import metrics, statistics
from ..budget import compile_recording_warnings, initial_states
from ..network import build_network
from ..provenance import versions


def cell_problem(cell: dict):
    """The cell's :class:`lava_causal.CausalProblem`: from its family, or its file
    (whose bytes must still have the SHA-256 the spec recorded)."""
    if cell["family"] == "file":
        from ..problem import CausalProblem
        from .store import file_sha256

        path = cell["problem"]["file"]
        if file_sha256(path) != cell["problem"]["sha256"]:
            raise ValueError(f"problem file {path!r} changed since the study spec was read; rerun the study")
        return CausalProblem.load(path)
    from .families import make_problem

    params = dict(cell["problem"])
    return make_problem(cell["family"], seed=int(params.pop("seed")), **params)


def run_cell(cell: dict) -> dict:
    """Run one cell (module docstring); returns its JSON-ready result: ``per_trial``
    (metric -> list), ``summary`` (metric -> mean, ci95, std), ``trials``, ``seconds``,
    ``provenance``."""
    start = time.perf_counter()
    run = cell["run"]
    problem = cell_problem(cell)
    r_star = problem.map_estimate()
    network = build_network(problem, tau_syn=float(run["tau_syn"]))
    steps = int(round(float(run["duration"]) / float(run["dt"])))
    fixed, caught = None, []
    if run["backend"] == "emulator":
        fixed, caught = compile_recording_warnings(network, run["hw"], float(run["dt"]), cell["compile"])
    trials = int(run["trials"])
    per_trial = measure_trials(problem, network, fixed, run, steps, trials, r_star)
    first = run["metrics"][0]
    while run["ci_width"] is not None and trials < int(run["max_trials"]):
        lo, hi = statistics.mean_ci(per_trial[first])
        if hi - lo <= float(run["ci_width"]):
            break
        trials = min(int(run["max_trials"]), 2 * trials)
        per_trial = measure_trials(problem, network, fixed, run, steps, trials, r_star)
    summary = {m: {"mean": float(np.mean(v)), "ci95": [float(x) for x in statistics.mean_ci(v)],
                   "std": float(np.std(v))} for m, v in per_trial.items()}
    provenance = {"backend": run["backend"], "hw": None if fixed is None else fixed.hw_name,
                  "dt": float(run["dt"]), "steps": steps, "seed": int(run["seed"]),
                  "weight_splits": None if fixed is None else len(fixed.weights),
                  "compile_warnings": caught, "versions": versions()}
    return {"per_trial": {m: [float(x) for x in v] for m, v in per_trial.items()}, "summary": summary,
            "trials": trials, "seconds": time.perf_counter() - start, "provenance": provenance}


def measure_trials(problem, network, fixed, run, steps, trials, r_star, allow_unstable: bool = False) -> dict:
    """Per-trial metrics ``run["metrics"]`` of ``trials`` trials of ``steps`` steps from
    the states :func:`lava_causal.budget.initial_states` of ``run["seed"]``: the emulator
    of ``fixed``, or the float ``network`` at ``run["dt"]`` when ``fixed`` is None."""
    import compiler

    from ..simulator import simulate

    x0 = initial_states(int(run["seed"]), trials, problem.n_causes)
    if fixed is None:
        rates = simulate(network, steps * float(run["dt"]), dt=float(run["dt"]), trials=trials,
                         v0=network.voltages_at(x0), allow_unstable=allow_unstable).rates
    else:
        rates = compiler.emulate(fixed, steps, trials=trials, v0=fixed.voltages_at(x0),
                                 allow_unstable=allow_unstable).rates
    values = metrics.trial_metrics(problem, rates, r_star)
    return {m: np.asarray(values[m], float) for m in run["metrics"]}
