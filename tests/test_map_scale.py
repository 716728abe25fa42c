"""Sparse problems and the MAP at scale: sparse features, the working-set solver and its
certificate, the sparse task generator and the sparse network builder (small N only)."""
import numpy as np
import pytest
import scipy.optimize
import scipy.sparse as sps

import lava_causal.certificate as certificate_module
import lava_causal.map_solver as map_solver_module
from lava_causal import tasks
from lava_causal.network import build_network, sparse_weights
from lava_causal.problem import CausalProblem, MapNotCertified


def sparse_features(rng, m, n, per_col=3, signed=False):
    """An (m, n) CSC matrix with ``per_col`` non-zeros per column (distinct rows)."""
    rows = np.concatenate([rng.choice(m, per_col, replace=False) for _ in range(n)])
    vals = rng.normal(size=n * per_col) if signed else rng.uniform(0.2, 1.0, n * per_col)
    return sps.csc_matrix((vals, rows, np.arange(0, n * per_col + 1, per_col)), shape=(m, n))


def pair(u, mu, **kw):
    """The same problem with sparse and with dense features."""
    return CausalProblem(u, mu, **kw), CausalProblem(u.toarray(), mu, **kw)


def truth(p):
    """The MAP by scipy's NNLS on the stacked system (beta > 0, or alpha = beta = 0), else None."""
    u, mu = p.features.toarray() / p.sigma, p.observation / p.sigma
    if p.beta > 0:
        a = np.vstack([u, np.sqrt(p.beta) * np.eye(p.n_causes)])
        y = np.concatenate([mu, np.full(p.n_causes, -p.alpha / np.sqrt(p.beta))])
        return scipy.optimize.nnls(a, y, maxiter=50 * p.n_causes)[0]
    if p.alpha == 0:
        return scipy.optimize.nnls(u, mu, maxiter=50 * p.n_causes)[0]
    return None


CASES = [  # (m, n, alpha, beta, signed)
    (40, 60, 1.0, 0.0, False),      # overcomplete, L1
    (80, 50, 0.5, 0.0, True),       # tall, L1, mixed signs
    (40, 60, 0.0, 0.5, True),       # L2
    (40, 60, 1.0, 1.0, False),      # both
    (90, 40, 0.0, 0.0, True),       # no prior, full column rank
    (90, 40, 0.0, 0.0, False),
]


@pytest.mark.parametrize("scale", [1e-6, 1.0, 1e6])
@pytest.mark.parametrize("m, n, alpha, beta, signed", CASES)
def test_sparse_map_agrees_with_dense_solver_and_nnls(m, n, alpha, beta, signed, scale):
    rng = np.random.default_rng(hash((m, n, alpha, beta, signed)) % 2**32)
    u = sparse_features(rng, m, n, signed=signed)
    r_true = 10 * rng.random(n) * (rng.random(n) < 0.3)
    mu = scale * (u @ r_true + rng.normal(size=m))
    ps, pd = pair(u, mu, alpha=scale * alpha, beta=beta, sigma=2.0)
    rs, rd = ps.map_estimate(), pd.map_estimate()
    cs, cd = ps.map_certificate(), pd.map_certificate()
    assert cs.method == "working-set" and cs.certified and cd.certified
    assert cs.kkt_residual <= 1e-9 and abs(cs.duality_gap) <= 1e-10
    assert abs(cs.objective - cd.objective) <= 1e-8 * abs(cd.objective)
    ref = truth(ps)
    if ref is not None:
        assert abs(ps.objective(ref) - cs.objective) <= 1e-8 * abs(cs.objective)
    assert cs.unique is True and cd.unique is True
    np.testing.assert_allclose(rs, rd, rtol=0, atol=1e-9 * np.abs(rd).max())
    assert (cs.n_active, cs.active_rank) == (cd.n_active, cd.active_rank)
    np.testing.assert_allclose(cs.active_condition, cd.active_condition, rtol=1e-6)


