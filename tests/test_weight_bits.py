""""Weight bits" mean one thing: significant bits per split (Lava Dense num_weight_bits).

A config's ``weights.mantissa_bits`` is the chip's weight bits b; on a Lava-runnable
config the weights live in Lava Dense's 8-bit register, so b = 6 means multiples of 4
(8 in mixed sign) that Lava keeps unchanged, exactly what ``compile(weight_bits=6)``
gives on loihi2. Emulator-only configs (wide16) are refused by run_lava before any
Lava process is built. Every compiled network records (weight bits, splits,
effective bits): :func:`compiler.deploy.report.weight_precision`.
"""
import warnings

import numpy as np
import pytest

import compiler
from _helpers import forbid_lava_builds
from compiler.hardware.encoding import effective_weight_bits, mantissa_range, sign_mode
from compiler.hardware.config import HW_DIR, HardwareConfig
from compiler.deploy.report import split_quanta, weight_precision
from lava_causal import build_network, tasks

LOIHI2 = HW_DIR / "loihi2.toml"


def loihi2_with_weight_bits(tmp_path, bits, lava_runnable=True):
    """A copy of loihi2.toml with ``weights.mantissa_bits = bits``."""
    text = LOIHI2.read_text()
    assert text.count("\nmantissa_bits = 8 ") == 1
    text = text.replace("\nmantissa_bits = 8 ", f"\nmantissa_bits = {bits} ")
    text = text.replace('name = "loihi2"', f'name = "loihi2_w{bits}"')
    if not lava_runnable:
        text = text.replace("lava_runnable = true ",
                            'lava_runnable = false\nemulator_only_reason = "test: emulator only" #')
    path = tmp_path / f"loihi2_w{bits}{'' if lava_runnable else '_emu'}.toml"
    path.write_text(text)
    return path


def random_network(n=30, seed=3, tau_syn=5e-3):
    """Mixed-sign, stable recurrent network (W = -M M^T off the diagonal, rank 8, rows of
    M of norm 0.95) driven at 50-300 Hz; its weights change the spike counts (about 2x)."""
    rng = np.random.default_rng(seed)
    m = rng.normal(0.0, 1.0, (n, 8))
    m *= 0.95 / np.linalg.norm(m, axis=1, keepdims=True)
    w = -(m @ m.T)
    np.fill_diagonal(w, 0.0)
    return compiler.IFNetwork(weights=w, bias=rng.uniform(50.0, 300.0, n), reset=np.ones(n), tau_syn=tau_syn)


