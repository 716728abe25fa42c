r"""What quantization did to every parameter group: ``compiler.quantization_report(fixed)``.

For each group (weights, bias, threshold, decay, leak, delays) the report gives the
float target, the integers, the effective value they implement and the relative
error :math:`(x_{\text{eff}} - x)/|x|` over the non-zero targets (max of the absolute
value, mean absolute, RMS, signed mean), plus the scale and exponents chosen and how
many values were clipped (and how many non-zero weights quantized to zero, a warning
above :data:`compiler.quantization.quantize.ZEROED_WEIGHTS_WARN_FRACTION`). Weights are compared in summed-input units per spike
(:math:`A = S W' d / 2^6`), the bias in voltage units per step *including* the dynamic
corrections it carries (which are listed separately). It also gives the cost: splits,
synapse memory against one core's, and energy per spike and per step, and the weight
precision (:func:`weight_precision`: weight bits, splits, effective bits).

:class:`QuantizationReport` is a ``dict`` (JSON-ready values) whose ``str()`` is a
table.

Sparse networks (CSR splits, CSR targets in ``info``) are reported from their stored
entries, never densified: the statistics are over the non-zero targets as for dense
networks, ranges include the implicit zeros; time and memory O(nnz).
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from compiler.quantization.effective import effective_input, hardware_dict
from compiler.hardware.encoding import effective_weight_bits, mantissa_step_bits, sign_mode
from compiler.system.sparse import same_pattern


class WeightPrecision(NamedTuple):
    """Weight precision of a compiled network (:func:`weight_precision`).

    Attributes
    ----------
    weight_bits : int
        :math:`b`, significant bits per split (Lava Dense ``num_weight_bits``; the
        definition is in :mod:`compiler.hardware.config`).
    weight_splits : int
        :math:`k`, Dense processes per connection.
    effective_bits : int
        :math:`b + (q_1 - q_k)` (at most :math:`k b`): bits one connection resolves
        over all splits, from the top split's most significant bit to the finest
        split's quantum.
    """

    weight_bits: int
    weight_splits: int
    effective_bits: int

    @property
    def stored_bits(self) -> int:
        """:math:`k b`: weight bits per connection summed over splits (synapse memory)."""
        return self.weight_bits * self.weight_splits

    def describe(self) -> str:
        """E.g. ``"8 bits x 2 splits ~ 14-bit effective"``."""
        k = self.weight_splits
        return f"{self.weight_bits} bits x {k} split{'s' if k != 1 else ''} ~ {self.effective_bits}-bit effective"


def _register_bits(hw: dict) -> int:
    from compiler.hardware.config import LAVA_WEIGHT_REGISTER_BITS
    if hw.get("lava_runnable", True):
        return LAVA_WEIGHT_REGISTER_BITS
    return int(hw.get("weight_mantissa_bits", LAVA_WEIGHT_REGISTER_BITS))


def split_quanta(fixed) -> list:
    """Quantum exponent :math:`q_k = e_k + s_k` of each split (one spike of split ``k``
    delivers a multiple of :math:`2^{q_k}` summed-input units), derived from the integers:
    :math:`s_k = R - b + [\text{mixed}]` with the register :math:`R` of the network's
    config (8 on Lava) and the split's sign mode."""
    reg = _register_bits(hardware_dict(fixed))
    return [int(e) + mantissa_step_bits(sign_mode(w.data if sp.issparse(w) else w), reg, fixed.num_weight_bits)
            for w, e in zip(fixed.weights, fixed.weight_exps)]


def weight_precision(fixed) -> WeightPrecision:
    """``(weight_bits, weight_splits, effective_bits)`` of a :class:`FixedPointNetwork`.

    Read from ``fixed.info["weight_precision"]`` (recorded by :func:`compiler.compile`)
    when present, else derived from the integers (:func:`split_quanta`), so it works
    for hand-built and loaded networks too. ``.stored_bits`` and ``.describe()`` give
    the bits summed over splits and a one-line text.
    """
    rec = (fixed.info or {}).get("weight_precision")
    if rec:
        return WeightPrecision(int(rec["weight_bits"]), int(rec["weight_splits"]), int(rec["effective_bits"]))
    b = int(fixed.num_weight_bits)
    return WeightPrecision(b, int(fixed.n_splits), effective_weight_bits(b, split_quanta(fixed)))


