r"""The compiled network: integers ready for Lava's ``LIF`` and ``Dense`` processes.

A :class:`FixedPointNetwork` holds exactly the parameters of stock Lava processes:
one ``LIF`` population (``bias_mant``, ``bias_exp``, ``vth``, ``du``, ``dv``) and one
``Dense`` (or ``DelayDense``) process per weight split, each with its integer weight
matrix and ``weight_exp``. The effective synaptic input of one step is

.. math::

    a_i = \sum_k \mathrm{floor}\big(2^{e_k} \sum_{j} W^{(k)}_{ij} s_j\big),

so splitting a connection over a coarse (large :math:`e_k`) and a fine (small
:math:`e_k`) process gives more effective weight bits than one 8-bit mantissa.

Sparse layout (:attr:`FixedPointNetwork.is_sparse`): every split is a
``scipy.sparse.csr_matrix`` with the smallest signed integer dtype of its mantissas and
all splits share *identical* ``indptr`` and ``indices`` (the union pattern, explicit
zeros where a split contributes nothing), so kernels can stack the values as
``(n_splits, nnz)`` (:meth:`FixedPointNetwork.split_data`). ``delays`` is then None,
an int (uniform) or an integer CSR matrix with the same pattern. Building and
checking it costs O(nnz) time and memory.
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from typing import Optional, Tuple

import numpy as np
import scipy.sparse as sp

from compiler.quantization import serialize
from compiler.hardware.arithmetic import LAVA_LOIHI, ChipArithmetic
from compiler.hardware.encoding import smallest_int_dtype
from compiler.quantization.validate import FixedPointError, check_fixed_point, check_structure, integer_scalar
from compiler.system.sparse import same_pattern


def _int_array(name, value, shape):
    arr = np.asarray(value)
    if arr.shape != shape:
        raise FixedPointError(f"{name} must have shape {shape}, got {arr.shape}", field=name, value=arr.shape,
                              allowed=str(shape))
    if arr.dtype == bool or arr.dtype == object or not (np.issubdtype(arr.dtype, np.integer)
                                                        or np.issubdtype(arr.dtype, np.floating)):
        if arr.size:
            raise FixedPointError(f"{name} must hold integers, got dtype {arr.dtype}", field=name,
                                  value=str(arr.dtype), allowed="an integer dtype")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        ok = np.isfinite(arr) & (arr == np.round(arr)) & (np.abs(arr) < 2.0 ** 62)
        if not np.all(ok):
            index = tuple(int(i) for i in np.unravel_index(np.flatnonzero(~ok)[0], arr.shape))
            raise FixedPointError(f"{name} must hold finite integers: {int(np.count_nonzero(~ok))} entries are "
                                  f"not, e.g. {arr[index]!r} at index {index}", field=name, value=arr[index],
                                  allowed="finite integers", count=int(np.count_nonzero(~ok)), index=index)
    out = arr.astype(np.int64)
    out.setflags(write=False)
    return out


def _int_csr(name, value, shape, pattern=None):
    """A read-only canonical integer CSR copy of a sparse ``value`` (float values must be
    integers; the smallest signed dtype holding them), with the index arrays of
    ``pattern`` when its pattern is the same (so splits share them). O(nnz)."""
    m = sp.csr_matrix(value)
    if m.shape != shape:
        raise FixedPointError(f"{name} must have shape {shape}, got {m.shape}", field=name, value=m.shape,
                              allowed=str(shape))
    if not m.has_canonical_format:
        m = m.copy()
        m.sum_duplicates()
    data = _int_array(name, m.data, m.data.shape)
    lo, hi = (int(data.min()), int(data.max())) if data.size else (0, 0)
    data = data.astype(smallest_int_dtype(lo, hi))
    indptr, indices = m.indptr, m.indices
    if pattern is not None and same_pattern(m, pattern):
        indptr, indices = pattern.indptr, pattern.indices
    else:
        indptr, indices = indptr.copy(), indices.copy()
    out = sp.csr_matrix((data, indices, indptr), shape=shape, copy=False)
    out.has_sorted_indices = True
    for arr in (out.data, out.indices, out.indptr):
        arr.setflags(write=False)
    return out


def _common_dtype(splits):
    """The splits with one dtype, the smallest holding every split's values."""
    dtype = np.result_type(*[w.dtype for w in splits])
    if all(w.dtype == dtype for w in splits):
        return splits
    out = []
    for w in splits:
        m = sp.csr_matrix((w.data.astype(dtype), w.indices, w.indptr), shape=w.shape, copy=False)
        m.has_sorted_indices = True
        m.data.setflags(write=False)
        out.append(m)
    return tuple(out)


