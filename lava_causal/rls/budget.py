r"""Which chip effect costs a trained RLS network how much of its patterns.

The same trials (the same initial voltages, :func:`~lava_causal.rls.simulation.initial_voltages`)
run through a chain of models, each adding one effect of the chip to the previous:

1. ``float``: the float network at its own step (:mod:`lava_causal.rls.simulation`);
2. ``time step``: the float network at the chip's step with the chip's update order
   and one-step synaptic latency (:func:`lava_causal.staged.run_staged`, no effect on);
3. ``decays``: the current and voltage decays rounded to the chip's 12-bit fractions;
4. ``weights``: the chip's weight integers;
5. ``weight compensation``: the compiler's bias correction for the rounding, at the
   measured mean rates (only when the compile used it);
6. ``bias``: the chip's bias integers (stimulus included);
7. ``saturation``: the 24-bit registers: the chip's arithmetic in real numbers;
8. ``decay truncation``: the decays truncating in integer units (with the compiler's
   mean correction in the bias): the chip's integer arithmetic;

then ``chip``, the bit-exact emulator (:func:`compiler.emulate`). Each row is scored
(:func:`lava_causal.rls.patterns.score`) and its change from the row before is the
paired per-trial difference of the single-trial error and correlation, with a 95 %
interval (:func:`lava_causal.statistics.paired_difference_ci`) and whether it excludes 0.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List

import numpy as np

import compiler
from compiler.system.files import write_json

from ..provenance import versions
from ..staged import ChipEffects, StageIngredients, run_staged
from ..statistics import excludes_zero, paired_difference_ci
from .deploy import compile_trained, run_chip
from .model import RecurrentNetwork
from .patterns import PatternScore, filtered_from_raster, score
from .simulation import initial_voltages, simulate, trial_layout
from .targets import Task


@dataclass(frozen=True, eq=False)
class PatternRow:
    """One model of the chain: its score and its change from the row before."""

    source: str
    score: PatternScore
    error_change: float = 0.0
    error_change_ci: tuple = (0.0, 0.0)
    correlation_change: float = 0.0
    correlation_change_ci: tuple = (0.0, 0.0)

    @property
    def significant(self) -> bool:
        """Whether the error change's interval excludes 0."""
        return excludes_zero(self.error_change_ci)

    def to_dict(self) -> dict:
        return {"source": self.source, **self.score.to_dict(), "error_change": self.error_change,
                "error_change_ci95": list(self.error_change_ci), "correlation_change": self.correlation_change,
                "correlation_change_ci95": list(self.correlation_change_ci), "significant": self.significant}


@dataclass(frozen=True, eq=False)
class PatternBudget:
    """The rows of the chain (module docstring) and how they were made."""

    rows: List[PatternRow]
    settings: dict = field(default_factory=dict)

    def row(self, prefix: str) -> PatternRow:
        """The first row whose source starts with ``prefix``."""
        for r in self.rows:
            if r.source.startswith(prefix):
                return r
        raise KeyError(prefix)

    def costliest(self):
        """The effect row with the largest significant error increase, or None."""
        effects = [r for r in self.rows[1:] if not r.source.startswith("chip") and r.significant
                   and r.error_change > 0]
        return max(effects, key=lambda r: r.error_change).source if effects else None

    def table(self) -> str:
        """A Markdown table."""
        lines = ["| model | PSTH correlation [95 % CI] | normalised error | single-trial error change [95 % CI] | significant |",
                 "|---|---|---|---|---|"]
        for r in self.rows:
            s = r.score
            lines.append(f"| {r.source} | {s.correlation:.3f} [{s.correlation_ci[0]:.3f}, {s.correlation_ci[1]:.3f}] | "
                         f"{s.normalised_error:.3f} | {r.error_change:+.4f} [{r.error_change_ci[0]:+.4f}, "
                         f"{r.error_change_ci[1]:+.4f}] | {'yes' if r.significant else 'no'} |")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"rows": [r.to_dict() for r in self.rows], "costliest": self.costliest(), "settings": self.settings}

    def to_json(self, path) -> None:
        write_json(path, self.to_dict())


