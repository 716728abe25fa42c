r"""Error against one setting (:func:`sweep`) and the cheapest settings that meet a
target (:func:`recommend`).

A sweep runs one :func:`lava_causal.error_budget` per value, so every point carries its
full budget; the curve is the total row (the bit-exact emulator), except for
``noise_std``, which the chip's LIF cannot express, where it is the noise row of the
chip model. Values run in parallel through joblib (``n_jobs``; any joblib backend,
e.g. ``with joblib.parallel_backend("dask"): sweep(...)``), the trials of each value
in parallel threads inside the emulator, with a tqdm progress bar.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import List, Optional, Sequence

import numpy as np
from joblib import Parallel, delayed
from tqdm.auto import tqdm

from compiler.files import write_json

from .budget import ErrorBudget, error_budget
from .problem import CausalProblem

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
        One per value.
    metric : str
    """

    param: str
    values: list
    budgets: List[ErrorBudget]
    metric: str = "relative_error"

    def per_trial(self) -> np.ndarray:
        """Relative error of each trial at each value, shape (values, trials)."""
        return np.array([_curve_row(b, self.param).per_trial for b in self.budgets])

    def mean(self) -> np.ndarray:
        """Mean of ``metric`` over trials at each value."""
        return np.array([_curve_row(b, self.param).metrics[self.metric] for b in self.budgets])

    def spread(self) -> np.ndarray:
        """Standard deviation of ``metric`` over trials at each value."""
        return np.array([_curve_row(b, self.param).spread[self.metric] for b in self.budgets])

    def to_dict(self) -> dict:
        return {"param": self.param, "values": list(self.values), "metric": self.metric,
                "mean": self.mean().tolist(), "spread": self.spread().tolist(),
                "budgets": [b.to_dict() for b in self.budgets]}

    def to_json(self, path) -> None:
        """Write :meth:`to_dict` as JSON, atomically."""
        write_json(path, self.to_dict())

    def table(self) -> str:
        s = self.budgets[0].settings
        lines = [f"Sweep of {self.param} ({PARAMS[self.param]}): {s['problem']} on {s['hw']}, "
                 f"{s['trials']} trials, seed {s['seed']}",
                 f"{self.param:>14} {self.metric + ' mean':>22} {'std':>10}  dominant source"]
        for v, m, sd, b in zip(self.values, self.mean(), self.spread(), self.budgets):
            lines.append(f"{v:>14g} {m:>22.5g} {sd:>10.3g}  {b.dominant(self.metric)}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()

    def plot(self, path) -> str:
        """Error against the parameter: trial mean with a +/- one standard deviation
        band and every trial as a dot; returns the absolute path."""
        import matplotlib.pyplot as plt

        from .plots import save_figure

        fig, ax = plt.subplots(figsize=(6.5, 4))
        x = np.asarray(self.values, float)
        mean, spread = self.mean(), self.spread()
        scale = 100.0 if self.metric == "relative_error" else 1.0
        ax.fill_between(x, scale * (mean - spread), scale * (mean + spread), alpha=0.25, label="+/- 1 std")
        ax.plot(x, scale * mean, "o-", label="mean over trials")
        if self.metric == "relative_error":
            trials = self.per_trial()
            ax.plot(np.repeat(x, trials.shape[1]), scale * trials.ravel(), ".", color="0.5", ms=3,
                    label="trials")
        if self.param in ("dt", "duration", "noise_std") and np.all(x > 0):
            ax.set_xscale("log")
        if np.all(mean > 0):
            ax.set_yscale("log")
        ax.set_xlabel(f"{self.param} ({PARAMS[self.param]})")
        ax.set_ylabel(self.metric + (" (%)" if scale == 100 else ""))
        s = self.budgets[0].settings
        ax.set_title(f"{s['problem']} on {s['hw']}")
        ax.legend()
        return save_figure(fig, path)


def sweep(problem: CausalProblem, param: str, values: Sequence, hw="loihi2", dt: float = 1e-4,
          duration: float = 5.0, trials: int = 8, seed: Optional[int] = 0, metric: str = "relative_error",
          n_jobs: int = 1, progress: bool = True, **options) -> SweepResult:
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
        Metric of the curve (a name of :data:`lava_causal.budget.METRICS`).
    n_jobs : int
        joblib workers over values (-1: all cores).
    progress : bool
        Show a tqdm progress bar.
    **options
        More :func:`error_budget` arguments (``weight_splits=1``, ``tau_syn``, ...).
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
    if seed is None:
        seed = int(np.random.SeedSequence().entropy % (2 ** 32))
    base = dict(hw=hw, dt=dt, duration=duration, trials=trials, seed=seed, **options)
    jobs = [_budget_arguments(param, v, base) for v in values]
    bar = tqdm(total=len(jobs), desc=f"sweep {param}", disable=not progress)
    budgets = []
    for budget in Parallel(n_jobs=n_jobs, return_as="generator")(
            delayed(error_budget)(problem, **job) for job in jobs):
        budgets.append(budget)
        bar.update()
    bar.close()
    return SweepResult(param, values, budgets, metric)


# ---------------------------------------------------------------- recommend
DEFAULT_WEIGHT_BITS = (2, 3, 4, 5, 6, 7, 8)
DEFAULT_DTS = (1e-3, 5e-4, 2e-4, 1e-4, 5e-5)
DEFAULT_DURATIONS = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0)


