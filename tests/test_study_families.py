"""Seeded problem families (lava_causal.study.families): determinism, independent
controls, presets equal to the paper's tasks, certified MAPs and validation."""
import numpy as np
import pytest

from lava_causal import tasks
from lava_causal.problem import CausalProblem
from lava_causal.study.families import (CLASS_IN, FAMILIES, OVERCOMPLETE_ALPHA, describe, make_problem,
                                        make_problem_with_truth, mean_coherence)

PRESETS = ("discrimination", "mixture", "approximation", "overcomplete", "four_cause_mixture")


def _bytes(problem):
    return (problem.features.tobytes(), problem.observation.tobytes(),
            problem.alpha, problem.beta, problem.sigma)


def _sweep(name, levels, **fixed):
    """describe() and the problem for each level of one control, the rest fixed."""
    out = []
    for level in levels:
        problem, r = make_problem_with_truth("random", 3, **{name: level}, **fixed)
        out.append((problem, r, describe(problem)))
    return out


def _same_data_except(sweep, *, features=True, causes=True):
    first_problem, first_r, _ = sweep[0]
    for problem, r, _ in sweep[1:]:
        if features:
            np.testing.assert_array_equal(problem.features, first_problem.features)
        if causes:
            np.testing.assert_array_equal(r, first_r)


def test_families_table():
    assert set(FAMILIES) == {"random", *PRESETS}
    for name, (function, defaults, ranges) in FAMILIES.items():
        assert callable(function) and isinstance(defaults, dict) and isinstance(ranges, dict)
        assert set(ranges) <= set(defaults)
    assert FAMILIES["random"][1]["n"] == 40 and FAMILIES["random"][1]["m"] == 40


def test_same_seed_same_bytes_and_seeds_differ():
    params = dict(overlap=0.3, noise=0.5, sparsity=0.3, condition=20.0, classes=3)
    a, b = make_problem("random", 5, **params), make_problem("random", 5, **params)
    assert _bytes(a) == _bytes(b)
    c = make_problem("random", 6, **params)
    assert a.features.tobytes() != c.features.tobytes()
    assert a.observation.tobytes() != c.observation.tobytes()
    assert _bytes(make_problem("random")) == _bytes(make_problem("random", 0))


def test_overlap_tracks_measured_coherence_others_fixed():
    sweep = _sweep("overlap", [0.0, 0.2, 0.4, 0.6, 0.8, 0.95])
    measured = [d["coherence"] for _, _, d in sweep]
    assert np.all(np.diff(measured) > 0)
    assert measured[0] < 0.2                     # the floor of independent directions, ~sqrt(2/(pi M))
    for target, value in zip([0.2, 0.4, 0.6, 0.8, 0.95], measured[1:]):
        assert abs(value - target) < 0.01
    _same_data_except(sweep, features=False)
    assert {d["sparsity"] for _, _, d in sweep} == {0.2}
    assert all(d["noise"] < 1e-12 for _, _, d in sweep)


def test_overlap_calibrates_on_a_subset_for_many_causes():
    problem = make_problem("random", 1, n=300, m=30, overlap=0.5)
    assert abs(mean_coherence(problem.features) - 0.5) < 0.03


def test_sparsity_sets_the_present_fraction_others_fixed():
    sweep = _sweep("sparsity", [0.01, 0.1, 0.25, 0.5, 1.0], overlap=0.3)
    fractions = [d["sparsity"] for _, _, d in sweep]
    assert fractions == [1 / 40, 4 / 40, 10 / 40, 20 / 40, 1.0]     # at least one cause
    supports = [set(np.flatnonzero(r)) for _, r, _ in sweep]
    assert all(a <= b for a, b in zip(supports, supports[1:]))      # nested present sets
    _same_data_except(sweep, causes=False)
    assert len({round(d["coherence"], 12) for _, _, d in sweep}) == 1


