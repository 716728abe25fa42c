"""The emulator's kernel paths against a test-local numpy reference of Lava's fixed_pt
step (no Lava needed): plain Dense, a uniform delay, per-synapse delays, weight
exponents >= 0 and < 0, several splits, the 32-bit and 24-bit wraps, the raster,
per-trial biases, dense against sparse, chunking, and the cached narrow synapses.

The reference follows :mod:`compiler.hardware.arithmetic` and the emulator's module
docstring literally, in int64: per split and per delay group the inputs are summed
and floor-shifted once, the sum over splits wraps to 32 bits, the activation shift
and the addition to the decayed current wrap to 32 bits, ``u`` wraps once at 24
bits, ``v`` saturates, spikes are strictly above threshold and reset ``v`` to 0 (or,
with the arithmetic's subtractive reset, subtract the threshold from it:
``tests/test_subtractive_reset.py`` runs these cases with it).
"""
import numpy as np
import pytest
import scipy.sparse as sp

import compiler.backends.emulator as emulator_module
from compiler import ChipArithmetic, FixedPointNetwork
from compiler import emulate as _emulate
from compiler.backends.emulator import DenseSynapses, SparseSynapses, synapses_of


pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning", "ignore::UserWarning")


def emulate(fixed, steps, **kwargs):
    """The random test networks need not be stable: they test the arithmetic."""
    kwargs.setdefault("allow_unstable", True)
    if np.ndim(kwargs.get("v0")) == 2:
        kwargs.setdefault("trials", np.shape(kwargs["v0"])[0])
    return _emulate(fixed, steps, **kwargs)


# ------------------------------------------------------------------ reference
def _w32(x):
    return ((x + 2 ** 31) % 2 ** 32) - 2 ** 31


def _decay(x, factor, bits):
    return np.sign(x) * ((np.abs(x) * factor) >> bits)


def _shift(x, e):
    return x << e if e >= 0 else x >> -e


def reference(fixed, steps, v0, bias=None):
    """Spikes (steps, N) of one trial, straight from the arithmetic."""
    ar = fixed.arithmetic
    n = fixed.n
    ws = [np.asarray(w.toarray() if sp.issparse(w) else w, np.int64) for w in fixed.weights]
    if fixed.delays is None:
        delays = np.zeros((n, n), np.int64)
    elif sp.issparse(fixed.delays):
        delays = np.asarray(fixed.delays.toarray(), np.int64)
    else:
        delays = np.broadcast_to(np.asarray(fixed.delays, np.int64), (n, n))
    max_delay = int(delays.max())
    b = fixed.effective_bias.astype(np.int64) if bias is None else np.asarray(bias, np.int64)
    uf, vf = ar.current_decay_factor(fixed.du), ar.voltage_decay_factor(fixed.dv)
    sm, lim = ar.state_max, ar.state_max - 1
    u = np.zeros(n, np.int64)
    v = np.asarray(v0, np.int64).copy()
    spikes = np.zeros((steps, n), bool)
    masks = [delays == d for d in range(max_delay + 1)]
    for t in range(steps):
        a = np.zeros(n, np.int64)
        for d in range(max_delay + 1):
            src = t - 1 - d
            if src < 0:
                continue
            s = spikes[src].astype(np.int64)
            for w, e in zip(ws, fixed.weight_exps):
                a += _shift((w * masks[d]) @ s, e)
        act = _w32(_w32(a) << ar.activation_shift)
        pre = _w32(_decay(u, uf, ar.decay_bits) + act)
        u = np.where(pre > sm, pre - 2 * sm, np.where(pre <= -sm, pre + 2 * sm, pre))
        v = np.clip(_decay(v, vf, ar.decay_bits) + u + b, -lim, lim)
        fired = v > fixed.threshold
        v[fired] = v[fired] - fixed.threshold if ar.reset == "subtract" else 0
        spikes[t] = fired
    return spikes