@dataclass
class Recommendation:
    """The cheapest settings found, and the error measured there.

    ``met`` is False when no candidate reached the target; the settings are then those
    with the smallest error. ``tried`` lists every (weight_bits, dt, duration, error).
    """

    met: bool
    target_error: float
    weight_bits: int
    dt: float
    duration: float
    error: float
    spread: float
    tried: list
    settings: dict

    def to_dict(self) -> dict:
        return dict(self.__dict__)

    def __str__(self) -> str:
        verdict = "meets" if self.met else "does NOT meet (best found)"
        return (f"weight_bits = {self.weight_bits}, dt = {self.dt:g} s, duration = {self.duration:g} s: "
                f"relative error {100 * self.error:.3f} % +/- {100 * self.spread:.3f} % {verdict} the "
                f"target {100 * self.target_error:g} % ({len(self.tried)} settings measured, "
                f"{self.settings['trials']} trials, seed {self.settings['seed']}, hw {self.settings['hw']})")


def recommend(problem: CausalProblem, target_error: float, hw="loihi2", trials: int = 8, seed: int = 0,
              weight_bits: Sequence[int] = DEFAULT_WEIGHT_BITS, dts: Sequence[float] = DEFAULT_DTS,
              durations: Sequence[float] = DEFAULT_DURATIONS, progress: bool = True,
              **options) -> Recommendation:
    """The cheapest settings whose chip (bit-exact emulator) relative error meets the target.

    Cheapest means, in this order: fewest weight bits, then the largest dt, then the
    shortest duration. Candidates are searched in that order and the first one whose
    trial-mean relative rate error is at most ``target_error`` is returned; for a given
    (bits, dt), durations are tried from short to long and the search moves on at the
    first that meets the target.

    Parameters
    ----------
    problem : CausalProblem
    target_error : float
        Relative rate error |r - r*|/|r*| to reach, > 0.
    hw, trials, seed, **options
        As in :func:`lava_causal.error_budget`. ``weight_splits`` defaults to 1 here, so
        that weight bits are the synapse memory they say (``"auto"`` would spread few
        bits over several Dense processes).
    weight_bits, dts, durations : sequences
        Candidates.
    """
    import compiler

    from .network import build_network

    if not (isinstance(target_error, (int, float)) and math.isfinite(target_error) and target_error > 0):
        raise ValueError(f"target_error must be a number > 0, got {target_error!r}")
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
    rng = np.random.default_rng([int(seed), 0x7265636f])
    x0 = rng.random((trials, problem.n_causes))
    tried, best = [], None
    total = len(bits_list) * len(dts) * len(durations)
    bar = tqdm(total=total, desc="recommend", disable=not progress)
    for bits in bits_list:
        for dt in sorted(dts, reverse=True):
            fixed = _quiet_compile(network, hw, dt, bits, options)
            for duration in sorted(durations):
                steps = max(1, int(round(duration / dt)))
                chip = compiler.emulate(fixed, steps, trials=trials,
                                        v0=fixed.voltages_at(x0))
                errors = np.linalg.norm(chip.rates - r_star, axis=1) / np.linalg.norm(r_star)
                entry = (bits, dt, duration, float(errors.mean()), float(errors.std()))
                tried.append(entry)
                bar.update()
                if best is None or entry[3] < best[3]:
                    best = entry
                if entry[3] <= target_error:
                    bar.close()
                    return _recommendation(True, target_error, entry, tried, hw, trials, seed, options)
    bar.close()
    return _recommendation(False, target_error, best, tried, hw, trials, seed, options)


def _quiet_compile(network, hw, dt, bits, options):
    import warnings

    import compiler

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", compiler.QuantizationWarning)
        return compiler.compile(network, hw=hw, dt=dt, weight_bits=bits, **options)


def _recommendation(met, target, entry, tried, hw, trials, seed, options):
    from .provenance import versions

    bits, dt, duration, error, spread = entry
    return Recommendation(met, float(target), int(bits), float(dt), float(duration), error, spread,
                          [list(t) for t in tried],
                          {"hw": str(hw), "trials": trials, "seed": seed, "compile_options": dict(options),
                           "backend": "emulator", "versions": versions()})
