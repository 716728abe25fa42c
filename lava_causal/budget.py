r"""The error budget: where MAP accuracy goes between the ideal network and the chip.

:func:`error_budget` runs the same trials (the same initial states, drawn once from the
seed) through a sequence of models, each adding one source of error to the previous:

1. ``window``: the ideal float network (:func:`lava_causal.simulate`, dt = 0.01 ms)
   observed for a finite time T;
2. ``time step``: the float network at the chip's step, with Dense's one-step latency
   (:mod:`lava_causal.staged`);
3. ``hard reset (uncompensated)``: reset to 0 instead of subtracting the threshold
   (absent on a chip whose neuron subtracts, e.g. ``loihi2_subtractive``);
4. ``reset compensation (<method>)``: plus the compiler's overshoot correction
   (``reset_compensation``; absent when "none");
5. ``weight quantization (<rounding> rounding)``: the weights the chip integers deliver;
6. ``weight compensation (bias)``: plus the compiler's weight-rounding bias correction
   (``weight_compensation``; absent when "none");
7. ``bias quantization (<bias_rounding> rounding)``: the chip's bias integers;
8. ``threshold and decay quantization``: the chip's current decay :math:`\delta_u`
   (the threshold is exact by construction: it defines the scale);
9. ``state saturation and wrap``: 24-bit voltage clipping and current wrap;
10. ``mistuning and noise`` (only when given);

and the ``total``: the bit-exact emulator (:func:`compiler.emulate`) with everything on,
whose increment over row 9 or 10 is what the integer arithmetic itself adds (the
truncating current decay and its compensation). A compensation's increment (rows 4
and 6) is what it buys: negative when it helps.

Every row reports, over the same trials (paired: the same initial states in every
row), the trial mean of each per-trial metric of :mod:`lava_causal.metrics`, above all
``mean_relative_error`` (the mean over trials of :math:`|r_k - r^*|/|r^*|`), with a 95 %
interval (:mod:`lava_causal.statistics`), and its increment over the previous row with
a *paired* 95 % interval of the per-trial differences; an increment is ``significant``
when that interval excludes 0. The dominant source is the largest net increment (an
effect together with the compensation row that follows it, e.g. "hard reset
(uncompensated) + reset compensation (measured)": what it costs as compiled) when it
is significant and significantly larger than every other source's (paired), else
none. The increments add up to the total. The total row also gives the
``relative_error_of_mean`` of the trial-mean rates.

Weight bits: a budget given ``weight_bits`` without ``weight_splits`` holds one split
(:func:`hold_splits`), and every header states bits, splits and effective precision.

Theory beside the measurement, where it exists:

* ``window``: the 1/T law. The same network is also run for T/4 and its error is
  scaled, :math:`\hat\epsilon(T) = \epsilon(T/4)/4`.
* ``weight quantization``, ``weight compensation`` and ``bias quantization``: each
  perturbs only its own parameters, and the prediction follows the *exact* optimum of
  the perturbed rate model (the KKT system / LCP of :mod:`compiler.frontend.operating_point`,
  in folded units :math:`r \ge 0`, :math:`b + W r - r \le 0`, complementary). The
  weight row moves from :math:`(W, b)` to :math:`(W_q, b)`, the compensation row from
  :math:`(W_q, b)` to :math:`(W_q, b + \beta^{w})`, the bias row from there to
  :math:`(W_q, b_q)`; with :math:`\Delta` the change of the optimum, every trial of the
  previous row is moved by it, :math:`\hat r_k = r^{prev}_k + \Delta`, and the
  prediction is the mean relative error of the :math:`\hat r_k` (exactly the previous
  row's error when the parameters do not change).
* ``threshold and decay quantization``: the compiler scales the weights with the
  quantized decay, so the charge per spike and the optimum do not move:
  :math:`\hat\epsilon = \epsilon_{prev}`.

The other rows have no prediction (``None``).
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field, replace
from typing import List, Optional

import numpy as np

import compiler
from compiler.system.files import write_json
from compiler.frontend.fold import fold
from compiler.quantization.stability import check_stable
from compiler.deploy.report import weight_precision

from . import metrics, statistics
from .network import build_network, mistune as mistune_network
from .problem import CausalProblem
from .provenance import versions
from .simulator import simulate
from .staged import ChipEffects, StageIngredients, run_staged

METRICS = metrics.METRICS
"""Per-trial metric names every row reports (means over trials), in order."""
PRIMARY = "relative_error"
"""The per-trial metric whose trial mean, ``mean_relative_error``, ranks the sources."""
FLOAT_DT = 1e-5
"""Step of the ideal float network (row 1)."""
MAX_TRIALS = 512
COMPENSATION_ROWS = {"reset compensation": "hard reset", "weight compensation": "weight quantization"}
"""Compensation row -> the effect row it follows and compensates (their sum is what
the effect costs as compiled, :meth:`ErrorBudget.net_increments`)."""
"""Most trials :func:`error_budget` adds to meet a ``ci_width``."""


@dataclass
class BudgetRow:
    r"""One line of the budget: a source, its metrics over paired trials and its increment.

    Attributes
    ----------
    source : str
    per_trial : dict
        Metric name (:data:`METRICS`) -> ndarray (trials,): each trial's value.
    increments_per_trial : dict
        Metric name -> ndarray (trials,): this row's value minus the previous row's, trial
        by trial (same initial states); the first row: its own values.
    relative_error_of_mean : float
        :math:`|\bar r - r^*|/|r^*|` of the trial-mean rates (:mod:`lava_causal.metrics`).
    prediction : float or None
        Theory's ``mean_relative_error`` for this row (module docstring), None where none.
    optimum_shift : float or None
        :math:`|r^*_{row} - r^*_{prev}|/|r^*|`: how far this row's own change moves the
        exact optimum of the rate model (weight and bias rows).
    prediction_basis : str
    """

    source: str
    per_trial: dict
    increments_per_trial: dict
    relative_error_of_mean: float
    prediction: Optional[float] = None
    optimum_shift: Optional[float] = None
    prediction_basis: str = ""
    _intervals: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def trial_mean(self) -> dict:
        """Mean over trials of each metric."""
        return {k: float(v.mean()) for k, v in self.per_trial.items()}

    @property
    def trial_std(self) -> dict:
        """Standard deviation over trials of each metric."""
        return {k: float(v.std()) for k, v in self.per_trial.items()}

    @property
    def increments(self) -> dict:
        """Mean increment over the previous row of each metric."""
        return {k: float(v.mean()) for k, v in self.increments_per_trial.items()}

    @property
    def mean_relative_error(self) -> float:
        """Mean over trials of :math:`|r_k - r^*|/|r^*|`."""
        return float(self.per_trial[PRIMARY].mean())

    @property
    def increment(self) -> float:
        """Mean paired increment of ``mean_relative_error`` over the previous row."""
        return float(self.increments_per_trial[PRIMARY].mean())

    def ci95(self, metric: str = PRIMARY):
        """95 % interval of this row's trial mean of ``metric`` (bootstrapped once)."""
        return self._interval("mean", metric, self.per_trial)

    def increment_ci95(self, metric: str = PRIMARY):
        """Paired 95 % interval of this row's increment of ``metric`` (bootstrapped once)."""
        return self._interval("increment", metric, self.increments_per_trial)

    def _interval(self, kind, metric, values):
        key = (kind, metric)
        if key not in self._intervals:
            self._intervals[key] = statistics.mean_ci(values[metric])
        return self._intervals[key]

    def significant(self, metric: str = PRIMARY) -> bool:
        """Whether the increment's interval excludes 0."""
        return statistics.excludes_zero(self.increment_ci95(metric))

    def to_dict(self) -> dict:
        return {"source": self.source,
                "mean_relative_error": self.mean_relative_error, "ci95": list(self.ci95()),
                "increment": self.increment, "increment_ci95": list(self.increment_ci95()),
                "significant": self.significant(),
                "relative_error_of_mean": self.relative_error_of_mean,
                "trial_mean": self.trial_mean, "trial_std": self.trial_std,
                "increments": self.increments,
                "per_trial_relative_error": self.per_trial[PRIMARY].tolist(),
                "prediction": {"mean_relative_error": self.prediction, "optimum_shift": self.optimum_shift,
                               "basis": self.prediction_basis}}


