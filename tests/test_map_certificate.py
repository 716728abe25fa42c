"""CausalProblem.map_estimate / map_certificate: a certified exact MAP at any scaling and
conditioning.

Checked against solvers that share no code with lava_causal.problem: scipy's NNLS on the
SPEC's systems (section 1), a FISTA written here, Clarabel's interior point method (the
``dev`` extra), and a Lagrange dual lower bound computed here from its textbook formula
(weak duality: ``L(r') >= D(y)`` for every feasible ``r'``, so ``L(r) - D(y)`` bounds how
far ``r`` is from optimal without knowing the optimum).
"""
import numpy as np
import pytest
import scipy.linalg
import scipy.optimize

import lava_causal.certificate as certificate_module
import lava_causal.map_solver as map_solver_module
from lava_causal import CausalProblem, build_network, tasks
from lava_causal.problem import GAP_TOLERANCE, KKT_TOLERANCE, MapCertificate, MapNotCertified


# ------------------------------------------------------------ independent references
def fista(p, iterations=300_000, tol=1e-15):
    """FISTA with gradient-based restart (O'Donoghue & Candes 2015) on L(r), r >= 0.

    Scale-covariant: scaling (mu, alpha) by c scales every iterate by c."""
    u, mu = p.features / p.sigma, p.observation / p.sigma
    h = u.T @ u + p.beta * np.eye(p.n_causes)
    c = u.T @ mu - p.alpha
    step = 1.0 / np.linalg.eigvalsh(h)[-1]
    x = y = np.zeros(p.n_causes)
    t = 1.0
    for _ in range(iterations):
        x_new = np.maximum(y - step * (h @ y - c), 0.0)
        change = np.max(np.abs(x_new - x))
        if change <= tol * np.max(np.abs(x_new)) or not x_new.any() and not x.any():
            return x_new
        if (y - x_new) @ (x_new - x) > 0:       # momentum points uphill: restart
            t, y, x = 1.0, x_new, x_new
            continue
        t_new = 0.5 * (1 + np.sqrt(1 + 4 * t * t))
        y = x_new + (t - 1) / t_new * (x_new - x)
        x, t = x_new, t_new
    return x


def clarabel_map(p):
    """Clarabel on min |z|^2/2 + alpha 1'r + beta |r|^2/2 s.t. U r/sigma - z = mu/sigma,
    r >= 0 (the residual form keeps U's conditioning out of the quadratic term)."""
    clarabel = pytest.importorskip("clarabel")
    import scipy.sparse as sp

    m, n = p.features.shape
    P = sp.block_diag([p.beta * sp.eye(n), sp.eye(m)], format="csc")
    q = np.concatenate([p.alpha * np.ones(n), np.zeros(m)])
    A = sp.vstack([sp.hstack([sp.csc_matrix(p.features / p.sigma), -sp.eye(m)]),
                   sp.hstack([-sp.eye(n), sp.csc_matrix((n, m))])], format="csc")
    b = np.concatenate([p.observation / p.sigma, np.zeros(n)])
    settings = clarabel.DefaultSettings()
    settings.verbose = False
    settings.tol_gap_abs = settings.tol_gap_rel = settings.tol_feas = 1e-12
    settings.tol_ktratio = 1e-10
    settings.max_iter = 500
    cones = [clarabel.ZeroConeT(m), clarabel.NonnegativeConeT(n)]
    sol = clarabel.DefaultSolver(P, q, A, b, cones, settings).solve()
    assert "Solved" in str(sol.status), sol.status
    return np.maximum(np.array(sol.x[:n]), 0.0)


def dual_bound(p, r):
    """The Lagrange dual function D at y = U r/sigma - mu/sigma and at theta y, theta <= 1
    the largest with theta U^T y/sigma + alpha >= 0: the better of the finite values is a
    lower bound on min L, by weak duality."""
    u, mu = p.features / p.sigma, p.observation / p.sigma
    y = u @ r - mu

    def dual(z):
        v = u.T @ z + p.alpha
        if p.beta == 0:
            return -np.inf if np.any(v < 0) else -0.5 * z @ z - z @ mu
        return -0.5 * z @ z - z @ mu - np.sum(np.minimum(v, 0.0) ** 2) / (2 * p.beta)

    assert p.alpha > 0 or p.beta > 0, "no finite dual point to offer when alpha = beta = 0"
    candidates = [dual(y)] if p.beta > 0 else []
    if p.alpha > 0:
        worst = np.max(-(u.T @ y))
        theta = 1.0 if worst <= p.alpha else p.alpha / worst
        candidates.append(-0.5 * theta ** 2 * (y @ y) - theta * (y @ mu))   # v >= 0 there
    return max(candidates)


