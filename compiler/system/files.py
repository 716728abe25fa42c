"""File input and output: atomic writes (nothing half-written is ever left under the
final name), ``.npz`` reads that fail with one clear error, and the memory this
process may still use.

Writes (:func:`atomic_output`) go to a hidden temporary file beside the target
(``.tmp-XXXXXXXX<suffix>``), are flushed and ``fsync``-ed, then renamed onto the
target with ``os.replace`` and the folder is ``fsync``-ed (where the platform allows).
The new file gets the permissions ``open()`` would have given it (``0o666`` less the
umask: ``0644`` under umask ``022``), or keeps those of the file it replaces. On any
failure the temporary file is removed, the target is left as it was and the error
names the target, not the temporary file.

Reads (:func:`read_npz`) look at every requested member's declared size and ``.npy``
header (shape and dtype) before decompressing anything, and refuse a file whose
arrays would need more memory than :func:`memory_limit` allows: a small ``.npz``
declaring a multi-GiB member (a zip bomb) is refused without allocating it.
"""
from __future__ import annotations

import errno
import json
import math
import os
import stat
import tempfile
import zipfile
from contextlib import contextmanager
from typing import Iterable, Optional

import numpy as np

MEMORY_FRACTION = 0.8
"""Share of :func:`available_memory` that :func:`memory_limit` allows by default."""

READ_FRACTION = 0.25
"""Share of :func:`available_memory` the arrays of one :func:`read_npz` may take by
default: readers copy and convert what they load (a problem's arrays become float64
copies, checked for finiteness), so a file needs a few times its own size."""

MEMORY_LIMIT_ENV = "LAVA_CAUSAL_MEMORY_LIMIT"
"""Environment variable overriding :func:`memory_limit`: bytes, or a number with a
unit (``"512M"``, ``"4G"``, ``"1.5GiB"``); ``"0"``, ``"none"`` or ``"off"`` disables
the limit."""

_UNITS = {"": 1, "b": 1, "k": 2**10, "kb": 2**10, "kib": 2**10, "m": 2**20, "mb": 2**20,
          "mib": 2**20, "g": 2**30, "gb": 2**30, "gib": 2**30, "t": 2**40, "tb": 2**40,
          "tib": 2**40}


# --------------------------------------------------------------------- memory
def format_bytes(n) -> str:
    """``n`` bytes in words: ``"7.45 GiB"``, ``"12 MiB"``, ``"512 B"``."""
    n = float(n)
    for unit, size in (("EiB", 2**60), ("PiB", 2**50), ("TiB", 2**40), ("GiB", 2**30),
                       ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            value = n / size
            return f"{value:.3g} {unit}"
    return f"{n:.0f} B"


def parse_bytes(text) -> Optional[int]:
    """Bytes from ``"4G"``, ``"512MiB"``, ``"1e9"``; None for ``"0"``, ``"none"``,
    ``"off"`` or ``""`` (no limit). ValueError for anything else."""
    raw = str(text).strip().lower().replace(" ", "")
    if raw in ("", "0", "none", "off", "inf", "unlimited"):
        return None
    number = raw.rstrip("kmgtib")
    unit = raw[len(number):]
    try:
        value = float(number)
    except ValueError:
        value = math.nan
    if unit not in _UNITS or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{MEMORY_LIMIT_ENV} must be a size such as 4G, 512M or 1e9 (bytes), "
                         f"got {text!r}")
    return int(value * _UNITS[unit])


def _read_int(path) -> Optional[int]:
    try:
        with open(path) as handle:
            text = handle.read().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _proc_kib(path, key) -> Optional[int]:
    """Bytes of the ``key: N kB`` line of a /proc file (``/proc/meminfo``,
    ``/proc/self/status``), or None."""
    try:
        with open(path) as handle:
            for line in handle:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _proc_meminfo(key) -> Optional[int]:
    return _proc_kib("/proc/meminfo", key)


def _proc_status(key) -> Optional[int]:
    return _proc_kib("/proc/self/status", key)


