"""Sparse networks through the compiler: the same network compiled from its dense and its
sparse (CSR) form gives identical integers; nothing is densified on the way."""
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

import compiler
from compiler import FixedPointNetwork, IFNetwork
from compiler.frontend.fold import fold
from compiler.quantization.validate import FixedPointError


def pair(n=100, signs=False, seed=0, excite=0.0, delay=0.0, per_synapse_delay=False, beta=0.1, **kw):
    """(dense, sparse) forms of J = -(U^T U) - beta I with the diagonal folded into the
    reset depth (U: 3 non-zeros per column, M = N / 5)."""
    rng = np.random.default_rng(seed)
    m = max(n // 5, 4)
    rows = np.concatenate([rng.choice(m, 3, replace=False) for _ in range(n)])
    vals = rng.uniform(0.5, 1.5, 3 * n) * (rng.choice([-1.0, 1.0], 3 * n) if signs else 1.0)
    u = sp.csc_matrix((vals, (rows, np.repeat(np.arange(n), 3))), shape=(m, n))
    j = (u.T @ u).tocsr()
    w = (sp.diags(j.diagonal()) - j).tocsr()
    if excite:
        w = w + excite * sp.random(n, n, density=0.02, random_state=seed, format="csr")
        w = (w - sp.diags(w.diagonal())).tocsr()
    w.eliminate_zeros()
    bias = np.maximum(u.T @ (rng.random(m) < 0.2).astype(float), 0.0) * 40 + rng.uniform(2, 8, n)
    reset = j.diagonal() + beta
    if per_synapse_delay:
        dl = w.copy()
        dl.data = rng.integers(1, 6, dl.nnz) * 1e-4
        dense_delay, sparse_delay = dl.toarray(), dl
    else:
        dense_delay = sparse_delay = delay
    common = dict(bias=bias, reset=reset, **kw)
    return (IFNetwork(weights=w.toarray(), delay=dense_delay, **common),
            IFNetwork(weights=w, delay=sparse_delay, **common))


def compile_both(dense, sparse, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", compiler.QuantizationWarning)
        return compiler.compile(dense, **kw), compiler.compile(sparse, **kw)


def assert_same_integers(fd, fs):
    assert fs.is_sparse and not fd.is_sparse
    assert fd.n_splits == fs.n_splits
    assert fd.weight_exps == fs.weight_exps
    pattern = fs.weights[0]
    for wd, ws in zip(fd.weights, fs.weights):
        assert sp.isspmatrix_csr(ws) and np.issubdtype(ws.dtype, np.integer) and ws.dtype.itemsize <= 2
        assert ws.indptr is pattern.indptr or np.array_equal(ws.indptr, pattern.indptr)
        assert np.array_equal(ws.indices, pattern.indices)
        np.testing.assert_array_equal(ws.toarray(), wd)
    np.testing.assert_array_equal(fd.bias_mant, fs.bias_mant)
    np.testing.assert_array_equal(fd.bias_exp, fs.bias_exp)
    assert (fd.vth, fd.du, fd.dv) == (fs.vth, fs.du, fs.dv)
    if fd.delays is None:
        assert fs.delays is None
    else:
        used = np.abs(fd.info["targets"]["weights"]) > 0
        sparse_delays = (fs.delays.toarray() if sp.issparse(fs.delays)
                         else np.full(fd.delays.shape, int(fs.delays)))
        np.testing.assert_array_equal(sparse_delays[used], fd.delays[used])
    assert fd.info["splits"]["candidates"] == fs.info["splits"]["candidates"]
    assert fd.info["clipped"] == fs.info["clipped"]


# ------------------------------------------------------------------ IFNetwork
def test_sparse_network_is_validated_and_canonical():
    w = sp.coo_matrix(([-0.5, -0.25, 0.0, -0.1], ([0, 0, 1, 2], [1, 1, 0, 0])), shape=(3, 3))
    net = IFNetwork(weights=w, bias=np.ones(3), reset=np.ones(3))
    assert net.is_sparse and sp.isspmatrix_csr(net.weights) and net.weights.dtype == np.float64
    assert net.weights.has_canonical_format and net.weights.nnz == 2  # duplicates summed, zero dropped
    assert net.weights[0, 1] == -0.75 and net.nnz == 2
    assert not IFNetwork(weights=w.toarray(), bias=np.ones(3), reset=np.ones(3)).is_sparse
    with pytest.raises(ValueError, match="zero diagonal"):
        IFNetwork(weights=sp.eye(3, format="csr"), bias=np.ones(3), reset=np.ones(3))
    with pytest.raises(ValueError, match="finite"):
        IFNetwork(weights=sp.csr_matrix(([np.nan], ([0], [1])), shape=(3, 3)), bias=np.ones(3), reset=np.ones(3))
    with pytest.raises(ValueError, match="square"):
        IFNetwork(weights=sp.csr_matrix((3, 4)), bias=np.ones(3), reset=np.ones(3))
    with pytest.raises(ValueError, match="pattern"):
        IFNetwork(weights=w, bias=np.ones(3), reset=np.ones(3), delay=sp.csr_matrix(([1e-3], ([2], [1])), shape=(3, 3)))
    with pytest.raises(ValueError, match="scalar or a CSR"):
        IFNetwork(weights=w, bias=np.ones(3), reset=np.ones(3), delay=np.zeros((3, 3)))
    with pytest.raises(ValueError, match="sparse weights"):
        IFNetwork(weights=w.toarray(), bias=np.ones(3), reset=np.ones(3), delay=net.delays)
    assert sp.issparse(net.delays) and net.delays.nnz == 2
    assert sp.issparse(net.symmetric_part()) and sp.issparse(fold(net).weights)


def test_fold_and_rate_model_agree_with_dense():
    for kw in ({}, {"signs": True}, {"leak_tau": 0.02}):
        dense, sparse = pair(n=150, **kw)
        fd, fs = fold(dense), fold(sparse)
        np.testing.assert_array_equal(fs.weights.toarray(), fd.weights)
        rd, rs = compiler.rate_model(fd), compiler.rate_model(fs)
        assert rs.converged and rs.method.startswith("gauss-seidel")
        scale = max(1.0, float(rd.rates.max()))
        assert np.max(np.abs(rd.rates - rs.rates)) < 1e-8 * scale


def test_stability_verdicts_of_sparse_networks():
    dense, sparse = pair(n=120)
    v = sparse.stability()
    assert v.stable and "M-matrix" in v.method  # all-inhibitory: a proof in O(nnz)
    dense, sparse = pair(n=120, signs=True)
    v = sparse.stability()
    assert v.stable and dense.is_stable() and "Lanczos" in v.method
    dense, sparse = pair(n=120, signs=True, excite=3.0, beta=-0.5)
    assert not dense.is_stable() and not sparse.is_stable()
    with pytest.raises(ValueError, match="unstable"):
        compiler.compile(sparse)
    assert abs(sparse.max_symmetric_eigenvalue() - dense.max_symmetric_eigenvalue()) < 1e-8
    w = sp.random(150, 150, density=0.05, random_state=1, format="csr") * 0.1  # weak excitation
    w = (w - sp.diags(w.diagonal())).tocsr()
    net = IFNetwork(weights=w, bias=np.ones(150), reset=np.ones(150))
    v = net.stability()
    assert v.stable and "M-matrix" in v.method
    strong = IFNetwork(weights=w * 40, bias=np.ones(150), reset=np.ones(150))
    assert not strong.is_stable()
    assert not IFNetwork(weights=w.toarray() * 40, bias=np.ones(150), reset=np.ones(150)).is_stable()


# ------------------------------------------------------------------ compile
CASES = [dict(), dict(signs=True), dict(signs=True, leak_tau=0.03), dict(delay=3e-4),
         dict(signs=True, per_synapse_delay=True), dict(reset_mode="hard", tau_syn=0.0),
         dict(threshold=1.5, seed=2)]


@pytest.mark.parametrize("case", CASES, ids=[",".join(f"{k}={v}" for k, v in c.items()) or "tuned" for c in CASES])
def test_dense_and_sparse_compile_to_identical_integers(case):
    dense, sparse = pair(n=90, **case)
    fd, fs = compile_both(dense, sparse)
    assert_same_integers(fd, fs)
    assert not any(isinstance(v, np.ndarray) and v.ndim == 2 for section in fs.info.values()
                   if isinstance(section, dict) for v in section.values())


@pytest.mark.parametrize("splits", [1, 2, 3, 4])
def test_identical_integers_for_each_split_count(splits):
    dense, sparse = pair(n=70, signs=True, seed=splits)
    fd, fs = compile_both(dense, sparse, weight_splits=splits, operating_rates=None)
    assert fs.n_splits == splits
    assert_same_integers(fd, fs)


def test_uniform_delay_stays_a_scalar():
    fixed = compile_both(*pair(n=60, delay=5e-4))[1]
    assert isinstance(fixed.delays, int) and fixed.delays == 4 and fixed.max_delay == 4
    assert isinstance(fixed.info["targets"]["delay_steps"], float)
    assert compiler.effective_network(fixed).delay == pytest.approx(5e-4)


def test_effective_network_and_report_of_sparse_networks():
    fd, fs = compile_both(*pair(n=80, signs=True, per_synapse_delay=True))
    ed, es = compiler.effective_network(fd), compiler.effective_network(fs)
    assert es.is_sparse
    np.testing.assert_array_equal(es.weights.toarray(), ed.weights)
    np.testing.assert_allclose(es.bias, ed.bias, rtol=1e-3)  # minus float corrections at ~equal rates
    np.testing.assert_array_equal(compiler.effective_network(fs, include_corrections=True).bias,
                                  compiler.effective_network(fd, include_corrections=True).bias)
    used = ed.weights != 0
    np.testing.assert_array_equal(es.delays.toarray()[used], np.asarray(ed.delays)[used])
    assert sp.issparse(compiler.effective_input(fs))
    rd, rs = compiler.quantization_report(fd), compiler.quantization_report(fs)
    for group in ("weights", "bias"):
        for key in ("count", "max_rel_error", "zeroed", "target_range", "effective_range"):
            if key in rd[group]:
                assert rs[group][key] == pytest.approx(rd[group][key], rel=1e-12), (group, key)
    assert rs["delays"]["count"] == rd["delays"]["count"]
    assert rs["delays"]["max_abs_error_steps"] == rd["delays"]["max_abs_error_steps"]
    assert rs["cost"]["synapses"] == rd["cost"]["synapses"]
    assert "weights" in str(rs)
    assert compiler.check_stable(fs).stable


def test_save_and_load_sparse(tmp_path):
    for case in (dict(), dict(delay=3e-4), dict(per_synapse_delay=True, signs=True)):
        fixed = compile_both(*pair(n=60, **case))[1]
        path = tmp_path / "net.npz"
        fixed.save(path)
        back = compiler.load(path)
        assert back.is_sparse and back.n_splits == fixed.n_splits
        for a, b in zip(fixed.split_data(), back.split_data()):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(back.weights[0].indices, fixed.weights[0].indices)
        if sp.issparse(fixed.delays):
            np.testing.assert_array_equal(back.delays.toarray(), fixed.delays.toarray())
        else:
            assert back.delays == fixed.delays
        assert sp.issparse(back.info["targets"]["weights"])
        np.testing.assert_array_equal(back.bias_mant, fixed.bias_mant)
        with np.load(path) as contents:
            assert "weights_indptr" in contents and contents["weights_0"].ndim == 1
    dense = compile_both(*pair(n=30))[0]  # dense files keep format version 1
    dense.save(tmp_path / "dense.npz")
    import json
    with np.load(tmp_path / "dense.npz") as contents:
        assert json.loads(str(contents["header"]))["format_version"] == 1
    assert not compiler.load(tmp_path / "dense.npz").is_sparse


def test_validation_of_sparse_fields():
    fixed = compile_both(*pair(n=50))[1]
    w0 = fixed.weights[0]
    fields = dict(weight_exps=fixed.weight_exps, bias_mant=fixed.bias_mant, bias_exp=fixed.bias_exp,
                  vth=fixed.vth, du=fixed.du, dv=fixed.dv, dt=fixed.dt, info=fixed.info)
    other = w0.copy()
    other = sp.csr_matrix(other.toarray() + np.eye(50, k=1) * 2)  # another pattern
    if fixed.n_splits > 1:
        with pytest.raises(FixedPointError, match="pattern"):
            FixedPointNetwork(weights=(w0,) + (other,) * (fixed.n_splits - 1), **fields)
    big = w0.copy()
    big.data = big.data.astype(np.int64)
    big.data[0] = 10 ** 6
    with pytest.raises(FixedPointError, match="weights\\[0\\]"):
        FixedPointNetwork(weights=(big,) + fixed.weights[1:], **fields)
    with pytest.raises(FixedPointError, match="delays"):
        FixedPointNetwork(weights=fixed.weights, delays=sp.csr_matrix(np.eye(50, dtype=int)), **fields)
    with pytest.raises(FixedPointError, match="integer or a CSR"):
        FixedPointNetwork(weights=fixed.weights, delays=np.zeros((50, 50), int), **fields)
    assert fixed.split_data().shape == (fixed.n_splits, w0.nnz)


def test_emulate_sparse_matches_dense():
    fd, fs = compile_both(*pair(n=60, delay=3e-4))
    a, b = compiler.emulate(fd, 200, seed=1), compiler.emulate(fs, 200, seed=1)
    np.testing.assert_array_equal(np.asarray(a.counts), np.asarray(b.counts))
