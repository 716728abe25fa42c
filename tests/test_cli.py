"""The ``lava-causal`` command: outputs, JSON keys, and one-line exit-2 errors."""
import json
import subprocess

import sys

import numpy as np
import pytest

import compiler
from lava_causal import CausalProblem, tasks
from lava_causal.cli import main

JSON_KEYS = {"rates", "map", "relative_error_of_mean", "mean_relative_error", "angular_error_deg",
             "percent_error", "backend", "duration", "seed", "versions", "hw", "dt", "steps",
             "convergence", "metrics_of"}


@pytest.fixture(scope="module")
def problem_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "disc.npz"
    assert main(["task", "discrimination", "--seed", "3", "-o", str(path)]) == 0
    return path


def run_json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_task_writes_the_same_problem_as_the_api(problem_file):
    loaded = CausalProblem.load(problem_file)
    expected = tasks.discrimination(3)
    np.testing.assert_array_equal(loaded.features, expected.features)
    np.testing.assert_array_equal(loaded.observation, expected.observation)


def test_solve_float_json_has_the_promised_keys_and_true_metrics(capsys, problem_file):
    out = run_json(capsys, ["solve", str(problem_file), "--duration", "1", "--seed", "5", "--json"])
    assert JSON_KEYS <= set(out)
    assert out["backend"] == "float" and out["seed"] == 5 and out["hw"] is None
    problem = CausalProblem.load(problem_file)
    np.testing.assert_allclose(out["map"], problem.map_estimate(), rtol=1e-12)
    rates, r_star = np.array(out["rates"]), np.array(out["map"])
    assert out["relative_error_of_mean"] == pytest.approx(
        np.linalg.norm(rates - r_star) / np.linalg.norm(r_star))
    assert out["relative_error_of_mean"] < 0.1
    assert "relative_error" not in out  # one name per metric
    assert out["convergence"]["converged"] and out["convergence"]["hint"] is None


def test_solve_emulator_json_reports_chip_settings_and_is_reproducible(capsys, problem_file):
    argv = ["solve", str(problem_file), "--backend", "emulator", "--duration", "0.5", "--dt", "2e-4",
            "--seed", "9", "--json"]
    first, second = run_json(capsys, argv), run_json(capsys, argv)
    assert first["hw"] == "loihi2" and first["dt"] == 2e-4 and first["steps"] == 2500
    assert first["rates"] == second["rates"]
    assert first["relative_error_of_mean"] < 0.2
    assert first["convergence"]["drift"] is not None  # the emulator's half run


def test_solve_text_names_both_errors_and_the_trial_mean_metrics(capsys, problem_file):
    assert main(["solve", str(problem_file), "--duration", "0.5", "--trials", "2", "--seed", "1"]) == 0
    text = capsys.readouterr().out
    assert "relative_error_of_mean" in text and "mean_relative_error" in text
    assert "metrics of the trial-mean rates" in text and "convergence:" in text


def _mistuned(problem, tau_syn=5e-3):
    from lava_causal import build_network, mistune
    return mistune(build_network(tasks.cosine_basis(n=40, m=10)), -0.1, 0.1, seed=0)


