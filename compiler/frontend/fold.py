r"""Folding per-neuron reset depths and thresholds into one shared threshold.

The chip has one threshold per population and resets to zero; the float network has
per-neuron thresholds :math:`\Theta_i` and reset depths :math:`D_i` (reset potential
:math:`H_i = \Theta_i - D_i`). With the change of variable

.. math::

    x_i = \frac{V_i - H_i}{D_i}

every neuron has threshold 1 and reset 0, and

.. math::

    \frac{dx_i}{dt} = -\frac{x_i}{\tau_m} + b'_i + \sum_{j \ne i} W'_{ij} \sum_l k(t - t^l_j - d_{ij}),
    \qquad W'_{ij} = \frac{W_{ij}}{D_i}, \quad
    b'_i = \frac{b_i - H_i/\tau_m}{D_i},

(the :math:`H_i/\tau_m` term only with a leak). A spike then costs exactly one unit of
:math:`x`, so rates are unchanged by the fold.

Sparse networks stay sparse: :math:`W'` is a CSR matrix with the pattern of
:math:`W` (each stored value divided by its row's :math:`D_i`, the same floating-point
operation as the dense fold, so both give identical values); time and memory O(nnz).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import scipy.sparse as sp

from compiler.frontend.network import IFNetwork, row_of_entries, with_data


@dataclass(frozen=True, eq=False)
class FoldedNetwork:
    """A network in folded units (threshold 1, reset 0); see the module docstring.

    Attributes
    ----------
    weights : ndarray (N, N) or csr_matrix
        :math:`W'_{ij} = W_{ij}/D_i` (CSR for sparse networks).
    bias : ndarray (N,)
        :math:`b'_i` in thresholds per second.
    reset, threshold : ndarray (N,)
        The original :math:`D_i` and :math:`\\Theta_i` (kept to unfold).
    tau_syn : float
    delays : ndarray (N, N), float or csr_matrix
        Seconds: (N, N) for dense networks; for sparse ones the scalar delay or a CSR
        matrix with the weights' pattern.
    leak_tau : float or None
    reset_mode : str
    """

    weights: np.ndarray
    bias: np.ndarray
    reset: np.ndarray
    threshold: np.ndarray
    tau_syn: float
    delays: np.ndarray
    leak_tau: Optional[float]
    reset_mode: str

    @property
    def n(self) -> int:
        return self.weights.shape[0]

    @property
    def is_sparse(self) -> bool:
        """True for CSR weights."""
        return sp.issparse(self.weights)


def fold(network: IFNetwork) -> FoldedNetwork:
    """Fold ``network`` to threshold 1 and reset 0 (see the module docstring)."""
    d = network.reset
    weights = fold_weights(network.weights, d)
    delays = network.delay if network.is_sparse else network.delays.copy()
    return FoldedNetwork(weights=weights,
                         bias=fold_bias(network.bias, d, network.thresholds, network.leak_tau),
                         reset=d.copy(),
                         threshold=network.thresholds.copy(), tau_syn=network.tau_syn,
                         delays=delays, leak_tau=network.leak_tau,
                         reset_mode=network.reset_mode)


def fold_weights(weights, reset):
    r""":math:`W'_{ij} = W_{ij}/D_i` for dense weights or the stored values of CSR ones
    (the same floating-point division either way)."""
    reset = np.asarray(reset, float)
    if sp.issparse(weights):
        weights = sp.csr_matrix(weights)
        return with_data(weights, weights.data / reset[row_of_entries(weights)])
    return np.asarray(weights, float) / reset[:, None]


def fold_bias(bias, reset, threshold, leak_tau=None) -> np.ndarray:
    r""":math:`b'_i = (b_i - H_i/\tau_m)/D_i` (:math:`H_i = \Theta_i - D_i`; the
    :math:`H_i/\tau_m` term only with a leak) for biases of shape (N,) or (K, N)."""
    bias = np.asarray(bias, float)
    reset = np.asarray(reset, float)
    if leak_tau is not None:
        low = np.broadcast_to(np.asarray(threshold, float), reset.shape) - reset
        bias = bias - low / leak_tau
    return bias / reset


def unfold(weights, bias, reset, threshold, leak_tau=None):
    r"""Inverse of :func:`fold` for weights and bias: :math:`W = D W'`,
    :math:`b = D b' + H/\tau_m`. Returns ``(weights, bias)`` (CSR weights stay CSR)."""
    reset = np.asarray(reset, float)
    threshold = np.broadcast_to(np.asarray(threshold, float), reset.shape)
    if sp.issparse(weights):
        weights = sp.csr_matrix(weights)
        w = with_data(weights, weights.data.astype(float) * reset[row_of_entries(weights)])
    else:
        w = np.asarray(weights, float) * reset[:, None]
    b = np.asarray(bias, float) * reset
    if leak_tau is not None:
        b = b + (threshold - reset) / leak_tau
    return w, b
