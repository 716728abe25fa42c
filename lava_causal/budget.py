r"""The error budget: where MAP accuracy goes between the ideal network and the chip.

:func:`error_budget` runs the same trials (the same initial states, drawn once from the
seed) through a sequence of models, each adding one source of error to the previous:

1. ``window``: the ideal float network (:func:`lava_causal.simulate`, dt = 0.01 ms)
   observed for a finite time T;
2. ``time step``: the float network at the chip's step, with Dense's one-step latency
   (:mod:`lava_causal.staged`);
3. ``hard reset``: reset to 0 instead of subtracting the threshold (with the compiler's
   overshoot compensation, as compiled);
4. ``weight quantization``: the weights the chip integers deliver;
5. ``bias quantization``: the chip's bias integers;
6. ``threshold and decay quantization``: the chip's current decay :math:`\delta_u`
   (the threshold is exact by construction: it defines the scale);
7. ``state saturation and wrap``: 24-bit voltage clipping and current wrap;
8. ``mistuning and noise`` (only when given);

and the ``total``: the bit-exact emulator (:func:`compiler.emulate`) with everything on,
whose increment over row 7 or 8 is what the integer arithmetic itself adds (the
truncating current decay and its compensation). Every row reports the metrics of
:func:`lava_causal.metrics.all_metrics` (mean and standard deviation over trials) and
its increment over the previous row, so the increments add up to the total.

Theory beside the measurement, where it exists:

* ``window``: the 1/T law. The same network is also run for T/4 and its error is
  scaled, :math:`\hat\epsilon(T) = \epsilon(T/4)/4`.
* ``weight quantization`` and ``bias quantization``: first-order perturbation of the
  KKT system on the active set A of :math:`r^*`. In folded units the rate model is
  :math:`(I - W_{AA}) r_A = b_A`, so a change :math:`\delta W, \delta b` moves the
  optimum by :math:`\delta r_A = (I - W_{AA})^{-1}(\delta W_{AA} r_A + \delta b_A)`.
  The prediction combines that shift with the previous row's error as independent:
  :math:`\hat\epsilon = \sqrt{\epsilon_{prev}^2 + |\delta r|^2/|r^*|^2}`.
* ``threshold and decay quantization``: the compiler scales the weights with the
  quantized decay, so the charge per spike and the optimum do not move:
  :math:`\hat\epsilon = \epsilon_{prev}`.

The other rows have no prediction (``None``).
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import List, Optional

import numpy as np

import compiler
from compiler.files import write_json

from . import metrics
from .network import build_network, mistune as mistune_network
from .problem import CausalProblem
from .provenance import versions
from .simulator import simulate
from .staged import ChipEffects, StageIngredients, run_staged

METRICS = ("relative_error", "angular_error_deg", "percent_error", "objective_gap", "support_f1")
"""Metric names of every row, in order."""
FLOAT_DT = 1e-5
"""Step of the ideal float network (row 1)."""
MAX_CONDITION = 1e4
"""Largest condition number of the active set's system for a first-order prediction."""


@dataclass
class BudgetRow:
    """One line of the budget: a source, its metrics and its increment.

    Attributes
    ----------
    source : str
    metrics : dict
        Mean over trials of each name in :data:`METRICS`.
    spread : dict
        Standard deviation over trials of each metric.
    increment : dict
        This row's mean minus the previous row's (the first row: its own mean).
    prediction : float or None
        Theory's relative error for this row (module docstring), None where there is none.
    prediction_basis : str
    per_trial : ndarray (trials,)
        Relative error of each trial.
    """

    source: str
    metrics: dict
    spread: dict
    increment: dict = field(default_factory=dict)
    prediction: Optional[float] = None
    prediction_basis: str = ""
    per_trial: Optional[np.ndarray] = None

    def to_dict(self) -> dict:
        out = {"source": self.source, **self.metrics,
               "spread": dict(self.spread), "increment": dict(self.increment),
               "prediction": {"relative_error": self.prediction, "basis": self.prediction_basis}}
        return out


