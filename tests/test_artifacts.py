"""Compiled-network files and hardware configs are checked, not trusted.

* a tampered file is refused by ``compiler.load`` and a tampered network by
  ``compiler.emulate`` and ``check_lava_compatible``, naming the field and the range
  (one check: ``compiler.quantization.validate.check_fixed_point``);
* a config whose quantization zeroes weights warns (raises with ``strict=True``);
* a config key the emulator does not implement (``dense_latency_steps != 1``) and a
  non-UTF-8 or malformed TOML file are refused with one line naming the file.
"""
import dataclasses
import json
import re
import warnings

import numpy as np
import pytest

import compiler
from compiler import QuantizationError, QuantizationWarning
from compiler.hardware.config import _SCHEMA, HW_DIR, ConfigError, HardwareConfig
from compiler.quantization.serialize import InvalidNetworkFile, SerializationError
from compiler.quantization.validate import FixedPointError, check_fixed_point
from lava_causal import build_network, tasks

LOIHI2 = HW_DIR / "loihi2.toml"
CONFIG = re.escape(str(LOIHI2))


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """The Fig. 2 discrimination network on loihi2 (two weight splits) and its file."""
    fixed = compiler.compile(build_network(tasks.discrimination(0), tau_syn=5e-3), hw="loihi2")
    assert fixed.n_splits == 2
    path = tmp_path_factory.mktemp("artifacts") / "net.npz"
    fixed.save(path)
    return fixed, path


def _tampered(path, tmp_path, edit, name="tampered.npz"):
    """Rewrite a saved network with ``edit(arrays, header)`` applied (as a hand edit would)."""
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    header = json.loads(str(arrays["header"]))
    edit(arrays, header)
    arrays["header"] = np.array(json.dumps(header))
    out = tmp_path / name
    np.savez(out, **arrays)
    return out


def _set(arrays, key, index, value):
    arr = arrays[key].copy()
    arr[index] = value
    arrays[key] = arr


def _bypass(fixed, **changes):
    """A fresh copy of ``fixed`` whose fields are then overwritten past __post_init__
    (what a buggy caller or object.__setattr__ could do): emulate must still refuse it."""
    clone = dataclasses.replace(fixed)
    for key, value in changes.items():
        object.__setattr__(clone, key, value)
    return clone


def _ro(arr):
    arr = np.array(arr, dtype=np.int64)
    arr.setflags(write=False)
    return arr


# (name, file edit, bypass changes (from the compiled network), message regex)
def _cases(fixed):
    w0 = fixed.weights[0].copy()
    w0[3, 5] = 100000
    diag = fixed.weights[0].copy()
    diag[4, 4] = -2
    n = fixed.n
    return [
        ("weight", lambda a, h: _set(a, "weights_0", (3, 5), 100000), dict(weights=(_ro(w0), fixed.weights[1])),
         r"weights\[0\]: 1 entry is not representable.*out of range \[-256, 254\].*e\.g\. 100000 at index \(3, 5\)"
         rf".*'loihi2' \({CONFIG}\)"),
        ("bias_exp", lambda a, h: _set(a, "bias_exp", slice(None), 40), dict(bias_exp=_ro(np.full(n, 40))),
         rf"bias_exp: {n} of {n} values out of range \[0, 7\], e\.g\. 40 at index 0.*'loihi2'"),
        ("vth", lambda a, h: h.update(vth=0), dict(vth=0), r"vth = 0 is out of range \[1, 131071\].*'loihi2'"),
        ("du", lambda a, h: h.update(du=99999), dict(du=99999), r"du = 99999 is out of range \[0, 4095\].*'loihi2'"),
        ("delays", lambda a, h: (a.update(delays=np.full((n, n), 1000)), h.update(has_delays=True)),
         dict(delays=_ro(np.full((n, n), 1000))),
         rf"delays: {n * n} of {n * n} values out of range \[0, 63\], e\.g\. 1000 at index \(0, 0\).*'loihi2'"),
        ("diagonal", lambda a, h: _set(a, "weights_0", (4, 4), -2), dict(weights=(_ro(diag), fixed.weights[1])),
         r"weights\[0\]: 1 non-zero diagonal entry, e\.g\. -2 at index \(4, 4\) \(allowed: 0"),
        ("n_splits", lambda a, h: h.update(n_splits=1), dict(weights=fixed.weights[:1], weight_exps=fixed.weight_exps[:1]),
         r"n_splits = 1 .*disagrees with.*2"),
    ]


