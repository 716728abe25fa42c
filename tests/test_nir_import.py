"""NIR import: to_nir then from_nir is the identity; graphs of other tools map by NIR's equations."""
import numpy as np
import pytest

import compiler
import lava_causal
from compiler.frontend.nir_import import from_nir
from lava_causal.cli import main
from test_nir import small as small_network

nir = pytest.importorskip("nir")


def small(**kw):
    """test_nir's network with per-neuron thresholds and a name of its own."""
    net = small_network(**kw)
    return net.replace(threshold=np.linspace(0.8, 1.2, net.n), name="small")


def assert_same(a, b):
    np.testing.assert_allclose(a.weights, b.weights, rtol=1e-14, atol=0)
    np.testing.assert_allclose(a.bias, b.bias, rtol=1e-14, atol=0)
    np.testing.assert_allclose(a.thresholds, b.thresholds, rtol=1e-14, atol=0)
    np.testing.assert_allclose(a.reset, b.reset, rtol=1e-14, atol=1e-15)
    off = ~np.eye(a.n, dtype=bool)
    np.testing.assert_allclose(a.delays[off], b.delays[off], rtol=1e-14, atol=0)
    assert (a.tau_syn, a.leak_tau, a.reset_mode, a.name) == (b.tau_syn, b.leak_tau, b.reset_mode, b.name)


@pytest.mark.parametrize("kw", [
    dict(tau_syn=0.0), dict(tau_syn=5e-3), dict(leak_tau=0.02), dict(delay=1e-3),
    dict(reset_mode="hard"), dict(tau_syn=0.0, leak_tau=0.01, delay=2e-3, reset_mode="hard")],
    ids=["delta", "exp-synapse", "leaky", "delay", "hard-reset", "all"])
def test_round_trip_through_a_file_is_exact(tmp_path, kw):
    net = small(**kw)
    path = compiler.to_nir(net, tmp_path / "net.nir")
    assert_same(compiler.from_nir(path), net)
    assert_same(from_nir(nir.read(path)), net)