@pytest.mark.parametrize("m, n, alpha, beta, signed", CASES)
def test_working_set_on_large_dense_problems(monkeypatch, m, n, alpha, beta, signed):
    """Dense problems above DENSE_PATH_LIMIT take the working-set path; same MAP as the
    dense paths."""
    rng = np.random.default_rng(7)
    u = rng.normal(size=(m, n)) if signed else rng.random((m, n))
    mu = u @ (5 * rng.random(n) * (rng.random(n) < 0.3)) + rng.normal(size=m)
    p_small = CausalProblem(u, mu, alpha=alpha, beta=beta)
    r_ref = p_small.map_estimate()
    monkeypatch.setattr(map_solver_module, "DENSE_PATH_LIMIT", 10)
    p_big = CausalProblem(u, mu, alpha=alpha, beta=beta)
    r = p_big.map_estimate()
    cert = p_big.map_certificate()
    assert cert.method == "working-set" and cert.certified
    assert abs(cert.objective - p_small.map_certificate().objective) <= 1e-8 * abs(cert.objective)
    np.testing.assert_allclose(r, r_ref, rtol=0, atol=1e-8 * np.abs(r_ref).max())


def test_sparse_methods_match_dense():
    rng = np.random.default_rng(3)
    u = sparse_features(rng, 30, 50, signed=True)
    ps, pd = pair(u, rng.normal(size=30), alpha=0.3, beta=0.2, sigma=0.7)
    assert ps.is_sparse and not pd.is_sparse
    assert isinstance(ps.features, sps.csc_matrix) and ps.features.dtype == np.float64
    r = np.abs(rng.normal(size=50))
    assert ps.objective(r) == pytest.approx(pd.objective(r), rel=1e-14)
    np.testing.assert_allclose(ps.gradient(r), pd.gradient(r), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ps.drive, pd.drive, rtol=1e-13, atol=1e-13)
    assert sps.issparse(ps.coupling)
    np.testing.assert_allclose(ps.coupling.toarray(), pd.coupling, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(pd.gradient(r), -(pd.coupling @ r + pd.drive), rtol=1e-10, atol=1e-10)
    assert ps.kkt_residual(r) == pytest.approx(pd.kkt_residual(r), rel=1e-10)
    cs, cd = ps.map_certificate(r), pd.map_certificate(r)
    assert cs.duality_gap == pytest.approx(cd.duality_gap, rel=1e-8)
    assert cs.n_active == cd.n_active == 50


def test_sparse_features_are_validated_and_canonical():
    u = sps.csr_matrix(np.array([[1.0, 0.0, 2.0], [0.0, 3.0, 0.0]]))
    p = CausalProblem(u, [1.0, 2.0])
    assert isinstance(p.features, sps.csc_matrix) and p.features.has_canonical_format
    with pytest.raises(ValueError):
        p.features.data[0] = 5.0        # read-only
    bad = u.copy()
    bad.data[1] = np.nan
    with pytest.raises(ValueError, match="finite"):
        CausalProblem(bad, [1.0, 2.0])
    with pytest.raises(ValueError, match="complex"):
        CausalProblem(u.astype(complex), [1.0, 2.0])
    with pytest.raises(ValueError, match="shape"):
        CausalProblem(u, [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="non-empty"):
        CausalProblem(sps.csc_matrix((2, 0)), [1.0, 2.0])
    zero_col = sps.csc_matrix(np.array([[1.0, 0.0], [2.0, 0.0]]))
    with pytest.raises(ValueError, match="all-zero column"):
        CausalProblem(zero_col, [1.0, 2.0])
    p = CausalProblem(zero_col, [1.0, 2.0], alpha=1.0)
    assert p.map_estimate()[1] == 0.0 and p.map_certificate().certified


def test_sparse_problem_file_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    p = CausalProblem(sparse_features(rng, 20, 30), rng.random(20), alpha=0.5, beta=0.1, sigma=2.0)
    path = tmp_path / "p.npz"
    p.save(path)
    with np.load(path) as f:
        assert "features" not in f.files and "features_data" in f.files
    q = CausalProblem.load(path)
    assert q.is_sparse and (q.features != p.features).nnz == 0
    assert (q.alpha, q.beta, q.sigma) == (0.5, 0.1, 2.0)
    np.testing.assert_array_equal(q.map_estimate(), p.map_estimate())
    # dense problems are unchanged
    d = CausalProblem(p.features.toarray(), p.observation)
    d.save(tmp_path / "d.npz")
    assert not CausalProblem.load(tmp_path / "d.npz").is_sparse


@pytest.mark.parametrize("member, value, match", [
    ("features_indptr", lambda u: u.indptr[::-1].copy(), "indptr"),
    ("features_indices", lambda u: u.indices + 100, "row indices"),
    ("features_shape", lambda u: np.array([20, -1]), "shape"),
    ("features_data", lambda u: u.data[:-1], "indptr ends"),
])
def test_corrupt_sparse_problem_files_are_refused(tmp_path, member, value, match):
    rng = np.random.default_rng(2)
    u = sparse_features(rng, 20, 30)
    arrays = dict(features_data=u.data, features_indices=u.indices, features_indptr=u.indptr,
                  features_shape=np.array(u.shape), observation=rng.random(20))
    arrays[member] = value(u)
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match=match):
        CausalProblem.load(tmp_path / "bad.npz")
    del arrays[member]
    np.savez(tmp_path / "partial.npz", **arrays)
    with pytest.raises(ValueError, match="lacks"):
        CausalProblem.load(tmp_path / "partial.npz")


def test_certificate_parts_beyond_the_dense_limit_are_not_computed(monkeypatch):
    rng = np.random.default_rng(4)
    u = sparse_features(rng, 40, 60)
    mu = u @ (5 * rng.random(60)) + 0.1 * rng.random(40)
    for beta in (0.0, 0.3):
        p = CausalProblem(u, mu, alpha=0.1, beta=beta)
        full = p.map_certificate()
        assert full.n_active > 3 and full.note == ""
        monkeypatch.setattr(certificate_module, "ACTIVE_DENSE_LIMIT", 3)
        cert = p.map_certificate(p.map_estimate())
        monkeypatch.undo()
        assert cert.certified and cert.active_rank == -1 and np.isnan(cert.active_condition)
        assert cert.unique is (True if beta > 0 else None)
        assert "ACTIVE_DENSE_LIMIT" in cert.note and "not computed" in cert.summary()


def test_sparse_uniqueness_matches_dense_on_degenerate_problem():
    """Duplicate causes with alpha = beta = 0: not unique, sparse as dense."""
    rng = np.random.default_rng(5)
    base = sparse_features(rng, 30, 10, signed=True)
    u = sps.hstack([base, base[:, :3]]).tocsc()
    mu = base @ (1 + rng.random(10))
    ps, pd = pair(u, mu)
    cs, cd = ps.map_certificate(), pd.map_certificate()
    assert cs.certified and cd.certified
    assert cs.unique is False and cd.unique is False
    np.testing.assert_allclose(ps.features @ ps.map_estimate(), pd.features @ pd.map_estimate(),
                               rtol=0, atol=1e-9 * np.linalg.norm(mu))


def test_uncertified_sparse_estimate_raises(monkeypatch):
    rng = np.random.default_rng(6)
    u = sparse_features(rng, 30, 40)
    good = map_solver_module._working_set
    monkeypatch.setattr(map_solver_module, "_working_set", lambda *a: good(*a) * (1 + 1e-3))
    p = CausalProblem(u, u @ (3 * rng.random(40)), alpha=0.2)
    with pytest.raises(MapNotCertified) as err:
        p.map_estimate()
    assert err.value.certificate.method == "working-set" and not err.value.certificate.certified


def test_sparse_causes_generator():
    p = tasks.sparse_causes(500, per_cause=3, active=20, seed=1)
    u = p.features
    assert p.is_sparse and u.shape == (100, 500) and u.nnz == 1500
    assert np.all(np.diff(u.indptr) == 3) and np.all(u.data > 0)
    assert np.all(np.diff(u.indices.reshape(500, 3), axis=1) > 0)     # distinct, sorted rows
    np.testing.assert_allclose(certificate_module.column_norms(u), 1.0, rtol=1e-14)
    q = tasks.sparse_causes(500, per_cause=3, active=20, seed=1)
    assert (q.features != u).nnz == 0 and np.array_equal(q.observation, p.observation)
    cert = p.map_certificate()
    assert cert.certified and cert.method == "working-set" and 0 < cert.n_active <= 40
    noisy = tasks.sparse_causes(300, m=80, per_cause=4, active=10, seed=2, noise=0.01, beta=0.5)
    assert noisy.features.shape == (80, 300) and noisy.map_certificate().certified
    with pytest.raises(ValueError):
        tasks.sparse_causes(10, m=2, per_cause=3)


@pytest.mark.parametrize("beta, sigma", [(0.0, 1.0), (0.4, 0.5)])
def test_sparse_network_weights_equal_dense(beta, sigma):
    rng = np.random.default_rng(8)
    u = sparse_features(rng, 40, 120, signed=True)
    ps, pd = pair(u, rng.random(40), alpha=0.2, beta=beta, sigma=sigma)
    w, reset = sparse_weights(ps)
    assert isinstance(w, sps.csr_matrix) and w.dtype == np.float64
    assert w.has_canonical_format and np.all(w.data != 0) and np.all(w.diagonal() == 0)
    dense = build_network(pd)
    np.testing.assert_allclose(w.toarray(), dense.weights, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(reset, dense.reset, rtol=1e-14)
    net = build_network(ps)
    assert sps.issparse(net.weights)
    np.testing.assert_allclose(net.weights.toarray(), dense.weights, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(net.bias, dense.bias, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(net.reset, dense.reset, rtol=1e-14)


def test_mistune_keeps_a_sparse_network_sparse():
    from lava_causal.network import mistune
    net = build_network(tasks.sparse_causes(200, active=5, seed=3))
    out = mistune(net, -0.01, 0.0, seed=1)
    assert sps.issparse(out.weights) and out.weights.nnz == net.weights.nnz
    assert np.all(out.reset >= net.reset) and np.all(out.reset > 0)
    assert np.all(np.abs((out.weights - net.weights).data) <= 0.01)


@pytest.mark.parametrize("beta", [0.0, 0.2])
def test_active_condition_of_disconnected_blocks_matches_dense(beta):
    """Causes in separate input blocks: the sparse certificate factors each block alone."""
    rng = np.random.default_rng(9)
    u = sps.block_diag([sparse_features(rng, 12, 8, signed=True) * s for s in (1.0, 30.0, 0.01)]).tocsc()
    r = np.abs(rng.normal(size=24)) + 0.1
    ps, pd = pair(u, u @ r + 0.01 * rng.normal(size=36), beta=beta)
    cs, cd = ps.map_certificate(r), pd.map_certificate(r)
    assert cs.n_active == cd.n_active == 24 and cs.active_rank == cd.active_rank
    np.testing.assert_allclose(cs.active_condition, cd.active_condition, rtol=1e-8)
    assert ps.map_certificate().certified and ps.map_certificate().unique is True


def test_sparse_causes_window_gives_local_features():
    """With ``window`` every cause's inputs lie within the window around its centre
    (cyclically), so the coupling graph is a band; without it they are anywhere."""
    n, window = 2000, 12
    problem = tasks.sparse_causes(n, window=window, seed=3)
    u = problem.features.tocsc()
    m = problem.n_inputs
    centre = np.arange(n) * m // n - window // 2
    for i in range(n):
        offsets = (u.indices[u.indptr[i]:u.indptr[i + 1]] - centre[i]) % m
        assert offsets.size == 3 and offsets.max() < window
    gram = (u.T @ u).tocoo()
    band = np.abs(gram.row - gram.col)
    band = np.minimum(band, n - band)  # cyclic
    assert band.max() <= window * n // m + n // m
    with pytest.raises(ValueError, match="window"):
        tasks.sparse_causes(100, window=2)
