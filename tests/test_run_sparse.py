"""Sparse (CSR) networks run event-driven: the emulator and the float simulator give
the same spikes on the sparse form of a network as on its dense form, and the
emulator on a sparse network equals Lava ``Sparse``/``DelaySparse`` spike for spike.

The sparse forms are built from small dense networks per the shared contract
(:class:`compiler.FixedPointNetwork`: CSR splits on one union pattern, stored zeros
where a split contributes nothing, the smallest integer dtype; delays on the same
pattern or a uniform integer), so these tests run whether or not the compiler itself
produces sparse networks yet.
"""
import copy
import dataclasses

import numpy as np
import pytest
import scipy.sparse as sp

import compiler
import lava_causal
from compiler import FixedPointNetwork, IFNetwork
from compiler.backends.emulator import SparseSynapses, transposed_pattern
from compiler.quantization.stability import check_stable
from compiler.system.resources import emulate_memory, simulate_memory
from test_emulator_lava import delta_delay_network, extreme_network, random_two_split

# Random test networks: unstable on purpose (allow_unstable=True), and warned about.
pytestmark = pytest.mark.filterwarnings("ignore:network .* is unstable:RuntimeWarning")


# ------------------------------------------------------------------ sparse forms
def smallest_int_dtype(values):
    lo, hi = (int(values.min()), int(values.max())) if values.size else (0, 0)
    for dtype in (np.int8, np.int16, np.int32, np.int64):
        info = np.iinfo(dtype)
        if info.min <= lo and hi <= info.max:
            return dtype


def sparse_fixed(fixed: FixedPointNetwork, uniform_delay: bool = False) -> FixedPointNetwork:
    """The contract's sparse form of a dense ``fixed``: the same integers, CSR."""
    union = sp.csr_matrix(sum(np.abs(np.asarray(w)) for w in fixed.weights))
    union.sort_indices()
    rows, cols = np.repeat(np.arange(fixed.n), np.diff(union.indptr)), union.indices
    values = [np.asarray(w)[rows, cols] for w in fixed.weights]
    dtype = smallest_int_dtype(np.concatenate(values))
    splits = tuple(sp.csr_matrix((v.astype(dtype), union.indices.copy(), union.indptr.copy()),
                                 shape=union.shape) for v in values)
    delays = fixed.delays
    if delays is not None:
        delays = np.asarray(delays)
        if uniform_delay:
            assert np.all(delays == delays.flat[0])
            delays = int(delays.flat[0])
        else:
            delays = sp.csr_matrix((delays[rows, cols].astype(np.int64), union.indices.copy(),
                                    union.indptr.copy()), shape=union.shape)
    try:  # the compiler's own sparse FixedPointNetwork, once it accepts CSR
        out = dataclasses.replace(fixed, weights=splits, delays=delays)
        assert out.is_sparse
        return out
    except Exception:  # noqa: BLE001 - not yet: the same object with its fields swapped
        modes = fixed.validate()
        out = copy.copy(fixed)
        object.__setattr__(out, "weights", splits)
        object.__setattr__(out, "delays", delays)
        object.__setattr__(out, "validate", lambda *args, **kwargs: modes)
        return out


def sparse_float(network: IFNetwork, delay=None) -> IFNetwork:
    """The sparse form of a dense float network (``delay``: a dense per-synapse delay
    matrix, kept on the weights' pattern)."""
    w = sp.csr_matrix(network.weights)
    w.sort_indices()
    d = network.delay
    if delay is not None:
        rows = np.repeat(np.arange(network.n), np.diff(w.indptr))
        d = sp.csr_matrix((np.asarray(delay)[rows, w.indices], w.indices.copy(), w.indptr.copy()),
                          shape=w.shape)
    try:
        out = network.replace(weights=w, delay=d)
        assert out.is_sparse
        return out
    except Exception:  # noqa: BLE001 - IFNetwork does not take CSR yet
        check_stable(network, allow_unstable=True)  # cached on the object, shared by the copy
        out = copy.copy(network)
        object.__setattr__(out, "weights", w)
        object.__setattr__(out, "delay", d)
        return out