def relative(a, b):
    return abs(a - b) / abs(b)


# ------------------------------------------------------------ problem families
def overcomplete_gaussian(seed=0, m=25, n=50, alpha=1.0, scale=1.0):
    """The N = 2M random problem of the scaling bug: U ~ N(0, 1), 3 true causes."""
    rng = np.random.default_rng(seed)
    u = rng.normal(size=(m, n))
    r = np.zeros(n)
    r[rng.choice(n, 3, replace=False)] = rng.uniform(1, 5, 3)
    mu = u @ r + 0.1 * rng.normal(size=m)
    return CausalProblem(u, scale * mu, alpha=scale * alpha)


def graded(seed=0, m=40, n=30, cond=1e8, alpha=1e-6, noise=0.0):
    """Full column rank, singular values log-spaced over ``cond``, unit columns, every cause
    active in the generating r: the MAP's active set is itself ill-conditioned."""
    rng = np.random.default_rng(seed)
    q1 = np.linalg.qr(rng.normal(size=(m, n)))[0]
    q2 = np.linalg.qr(rng.normal(size=(n, n)))[0]
    u = q1 @ np.diag(np.logspace(0, -np.log10(cond), n)) @ q2.T
    u /= np.linalg.norm(u, axis=0)
    mu = u @ rng.uniform(1, 2, n) + noise * rng.normal(size=m) / np.sqrt(m)
    return CausalProblem(u, mu, alpha=alpha)


def nearly_collinear(seed=0, m=30, n=20, alpha=0.5, eps=1e-8):
    """Column 1 = column 0 + eps * noise: full rank, cond(U) ~ 1/eps."""
    rng = np.random.default_rng(seed)
    u = rng.normal(size=(m, n))
    u[:, 1] = u[:, 0] + eps * rng.normal(size=m)
    r = np.zeros(n)
    r[[0, 1, 2, 5]] = [3.0, 2.0, 2.0, 1.0]
    return CausalProblem(u, u @ r + 0.05 * rng.normal(size=m), alpha=alpha)


PATHS = {
    # name: (m, n, alpha, beta, method)
    "beta>0": (30, 20, 0.5, 0.7, "nnls-stacked"),
    "beta>0, N>M": (10, 25, 0.3, 0.2, "nnls-stacked"),
    "alpha=beta=0": (30, 20, 0.0, 0.0, "nnls"),
    "alpha=beta=0, N>M": (10, 25, 0.0, 0.0, "nnls"),
    "alpha>0, full rank": (30, 20, 1.5, 0.0, "qr-nnls"),
    "alpha>0, N>M": (10, 25, 1.0, 0.0, "active-set"),
    "alpha>0, N=2M": (25, 50, 0.5, 0.0, "active-set"),
}


# ------------------------------------------------------------ the scaling bug
@pytest.mark.parametrize("scale", [1e-9, 1.0, 1e12])
def test_scaled_overcomplete_problem_matches_fista(scale):
    p = overcomplete_gaussian(scale=scale)
    r = p.map_estimate()
    cert = p.map_certificate()
    assert cert.certified and cert.method == "active-set"
    ref = fista(p)
    assert relative(p.objective(r), p.objective(ref)) <= 1e-8
    np.testing.assert_array_equal(np.flatnonzero(r > 0), np.flatnonzero(ref > 1e-9 * ref.max()))
    assert 1 <= cert.n_active <= 5
    # Exact equivalence: r(c mu, c alpha) = c r(mu, alpha).
    base = overcomplete_gaussian().map_estimate()
    np.testing.assert_allclose(r / scale, base, rtol=0, atol=1e-9 * base.max())


