"""The constants of the slice algorithm, read by both twins (Numba and Cython).

The Numba kernels (:mod:`fastsmi._numba._joint`) import these names; the Cython
kernels (:mod:`fastsmi._cython._slices`) read them at import into C globals and
export what they read, so ``tests/test_cython_twin.py`` can check that both
twins run one algorithm.  None of these constants changes a result: they set
only how fast the exact answer is found (the stable argsort is the stable
argsort whichever sort finds it; the k-th distance is exact whatever the grid).
The only exception is :data:`NEGATIVE_ZERO_IS_ZERO`, which fixes how ``-0.0``
and ``0.0`` order among themselves, and both twins read it here.

The jitter's amplitude, which does change results, is
:data:`fastsmi._config.JITTER_SCALE`; it is applied in Python before either
twin sees a slice.

This module imports nothing, so ``setup.py`` and the build can read it too.
"""
from __future__ import annotations

#: Target number of points per cell of the quantile grid, for k >= 2 and for k = 1.  A
#: query scans its cell's 3 x 3 block first, so denser cells mean fewer candidates but
#: more queries left for the ring search.  The densities were chosen by measurement
#: (docs/cython.md, "Why these constants").
GRID_POINTS_PER_CELL: float = 4.0
GRID_POINTS_PER_CELL_K1: float = 2.0

#: The radix sort orders the top RADIX_KEY_BITS bits of each key; an insertion pass
#: then orders the (rare) runs of values that agree on those bits.
RADIX_KEY_BITS: int = 32

#: A bucket of the bucket sort holding more than this many values sends the sort to the
#: radix sort at once (values crowded together, e.g. many exact ties).
BUCKET_CROWDED: int = 64

#: ``-0.0`` sorts as ``+0.0`` (the two compare equal and keep their index order), in
#: both the bucket and the radix sort, as ``np.argsort(kind="stable")`` orders them.
NEGATIVE_ZERO_IS_ZERO: bool = True

#: Largest k served by the k-th-distance register network (the lane scan, and the
#: register mode of the ring search).
KTH_REGISTERS: int = 8

#: Queries the lane scan handles together: one AVX-512 register or two AVX2 registers
#: of float64.
LANES: int = 8

#: Depth of the short lane scan's network, used for 2 <= k <= LANE_ROWS_SHORT; k = 1 and
#: LANE_ROWS_SHORT < k <= KTH_REGISTERS use the full depth KTH_REGISTERS, as measured
#: (docs/cython.md, "Why these constants").
LANE_ROWS_SHORT: int = 5

#: Search codes and the ``lanes`` value asking for every neighbour's distance.
SEARCH_SWEEP: int = 0
SEARCH_GRID: int = 1
LANES_ALL: int = -1


def lane_rows(k: int, search: int) -> int:
    """Depth of the lane scan run for ``k`` neighbours: LANE_ROWS_SHORT, KTH_REGISTERS, or 0 for none.

    Examples
    --------
    >>> lane_rows(5, SEARCH_GRID), lane_rows(1, SEARCH_GRID), lane_rows(9, SEARCH_GRID), lane_rows(5, SEARCH_SWEEP)
    (5, 8, 0, 0)
    """
    if search != SEARCH_GRID or not 1 <= k <= KTH_REGISTERS:
        return 0
    return LANE_ROWS_SHORT if 2 <= k <= LANE_ROWS_SHORT else KTH_REGISTERS


def grid_points_per_cell(k: int) -> float:
    """Target points per grid cell when k neighbours are sought.

    Examples
    --------
    >>> grid_points_per_cell(1), grid_points_per_cell(5)
    (2.0, 4.0)
    """
    return GRID_POINTS_PER_CELL_K1 if k == 1 else GRID_POINTS_PER_CELL
