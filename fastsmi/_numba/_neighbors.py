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

#: Counts scan this many sorted neighbours linearly (vectorised) before
#: switching to binary search.
_LINEAR = 64


@njit(inline="always", **JIT_OPTIONS)
def _count_up(xs, start, x0, radius, strict):
    """Number of ``j >= start`` with ``xs[j] - x0 < radius`` (``<=`` if not strict).

    The predicate holds on a prefix of ``xs[start:]``: chunks of it are
    counted with a vectorisable loop, then a binary search takes over.
    """
    n = xs.shape[0]
    j = start
    limit = min(start + _LINEAR, n)
    while j < limit:
        end = min(j + 16, limit)
        m = 0
        if strict:
            for t in range(j, end):
                m += xs[t] - x0 < radius
        else:
            for t in range(j, end):
                m += xs[t] - x0 <= radius
        if m < end - j:
            return j + m - start
        j = end
    lo = j
    hi = n
    while lo < hi:
        mid = (lo + hi) >> 1
        d = xs[mid] - x0
        if (d < radius) if strict else (d <= radius):
            lo = mid + 1
        else:
            hi = mid
    return lo - start


@njit(inline="always", **JIT_OPTIONS)
def _count_down(xs, start, x0, radius, strict):
    """Number of ``j <= start`` with ``x0 - xs[j] < radius`` (``<=`` if not strict)."""
    j = start
    limit = max(start - _LINEAR, -1)
    while j > limit:
        end = max(j - 16, limit)
        m = 0
        if strict:
            for t in range(end + 1, j + 1):
                m += x0 - xs[t] < radius
        else:
            for t in range(end + 1, j + 1):
                m += x0 - xs[t] <= radius
        if m < j - end:
            return start - j + m
        j = end
    lo = 0
    hi = j + 1
    # first index in [0, j] where the predicate holds
    while lo < hi:
        mid = (lo + hi) >> 1
        d = x0 - xs[mid]
        if (d < radius) if strict else (d <= radius):
            hi = mid
        else:
            lo = mid + 1
    return start - lo + 1


@njit(**JIT_OPTIONS)
def count_around(xs, pos, radius, strict):
    """Number of ``j != pos`` with ``|xs[j] - xs[pos]| < radius`` (or ``<=``); ``xs`` sorted.

    Starts at the point's own position, so the cost is that of the count
    itself (vectorised) up to 64 neighbours a side, then O(log n).
    """
    x0 = xs[pos]
    return _count_up(xs, pos + 1, x0, radius, strict) + _count_down(xs, pos - 1, x0, radius, strict)


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
