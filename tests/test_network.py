"""The tuned network, the signal-tracking baseline, mistuning and stability."""
import numpy as np
import pytest

from compiler import IFNetwork
from lava_causal import build_network, mistune, signal_tracking_network, tasks


def test_tuned_network_encodes_the_problem():
    p = tasks.random_problem(0, m=12, n=8, alpha=0.4, beta=0.3)
    net = build_network(p, tau_syn=3e-3, delay=2e-3)
    j = p.coupling
    np.testing.assert_allclose(net.weights, j - np.diag(np.diag(j)))
    np.testing.assert_allclose(net.reset, np.linalg.norm(p.features, axis=0) ** 2 + p.beta)
    np.testing.assert_allclose(net.bias, p.drive)
    assert net.tau_syn == 3e-3 and net.delay == 2e-3 and net.reset_mode == "subtract"
    # The MAP is a fixed point of the rate dynamics: KKT of (W - diag D) r + b.
    r = p.map_estimate()
    net_drive = net.effective_matrix() @ r + net.bias
    assert np.all(net_drive[r > 1e-9] == pytest.approx(0, abs=1e-8))
    assert np.all(net_drive[r <= 1e-9] <= 1e-8)
    assert net.is_stable()


def test_signal_tracking_baseline_threshold_and_hard_reset():
    p = tasks.four_cause_mixture(0)
    net = signal_tracking_network(p)
    np.testing.assert_allclose(net.thresholds, 0.5)
    np.testing.assert_allclose(net.reset_potential, -0.5)
    assert net.reset_mode == "hard" and net.leak_tau is not None and net.tau_syn == 0


def test_negative_mean_mistuning_stays_stable_zero_mean_does_not():
    """SPEC section 3 / paper Fig. 4: on the low-rank cosine network, U[-0.1, 0.1]
    mistuning opens run-away directions; U[-0.2, 0] (mean -0.1) does not."""
    net = build_network(tasks.cosine_basis())
    for seed in range(3):
        assert mistune(net, -0.2, 0.0, seed).is_stable()
        zero_mean = mistune(net, -0.1, 0.1, seed)
        assert not zero_mean.is_stable()
        assert zero_mean.max_growth_rate() > 0.01


def test_mistune_is_frozen_and_touches_every_entry():
    net = build_network(tasks.discrimination(0))
    a, b = mistune(net, -0.2, 0.0, seed=5), mistune(net, -0.2, 0.0, seed=5)
    np.testing.assert_array_equal(a.weights, b.weights)
    delta = a.effective_matrix() - net.effective_matrix()
    assert np.all((delta >= -0.2) & (delta <= 0.0))
    assert abs(delta.mean() + 0.1) < 0.01
    assert np.all(np.diag(a.weights) == 0)


def test_mistune_rejects_bad_ranges():
    net = build_network(tasks.discrimination(0))
    with pytest.raises(ValueError, match="low <= high"):
        mistune(net, 0.1, -0.1)
    with pytest.raises(ValueError, match="reset depth"):
        mistune(net, 1.5, 2.0)


def test_unstable_network_detected_by_eigenvalue():
    w = np.array([[0.0, 2.0], [2.0, 0.0]])
    net = IFNetwork(weights=w, bias=[1.0, 1.0], reset=[1.0, 1.0])
    assert net.max_symmetric_eigenvalue() == pytest.approx(1.0)
    assert not net.is_negative_definite() and not net.is_stable()


@pytest.mark.parametrize("kwargs, match", [
    (dict(weights=np.ones((2, 3)), bias=[0, 0], reset=[1, 1]), "square"),
    (dict(weights=np.ones((2, 2)), bias=[0, 0], reset=[1, 1]), "zero diagonal"),
    (dict(weights=np.zeros((2, 2)), bias=[0], reset=[1, 1]), "bias"),
    (dict(weights=np.zeros((2, 2)), bias=[0, 0], reset=[1, 0]), "reset"),
    (dict(weights=np.zeros((2, 2)), bias=[0, np.nan], reset=[1, 1]), "bias"),
    (dict(weights=np.zeros((2, 2)), bias=[0, 0], reset=[1, 1], tau_syn=-1), "tau_syn"),
    (dict(weights=np.zeros((2, 2)), bias=[0, 0], reset=[1, 1], delay=-1e-3), "delay"),
    (dict(weights=np.zeros((2, 2)), bias=[0, 0], reset=[1, 1], leak_tau=0), "leak_tau"),
    (dict(weights=np.zeros((2, 2)), bias=[0, 0], reset=[1, 1], reset_mode="soft"), "reset_mode"),
    (dict(weights=np.zeros((2, 2)), bias=[0, 0], reset=[1, 1], threshold=[1, 1, 1]), "threshold"),
])
def test_ifnetwork_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        IFNetwork(**kwargs)


def test_ifnetwork_dict_round_trip():
    net = signal_tracking_network(tasks.random_problem(1), delay=1e-3)
    back = IFNetwork.from_dict(net.to_dict())
    for key in ("weights", "bias", "reset", "threshold", "delay"):
        np.testing.assert_array_equal(np.asarray(getattr(back, key)), np.asarray(getattr(net, key)))
    assert (back.tau_syn, back.leak_tau, back.reset_mode) == (net.tau_syn, net.leak_tau, net.reset_mode)
