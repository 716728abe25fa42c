"""Figures: spike rasters, error versus time. Files are written atomically."""
from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from compiler.system.files import atomic_output  # noqa: E402


def save_figure(fig, path) -> str:
    """Save ``fig`` to ``path`` (format from the suffix) through a temporary file
    renamed into place; close the figure; return the absolute path."""
    path = os.path.abspath(os.fspath(path))
    fmt = os.path.splitext(path)[1].lstrip(".") or "png"
    try:
        with atomic_output(path) as handle:
            fig.savefig(handle, format=fmt, dpi=120, bbox_inches="tight")
    finally:
        plt.close(fig)
    return path


def plot_raster(ax, times, neurons, highlight=(), duration=None, title="Spike raster"):
    """Dots at (time, neuron); neurons in ``highlight`` drawn in red."""
    times, neurons = np.asarray(times, float), np.asarray(neurons, int)
    mark = np.isin(neurons, list(highlight))
    ax.plot(times[~mark], neurons[~mark], "|", color="0.3", ms=3, label="other causes")
    if mark.any():
        ax.plot(times[mark], neurons[mark], "|", color="tab:red", ms=4, label="MAP support")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("neuron (cause)")
    if duration:
        ax.set_xlim(0, duration)
    ax.set_title(title)
    ax.legend(loc="upper right", fontsize=7)


def plot_error_vs_time(ax, times, errors, label="network", reference_slope=-1.0):
    """Log-log error against window length, with a 1/T reference line through the
    last point. ``errors`` is (trials, len(times)) or (len(times),); shows the mean
    and, for several trials, the 10-90 % band."""
    times = np.asarray(times, float)
    errors = np.atleast_2d(np.asarray(errors, float))
    mean = errors.mean(axis=0)
    ax.loglog(times, mean, "-", lw=2, label=label)
    if errors.shape[0] > 1:
        lo, hi = np.percentile(errors, [10, 90], axis=0)
        ax.fill_between(times, lo, hi, alpha=0.25)
    if reference_slope is not None and mean[-1] > 0:
        ref = mean[-1] * (times / times[-1]) ** reference_slope
        ax.loglog(times, ref, "k--", lw=1, label=f"slope {reference_slope:g}")
    ax.set_xlabel("integration window T (s)")
    ax.set_ylabel("relative rate error |r - r*| / |r*|")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)


def cumulative_errors(counts_per_window, window, r_star, error_fn):
    """Errors of the cumulative rates ``r(T) = n(T)/T`` at the end of each window.

    Parameters
    ----------
    counts_per_window : ndarray, shape (trials, windows, N)
    window : float
        Window length in seconds.
    r_star : ndarray, shape (N,)
    error_fn : callable(rates, r_star) -> float

    Returns
    -------
    times : ndarray, shape (windows,)
    errors : ndarray, shape (trials, windows)
    """
    cum = np.cumsum(np.asarray(counts_per_window, float), axis=1)
    times = window * np.arange(1, cum.shape[1] + 1)
    rates = cum / times[None, :, None]
    errors = np.array([[error_fn(rates[t, w], r_star) for w in range(cum.shape[1])]
                       for t in range(cum.shape[0])])
    return times, errors
