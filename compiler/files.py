"""File input and output: atomic writes (nothing half-written is ever left under the
final name) and ``.npz`` reads that fail with one clear error."""
from __future__ import annotations

import json
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


def to_jsonable(obj):
    """Convert numpy arrays and scalars inside dicts and lists to plain Python."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def write_json(path, obj) -> None:
    """Write ``obj`` (numpy values converted by :func:`to_jsonable`) as indented JSON,
    atomically (:func:`atomic_output`)."""
    with atomic_output(path, "w") as handle:
        json.dump(to_jsonable(obj), handle, indent=1)
