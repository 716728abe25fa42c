"""Shared test helpers: a chunk pacer for the tests that check that chunked runs equal
unchunked ones (a stand-in for :class:`compiler.backends.emulator.ChunkPacer` that the
kernels' drivers instantiate; ``__call__`` returns the pacer itself), and the float
simulator with its path forced."""
import numpy as np


class RandomPacer:
    """Chunks of random sizes in [1, high] (one unit = one step or one work unit)."""

    def __init__(self, high, seed=0):
        self.rng = np.random.default_rng(seed)
        self.high = high
        self.chunks = 0

    def __call__(self, first, *args, **kwargs):
        return self

    @property
    def size(self):
        self.chunks += 1
        return int(self.rng.integers(1, self.high + 1))

    def record(self, units, seconds):
        pass


def simulate_in_mode(monkeypatch, net, mode, **kwargs):
    """``lava_causal.simulate(net, **kwargs)`` with the float simulator's path forced to
    ``mode`` (``lava_causal.simulator._FORCE_MODE``; None: automatic)."""
    from lava_causal import simulator as sim

    monkeypatch.setattr(sim, "_FORCE_MODE", mode)
    try:
        return sim.simulate(net, **kwargs)
    finally:
        monkeypatch.setattr(sim, "_FORCE_MODE", None)


def forbid_lava_builds(monkeypatch):
    """Make every entry point that would build a Lava process or run config raise (each
    patched where it is looked up): a refusal must come before any of them."""
    from compiler.backends.lava import build, run, runtime

    def must_not_run(*args, **kwargs):
        raise AssertionError("a Lava process or run config was built for an emulator-only config")

    for module, name in ((run, "build_lava_network"), (run, "run_config"), (run, "resolve_connectivity"),
                         (build, "import_lava"), (runtime, "import_lava")):
        monkeypatch.setattr(module, name, must_not_run)
