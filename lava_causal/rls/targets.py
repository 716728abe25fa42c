r"""Target patterns for RLS training, and the rates they stand for.

A :class:`Task` holds what each neuron's synaptic drive should do after a brief
stimulus: the drive targets :math:`f_i(t)` (thresholds, sampled every ``sample_dt``
seconds from the stimulus offset) and the stimulus itself (a constant extra drive per
neuron for ``stimulus_duration`` seconds, the cue that starts the pattern). The
neuron's total drive is then :math:`b_i + f_i(t)` and its target *rate* the LIF
rate of that drive,

.. math::

    \phi(D) = \frac{1}{\tau_m \ln\left(D / (D - 1)\right)} \text{ for } D > 1,
    \quad 0 \text{ otherwise},

(threshold 1, reset 0, no refractory period; :func:`lif_rate`, inverse
:func:`lif_drive`). Three kinds of targets (Kim & Chow 2018):

* :func:`sinusoids`: :math:`f_i(t) = A \sin(2\pi t/P + \varphi_i)`, random phases;
* :func:`lava_causal.rls.innate.innate`: the untrained network's own synaptic drive
  after the stimulus (its irregular "innate" trajectory), to be made repeatable;
* :func:`heterogeneous_rates`: a seeded set of cortical-like rate patterns (baseline,
  bumps at random times, ramps, dips; :func:`rate_task` takes any rate patterns, e.g. a
  user's recordings), turned into drive targets with :func:`lif_drive`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import special

from .model import RecurrentNetwork

SAMPLE_DT = 1e-3
"""Default sampling step of targets and recordings (s)."""
STIMULUS_DURATION = 0.05
"""Default stimulus duration (s)."""
MIN_RATE = 1.0
"""Rates below this (Hz) are set to it before :func:`lif_drive` (a zero rate has no
finite drive)."""
TRANSFER_NOISE = 0.01
r"""Default :math:`\sigma` of the rate-drive map (thresholds): about the drive fluctuation of a
trained network (heterogeneous rate patterns, N = 200: PSTH correlation 0.53 / 0.69 /
0.78 / 0.78 / 0.70 and mean rate 7.1 / 10.5 / 14.8 / 17.9 / 20.7 Hz against the target's
19.9 with sigma = 0.1 / 0.05 / 0.02 / 0.01 / 0.005)."""
_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(96)
_DRIVE_GRID = np.linspace(-2.0, 40.0, 8401)


def lif_rate(drive, tau_m: float, noise: float = TRANSFER_NOISE) -> np.ndarray:
    r"""LIF rate :math:`\phi_\sigma(D)` (Hz) of a drive with input noise ``noise``
    (module docstring; ``noise=0``: the noiseless curve). Gauss-Legendre quadrature
    (96 nodes) of the integrand ``erfcx(-v)``; rates below :math:`10^{-300}` are 0."""
    d = np.asarray(drive, float)
    if noise == 0:
        out = np.zeros_like(d)
        on = d > 1.0
        out[on] = 1.0 / (tau_m * np.log(d[on] / (d[on] - 1.0)))
        return out
    lo, hi = -d / noise, (1.0 - d) / noise
    half, mid = 0.5 * (hi - lo), 0.5 * (hi + lo)
    v = mid[..., None] + half[..., None] * _NODES
    with np.errstate(over="ignore"):
        integral = half * (special.erfcx(-v) * _WEIGHTS).sum(-1)
    with np.errstate(divide="ignore", over="ignore"):
        out = 1.0 / (tau_m * np.sqrt(np.pi) * integral)
    return np.where(np.isfinite(out), out, 0.0)


def lif_drive(rate, tau_m: float, noise: float = TRANSFER_NOISE) -> np.ndarray:
    r"""The drive whose rate :func:`lif_rate` is ``rate`` (Hz, > 0): closed form
    :math:`1/(1 - e^{-1/(r\tau_m)})` without noise, else monotone interpolation on a
    grid of drives in [-2, 40] (step 0.005)."""
    r = np.asarray(rate, float)
    if np.any(~np.isfinite(r)) or np.any(r <= 0):
        raise ValueError("rates must be finite and > 0 Hz to have a drive")
    if noise == 0:
        return -1.0 / np.expm1(-1.0 / (r * tau_m))
    grid = lif_rate(_DRIVE_GRID, tau_m, noise)
    keep = grid > 0
    top = grid[keep][-1]
    if np.any(r > top):
        raise ValueError(f"rates up to {top:.0f} Hz have a drive on the grid; got {r.max():.0f} Hz")
    return np.interp(np.log(r), np.log(grid[keep]), _DRIVE_GRID[keep])


@dataclass(frozen=True, eq=False)
class Task:
    r"""Targets and stimulus of one training task (module docstring).

    Attributes
    ----------
    drive : ndarray (S, N)
        :math:`f_i(t_q)` at :math:`t_q = q\,` ``sample_dt`` after the stimulus offset.
    stimulus : ndarray (N,)
        Extra drive during the stimulus (thresholds).
    sample_dt, stimulus_duration : float
        Seconds.
    kind : str
    settings : dict
        How the targets were made (seed included).
    transfer_noise : float
        :math:`\sigma` of the rate-drive map (module docstring).
    """

    drive: np.ndarray
    stimulus: np.ndarray
    sample_dt: float = SAMPLE_DT
    stimulus_duration: float = STIMULUS_DURATION
    kind: str = "custom"
    settings: dict = field(default_factory=dict)
    transfer_noise: float = TRANSFER_NOISE

    def __post_init__(self):
        drive = np.array(self.drive, float)
        if drive.ndim != 2 or drive.shape[0] < 2 or drive.shape[1] < 1:
            raise ValueError(f"drive targets must have shape (S >= 2 samples, N), got {drive.shape}")
        if not np.all(np.isfinite(drive)):
            raise ValueError("drive targets must be finite")
        stim = np.array(self.stimulus, float)
        if stim.shape != (drive.shape[1],) or not np.all(np.isfinite(stim)):
            raise ValueError(f"stimulus must be finite with shape ({drive.shape[1]},), got {stim.shape}")
        for name in ("sample_dt", "stimulus_duration"):
            value = float(getattr(self, name))
            if not (np.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be > 0 seconds, got {value}")
            object.__setattr__(self, name, value)
        for arr in (drive, stim):
            arr.setflags(write=False)
        object.__setattr__(self, "drive", drive)
        object.__setattr__(self, "stimulus", stim)

    @property
    def n(self) -> int:
        """Neurons the task is for."""
        return self.drive.shape[1]

    @property
    def duration(self) -> float:
        """Seconds of pattern after the stimulus, ``S * sample_dt``."""
        return self.drive.shape[0] * self.sample_dt

    @property
    def times(self) -> np.ndarray:
        """Sample times after the stimulus offset (s), shape (S,)."""
        return np.arange(self.drive.shape[0]) * self.sample_dt

    def drive_at(self, times) -> np.ndarray:
        """Targets linearly interpolated at ``times`` (s after the stimulus), (len, N);
        held at the last sample beyond it."""
        t = np.asarray(times, float)
        idx = t / self.sample_dt
        lo = np.clip(np.floor(idx).astype(np.int64), 0, self.drive.shape[0] - 1)
        hi = np.minimum(lo + 1, self.drive.shape[0] - 1)
        w = np.clip(idx - lo, 0.0, 1.0)[:, None]
        return (1 - w) * self.drive[lo] + w * self.drive[hi]

    def target_rates(self, network: RecurrentNetwork) -> np.ndarray:
        r"""Target rates :math:`\phi_\sigma(b_i + f_i(t))` (Hz), shape (S, N)."""
        return lif_rate(network.bias[None, :] + self.drive, network.tau_m, self.transfer_noise)

    def check_network(self, network: RecurrentNetwork) -> None:
        """ValueError unless ``network`` has the task's number of neurons."""
        if network.n != self.n:
            raise ValueError(f"the task is for N = {self.n} neurons, the network has {network.n}")

    def to_dict(self) -> dict:
        """Arrays and settings (``np.savez``-able)."""
        return {"drive": self.drive, "stimulus": self.stimulus, "sample_dt": self.sample_dt,
                "stimulus_duration": self.stimulus_duration, "kind": self.kind,
                "transfer_noise": self.transfer_noise}


