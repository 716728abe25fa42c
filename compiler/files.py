"""File input and output: atomic writes (nothing half-written is ever left under the
final name) and ``.npz`` reads that fail with one clear error."""
from __future__ import annotations

import os
import tempfile
import zipfile
from contextlib import contextmanager

import numpy as np


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


def read_npz(path, what: str, error=ValueError) -> dict:
    """All arrays of an ``.npz`` file, loaded without pickle.

    Parameters
    ----------
    path : str or os.PathLike
    what : str
        What the file should hold, for messages (e.g. ``"problem"``).
    error : type
        Exception class raised, with the file named, when the file is missing or is
        not a readable ``.npz`` (corrupt, truncated, pickled objects).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise error(f"{what} file {path!r} does not exist")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise error(f"{what} file {path!r} is corrupt or not a readable .npz "
                    f"({type(exc).__name__}: {exc})") from None
