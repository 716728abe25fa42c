r"""Saving and loading compiled networks: a versioned ``.npz``.

Layout: the integer arrays (``weights_0`` .. ``weights_{k-1}``, ``bias_mant``,
``bias_exp``, ``delays``), a JSON ``header`` (scalars, the arithmetic, ``format_version``)
and the ``info`` dict, whose arrays are stored as ``info/<n>`` entries referenced from
its JSON skeleton. Integers, floats (``repr`` round-trips exactly), strings, bools,
None, lists, tuples, nested dicts and numpy arrays and scalars all come back equal
and with the same types. Files are written atomically (temporary file in the same
directory, then ``os.replace``). No pickle is used.

Sparse networks (format version 2, header ``"layout": "csr"``): the pattern shared by
every split is stored once (``weights_indptr``, ``weights_indices``, header
``"shape"``) and ``weights_<k>`` holds split ``k``'s stored values (1-D, their integer
dtype); a per-synapse sparse delay stores its values as ``delays`` (1-D, the same
pattern), a uniform delay a 0-d ``delays`` (header ``"delays_layout"``: ``"dense"``,
``"csr"`` or ``"scalar"``). CSR matrices in ``info`` are stored as their three arrays.
Dense networks with per-synapse delays are still written as version 1, and version-1
files still load. File size and load memory: O(nnz).

The header's ``arithmetic`` table holds the integer fields of :class:`ChipArithmetic`
and, for a chip that does not reset hard, ``"reset": "subtract"`` (hypothetical
subtractive-reset configs such as ``loihi2_subtractive``); a file without the key (every
hard-reset network, and every file written before the key existed) reads as
``"hard"``. :func:`load` accepts only ``"hard"`` and ``"subtract"``.

:func:`load` trusts nothing in the file: the header's scalars must be JSON integers,
the arrays integer dtypes, ``n_splits`` must match the ``weights_<k>`` entries stored,
and the network must pass :func:`compiler.quantization.validate.check_fixed_point` against the
config it records in ``info["hw"]`` (every integer within that config's ranges,
arithmetic and config agreeing, zero diagonal, split counts agreeing); a file without
that record (saved from a hand-built network, or stripped) is held to the shipped
config its header's ``hw_name`` names, if any. A file that fails raises
:class:`InvalidNetworkFile` naming the file, the field, the value and the allowed range.
"""
from __future__ import annotations


import json
import os

import numpy as np
import scipy.sparse as sp

from compiler.hardware.arithmetic import RESET_MODES, ChipArithmetic
from compiler.system.files import atomic_output, read_npz
from compiler.hardware.config import list_hardware
from compiler.quantization.validate import FixedPointError, check_fixed_point


FORMAT_VERSION = 2
"""Newest version :func:`save` writes (2: sparse layout or a scalar delay; dense
networks are still written as 1); :func:`load` refuses newer ones."""
_SPARSE_MEMBERS = ("weights_indptr", "weights_indices")
FORMAT_NAME = "lava-causal FixedPointNetwork"


class SerializationError(ValueError):
    """A compiled-network file is missing, corrupt, of another kind, or newer than this
    reader."""


class InvalidNetworkFile(SerializationError, FixedPointError):
    """A compiled-network file whose values are well-formed but out of range for its
    hardware config (tampered or damaged): both a :class:`SerializationError` and a
    :class:`compiler.quantization.validate.FixedPointError` (``field``, ``value``, ``allowed`` ...)."""

    @classmethod
    def wrap(cls, path: str, exc: FixedPointError) -> "InvalidNetworkFile":
        return cls(f"{path!r}: invalid compiled network: {exc}", field=exc.field, value=exc.value,
                   allowed=exc.allowed, count=exc.count, index=exc.index, config=exc.config)


_HEADER_INTS = ("n_splits", "vth", "du", "dv", "num_weight_bits")
_ARRAYS = ("bias_mant", "bias_exp", "delays")