CASE_NAMES = ["weight", "bias_exp", "vth", "du", "delays", "diagonal", "n_splits"]


@pytest.mark.parametrize("case", CASE_NAMES)
def test_tampered_file_is_refused_by_load(compiled, tmp_path, case):
    fixed, path = compiled
    _name, edit, _changes, match = next(c for c in _cases(fixed) if c[0] == case)
    bad = _tampered(path, tmp_path, edit)
    with pytest.raises(InvalidNetworkFile, match=match) as err:
        compiler.load(bad)
    assert str(bad) in str(err.value)
    assert isinstance(err.value, SerializationError) and isinstance(err.value, FixedPointError)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("case", CASE_NAMES)
def test_tampered_network_is_refused_by_emulate_and_lava(compiled, case):
    fixed, _path = compiled
    _name, _edit, changes, match = next(c for c in _cases(fixed) if c[0] == case)
    bad = _bypass(fixed, **changes)
    with pytest.raises(FixedPointError, match=match):
        compiler.emulate(bad, 10, seed=0)
    with pytest.raises(FixedPointError, match=match):
        compiler.check_lava_compatible(bad)


@pytest.mark.parametrize("case", CASE_NAMES)
def test_tampered_values_are_refused_when_a_compiled_network_is_built(compiled, case):
    """A network that records its config (info["hw"]) is checked in full when made."""
    fixed, _path = compiled
    _name, _edit, changes, match = next(c for c in _cases(fixed) if c[0] == case)
    with pytest.raises(FixedPointError, match=match):
        dataclasses.replace(fixed, **changes)


def test_other_tamperings_are_refused_by_load(compiled, tmp_path):
    fixed, path = compiled
    cases = [
        (lambda a, h: a.update(bias_mant=a["bias_mant"].astype(float)), r"bias_mant has dtype float64.*integer"),
        (lambda a, h: h.update(vth=5.5), r"header vth = 5\.5 must be an integer"),
        (lambda a, h: h.update(vth="5"), r"header vth = '5' must be an integer"),
        (lambda a, h: h["arithmetic"].update(activation_shift=3),
         r"arithmetic disagrees with hardware config 'loihi2'.*activation_shift = 3 \(config: 6\)"),
        (lambda a, h: h.update(hw_name="wide16"), r"hw_name = 'wide16' disagrees with the recorded config's name"),
        (lambda a, h: _set(a, "weights_1", (0, 1), -3),  # an excitatory split turned mixed: even values only
         r"weights\[1\].*not representable .* mixed sign mode \(not multiples of 2"),
        (lambda a, h: h.update(weight_exps=[9, h["weight_exps"][1]]), r"weight_exps\[0\] = 9 is out of range \[-7, 7\]"),
        (lambda a, h: _set(a, "bias_mant", 0, 5000), r"bias_mant: 1 of 100 values out of range \[-4096, 4095\]"),
        (lambda a, h: h.update(num_weight_bits=12), r"num_weight_bits = 12 is out of range \[2, 8\]"),
        (lambda a, h: (a.pop("weights_1"), h.update(n_splits=1, weight_exps=h["weight_exps"][:1])),
         r"n_splits = 1 \(weight matrices stored\) disagrees with info\['splits'\]\['chosen'\] = 2"),
    ]
    for k, (edit, match) in enumerate(cases):
        with pytest.raises(SerializationError, match=match):
            compiler.load(_tampered(path, tmp_path, edit, f"t{k}.npz"))


def test_a_recorded_config_is_checked_too(compiled, tmp_path):
    fixed, path = compiled

    def widen(arrays, header):
        info = json.loads(str(arrays["info"]))
        hw = info["__dict__"]["hw"]["__dict__"]
        hw["weight_mantissa_bits"] = 99  # outside the schema's [2, 24]
        arrays["info"] = np.array(json.dumps(info))
    with pytest.raises(SerializationError, match=r"info\['hw'\].*weights\.mantissa_bits.*= 99 is out of range"):
        compiler.load(_tampered(path, tmp_path, widen))


