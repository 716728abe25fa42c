"""The bit-exact emulator against Lava's fixed_pt models, and the Lava backend itself.

Exact equality throughout for integer against integer. Each Lava run costs ~1-3 s
(startup ~0.5 s); the whole file runs in well under two minutes.
"""
import _thread
import multiprocessing
import threading

import numpy as np
import pytest

import compiler
from compiler import (BackendUnavailable, FixedPointNetwork, check_lava_compatible, emulate,
                      representable_weight_range, run_lava, weight_sign_mode)
from compiler.backends.lava.build import float_parameters
from compiler.backends.lava.checks import SIGN_MODES
from compiler.backends.lava.runtime import import_lava, run_config, running
from lava_causal import build_network, tasks

V_LIMIT = 2 ** 23 - 1


# ------------------------------------------------------------------ networks
def random_two_split(seed=1, n=12, delays=False, du=200, dv=40):
    """Random mixed-sign network over two Dense splits (exps 3 and -2), leaky
    (dv > 0), bias exponents 0..3; optionally DelayDense delays 0..3."""
    rng = np.random.default_rng(seed)
    ws = []
    for _ in range(2):
        w = rng.integers(-128, 128, (n, n)) * 2
        np.fill_diagonal(w, 0)
        ws.append(w)
    return FixedPointNetwork(
        weights=tuple(ws), weight_exps=(3, -2), bias_mant=rng.integers(0, 4000, n),
        bias_exp=rng.integers(0, 4, n), vth=2000, du=du, dv=dv, dt=1e-4,
        delays=rng.integers(0, 4, (n, n)) if delays else None)


def split_bias(bias):
    """Per-neuron (mantissa, exponent) with |mantissa| <= 4095, exponent 0..7."""
    exp = np.clip(np.ceil(np.log2(np.maximum(np.abs(bias), 1) / 4095)), 0, 7).astype(int)
    return np.round(bias / 2.0 ** exp).astype(int), exp


def discrimination_network(n=100, seed=0, vth=2 ** 14, du=81, dt=1e-4):
    r"""The paper's discrimination task (mu = 50 u_10) on chip integers: dense
    all-to-all inhibition, exponential synapses ((du + 1) / 4096 = dt / 5 ms), bias
    driving the target at ~50 Hz. Charge per spike :math:`S J_{ij} d / 2^6` is split
    into a coarse part (``weight_exp = 1``) and an even fine part (``weight_exp = -7``)."""
    net = build_network(tasks.discrimination(seed, n=n, m=n))
    scale = vth << 6
    charge = scale * (net.weights / net.reset[:, None]) * (du + 1) / 4096 / 64
    coarse = np.round(charge / 2)
    fine = 2 * np.round((charge - 2 * coarse) * 64)
    mant, exp = split_bias(scale * net.bias / net.reset * dt)
    return FixedPointNetwork(weights=(coarse, fine), weight_exps=(1, -7), bias_mant=mant,
                             bias_exp=exp, vth=vth, du=du, dv=0, dt=dt)


def delta_delay_network(seed=2, n=30):
    """Delta synapses (du = 4095) through DelayDense with delays 0..63."""
    rng = np.random.default_rng(seed)
    ws = [rng.integers(-100, 100, (n, n)) * 2 for _ in range(2)]
    for w in ws:
        np.fill_diagonal(w, 0)
    delays = rng.integers(0, 64, (n, n))
    delays[0, :] = 63
    return FixedPointNetwork(weights=tuple(ws), weight_exps=(0, -4), delays=delays,
                             bias_mant=rng.integers(300, 2000, n), bias_exp=rng.integers(0, 3, n),
                             vth=1000, du=4095, dv=0, dt=1e-4)


def extreme_network(n_drivers=6, n=16, weight_exp=7, du=80):
    """Synchronous drivers (same bias and v0) whose volleys push ``u`` past 2^23:
    excitatory volleys wrap to inhibition, which drives their targets down to the v
    floor -(2^23 - 1) between their own spikes; inhibitory volleys wrap to
    excitation. The last two neurons have the most negative bias, -4096 << 7.
    Returns the network and its initial voltages."""
    w = np.zeros((n, n), int)
    half = (n - n_drivers) // 2
    targets = np.arange(n_drivers, n)
    w[targets[:half], :n_drivers] = 254
    w[targets[half:], :n_drivers] = -254
    w[np.ix_(targets[:half], targets[half:])] = -100
    bias = np.full(n, 2000)
    bias[-2:] = -4096
    fixed = FixedPointNetwork(weights=w, weight_exps=weight_exp, bias_mant=bias,
                              bias_exp=np.full(n, 7), vth=20000, du=du, dv=0, dt=1e-4)
    v0 = np.full(n, 1000)
    return fixed, v0


