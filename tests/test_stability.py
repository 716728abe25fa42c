"""The stability check made once before simulating, compiling or emulating a network.

Rates are non-negative, so a network is stable when -A_s (A_s the symmetric part of
W - diag(D)) is strictly copositive; negative semidefinite A_s counts as stable
(overcomplete tuned networks have exact zero eigenvalues and a bounded QP).
"""
import re
import warnings

import numpy as np
import pytest

import compiler
import compiler.quantization.effective
import compiler.frontend.network
from compiler.quantization.stability import Stability, check_stable
from lava_causal import build_network, mistune, simulate, tasks

# Compiling a run-away network warns that its rate model diverged; not the subject here.
pytestmark = pytest.mark.filterwarnings("ignore::compiler.QuantizationWarning")


@pytest.fixture(scope="module")
def unstable():
    """Zero-mean U[-0.1, 0.1] mistuning of the low-rank cosine network (SPEC 3)."""
    return mistune(build_network(tasks.cosine_basis(n=40, m=10)), -0.1, 0.1, seed=1)


def _eigenvalue_in(message):
    match = re.search(r"largest eigenvalue (\S+)", message)
    assert match, message
    return float(match.group(1))


def test_simulate_refuses_an_unstable_network_naming_the_eigenvalue(unstable):
    with pytest.raises(ValueError, match="unstable") as info:
        simulate(unstable, 0.01, dt=1e-4)
    message = str(info.value)
    assert _eigenvalue_in(message) == pytest.approx(unstable.max_symmetric_eigenvalue(), rel=1e-5)
    assert unstable.max_symmetric_eigenvalue() > 0.1
    growth = float(re.search(r"x\^T A_s x = (\S+)", message).group(1))
    assert growth > 0.01  # a non-negative run-away direction: a proof
    assert "allow_unstable=True" in message and "\n" not in message


def test_compile_and_emulate_refuse_it_too(unstable):
    with pytest.raises(ValueError, match="unstable") as info:
        compiler.compile(unstable, hw="loihi2")
    assert _eigenvalue_in(str(info.value)) > 0.1
    with pytest.warns(RuntimeWarning, match="unstable"):
        fixed = compiler.compile(unstable, hw="loihi2", allow_unstable=True)
    with pytest.raises(ValueError, match="unstable") as info:
        compiler.emulate(fixed, 10)
    assert _eigenvalue_in(str(info.value)) > 0.1  # of the network the integers implement


def test_allow_unstable_runs_with_a_warning(unstable):
    with pytest.warns(RuntimeWarning, match="unstable"):
        result = simulate(unstable, 0.01, dt=1e-4, allow_unstable=True, seed=0)
    assert result.counts.shape == (1, unstable.n)
    with pytest.warns(RuntimeWarning, match="unstable"):
        fixed = compiler.compile(unstable, hw="loihi2", allow_unstable=True)
    with pytest.warns(RuntimeWarning, match="unstable"):
        assert compiler.emulate(fixed, 10, allow_unstable=True).steps == 10


def test_a_stored_reference_cannot_vouch_for_different_integers(unstable):
    """The fixed-point verdict comes from the integers: a file whose recorded float
    network was swapped for a stable one is still refused."""
    with pytest.warns(RuntimeWarning):
        fixed = compiler.compile(unstable, hw="loihi2", allow_unstable=True)
    stable = compiler.compile(build_network(tasks.cosine_basis(n=40, m=10)), hw="loihi2")
    fixed.info["fold"]["weights"] = stable.info["fold"]["weights"]
    clone = compiler.FixedPointNetwork(
        weights=fixed.weights, weight_exps=fixed.weight_exps, bias_mant=fixed.bias_mant,
        bias_exp=fixed.bias_exp, vth=fixed.vth, du=fixed.du, dv=fixed.dv, dt=fixed.dt,
        delays=fixed.delays, hw_name=fixed.hw_name, info=fixed.info)
    with pytest.raises(ValueError, match="unstable"):
        compiler.emulate(clone, 10)


