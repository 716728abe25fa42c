"""RLS-trained recurrent networks (lava_causal.rls): training, the IFNetwork they
compile as, the stimulus on the chip, the staged model's integer truncation, scores."""
import warnings

import numpy as np
import pytest

import compiler
from compiler.system.resources import ResourceError
from lava_causal import simulate as reference_simulate
from lava_causal.rls import (compile_trained, pattern_budget, random_network, run_chip, score, simulate,
                             sinusoids, train)
from lava_causal.rls import targets
from lava_causal.rls.deploy import chip_voltages
from lava_causal.rls.patterns import reference_rates
from lava_causal.rls.simulation import trial_layout
from lava_causal.rls.budget import stage_ingredients
from lava_causal.staged import ChipEffects, run_staged

N = 80


@pytest.fixture(scope="module")
def trained():
    net = random_network(N, connectivity=0.3, gain=0.2, seed=1)
    task = sinusoids(N, duration=1.0, period=0.5, seed=2)
    return train(net, task, trials=10, progress=False), task


def test_rls_learns_sinusoids_in_float(trained):
    result, task = trained
    assert result.error[-1] < result.error[0]
    run = simulate(result.network, task, trials=8, seed=3)
    s = score(run.filtered, task, result.network)
    assert s.correlation > 0.9, s.correlation
    assert s.correlation_ci[0] > 0.9 and s.scored == N
    drive = np.mean([np.corrcoef(run.drive[k][:, i], task.drive[:, i])[0, 1] for k in range(8) for i in range(N)])
    assert drive > 0.98
    # The untrained network does not produce the patterns.
    before = score(simulate(random_network(N, connectivity=0.3, gain=0.2, seed=1), task, trials=8, seed=3).filtered,
                   task, result.network)
    assert before.correlation < 0.3


def test_training_replays_with_its_seed(trained):
    result, task = trained
    again = train(random_network(N, connectivity=0.3, gain=0.2, seed=1), task, trials=10, progress=False)
    np.testing.assert_array_equal(again.network.omega, result.network.omega)


def test_chip_reproduces_the_float_patterns(trained):
    """Loihi 2 at dt = 0.2 ms: within 0.03 of float's correlation (measured: 0.956
    against 0.955 at N = 100)."""
    result, task = trained
    net = result.network
    float_score = score(simulate(net, task, trials=8, seed=3).filtered, task, net)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", compiler.QuantizationWarning)
        fixed = compile_trained(net, task, "loihi2", dt=2e-4)
    filtered, run = run_chip(fixed, net, task, trials=8, seed=3)
    chip_score = score(filtered, task, net)
    assert chip_score.correlation > float_score.correlation - 0.03, (chip_score.correlation, float_score.correlation)
    assert run.provenance["stimulus_steps"] == 250
    assert abs(chip_score.mean_rate - float_score.mean_rate) < 0.05 * float_score.mean_rate


def test_ifnetwork_matches_the_reference_simulator():
    """The IFNetwork the compiler gets is the network RLS trains: mean rates of the
    untrained network from both float simulators within 3 %."""
    net = random_network(40, connectivity=0.3, gain=0.2, seed=4)
    task = targets.Task(np.zeros((2000, 40)), np.zeros(40), stimulus_duration=1e-3)
    ours = simulate(net, task, trials=4, dt=1e-5, seed=5).counts.sum(0) / (4 * 2.001)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # its linear rate model ignores the leak
        ref = reference_simulate(net.to_ifnetwork(), duration=2.0, dt=1e-5, trials=4, seed=5,
                                 allow_unstable=True).rates.mean(0)
    assert ours.mean() > 20
    np.testing.assert_allclose(ours.mean(), ref.mean(), rtol=0.03)
    assert np.corrcoef(ours, ref)[0, 1] > 0.95


