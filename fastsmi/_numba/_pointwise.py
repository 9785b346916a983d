"""Numba drivers that keep each sample's term of the KSG slice estimates.

A KSG slice estimate is a mean over samples of per-sample terms
(``-psi(n_x + 1) - psi(n_y + 1)`` for algorithm 1, ``-psi(m_i)`` for Ross's
labels estimator, plus constants).  These drivers run the same one-slice
estimators as the block drivers, then copy each sample's term, in original
sample order, into row ``s`` of ``terms``: averaged over slices they give the
pointwise SMI and its spread the sampling error of the estimate.
"""
from __future__ import annotations

import functools

import numpy as np
from numba import njit, prange

from .._config import PARALLEL_JIT_OPTIONS
from .workspace import alloc_workspace
from ._kernels import STATUS_CONSTANT_X, _chunk_bounds, _prepare_pair, ksg1_slice, ross_slice, standardize_column


@functools.lru_cache(maxsize=None)
def pointwise_ksg1_block(search, lanes):
    """KSG-1 slices of one block with their per-sample terms (see :func:`~fastsmi._numba._kernels.pair_block`).

    ``block(PX, PY, JX, JY, tols, k, psi, out, terms, status, n_chunks)``:
    ``out[s]`` as the block driver, ``terms[s, i]`` sample ``i``'s term, whose
    mean over ``i`` is ``out[s]`` up to rounding.
    """

    def block(PX, PY, JX, JY, tols, k, psi, out, terms, status, n_chunks):
        n = PX.shape[0]
        b = out.shape[0]
        n_chunks = min(b, n_chunks)
        for c in prange(n_chunks):
            ws = alloc_workspace(n, k, search)
            x = np.empty(n)
            y = np.empty(n)
            lo, hi = _chunk_bounds(c, n_chunks, b)
            for s in range(lo, hi):
                if _prepare_pair(PX, PY, JX, JY, tols, s, x, y, out, status):
                    out[s] = ksg1_slice(x, y, k, search, lanes, psi, ws)
                    order, count_x, count_y = ws.order, ws.count_x, ws.count_y
                    for p in range(n):
                        terms[s, order[p]] = -(psi[count_x[p] + 1] + psi[count_y[p] + 1])
                else:
                    for i in range(n):
                        terms[s, i] = np.nan

    name = f"pointwise_ksg1_block_s{search}_l{lanes}".replace("-", "m")
    block.__name__ = block.__qualname__ = name
    return njit(**PARALLEL_JIT_OPTIONS)(block)


@njit(**PARALLEL_JIT_OPTIONS)
def pointwise_ross_block(PX, JX, tols, codes, class_start, k, psi, out, terms, status, n_chunks):
    """Ross slices against labels with their per-sample terms ``-psi(m_i)``."""
    n = PX.shape[0]
    b = out.shape[0]
    n_classes = class_start.shape[0] - 1
    n_chunks = min(b, n_chunks)
    for c in prange(n_chunks):
        ws = alloc_workspace(n, k, 0)
        x = np.empty(n)
        fill = np.empty(n_classes, np.int64)
        lo, hi = _chunk_bounds(c, n_chunks, b)
        for s in range(lo, hi):
            if not standardize_column(PX, s, JX, x, tols[0]):
                status[s] = STATUS_CONSTANT_X
                out[s] = np.nan
                for i in range(n):
                    terms[s, i] = np.nan
                continue
            out[s] = ross_slice(x, codes, class_start, k, psi, ws)
            # the counts are in class order: walk the sorted samples as the class gather did
            order, counts = ws.order, ws.count_x
            for q in range(n_classes):
                fill[q] = class_start[q]
            for p in range(n):
                i = order[p]
                cls = codes[i]
                terms[s, i] = -psi[counts[fill[cls]] - 1]
                fill[cls] += 1