def test_a_file_stripped_of_its_compile_record_is_held_to_its_named_config(compiled, tmp_path):
    fixed, path = compiled

    def strip(arrays, header):
        arrays["info"] = np.array(json.dumps({"__dict__": {}}))
        _set(arrays, "weights_0", (3, 5), 100000)
    with pytest.raises(InvalidNetworkFile, match=r"weights\[0\].*e\.g\. 100000 at index \(3, 5\).*'loihi2'"):
        compiler.load(_tampered(path, tmp_path, strip))


def test_valid_file_loads_and_emulates_identically(compiled):
    fixed, path = compiled
    loaded = compiler.load(path)
    for a, b in zip(loaded.weights, fixed.weights):
        np.testing.assert_array_equal(a, b)
    assert (loaded.vth, loaded.du, loaded.dv, loaded.weight_exps) == (fixed.vth, fixed.du, fixed.dv, fixed.weight_exps)
    modes = tuple(fixed.info["splits"]["modes"])
    assert check_fixed_point(loaded) == check_fixed_point(fixed) == modes == ("inhibitory", "excitatory")
    assert compiler.check_lava_compatible(loaded) == modes
    a = compiler.emulate(fixed, 1500, trials=2, seed=4)
    b = compiler.emulate(loaded, 1500, trials=2, seed=4)
    np.testing.assert_array_equal(a.counts, b.counts)
    assert a.counts.sum() > 0


def test_hand_built_networks_get_the_config_free_checks():
    """No recorded config: the widest schema ranges (construction) and, on request or
    for Lava, a config's or Lava's own limits."""
    w = np.array([[0, -6], [4, 0]])
    hand = compiler.FixedPointNetwork(weights=w, weight_exps=20, bias_mant=[0, 0], bias_exp=[0, 0], vth=100,
                                      du=4095, dv=0, dt=1e-3)
    assert check_fixed_point(hand) == ("mixed",)  # Lava's Dense accepts any weight_exp
    with pytest.raises(FixedPointError, match=r"weight_exps\[0\] = 20 is out of range \[-7, 7\].*'loihi2'"):
        check_fixed_point(hand, hw="loihi2")
    for kwargs, match in [(dict(bias_exp=[40, 0]), r"bias_exp: 1 of 2 values out of range \[0, 24\]"),
                          (dict(vth=0), r"vth = 0 is out of range"),
                          (dict(du=4096), r"du = 4096 is out of range \[0, 4095\]"),
                          (dict(weight_exps=40), r"weight_exps\[0\] = 40 is out of range \[-31, 31\]"),
                          (dict(vth=2.5), r"vth must be an integer, got 2\.5"),
                          (dict(bias_mant=[0.5, 0]), r"bias_mant must hold finite integers")]:
        params = dict(weights=w, weight_exps=0, bias_mant=[0, 0], bias_exp=[0, 0], vth=100, du=4095, dv=0, dt=1e-3)
        params.update(kwargs)
        with pytest.raises(FixedPointError, match=match):
            compiler.FixedPointNetwork(**params)