@dataclass
class ErrorBudget:
    """Rows in the order of the module docstring, the last being the total."""

    rows: List[BudgetRow]
    settings: dict

    @property
    def total(self) -> BudgetRow:
        return self.rows[-1]

    def row(self, source_prefix: str) -> BudgetRow:
        """The first row whose source starts with ``source_prefix``."""
        for row in self.rows:
            if row.source.startswith(source_prefix):
                return row
        raise KeyError(f"no row starts with {source_prefix!r}; rows: {[r.source for r in self.rows]}")

    def ranking(self, metric: str = "relative_error") -> List[str]:
        """Sources ordered by their increment of ``metric``, largest first."""
        if metric not in METRICS:
            raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
        sign = -1.0 if metric == "support_f1" else 1.0   # F1: a drop is the damage
        return [r.source for r in sorted(self.rows, key=lambda r: -sign * r.increment[metric])]

    def dominant(self, metric: str = "relative_error") -> str:
        """The source with the largest increment of ``metric``."""
        return self.ranking(metric)[0]

    def to_dict(self) -> dict:
        return {"rows": [r.to_dict() for r in self.rows], "settings": dict(self.settings)}

    def to_json(self, path) -> None:
        """Write :meth:`to_dict` as JSON, atomically."""
        write_json(path, self.to_dict())

    def table(self) -> str:
        """The budget as a fixed-width text table (relative error in %)."""
        s = self.settings
        head = (f"{'source':<54}{'rel.err %':>10}{'+/-':>8}{'incr. %':>9}{'predicted %':>12}"
                f"{'angle deg':>10}{'% error':>9}{'F1':>6}")
        lines = [f"Error budget: {s['problem']} on {s['hw']}, dt = {s['dt']:g} s, T = {s['duration']:g} s, "
                 f"{s['trials']} trials, seed {s['seed']}", head, "-" * len(head)]
        for r in self.rows:
            m, sd, inc = r.metrics, r.spread, r.increment
            pred = "" if r.prediction is None else f"{100 * r.prediction:.3f}"
            lines.append(f"{r.source[:54]:<54}{100 * m['relative_error']:>10.3f}{100 * sd['relative_error']:>8.3f}"
                         f"{100 * inc['relative_error']:>+9.3f}{pred:>12}{m['angular_error_deg']:>10.3f}"
                         f"{m['percent_error']:>9.3f}{m['support_f1']:>6.2f}")
        lines.append(f"dominant source: {self.dominant()}")
        lines += [f"  {r.source.split(' (')[0]}: {r.prediction_basis}" for r in self.rows if r.prediction_basis]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()

    def plot(self, path, metric: str = "relative_error") -> str:
        """Waterfall chart of the increments of ``metric`` (bars from the previous
        level to this one, the total as a full bar); returns the absolute path."""
        import matplotlib.pyplot as plt

        from .plots import save_figure

        if metric not in METRICS:
            raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
        scale = 100.0 if metric == "relative_error" else 1.0
        fig, ax = plt.subplots(figsize=(max(7.0, 1.1 * len(self.rows)), 4.2))
        level = 0.0
        for k, r in enumerate(self.rows):
            inc = scale * r.increment[metric]
            if k == len(self.rows) - 1:
                ax.bar(k, scale * r.metrics[metric], color="0.3")
            else:
                ax.bar(k, inc, bottom=level, color="tab:red" if inc > 0 else "tab:green")
            if r.prediction is not None and metric == "relative_error":
                ax.plot([k - 0.4, k + 0.4], [scale * r.prediction] * 2, "k--", lw=1)
            level += inc
        ax.set_xticks(range(len(self.rows)))
        ax.set_xticklabels([r.source.split(" (")[0] for r in self.rows], rotation=30, ha="right")
        ax.set_ylabel(f"{metric}{' (%)' if scale == 100 else ''}")
        s = self.settings
        ax.set_title(f"{s['problem']} on {s['hw']}: dt {s['dt']:g} s, T {s['duration']:g} s, "
                     f"{s['trials']} trials (dashed: theory)")
        return save_figure(fig, path)