def _chain(fixed: compiler.FixedPointNetwork) -> list:
    """(source, effects) of the staged rows for ``fixed``."""
    bits = (fixed.info or {}).get("options", {}).get("weight_bits")
    effects = ChipEffects(hard_reset=True)
    rows = [(f"time step (dt = {fixed.dt:g} s, chip latency)", effects)]
    effects = effects.with_(threshold_and_decay=True)
    rows.append(("decays (12-bit du, dv)", effects))
    effects = effects.with_(weights=True)
    rows.append((f"weights ({bits}-bit)" if bits else "weights", effects))
    if (fixed.info or {}).get("options", {}).get("weight_compensation") == "bias":
        effects = effects.with_(weight_compensation=True)
        rows.append(("weight compensation (bias)", effects))
    effects = effects.with_(bias=True)
    rows.append(("bias (chip integers)", effects))
    effects = effects.with_(saturation=True)
    rows.append(("saturation (24-bit registers)", effects))
    rows.append(("decay truncation (integer u, v)", effects.with_(truncation=True)))
    return rows


def stage_ingredients(network: RecurrentNetwork, task: Task, fixed: compiler.FixedPointNetwork):
    """(ingredients, stimulus ingredients, stimulus steps) of ``network`` compiled as
    ``fixed`` on ``task``: the staged model's inputs for the pattern and the stimulus."""
    stim_steps = trial_layout(task, fixed.dt)[0]
    stimulus = compiler.make_stimulus(fixed, network.stimulus_bias(task.stimulus), stim_steps)
    ifn = network.to_ifnetwork()
    during = StageIngredients.from_compiled(ifn.replace(bias=network.stimulus_bias(task.stimulus)),
                                            stimulus.applied_to(fixed))
    return StageIngredients.from_compiled(ifn, fixed), during, stim_steps


def pattern_budget(network: RecurrentNetwork, task: Task, hw="loihi2", dt: float = 1e-4,
                   float_dt: float = 1e-4, trials: int = 16, seed: int = 0, fixed=None,
                   **compile_options) -> PatternBudget:
    """Measure the chain of the module docstring on ``trials`` paired trials.

    ``fixed``: a compile of ``network`` to use (default :func:`compile_trained` with
    ``compile_options``)."""
    if not isinstance(trials, (int, np.integer)) or trials < 3:
        raise ValueError(f"trials must be an integer >= 3 for intervals, got {trials!r}")
    if fixed is None:
        fixed = compile_trained(network, task, hw, dt, **compile_options)
    stim_steps, pattern_steps, every = trial_layout(task, fixed.dt)
    samples = task.drive.shape[0]
    base, during, _ = stage_ingredients(network, task, fixed)
    x0 = initial_voltages(seed, trials, network.n)
    scores = [("float (dt = %g s)" % float_dt, score(simulate(network, task, trials, float_dt, seed).filtered,
                                                      task, network))]
    for source, effects in _chain(fixed):
        _, raster = run_staged(base, effects, x0, stim_steps + pattern_steps, record=True,
                               stimulus=during, stimulus_steps=stim_steps)
        filtered = filtered_from_raster(raster, network.tau_s, fixed.dt, stim_steps, every, samples)
        scores.append((source, score(filtered, task, network)))
    chip_filtered, _ = run_chip(fixed, network, task, trials, seed)
    scores.append((f"chip (emulator, {fixed.hw_name})", score(chip_filtered, task, network)))
    rows = [PatternRow(scores[0][0], scores[0][1])]
    for (_, before), (source, after) in zip(scores[:-1], scores[1:]):
        rows.append(PatternRow(
            source, after,
            float(np.mean(after.trial_error - before.trial_error)),
            paired_difference_ci(before.trial_error, after.trial_error),
            float(np.mean(after.trial_correlation - before.trial_correlation)),
            paired_difference_ci(before.trial_correlation, after.trial_correlation)))
    return PatternBudget(rows, {"hw": fixed.hw_name, "dt": fixed.dt, "float_dt": float_dt, "trials": int(trials),
                                "seed": int(seed), "task": task.kind, "n": network.n,
                                "compile_options": dict(compile_options),
                                "versions": versions()})
