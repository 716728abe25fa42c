"""Chunk pacers for the tests that check that chunked runs equal unchunked ones: a
stand-in for :class:`compiler.backends.emulator.ChunkPacer` that the kernels' drivers
instantiate (``__call__`` returns the pacer itself)."""
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