def test_intensity_range_maps_the_same_draws():
    sweep = _sweep("intensity", [(10.0, 50.0), (100.0, 200.0), (5.0, 5.0)], sparsity=0.5)
    for (problem, r, d), (lo, hi) in zip(sweep, [(10.0, 50.0), (100.0, 200.0), (5.0, 5.0)]):
        assert lo <= d["intensity"][0] <= d["intensity"][1] <= hi
    assert set(np.flatnonzero(sweep[0][1])) == set(np.flatnonzero(sweep[1][1]))
    present = sweep[0][1] > 0
    np.testing.assert_allclose((sweep[0][1][present] - 10) * 100 / 40 + 100, sweep[1][1][present])
    np.testing.assert_array_equal(sweep[2][1][sweep[2][1] > 0], 5.0)


def test_noise_sets_the_residual_of_the_true_causes_others_fixed():
    sweep = _sweep("noise", [0.0, 0.5, 1.0, 2.0])
    measured = np.array([d["noise"] for _, _, d in sweep])
    assert measured[0] < 1e-12 and np.all(np.diff(measured) > 0)
    np.testing.assert_allclose(measured[1:] / measured[1], [1.0, 2.0, 4.0])   # the same noise vector
    assert 0.3 < measured[2] < 1.7                                         # an empirical std of 1
    _same_data_except(sweep)


def test_condition_sets_the_singular_value_spread():
    sweep = _sweep("condition", [1.0, 10.0, 100.0, 1000.0], overlap=0.3)
    for (problem, _, d), target in zip(sweep, [1.0, 10.0, 100.0, 1000.0]):
        assert d["condition"] == pytest.approx(target, rel=1e-5)
        assert d["gram_condition"] == pytest.approx(target**2, rel=1e-4)
        np.testing.assert_allclose(np.linalg.norm(problem.features, axis=0), 1.0)
    _same_data_except(sweep, features=False)
    wide = describe(make_problem("random", 2, n=60, m=20, condition=30.0))
    assert wide["condition"] == pytest.approx(30.0, rel=1e-5) and wide["gram_condition"] == np.inf


def test_overcompleteness_and_its_default_alpha():
    for n, m in [(20, 40), (40, 40), (80, 40), (120, 10)]:
        d = describe(make_problem("random", 0, n=n, m=m))
        assert (d["n_causes"], d["n_inputs"]) == (n, m)
        assert d["overcompleteness"] == n / m
        assert d["alpha"] == (OVERCOMPLETE_ALPHA if n > m else 0.0)
    assert make_problem("random", 0, n=80, m=40, alpha=0.0).alpha == 0.0
    assert make_problem("random", 0, n=80, m=40, alpha=3.0).alpha == 3.0
    assert make_problem("random", 0, n=80, m=40, beta=0.5).alpha == 0.0


def test_classes_draw_from_fixed_subsets():
    draws = [make_problem_with_truth("random", seed, classes=3, sparsity=0.25) for seed in range(12)]
    described = [describe(p) for p, _ in draws]
    classes = [d["class"] for d in described]
    assert set(classes) <= {0, 1, 2} and len(set(classes)) > 1
    supports = [set(np.flatnonzero(r)) for _, r in draws]
    same = [len(supports[i] & supports[j]) for i in range(12) for j in range(i)
            if classes[i] == classes[j]]
    other = [len(supports[i] & supports[j]) for i in range(12) for j in range(i)
             if classes[i] != classes[j]]
    assert min(same) >= 5 and np.mean(same) > 2 * np.mean(other)
    assert all(d["n_present"] >= 1 for d in described)
    assert np.mean([d["n_present"] for d in described]) == pytest.approx(10 * CLASS_IN + 30 * 0.02, abs=2)
    assert describe(make_problem("random", 0))["class"] is None


@pytest.mark.parametrize("name", PRESETS)
def test_presets_are_the_papers_tasks(name):
    problem, r = make_problem_with_truth(name, 4)
    expected = tasks.TASKS[name](4)
    assert _bytes(problem) == _bytes(expected)
    if name == "approximation":
        assert r is None and describe(problem)["true_causes"] is None
    else:
        np.testing.assert_allclose(problem.features @ r, problem.observation, atol=1e-8)
        assert describe(problem)["noise"] < 1e-8


