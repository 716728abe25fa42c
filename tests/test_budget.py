"""Error budget, sweep and recommend: bookkeeping, determinism, agreement with the
emulator and Lava, and each source made dominant on purpose."""
import json

import numpy as np
import pytest

import compiler
from lava_causal import build_network, error_budget, recommend, sweep, tasks
from lava_causal import statistics
from lava_causal.budget import METRICS, ErrorBudget, initial_states, predicted_row
from lava_causal.cli import main
from lava_causal.staged import ChipEffects, StageIngredients, run_staged

SOURCES = ["window", "time step", "hard reset", "reset compensation", "weight quantization",
           "weight compensation", "bias quantization", "threshold and decay quantization",
           "state saturation and wrap"]


@pytest.fixture(scope="module")
def discrimination():
    return tasks.discrimination(seed=0)


@pytest.fixture(scope="module")
def budget(discrimination):
    return error_budget(discrimination, duration=2.0, trials=6, seed=11)


def test_rows_in_order_and_increments_add_up(budget):
    sources = [r.source for r in budget.rows]
    assert [s.split(" (")[0] for s in sources[:9]] == SOURCES
    assert "total" in sources[-1] and len(sources) == 10
    for metric in METRICS:
        assert sum(r.increments[metric] for r in budget.rows) == pytest.approx(budget.total.trial_mean[metric])
    assert budget.rows[0].increments == budget.rows[0].trial_mean
    assert budget.total.mean_relative_error == budget.total.trial_mean["relative_error"]


def test_total_is_the_emulator_run_on_the_same_initial_states(discrimination, budget):
    fixed = compiler.compile(build_network(discrimination), hw="loihi2", dt=1e-4)
    x0 = initial_states(11, 6, discrimination.n_causes)
    chip = compiler.emulate(fixed, 20000, trials=6, v0=np.round(x0 * fixed.threshold).astype(np.int64))
    r_star = discrimination.map_estimate()
    errors = np.linalg.norm(chip.rates - r_star, axis=1) / np.linalg.norm(r_star)
    np.testing.assert_allclose(budget.total.per_trial["relative_error"], errors, rtol=0, atol=1e-15)
    assert budget.total.relative_error_of_mean == pytest.approx(
        np.linalg.norm(chip.rates.mean(0) - r_star) / np.linalg.norm(r_star))


def test_deterministic_under_a_seed(discrimination, budget):
    again = error_budget(discrimination, duration=2.0, trials=6, seed=11)
    assert again.to_dict()["rows"] == budget.to_dict()["rows"]
    other = error_budget(discrimination, duration=2.0, trials=6, seed=12)
    assert other.rows[0].trial_mean != budget.rows[0].trial_mean


def test_unseeded_budget_records_its_seed(discrimination):
    b = error_budget(discrimination, duration=0.5, trials=2)
    assert isinstance(b.settings["seed"], int)
    again = error_budget(discrimination, duration=0.5, trials=2, seed=b.settings["seed"])
    assert again.total.trial_mean == b.total.trial_mean


def test_staged_model_with_every_effect_is_close_to_the_emulator(discrimination):
    """The float chip model differs from the emulator only by integer truncation."""
    problem = tasks.mixture(seed=0)
    network = build_network(problem)
    fixed = compiler.compile(network)
    ingredients = StageIngredients.from_compiled(network, fixed)
    x0 = np.random.default_rng(5).random((8, network.n))
    staged = run_staged(ingredients, ChipEffects.chip(), x0, 20000)
    chip = compiler.emulate(fixed, 20000, trials=8, v0=np.round(x0 * fixed.threshold).astype(np.int64))
    assert np.abs(staged.mean(0) - chip.counts.mean(0)).max() <= 3      # spikes in 2 s, ~100 per neuron
    assert abs(staged.sum() - chip.counts.sum()) / chip.counts.sum() < 0.005


