r"""Error against one setting (:func:`sweep`) and the cheapest settings that meet a
target (:func:`recommend`).

A sweep runs one :func:`lava_causal.error_budget` per value, so every point carries its
full budget; the curve is the total row (the bit-exact emulator), except for
``noise_std``, which the chip's LIF cannot express, where it is the noise row of the
chip model. Values run as independent tasks on the study engine's executor
(:func:`lava_causal.study.engine.execute`: joblib processes, ``n_jobs`` of them, a Dask
LocalCluster or a Dask scheduler address, ``scheduler``), the trials of each value in
parallel threads inside the emulator, with a tqdm progress bar. :func:`recommend`
measures each candidate setting with the study's cell measurement
(:func:`lava_causal.study.cells.measure_trials`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import List, Optional, Sequence

import numpy as np
from tqdm.auto import tqdm

from compiler.system.files import write_json

from .budget import ErrorBudget, describe_precision, error_budget
from .problem import CausalProblem
from .study.cells import measure_trials
from .study.engine import execute

PARAMS = {
    "weight_bits": "significant weight bits (compile option)",
    "bias_bits": "signed bias mantissa bits (compile option)",
    "dt": "seconds per chip step",
    "duration": "observation window T (s)",
    "mistune": "amplitude a of a U[-a, 0] mistuning of J",
    "noise_std": "white-noise standard deviation per square-root second",
}
"""Parameters :func:`sweep` accepts, with what their values mean."""


def _budget_arguments(param: str, value, base: dict) -> dict:
    args = dict(base)
    if param == "mistune":
        args["mistune"] = None if value == 0 else (-float(value), 0.0)
    elif param in ("weight_bits", "bias_bits"):
        if float(value) != int(value):
            raise ValueError(f"{param} values must be integers, got {value!r}")
        args[param] = int(value)
    else:
        args[param] = float(value)
    return args


def _curve_row(budget: ErrorBudget, param: str):
    if param == "noise_std" and budget.settings["noise_std"] > 0:
        return budget.rows[-2]
    return budget.total


@dataclass
class SweepResult:
    """Errors at each value of one parameter.

    Attributes
    ----------
    param : str
    values : list
    budgets : list of ErrorBudget
        One per value (every value sees the same initial states: paired trials).
    metric : str
        A per-trial metric name; the curve is its mean over trials.
    """

    param: str
    values: list
    budgets: List[ErrorBudget]
    metric: str = "relative_error"

    def rows(self):
        """The curve's budget row at each value."""
        return [_curve_row(b, self.param) for b in self.budgets]

    def per_trial(self) -> np.ndarray:
        """``metric`` of each trial at each value, shape (values, trials)."""
        return np.array([row.per_trial[self.metric] for row in self.rows()])

    def mean(self) -> np.ndarray:
        """Mean of ``metric`` over trials at each value."""
        return np.array([row.trial_mean[self.metric] for row in self.rows()])

    def ci95(self) -> np.ndarray:
        """95 % interval of the mean at each value, shape (values, 2)."""
        return np.array([row.ci95(self.metric) for row in self.rows()])

    def spread(self) -> np.ndarray:
        """Standard deviation of ``metric`` over trials at each value."""
        return np.array([row.trial_std[self.metric] for row in self.rows()])

    def _name(self) -> str:
        return "mean_relative_error" if self.metric == "relative_error" else f"mean {self.metric}"

    def to_dict(self) -> dict:
        return {"param": self.param, "values": list(self.values), "metric": self._name(),
                "mean": self.mean().tolist(), "ci95": self.ci95().tolist(), "spread": self.spread().tolist(),
                "weight_precision": [b.settings["weight_precision"] for b in self.budgets],
                "dominant": [b.dominant(self.metric) for b in self.budgets],
                "budgets": [b.to_dict() for b in self.budgets]}

    def to_json(self, path) -> None:
        """Write :meth:`to_dict` as JSON, atomically."""
        write_json(path, self.to_dict())

    def table(self) -> str:
        s = self.budgets[0].settings
        splits = sorted({b.settings["weight_precision"]["weight_splits"] for b in self.budgets})
        lines = [f"Sweep of {self.param} ({PARAMS[self.param]}): {s['problem']} on {s['hw']}, "
                 f"{s['trials']} paired trials, seed {s['seed']}; weight splits "
                 f"{'held at ' if self.param == 'weight_bits' else ''}{', '.join(map(str, splits))}",
                 f"{self.param:>14} {self._name():>22} {'95 % CI':>22} {'std':>10}  {'weights':<32} dominant source"]
        for v, m, ci, sd, b in zip(self.values, self.mean(), self.ci95(), self.spread(), self.budgets):
            lo, hi = ci
            dominant = b.dominant(self.metric) or "none significant"
            lines.append(f"{v:>14g} {m:>22.5g} {f'[{lo:.4g}, {hi:.4g}]':>22} {sd:>10.3g}  "
                         f"{describe_precision(b.settings['weight_precision']):<32} {dominant}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()

    def plot(self, path) -> str:
        """Error against the parameter: trial mean with its 95 % interval as a band and
        every trial as a dot; returns the absolute path."""
        import matplotlib.pyplot as plt

        from .plots import save_figure

        fig, ax = plt.subplots(figsize=(6.5, 4))
        x = np.asarray(self.values, float)
        mean, ci = self.mean(), self.ci95()
        scale = 100.0 if self.metric == "relative_error" else 1.0
        finite = np.all(np.isfinite(ci), axis=1)
        ax.fill_between(x[finite], scale * ci[finite, 0], scale * ci[finite, 1], alpha=0.25, label="95 % CI")
        ax.plot(x, scale * mean, "o-", label="mean over trials")
        trials = self.per_trial()
        ax.plot(np.repeat(x, trials.shape[1]), scale * trials.ravel(), ".", color="0.5", ms=3, label="trials")
        if self.param in ("dt", "duration", "noise_std") and np.all(x > 0):
            ax.set_xscale("log")
        if np.all(mean > 0) and np.all(trials > 0):
            ax.set_yscale("log")
        ax.set_xlabel(f"{self.param} ({PARAMS[self.param]})")
        ax.set_ylabel(self._name() + (" (%)" if scale == 100 else ""))
        s = self.budgets[0].settings
        ax.set_title(f"{s['problem']} on {s['hw']}, {s['trials']} paired trials", fontsize=9)
        ax.legend()
        return save_figure(fig, path)


def sweep(problem: CausalProblem, param: str, values: Sequence, hw="loihi2", dt: float = 1e-4,
          duration: float = 5.0, trials: int = 8, seed: Optional[int] = 0, metric: str = "relative_error",
          n_jobs: int = 1, progress: bool = True, scheduler: str = "local", **options) -> SweepResult:
    """Error budget at each value of one parameter.

    Parameters
    ----------
    problem : CausalProblem
    param : str
        One of :data:`PARAMS`.
    values : sequence of numbers
    hw, dt, duration, trials, seed
        As in :func:`lava_causal.error_budget` (the swept one is overridden); the same
        seed at every value, so every value sees the same initial states.
    metric : str
        Per-trial metric of the curve (a name of :data:`lava_causal.budget.METRICS`).
    n_jobs : int
        Workers over values (-1 with the local scheduler: all cores).
    scheduler : {"local", "dask"} or a Dask scheduler address
        Where the values run (:func:`lava_causal.study.engine.execute`, the study
        engine's executor: joblib processes, a Dask LocalCluster or a cluster).
    progress : bool
        Show a tqdm progress bar.
    **options
        More :func:`error_budget` arguments (``weight_splits``, ``tau_syn``, ...). A
        sweep over ``weight_bits`` holds the number of splits fixed: ``weight_splits``
        if given, else 1 (never ``"auto"``, which would add splits as bits drop).
    """
    from .budget import METRICS

    if param not in PARAMS:
        raise ValueError(f"param must be one of {sorted(PARAMS)}, got {param!r}")
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    values = list(values)
    if not values:
        raise ValueError("values must list at least one value")
    for v in values:
        if not isinstance(v, (int, float, np.integer, np.floating)) or not math.isfinite(v) or v < 0:
            raise ValueError(f"{param} values must be finite numbers >= 0, got {v!r}")
    if param == "weight_bits":
        if options.get("weight_splits", "auto") == "auto":
            options["weight_splits"] = 1
    if scheduler != "local" and (not isinstance(n_jobs, int) or n_jobs < 1):
        raise ValueError(f"n_jobs must be an integer >= 1 with scheduler={scheduler!r}, got {n_jobs!r}")
    if seed is None:
        seed = int(np.random.SeedSequence().entropy % (2 ** 32))
    base = dict(hw=hw, dt=dt, duration=duration, trials=trials, seed=seed, **options)
    jobs = [_budget_arguments(param, v, base) for v in values]
    bar = tqdm(total=len(jobs), desc=f"sweep {param}", disable=not progress)
    budgets = [None] * len(jobs)
    run_budget = error_budget      # looked up now (tests replace it)
    results = execute([(i, (run_budget, problem, job)) for i, job in enumerate(jobs)], _budget, scheduler, n_jobs)
    try:
        for index, budget in results:
            budgets[index] = budget
            bar.update()
    finally:
        results.close()    # stops the workers now when this loop raised
        bar.close()
    return SweepResult(param, values, budgets, metric)


def _budget(run_budget, problem, job):
    return run_budget(problem, **job)


# ---------------------------------------------------------------- recommend
DEFAULT_WEIGHT_BITS = (2, 3, 4, 5, 6, 7, 8)
DEFAULT_DTS = (1e-3, 5e-4, 2e-4, 1e-4, 5e-5)
DEFAULT_DURATIONS = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0)