def _check_header(path, header, contents):
    """Types of the header's fields and of the stored arrays, and n_splits against the
    ``weights_<k>`` entries (before anything is built from them)."""
    def bad(field, value, allowed):
        raise InvalidNetworkFile(f"{path!r}: invalid compiled network: header {field} = {value!r} must be "
                                 f"{allowed}", field=field, value=value, allowed=allowed)

    for key in _HEADER_INTS + ("weight_exps", "dt", "hw_name", "has_delays", "arithmetic"):
        if key not in header:
            raise SerializationError(f"{path!r}: corrupt or incomplete compiled network (header has no {key!r})")
    for key in _HEADER_INTS:
        if type(header[key]) is not int:
            bad(key, header[key], "an integer")
    exps = header["weight_exps"]
    if not isinstance(exps, list) or not all(type(e) is int for e in exps):
        bad("weight_exps", exps, "a list of integers")
    if not isinstance(header["dt"], str):
        bad("dt", header["dt"], "a float written as a string")
    if not isinstance(header["hw_name"], str):
        bad("hw_name", header["hw_name"], "a string")
    if not isinstance(header["has_delays"], bool):
        bad("has_delays", header["has_delays"], "true or false")
    arith = header["arithmetic"]
    if not isinstance(arith, dict) or not all(type(v) is int for k, v in arith.items() if k != "reset"):
        bad("arithmetic", arith, "a table of integers (and the reset)")
    if arith.get("reset", "hard") not in RESET_MODES:
        bad("arithmetic.reset", arith["reset"], " or ".join(f'"{m}"' for m in RESET_MODES))
    k = header["n_splits"]
    layout = header.get("layout", "dense")
    if layout not in ("dense", "csr"):
        bad("layout", layout, '"dense" or "csr"')
    delays_layout = header.get("delays_layout", "dense")
    if delays_layout not in ("dense", "csr", "scalar") or (delays_layout == "csr" and layout != "csr"):
        bad("delays_layout", delays_layout, '"dense", "scalar" or (sparse networks) "csr"')
    if layout == "csr":
        shape = header.get("shape")
        if not (isinstance(shape, list) and len(shape) == 2 and all(type(x) is int and x >= 1 for x in shape)):
            bad("shape", shape, "[N, N] with integers N >= 1")
    stored = sorted((name for name in contents if name.startswith("weights_") and name[8:].isdigit()),
                    key=lambda name: int(name[8:]))
    expected = [f"weights_{i}" for i in range(k)] if k >= 1 else []
    if k < 1 or stored != expected:
        raise InvalidNetworkFile(
            f"{path!r}: invalid compiled network: header n_splits = {k} disagrees with the {len(stored)} weight "
            f"matrices stored ({', '.join(stored) or 'none'}); allowed: n_splits = the number of weights_<k> "
            f"entries, numbered from 0", field="n_splits", value=k, allowed=f"{len(stored)} (stored)")
    if len(exps) != k:
        raise InvalidNetworkFile(f"{path!r}: invalid compiled network: header weight_exps has {len(exps)} entries "
                                 f"for n_splits = {k}", field="weight_exps", value=len(exps), allowed=f"{k} entries")
    names = stored + [a for a in _ARRAYS if a != "delays" or header["has_delays"]]
    if layout == "csr":
        names += list(_SPARSE_MEMBERS)
    for name in names:
        if name not in contents:
            raise SerializationError(f"{path!r}: corrupt or incomplete compiled network (no {name!r} array)")
        arr = contents[name]
        if not np.issubdtype(arr.dtype, np.integer) or arr.dtype == bool:
            raise InvalidNetworkFile(f"{path!r}: invalid compiled network: {name} has dtype {arr.dtype}; allowed: "
                                     f"an integer dtype", field=name, value=str(arr.dtype),
                                     allowed="an integer dtype")


def _encode(obj, arrays):
    if isinstance(obj, dict):
        if not all(isinstance(k, str) for k in obj):
            raise TypeError("info dict keys must be strings to be saved")
        return {"__dict__": {k: _encode(v, arrays) for k, v in obj.items()}}
    if isinstance(obj, tuple):
        return {"__tuple__": [_encode(v, arrays) for v in obj]}
    if isinstance(obj, list):
        return [_encode(v, arrays) for v in obj]
    if sp.issparse(obj):
        m = sp.csr_matrix(obj)
        keys = {}
        for part in ("data", "indices", "indptr"):
            key = f"info/{len(arrays)}"
            arrays[key] = getattr(m, part)
            keys[part] = key
        return {"__csr__": keys, "shape": [int(x) for x in m.shape]}
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
        if "__csr__" in obj:
            keys = obj["__csr__"]
            return sp.csr_matrix((arrays[keys["data"]], arrays[keys["indices"]], arrays[keys["indptr"]]),
                                 shape=tuple(obj["shape"]))
        raise SerializationError(f"unknown entry {sorted(obj)} in the info skeleton")
    return obj


def _arithmetic_header(ar: ChipArithmetic) -> dict:
    """``ar`` as the header's ``arithmetic`` table: the integer fields, and ``reset``
    only when it is not ``"hard"`` (so hard-reset files are what earlier versions wrote
    and read; a file without the key reads as ``"hard"``)."""
    out = {k: int(getattr(ar, k)) for k in ChipArithmetic.__dataclass_fields__ if k != "reset"}
    if ar.reset != "hard":
        out["reset"] = ar.reset
    return out