def masked(fixed: FixedPointNetwork, density: float, seed: int, splits=None) -> FixedPointNetwork:
    """``fixed`` with most weights zeroed (each split independently), first ``splits``."""
    rng = np.random.default_rng(seed)
    ws = tuple(np.where(rng.random(np.shape(w)) < density, w, 0) for w in fixed.weights)
    exps = fixed.weight_exps
    if splits is not None:
        ws = (ws * 3)[:splits]
        exps = (tuple(exps) * 3)[:splits]
    return dataclasses.replace(fixed, weights=ws, weight_exps=exps)


def emulate_both(fixed, steps, uniform=False, **kw):
    dense = compiler.emulate(fixed, steps, record=True, allow_unstable=True, **kw)
    sparse = compiler.emulate(sparse_fixed(fixed, uniform), steps, record=True,
                              allow_unstable=True, **kw)
    assert sparse.provenance["weights"] == "sparse" and dense.provenance["weights"] == "dense"
    np.testing.assert_array_equal(sparse.counts, dense.counts)
    np.testing.assert_array_equal(sparse.raster, dense.raster)
    return dense


def with_delays(fixed, delays):
    return dataclasses.replace(fixed, delays=delays)


# ------------------------------------------------------------------ emulator
def test_transposed_pattern_lists_synapses_by_presynaptic_neuron():
    w = sp.random(40, 40, density=0.1, format="csr", random_state=1)
    indptr, targets, perm = transposed_pattern(w)
    wt = sp.csr_matrix((w.data[perm], targets, indptr), shape=w.shape)
    np.testing.assert_array_equal(wt.toarray(), w.toarray().T)
    assert targets.dtype == np.int32


def test_synapses_refuse_splits_on_different_patterns():
    a = sp.csr_matrix(np.array([[0, 1], [1, 0]], np.int8))
    b = sp.csr_matrix(np.array([[0, 1], [0, 0]], np.int8))
    with pytest.raises(ValueError, match="pattern"):
        SparseSynapses.of((a, b))


@pytest.mark.parametrize("splits", [1, 2, 3])
@pytest.mark.parametrize("du,dv", [(200, 40), (4095, 0)])
def test_emulator_sparse_equals_dense_over_splits_and_leaks(splits, du, dv):
    fixed = masked(random_two_split(seed=splits, n=40, du=du, dv=dv), 0.15, seed=splits,
                   splits=splits)
    result = emulate_both(fixed, 400, trials=2, seed=4)
    assert result.counts.sum() > 100


def test_emulator_sparse_equals_dense_with_per_synapse_delays():
    rng = np.random.default_rng(7)
    for du in (200, 4095):
        fixed = masked(random_two_split(seed=3, n=50, du=du), 0.12, seed=8)
        fixed = with_delays(fixed, rng.integers(0, 11, (50, 50)))
        assert emulate_both(fixed, 400, trials=2, seed=1).counts.sum() > 100
    fixed = masked(delta_delay_network(), 0.2, seed=2)  # delays 0..63, delta synapses
    assert emulate_both(fixed, 300, seed=3).counts.sum() > 50


@pytest.mark.parametrize("delay", [0, 1, 6])
def test_emulator_sparse_equals_dense_with_a_uniform_delay(delay):
    fixed = masked(random_two_split(seed=5, n=40), 0.15, seed=5)
    fixed = with_delays(fixed, np.full((40, 40), delay))
    assert emulate_both(fixed, 300, seed=2, uniform=True).counts.sum() > 50


def test_emulator_sparse_equals_dense_when_inputs_wrap():
    """Volleys beyond 2^23 (u wraps) and 2^31 (int32 wraps) in both kernels alike."""
    for weight_exp in (7, 16):
        fixed, v0 = extreme_network(weight_exp=weight_exp)
        emulate_both(fixed, 500, v0=v0)


class SmallChunks:
    """A ChunkPacer stand-in: chunks of 1..7 units."""

    def __init__(self, first, *args, **kwargs):
        self.rng = np.random.default_rng(0)
        self.chunks = 0

    @property
    def size(self):
        self.chunks += 1
        return int(self.rng.integers(1, 8))

    def record(self, units, seconds):
        pass