@pytest.mark.parametrize("scale", [1e-9, 1e12])
@pytest.mark.parametrize("path", list(PATHS))
def test_every_path_is_exact_at_any_scale(path, scale):
    m, n, alpha, beta, method = PATHS[path]
    base = tasks.random_problem(11, m=m, n=n, alpha=alpha, beta=beta)
    p = CausalProblem(base.features, scale * base.observation, alpha=scale * alpha, beta=beta)
    r = p.map_estimate()
    cert = p.map_certificate()
    assert cert.certified and cert.method == method
    r0 = base.map_estimate()
    np.testing.assert_allclose(p.features @ r / scale, base.features @ r0,
                               atol=1e-9 * np.linalg.norm(base.observation))
    energy = 0.5 * base.observation @ base.observation      # L(0), >= L(r*)
    assert abs(p.objective(r) / scale ** 2 - base.objective(r0)) <= 1e-10 * energy


# ------------------------------------------------------------ ill-conditioning
@pytest.mark.parametrize("case", [
    ("graded", dict(cond=1e8)), ("graded", dict(cond=1e8, seed=1)),
    ("graded", dict(cond=1e10)), ("graded", dict(cond=1e12)),
    ("graded", dict(cond=1e12, alpha=1e-3, noise=1e-3)),
    ("collinear", dict(eps=1e-8)), ("collinear", dict(eps=1e-8, seed=1)),
])
def test_ill_conditioned_full_rank_problem_is_exact(case):
    family, kwargs = case
    p = graded(**kwargs) if family == "graded" else nearly_collinear(**kwargs)
    # The case that defeated a Cholesky factor of U^T U (cond(L) = cond(U) > 1e7).
    assert np.linalg.cond(p.features) > 1e7
    r = p.map_estimate()
    cert = p.map_certificate()
    assert cert.certified
    ref = clarabel_map(p)
    # Never worse than the interior point method ...
    assert p.objective(r) <= p.objective(ref) * (1 + 1e-12)
    # ... and provably within 1e-8 of the optimum (dual bound computed here).
    assert p.objective(r) - dual_bound(p, r) <= 1e-8 * p.objective(r)
    assert p.objective(ref) >= dual_bound(p, r) - 1e-12 * p.objective(r)


def test_ill_conditioned_alpha_beta_zero_problem():
    """The mixture task (cond(U^T U) ~ 4e6) and a graded cond(U) = 1e8 problem via NNLS."""
    for p in (tasks.mixture(0), CausalProblem(graded(cond=1e8).features, graded(cond=1e8).observation)):
        r = p.map_estimate()
        cert = p.map_certificate()
        assert cert.certified and cert.method == "nnls"
        ref, _ = scipy.optimize.nnls(p.features, p.observation, maxiter=50 * p.n_causes)
        np.testing.assert_allclose(p.features @ r, p.features @ ref,
                                   atol=1e-9 * np.linalg.norm(p.observation))


# ------------------------------------------------------------ all paths vs independent solvers
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("path", list(PATHS))
def test_paths_match_independent_solvers(path, seed):
    m, n, alpha, beta, method = PATHS[path]
    p = tasks.random_problem(seed, m=m, n=n, alpha=alpha, beta=beta)
    r = p.map_estimate()
    cert = p.map_certificate()
    assert cert.method == method and cert.certified
    assert cert.kkt_residual <= KKT_TOLERANCE and abs(cert.duality_gap) <= GAP_TOLERANCE
    assert np.all(r >= 0)
    ref = fista(p)
    scale = 0.5 * p.observation @ p.observation
    assert p.objective(r) <= p.objective(ref) + 1e-12 * scale
    assert p.objective(ref) - p.objective(r) <= 1e-9 * scale
    if beta > 0 or n <= m:
        np.testing.assert_allclose(r, ref, atol=1e-6 * r.max())
    else:       # beta = 0, N > M: only U r* is unique
        np.testing.assert_allclose(p.features @ r, p.features @ ref,
                                   atol=1e-6 * np.linalg.norm(p.observation))
    # SPEC section 1's NNLS recipes, solved here from scratch, where they apply.
    u, mu = p.features, p.observation
    if beta > 0:
        spec, _ = scipy.optimize.nnls(np.vstack([u, np.sqrt(beta) * np.eye(n)]),
                                      np.concatenate([mu, -alpha / np.sqrt(beta) * np.ones(n)]))
    elif alpha == 0:
        spec, _ = scipy.optimize.nnls(u, mu)
    elif n <= m:
        chol = scipy.linalg.cholesky(u.T @ u, lower=True)
        spec, _ = scipy.optimize.nnls(chol.T, scipy.linalg.solve_triangular(chol, p.drive, lower=True))
    else:
        spec = None
    if spec is not None:
        assert relative(p.objective(r), p.objective(spec)) <= 1e-11 or \
            abs(p.objective(r) - p.objective(spec)) <= 1e-13 * scale
    if alpha > 0 or beta > 0:
        assert p.objective(r) - dual_bound(p, r) <= 1e-9 * scale


