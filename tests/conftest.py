"""Shared pytest options and markers.

* ``slow``: long-running tests, skipped unless ``--runslow`` or ``RUN_SLOW=1``.
* ``lava``: needs lava-nc (the ``lava`` extra, Python 3.10 only); skipped, with the
  reason, where it is not installed. ``make test`` runs ``-m "not lava"`` on the core
  Python and ``-m lava`` in ``.venv-lava``.
* ``loihi``: needs Intel's lava-loihi and Loihi 2 hardware; skipped unless
  ``lava.utils.loihi.is_installed()``.
"""
import importlib.util
import os
import platform

import pytest


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False,
                     help="also run tests marked slow (or set RUN_SLOW=1)")


def _run_slow(config) -> bool:
    return config.getoption("--runslow") or os.environ.get("RUN_SLOW", "") not in ("", "0")


def _loihi_installed() -> bool:
    try:
        from compiler.backends.lava import loihi_available

        return loihi_available()
    except Exception:  # noqa: BLE001 - no Lava at all means no Loihi either
        return False


def pytest_collection_modifyitems(config, items):
    skip_slow = None if _run_slow(config) else pytest.mark.skip(
        reason="slow: use --runslow or RUN_SLOW=1")
    skip_lava = None
    if importlib.util.find_spec("lava") is None:
        skip_lava = pytest.mark.skip(reason=f"needs lava-nc, which installs only on Python 3.10 "
                                            f"(this is {platform.python_version()}): the 'lava' extra, "
                                            f"or make test's .venv-lava")
    needs_loihi = [item for item in items if "loihi" in item.keywords]
    skip_loihi = None
    if needs_loihi and not _loihi_installed():
        skip_loihi = pytest.mark.skip(reason="needs Intel's lava-loihi and Loihi 2 hardware")
    for item in items:
        if skip_slow is not None and "slow" in item.keywords:
            item.add_marker(skip_slow)
        if skip_loihi is not None and "loihi" in item.keywords:
            item.add_marker(skip_loihi)
        if skip_lava is not None and item.get_closest_marker("lava") is not None:
            item.add_marker(skip_lava)
