"""How a result was made: package versions, recorded with every result."""
from __future__ import annotations

import platform
from importlib import metadata

_PACKAGES = ("lava-causal", "lava-nc", "numpy", "scipy", "numba")


def versions() -> dict:
    """Python and key package versions (``None`` for a package not installed)."""
    out = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out
