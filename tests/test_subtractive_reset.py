"""The hypothetical subtractive-reset chip (``loihi2_subtractive``: Loihi 2 with a custom
neuron whose spike subtracts the threshold, ``v <- v - vth << 6``, instead of Lava's
``v <- 0``), emulator only.

- the emulator's kernels, dense and sparse, against the numpy reference of
  ``tests/test_emulator_speed_paths.py`` (its arithmetic's reset honoured) spike for
  spike, on the same cases (splits, exponents, uniform and per-synapse delays, with
  and without leak, delta synapses) and on the integer-decay path;
- what it buys: under a constant drive ``beta`` per step a neuron fires exactly
  ``ceil((v0 + T beta) / S) - 1`` times in ``T`` steps (no overshoot lost; ``S`` the
  threshold, strictly exceeded), the hard reset fewer;
- the config: loads, equals loihi2 but for the reset and its emulator-only labels,
  validation errors name the key, the value and the allowed values;
- files: save/load keeps the reset, hard-reset files carry no ``reset`` key (what
  earlier versions wrote), a bad value is refused naming it;
- :func:`compiler.effective_network` with the corrections uses the chip's reset;
- :func:`compiler.run_lava` refuses it in one line before anything of Lava is built.
"""
import json
import warnings

import numpy as np
import pytest

import compiler
from compiler import ChipArithmetic, FixedPointNetwork
from compiler.backends import emulator as emulator_module
from compiler.backends.emulator import SUBTRACT_MODE, synapses_of
from _helpers import forbid_lava_builds
from compiler.hardware.config import HW_DIR, ConfigError, HardwareConfig
from compiler.quantization.serialize import InvalidNetworkFile
from test_emulator_speed_paths import CASES, _v0, as_sparse, emulate, random_network, reference

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning", "ignore::UserWarning")

SUBTRACTIVE = HW_DIR / "loihi2_subtractive.toml"