@dataclass
class Recommendation:
    """The cheapest settings found whose error is *known* to meet the target.

    A setting is accepted only when the upper end of the 95 % interval of its
    ``mean_relative_error`` is at most the target (a mean below the target is not
    enough: the first of many settings whose mean dips below it is biased low).
    ``met`` is False when no candidate's bound reached the target; the settings are then
    those with the smallest upper bound. ``tried`` lists every candidate measured, as
    dicts with ``weight_bits``, ``dt``, ``duration``, ``trials``, ``mean_relative_error``,
    ``ci95`` and ``upper_bound``.
    """

    met: bool
    target_error: float
    weight_bits: int
    weight_splits: int
    dt: float
    duration: float
    trials: int
    mean_relative_error: float
    ci95: list
    upper_bound: float
    tried: list
    settings: dict

    def to_dict(self) -> dict:
        return dict(self.__dict__)

    def __str__(self) -> str:
        verdict = "meets" if self.met else "does NOT meet (best bound found)"
        lo, hi = self.ci95
        return (f"weight_bits = {self.weight_bits} x {self.weight_splits} split(s), dt = {self.dt:g} s, "
                f"duration = {self.duration:g} s: mean_relative_error {100 * self.mean_relative_error:.3f} % "
                f"(95 % CI [{100 * lo:.3f}, {100 * hi:.3f}] %, {self.trials} trials); upper bound "
                f"{100 * self.upper_bound:.3f} % {verdict} the target {100 * self.target_error:g} % "
                f"({len(self.tried)} settings measured, seed {self.settings['seed']}, hw {self.settings['hw']})")