def test_json_shape_and_round_trip(tmp_path, budget):
    path = tmp_path / "budget.json"
    budget.to_json(path)
    data = json.loads(path.read_text())
    assert set(data) == {"rows", "dominant", "settings"}
    for row in data["rows"]:
        assert {"source", "mean_relative_error", "ci95", "increment", "increment_ci95", "significant",
                "relative_error_of_mean", "trial_mean", "increments", "prediction"} <= set(row)
        assert set(row["increments"]) == set(METRICS) == set(row["trial_mean"])
        lo, hi = row["ci95"]
        assert lo <= row["mean_relative_error"] <= hi
        lo, hi = row["increment_ci95"]
        assert lo <= row["increment"] <= hi and row["significant"] == (lo > 0 or hi < 0)
    assert data["settings"]["weight_precision"]["weight_splits"] == 2
    assert "total" in data["rows"][-1]["source"]
    for key in ("hw", "dt", "duration", "trials", "seed", "versions", "compile_options"):
        assert key in data["settings"]


def test_table_and_waterfall_plot(tmp_path, budget):
    text = budget.table()
    assert "weight quantization" in text and "total" in text and "dominant source" in text
    assert "95 % CI" in text and "8 bits x 2 splits" in text and "relative_error_of_mean" in text
    path = budget.plot(tmp_path / "w.png")
    assert open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"


def test_predictions_where_theory_has_them(budget):
    with_prediction = {r.source.split(" (")[0] for r in budget.rows if r.prediction is not None}
    assert with_prediction == {"window", "weight quantization", "weight compensation", "bias quantization",
                               "threshold and decay quantization"}
    window = budget.rows[0]
    assert window.prediction == pytest.approx(window.mean_relative_error, rel=0.5)


@pytest.mark.parametrize("options, dominant", [
    (dict(weight_bits=3, weight_splits=1, duration=2.0, weight_compensation="none", bias_rounding="nearest"),
     "weight quantization"),
    # dt = 2 ms adds 0.47 points to a 0.62 % window term at 10 s: the step's error is
    # transient too (it delays the first inhibition) and falls like 1/T; 5 ms dominates
    (dict(dt=5e-3, duration=10.0), "time step"),
    (dict(mistune=(-0.3, 0.0), duration=2.0), "mistuning"),
    (dict(duration=0.05), "window"),
    (dict(noise_std=3.0, duration=2.0), "noise"),
])
def test_each_source_ranks_first_when_made_dominant(discrimination, options, dominant):
    # A compensated effect is named with its compensation ("weight quantization (...) +
    # weight compensation (bias)"): what it costs as compiled.
    b = error_budget(discrimination, trials=6, seed=4, **options)
    assert b.dominant() is not None and b.dominant().startswith(dominant), \
        [(r.source, r.increment, r.increment_ci95()) for r in b.rows]


@pytest.mark.parametrize("kwargs, match", [
    (dict(duration=-1.0), "duration"), (dict(dt=0.0), "dt"), (dict(trials=0), "trials"),
    (dict(noise_std=-1.0), "noise_std"), (dict(mistune=(0.1, -0.1)), "mistune"),
    (dict(mistune="strong"), "mistune"), (dict(hw="loihi9"), "loihi9"),
    (dict(weight_bits=1), "weight_bits"), (dict(duration=1e-4), "at least 4 steps"),
])
def test_bad_arguments_name_the_parameter(discrimination, kwargs, match):
    with pytest.raises(ValueError, match=match):
        error_budget(discrimination, **kwargs)


@pytest.mark.lava
def test_lava_confirmation_agrees_exactly(discrimination):
    b = error_budget(discrimination, duration=0.2, trials=2, seed=1, confirm_on_lava=True)
    assert b.settings["confirmed_on_lava"] is True


def test_sweep_weight_bits_error_falls_with_bits(tmp_path, discrimination):
    # Without the compensations, which make the error nearly independent of the bits.
    result = sweep(discrimination, "weight_bits", [3, 5, 8], duration=2.0, trials=4, seed=2,
                   weight_splits=1, weight_compensation="none", bias_rounding="nearest", progress=False, n_jobs=2)
    mean = result.mean()
    assert mean[0] > mean[1] > mean[2]
    assert result.per_trial().shape == (3, 4)
    assert open(result.plot(tmp_path / "s.png"), "rb").read(4) == b"\x89PNG"
    assert json.loads(json.dumps(result.to_dict()))["param"] == "weight_bits"


