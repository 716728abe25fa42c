"""Atomic file output: nothing half-written is ever left under the final name."""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager


@contextmanager
def atomic_output(path, mode="wb"):
    """Open a temporary file beside ``path`` and rename it onto ``path`` on success.

    On any exception (including KeyboardInterrupt) the temporary file is removed and
    ``path`` is left as it was. Missing parent folders are created.

    Parameters
    ----------
    path : str or os.PathLike
        Final file name.
    mode : {"wb", "w"}
        Binary or text.

    Yields
    ------
    file object
        Write to it; do not close it.
    """
    path = os.path.abspath(os.fspath(path))
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    suffix = os.path.splitext(path)[1]
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=suffix, dir=directory)
    try:
        with os.fdopen(fd, mode) as handle:
            yield handle
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