# ------------------------------------------------------------------ networks
def random_network(seed=0, n=24, exps=(3, -2), delays=None, du=200, dv=40, scale=2, vth=2000,
                   density=1.0, dtype=None, reset="hard"):
    """Random mixed-sign splits with the given exponents; ``delays``: None, an int,
    or ``"per-synapse"`` (0..5); ``reset``: the arithmetic's reset."""
    rng = np.random.default_rng(seed)
    ws = []
    mask = rng.random((n, n)) < density
    np.fill_diagonal(mask, False)
    for _ in exps:
        w = rng.integers(-128, 128, (n, n)) * scale * mask
        ws.append(w if dtype is None else w.astype(dtype))
    if delays == "per-synapse":
        delays = rng.integers(0, 6, (n, n))
    return FixedPointNetwork(weights=tuple(ws), weight_exps=exps, bias_mant=rng.integers(0, 4000, n),
                             bias_exp=rng.integers(0, 4, n), vth=vth, du=du, dv=dv, dt=1e-4,
                             delays=delays, arithmetic=ChipArithmetic(reset=reset))


def as_sparse(fixed):
    """The same network with CSR splits (and CSR per-synapse delays) on one pattern:
    the union of the splits' non-zeros."""
    pattern = sum(np.abs(np.asarray(w)) for w in fixed.weights) != 0
    rows, cols = np.nonzero(pattern)

    def csr(m):
        return sp.csr_matrix((np.asarray(m)[rows, cols], (rows, cols)), shape=pattern.shape)

    delays = fixed.delays
    if delays is not None and np.ndim(delays) == 2:
        delays = csr(delays)
    ws = []
    for w in fixed.weights:
        m = csr(w)
        m.data[m.data == 0] = 0  # explicit zeros stay in the pattern
        ws.append(m)
    return FixedPointNetwork(weights=tuple(ws), weight_exps=fixed.weight_exps, bias_mant=fixed.bias_mant,
                             bias_exp=fixed.bias_exp, vth=fixed.vth, du=fixed.du, dv=fixed.dv, dt=fixed.dt,
                             delays=delays, arithmetic=fixed.arithmetic)


def _v0(fixed, seed=3):
    return fixed.initial_voltages(1, seed)[0]


CASES = {
    "two splits, exps 3 and -2": dict(exps=(3, -2)),
    "one split, exp 0": dict(exps=(0,)),
    "one split, exp -3": dict(exps=(-3,)),
    "three splits, exps 1, 0, -4": dict(exps=(1, 0, -4)),
    "uniform delay 3": dict(exps=(2, -1), delays=3),
    "uniform delay 0": dict(exps=(0, -2), delays=0),
    "per-synapse delays": dict(exps=(3, -2), delays="per-synapse"),
    "per-synapse delays, exp 0": dict(exps=(0,), delays="per-synapse"),
    "per-synapse delays, exp -5": dict(exps=(-5,), delays="per-synapse"),
    "no leak (dv = 0)": dict(exps=(1, -3), dv=0),
    "delta synapses (du = 4095)": dict(exps=(0, -1), du=4095, dv=0),
    "int16 mantissas": dict(exps=(0, -6), scale=100),
    "sparse pattern": dict(exps=(2, -2), density=0.3, delays="per-synapse"),
}


# ------------------------------------------------------------------ agreement
@pytest.mark.parametrize("name", list(CASES))
def test_kernel_paths_match_the_reference(name):
    fixed = random_network(seed=len(name), **CASES[name])
    v0 = _v0(fixed)
    want = reference(fixed, 300, v0)
    assert want.sum() > 50, "a test network that barely spikes tests nothing"
    got = emulate(fixed, 300, v0=v0, record=True)
    np.testing.assert_array_equal(got.raster[0], want)
    np.testing.assert_array_equal(got.counts[0], want.sum(axis=0))


@pytest.mark.parametrize("name", list(CASES))
def test_sparse_kernel_matches_the_dense_kernel(name):
    dense = random_network(seed=len(name), **CASES[name])
    sparse = as_sparse(dense)
    v0 = dense.initial_voltages(3, 5)
    a = emulate(dense, 300, v0=v0, record=True)
    b = emulate(sparse, 300, v0=v0, record=True)
    assert a.counts.sum() > 100
    np.testing.assert_array_equal(a.raster, b.raster)
    np.testing.assert_array_equal(a.counts, b.counts)


