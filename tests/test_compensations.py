"""The compiler's compensations for the chip's accuracy floor: each reduces its own error
and changes only the integers it is meant to change."""
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

import compiler
from compiler.hardware.encoding import diffusion_round
from compiler.quantization.overshoot import measured_overshoot
from lava_causal import build_network, error_budget, tasks
from lava_causal.staged import ChipEffects, StageIngredients, run_staged

DT = 1e-4


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", compiler.QuantizationWarning)
        yield


@pytest.fixture(scope="module")
def four_cause():
    return tasks.four_cause_mixture(seed=0)


def relative(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def quantized_optimum_gap(problem, **options):
    """|r_q - r*| / |r*| of the optimum of the network the chip integers implement."""
    fixed = compiler.compile(build_network(problem), hw="loihi2", dt=DT, **options)
    return relative(compiler.effective_rates(fixed).rates, problem.map_estimate())


# ------------------------------------------------------------- measured overshoot
def test_measured_overshoot_of_a_constant_drive_is_half_a_step():
    """One neuron, constant drive beta per step (irrational multiple of the threshold):
    overshoots are equidistributed in [0, beta), so their mean per step is beta^2 / 2
    (the half-step model is exact here)."""
    beta = np.sqrt(2) / 40
    over = measured_overshoot(np.zeros((1, 1)), np.array([beta / DT]), 1.0, 0.0, DT, 400_000)
    assert over[0] == pytest.approx(beta ** 2 / 2, rel=0.01)


def test_measured_overshoot_dense_and_sparse_agree_with_delays():
    rng = np.random.default_rng(3)
    n = 12
    w = -np.abs(rng.normal(0, 0.2, (n, n))) * (rng.random((n, n)) < 0.5)
    np.fill_diagonal(w, 0)
    bias = rng.uniform(20, 60, n)
    delays = rng.integers(0, 4, (n, n))
    csr = sp.csr_matrix(w)
    sparse_delays = csr.copy()
    sparse_delays.data = delays[csr.nonzero()].astype(float)
    dense = measured_overshoot(w, bias, 0.02, 0.0, DT, 20_000, delays=delays, seed=4)
    sparse = measured_overshoot(csr, bias, 0.02, 0.0, DT, 20_000, delays=sparse_delays, seed=4)
    np.testing.assert_allclose(dense, sparse, rtol=1e-12, atol=1e-15)
    assert np.count_nonzero(dense > 0) > n // 2
    undelayed = measured_overshoot(w, bias, 0.02, 0.0, DT, 20_000, seed=4)
    assert not np.allclose(dense, undelayed)


def test_measured_compensation_restores_the_subtractive_rates(four_cause):
    """The staged float model at the chip step: hard reset with the measured correction
    fires like the subtractive network; the half-step model leaves most of the loss."""
    network = build_network(four_cause)
    x0 = np.random.default_rng(2).random((2, network.n))
    steps = 200_000      # 20 s: ~1,000 spikes per strong cause, the half-step model loses ~0.4 %
    rates = {}
    for mode in ("measured", "half_step"):
        fixed = compiler.compile(network, dt=DT, reset_compensation=mode)
        ing = StageIngredients.from_compiled(network, fixed)
        rates["subtract"] = run_staged(ing, ChipEffects(), x0, steps).mean(0)
        rates[mode] = run_staged(ing, ChipEffects(hard_reset=True, reset_compensation=True), x0, steps).mean(0)
    strong = four_cause.map_estimate() > 10
    gap = {m: np.abs(rates[m] - rates["subtract"])[strong].sum() for m in ("measured", "half_step")}
    assert gap["measured"] < 0.25 * gap["half_step"]


# ------------------------------------------------------------- budget rows
def test_each_compensation_reduces_its_own_budget_row(four_cause):
    budget = error_budget(four_cause, duration=4.0, trials=6, seed=5)
    for source in ("reset compensation (measured)", "weight compensation (bias)"):
        row = budget.row(source)
        assert row.increment < 0 and row.significant(), (source, row.increment, row.increment_ci95())
        # It removes most of what the effect it compensates added.
        effect = budget.rows[budget.rows.index(row) - 1]
        assert -row.increment > 0.7 * effect.increment


def test_budget_rows_follow_the_compile_options(four_cause):
    plain = error_budget(four_cause, duration=0.2, trials=2, seed=1, reset_compensation="none",
                         weight_compensation="none", bias_rounding="nearest")
    sources = [r.source.split(" (")[0] for r in plain.rows]
    assert "reset compensation" not in sources and "weight compensation" not in sources
    assert "hard reset" in sources and plain.row("bias quantization").source.endswith("(nearest rounding)")
    custom = error_budget(four_cause, duration=0.2, trials=2, seed=1, hw="loihi2_subtractive")
    assert not any(r.source.startswith(("hard reset", "reset compensation")) for r in custom.rows)


# ------------------------------------------------------------- integers untouched
def integers(fixed):
    return [np.asarray(w) for w in fixed.weights], fixed.bias_mant, fixed.bias_exp


def test_bias_compensations_leave_the_weights_alone(four_cause):
    network = build_network(four_cause)
    base = compiler.compile(network, dt=DT, reset_compensation="none", weight_compensation="none",
                            bias_rounding="nearest")
    for options in (dict(reset_compensation="measured"), dict(weight_compensation="bias"),
                    dict(bias_rounding="optimum")):
        other = compiler.compile(network, dt=DT, **{**dict(reset_compensation="none", weight_compensation="none",
                                                           bias_rounding="nearest"), **options})
        for a, b in zip(integers(base)[0], integers(other)[0]):
            np.testing.assert_array_equal(a, b)
        assert base.threshold == other.threshold and base.du == other.du
        assert not np.array_equal(base.bias_mant, other.bias_mant), options


def test_optimum_bias_rounding_only_moves_mantissas_by_one(four_cause):
    network = build_network(four_cause)
    nearest = compiler.compile(network, dt=DT, bias_rounding="nearest")
    optimum = compiler.compile(network, dt=DT, bias_rounding="optimum")
    np.testing.assert_array_equal(nearest.bias_exp, optimum.bias_exp)
    assert np.max(np.abs(nearest.bias_mant - optimum.bias_mant)) == 1
    # Silent causes: rounded down, so their slack never shrinks.
    info = optimum.info
    target = info["targets"]["bias"] + sum(info["corrections"][k] for k in ("truncation", "reset", "weights"))
    silent = info["corrections"]["operating_rates"] <= 0
    assert np.all(optimum.effective_bias[silent] <= target[silent])


def test_diffusion_rounding_leaves_the_bias_alone():
    # Delta synapses: no current-decay correction, whose calibration reads the weights.
    network = build_network(tasks.four_cause_mixture(seed=0), tau_syn=0.0)
    kw = dict(dt=DT, weight_compensation="none", bias_rounding="nearest")
    nearest = compiler.compile(network, **kw)
    diffused = compiler.compile(network, rounding="diffusion", **kw)
    np.testing.assert_array_equal(nearest.bias_mant, diffused.bias_mant)
    assert nearest.info["splits"]["quanta"] == diffused.info["splits"]["quanta"]
    assert not all(np.array_equal(a, b) for a, b in zip(nearest.weights, diffused.weights))
    effective = compiler.effective_input(diffused)
    assert np.all(np.diag(effective) == 0)


# ------------------------------------------------------------- each one's own error
@pytest.mark.parametrize("problem", [tasks.discrimination(seed=0), tasks.four_cause_mixture(seed=0),
                                     tasks.random_problem(4, m=30, n=20, alpha=1.0, beta=0.5)],
                         ids=["discrimination", "four-cause", "random-alpha-beta"])
def test_weight_compensation_puts_the_quantized_optimum_back_at_the_float_one(problem):
    plain = quantized_optimum_gap(problem, weight_compensation="none", bias_rounding="nearest")
    compensated = quantized_optimum_gap(problem, weight_compensation="bias", bias_rounding="nearest")
    assert compensated < 0.5 * plain   # what is left: the nearest-rounded bias


def test_weight_compensation_is_exact_before_bias_rounding(four_cause):
    """With the bias targets unrounded, r* is a fixed point of the chip's rate model."""
    network = build_network(four_cause)
    fixed = compiler.compile(network, dt=DT)
    info = fixed.info
    s, kappa = fixed.threshold, info["decay"]["kappa"]
    w_chip = compiler.effective_input(fixed) * 2.0 ** 6 / (kappa * s)
    b_target = (info["targets"]["bias"] + info["corrections"]["weights"]) / (s * DT)
    r = four_cause.map_estimate()
    drive = b_target + w_chip @ r
    active = r > 0
    np.testing.assert_allclose(drive[active], r[active], rtol=1e-9, atol=1e-9)
    from compiler.frontend.fold import fold
    folded = fold(network)
    np.testing.assert_allclose(drive[~active], (folded.bias + folded.weights @ r)[~active], atol=1e-9)


def test_coupling_shift_restores_a_stable_coupling_and_keeps_the_optimum():
    """The ill-conditioned mixture task: 8-bit weights make the coupling's soft directions
    unstable; a shift of 0.05 gives them a positive margin, and r* stays the chip's
    optimum (up to the bias rounding); "auto" applies it there and not on the
    well-conditioned four-cause active set."""
    problem = tasks.mixture(seed=0)
    network = build_network(problem)
    d = network.reset

    def smallest_eigenvalue(fixed):
        w = compiler.effective_input(fixed) * 2.0 ** 6 / (fixed.info["decay"]["kappa"] * fixed.threshold)
        g = d[:, None] * (np.eye(network.n) - w)
        return np.linalg.eigvalsh(0.5 * (g + g.T))[0]

    plain = compiler.compile(network, dt=DT, coupling_shift=0.0)
    shifted = compiler.compile(network, dt=DT, coupling_shift=0.05)
    assert smallest_eigenvalue(plain) < 0 < smallest_eigenvalue(shifted)
    auto = compiler.compile(network, dt=DT)   # "auto" sees the lost margin and applies the shift
    assert auto.info["coupling_shift"]["applied"] == 0.05 and auto.info["coupling_shift"]["margin_chip"] < 0
    assert smallest_eigenvalue(auto) > 0
    well_conditioned = compiler.compile(build_network(tasks.four_cause_mixture(seed=0)), dt=DT)
    assert well_conditioned.info["coupling_shift"]["applied"] == 0.0
    assert relative(compiler.effective_rates(shifted).rates, problem.map_estimate()) < 0.05
    with pytest.raises(ValueError, match="coupling_shift > 0 needs weight_compensation='bias'"):
        compiler.compile(network, dt=DT, coupling_shift=0.05, weight_compensation="none")


def test_optimum_bias_rounding_moves_the_quantized_optimum_closer():
    problem = tasks.discrimination(seed=0)
    nearest = quantized_optimum_gap(problem, bias_rounding="nearest")
    optimum = quantized_optimum_gap(problem, bias_rounding="optimum")
    assert optimum < 0.5 * nearest


def test_diffusion_rounding_reduces_the_quantized_optimum_shift(four_cause):
    kw = dict(weight_compensation="none", bias_rounding="nearest")
    assert quantized_optimum_gap(four_cause, rounding="diffusion", **kw) < \
        0.6 * quantized_optimum_gap(four_cause, rounding="nearest", **kw)


def test_diffusion_round_cancels_errors_along_the_metric():
    rng = np.random.default_rng(0)
    x = rng.normal(0, 5, (50, 30))
    x[rng.random(x.shape) < 0.2] = 0.0
    r = rng.uniform(1, 10, 30)
    q = diffusion_round(x, np.outer(r, r))
    nearest = np.sign(x) * np.floor(np.abs(x) + 0.5)
    assert np.all(q[x == 0] == 0) and np.all(q == np.round(q))
    # Rank-1 metric: only the last column's own error is left per row (about 0.3 |r_last|).
    assert np.linalg.norm((q - x) @ r) < 0.4 * np.linalg.norm((nearest - x) @ r)
    assert np.max(np.abs(q - x)) < 3     # no runaway corrections


def test_diffusion_rounding_refuses_sparse_networks():
    problem = tasks.sparse_causes(200, active=5, seed=1)
    with pytest.raises(ValueError, match="rounding='diffusion' needs a dense network"):
        compiler.compile(build_network(problem), dt=DT, rounding="diffusion")


# ------------------------------------------------------------- rebias
def test_rebias_of_the_compiled_bias_gives_the_compiled_integers(four_cause):
    from compiler.quantization.rebias import rebias
    network = build_network(four_cause)
    fixed = compiler.compile(network, dt=DT)
    again = rebias(fixed, network.bias)
    np.testing.assert_array_equal(again.bias_mant[0], fixed.bias_mant)
    np.testing.assert_array_equal(again.bias_exp[0], fixed.bias_exp)


def test_cli_compile_flags_reach_the_compiler(tmp_path, capsys):
    from lava_causal.cli import main
    problem_path = tmp_path / "p.npz"
    tasks.discrimination(seed=0, n=20, m=20).save(problem_path)
    out = tmp_path / "net.npz"
    assert main(["compile", str(problem_path), "--reset-compensation", "half_step", "--weight-compensation",
                 "none", "--bias-rounding", "nearest", "--coupling-shift", "0", "--rounding", "diffusion",
                 "-o", str(out)]) == 0
    options = compiler.load(out).info["options"]
    assert (options["reset_compensation"], options["weight_compensation"], options["bias_rounding"],
            options["coupling_shift"], options["rounding"]) == ("half_step", "none", "nearest", 0.0, "diffusion")
    capsys.readouterr()
    assert main(["compile", str(problem_path), "--coupling-shift", "2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--coupling-shift must be 'auto' or a number in [0, 1)" in err[0]