def available_memory() -> Optional[int]:
    """Bytes this process can still allocate, or None when unknown.

    The least of: the system's available memory (``psutil`` when installed, else
    ``MemAvailable`` of ``/proc/meminfo``, else ``os.sysconf`` free pages), the room
    left under a cgroup memory limit (containers, v2 and v1), and the room left under
    ``RLIMIT_AS`` (``ulimit -v``).
    """
    found = []
    try:
        import psutil  # optional
        found.append(int(psutil.virtual_memory().available))
    except Exception:  # noqa: BLE001 - psutil missing or unusable: fall back
        value = _proc_meminfo("MemAvailable")
        if value is None:
            try:
                value = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
            except (ValueError, OSError, AttributeError):
                value = None
        if value is not None:
            found.append(int(value))
    for limit_file, usage_file in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                   ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                    "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        limit = _read_int(limit_file)
        if limit is not None and limit < 2**60:
            found.append(max(0, limit - (_read_int(usage_file) or 0)))
            break
    try:
        import resource
        soft = resource.getrlimit(resource.RLIMIT_AS)[0]
        if soft not in (resource.RLIM_INFINITY, -1) and soft > 0:
            found.append(max(0, soft - (_proc_status("VmSize") or 0)))
    except (ImportError, ValueError, OSError):
        pass
    return min(found) if found else None


def memory_limit(fraction: float = MEMORY_FRACTION) -> Optional[int]:
    """Bytes a single computation or file read may use: ``$LAVA_CAUSAL_MEMORY_LIMIT``
    when set (None when it says ``none``/``off``/``0``), else ``fraction`` of
    :func:`available_memory` (None when that is unknown)."""
    override = os.environ.get(MEMORY_LIMIT_ENV)
    if override is not None:
        return parse_bytes(override)
    available = available_memory()
    return None if available is None else int(available * fraction)


# --------------------------------------------------------------------- writing
def _umask() -> int:
    value = None
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("Umask:"):
                    value = int(line.split()[1], 8)
                    break
    except (OSError, ValueError, IndexError):
        pass
    if value is None:  # not thread-safe, but only where /proc is missing
        value = os.umask(0o022)
        os.umask(value)
    return value


def _named(exc: OSError, path: str, tmp: str) -> OSError:
    """``exc`` naming ``path`` instead of the temporary file (or no file)."""
    if exc.filename not in (None, tmp) or exc.errno is None:
        return exc
    try:
        return type(exc)(exc.errno, exc.strerror or os.strerror(exc.errno), path)
    except TypeError:  # an OSError subclass with another constructor
        return OSError(exc.errno, exc.strerror or os.strerror(exc.errno), path)


def _fsync_directory(directory: str) -> None:
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)
    try:
        fd = os.open(directory, flags)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # not supported on this file system / platform
        pass
    finally:
        os.close(fd)


def check_output_path(path, inputs: Iterable = ()) -> str:
    """Refuse, before any work, an output ``path`` that cannot be written.

    Checks that ``path`` is not an existing folder, not the same file as one of
    ``inputs``, that the nearest existing folder above it is a folder (not a file)
    that this process may write into. Missing folders in between are fine
    (:func:`atomic_output` creates them).

    Returns the absolute path. Raises ``OSError`` (naming ``path``) or ``ValueError``.
    """
    shown = os.fspath(path)
    if not shown:
        raise ValueError("the output path is empty")
    full = os.path.abspath(shown)
    if os.path.isdir(full):
        raise IsADirectoryError(errno.EISDIR, "is a directory, not a file name", shown)
    for other in inputs:
        if other is None:
            continue
        other = os.fspath(other)
        same = (os.path.exists(full) and os.path.exists(other) and os.path.samefile(full, other)) \
            or os.path.realpath(full) == os.path.realpath(other)
        if same:
            raise ValueError(f"output {shown!r} is the input file {other!r}: writing it would "
                             f"overwrite the input; choose another output name")
    parent = os.path.dirname(full)
    while not os.path.exists(parent):
        up = os.path.dirname(parent)
        if up == parent:
            break
        parent = up
    if not os.path.isdir(parent):
        raise NotADirectoryError(errno.ENOTDIR, f"{parent!r} is not a directory", shown)
    if not os.access(parent, os.W_OK | os.X_OK):
        raise PermissionError(errno.EACCES, f"cannot create files in {parent!r}", shown)
    return full


