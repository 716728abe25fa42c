r"""Building the tuned spiking network for a causal problem
(Moreno-Bote & Drugowitsch, Sci. Rep. 5:17531, 2015).

One non-leaky integrate-and-fire neuron per cause, with

.. math::

    \frac{dV_i}{dt} = g_i + \sum_{j \ne i} J_{ij} \sum_l k(t - t_j^l - d),
    \qquad V_i \leftarrow V_i - D_i \text{ on a spike},

:math:`J = -U^T U/\sigma^2 - \beta I`, :math:`g = U^T\mu/\sigma^2 - \alpha` and reset
depth :math:`D_i = -J_{ii} = |u_i|^2/\sigma^2 + \beta`. Its time-averaged rates
converge to the MAP estimate with error O(1/T).

For sparse features the weights :math:`W = J - \mathrm{diag}(J)` are a canonical
``csr_matrix`` (:func:`build_network`), never N x N dense.
"""
from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse

from compiler import IFNetwork

from .problem import CausalProblem


def build_network(problem: CausalProblem, tau_syn: float = 5e-3, delay: float = 0.0,
                  leak_tau=None) -> IFNetwork:
    r"""The tuned nLIF network whose rates converge to ``problem.map_estimate()``.

    Parameters
    ----------
    problem : CausalProblem
    tau_syn : float
        Synaptic time constant in seconds (exponential kernel); 0 for delta synapses.
    delay : float
        Synaptic delay in seconds.
    leak_tau : float or None
        Membrane time constant for the leaky variant (acts like extra L1); None for nLIF.

    Notes
    -----
    Dense features: :math:`W = J - \mathrm{diag}(J)` dense, O(MN^2) time, O(N^2) memory.
    Sparse features (:attr:`CausalProblem.is_sparse`): :math:`W_{ij} = -u_i^Tu_j/\sigma^2`
    (:math:`i \ne j`) as a canonical float64 ``csr_matrix`` (sorted indices, no
    duplicates, no stored zeros, zero diagonal), from the sparse product
    :math:`U^TU`, in time and memory :math:`O(\sum_m k_m^2)` (:math:`k_m` the causes
    touching input m). With k non-zeros per column placed at random,
    :math:`k_m \sim \mathrm{Poisson}(\lambda = kN/M)` and
    :math:`\mathrm{nnz}(W) \le \sum_m k_m(k_m - 1) \approx M\lambda^2`: 45 N for
    k = 3, M = N/5 (e.g. 4.5e7 entries, ~0.55 GB, at N = 10^6). The reset
    :math:`D_i = |u_i|^2/\sigma^2 + \beta` and drive :math:`g` cost O(nnz(U)).
    """
    if not isinstance(problem, CausalProblem):
        raise TypeError(f"problem must be a CausalProblem, got {type(problem).__name__}")
    if problem.is_sparse:
        weights, reset = sparse_weights(problem)
    else:
        j = problem.coupling
        reset = -np.diag(j).copy()
        weights = None
    flat = np.flatnonzero(~(reset > 0))
    if flat.size:
        raise ValueError(
            f"cause(s) {flat[:10].tolist()}{' ...' if flat.size > 10 else ''} have reset depth "
            f"|u_i|^2/sigma^2 + beta = 0 (an all-zero feature with beta = 0): such a neuron cannot "
            f"spike and reset; drop these causes (their MAP intensity is 0) or set beta > 0")
    if weights is None:
        weights = j - np.diag(np.diag(j))
    return IFNetwork(weights=weights, bias=problem.drive, reset=reset, threshold=1.0,
                     tau_syn=tau_syn, delay=delay, leak_tau=leak_tau,
                     reset_mode="subtract", name="causal-inference nLIF")


def sparse_weights(problem: CausalProblem):
    r"""``(W, D)`` of a sparse problem: :math:`W = -(U^TU)/\sigma^2` with its diagonal
    removed, a canonical float64 ``csr_matrix``, and the reset depth
    :math:`D_i = |u_i|^2/\sigma^2 + \beta`, shape (N,). Time and memory
    :math:`O(\sum_m k_m^2)`, :math:`k_m` the causes touching input m."""
    from .certificate import column_norms

    u = scipy.sparse.csc_matrix(problem.features / problem.sigma)
    w = scipy.sparse.csr_matrix(u.T.tocsr() @ u)
    with warnings.catch_warnings():     # only an all-zero feature lacks its diagonal entry
        warnings.simplefilter("ignore", scipy.sparse.SparseEfficiencyWarning)
        w.setdiag(0.0)
    w.eliminate_zeros()                 # the diagonal, and exact cancellations u_i . u_j = 0
    w.sum_duplicates()
    w.sort_indices()
    w.data *= -1.0
    reset = column_norms(u) ** 2 + problem.beta
    return w, reset


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

    A sparse network (``csr_matrix`` weights) is perturbed on its stored synapses
    (and the diagonal) only, so it stays sparse: O(nnz + N), never N x N.
    """
    try:
        low, high = float(low), float(high)
    except (TypeError, ValueError):
        raise ValueError(f"low and high must be numbers, got {low!r}, {high!r}") from None
    if not (np.isfinite(low) and np.isfinite(high) and low <= high):
        raise ValueError(f"need finite low <= high, got low={low}, high={high}")
    rng = np.random.default_rng(seed)
    if scipy.sparse.issparse(network.weights):
        weights = network.weights.copy()
        weights.data = weights.data + rng.uniform(low, high, weights.nnz)
        weights.eliminate_zeros()
        diag = rng.uniform(low, high, network.n) if include_diagonal else np.zeros(network.n)
        reset = network.reset - diag
        if np.any(reset <= 0):
            raise ValueError(f"mistuning makes {int(np.sum(reset <= 0))} reset depth(s) non-positive; "
                             f"use a smaller high (got {high})")
        return network.replace(weights=weights, reset=reset,
                               name=f"{network.name} + U[{low:g}, {high:g}] mistuning (stored synapses)")
    delta = rng.uniform(low, high, (network.n, network.n))
    diag = np.diag(delta).copy()
    np.fill_diagonal(delta, 0.0)
    reset = network.reset - diag if include_diagonal else network.reset
    if np.any(reset <= 0):
        raise ValueError(f"mistuning makes {int(np.sum(reset <= 0))} reset depth(s) non-positive; "
                         f"use a smaller high (got {high})")
    return network.replace(weights=network.weights + delta, reset=reset,
                           name=f"{network.name} + U[{low:g}, {high:g}] mistuning")
