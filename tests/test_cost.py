"""Energy / operation estimates per decode."""
import numpy as np
import pytest

import compiler
from compiler.deploy.cost import estimate_cost, qp_cost
from compiler.backends.emulator import ExecutionResult


def two_split(n=10, seed=3):
    rng = np.random.default_rng(seed)
    ws = []
    for _ in range(2):
        w = rng.integers(-100, 100, (n, n)) * 2 * (rng.random((n, n)) < 0.4)
        np.fill_diagonal(w, 0)
        ws.append(w)
    return compiler.FixedPointNetwork(weights=tuple(ws), weight_exps=(3, -2), bias_mant=np.full(n, 100),
                                      bias_exp=np.zeros(n, int), vth=2000, du=4095, dv=0, dt=1e-4)


def test_counts_follow_the_model():
    fixed = two_split()
    counts = np.arange(20).reshape(2, 10)  # two trials
    res = ExecutionResult(counts=counts, steps=300, dt=fixed.dt, seed=0, backend="emulator",
                          hw_name="loihi2")
    est = estimate_cost(fixed, res)
    fan_out = sum((w != 0).sum(axis=0) for w in fixed.weights)
    mean = counts.mean(axis=0)
    assert est["label"] == "estimate"
    assert est["synaptic_ops"] == pytest.approx(mean @ fan_out)
    assert est["neuron_updates"] == 10 * 300
    hw = compiler.load_hardware("loihi2")
    assert est["energy_j"] == pytest.approx((mean @ fan_out * hw.synaptic_op_pj
                                             + 3000 * hw.neuron_update_pj) * 1e-12)
    assert est["model_time_s"] == pytest.approx(0.03)
    assert est["unverified"] == ["energy.synaptic_op_pj", "energy.neuron_update_pj"]
    assert est["packets_between_cores"] == 0  # 10 neurons fit one core


def test_wrong_result_shape_is_refused():
    fixed = two_split()
    res = ExecutionResult(counts=np.zeros((1, 3)), steps=10, dt=fixed.dt, seed=0, backend="emulator",
                          hw_name="loihi2")
    with pytest.raises(ValueError, match="3 neurons"):
        estimate_cost(fixed, res)


def test_qp_cost_model():
    hw = compiler.load_hardware("loihi2")
    est = qp_cost(100, 5000, 200)
    assert est["energy_j"] == pytest.approx(200 * (5000 * hw.synaptic_op_pj + 100 * hw.neuron_update_pj) * 1e-12)


def test_place_cost_export_commands(tmp_path, capsys):
    from lava_causal import tasks
    from lava_causal.cli import main

    prob = tmp_path / "p.npz"
    tasks.random_problem(seed=1, m=12, n=10).save(prob)
    main(["place", str(prob), "--hw", "loihi2", "--plot", str(tmp_path / "cores.png")])
    assert "10 neurons on 1 core(s)" in capsys.readouterr().out
    assert (tmp_path / "cores.png").stat().st_size > 0
    main(["cost", str(prob), "--hw", "loihi2", "--duration", "0.05"])
    out = capsys.readouterr().out
    assert "ESTIMATE" in out and "500 steps" in out
    main(["export", str(prob), "--nir", str(tmp_path / "net.nir")])
    nir = pytest.importorskip("nir")
    assert nir.read(tmp_path / "net.nir").nodes["rec"].weight.shape == (10, 10)
