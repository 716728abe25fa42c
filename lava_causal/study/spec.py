r"""A study specification: factors and their levels over a problem family, as TOML.

Minimal spec (every other key has a default)::

    [problem]
    family = "discrimination"      # a paper task or a controlled family (lava_causal.study.families)
    seed = 0                       # other keys: the family's parameters, held fixed
    [factors]                      # name = [levels]: the full factorial design is run
    weight_bits = [4, 8]
    dt = [1e-4, 2e-4]
    [run]
    hw = "loihi2"
    duration = 0.5
    trials = 2
    seed = 1
    metrics = ["relative_error"]

A factor may name a **run** setting (:data:`RUN_KEYS`: ``hw``, ``dt``, ``duration``,
``tau_syn``, ``backend``), a **compile** option (:data:`COMPILE_KEYS`, passed to
:func:`compiler.compile`), or a **problem** parameter (``problem_seed`` or any
parameter of the family, e.g. ``overlap``): every combination of the levels is one
*cell*. Fixed values of the same names go in ``[run]``, ``[compile]`` and
``[problem]``. A user's own problem: ``[problem] file = "problem.npz"`` (a file of
:meth:`lava_causal.CausalProblem.save`; relative to the spec's folder), with the
SHA-256 of its bytes in every cell's key. ``[run]`` also takes ``trials`` (per cell, batched in one emulator
call), ``seed`` (initial states: the same in every cell with the same problem size, so
cells are paired), ``metrics`` (names of :data:`lava_causal.metrics.METRICS`),
``ci_width`` (optional target precision: a cell adds trials, the first ones
unchanged, until the 95 % interval of its first metric is at most that wide, up to
``max_trials``).

:func:`load_spec` validates everything before any cell runs and names the section,
the key, the value and what is allowed.
"""
from __future__ import annotations

import itertools
import math
import numbers
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from ..metrics import METRICS

RUN_KEYS = {"hw": "loihi2", "dt": 1e-4, "duration": 1.0, "tau_syn": 5e-3, "backend": "emulator"}
"""Run settings and their defaults (also usable as factors)."""
RUN_ONLY_KEYS = {"trials": 8, "seed": 0, "metrics": ["relative_error"], "ci_width": None, "max_trials": 256}
"""``[run]`` keys that cannot be factors."""
BACKENDS = ("emulator", "float")
"""``backend``: the bit-exact emulator of the compiled network, or the float network."""
COMPILE_KEYS = ("weight_bits", "bias_bits", "weight_splits", "rounding", "reset_compensation",
                "truncation_compensation", "weight_compensation", "bias_rounding", "coupling_shift",
                "voltage_headroom", "max_splits", "strict")
"""Options of :func:`compiler.compile` a study may set or vary."""
SECTIONS = ("problem", "factors", "run", "compile")


class SpecError(ValueError):
    """A study spec that cannot run, with the section, key, value and what is allowed."""


@dataclass(frozen=True)
class Spec:
    """A validated study spec (:func:`load_spec`).

    Attributes
    ----------
    family : str
    problem : dict
        Fixed problem parameters (``seed`` included).
    factors : dict
        Factor name -> list of levels, in the spec's order.
    run : dict
        Run settings (:data:`RUN_KEYS` and :data:`RUN_ONLY_KEYS`).
    compile : dict
        Fixed compile options.
    source : str
        Where the spec came from (a path or "<dict>").
    """

    family: str
    problem: dict
    factors: Dict[str, list]
    run: dict
    compile: dict
    source: str = "<dict>"
    kinds: Dict[str, str] = field(default_factory=dict)

    def cells(self) -> List[dict]:
        """Every combination of the factor levels, as cell settings (``problem``,
        ``compile``, ``run`` and the ``levels`` that made it), in row-major order of
        the factors."""
        names = list(self.factors)
        out = []
        for combo in itertools.product(*(self.factors[n] for n in names)):
            problem, options = dict(self.problem), dict(self.compile)
            run = {k: self.run[k] for k in (*RUN_KEYS, *RUN_ONLY_KEYS)}
            for name, level in zip(names, combo):
                kind = self.kinds[name]
                if kind == "problem":
                    problem["seed" if name == "problem_seed" else name] = level
                elif kind == "compile":
                    options[name] = level
                else:
                    run[name] = level
            out.append({"family": self.family, "problem": problem, "compile": options, "run": run,
                        "levels": dict(zip(names, combo))})
        return out


def load_spec(source) -> Spec:
    """A :class:`Spec` from a TOML file path, TOML text or a dict (validated)."""
    if isinstance(source, dict):
        data, where = source, "<dict>"
    else:
        text, where = _read(source)
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise SpecError(f"{where}: not valid TOML: {exc}") from None
    return validate(data, where)


def _read(source):
    path = Path(source)
    if "\n" not in str(source) and path.suffix == ".toml":
        try:
            return path.read_text(), str(path)
        except OSError as exc:
            raise SpecError(f"cannot read the study spec {str(path)!r}: {exc.strerror or exc}") from None
    return str(source), "<text>"


def validate(data: dict, where: str = "<dict>") -> Spec:
    """Check every section and key of a parsed spec (module docstring)."""
    from .families import FAMILIES   # the controlled families and the paper's presets

    unknown = sorted(set(data) - set(SECTIONS))
    if unknown:
        raise SpecError(f"{where}: unknown section [{unknown[0]}]; allowed: {', '.join(SECTIONS)}")
    problem = dict(data.get("problem", {}))
    if "file" in problem:
        return _file_spec(data, problem, where)
    family = problem.pop("family", None)
    if family not in FAMILIES:
        raise SpecError(f"{where}: [problem] family = {family!r} is not a known family; allowed: "
                        f"{', '.join(sorted(FAMILIES))}")
    _, defaults, _ranges = FAMILIES[family]
    problem.setdefault("seed", 0)
    _integer(where, "problem", "seed", problem["seed"], 0)
    for key in problem:
        if key != "seed" and key not in defaults:
            raise SpecError(f"{where}: [problem] {key} is not a parameter of family {family!r}; allowed: "
                            f"{', '.join(['seed', *sorted(defaults)])}")
    return _finish(where, data, family, problem, defaults)


