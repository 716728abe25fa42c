"""CausalProblem: exact MAP against an independent solver and the KKT conditions;
validation and persistence."""
import numpy as np
import pytest

from lava_causal import CausalProblem, tasks


def projected_gradient_map(problem, iterations=20000):
    """Independent solver: FISTA (accelerated projected gradient) on L(r), r >= 0."""
    hess = -problem.coupling
    step = 1.0 / np.linalg.eigvalsh(hess)[-1]
    r = y = np.zeros(problem.n_causes)
    t = 1.0
    for _ in range(iterations):
        r_next = np.maximum(y - step * (hess @ y - problem.drive), 0.0)
        t_next = 0.5 * (1 + np.sqrt(1 + 4 * t * t))
        y = r_next + (t - 1) / t_next * (r_next - r)
        r, t = r_next, t_next
    return r


CASES = {
    # name: (m, n, alpha, beta)
    "beta>0": (30, 20, 0.5, 0.7),
    "alpha=beta=0": (30, 20, 0.0, 0.0),
    "alpha>0, full rank": (30, 20, 1.5, 0.0),
    "alpha>0, N>M": (10, 25, 1.0, 0.0),
    "alpha=beta=0, N>M": (10, 25, 0.0, 0.0),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_map_matches_independent_solver_and_kkt(case, seed):
    m, n, alpha, beta = CASES[case]
    p = tasks.random_problem(seed, m=m, n=n, alpha=alpha, beta=beta)
    r = p.map_estimate()
    assert np.all(r >= 0)
    assert p.kkt_residual(r) <= 1e-8
    ref = projected_gradient_map(p)
    # The objective is the same at both; when N > M and beta = 0 only U r is unique.
    assert p.objective(r) <= p.objective(ref) + 1e-9 * max(1.0, abs(p.objective(ref)))
    if n <= m or beta > 0:
        np.testing.assert_allclose(r, ref, atol=1e-6 * max(1.0, r.max()))
    else:
        np.testing.assert_allclose(p.features @ r, p.features @ ref, atol=1e-5 * np.linalg.norm(p.observation))


def test_kkt_residual_flags_non_optimal_points():
    p = tasks.random_problem(3, m=20, n=10, alpha=0.5, beta=0.1)
    r = p.map_estimate()
    assert p.kkt_residual(r) < 1e-10
    assert p.kkt_residual(r + 0.5) > 1e-3
    assert p.kkt_residual(-np.ones(p.n_causes)) > 1e-3


def test_discrimination_map_is_the_target_alone():
    p = tasks.discrimination(0)
    r = p.map_estimate()
    expected = np.zeros(100)
    expected[tasks.TARGET] = 50.0
    np.testing.assert_allclose(r, expected, atol=1e-8)


def test_energy_form_matches_objective():
    p = tasks.random_problem(4, m=15, n=12, alpha=0.3, beta=0.2)
    rng = np.random.default_rng(0)
    r1, r2 = rng.random(12), rng.random(12)
    energy = lambda r: -0.5 * r @ p.coupling @ r - p.drive @ r
    assert energy(r1) - energy(r2) == pytest.approx(p.objective(r1) - p.objective(r2), rel=1e-10)


@pytest.mark.parametrize("kwargs, match", [
    (dict(features=np.ones((3, 2)), observation=np.ones(4)), "observation"),
    (dict(features=np.ones(3), observation=np.ones(3)), "features"),
    (dict(features=[[1.0, np.nan]], observation=[1.0]), "features"),
    (dict(features=np.ones((2, 2)), observation=[1.0, np.inf]), "observation"),
    (dict(features=[[1.0, 0.0], [1.0, 0.0]], observation=[1.0, 1.0]), "all-zero column"),
    (dict(features=np.eye(2), observation=np.ones(2), alpha=-1.0), "alpha"),
    (dict(features=np.eye(2), observation=np.ones(2), beta=-0.1), "beta"),
    (dict(features=np.eye(2), observation=np.ones(2), sigma=0.0), "sigma"),
    (dict(features=np.eye(2), observation=np.ones(2), alpha="x"), "alpha"),
])
def test_validation_names_the_parameter(kwargs, match):
    with pytest.raises(ValueError, match=match):
        CausalProblem(**kwargs)


def test_save_load_round_trip(tmp_path):
    p = tasks.random_problem(5, alpha=0.2, beta=0.3)
    path = tmp_path / "p.npz"
    p.save(path)
    q = CausalProblem.load(path)
    np.testing.assert_array_equal(q.features, p.features)
    np.testing.assert_array_equal(q.observation, p.observation)
    assert (q.alpha, q.beta, q.sigma) == (p.alpha, p.beta, p.sigma)
    assert not [f for f in tmp_path.iterdir() if f.name != "p.npz"], "temporary files left behind"


def test_load_errors_are_clear(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        CausalProblem.load(tmp_path / "missing.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="not a readable .npz"):
        CausalProblem.load(bad)
    partial = tmp_path / "partial.npz"
    np.savez(partial, features=np.eye(2))
    with pytest.raises(ValueError, match="observation"):
        CausalProblem.load(partial)
    nan = tmp_path / "nan.npz"
    np.savez(nan, features=np.eye(2), observation=[np.nan, 1.0])
    with pytest.raises(ValueError, match="finite"):
        CausalProblem.load(nan)


@pytest.mark.parametrize("name", sorted(tasks.TASKS))
def test_tasks_are_seeded_and_valid(name):
    a, b = tasks.TASKS[name](7), tasks.TASKS[name](7)
    np.testing.assert_array_equal(a.features, b.features)
    np.testing.assert_array_equal(a.observation, b.observation)
    np.testing.assert_allclose(np.linalg.norm(a.features, axis=0), 1.0)
    r = a.map_estimate()
    assert a.kkt_residual(r) <= 1e-8


def test_four_cause_mixture_has_four_causes():
    p = tasks.four_cause_mixture(0)
    r = p.map_estimate()
    np.testing.assert_allclose(r[[10, 20, 30, 40]], [50, 50, 5, 1], rtol=1e-6)
    assert np.sum(r > 1e-6) == 4