@dataclass
class ErrorBudget:
    """Rows in the order of the module docstring, the last being the total."""

    rows: List[BudgetRow]
    settings: dict
    run: dict = field(default_factory=dict, repr=False)
    """What the total row ran (``fixed``, ``x0``, ``counts``), for a Lava confirmation."""

    @property
    def total(self) -> BudgetRow:
        return self.rows[-1]

    def row(self, source_prefix: str) -> BudgetRow:
        """The first row whose source starts with ``source_prefix``."""
        for row in self.rows:
            if row.source.startswith(source_prefix):
                return row
        raise KeyError(f"no row starts with {source_prefix!r}; rows: {[r.source for r in self.rows]}")

    def net_increments(self, metric: str = PRIMARY) -> dict:
        """Per-trial increments of ``metric`` by source, each compensation row
        (:data:`COMPENSATION_ROWS`) added to the effect it compensates: what the source
        costs as compiled. Keys: the row's source, or ``"<effect> + <compensation>"``."""
        _check_metric(metric)
        net = {}
        for row in self.rows:
            kind = row.source.split(" (")[0]
            if kind in COMPENSATION_ROWS and net:
                effect = next(reversed(net))
                if effect.split(" (")[0] == COMPENSATION_ROWS[kind]:
                    net[f"{effect} + {row.source}"] = net.pop(effect) + row.increments_per_trial[metric]
                    continue
            net[row.source] = np.asarray(row.increments_per_trial[metric], float)
        return net

    def ranking(self, metric: str = PRIMARY) -> List[str]:
        """Sources (:meth:`net_increments`) ordered by the damage of their mean net
        increment of ``metric``, largest first (significant or not)."""
        net = self.net_increments(metric)
        return sorted(net, key=lambda source: -_damage(metric, float(net[source].mean())))

    def dominant(self, metric: str = PRIMARY) -> Optional[str]:
        """The source whose net increment of ``metric`` (:meth:`net_increments`: a
        compensated effect counts with its compensation) does the most damage, provided
        that is known: its paired 95 % interval excludes 0 and, trial by trial, it exceeds
        every other source's (the paired interval of the difference excludes 0). None
        otherwise: a ranking by means alone would name noise."""
        net = self.net_increments(metric)
        top = self.ranking(metric)[0]
        values = net[top]
        if not (statistics.excludes_zero(statistics.mean_ci(values)) and _damage(metric, float(values.mean())) > 0):
            return None
        sign = -1.0 if metric == "support_f1" else 1.0
        for source, other in net.items():
            if source != top and not statistics.mean_ci(sign * (values - other))[0] > 0:
                return None
        return top

    def max_increment_ci_width(self, metric: str = PRIMARY) -> float:
        """Widest paired 95 % interval of an increment (what ``ci_width`` bounds)."""
        return max(hi - lo for lo, hi in (r.increment_ci95(metric) for r in self.rows))

    def to_dict(self) -> dict:
        return {"rows": [r.to_dict() for r in self.rows], "dominant": self.dominant(),
                "settings": dict(self.settings)}

    def to_json(self, path) -> None:
        """Write :meth:`to_dict` as JSON, atomically."""
        write_json(path, self.to_dict())

    def header(self) -> str:
        """How the budget was made, in two lines."""
        s = self.settings
        return (f"Error budget: {s['problem']} on {s['hw']}, dt = {s['dt']:g} s, T = {s['duration']:g} s, "
                f"{s['trials']} paired trials, seed {s['seed']}\n"
                f"weights: {describe_precision(s['weight_precision'])}; "
                f"mean_relative_error = mean over trials of |r_k - r*|/|r*|, 95 % BCa bootstrap intervals")

    def table(self) -> str:
        """The budget as a fixed-width text table (relative errors in %)."""
        head = (f"{'source':<48}{'mean rel.err %':>15}{'95 % CI':>18}{'incr. %':>9}{'incr. 95 % CI':>20}"
                f"{'':>2}{'predicted %':>12}{'angle deg':>10}{'% error':>9}{'F1':>6}")
        lines = [self.header(), head, "-" * len(head)]
        for r in self.rows:
            pred = "" if r.prediction is None else f"{100 * r.prediction:.3f}"
            lines.append(f"{r.source[:48]:<48}{100 * r.mean_relative_error:>15.3f}{_interval(r.ci95()):>18}"
                         f"{100 * r.increment:>+9.3f}{_interval(r.increment_ci95(), signed=True):>20}"
                         f"{'*' if r.significant() else '':>2}{pred:>12}"
                         f"{r.trial_mean['angular_error_deg']:>10.3f}{r.trial_mean['percent_error']:>9.3f}"
                         f"{r.trial_mean['support_f1']:>6.2f}")
        dominant = self.dominant()
        lines.append("* increment significant (paired 95 % interval excludes 0)")
        lines.append(f"total: relative_error_of_mean (trial-mean rates) {100 * self.total.relative_error_of_mean:.3f} %")
        lines.append("dominant source: " + (dominant if dominant else
                                            f"none (with {self.settings['trials']} trials no increment is significantly "
                                            "larger than 0 and than every other; see --ci-width)"))
        lines += [f"  {r.source.split(' (')[0]}: {r.prediction_basis}" for r in self.rows if r.prediction_basis]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()

    def plot(self, path, metric: str = PRIMARY) -> str:
        """Waterfall chart of the increments of ``metric`` (bars from the previous
        level to this one, each with its paired 95 % interval; the total as a full bar
        with its interval; dashed: theory); returns the absolute path."""
        import matplotlib.pyplot as plt

        from .plots import save_figure

        _check_metric(metric)
        scale = 100.0 if metric in ("relative_error", "reconstruction_error") else 1.0
        fig, ax = plt.subplots(figsize=(max(7.0, 1.1 * len(self.rows)), 4.2))
        level = 0.0
        for k, r in enumerate(self.rows):
            inc = scale * r.increments[metric]
            if k == len(self.rows) - 1:
                top, (lo, hi), bottom = scale * r.trial_mean[metric], r.ci95(metric), 0.0
                ax.bar(k, top, color="0.3")
            else:
                top, (lo, hi), bottom = level + inc, r.increment_ci95(metric), level
                ax.bar(k, inc, bottom=level, color="tab:red" if _damage(metric, inc) > 0 else "tab:green",
                       alpha=1.0 if r.significant(metric) else 0.45)
            lo, hi = (bottom + scale * lo, bottom + scale * hi) if k < len(self.rows) - 1 else (scale * lo, scale * hi)
            if math.isfinite(lo) and math.isfinite(hi):
                ax.errorbar(k, top, yerr=[[max(top - lo, 0.0)], [max(hi - top, 0.0)]], color="k", capsize=4, lw=1)
            if r.prediction is not None and metric == PRIMARY:
                ax.plot([k - 0.4, k + 0.4], [scale * r.prediction] * 2, "k--", lw=1)
            level += inc
        ax.set_xticks(range(len(self.rows)))
        ax.set_xticklabels([r.source.split(" (")[0] for r in self.rows], rotation=30, ha="right")
        ax.set_ylabel(("mean_relative_error" if metric == PRIMARY else f"mean {metric}")
                      + (" (%)" if scale == 100 else ""))
        s = self.settings
        ax.set_title(f"{s['problem']} on {s['hw']}: dt {s['dt']:g} s, T {s['duration']:g} s, {s['trials']} "
                     f"paired trials\n{describe_precision(s['weight_precision'])}; bars: 95 % CI, "
                     "faded: not significant, dashed: theory", fontsize=9)
        return save_figure(fig, path)