def recurrent_graph(n=5, seed=1, tau_syn=5e-3, tau_mem=0.02, r=1.0, w_in=2.0, v_leak=0.0, nested=False):
    """snnTorch/Norse-style: input -> Affine -> CubaLIF with a recurrent Linear."""
    rng = np.random.default_rng(seed)
    w_rec = -rng.uniform(0.002, 0.01, (n, n))
    np.fill_diagonal(w_rec, 0.0)
    lif = nir.CubaLIF(tau_syn=np.full(n, tau_syn), tau_mem=np.full(n, tau_mem), r=np.full(n, r),
                      v_leak=np.full(n, v_leak), v_threshold=np.ones(n), v_reset=np.zeros(n),
                      w_in=np.full(n, w_in))
    nodes = {"input": nir.Input(input_type=np.array([3])),
             "fc": nir.Affine(weight=rng.normal(size=(n, 3)), bias=rng.uniform(1.5, 3, n)),
             "output": nir.Output(output_type=np.array([n]))}
    if nested:  # snnTorch writes RSynaptic as a subgraph
        nodes["rsyn"] = nir.NIRGraph(
            nodes={"input": nir.Input(input_type=np.array([n])), "lif": lif,
                   "w_rec": nir.Linear(weight=w_rec), "output": nir.Output(output_type=np.array([n]))},
            edges=[("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")])
        edges = [("input", "fc"), ("fc", "rsyn"), ("rsyn", "output")]
    else:
        nodes["lif"], nodes["w_rec"] = lif, nir.Linear(weight=w_rec)
        edges = [("input", "fc"), ("fc", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges), w_rec, nodes["fc"].bias


@pytest.mark.parametrize("nested", [False, True])
def test_recurrent_cubalif_maps_by_nir_equations(nested):
    graph, w_rec, b = recurrent_graph(v_leak=0.1, nested=nested)
    net = from_nir(graph)
    gain = 2.0 * 1.0 / 0.02  # w_in r / tau_mem
    np.testing.assert_allclose(net.weights, gain * w_rec)
    np.testing.assert_allclose(net.bias, gain * b + 0.1 / 0.02)
    np.testing.assert_allclose(net.reset, 1.0)
    assert (net.tau_syn, net.leak_tau, net.reset_mode, net.delay) == (5e-3, 0.02, "hard", 0.0)


@pytest.mark.filterwarnings("ignore::compiler.QuantizationWarning")
def test_hand_built_graph_compiles_emulates_and_reports():
    net = from_nir(recurrent_graph()[0])
    fixed = compiler.compile(net, hw="loihi2", dt=1e-4)
    result = compiler.emulate(fixed, 200, seed=0)
    assert np.asarray(result.counts).sum() > 0
    report = compiler.quantization_report(fixed)
    assert report.table()


def single(neuron, bias, weight=0.5):
    return nir.NIRGraph(nodes={"input": nir.Input(input_type=np.array([1])),
                               "fc": nir.Affine(weight=np.array([[weight]]), bias=np.array([bias])),
                               "n": neuron, "output": nir.Output(output_type=np.array([1]))},
                        edges=[("input", "fc"), ("fc", "n"), ("n", "output")])


def test_if_rate_is_r_b_over_reset_depth():
    # dv/dt = r b: from v_reset to v_threshold in (v_th - v_reset) / (r b)
    net = from_nir(single(nir.IF(r=np.array([2.0]), v_threshold=np.array([1.0]),
                                 v_reset=np.array([-0.5])), bias=30.0))
    assert net.reset_mode == "hard" and net.leak_tau is None
    sim = lava_causal.simulate(net, 2.0, dt=1e-5, seed=0)
    assert abs(sim.counts[0, 0] / 2.0 - 2.0 * 30.0 / 1.5) <= 1.0


def test_lif_rate_matches_the_nir_equation():
    # tau dv/dt = v_leak - v + r b: v_inf = v_leak + r b, period tau ln((v_inf - v_reset)/(v_inf - v_th))
    tau, r, v_leak, b = 0.02, 0.5, 0.2, 10.0
    net = from_nir(single(nir.LIF(tau=np.array([tau]), r=np.array([r]), v_leak=np.array([v_leak]),
                                  v_threshold=np.array([1.0]), v_reset=np.array([0.0])), bias=b))
    v_inf = v_leak + r * b
    rate = 1.0 / (tau * np.log(v_inf / (v_inf - 1.0)))
    sim = lava_causal.simulate(net, 2.0, dt=1e-5, seed=0)
    assert abs(sim.counts[0, 0] / 2.0 - rate) <= 0.01 * rate + 1.0


def test_cubalif_without_membrane_tau_is_the_current_based_if():
    net = from_nir(single(nir.CubaLIF(tau_syn=np.array([3e-3]), tau_mem=np.array([np.inf]),
                                      r=np.array([2.0]), v_leak=np.array([0.0]),
                                      v_threshold=np.array([1.0]), v_reset=np.array([0.0]),
                                      w_in=np.array([1.5])), bias=4.0))
    assert net.leak_tau is None and net.tau_syn == 3e-3
    np.testing.assert_allclose(net.bias, 2.0 * 1.5 * 4.0)


def test_layered_feed_forward_graph_is_a_block_of_the_full_matrix():
    rng = np.random.default_rng(2)
    w1, w2 = rng.normal(size=(4, 3)), rng.normal(size=(2, 4))

    def lif(n):
        return nir.LIF(tau=np.full(n, 0.01), r=np.full(n, 0.01), v_leak=np.zeros(n),
                       v_threshold=np.ones(n), v_reset=np.zeros(n))
    graph = nir.NIRGraph(
        nodes={"input": nir.Input(input_type=np.array([3])), "fc1": nir.Affine(weight=w1, bias=np.ones(4)),
               "lif1": lif(4), "fc2": nir.Linear(weight=w2), "delay": nir.Delay(delay=np.full(2, 1e-3)),
               "lif2": lif(2), "output": nir.Output(output_type=np.array([2]))},
        edges=[("input", "fc1"), ("fc1", "lif1"), ("lif1", "fc2"), ("fc2", "delay"),
               ("delay", "lif2"), ("lif2", "output")])
    net = from_nir(graph)
    expected = np.zeros((6, 6))
    expected[4:, :4] = w2
    np.testing.assert_allclose(net.weights, expected)
    np.testing.assert_allclose(net.bias, [1, 1, 1, 1, 0, 0])
    assert (net.delay, net.tau_syn, net.leak_tau) == (1e-3, 0.0, 0.01)


def test_presynaptic_delays_become_columns_of_the_delay_matrix():
    n = 3
    w = np.ones((n, n)) - np.eye(n)
    graph = nir.NIRGraph(
        nodes={"input": nir.Input(input_type=np.array([n])),
               "fc": nir.Affine(weight=np.eye(n), bias=np.ones(n)),
               "neuron": nir.IF(r=np.ones(n), v_threshold=np.ones(n), v_reset=np.zeros(n)),
               "axon": nir.Delay(delay=np.array([1e-3, 2e-3, 3e-3])), "rec": nir.Linear(weight=w),
               "output": nir.Output(output_type=np.array([n]))},
        edges=[("input", "fc"), ("fc", "neuron"), ("neuron", "axon"), ("axon", "rec"),
               ("rec", "neuron"), ("neuron", "output")])
    net = from_nir(graph)
    off = ~np.eye(n, dtype=bool)
    np.testing.assert_allclose(net.delays[off], np.broadcast_to([1e-3, 2e-3, 3e-3], (n, n))[off])


def lif_graph(**override):
    n = 2
    params = dict(tau=np.full(n, 0.02), r=np.ones(n), v_leak=np.zeros(n), v_threshold=np.ones(n),
                  v_reset=np.zeros(n))
    params.update(override)
    return single_layer(nir.LIF(**params), n)


def single_layer(neuron, n, extra=None, edges=None):
    nodes = {"input": nir.Input(input_type=np.array([n])),
             "fc": nir.Affine(weight=np.eye(n), bias=np.ones(n)), "neuron": neuron,
             "output": nir.Output(output_type=np.array([n]))}
    nodes.update(extra or {})
    return nir.NIRGraph(nodes=nodes, edges=edges or [("input", "fc"), ("fc", "neuron"), ("neuron", "output")],
                        type_check=False)


@pytest.mark.parametrize("graph, words", [
    (lambda: lif_graph(tau=np.array([0.02, -0.01])), ["'neuron'", "LIF", "tau[1]", "-0.01", "> 0"]),
    (lambda: lif_graph(v_reset=np.array([0.0, 1.0])), ["'neuron'", "v_reset[1]", "v_threshold[1]"]),
    (lambda: lif_graph(tau=np.array([0.02, 0.03])), ["'neuron'", "tau", "one value"]),
    (lambda: lif_graph(r=np.array([1.0, np.nan])), ["'neuron'", "r[1]", "nan"]),
    (lambda: single_layer(nir.IF(r=np.ones(2), v_threshold=np.ones(2)), 2,
                          {"flat": nir.Flatten(input_type={"input": np.array([2])})},
                          [("input", "fc"), ("fc", "flat"), ("flat", "neuron"), ("neuron", "output")]),
     ["'flat'", "Flatten", "not supported"]),
    (lambda: single_layer(nir.IF(r=np.ones(2), v_threshold=np.ones(2)), 2,
                          {"rec": nir.Linear(weight=np.ones((2, 2)))},
                          [("input", "fc"), ("fc", "neuron"), ("neuron", "rec"), ("rec", "neuron")]),
     ["'neuron'", "itself"]),
    (lambda: single_layer(nir.CubaLIF(tau_syn=np.full(2, 1e-3), tau_mem=np.full(2, 0.02), r=np.ones(2),
                                      v_leak=np.zeros(2), v_threshold=np.ones(2)), 2,
                          {"syn": nir.LI(tau=np.full(2, 2e-3), r=np.ones(2), v_leak=np.zeros(2)),
                           "rec": nir.Linear(weight=np.ones((2, 2)) - np.eye(2))},
                          [("input", "fc"), ("fc", "neuron"), ("neuron", "rec"), ("rec", "syn"),
                           ("syn", "neuron")]),
     ["twice", "'syn'", "'neuron'"]),
    (lambda: single_layer(nir.IF(r=np.ones(2), v_threshold=np.ones(2)), 2,
                          {"d": nir.Delay(delay=np.array([1e-3, 2e-3])),
                           "rec": nir.Linear(weight=np.ones((2, 2)) - np.eye(2)),
                           "mix": nir.Linear(weight=np.array([[1.0, 1.0], [0.0, 1.0]]))},
                          [("input", "fc"), ("fc", "neuron"), ("neuron", "rec"), ("rec", "d"),
                           ("d", "mix"), ("mix", "neuron")]),
     ["'d'", "Delay", "'mix'", "per path"]),
])
def test_refusals_name_the_node(graph, words):
    with pytest.raises(ValueError) as info:
        from_nir(graph())
    for word in words:
        assert word in str(info.value), (word, str(info.value))


def test_sparse_weights_and_scalar_parameters():
    scipy_sparse = pytest.importorskip("scipy.sparse")
    n = 4
    w = scipy_sparse.random(n, n, density=0.5, random_state=0, format="csr")
    w.setdiag(0)
    w.eliminate_zeros()
    scalar_lif = nir.LIF(tau=np.array(0.01), r=np.array(0.02), v_leak=np.array(0.0),
                         v_threshold=np.array(1.0), v_reset=np.array(0.0))  # snnTorch's scalar beta
    graph = single_layer(scalar_lif, n, {"rec": nir.Linear(weight=w)},
                         [("input", "fc"), ("fc", "neuron"), ("neuron", "rec"), ("rec", "neuron")])
    net = from_nir(graph)
    np.testing.assert_allclose(net.weights, 2.0 * w.toarray())
    assert net.n == n and net.leak_tau == 0.01


def test_snntorch_beta_one_has_no_defined_gain():
    inf = np.full(2, np.inf)  # snnTorch: tau_mem = dt / (1 - beta), r = tau_mem / dt
    neuron = nir.CubaLIF(tau_syn=np.full(2, 1e-3), tau_mem=inf, r=inf, v_leak=np.zeros(2),
                         v_threshold=np.ones(2), w_in=np.full(2, 10.0))
    with pytest.raises(ValueError, match=r"'neuron' \(CubaLIF\): r\[0\] = inf .*finite"):
        from_nir(single_layer(neuron, 2))


def test_populations_with_different_leaks_are_refused():
    n = 2
    graph = nir.NIRGraph(
        nodes={"input": nir.Input(input_type=np.array([n])), "fc": nir.Affine(weight=np.eye(n), bias=np.ones(n)),
               "a": nir.IF(r=np.ones(n), v_threshold=np.ones(n)), "fc2": nir.Linear(weight=np.eye(n)),
               "b": nir.LIF(tau=np.full(n, 0.01), r=np.ones(n), v_leak=np.zeros(n), v_threshold=np.ones(n)),
               "output": nir.Output(output_type=np.array([n]))},
        edges=[("input", "fc"), ("fc", "a"), ("a", "fc2"), ("fc2", "b"), ("b", "output")])
    with pytest.raises(ValueError, match="'a'.*'b'.*one leak_tau"):
        from_nir(graph)


def test_bad_metadata_reset_mode_is_refused():
    graph = recurrent_graph()[0]
    graph.metadata = {"reset_mode": "soft"}
    with pytest.raises(ValueError, match="reset_mode"):
        from_nir(graph)


@pytest.mark.filterwarnings("ignore::compiler.QuantizationWarning")
def test_cli_compiles_a_nir_graph(tmp_path, capsys):
    path, out = tmp_path / "net.nir", tmp_path / "out.npz"
    nir.write(path, recurrent_graph()[0])
    assert main(["compile", "--nir", str(path), "--hw", "loihi2", "-o", str(out)]) == 0
    assert compiler.load(out).n == 5
    assert "wrote the compiled network" in capsys.readouterr().out


@pytest.mark.parametrize("argv_of, words", [
    (lambda bad, good: ["compile", "--nir", str(bad)], "not a readable NIR graph"),
    (lambda bad, good: ["compile", "--nir", str(good)], "'flat' (Flatten)"),
    (lambda bad, good: ["compile"], "--nir"),
    (lambda bad, good: ["compile", "--nir", str(good), "--tau-syn", "0"], "--tau-syn"),
])
def test_cli_bad_graph_exits_2_with_one_line(tmp_path, capsys, argv_of, words):
    bad = tmp_path / "bad.nir"
    bad.write_bytes(b"not hdf5")
    good = tmp_path / "flat.nir"
    nir.write(good, single_layer(nir.IF(r=np.ones(2), v_threshold=np.ones(2)), 2,
                                 {"flat": nir.Flatten(input_type={"input": np.array([2])})},
                                 [("input", "fc"), ("fc", "flat"), ("flat", "neuron"), ("neuron", "output")]))
    assert main(argv_of(bad, good)) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and words in err, err