def test_staged_model_with_truncation_is_the_emulator(trained):
    """With every effect and the integer truncation of the decays, the staged model
    gives the emulator's spikes (the budget's last step is exact)."""
    result, task = trained
    net = result.network
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", compiler.QuantizationWarning)
        fixed = compile_trained(net, task, "loihi2", dt=1e-4)
    stim_steps, _, _ = trial_layout(task, fixed.dt)
    stimulus = compiler.make_stimulus(fixed, net.stimulus_bias(task.stimulus), stim_steps)
    v0 = chip_voltages(fixed, 7, 2)
    steps = 2000
    emu = compiler.emulate(fixed, steps, 2, v0=v0, record=True, stimulus=stimulus).raster
    base, during, _ = stage_ingredients(net, task, fixed)
    effects = ChipEffects.chip().with_(truncation=True)
    _, staged = run_staged(base, effects, v0 / float(fixed.threshold), steps, record=True, stimulus=during,
                           stimulus_steps=stim_steps)
    assert emu.sum() > 1000
    mismatch = np.argwhere(staged != emu)
    assert mismatch.size == 0, mismatch[:5]
    _, real = run_staged(base, ChipEffects.chip(), v0 / float(fixed.threshold), steps, record=True,
                         stimulus=during, stimulus_steps=stim_steps)
    assert np.any(real != emu)   # without it, it is not


def test_pattern_budget_rows_and_intervals(trained):
    result, task = trained
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", compiler.QuantizationWarning)
        budget = pattern_budget(result.network, task, dt=1e-4, trials=4)
    sources = [r.source for r in budget.rows]
    assert sources[0].startswith("float") and sources[-1].startswith("chip (emulator")
    assert any(s.startswith("decay truncation") for s in sources)
    last_staged, chip = budget.rows[-2], budget.rows[-1]
    assert chip.error_change == 0.0 and chip.error_change_ci == (0.0, 0.0)   # staged + truncation = chip
    for row in budget.rows[1:]:
        lo, hi = row.error_change_ci
        assert lo <= row.error_change <= hi
    assert "| model |" in budget.table()
    assert budget.to_dict()["settings"]["trials"] == 4


def test_score_of_the_reference_itself_is_perfect(trained):
    result, task = trained
    ref = reference_rates(task, result.network) * result.network.tau_s
    s = score(np.stack([ref, ref, ref]), task, result.network)
    assert s.correlation == pytest.approx(1.0) and s.normalised_error == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="filtered must have shape"):
        score(ref, task, result.network)


def test_stimulus_of_the_networks_own_bias_changes_nothing(trained):
    result, task = trained
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", compiler.QuantizationWarning)
        fixed = compile_trained(result.network, task, "loihi2", dt=2e-4, operating_rates=None)
    same = compiler.Stimulus(100, fixed.bias_mant, fixed.bias_exp)
    plain = compiler.emulate(fixed, 400, 2, seed=1, record=True)
    with_stim = compiler.emulate(fixed, 400, 2, seed=1, record=True, stimulus=same)
    np.testing.assert_array_equal(plain.raster, with_stim.raster)
    other = compiler.make_stimulus(fixed, result.network.stimulus_bias(task.stimulus), 100)
    changed = compiler.emulate(fixed, 400, 2, seed=1, record=True, stimulus=other)
    assert np.any(changed.raster != plain.raster)
    # A stimulus longer than the run is the whole run.
    whole = compiler.emulate(fixed, 50, 2, seed=1, record=True, stimulus=other)
    np.testing.assert_array_equal(whole.raster, changed.raster[:, :50])


