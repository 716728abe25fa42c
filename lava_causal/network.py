r"""Building the tuned spiking network for a causal problem
(Moreno-Bote & Drugowitsch, Sci. Rep. 5:17531, 2015).

One non-leaky integrate-and-fire neuron per cause, with

.. math::

    \frac{dV_i}{dt} = g_i + \sum_{j \ne i} J_{ij} \sum_l k(t - t_j^l - d),
    \qquad V_i \leftarrow V_i - D_i \text{ on a spike},

:math:`J = -U^T U/\sigma^2 - \beta I`, :math:`g = U^T\mu/\sigma^2 - \alpha` and reset
depth :math:`D_i = -J_{ii} = |u_i|^2/\sigma^2 + \beta`. Its time-averaged rates
converge to the MAP estimate with error O(1/T).
"""
from __future__ import annotations

import numpy as np

from compiler import IFNetwork

from .problem import CausalProblem


def build_network(problem: CausalProblem, tau_syn: float = 5e-3, delay: float = 0.0,
                  leak_tau=None) -> IFNetwork:
    """The tuned nLIF network whose rates converge to ``problem.map_estimate()``.

    Parameters
    ----------
    problem : CausalProblem
    tau_syn : float
        Synaptic time constant in seconds (exponential kernel); 0 for delta synapses.
    delay : float
        Synaptic delay in seconds.
    leak_tau : float or None
        Membrane time constant for the leaky variant (acts like extra L1); None for nLIF.
    """
    if not isinstance(problem, CausalProblem):
        raise TypeError(f"problem must be a CausalProblem, got {type(problem).__name__}")
    j = problem.coupling
    reset = -np.diag(j).copy()
    flat = np.flatnonzero(~(reset > 0))
    if flat.size:
        raise ValueError(
            f"cause(s) {flat[:10].tolist()}{' ...' if flat.size > 10 else ''} have reset depth "
            f"|u_i|^2/sigma^2 + beta = 0 (an all-zero feature with beta = 0): such a neuron cannot "
            f"spike and reset; drop these causes (their MAP intensity is 0) or set beta > 0")
    weights = j - np.diag(np.diag(j))
    return IFNetwork(weights=weights, bias=problem.drive, reset=reset, threshold=1.0,
                     tau_syn=tau_syn, delay=delay, leak_tau=leak_tau,
                     reset_mode="subtract", name="causal-inference nLIF")


def signal_tracking_network(problem: CausalProblem, tau_syn: float = 0.0, delay: float = 0.0,
                            leak_tau: float = 0.05) -> IFNetwork:
    r"""The signal-tracking baseline of Boerlin, Machens & Deneve (2013), as in the
    paper's Fig. 6: the same J and g, but leaky, with threshold :math:`D_i/2` and a
    hard reset to :math:`-D_i/2` (threshold 0.5 and reset -0.5 for unit features).

    ``leak_tau`` (default 50 ms) is our choice; the paper's value was lost.
    """
    net = build_network(problem, tau_syn=tau_syn, delay=delay, leak_tau=leak_tau)
    return net.replace(threshold=net.reset / 2.0, reset_mode="hard",
                       name="signal-tracking (leaky, hard reset)")


def mistune(network: IFNetwork, low: float, high: float, seed=None,
            include_diagonal: bool = True) -> IFNetwork:
    r"""A copy of ``network`` with frozen i.i.d. :math:`U[\mathrm{low}, \mathrm{high}]`
    perturbations added to every entry of the connectivity :math:`J`.

    With ``include_diagonal`` (the paper's "all the entries"), the diagonal term
    :math:`J_{ii} = -D_i` is perturbed too, i.e. the reset depth becomes
    :math:`D_i - \Delta_{ii}`; it must stay positive.
    """
    try:
        low, high = float(low), float(high)
    except (TypeError, ValueError):
        raise ValueError(f"low and high must be numbers, got {low!r}, {high!r}") from None
    if not (np.isfinite(low) and np.isfinite(high) and low <= high):
        raise ValueError(f"need finite low <= high, got low={low}, high={high}")
    rng = np.random.default_rng(seed)
    delta = rng.uniform(low, high, (network.n, network.n))
    diag = np.diag(delta).copy()
    np.fill_diagonal(delta, 0.0)
    reset = network.reset - diag if include_diagonal else network.reset
    if np.any(reset <= 0):
        raise ValueError(f"mistuning makes {int(np.sum(reset <= 0))} reset depth(s) non-positive; "
                         f"use a smaller high (got {high})")
    return network.replace(weights=network.weights + delta, reset=reset,
                           name=f"{network.name} + U[{low:g}, {high:g}] mistuning")
