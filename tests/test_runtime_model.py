"""Wall-clock / energy per decode estimates (compiler.deploy.runtime_model)."""
import dataclasses

import numpy as np
import pytest

import compiler
from compiler import compile, emulate, place
from compiler.deploy.placement import Placement, synapse_matrix
from compiler.deploy.runtime_model import decode_cost, step_time
from compiler.deploy.cost import estimate_cost
from lava_causal import build_network, tasks


@pytest.fixture(scope="module")
def small():
    fixed = compile(build_network(tasks.discrimination(seed=0, n=20, m=20)), hw="loihi2", dt=1e-4)
    result = emulate(fixed, 1000, seed=1)
    return fixed, result


def hand_hw(**kw):
    base = compiler.load_hardware("loihi2")
    fields = dict(runtime_neuron_update_ns=10.0, runtime_synaptic_op_ns=4.0, runtime_spike_out_ns=8.0,
                  runtime_link_message_ns=6.0, runtime_barrier_ns=300.0, runtime_cores_per_router=1,
                  runtime_mesh_columns=8, path="")
    fields.update(kw)
    return dataclasses.replace(base, **fields).validated()


def hand_case(hw):
    # neuron 0 -> 1 (core 0), 0 -> 2, 0 -> 3 (core 1); one split
    w = np.zeros((4, 4), int)
    w[1, 0] = w[2, 0] = w[3, 0] = 2
    fixed = compiler.FixedPointNetwork(weights=w, weight_exps=0, bias_mant=np.zeros(4, int),
                                       bias_exp=np.zeros(4, int), vth=100, du=0, dv=0, dt=1e-3)
    rho = np.array([1.0, 0, 0, 0])
    p = Placement.build(fixed, hw, synapse_matrix(fixed), np.array([0, 0, 1, 1]), np.array([0, 0]), rho,
                        "test", "random", None)
    return fixed, p, rho


def test_hand_computed_case():
    hw = hand_hw()
    fixed, p, rho = hand_case(hw)
    st = step_time(fixed, p, rho, hw=hw)
    # D = (2, 2), S = (1, 2), M = (2, 0) messages (neuron 0 reaches cores 0 and 1), 1 message on link 0->1
    assert list(st["neuron_updates"]) == [2, 2]
    assert list(st["synaptic_ops"]) == [1, 2]
    assert list(st["spike_messages"]) == [2, 0]
    assert st["max_link_messages"] == 1
    assert st["link_messages"] == {(0, 0, 0, "E"): 1.0}
    terms = st["terms_s"]
    assert terms["neuron_updates"] == pytest.approx(20e-9)
    assert terms["synaptic_ops"] == pytest.approx(8e-9)
    assert terms["spike_messages"] == pytest.approx(16e-9)
    assert terms["mesh_links"] == pytest.approx(6e-9)
    assert st["step_time_s"] == pytest.approx(320e-9)  # max(20, 8, 16, 6) + 300 ns
    assert st["binding"] == "neuron_updates"
    summed = step_time(fixed, p, rho, hw=hw, overlap="sum")
    assert summed["step_time_s"] == pytest.approx(340e-9)  # core 0: 20 + 4 + 16 ns
    # X-Y routing: cores on routers (0,0) and (2,1) with one core per router and 2 columns
    hw2 = hand_hw(runtime_mesh_columns=2)
    fixed, _, rho = hand_case(hw2)
    p2 = Placement.build(fixed, hw2, synapse_matrix(fixed), np.array([0, 0, 3, 3]), np.zeros(4, int), rho,
                         "test", "random", None)
    st2 = step_time(fixed, p2, rho, hw=hw2)
    assert st2["link_messages"] == {(0, 0, 0, "E"): 1.0, (0, 1, 0, "N"): 1.0}


def test_units_labels_and_figures(small):
    fixed, result = small
    d = decode_cost(fixed, result)
    assert d["label"] == "estimate" and d["step"]["label"] == "estimate" and d["cost"]["label"] == "estimate"
    assert 1e-8 < d["step_time_s"] < 1e-3  # seconds, not ns
    assert d["time_per_decode_s"] == pytest.approx(1000 * d["step_time_s"])
    assert d["energy_per_decode_j"] == pytest.approx(estimate_cost(fixed, result)["energy_j"])  # joules
    assert d["energy_static_j"] is None  # no cited static power in loihi2.toml
    assert d["edp_js"] == pytest.approx(d["energy_per_decode_j"] * d["time_per_decode_s"])
    assert d["decodes_per_second"] == pytest.approx(1 / d["time_per_decode_s"])
    assert d["model_time_s"] == pytest.approx(0.1)
    assert "arXiv:2601.10035" in d["model"]
    figs = d["figures"]
    assert figs["barrier_ns"] == 299.0 and "SANA-FE" in figs["sources"]["times"]
    assert "runtime.barrier_ns" in d["unverified"] and "energy.synaptic_op_pj" in d["unverified"]


