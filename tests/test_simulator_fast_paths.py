"""The simulator's paths (one step at a time, exact skipping, bound skipping), its
specialised deliveries (zero, uniform and per-synapse delays) and the counter-based
noise generator (distribution, independence, chunking, rates)."""
import numpy as np
import pytest
import scipy.stats

from lava_causal import build_network, signal_tracking_network, tasks
from lava_causal import simulator as sim
from lava_causal.simulator import simulate
from _helpers import RandomPacer, simulate_in_mode


def _mixed(amplitude=60.0):
    return tasks.random_problem(3, m=12, n=10, amplitude=amplitude, density=0.6)


def _per_synapse_delays(net, high=3e-3):
    return net.replace(delay=np.random.default_rng(0).uniform(0.0, high, (net.n, net.n)))


CASES = {
    "mixture-exp": lambda: build_network(tasks.mixture(0), tau_syn=5e-3),
    "mixture-exp-uniform-delay": lambda: build_network(tasks.mixture(0), tau_syn=5e-3, delay=1e-3),
    "mixture-exp-synapse-delays": lambda: _per_synapse_delays(
        build_network(tasks.mixture(0), tau_syn=5e-3)),
    "mixed-exp": lambda: build_network(_mixed(), tau_syn=5e-3),
    "mixed-delta-cascade": lambda: build_network(_mixed(), tau_syn=0.0),
    "mixed-delta-uniform-delay": lambda: build_network(_mixed(), tau_syn=0.0, delay=2e-3),
    "mixed-delta-synapse-delays": lambda: _per_synapse_delays(build_network(_mixed(), tau_syn=0.0)),
    "mixed-exp-leak": lambda: build_network(_mixed(600.0), tau_syn=5e-3, leak_tau=20e-3),
    "mixed-delta-leak": lambda: build_network(_mixed(600.0), tau_syn=0.0, leak_tau=20e-3),
    "hard-reset-exp": lambda: signal_tracking_network(_mixed(), tau_syn=5e-3, leak_tau=50e-3),
    "discrimination": lambda: build_network(tasks.discrimination(0), tau_syn=5e-3),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_skipping_paths_equal_stepping(monkeypatch, case):
    net = CASES[case]()
    kwargs = dict(duration=0.5, dt=1e-4, trials=3, seed=3, record_spikes=True)
    step = simulate_in_mode(monkeypatch, net, sim.STEP, **kwargs)
    modes = [None, sim.SKIP_EXACT]
    if net.leak_tau is None:
        modes.append(sim.SKIP_BOUND)
    assert step.counts.sum() > 20
    for mode in modes:
        res = simulate_in_mode(monkeypatch, net, mode, **kwargs)
        np.testing.assert_array_equal(res.counts, step.counts, err_msg=f"mode {mode}")
        for (ta, ia), (tb, ib) in zip(res.spikes, step.spikes):
            np.testing.assert_array_equal(ia, ib)
            np.testing.assert_allclose(ta, tb, rtol=0, atol=1e-12)
        np.testing.assert_allclose(res.final_voltages, step.final_voltages, rtol=1e-9, atol=1e-9)
        np.testing.assert_array_equal(res.truncated_steps, step.truncated_steps)


def test_dense_delay_kinds_are_detected():
    base = build_network(_mixed(), tau_syn=5e-3)
    assert sim._fold_for_run(base, 1e-4, 0.0).d_uniform == 0
    assert sim._fold_for_run(base.replace(delay=1e-3), 1e-4, 0.0).d_uniform == 10
    assert sim._fold_for_run(_per_synapse_delays(base), 1e-4, 0.0).d_uniform == -1





@pytest.mark.parametrize("mode, noise", [(sim.SKIP_BOUND, 0.0), (None, 0.0), (None, 1.0)])
def test_results_do_not_depend_on_chunks(monkeypatch, mode, noise):
    net = build_network(tasks.mixture(0), tau_syn=5e-3, delay=1e-3)
    kwargs = dict(duration=0.3, dt=1e-4, trials=2, seed=1, noise_std=noise, record_spikes=True)
    whole = simulate_in_mode(monkeypatch, net, mode, **kwargs)
    pacer = RandomPacer(3000)
    monkeypatch.setattr(sim, "ChunkPacer", pacer)
    chunked = simulate_in_mode(monkeypatch, net, mode, **kwargs)
    assert pacer.chunks > 50 and whole.counts.sum() > 100
    np.testing.assert_array_equal(chunked.counts, whole.counts)
    np.testing.assert_array_equal(chunked.final_voltages, whole.final_voltages)
    for (ta, ia), (tb, ib) in zip(chunked.spikes, whole.spikes):
        np.testing.assert_array_equal(ta, tb)
        np.testing.assert_array_equal(ia, ib)


# ------------------------------------------------------------------ the generator
def _normals(seed, count, start=0):
    z = np.empty(count)
    sim._fill_normals(z, sim.noise_key(seed), start, np.empty(count, np.uint64),
                      np.empty(count, np.int64))
    return z


def test_generator_distribution():
    z = _normals(11, 4_000_000)
    assert abs(z.mean()) < 5 / np.sqrt(z.size)
    assert z.var() == pytest.approx(1.0, abs=5 * np.sqrt(2 / z.size))
    assert scipy.stats.skew(z) == pytest.approx(0.0, abs=5 * np.sqrt(6 / z.size))
    assert scipy.stats.kurtosis(z) == pytest.approx(0.0, abs=5 * np.sqrt(24 / z.size))
    p_values = [scipy.stats.kstest(_normals(seed, 200_000), "norm").pvalue for seed in range(5)]
    assert min(p_values) > 1e-4 and np.mean(p_values) > 0.1
    # Tails up to 5 sigma: counts beyond s (both sides) within Poisson bounds.
    big = _normals(12, 40_000_000)
    for s in (2.0, 3.0, 4.0, 4.5, 5.0):
        expected = big.size * 2 * scipy.stats.norm.sf(s)
        observed = np.count_nonzero(np.abs(big) > s)
        assert abs(observed - expected) < 5 * np.sqrt(expected) + 3, (s, observed, expected)
    assert np.count_nonzero(big > 4) == pytest.approx(np.count_nonzero(big < -4), abs=60)


def test_generator_is_a_function_of_seed_and_counter():
    a = _normals(5, 1000)
    np.testing.assert_array_equal(a, _normals(5, 1000))
    np.testing.assert_array_equal(a[300:], _normals(5, 700, start=300))
    assert not np.array_equal(a, _normals(6, 1000))


def test_generator_independence():
    # Correlations between lags (steps: lag N; neurons: lag 1) and between trials' keys.
    n = 100
    z = _normals(21, 2_000_000).reshape(-1, n)
    bound = 5 / np.sqrt(z.size)
    for lag in (1, 2, 7, 64):
        assert abs(np.mean(z[lag:] * z[:-lag])) < bound  # across steps
        assert abs(np.mean(z[:, lag:] * z[:, :-lag])) < bound  # across neurons
    assert abs(np.mean(z[:, 1:] ** 2 * z[:, :-1] ** 2) - 1.0) < 20 * bound  # no variance coupling
    trials = np.stack([_normals(s, 200_000) for s in range(8)])
    corr = np.corrcoef(trials)
    assert np.max(np.abs(corr - np.eye(8))) < 5 / np.sqrt(200_000)
    # Neighbouring seeds and neighbouring counters share nothing visible.
    assert abs(np.corrcoef(_normals(1, 100_000), _normals(2, 100_000))[0, 1]) < 0.02


def test_noisy_rates_match_an_independent_generator():
    # Euler-Maruyama in numpy with numpy's own normals against the simulator: the mean
    # rates of the same noisy network agree within their trial-to-trial spread.
    net = build_network(tasks.mixture(0), tau_syn=5e-3)
    dt, duration, trials, sigma = 1e-4, 0.5, 24, 1.0
    res = simulate(net, duration, dt=dt, trials=trials, seed=4, noise_std=sigma)
    run = sim._fold_for_run(net, dt, sigma)
    a1, cb1, ci1, q1 = sim._propagator(dt, 0.0, 1.0 / net.tau_syn)
    rng = np.random.default_rng(99)
    x = rng.random((trials, net.n))
    cur = np.zeros_like(x)
    counts = np.zeros_like(x)
    for _ in range(int(round(duration / dt))):
        x = a1 * x + cb1 * run.bias + ci1 * cur + run.noise * rng.standard_normal(x.shape)
        cur = q1 * cur
        fired = x > 1.0
        x = np.where(fired, x - 1.0, x)
        counts += fired
        cur = cur + fired.astype(float) @ run.w_t
    ours, theirs = res.counts.sum(axis=1), counts.sum(axis=1)
    spread = np.sqrt((ours.var(ddof=1) + theirs.var(ddof=1)) / trials)
    assert ours.sum() > 100 * trials
    assert abs(ours.mean() - theirs.mean()) < 5 * spread + 1
    per_neuron = scipy.stats.ttest_ind(res.counts, counts, axis=0).pvalue
    assert np.nanmin(per_neuron) > 1e-4