def compile_quiet(net, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", compiler.QuantizationWarning)
        return compiler.compile(net, **kw)


def lava_kept(mode, num_weight_bits):
    """The integers Lava's fixed_pt Dense leaves unchanged (its own clip and truncate)."""
    from lava.utils.weightutils import SignMode, clip_weights, truncate_weights
    w = np.arange(-600, 600)
    if mode == "excitatory":
        w = w[w >= 0]
    elif mode == "inhibitory":
        w = w[w <= 0]
    m = SignMode[mode.upper()]
    kept = truncate_weights(clip_weights(w, m, num_bits=8), m, num_weight_bits)
    return set(w[kept == w].tolist())


def format_mantissas(fmt, mode):
    """Every mantissa a WeightFormat can emit in one sign mode: n << s."""
    lo, hi = mantissa_range(mode, fmt.num_weight_bits)
    mant, _ = fmt.encode(np.arange(lo, hi + 1), 0, mode)
    return set(mant.tolist())


# ------------------------------------------------------------ one meaning of bits
@pytest.mark.lava
@pytest.mark.parametrize("bits", [2, 4, 6, 7, 8])
def test_config_bits_and_compile_bits_give_the_same_representable_values(tmp_path, bits):
    loihi2 = HardwareConfig.load("loihi2")
    copy = HardwareConfig.load(loihi2_with_weight_bits(tmp_path, bits))
    a, b = loihi2.weight_format(bits), copy.weight_format()
    assert a == b and a.mantissa_bits == 8 and a.num_weight_bits == bits
    for mode in ("excitatory", "inhibitory", "mixed"):
        values = format_mantissas(a, mode)
        assert values == format_mantissas(b, mode)
        assert len(values) == 2 ** bits
        assert values == lava_kept(mode, bits), f"{mode}: Lava keeps other values than the compiler emits"
        assert a.q_range(mode) == b.q_range(mode)


def test_mantissa6_config_compiles_to_the_same_network_as_weight_bits_6(tmp_path):
    net = build_network(tasks.discrimination(0, n=30, m=30))
    via_option = compile_quiet(net, hw="loihi2", weight_bits=6)
    via_config = compile_quiet(net, hw=loihi2_with_weight_bits(tmp_path, 6))
    assert via_option.num_weight_bits == via_config.num_weight_bits == 6
    assert via_option.weight_exps == via_config.weight_exps
    for x, y in zip(via_option.weights, via_config.weights):
        assert np.array_equal(x, y)
    assert via_option.vth == via_config.vth and np.array_equal(via_option.bias_mant, via_config.bias_mant)
    for w, mode in zip(via_config.weights, via_config.info["splits"]["modes"]):
        assert np.all(w % (8 if mode == "mixed" else 4) == 0)
    assert compiler.check_lava_compatible(via_config)
    assert via_config.info["lava_compatible"]


@pytest.mark.lava
def test_mantissa6_config_runs_on_lava_spike_for_spike(tmp_path):
    fixed = compile_quiet(random_network(), hw=loihi2_with_weight_bits(tmp_path, 6), dt=1e-3)
    assert fixed.num_weight_bits == 6
    assert fixed.info["splits"]["modes"][0] == "mixed"  # mantissas: multiples of 8 (mixed), 4
    emu = compiler.emulate(fixed, 200, seed=4).counts
    assert emu.sum() > 500 and np.count_nonzero(emu) > 10
    lava = compiler.run_lava(fixed, 200, seed=4).counts
    assert np.array_equal(emu, lava)


def test_weight_bits_above_the_mantissa_raise_naming_both(tmp_path):
    net = random_network(n=4)
    with pytest.raises(ValueError, match=r"weight_bits = 9 exceeds weights\.mantissa_bits = 8 .*'loihi2'"):
        compiler.compile(net, hw="loihi2", weight_bits=9)
    path = loihi2_with_weight_bits(tmp_path, 6)
    with pytest.raises(ValueError, match=r"weight_bits = 7 exceeds weights\.mantissa_bits = 6 .*'loihi2_w6'"):
        compiler.compile(net, hw=path, weight_bits=7)
    with pytest.raises(ValueError, match=r"weight_bits = 17 exceeds weights\.mantissa_bits = 16 .*'wide16'"):
        compiler.compile(net, hw="wide16", weight_bits=17)
    assert compile_quiet(net, hw=path, weight_bits=6).num_weight_bits == 6
    assert compile_quiet(net, hw=path, weight_bits=3).num_weight_bits == 3


# ------------------------------------------------------------ emulator-only configs
def test_wide16_is_refused_by_run_lava_before_building_anything(monkeypatch):
    fixed = compile_quiet(random_network(n=6), hw="wide16")
    assert compiler.emulate(fixed, 50, seed=1).counts.shape == (1, 6)
    forbid_lava_builds(monkeypatch)
    with pytest.raises(ValueError) as err:
        compiler.run_lava(fixed, 10)
    message = str(err.value)
    assert "\n" not in message
    assert "'wide16'" in message and "lava_runnable = false" in message
    assert "8-bit register" in message  # the config's emulator_only_reason
    with pytest.raises(ValueError, match=r"'wide16'.*lava_runnable = false"):
        compiler.check_lava_compatible(fixed)


def test_emulator_only_copy_is_refused_even_with_lava_legal_values(tmp_path):
    """The refusal comes from the config's declaration, not from the values."""
    path = loihi2_with_weight_bits(tmp_path, 6, lava_runnable=False)
    fixed = compile_quiet(random_network(n=6), hw=path)
    with pytest.raises(ValueError, match=r"'loihi2_w6'.*emulator-only.*test: emulator only"):
        compiler.run_lava(fixed, 10)


# ------------------------------------------------------------ recorded precision
def test_effective_bits_count_the_values_one_connection_can_take():
    """b + (q1 - qk) is log2 of the distinct values of the greedy split encoding."""
    for b in (2, 3, 4):
        for gap in range(0, b + 1):
            top_lo, top_hi = mantissa_range("mixed", b)
            values = {n1 * 2 ** gap + n2 for n1 in range(top_lo, top_hi + 1) for n2 in range(2 ** gap)}
            assert len(values) == 2 ** effective_weight_bits(b, [gap, 0])
    assert effective_weight_bits(8, [1]) == 8
    assert effective_weight_bits(8, [9, 0]) == 16  # capped at k b: a gap above b leaves holes
    assert effective_weight_bits(6, [8, 4, 0]) == 14


@pytest.mark.parametrize("kwargs", [dict(), dict(weight_splits=1), dict(weight_bits=6),
                                    dict(weight_bits=4, weight_splits=3), dict(hw="wide16")])
def test_compiled_networks_record_bits_splits_and_effective_bits(kwargs):
    fixed = compile_quiet(random_network(), dt=1e-3, **kwargs)
    rec = fixed.info["weight_precision"]
    wp = weight_precision(fixed)
    assert tuple(wp) == (rec["weight_bits"], rec["weight_splits"], rec["effective_bits"])
    assert wp.weight_bits == fixed.num_weight_bits == kwargs.get("weight_bits", 16 if "hw" in kwargs else 8)
    assert wp.weight_splits == fixed.n_splits
    if "weight_splits" in kwargs:
        assert wp.weight_splits == kwargs["weight_splits"]
    # independent path: quanta from the integers (weight_exp + mantissa step) agree with the encoder's
    quanta = split_quanta(fixed)
    assert quanta == fixed.info["splits"]["quanta"] == rec["quanta"]
    assert wp.effective_bits == min(wp.weight_bits + max(quanta) - min(quanta), wp.stored_bits)
    if wp.weight_splits == 1:
        assert wp.effective_bits == wp.weight_bits
    assert wp.stored_bits == wp.weight_bits * wp.weight_splits == rec["stored_bits"]
    # every effective input is a multiple of the finest quantum
    assert np.all(compiler.effective_input(fixed) % 2 ** min(quanta) == 0)
    assert rec["text"] == wp.describe()
    report = compiler.quantization_report(fixed)
    assert report["weight_precision"]["effective_bits"] == wp.effective_bits
    assert f"weight precision: {wp.describe()}" in report.table()


def test_precision_of_the_fig2_network_and_hand_built_networks(tmp_path):
    fixed = compile_quiet(build_network(tasks.discrimination(0)))
    # 2 auto splits: top quantum 2**1 (mixed sign, even mantissas), fine 2**0: one extra bit
    assert tuple(weight_precision(fixed)) == (8, 2, 9)
    assert weight_precision(fixed).describe() == "8 bits x 2 splits ~ 9-bit effective"
    path = tmp_path / "net.npz"
    fixed.save(path)
    assert weight_precision(compiler.load(path)) == weight_precision(fixed)
    # no info: derived from the integers: mixed top split q = 3 + 1, excitatory fine split q = -1 + 0
    w = np.array([[0, -6], [4, 0]])
    fine = np.array([[0, 3], [1, 0]])
    hand = compiler.FixedPointNetwork(weights=(w, fine), weight_exps=(3, -1), bias_mant=[0, 0],
                                      bias_exp=[0, 0], vth=100, du=4095, dv=0, dt=1e-3)
    assert sign_mode(w) == "mixed" and split_quanta(hand) == [4, -1]
    assert tuple(weight_precision(hand)) == (8, 2, 13)
