r"""The stability check every runner makes before it runs a network.

:func:`check_stable` is the one entry point (:func:`lava_causal.simulate`,
:func:`compiler.compile`, :func:`compiler.emulate`, the error budget): an
:class:`~compiler.IFNetwork` is judged by :meth:`IFNetwork.stability` (the matrix tests
live in :mod:`compiler.frontend.network`), a :class:`~compiler.FixedPointNetwork` by the float
network its integers implement (:func:`compiler.effective_network`). It sits in its own
module because it needs both the float network and the chip's effective network, and
:mod:`compiler.quantization.effective` itself builds :class:`~compiler.IFNetwork` objects.
"""
from __future__ import annotations

import time
import warnings
from typing import Optional

import numpy as np
import scipy.sparse as sp

from compiler.quantization import effective
from compiler.quantization.fixed_point import FixedPointNetwork
from compiler.frontend.network import (STABILITY_TOL, IFNetwork, Stability, _cholesky_nsd, _scale, _split_certificate,
                      _stability_of)


def check_stable(network, allow_unstable: bool = False, *,
                 tol: float = STABILITY_TOL) -> Optional[Stability]:
    r"""Refuse an unstable network: the one check :func:`lava_causal.simulate`,
    :func:`compiler.compile` and :func:`compiler.emulate` make before running.

    Parameters
    ----------
    network : IFNetwork or FixedPointNetwork
        A :class:`compiler.FixedPointNetwork` is judged by the float network its
        integers implement (:func:`compiler.effective_network`, computed from the
        integers, not from any verdict stored in ``info``).
    allow_unstable : bool
        Warn (``RuntimeWarning``) instead of raising.
    tol : float
        Relative tolerance, see :data:`STABILITY_TOL` and :meth:`IFNetwork.stability`.

    Returns
    -------
    Stability or None
        The verdict, computed once per network object (cached) and reused by
        every later call: budgets that simulate one network many times pay once.
        None only with ``allow_unstable`` for a fixed-point network that no float
        network expresses (self-connections), after a warning.
        Cost: one Cholesky factorization (:math:`N^3/3` flops) for stable tuned
        networks; see :meth:`IFNetwork.stability` for the rest.

    Raises
    ------
    ValueError
        The network is unstable (message with "unstable", the largest eigenvalue of
        the symmetric part of :math:`W - \mathrm{diag}(D)`, the growth rate found and
        how to override) and ``allow_unstable`` is False.
    """
    if isinstance(network, IFNetwork):
        verdict = network.stability(tol)
    else:
        if not isinstance(network, FixedPointNetwork):
            raise TypeError(f"network must be a compiler.IFNetwork or FixedPointNetwork, "
                            f"got {type(network).__name__}")
        try:
            verdict = _fixed_point_stability(network, tol)
        except ValueError as exc:  # e.g. self-connections: no IFNetwork expresses them
            message = (f"cannot check the stability of this fixed-point network ({exc}); pass "
                       f"allow_unstable=True to run it unchecked")
            if not allow_unstable:
                raise ValueError(message) from None
            warnings.warn(message, RuntimeWarning, stacklevel=3)
            return None
    if not verdict.stable:
        if not allow_unstable:
            raise ValueError(verdict.message())
        warnings.warn(verdict.message().split("; check the weights")[0]
                      + " (running anyway: allow_unstable=True)", RuntimeWarning, stacklevel=3)
    return verdict