# ---------------------------------------------------- test-local reference
def _wrap32(x):
    return ((x + 2 ** 31) % 2 ** 32) - 2 ** 31


def _decay(x, factor):
    return np.sign(x) * ((np.abs(x) * factor) >> 12)


def reference_run(fixed, v0, steps):
    """Numpy model of Lava's fixed_pt step (plain Dense) with the measured int32 wraps.

    Returns spikes (steps, N) and per-neuron event counts: ``u_wraps`` (24-bit wraps
    of u), ``int32_wraps`` (activation beyond int32), ``v_floor`` (steps at
    -(2^23 - 1))."""
    assert fixed.delays is None
    n = fixed.n
    u = np.zeros(n, np.int64)
    v = np.asarray(v0, np.int64).copy()
    a = np.zeros(n, np.int64)
    spikes = np.zeros((steps, n), bool)
    events = {key: np.zeros(n, int) for key in ("u_wraps", "int32_wraps", "v_floor")}
    for t in range(steps):
        act = _wrap32(_wrap32(a) << 6)
        events["int32_wraps"] += act != a << 6
        pre = _wrap32(_decay(u, 4096 - fixed.du - 1) + act)
        u = np.where(pre > 2 ** 23, pre - 2 ** 24, np.where(pre <= -2 ** 23, pre + 2 ** 24, pre))
        events["u_wraps"] += u != pre
        v = np.clip(_decay(v, 4096 - fixed.dv) + u + fixed.effective_bias, -V_LIMIT, V_LIMIT)
        events["v_floor"] += v == -V_LIMIT
        s = v > fixed.threshold
        v[s] = 0
        spikes[t] = s
        a = sum(w[:, s].sum(axis=1) << e if e > 0 else w[:, s].sum(axis=1) >> -e
                for w, e in zip(fixed.weights, fixed.weight_exps))
    return spikes, events


def _no_lava_children():
    """No child process left, other than joblib's reusable loky workers (other tests
    run sweeps with n_jobs > 1)."""
    return [p for p in multiprocessing.active_children() if not p.name.startswith("Loky")] == []


# -------------------------------------------------------------- agreement
@pytest.mark.lava
def test_rasters_identical_two_splits_leak_and_bias_exponents():
    fixed = random_two_split()
    em = emulate(fixed, 150, trials=2, seed=3, record=True, allow_unstable=True)  # random weights
    lv = run_lava(fixed, 150, trials=2, seed=3, record=True)
    assert lv.backend == "lava-fixed_pt" and lv.seed == 3
    assert em.raster.sum() > 100
    np.testing.assert_array_equal(lv.raster, em.raster)
    np.testing.assert_array_equal(lv.counts, em.counts)
    np.testing.assert_array_equal(lv.raster.sum(axis=1), lv.counts)


@pytest.mark.lava
def test_same_seed_same_initial_voltages():
    fixed = random_two_split(seed=4, delays=True)
    v0 = fixed.initial_voltages(1, 11)[0]
    by_seed = run_lava(fixed, 60, seed=11, record=True)
    by_v0 = run_lava(fixed, 60, v0=v0, record=True)
    em = emulate(fixed, 60, seed=11, record=True, allow_unstable=True)  # random weights
    np.testing.assert_array_equal(by_seed.raster, by_v0.raster)
    np.testing.assert_array_equal(by_seed.raster, em.raster)
    assert not np.array_equal(em.raster, emulate(fixed, 60, seed=12, record=True,
                                                 allow_unstable=True).raster)


@pytest.mark.lava
def test_realistic_inhibitory_network_counts_2000_steps():
    fixed = discrimination_network()
    assert check_lava_compatible(fixed) == ("inhibitory", "mixed")
    em = emulate(fixed, 2000, seed=5)
    lv = run_lava(fixed, 2000, seed=5)
    np.testing.assert_array_equal(lv.counts, em.counts)
    rates = em.rates[0]
    assert 30 < rates[tasks.TARGET] < 70  # the target at ~50 Hz
    assert np.sum(np.delete(rates, tasks.TARGET) > 0) < 10  # the rest nearly silent


@pytest.mark.lava
def test_delta_synapses_with_delays_up_to_63_counts_2000_steps():
    fixed = delta_delay_network()
    assert fixed.max_delay == 63
    em = emulate(fixed, 2000, seed=6)
    lv = run_lava(fixed, 2000, seed=6)
    assert em.counts.sum() > 500
    np.testing.assert_array_equal(lv.counts, em.counts)


