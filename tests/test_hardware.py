"""Hardware configs: loading, validation errors naming the key and the file."""
import re

import numpy as np
import pytest
from compiler.hardware.config import tomllib

import compiler
from compiler.hardware.config import HW_DIR, ConfigError, HardwareConfig, list_hardware, load_hardware

LOIHI2 = HW_DIR / "loihi2.toml"


def _write(tmp_path, text, name="custom.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def _replace(text, section, key, new_line):
    """Replace ``key = ...`` inside ``[section]`` (None deletes the line)."""
    out, current = [], None
    for line in text.splitlines():
        m = re.match(r"\[(\w+)\]", line)
        if m:
            current = m.group(1)
        if current == section and re.match(rf"{key}\s*=", line):
            if new_line is not None:
                out.append(new_line)
            continue
        out.append(line)
    return "\n".join(out) + "\n"


def test_list_hardware_has_the_shipped_targets():
    names = list_hardware()
    assert {"loihi1", "loihi2", "wide16", "kapoho_point", "loihi2_subtractive"} <= set(names)
    assert compiler.list_hardware() == names


@pytest.mark.parametrize("name", ["loihi1", "loihi2", "wide16", "kapoho_point", "loihi2_subtractive"])
def test_every_shipped_config_loads(name):
    hw = HardwareConfig.load(name)
    assert hw.name == name
    assert hw.path.endswith(f"{name}.toml")
    assert hw.weight_exponent_min <= 0 <= hw.weight_exponent_max


def test_loihi2_arithmetic_is_lavas():
    hw = load_hardware("loihi2")
    assert hw.arithmetic == compiler.LAVA_LOIHI
    assert hw.lava_runnable
    assert hw.bias_mantissa_range == (-4096, 4095)
    assert hw.threshold_mantissa_max == 2 ** 17 - 1
    assert hw.voltage_limit == 2 ** 23 - 1
    assert hw.decay_max == 4095
    assert hw.max_delay_steps == 63


def test_hypothetical_target_is_not_lava_runnable():
    hw = HardwareConfig.load("wide16")
    assert not hw.lava_runnable
    assert hw.weight_mantissa_bits == 16
    assert "8-bit register" in hw.emulator_only_reason
    assert hw.weight_register_bits == 16
    assert "'wide16'" in hw.lava_refusal() and "lava_runnable = false" in hw.lava_refusal()
    assert HardwareConfig.load("loihi2").lava_refusal() == ""


def test_weight_register_is_lavas_on_lava_runnable_configs(tmp_path):
    """Weight bits are significant bits; the register is Lava Dense's 8 bits."""
    assert HardwareConfig.load("loihi2").weight_register_bits == 8
    six = HardwareConfig.load(_write(tmp_path, _replace(LOIHI2.read_text(), "weights", "mantissa_bits",
                                                        "mantissa_bits = 6  # test")))
    assert six.weight_mantissa_bits == 6 and six.weight_register_bits == 8
    assert six.weight_format().mantissa_bits == 8 and six.weight_format().num_weight_bits == 6
    assert six.weight_format(4).num_weight_bits == 4
    with pytest.raises(ValueError, match=r"weight_bits = 7 exceeds weights\.mantissa_bits = 6"):
        six.weight_format(7)


def test_emulator_only_reason_is_required_exactly_when_not_lava_runnable(tmp_path):
    text = LOIHI2.read_text()
    off = text.replace("lava_runnable = true ", "lava_runnable = false #")
    with pytest.raises(ConfigError, match=r"emulator_only_reason.*missing.*lava_runnable = false"):
        HardwareConfig.load(_write(tmp_path, off, "a.toml"))
    with pytest.raises(ConfigError, match=r"emulator_only_reason.*non-empty one-line string"):
        HardwareConfig.load(_write(tmp_path, off.replace("\nunverified", '\nemulator_only_reason = " "\nunverified'),
                                   "b.toml"))
    ok = HardwareConfig.load(_write(tmp_path, off.replace("\nunverified", '\nemulator_only_reason = "why"\nunverified'),
                                    "c.toml"))
    assert not ok.lava_runnable and ok.emulator_only_reason == "why"
    assert HardwareConfig.from_flat_dict(ok.to_dict()) == ok
    on = text.replace("\nunverified", '\nemulator_only_reason = "why"\nunverified')
    with pytest.raises(ConfigError, match=r"emulator_only_reason.*only allowed with lava_runnable = false"):
        HardwareConfig.load(_write(tmp_path, on, "d.toml"))


@pytest.mark.parametrize("section,key,value", [
    ("weights", "mantissa_bits", 9), ("state", "activation_shift", 0), ("threshold", "shift", 0),
    ("bias", "mantissa_bits", 14), ("decay", "current_offset", 0), ("weights", "max_delay_steps", 64),
])
def test_lava_runnable_configs_must_match_lavas_datapath(tmp_path, section, key, value):
    path = _write(tmp_path, _replace(LOIHI2.read_text(), section, key, f"{key} = {value}  # test"))
    with pytest.raises(ConfigError, match=rf"{section}\.{key}.*= {value} breaks lava_runnable = true") as err:
        HardwareConfig.load(path)
    assert str(path) in str(err.value) and "emulator_only_reason" in str(err.value)
    text = path.read_text().replace("lava_runnable = true ", 'lava_runnable = false\nemulator_only_reason = "t" #')
    assert not HardwareConfig.load(_write(tmp_path, text, "emu.toml")).lava_runnable


def test_lava_datapath_table_agrees_with_the_lava_backend():
    from compiler.hardware import config as hardware
    from compiler.backends.lava import checks
    table = {key: value for key, _, _, value, _ in hardware.LAVA_DATAPATH}
    assert table["weights.mantissa_bits"] == checks.LAVA_WEIGHT_BITS == 8
    assert table["weights.max_delay_steps"] == checks.LAVA_MAX_DELAY
    assert 2 ** (table["bias.mantissa_bits"] - 1) == -checks.BIAS_MANT_RANGE[0]
    assert (table["bias.exponent_min"], table["bias.exponent_max"]) == checks.BIAS_EXP_RANGE
    assert 2 ** table["threshold.mantissa_bits"] - 1 == checks.VTH_RANGE[1]
    assert 2 ** table["decay.bits"] - 1 == checks.DECAY_RANGE[1]
    ar = compiler.LAVA_LOIHI
    assert (table["threshold.shift"], table["state.activation_shift"], table["state.voltage_bits"],
            table["decay.current_offset"], table["decay.voltage_offset"]) == \
        (ar.threshold_shift, ar.activation_shift, ar.state_bits, ar.current_decay_offset, ar.voltage_decay_offset)


def test_load_by_path_and_instance(tmp_path):
    by_path = HardwareConfig.load(LOIHI2)
    by_str_path = HardwareConfig.load(str(LOIHI2))
    assert by_path == by_str_path
    assert HardwareConfig.load(by_path) is by_path
    copy = _write(tmp_path, LOIHI2.read_text())
    assert HardwareConfig.load(copy).weight_mantissa_bits == 8


@pytest.mark.parametrize("name", ["loihi1", "loihi2", "wide16", "kapoho_point", "loihi2_subtractive"])
def test_every_value_has_a_source_comment(name):
    """Each key = value line in a section carries a '#' comment (its source)."""
    text = (HW_DIR / f"{name}.toml").read_text()
    section = None
    for line in text.splitlines():
        if re.match(r"\[(\w+)\]", line):
            section = line
        elif section and re.match(r"\w+\s*=", line):
            assert "#" in line, f"{name}.toml {section}: {line!r} has no source comment"


def test_unverified_keys_are_marked():
    hw = HardwareConfig.load("loihi2")
    assert hw.is_unverified("core.neurons_per_core")
    assert not hw.is_unverified("threshold.mantissa_bits")


def test_unknown_name_lists_the_available(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown hardware 'loihi9'.*loihi2"):
        HardwareConfig.load("loihi9")
    assert issubclass(ConfigError, ValueError)
    with pytest.raises(ConfigError, match="does not exist"):
        HardwareConfig.load(tmp_path / "nope.toml")


def test_missing_key_names_key_and_file(tmp_path):
    text = _replace(LOIHI2.read_text(), "bias", "mantissa_bits", None)
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        HardwareConfig.load(path)
    assert "bias.mantissa_bits" in str(err.value) and "missing" in str(err.value)
    assert str(path) in str(err.value)


def test_missing_section_names_it(tmp_path):
    text = LOIHI2.read_text()
    text = text[:text.index("[energy]")]
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError, match=r"'energy'.*missing"):
        HardwareConfig.load(path)


@pytest.mark.parametrize("section,key,value,expect", [
    ("weights", "mantissa_bits", "0", r"weights\.mantissa_bits.*= 0 is out of range \[2, 24\]"),
    ("threshold", "shift", "-1", r"threshold\.shift.*out of range"),
    ("decay", "current_offset", "2", r"decay\.current_offset.*out of range \[0, 1\]"),
    ("energy", "synaptic_op_pj", "-3.0", r"energy\.synaptic_op_pj.*out of range"),
])
def test_out_of_range_names_key_value_range_and_file(tmp_path, section, key, value, expect):
    path = _write(tmp_path, _replace(LOIHI2.read_text(), section, key, f"{key} = {value}"))
    with pytest.raises(ConfigError, match=expect) as err:
        HardwareConfig.load(path)
    assert str(path) in str(err.value)


def test_wrong_type_and_unknown_key(tmp_path):
    path = _write(tmp_path, _replace(LOIHI2.read_text(), "bias", "exponent_max", 'exponent_max = "7"'))
    with pytest.raises(ConfigError, match=r"bias\.exponent_max.*must be a number"):
        HardwareConfig.load(path)
    path = _write(tmp_path, _replace(LOIHI2.read_text(), "bias", "exponent_max", "exponent_max = 7.5"), "b.toml")
    with pytest.raises(ConfigError, match=r"bias\.exponent_max.*integer"):
        HardwareConfig.load(path)
    text = LOIHI2.read_text().replace("[bias]\n", "[bias]\nmantisa_bits = 13\n")
    path = _write(tmp_path, text, "c.toml")
    with pytest.raises(ConfigError, match=r"bias\.mantisa_bits.*unknown"):
        HardwareConfig.load(path)


def test_inconsistent_ranges_are_rejected(tmp_path):
    text = _replace(LOIHI2.read_text(), "bias", "exponent_min", "exponent_min = 9")
    with pytest.raises(ConfigError, match=r"bias\.exponent_min.*exceeds"):
        HardwareConfig.load(_write(tmp_path, text))


def test_newer_format_version_and_bad_toml(tmp_path):
    text = LOIHI2.read_text().replace("format_version = 1", "format_version = 99")
    with pytest.raises(ConfigError, match=r"format_version.*99.*newer"):
        HardwareConfig.load(_write(tmp_path, text))
    with pytest.raises(ConfigError, match="not valid TOML"):
        HardwareConfig.load(_write(tmp_path, "name = [", "bad.toml"))


def test_unverified_must_name_real_keys(tmp_path):
    text = LOIHI2.read_text().replace('"core.neurons_per_core",', '"core.neuron_per_core",')
    with pytest.raises(ConfigError, match=r"unverified.*core\.neuron_per_core"):
        HardwareConfig.load(_write(tmp_path, text))


def test_dict_round_trip():
    hw = HardwareConfig.load("loihi1")
    assert HardwareConfig.from_flat_dict(hw.to_dict()) == hw
    with open(HW_DIR / "loihi1.toml", "rb") as fh:
        assert HardwareConfig.from_dict(tomllib.load(fh), source="x") == \
            HardwareConfig.from_flat_dict({**hw.to_dict(), "path": "x"})


def test_compile_accepts_names_paths_and_configs():
    net = compiler.IFNetwork(weights=np.array([[0.0, -0.5], [-0.5, 0.0]]), bias=[20.0, 10.0], reset=[1.0, 1.0])
    a = compiler.compile(net, hw="loihi2")
    b = compiler.compile(net, hw=LOIHI2)
    c = compiler.compile(net, hw=HardwareConfig.load("loihi2"))
    for x in (b, c):
        assert x.vth == a.vth and np.array_equal(x.bias_mant, a.bias_mant)
    with pytest.raises(ValueError, match="unknown hardware"):
        compiler.compile(net, hw="not-a-chip")
