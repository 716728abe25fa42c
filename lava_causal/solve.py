"""Run a problem's network on one backend and score its rates against the exact MAP."""
from __future__ import annotations

import numpy as np

from compiler.system import resources

from . import metrics
from .network import build_network
from .problem import CausalProblem
from .provenance import versions

FLOAT_DT = 1e-5
"""Default step of the float simulator (the paper's 0.01 ms)."""
CHIP_DT = 1e-4
"""Default seconds per chip step (0.1 ms)."""

BACKENDS = ("float", "emulator", "lava", "lava-float", "loihi2")

CONVERGENCE_TARGET = 0.05
"""Relative error of the trial-mean rates that :func:`convergence` calls converged."""


SEED_BOUND = 2**63
"""Seeds drawn when none is given are below this (non-negative int64), so the seed a
run reports is one every backend and ``--seed`` accept."""


def draw_seed() -> int:
    """A fresh seed in ``[0, 2**63)`` from OS entropy."""
    return int(np.random.SeedSequence().entropy % SEED_BOUND)


def run_backend(problem: CausalProblem, backend="float", duration=5.0, dt=None, trials=1,
                seed=None, hw="loihi2", tau_syn=5e-3, allow_unstable=False, half_rates=False,
                force=False, **compile_options):
    """Simulate ``problem``'s tuned network on ``backend``.

    Before building anything, the steps (``round(duration / dt)``, at most
    :data:`compiler.system.resources.STEP_LIMIT` unless ``force``) and the memory of the
    network, its compilation and the run (:mod:`compiler.system.resources`) are checked:
    :class:`compiler.system.resources.ResourceError` (a ValueError) when they exceed the
    limits. ``seed`` None draws one with :func:`draw_seed`; the seed used is reported.

    ``allow_unstable`` runs a network whose rates can run away (see
    :func:`compiler.quantization.stability.check_stable`) with a warning instead of refusing it.
    ``half_rates``: also measure the rates over the first half of the same run (float:
    counts per window; emulator: the same initial voltages for half the steps, which
    the deterministic emulator reproduces exactly), for :func:`convergence`.

    Returns
    -------
    rates : ndarray, shape (trials, N)
        Firing rates in Hz.
    info : dict
        ``backend``, ``duration``, ``dt``, ``trials``, ``seed`` (the one used) and, for
        chip backends, ``hw`` and ``steps``; with ``half_rates``, ``half_rates``
        ((trials, N) Hz, None for the Lava backends) and ``half_duration`` (s).
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if not (np.isfinite(duration) and duration > 0):
        raise ValueError(f"duration must be > 0 seconds, got {duration}")
    if seed is None:
        seed = draw_seed()
    chip = backend != "float"
    dt = (CHIP_DT if chip else FLOAT_DT) if dt is None else dt
    steps = resources.steps_for(duration, dt)
    if steps < 1:
        raise ValueError(f"duration {duration} s is shorter than one step of dt = {dt} s")
    resources.check_steps(steps, f"duration {duration:g} s at dt {dt:g} s", force=force,
                          neurons=problem.n_causes, trials=trials, emulated=chip,
                          hint="shorten --duration or raise --dt",
                          force_hint="or pass --force (force=True)")
    resources.check_problem(problem.n_inputs, problem.n_causes, chip=chip,
                            splits=compile_options.get("weight_splits", "auto"), force=force,
                            features=problem.features)
    network = build_network(problem, tau_syn=tau_syn)
    if backend == "float":
        from .simulator import simulate

        window = duration / 2 if half_rates and duration / 2 >= dt else None
        resources.check_simulate(network, duration, dt, trials, window=window, force=force)
        result = simulate(network, duration, dt=dt, trials=trials, seed=seed, window=window,
                          allow_unstable=allow_unstable)
        info = {"backend": "float", "duration": duration, "dt": result.dt,
                "trials": trials, "seed": result.seed, "hw": None, "steps": None}
        if half_rates:
            first = None if window is None else result.counts_per_window[:, 0] / result.window
            info.update(half_rates=first, half_duration=result.window)
        return result.rates, info
    import compiler

    fixed = compiler.compile(network, hw=hw, dt=dt, allow_unstable=allow_unstable, **compile_options)
    resources.check_emulate(fixed, steps, trials, force=force)
    if backend == "emulator":
        result = compiler.emulate(fixed, steps, trials=trials, seed=seed, allow_unstable=allow_unstable)
    else:
        tag = "floating_pt" if backend == "lava-float" else "fixed_pt"
        target = "loihi2" if backend == "loihi2" else "cpu"
        result = compiler.run_lava(fixed, steps, tag=tag, seed=seed, trials=trials, target=target)
    info = {"backend": result.backend, "duration": steps * dt, "dt": dt,
            "trials": trials, "seed": result.seed, "hw": fixed.hw_name, "steps": steps}
    if half_rates:
        half = steps // 2
        first = None
        if backend == "emulator" and half >= 1:
            first = compiler.emulate(fixed, half, trials=trials, seed=result.seed,
                                     allow_unstable=True).rates  # checked above
        info.update(half_rates=first, half_duration=half * dt if first is not None else None)
    return result.rates, info


def solve_problem(problem: CausalProblem, backend="float", target: float = CONVERGENCE_TARGET,
                  **options) -> dict:
    """Run :func:`run_backend` and return a JSON-ready report.

    Keys: ``rates`` (trial-mean, Hz) and ``map`` (exact :math:`r^*`);
    ``relative_error_of_mean`` (:math:`|\\bar r - r^*|/|r^*|`, the trial-mean rates)
    and ``mean_relative_error`` (mean over trials of :math:`|r_k - r^*|/|r^*|`; both
    compare reconstructions where the MAP is not unique, see :mod:`lava_causal.metrics`);
    the other metrics of :func:`metrics.all_metrics` **of the trial-mean rates**
    (``angular_error_deg``, ``percent_error``, ...; ``metrics_of`` says so);
    ``convergence`` (:func:`convergence`, with ``target`` the relative error called
    converged); how the result was made and the package ``versions``.
    """
    rates, info = run_backend(problem, backend=backend, half_rates=True, **options)
    half, half_duration = info.pop("half_rates"), info.pop("half_duration")
    mean_rates = rates.mean(axis=0)
    r_star = problem.map_estimate()
    report = {"rates": mean_rates, "map": r_star,
              "relative_error_of_mean": metrics.relative_error_of_mean(problem, rates, r_star),
              "mean_relative_error": metrics.mean_relative_error(problem, rates, r_star)}
    report.update({k: v for k, v in metrics.all_metrics(problem, mean_rates, r_star).items()
                   if k != "relative_error"})
    report["metrics_of"] = "trial-mean rates"
    report.update(info)
    report["convergence"] = convergence(problem, rates, info["duration"], half, half_duration,
                                        r_star=r_star, backend=info["backend"], target=target)
    report["versions"] = versions()
    return report


def convergence(problem: CausalProblem, rates, duration: float, half_rates=None,
                half_duration=None, r_star=None, backend: str = "float",
                target: float = CONVERGENCE_TARGET) -> dict:
    r"""Is ``duration`` long enough? Diagnostics of trial-mean rates against the MAP.

    With :math:`e(T) = |\bar r(T) - r^*|/|r^*|` (the trial-mean rates) and the drift
    :math:`\delta = |\bar r(T) - \bar r(T/2)|/|r^*|` between the first half and the
    whole of the *same* run: if the error falls as :math:`c\,T^{-p}` along a fixed
    direction, :math:`\delta = e(T)(2^p - 1)`, so :math:`p = \log_2(1 + \delta/e)`.
    The spiking network's law is :math:`p = 1` (:mod:`lava_causal.network`): then :math:`\delta` itself
    estimates the error at T. The duration for the ``target`` error is extrapolated as
    :math:`T (e/\mathrm{target})^{1/\min(p, 1)}` (a lower bound when :math:`p > 1`,
    which only noise produces). ``p`` well below 1 means the error is not falling as
    the law says: slow, ill-conditioned directions not yet in the :math:`1/T` regime,
    or an error floor (dt, quantization on a chip backend). Where the MAP is not
    unique, rates are compared through their reconstructions :math:`U r`.

    Returns
    -------
    dict
        ``converged`` (error <= ``target``), ``target``, ``duration``,
        ``relative_error_of_mean``, ``half_duration``, ``drift`` (:math:`\delta`, None
        without half rates), ``exponent`` (:math:`p`, None when undefined),
        ``follows_one_over_t`` (:math:`0.75 \le p \le 1.5`, None when undefined),
        ``duration_needed`` (s, None when converged or unknown), ``active_condition``
        (cond of the active set's Gram :math:`G_{SS} = U_S^T U_S/\sigma^2 + \beta I`),
        ``map_unique`` (None when undecided), ``map_n_active`` (causes with
        :math:`r^*_i > 0`), ``active_rates`` and ``active_map`` (causes above the
        support threshold 0.5 Hz in the trial-mean rates and in :math:`r^*`), and a
        one-line ``hint`` (None when converged and the MAP is unique).
    """
    rates = np.atleast_2d(np.asarray(rates, float))
    rs = problem.map_estimate() if r_star is None else np.asarray(r_star, float)
    mean = rates.mean(axis=0)
    certificate = problem.map_certificate()
    cond, unique, n_active = certificate.active_condition, certificate.unique, certificate.n_active
    error = metrics.relative_error(problem, mean, rs)
    drift = exponent = follows = None
    if half_rates is not None:
        # |r(T) - r(T/2)| / |r*| (reconstructions where r* is not unique): the error
        # metric of r* + (r(T) - r(T/2)) against r*
        step = mean - np.atleast_2d(half_rates).mean(axis=0)
        drift = metrics.relative_error(problem, rs + step, rs)
        if error > 0:
            exponent = float(np.log2(1.0 + drift / error))
            follows = bool(0.75 <= exponent <= 1.5)
    converged = bool(error <= target)
    needed = None
    if not converged:
        p = min(exponent, 1.0) if exponent else 1.0
        needed = float(duration * (error / target) ** (1.0 / max(p, 1e-3)))
    out = {"converged": converged, "target": float(target), "duration": float(duration),
           "relative_error_of_mean": error, "half_duration": half_duration, "drift": drift,
           "exponent": exponent, "follows_one_over_t": follows, "duration_needed": needed,
           "active_condition": cond, "map_unique": unique, "map_n_active": n_active,
           "active_rates": int(metrics.support(mean).sum()),
           "active_map": int(metrics.support(rs).sum())}
    out["hint"] = _hint(out, backend)
    return out


def _hint(c: dict, backend: str):
    """One line saying what to do when not converged (or the MAP is not unique)."""
    if c["map_unique"] is False:
        return (f"the MAP is not unique ({c['map_n_active']} active causes, collinear or duplicate "
                f"features): rate errors against one r* are not meaningful, so reconstructions "
                f"U r are compared (relative errors are |U(r - r*)|/|U r*|); look at "
                f"percent_error / angular_error_deg")
    if c["converged"]:
        return None
    t, err, target = c["duration"], c["relative_error_of_mean"], c["target"]
    head = (f"T = {t:g} s is too short: the trial-mean rates are {100 * err:.3g} % from the MAP "
            f"(target {100 * target:g} %), {c['active_rates']} active causes against "
            f"{c['active_map']} in r*")
    needed = f"{c['duration_needed']:.3g}"
    p = c["exponent"]
    if p is None:
        return f"{head}; the error falls as 1/T at best: try T >= {needed} s"
    if c["follows_one_over_t"]:
        return (f"{head}; the error falls as 1/T (it moved {100 * c['drift']:.3g} % between T/2 "
                f"and T): try T >= {needed} s")
    if p > 1.5:
        return (f"{head}; the rates still fluctuate ({100 * c['drift']:.3g} % between T/2 and T, "
                f"more than the error): try T >= {needed} s or more trials")
    cause = ("an error floor (quantization, hard reset, dt): compare with --backend float"
             if backend != "float" else
             f"slow directions of an ill-conditioned active set (cond(G_SS) "
             f"{c['active_condition']:.3g}) have not reached the 1/T regime")
    return (f"{head}; the error falls only as T^-{p:.2g} (it moved {100 * c['drift']:.3g} % between "
            f"T/2 and T): {cause}; try T >= {needed} s")


def paired_rates(network, fixed, duration: float, trials: int, seed=None, float_dt: float = FLOAT_DT):
    r"""Float and chip rates from the *same* initial states, trial by trial.

    Initial states are drawn once in folded units, :math:`x_0 \sim U[0, 1]^N` per trial,
    and mapped to each side: :math:`V_0 = H + x_0 D` for the float network (reset
    potential H, reset depth D) and :math:`v_0 = \mathrm{round}(x_0 S)` for the chip
    (threshold S). Pairing removes the initial-voltage variance from float-versus-chip
    differences. Use a ``seed`` unrelated to the problem's own (``tasks.*(seed=0)``
    draws its features from ``default_rng(0)``).

    Returns
    -------
    float_rates, chip_rates : ndarray, shape (trials, N)
        Rates in Hz from :func:`lava_causal.simulate` (step ``float_dt``) and
        :func:`compiler.emulate` (``round(duration / fixed.dt)`` steps).

    Raises
    ------
    compiler.system.resources.ResourceError
        Before either run, when the steps or memory of either exceed the limits
        (:func:`compiler.system.resources.check_simulate`, :func:`~compiler.system.resources.check_emulate`).
    """
    import compiler
    from .simulator import simulate

    steps = resources.steps_for(duration, fixed.dt)
    resources.check_simulate(network, duration, float_dt, trials, force_hint="")
    resources.check_emulate(fixed, steps, trials, force_hint="")
    x0 = np.random.default_rng(seed).random((trials, network.n))
    float_rates = simulate(network, duration, dt=float_dt, trials=trials, v0=network.voltages_at(x0)).rates
    chip = compiler.emulate(fixed, steps, trials=trials, v0=fixed.voltages_at(x0))
    return float_rates, chip.rates