@pytest.mark.lava
def test_per_trial_bias_matches_lava_runs_of_each_bias():
    """emulate(bias=) with a different bias per trial equals Lava run on the network
    whose bias fields hold that trial's bias (Lava sets bias per network, not per run)."""
    import dataclasses

    fixed = random_two_split(seed=6, delays=True)
    rng = np.random.default_rng(2)
    fields = [split_bias(rng.integers(-20000, 60000, fixed.n)) for _ in range(3)]
    bias = np.stack([np.left_shift(mant, exp) for mant, exp in fields])
    v0 = fixed.initial_voltages(3, 4)
    em = emulate(fixed, 300, trials=3, v0=v0, bias=bias, record=True, allow_unstable=True)
    assert em.provenance["bias"] == "per-trial" and em.counts.sum() > 100
    for tr, (mant, exp) in enumerate(fields):
        own = dataclasses.replace(fixed, bias_mant=mant, bias_exp=exp)
        lv = run_lava(own, 300, v0=v0[tr], record=True)
        np.testing.assert_array_equal(lv.raster[0], em.raster[tr])


@pytest.mark.lava
def test_u_wrap_and_v_saturation_counts_2000_steps():
    fixed, v0 = extreme_network()
    spikes, events = reference_run(fixed, v0, 2000)
    excited, inhibited = slice(6, 11), slice(11, 14)
    assert np.all(events["u_wraps"][excited] > 100) and np.all(events["u_wraps"][inhibited] > 100)
    # saturation matters: the same neurons sit at the floor and spike
    assert np.all(events["v_floor"][excited] > 100) and np.all(spikes[:, excited].sum(0) > 100)
    em = emulate(fixed, 2000, v0=v0, record=True, allow_unstable=True)  # excitatory drivers
    np.testing.assert_array_equal(em.raster[0], spikes)
    lv = run_lava(fixed, 2000, v0=v0)
    np.testing.assert_array_equal(lv.counts, em.counts)


@pytest.mark.lava
def test_int32_wrap_of_large_summed_input():
    """|summed input| >= 2^25: Lava's int32 shift and add wrap (the emulator follows)."""
    fixed, v0 = extreme_network(weight_exp=20, du=300)
    spikes, events = reference_run(fixed, v0, 200)
    assert events["int32_wraps"].sum() > 100
    em = emulate(fixed, 200, v0=v0, record=True, allow_unstable=True)  # excitatory drivers
    np.testing.assert_array_equal(em.raster[0], spikes)
    lv = run_lava(fixed, 200, v0=v0, record=True)
    np.testing.assert_array_equal(lv.raster, em.raster)


@pytest.mark.lava
def test_floating_pt_is_close_to_fixed_pt():
    fixed = discrimination_network()
    fx = run_lava(fixed, 2000, seed=5)
    fl = run_lava(fixed, 2000, seed=5, tag="floating_pt")
    assert fl.backend == "lava-floating_pt"
    assert abs(int(fl.counts[0, tasks.TARGET]) - int(fx.counts[0, tasks.TARGET])) <= 2
    assert abs(int(fl.counts.sum()) - int(fx.counts.sum())) <= 5


def test_float_parameters_fold_exponents_and_shifts():
    fixed = random_two_split()
    fp = float_parameters(fixed)
    assert fp["du"] == (fixed.du + 1) / 4096 and fp["dv"] == fixed.dv / 4096
    assert fp["vth"] == fixed.vth * 64
    np.testing.assert_array_equal(fp["bias_mant"], fixed.bias_mant * 2.0 ** fixed.bias_exp)
    np.testing.assert_array_equal(fp["weights"][0], fixed.weights[0] * 2.0 ** (3 + 6))
    np.testing.assert_array_equal(fp["weights"][1], fixed.weights[1] * 2.0 ** (-2 + 6))


# --------------------------------------------------------- runtime safety
@pytest.mark.lava
def test_timeout_raises_and_leaves_no_process():
    fixed = random_two_split()
    with pytest.raises(TimeoutError, match="10000000 steps.*timeout=0.5"):
        run_lava(fixed, 10_000_000, seed=1, timeout=0.5)
    assert _no_lava_children()


@pytest.mark.lava
def test_crash_inside_a_process_raises_at_once_and_cleans_up():
    import_lava()
    from lava.proc.dense.process import DelayDense
    from lava.proc.lif.process import LIF

    lif = LIF(shape=(3,), vth=10, bias_mant=100)
    conn = DelayDense(weights=np.full((3, 3), 2), delays=np.full((3, 3), 64))  # > 63: raises
    lif.s_out.connect(conn.s_in)
    conn.a_out.connect(lif.a_in)
    with pytest.raises(RuntimeError, match="(?s)exited during a run.*between 0 and 63"):
        with running(lif, 100, run_config("cpu", "fixed_pt"), timeout=60):
            pass
    assert _no_lava_children()