def test_stimulus_errors(trained):
    result, task = trained
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", compiler.QuantizationWarning)
        fixed = compile_trained(result.network, task, "loihi2", dt=2e-4, operating_rates=None)
    with pytest.raises(ValueError, match="steps must be an integer >= 1"):
        compiler.Stimulus(0, fixed.bias_mant, fixed.bias_exp)
    with pytest.raises(ValueError, match="for 3 neurons"):
        compiler.emulate(fixed, 10, stimulus=compiler.Stimulus(5, np.zeros(3, int), np.zeros(3, int)))
    with pytest.raises(ValueError, match="outside the allowed range"):
        compiler.emulate(fixed, 10, stimulus=compiler.Stimulus(5, np.full(N, 10**6), np.full(N, 7)))
    with pytest.raises(ValueError, match="does not fit the compiled bias range"):
        compiler.make_stimulus(fixed, np.full(N, 1e7), 5)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="k \\(presynaptic subset size\\)"):
        random_network(10, k=10)
    with pytest.raises(ValueError, match="connectivity"):
        random_network(10, connectivity=0.0)
    net = random_network(10, k=3)
    with pytest.raises(ValueError, match="N = 12 neurons"):
        train(net, sinusoids(12), trials=1, progress=False)
    with pytest.raises(ValueError, match="learn_every"):
        train(net, sinusoids(10), trials=1, learn_every=1.5e-4, progress=False)
    with pytest.raises(ValueError, match="dt must be in"):
        simulate(net, sinusoids(10), dt=2e-3)
    with pytest.raises(ValueError, match="not a whole number of steps"):
        compile_trained(net, sinusoids(10), dt=3e-4)
    with pytest.raises(ValueError, match="omega must be zero outside"):
        net.with_weights(np.ones((10, 10)) - np.eye(10))


def test_training_memory_is_refused_with_the_estimate(monkeypatch):
    monkeypatch.setenv("LAVA_CAUSAL_MEMORY_LIMIT", "1GB")
    net = random_network(1000, k=500)
    with pytest.raises(ResourceError, match="RLS training of N = 1000, K = 500"):
        train(net, sinusoids(1000), trials=1, progress=False)


def test_lif_rate_and_drive_are_inverse():
    rates = np.array([1.0, 5.0, 20.0, 80.0, 300.0])
    drive = targets.lif_drive(rates, 0.01, noise=0.1)
    np.testing.assert_allclose(targets.lif_rate(drive, 0.01, noise=0.1), rates, rtol=1e-3)
    assert np.all(np.diff(drive) > 0) and drive[0] < 1.0    # low rates come from the noise
    strong = np.array([1.5, 3.0])   # far above threshold the noise hardly matters
    np.testing.assert_allclose(targets.lif_rate(strong, 0.01, noise=0.1), targets.lif_rate(strong, 0.01, noise=0),
                               rtol=0.02)
    np.testing.assert_allclose(targets.lif_rate(targets.lif_drive(rates[2:], 0.01, 0), 0.01, 0), rates[2:])
    assert targets.lif_rate(np.array([0.5, 1.0]), 0.01, noise=0).tolist() == [0.0, 0.0]
    # Siegert against a direct simulation of the noisy LIF (Euler-Maruyama, 200 x 0.2 s;
    # a discrete step misses crossings between steps, ~10 % fewer spikes at dt = 10 us).
    rng = np.random.default_rng(0)
    v, spikes, dt, tau = np.zeros(200), 0, 1e-5, 0.01
    for _ in range(20000):
        v += dt / tau * (0.95 - v) + 0.1 * np.sqrt(dt / tau) * rng.normal(size=200)
        fired = v > 1.0
        spikes += int(fired.sum())
        v[fired] = 0.0
    siegert = float(targets.lif_rate(np.array([0.95]), tau, noise=0.1)[0])
    assert 0.8 * siegert < spikes / (200 * 0.2) < siegert
    with pytest.raises(ValueError, match="> 0 Hz"):
        targets.lif_drive(np.array([0.0]), 0.01)


def test_cli_train_and_deploy(tmp_path, capsys):
    from lava_causal.cli import main

    out = tmp_path / "trained.npz"
    assert main(["rls", "train", "--n", "40", "--trials", "3", "--test-trials", "3", "-o", str(out), "--json"]) == 0
    assert out.exists()
    capsys.readouterr()
    assert main(["rls", "deploy", str(out), "--trials", "3", "--json"]) == 0
    import json
    report = json.loads(capsys.readouterr().out)
    assert {"float_correlation", "chip_correlation"} <= set(report) and report["chip"]["hw"] == "loihi2"
    assert main(["rls", "deploy", str(tmp_path / "missing.npz")]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    assert main(["rls", "deploy", str(tmp_path / "bad.npz")]) == 2
