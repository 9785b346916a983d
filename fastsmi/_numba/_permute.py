"""Numba drivers for permutation replicates: (replicate x slice) work items.

A replicate permutes the rows of Y (or the labels) once; each of its slices
uses the same projected columns and jitter as the observed statistic.  The
drivers run ``prange`` over contiguous chunks of the items of a block of
replicates, gathering ``y[i] = PY[perm[r, i], s]`` into the thread's buffer
before the usual one-slice estimator.  Items are ordered slice-major, so a
thread standardises each slice of X once for all the replicates it holds;
every item is computed on its own, so results do not depend on the threads.
"""
from __future__ import annotations

import functools

import numpy as np
from numba import njit, prange

from .._config import JIT_OPTIONS, PARALLEL_JIT_OPTIONS
from .._plan import FAMILY_KSG
from .workspace import alloc_workspace
from ._kernels import (
    STATUS_CONSTANT_X,
    STATUS_CONSTANT_Y,
    _chunk_bounds,
    kl_discrete_slice,
    kl_slice,
    ksg1_slice,
    ksg2_slice,
    ross_slice,
    standardize_column,
)


@njit(**JIT_OPTIONS)
def _gather(PY, s, perm, g):
    """``g[i, 0] = PY[perm[i], s]``: column ``s`` of the permuted rows."""
    for i in range(g.shape[0]):
        g[i, 0] = PY[perm[i], s]


@functools.lru_cache(maxsize=None)
def permuted_pair_block(family, variant, search, lanes):
    """The parallel driver over (replicate, slice) items for one specialisation.

    The compile-time constants are those of :func:`fastsmi._numba._kernels.pair_block`.
    The kernel's arguments::

        block(PX, PY, JX, JY, tols, perms, k, psi, coef, whiten, out, status, n_chunks)

    estimate, for every replicate ``r < out.shape[0]`` and slice
    ``s < out.shape[1]``, the slice ``(PX[:, s], PY[perms[r], s])`` into
    ``out[r, s]`` (kernel sums, without the plan's constant); ``status[r, s]``
    flags a constant projection as the block drivers do.
    """
    is_ksg = family == FAMILY_KSG

    def block(PX, PY, JX, JY, tols, perms, k, psi, coef, whiten, out, status, n_chunks):
        n = PX.shape[0]
        R = out.shape[0]
        b = out.shape[1]
        items = R * b
        n_chunks = min(items, n_chunks)
        for c in prange(n_chunks):
            ws = alloc_workspace(n, k, search)
            x = np.empty(n)
            y = np.empty(n)
            g = np.empty((n, 1))
            wbuf = np.empty((3, n))
            lo, hi = _chunk_bounds(c, n_chunks, items)
            current = -1
            x_ok = False
            for it in range(lo, hi):
                s = it // R
                r = it - s * R
                if s != current:
                    current = s
                    x_ok = standardize_column(PX, s, JX, x, tols[0])
                if not x_ok:
                    status[r, s] = STATUS_CONSTANT_X
                    out[r, s] = np.nan
                    continue
                _gather(PY, s, perms[r], g)
                if not standardize_column(g, 0, JY, y, tols[1]):
                    status[r, s] = STATUS_CONSTANT_Y
                    out[r, s] = np.nan
                    continue
                if not is_ksg:
                    out[r, s] = kl_slice(x, y, k, coef, whiten, search, lanes, ws, wbuf)
                elif variant == 1:
                    out[r, s] = ksg1_slice(x, y, k, search, lanes, psi, ws)
                else:
                    out[r, s] = ksg2_slice(x, y, k, search, psi, ws)

    name = f"perm_{family}_block_v{variant}_s{search}_l{lanes}".replace("-", "m")
    block.__name__ = block.__qualname__ = name
    return njit(**PARALLEL_JIT_OPTIONS)(block)


@njit(**PARALLEL_JIT_OPTIONS)
def permuted_discrete_block(PX, JX, tols, codes, class_start, k, ross, psi, coef, out, status, n_chunks):
    """Continuous slices against permuted labels: ``codes[r]`` are replicate ``r``'s labels.

    Class sizes do not change under a permutation, so ``class_start`` and the
    plan are those of the observed labels.
    """
    n = PX.shape[0]
    R = out.shape[0]
    b = out.shape[1]
    items = R * b
    n_chunks = min(items, n_chunks)
    for c in prange(n_chunks):
        ws = alloc_workspace(n, k, 0)
        x = np.empty(n)
        lo, hi = _chunk_bounds(c, n_chunks, items)
        current = -1
        x_ok = False
        for it in range(lo, hi):
            s = it // R
            r = it - s * R
            if s != current:
                current = s
                x_ok = standardize_column(PX, s, JX, x, tols[0])
            if not x_ok:
                status[r, s] = STATUS_CONSTANT_X
                out[r, s] = np.nan
            elif ross:
                out[r, s] = ross_slice(x, codes[r], class_start, k, psi, ws)
            else:
                out[r, s] = kl_discrete_slice(x, codes[r], class_start, k, coef, ws)
