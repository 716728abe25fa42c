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
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from compiler.frontend.network import IFNetwork


@dataclass(frozen=True, eq=False)
class FoldedNetwork:
    """A network in folded units (threshold 1, reset 0); see the module docstring.

    Attributes
    ----------
    weights : ndarray (N, N)
        :math:`W'_{ij} = W_{ij}/D_i`.
    bias : ndarray (N,)
        :math:`b'_i` in thresholds per second.
    reset, threshold : ndarray (N,)
        The original :math:`D_i` and :math:`\\Theta_i` (kept to unfold).
    tau_syn : float
    delays : ndarray (N, N)
        Seconds.
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


def fold(network: IFNetwork) -> FoldedNetwork:
    """Fold ``network`` to threshold 1 and reset 0 (see the module docstring)."""
    d = network.reset
    h = network.reset_potential
    bias = network.bias.copy()
    if network.leak_tau is not None:
        bias = bias - h / network.leak_tau
    return FoldedNetwork(weights=network.weights / d[:, None], bias=bias / d, reset=d.copy(),
                         threshold=network.thresholds.copy(), tau_syn=network.tau_syn,
                         delays=network.delays.copy(), leak_tau=network.leak_tau,
                         reset_mode=network.reset_mode)


def unfold(weights, bias, reset, threshold, leak_tau=None):
    r"""Inverse of :func:`fold` for weights and bias: :math:`W = D W'`,
    :math:`b = D b' + H/\tau_m`. Returns ``(weights, bias)``."""
    reset = np.asarray(reset, float)
    threshold = np.broadcast_to(np.asarray(threshold, float), reset.shape)
    w = np.asarray(weights, float) * reset[:, None]
    b = np.asarray(bias, float) * reset
    if leak_tau is not None:
        b = b + (threshold - reset) / leak_tau
    return w, b
