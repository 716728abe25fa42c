"""Placement at chip scale: METIS partition within every core limit, cores onto chips of a
board, refusal when the board is too small, dense and CSR weights placed alike."""
import dataclasses
import re

import numpy as np
import pytest
import scipy.sparse as sp

import compiler
from compiler.backends.emulator import ExecutionResult
from compiler.deploy.cost import estimate_cost
from compiler.deploy.placement import PlacementError, group_resources, place, synapse_matrix
from compiler.hardware.config import HW_DIR, ConfigError, HardwareConfig
from compiler.quantization.fixed_point import FixedPointNetwork

pytest.importorskip("pymetis")

LOIHI2 = HW_DIR / "loihi2.toml"


def clustered_pattern(n=240, cluster=20, per_neuron=8, p_out=0.1, seed=0):
    """Symmetric synapse pattern: clusters of ``cluster`` neurons, a fraction ``p_out`` of
    each neuron's synapses to the next cluster, neuron order shuffled."""
    rng = np.random.default_rng(seed)
    src = np.repeat(np.arange(n), per_neuron // 2)
    base = (src // cluster) * cluster
    dst = base + rng.integers(0, cluster, src.size)
    out = rng.random(src.size) < p_out
    dst[out] += cluster
    dst %= n
    keep = src != dst
    perm = rng.permutation(n)
    a = sp.coo_matrix((np.ones(int(keep.sum())), (perm[src[keep]], perm[dst[keep]])), shape=(n, n)).tocsr()
    a = ((a + a.T) > 0).astype(np.int64).tocsr()
    a.sort_indices()
    return a


def network(n=240, splits=2, seed=0, **kw):
    """A dense FixedPointNetwork on :func:`clustered_pattern` (even mantissas, one
    explicit zero per split where the other split carries the synapse)."""
    rng = np.random.default_rng(seed)
    pattern = clustered_pattern(n, seed=seed, **kw).toarray() != 0
    ws = []
    for k in range(splits):
        w = np.where(pattern, -2 * rng.integers(1, 60, (n, n)), 0)
        if splits > 1:  # some synapses live in one split only
            w[pattern & (rng.random((n, n)) < 0.2) & (k == 0)] = 0
        ws.append(w)
    return FixedPointNetwork(weights=tuple(ws), weight_exps=(0,) * splits, bias_mant=np.full(n, 10),
                             bias_exp=np.zeros(n, int), vth=1000, du=4095, dv=0, dt=1e-4)


def as_csr(fixed):
    """The same network with CSR splits sharing one pattern (the union, explicit zeros
    stored), as the sparse FixedPointNetwork layout of the contract."""
    union = sp.csr_matrix(sum((np.asarray(w) != 0).astype(np.int8) for w in fixed.weights))
    union.sort_indices()
    rows = np.repeat(np.arange(fixed.n), np.diff(union.indptr))
    ws = tuple(sp.csr_matrix((np.asarray(w)[rows, union.indices].astype(np.int8), union.indices.copy(),
                              union.indptr.copy()), shape=union.shape) for w in fixed.weights)
    try:
        return dataclasses.replace(fixed, weights=ws)
    except (TypeError, ValueError):  # a FixedPointNetwork that does not take CSR yet
        clone = dataclasses.replace(fixed)
        object.__setattr__(clone, "weights", ws)
        return clone


def tiny_board(tmp_path, neurons=32, cores_per_chip=4, chips=3, inter_chip_pj=100.0, **core):
    """A board config file with tiny cores (a Loihi 2 copy with a [board] table)."""
    text = LOIHI2.read_text()
    values = {"neurons_per_core": neurons, "cores_per_chip": cores_per_chip, **core}
    for key, value in values.items():
        text, hits = re.subn(rf"^{key} = \d+", f"{key} = {value}", text, flags=re.M)
        assert hits == 1, key
    text = text.replace('name = "loihi2"', 'name = "tiny_board"')
    text += f"\n[board]\nchips_per_board = {chips}  # test\n"
    if inter_chip_pj is not None:
        text += f"inter_chip_spike_pj = {inter_chip_pj}  # test\n"
    path = tmp_path / "tiny_board.toml"
    path.write_text(text)
    return HardwareConfig.load(path)


def small_chip(**changes):
    base = dict(neurons_per_core=64, synapse_memory_bits=1 << 20, cores_per_chip=4)
    base.update(changes)
    return dataclasses.replace(compiler.load_hardware("loihi2"), **base)


def test_metis_cores_are_within_every_limit():
    fixed = as_csr(network())
    hw = small_chip(neurons_per_core=40, synapse_memory_bits=6_000, input_axons_per_core=70,
                    output_axons_per_core=90)
    p = place(fixed, hw=hw, method="metis")
    assert p.method == "metis" and p.violations() == []
    syn = synapse_matrix(fixed)
    for c in range(p.n_cores):  # recomputed core by core from the resource model
        members = np.flatnonzero(p.core_of == c)
        res = group_resources(syn, members, fixed.n_splits, 8)
        assert res["neurons"] == p.neurons[c] <= 40
        assert res["synapse_memory"] == p.synapse_memory[c] <= 6_000
        assert res["input_axons"] == p.input_axons[c] <= 70
    assert np.all(p.output_axons <= 90) and p.neurons.sum() == fixed.n
    assert sum(p.info["refined"].values()) > 0  # the tight limits needed re-cuts
    assert p.report()["binding"] in ("neurons", "synapse_memory", "input_axons", "output_axons")


def test_metis_is_at_least_as_good_as_kernighan_lin_on_a_clustered_graph():
    fixed = network(n=240)
    hw = small_chip(neurons_per_core=40)
    metis = place(fixed, hw=hw, method="metis")
    kl = place(fixed, hw=hw, method="kl")
    assert metis.n_cores <= kl.n_cores
    assert metis.traffic()["core_crossings"] <= kl.traffic()["core_crossings"]
    assert place(fixed, hw=hw).method == "metis"  # the default when pymetis is installed


def test_dense_and_csr_weights_give_the_same_placement():
    dense = network(n=200)
    sparse = as_csr(dense)
    assert (synapse_matrix(dense) != synapse_matrix(sparse)).nnz == 0
    hw = small_chip(neurons_per_core=30, input_axons_per_core=80)
    for method in ("metis", "kl"):
        a, b = place(dense, hw=hw, method=method), place(sparse, hw=hw, method=method)
        assert np.array_equal(a.core_of, b.core_of) and np.array_equal(a.chip_of_core, b.chip_of_core)
        assert a.report() == b.report()


def test_a_board_places_a_network_over_several_chips_and_reports_their_traffic(tmp_path):
    hw = tiny_board(tmp_path)
    assert hw.chips_per_board == 3 and hw.inter_chip_spike_pj == 100.0
    fixed = as_csr(network(n=240, splits=1))
    p = place(fixed, hw=hw)
    assert p.n_chips > 1 and p.n_chips <= 3 and p.violations() == []
    assert np.all(np.bincount(p.chip_of_core) <= 4)  # cores per chip
    assert np.all(np.diff(p.chip_of_core) >= 0)  # cores numbered chip by chip
    t = p.traffic()
    assert 0 < t["chip_crossings"] <= t["core_crossings"]
    chip_of = p.chip_of_core[p.core_of]
    syn = synapse_matrix(fixed).tocoo()
    crossing = {(j, chip_of[i]) for i, j in zip(syn.row, syn.col) if chip_of[i] != chip_of[j]}
    assert t["chip_crossings"] == pytest.approx(len(crossing))  # uniform rates: 1 spike per step each
    assert "chip crossings" in p.report().table()
    # Chips cut less traffic than the same cores dealt to chips at random.
    rng = np.random.default_rng(0)
    shuffled = rng.permutation(p.chip_of_core)
    rnd = {(j, shuffled[p.core_of[i]]) for i, j in zip(syn.row, syn.col)
           if shuffled[p.core_of[i]] != shuffled[p.core_of[j]]}
    assert t["chip_crossings"] <= len(rnd)
    # Cost prices the inter-chip packets with the board's figure.
    res = ExecutionResult(counts=np.ones((1, fixed.n)), steps=10, dt=fixed.dt, seed=0, backend="emulator",
                          hw_name="tiny_board")
    est = estimate_cost(fixed, res, hw=hw, placement=p)
    assert est["packets_between_chips"] == pytest.approx(10 * t["chip_crossings"])
    assert est["energy_inter_chip_j"] == pytest.approx(est["packets_between_chips"] * 100e-12)
    assert est["energy_j"] == pytest.approx(est["energy_synaptic_j"] + est["energy_neuron_j"]
                                            + est["energy_inter_chip_j"])
    assert est["label"] == "estimate" and est["inter_chip_priced"]


def test_a_network_too_big_for_the_board_is_refused_naming_the_limit(tmp_path):
    fixed = as_csr(network(n=240, splits=1))
    with pytest.raises(PlacementError, match=r"needs 8 chips of 1 cores .*core.neurons_per_core.*"
                                             r"240 neurons / core.neurons_per_core = 32.*"
                                             r"board.chips_per_board = 3 \(at most 3 cores\)"):
        place(fixed, hw=tiny_board(tmp_path, cores_per_chip=1))
    # Fits by neurons and memory, but the axon limit needs more cores than the board has.
    with pytest.raises(PlacementError, match=r"chips: the network needs \d+ chips .*binding limit "
                                             r"core.input_axons_per_core .*board.chips_per_board = 3"):
        place(fixed, hw=tiny_board(tmp_path, neurons=100, cores_per_chip=1, input_axons_per_core=24))
    with pytest.raises(PlacementError, match=r"max_chips = 1"):
        place(fixed, hw=tiny_board(tmp_path), max_chips=1)


def test_board_table_is_validated_and_kapoho_point_ships():
    kp = compiler.load_hardware("kapoho_point")
    loihi2 = compiler.load_hardware("loihi2")
    assert kp.chips_per_board == 8 and kp.inter_chip_spike_pj is None
    assert kp.neurons_per_core == loihi2.neurons_per_core and kp.cores_per_chip == 128
    assert loihi2.chips_per_board == 0  # a chip config: chips unbounded
    assert kp.validated() is kp
    assert HardwareConfig.from_flat_dict({k: v for k, v in loihi2.to_dict().items()
                                          if k not in ("chips_per_board", "inter_chip_spike_pj")}) == loihi2
    base = loihi2.to_toml_dict()
    with pytest.raises(ConfigError, match=r"board.chips_per_board' is missing"):
        HardwareConfig.from_dict({**base, "board": {"inter_chip_spike_pj": 1.0}})
    with pytest.raises(ConfigError, match=r"board.links' is unknown"):
        HardwareConfig.from_dict({**base, "board": {"chips_per_board": 2, "links": 4}})
    with pytest.raises(ConfigError, match=r"board.chips_per_board' = 0 is out of range"):
        HardwareConfig.from_dict({**base, "board": {"chips_per_board": 0}})
    ok = HardwareConfig.from_dict({**base, "board": {"chips_per_board": 2, "inter_chip_spike_pj": 5}})
    assert ok.inter_chip_spike_pj == 5.0 and ok.to_toml_dict()["board"] == {"chips_per_board": 2,
                                                                              "inter_chip_spike_pj": 5.0}


def test_without_pymetis_small_graphs_fall_back_and_large_ones_are_refused(monkeypatch):
    import compiler.deploy.placement as placement

    monkeypatch.setattr(placement, "_metis_available", lambda: False)
    fixed = network(n=120)
    with pytest.warns(RuntimeWarning, match="pymetis is not installed"):
        p = place(fixed, hw=small_chip(neurons_per_core=40))
    assert p.method == "kl" and p.violations() == []
    monkeypatch.setattr(placement, "KL_FALLBACK_MAX_NEURONS", 100)
    with pytest.raises(ImportError, match="pip install pymetis"):
        place(fixed, hw=small_chip(neurons_per_core=40))