def describe_precision(precision: dict) -> str:
    """The one-line text of a budget's ``settings["weight_precision"]``."""
    return precision["text"]


def _precision_dict(fixed) -> dict:
    wp = weight_precision(fixed)
    return {"weight_bits": wp.weight_bits, "weight_splits": wp.weight_splits,
            "effective_bits": wp.effective_bits, "text": wp.describe()}


def _interval(ci, signed=False) -> str:
    lo, hi = ci
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return "n/a"
    fmt = "+.3f" if signed else ".3f"
    return f"[{100 * lo:{fmt}}, {100 * hi:{fmt}}]"


def _check_metric(metric):
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")


def _damage(metric, increment) -> float:
    """An increment's damage: its value, or minus it for F1 (a drop is the damage)."""
    return -increment if metric == "support_f1" else increment


# ---------------------------------------------------------------- measuring
def _row(source, problem, rates, r_star, previous=None, prediction=None, shift=None, basis=""):
    per_trial = metrics.trial_metrics(problem, rates, r_star)
    increments = dict(per_trial) if previous is None else {
        k: per_trial[k] - previous.per_trial[k] for k in METRICS}
    return BudgetRow(source, per_trial, increments, metrics.relative_error_of_mean(problem, rates, r_star),
                     prediction, shift, basis)


