r"""Exactly representable integers: weight mantissas and exponents, bias mantissas.

Weights (Lava ``Dense``, ``lava/utils/weightutils.py``)
-------------------------------------------------------
A Dense process clips its integer matrix to its ``R``-bit register (``R = 8``) by sign
mode, then floors away the ``R - n_w + mixed`` lowest bits (``n_w`` =
``num_weight_bits``, the **weight bits** of :mod:`compiler.hardware.config`), and shifts each
step's summed input by ``weight_exp`` (floor). The values it uses exactly are therefore

.. math::

    m = n \cdot 2^{s}, \qquad s = R - n_w + [\text{mixed}], \qquad
    n \in \begin{cases}
        [0,\ 2^{n_w} - 1] & \text{all } m \ge 0 \text{ (excitatory)}\\
        [-(2^{n_w} - 1),\ 0] & \text{all } m \le 0 \text{ (inhibitory)}\\
        [-2^{n_w - 1},\ 2^{n_w - 1} - 1] & \text{mixed signs}
    \end{cases}

(for ``R = n_w = 8``: 0..255, -255..0, even values in -256..254; for ``n_w = 6``:
multiples of 4 in 0..252 or -252..0, multiples of 8 in -256..248), and one spike adds
:math:`m\,2^{e} = n\,2^{q}` to the summed input, :math:`q = e + s`. Any sum of such
values is a multiple of :math:`2^{s}`, so a weight exponent :math:`e \ge -s` loses
nothing in the floor shift: all values emitted here satisfy :math:`q \ge 0`, and the
summed input of a step is exactly :math:`\sum_j n_{ij} 2^{q}`. The levels
(:math:`2^{n_w}` of them) depend on ``n_w`` alone; ``R`` only moves the exponent range.

Splits
------
With ``k`` splits (Dense processes with exponents :math:`q_1 > \dots > q_k`), the
target integer :math:`A_{ij}` (summed-input units, quantum :math:`2^{q_k}`) is written
greedily: :math:`n^{(1)} = \lfloor A / 2^{q_1} \rfloor` (its own sign mode), and each
residual, which is in :math:`[0, 2^{q_{i-1}})`, goes to the next split, always
non-negative (excitatory), so :math:`q_{i-1} - q_i \le n_w`. The finest quantum the
datapath allows is :math:`2^0 = 1` summed-input unit: more splits cannot do better.
The effective precision of a connection is :math:`n_w + (q_1 - q_k)` bits
(:func:`effective_weight_bits`): the values the splits can express are
:math:`2^{n_w}` top levels times :math:`2^{q_1 - q_k}` residual levels.

Sparse weights
--------------
Every step is elementwise except the choice of the quanta, which depends on the
minimum and maximum of the targets (their sign mode and range), and zeros do not
change those: :func:`encode_weights` given the stored values of a sparse matrix
(a 1-D array, O(nnz) time and memory) returns, value for value, the integers it returns
for the dense matrix. :func:`smallest_int_dtype` gives the dtype the splits are stored
in.

Diffusion rounding
------------------
Rounding each weight to its nearest level independently leaves, for neuron ``i``, an
input error :math:`\sum_j \epsilon_{ij} r_j` whose terms add up at random.
:func:`diffusion_round` (``rounding="diffusion"``) rounds the columns one after another
and moves each rounding error onto the row's columns not yet rounded, so that the
errors cancel as the causes' rates see them: it minimizes, greedily and for every row
at once, :math:`E[(\epsilon_i r)^2] = \epsilon_i H \epsilon_i^T` with
:math:`H = E[r r^T]` (the sequential optimal-brain-compression / GPTQ update of
Frantar et al. 2022, with the upper Cholesky factor :math:`C` of :math:`H^{-1}`):

.. math::

    q_{ij} = \mathrm{round}(w_{ij}), \qquad
    w_{ik} \leftarrow w_{ik} - \frac{w_{ij} - q_{ij}}{C_{jj}}\, C_{jk}
    \quad (k > j).

Structural zeros (no synapse: target exactly 0, the diagonal) stay 0: their "rounding"
to 0 passes the accumulated correction on like any other. O(N^3) time, O(N^2)
memory, dense targets only.

Bias
----
The bias is :math:`m_b 2^{e_b}` with a signed mantissa (``-4096..4095``) and
:math:`e_b \in [0, 7]`; each neuron gets the smallest exponent whose rounded mantissa
fits, i.e. the finest quantum.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Tuple

import numpy as np

ROUNDING_MODES = ("nearest", "stochastic", "diffusion")
DIFFUSION_DAMPING = 0.01
"""Ridge added to :math:`H` by :func:`diffusion_round`, as a fraction of its mean
diagonal (keeps :math:`H^{-1}` well conditioned for a low-rank second moment)."""


def round_values(x, rounding: str, rng: Optional[np.random.Generator]) -> np.ndarray:
    """Round to integers: ``"nearest"`` (half away from zero) or ``"stochastic"``
    (up with probability equal to the fractional part, unbiased)."""
    x = np.asarray(x, float)
    if rounding == "nearest":
        return np.sign(x) * np.floor(np.abs(x) + 0.5)
    if rounding == "stochastic":
        return np.floor(x + rng.random(x.shape))
    if rounding == "diffusion":
        raise ValueError("rounding='diffusion' needs the whole matrix and a covariance: use diffusion_round")
    raise ValueError(f"rounding must be one of {ROUNDING_MODES}, got {rounding!r}")


def diffusion_round(x, covariance=None, damping: float = DIFFUSION_DAMPING, *, precision=None) -> np.ndarray:
    r"""Integers for the (K, N) real matrix ``x`` by diffusion rounding (module
    docstring): columns in order, each row's rounding error carried onto its later
    columns through the upper Cholesky factor :math:`C` of :math:`P = H^{-1}`.

    Parameters
    ----------
    x : ndarray (K, N)
    covariance : ndarray (N, N), optional
        :math:`H` (the errors' metric, e.g. the rates' second moment), regularized by
        ``damping`` x its mean diagonal before it is inverted.
    damping : float
    precision : ndarray (N, N), optional
        :math:`P = H^{-1}` itself, positive definite (instead of ``covariance``: no
        inversion, for a metric known through its inverse).

    Entries exactly 0 stay 0. Ties round half away from zero, as ``"nearest"``.
    """
    x = np.array(x, dtype=float)
    if precision is None:
        h = np.array(covariance, dtype=float)
        if h.ndim != 2 or h.shape[0] != h.shape[1]:
            raise ValueError(f"covariance must be a square matrix, got shape {h.shape}")
        h[np.diag_indices(h.shape[0])] += damping * max(float(np.mean(np.diag(h))), 1e-300)
        precision = np.linalg.inv(h)
    precision = np.asarray(precision, float)
    n = precision.shape[0]
    if x.ndim != 2 or x.shape[1] != n:
        raise ValueError(f"diffusion_round needs a (K, {n}) matrix for an ({n}, {n}) metric, got {x.shape}")
    c = np.linalg.cholesky(0.5 * (precision + precision.T)).T  # upper: P = C^T C
    structural_zero = x == 0
    out = np.zeros_like(x)
    for j in range(n):
        col = np.where(structural_zero[:, j], 0.0, np.sign(x[:, j]) * np.floor(np.abs(x[:, j]) + 0.5))
        err = (x[:, j] - col) / c[j, j]
        x[:, j + 1:] -= np.outer(err, c[j, j + 1:])
        out[:, j] = col
    return out


def smallest_int_dtype(lo: int, hi: int) -> np.dtype:
    """The smallest signed integer dtype (int8 .. int64) holding ``lo .. hi``."""
    for dtype in (np.int8, np.int16, np.int32):
        info = np.iinfo(dtype)
        if info.min <= lo and hi <= info.max:
            return np.dtype(dtype)
    return np.dtype(np.int64)


def sign_mode(values) -> str:
    """Lava's sign mode of a matrix: ``"excitatory"`` (all >= 0), ``"inhibitory"``
    (all <= 0, some < 0) or ``"mixed"``."""
    v = np.asarray(values)
    if v.size == 0 or v.min() >= 0:
        return "excitatory"
    if v.max() <= 0:
        return "inhibitory"
    return "mixed"


def mantissa_range(mode: str, num_weight_bits: int) -> Tuple[int, int]:
    """Range of :math:`n` (the mantissa divided by its step) for a sign mode."""
    if mode == "excitatory":
        return 0, 2 ** num_weight_bits - 1
    if mode == "inhibitory":
        return -(2 ** num_weight_bits - 1), 0
    return -(2 ** (num_weight_bits - 1)), 2 ** (num_weight_bits - 1) - 1


def mantissa_step_bits(mode: str, mantissa_bits: int, num_weight_bits: int) -> int:
    """:math:`s = b - n_w + [\\text{mixed}]`: mantissas are multiples of :math:`2^s`."""
    return mantissa_bits - num_weight_bits + (mode == "mixed")


@dataclass(frozen=True)
class WeightFormat:
    """What one Dense process can hold.

    Attributes
    ----------
    mantissa_bits : int
        ``R``: the register width Dense clips to (8 on Lava; see
        :attr:`compiler.HardwareConfig.weight_register_bits`).
    num_weight_bits : int
        ``n_w`` (<= R): the weight bits, significant bits kept.
    exponent_min, exponent_max : int
        Range of ``weight_exp``.
    """

    mantissa_bits: int
    num_weight_bits: int
    exponent_min: int
    exponent_max: int

    def q_range(self, mode: str) -> Tuple[int, int]:
        """Range of the quantum exponent :math:`q = e + s` usable for a sign mode
        (:math:`q \\ge 0` so the floor shift is exact)."""
        s = mantissa_step_bits(mode, self.mantissa_bits, self.num_weight_bits)
        return max(0, self.exponent_min + s), self.exponent_max + s

    def encode(self, n: np.ndarray, q: int, mode: str) -> Tuple[np.ndarray, int]:
        """Mantissas and ``weight_exp`` of a split holding :math:`n 2^q`."""
        s = mantissa_step_bits(mode, self.mantissa_bits, self.num_weight_bits)
        return (n.astype(np.int64) << s), q - s


def effective_weight_bits(num_weight_bits: int, quanta) -> int:
    r"""Effective bits of a connection spread over splits with quantum exponents
    ``quanta``: :math:`n_w + (\max q - \min q)`, at most :math:`k\,n_w` (``k`` splits),
    i.e. :math:`\log_2` of the number of values the greedy split encoding can give one
    connection. One split: ``num_weight_bits``."""
    q = [int(x) for x in quanta]
    if not q:
        return 0
    return int(min(num_weight_bits + max(q) - min(q), len(q) * num_weight_bits))


@dataclass
class EncodedWeights:
    """Result of :func:`encode_weights`.

    Attributes
    ----------
    mantissas : list of ndarray (N, N)
        Integer matrices, one per split (Lava's Dense ``weights``); arrays of the
        target's shape (e.g. the stored values of a sparse matrix).
    exponents : list of int
        ``weight_exp`` per split.
    quanta : list of int
        Quantum exponents :math:`q_k`; the finest is ``quanta[-1]``.
    modes : list of str
        Sign mode of each split.
    effective : ndarray (N, N) of int
        :math:`\\sum_k n^{(k)} 2^{q_k}`: summed-input units one spike delivers.
    clipped : int
        Synapses whose target did not fit (set to the nearest representable value).
    """

    mantissas: List[np.ndarray]
    exponents: List[int]
    quanta: List[int]
    modes: List[str]
    effective: np.ndarray
    clipped: int


def _fits(a_range, q, fmt) -> bool:
    r"""Whether :math:`\lfloor A / 2^q \rfloor` fits one split, from ``(min A, max A)``
    alone (the floor is monotone: the extremes of the quotients are the quotients of
    the extremes, and they fix the sign mode). ``None``: no values."""
    if a_range is None:
        return True
    n = np.floor_divide(np.array(a_range, np.int64), 2 ** q)
    lo, hi = mantissa_range(sign_mode(n), fmt.num_weight_bits)
    return bool(n.min() >= lo and n.max() <= hi)


def encode_weights(target: np.ndarray, splits: int, fmt: WeightFormat, rounding: str = "nearest",
                   rng: Optional[np.random.Generator] = None, covariance=None) -> EncodedWeights:
    r"""Encode float targets (summed-input units per spike) over ``splits`` Dense
    processes, as finely as the format allows (see the module docstring).

    The finest quantum :math:`q_k` is the smallest for which the top split holds
    :math:`\lfloor A / 2^{q_1} \rfloor` with :math:`q_1 - q_k \le (k-1)\, n_w`
    (``k = 1``: :math:`q_1 = q_k`); if none does, the top split is clipped at the
    largest exponent and :attr:`EncodedWeights.clipped` counts the synapses changed.

    ``target`` may have any shape (e.g. the (nnz,) stored values of a sparse matrix:
    same integers, see the module docstring). Time O(size x candidate quanta), memory a
    few arrays of the target's size. ``rounding="diffusion"`` (an (N, N) ``target``
    and its ``covariance``): the quanta are those of nearest rounding, then the
    targets are diffusion-rounded at the finest quantum (:func:`diffusion_round`),
    kept within the nearest integers' range so that the quanta still fit.
    """
    target = np.asarray(target, float)
    diffusion = rounding == "diffusion"
    if diffusion:
        rounding = "nearest"
    k = int(splits)
    nw = fmt.num_weight_bits
    q_min = max(fmt.q_range(m)[0] for m in ("excitatory", "mixed"))
    q_hi = fmt.q_range(sign_mode(target))[1]
    chosen = None
    for q_fine in range(q_min, max(q_hi, q_min) + 1):
        a_int = round_values(target / 2.0 ** q_fine, rounding, rng).astype(np.int64) * 2 ** q_fine
        top_hi = fmt.q_range(sign_mode(a_int))[1]
        a_range = (int(a_int.min()), int(a_int.max())) if a_int.size else None
        candidates = [q_fine] if k == 1 else range(q_fine + 1, min(q_fine + (k - 1) * nw, top_hi) + 1)
        for q in candidates:
            if q <= top_hi and _fits(a_range, q, fmt):
                chosen = (q, q_fine, a_int)
                break
        if chosen is not None:
            break
    if chosen is None:  # beyond the largest exponent: clip the top split there
        q_top = max(q_hi, q_min + (1 if k > 1 else 0))
        q_fine = q_top if k == 1 else max(q_min, q_top - (k - 1) * nw)
        a_int = round_values(target / 2.0 ** q_fine, rounding, rng).astype(np.int64) * 2 ** q_fine
        chosen = (q_top, q_fine, a_int)
    q_top, q_fine, a_int = chosen
    if diffusion and a_int.size:
        diffused = diffusion_round(target / 2.0 ** q_fine, covariance).astype(np.int64) * 2 ** q_fine
        a_int = np.clip(diffused, a_int.min(), a_int.max())
    if k == 1:
        quanta = [q_top]
    else:
        gap = q_top - q_fine
        quanta = [q_top - int(round(i * gap / (k - 1))) for i in range(k)]
    mantissas, exponents, modes = [], [], []
    effective = np.zeros_like(a_int)
    residual = a_int.copy()
    for q in quanta:
        n = np.floor_divide(residual, 2 ** q)
        mode = sign_mode(n)
        lo, hi = mantissa_range(mode, nw)
        n = np.clip(n, lo, hi)
        mode = sign_mode(n)
        m, e = fmt.encode(n, q, mode)
        mantissas.append(m)
        exponents.append(int(e))
        modes.append(mode)
        effective += n * 2 ** q
        residual = residual - n * 2 ** q
    clipped = int(np.count_nonzero(effective != a_int))
    return EncodedWeights(mantissas, exponents, quanta, modes, effective, clipped)


@dataclass
class EncodedBias:
    """Result of :func:`encode_bias`: mantissas, exponents, effective integers
    (:math:`m 2^e`), the number of clipped neurons and which they are (a mask of the
    target's shape)."""

    mantissa: np.ndarray
    exponent: np.ndarray
    effective: np.ndarray
    clipped: int
    clipped_mask: Optional[np.ndarray] = None


def encode_bias(target, mantissa_bits: int, exponent_min: int, exponent_max: int,
                rounding: str = "nearest", rng: Optional[np.random.Generator] = None) -> EncodedBias:
    """Per neuron, the smallest exponent in ``[exponent_min, exponent_max]`` whose rounded
    signed ``mantissa_bits``-bit mantissa fits; targets beyond the largest exponent are
    clipped to the extreme mantissa."""
    target = np.asarray(target, float)
    lo, hi = -(2 ** (mantissa_bits - 1)), 2 ** (mantissa_bits - 1) - 1
    u = rng.random(target.shape) if rounding == "stochastic" else None
    mant = np.zeros(target.shape, np.int64)
    expo = np.full(target.shape, exponent_max, np.int64)
    done = np.zeros(target.shape, bool)
    for e in range(exponent_min, exponent_max + 1):
        x = target / 2.0 ** e
        m = np.floor(x + u) if u is not None else np.sign(x) * np.floor(np.abs(x) + 0.5)
        fits = (~done) & (m >= lo) & (m <= hi)
        mant[fits] = m[fits]
        expo[fits] = e
        done |= fits
    clipped = int(np.count_nonzero(~done))
    if clipped:
        x = target[~done] / 2.0 ** exponent_max
        mant[~done] = np.clip(np.round(x), lo, hi)
    effective = mant * (2.0 ** expo)
    return EncodedBias(mant, expo, effective, clipped, ~done)
