"""Brute-force neighbour searches for the full-dimensional estimators.

In many dimensions a KD-tree prunes almost nothing, and comparing every pair of
points directly is faster.  Two searches live here.  Each kernel computes a range
of query rows and releases the GIL; the callers in :mod:`fastsmi._fulldim` run
chunks of rows on Python threads (:func:`fastsmi._threads.run_chunks`).  Every row
is computed independently of the others and of how the rows are split between
threads, so results do not depend on the thread count.  Serial kernels on
threads, rather than ``prange``, compile in a fraction of the time (about 1.5 s
against 12 s for the two) and open no parallel region, so they can also be
called from several threads at once (k-SMI's slices, Dask worker threads) on
any Numba threading layer.

* :func:`ksg_counts` -- the max-norm (Chebyshev) search of KSG: the k-th joint
  neighbour distance and the marginal counts.  Absolute differences and maxima
  are exact, so the results are bit-identical to the KD-tree's.
* :func:`euclidean_knn` -- the Euclidean k-NN distances of the Kozachenko-Leonenko
  estimators: a matrix product (BLAS) per block of rows selects candidates,
  whose distances are then computed directly, with a rounding check that sends
  unsure rows to a direct search over every point.

Imported lazily by :mod:`fastsmi._fulldim`, so fastsmi works without Numba.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .._config import ENTRY_JIT_OPTIONS, JIT_OPTIONS
from .backend import resolve_n_jobs  # noqa: F401  (the callers' thread count)

#: Points per tile of the max-norm distance rows: a tile of the four accumulator
#: rows (4 x 256 doubles, 8 KiB) and of one coordinate stay in the L1 cache while all
#: coordinates are folded in.  256 measured fastest of 128 / 256 / 512 / 2000.
POINT_TILE = 256

#: Query rows per block of the max-norm search (the four accumulators of the inner loop).
QUERY_ROWS = 4


# ----------------------------------------------------------------------------
# max-norm (KSG)
# ----------------------------------------------------------------------------
@njit(**JIT_OPTIONS)
def chebyshev_rows(A, AT, lo, hi, out):
    """``out[r, j] = max_c |A[lo + r, c] - A[j, c]|`` for ``r < hi - lo <= 4``.

    ``AT`` is ``A.T`` as a C-contiguous array, so the innermost loop runs over
    points, contiguously, and vectorises.  Rows past ``hi`` repeat the last row
    (their output is ignored).  The distances are exact.
    """
    n = AT.shape[1]
    d = AT.shape[0]
    i0 = lo
    i1 = min(lo + 1, hi - 1)
    i2 = min(lo + 2, hi - 1)
    i3 = min(lo + 3, hi - 1)
    for j0 in range(0, n, POINT_TILE):
        j1 = min(n, j0 + POINT_TILE)
        o0 = out[0, j0:j1]
        o1 = out[1, j0:j1]
        o2 = out[2, j0:j1]
        o3 = out[3, j0:j1]
        o0[:] = 0.0
        o1[:] = 0.0
        o2[:] = 0.0
        o3[:] = 0.0
        for c in range(d):
            row = AT[c, j0:j1]
            a0 = A[i0, c]
            a1 = A[i1, c]
            a2 = A[i2, c]
            a3 = A[i3, c]
            for j in range(row.shape[0]):
                x = row[j]
                o0[j] = max(o0[j], abs(x - a0))
                o1[j] = max(o1[j], abs(x - a1))
                o2[j] = max(o2[j], abs(x - a2))
                o3[j] = max(o3[j], abs(x - a3))


@njit(**JIT_OPTIONS)
def _push(val, idx, v, j):
    """Insert ``(v, j)`` into the ascending buffers if it beats the last entry.

    Candidates arrive in increasing ``j``; an entry equal to a held value goes
    after it, so the buffers hold the smallest ``(value, index)`` pairs.
    """
    last = val.shape[0] - 1
    if not v < val[last]:
        return
    p = last
    while p > 0 and val[p - 1] > v:
        val[p] = val[p - 1]
        idx[p] = idx[p - 1]
        p -= 1
    val[p] = v
    idx[p] = j


#: Entries per strip of :func:`select_smallest`: a strip is tested as a whole (one
#: vectorised comparison with the current threshold) and scanned one entry at a time
#: only when some entry beats it.  Measured on 64 x 2000 random rows, 10 kept: 6.5-7.3 ms
#: against 9.4 ms for the plain threshold scan (same results).
STRIP = 16


@njit(**JIT_OPTIONS)
def select_smallest(row, val, idx):
    """The smallest ``(row[j], j)`` pairs, ascending, into ``val`` and ``idx``.

    Ties are ranked by index.  Entries equal to ``inf`` are never selected (the
    caller sets excluded entries to ``inf``; unfilled places keep ``inf`` and
    index -1).  After the first strips almost no entry beats the threshold, so a
    strip usually costs one vectorised comparison.
    """
    n = row.shape[0]
    size = val.shape[0]
    val[:] = np.inf
    idx[:] = -1
    thr = np.inf
    full = n - n % STRIP
    for s in range(full // STRIP):
        b = s * STRIP
        hit = False
        for t in range(STRIP):
            hit |= row[b + t] < thr
        if hit:
            for t in range(STRIP):
                if row[b + t] < thr:
                    _push(val, idx, row[b + t], b + t)
                    thr = val[size - 1]
    for j in range(full, n):
        if row[j] < thr:
            _push(val, idx, row[j], j)
            thr = val[size - 1]


@njit(**JIT_OPTIONS)
def ksg_row(dx, dy, i, k, variant, dz, val, idx):
    """Marginal counts ``(n_x, n_y)`` of KSG point ``i`` from its distance rows.

    ``dx[j]``, ``dy[j]``: max-norm distances from point ``i`` in X and Y (``dz``:
    scratch of the same length).  The k
    nearest other points in the joint space are ranked by (distance, index).
    Variant 1: strict counts inside the k-th joint distance; variant 2:
    non-strict counts inside the marginal extents of the k neighbours.  The
    point itself is never counted.
    """
    n = dx.shape[0]
    for j in range(n):
        a = dx[j]
        b = dy[j]
        dz[j] = a if a > b else b
    dz[i] = np.inf
    select_smallest(dz, val, idx)
    n_x = 0
    n_y = 0
    if variant == 1:
        eps = val[k - 1]
        for j in range(n):
            n_x += dx[j] < eps
            n_y += dy[j] < eps
        if eps > 0.0:  # dx[i] = dy[i] = 0 was counted
            n_x -= 1
            n_y -= 1
    else:
        ex = 0.0
        ey = 0.0
        for t in range(k):
            ex = max(ex, dx[idx[t]])
            ey = max(ey, dy[idx[t]])
        for j in range(n):
            n_x += dx[j] <= ex
            n_y += dy[j] <= ey
        n_x -= 1
        n_y -= 1
    return n_x, n_y


@njit(**ENTRY_JIT_OPTIONS)
def ksg_counts(X, XT, Y, YT, k, variant, lo, hi, n_x, n_y):
    """KSG marginal counts of the points ``lo <= i < hi`` by max-norm brute force.

    Parameters
    ----------
    X, Y : ndarray of shape (n, dx), (n, dy)
        C-contiguous samples.
    XT, YT : ndarray of shape (dx, n), (dy, n)
        Their C-contiguous transposes.
    k : int
        ``1 <= k < n``.
    variant : {1, 2}
        KSG-1 or KSG-2 counts (see :func:`ksg_row`).
    lo, hi : int
        The query rows (any split of the rows gives the same counts).
    n_x, n_y : ndarray of shape (n,), int64
        Output, rows ``lo:hi``.
    """
    n = X.shape[0]
    dx = np.empty((QUERY_ROWS, n))
    dy = np.empty((QUERY_ROWS, n))
    dz = np.empty(n)
    val = np.empty(k)
    idx = np.empty(k, dtype=np.int64)
    for a in range(lo, hi, QUERY_ROWS):
        b = min(hi, a + QUERY_ROWS)
        chebyshev_rows(X, XT, a, b, dx)
        chebyshev_rows(Y, YT, a, b, dy)
        for r in range(b - a):
            cx, cy = ksg_row(dx[r], dy[r], a + r, k, variant, dz, val, idx)
            n_x[a + r] = cx
            n_y[a + r] = cy


# ----------------------------------------------------------------------------
# Euclidean (Kozachenko-Leonenko)
# ----------------------------------------------------------------------------
@njit(**JIT_OPTIONS)
def direct_distance(Z, i, j):
    """``sqrt(sum_c (Z[i, c] - Z[j, c]) ** 2)``, summed in coordinate order."""
    s = 0.0
    for c in range(Z.shape[1]):
        t = Z[i, c] - Z[j, c]
        s += t * t
    return np.sqrt(s)


@njit(**JIT_OPTIONS)
def _sort_small(a):
    """Insertion sort in place (a few entries)."""
    for p in range(1, a.shape[0]):
        v = a[p]
        q = p
        while q > 0 and a[q - 1] > v:
            a[q] = a[q - 1]
            q -= 1
        a[q] = v


@njit(**JIT_OPTIONS)
def _knn_row_direct(Z, i, out_row, val, idx):
    """``out_row``: the k smallest direct distances from point ``i`` to the others, ascending."""
    k = out_row.shape[0]
    kv = val[:k]
    ki = idx[:k]
    kv[:] = np.inf
    for j in range(Z.shape[0]):
        if j != i:
            _push(kv, ki, direct_distance(Z, i, j), j)
    for t in range(k):  # a loop: slice assignment would compile numpy's shape-error formatting
        out_row[t] = kv[t]


@njit(**ENTRY_JIT_OPTIONS)
def euclidean_knn(Z, C, CT, sq, slack, m, block, lo, hi, out, unsure):
    """Euclidean distances to the k nearest other rows, by blocked brute force.

    For each block of rows, ``G = C[rows] @ C.T`` (BLAS) gives the squared
    distances ``(-2 g + |a|^2) + |b|^2`` of the centred data ``C``; the
    ``m`` smallest (the point itself excluded) are candidates, whose distances
    are computed directly from ``Z``.  If the ``(m + 1)``-th smallest squared
    distance, less ``slack[i]`` (a bound on the product form's rounding error),
    could be below the k-th candidate's, row ``i`` is searched directly against
    every point and ``unsure[i]`` is set.

    Parameters
    ----------
    Z : ndarray of shape (n, d)
        The data.
    C : ndarray of shape (n, d)
        ``Z`` centred.
    CT : ndarray of shape (d, n)
        ``C.T`` (any layout Numba's ``np.dot`` takes).
    sq : ndarray of shape (n,)
        ``|C[i]|^2``.
    slack : ndarray of shape (n,)
        Rounding bound of the product form for each row.
    m : int
        Candidates per row, ``k <= m <= n - 1``.
    block : int
        Rows per matrix product.
    lo, hi : int
        The query rows; ``lo`` is a multiple of ``block`` so that the products are
        those of any other split (the result does not depend on them anyway).
    out : ndarray of shape (n, k)
        Output distances, ascending per row (rows ``lo:hi``).
    unsure : ndarray of shape (n,), bool
        Output: rows searched directly.
    """
    n = Z.shape[0]
    k = out.shape[1]
    every = m >= n - 1
    G = np.empty((block, n))
    val = np.empty(m + 1)
    idx = np.empty(m + 1, dtype=np.int64)
    exact = np.empty(m)
    for a in range(lo, hi, block):
        b = min(hi, a + block)
        g = G[: b - a]
        np.dot(C[a:b], CT, g)
        for r in range(b - a):
            i = a + r
            gr = g[r]
            si = sq[i]
            for j in range(n):
                gr[j] = (gr[j] * -2.0 + si) + sq[j]
            gr[i] = np.inf
            select_smallest(gr, val, idx)
            for t in range(m):
                exact[t] = direct_distance(Z, i, idx[t])
            _sort_small(exact)
            excluded = np.inf if every else val[m]
            kth = exact[k - 1]
            if excluded - slack[i] < kth * kth:
                unsure[i] = True
                _knn_row_direct(Z, i, out[i], val, idx)
            else:
                unsure[i] = False
                for t in range(k):
                    out[i, t] = exact[t]