def random_stimulus(n: int, amplitude: float, seed) -> np.ndarray:
    """A stimulus of i.i.d. U[-amplitude, amplitude] drives."""
    return np.random.default_rng(seed).uniform(-amplitude, amplitude, n)


def _samples(duration, sample_dt) -> int:
    duration, sample_dt = float(duration), float(sample_dt)
    if not (np.isfinite(duration) and duration > 0):
        raise ValueError(f"duration must be > 0 seconds, got {duration}")
    count = int(round(duration / sample_dt))
    if count < 2:
        raise ValueError(f"duration {duration} s holds fewer than 2 samples of {sample_dt} s")
    return count


def sinusoids(n: int, duration: float = 1.0, period: float = 0.5, amplitude: float = 0.3,
              seed=0, stimulus_amplitude: float = 1.0, sample_dt: float = SAMPLE_DT,
              stimulus_duration: float = STIMULUS_DURATION) -> Task:
    r""":math:`f_i(t) = A\sin(2\pi t/P + \varphi_i)`, :math:`\varphi_i \sim U[0, 2\pi)`."""
    if not float(period) > 0 or not np.isfinite(float(amplitude)):
        raise ValueError(f"period must be > 0 s and amplitude finite, got {period}, {amplitude}")
    rng = np.random.default_rng(seed)
    phase = rng.uniform(0, 2 * np.pi, n)
    t = np.arange(_samples(duration, sample_dt)) * sample_dt
    drive = amplitude * np.sin(2 * np.pi * t[:, None] / period + phase[None, :])
    return Task(drive, random_stimulus(n, stimulus_amplitude, rng), sample_dt, stimulus_duration,
                "sinusoids", {"period": float(period), "amplitude": float(amplitude), "seed": seed,
                              "stimulus_amplitude": float(stimulus_amplitude)})


