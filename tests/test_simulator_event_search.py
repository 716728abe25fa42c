"""The non-leaky event search of the simulator (``SKIP_EXACT`` with b >= 0): horizon
passes with crossing bounds, single-spike events folded into the next pass, and the
propagator table; spikes equal to stepping one step at a time, whatever the chunking."""
import numpy as np
import pytest

from lava_causal import build_network, signal_tracking_network, tasks
from lava_causal import simulator as sim
from lava_causal.simulator import simulate
from _helpers import RandomPacer, simulate_in_mode





CASES = {
    "mixture-300": lambda: build_network(tasks.mixture(seed=1, n=300, m=300), tau_syn=5e-3),
    "mixture-hard-reset": lambda: signal_tracking_network(tasks.mixture(0), tau_syn=5e-3,
                                                          leak_tau=None),
    "mixture-slow-synapse": lambda: build_network(tasks.mixture(2), tau_syn=50e-3),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_event_search_equals_stepping(monkeypatch, case):
    net = CASES[case]()
    assert net.leak_tau is None and np.min(net.bias) >= 0
    kwargs = dict(duration=0.3, dt=1e-4, trials=2, seed=5, record_spikes=True)
    step = simulate_in_mode(monkeypatch, net, sim.STEP, **kwargs)
    res = simulate_in_mode(monkeypatch, net, None, **kwargs)
    assert step.counts.sum() > 50
    np.testing.assert_array_equal(res.counts, step.counts)
    for (ta, ia), (tb, ib) in zip(res.spikes, step.spikes):
        np.testing.assert_array_equal(ia, ib)
        np.testing.assert_allclose(ta, tb, rtol=0, atol=1e-12)
    np.testing.assert_allclose(res.final_voltages, step.final_voltages, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("record", [False, True])
def test_folded_events_do_not_depend_on_chunks(monkeypatch, record):
    # Zero delays: single-spike events wait for the next horizon pass, also across the
    # end of a chunk.
    net = build_network(tasks.mixture(0), tau_syn=5e-3)
    kwargs = dict(duration=0.3, dt=1e-5, trials=2, seed=1, record_spikes=record)
    whole = simulate(net, **kwargs)
    pacer = RandomPacer(2000)
    monkeypatch.setattr(sim, "ChunkPacer", pacer)
    chunked = simulate(net, **kwargs)
    assert pacer.chunks > 50 and whole.counts.sum() > 100
    np.testing.assert_array_equal(chunked.counts, whole.counts)
    np.testing.assert_array_equal(chunked.final_voltages, whole.final_voltages)
    if record:
        for (ta, ia), (tb, ib) in zip(chunked.spikes, whole.spikes):
            np.testing.assert_array_equal(ta, tb)
            np.testing.assert_array_equal(ia, ib)
