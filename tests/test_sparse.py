"""Lava ``Sparse`` connections: chosen for sparse weights, spike for spike with the emulator."""
import numpy as np
import pytest

import compiler
from compiler import IFNetwork
from compiler.backends.lava.build import build_lava_network
from compiler.backends.lava.checks import resolve_connectivity, weight_density


def sparse_network(n=60, density=0.08, seed=3, **kw):
    rng = np.random.default_rng(seed)
    w = np.where(rng.random((n, n)) < density, rng.normal(0, 0.4, (n, n)), 0.0)
    np.fill_diagonal(w, 0.0)
    return IFNetwork(weights=w, bias=rng.uniform(10, 60, n), reset=rng.uniform(0.8, 1.2, n), **kw)


@pytest.fixture(scope="module")
def fixed():
    return compiler.compile(sparse_network(), hw="loihi2", dt=1e-4, allow_unstable=True)  # random weights


@pytest.mark.filterwarnings("ignore::compiler.QuantizationWarning")
def test_auto_picks_sparse_only_for_sparse_weights(fixed):
    assert weight_density(fixed) < 0.25
    assert resolve_connectivity(fixed) == "sparse"
    dense = compiler.compile(sparse_network(density=0.9), hw="loihi2", dt=1e-4, allow_unstable=True)
    assert resolve_connectivity(dense) == "dense"
    delayed = compiler.compile(sparse_network(delay=2e-3), hw="loihi2", dt=1e-4, allow_unstable=True)
    assert resolve_connectivity(delayed) == "dense"  # dense weights with delays: DelayDense
    assert resolve_connectivity(delayed, "sparse") == "sparse"  # on request: DelaySparse
    with pytest.raises(ValueError, match="connectivity"):
        resolve_connectivity(fixed, "csr")


@pytest.mark.lava
def test_sparse_processes_are_built(fixed):
    from compiler.backends.lava.runtime import import_lava

    import_lava()  # safe after numba fixed the multiprocessing start method
    from lava.proc.sparse.process import Sparse

    net = build_lava_network(fixed, np.zeros(fixed.n, np.int64))
    assert net.connections and all(isinstance(c, Sparse) for c in net.connections)


@pytest.mark.lava
def test_sparse_and_dense_lava_match_the_emulator_spike_for_spike(fixed):
    steps = 2000
    emulated = compiler.emulate(fixed, steps, trials=2, seed=5, allow_unstable=True)
    assert emulated.counts.sum() > 200
    sparse = compiler.run_lava(fixed, steps, seed=5, trials=2, connectivity="sparse")
    dense = compiler.run_lava(fixed, steps, seed=5, trials=1, connectivity="dense")
    assert sparse.provenance["connectivity"] == "sparse"
    np.testing.assert_array_equal(sparse.counts, emulated.counts)
    np.testing.assert_array_equal(dense.counts, emulated.counts[:1])


@pytest.mark.lava
def test_sparse_rasters_identical_on_a_short_run(fixed):
    em = compiler.emulate(fixed, 120, seed=2, record=True, allow_unstable=True)
    lv = compiler.run_lava(fixed, 120, seed=2, record=True, connectivity="sparse")
    np.testing.assert_array_equal(lv.raster, em.raster)
