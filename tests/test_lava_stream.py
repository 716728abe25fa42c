"""One Lava network for many inputs that differ in bias (run_lava_stream)."""
import warnings
from dataclasses import replace

import numpy as np
import pytest

from compiler import QuantizationWarning, compile, emulate
from compiler.quantization.rebias import rebias
from lava_causal import build_network, tasks

pytestmark = pytest.mark.lava
STEPS = 250


@pytest.mark.parametrize("delay", [0.0, 3e-4])
def test_stream_counts_equal_fresh_networks_and_the_emulator(delay):
    from compiler import run_lava
    from compiler.backends.lava import run_lava_stream

    problem = tasks.mixture(seed=2, n=12, m=12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", QuantizationWarning)
        fixed = compile(build_network(problem, delay=delay), hw="loihi2", dt=1e-4)
    rng = np.random.default_rng(0)
    biases = problem.drive[None, :] * rng.uniform(0.5, 1.5, size=(3, fixed.n))
    new = rebias(fixed, biases)
    v0 = fixed.initial_voltages(3, seed=4)
    stream = run_lava_stream(fixed, STEPS, new.bias_mant, new.bias_exp, v0)
    emu = emulate(fixed, STEPS, trials=3, v0=v0, bias=new.effective)
    np.testing.assert_array_equal(stream.counts, emu.counts)
    for k in range(3):
        fresh = run_lava(replace(fixed, bias_mant=new.bias_mant[k], bias_exp=new.bias_exp[k]), STEPS,
                         v0=v0[k])
        np.testing.assert_array_equal(stream.counts[k], fresh.counts[0])
    assert stream.counts.sum() > 0 and stream.provenance["inputs"] == 3
