"""What every spiking run's result shares: rates from spike counts."""
from __future__ import annotations

import numpy as np


class RatesFromCounts:
    """Mixin for results with ``counts`` (trials x N spikes) and ``duration`` (s)."""

    @property
    def rates(self) -> np.ndarray:
        """Firing rates in Hz, ``counts / duration``, shape (trials, N)."""
        return self.counts / self.duration

    @property
    def mean_rates(self) -> np.ndarray:
        """Rates averaged over trials, shape (N,)."""
        return self.rates.mean(axis=0)