def test_preset_parameters_pass_through():
    problem, r = make_problem_with_truth("discrimination", 1, n=20, m=30, amplitude=7.0)
    assert _bytes(problem) == _bytes(tasks.discrimination(1, n=20, m=30, amplitude=7.0))
    assert r[tasks.TARGET] == 7.0 and np.count_nonzero(r) == 1
    problem, r = make_problem_with_truth("four_cause_mixture", 2, amplitudes=(1.0, 2.0, 3.0, 4.0))
    np.testing.assert_array_equal(r[[10, 20, 30, 40]], [1.0, 2.0, 3.0, 4.0])
    assert set(FAMILIES["overcomplete"][1]) == {"n", "m", "amplitude", "regularization", "alpha", "beta"}


@pytest.mark.parametrize("params", [
    dict(),
    dict(overlap=0.9, noise=1.0),
    dict(n=80, m=20, noise=0.5),                       # overcomplete: alpha defaults to 1
    dict(n=60, m=30, alpha=2.0, overlap=0.5, sparsity=0.1),
    dict(condition=1e4, beta=0.1, sigma=2.0),
    dict(n=30, m=40, classes=4, noise=2.0, alpha=0.5),
])
def test_map_is_certified(params):
    problem = make_problem("random", 7, **params)
    assert problem.map_certificate().certified
    assert np.all(problem.map_estimate() >= 0)


@pytest.mark.parametrize("family, params, pieces", [
    ("nope", {}, ["'nope'", "random", "discrimination"]),
    ("random", dict(colour=1), ["'random'", "'colour'", "= 1", "overlap", "sparsity"]),
    ("random", dict(overlap=0.99), ["'random'", "'overlap'", "0.99", "[0, 0.95]"]),
    ("random", dict(n=0), ["'n'", "= 0", "integer", "[1, 10000]"]),
    ("random", dict(m=20000), ["'m'", "20000", "[1, 10000]"]),
    ("random", dict(n=2.5), ["'n'", "2.5", "integer"]),
    ("random", dict(sparsity=0.0), ["'sparsity'", "(0, 1]"]),
    ("random", dict(sparsity=1.5), ["'sparsity'", "1.5", "(0, 1]"]),
    ("random", dict(noise=-1.0), ["'noise'", "-1.0", "[0, 1e+06]"]),
    ("random", dict(sigma=0.0), ["'sigma'", "(0, 1e+06]"]),
    ("random", dict(alpha=float("nan")), ["'alpha'", "nan"]),
    ("random", dict(condition=0.5), ["'condition'", "0.5", "[1, 1e+08]"]),
    ("random", dict(intensity=(50.0, 10.0)), ["'intensity'", "(50.0, 10.0)", "lo <= hi"]),
    ("random", dict(intensity=5.0), ["'intensity'", "pair"]),
    ("random", dict(classes=0), ["'classes'", "[1, 1000]"]),
    ("random", dict(overlap="high"), ["'overlap'", "'high'"]),
    ("random", dict(n=1, condition=5.0), ["'condition'", "min(n, m)"]),
    ("discrimination", dict(overlap=0.1), ["'discrimination'", "'overlap'", "amplitude"]),
    ("discrimination", dict(n=5), ["'discrimination'", "n must be an integer > 10"]),
])
def test_bad_inputs_name_family_parameter_value_and_range(family, params, pieces):
    with pytest.raises(ValueError) as info:
        make_problem(family, 0, **params)
    message = str(info.value)
    assert "\n" not in message
    for piece in pieces:
        assert piece in message


@pytest.mark.parametrize("seed", [-1, 1.5, True, "0"])
def test_bad_seed(seed):
    with pytest.raises(ValueError, match="seed"):
        make_problem("random", seed)


def test_describe_a_foreign_problem():
    u = np.eye(3)
    problem = CausalProblem(u, np.array([1.0, 2.0, 0.0]))
    d = describe(problem)
    assert d["family"] is None and d["true_causes"] is None and d["noise"] is None
    assert d["coherence"] == 0.0 and d["condition"] == 1.0 and d["gram_condition"] == 1.0
    d = describe(problem, true_causes=[1.0, 2.0, 0.0])
    assert d["sparsity"] == pytest.approx(2 / 3) and d["intensity"] == (1.0, 2.0) and d["noise"] == 0.0
    assert np.isnan(describe(CausalProblem(np.ones((2, 1)), np.ones(2)))["coherence"])
