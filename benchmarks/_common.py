"""What every benchmark shares: machine provenance, best-of timing, atomic output."""
from __future__ import annotations

import datetime
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from compiler.system.files import atomic_output  # noqa: E402
from lava_causal.provenance import versions  # noqa: E402

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, else what platform knows."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def provenance() -> dict:
    """Date, machine, load and package versions, for the foot of a results file."""
    return {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "platform": platform.platform(), "cpu": cpu_model(), "cores": os.cpu_count(),
            "load average (1, 5, 15 min)": ", ".join(f"{x:.2f}" for x in os.getloadavg()),
            **versions()}


def provenance_lines(prov: dict) -> list:
    """Markdown bullet lines of :func:`provenance`."""
    return ["", "Provenance:", ""] + [f"- {k}: {v}" for k, v in prov.items()]


def best_of(repeats: int, run):
    """The smallest wall time of ``repeats`` calls of ``run()``, and the last result."""
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - start)
    return best, result


def write_result(path, text: str) -> None:
    """Write a results file atomically and say where."""
    with atomic_output(path, "w") as handle:
        handle.write(text)
    print(f"wrote {path}")


def publish(path, text: str, write: bool) -> int:
    """Print a benchmark's report and, when ``write`` (not a quick run), write it to
    ``path``; returns the exit status 0."""
    print(text)
    if write:
        write_result(path, text)
    return 0