@contextmanager
def atomic_output(path, mode="wb"):
    """Open a hidden temporary file beside ``path``; on success flush, ``fsync`` and
    rename it onto ``path`` (then ``fsync`` the folder).

    On any exception (including KeyboardInterrupt) the temporary file is removed and
    ``path`` is left as it was; an ``OSError`` of the write names ``path``, never the
    temporary file. Missing parent folders are created. The file's permissions are
    ``0o666`` less the umask (``0644`` under umask ``022``), as ``open()`` gives, or
    those of the file being replaced.

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
    shown = os.fspath(path)
    path = os.path.abspath(shown)
    if os.path.isdir(path):
        raise IsADirectoryError(errno.EISDIR, "is a directory, not a file name", shown)
    directory = os.path.dirname(path)
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as exc:
        raise _named(exc, shown, directory) from None
    try:
        existing = os.stat(path)
        permissions = stat.S_IMODE(existing.st_mode) if stat.S_ISREG(existing.st_mode) else None
    except OSError:
        permissions = None
    if permissions is None:
        permissions = 0o666 & ~_umask()
    suffix = os.path.splitext(path)[1]
    try:
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=suffix, dir=directory)
    except OSError as exc:
        raise _named(exc, shown, None) from None
    try:
        try:
            os.fchmod(fd, permissions)
        except (OSError, AttributeError):  # e.g. a file system without permissions
            pass
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        raise _named(exc, shown, tmp) from None
    finally:
        if os.path.lexists(tmp):
            try:
                os.unlink(tmp)
            except OSError:
                pass
    _fsync_directory(directory)


def write_json(path, obj) -> None:
    """Write ``obj`` (numpy values converted by :func:`to_jsonable`) as indented JSON,
    atomically (:func:`atomic_output`)."""
    with atomic_output(path, "w") as handle:
        json.dump(to_jsonable(obj), handle, indent=1)


# --------------------------------------------------------------------- reading
def _npy_header(handle):
    """(shape, dtype) from the ``.npy`` header at the start of ``handle``."""
    fmt = np.lib.format
    version = fmt.read_magic(handle)
    if version == (1, 0):
        shape, _, dtype = fmt.read_array_header_1_0(handle)
    elif version == (2, 0):
        shape, _, dtype = fmt.read_array_header_2_0(handle)
    else:
        shape, _, dtype = fmt._read_array_header(handle, version)  # noqa: SLF001 - no public reader for 3.0
    return shape, dtype


def _describe(shape, dtype) -> str:
    return f"shape {tuple(shape)} of {np.dtype(dtype).name}"


class _Refused(Exception):
    """A reason to refuse a file, raised as the caller's ``error`` class."""


def _plan(archive, what, shown, keys, optional, limit, limit_words):
    """(key, ZipInfo) of the members to read, after the size checks of :func:`read_npz`."""
    members = {}
    for info in archive.infolist():
        name = info.filename
        members.setdefault(name[:-4] if name.endswith(".npy") else name, info)
    if keys is None:
        wanted = list(members)
    else:
        wanted = list(dict.fromkeys(keys))
        missing = [k for k in wanted if k not in members]
        if missing:
            raise _Refused(f"{what} file {shown!r} lacks array(s) {missing}")
        wanted += [k for k in dict.fromkeys(optional) if k in members and k not in wanted]
    plans, total = [], 0
    for key in wanted:
        info = members[key]
        declared = int(info.file_size)
        if info.filename.endswith(".npy"):
            with archive.open(info) as handle:
                shape, dtype = _npy_header(handle)
                header_bytes = handle.tell()
            if dtype.hasobject:
                raise _Refused(f"{what} file {shown!r}: array {key!r} holds Python objects "
                               f"(pickle), which are not loaded")
            needed = math.prod(int(d) for d in shape) * dtype.itemsize
            label = f"array {key!r} ({_describe(shape, dtype)})"
            cost = max(needed, declared - header_bytes)
        else:
            needed = None
            label, cost = f"member {info.filename!r}", declared
        if limit is not None and cost > limit:
            raise _Refused(f"{what} file {shown!r}: {label} needs ~{format_bytes(cost)}, more "
                           f"than {limit_words}; refusing to load it")
        if needed is not None and declared < header_bytes + needed:
            raise _Refused(f"{what} file {shown!r} is corrupt: {label} needs "
                           f"{format_bytes(needed)} but its member holds {format_bytes(declared)}")
        total += cost
        plans.append((key, info))
    if limit is not None and total > limit:
        raise _Refused(f"{what} file {shown!r}: its arrays need ~{format_bytes(total)} in all, "
                       f"more than {limit_words}; refusing to load them")
    return plans