def heterogeneous_rates(n: int, duration: float = 1.0, seed=0, sample_dt: float = SAMPLE_DT,
                        baseline=(3.0, 15.0), peak=(10.0, 40.0), width=(0.08, 0.3)) -> np.ndarray:
    r"""A seeded set of heterogeneous, cortical-like rate patterns (Hz), shape (S, N):
    each neuron has a baseline rate, then one of: a bump (Gaussian, random time,
    height and width), a ramp up or down, a dip, or a bump followed by a dip, smoothed
    at the scale of ``width``. Ranges are (low, high) of uniform draws."""
    rng = np.random.default_rng(seed)
    t = np.arange(_samples(duration, sample_dt)) * sample_dt
    rates = np.empty((t.size, n))
    for i in range(n):
        base = rng.uniform(*baseline)
        kind = rng.integers(4)
        centre = rng.uniform(0.1, 0.9) * duration
        w = rng.uniform(*width)
        height = rng.uniform(*peak)
        bump = np.exp(-0.5 * ((t - centre) / w) ** 2)
        if kind == 0:
            r = base + height * bump
        elif kind == 1:
            sign = rng.choice([-1.0, 1.0])
            ramp = 1 / (1 + np.exp(-(t - centre) / w))
            r = base + height * (ramp if sign > 0 else 1 - ramp)
        elif kind == 2:
            r = base + height * (1 - 0.9 * bump)
        else:
            later = np.exp(-0.5 * ((t - min(centre + 2 * w, duration)) / w) ** 2)
            r = base + height * bump - 0.8 * base * later
        rates[:, i] = np.maximum(r, 0.0)
    return rates


def smooth_random(n: int, duration: float = 1.0, timescale: float = 0.1, amplitude: float = 0.3, seed=0,
                  stimulus_amplitude: float = 1.0, sample_dt: float = SAMPLE_DT,
                  stimulus_duration: float = STIMULUS_DURATION) -> Task:
    r"""Random smooth drive targets: white noise filtered by a Gaussian of standard
    deviation ``timescale`` (s), each neuron's target scaled to zero mean and standard
    deviation ``amplitude`` (thresholds). Unlike sinusoids, a longer pattern holds more
    independent segments (about ``duration / (2.5 timescale)``), so it is harder to learn."""
    from scipy.ndimage import gaussian_filter1d

    if not (float(timescale) > 0 and np.isfinite(float(amplitude))):
        raise ValueError(f"timescale must be > 0 s and amplitude finite, got {timescale}, {amplitude}")
    rng = np.random.default_rng(seed)
    samples = _samples(duration, sample_dt)
    noise = rng.normal(size=(samples, n))
    drive = gaussian_filter1d(noise, timescale / sample_dt, axis=0, mode="reflect")
    drive = amplitude * (drive - drive.mean(0)) / drive.std(0)
    return Task(drive, random_stimulus(n, stimulus_amplitude, rng), sample_dt, stimulus_duration,
                "smooth random", {"timescale": float(timescale), "amplitude": float(amplitude), "seed": seed,
                                  "duration": float(duration), "stimulus_amplitude": float(stimulus_amplitude)})


def rate_task(rates, network: RecurrentNetwork, sample_dt: float = SAMPLE_DT, seed=0,
              stimulus_amplitude: float = 1.0, stimulus_duration: float = STIMULUS_DURATION,
              kind: str = "rates", transfer_noise: float = TRANSFER_NOISE) -> Task:
    r"""A task whose target *rates* (Hz, shape (S, N)) are ``rates``: drive targets
    :math:`f_i = \phi_\sigma^{-1}(\max(r_i, r_{\min})) - b_i` (:func:`lif_drive`,
    :data:`MIN_RATE`, :data:`TRANSFER_NOISE`)."""
    r = np.asarray(rates, float)
    if r.ndim != 2 or r.shape[1] != network.n:
        raise ValueError(f"rates must have shape (S, {network.n}), got {r.shape}")
    if not np.all(np.isfinite(r)) or np.any(r < 0):
        raise ValueError("rates must be finite and >= 0 Hz")
    drive = lif_drive(np.maximum(r, MIN_RATE), network.tau_m, transfer_noise) - network.bias[None, :]
    return Task(drive, random_stimulus(network.n, stimulus_amplitude, seed), sample_dt, stimulus_duration,
                kind, {"seed": seed, "stimulus_amplitude": float(stimulus_amplitude), "min_rate": MIN_RATE},
                transfer_noise=float(transfer_noise))


def heterogeneous(network: RecurrentNetwork, duration: float = 1.0, seed=0, **kwargs) -> Task:
    """:func:`rate_task` of :func:`heterogeneous_rates` for ``network``."""
    sample_dt = kwargs.pop("sample_dt", SAMPLE_DT)
    rates = heterogeneous_rates(network.n, duration, seed, sample_dt)
    task = rate_task(rates, network, sample_dt, seed, kind="heterogeneous", **kwargs)
    task.settings.update(duration=float(duration))
    return task
