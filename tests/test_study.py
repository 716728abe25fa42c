"""Factorial studies: spec, execution on joblib and Dask, resumability, corrupt cells, effects."""
import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from lava_causal.cli import main
from lava_causal.study import SpecError, load_spec, run
from lava_causal.study import cells as cells_module
from lava_causal.study.results import StudyResult

MINIMAL = """
[problem]
family = "discrimination"
seed = 0
[factors]
weight_bits = [4, 8]
dt = [1e-4, 2e-4]
[run]
hw = "loihi2"
duration = 0.5
trials = 2
seed = 1
metrics = ["relative_error"]
"""

SMALL = {
    "problem": {"family": "random", "seed": 3, "n": 12, "m": 16},
    "factors": {"weight_bits": [3, 8], "dt": [1e-4, 2e-4], "overlap": [0.1, 0.5]},
    "run": {"duration": 0.3, "trials": 3, "seed": 2, "metrics": ["relative_error", "percent_error"]},
}


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def table(result):
    return sorted((r["key"], r["metric"], r["mean"], r["ci_low"], r["ci_high"], r["trials"]) for r in result.rows())


def cell_files(out):
    return sorted(Path(out, "cells").rglob("*.json"))


def test_the_minimal_spec_runs_as_written(tmp_path):
    spec_path = tmp_path / "spec.toml"
    spec_path.write_text(MINIMAL)
    result = run(spec_path, tmp_path / "out")
    assert result.summary["cells_total"] == 4 and result.summary["cells_computed"] == 4
    rows = result.rows()
    assert len(rows) == 4 and {r["weight_bits"] for r in rows} == {4, 8} and {r["dt"] for r in rows} == {1e-4, 2e-4}
    for r in rows:
        assert r["ci_low"] <= r["mean"] <= r["ci_high"] and r["trials"] == 2 and r["hw"] == "loihi2"
        assert "numpy" in json.loads(r["versions"])
    import pyarrow.parquet as pq
    parquet = pq.read_table(tmp_path / "out" / "results.parquet").to_pylist()
    assert sorted(p["mean"] for p in parquet) == sorted(r["mean"] for r in rows)
    assert (tmp_path / "out" / "results.csv").read_text().count("\n") == 5
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert {"cells_total", "cells_computed", "cells_cached"} <= set(summary)


def test_joblib_and_dask_give_the_same_table(tmp_path):
    local = run(SMALL, tmp_path / "local", scheduler="local", jobs=2)
    dask = run(SMALL, tmp_path / "dask", scheduler="dask", jobs=2)
    assert local.summary["cells_total"] == 8 == dask.summary["cells_computed"]
    assert table(local) == table(dask)


def test_a_killed_run_resumes_with_only_the_missing_cells(tmp_path, monkeypatch):
    calls = {"n": 0}
    original = cells_module.run_cell

    def dies_after_three(cell):
        if calls["n"] == 3:
            raise KeyboardInterrupt   # Ctrl-C in the middle of the fourth cell
        calls["n"] += 1
        return original(cell)

    from lava_causal.study import engine
    monkeypatch.setattr(engine, "run_cell", dies_after_three)
    with pytest.raises(KeyboardInterrupt):
        run(SMALL, tmp_path / "out")
    assert len(cell_files(tmp_path / "out")) == 3
    monkeypatch.setattr(engine, "run_cell", original)
    resumed = run(SMALL, tmp_path / "out")
    assert (resumed.summary["cells_computed"], resumed.summary["cells_cached"]) == (5, 3)
    fresh = run(SMALL, tmp_path / "fresh")
    assert table(resumed) == table(fresh)
    again = run(SMALL, tmp_path / "out")
    assert (again.summary["cells_computed"], again.summary["cells_cached"]) == (0, 8)


def test_a_corrupt_cell_is_detected_and_recomputed(tmp_path):
    first = run(SMALL, tmp_path / "out")
    victim, other = cell_files(tmp_path / "out")[:2]
    victim.write_text(victim.read_text()[:40])             # truncated
    record = json.loads(other.read_text())
    record["result"]["per_trial"]["relative_error"][0] = float("nan")
    other.write_text(json.dumps(record).replace("NaN", "1e999"))
    with pytest.warns(RuntimeWarning, match="corrupt study cell"):
        second = run(SMALL, tmp_path / "out")
    assert (second.summary["cells_corrupt"], second.summary["cells_computed"]) == (2, 2)
    assert table(second) == table(first)


def test_a_changed_spec_reuses_the_cells_that_still_match(tmp_path):
    run(SMALL, tmp_path / "out")
    grown = json.loads(json.dumps(SMALL))
    grown["factors"]["weight_bits"] = [3, 5, 8]
    result = run(grown, tmp_path / "out")
    assert (result.summary["cells_cached"], result.summary["cells_computed"]) == (8, 4)