def test_sparse_kernels_carry_their_state_between_chunks(monkeypatch):
    """Tiny chunks give the same raster / spikes as the default ones."""
    from compiler.backends import emulator
    from lava_causal import simulator

    fixed = sparse_fixed(with_delays(masked(random_two_split(seed=2, n=40), 0.15, seed=2),
                                     np.random.default_rng(0).integers(0, 5, (40, 40))))
    net = float_network(seed=3, delay=3e-4, tau_syn=0.0)
    sparse_net = sparse_float(net)
    args = dict(duration=0.05, dt=1e-4, seed=2, record_spikes=True, allow_unstable=True)
    whole = compiler.emulate(fixed, 300, seed=6, record=True, allow_unstable=True)
    float_whole = lava_causal.simulate(sparse_net, **args)
    monkeypatch.setattr(emulator, "ChunkPacer", SmallChunks)
    monkeypatch.setattr(simulator, "ChunkPacer", SmallChunks)
    pieces = compiler.emulate(fixed, 300, seed=6, record=True, allow_unstable=True)
    float_pieces = lava_causal.simulate(sparse_net, **args)
    np.testing.assert_array_equal(pieces.raster, whole.raster)
    np.testing.assert_array_equal(float_pieces.spikes[0][1], float_whole.spikes[0][1])
    np.testing.assert_array_equal(float_pieces.spikes[0][0], float_whole.spikes[0][0])
    assert float_whole.counts.sum() > 20


def test_emulate_memory_of_a_sparse_network_is_linear_in_synapses():
    n = 1_000_000
    sparse = emulate_memory(n, 1, 1000, splits=2, nnz=45 * n, weight_bytes=1, workers=1)
    assert sparse < 5e9  # dense: 2.4e13 bytes
    assert emulate_memory(n, 1, 1000, splits=2, workers=1) > 1e13
    assert simulate_memory(n, 1, nnz=45 * n, workers=1) < 3e9


# ------------------------------------------------------------------ float simulator
def float_network(n=80, seed=3, density=0.08, **kw):
    rng = np.random.default_rng(seed)
    u = sp.random(12, n, density=0.25, random_state=seed, format="csc")
    j = -(u.T @ u).toarray() * 0.3
    j = np.where(np.abs(j) > 0, j, 0.0)
    mixed = np.where(rng.random((n, n)) < density, rng.normal(0, 0.3, (n, n)), 0.0)
    w = j + mixed
    np.fill_diagonal(w, 0.0)
    return IFNetwork(weights=w, bias=rng.uniform(10, 60, n), reset=rng.uniform(0.8, 1.2, n), **kw)


def simulate_both(dense, sparse, **kw):
    args = dict(duration=0.15, dt=1e-4, trials=2, seed=9, record_spikes=True, allow_unstable=True)
    args.update(kw)
    a = lava_causal.simulate(dense, **args)
    b = lava_causal.simulate(sparse, **args)
    np.testing.assert_array_equal(a.counts, b.counts)
    for (ta, ia), (tb, ib) in zip(a.spikes, b.spikes):
        np.testing.assert_array_equal(ta, tb)
        np.testing.assert_array_equal(ia, ib)
    np.testing.assert_array_equal(a.final_voltages, b.final_voltages)
    assert a.truncated_steps.sum() == b.truncated_steps.sum()
    return a


@pytest.mark.parametrize("kw", [dict(), dict(tau_syn=0.0), dict(leak_tau=0.02),
                                dict(tau_syn=0.0, delay=3e-4), dict(delay=5e-4, leak_tau=0.05),
                                dict(reset_mode="hard")])
def test_simulator_sparse_equals_dense(kw):
    net = float_network(**kw)
    result = simulate_both(net, sparse_float(net))
    assert result.counts.sum() > 50