def test_static_power_adds_energy(small):
    fixed, result = small
    hw = dataclasses.replace(compiler.load_hardware("loihi2"), static_power_w=0.5, path="")
    d = decode_cost(fixed, result, hw=hw)
    assert d["energy_static_j"] == pytest.approx(0.5 * d["chips"] * d["time_per_decode_s"])
    assert d["energy_per_decode_j"] == pytest.approx(d["energy_dynamic_j"] + d["energy_static_j"])


def test_silent_network_is_barrier_floor(small):
    fixed, _ = small
    p = place(fixed)
    st = step_time(fixed, p, np.zeros(fixed.n))
    hw = compiler.load_hardware("loihi2")
    assert st["terms_s"]["synaptic_ops"] == 0 and st["terms_s"]["mesh_links"] == 0
    assert st["step_time_s"] >= st["barrier_s"] == pytest.approx(hw.runtime_barrier_ns * 1e-9)
    floor = max(np.bincount(p.core_of)) * hw.runtime_neuron_update_ns * 1e-9 + st["barrier_s"]
    assert st["step_time_s"] == pytest.approx(floor)


@pytest.mark.parametrize("overlap", ["max", "sum"])
def test_more_spikes_or_synapses_never_lower_the_time(small, overlap):
    fixed, result = small
    hw = dataclasses.replace(compiler.load_hardware("loihi2"), neurons_per_core=5, path="")
    p = place(fixed, hw=hw, rates=result)
    assert p.n_cores > 1
    rng = np.random.default_rng(0)
    rho = rng.random(fixed.n) * 0.05
    base = step_time(fixed, p, rho, hw=hw, overlap=overlap)["step_time_s"]
    for _ in range(5):
        more = rho + rng.random(fixed.n) * 0.05 * (rng.random(fixed.n) < 0.3)
        assert step_time(fixed, p, more, hw=hw, overlap=overlap)["step_time_s"] >= base
    # more synapses: add a split with extra nonzeros, same placement
    extra = np.asarray(fixed.weights[0]).copy()
    extra[extra == 0] = 2
    np.fill_diagonal(extra, 0)
    denser = dataclasses.replace(fixed, weights=fixed.weights[:-1] + (extra,))
    assert step_time(denser, p, rho, hw=hw, overlap=overlap)["step_time_s"] >= base


def test_more_cores_lower_the_compute_term(small):
    fixed, result = small
    base = compiler.load_hardware("loihi2")
    rho = np.full(fixed.n, 0.01)
    previous = None
    for per_core in (20, 10, 5):
        hw = dataclasses.replace(base, neurons_per_core=per_core, path="")
        st = step_time(fixed, place(fixed, hw=hw, rates=result), rho, hw=hw)
        if previous is not None:
            assert st["cores"] > previous["cores"]
            assert st["terms_s"]["neuron_updates"] < previous["terms_s"]["neuron_updates"]
        previous = st


def test_bad_inputs_name_the_parameter(small):
    fixed, result = small
    p = place(fixed)
    with pytest.raises(ValueError, match="spikes"):
        step_time(fixed, p, np.ones(3))
    with pytest.raises(ValueError, match="spikes"):
        step_time(fixed, p, -np.ones(fixed.n))
    with pytest.raises(ValueError, match="overlap"):
        step_time(fixed, p, overlap="min")
    with pytest.raises(ValueError, match="hw"):
        step_time(fixed, p, hw="loihi1")  # no [runtime] table
    with pytest.raises(TypeError, match="placement"):
        step_time(fixed, "core 0")
    other = compile(build_network(tasks.discrimination(seed=0, n=12, m=12)), hw="loihi2", dt=1e-4)
    with pytest.raises(ValueError, match="placement"):
        step_time(fixed, place(other))
    with pytest.raises(TypeError, match="fixed"):
        step_time("net", p)
    with pytest.raises(TypeError, match="result"):
        decode_cost(fixed, np.ones(fixed.n))


def test_config_runtime_table_is_validated(tmp_path):
    text = (compiler.hardware.config.HW_DIR / "loihi2.toml").read_text()
    hw = compiler.load_hardware("loihi2")
    assert hw.has_runtime and hw.is_unverified("runtime.synaptic_op_ns")
    assert compiler.load_hardware("kapoho_point").runtime_barrier_ns == hw.runtime_barrier_ns
    assert not compiler.load_hardware("loihi1").has_runtime
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace("barrier_ns = 299.0", "barrier_ns = -1.0"))
    with pytest.raises(compiler.ConfigError, match="runtime.barrier_ns"):
        compiler.load_hardware(bad)
    bad.write_text(text.replace("barrier_ns = 299.0", ""))
    with pytest.raises(compiler.ConfigError, match="runtime.barrier_ns.*missing"):
        compiler.load_hardware(bad)
    bad.write_text(text.replace("barrier_ns = 299.0", "barrier_ns = 299.0\nbarrier_us = 1.0"))
    with pytest.raises(compiler.ConfigError, match="runtime.barrier_us"):
        compiler.load_hardware(bad)
    assert hw.validated() is hw