def optimum_change(folded, before, after):
    r"""Exact change of the rate model's optimum between two (weights, bias) pairs in
    folded units: :math:`r^*(W_a, b_a) - r^*(W_b, b_b)` (Hz), each the solution of the
    LCP of :mod:`compiler.frontend.operating_point`; None when either does not converge."""
    rates = []
    for weights, bias in (before, after):
        op = compiler.rate_model(replace(folded, weights=np.asarray(weights, float), bias=np.asarray(bias, float)))
        if not op.converged:
            return None
        rates.append(op.rates)
    return rates[1] - rates[0]


def predicted_row(problem, previous_rates, change, r_star):
    r"""Prediction of a row from the previous row's trials and the exact change of the
    optimum :math:`\Delta` its own parameters cause: every trial moves with the
    optimum, :math:`\hat r_k = r^{prev}_k + \Delta`, and the prediction is the mean
    over trials of the relative error of :math:`\hat r_k` (0 change: the previous
    row's error exactly). Returns (prediction, :math:`|\Delta|/|r^*|`)."""
    shift = float(np.linalg.norm(change) / max(np.linalg.norm(r_star), 1e-300))
    return metrics.mean_relative_error(problem, np.asarray(previous_rates) + change, r_star), shift


def _check_options(duration, dt, trials, noise_std, mistune):
    if not (isinstance(duration, (int, float)) and math.isfinite(duration) and duration > 0):
        raise ValueError(f"duration must be > 0 seconds, got {duration!r}")
    if not (isinstance(dt, (int, float)) and math.isfinite(dt) and dt > 0):
        raise ValueError(f"dt must be > 0 seconds, got {dt!r}")
    if int(round(duration / dt)) < 4:
        raise ValueError(f"duration {duration} s must cover at least 4 steps of dt = {dt} s")
    if not isinstance(trials, (int, np.integer)) or trials < 1:
        raise ValueError(f"trials must be an integer >= 1, got {trials!r}")
    if not (isinstance(noise_std, (int, float)) and math.isfinite(noise_std) and noise_std >= 0):
        raise ValueError(f"noise_std must be a number >= 0, got {noise_std!r}")
    if mistune is not None:
        try:
            low, high = (float(v) for v in mistune)
        except (TypeError, ValueError):
            raise ValueError(f"mistune must be None or a (low, high) pair, got {mistune!r}") from None
        if not (math.isfinite(low) and math.isfinite(high) and low <= high):
            raise ValueError(f"mistune must be a (low, high) pair with low <= high, got {mistune!r}")
        return low, high
    return None