@pytest.mark.parametrize("regularization", ["none", "l1"])
def test_overcomplete_tuned_network_is_accepted(regularization):
    """N > M, beta = 0: J = -U^T U has exact zero eigenvalues; the QP is bounded."""
    problem = tasks.overcomplete(0, n=60, m=10, regularization=regularization)
    assert problem.beta == 0 and problem.n_causes > problem.n_inputs
    net = build_network(problem)
    assert not net.is_negative_definite()  # semidefinite only
    assert net.max_symmetric_eigenvalue() == pytest.approx(0, abs=1e-10)
    verdict = check_stable(net)
    assert verdict.stable and verdict.method == "negative semidefinite"
    simulate(net, 0.05, dt=1e-4, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", compiler.QuantizationWarning)
        fixed = compiler.compile(net, hw="loihi2")
    # Rounding may lift the zero eigenvalues a little: accepted within the weight resolution.
    assert check_stable(fixed).stable
    compiler.emulate(fixed, 20)


def test_negative_mean_mistuning_is_accepted():
    for problem in (tasks.cosine_basis(n=40, m=10), tasks.discrimination(0, n=40, m=40)):
        net = mistune(build_network(problem), -0.2, 0.0, seed=2)
        assert check_stable(net).stable
        simulate(net, 0.01, dt=1e-4, seed=0)


def test_inhibitory_only_mistuning_is_copositive_hence_stable():
    """Positive features make every off-diagonal entry of A_s strongly negative (mean
    overlap ~0.75): even zero-mean U[-0.1, 0.1] mistuning keeps x^T A_s x < 0 on
    x >= 0 although A_s has positive eigenvalues. The rates stay bounded; their fixed
    point moves away from r* (an accuracy problem, not a run-away)."""
    net = mistune(build_network(tasks.discrimination(0, n=40, m=40)), -0.1, 0.1, seed=1)
    assert net.max_symmetric_eigenvalue() > 0
    assert net.symmetric_part().max() < 0
    verdict = check_stable(net)
    assert verdict.stable and verdict.method == "copositive (PSD + non-negative split)"


def _count_calls(monkeypatch, module, name) -> list:
    """Replace ``module.name`` by a wrapper that appends to the returned list per call."""
    calls, original = [], getattr(module, name)

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, counting)
    return calls


def test_the_check_runs_once_per_network(monkeypatch):
    calls = _count_calls(monkeypatch, compiler.frontend.network, "_stability_of")
    net = build_network(tasks.discrimination(0, n=30, m=30))
    for _ in range(3):
        simulate(net, 0.01, dt=1e-4, seed=0)
    assert net.is_stable() and isinstance(check_stable(net), Stability)
    assert len(calls) == 1
    fixed = compiler.compile(net, hw="loihi2")
    assert len(calls) == 1  # compile reuses the cached verdict

    built = _count_calls(monkeypatch, compiler.quantization.effective, "effective_network")
    for _ in range(3):
        compiler.emulate(fixed, 10, seed=0)
    assert len(built) == 1


def test_verdict_fields_and_two_by_two_example():
    w = np.array([[0.0, 2.0], [2.0, 0.0]])
    net = compiler.IFNetwork(weights=w, bias=[1.0, 1.0], reset=[1.0, 1.0])
    verdict = net.stability()
    assert not verdict.stable and verdict.method == "copositive search"
    assert verdict.max_eigenvalue == pytest.approx(1.0)
    assert verdict.growth_rate == pytest.approx(0.5)  # x = (1/2, 1/2)
    assert set(verdict.to_dict()) >= {"stable", "max_eigenvalue", "growth_rate", "bound", "seconds"}
    with pytest.raises(TypeError, match="IFNetwork or FixedPointNetwork"):
        check_stable(np.eye(2))


def test_fixed_point_network_without_a_float_equivalent_needs_the_override():
    w = np.array([[10, -4], [-4, 0]])  # a self-connection on neuron 0
    fixed = compiler.FixedPointNetwork(weights=w, weight_exps=0, bias_mant=[100, 100],
                                       bias_exp=[0, 0], vth=100, du=4095, dv=0, dt=1e-4)
    with pytest.raises(ValueError, match="cannot check the stability"):
        compiler.emulate(fixed, 5)
    with pytest.warns(RuntimeWarning, match="cannot check"):
        assert compiler.emulate(fixed, 5, allow_unstable=True).steps == 5
