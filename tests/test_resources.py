"""Runs that cannot fit are refused before they start: zip bombs, huge trials, N and
durations, each with the estimate and the limit in one line; seeds that replay."""
import io
import re
import json
import time
import tracemalloc
import zipfile

import numpy as np
import pytest

import compiler
from compiler.system.files import MEMORY_LIMIT_ENV, read_npz
from compiler.system import resources
from lava_causal import CausalProblem, build_network, tasks
from lava_causal.cli import main
from compiler.system.resources import ResourceError
from lava_causal.solve import SEED_BOUND, run_backend

BOMB_SHAPE = (1, 10**9)  # 7.45 GiB of float64


def npy_header(shape, descr="<f8"):
    out = io.BytesIO()
    np.lib.format.write_array_header_1_0(out, {"descr": descr, "fortran_order": False, "shape": shape})
    return out.getvalue()


def header_bomb(path, shape=BOMB_SHAPE, extra=None):
    """An .npz of a few hundred bytes whose ``features`` declares ``shape``."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("features.npy", npy_header(shape) + b"\0" * 64)
        with archive.open("observation.npy", "w") as handle:
            np.lib.format.write_array(handle, np.ones(shape[0]))
        for name, array in (extra or {}).items():
            with archive.open(name + ".npy", "w") as handle:
                np.lib.format.write_array(handle, array)
    return str(path)


def deflate_bomb(path, megabytes=64, npy=True):
    """An .npz whose one member really inflates to ``megabytes`` MiB of zeros."""
    name = "features.npy" if npy else "blob"
    chunk = bytes(1 << 20)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open(name, "w") as handle:
            if npy:
                handle.write(npy_header((1, megabytes * 2**20 // 8)))
            for _ in range(megabytes):
                handle.write(chunk)
    return str(path)


def refused_quickly(call, match, exc=ValueError, seconds=2.0, peak_bytes=8 * 2**20):
    """``call()`` raises ``exc`` matching ``match`` within ``seconds`` and allocates less
    than ``peak_bytes`` (tracemalloc, numpy's allocations included)."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(exc, match=match) as info:
            call()
        elapsed = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < peak_bytes, (elapsed, peak)   # memory, not wall-clock time, is the proof
    return str(info.value)


# --------------------------------------------------------------------- zip bombs
def test_a_member_declaring_a_huge_shape_is_refused_without_allocating(tmp_path):
    path = header_bomb(tmp_path / "bomb.npz")
    assert (tmp_path / "bomb.npz").stat().st_size < 2000
    message = refused_quickly(lambda: read_npz(path, "problem", limit=2**30), r"7\.45 GiB")
    assert "bomb.npz" in message and "(1, 1000000000)" in message and "1 GiB" in message
    # with no limit it is still refused: the member does not hold what its header declares
    refused_quickly(lambda: read_npz(path, "problem", limit=None), "corrupt")


def test_the_loaders_refuse_the_bomb(tmp_path):
    path = header_bomb(tmp_path / "bomb.npz")
    refused_quickly(lambda: CausalProblem.load(path), "bomb.npz")
    refused_quickly(lambda: compiler.load(path), "bomb.npz", exc=compiler.SerializationError)


def test_an_unused_huge_member_is_not_read_when_keys_are_given(tmp_path):
    path = header_bomb(tmp_path / "bomb.npz", shape=(3, 3), extra={"huge": np.zeros(0)})
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("unused.npy", npy_header(BOMB_SHAPE))
    out = read_npz(path, "problem", keys=["observation"], limit=2**20)
    assert list(out) == ["observation"]
    with pytest.raises(ValueError, match="unused"):
        read_npz(path, "problem", limit=2**20)  # every member: the bomb is refused


@pytest.mark.parametrize("npy", [True, False])
def test_a_deflate_bomb_is_refused_on_its_declared_size(tmp_path, monkeypatch, npy):
    path = deflate_bomb(tmp_path / "deflate.npz", megabytes=64, npy=npy)
    assert (tmp_path / "deflate.npz").stat().st_size < 2**20
    monkeypatch.setenv(MEMORY_LIMIT_ENV, "16M")
    message = refused_quickly(lambda: read_npz(path, "problem"), "64 MiB")
    assert MEMORY_LIMIT_ENV in message


def test_the_cli_refuses_the_bomb_in_one_line_before_loading(tmp_path, capsys):
    path = header_bomb(tmp_path / "bomb.npz")
    assert main(["solve", path]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "1000000000 causes" in err[0] and "EiB" in err[0]


# --------------------------------------------------------------------- runs
@pytest.fixture(scope="module")
def small():
    return tasks.discrimination(0, n=12, m=12)


def test_a_billion_trials_are_refused_with_the_estimate(small):
    message = refused_quickly(lambda: run_backend(small, duration=0.1, trials=10**9), "needs ~",
                              exc=ResourceError, peak_bytes=64 * 2**20)
    assert "1000000000 trial(s) x 12 neurons" in message and "GiB for" in message
    assert "available" in message and "reduce --trials/N" in message
    refused_quickly(lambda: run_backend(small, backend="emulator", duration=0.1, trials=10**9),
                    "the emulation", exc=ResourceError, seconds=30, peak_bytes=64 * 2**20)


@pytest.mark.parametrize("backend, duration, match", [
    ("float", 1e9, r"1e\+14 steps, more than the limit of 1e\+10"),
    ("float", 1e300, "64-bit"),
    ("emulator", 1e9, r"1e\+13 steps \(~.* days of emulation\)"),
])
def test_huge_durations_are_refused_before_any_work(small, backend, duration, match):
    message = refused_quickly(lambda: run_backend(small, backend=backend, duration=duration),
                              match, exc=ResourceError)
    assert "--duration" in message


def test_the_step_limit_yields_to_force_but_not_the_64_bit_one():
    assert resources.check_steps(10**11, force=True) == 10**11
    with pytest.raises(ResourceError, match="--force"):
        resources.check_steps(10**11)
    with pytest.raises(ResourceError, match="64-bit"):
        resources.check_steps(2**63, force=True)
    with pytest.raises(ValueError, match="--duration"):
        resources.steps_for(float("inf"), 1e-4)


def test_sixty_thousand_causes_are_refused_with_the_estimate(tmp_path, capsys):
    rng = np.random.default_rng(0)
    problem = CausalProblem(np.abs(rng.normal(size=(2, 60000))), np.ones(2))
    message = refused_quickly(lambda: run_backend(problem, duration=0.1), "60000 causes",
                              exc=ResourceError, peak_bytes=64 * 2**20)
    assert re.search(r"needs ~[\d.]+ GiB for the network of 60000 causes", message)
    path = tmp_path / "wide.npz"
    problem.save(path)
    for argv in (["solve", str(path)], ["compile", str(path)], ["cost", str(path)]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "60000 causes" in err[0] and "reduce N" in err[0]


def test_check_memory_message_and_limit():
    with pytest.raises(ResourceError) as info:
        resources.check_memory(3 * 2**30, "a thing", "do less", limit=2**30)
    assert str(info.value) == "needs ~3 GiB for a thing, more than the 1 GiB available; do less"
    assert resources.check_memory(3 * 2**30, "a thing", limit=2**30, force=True) == 3 * 2**30
    assert resources.check_memory(3 * 2**30, "a thing", limit=None) == 3 * 2**30


def test_simulate_and_emulate_checks_see_recording_and_rasters(small):
    network = build_network(small)
    light = resources.check_simulate(network, 1.0, 1e-5, 2, limit=None)
    recorded = resources.check_simulate(network, 1.0, 1e-5, 2, record_spikes=True, limit=None)
    assert recorded["bytes"] > light["bytes"] and light["steps"] == 100000
    fixed = compiler.compile(network, hw="loihi2", dt=1e-4)
    with pytest.raises(ResourceError, match="raster"):
        resources.check_emulate(fixed, 10**7, trials=100, record=True, limit=2**30)
    assert resources.check_emulate(fixed, 10**7, trials=100, limit=2**30)["steps"] == 10**7


def _peak(call):
    tracemalloc.start()
    try:
        call()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_the_float_estimates_bound_the_measured_peaks():
    from compiler.quantization.stability import check_stable
    from lava_causal.simulator import simulate

    n, trials = 800, 3
    rng = np.random.default_rng(1)
    u = np.abs(rng.normal(size=(4, n)))
    problem = CausalProblem(u, u @ np.abs(rng.normal(size=n)) * 0.01, alpha=0.1, beta=0.1)
    holder = {}

    def build():
        holder["net"] = build_network(problem)
        check_stable(holder["net"], allow_unstable=True)

    assert _peak(build) <= resources.network_memory(n)
    net = holder["net"]
    simulate(build_network(CausalProblem(u[:, :5], problem.observation, alpha=0.1, beta=0.1)), 2e-3,
             trials=trials, seed=0, allow_unstable=True)  # numba's compilation is not the run's
    assert _peak(lambda: simulate(net, 2e-3, trials=trials, seed=0, allow_unstable=True)) \
        <= resources.simulate_memory(n, trials)


@pytest.mark.slow
def test_the_chip_estimates_bound_the_measured_peaks():
    from compiler.quantization.stability import check_stable

    n = 1000
    rng = np.random.default_rng(1)
    u = np.abs(rng.normal(size=(4, n)))
    problem = CausalProblem(u, u @ np.abs(rng.normal(size=n)) * 0.01, alpha=0.1, beta=0.1)
    net = build_network(problem)
    check_stable(net, allow_unstable=True)
    for splits in (1, 4):
        holder = {}
        peak = _peak(lambda: holder.setdefault("fixed", compiler.compile(
            net, hw="loihi2", dt=1e-4, weight_splits=splits, allow_unstable=True)))
        assert peak <= resources.compile_memory(n, splits)
        fixed = holder["fixed"]
        assert _peak(lambda: compiler.emulate(fixed, 5, trials=2, seed=0, allow_unstable=True)) \
            <= resources.emulate_memory(n, 2, 5, splits=fixed.n_splits, max_delay=fixed.max_delay)


# --------------------------------------------------------------------- seeds
@pytest.fixture(scope="module")
def problem_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("seed") / "disc.npz"
    tasks.discrimination(0, n=12, m=12).save(path)
    return str(path)


@pytest.mark.parametrize("backend", ["float", "emulator"])
def test_the_printed_seed_replays_the_run(capsys, problem_file, backend):
    argv = ["solve", problem_file, "--backend", backend, "--duration", "0.2", "--trials", "2", "--json"]
    assert main(argv) == 0
    first = json.loads(capsys.readouterr().out)
    assert isinstance(first["seed"], int) and 0 <= first["seed"] < SEED_BOUND
    assert main(argv + ["--seed", str(first["seed"])]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["seed"] == first["seed"] and again["rates"] == first["rates"]


def test_the_seed_in_the_text_report_is_accepted_by_seed(capsys, problem_file):
    assert main(["solve", problem_file, "--duration", "0.1"]) == 0
    head = capsys.readouterr().out.splitlines()[0]
    seed = int(head.rsplit("seed ", 1)[1].split(",")[0])
    assert main(["solve", problem_file, "--duration", "0.1", "--seed", str(seed)]) == 0


def test_a_128_bit_seed_from_an_earlier_version_is_accepted(capsys, problem_file):
    seed = 2**128 - 1
    assert main(["solve", problem_file, "--duration", "0.1", "--seed", str(seed), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["seed"] == seed


def test_simulate_and_emulate_themselves_refuse_runs_that_cannot_fit(small, monkeypatch):
    """The library entry points check memory before allocating (the budget, sweeps and
    the reproduction call them directly, not through the CLI's checks)."""
    from lava_causal.simulator import simulate

    network = build_network(small)
    fixed = compiler.compile(network, hw="loihi2", dt=1e-4)
    monkeypatch.setenv("LAVA_CAUSAL_MEMORY_LIMIT", "1M")
    with pytest.raises(ResourceError, match=r"float simulation \(100000 trial"):
        simulate(network, 0.01, 1e-4, trials=100000)
    with pytest.raises(ResourceError, match="raster"):
        compiler.emulate(fixed, 10**6, trials=10, record=True)
    monkeypatch.setenv("LAVA_CAUSAL_MEMORY_LIMIT", "none")
    assert simulate(network, 0.01, 1e-4, trials=2).counts.shape[0] == 2


def test_sparse_problems_are_estimated_by_their_couplings(tmp_path, capsys):
    """A sparse problem of 100,000 causes is not refused as if it were N x N dense, and
    the coupling bound bounds the true non-zeros of U^T U."""
    problem = tasks.sparse_causes(2000, seed=1)
    couplings = resources.coupling_bound(problem.features)
    gram = (problem.features.T @ problem.features).tocsr()
    assert gram.nnz <= couplings + problem.n_causes
    assert couplings == resources.coupling_bound(problem.features.tocsr())
    big = tasks.sparse_causes(100_000, seed=1)
    assert resources.check_problem(big.n_inputs, big.n_causes, chip=True, features=big.features,
                                   limit=2**32) < 2**31
    with pytest.raises(ResourceError, match="sparse network of 100000 causes"):
        resources.check_problem(big.n_inputs, big.n_causes, chip=True, features=big.features,
                                limit=2**20)
    path = tmp_path / "sparse.npz"
    problem.save(path)
    assert main(["compile", str(path), "--json"]) == 0