def test_sweep_duration_follows_one_over_t(discrimination):
    result = sweep(discrimination, "duration", [0.5, 2.0, 8.0], trials=8, seed=3, progress=False)
    slope = np.polyfit(np.log([0.5, 2.0, 8.0]), np.log(result.mean()), 1)[0]
    assert -1.3 < slope < -0.6, slope


@pytest.mark.parametrize("param, values, match", [
    ("colour", [1], "param"), ("dt", [], "at least one"), ("dt", [float("nan")], "finite"),
    ("weight_bits", [3.5], "integers"),
])
def test_sweep_validation(discrimination, param, values, match):
    with pytest.raises(ValueError, match=match):
        sweep(discrimination, param, values, progress=False)


def test_recommend_accepts_on_the_upper_confidence_bound(discrimination):
    found = recommend(discrimination, 0.05, trials=4, seed=1, weight_bits=(3, 5, 8),
                      dts=(1e-3, 1e-4), durations=(0.5, 2.0), progress=False)
    assert found.met and found.upper_bound <= 0.05
    assert found.ci95[0] <= found.mean_relative_error <= found.ci95[1] == found.upper_bound
    # every cheaper candidate tried before it had a bound above the target
    assert all(t["upper_bound"] > 0.05 for t in found.tried[:-1])
    last = found.tried[-1]
    assert [last["weight_bits"], last["dt"], last["duration"]] == [found.weight_bits, found.dt, found.duration]
    assert "upper bound" in str(found) and found.weight_splits == 1
    unreachable = recommend(discrimination, 1e-6, trials=3, seed=1, weight_bits=(8,), dts=(1e-4,),
                            durations=(0.5,), progress=False)
    assert not unreachable.met and unreachable.upper_bound > 1e-6


def test_recommend_refuses_a_mean_that_only_dips_below_the_target(discrimination):
    """A target between a setting's mean and its upper bound is not met there."""
    probe = recommend(discrimination, 1e-6, trials=4, seed=1, weight_bits=(4,), dts=(1e-4,),
                      durations=(0.5,), progress=False)
    lo, hi = probe.ci95
    assert lo < hi
    target = 0.5 * (probe.mean_relative_error + hi)
    again = recommend(discrimination, target, trials=4, seed=1, weight_bits=(4,), dts=(1e-4,),
                      durations=(0.5,), progress=False)
    assert again.mean_relative_error < target and not again.met


def test_recommend_ci_width_adds_trials(discrimination):
    found = recommend(discrimination, 1e-6, trials=3, seed=1, weight_bits=(4,), dts=(1e-4,),
                      durations=(0.5,), ci_width=0.002, max_trials=64, progress=False)
    lo, hi = found.ci95
    assert found.trials > 3 and (hi - lo <= 0.002 or found.trials == 64)


def test_recommend_validation(discrimination):
    with pytest.raises(ValueError, match="target_error"):
        recommend(discrimination, 0.0)
    with pytest.raises(ValueError, match="weight_bits"):
        recommend(discrimination, 0.1, weight_bits=(9,))


def test_cli_budget_sweep_recommend(capsys, tmp_path):
    problem = tmp_path / "p.npz"
    assert main(["task", "discrimination", "-o", str(problem)]) == 0
    capsys.readouterr()
    assert main(["budget", str(problem), "--duration", "0.5", "--trials", "2", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert "total" in data["rows"][-1]["source"]
    assert main(["sweep", str(problem), "--param", "dt", "--values", "2e-4,1e-4", "--duration", "0.5",
                 "--trials", "2", "--plot", str(tmp_path / "s.png")]) == 0
    assert "sweep plot" in capsys.readouterr().out
    assert main(["recommend", str(problem), "--target", "0.5", "--trials", "4"]) == 0
    assert "meets" in capsys.readouterr().out
    assert main(["sweep", str(problem), "--param", "dt", "--values", "a,b"]) == 2
    assert main(["budget", str(problem), "--mistune", "-1"]) == 2
    assert main(["budget", str(problem), "--ci-width", "0"]) == 2