@pytest.mark.parametrize("name", ["discrimination", "approximation", "four_cause_mixture",
                                  "overcomplete", "cosine_basis"])
def test_paper_tasks_are_certified(name):
    p = tasks.TASKS[name](0)
    r = p.map_estimate()
    assert p.map_certificate().certified
    ref = clarabel_map(p)
    assert p.objective(r) <= p.objective(ref) + 1e-10 * 0.5 * p.observation @ p.observation


# ------------------------------------------------------------ zero features
@pytest.mark.parametrize("alpha, beta", [(0.0, 0.4), (0.7, 0.0), (0.7, 0.4)])
def test_zero_columns_allowed_when_the_map_is_defined(alpha, beta):
    base = tasks.random_problem(3, m=20, n=12, alpha=alpha, beta=beta)
    u = np.insert(base.features, [0, 5], 0.0, axis=1)        # causes 0 and 6 have no feature
    p = CausalProblem(u, base.observation, alpha=alpha, beta=beta)
    r = p.map_estimate()
    assert p.map_certificate().certified
    assert r[0] == 0 and r[6] == 0
    np.testing.assert_allclose(np.delete(r, [0, 6]), base.map_estimate(), rtol=1e-9, atol=1e-12)
    # A positive intensity on a zero feature is not optimal, and the certificate says so.
    wrong = r.copy()
    wrong[0] = r.max()
    assert not p.map_certificate(wrong).certified


def test_zero_columns_refused_when_the_map_is_undetermined():
    u = np.array([[1.0, 0.0], [1.0, 0.0]])
    with pytest.raises(ValueError, match=r"all-zero column.*\[1\].*undetermined"):
        CausalProblem(u, [1.0, 1.0])


def test_network_refuses_zero_reset_depth():
    u = np.array([[1.0, 0.0, 0.5], [1.0, 0.0, -0.5]])
    with pytest.raises(ValueError, match=r"cause\(s\) \[1\].*reset depth"):
        build_network(CausalProblem(u, [1.0, 1.0], alpha=0.5))
    net = build_network(CausalProblem(u, [1.0, 1.0], beta=0.5))     # beta > 0: depth beta
    assert net.reset[1] == pytest.approx(0.5)


# ------------------------------------------------------------ uniqueness
def test_duplicate_columns_make_the_map_not_unique():
    base = tasks.random_problem(4, m=30, n=10)
    assert base.map_certificate().unique
    active = int(np.argmax(base.map_estimate()))
    for alpha in (0.0, 0.5):
        u = np.column_stack([base.features, base.features[:, active]])
        p = CausalProblem(u, base.observation, alpha=alpha)
        r = p.map_estimate()
        cert = p.map_certificate()
        assert cert.certified and not cert.unique
        ref = CausalProblem(base.features, base.observation, alpha=alpha).map_estimate()
        np.testing.assert_allclose(u @ r, base.features @ ref, atol=1e-9 * np.linalg.norm(u @ r))
        assert r[active] + r[-1] == pytest.approx(ref[active], rel=1e-9)


def test_uniqueness_of_paper_tasks():
    assert tasks.discrimination(0).map_certificate().unique            # M = N, full rank
    assert not tasks.overcomplete(0, regularization="none").map_certificate().unique   # exact fit, N >> M
    assert tasks.overcomplete(0, regularization="l2").map_certificate().unique         # beta > 0