# ---------------------------------------------------------------- measuring
def _row(source, problem, rates, r_star, previous=None, prediction=None, basis=""):
    per_trial = metrics.trial_metrics(problem, rates, r_star)
    mean = {k: float(per_trial[k].mean()) for k in METRICS}
    spread = {k: float(per_trial[k].std()) for k in METRICS}
    increment = dict(mean) if previous is None else {k: mean[k] - previous.metrics[k] for k in METRICS}
    return BudgetRow(source, mean, spread, increment, prediction, basis, per_trial["relative_error"])


def _active_set_shift(weights, bias, d_weights, d_bias, r_star):
    r"""First-order relative shift :math:`|\delta r|/|r^*|` of the optimum (module
    docstring), or None when the active set's system is too ill-conditioned for a
    linear estimate (condition number above :data:`MAX_CONDITION`).

    Inactive causes enter through complementarity: a cause whose perturbed drive
    :math:`s_i = b_i + \delta b_i + \sum_{j \in A} (W + \delta W)_{ij} (r^* + \delta r)_j`
    turns positive fires at about :math:`s_i` (marginal causes, as in the
    discrimination task, where every other cause's drive is exactly cancelled).
    """
    scale = max(1.0, float(r_star.max()))
    active = np.flatnonzero(r_star > 1e-9 * scale)
    inactive = np.setdiff1d(np.arange(r_star.size), active)
    delta = np.zeros_like(r_star)
    if active.size:
        m = np.eye(active.size) - weights[np.ix_(active, active)]
        if np.linalg.cond(m) > MAX_CONDITION:
            return None
        rhs = d_weights[np.ix_(active, active)] @ r_star[active] + d_bias[active]
        delta[active] = np.linalg.solve(m, rhs)
    r_new = r_star + delta
    drive = (bias + d_bias)[inactive] + (weights + d_weights)[np.ix_(inactive, active)] @ r_new[active]
    delta[inactive] = np.maximum(drive, 0.0)
    return float(np.linalg.norm(delta) / np.linalg.norm(r_star))


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


def _compile(network, hw, dt, compile_options):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", compiler.QuantizationWarning)
        fixed = compiler.compile(network, hw=hw, dt=dt, **compile_options)
    return fixed, [str(w.message) for w in caught if issubclass(w.category, compiler.QuantizationWarning)]


