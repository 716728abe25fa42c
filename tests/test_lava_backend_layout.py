"""The Lava backend's layout and its one error where Lava is missing.

``compiler/backends/lava/`` is split by concern (checks, cleanup, runtime, build, run),
each module importing only those below it in that order. Where lava-nc does not
import, everything that needs it raises :class:`compiler.BackendUnavailable` with one
line naming the ``lava-causal[lava]`` extra and this Python's version; the absence is
simulated here (``sys.modules["lava"] = None`` makes ``import lava`` fail), so these
tests run with or without Lava installed.
"""
import importlib.util
import json
import platform
import sys

import numpy as np
import pytest

import compiler
from compiler.backends.lava import checks, runtime
from compiler.backends.lava.runtime import BackendUnavailable, lava_status
from test_architecture import import_graph

LAYERS = ["checks", "cleanup", "runtime", "build", "run"]
"""The backend's modules, each allowed to import only those before it."""


@pytest.fixture
def no_lava(monkeypatch):
    """Make ``import lava`` fail, as where lava-nc is not installed."""
    monkeypatch.setitem(sys.modules, "lava", None)


def tiny_network(n=4):
    rng = np.random.default_rng(0)
    w = rng.integers(-64, 64, (n, n)) * 2
    np.fill_diagonal(w, 0)
    return compiler.FixedPointNetwork(weights=(w,), weight_exps=(0,), bias_mant=rng.integers(0, 4000, n),
                                      bias_exp=np.zeros(n, int), vth=2000, du=200, dv=40, dt=1e-4)


# -------------------------------------------------------------------- layout
def test_each_module_imports_only_the_layers_below_it():
    graph = import_graph()
    package = "compiler.backends.lava"
    for i, name in enumerate(LAYERS):
        above = {f"{package}.{other}" for other in LAYERS[i + 1:]}
        assert not above & set(graph.successors(f"{package}.{name}")), name
    assert package not in {target for name in LAYERS for target in graph.successors(f"{package}.{name}")}


def test_the_package_re_exports_the_public_names():
    import compiler.backends.lava as lava_backend

    for name in lava_backend.__all__:
        assert getattr(lava_backend, name) is not None, name
    assert compiler.BackendUnavailable is lava_backend.BackendUnavailable is BackendUnavailable
    assert issubclass(BackendUnavailable, RuntimeError)
    assert compiler.run_lava is lava_backend.run_lava
    assert lava_backend.TAGS == ("fixed_pt", "floating_pt") and lava_backend.TARGETS == ("cpu", "loihi2")


# ------------------------------------------------------------- missing Lava
def test_lava_status_matches_what_imports_here():
    available, line = lava_status()
    assert available == (importlib.util.find_spec("lava") is not None)
    assert "\n" not in line
    if available:
        assert line.startswith("lava-nc ")


def test_without_lava_run_lava_raises_one_line_naming_the_extra_and_python(no_lava):
    available, reason = lava_status()
    assert not available
    with pytest.raises(BackendUnavailable) as err:
        compiler.run_lava(tiny_network(), 10, seed=1)
    message = str(err.value)
    assert message == reason and "\n" not in message
    assert "lava-causal[lava]" in message and f"Python {platform.python_version()}" in message
    for needs_lava in (runtime.loihi_available, runtime.import_lava,
                       lambda: runtime.run_config("cpu", "fixed_pt")):
        with pytest.raises(BackendUnavailable, match=r"lava-causal\[lava\]"):
            needs_lava()


def test_the_reason_names_python_3_10_where_lava_cannot_install(no_lava, monkeypatch):
    monkeypatch.setattr(runtime, "LAVA_PYTHON", (2, 7))
    assert lava_status()[1] == (
        f"the Lava backend needs lava-nc, which installs only on Python 2.7 (this is Python "
        f"{platform.python_version()}): pip install 'lava-causal[lava]' in a Python 2.7 environment")
    monkeypatch.setattr(runtime, "LAVA_PYTHON", tuple(sys.version_info[:2]))
    assert lava_status()[1] == (f"the Lava backend needs lava-nc, which is not installed (this is "
                                f"Python {platform.python_version()}): pip install 'lava-causal[lava]'")


def test_the_checks_need_no_lava(no_lava):
    fixed = tiny_network()
    assert compiler.check_lava_compatible(fixed) == ("mixed",)
    assert compiler.weight_sign_mode(np.array([[0, 3]])) == "excitatory"
    assert checks.resolve_connectivity(fixed) == "dense"
    with pytest.raises(ValueError, match="steps"):  # bad arguments are refused before Lava is needed
        compiler.run_lava(fixed, 0)


# ----------------------------------------------------------------------- CLI
@pytest.fixture
def cli():
    return pytest.importorskip("lava_causal.cli")


def test_info_lists_the_backends_and_why_not(cli, capsys):
    from lava_causal.solve import BACKENDS

    assert cli.main(["info", "--json"]) == 0
    backends = json.loads(capsys.readouterr().out)["backends"]
    assert list(backends) == list(BACKENDS)
    assert backends["float"]["available"] and backends["emulator"]["available"]
    lava_ok, lava_line = lava_status()
    assert backends["lava"] == backends["lava-float"] == {"available": lava_ok, "detail": lava_line}
    assert backends["loihi2"]["available"] is False or lava_ok
    assert cli.main(["info"]) == 0
    out = capsys.readouterr().out
    assert "backends (--backend):" in out and "Loihi support:" in out


def test_info_without_lava_says_how_to_get_it(cli, capsys, no_lava):
    assert cli.main(["info", "--json"]) == 0
    backends = json.loads(capsys.readouterr().out)["backends"]
    for name in ("lava", "lava-float", "loihi2"):
        assert not backends[name]["available"]
        assert "lava-causal[lava]" in backends[name]["detail"]
    assert backends["emulator"]["available"]


def test_the_cli_reports_missing_lava_as_one_line_exit_2(cli, capsys, tmp_path, no_lava):
    problem = tmp_path / "disc.npz"
    assert cli.main(["task", "discrimination", "--seed", "3", "-o", str(problem)]) == 0
    capsys.readouterr()
    assert cli.main(["solve", str(problem), "--backend", "lava", "--duration", "0.01"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: the Lava backend needs lava-nc")
    assert "lava-causal[lava]" in err[0]
