"""The Fig. 4 search script (benchmarks/fig4_search.py): features and its table."""
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from lava_causal import tasks
from lava_causal.reproduction.fig4_variability import raised_cosine_problem

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def search():
    sys.path.insert(0, str(BENCHMARKS))
    try:
        spec = importlib.util.spec_from_file_location("fig4_search", BENCHMARKS / "fig4_search.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["fig4_search"] = module   # dataclasses look their module up there
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop("fig4_search", None)
        sys.path.remove(str(BENCHMARKS))


def test_full_circle_features_are_the_library_ones(search):
    assert np.allclose(search.features("signed", 100, 20, "full"), tasks.cosine_features(100, 20))
    assert np.allclose(search.features("raised", 100, 20, "full"), raised_cosine_problem().features)
    half = search.features("signed", 100, 20, "half")
    gram = half.T @ half
    assert gram.min() > -1 + 1e-4      # no antipodal pair on the half circle
    with pytest.raises(ValueError, match="all-zero"):
        search.features("signed", 100, 2, "full")


def test_identical_networks_for_every_m_from_3(search):
    variants = [search.Variant("signed", "half", m, 40, 0.0, "exp") for m in (3, 5)]
    variants.append(search.Variant("signed", "half", 2, 40, 0.0, "exp"))   # not buildable
    rows = search.search(variants, duration=0.05, trials=1, seed=0, progress=False)
    assert [row["ms"] for row in rows] == [[3, 5], [2]] and "error" in rows[1]


def test_table_has_the_columns_and_one_row_per_network(search):
    variants = [search.Variant("raised", "full", 10, 30, 0.0, "exp"),
                search.Variant("signed", "full", 10, 30, 0.0, "delta")]   # exact antipodes
    rows = search.search(variants, duration=0.3, trials=3, seed=0, progress=False)
    text = search.table(rows)
    lines = text.splitlines()
    assert lines[0] == "| " + " | ".join(search.COLUMNS) + " |" and len(lines) == 2 + len(rows)
    assert all(line.count("|") == len(search.COLUMNS) + 1 for line in lines)
    calm, runaway = rows
    assert not calm["runaway"] and calm["truncated_steps"] == 0
    assert calm["run_ok"] == (calm["angular_deg"] < search.STABLE_ANGLE)
    assert np.isfinite(calm["cv"]) and calm["cv_ci"][0] <= calm["cv"] <= calm["cv_ci"][1]
    assert runaway["runaway"] and runaway["truncated_steps"] > 0 and not runaway["run_ok"]
    assert runaway["spikes_per_step"]["max"] > 30
    assert "runaway" in lines[3]