def test_unstable_network_exits_2_with_one_line_unless_allowed(capsys, monkeypatch, tmp_path):
    import lava_causal.solve

    path = tmp_path / "cos.npz"
    tasks.cosine_basis(n=40, m=10).save(path)
    monkeypatch.setattr(lava_causal.solve, "build_network", _mistuned)
    assert main(["solve", str(path), "--duration", "0.05"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "unstable" in err[0]
    assert "--allow-unstable" in err[0]
    with pytest.warns(RuntimeWarning, match="unstable"):
        assert main(["solve", str(path), "--duration", "0.05", "--allow-unstable", "--json"]) == 0


def test_compile_prints_the_report_and_writes_a_loadable_network(capsys, tmp_path, problem_file):
    out_path = tmp_path / "net.npz"
    assert main(["compile", str(problem_file), "--hw", "loihi2", "-o", str(out_path)]) == 0
    text = capsys.readouterr().out
    assert "Quantization report" in text and "weights" in text and str(out_path) in text
    fixed = compiler.load(out_path)
    assert fixed.hw_name == "loihi2" and fixed.n == 100


def test_compile_json_and_weight_bit_override(capsys, problem_file):
    report = run_json(capsys, ["compile", str(problem_file), "--weight-bits", "4",
                               "--weight-splits", "1", "--json"])
    coarse = report["weights"]["max_rel_error"]
    report8 = run_json(capsys, ["compile", str(problem_file), "--weight-splits", "1", "--json"])
    assert coarse > 4 * report8["weights"]["max_rel_error"]


def test_info_lists_every_config_and_loihi_status(capsys):
    info = run_json(capsys, ["info", "--json"])
    assert [row["name"] for row in info["hardware"]] == compiler.list_hardware()
    assert {"loihi1", "loihi2"} <= {row["name"] for row in info["hardware"]}
    assert "lava-loihi" in info["loihi"] or "installed" in info["loihi"]


def bad_problem(tmp_path, **arrays):
    path = tmp_path / "bad.npz"
    base = {"features": np.eye(3), "observation": np.ones(3)}
    base.update(arrays)
    np.savez(path, **base)
    return str(path)


@pytest.mark.parametrize("make_argv, fragment", [
    (lambda t, p: ["solve", str(t / "missing.npz")], "does not exist"),
    (lambda t, p: ["solve", _write(t / "junk.npz", b"not a zip")], "junk.npz"),
    (lambda t, p: ["solve", bad_problem(t, observation=np.array([1.0, np.nan, 1.0]))], "observation"),
    (lambda t, p: ["solve", bad_problem(t, observation=np.ones(4))], "observation"),
    (lambda t, p: ["solve", bad_problem(t, alpha=-1.0)], "alpha"),
    (lambda t, p: ["solve", str(p), "--duration", "-1"], "--duration"),
    (lambda t, p: ["solve", str(p), "--duration", "nan"], "--duration"),
    (lambda t, p: ["solve", str(p), "--trials", "0"], "--trials"),
    (lambda t, p: ["solve", str(p), "--seed", "-3"], "--seed"),
    (lambda t, p: ["solve", str(p), "--backend", "gpu"], "--backend"),
    (lambda t, p: ["solve", str(p), "--backend", "emulator", "--hw", "loihi9"], "loihi9"),
    (lambda t, p: ["solve", str(p), "--backend", "emulator", "--duration", "1e-6"], "step"),
    (lambda t, p: ["compile", str(p), "--hw", str(t / "nope.toml")], "nope.toml"),
    (lambda t, p: ["task", "nosuchtask", "-o", str(t / "x.npz")], "nosuchtask"),
    (lambda t, p: ["task", "mixture", "-o", _write(t / "file", b"") + "/x.npz"], "file"),
    (lambda t, p: [], "COMMAND"),
])
def test_user_errors_exit_2_with_one_line(capsys, tmp_path, problem_file, make_argv, fragment):
    assert main(make_argv(tmp_path, problem_file)) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert fragment in lines[0]
    assert "Traceback" not in captured.err


def test_strict_compile_that_cannot_fit_exits_2(capsys, tmp_path):
    # causes with nearly parallel features: huge, nearly cancelling weights beside tiny ones
    rng = np.random.default_rng(0)
    features = np.abs(rng.normal(size=(4, 6))) + 1e-6
    features[:, 1] = features[:, 0] * 1e4
    path = tmp_path / "wide.npz"
    CausalProblem(features, np.ones(4)).save(path)
    status = main(["compile", str(path), "--strict", "--weight-bits", "2", "--weight-splits", "1",
                   "--bias-bits", "2"])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1 and err[0].startswith("error: ")


def test_console_script_runs_as_a_process(tmp_path, problem_file):
    proc = subprocess.run([sys.executable, "-m", "lava_causal.cli", "solve", str(tmp_path / "x.npz")],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and proc.stdout == ""


def _write(path, data):
    path.write_bytes(data)
    return str(path)


# --------------------------------------------------------------------- every flag
BAD_FLAGS = [
    ("solve", ["--duration", "inf"], "--duration"),
    ("solve", ["--duration", "0"], "--duration"),
    ("solve", ["--duration", "1e300"], "64-bit"),
    ("solve", ["--duration", "1e9"], "--force"),
    ("solve", ["--dt", "0"], "--dt"),
    ("solve", ["--dt", "nan"], "--dt"),
    ("solve", ["--dt", "1e-300"], "steps"),
    ("solve", ["--trials", "1.5"], "--trials"),
    ("solve", ["--trials", "1000000000"], "reduce --trials"),
    ("solve", ["--seed", "1.5"], "--seed"),
    ("solve", ["--seed", "x"], "--seed"),
    ("solve", ["--tau-syn", "-1"], "--tau-syn"),
    ("solve", ["--tau-syn", "nan"], "--tau-syn"),
    ("solve", ["--target-error", "0"], "--target-error"),
    ("solve", ["--hw", "loihi2"], "--hw"),
    ("solve", ["--backend", "emulator", "--duration", "1e9"], "days of emulation"),
    ("compile", ["--dt", "-1"], "--dt"),
    ("compile", ["--tau-syn", "inf"], "--tau-syn"),
    ("compile", ["--weight-bits", "0"], "--weight-bits"),
    ("compile", ["--weight-bits", "eight"], "--weight-bits"),
    ("compile", ["--bias-bits", "1"], "--bias-bits"),
    ("compile", ["--weight-splits", "9"], "--weight-splits"),
    ("compile", ["--seed", "-1"], "--seed"),
    ("place", ["--duration", "-1"], "--duration"),
    ("place", ["--max-chips", "0"], "--max-chips"),
    ("place", ["--dt", "inf"], "--dt"),
    ("cost", ["--duration", "-1"], "--duration"),
    ("cost", ["--duration", "inf"], "--duration"),
    ("cost", ["--duration", "0"], "--duration"),
    ("cost", ["--duration", "1e-9"], "shorter than one step"),
    ("cost", ["--duration", "1e300"], "64-bit"),
    ("cost", ["--duration", "2e6"], "--force"),
    ("export", ["--nir", "out.nir", "--tau-syn", "-1"], "--tau-syn"),
    ("budget", ["--duration", "inf"], "--duration"),
    ("budget", ["--trials", "0"], "--trials"),
]


@pytest.mark.parametrize("command, flags, fragment", BAD_FLAGS,
                         ids=[f"{c} {' '.join(f)}" for c, f, _ in BAD_FLAGS])
def test_each_bad_flag_value_exits_2_with_one_line(capsys, problem_file, command, flags, fragment):
    assert main([command, str(problem_file)] + flags) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], lines
    assert "Traceback" not in captured.err and captured.out == ""
    # refused before any long computation (the one-line refusal is the check; no wall clock)


@pytest.mark.parametrize("argv, fragment", [
    (["task", "mixture", "--seed", "-1", "-o", "x.npz"], "--seed"),
    (["reproduce", "fig2", "--seed", "x"], "--seed"),
    (["reproduce", "fig2", "--out", "{p}"], "not a folder"),
    (["task", "mixture", "-o", "{tmp}"], "directory"),
    (["compile", "{p}", "-o", "{tmp}"], "directory"),
    (["export", "{p}", "--nir", "{p}"], "overwrite the input"),
    (["place", "{p}", "--plot", "{tmp}"], "directory"),
])
def test_output_and_other_flags_are_checked_first(capsys, tmp_path, problem_file, argv, fragment):
    argv = [a.format(p=problem_file, tmp=tmp_path) for a in argv]
    assert main(argv) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], lines


def test_compile_refuses_to_overwrite_its_input(capsys, tmp_path, problem_file):
    path = tmp_path / "same.npz"
    path.write_bytes(problem_file.read_bytes())
    before = path.read_bytes()
    for target in (str(path), str(tmp_path / "." / "same.npz")):
        assert main(["compile", str(path), "-o", target]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "overwrite the input" in err[0]
    assert path.read_bytes() == before


def test_complex_features_are_refused(capsys, tmp_path):
    path = bad_problem(tmp_path, features=np.eye(3) + 1j)
    assert main(["solve", path]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "complex" in err[0] and "features" in err[0]
    with pytest.raises(ValueError, match="complex"):
        CausalProblem(np.eye(2), np.ones(2) * (1 + 2j))
    with pytest.raises(ValueError, match="alpha"):
        CausalProblem(np.eye(2), np.ones(2), alpha=1j)


def test_hw_with_a_chip_backend_is_used(capsys, problem_file):
    out = run_json(capsys, ["solve", str(problem_file), "--backend", "emulator", "--hw", "loihi1",
                            "--duration", "0.05", "--seed", "1", "--json"])
    assert out["hw"] == "loihi1"
