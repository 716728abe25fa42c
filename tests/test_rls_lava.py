"""An RLS-trained network with its stimulus: the same spikes on Lava fixed_pt and on
the emulator, step for step."""
import warnings

import numpy as np
import pytest

import compiler
from lava_causal.rls import compile_trained, random_network, run_chip, sinusoids, train
from lava_causal.rls.deploy import chip_voltages

pytestmark = pytest.mark.lava


def test_trained_network_spikes_identically_on_lava_and_the_emulator():
    net = random_network(24, k=7, gain=0.2, seed=1)
    task = sinusoids(24, duration=0.2, period=0.1, seed=2)
    result = train(net, task, trials=3, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", compiler.QuantizationWarning)
        fixed = compile_trained(result.network, task, "loihi2", dt=2e-4)
    emu_x, emu = run_chip(fixed, result.network, task, trials=2, seed=3, backend="emulator")
    lava_x, lava = run_chip(fixed, result.network, task, trials=2, seed=3, backend="lava")
    assert emu.raster.sum() > 100
    np.testing.assert_array_equal(lava.raster, emu.raster)
    np.testing.assert_array_equal(lava_x, emu_x)
    assert lava.provenance["stimulus_steps"] == emu.provenance["stimulus_steps"] == 250
    # The stimulus matters: without it the spikes differ.
    plain = compiler.run_lava(fixed, emu.steps, v0=chip_voltages(fixed, 3, 1)[0], record=True)
    assert np.any(plain.raster[0] != lava.raster[0])
