"""Stream decoding: decodes per second of one compiled decoder, against CPU solvers at
matched accuracy.

Decoders (``lava_causal.compile_decoder``, Loihi 2 defaults, dt = 0.1 ms) of the Fig. 2
features (``tasks.positive_features(seed=0)``, N = M = 100) and of N = M = 1000 features,
decoding K odour-like observations: 1-5 causes present of N, intensities 10-60 Hz, plus
Gaussian observation noise (std 5 % of the mean input) clipped at 0 (``observation_stream``).

- **Emulator** (measured): one ``decode`` call on all K observations, 1,000 steps per
  decode (0.1 s of model time; also 10,000), best of a few after a warm-up; decodes/s =
  K / time, the host's bias encoding included.
  Its accuracy: relative error against each observation's exact MAP (mean with a 95 %
  interval over the K observations).
- **CPU baselines at matched accuracy** (measured): scipy's NNLS (exact), an
  accelerated projected gradient (FISTA on r >= 0, step 1/L, stopped at the first
  iteration whose error is at most the spiking decode's error on that observation) and
  OSQP (the loosest tolerance of a ladder 1e-1 .. 1e-6 that meets that error), each
  timed per observation on one core.
- **Loihi 2** (estimated, not measured): time and energy per decode from the runtime and
  energy model of ``compiler.deploy.runtime_model`` when present (else the energy model
  of ``compiler.estimate_cost`` only), on the emulator's spike counts.
- **Lava** (measured, N = 100 only): per-decode wall time of ``backend="lava"`` (one
  network built and started once, bias and state Vars set per decode) against its
  execution time, and against a fresh Lava network per decode.

Run: ``.venv/bin/python benchmarks/decode.py`` (writes ``benchmarks/results/decode.md``);
``--quick`` for a short check; the Lava row needs lava-nc (``.venv-lava``).
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings

import numpy as np
import scipy.optimize

from _common import RESULTS_DIR, best_of, provenance, provenance_lines, write_result
from compiler import QuantizationWarning
from lava_causal import statistics, tasks
from lava_causal.decoder import compile_decoder

RESULTS = RESULTS_DIR / "decode.md"
DT = 1e-4
STEPS = 1000
SEED = 3
OSQP_TOLERANCES = (1e-1, 3e-2, 1e-2, 3e-3, 1e-3, 1e-4, 1e-5, 1e-6)


def observation_stream(features, k, seed=0, present=(1, 5), intensity=(10.0, 60.0), noise=0.05):
    """K odour-like observations of ``features`` (M, N): a few causes present at random
    intensities, Gaussian noise of ``noise`` x the mean input, clipped at 0. Returns
    (observations (K, M), true causes (K, N))."""
    rng = np.random.default_rng(seed)
    m, n = features.shape
    causes = np.zeros((k, n))
    for row in causes:
        which = rng.choice(n, size=rng.integers(present[0], present[1] + 1), replace=False)
        row[which] = rng.uniform(*intensity, size=which.size)
    clean = causes @ features.T
    noisy = clean + noise * clean.mean() * rng.standard_normal(clean.shape)
    return np.maximum(noisy, 0.0), causes


def rel_errors(rates, r_star):
    norms = np.linalg.norm(r_star, axis=1)
    return np.linalg.norm(rates - r_star, axis=1) / np.where(norms > 0, norms, 1.0)


class Baselines:
    """CPU solvers of min 1/2 |U r - mu|^2, r >= 0, set up once per feature matrix (as a
    streaming CPU decoder would: the Gram matrix, its norm and OSQP's factorization are
    not counted per decode), each timed per observation to a target error."""

    def __init__(self, u):
        self.u = u
        self.gram = u.T @ u
        self.step = 1.0 / np.linalg.norm(self.gram, 2)
        self.osqp = None
        try:
            import osqp
            import scipy.sparse as sp
        except ImportError:
            return
        n = u.shape[1]
        self.osqp = {}
        for eps in OSQP_TOLERANCES:
            solver = osqp.OSQP()
            solver.setup(sp.csc_matrix(self.gram), np.zeros(n), sp.identity(n, format="csc"),
                         np.zeros(n), np.full(n, np.inf), eps_abs=eps, eps_rel=eps, verbose=False,
                         polishing=False, warm_starting=False)
            self.osqp[eps] = solver

    def nnls(self, mu):
        start = time.perf_counter()
        scipy.optimize.nnls(self.u, mu)
        return time.perf_counter() - start

    def fista(self, mu, r_star, target, max_iter=100000):
        """Iterations and seconds of projected FISTA until |r - r*|/|r*| <= target."""
        start = time.perf_counter()
        rhs = self.u.T @ mu
        x = y = np.zeros(self.u.shape[1])
        t = 1.0
        bound = target * max(np.linalg.norm(r_star), 1e-300)
        for it in range(1, max_iter + 1):
            x_new = np.maximum(0.0, y - self.step * (self.gram @ y - rhs))
            t_new = 0.5 * (1 + np.sqrt(1 + 4 * t * t))
            y = x_new + (t - 1) / t_new * (x_new - x)
            x, t = x_new, t_new
            if np.linalg.norm(x - r_star) <= bound:
                break
        return it, time.perf_counter() - start

    def osqp_time(self, mu, r_star, target):
        """Seconds of OSQP at the loosest tolerance meeting ``target``, and that
        tolerance; (None, None) when none does or OSQP is not installed."""
        if self.osqp is None:
            return None, None
        bound = target * max(np.linalg.norm(r_star), 1e-300)
        q = -(self.u.T @ mu)
        for eps, solver in self.osqp.items():
            start = time.perf_counter()
            solver.update(q=q)
            x = solver.solve().x
            seconds = time.perf_counter() - start
            if x is not None and np.all(np.isfinite(x)) and np.linalg.norm(x - r_star) <= bound:
                return seconds, eps
        return None, None


def loihi_estimate(decoder, result):
    """Estimated Loihi 2 time and energy per decode (mean over the decodes)."""
    from compiler.backends.emulator import ExecutionResult

    run = ExecutionResult(counts=result.counts, steps=int(result.steps[0]), dt=result.dt, seed=None,
                          backend="emulator", hw_name=decoder.hw)
    from compiler.deploy.runtime_model import decode_cost
    cost = decode_cost(decoder.fixed, run)
    return {"time_s": cost["time_per_decode_s"], "energy_j": cost["energy_per_decode_j"],
            "edp_js": cost["edp_js"], "binding": cost["binding"],
            "unverified": len(cost["unverified"]),
            "source": "runtime: a max-affine step-time model after Timcheck et al. 2026 "
                      "(arXiv:2601.10035) on Loihi 1 timing figures (assumed for Loihi 2); energy: "
                      "Davies et al. 2018 per-operation figures (Loihi 1); dynamic energy only, "
                      f"{len(cost['unverified'])} figures unverified (compiler/deploy/runtime_model.py)"}


def benchmark(n, k, steps=STEPS, seed=SEED, repeats=3):
    features = tasks.positive_features(seed=0, m=n, n=n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", QuantizationWarning)
        start = time.perf_counter()
        decoder = compile_decoder(features, hw="loihi2", dt=DT)
        compile_s = time.perf_counter() - start
    obs, _ = observation_stream(features, k, seed=seed)
    decoder.decode(obs[:2], steps=10, seed=seed)  # numba warm-up
    seconds, result = best_of(repeats, lambda: decoder.decode(obs, steps=steps, seed=seed))
    map_start = time.perf_counter()
    r_star = np.stack([p.map_estimate() for p in decoder.problems(obs)])
    certified_map_s = (time.perf_counter() - map_start) / k
    errors = rel_errors(result.rates, r_star)
    solvers = Baselines(features)
    nnls_s, fista_s, fista_it, osqp_s, osqp_eps = [], [], [], [], []
    for i, mu in enumerate(obs):
        nnls_s.append(solvers.nnls(mu))
        it, s = solvers.fista(mu, r_star[i], errors[i])
        fista_it.append(it)
        fista_s.append(s)
        s, eps = solvers.osqp_time(mu, r_star[i], errors[i])
        if s is not None:
            osqp_s.append(s)
            osqp_eps.append(eps)
    mean, (lo, hi) = float(np.mean(errors)), statistics.mean_ci(errors)
    return {"n": n, "k": k, "steps": steps, "compile_s": compile_s, "emu_s": seconds,
            "decodes_per_s": k / seconds, "error": (mean, lo, hi),
            "spikes": float(result.counts.sum(axis=1).mean()),
            "nnls_s": float(np.median(nnls_s)), "fista_s": float(np.median(fista_s)),
            "fista_it": int(np.median(fista_it)),
            "osqp_s": float(np.median(osqp_s)) if osqp_s else None,
            "osqp_met": len(osqp_s), "osqp_available": solvers.osqp is not None,
            "map_s": certified_map_s, "loihi": loihi_estimate(decoder, result),
            "decoder": decoder, "obs": obs}


def lava_overhead(row, k=5):
    """Lava per decode: one network for all K (``backend="lava"``: built and started
    once, bias and state Vars set per decode) against a fresh network per decode."""
    try:
        import lava  # noqa: F401
    except ImportError:
        return None
    from compiler import run_lava

    decoder, obs = row["decoder"], row["obs"][:k]
    start = time.perf_counter()
    stream = decoder.decode(obs, steps=STEPS, seed=SEED, backend="lava")
    stream_wall = time.perf_counter() - start
    bias = decoder.biases(obs)
    fresh = [run_lava(decoder.network_for(None, bias, i), STEPS, v0=stream.initial_voltages[i])
             for i in range(k)]
    same = all(np.array_equal(f.counts[0], stream.counts[i]) for i, f in enumerate(fresh))
    timing = stream.provenance["lava"]
    return {"k": k, "stream_wall_s": stream_wall / k, "startup_s": timing["startup_s"],
            "exec_s": timing["execute_s"] / k, "reset_s": timing["reset_s"] / max(k - 1, 1),
            "fresh_wall_s": float(np.mean([f.wall_time for f in fresh])),
            "fresh_exec_s": float(np.mean([f.provenance["execute_s"] for f in fresh])),
            "identical": same}


def progress(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def markdown(rows, lava, prov):
    lines = ["# Stream decoding: one compiled decoder, many observations", "",
             "Generated by `benchmarks/decode.py`. Decoder: `compile_decoder` of the features "
             f"(Loihi 2 defaults, dt = {DT * 1e3:g} ms); observations: "
             "1-5 causes present at 10-60 Hz with 5 % Gaussian noise. Emulator: one `decode` call "
             "on all K (2 threads), best of 3. Baselines: median seconds per decode on one core, "
             "each stopped at the spiking decode's own error on that observation (matched "
             "accuracy); NNLS is exact.", "",
             "| N | steps | K | compile (s) | emulator decodes/s | error vs MAP (mean [95 % CI]) | spikes/decode "
             "| NNLS (ms) | FISTA (ms, iterations) | OSQP (ms) | Loihi 2 ms/decode (est.) "
             "| Loihi 2 mJ/decode (est.) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        mean, lo, hi = r["error"]
        loihi = r["loihi"]
        osqp = ("not installed" if not r["osqp_available"] else "none met" if not r["osqp_met"] else
                f"{1e3 * r['osqp_s']:.3f} ({r['osqp_met']}/{r['k']} met)")
        t_est = "n/a" if loihi["time_s"] is None else f"{1e3 * loihi['time_s']:.3f}"
        lines.append(
            f"| {r['n']} | {r['steps']} | {r['k']} | {r['compile_s']:.2f} | {r['decodes_per_s']:,.0f} | "
            f"{100 * mean:.1f} % [{100 * lo:.1f}, {100 * hi:.1f}] | {r['spikes']:.0f} | "
            f"{1e3 * r['nnls_s']:.3f} | {1e3 * r['fista_s']:.3f} ({r['fista_it']}) | {osqp} | "
            f"{t_est} | {1e3 * loihi['energy_j']:.4f} |")
    lines += ["", f"- Loihi 2 figures are estimates: {rows[0]['loihi']['source']}.",
              f"- Certified exact MAP on the host (`CausalProblem.map_estimate`, with its KKT "
              f"certificate): {1e3 * rows[0]['map_s']:.2f} ms per decode at N = {rows[0]['n']}."]
    if lava:
        lines.append(
            f"- Lava fixed_pt (N = {rows[0]['n']}, {lava['k']} decodes of {STEPS} steps, counts "
            f"{'identical' if lava['identical'] else 'DIFFERENT'} between the two ways): one network "
            f"for all (`backend=\"lava\"`): {lava['stream_wall_s']:.2f} s per decode = "
            f"{lava['exec_s']:.2f} s execution + {lava['reset_s'] * 1e3:.0f} ms setting the bias and "
            f"state Vars + the one start-up ({lava['startup_s']:.2f} s) shared; a fresh network per "
            f"decode: {lava['fresh_wall_s']:.2f} s per decode, of which {lava['fresh_exec_s']:.2f} s "
            "execution.")
    lines += provenance_lines(prov)
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N = 100 only, K = 20; print only")
    parser.add_argument("--output", default=None, help=f"markdown file (default {RESULTS})")
    args = parser.parse_args(argv)
    sizes = ((100, 20, STEPS),) if args.quick else ((100, 500, STEPS), (100, 100, 10 * STEPS),
                                                    (1000, 40, STEPS))
    prov = provenance()
    rows = []
    for n, k, steps in sizes:
        progress(f"N = {n}, K = {k}, {steps} steps")
        rows.append(benchmark(n, k, steps))
    progress("Lava per-decode overhead")
    lava = lava_overhead(rows[0])
    text = markdown(rows, lava, prov)
    print(text)
    out = args.output or (None if args.quick else RESULTS)
    if out:
        write_result(out, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