def test_effects_recover_a_known_additive_design():
    spec = load_spec({"problem": {"family": "random"}, "factors": {"weight_bits": [3, 4, 5], "dt": [1e-4, 2e-4]},
                      "run": {"trials": 40}})
    rng = np.random.default_rng(0)
    keys, results = [], {}
    for i, cell in enumerate(spec.cells()):
        a = spec.factors["weight_bits"].index(cell["levels"]["weight_bits"])
        values = 1.0 * a + 0.0 * (cell["levels"]["dt"] > 1e-4) + rng.normal(0, 0.1, 40)
        keys.append(str(i))
        results[str(i)] = {"per_trial": {"relative_error": values.tolist()},
                           "summary": {"relative_error": {"mean": float(values.mean())}}}
    result = StudyResult(spec=spec, cells=spec.cells(), keys=keys, results=results)
    effects = {e["source"]: e for e in result.effects()}
    assert result.effects()[0]["source"] == "weight_bits" and effects["weight_bits"]["p"] < 1e-10
    assert effects["dt"]["p"] > 0.001 and effects["weight_bits x dt"]["p"] > 0.001
    assert effects["weight_bits"]["share"] > 0.95


def test_heatmap_and_factor_plot(tmp_path):
    result = run(SMALL, tmp_path / "out")
    assert open(result.heatmap(tmp_path / "h.png", "weight_bits", "dt"), "rb").read(4) == b"\x89PNG"
    path = result.factor_plot(tmp_path / "f.png", "weight_bits", facet="overlap", hue="dt")
    assert open(path, "rb").read(4) == b"\x89PNG"
    assert "| source (relative_error)" in result.effects_table()


@pytest.mark.parametrize("change, match", [
    ({"problem": {"family": "nope"}}, "family = 'nope' is not a known family"),
    ({"factors": {"colour": [1, 2]}}, "'colour' is neither a run setting"),
    ({"factors": {"weight_bits": []}}, "must be a non-empty list"),
    ({"factors": {"weight_bits": [4, 4]}}, "repeats a level"),
    ({"run": {"metrics": ["speed"]}}, "metrics = \\['speed'\\]"),
    ({"run": {"trials": 0}}, "trials = 0 must be an integer >= 1"),
    ({"run": {"backend": "gpu"}}, "backend = 'gpu'"),
    ({"compile": {"weight_bits": 4}}, "weight_bits is both a factor and fixed"),
    ({"extra": {}}, "unknown section \\[extra\\]"),
])
def test_spec_errors_name_the_key(change, match):
    spec = json.loads(json.dumps(SMALL))
    for section, values in change.items():
        spec[section] = {**spec.get(section, {}), **values}
    with pytest.raises(SpecError, match=match):
        load_spec(spec)


def test_cli_study_json_summary_and_errors(tmp_path, capsys):
    spec_path = tmp_path / "spec.toml"
    spec_path.write_text(MINIMAL)
    assert main(["study", str(spec_path), "--out", str(tmp_path / "out"), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["cells_total"], summary["cells_computed"], summary["cells_cached"]) == (4, 4, 0)
    assert main(["study", str(spec_path), "--out", str(tmp_path / "out"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["cells_cached"] == 4
    bad = tmp_path / "bad.toml"
    bad.write_text(MINIMAL.replace('family = "discrimination"', 'family = "nope"'))
    assert main(["study", str(bad), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "family = 'nope'" in err[0]


def test_a_problem_file_and_a_problem_seed_factor(tmp_path):
    from lava_causal import tasks
    path = tmp_path / "mine.npz"
    tasks.random_problem(4, m=16, n=10).save(path)
    spec_path = tmp_path / "spec.toml"
    spec_path.write_text('[problem]\nfile = "mine.npz"\n[factors]\nweight_bits = [4, 8]\n'
                         '[run]\nduration = 0.2\ntrials = 2\n')
    first = run(spec_path, tmp_path / "out")
    assert first.summary["cells_computed"] == 2 and first.cells[0]["problem"]["file"] == str(path.resolve())
    tasks.random_problem(5, m=16, n=10).save(path)      # another problem in the same file
    assert run(spec_path, tmp_path / "out").summary["cells_computed"] == 2
    with pytest.raises(SpecError, match="takes no other keys"):
        load_spec({"problem": {"file": str(path), "seed": 1}})
    seeds = run({"problem": {"family": "random", "n": 8, "m": 12}, "factors": {"problem_seed": [1, 2]},
                 "run": {"duration": 0.2, "trials": 2}}, tmp_path / "seeds")
    assert seeds.summary["cells_computed"] == 2 and len({r["mean"] for r in seeds.rows()}) == 2


def test_sweep_runs_on_the_study_engine_with_the_same_numbers_everywhere():
    from lava_causal import sweep, tasks
    problem = tasks.random_problem(2, m=16, n=10)
    kw = dict(duration=0.2, trials=3, seed=1, progress=False)
    local = sweep(problem, "weight_bits", [4, 8], **kw)
    dask = sweep(problem, "weight_bits", [4, 8], scheduler="dask", n_jobs=2, **kw)
    np.testing.assert_array_equal(local.per_trial(), dask.per_trial())
    with pytest.raises(ValueError, match="n_jobs must be an integer >= 1 with scheduler='dask'"):
        sweep(problem, "weight_bits", [4], scheduler="dask", n_jobs=-1, **kw)