def _delay_field(value, n, sparse, pattern):
    """``delays``: an int scalar (uniform), an (N, N) int array (dense) or an int CSR
    matrix (sparse; pattern checked by :mod:`compiler.quantization.validate`)."""
    if np.ndim(value) == 0 and not sp.issparse(value):
        return integer_scalar("delays", value)
    if sp.issparse(value):
        if not sparse:
            raise FixedPointError("delays is sparse but the weights are dense", field="delays",
                                  value="csr_matrix", allowed="an (N, N) array or an integer")
        return _int_csr("delays", value, (n, n), pattern)
    if sparse:
        raise FixedPointError("delays of a sparse network must be an integer or a CSR matrix with the "
                              "weights' pattern", field="delays", value=f"array {np.shape(value)}",
                              allowed="an integer or a CSR matrix")
    return _int_array("delays", value, (n, n))


@dataclass(frozen=True, eq=False)
class FixedPointNetwork:
    """A network compiled to Loihi fixed point (see module docstring).

    Attributes
    ----------
    weights : tuple of ndarray, shape (N, N) each, or tuple of csr_matrix
        Integer weight mantissas, ``weights[k][i, j]`` from pre ``j`` to post ``i``
        (Lava's (out, in) layout), one matrix per Dense process ("split"); all dense
        int64, or all CSR with one shared pattern (module docstring).
    weight_exps : tuple of int
        Each split's ``weight_exp``: its summed input is shifted by this (floor).
    num_weight_bits : int
        Lava ``Dense`` ``num_weight_bits`` (8 on Loihi).
    delays : ndarray of shape (N, N), int, csr_matrix or None
        ``DelayDense`` delays in steps beyond Dense's built-in one-step latency
        (0..63): per synapse ((N, N), or CSR with the weights' pattern for sparse
        networks) or one int for all; None uses plain ``Dense``.
    bias_mant, bias_exp : ndarray, shape (N,)
        Per-neuron bias mantissa and exponent (effective bias ``bias_mant << bias_exp``).
    vth : int
        Threshold mantissa (effective threshold ``vth << 6``).
    du, dv : int
        12-bit current and voltage decays.
    dt : float
        Seconds of model time per chip step.
    hw_name : str
        Name of the hardware config it was compiled for.
    arithmetic : ChipArithmetic
        Bit widths and shifts of the target's datapath.
    info : dict
        Provenance and quantization bookkeeping (scale, float values, clip counts...).
    """

    weights: Tuple[np.ndarray, ...]
    weight_exps: Tuple[int, ...]
    bias_mant: np.ndarray
    bias_exp: np.ndarray
    vth: int
    du: int
    dv: int
    dt: float
    num_weight_bits: int = 8
    delays: Optional[np.ndarray] = None
    hw_name: str = "loihi2"
    arithmetic: ChipArithmetic = LAVA_LOIHI
    info: dict = field(default_factory=dict)

    def __post_init__(self):
        if isinstance(self.weights, np.ndarray) or sp.issparse(self.weights):
            object.__setattr__(self, "weights", (self.weights,))
        if not isinstance(self.weights, (tuple, list)) or len(self.weights) == 0:
            raise FixedPointError("weights needs at least one (N, N) matrix", field="weights",
                                  allowed="a tuple of (N, N) integer matrices")
        shape0 = np.shape(self.weights[0])
        if len(shape0) != 2 or shape0[0] != shape0[1] or shape0[0] < 1:
            raise FixedPointError(f"weights[0] must be a square (N, N) matrix with N >= 1, got shape {shape0}",
                                  field="weights[0]", value=shape0, allowed="(N, N)")
        n = shape0[0]
        sparse = sp.issparse(self.weights[0])
        if any(sp.issparse(w) != sparse for w in self.weights):
            raise FixedPointError("weights must be all dense arrays or all sparse matrices", field="weights",
                                  allowed="one layout for every split")
        if sparse:
            first = _int_csr("weights[0]", self.weights[0], (n, n))
            ws = (first,) + tuple(_int_csr(f"weights[{k}]", w, (n, n), first)
                                  for k, w in enumerate(self.weights) if k > 0)
            ws = _common_dtype(ws)
        else:
            ws = tuple(_int_array(f"weights[{k}]", w, (n, n)) for k, w in enumerate(self.weights))
        exps = tuple(integer_scalar(f"weight_exps[{k}]", e) for k, e in enumerate(np.atleast_1d(self.weight_exps)))
        if len(exps) != len(ws):
            raise FixedPointError(f"weight_exps has {len(exps)} entries for {len(ws)} weight matrices",
                                  field="weight_exps", value=len(exps), allowed=f"{len(ws)} entries")
        object.__setattr__(self, "weights", ws)
        object.__setattr__(self, "weight_exps", exps)
        object.__setattr__(self, "bias_mant", _int_array("bias_mant", self.bias_mant, (n,)))
        object.__setattr__(self, "bias_exp", _int_array("bias_exp", self.bias_exp, (n,)))
        if self.delays is not None:
            object.__setattr__(self, "delays", _delay_field(self.delays, n, sparse, ws[0]))
        for name in ("vth", "du", "dv", "num_weight_bits"):
            object.__setattr__(self, name, integer_scalar(name, getattr(self, name)))
        if (isinstance(self.dt, bool) or not isinstance(self.dt, numbers.Real)
                or not (self.dt > 0 and np.isfinite(self.dt))):
            raise FixedPointError(f"dt must be a finite number > 0 seconds, got {self.dt!r}", field="dt",
                                  value=self.dt, allowed="(0, inf)")
        object.__setattr__(self, "dt", float(self.dt))
        if not isinstance(self.hw_name, str):
            raise FixedPointError(f"hw_name must be a string, got {self.hw_name!r}", field="hw_name",
                                  value=self.hw_name, allowed="a config name")
        if self.info is None:
            object.__setattr__(self, "info", {})
        # A compiled network (it records its config in info["hw"]) is checked against that
        # config in full (compiler.quantization.validate.check_fixed_point, cached on the object, so
        # the later checks on load, before emulate and in run_lava are free); a hand-built
        # one against the ranges no config could exceed and its own arithmetic
        # (vectorized, a few reductions per array); validate(hw=...) holds it to a config.
        if isinstance(self.info, dict) and self.info.get("hw"):
            self.validate()
        else:
            check_structure(self)

    def validate(self, hw=None, *, lava: bool = False):
        """Check every integer against the hardware config ``hw`` (default: the one
        recorded in ``info["hw"]``; a hand-built network without one gets the config-free
        checks), with ``lava=True`` also against Lava's limits:
        :func:`compiler.quantization.validate.check_fixed_point`, cached per config. Returns the sign
        mode of each split; raises :class:`compiler.quantization.validate.FixedPointError` (a
        ValueError) naming the field, the value, the allowed range and the config."""
        return check_fixed_point(self, hw, lava=lava)

    @property
    def n(self) -> int:
        """Number of neurons."""
        return self.weights[0].shape[0]

    @property
    def is_sparse(self) -> bool:
        """True when the splits are CSR matrices (module docstring)."""
        return sp.issparse(self.weights[0])

    def split_data(self) -> np.ndarray:
        """Sparse networks: the splits' stored values stacked, shape (n_splits, nnz),
        aligned with ``weights[0].indptr`` / ``.indices`` (shared by every split)."""
        if not self.is_sparse:
            raise ValueError("split_data() is for sparse networks; dense splits are (N, N) arrays")
        return np.stack([w.data for w in self.weights])

    @property
    def n_splits(self) -> int:
        """Number of Dense processes each connection is spread over."""
        return len(self.weights)

    @property
    def threshold(self) -> int:
        """Effective integer threshold, ``vth << threshold_shift``."""
        return self.arithmetic.threshold_value(self.vth)

    @property
    def effective_bias(self) -> np.ndarray:
        """Per-step integer bias added to ``v``: ``bias_mant << bias_exp``."""
        return np.left_shift(self.bias_mant, self.bias_exp)

    @property
    def max_delay(self) -> int:
        """Largest DelayDense delay in steps (0 for plain Dense)."""
        if self.delays is None:
            return 0
        if np.ndim(self.delays) == 0 and not sp.issparse(self.delays):
            return int(self.delays)
        data = self.delays.data if sp.issparse(self.delays) else self.delays
        return int(np.max(data, initial=0))

    def initial_voltages(self, trials: int, seed=None) -> np.ndarray:
        """Initial voltages uniform on the integers ``0 .. threshold`` (the chip
        image of the float network's uniform draw in [reset, threshold]), shape
        (trials, N). The emulator and the Lava backend share this draw."""
        rng = np.random.default_rng(seed)
        return rng.integers(0, self.threshold, size=(trials, self.n), endpoint=True)

    def voltages_at(self, fraction) -> np.ndarray:
        """Integer voltages a ``fraction`` of the way from reset (0) to threshold,
        ``round(fraction * threshold)``: the chip image of
        :meth:`compiler.IFNetwork.voltages_at` for the same fractions."""
        return np.round(np.asarray(fraction, float) * self.threshold).astype(np.int64)

    # ------------------------------------------------------------ files
    def save(self, path) -> None:
        """Write a versioned ``.npz`` atomically (:func:`compiler.quantization.serialize.save`);
        read it back with :func:`compiler.load`."""
        serialize.save(self, path)

    @classmethod
    def load(cls, path) -> "FixedPointNetwork":
        """Read a file written by :meth:`save`, validated (:func:`compiler.quantization.serialize.load`,
        which raises ``SerializationError`` / ``InvalidNetworkFile``)."""
        return serialize.load(path, cls)