def test_active_set_rank_and_condition():
    p = tasks.random_problem(5, m=30, n=20, alpha=0.3)
    r = p.map_estimate()
    cert = p.map_certificate()
    s = r > 0
    assert cert.n_active == s.sum() == cert.active_rank
    gram = p.features[:, s].T @ p.features[:, s]
    assert cert.active_condition == pytest.approx(np.linalg.cond(gram), rel=1e-6)
    assert np.isfinite(p.map_certificate(np.ones(p.n_causes)).active_condition)
    # A rank-deficient active set: a duplicated column, both active.
    u = np.column_stack([p.features, p.features[:, 0]])
    q = CausalProblem(u, p.observation, alpha=0.3)
    both = np.append(r, 0.0)
    both[0], both[-1] = 0.5 * r[0] + 0.01, 0.5 * r[0] + 0.01
    cert = q.map_certificate(both)
    assert cert.active_rank == cert.n_active - 1 and np.isinf(cert.active_condition)
    assert not cert.unique


# ------------------------------------------------------------ the residuals
def _nonoptimal(p, seed=0):
    rng = np.random.default_rng(seed)
    return p.map_estimate() * (1 + 0.1 * rng.random(p.n_causes)) + 0.05 * rng.random(p.n_causes)


@pytest.mark.parametrize("c", [1e-9, 3.7, 1e12])
@pytest.mark.parametrize("alpha, beta", [(0.0, 0.0), (0.6, 0.0), (0.6, 0.3)])
def test_kkt_residual_and_gap_are_scale_invariant(c, alpha, beta):
    p = tasks.random_problem(6, m=15, n=25, alpha=alpha, beta=beta)
    r = _nonoptimal(p)
    q = CausalProblem(p.features, c * p.observation, alpha=c * alpha, beta=beta)
    a, b = p.map_certificate(r), q.map_certificate(c * r)
    assert a.kkt_residual > 1e-4 and a.duality_gap > 1e-4
    assert b.kkt_residual == pytest.approx(a.kkt_residual, rel=1e-10)
    assert b.duality_gap == pytest.approx(a.duality_gap, rel=1e-10)
    assert q.kkt_residual(c * r) == pytest.approx(p.kkt_residual(r), rel=1e-10)


def test_kkt_residual_and_gap_are_column_scale_invariant():
    """alpha = beta = 0: u_i -> k_i u_i, r_i -> r_i / k_i is the same problem."""
    p = tasks.random_problem(7, m=15, n=25)
    k = np.logspace(-6, 6, p.n_causes)
    q = CausalProblem(p.features * k, p.observation)
    r = _nonoptimal(p)
    a, b = p.map_certificate(r), q.map_certificate(r / k)
    assert b.kkt_residual == pytest.approx(a.kkt_residual, rel=1e-9)
    assert b.duality_gap == pytest.approx(a.duality_gap, rel=1e-9)
    assert q.map_certificate().certified
    np.testing.assert_allclose(q.features @ q.map_estimate(), p.features @ p.map_estimate(),
                               atol=1e-9 * np.linalg.norm(p.observation))


@pytest.mark.parametrize("path", list(PATHS))
def test_wrong_estimates_get_large_residuals(path):
    m, n, alpha, beta, _ = PATHS[path]
    p = tasks.random_problem(8, m=m, n=n, alpha=alpha, beta=beta)
    r = p.map_estimate()
    assert p.kkt_residual(r) <= KKT_TOLERANCE
    zero = p.map_certificate(np.zeros(n))
    assert zero.kkt_residual > 1e-3 and not zero.certified
    perturbed = p.map_certificate(r * (1 + 1e-4))
    assert not perturbed.certified
    assert perturbed.duality_gap > 1e-9 or perturbed.kkt_residual > 1e-6
    noisy = p.map_certificate(r + 1e-3 * r.max() * np.random.default_rng(0).random(n))
    # (with alpha = beta = 0 the gap is the complementarity r'grad L, which may be < 0)
    assert noisy.kkt_residual > 1e-6 and abs(noisy.duality_gap) > 1e-9
    negative = r.copy()
    negative[np.argmin(r)] = -1e-3 * r.max()
    cert = p.map_certificate(negative)
    assert cert.primal_infeasibility > 1e-6 and not cert.certified
    assert p.map_certificate(r).certified and p.map_certificate(r).method == "given"