def compile_quiet(net, hw="loihi2_subtractive", **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return compiler.compile(net, hw=hw, dt=1e-4, **kwargs)


def small_network(n=6, seed=1):
    rng = np.random.default_rng(seed)
    w = rng.normal(0, 0.3, (n, n))
    np.fill_diagonal(w, 0.0)
    return compiler.IFNetwork(weights=w, bias=rng.uniform(5, 40, n), reset=rng.uniform(0.8, 1.5, n))


# ------------------------------------------------------------------ kernels
@pytest.mark.parametrize("name", list(CASES))
def test_subtractive_kernels_match_the_reference(name):
    fixed = random_network(seed=len(name), reset="subtract", **CASES[name])
    assert emulator_module.neuron_mode(fixed, synapses_of(fixed)) & SUBTRACT_MODE
    v0 = _v0(fixed)
    want = reference(fixed, 300, v0)
    assert want.sum() > 50, "a test network that barely spikes tests nothing"
    got = emulate(fixed, 300, v0=v0, record=True)
    np.testing.assert_array_equal(got.raster[0], want)
    sparse = emulate(as_sparse(fixed), 300, v0=v0, record=True)
    np.testing.assert_array_equal(sparse.raster[0], want)
    hard = emulate(random_network(seed=len(name), **CASES[name]), 300, v0=v0, record=True)
    assert not np.array_equal(hard.raster[0], want), "the reset must make a difference here"


def test_reset_bit_is_added_to_every_loop_choice():
    for dv, mode in ((0, 0), (40, 2)):
        hard = random_network(exps=(0,), dv=dv)
        sub = random_network(exps=(0,), dv=dv, reset="subtract")
        assert emulator_module.neuron_mode(hard, synapses_of(hard)) == mode
        assert emulator_module.neuron_mode(sub, synapses_of(sub)) == mode + SUBTRACT_MODE


def test_subtractive_reset_on_the_integer_decay_path():
    """decay_bits = 23: the integer-decay loop (mode 4) with the subtractive reset."""
    rng = np.random.default_rng(4)
    n = 20
    w = rng.integers(-128, 128, (n, n)) * 2
    np.fill_diagonal(w, 0)
    fixed = FixedPointNetwork(weights=w, weight_exps=4, bias_mant=rng.integers(0, 4000, n),
                              bias_exp=rng.integers(0, 4, n), vth=2000, du=2 ** 20, dv=2 ** 14, dt=1e-4,
                              arithmetic=ChipArithmetic(decay_bits=23, reset="subtract"))
    assert emulator_module.neuron_mode(fixed, synapses_of(fixed)) == 4 + SUBTRACT_MODE
    v0 = _v0(fixed)
    want = reference(fixed, 300, v0)
    assert want.sum() > 50
    np.testing.assert_array_equal(emulate(fixed, 300, v0=v0, record=True).raster[0], want)


def test_several_trials_each_match_the_reference():
    fixed = random_network(exps=(3, -2), delays="per-synapse", reset="subtract")
    v0 = fixed.initial_voltages(4, 11)
    got = emulate(fixed, 200, v0=v0)
    for tr in range(4):
        np.testing.assert_array_equal(got.counts[tr], reference(fixed, 200, v0[tr]).sum(axis=0))


# ------------------------------------------------------------------ what it buys
def constant_drive_network(n=5):
    """Unconnected neurons with constant drives: v grows by beta = bias_mant << bias_exp
    per step (u stays 0, no leak)."""
    return compiler.IFNetwork(weights=np.zeros((n, n)), bias=np.linspace(700.0, 2300.0, n),
                              reset=np.ones(n), tau_syn=5e-3)


def test_constant_drive_fires_without_losing_overshoot():
    """With v0 <= S and 0 < beta < S, after T steps and k spikes v = v0 + T beta - k S
    lies in (0, S] (once one spike happened), so k = ceil((v0 + T beta)/S) - 1 exactly:
    the spike count is the floor of the charge in thresholds (strict threshold). The
    hard reset loses the overshoot of every spike and fires fewer."""
    net = constant_drive_network()
    sub = compile_quiet(net, reset_compensation="none")
    hard = compile_quiet(net, hw="loihi2", reset_compensation="none")
    assert sub.arithmetic.reset == "subtract" and hard.arithmetic.reset == "hard"
    assert sub.dv == 0 and sub.vth == hard.vth
    np.testing.assert_array_equal(sub.effective_bias, hard.effective_bias)
    s = int(sub.threshold)
    beta = sub.effective_bias.astype(np.int64)
    assert np.all((0 < beta) & (beta < s)) and np.any(s % beta != 0)
    steps = 20_000
    v0 = np.random.default_rng(2).integers(0, s + 1, (3, sub.n))
    charge = v0 + steps * beta
    want = -((-charge) // s) - 1  # ceil(charge / S) - 1
    np.testing.assert_array_equal(compiler.emulate(sub, steps, trials=3, v0=v0).counts, want)
    got_hard = compiler.emulate(hard, steps, trials=3, v0=v0).counts
    assert np.all(got_hard <= want) and np.all(got_hard[:, s % beta != 0] < want[:, s % beta != 0])


def test_effective_network_uses_the_chips_reset():
    net = small_network()
    sub, hard = compile_quiet(net), compile_quiet(net, hw="loihi2")
    assert compiler.effective_network(sub, include_corrections=True).reset_mode == "subtract"
    assert compiler.effective_network(hard, include_corrections=True).reset_mode == "hard"
    assert compiler.effective_network(sub).reset_mode == net.reset_mode  # the intended network's


# ------------------------------------------------------------------ the config
def test_config_is_loihi2_with_a_subtractive_reset():
    sub, base = HardwareConfig.load("loihi2_subtractive"), HardwareConfig.load("loihi2")
    assert "loihi2_subtractive" in compiler.list_hardware()
    assert sub.reset_mode == "subtract" and base.reset_mode == "hard"
    assert sub.arithmetic == ChipArithmetic(reset="subtract") and base.arithmetic == compiler.LAVA_LOIHI
    assert sub.description.startswith("HYPOTHETICAL:") and not sub.lava_runnable
    assert "resets" in sub.emulator_only_reason or "v to 0" in sub.emulator_only_reason
    labels = {"name", "description", "lava_runnable", "emulator_only_reason", "reset_mode", "unverified", "path"}
    a, b = sub.to_dict(), base.to_dict()
    assert {k for k in a if a[k] != b[k]} == labels
    assert set(sub.unverified) == set(base.unverified) | {"neuron.reset"}
    assert sub.to_dict()["reset_mode"] == "subtract"
    assert HardwareConfig.from_flat_dict(sub.to_dict()) == sub and sub.validated() is sub


def _write(tmp_path, text, name="custom.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("line,match", [
    ('reset = "soft"', r"'neuron\.reset' = 'soft' is not allowed; allowed: 'hard', 'subtract'"),
    ("reset = 1", r"'neuron\.reset' = 1 is not allowed; allowed: 'hard', 'subtract'"),
])
def test_bad_reset_names_key_value_allowed_and_file(tmp_path, line, match):
    text = SUBTRACTIVE.read_text().replace('reset = "subtract"', line)
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError, match=match) as err:
        HardwareConfig.load(path)
    assert str(path) in str(err.value)