def recommend(problem: CausalProblem, target_error: float, hw="loihi2", trials: int = 8, seed: int = 0,
              weight_bits: Sequence[int] = DEFAULT_WEIGHT_BITS, dts: Sequence[float] = DEFAULT_DTS,
              durations: Sequence[float] = DEFAULT_DURATIONS, ci_width: Optional[float] = None,
              max_trials: int = 256, progress: bool = True, allow_unstable: bool = False,
              **options) -> Recommendation:
    """The cheapest settings whose chip (bit-exact emulator) error provably meets the target.

    Cheapest means, in this order: fewest weight bits, then the largest dt, then the
    shortest duration. Candidates are searched in that order and the first one whose
    95 % upper confidence bound of ``mean_relative_error`` is at most ``target_error``
    is returned; for a given (bits, dt), durations are tried from short to long and the
    search moves on at the first that meets the target.

    Parameters
    ----------
    problem : CausalProblem
    target_error : float
        ``mean_relative_error`` (mean over trials of |r_k - r*|/|r*|) to reach, > 0.
    hw, trials, seed, **options
        As in :func:`lava_causal.error_budget`. ``weight_splits`` defaults to 1 here, so
        that weight bits are the synapse memory they say.
    weight_bits, dts, durations : sequences
        Candidates.
    ci_width : float, optional
        Wanted width of every candidate's interval: trials are added (the first ones
        unchanged) until it is met or ``max_trials`` is reached.
    max_trials : int
    allow_unstable : bool
        Passed to :func:`compiler.compile` and :func:`compiler.emulate`.
    """
    import compiler

    from . import statistics
    from .network import build_network

    if not (isinstance(target_error, (int, float)) and math.isfinite(target_error) and target_error > 0):
        raise ValueError(f"target_error must be a number > 0, got {target_error!r}")
    if ci_width is not None and not (isinstance(ci_width, (int, float)) and math.isfinite(ci_width)
                                     and ci_width > 0):
        raise ValueError(f"ci_width must be a number > 0, got {ci_width!r}")
    if not isinstance(trials, (int, np.integer)) or trials < 1 or max_trials < trials:
        raise ValueError(f"need integers 1 <= trials <= max_trials, got trials={trials!r}, max_trials={max_trials!r}")
    for name, seq in (("weight_bits", weight_bits), ("dts", dts), ("durations", durations)):
        if len(seq) == 0:
            raise ValueError(f"{name} must list at least one candidate")
    hwc = compiler.load_hardware(hw)
    bits_list = sorted({int(b) for b in weight_bits})
    if bits_list[-1] > hwc.weight_mantissa_bits or bits_list[0] < 2:
        raise ValueError(f"weight_bits candidates must lie in 2..{hwc.weight_mantissa_bits} "
                         f"(weights.mantissa_bits of {hwc.name}), got {bits_list}")
    options.setdefault("weight_splits", 1)
    r_star = problem.map_estimate()
    network = build_network(problem, tau_syn=options.pop("tau_syn", 5e-3))

    def measure(fixed, steps, k):
        run = {"seed": seed, "metrics": ["relative_error"], "dt": fixed.dt}
        return measure_trials(problem, network, fixed, run, steps, k, r_star, allow_unstable=allow_unstable)[
            "relative_error"]

    tried, best = [], None
    bar = tqdm(total=len(bits_list) * len(dts) * len(durations), desc="recommend", disable=not progress)
    for bits in bits_list:
        for dt in sorted(dts, reverse=True):
            fixed = _quiet_compile(network, hw, dt, bits, dict(options, allow_unstable=allow_unstable))
            for duration in sorted(durations):
                steps = max(1, int(round(duration / dt)))
                k = trials
                errors = measure(fixed, steps, k)
                lo, hi = statistics.mean_ci(errors)
                while ci_width is not None and k < max_trials and hi - lo > ci_width:
                    k = min(max_trials, max(k + 1, statistics.trials_for_width(errors, ci_width)))
                    errors = measure(fixed, steps, k)
                    lo, hi = statistics.mean_ci(errors)
                entry = {"weight_bits": bits, "dt": dt, "duration": duration, "trials": k,
                         "mean_relative_error": float(errors.mean()), "ci95": [lo, hi], "upper_bound": hi,
                         "weight_splits": len(fixed.weights)}
                tried.append(entry)
                bar.update()
                if best is None or hi < best["upper_bound"]:
                    best = entry
                if hi <= target_error:
                    bar.close()
                    return _recommendation(True, target_error, entry, tried, hw, seed, options)
    bar.close()
    return _recommendation(False, target_error, best, tried, hw, seed, options)


def _quiet_compile(network, hw, dt, bits, options):
    import warnings

    import compiler

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", compiler.QuantizationWarning)
        return compiler.compile(network, hw=hw, dt=dt, weight_bits=bits, **options)


def _recommendation(met, target, entry, tried, hw, seed, options):
    from . import statistics
    from .provenance import versions

    return Recommendation(met, float(target), int(entry["weight_bits"]), int(entry["weight_splits"]),
                          float(entry["dt"]), float(entry["duration"]), int(entry["trials"]),
                          entry["mean_relative_error"], list(entry["ci95"]), float(entry["upper_bound"]), tried,
                          {"hw": str(hw), "seed": seed, "compile_options": dict(options),
                           "acceptance": "95 % upper confidence bound <= target",
                           "confidence": {"level": statistics.LEVEL, "method": "BCa bootstrap"},
                           "backend": "emulator", "versions": versions()})