@pytest.mark.parametrize("alpha, beta, m, n", [(0.5, 0.2, 20, 15), (0.5, 0.0, 20, 15),
                                               (0.5, 0.0, 10, 30), (2.0, 1e-3, 10, 30)])
def test_dual_bound_is_a_lower_bound_everywhere(alpha, beta, m, n):
    """Weak duality: the certificate's dual bound at ANY r >= 0 is <= L(r*)."""
    p = tasks.random_problem(9, m=m, n=n, alpha=alpha, beta=beta)
    best = p.objective(p.map_estimate())
    rng = np.random.default_rng(1)
    for _ in range(50):
        r = rng.random(n) * rng.choice([0.0, 1.0, 10.0]) * (rng.random(n) < 0.5)
        cert = p.map_certificate(r)
        assert cert.dual_bound <= best * (1 + 1e-12)
        assert cert.dual_bound == pytest.approx(dual_bound(p, r), rel=1e-9, abs=1e-9 * best)
        assert cert.duality_gap >= 0


# ------------------------------------------------------------ interface
def test_certificate_interface_and_caching():
    p = tasks.random_problem(10, m=12, n=30, alpha=0.4)
    cert = p.map_certificate()
    assert isinstance(cert, MapCertificate) and cert is p.map_certificate()
    with pytest.raises(AttributeError):
        cert.certified = False
    a = p.map_estimate()
    a[:] = -1.0
    assert np.all(p.map_estimate() >= 0)
    assert cert.kkt_tolerance == KKT_TOLERANCE and cert.gap_tolerance == GAP_TOLERANCE
    assert "certified" in cert.summary() and cert.failures() == []
    assert cert.objective == pytest.approx(p.objective(p.map_estimate()))


def test_trivial_problems():
    p = CausalProblem(np.eye(3), np.zeros(3))
    assert np.all(p.map_estimate() == 0) and p.map_certificate().method == "trivial"
    big_alpha = tasks.random_problem(0, m=10, n=20, alpha=1e6)
    assert np.all(big_alpha.map_estimate() == 0) and big_alpha.map_certificate().certified
    only_zero = CausalProblem(np.zeros((3, 2)), np.ones(3), alpha=1.0)
    assert np.all(only_zero.map_estimate() == 0) and only_zero.map_certificate().certified


def test_uncertified_estimate_raises_map_not_certified(monkeypatch):
    monkeypatch.setattr(certificate_module, "KKT_TOLERANCE", 1e-300)
    p = tasks.random_problem(12, m=20, n=10, alpha=0.2)
    with pytest.raises(MapNotCertified, match=r"KKT residual .* > tolerance 1e-300.*cond\(G_SS\)") as info:
        p.map_estimate()
    assert isinstance(info.value, ValueError)
    assert not info.value.certificate.certified and info.value.estimate.shape == (10,)
    assert len(str(info.value).splitlines()) == 1
    with pytest.raises(MapNotCertified):     # cached, raised again
        p.map_estimate()


# ------------------------------------------------------------ cond(G_SS) ~ 1e12, closed form
def full_support(seed=0, m=40, n=30, cond=1e6, alpha=1e-3):
    """U = Q diag(s) V^T with V's first column 1/sqrt(n) and s_1 = 1, mu = U r_true: then
    G^{-1} 1 = 1 and r* = r_true - alpha (all active), so cond(G_SS) = cond^2."""
    rng = np.random.default_rng(seed)
    q = np.linalg.qr(rng.normal(size=(m, n)))[0]
    v = np.linalg.qr(np.column_stack([np.ones(n), rng.normal(size=(n, n - 1))]))[0]
    u = q @ np.diag(np.logspace(0, -np.log10(cond), n)) @ v.T
    r_true = rng.uniform(1, 2, n)
    return CausalProblem(u, u @ r_true, alpha=alpha), r_true - alpha