def _fixed_point_stability(fixed, tol: float) -> Stability:
    r"""Verdict for the float network a FixedPointNetwork's integers implement
    (:func:`compiler.effective_network`, from the integers, never from a verdict
    stored in ``info``), cached on the (frozen) FixedPointNetwork.

    Rounding to the chip's weight grid moves every entry of :math:`W` by less than
    the coarsest split's unit :math:`q_i = D_i\,2^{\max(e_k, 0)}\,2^{\text{act}}/(d\,S)`
    (float units), so it can lift :math:`x^T A_s x` on the simplex by at most
    :math:`\max_i q_i`: a marginally stable float network (zero eigenvalues,
    overcomplete features) can come out with a tiny positive growth rate. Growth
    within that resolution is accepted; anything above it is refused.

    Cheap certificate first: the float weights recorded at compile time
    (``info["fold"]``, in the source network's units) give a reference :math:`A^f`; if a Cholesky test certifies
    :math:`x^T A^f_s x \le b_f` and the measured :math:`\delta = \max|A_s - A^f_s|`
    keeps :math:`b_f + \delta` within the bound, then :math:`x^T A_s x \le b_f +
    \delta` on the simplex. Both parts are computed here, so an edited file can only
    make the certificate fail (and the full test on :math:`A_s` run), never pass a
    network that is not within the bound of a certified stable one.

    Sparse networks: the same with CSR matrices (O(nnz)); the certificate of the
    reference is the sparse one of :meth:`IFNetwork.stability` (the M-matrix split, a
    proof, or the Lanczos estimate).
    """
    cache = fixed.__dict__.setdefault("_stability_cache", {})
    key = float(tol)
    if key in cache:
        return cache[key]
    start = time.perf_counter()
    net = effective.effective_network(fixed)
    a_sym = net.symmetric_part()
    ar = fixed.arithmetic
    d = 1.0 - ar.current_decay_factor(fixed.du) / float(ar.decay_unity)
    unit = 2.0 ** max(max(fixed.weight_exps), 0) * 2.0 ** ar.activation_shift
    resolution = float(np.max(net.reset)) * unit / (d * float(fixed.threshold))
    bound = key * _scale(a_sym) + resolution
    ref = _recorded_float_matrix(fixed, net.reset)
    verdict = None
    if ref is not None:
        diff = a_sym - ref
        delta = float(np.max(np.abs(diff.data if sp.issparse(diff) else diff), initial=0.0))
        if delta < bound and (_cholesky_nsd(ref, bound - delta) or _split_certificate(ref, bound - delta)):
            verdict = Stability(True, f"within {delta:.3g} of a certified stable float network",
                                None, None, bound, key, time.perf_counter() - start, net.name, resolution)
    if verdict is None:
        verdict = _stability_of(a_sym, key, net.name, resolution)
    cache[key] = verdict
    return verdict


def _recorded_float_matrix(fixed, reset):
    """Symmetric part of :math:`W - \\mathrm{diag}(D)` of the float network recorded
    in ``info["fold"]`` (``weights``: the source network's :math:`W` in its own units,
    as :func:`compiler.compile` records it; ``reset``: :math:`D`), or None when absent
    or malformed."""
    folded = (fixed.info or {}).get("fold", {}).get("weights")
    if sp.issparse(folded) != sp.issparse(fixed.weights[0]):
        return None
    if sp.issparse(folded):
        return _recorded_sparse_matrix(fixed, folded, reset)
    try:
        w = np.array(folded, float)
        reset = np.asarray(reset, float)
    except (TypeError, ValueError):
        return None
    if w.shape != (fixed.n, fixed.n) or not np.all(np.isfinite(w)):
        return None
    a = w - np.diag(np.diag(w)) - np.diag(reset)
    return 0.5 * (a + a.T)


def _recorded_sparse_matrix(fixed, folded, reset):
    """:func:`_recorded_float_matrix` for a sparse network (CSR, O(nnz))."""
    try:
        w = sp.csr_matrix(folded, dtype=float)
        reset = np.asarray(reset, float)
    except (TypeError, ValueError):
        return None
    if w.shape != (fixed.n, fixed.n) or reset.shape != (fixed.n,) or not np.all(np.isfinite(w.data)):
        return None
    a = (w - sp.diags(w.diagonal()) - sp.diags(reset)).tocsr()
    return (0.5 * (a + a.T)).tocsr()