def test_wraps_of_u_and_of_the_32_bit_word_match_the_reference():
    """Large weights with a large exponent: the summed input passes 2**17 (u wraps at
    24 bits) and, with exponent 14, 2**25 (the activation shift wraps at 32 bits), so
    the kernel must take the loop with the 32-bit wraps there (the input bound no
    longer proves them identities); with exponent 7 the bound (2024 << 7 < 2**18)
    still proves them identities while u wraps at 24 bits."""
    n = 16
    w = np.zeros((n, n), int)
    w[6:11, :6] = 254
    w[11:, :6] = -254
    w[np.ix_(range(6, 11), range(11, n))] = -100
    bias = np.full(n, 2000)
    bias[-2:] = -4096
    for exp in (7, 14):
        fixed = FixedPointNetwork(weights=w, weight_exps=exp, bias_mant=bias, bias_exp=np.full(n, 7),
                                  vth=20000, du=80, dv=0, dt=1e-4)
        syn = synapses_of(fixed)
        assert emulator_module.neuron_mode(fixed, syn) == (1 if exp == 14 else 0)
        v0 = np.full(n, 1000)
        want = reference(fixed, 400, v0)
        got = emulate(fixed, 400, v0=v0, record=True)
        np.testing.assert_array_equal(got.raster[0], want)


def test_small_inputs_take_the_loop_without_wraps():
    fixed = random_network(exps=(0,), dv=0)
    assert emulator_module.neuron_mode(fixed, synapses_of(fixed)) == 0
    leaky = random_network(exps=(0,), dv=40)
    assert emulator_module.neuron_mode(leaky, synapses_of(leaky)) == 2


def test_wide_decay_bits_use_the_integer_decay():
    """decay_bits = 23: |u| x factor can pass 2**53, so the integer decay runs."""
    from compiler.hardware.arithmetic import ChipArithmetic

    ar = ChipArithmetic(decay_bits=23)
    rng = np.random.default_rng(4)
    n = 20
    w = rng.integers(-128, 128, (n, n)) * 2
    np.fill_diagonal(w, 0)
    fixed = FixedPointNetwork(weights=w, weight_exps=4, bias_mant=rng.integers(0, 4000, n),
                              bias_exp=rng.integers(0, 4, n), vth=2000, du=2 ** 20, dv=2 ** 14,
                              dt=1e-4, arithmetic=ar)
    assert emulator_module.neuron_mode(fixed, synapses_of(fixed)) == 4
    v0 = _v0(fixed)
    want = reference(fixed, 300, v0)
    assert want.sum() > 50
    got = emulate(fixed, 300, v0=v0, record=True)
    np.testing.assert_array_equal(got.raster[0], want)


def test_many_trials_each_match_the_reference():
    fixed = random_network(exps=(3, -2), delays="per-synapse")
    v0 = fixed.initial_voltages(5, 11)
    got = emulate(fixed, 200, v0=v0)
    for tr in range(5):
        np.testing.assert_array_equal(got.counts[tr], reference(fixed, 200, v0[tr]).sum(axis=0))


# ------------------------------------------------------------------ per-trial bias
def test_per_trial_bias_matches_the_reference_per_trial():
    fixed = random_network(exps=(3, -2), delays=2)
    rng = np.random.default_rng(8)
    trials = 4
    bias = rng.integers(-5000, 30000, (trials, fixed.n))
    v0 = fixed.initial_voltages(trials, 2)
    got = emulate(fixed, 250, v0=v0, bias=bias)
    assert got.provenance["bias"] == "per-trial"
    for tr in range(trials):
        np.testing.assert_array_equal(got.counts[tr], reference(fixed, 250, v0[tr], bias[tr]).sum(axis=0))
    # a shared (N,) bias: every trial uses it; the network's own bias is the default
    shared = emulate(fixed, 250, v0=v0, bias=bias[1])
    np.testing.assert_array_equal(shared.counts[1], got.counts[1])
    own = emulate(fixed, 250, v0=v0, bias=fixed.effective_bias)
    np.testing.assert_array_equal(own.counts, emulate(fixed, 250, v0=v0).counts)
    assert "bias" not in emulate(fixed, 10, v0=v0).provenance