def _stored(matrix, pattern=None) -> np.ndarray:
    """Stored values of a CSR ``matrix`` at the entries of ``pattern`` (default its own);
    dense input unchanged."""
    if not sp.issparse(matrix):
        return matrix
    m = sp.csr_matrix(matrix)
    if pattern is None or same_pattern(m, pattern):
        return m.data
    rows = np.repeat(np.arange(pattern.shape[0]), np.diff(pattern.indptr))
    return np.asarray(m[rows, pattern.indices]).ravel()


def _stats(target, effective):
    target = np.asarray(target, float).ravel()
    effective = np.asarray(effective, float).ravel()
    nz = target != 0
    if not np.any(nz):
        return {"count": 0, "max_rel_error": 0.0, "mean_abs_rel_error": 0.0, "rms_rel_error": 0.0,
                "signed_mean_rel_error": 0.0}
    rel = (effective[nz] - target[nz]) / np.abs(target[nz])
    return {"count": int(nz.sum()), "max_rel_error": float(np.max(np.abs(rel))),
            "mean_abs_rel_error": float(np.mean(np.abs(rel))),
            "rms_rel_error": float(np.sqrt(np.mean(rel ** 2))),
            "signed_mean_rel_error": float(np.mean(rel))}


def _range(x):
    if sp.issparse(x):  # stored values and, unless full, the implicit zeros
        full = x.nnz == x.shape[0] * x.shape[1]
        x = np.asarray(x.data, float) if full else np.append(np.asarray(x.data, float), 0.0)
    x = np.asarray(x, float)
    return [float(x.min()), float(x.max())] if x.size else [0.0, 0.0]


class QuantizationReport(dict):
    """A dict of per-group statistics; ``str(report)`` is a printable table."""

    def __str__(self) -> str:
        return self.table()

    def table(self) -> str:
        """The report as a fixed-width text table."""
        head = (f"{'group':<10}{'n':>7}{'max|rel|':>11}{'mean|rel|':>11}{'rms rel':>10}"
                f"{'signed':>11}{'clipped':>9}  chosen")
        lines = [f"Quantization report: {self.get('network', '')} -> {self.get('hw', '')}, "
                 f"dt = {self.get('dt', 0):g} s", head, "-" * len(head)]
        for g in ("weights", "bias", "threshold", "decay", "leak", "delays"):
            r = self.get(g)
            if not r:
                continue
            lines.append(f"{g:<10}{r.get('count', 0):>7}{r.get('max_rel_error', 0):>11.2e}"
                         f"{r.get('mean_abs_rel_error', 0):>11.2e}{r.get('rms_rel_error', 0):>10.2e}"
                         f"{r.get('signed_mean_rel_error', 0):>+11.2e}{r.get('clipped', 0):>9}  {r.get('chosen', '')}")
        c = self.get("corrections", {})
        if c:
            lines.append(f"corrections (bias, voltage units/step): truncation mean {c['truncation_mean']:+.3g} "
                         f"(max |.| {c['truncation_max_abs']:.3g}), reset ({c.get('reset_method', '?')}) mean "
                         f"{c['reset_mean']:+.3g} (max {c['reset_max']:.3g}), weight rounding mean "
                         f"{c.get('weights_mean', 0.0):+.3g} (max |.| {c.get('weights_max_abs', 0.0):.3g}); "
                         f"operating point: {c['operating_point']}")
        s = self.get("scale", {})
        if s:
            lines.append(f"scale S = {s['S']} (vth {s['vth']}), limited by {s['limited_by']}; "
                         f"voltage room {s['headroom_thresholds']:.2f} thresholds")
        wp = self.get("weight_precision", {})
        if wp:
            quanta = ", ".join(f"2**{q}" for q in wp["quanta"])
            lines.append(f"weight precision: {wp['text']} ({wp['stored_bits']} stored bits per connection; "
                         f"quanta {quanta} summed-input units; num_weight_bits = {wp['weight_bits']}, register "
                         f"{wp['register_bits']} bits)")
        cost = self.get("cost", {})
        if cost:
            lines.append(f"splits {cost['splits']} ({cost['splits_reason']}); synapse memory "
                         f"{cost['synapse_memory_kib']:.1f} KiB = {cost['synapse_memory_fraction_of_core']:.2f} "
                         f"x one core's {cost['core_synapse_memory_kib']:.0f} KiB; >= {cost['cores_needed']} core(s); "
                         f"{cost['energy_per_spike_pj']:.0f} pJ per spike, {cost['energy_per_step_pj']:.0f} pJ "
                         f"of neuron updates per step")
        if self.get("warnings"):
            lines.extend("warning: " + w for w in self["warnings"])
        return "\n".join(lines)


