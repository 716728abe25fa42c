"""Sparse-matrix helpers every stage shares (CSR networks, compiled splits, delays)."""
from __future__ import annotations

import numpy as np


def same_pattern(a, b) -> bool:
    """Whether two CSR matrices store the same entries: equal shape, ``indptr`` and
    ``indices`` (shared arrays are recognised without comparing them). O(nnz)."""
    if a.shape != b.shape:
        return False
    if a.indptr is b.indptr and a.indices is b.indices:
        return True
    return (a.indptr.shape == b.indptr.shape and a.indices.shape == b.indices.shape
            and np.array_equal(a.indptr, b.indptr) and np.array_equal(a.indices, b.indices))
