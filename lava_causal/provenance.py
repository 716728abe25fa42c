"""How a result was made: package versions, recorded with every result."""
from __future__ import annotations

import platform
from functools import lru_cache
from importlib import metadata

__version__ = "0.1.0"
"""This package's version (also ``lava_causal.__version__``)."""

_PACKAGES = ("lava-causal", "lava-nc", "numpy", "scipy", "numba")


def versions() -> dict:
    """Python and key package versions (``None`` for a package not installed); a fresh
    dict each call."""
    return dict(_versions())


@lru_cache(maxsize=1)
def _versions() -> dict:
    """The installed versions, read once per process (importlib.metadata scans the
    installed distributions: ~50 ms)."""
    out = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out
