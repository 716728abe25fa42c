"""NIR export: a round trip through nir.read keeps what NIR can carry."""
import numpy as np
import pytest

import compiler
from compiler.deploy.nir_export import to_nir, to_nir_graph

nir = pytest.importorskip("nir")


def small(tau_syn=5e-3, leak_tau=None, delay=0.0, reset_mode="subtract", n=6, seed=0):
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(n, n))
    np.fill_diagonal(w, 0)
    return compiler.IFNetwork(weights=w, bias=rng.uniform(1, 5, n), reset=rng.uniform(0.5, 1.5, n),
                              threshold=1.0, tau_syn=tau_syn, delay=delay, leak_tau=leak_tau,
                              reset_mode=reset_mode)


def test_round_trip_keeps_weights_bias_threshold_reset(tmp_path):
    net = small()
    path = to_nir(net, tmp_path / "net.nir")
    g = nir.read(path)
    assert set(g.nodes) == {"input", "rec", "syn", "neuron", "output"}
    assert set(g.edges) == {("input", "syn"), ("neuron", "rec"), ("rec", "syn"),
                            ("syn", "neuron"), ("neuron", "output")}
    np.testing.assert_array_equal(g.nodes["rec"].weight, net.weights)
    np.testing.assert_array_equal(g.nodes["rec"].bias, net.bias)
    assert isinstance(g.nodes["neuron"], nir.IF)
    np.testing.assert_array_equal(g.nodes["neuron"].v_threshold, np.ones(6))
    np.testing.assert_allclose(g.nodes["neuron"].v_reset, 1.0 - net.reset)
    np.testing.assert_allclose(g.nodes["syn"].tau, 5e-3)
    assert "subtract" in g.metadata["not_carried"]


def test_leak_delay_and_delta_synapse():
    g = to_nir_graph(small(tau_syn=0.0, leak_tau=0.02, delay=1e-3, reset_mode="hard"))
    assert "syn" not in g.nodes
    assert isinstance(g.nodes["neuron"], nir.LIF)
    np.testing.assert_allclose(g.nodes["neuron"].tau, 0.02)
    np.testing.assert_allclose(g.nodes["delay"].delay, 1e-3)
    assert ("rec", "delay") in g.edges and ("delay", "neuron") in g.edges
    assert "subtract" not in g.metadata["not_carried"]


def test_per_synapse_delays_are_refused():
    net = small()
    d = np.full((6, 6), 1e-3)
    d[0, 1] = 2e-3
    with pytest.raises(ValueError, match="per-synapse delays"):
        to_nir_graph(compiler.IFNetwork(weights=net.weights, bias=net.bias, reset=net.reset, delay=d))


@pytest.mark.filterwarnings("ignore::compiler.QuantizationWarning")
def test_compiled_network_exports_its_effective_network(tmp_path):
    net = small(n=8)
    fixed = compiler.compile(net, hw="loihi2", allow_unstable=True)  # random weights
    g = nir.read(to_nir(fixed, tmp_path / "fx.nir"))
    eff = compiler.effective_network(fixed, include_corrections=True)
    np.testing.assert_allclose(g.nodes["rec"].weight, eff.weights)
    assert g.metadata["reset_mode"] == "hard"
    assert "loihi2" in g.metadata["source"]