def read_npz(path, what: str, error=ValueError, *, keys: Optional[Iterable[str]] = None,
             optional: Iterable[str] = (), limit="auto") -> dict:
    """Arrays of an ``.npz`` file, loaded without pickle, after checking their size.

    Before anything is decompressed, every member to be read has its declared
    (uncompressed) size and its ``.npy`` header (shape x itemsize) compared with
    ``limit``, one by one and in total; members not asked for are never read. So a
    small file declaring a huge array is refused without allocating it.

    Parameters
    ----------
    path : str or os.PathLike
    what : str
        What the file should hold, for messages (e.g. ``"problem"``).
    error : type
        Exception class raised, with the file named, when the file is missing, is not
        a readable ``.npz`` (corrupt, truncated, pickled objects), lacks a member of
        ``keys``, or needs more memory than ``limit``.
    keys : iterable of str, optional
        Members that must be present; only these (and ``optional``) are read. None
        (default): every member.
    optional : iterable of str
        Members read when present (with ``keys``).
    limit : int, None or "auto"
        Most bytes the arrays read may need: ``"auto"`` is
        ``memory_limit(READ_FRACTION)`` (a quarter of the available memory, or
        ``$LAVA_CAUSAL_MEMORY_LIMIT``); None means no limit.

    Returns
    -------
    dict
        Name -> array (``bytes`` for a member that is not a ``.npy``).
    """
    shown = os.fspath(path)
    if not os.path.isfile(shown):
        raise error(f"{what} file {shown!r} does not exist")
    if limit == "auto":
        limit = memory_limit(READ_FRACTION)
        limit_words = None if limit is None else (
            f"the {format_bytes(limit)} set by ${MEMORY_LIMIT_ENV}" if os.environ.get(MEMORY_LIMIT_ENV)
            else f"the {format_bytes(limit)} a file may take ({READ_FRACTION:.0%} of the memory "
                 f"available)")
    else:
        limit_words = None if limit is None else f"the limit of {format_bytes(limit)}"
    try:
        with zipfile.ZipFile(shown) as archive:
            out = {}
            for key, info in _plan(archive, what, shown, keys, optional, limit, limit_words):
                with archive.open(info) as handle:
                    if info.filename.endswith(".npy"):
                        out[key] = np.lib.format.read_array(handle, allow_pickle=False)
                    else:
                        out[key] = handle.read()
            return out
    except _Refused as exc:
        raise error(str(exc)) from None
    except PermissionError as exc:
        raise error(f"cannot read {what} file {shown!r}: {exc.strerror}") from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError, KeyError,
            NotImplementedError, RuntimeError, TypeError, ZeroDivisionError) as exc:
        raise error(f"{what} file {shown!r} is corrupt or not a readable .npz "
                    f"({type(exc).__name__}: {exc})") from None


def npz_members(path, what: str = "input", error=ValueError) -> dict:
    """Name -> ``(shape, dtype)`` of the ``.npy`` members of an ``.npz``, read from
    their headers only (nothing is decompressed beyond them), to size a computation
    before loading a file. Raises ``error`` naming the file as :func:`read_npz`."""
    shown = os.fspath(path)
    if not os.path.isfile(shown):
        raise error(f"{what} file {shown!r} does not exist")
    try:
        with zipfile.ZipFile(shown) as archive:
            out = {}
            for info in archive.infolist():
                if info.filename.endswith(".npy"):
                    with archive.open(info) as handle:
                        shape, dtype = _npy_header(handle)
                    out[info.filename[:-4]] = (tuple(int(d) for d in shape), dtype)
            return out
    except PermissionError as exc:
        raise error(f"cannot read {what} file {shown!r}: {exc.strerror}") from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError, KeyError,
            NotImplementedError, RuntimeError, TypeError) as exc:
        raise error(f"{what} file {shown!r} is corrupt or not a readable .npz "
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
