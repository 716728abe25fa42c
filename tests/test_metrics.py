"""Metrics of SPEC section 4 on hand-checked cases."""
import numpy as np
import pytest

from lava_causal import CausalProblem, metrics


@pytest.fixture
def problem():
    return CausalProblem(np.eye(3), [3.0, 4.0, 0.0])


def test_errors_vanish_at_the_optimum(problem):
    r = problem.map_estimate()
    m = metrics.all_metrics(problem, r)
    assert m["relative_error"] == 0 and m["percent_error"] == 0
    assert m["angular_error_deg"] == pytest.approx(0, abs=1e-6)
    assert m["objective_gap"] == pytest.approx(0, abs=1e-12) and m["support_f1"] == 1


def test_hand_computed_values(problem):
    r = np.array([3.0, 0.0, 0.0])
    assert metrics.relative_error(problem, r, [3.0, 4.0, 0.0]) == pytest.approx(4 / 5)
    assert metrics.percent_error(problem, r) == pytest.approx(80.0)
    assert metrics.angular_error(problem, r) == pytest.approx(np.degrees(np.arccos(3 / 5)))
    assert metrics.angular_error(problem, np.zeros(3)) == 90.0
    assert metrics.objective_gap(problem, r) > 0
    assert metrics.support_f1(problem, r, [3.0, 4.0, 0.0]) == pytest.approx(2 / 3)
    assert metrics.support_precision_recall(problem, [3.0, 0, 1.0], [3.0, 4.0, 0]) == (0.5, 0.5)


def test_cv_isi():
    regular = [np.arange(0, 1, 0.1), np.arange(0, 1, 0.2)]
    assert metrics.cv_isi(regular) == pytest.approx(0, abs=1e-12)
    rng = np.random.default_rng(0)
    poisson = [np.cumsum(rng.exponential(0.01, 20000))]
    assert metrics.cv_isi(poisson) == pytest.approx(1.0, abs=0.03)
    assert np.isnan(metrics.cv_isi([[0.1]]))