def test_simulator_sparse_equals_dense_with_per_synapse_delays_and_noise():
    rng = np.random.default_rng(4)
    for tau_syn in (0.0, 5e-3):
        delay = rng.integers(0, 11, (80, 80)) * 1e-4
        net = float_network(seed=5, tau_syn=tau_syn)
        dense = net.replace(delay=np.where(net.weights != 0, delay, 0.0))
        assert simulate_both(dense, sparse_float(net, delay)).counts.sum() > 100
    net = float_network(seed=6)
    simulate_both(net, sparse_float(net), noise_std=0.5, window=0.05, trials=3)


def test_simulator_sparse_zero_fanout_neurons_with_a_uniform_delay():
    """A neuron without targets still marks its arrival step, as its dense column of
    zeros does, so both forms skip the same steps."""
    net = float_network(seed=2, delay=7e-4)
    w = net.weights.copy()
    w[:, :20] = 0.0
    net = net.replace(weights=w)
    simulate_both(net, sparse_float(net))


# ------------------------------------------------------------------ Lava
@pytest.mark.lava
@pytest.mark.parametrize("delays", [None, "per-synapse", "uniform"])
def test_lava_sparse_equals_the_emulator_spike_for_spike(delays):
    from compiler.backends.lava.build import build_lava_network
    from compiler.backends.lava.runtime import import_lava

    import_lava()  # Lava's runtime first, whatever set the multiprocessing start method
    from lava.proc.sparse.process import DelaySparse, Sparse

    fixed = masked(random_two_split(seed=4, n=30), 0.2, seed=4)
    if delays == "per-synapse":
        fixed = with_delays(fixed, np.random.default_rng(1).integers(0, 11, (30, 30)))
    elif delays == "uniform":
        fixed = with_delays(fixed, np.full((30, 30), 3))
    sparse = sparse_fixed(fixed, uniform_delay=delays == "uniform")
    kind = Sparse if delays is None else DelaySparse
    net = build_lava_network(sparse, np.zeros(30, np.int64))
    assert all(type(c) is kind for c in net.connections)
    emulated = compiler.emulate(sparse, 150, seed=3, record=True, allow_unstable=True)
    assert emulated.counts.sum() > 50
    lava = compiler.run_lava(sparse, 150, seed=3, record=True)
    assert lava.provenance["connectivity"] == "sparse"
    np.testing.assert_array_equal(lava.raster, emulated.raster)
    np.testing.assert_array_equal(lava.counts, emulated.counts)


def test_lava_connectivity_of_sparse_networks():
    from compiler.backends.lava.checks import resolve_connectivity, weight_density

    fixed = masked(random_two_split(seed=4, n=30), 0.2, seed=4)
    sparse = sparse_fixed(fixed)
    assert weight_density(sparse) == pytest.approx(weight_density(fixed))
    assert resolve_connectivity(sparse) == "sparse"
    assert resolve_connectivity(sparse_fixed(with_delays(fixed, np.ones((30, 30), int)))) == "sparse"
    with pytest.raises(ValueError, match="sparse"):
        resolve_connectivity(sparse, "dense")


# ------------------------------------------------------------------ NIR
def test_nir_export_of_a_sparse_network_and_its_size_limit():
    from compiler.deploy.nir_export import NIR_DENSE_LIMIT, to_nir_graph

    net = float_network(n=40, seed=1, delay=2e-4)
    dense, sparse = to_nir_graph(net), to_nir_graph(sparse_float(net))
    np.testing.assert_array_equal(sparse.nodes["rec"].weight, dense.nodes["rec"].weight)
    np.testing.assert_array_equal(sparse.nodes["delay"].delay, dense.nodes["delay"].delay)
    n = int((NIR_DENSE_LIMIT / 8) ** 0.5) + 1
    w = sp.diags([-0.01, -0.01], [1, -1], shape=(n, n), format="csr")  # a ring
    try:
        big = IFNetwork(weights=w, bias=np.ones(n), reset=np.ones(n))
    except Exception:  # noqa: BLE001
        pytest.skip("IFNetwork does not take CSR weights yet")
    with pytest.raises(ValueError, match=r"5793 x 5793 float64 matrix of 256 MiB"):
        to_nir_graph(big)