def test_emulator_only_network_is_refused_by_the_lava_check_first():
    net = build_network(tasks.discrimination(0, n=20, m=20), tau_syn=5e-3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", QuantizationWarning)
        wide = compiler.compile(net, hw="wide16")
    assert check_fixed_point(wide)
    with pytest.raises(ValueError, match=r"'wide16'.*lava_runnable = false"):
        compiler.check_lava_compatible(wide)


# ------------------------------------------------------------------ configs
def _config(tmp_path, name, replacements):
    text = LOIHI2.read_text()
    for old, new in replacements:
        assert old in text
        text = text.replace(old, new)
    path = tmp_path / name
    path.write_text(text)
    return path


def _emulator_only(tmp_path, name, *replacements):
    return _config(tmp_path, name, [('name = "loihi2"', f'name = "{name[:-5]}"'),
                                    ("lava_runnable = true ", 'lava_runnable = false\nemulator_only_reason = "test" #'),
                                    *replacements])


def test_activation_shift_that_zeroes_weights_warns_and_raises_under_strict(tmp_path):
    path = _emulator_only(tmp_path, "shift16.toml", ("activation_shift = 6 ", "activation_shift = 16 "))
    net = build_network(tasks.discrimination(0), tau_syn=5e-3)  # the Fig. 2 network, N = 100
    nonzero = int(np.count_nonzero(net.weights))
    assert nonzero == 9900
    with pytest.warns(QuantizationWarning, match=rf"{nonzero} of {nonzero} non-zero weights \(100\.0 %\) quantize "
                                                 rf"to 0.*activation_shift = 16.*shift16"):
        fixed = compiler.compile(net, hw=path)
    assert fixed.info["zeroed_weights"]["count"] == nonzero
    assert any("quantize to 0" in w for w in compiler.quantization_report(fixed)["warnings"])
    with pytest.raises(QuantizationError, match=r"non-zero weights .* quantize to 0.*activation_shift = 16"):
        compiler.compile(net, hw=path, strict=True)


def test_a_normal_compile_zeroes_no_weights():
    net = build_network(tasks.discrimination(0, n=30, m=30), tau_syn=5e-3)
    with warnings.catch_warnings():
        warnings.simplefilter("error", QuantizationWarning)
        fixed = compiler.compile(net, hw="loihi2", strict=True)
    assert fixed.info["zeroed_weights"]["count"] == 0


def test_dense_latency_other_than_one_is_refused(tmp_path):
    path = _config(tmp_path, "lat2.toml", [("dense_latency_steps = 1 ", "dense_latency_steps = 2 ")])
    with pytest.raises(ConfigError, match=rf"weights\.dense_latency_steps = 2 in hardware config '{re.escape(str(path))}' "
                                          r"is unsupported: the emulator and Lava implement 1 step only"):
        HardwareConfig.load(path)
    emu = _emulator_only(tmp_path, "lat0.toml", ("dense_latency_steps = 1 ", "dense_latency_steps = 0 "))
    with pytest.raises(ConfigError, match="dense_latency_steps = 0 .*1 step only"):
        HardwareConfig.load(emu)  # emulator-only configs too
    built = dataclasses.replace(HardwareConfig.load("loihi2"), dense_latency_steps=2)
    net = compiler.IFNetwork(weights=np.array([[0.0, -0.5], [-0.5, 0.0]]), bias=[20.0, 10.0], reset=[1.0, 1.0])
    with pytest.raises(ConfigError, match="dense_latency_steps = 2 .*1 step only"):
        compiler.compile(net, hw=built)  # a config built in code is checked by compile


def test_every_config_key_is_accounted_for_in_the_emulator_table():
    doc = compiler.hardware.config.__doc__
    table = doc[doc.index("What the emulator honours"):]
    for section, key, *_ in _SCHEMA:
        full = f"{section}.{key}"
        assert full in table or f"{section}.*" in table, full


def test_non_utf8_and_malformed_toml_name_the_file_in_one_line(tmp_path):
    latin = tmp_path / "latin1.toml"
    latin.write_bytes(LOIHI2.read_text().replace("Intel Loihi 2", "Intel Loihi 2 \u00e9").encode("latin-1"))
    with pytest.raises(ConfigError, match=rf"hardware config '{re.escape(str(latin))}' is not UTF-8 text "
                                          r"\(byte 0xe9 at line \d+, offset \d+\)") as err:
        HardwareConfig.load(latin)
    assert "\n" not in str(err.value)
    broken = tmp_path / "broken.toml"
    broken.write_text("format_version = 1\n[weights\nmantissa_bits = 8\n")
    with pytest.raises(ConfigError, match=rf"'{re.escape(str(broken))}' is not valid TOML: .*line 2") as err:
        HardwareConfig.load(broken)
    assert "\n" not in str(err.value)


# ------------------------------------------------------------------ cost
def test_validation_repeats_the_same_verdict():
    """No wall-clock limit (project rule); the measured cost is in the README notes."""
    n = 1000
    rng = np.random.default_rng(0)
    w = -2 * rng.integers(0, 100, (n, n))
    np.fill_diagonal(w, 0)
    hand = compiler.FixedPointNetwork(weights=(w, w), weight_exps=(3, -2), bias_mant=np.full(n, 100),
                                      bias_exp=np.zeros(n, int), vth=2000, du=4095, dv=0, dt=1e-4)
    for _ in range(3):
        assert check_fixed_point(hand, hw="loihi2") == ("inhibitory", "inhibitory")
