"""Stream decoding: one compile from the features, many observations (lava_causal.decoder)."""
import warnings

import numpy as np
import pytest

from compiler import QuantizationWarning, compile, effective_rates, emulate
from lava_causal import build_network, tasks
from lava_causal.decoder import Decoder, compile_decoder, load_decoder
from lava_causal.problem import CausalProblem

STEPS = 3000


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", QuantizationWarning)
        yield


@pytest.fixture(scope="module")
def features():
    return tasks.positive_features(seed=3, m=30, n=20)


def observations(features, k, seed=0):
    """k mixtures of 1-4 causes at 10-60 Hz."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(k):
        r = np.zeros(features.shape[1])
        present = rng.choice(features.shape[1], size=rng.integers(1, 5), replace=False)
        r[present] = rng.uniform(10, 60, size=present.size)
        out.append(features @ r)
    return np.array(out)


def alone(decoder: Decoder, mu, rates):
    """Compile the observation's own network with the decoder's options and ``rates``."""
    problem = CausalProblem(decoder.features, mu, decoder.alpha, decoder.beta, decoder.sigma)
    options = decoder.fixed.info["options"]
    return compile(build_network(problem, tau_syn=decoder.tau_syn), hw=decoder.hw, dt=decoder.dt,
                   operating_rates=rates, rounding=options["rounding"], seed=options["seed"],
                   weight_compensation=options["weight_compensation"], bias_rounding=options["bias_rounding"],
                   reset_compensation=options["reset_compensation"])


# With the design point's corrections, the integers equal a compile at the design rates only
# without the weight compensation and optimum bias rounding, which follow each observation
# (test_weight_compensation_follows_each_observation), and with the rate-only reset model (the
# measured overshoot is the design network's, a compile alone measures its own).
@pytest.mark.parametrize("corrections, rounding, options", [
    ("compiled", "nearest", dict(weight_compensation="none", bias_rounding="nearest", reset_compensation="half_step")),
    ("per_observation", "nearest", {}),
    ("compiled", "stochastic", dict(weight_compensation="none", reset_compensation="half_step"))])
def test_decode_matches_compiling_each_observation_alone(features, corrections, rounding, options):
    decoder = compile_decoder(features, hw="loihi2", dt=1e-4, corrections=corrections,
                              rounding=rounding, seed=4, **options)
    obs = observations(features, 4)
    result = decoder.decode(obs, steps=STEPS, seed=5, metrics=True)
    assert result.rates.shape == (4, features.shape[1]) and list(result.steps) == [STEPS] * 4
    design_rates = decoder.fixed.info["corrections"]["operating_rates"]
    r_star = np.stack([p.map_estimate() for p in decoder.problems(obs)])
    for k, mu in enumerate(obs):
        rates = design_rates if corrections == "compiled" else r_star[k]
        fixed_k = alone(decoder, mu, rates)
        assert fixed_k.info["scale"]["S"] == decoder.fixed.info["scale"]["S"]
        for a, b in zip(fixed_k.weights, decoder.fixed.weights):
            np.testing.assert_array_equal(a, b)
        bias = decoder.biases(mu, map_rates=r_star[k:k + 1])
        np.testing.assert_array_equal(bias.bias_mant[0], fixed_k.bias_mant)
        np.testing.assert_array_equal(bias.bias_exp[0], fixed_k.bias_exp)
        single = emulate(fixed_k, STEPS, v0=result.initial_voltages[k])
        np.testing.assert_array_equal(result.counts[k], single.counts[0])
    assert np.all(result.bias_clipped == 0)
    assert np.all(result.relative_error < 0.5)


def test_weight_compensation_follows_each_observation(features):
    """Design-point decoder: for every observation, the optimum of the chip's rate model
    (the integers' own network) is the observation's float MAP up to the bias rounding,
    because the weight compensation is evaluated at each observation's predicted rates."""
    obs = observations(features, 4, seed=7)
    gaps = {}
    for label, options in (("compensated", {}), ("plain", dict(weight_compensation="none",
                                                                bias_rounding="nearest"))):
        decoder = compile_decoder(features, **options)
        bias = decoder.biases(obs)
        r_star = np.stack([p.map_estimate() for p in decoder.problems(obs)])
        gaps[label] = []
        for k in range(len(obs)):
            r_q = effective_rates(decoder.network_for(None, bias, k)).rates
            gaps[label].append(np.linalg.norm(r_q - r_star[k]) / np.linalg.norm(r_star[k]))
    # Not 0: these observations' optima have other active sets than the design point's.
    assert max(gaps["compensated"]) < 3e-3
    assert np.all(np.array(gaps["compensated"]) < 0.5 * np.array(gaps["plain"]))


def test_decode_is_seeded_and_records_provenance(features):
    decoder = compile_decoder(features)
    obs = observations(features, 3, seed=1)
    a = decoder.decode(obs, steps=500, seed=11)
    b = decoder.decode(obs, steps=500, seed=11)
    np.testing.assert_array_equal(a.counts, b.counts)
    for key in ("backend", "hw", "dt", "seed", "steps_requested", "versions"):
        assert key in a.provenance
    assert a.provenance["seed"] == 11 and a.backend == "emulator" and a.hw == "loihi2"


def test_saved_decoder_round_trips(features, tmp_path):
    decoder = compile_decoder(features, corrections="per_observation")
    path = tmp_path / "decoder.npz"
    decoder.save(path)
    loaded = load_decoder(path)
    assert isinstance(loaded, Decoder) and loaded.corrections == "per_observation"
    np.testing.assert_array_equal(loaded.features, decoder.features)
    obs = observations(features, 2, seed=2)
    np.testing.assert_array_equal(decoder.decode(obs, steps=400, seed=3).counts,
                                  loaded.decode(obs, steps=400, seed=3).counts)


def test_a_compiled_network_is_not_a_decoder(tmp_path):
    fixed = compile(build_network(tasks.discrimination(seed=0, n=20, m=20)), hw="loihi2")
    path = tmp_path / "net.npz"
    fixed.save(path)
    with pytest.raises(ValueError, match="not a decoder"):
        load_decoder(path)


@pytest.mark.parametrize("bad, message", [
    (np.ones(7), r"shape \(30,\) or \(K, 30\)"),
    (np.full((2, 30), np.nan), "observation 0 has NaN"),
])
def test_bad_observations_are_named(features, bad, message):
    decoder = compile_decoder(features)
    with pytest.raises(ValueError, match=message):
        decoder.decode(bad, steps=10)


@pytest.mark.parametrize("kwargs, message", [
    ({"steps": 0}, "steps must be an integer >= 1"),
    ({"backend": "gpu"}, "backend must be one of"),
])
def test_bad_decode_arguments_are_named(features, kwargs, message):
    decoder = compile_decoder(features)
    with pytest.raises(ValueError, match=message):
        decoder.decode(observations(features, 1), **kwargs)


@pytest.mark.lava
def test_lava_decodes_the_same_counts_as_the_emulator(features):
    decoder = compile_decoder(features)
    obs = observations(features, 2, seed=4)
    emu = decoder.decode(obs, steps=300, seed=9)
    lava = decoder.decode(obs, steps=300, seed=9, backend="lava")
    np.testing.assert_array_equal(emu.counts, lava.counts)


def test_target_error_stops_each_decode_when_its_estimate_meets_the_target(features):
    decoder = compile_decoder(features)
    obs = observations(features, 4, seed=6)
    result = decoder.decode(obs, target_error=0.05, steps=2 ** 15, seed=1, metrics=True)
    assert result.converged.all()
    assert np.all(result.estimated_error <= 0.05)
    assert set(result.steps) <= {1024 * 2 ** i for i in range(1, 6)}
    # The run that met the target is the same as a fixed-steps decode of that length.
    fixed_steps = decoder.decode(obs[:1], steps=int(result.steps[0]), seed=1)
    np.testing.assert_array_equal(fixed_steps.counts[0], result.counts[0])
    # The estimate tracks the true error to within a factor of a few.
    assert np.all(result.relative_error < 4 * 0.05)


def test_estimated_error_is_zero_at_the_map_and_large_far_from_it(features):
    from lava_causal.decoder import estimated_error

    problem = CausalProblem(features, observations(features, 1, seed=8)[0])
    r_star = problem.map_estimate()
    g = problem.drive[None, :]
    at = r_star[None, :]
    assert estimated_error(features, 0.0, 1.0, g, at, at, 0.5)[0] < 1e-6
    assert estimated_error(features, 0.0, 1.0, g, 2 * at + 5, 2 * at + 5, 0.5)[0] > 0.1
    # The drift term: rates that moved by 10 % between T/2 and T.
    assert estimated_error(features, 0.0, 1.0, g, at, 1.1 * at, 0.5)[0] >= 0.099
    zero = np.zeros_like(g)
    assert estimated_error(features, 0.0, 1.0, -np.ones_like(g), zero, zero, 0.5)[0] == 0.0
