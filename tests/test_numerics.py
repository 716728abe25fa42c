"""Numerically safe float simulation: the simulator integrates folded voltages
x = (V - H)/D, so networks whose reset depth is tiny (or huge) against the threshold
spike exactly as their rescaled versions do (lava_causal/simulator.py, "Folded units")."""
import warnings

import numpy as np
import pytest

from compiler import IFNetwork
from lava_causal import CausalProblem, build_network, simulate, tasks

TARGET = tasks.TARGET


def _problem(sigma, task="discrimination"):
    # amplitude 10: the MAP rate of the target is 10 Hz; with alpha = beta = 0 the MAP
    # r* = argmin |mu - U r|^2 does not depend on sigma, so neither do the rates.
    base = getattr(tasks, task)(0, amplitude=10.0)
    return CausalProblem(base.features, base.observation, sigma=sigma)


def _same_spikes(a, b):
    return all(np.array_equal(ta, tb) and np.array_equal(ia, ib)
               for (ta, ia), (tb, ib) in zip(a.spikes, b.spikes))


@pytest.mark.parametrize("task", ["discrimination", "mixture"])
@pytest.mark.parametrize("synapse", [dict(tau_syn=5e-3), dict(tau_syn=0.0, delay=1e-3)])
def test_large_sigma_spikes_like_sigma_one(task, synapse):
    # sigma = 1e7: D_i = |u_i|^2 / sigma^2 = 1e-14 next to a threshold of 1. In voltage
    # units the drive per step (~1e-18) was below one rounding unit of V: silent network.
    kwargs = dict(duration=2.0, dt=1e-5, trials=3, seed=3, record_spikes=True)
    unit = simulate(build_network(_problem(1.0, task), **synapse), **kwargs)
    tiny = build_network(_problem(1e7, task), **synapse)
    assert tiny.reset.max() < 1e-13 * tiny.thresholds.min()
    large = simulate(tiny, **kwargs)
    assert unit.counts.sum() > 0
    if task == "discrimination":
        assert unit.mean_rates[TARGET] == pytest.approx(10.0, rel=0.1)
    np.testing.assert_array_equal(large.counts, unit.counts)
    assert _same_spikes(large, unit)


def test_power_of_two_sigma_is_exactly_the_same_network():
    # sigma = 2**23 ~ 8.4e6 scales J, g and D by 2**-46 exactly: the folded network is
    # bit for bit the sigma = 1 one, so spikes are identical by construction.
    kwargs = dict(duration=1.0, dt=1e-5, trials=2, seed=5, record_spikes=True, noise_std=0.0)
    unit = simulate(build_network(_problem(1.0, "mixture")), **kwargs)
    scaled = simulate(build_network(_problem(2.0 ** 23, "mixture")), **kwargs)
    assert _same_spikes(unit, scaled)


def _scaled(net: IFNetwork, c):
    """V -> c V per neuron: weights onto i, drive, reset depth and threshold times c_i."""
    return net.replace(weights=net.weights * c[:, None], bias=net.bias * c, reset=net.reset * c,
                       threshold=net.thresholds * c)


@pytest.mark.filterwarnings("ignore:network.*unstable:RuntimeWarning")
@pytest.mark.parametrize("leak", [None, 20e-3])
def test_rates_invariant_under_per_neuron_voltage_scaling(leak):
    problem = tasks.random_problem(3, m=12, n=10, amplitude=600.0 if leak else 60.0, density=0.6)
    net = build_network(problem, tau_syn=5e-3, leak_tau=leak)
    n = net.n
    # compiler.quantization.stability.check_stable tests W - diag(D) in voltage units, which per-neuron
    # scaling does not preserve: the scaled copies are the same dynamics, run unchecked.
    kwargs = dict(duration=1.0, dt=1e-4, trials=3, seed=2, record_spikes=True, allow_unstable=True)
    base = simulate(net, **kwargs)
    assert base.counts.sum() > 100
    powers = 2.0 ** np.linspace(-60, 40, n).round()
    assert _same_spikes(simulate(_scaled(net, powers), **kwargs), base)
    # Any factor: rounding differs in the last bits only; the spike counts agree.
    factors = np.geomspace(1e-15, 1e12, n)
    other = simulate(_scaled(net, factors), **kwargs)
    np.testing.assert_allclose(other.counts, base.counts, atol=2)


def test_noise_scales_with_the_reset_depth():
    # Noise is added in voltage units (sigma per sqrt(s)); scaling V by c and the noise
    # by c gives the same folded network, hence the same spikes.
    net = build_network(tasks.discrimination(0), tau_syn=5e-3)
    c = 2.0 ** -40
    kwargs = dict(duration=0.3, dt=1e-4, trials=2, seed=7, record_spikes=True)
    a = simulate(net, noise_std=2.0, **kwargs)
    b = simulate(_scaled(net, np.full(net.n, c)), noise_std=2.0 * c, **kwargs)
    assert _same_spikes(a, b)
    np.testing.assert_allclose(b.final_voltages / c, a.final_voltages, rtol=0, atol=1e-12)


def test_folded_initial_states_and_voltages():
    net = build_network(_problem(1e7))
    fractions = np.random.default_rng(0).random((2, net.n))
    a = simulate(net, 0.5, dt=1e-5, trials=2, x0=fractions, record_spikes=True)
    np.testing.assert_array_equal(a.initial_voltages, net.voltages_at(fractions))
    # The default draw is the same fractions of the same generator.
    b = simulate(net, 0.5, dt=1e-5, trials=2, seed=0, record_spikes=True)
    assert _same_spikes(a, b)
    with pytest.raises(ValueError, match="not both"):
        simulate(net, 0.5, dt=1e-5, v0=a.initial_voltages[0], x0=fractions[0])
    with pytest.raises(ValueError, match="x0 must have shape"):
        simulate(net, 0.5, dt=1e-5, x0=fractions[0, :5])


def test_v0_that_cannot_resolve_a_tiny_reset_depth_warns():
    net = build_network(_problem(1e7))
    v0 = net.voltages_at(np.full(net.n, 0.5))  # 1 - 0.5e-14: V's rounding is ~2 % of D
    with pytest.warns(RuntimeWarning, match="resolved only to"):
        simulate(net, 0.1, dt=1e-5, v0=v0)
    unit = build_network(_problem(1.0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        simulate(unit, 0.1, dt=1e-5, v0=unit.voltages_at(np.full(unit.n, 0.5)))


def test_reset_depth_too_small_to_fold_is_refused():
    net = IFNetwork(weights=[[0.0, -1.0], [-1.0, 0.0]], bias=[1.0, 1.0], reset=[1e-310, 1.0],
                    tau_syn=5e-3)
    with pytest.raises(ValueError, match="reset depth.*neuron 0"):
        simulate(net, 0.1, dt=1e-4, allow_unstable=True)