def _finish(where, data, family, problem, defaults) -> Spec:
    """Compile options, factors and run settings of a spec whose problem section is checked."""
    for key in data.get("run", {}):
        if key not in RUN_KEYS and key not in RUN_ONLY_KEYS:
            raise SpecError(f"{where}: [run] unknown key {key!r}; allowed: "
                            f"{', '.join([*RUN_KEYS, *RUN_ONLY_KEYS])}")
    options = dict(data.get("compile", {}))
    for key in options:
        if key not in COMPILE_KEYS:
            raise SpecError(f"{where}: [compile] unknown option {key!r}; allowed: {', '.join(COMPILE_KEYS)}")
    run = {**RUN_KEYS, **RUN_ONLY_KEYS, **data.get("run", {})}
    factors, kinds = {}, {}
    for name, levels in data.get("factors", {}).items():
        kinds[name] = _kind(where, name, family, defaults)
        if not isinstance(levels, list) or not levels:
            raise SpecError(f"{where}: [factors] {name} must be a non-empty list of levels, got {levels!r}")
        if len({repr(v) for v in levels}) != len(levels):
            raise SpecError(f"{where}: [factors] {name} repeats a level: {levels!r}")
        fixed_section = {"problem": data.get("problem", {}), "compile": options, "run": data.get("run", {})}[kinds[name]]
        if (name if name != "problem_seed" else "seed") in fixed_section and kinds[name] != "run":
            raise SpecError(f"{where}: {name} is both a factor and fixed in [{kinds[name]}]; give it once")
        factors[name] = list(levels)
    _check_run(where, run)
    for name, levels in factors.items():
        if kinds[name] == "run":
            for level in levels:
                _check_run(where, {**run, name: level}, f"[factors] {name} level")
    return Spec(family=family, problem=problem, factors=factors, run=run, compile=options, source=where,
                kinds=kinds)


def _file_spec(data, problem, where) -> Spec:
    """``[problem] file = "problem.npz"``: the user's own problem; the cells' keys hold
    the SHA-256 of the file's bytes, so a changed file never reuses old cells."""
    from .store import file_sha256

    unknown = sorted(set(problem) - {"file", "family"})
    if unknown or problem.get("family", "file") != "file":
        raise SpecError(f"{where}: [problem] with a file takes no other keys (family, parameters), got "
                        f"{', '.join(unknown) or 'family = ' + repr(problem.get('family'))}")
    path = Path(problem["file"])
    if not path.is_absolute() and where not in ("<dict>", "<text>"):
        path = Path(where).parent / path
    try:
        digest = file_sha256(path)
    except OSError as exc:
        raise SpecError(f"{where}: [problem] file {str(path)!r} cannot be read: {exc.strerror or exc}") from None
    from ..problem import CausalProblem

    try:
        CausalProblem.load(path)
    except ValueError as exc:
        raise SpecError(f"{where}: [problem] file: {exc}") from None
    return _finish(where, data, "file", {"file": str(path.resolve()), "sha256": digest}, {})


def _kind(where, name, family, defaults) -> str:
    if name in RUN_KEYS:
        return "run"
    if name in COMPILE_KEYS:
        return "compile"
    if (name == "problem_seed" and family != "file") or name in defaults:
        return "problem"
    raise SpecError(f"{where}: [factors] {name!r} is neither a run setting ({', '.join(RUN_KEYS)}), a compile "
                    f"option ({', '.join(COMPILE_KEYS)}) nor a parameter of family {family!r} "
                    f"({', '.join(['problem_seed', *sorted(defaults)])})")


def _check_run(where, run, label="[run]"):
    for key in ("dt", "duration", "tau_syn"):
        value = run[key]
        low_ok = value >= 0 if key == "tau_syn" else value > 0
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or not low_ok:
            raise SpecError(f"{where}: {label} {key} = {value!r} must be a finite number "
                            f"{'>= 0' if key == 'tau_syn' else '> 0'} (seconds)")
    if run["backend"] not in BACKENDS:
        raise SpecError(f"{where}: {label} backend = {run['backend']!r}; allowed: {', '.join(BACKENDS)}")
    if not isinstance(run["hw"], str) or not run["hw"]:
        raise SpecError(f"{where}: {label} hw = {run['hw']!r} must be a hardware config name or path")
    if int(round(run["duration"] / run["dt"])) < 4:
        raise SpecError(f"{where}: {label} duration {run['duration']} s must cover at least 4 steps of "
                        f"dt = {run['dt']} s")
    _integer(where, "run", "trials", run["trials"], 1)
    _integer(where, "run", "seed", run["seed"], 0)
    _integer(where, "run", "max_trials", run["max_trials"], run["trials"])
    metrics = run["metrics"]
    if not isinstance(metrics, list) or not metrics or any(m not in METRICS for m in metrics):
        raise SpecError(f"{where}: [run] metrics = {metrics!r}; allowed: a non-empty list of {', '.join(METRICS)}")
    width = run["ci_width"]
    if width is not None and (isinstance(width, bool) or not isinstance(width, numbers.Real) or not width > 0):
        raise SpecError(f"{where}: [run] ci_width = {width!r} must be a number > 0 (a fraction)")


def _integer(where, section, key, value, low):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise SpecError(f"{where}: [{section}] {key} = {value!r} must be an integer >= {low}")