def save(fixed, path) -> None:
    """Write ``fixed`` to ``path`` (see the module docstring). The file is replaced
    atomically: readers never see a partial file. Called by
    :meth:`FixedPointNetwork.save`, which checks the type (this module does not import
    :mod:`compiler.quantization.fixed_point`, which imports it)."""
    path = os.fspath(path)
    arrays = {}
    info_json = json.dumps(_encode(dict(fixed.info), arrays), allow_nan=True)
    sparse = sp.issparse(fixed.weights[0])
    delays = fixed.delays
    delays_layout = ("scalar" if delays is not None and np.ndim(delays) == 0 and not sp.issparse(delays)
                     else "csr" if sp.issparse(delays) else "dense")
    header = {
        "format": FORMAT_NAME, "format_version": 2 if sparse or delays_layout != "dense" else 1,
        "n_splits": fixed.n_splits, "weight_exps": list(fixed.weight_exps),
        "vth": fixed.vth, "du": fixed.du, "dv": fixed.dv, "dt": repr(fixed.dt),
        "num_weight_bits": fixed.num_weight_bits, "hw_name": fixed.hw_name,
        "has_delays": fixed.delays is not None,
        "arithmetic": _arithmetic_header(fixed.arithmetic),
    }
    if sparse:
        header.update(layout="csr", shape=[int(x) for x in fixed.weights[0].shape])
        payload = {f"weights_{k}": w.data for k, w in enumerate(fixed.weights)}
        payload.update(weights_indptr=fixed.weights[0].indptr, weights_indices=fixed.weights[0].indices)
    else:
        payload = {f"weights_{k}": w for k, w in enumerate(fixed.weights)}
    if delays_layout != "dense":
        header["delays_layout"] = delays_layout
    payload.update(bias_mant=fixed.bias_mant, bias_exp=fixed.bias_exp,
                   header=np.array(json.dumps(header)), info=np.array(info_json))
    if delays is not None:
        payload["delays"] = (delays.data if sp.issparse(delays) else np.asarray(delays))
    payload.update(arrays)
    with atomic_output(path) as fh:
        np.savez(fh, **payload)


def load(path, network_class):
    """Read a file written by :func:`save` into a ``network_class``
    (:class:`compiler.FixedPointNetwork`; :func:`compiler.load` passes it).

    Raises
    ------
    SerializationError
        Missing or corrupt file, not a compiled network, or a ``format_version``
        newer than :data:`FORMAT_VERSION`.
    InvalidNetworkFile
        (a SerializationError) Values out of range for the recorded hardware config,
        mistyped header fields or arrays, ``n_splits`` disagreeing with the stored
        matrices (see the module docstring); the message names the file, the field, the
        value and the allowed range.
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
    _check_header(path, header, contents)
    try:
        k = header["n_splits"]
        weights = tuple(contents[f"weights_{i}"] for i in range(k))
        delays = contents["delays"] if header["has_delays"] else None
        if header.get("layout", "dense") == "csr":
            shape = tuple(header["shape"])
            indptr, indices = contents["weights_indptr"], contents["weights_indices"]
            weights = tuple(sp.csr_matrix((w, indices, indptr), shape=shape) for w in weights)
            if delays is not None and header.get("delays_layout") == "csr":
                delays = sp.csr_matrix((delays, indices, indptr), shape=shape)
        if delays is not None and header.get("delays_layout") == "scalar":
            delays = delays[()]
        info = _decode(json.loads(str(contents["info"])), contents)
        fixed = network_class(
            weights=weights, weight_exps=tuple(header["weight_exps"]),
            bias_mant=contents["bias_mant"], bias_exp=contents["bias_exp"],
            vth=header["vth"], du=header["du"], dv=header["dv"], dt=float(header["dt"]),
            num_weight_bits=header["num_weight_bits"],
            delays=delays,
            hw_name=header["hw_name"], arithmetic=ChipArithmetic(**header["arithmetic"]), info=info)
    except FixedPointError as exc:
        raise InvalidNetworkFile.wrap(path, exc) from None
    except (KeyError, TypeError, ValueError, json.JSONDecodeError) as exc:
        raise SerializationError(f"{path!r}: corrupt or incomplete compiled network "
                                 f"({type(exc).__name__}: {exc})") from None
    # A compiled network records its config (info["hw"]); a file without that record is
    # held to the shipped config its header names, when there is one.
    recorded = isinstance(fixed.info, dict) and bool(fixed.info.get("hw"))
    target = None if recorded or fixed.hw_name not in list_hardware() else fixed.hw_name
    try:
        check_fixed_point(fixed, hw=target)
    except FixedPointError as exc:
        raise InvalidNetworkFile.wrap(path, exc) from None
    return fixed
