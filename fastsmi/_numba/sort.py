"""Stable argsort of one slice's values, allocation-free: buckets, or LSD radix when values crowd.

Both sorts give the stable argsort (ties in index order), so which one runs never
changes a result.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .._algorithm import BUCKET_CROWDED, NEGATIVE_ZERO_IS_ZERO, RADIX_KEY_BITS
from .._config import JIT_OPTIONS

_SIGN = np.uint64(0x8000000000000000)
_ALL = np.uint64(0xFFFFFFFFFFFFFFFF)
_BYTE = np.uint64(0xFF)


@njit(**JIT_OPTIONS)
def _radix_passes(values, order, keys, keys_tmp, order_tmp, counts, low_bit):
    """Stable LSD radix sort (8-bit digits) of ``order`` on bits ``low_bit..63`` of the keys.

    On return ``keys`` and ``order`` hold the sorted keys and their indices.
    Passes whose digit is the same for every key are skipped.
    """
    n = values.shape[0]
    bits = values.view(np.uint64)
    for i in range(n):
        b = bits[i]
        if NEGATIVE_ZERO_IS_ZERO and b == _SIGN:  # -0.0 sorts as +0.0
            b = np.uint64(0)
        keys[i] = (b ^ _ALL) if (b & _SIGN) else (b | _SIGN)
        order[i] = i
    src_k = keys
    src_o = order
    dst_k = keys_tmp
    dst_o = order_tmp
    for shift in range(low_bit, 64, 8):
        sh = np.uint64(shift)
        for b in range(257):
            counts[b] = 0
        for i in range(n):
            counts[((src_k[i] >> sh) & _BYTE) + 1] += 1
        skip = False
        for b in range(1, 257):
            if counts[b] == n:
                skip = True
                break
        if skip:
            continue
        for b in range(256):
            counts[b + 1] += counts[b]
        for i in range(n):
            digit = (src_k[i] >> sh) & _BYTE
            pos = counts[digit]
            dst_k[pos] = src_k[i]
            dst_o[pos] = src_o[i]
            counts[digit] = pos + 1
        src_k, dst_k = dst_k, src_k
        src_o, dst_o = dst_o, src_o
    if src_o is not order:
        for i in range(n):
            order[i] = src_o[i]
            keys[i] = src_k[i]


@njit(**JIT_OPTIONS)
def _insertion_finish(keys, order, budget):
    """Stable insertion sort of the nearly sorted ``keys``, moving ``order`` along.

    An entry never moves past an equal one, so equal keys keep their order.  Stops
    and returns True (``keys``/``order`` then partly sorted) once more than
    ``budget`` entries have moved; the callers then sort another way.
    """
    for i in range(1, keys.shape[0]):
        key = keys[i]
        if keys[i - 1] <= key:
            continue
        idx = order[i]
        j = i - 1
        while j >= 0 and keys[j] > key:
            keys[j + 1] = keys[j]
            order[j + 1] = order[j]
            j -= 1
        keys[j + 1] = key
        order[j + 1] = idx
        budget -= i - 1 - j
        if budget < 0:
            return True
    return False


@njit(**JIT_OPTIONS)
def radix_argsort(values, order, keys, keys_tmp, order_tmp, counts):
    """Stable argsort of float64 ``values`` into ``order``.

    Floats are mapped to unsigned keys with the same order (flip all bits of
    negatives, the sign bit of positives; -0.0 counts as +0.0).  A radix sort
    orders the keys' top :data:`RADIX_KEY_BITS` bits; an insertion pass then
    finishes the order on the whole keys, in O(n) when few neighbours agree on
    the top bits.  Should that pass move more than 4n entries (values crowded
    within a relative 1e-6 of each other), the sort is redone on all 64 bits.
    Equal values keep their index order, as ``np.argsort(kind="stable")`` does:
    their keys are equal, the radix passes are stable and the insertion pass
    never moves an entry past an equal one.  Returns True if it fell back.
    """
    n = values.shape[0]
    _radix_passes(values, order, keys, keys_tmp, order_tmp, counts, 64 - RADIX_KEY_BITS)
    if not _insertion_finish(keys, order, 4 * n):
        return False
    _radix_passes(values, order, keys, keys_tmp, order_tmp, counts, np.int64(0))
    return True


@njit(**JIT_OPTIONS)
def bucket_argsort(values, order, out, bucket, counts):
    """Stable argsort of values of unit scale: ``order``, and ``out = values[order]``.

    Each value ``v`` goes to one of ``n`` buckets by ``u = v / (1 + |v|)``, a
    monotone map of the real line onto (-1, 1) under which standardised data
    (the projections, the whitened coordinates) fill the buckets nearly evenly,
    heavy tails included: a stable counting pass, then an insertion pass that
    finishes the order on the values themselves.  The result is therefore the
    stable argsort whatever the buckets are (``-0.0`` and ``0.0`` compare equal
    and keep their index order, as in :func:`radix_argsort`); the buckets only
    set the cost, O(n) when they are evenly filled.  Returns True, with
    ``order`` and ``out`` undefined, when a bucket holds more than
    :data:`BUCKET_CROWDED` values or the insertion pass would move more than
    4n entries: the caller then sorts by :func:`radix_argsort`.

    ``bucket`` is int64 scratch of length n, ``counts`` int64 of length n + 1.
    Faster than the radix sort on evenly spread data (``docs/architecture.md``).
    """
    n = values.shape[0]
    half = 0.5 * n
    for i in range(n):
        v = values[i]
        x = (v / (1.0 + abs(v)) + 1.0) * half
        if not x >= 0.0:  # NaN, from a non-finite value: left to the radix sort
            return True
        bucket[i] = min(int(x), n - 1)
    for b in range(n + 1):
        counts[b] = 0
    for i in range(n):
        counts[bucket[i] + 1] += 1
    for b in range(n):
        if counts[b + 1] > BUCKET_CROWDED:
            return True
        counts[b + 1] += counts[b]
    for i in range(n):
        b = bucket[i]
        pos = counts[b]
        counts[b] = pos + 1
        out[pos] = values[i]
        order[pos] = i
    return _insertion_finish(out, order, 4 * n)


@njit(**JIT_OPTIONS)
def sort_values(a, ws, order, out):
    """``order = argsort(a)`` (stable) and ``out = a[order]``.

    :func:`bucket_argsort` first; :func:`radix_argsort` when the values crowd.
    Both give the stable argsort, so the choice never changes a result.
    """
    if bucket_argsort(a, order, out, ws.scratch, ws.counts):
        keys = ws.keys
        radix_argsort(a, order, keys[0], keys[1], ws.scratch, ws.counts)
        for p in range(a.shape[0]):
            out[p] = a[order[p]]