_CONSTRAINT_KEYS = {"threshold_mantissa": "threshold.mantissa_bits", "voltage_headroom": "state.voltage_bits",
                    "bias_range": "bias.exponent_max", "current_range": "state.current_bits",
                    "synaptic_input": "state.synaptic_input_bits", "weight_range": "weights.exponent_max"}
"""Config key behind each scale constraint of :mod:`compiler.quantization.scale`."""


def quantization_report(fixed) -> QuantizationReport:
    """The :class:`QuantizationReport` of a compiled network (uses ``fixed.info``)."""
    info = fixed.info or {}
    t = info.get("targets", {})
    hw = hardware_dict(fixed)
    clipped = info.get("clipped", {})
    ar = fixed.arithmetic
    rep = QuantizationReport()
    rep["network"] = info.get("fold", {}).get("name", "")
    rep["hw"] = fixed.hw_name
    rep["dt"] = fixed.dt
    rep["lava_compatible"] = bool(info.get("lava_compatible", False))
    wp = weight_precision(fixed)
    rep["weight_precision"] = {"weight_bits": wp.weight_bits, "weight_splits": wp.weight_splits,
                               "effective_bits": wp.effective_bits, "stored_bits": wp.stored_bits,
                               "register_bits": _register_bits(hw), "quanta": split_quanta(fixed),
                               "text": wp.describe()}
    a_eff = effective_input(fixed)
    if "weights" in t:
        pattern = sp.csr_matrix(t["weights"]) if sp.issparse(t["weights"]) else None
        eff = _stored(a_eff, pattern) if pattern is not None else a_eff
        # The integers encode the targets over 1 + coupling_shift (the bias restores the optimum).
        shrink = 1.0 + float(info.get("options", {}).get("coupling_shift", 0.0) or 0.0)
        target_values = (pattern.data if pattern is not None else np.asarray(t["weights"], float)) / shrink
        w = _stats(target_values, eff)
        target = t["weights"] if pattern is not None else target_values
        w.update(units="summed-input units per spike (A = S W' d / 2**act)",
                 target_range=_range(target), effective_range=_range(a_eff),
                 float_range=_range(info.get("fold", {}).get("weights", np.zeros(1))),
                 float_units="network weight units (charge per spike)",
                 zeroed=int(np.count_nonzero((target_values != 0) & (np.asarray(eff) == 0))),
                 clipped=int(clipped.get("weights", 0)),
                 exponents=list(fixed.weight_exps), quanta=list(info.get("splits", {}).get("quanta", [])),
                 sign_modes=list(info.get("splits", {}).get("modes", [])),
                 mantissa_ranges=[_range(m) for m in fixed.weights],
                 chosen=f"{fixed.n_splits} split(s), weight_exp {list(fixed.weight_exps)}"
                 + (f", targets / (1 + coupling_shift {shrink - 1:g})" if shrink != 1.0 else ""))
        rep["weights"] = w
    corr = info.get("corrections", {})
    trunc = np.asarray(corr.get("truncation", np.zeros(fixed.n)), float)
    reset = np.asarray(corr.get("reset", np.zeros(fixed.n)), float)
    weights = np.asarray(corr["weights"] if corr.get("weights") is not None else np.zeros(fixed.n), float)
    if "bias" in t:
        total = np.asarray(t["bias"], float) + trunc + reset + weights
        b = _stats(total, fixed.effective_bias)
        b.update(units="voltage units per step (nominal + corrections)",
                 target_range=_range(total), effective_range=_range(fixed.effective_bias),
                 float_range=_range(info.get("fold", {}).get("bias", np.zeros(1))),
                 float_units="network bias units (per second)",
                 exponent_range=_range(fixed.bias_exp), mantissa_range=_range(fixed.bias_mant),
                 zero_targets=int(np.count_nonzero(total == 0)), clipped=int(clipped.get("bias", 0)),
                 chosen=f"bias_exp {int(fixed.bias_exp.min())}..{int(fixed.bias_exp.max())}")
        rep["bias"] = b
        rep["corrections"] = {
            "truncation_mean": float(trunc.mean()), "truncation_max_abs": float(np.max(np.abs(trunc), initial=0)),
            "reset_mean": float(reset.mean()), "reset_max": float(np.max(reset, initial=0)),
            "reset_method": corr.get("reset_method", "half_step" if np.any(reset) else "none"),
            "weights_mean": float(weights.mean()), "weights_max_abs": float(np.max(np.abs(weights), initial=0)),
            "relative_to_bias": float(np.max(np.abs(trunc + reset + weights) / np.maximum(np.abs(t["bias"]), 1.0),
                                             initial=0.0)),
            "operating_point": dict(corr.get("operating_point", {})).get("source", "none")}
    scale = info.get("scale", {})
    rep["threshold"] = {"count": 1, "max_rel_error": 0.0, "mean_abs_rel_error": 0.0, "rms_rel_error": 0.0,
                        "signed_mean_rel_error": 0.0, "clipped": 0, "vth": fixed.vth,
                        "effective": fixed.threshold,
                        "chosen": f"vth {fixed.vth} (S = {fixed.threshold}), by {scale.get('limited_by', '?')}"}
    if scale:
        rep["scale"] = {"S": int(scale["S"]), "vth": int(scale["vth"]), "limited_by": scale["limited_by"],
                        "limits": dict(scale["limits"]), "headroom_thresholds": float(scale["headroom_thresholds"]),
                        "kappa": float(scale["kappa"])}
    unity = ar.decay_unity
    factor = ar.current_decay_factor(fixed.du)
    tau_t = float(t.get("tau_syn", float("nan")))
    tau_e = 0.0 if factor == 0 else -fixed.dt / math.log(factor / unity)
    rel = 0.0 if tau_t == 0 else (tau_e - tau_t) / tau_t
    rep["decay"] = {"count": 1, "max_rel_error": abs(rel), "mean_abs_rel_error": abs(rel), "rms_rel_error": abs(rel),
                    "signed_mean_rel_error": rel, "clipped": int(clipped.get("decay", 0)), "du": fixed.du,
                    "tau_syn": tau_t, "tau_syn_effective": tau_e,
                    "chosen": f"du {fixed.du} (tau_syn {tau_t * 1e3:.4g} -> {tau_e * 1e3:.4g} ms)"}
    leak_t = t.get("leak_tau")
    if leak_t is not None:
        vf = ar.voltage_decay_factor(fixed.dv)
        leak_e = float("inf") if vf == unity else (0.0 if vf == 0 else -fixed.dt / math.log(vf / unity))
        rel = (leak_e - leak_t) / leak_t
        rep["leak"] = {"count": 1, "max_rel_error": abs(rel), "mean_abs_rel_error": abs(rel),
                       "rms_rel_error": abs(rel), "signed_mean_rel_error": rel,
                       "clipped": int(clipped.get("leak", 0)), "dv": fixed.dv,
                       "chosen": f"dv {fixed.dv} (tau_m {leak_t * 1e3:.4g} -> {leak_e * 1e3:.4g} ms)"}
    if "delay_steps" in t and fixed.is_sparse:
        rep["delays"] = _sparse_delay_stats(fixed, t, int(hw["dense_latency_steps"]), clipped)
    elif "delay_steps" in t:
        lat = int(hw["dense_latency_steps"])
        target = np.broadcast_to(np.asarray(t["delay_steps"], float), (fixed.n, fixed.n))
        actual = (0 if fixed.delays is None else fixed.delays) + lat
        used = np.asarray(t["weights"]) != 0 if "weights" in t else np.ones((fixed.n, fixed.n), bool)
        err = (np.asarray(actual, float) - target)[used] if np.any(used) else np.zeros(1)
        d = _stats(target[used], np.broadcast_to(actual, target.shape)[used]) if np.any(used) else _stats([], [])
        d["count"] = int(np.count_nonzero(used))
        d.update(units="steps (including the Dense latency)", max_abs_error_steps=float(np.max(np.abs(err))),
                 mean_error_steps=float(np.mean(err)), latency_steps=lat,
                 clipped=int(clipped.get("delays", 0)),
                 chosen=("Dense (latency %d step)" % lat) if fixed.delays is None
                 else f"DelayDense 0..{int(fixed.delays.max())} + {lat}")
        rep["delays"] = d
    rep["cost"] = _cost(fixed, info, hw)
    warn = []
    for k, v in clipped.items():
        if v:
            warn.append(f"{k}: {v} clipped ({info.get('limits', {}).get(k, '')})")
    zeroed = info.get("zeroed_weights", {})
    if zeroed.get("count", 0) and zeroed.get("fraction", 0.0) > zeroed.get("warn_fraction", 0.05):
        warn.append(f"weights: {zeroed['count']} of {zeroed['nonzero']} non-zero weights "
                    f"({100 * zeroed['fraction']:.1f} %) quantize to 0 (largest zeroed target "
                    f"{zeroed['largest_target']:.3g} summed-input units, finest quantum "
                    f"2**{zeroed['finest_quantum_exp']}, activation_shift {zeroed['activation_shift']})")
    binding = scale.get("limited_by", "").split(" ")[0]
    key = _CONSTRAINT_KEYS.get(binding)
    if key and key in hw.get("unverified", []):
        warn.append(f"the scale is limited by {binding}, set by {key}, which is unverified for {fixed.hw_name}; "
                    f"max_simultaneous_spikes= relaxes the worst-case input bound")
    rep["warnings"] = warn
    rep["clipped"] = {k: int(v) for k, v in clipped.items()}
    return rep