def error_budget(problem: CausalProblem, hw="loihi2", dt: float = 1e-4, duration: float = 5.0,
                 trials: int = 8, seed=None, mistune=None, noise_std: float = 0.0,
                 confirm_on_lava: bool = False, tau_syn: float = 5e-3, name: Optional[str] = None,
                 **compile_options) -> ErrorBudget:
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
        Trials, differing in initial states only (shared by every row).
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
    **compile_options
        Passed to :func:`compiler.compile` (``weight_bits=3``, ``weight_splits=1`` ...).

    Returns
    -------
    ErrorBudget
    """
    if not isinstance(problem, CausalProblem):
        raise TypeError(f"problem must be a CausalProblem, got {type(problem).__name__}")
    mistune_range = _check_options(duration, dt, trials, noise_std, mistune)
    if seed is None:
        seed = int(np.random.SeedSequence().entropy % (2 ** 32))
    rng = np.random.default_rng([int(seed), 0x6275646765])   # unrelated to the tasks' streams
    x0 = rng.random((trials, problem.n_causes))
    mistune_seed, noise_seed = (int(v) for v in rng.integers(0, 2 ** 31, size=2))
    steps = int(round(duration / dt))
    window = steps * dt
    r_star = problem.map_estimate()

    network = build_network(problem, tau_syn=tau_syn)
    fixed, compile_warnings = _compile(network, hw, dt, compile_options)
    ingredients = StageIngredients.from_compiled(network, fixed)

    # 1. window: the ideal float network
    v0 = network.voltages_at(x0)
    ideal = simulate(network, window, dt=FLOAT_DT, trials=trials, v0=v0).rates
    quarter = simulate(network, window / 4, dt=FLOAT_DT, trials=trials, v0=v0).rates
    e_quarter = np.mean([metrics.relative_error(r, r_star) for r in quarter])
    rows = [_row(f"window (ideal float network, T = {window:g} s)", problem, ideal, r_star,
                 prediction=e_quarter / 4, basis="1/T law from a T/4 run")]

    # 2-7. chip semantics, one effect at a time
    effects = ChipEffects()
    stages = [(f"time step (dt = {dt:g} s, chip latency)", effects),
              ("hard reset (with compensation)", effects.with_(hard_reset=True)),
              ("weight quantization", effects.with_(hard_reset=True, weights=True)),
              ("bias quantization", effects.with_(hard_reset=True, weights=True, bias=True)),
              ("threshold and decay quantization",
               effects.with_(hard_reset=True, weights=True, bias=True, threshold_and_decay=True)),
              ("state saturation and wrap", ChipEffects(True, True, True, True, True))]
    w_f, b_f = ingredients.weights_float, ingredients.bias_float + ingredients.reset_correction
    for source, eff in stages:
        counts = run_staged(ingredients, eff, x0, steps)
        prediction, basis = None, ""
        previous = rows[-1]
        if source in ("weight quantization", "bias quantization"):
            if source == "weight quantization":
                shift = _active_set_shift(w_f, b_f, ingredients.weights_chip - w_f, np.zeros_like(b_f), r_star)
            else:
                shift = _active_set_shift(ingredients.weights_chip, b_f, np.zeros_like(w_f),
                                          ingredients.bias_chip - b_f, r_star)
            if shift is None:
                basis = f"none: active set too ill-conditioned (cond > {MAX_CONDITION:g}) for first order"
            else:
                prediction = math.hypot(previous.metrics["relative_error"], shift)
                basis = f"first-order KKT shift {100 * shift:.3f} %"
        elif source.startswith("threshold"):
            prediction, basis = previous.metrics["relative_error"], "charge per spike exact: no shift"
        rows.append(_row(source, problem, counts / window, r_star, previous, prediction, basis))

    # 8. mistuning and noise
    total_fixed, total_network = fixed, network
    if mistune_range is not None or noise_std > 0:
        parts = []
        if mistune_range is not None:
            total_network = mistune_network(network, *mistune_range, seed=mistune_seed)
            total_fixed, more = _compile(total_network, hw, dt, compile_options)
            compile_warnings += more
            parts.append(f"mistuning U[{mistune_range[0]:g}, {mistune_range[1]:g}]")
        if noise_std > 0:
            parts.append(f"noise {noise_std:g}/sqrt(s)")
        mis_ingredients = StageIngredients.from_compiled(total_network, total_fixed)
        folded_noise = noise_std / total_network.reset
        counts = run_staged(mis_ingredients, ChipEffects(True, True, True, True, True), x0, steps,
                            noise_std=folded_noise, noise_seed=noise_seed)
        rows.append(_row(" and ".join(parts), problem, counts / window, r_star, rows[-1]))

    # total: the bit-exact emulator
    v0_chip = total_fixed.voltages_at(x0)
    chip = compiler.emulate(total_fixed, steps, trials=trials, v0=v0_chip)
    label = "total: bit-exact emulator (+ integer decay truncation)"
    if noise_std > 0:
        label += "; no noise: Lava's LIF has none"
    rows.append(_row(label, problem, chip.rates, r_star, rows[-1]))

    lava_agrees = None
    if confirm_on_lava:
        on_lava = compiler.run_lava(total_fixed, steps, tag="fixed_pt", v0=v0_chip, trials=trials)
        lava_agrees = bool(np.array_equal(on_lava.counts, chip.counts))
        if not lava_agrees:
            raise RuntimeError("Lava fixed_pt and the emulator disagree on the total row; please report this")

    settings = {"problem": name or f"problem (M={problem.n_inputs}, N={problem.n_causes})", "hw": fixed.hw_name, "dt": dt, "duration": window,
                "steps": steps, "trials": trials, "seed": int(seed), "tau_syn": tau_syn,
                "mistune": mistune_range, "noise_std": noise_std, "compile_options": dict(compile_options),
                "weight_splits": len(fixed.weights), "scale": int(fixed.threshold),
                "float_dt": FLOAT_DT, "confirmed_on_lava": lava_agrees,
                "compile_warnings": compile_warnings, "versions": versions()}
    return ErrorBudget(rows, settings)

