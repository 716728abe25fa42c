"""Run a problem's network on one backend and score its rates against the exact MAP."""
from __future__ import annotations

import numpy as np

from . import metrics
from .network import build_network
from .problem import CausalProblem
from .provenance import versions

FLOAT_DT = 1e-5
"""Default step of the float simulator (the paper's 0.01 ms)."""
CHIP_DT = 1e-4
"""Default seconds per chip step (0.1 ms)."""

BACKENDS = ("float", "emulator", "lava", "lava-float", "loihi2")


def run_backend(problem: CausalProblem, backend="float", duration=5.0, dt=None, trials=1,
                seed=None, hw="loihi2", tau_syn=5e-3, **compile_options):
    """Simulate ``problem``'s tuned network on ``backend``.

    Returns
    -------
    rates : ndarray, shape (trials, N)
        Firing rates in Hz.
    info : dict
        ``backend``, ``duration``, ``dt``, ``trials``, ``seed`` (the one used) and, for
        chip backends, ``hw`` and ``steps``.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if not (np.isfinite(duration) and duration > 0):
        raise ValueError(f"duration must be > 0 seconds, got {duration}")
    network = build_network(problem, tau_syn=tau_syn)
    if backend == "float":
        from .simulator import simulate

        result = simulate(network, duration, dt=FLOAT_DT if dt is None else dt, trials=trials, seed=seed)
        return result.rates, {"backend": "float", "duration": duration, "dt": result.dt,
                              "trials": trials, "seed": result.seed, "hw": None, "steps": None}
    import compiler

    dt = CHIP_DT if dt is None else dt
    fixed = compiler.compile(network, hw=hw, dt=dt, **compile_options)
    steps = int(round(duration / dt))
    if steps < 1:
        raise ValueError(f"duration {duration} s is shorter than one step of dt = {dt} s")
    if backend == "emulator":
        result = compiler.emulate(fixed, steps, trials=trials, seed=seed)
    else:
        tag = "floating_pt" if backend == "lava-float" else "fixed_pt"
        target = "loihi2" if backend == "loihi2" else "cpu"
        result = compiler.run_lava(fixed, steps, tag=tag, seed=seed, trials=trials, target=target)
    return result.rates, {"backend": result.backend, "duration": steps * dt, "dt": dt,
                          "trials": trials, "seed": result.seed, "hw": fixed.hw_name, "steps": steps}


def solve_problem(problem: CausalProblem, backend="float", **options) -> dict:
    """Run :func:`run_backend` and return a JSON-ready report: the trial-mean
    ``rates``, the exact ``map``, every metric of :func:`metrics.all_metrics`,
    how the result was made and the package ``versions``."""
    rates, info = run_backend(problem, backend=backend, **options)
    mean_rates = rates.mean(axis=0)
    r_star = problem.map_estimate()
    report = {"rates": mean_rates, "map": r_star}
    report.update(metrics.all_metrics(problem, mean_rates, r_star))
    report.update(info)
    report["versions"] = versions()
    return report


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
    """
    import compiler
    from .simulator import simulate

    x0 = np.random.default_rng(seed).random((trials, network.n))
    float_rates = simulate(network, duration, dt=float_dt, trials=trials, v0=network.voltages_at(x0)).rates
    steps = int(round(duration / fixed.dt))
    chip = compiler.emulate(fixed, steps, trials=trials, v0=fixed.voltages_at(x0))
    return float_rates, chip.rates
