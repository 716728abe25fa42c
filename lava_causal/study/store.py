r"""A content-addressed store of finished cells: resumable, safe against kills and corruption.

Every cell's settings (problem family and parameters, compile options, run settings)
and the code version (:data:`STORE_FORMAT`, ``lava_causal.__version__``) are written
as canonical JSON and hashed (SHA-256): the key names the cell's file,
``DIR/cells/<key[:2]>/<key>.json``, written atomically
(:func:`compiler.system.files.write_json`: a temporary file renamed into place), so a
killed run leaves every finished cell complete and none half-written. Rerunning a
spec looks each cell up by its key: only missing cells are computed, and a changed
spec reuses every cell whose settings still match. :meth:`CellStore.read` validates a
file before trusting it (JSON, format, key, the settings it records, per-trial values
finite and of the recorded count): a corrupt file is reported and recomputed, never
used.
"""
from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Optional

from compiler.system.files import write_json

from ..provenance import __version__

STORE_FORMAT = "lava-causal study cell 1"
"""Format tag of cell files; part of every key (a new format never reads old cells)."""


def canonical(settings: dict) -> str:
    """The settings as canonical JSON (sorted keys, floats as ``repr``), what the key hashes."""
    return json.dumps(settings, sort_keys=True, separators=(",", ":"), default=repr)


def file_sha256(path) -> str:
    """SHA-256 (hex) of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def cell_key(settings: dict) -> str:
    """SHA-256 of the cell's settings and the code version (hex)."""
    text = canonical({"settings": settings, "format": STORE_FORMAT, "version": __version__})
    return hashlib.sha256(text.encode()).hexdigest()


class CorruptCell(ValueError):
    """A cell file that cannot be trusted (the message says why)."""


class CellStore:
    """Cell files under ``root`` (module docstring)."""

    def __init__(self, root):
        self.root = Path(root)

    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def write(self, key: str, settings: dict, result: dict) -> None:
        """Write one finished cell atomically."""
        write_json(self.path(key), {"format": STORE_FORMAT, "key": key, "settings": settings, "result": result})

    def read(self, key: str, settings: dict) -> Optional[dict]:
        """The stored result of cell ``key``, None when absent; :class:`CorruptCell` when
        the file exists but fails validation (module docstring)."""
        path = self.path(key)
        if not path.exists():
            return None
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise CorruptCell(f"{path}: not readable JSON ({exc})") from None
        if not isinstance(record, dict) or record.get("format") != STORE_FORMAT or record.get("key") != key:
            raise CorruptCell(f"{path}: not a {STORE_FORMAT!r} file for key {key[:12]}")
        if canonical(record.get("settings")) != canonical(json.loads(canonical(settings))):
            raise CorruptCell(f"{path}: its settings do not match its key")
        _check_result(path, record.get("result"))
        return record["result"]


def _check_result(path, result) -> None:
    if not isinstance(result, dict) or not isinstance(result.get("per_trial"), dict) or not result["per_trial"]:
        raise CorruptCell(f"{path}: no per-trial metrics")
    n = result.get("trials")
    for metric, values in result["per_trial"].items():
        if not isinstance(values, list) or len(values) != n:
            raise CorruptCell(f"{path}: metric {metric!r} has {len(values) if isinstance(values, list) else '?'} "
                              f"values for {n} trials")
        if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in values):
            raise CorruptCell(f"{path}: metric {metric!r} has non-finite values")