def test_neuron_table_is_optional_and_checked(tmp_path):
    text = SUBTRACTIVE.read_text()
    no_table = text[:text.index("[neuron]")] + text[text.index("[core]"):]
    no_table = no_table.replace('    "neuron.reset",\n', "")
    assert HardwareConfig.load(_write(tmp_path, no_table, "a.toml")).reset_mode == "hard"
    typo = text.replace('reset = "subtract"', 'rest = "subtract"')
    with pytest.raises(ConfigError, match=r"neuron\.rest.*unknown"):
        HardwareConfig.load(_write(tmp_path, typo, "b.toml"))


def test_a_lava_runnable_config_must_reset_hard(tmp_path):
    text = (HW_DIR / "loihi2.toml").read_text().replace("\n[core]\n", '\n[neuron]\nreset = "subtract"  # t\n\n[core]\n')
    with pytest.raises(ConfigError, match=r"neuron\.reset.*= 'subtract' breaks lava_runnable = true"):
        HardwareConfig.load(_write(tmp_path, text))


# ------------------------------------------------------------------ files
def _header(path):
    with np.load(path) as f:
        return {k: f[k] for k in f.files}, json.loads(str(f["header"]))


def _rewrite(path, out, edit):
    contents, header = _header(path)
    edit(header["arithmetic"])
    contents["header"] = np.array(json.dumps(header))
    np.savez(out, **contents)
    return out


def test_save_load_keeps_the_reset(tmp_path):
    net = small_network()
    sub = compile_quiet(net)
    path = tmp_path / "sub.npz"
    sub.save(path)
    assert _header(path)[1]["arithmetic"]["reset"] == "subtract"
    back = compiler.load(path)
    assert back.arithmetic == sub.arithmetic and back.arithmetic.reset == "subtract"
    np.testing.assert_array_equal(compiler.emulate(back, 500, trials=2, seed=1).counts,
                                  compiler.emulate(sub, 500, trials=2, seed=1).counts)


def test_hard_reset_files_carry_no_reset_key_and_read_as_hard(tmp_path):
    hard = compile_quiet(small_network(), hw="loihi2")
    path = tmp_path / "hard.npz"
    hard.save(path)
    assert "reset" not in _header(path)[1]["arithmetic"]  # what earlier versions wrote
    assert compiler.load(path).arithmetic == compiler.LAVA_LOIHI
    explicit = _rewrite(path, tmp_path / "explicit.npz", lambda a: a.update(reset="hard"))
    assert compiler.load(explicit).arithmetic == compiler.LAVA_LOIHI


def test_a_bad_or_dropped_reset_in_a_file_is_refused(tmp_path):
    sub = compile_quiet(small_network())
    path = tmp_path / "sub.npz"
    sub.save(path)
    bad = _rewrite(path, tmp_path / "bad.npz", lambda a: a.update(reset="soft"))
    with pytest.raises(InvalidNetworkFile, match=r"arithmetic\.reset = 'soft' must be \"hard\" or \"subtract\""):
        compiler.load(bad)
    dropped = _rewrite(path, tmp_path / "dropped.npz", lambda a: a.pop("reset"))
    with pytest.raises(InvalidNetworkFile, match=r"reset = hard \(config: subtract\)"):
        compiler.load(dropped)  # read as "hard", which the recorded config contradicts


# ------------------------------------------------------------------ Lava
def test_run_lava_refuses_it_in_one_line_before_building_anything(monkeypatch):
    fixed = compile_quiet(small_network())
    forbid_lava_builds(monkeypatch)
    with pytest.raises(ValueError) as err:
        compiler.run_lava(fixed, 10)
    message = str(err.value)
    assert "\n" not in message
    assert "'loihi2_subtractive'" in message and "lava_runnable = false" in message
    assert "subtracts the threshold" in message
    with pytest.raises(ValueError, match=r"'loihi2_subtractive'.*lava_runnable = false"):
        compiler.check_lava_compatible(fixed)
