"""Neighbour primitives on sorted 1-D data.

All distances are computed exactly as the brute-force references in
``tests/naive.py`` compute them (``abs(a - b)``), so strict and non-strict
comparisons agree bit for bit.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .._config import JIT_OPTIONS

METRIC_MAX = 0
METRIC_EUCLIDEAN = 1

@njit(inline="always", **JIT_OPTIONS)
def _inside(d, radius, strict):
    return d < radius if strict else d <= radius


@njit(inline="always", **JIT_OPTIONS)
def _count_up(xs, start, x0, radius, strict):
    """Number of ``j >= start`` with ``xs[j] - x0 < radius`` (``<=`` if not strict).

    The predicate holds on a prefix of ``xs[start:]``: gallop (1, 2, 4, ...)
    to bracket its end, then bisect, O(log count).
    """
    n = xs.shape[0]
    lo = start
    hi = start
    step = 1
    while hi < n and _inside(xs[hi] - x0, radius, strict):
        lo = hi + 1
        hi = start + step
        step *= 2
    if hi > n:
        hi = n
    while lo < hi:
        mid = (lo + hi) >> 1
        if _inside(xs[mid] - x0, radius, strict):
            lo = mid + 1
        else:
            hi = mid
    return lo - start


@njit(inline="always", **JIT_OPTIONS)
def _count_down(xs, start, x0, radius, strict):
    """Number of ``j <= start`` with ``x0 - xs[j] < radius`` (``<=`` if not strict)."""
    lo = start
    hi = start
    step = 1
    while lo >= 0 and _inside(x0 - xs[lo], radius, strict):
        hi = lo - 1
        lo = start - step
        step *= 2
    if lo < -1:
        lo = -1
    # the predicate holds on a suffix of xs[:start + 1]; find its first index in (lo, hi + 1]
    a = lo + 1
    b = hi + 1
    while a < b:
        mid = (a + b) >> 1
        if _inside(x0 - xs[mid], radius, strict):
            b = mid
        else:
            a = mid + 1
    return start - a + 1


@njit(**JIT_OPTIONS)
def count_around(xs, pos, radius, strict):
    """Number of ``j != pos`` with ``|xs[j] - xs[pos]| < radius`` (or ``<=``); ``xs`` sorted.

    Gallops outwards from the point's own position, so the cost is
    O(log count) rather than O(log n).
    """
    x0 = xs[pos]
    return _count_up(xs, pos + 1, x0, radius, strict) + _count_down(xs, pos - 1, x0, radius, strict)


@njit(**JIT_OPTIONS)
def count_pair(xs, ys, px, py, rx, ry, strict):
    """``(count_around(xs, px, rx), count_around(ys, py, ry))`` by four branch-free searches.

    Over the whole sorted array, ``xs[j] - x0 < rx`` holds on a prefix (every
    ``j <= px`` satisfies it when ``rx > 0``) and ``x0 - xs[j] >= rx`` on a
    prefix too (no ``j >= px`` satisfies it), so the count is the difference of
    the two prefix lengths, minus the point itself.  The four searches take the
    same ``ceil(log2 n)`` steps, interleaved, each step a conditional move, so
    no branch depends on the data (see ``LLVM_OPTIONS`` in ``fastsmi._config``).
    The comparisons are those of :func:`count_around`, so the counts agree
    exactly.  Radii outside that argument's range (0 or less if strict, negative
    otherwise) are passed to :func:`count_around`.
    """
    n = xs.shape[0]
    x0 = xs[px]
    y0 = ys[py]
    if not (rx > 0.0 and ry > 0.0) if strict else not (rx >= 0.0 and ry >= 0.0):
        return count_around(xs, px, rx, strict), count_around(ys, py, ry, strict)
    a = 0  # prefix where xs[j] - x0 < rx  (<= if not strict)
    b = 0  # prefix where x0 - xs[j] >= rx (> if not strict)
    c = 0
    d = 0
    length = n
    while length > 1:
        half = length >> 1
        if strict:
            a = a + half if xs[a + half] - x0 < rx else a
            b = b + half if x0 - xs[b + half] >= rx else b
            c = c + half if ys[c + half] - y0 < ry else c
            d = d + half if y0 - ys[d + half] >= ry else d
        else:
            a = a + half if xs[a + half] - x0 <= rx else a
            b = b + half if x0 - xs[b + half] > rx else b
            c = c + half if ys[c + half] - y0 <= ry else c
            d = d + half if y0 - ys[d + half] > ry else d
        length -= half
    if strict:
        a += xs[a] - x0 < rx
        b += x0 - xs[b] >= rx
        c += ys[c] - y0 < ry
        d += y0 - ys[d] >= ry
    else:
        a += xs[a] - x0 <= rx
        b += x0 - xs[b] > rx
        c += ys[c] - y0 <= ry
        d += y0 - ys[d] > ry
    return a - b - 1, c - d - 1


#: Points whose strict counts :func:`count_all_strict` interleaves (4 searches each).
COUNT_GROUP = 8


@njit(**JIT_OPTIONS)
def count_all_strict(xs, ys, y_rank, radius, nx, ny):
    """:func:`count_pair` (strict) for every x-rank ``p``, with radius ``radius[p]``.

    ``nx[p]`` counts the ``j != p`` with ``|xs[j] - xs[p]| < radius[p]``, ``ny[p]``
    the same in ``ys`` around the y-rank ``y_rank[p]``.  Eight points are searched
    together: their 32 branch-free searches are independent, so they overlap in
    the pipeline (measured 30% faster than one point at a time).
    """
    n = xs.shape[0]
    pos = np.zeros((4, COUNT_GROUP), np.int64)
    query = np.empty((3, COUNT_GROUP))
    for base in range(0, n, COUNT_GROUP):
        for lane in range(COUNT_GROUP):
            p = min(base + lane, n - 1)
            query[0, lane] = xs[p]
            query[1, lane] = ys[y_rank[p]]
            query[2, lane] = radius[p]
            for r in range(4):
                pos[r, lane] = 0
        length = n
        while length > 1:
            half = length >> 1
            for lane in range(COUNT_GROUP):
                x0 = query[0, lane]
                y0 = query[1, lane]
                r = query[2, lane]
                a = pos[0, lane] + half
                pos[0, lane] = a if xs[a] - x0 < r else pos[0, lane]
                b = pos[1, lane] + half
                pos[1, lane] = b if x0 - xs[b] >= r else pos[1, lane]
                c = pos[2, lane] + half
                pos[2, lane] = c if ys[c] - y0 < r else pos[2, lane]
                d = pos[3, lane] + half
                pos[3, lane] = d if y0 - ys[d] >= r else pos[3, lane]
            length -= half
        for lane in range(min(COUNT_GROUP, n - base)):
            p = base + lane
            x0 = query[0, lane]
            y0 = query[1, lane]
            r = query[2, lane]
            if not r > 0.0:
                nx[p] = 0
                ny[p] = 0
                continue
            a = pos[0, lane] + (xs[pos[0, lane]] - x0 < r)
            b = pos[1, lane] + (x0 - xs[pos[1, lane]] >= r)
            c = pos[2, lane] + (ys[pos[2, lane]] - y0 < r)
            d = pos[3, lane] + (y0 - ys[pos[3, lane]] >= r)
            nx[p] = a - b - 1
            ny[p] = c - d - 1


@njit(**JIT_OPTIONS)
def count_within(xs, xi, radius, strict):
    """Number of entries of sorted ``xs`` with ``|xs[j] - xi| < radius`` (or ``<=``).

    Binary searches on monotone predicates; used where the query is not a
    point of ``xs``.
    """
    n = xs.shape[0]
    lo, hi = 0, n
    while lo < hi:
        mid = (lo + hi) >> 1
        d = xi - xs[mid]
        if (d >= radius) if strict else (d > radius):
            lo = mid + 1
        else:
            hi = mid
    left = lo
    hi = n
    while lo < hi:
        mid = (lo + hi) >> 1
        d = xs[mid] - xi
        if (d < radius) if strict else (d <= radius):
            lo = mid + 1
        else:
            hi = mid
    return lo - left


@njit(**JIT_OPTIONS)
def count_all_within(xs, query, radius, out):
    """``out[i]`` = number of entries of sorted ``xs`` with ``|xs[j] - query[i]| <= radius[i]``.

    The comparisons are those of :func:`count_within` (not strict), so the counts
    agree exactly.  As in :func:`count_all_strict`, each count is the difference of
    two prefix lengths found by branch-free binary searches over the whole of
    ``xs``, :data:`COUNT_GROUP` queries at a time so that their searches overlap in
    the pipeline.  Every radius must be ``>= 0``.
    """
    n = xs.shape[0]
    b = query.shape[0]
    pos = np.zeros((2, COUNT_GROUP), np.int64)
    q = np.empty((2, COUNT_GROUP))
    for base in range(0, b, COUNT_GROUP):
        for lane in range(COUNT_GROUP):
            i = min(base + lane, b - 1)
            q[0, lane] = query[i]
            q[1, lane] = radius[i]
            pos[0, lane] = 0
            pos[1, lane] = 0
        length = n
        while length > 1:
            half = length >> 1
            for lane in range(COUNT_GROUP):
                x0 = q[0, lane]
                r = q[1, lane]
                a = pos[0, lane] + half
                pos[0, lane] = a if xs[a] - x0 <= r else pos[0, lane]
                c = pos[1, lane] + half
                pos[1, lane] = c if x0 - xs[c] > r else pos[1, lane]
            length -= half
        for lane in range(min(COUNT_GROUP, b - base)):
            x0 = q[0, lane]
            r = q[1, lane]
            a = pos[0, lane] + (xs[pos[0, lane]] - x0 <= r)
            c = pos[1, lane] + (x0 - xs[pos[1, lane]] > r)
            out[base + lane] = a - c


@njit(inline="always", **JIT_OPTIONS)
def kth_sorted(xs, pos, k):
    """Distance from ``xs[pos]`` to its ``k``-th nearest other entry of sorted ``xs``.

    The k nearest entries form a window of k + 1 consecutive entries holding
    ``pos``, so the k-th distance is the smallest, over those windows, of the
    larger of the two end distances: the same value as ``knn_sorted(...)[k - 1]``,
    from the same subtractions, without the merge's data-dependent branches.
    Needs ``k < len(xs)``.
    """
    n = xs.shape[0]
    x0 = xs[pos]
    best = np.inf
    for j in range(max(0, k - pos), min(k, n - 1 - pos) + 1):
        best = min(best, max(x0 - xs[pos - k + j], xs[pos + j] - x0))
    return best


@njit(**JIT_OPTIONS)
def knn_sorted(xs, pos, k, out):
    """The ``k`` nearest-neighbour distances of ``xs[pos]`` among the other entries.

    ``xs`` is sorted; the distances are written ascending into ``out[:k]``.
    O(k) by merging the left and right runs.
    """
    n = xs.shape[0]
    x0 = xs[pos]
    left = pos - 1
    right = pos + 1
    for j in range(k):
        dl = x0 - xs[left] if left >= 0 else np.inf
        dr = xs[right] - x0 if right < n else np.inf
        if dl <= dr:
            out[j] = dl
            left -= 1
        else:
            out[j] = dr
            right += 1


@njit(**JIT_OPTIONS)
def pair_moments(a, b):
    """Means and centred sums of squares and products of a pair: ``(ma, mb, saa, sbb, sab)``.

    Sequential sums in index order, so every caller gets the same bits.
    """
    n = a.shape[0]
    ma = 0.0
    mb = 0.0
    for i in range(n):
        ma += a[i]
        mb += b[i]
    ma /= n
    mb /= n
    saa = 0.0
    sbb = 0.0
    sab = 0.0
    for i in range(n):
        da = a[i] - ma
        db = b[i] - mb
        saa += da * da
        sbb += db * db
        sab += da * db
    return ma, mb, saa, sbb, sab