def compile_recording_warnings(network, hw, dt, compile_options):
    """:func:`compiler.compile` with its :class:`compiler.QuantizationWarning` messages
    collected instead of shown: ``(fixed, messages)``."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", compiler.QuantizationWarning)
        fixed = compiler.compile(network, hw=hw, dt=dt, **compile_options)
    return fixed, [str(w.message) for w in caught if issubclass(w.category, compiler.QuantizationWarning)]


def hold_splits(compile_options: dict) -> dict:
    """``compile_options`` with ``weight_splits = 1`` when ``weight_bits`` is given
    without a split count: a number of bits then means the synapse precision it says
    (``"auto"`` would add splits until the precision no longer depends on the bits)."""
    options = dict(compile_options)
    if options.get("weight_bits") is not None and options.get("weight_splits", "auto") == "auto":
        options["weight_splits"] = 1
    return options


def initial_states(seed: int, trials: int, n: int) -> np.ndarray:
    """Folded initial states :math:`x_0 \\sim U[0, 1]^N` of trials 0..K-1: trial k's
    state does not depend on K, so adding trials keeps the first ones."""
    return np.random.default_rng([int(seed), 0x6275646765]).random((trials, n))


def error_budget(problem: CausalProblem, hw="loihi2", dt: float = 1e-4, duration: float = 5.0,
                 trials: int = 8, seed=None, mistune=None, noise_std: float = 0.0,
                 confirm_on_lava: bool = False, tau_syn: float = 5e-3, name: Optional[str] = None,
                 ci_width: Optional[float] = None, max_trials: int = MAX_TRIALS,
                 allow_unstable: bool = False, **compile_options) -> ErrorBudget:
    """Measure the error budget of ``problem``'s tuned network on a chip.

    Parameters
    ----------
    problem : CausalProblem
    hw : str or path
        Hardware config (:func:`compiler.list_hardware`).
    dt : float
        Seconds per chip step.
    duration : float
        Observation window T (s); the chip runs ``round(T/dt)`` steps.
    trials : int
        Trials, differing in initial states only (shared by every row: paired).
    seed : int, optional
        Seed of the initial states, the mistuning and the noise; drawn and recorded
        when None.
    mistune : (low, high), optional
        Add frozen :math:`U[low, high]` perturbations to J (:func:`lava_causal.mistune`).
    noise_std : float
        White-noise standard deviation per square-root second on the voltage (original
        units). Lava's LIF has no noise source: it enters row 8 only, not the total.
    confirm_on_lava : bool
        Also run Lava ``fixed_pt`` (slow: ~1.5 ms per step) and require counts
        identical to the total's.
    tau_syn : float
        Synaptic time constant of the network (0: delta synapses).
    name : str, optional
        Name of the problem in the table and settings.
    ci_width : float, optional
        Wanted precision: add trials (the first ones unchanged) until every paired 95 %
        interval of an increment of ``mean_relative_error`` is at most this wide (a
        fraction: 0.002 = 0.2 points), or ``max_trials`` is reached
        (``settings["ci_width_met"]`` says which).
    max_trials : int
        Most trials ``ci_width`` may use.
    allow_unstable : bool
        Run networks whose rate dynamics are unstable instead of refusing them.
    **compile_options
        Passed to :func:`compiler.compile` (``weight_bits=3``, ``weight_splits=1`` ...).
        ``weight_bits`` without ``weight_splits`` holds one split (:func:`hold_splits`).

    Returns
    -------
    ErrorBudget
    """
    if not isinstance(problem, CausalProblem):
        raise TypeError(f"problem must be a CausalProblem, got {type(problem).__name__}")
    mistune = _check_options(duration, dt, trials, noise_std, mistune)   # (low, high) floats or None
    if ci_width is not None and not (isinstance(ci_width, (int, float)) and math.isfinite(ci_width)
                                     and ci_width > 0):
        raise ValueError(f"ci_width must be a number > 0 (a fraction, 0.002 = 0.2 points), got {ci_width!r}")
    if not isinstance(max_trials, (int, np.integer)) or max_trials < trials:
        raise ValueError(f"max_trials must be an integer >= trials ({trials}), got {max_trials!r}")
    if seed is None:
        seed = int(np.random.SeedSequence().entropy % (2 ** 32))
    kwargs = dict(hw=hw, dt=dt, duration=duration, seed=int(seed), mistune=mistune, noise_std=noise_std,
                  tau_syn=tau_syn, name=name, allow_unstable=allow_unstable,
                  compile_options=hold_splits(compile_options))
    budget = _measure(problem, trials=trials, **kwargs)
    while ci_width is not None and budget.max_increment_ci_width() > ci_width and trials < max_trials:
        widest = max(budget.rows, key=lambda r: np.diff(r.increment_ci95())[0])
        trials = min(max_trials, max(trials + 1, statistics.trials_for_width(
            widest.increments_per_trial[PRIMARY], ci_width)))
        budget = _measure(problem, trials=trials, **kwargs)
    budget.settings["ci_width"] = ci_width
    budget.settings["ci_width_met"] = None if ci_width is None else bool(budget.max_increment_ci_width() <= ci_width)
    if confirm_on_lava:
        _confirm_on_lava(budget)
    return budget


def _confirm_on_lava(budget: ErrorBudget) -> None:
    fixed, x0, chip_counts = budget.run["fixed"], budget.run["x0"], budget.run["counts"]
    on_lava = compiler.run_lava(fixed, budget.settings["steps"], tag="fixed_pt", v0=fixed.voltages_at(x0),
                                trials=x0.shape[0])
    if not np.array_equal(on_lava.counts, chip_counts):
        raise RuntimeError("Lava fixed_pt and the emulator disagree on the total row; please report this")
    budget.settings["confirmed_on_lava"] = True


def _measure(problem, hw, dt, duration, trials, seed, mistune, noise_std, tau_syn, name, allow_unstable,
             compile_options) -> ErrorBudget:
    """One budget with ``trials`` paired trials (:func:`error_budget` without ``ci_width``)."""
    rng = np.random.default_rng([int(seed), 0x6275646766])   # mistuning and noise, not the states
    x0 = initial_states(seed, trials, problem.n_causes)
    mistune_seed, noise_seed = (int(v) for v in rng.integers(0, 2 ** 31, size=2))
    steps = int(round(duration / dt))
    window = steps * dt
    r_star = problem.map_estimate()

    network = build_network(problem, tau_syn=tau_syn)
    check_stable(network, allow_unstable=allow_unstable)
    fixed, compile_warnings = compile_recording_warnings(network, hw, dt, dict(compile_options, allow_unstable=allow_unstable))
    ingredients = StageIngredients.from_compiled(network, fixed)

    # 1. window: the ideal float network
    v0 = network.voltages_at(x0)
    ideal = simulate(network, window, dt=FLOAT_DT, trials=trials, v0=v0, allow_unstable=allow_unstable).rates
    quarter = simulate(network, window / 4, dt=FLOAT_DT, trials=trials, v0=v0, allow_unstable=allow_unstable).rates
    rows = [_row(f"window (ideal float network, T = {window:g} s)", problem, ideal, r_star,
                 prediction=metrics.mean_relative_error(problem, quarter, r_star) / 4,
                 basis="1/T law from a T/4 run")]

    # 2-9. chip semantics, one effect at a time
    stages = chip_stages(fixed, dt, ingredients)
    folded = fold(network)
    w_f, w_q, b_f = ingredients.weights_float, ingredients.weights_chip, ingredients.bias_float
    b_w = b_f + ingredients.weight_correction
    own_change = {"weight quantization": ((w_f, b_f), (w_q, b_f)),
                  "weight compensation": ((w_q, b_f), (w_q, b_w)),
                  "bias quantization": ((w_q, b_w), (w_q, ingredients.bias_chip - ingredients.reset_correction))}
    previous_rates = None
    for source, eff in stages:
        rates = run_staged(ingredients, eff, x0, steps) / window
        prediction, shift, basis = None, None, ""
        kind = source.split(" (")[0]
        if kind in own_change:
            change = optimum_change(folded, *own_change[kind])
            if change is None:
                basis = "none: the rate model of the quantized network did not converge"
            else:
                prediction, shift = predicted_row(problem, previous_rates, change, r_star)
                basis = (f"previous row's trials moved by the exact change of the optimum "
                         f"({100 * shift:.3f} % of |r*|)")
        elif kind == "threshold and decay quantization":
            prediction, basis = rows[-1].mean_relative_error, "charge per spike exact: no shift"
        rows.append(_row(source, problem, rates, r_star, rows[-1], prediction, shift, basis))
        previous_rates = rates

    # 8. mistuning and noise
    total_fixed, total_network = fixed, network
    if mistune is not None or noise_std > 0:
        parts = []
        if mistune is not None:
            total_network = mistune_network(network, *mistune, seed=mistune_seed)
            check_stable(total_network, allow_unstable=allow_unstable)
            total_fixed, more = compile_recording_warnings(total_network, hw, dt, dict(compile_options, allow_unstable=allow_unstable))
            compile_warnings += more
            parts.append(f"mistuning U[{mistune[0]:g}, {mistune[1]:g}]")
        if noise_std > 0:
            parts.append(f"noise {noise_std:g}/sqrt(s)")
        mis_ingredients = StageIngredients.from_compiled(total_network, total_fixed)
        folded_noise = noise_std / total_network.reset
        counts = run_staged(mis_ingredients, ChipEffects.chip(), x0, steps,
                            noise_std=folded_noise, noise_seed=noise_seed)
        rows.append(_row(" and ".join(parts), problem, counts / window, r_star, rows[-1]))

    # total: the bit-exact emulator
    chip = compiler.emulate(total_fixed, steps, trials=trials, v0=total_fixed.voltages_at(x0),
                            allow_unstable=allow_unstable)
    label = "total: bit-exact emulator (+ integer decay truncation)"
    if noise_std > 0:
        label += "; no noise: Lava's LIF has none"
    rows.append(_row(label, problem, chip.rates, r_star, rows[-1]))

    settings = {"problem": name or f"problem (M={problem.n_inputs}, N={problem.n_causes})", "hw": fixed.hw_name,
                "dt": dt, "duration": window, "steps": steps, "trials": trials, "seed": int(seed),
                "tau_syn": tau_syn, "mistune": mistune, "noise_std": noise_std,
                "compile_options": dict(compile_options), "weight_precision": _precision_dict(fixed),
                "weight_splits": len(fixed.weights), "scale": int(fixed.threshold), "float_dt": FLOAT_DT,
                "backend": "emulator", "confidence": {"level": statistics.LEVEL, "method": "BCa bootstrap",
                                                      "resamples": statistics.RESAMPLES},
                "map_certificate": _certificate_dict(problem), "confirmed_on_lava": None,
                "compile_warnings": compile_warnings, "versions": versions()}
    return ErrorBudget(rows, settings, {"fixed": total_fixed, "x0": x0, "counts": chip.counts})


def chip_stages(fixed, dt, ingredients: StageIngredients) -> list:
    """(source, :class:`ChipEffects`) of rows 2-9 for a compile: each row adds one
    effect, and each compensation the compile used gets its own row right after the
    effect it compensates (its increment is what it buys). A chip that resets by
    subtraction has no reset rows."""
    options = fixed.info["options"]
    reset_method = fixed.info["corrections"].get("reset_method", options.get("reset_compensation", "none"))
    weight_comp = options.get("weight_compensation", "none") == "bias"
    on = ChipEffects()
    stages = [(f"time step (dt = {dt:g} s, chip latency)", on)]
    if ingredients.chip_resets_hard:
        on = on.with_(hard_reset=True)
        stages.append(("hard reset (uncompensated)", on))
        if reset_method != "none":
            on = on.with_(reset_compensation=True)
            stages.append((f"reset compensation ({reset_method})", on))
    on = on.with_(weights=True)
    stages.append((f"weight quantization ({options.get('rounding', 'nearest')} rounding)", on))
    if weight_comp:
        on = on.with_(weight_compensation=True)
        stages.append(("weight compensation (bias)", on))
    on = on.with_(bias=True)
    stages.append((f"bias quantization ({options.get('bias_rounding', 'nearest')} rounding)", on))
    on = on.with_(threshold_and_decay=True)
    stages.append(("threshold and decay quantization", on))
    stages.append(("state saturation and wrap", on.with_(saturation=True)))
    return stages


def _certificate_dict(problem) -> dict:
    from dataclasses import asdict

    return {k: (float(v) if isinstance(v, (float, np.floating)) else v)
            for k, v in asdict(problem.map_certificate()).items()}

