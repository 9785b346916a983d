"""The per-thread workspace of the 1-D slice kernels: named, preallocated arrays.

A workspace is made once per thread and reused for every slice that thread
handles, so the hot loop allocates nothing.  It is a namedtuple: Numba compiles
it to the same structure as a plain tuple, and its fields are read by name.
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np
from numba import njit

from .._algorithm import SEARCH_GRID
from .._config import JIT_OPTIONS

#: The arrays of one thread's workspace (``n`` samples, ``k`` neighbours, grid side ``g``).
Workspace = namedtuple("Workspace", [
    "xs",           # (n,) first coordinate, sorted
    "ysx",          # (n,) second coordinate in x-order
    "ys",           # (n,) second coordinate, sorted
    "order",        # (n,) int: original index of x-rank p
    "y_rank",       # (n,) int: y-order / y-rank scratch
    "cell_start",   # (g*g + 1,) int: grid cell offsets (CSR)
    "members",      # (n,) int: grid members, original index
    "nd",           # (n, k) neighbour distances, by x-rank
    "ni",           # (n, k) int: neighbour original indices, by x-rank
    "scratch",      # (n,) int: scratch (radix)
    "dists",        # (max(k, 1),) scratch distances
    "coords",       # (2, n) grid members' coordinates
    "keys",         # (3, n) uint64: radix keys / cell of each x-rank
    "counts",       # (max(257, n + 1),) int: radix / bucket counts
    "bounds",       # (4, g + 1) column and row bounds
    "grid_side",    # (1,) int: grid side used for the current slice
    "kth",          # (n,) k-th neighbour distance, by x-rank (KSG-1)
    "member_rank",  # (n,) int: grid members, x-rank
    "pending",      # (n,) int: x-ranks left for the ring search
    "count_x",      # (n,) int: marginal counts in x, by x-rank (KSG-1)
    "count_y",      # (n,) int: marginal counts in y, by x-rank (KSG-1)
])


@njit(**JIT_OPTIONS)
def grid_size_max(n):
    """Largest grid side the workspace holds: 2 sqrt(n) (4n cells)."""
    return max(int(2.0 * np.sqrt(n)), 1)


@njit(**JIT_OPTIONS)
def alloc_workspace(n, k, search):
    """The :data:`Workspace` of one thread, for slices of ``n`` samples and ``k`` neighbours."""
    g = grid_size_max(n) if search == SEARCH_GRID else 1
    return Workspace(
        np.empty(n),
        np.empty(n),
        np.empty(n),
        np.empty(n, np.int64),
        np.empty(n, np.int64),
        np.empty(g * g + 1, np.int64),
        np.empty(n, np.int64),
        np.empty((n, k)),
        np.empty((n, k), np.int64),
        np.empty(n, np.int64),
        np.empty(max(k, 1)),
        np.empty((2, n)),
        np.empty((3, n), np.uint64),
        np.empty(max(257, n + 1), np.int64),
        np.empty((4, g + 1)),
        np.zeros(1, np.int64),
        np.empty(n),
        np.empty(n, np.int64),
        np.empty(n, np.int64),
        np.empty(n, np.int64),
        np.empty(n, np.int64),
    )