@pytest.mark.parametrize("seed", [0, 1])
def test_closed_form_map_with_cond_1e12_active_set(seed):
    p, exact = full_support(seed)
    assert p.kkt_residual(exact) < 1e-14
    r = p.map_estimate()
    cert = p.map_certificate()
    assert cert.certified and cert.n_active == p.n_causes and cert.unique
    assert cert.active_condition == pytest.approx(1e12, rel=1e-3)
    np.testing.assert_allclose(r, exact, rtol=1e-6)
    assert p.objective(r) <= p.objective(exact) * (1 + 1e-13)
    # The same problem through the active-set method alone (as for a singular Gram).
    sp = map_solver_module._scaled_problem(p)
    alone = sp.to_r(map_solver_module._active_set(sp.A, sp.b, sp.a, sp.ridge))
    np.testing.assert_allclose(alone, exact, rtol=1e-6)
    assert p.map_certificate(alone).certified


def test_overcomplete_nearly_collinear_problem_via_active_set():
    p = nearly_collinear(m=15, n=20, alpha=0.2, eps=1e-9)
    r = p.map_estimate()
    cert = p.map_certificate()
    assert cert.certified and cert.method == "active-set"
    ref = clarabel_map(p)
    assert p.objective(r) <= p.objective(ref) * (1 + 1e-12)
    assert p.objective(r) - dual_bound(p, r) <= 1e-10 * p.objective(r)


def test_inaccurate_path_is_polished_by_the_active_set(monkeypatch):
    """An NNLS path whose estimate fails its certificate falls back to the active-set
    method, warm-started from that estimate."""
    good = map_solver_module._qr_nnls
    monkeypatch.setattr(map_solver_module, "_qr_nnls", lambda A, b, a: good(A, b, a) * (1 + 1e-3))
    p = tasks.random_problem(13, m=30, n=20, alpha=1.0)
    cert = p.map_certificate()
    assert cert.certified and cert.method == "qr-nnls+active-set"
    np.testing.assert_allclose(p.map_estimate(), fista(p), atol=1e-6 * p.map_estimate().max())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_active_set_from_a_rank_deficient_start(seed):
    """Warm-started with every cause passive (N > M: A_P rank-deficient, the subproblem
    unbounded along a null direction), the active-set method still reaches the MAP."""
    p = overcomplete_gaussian(seed, m=12, n=40, alpha=0.5)
    sp = map_solver_module._scaled_problem(p)
    start = np.random.default_rng(seed).uniform(0.5, 2.0, sp.A.shape[1])
    r = sp.to_r(map_solver_module._active_set(sp.A, sp.b, sp.a, sp.ridge, x0=start))
    assert p.map_certificate(r).certified
    assert relative(p.objective(r), p.objective(fista(p))) <= 1e-9


@pytest.mark.parametrize("scale", [2.0 ** -520, 2.0 ** 500])
def test_extreme_scales(scale):
    """(mu, alpha) scaled far beyond 1e-9..1e12: squares would under- or overflow."""
    base = overcomplete_gaussian()
    p = CausalProblem(base.features, scale * base.observation, alpha=scale * base.alpha)
    r = p.map_estimate()
    assert p.map_certificate().certified
    np.testing.assert_allclose(r / scale, base.map_estimate(), rtol=1e-9, atol=1e-12)


@pytest.mark.slow
@pytest.mark.parametrize("m, n, alpha, beta", [(600, 600, 0.5, 0.3), (100, 1000, 0.5, 0.0),
                                               (1000, 1000, 0.5, 0.0)])
def test_large_problems_are_certified(m, n, alpha, beta):
    """N = 600..1000 (the QR-reduced stacked NNLS, the active set, QR + NNLS)."""
    p = tasks.random_problem(14, m=m, n=n, alpha=alpha, beta=beta)
    r = p.map_estimate()
    assert p.map_certificate().certified
    assert p.objective(r) - dual_bound(p, r) <= 1e-10 * 0.5 * p.observation @ p.observation


def test_round_off_entries_do_not_count_as_active_causes():
    """NNLS leaves ~1e-16 entries in its passive set; they are zeros, not causes."""
    problem = tasks.discrimination(0)
    cert = problem.map_certificate()
    assert cert.certified and cert.n_active == 1 == int(np.count_nonzero(problem.map_estimate()))