def test_per_trial_bias_on_a_sparse_network():
    fixed = random_network(exps=(2, -1), density=0.3)
    bias = np.random.default_rng(1).integers(0, 30000, (3, fixed.n))
    v0 = fixed.initial_voltages(3, 4)
    a = emulate(fixed, 200, v0=v0, bias=bias)
    b = emulate(as_sparse(fixed), 200, v0=v0, bias=bias)
    np.testing.assert_array_equal(a.counts, b.counts)


@pytest.mark.parametrize("bad, match", [
    (np.full(24, 0.5), "integers"),
    (np.full(24, np.nan), "integers"),
    (np.zeros(23, int), "shape"),
    (np.zeros((3, 24), int), "shape"),
    (np.array(["a"] * 24), "integers"),
    (np.full(24, True), "integers"),
])
def test_bias_must_be_integers_of_the_right_shape(bad, match):
    fixed = random_network()
    with pytest.raises(ValueError, match=match):
        emulate(fixed, 5, trials=2, seed=0, bias=bad)


def test_bias_outside_the_fields_range_names_value_and_range():
    """A compiled network's bias fields: 13-bit signed mantissa, exponent up to 7 on
    loihi2, so the effective bias lies within -4096 << 7 .. 4095 << 7."""
    import warnings

    from compiler import compile
    from lava_causal import build_network, tasks

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fixed = compile(build_network(tasks.discrimination(0, n=12, m=12)), hw="loihi2", dt=1e-4)
    lo, hi, _why = emulator_module.bias_range(fixed)
    assert (lo, hi) == (-4096 << 7, 4095 << 7)
    ok = np.full(fixed.n, hi)
    emulate(fixed, 5, seed=0, bias=ok)
    bad = ok.copy()
    bad[3] = hi + 1
    with pytest.raises(ValueError, match=rf"bias\[0, 3\] = {hi + 1} is outside the allowed range {lo} \.\. {hi}"):
        emulate(fixed, 5, seed=0, bias=bad)
    with pytest.raises(ValueError, match="13-bit"):
        emulate(fixed, 5, seed=0, bias=np.full(fixed.n, lo - 1))


# ------------------------------------------------------------------ chunks, cache
def test_chunked_runs_equal_one_chunk(monkeypatch):
    fixed = random_network(exps=(3, -2), delays="per-synapse")
    v0 = fixed.initial_voltages(3, 9)
    whole = emulate(fixed, 400, v0=v0, record=True)
    cuts = np.random.default_rng(0).integers(1, 30, 100)

    def chunked(advance, total, first, progress=None, desc="", unit=""):
        done = 0
        for c in cuts:
            end = min(total, done + int(c))
            advance(done, end)
            done = end
            if done == total:
                break
        assert done == total

    monkeypatch.setattr(emulator_module, "run_in_chunks", chunked)
    for net in (fixed, as_sparse(fixed)):
        part = emulate(net, 400, v0=v0, record=True)
        np.testing.assert_array_equal(part.raster, whole.raster)
        np.testing.assert_array_equal(part.counts, whole.counts)


def test_synapses_are_narrow_transposed_and_cached():
    fixed = random_network(exps=(3, -2), delays="per-synapse")
    syn = synapses_of(fixed)
    assert isinstance(syn, DenseSynapses)
    assert syn.weights.dtype == np.int16  # values up to 254: int16 (int8 holds +-127)
    assert syn.delays.dtype == np.uint8
    for k, w in enumerate(fixed.weights):
        np.testing.assert_array_equal(syn.weights[k], np.asarray(w).T)
    np.testing.assert_array_equal(syn.delays, np.asarray(fixed.delays).T)
    assert synapses_of(fixed) is syn  # built once per network
    small = random_network(exps=(0,), scale=1)
    assert synapses_of(small).weights.dtype == np.int8
    plain = synapses_of(random_network(exps=(0,)))
    assert plain.delays.size == 0 and plain.max_delay == 0
    uniform = synapses_of(random_network(exps=(0,), delays=4))
    assert uniform.delays.size == 0 and uniform.uniform_delay == 4 and uniform.max_delay == 4
    sparse = synapses_of(as_sparse(fixed))
    assert isinstance(sparse, SparseSynapses) and sparse.weights.dtype.itemsize <= 2
