r"""Saving and loading compiled networks: a versioned ``.npz``.

Layout: the integer arrays (``weights_0`` .. ``weights_{k-1}``, ``bias_mant``,
``bias_exp``, ``delays``), a JSON ``header`` (scalars, the arithmetic, ``format_version``)
and the ``info`` dict, whose arrays are stored as ``info/<n>`` entries referenced from
its JSON skeleton. Integers, floats (``repr`` round-trips exactly), strings, bools,
None, lists, tuples, nested dicts and numpy arrays and scalars all come back equal
and with the same types. Files are written atomically (temporary file in the same
directory, then ``os.replace``). No pickle is used.
"""
from __future__ import annotations

import json
import os

import numpy as np

from .arithmetic import ChipArithmetic
from .files import atomic_output, read_npz
from .fixed_point import FixedPointNetwork

FORMAT_VERSION = 1
"""Version written by :func:`save`; :func:`load` refuses newer ones."""
FORMAT_NAME = "lava-causal FixedPointNetwork"


class SerializationError(ValueError):
    """A compiled-network file is missing, corrupt, of another kind, or newer than this
    reader."""


def _encode(obj, arrays):
    if isinstance(obj, dict):
        if not all(isinstance(k, str) for k in obj):
            raise TypeError("info dict keys must be strings to be saved")
        return {"__dict__": {k: _encode(v, arrays) for k, v in obj.items()}}
    if isinstance(obj, tuple):
        return {"__tuple__": [_encode(v, arrays) for v in obj]}
    if isinstance(obj, list):
        return [_encode(v, arrays) for v in obj]
    if isinstance(obj, np.ndarray):
        if obj.dtype == object:
            raise TypeError("object arrays cannot be saved")
        key = f"info/{len(arrays)}"
        arrays[key] = obj
        return {"__array__": key}
    if isinstance(obj, np.generic):
        key = f"info/{len(arrays)}"
        arrays[key] = np.asarray(obj)
        return {"__scalar__": key}
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    if isinstance(obj, float):
        return {"__float__": repr(obj)}
    raise TypeError(f"cannot save a value of type {type(obj).__name__} in info")


def _decode(obj, arrays):
    if isinstance(obj, list):
        return [_decode(v, arrays) for v in obj]
    if isinstance(obj, dict):
        if "__dict__" in obj:
            return {k: _decode(v, arrays) for k, v in obj["__dict__"].items()}
        if "__tuple__" in obj:
            return tuple(_decode(v, arrays) for v in obj["__tuple__"])
        if "__array__" in obj:
            return arrays[obj["__array__"]]
        if "__scalar__" in obj:
            return arrays[obj["__scalar__"]][()]
        if "__float__" in obj:
            return float(obj["__float__"])
        raise SerializationError(f"unknown entry {sorted(obj)} in the info skeleton")
    return obj


def save(fixed: FixedPointNetwork, path) -> None:
    """Write ``fixed`` to ``path`` (see the module docstring). The file is replaced
    atomically: readers never see a partial file."""
    if not isinstance(fixed, FixedPointNetwork):
        raise TypeError(f"fixed must be a FixedPointNetwork, got {type(fixed).__name__}")
    path = os.fspath(path)
    arrays = {}
    info_json = json.dumps(_encode(dict(fixed.info), arrays), allow_nan=True)
    header = {
        "format": FORMAT_NAME, "format_version": FORMAT_VERSION,
        "n_splits": fixed.n_splits, "weight_exps": list(fixed.weight_exps),
        "vth": fixed.vth, "du": fixed.du, "dv": fixed.dv, "dt": repr(fixed.dt),
        "num_weight_bits": fixed.num_weight_bits, "hw_name": fixed.hw_name,
        "has_delays": fixed.delays is not None,
        "arithmetic": {k: int(getattr(fixed.arithmetic, k)) for k in ChipArithmetic.__dataclass_fields__},
    }
    payload = {f"weights_{k}": w for k, w in enumerate(fixed.weights)}
    payload.update(bias_mant=fixed.bias_mant, bias_exp=fixed.bias_exp,
                   header=np.array(json.dumps(header)), info=np.array(info_json))
    if fixed.delays is not None:
        payload["delays"] = fixed.delays
    payload.update(arrays)
    with atomic_output(path) as fh:
        np.savez(fh, **payload)


def load(path) -> FixedPointNetwork:
    """Read a file written by :func:`save`.

    Raises
    ------
    SerializationError
        Missing or corrupt file, not a compiled network, or a ``format_version``
        newer than :data:`FORMAT_VERSION`.
    """
    path = os.fspath(path)
    contents = read_npz(path, "compiled network", SerializationError)
    if "header" not in contents:
        raise SerializationError(f"{path!r} is not a compiled network file (no header)")
    try:
        header = json.loads(str(contents["header"]))
    except json.JSONDecodeError as exc:
        raise SerializationError(f"{path!r}: corrupt header ({exc})") from None
    if header.get("format") != FORMAT_NAME:
        raise SerializationError(f"{path!r} is not a compiled network file (format {header.get('format')!r})")
    version = header.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise SerializationError(f"{path!r}: invalid format_version {version!r}")
    if version > FORMAT_VERSION:
        raise SerializationError(f"{path!r} has format_version {version}, newer than this reader "
                                 f"supports ({FORMAT_VERSION}); update lava-causal to read it")
    try:
        k = int(header["n_splits"])
        weights = tuple(contents[f"weights_{i}"] for i in range(k))
        info = _decode(json.loads(str(contents["info"])), contents)
        return FixedPointNetwork(
            weights=weights, weight_exps=tuple(header["weight_exps"]),
            bias_mant=contents["bias_mant"], bias_exp=contents["bias_exp"],
            vth=header["vth"], du=header["du"], dv=header["dv"], dt=float(header["dt"]),
            num_weight_bits=header["num_weight_bits"],
            delays=contents["delays"] if header["has_delays"] else None,
            hw_name=header["hw_name"], arithmetic=ChipArithmetic(**header["arithmetic"]), info=info)
    except (KeyError, TypeError, ValueError, json.JSONDecodeError) as exc:
        raise SerializationError(f"{path!r}: corrupt or incomplete compiled network "
                                 f"({type(exc).__name__}: {exc})") from None
