r"""Stream decoding: compile the network once from the features, decode many observations.

On a board the network is loaded once and observations arrive one after another. The
tuned network of :func:`lava_causal.build_network` depends on the observation
:math:`\mu` only through its drive,

.. math::

    g = U^T\mu/\sigma^2 - \alpha, \qquad J = -U^TU/\sigma^2 - \beta I,
    \qquad D_i = |u_i|^2/\sigma^2 + \beta,

so the weights, reset depths, decays and the compiled scale are fixed by
:math:`(U, \alpha, \beta, \sigma, \tau_s)`, the hardware and the step; each observation
changes only the integer biases, computed on the host
(:func:`compiler.quantization.rebias.rebias`: :math:`S\,\Delta t\, g_i/D_i` plus the
compiler's corrections, encoded like the compile's bias).

The compile needs an operating point (rates) for its scale checks and corrections: a
*design* observation, the mean of ``design_observations`` when given, else
:math:`\mu_d = U r_d` with every cause at ``design_rate`` Hz (whose exact optimum is
:math:`r_d` for full-rank :math:`U` and :math:`\alpha = \beta = 0`). Its cost is the
compile's: :math:`O(N^3)` for the rate model of a dense network, once. Corrections per
decode:

- ``corrections="compiled"`` (default): the current-decay and reset corrections of the
  compile, evaluated at the design point, for every observation; the weight-rounding
  compensation (:mod:`compiler.quantization.corrections`) and the optimum bias
  rounding at each observation's rates predicted on the design point's active set
  (:func:`compiler.quantization.rebias.linear_rates`, O(K N^2) host work per batch),
  exact for observations whose optimum has that active set;
- ``corrections="per_observation"``: every correction at each observation's exact MAP
  (host NNLS and the calibrations per observation: the integers then equal those of
  compiling that observation alone with the same options).

A :class:`Decoder` file (``save`` / :func:`load_decoder`) is a compiled-network file
(:mod:`compiler.quantization.serialize`, validated on load, so ``lava-causal emulate``
and friends read it as the design network) whose ``info["decoder"]`` holds the
features and the prior.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from numbers import Integral, Real
from typing import Optional

import numpy as np
import scipy.sparse

from compiler import FixedPointNetwork, compile, emulate
from compiler.backends.emulator import resolve_initial_voltages
from compiler.quantization.rebias import Rebiased, rebias

from .network import build_network
from .problem import CausalProblem
from .provenance import versions

DECODER_FORMAT = "lava-causal Decoder"
DECODER_VERSION = 1
DEFAULT_DESIGN_RATE = 10.0
"""Hz of every cause in the default design observation :math:`U r_d`."""
DEFAULT_STEPS = 1000
"""Chip steps per decode when neither ``steps`` nor ``target_error`` is given."""
DEFAULT_MAX_STEPS = 2 ** 17
"""Most chip steps of a decode with ``target_error`` (13.1 s at dt = 0.1 ms)."""
FIRST_STEPS = 1024
"""Length of the first run of a decode with ``target_error``."""
CORRECTIONS = ("compiled", "per_observation")
BACKENDS = ("emulator", "lava", "loihi2")


def _real(name, value, allowed, valid) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value) \
            or not valid(float(value)):
        raise ValueError(f"{name} must be a finite number {allowed}, got {value!r}")
    return float(value)


def _features(features):
    """Features as CausalProblem keeps them (validated there)."""
    u = features if scipy.sparse.issparse(features) else np.asarray(features, dtype=float)
    if u.ndim != 2 or 0 in u.shape:
        raise ValueError(f"features must be a non-empty 2-D array (M, N), got shape {np.shape(features)}")
    return u


def observation_matrix(observations, m: int) -> np.ndarray:
    """``observations`` as a (K, M) float array: one (M,) observation or K of them;
    ValueError naming the shape or the bad values."""
    obs = np.asarray(observations, dtype=float)
    if obs.ndim == 1:
        obs = obs[None, :]
    if obs.ndim != 2 or obs.shape[1] != m or obs.shape[0] == 0:
        raise ValueError(f"observations must have shape ({m},) or (K, {m}) with K >= 1, "
                         f"got {np.shape(observations)}")
    if not np.all(np.isfinite(obs)):
        bad = int(np.flatnonzero(~np.isfinite(obs).all(axis=1))[0])
        raise ValueError(f"observations must be finite; observation {bad} has NaN or infinite values")
    return obs


def estimated_error(features, beta, sigma, drives, rates, earlier_rates, ratio) -> np.ndarray:
    r"""Estimated relative error of running rates, without the MAP, per decode.

    Two estimates, the larger is returned:

    - **the 1/T law**: with errors :math:`e(T) \approx c/T`, rates :math:`\bar r(T')` at an
      earlier :math:`T' = \rho T` give :math:`c/T \approx |\bar r(T) - \bar r(T')|\,
      \rho/(1 - \rho)` (``ratio`` :math:`\rho`; the drift itself for :math:`T' = T/2`);
    - **the best-response (KKT) residual**: :math:`R = r - [r - (Hr - g)/\mathrm{diag}(H)]_+`
      for the QP :math:`\min_{r \ge 0} \tfrac12 r^THr - g^Tr`, :math:`H = U^TU/\sigma^2 +
      \beta I`: :math:`R_i` is how far (Hz) cause :math:`i` is from its best rate given the
      others (:math:`H_{ii} = D_i`, the neuron's reset depth), zero exactly at the MAP; it
      also sees a bias the 1/T law cannot (the chip's floor).

    Both are divided by :math:`|\bar r(T)|` (no spikes and :math:`R = 0` is exactly
    :math:`r^* = 0`: 0; no spikes and :math:`R \ne 0`: inf). They are estimates, not
    bounds (an ill-conditioned problem can be far from its MAP with a small residual):
    check them against the exact MAP (``metrics=True``) on representative observations.
    """
    rates = np.atleast_2d(np.asarray(rates, float))
    if scipy.sparse.issparse(features):
        gram_r = np.asarray((features @ rates.T).T @ features)
        diagonal = np.asarray(features.multiply(features).sum(axis=0)).ravel()
    else:
        gram_r = (rates @ features.T) @ features
        diagonal = np.einsum("mn,mn->n", features, features)
    grad = gram_r / sigma ** 2 + beta * rates - drives
    residual = np.linalg.norm(rates - np.maximum(0.0, rates - grad / (diagonal / sigma ** 2 + beta)),
                              axis=1)
    drift = np.linalg.norm(rates - np.atleast_2d(earlier_rates), axis=1) * ratio / (1.0 - ratio)
    numerator = np.maximum(residual, drift)
    norms = np.linalg.norm(rates, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(norms > 0, numerator / np.where(norms > 0, norms, 1.0),
                       np.where(numerator > 0, np.inf, 0.0))
    return out


@dataclass
class DecodeResult:
    """Rates of K decodes by one compiled network.

    Attributes
    ----------
    rates : ndarray (K, N)
        Hz, ``counts / (steps * dt)`` per observation.
    counts : ndarray (K, N)
    steps : ndarray (K,) of int
        Chip steps each decode used.
    dt : float
    backend, hw : str
    seed : int
        Seed of the initial voltages (replays the decode with the same decoder).
    initial_voltages : ndarray (K, N) of int
    bias_clipped : ndarray (K,) of int
        Neurons whose bias did not fit the compiled range, per observation (should be 0).
    relative_error : ndarray (K,) or None
        :math:`|r - r^*|/|r^*|` against each observation's exact MAP, when asked.
    estimated_error : ndarray (K,) or None
        With ``target_error``: :func:`estimated_error` at the steps used.
    converged : ndarray (K,) of bool or None
        With ``target_error``: whether the estimate met the target within ``steps``.
    wall_time : float
        Seconds of the run (bias encoding included).
    provenance : dict
    """

    rates: np.ndarray
    counts: np.ndarray
    steps: np.ndarray
    dt: float
    backend: str
    hw: str
    seed: int
    initial_voltages: np.ndarray
    bias_clipped: np.ndarray
    relative_error: Optional[np.ndarray] = None
    estimated_error: Optional[np.ndarray] = None
    converged: Optional[np.ndarray] = None
    wall_time: float = 0.0
    provenance: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """The arrays and the provenance in one flat dict (the CLI's ``--json``)."""
        out = {**self.provenance, "rates": self.rates, "counts": self.counts, "steps": self.steps,
               "dt": self.dt, "backend": self.backend, "hw": self.hw, "seed": self.seed,
               "initial_voltages": self.initial_voltages, "bias_clipped": self.bias_clipped,
               "wall_time": self.wall_time}
        for key in ("relative_error", "estimated_error", "converged"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out


@dataclass(frozen=True, eq=False)
class Decoder:
    """A network compiled from the features alone; :meth:`decode` takes observations.

    Made by :func:`compile_decoder` (or :func:`load_decoder`). ``fixed`` is the compile
    at the design observation (see the module docstring).
    """

    fixed: FixedPointNetwork
    features: np.ndarray
    alpha: float
    beta: float
    sigma: float
    tau_syn: float
    corrections: str = "compiled"

    @property
    def n(self) -> int:
        return self.fixed.n

    @property
    def m(self) -> int:
        return self.features.shape[0]

    @property
    def dt(self) -> float:
        return self.fixed.dt

    @property
    def hw(self) -> str:
        return self.fixed.hw_name

    def problems(self, observations) -> list:
        """One :class:`CausalProblem` per observation (K, M)."""
        obs = observation_matrix(observations, self.m)
        return [CausalProblem(self.features, mu, self.alpha, self.beta, self.sigma) for mu in obs]

    def drives(self, observations) -> np.ndarray:
        r""":math:`g_k = U^T\mu_k/\sigma^2 - \alpha`, shape (K, N): O(K M N) dense, O(K nnz) sparse."""
        obs = observation_matrix(observations, self.m)
        return np.asarray(obs @ self.features) / self.sigma ** 2 - self.alpha

    def biases(self, observations, map_rates=None) -> Rebiased:
        """The chip bias fields of each observation (:func:`compiler.quantization.rebias.rebias`).
        With ``corrections="per_observation"`` the corrections are evaluated at
        ``map_rates`` (K, N) (computed here when None)."""
        g = self.drives(observations)
        rates = None
        if self.corrections == "per_observation":
            rates = (np.stack([p.map_estimate() for p in self.problems(observations)])
                     if map_rates is None else np.asarray(map_rates, float))
        return rebias(self.fixed, g, operating_rates=rates)

    def network_for(self, observation, bias: Optional[Rebiased] = None, index: int = 0) -> FixedPointNetwork:
        """The compiled network with observation ``observation``'s bias (a full
        :class:`FixedPointNetwork`: what runs on Lava, one per observation)."""
        bias = self.biases(observation) if bias is None else bias
        return replace(self.fixed, bias_mant=bias.bias_mant[index], bias_exp=bias.bias_exp[index])

    def decode(self, observations, steps: Optional[int] = None, target_error: Optional[float] = None,
               backend: str = "emulator", seed: Optional[int] = None, *, metrics: bool = False,
               progress=None) -> DecodeResult:
        r"""Decode each observation: run the compiled network with its bias.

        Parameters
        ----------
        observations : array_like, shape (M,) or (K, M)
        steps : int, optional
            Chip steps per decode (default :data:`DEFAULT_STEPS`); with ``target_error``
            the most steps a decode may take (default :data:`DEFAULT_MAX_STEPS`).
        target_error : float, optional
            Stop each decode once its estimated relative error (:func:`estimated_error`)
            is at most this, in (0, 1). Decodes run for :data:`FIRST_STEPS`,
            then twice as long from the same initial state, and so on (each run
            repeats the previous one as its first half: at most 2x the steps of the last
            run); a decode that meets the target leaves the batch, its ``steps`` is the
            length of the run that met it, and ``converged`` says which did by ``steps``.
        backend : {"emulator", "lava", "loihi2"}
            ``emulator``: all K at once (the emulator's trials, in parallel threads);
            ``lava``: Lava's fixed_pt CPU models, one network built and started once, its
            bias and state Vars set per observation
            (:func:`compiler.backends.lava.run_lava_stream`); ``loihi2``: the same on
            Loihi 2 (needs Intel's lava-loihi).
        seed : int, optional
            Seed of the initial voltages (drawn per observation; recorded).
        metrics : bool
            Also compute each observation's exact MAP and the relative error.
        progress : bool or None
            Progress bar of the emulator run (see :func:`compiler.emulate`).
        """
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        if target_error is not None:
            target_error = _real("target_error", target_error, "in (0, 1)", lambda x: 0 < x < 1)
        if steps is None:
            steps = DEFAULT_STEPS if target_error is None else DEFAULT_MAX_STEPS
        if isinstance(steps, bool) or not isinstance(steps, Integral) or steps < 1:
            raise ValueError(f"steps must be an integer >= 1, got {steps!r}")
        steps = int(steps)
        obs = observation_matrix(observations, self.m)
        k = obs.shape[0]
        start = time.perf_counter()
        r_star = None
        if metrics or self.corrections == "per_observation":
            r_star = np.stack([p.map_estimate() for p in self.problems(obs)])
        bias = self.biases(obs, map_rates=r_star)
        if seed is None:
            seed = int(np.random.SeedSequence().entropy % (2 ** 63))
        v0, _ = resolve_initial_voltages(self.fixed, k, seed, None)

        lava_timings = []

        def run(length, which):
            return self._run(backend, length, v0[which], bias, which, progress, lava_timings)

        estimate = None
        if target_error is None:
            counts = run(steps, np.arange(k))
            used = np.full(k, steps)
            converged = None
        else:
            counts, used, estimate = self._run_to_target(run, obs, k, steps, target_error)
            converged = estimate <= target_error
        wall = time.perf_counter() - start
        rates = counts / (used[:, None] * self.dt)
        errors = None
        if metrics:
            norms = np.linalg.norm(r_star, axis=1)
            errors = np.linalg.norm(rates - r_star, axis=1) / np.where(norms > 0, norms, 1.0)
        backend_name = {"emulator": "emulator", "lava": "lava-fixed_pt", "loihi2": "loihi2"}[backend]
        prov = {"backend": backend_name, "hw": self.hw, "dt": self.dt, "seed": int(seed),
                "steps_requested": steps, "target_error": target_error, "observations": int(k),
                "corrections": self.corrections, "versions": versions()}
        if lava_timings:  # Lava: built and started once per run, then per observation
            prov["lava"] = {key: float(sum(t[key] for t in lava_timings)) for key in lava_timings[0]}
        return DecodeResult(rates=rates, counts=counts, steps=used, dt=self.dt,
                            backend=backend_name, hw=self.hw, seed=int(seed), initial_voltages=v0,
                            bias_clipped=bias.clipped, relative_error=errors,
                            estimated_error=estimate, converged=converged, wall_time=wall,
                            provenance=prov)

    def _run(self, backend, steps, v0, bias: Rebiased, which, progress, timings: list) -> np.ndarray:
        """Counts (len(which), N) of ``steps`` steps from ``v0`` with the biases of
        observations ``which``. Lava: one network for all of them
        (:func:`compiler.backends.lava.run_lava_stream`), its timings appended to
        ``timings``."""
        if backend == "emulator":
            return emulate(self.fixed, int(steps), trials=len(which), v0=v0,
                           bias=bias.effective[which], progress=progress).counts
        from compiler.backends.lava import run_lava_stream
        target = "cpu" if backend == "lava" else "loihi2"
        run = run_lava_stream(self.fixed, int(steps), bias.bias_mant[which], bias.bias_exp[which],
                              v0, target=target)
        timings.append({k: run.provenance[k] for k in ("startup_s", "execute_s", "reset_s")})
        return run.counts

    def _run_to_target(self, run, obs, k, max_steps, target):
        """Doubling runs until each decode's :func:`estimated_error` (from the last two
        runs) is <= ``target`` or ``max_steps`` is reached: (counts, steps used,
        estimates)."""
        drives = self.drives(obs)
        counts = np.zeros((k, self.n), np.int64)
        used = np.zeros(k, np.int64)
        estimate = np.full(k, np.inf)
        active = np.arange(k)
        length = min(FIRST_STEPS, max_steps)
        previous, previous_length = None, 0
        while active.size:
            current = run(length, active)
            done = np.full(active.size, length >= max_steps)
            if previous is not None:
                est = estimated_error(self.features, self.beta, self.sigma, drives[active],
                                      current / (length * self.dt),
                                      previous / (previous_length * self.dt), previous_length / length)
                estimate[active] = est
                done |= est <= target
            counts[active[done]] = current[done]
            used[active[done]] = length
            active, previous, previous_length = active[~done], current[~done], length
            length = min(2 * length, max_steps)
        return counts, used, estimate

    # ------------------------------------------------------------ files
    def save(self, path) -> None:
        """One versioned file: the compiled network with the decoder's record in
        ``info["decoder"]`` (written atomically)."""
        record = {"format": DECODER_FORMAT, "format_version": DECODER_VERSION,
                  "features": (self.features.toarray() if scipy.sparse.issparse(self.features)
                               else np.asarray(self.features, float)),
                  "alpha": self.alpha, "beta": self.beta, "sigma": self.sigma,
                  "tau_syn": self.tau_syn, "corrections": self.corrections}
        replace(self.fixed, info={**self.fixed.info, "decoder": record}).save(path)


def load_decoder(path) -> Decoder:
    """Read a file written by :meth:`Decoder.save` (validated: the compiled network by
    :func:`compiler.load`, the decoder record here). ValueError names what is wrong."""
    fixed = FixedPointNetwork.load(path)
    record = (fixed.info or {}).get("decoder")
    if not isinstance(record, dict) or record.get("format") != DECODER_FORMAT:
        raise ValueError(f"{str(path)!r} is a compiled network, not a decoder (no decoder record); "
                         "make one with `lava-causal compile FEATURES.npz` or compile_decoder")
    version = record.get("format_version")
    if not isinstance(version, int) or not 1 <= version <= DECODER_VERSION:
        raise ValueError(f"{str(path)!r}: decoder format_version {version!r} is not supported "
                         f"(this reader: 1..{DECODER_VERSION})")
    try:
        features = _features(record["features"])
        alpha = _real("alpha", record["alpha"], ">= 0", lambda x: x >= 0)
        beta = _real("beta", record["beta"], ">= 0", lambda x: x >= 0)
        sigma = _real("sigma", record["sigma"], "> 0", lambda x: x > 0)
        tau_syn = _real("tau_syn", record["tau_syn"], ">= 0", lambda x: x >= 0)
        corrections = record["corrections"]
    except KeyError as exc:
        raise ValueError(f"{str(path)!r}: decoder record lacks {exc}") from None
    if corrections not in CORRECTIONS:
        raise ValueError(f"{str(path)!r}: decoder corrections must be one of {CORRECTIONS}, got {corrections!r}")
    if features.shape[1] != fixed.n:
        raise ValueError(f"{str(path)!r}: the decoder's features have {features.shape[1]} causes but the "
                         f"network has {fixed.n} neurons")
    info = {k: v for k, v in fixed.info.items() if k != "decoder"}
    return Decoder(fixed=replace(fixed, info=info), features=features, alpha=alpha, beta=beta,
                   sigma=sigma, tau_syn=tau_syn, corrections=corrections)


def compile_decoder(features, hw="loihi2", dt: float = 1e-4, alpha: float = 0.0, beta: float = 0.0,
                    sigma: float = 1.0, *, tau_syn: float = 5e-3, design_observations=None,
                    design_rate: float = DEFAULT_DESIGN_RATE, corrections: str = "compiled",
                    **compile_options) -> Decoder:
    r"""Compile the causal network of ``features`` once, for decoding many observations.

    Parameters
    ----------
    features : array_like or sparse matrix, shape (M, N)
        :math:`U`, one column per cause.
    hw : str or HardwareConfig
        Hardware target (:func:`compiler.list_hardware`).
    dt : float
        Seconds per chip step.
    alpha, beta, sigma : float
        The prior and the observation noise (:class:`CausalProblem`).
    tau_syn : float
        Synaptic time constant of the network (:func:`build_network`).
    design_observations : array_like (K, M) or (M,), optional
        Typical observations: the compile's operating point is their mean's. Default:
        :math:`U r_d`, every cause at ``design_rate`` Hz.
    design_rate : float
        Hz, > 0 (only without ``design_observations``).
    corrections : {"compiled", "per_observation"}
        Where the bias corrections are evaluated (module docstring).
    **compile_options
        Passed to :func:`compiler.compile` (e.g. ``weight_splits``, ``weight_bits``).

    Returns
    -------
    Decoder
    """
    if corrections not in CORRECTIONS:
        raise ValueError(f"corrections must be one of {CORRECTIONS}, got {corrections!r}")
    u = _features(features)
    alpha = _real("alpha", alpha, ">= 0", lambda x: x >= 0)
    beta = _real("beta", beta, ">= 0", lambda x: x >= 0)
    sigma = _real("sigma", sigma, "> 0", lambda x: x > 0)
    if design_observations is None:
        rate = _real("design_rate", design_rate, "> 0 (Hz)", lambda x: x > 0)
        design = np.asarray(u @ np.full(u.shape[1], rate)).ravel()
    else:
        design = observation_matrix(design_observations, u.shape[0]).mean(axis=0)
    problem = CausalProblem(u, design, alpha, beta, sigma)
    fixed = compile(build_network(problem, tau_syn=tau_syn), hw=hw, dt=dt, **compile_options)
    return Decoder(fixed=fixed, features=problem.features, alpha=alpha, beta=beta, sigma=sigma,
                   tau_syn=float(tau_syn), corrections=corrections)