def _sparse_delay_stats(fixed, t, lat, clipped) -> dict:
    """The delays entry of :func:`quantization_report` for a sparse network: over the
    stored synapses, O(nnz)."""
    pattern = fixed.weights[0]
    nnz = int(pattern.nnz)
    target = t["delay_steps"]
    target = _stored(target, pattern) if sp.issparse(target) else np.full(nnz, float(target))
    delays = fixed.delays
    actual = (np.zeros(nnz) if delays is None else _stored(delays, pattern).astype(float) if sp.issparse(delays)
              else np.full(nnz, float(delays))) + lat
    err = actual - target if nnz else np.zeros(1)
    d = _stats(target, actual)
    d["count"] = nnz
    d.update(units="steps (including the Dense latency)", max_abs_error_steps=float(np.max(np.abs(err))),
             mean_error_steps=float(np.mean(err)), latency_steps=lat, clipped=int(clipped.get("delays", 0)),
             chosen=("Dense (latency %d step)" % lat) if delays is None
             else f"DelayDense 0..{fixed.max_delay} + {lat}")
    return d


def _cost(fixed, info, hw):
    """Synapse memory, cores and energy figures from :mod:`compiler.deploy.placement`'s resource
    model (the single source of these numbers; :func:`compiler.deploy.placement.place` gives the
    full per-core placement and :mod:`compiler.deploy.cost` the per-decode estimate)."""
    from compiler.hardware.config import HardwareConfig
    from compiler.deploy.placement import bits_per_synapse, cores_lower_bound, group_resources, synapse_matrix

    config = HardwareConfig.from_flat_dict(hw)
    syn = synapse_matrix(fixed)  # O(nnz) for sparse networks
    n = fixed.n
    nnz = int(syn.nnz)
    bits_per = bits_per_synapse(fixed, config)
    mem_bits = group_resources(syn, np.arange(n), fixed.n_splits, bits_per)["synapse_memory"]
    core_bits = config.synapse_memory_bits
    fanout = nnz / max(n, 1)
    return {"splits": fixed.n_splits,
            "splits_reason": info.get("splits", {}).get("reason", ""),
            "synapses": nnz, "bits_per_synapse": bits_per,
            "synapse_memory_kib": mem_bits / 8192.0,
            "core_synapse_memory_kib": core_bits / 8192.0,
            "synapse_memory_fraction_of_core": mem_bits / core_bits,
            "cores_needed": cores_lower_bound(fixed, config, memory_bits=mem_bits),
            "energy_per_spike_pj": fanout * fixed.n_splits * config.synaptic_op_pj,
            "energy_per_step_pj": n * config.neuron_update_pj,
            "model": "compiler.deploy.placement resource model, all neurons on one core (place() gives per-core figures)"}
