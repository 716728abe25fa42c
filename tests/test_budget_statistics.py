"""Issue 10 in the budget: paired intervals, significance, predictions from the exact
optimum, weight bits at a fixed split count, stability."""
import dataclasses

import numpy as np
import pytest

import lava_causal.budget as budget_module
from lava_causal import error_budget, statistics, sweep, tasks
from lava_causal.budget import METRICS, BudgetRow, ErrorBudget, predicted_row
from lava_causal.staged import StageIngredients


@pytest.fixture(scope="module")
def discrimination():
    return tasks.discrimination(seed=0)


def test_weight_bit_budget_holds_one_split(discrimination):
    b = error_budget(discrimination, duration=0.5, trials=3, seed=2, weight_bits=3)
    assert b.settings["weight_precision"]["weight_splits"] == 1
    assert b.settings["weight_precision"]["weight_bits"] == 3
    assert "3 bits x 1 split" in b.table()


def test_weight_bit_sweep_is_monotone_at_one_split():
    problem = tasks.random_problem(seed=3, alpha=0.5, beta=0.1)
    # Uncompensated: the weight compensation makes the error nearly independent of the bits.
    result = sweep(problem, "weight_bits", [3, 4, 5, 8], duration=1.0, trials=4, seed=2, progress=False,
                   weight_compensation="none", bias_rounding="nearest")
    mean = result.mean()
    assert np.all(np.diff(mean) < 0), mean
    assert {p["weight_splits"] for p in result.to_dict()["weight_precision"]} == {1}
    assert "held at 1" in result.table()


def test_bias_prediction_is_zero_when_the_bias_does_not_change(discrimination, monkeypatch):
    original = StageIngredients.from_compiled

    def exact_bias(network, fixed):
        ing = original(network, fixed)
        return dataclasses.replace(ing, bias_chip=ing.bias_float + ing.reset_correction + ing.weight_correction)

    monkeypatch.setattr(budget_module.StageIngredients, "from_compiled", staticmethod(exact_bias))
    b = error_budget(discrimination, duration=0.5, trials=3, seed=2)
    bias_row, weight_row = b.row("bias quantization"), b.row("weight compensation")
    assert bias_row.optimum_shift == pytest.approx(0.0, abs=1e-12)
    assert bias_row.prediction == pytest.approx(weight_row.mean_relative_error, rel=1e-9)


def test_predicted_row_with_no_change_is_the_previous_row(discrimination):
    r_star = discrimination.map_estimate()
    rates = r_star + np.random.default_rng(0).normal(0, 1, (4, r_star.size))
    pred, shift = predicted_row(discrimination, rates, np.zeros_like(r_star), r_star)
    assert shift == 0
    assert pred == pytest.approx(np.mean(np.linalg.norm(rates - r_star, axis=1)) / np.linalg.norm(r_star))


def test_weight_prediction_holds_far_from_first_order():
    problem = tasks.random_problem(seed=5, alpha=0.5, beta=0.1)
    b = error_budget(problem, duration=2.0, trials=4, seed=1, weight_bits=3)
    row = b.row("weight quantization")
    assert row.optimum_shift > 0.05                     # a large, non-linear perturbation
    assert row.prediction == pytest.approx(row.mean_relative_error, rel=0.35), \
        (row.prediction, row.mean_relative_error)


def _rows_with_noise_increments(rng, k=8):
    base = {m: np.abs(rng.normal(0.01, 0.002, k)) for m in METRICS}
    rows = [BudgetRow("window", base, dict(base), 0.01)]
    for name in ("time step", "weight quantization", "bias quantization"):
        inc = {m: rng.normal(0.0, 0.1, k) for m in METRICS}
        rows.append(BudgetRow(name, {m: rows[-1].per_trial[m] + inc[m] for m in METRICS}, inc, 0.01))
    return rows


def test_increments_inside_the_noise_name_no_dominant_source():
    rng = np.random.default_rng(0)
    rows = _rows_with_noise_increments(rng)
    assert not any(r.significant() for r in rows[1:])
    assert ErrorBudget(rows, {"trials": 8}).dominant() is None
    # a clearly larger, consistent increment is named
    big = {m: rows[-1].per_trial[m] + 1.0 + rng.normal(0, 0.01, 8) for m in METRICS}
    rows.append(BudgetRow("mistuning", big, {m: big[m] - rows[-1].per_trial[m] for m in METRICS}, 1.0))
    assert ErrorBudget(rows, {"trials": 8}).dominant() == "mistuning"


def test_ci_width_adds_trials_and_keeps_the_first(discrimination):
    small = error_budget(discrimination, duration=0.5, trials=3, seed=5)
    wanted = small.max_increment_ci_width() / 2
    b = error_budget(discrimination, duration=0.5, trials=3, seed=5, ci_width=wanted, max_trials=48)
    assert b.settings["trials"] > 3
    assert b.settings["ci_width_met"] == (b.max_increment_ci_width() <= wanted)
    np.testing.assert_array_equal(b.total.per_trial["relative_error"][:3],
                                  small.total.per_trial["relative_error"])


def test_paired_interval_removes_the_shared_variance():
    rng = np.random.default_rng(1)
    shared = rng.normal(0, 1, 16)
    before, after = shared, shared + 0.1 + rng.normal(0, 0.01, 16)
    lo, hi = statistics.paired_difference_ci(before, after)
    assert 0.08 < lo < 0.1 < hi < 0.12
    unpaired_lo, unpaired_hi = statistics.mean_ci(after)
    assert unpaired_hi - unpaired_lo > 10 * (hi - lo)
    assert statistics.mean_ci([1.0, 1.0, 1.0]) == (1.0, 1.0)
    assert statistics.mean_ci([1.0, 2.0]) == (-np.inf, np.inf)


def test_unstable_mistuning_is_refused():
    """Zero-mean mistuning of an overcomplete cosine network runs away (SPEC section 3)."""
    problem = tasks.cosine_basis(n=40, m=10)
    with pytest.raises(ValueError, match="unstable.*eigenvalue"):
        error_budget(problem, duration=0.2, trials=2, seed=1, mistune=(-0.1, 0.1))
    with pytest.warns(RuntimeWarning, match="unstable"):
        b = error_budget(problem, duration=0.2, trials=2, seed=1, mistune=(-0.1, 0.1), allow_unstable=True)
    assert b.total.mean_relative_error > 1.0