@pytest.mark.lava
def test_keyboard_interrupt_stops_the_runtime():
    fixed = random_two_split()
    timer = threading.Timer(1.5, _thread.interrupt_main)
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            run_lava(fixed, 10_000_000, seed=1)
    finally:
        timer.cancel()
    assert _no_lava_children()


@pytest.mark.lava
def test_loihi2_target_needs_lava_loihi():
    from compiler.backends.lava.runtime import loihi_available

    if loihi_available():
        pytest.skip("lava-loihi is installed here")
    with pytest.raises(BackendUnavailable, match="lava-loihi"):
        run_lava(random_two_split(), 10, target="loihi2")
    assert issubclass(BackendUnavailable, RuntimeError)


@pytest.mark.loihi
def test_loihi2_hardware_matches_emulator():
    fixed = discrimination_network()
    em = emulate(fixed, 2000, seed=5)
    hw = run_lava(fixed, 2000, seed=5, target="loihi2")
    assert hw.backend == "loihi2"
    np.testing.assert_array_equal(hw.counts, em.counts)


# ----------------------------------------------------------- validation
@pytest.mark.lava
@pytest.mark.parametrize("bits", range(1, 9))
@pytest.mark.parametrize("mode", SIGN_MODES)
def test_representable_range_matches_lavas_clip_and_truncate(mode, bits):
    import_lava()
    from lava.utils.weightutils import SignMode, clip_weights, truncate_weights

    if mode == "mixed" and bits == 1:
        with pytest.raises(ValueError):
            representable_weight_range(mode, bits)
        return
    w = np.arange(-300, 301)
    lava_mode = SignMode[mode.upper()]
    kept = truncate_weights(clip_weights(w, lava_mode, num_bits=8), lava_mode, bits) == w
    lo, hi, step = representable_weight_range(mode, bits)
    np.testing.assert_array_equal(kept, (w >= lo) & (w <= hi) & (w % step == 0))


def test_weight_sign_mode_choices_and_errors():
    assert weight_sign_mode(np.array([[0, 255]])) == "excitatory"
    assert weight_sign_mode(np.zeros((2, 2))) == "excitatory"
    assert weight_sign_mode(np.array([[0, -255]])) == "inhibitory"
    assert weight_sign_mode(np.array([[-256, -2]])) == "mixed"  # -256 only in mixed mode
    assert weight_sign_mode(np.array([[-256, 254]])) == "mixed"
    with pytest.raises(ValueError, match=r"multiples of 2 in \[-256, 254\].*e.g. 3"):
        weight_sign_mode(np.array([[-2, 3]]))
    with pytest.raises(ValueError, match=r"\[0, 255\]"):
        weight_sign_mode(np.array([[0, 256]]))
    with pytest.raises(ValueError, match="at most 8-bit"):
        weight_sign_mode(np.array([[0, 1]]), num_weight_bits=9)
    assert representable_weight_range("excitatory", 6) == (0, 252, 4)


def test_run_lava_refuses_what_lava_would_change_silently():
    base = random_two_split()
    w = base.weights[0].copy()
    w[0, 1] = 3  # odd in a mixed matrix: Lava would floor it to 2
    with pytest.raises(ValueError, match=r"weights\[0\].*not representable"):
        run_lava(FixedPointNetwork(weights=(w, base.weights[1]), weight_exps=(3, -2),
                                   bias_mant=base.bias_mant, bias_exp=base.bias_exp,
                                   vth=2000, du=200, dv=0, dt=1e-4), 10)
    wide = FixedPointNetwork(weights=base.weights, weight_exps=(3, -2), bias_mant=base.bias_mant,
                             bias_exp=base.bias_exp, vth=2000, du=200, dv=0, dt=1e-4,
                             num_weight_bits=10)
    with pytest.raises(ValueError, match="at most 8-bit"):
        run_lava(wide, 10)
    for field, value, limit in [("delays", np.full((12, 12), 64), "63"),
                                ("bias_mant", np.full(12, 4096), "4095"),
                                ("bias_exp", np.full(12, 8), "7"),
                                ("vth", 2 ** 17, "131071"), ("du", 4096, "4095")]:
        params = dict(weights=base.weights, weight_exps=(3, -2), bias_mant=base.bias_mant,
                      bias_exp=base.bias_exp, vth=2000, du=200, dv=0, dt=1e-4)
        params[field] = value
        with pytest.raises(ValueError, match=f"{field}.*{limit}"):
            run_lava(FixedPointNetwork(**params), 10)
    with pytest.raises(ValueError, match="tag"):
        run_lava(base, 10, tag="bit_accurate")
    with pytest.raises(ValueError, match="target"):
        run_lava(base, 10, target="gpu")
    assert compiler.run_lava is run_lava
