# The slice kernels, compiled twice from this one source: _slices.pyx for the baseline
# of the platform, _slices_avx2.pyx with AVX2 (x86-64), picked at import by
# fastsmi._cython._simd.  Both builds give the same bits (no FMA contraction, no
# fast-math: see COMPILE_ARGS in setup.py).
from libc.math cimport INFINITY, NAN, fabs, isnan, log, sqrt
from libc.stdint cimport uint64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy

from fastsmi import _algorithm, _config

cdef enum:
    # status codes of a slice (as in the Numba kernels)
    C_STATUS_OK = 0
    C_STATUS_CONSTANT_X = 1
    C_STATUS_CONSTANT_Y = 2
    # joint neighbour searches (codes as in the Numba backend)
    C_SEARCH_SWEEP = 0
    C_SEARCH_GRID = 1
    C_LANES_ALL = -1
    METRIC_MAX = 0
    METRIC_EUCLIDEAN = 1
    # counts scan this many sorted neighbours linearly before binary search
    LINEAR = 64
    # the lane scan's fixed shapes: queries a group, registers at most
    C_LANES = 8
    C_KTH_MAX = 8
    # queries whose strict counts are searched together
    COUNT_GROUP = 8

STATUS_OK = C_STATUS_OK
STATUS_CONSTANT_X = C_STATUS_CONSTANT_X
STATUS_CONSTANT_Y = C_STATUS_CONSTANT_Y
SEARCH_SWEEP = C_SEARCH_SWEEP
SEARCH_GRID = C_SEARCH_GRID

if (_algorithm.SEARCH_SWEEP, _algorithm.SEARCH_GRID, _algorithm.LANES_ALL) != (C_SEARCH_SWEEP, C_SEARCH_GRID,
                                                                              C_LANES_ALL):
    raise ImportError("fastsmi._cython._slices was built for other search codes than fastsmi._algorithm's; "
                      "rebuild it with `python setup.py build_ext --inplace`.")
if _algorithm.LANES != C_LANES or not 2 <= _algorithm.LANE_ROWS_SHORT <= _algorithm.KTH_REGISTERS <= C_KTH_MAX:
    raise ImportError(f"fastsmi._cython._slices runs {C_LANES} lanes and at most {C_KTH_MAX} registers; "
                      "fastsmi._algorithm asks for other shapes: change C_LANES / C_KTH_MAX in _slices.pyx and "
                      "rebuild.")

# The algorithm's constants, read once from fastsmi._algorithm (the one description
# both twins follow) into C globals.
cdef double GRID_POINTS_PER_CELL = _algorithm.GRID_POINTS_PER_CELL
cdef double GRID_POINTS_PER_CELL_K1 = _algorithm.GRID_POINTS_PER_CELL_K1
cdef int RADIX_KEY_BITS = _algorithm.RADIX_KEY_BITS
cdef Py_ssize_t BUCKET_CROWDED = _algorithm.BUCKET_CROWDED
cdef bint NEGATIVE_ZERO_IS_ZERO = _algorithm.NEGATIVE_ZERO_IS_ZERO
cdef int KTH_REGISTERS = _algorithm.KTH_REGISTERS
cdef int LANE_ROWS_SHORT = _algorithm.LANE_ROWS_SHORT
# a numerical constant that changes results, from the same place as the Numba twin's
cdef double WHITEN_MIN_RESIDUAL = _config.WHITEN_MIN_RESIDUAL

# Paths that change speed only, never a result; switched off one by one by
# ``_set_paths`` (tests and benchmarks), never by the library.
cdef bint USE_BUCKET = True
cdef bint USE_LANES = True
cdef bint USE_GROUPED_COUNTS = True

cdef uint64_t SIGN = 0x8000000000000000ULL
cdef uint64_t ALL = 0xFFFFFFFFFFFFFFFFULL


def constants() -> dict:
    """The algorithm constants this module runs with, as read from :mod:`fastsmi._algorithm`.

    Examples
    --------
    >>> from fastsmi._cython import _slices
    >>> _slices.constants()["GRID_POINTS_PER_CELL"]
    4.0
    """
    return {
        "GRID_POINTS_PER_CELL": GRID_POINTS_PER_CELL,
        "GRID_POINTS_PER_CELL_K1": GRID_POINTS_PER_CELL_K1,
        "RADIX_KEY_BITS": RADIX_KEY_BITS,
        "BUCKET_CROWDED": BUCKET_CROWDED,
        "NEGATIVE_ZERO_IS_ZERO": bool(NEGATIVE_ZERO_IS_ZERO),
        "KTH_REGISTERS": KTH_REGISTERS,
        "LANE_ROWS_SHORT": LANE_ROWS_SHORT,
        "LANES": C_LANES,
        "SEARCH_SWEEP": C_SEARCH_SWEEP,
        "SEARCH_GRID": C_SEARCH_GRID,
        "LANES_ALL": C_LANES_ALL,
        "WHITEN_MIN_RESIDUAL": WHITEN_MIN_RESIDUAL,
    }


def _set_paths(*, bucket: bool = True, lanes: bool = True, grouped_counts: bool = True) -> dict:
    """Switch the fast paths (bucket sort, lane scan, grouped counts); returns the previous setting.

    Every combination gives the same numbers: the switches exist so that tests can
    run each path (the radix sort, the ring search from a cold start, one query's
    counts at a time) and benchmarks can measure each path's gain.  Module-wide and
    not thread-safe: never called by the library.

    Examples
    --------
    >>> from fastsmi._cython import _slices
    >>> previous = _slices._set_paths(bucket=False)
    >>> _slices._set_paths(**previous)
    {'bucket': False, 'lanes': True, 'grouped_counts': True}
    """
    global USE_BUCKET, USE_LANES, USE_GROUPED_COUNTS
    previous = {"bucket": bool(USE_BUCKET), "lanes": bool(USE_LANES), "grouped_counts": bool(USE_GROUPED_COUNTS)}
    USE_BUCKET = bucket
    USE_LANES = lanes
    USE_GROUPED_COUNTS = grouped_counts
    return previous


cdef inline int lane_rows(Py_ssize_t k, int search) noexcept nogil:
    """Depth of the lane scan for ``k`` neighbours, as :func:`fastsmi._algorithm.lane_rows` (0: none)."""
    if search != C_SEARCH_GRID or k < 1 or k > KTH_REGISTERS or not USE_LANES:
        return 0
    return LANE_ROWS_SHORT if 2 <= k <= LANE_ROWS_SHORT else KTH_REGISTERS


# ----------------------------------------------------------------------------
# workspace
# ----------------------------------------------------------------------------
cdef struct Workspace:
    Py_ssize_t n
    Py_ssize_t k
    Py_ssize_t g         # grid side of the current slice
    Py_ssize_t gmax      # largest grid side the buffers hold
    double *x            # standardised first sample
    double *y            # standardised second sample
    double *xs           # first coordinate, sorted
    double *ysx          # second coordinate in x-order
    double *ys           # second coordinate, sorted
    Py_ssize_t *order    # original index of x-rank p
    Py_ssize_t *yrank    # y-order, then y-rank of x-rank p
    Py_ssize_t *iscratch # sort scratch (buckets, radix order) / inverse permutation / grid fill pointers
    Py_ssize_t *cell_start
    Py_ssize_t *members  # grid members' original indices
    Py_ssize_t *member_rank  # grid members' x-ranks
    Py_ssize_t *cell_of  # grid cell of each x-rank
    double *coords       # grid members' coordinates, (2, n): x then y
    double *bounds       # column and row bounds, (4, gmax + 1)
    Py_ssize_t *runs     # ring search: runs of CSR offsets, (8 gmax + 8, 2)
    double *nd           # neighbour distances by x-rank, (n, k); lane scan: pending registers
    Py_ssize_t *ni       # neighbour original indices by x-rank, (n, k); lane scan: pending rows
    double *kth          # k-th joint distance by x-rank
    Py_ssize_t *pending  # x-ranks the lane scan leaves to the ring search
    Py_ssize_t *count_x  # strict marginal counts by x-rank (KSG-1)
    Py_ssize_t *count_y
    double *kd           # one query's current k best distances
    Py_ssize_t *ki       # ... and their indices
    double *dscratch     # k scratch distances
    double *sums         # 4 k accumulators
    uint64_t *keys       # radix keys, (2, n)
    Py_ssize_t *counts   # radix histogram (257) / bucket counts (n + 1)
    double *wbuf         # whitening buffers, (3, n)
    Py_ssize_t *fill     # per-class fill pointers


cdef Py_ssize_t grid_size_max(Py_ssize_t n) noexcept nogil:
    """Largest grid side the workspace holds: 2 sqrt(n) (4n cells)."""
    cdef Py_ssize_t g = <Py_ssize_t>(2.0 * sqrt(<double>n))
    return g if g > 1 else 1


cdef Py_ssize_t grid_size(const double *a, const double *b, Py_ssize_t n, Py_ssize_t k) noexcept nogil:
    """Grid side for the points ``(a, b)``: about GRID_POINTS_PER_CELL points per occupied cell
    (GRID_POINTS_PER_CELL_K1 when k = 1).

    Dependent samples fill only a band around the diagonal of the quantile
    grid, of relative width about ``sqrt(1 - r^2)`` (r the sample
    correlation); the grid is refined accordingly, as in the Numba backend.
    Only speed depends on this choice.
    """
    cdef Py_ssize_t i, g, top
    cdef double ma = 0.0, mb = 0.0, saa = 0.0, sbb = 0.0, sab = 0.0, da, db, r2, width, floor_w
    cdef double per_cell = GRID_POINTS_PER_CELL_K1 if k == 1 else GRID_POINTS_PER_CELL
    for i in range(n):
        ma += a[i]
        mb += b[i]
    ma /= n
    mb /= n
    for i in range(n):
        da = a[i] - ma
        db = b[i] - mb
        saa += da * da
        sbb += db * db
        sab += da * db
    r2 = sab * sab / (saa * sbb) if saa > 0.0 and sbb > 0.0 else 0.0
    width = sqrt(1.0 - r2 if 1.0 - r2 > 0.0 else 0.0)
    floor_w = 1.0 / sqrt(<double>n)
    if width < floor_w:
        width = floor_w
    g = <Py_ssize_t>sqrt(n / (per_cell * width))
    if g < 1:
        g = 1
    top = grid_size_max(n)
    return g if g < top else top


cdef int ws_alloc(Workspace *ws, Py_ssize_t n, Py_ssize_t k, int search, Py_ssize_t n_classes) noexcept nogil:
    """Allocate every buffer; returns -1 on failure (then ``ws_free`` is safe)."""
    cdef Py_ssize_t g = grid_size_max(n) if search == C_SEARCH_GRID else 1
    cdef Py_ssize_t kk = k if k > 1 else 1
    cdef Py_ssize_t n_counts = n + 1 if n + 1 > 257 else 257
    ws.n = n
    ws.k = k
    ws.g = g
    ws.gmax = g
    ws.x = <double *>malloc(n * sizeof(double))
    ws.y = <double *>malloc(n * sizeof(double))
    ws.xs = <double *>malloc(n * sizeof(double))
    ws.ysx = <double *>malloc(n * sizeof(double))
    ws.ys = <double *>malloc(n * sizeof(double))
    ws.order = <Py_ssize_t *>malloc(n * sizeof(Py_ssize_t))
    ws.yrank = <Py_ssize_t *>malloc(n * sizeof(Py_ssize_t))
    # iscratch also holds the grid's fill pointers: up to gmax^2 <= 4 n cells
    ws.iscratch = <Py_ssize_t *>malloc((n if n > g * g else g * g) * sizeof(Py_ssize_t))
    ws.cell_start = <Py_ssize_t *>malloc((g * g + 1) * sizeof(Py_ssize_t))
    ws.members = <Py_ssize_t *>malloc(n * sizeof(Py_ssize_t))
    ws.member_rank = <Py_ssize_t *>malloc(n * sizeof(Py_ssize_t))
    ws.cell_of = <Py_ssize_t *>malloc(n * sizeof(Py_ssize_t))
    ws.coords = <double *>malloc(2 * n * sizeof(double))
    ws.bounds = <double *>malloc(4 * (g + 1) * sizeof(double))
    ws.runs = <Py_ssize_t *>malloc(2 * (8 * g + 8) * sizeof(Py_ssize_t))
    ws.nd = <double *>malloc(n * kk * sizeof(double))
    ws.ni = <Py_ssize_t *>malloc(n * kk * sizeof(Py_ssize_t))
    ws.kth = <double *>malloc(n * sizeof(double))
    ws.pending = <Py_ssize_t *>malloc(n * sizeof(Py_ssize_t))
    ws.count_x = <Py_ssize_t *>malloc(n * sizeof(Py_ssize_t))
    ws.count_y = <Py_ssize_t *>malloc(n * sizeof(Py_ssize_t))
    ws.kd = <double *>malloc(kk * sizeof(double))
    ws.ki = <Py_ssize_t *>malloc(kk * sizeof(Py_ssize_t))
    ws.dscratch = <double *>malloc(kk * sizeof(double))
    ws.sums = <double *>malloc(4 * kk * sizeof(double))
    ws.keys = <uint64_t *>malloc(2 * n * sizeof(uint64_t))
    ws.counts = <Py_ssize_t *>malloc(n_counts * sizeof(Py_ssize_t))
    ws.wbuf = <double *>malloc(3 * n * sizeof(double))
    ws.fill = <Py_ssize_t *>malloc((n_classes + 1) * sizeof(Py_ssize_t))
    if (ws.x == NULL or ws.y == NULL or ws.xs == NULL or ws.ysx == NULL or ws.ys == NULL
            or ws.order == NULL or ws.yrank == NULL or ws.iscratch == NULL or ws.cell_start == NULL
            or ws.members == NULL or ws.member_rank == NULL or ws.cell_of == NULL or ws.coords == NULL
            or ws.bounds == NULL or ws.runs == NULL or ws.nd == NULL or ws.ni == NULL or ws.kth == NULL
            or ws.pending == NULL or ws.count_x == NULL or ws.count_y == NULL or ws.kd == NULL
            or ws.ki == NULL or ws.dscratch == NULL or ws.sums == NULL or ws.keys == NULL
            or ws.counts == NULL or ws.wbuf == NULL or ws.fill == NULL):
        return -1
    return 0


cdef void ws_free(Workspace *ws) noexcept nogil:
    free(ws.x); free(ws.y); free(ws.xs); free(ws.ysx); free(ws.ys)
    free(ws.order); free(ws.yrank); free(ws.iscratch); free(ws.cell_start)
    free(ws.members); free(ws.member_rank); free(ws.cell_of); free(ws.coords); free(ws.bounds)
    free(ws.runs); free(ws.nd); free(ws.ni); free(ws.kth); free(ws.pending)
    free(ws.count_x); free(ws.count_y); free(ws.kd); free(ws.ki); free(ws.dscratch)
    free(ws.sums); free(ws.keys); free(ws.counts); free(ws.wbuf); free(ws.fill)


# ----------------------------------------------------------------------------
# preparing one slice
# ----------------------------------------------------------------------------
cdef bint standardize_column(const double *P, Py_ssize_t n, Py_ssize_t width, Py_ssize_t s,
                             const double *jitter, double *out, double tol) noexcept nogil:
    """``out = (P[:, s] - mean) / std + jitter``; False if the column is constant.

    A column whose range is at most ``tol`` (the rounding error of the
    projection) is constant.  The column is read once, strided, into ``out``;
    the other passes run on ``out``.
    """
    cdef Py_ssize_t i
    cdef double v, lo = P[s], hi = P[s], total = 0.0, mean, ss, dv, std
    for i in range(n):
        v = P[i * width + s]
        out[i] = v
        total += v
        if v < lo:
            lo = v
        if v > hi:
            hi = v
    if not hi - lo > tol:
        return False
    mean = total / n
    ss = 0.0
    for i in range(n):
        dv = out[i] - mean
        ss += dv * dv
    std = sqrt(ss / n)
    for i in range(n):
        out[i] = (out[i] - mean) / std + jitter[i]
    return True


# ----------------------------------------------------------------------------
# sorting
# ----------------------------------------------------------------------------
cdef void radix_passes(const double *values, Py_ssize_t n, Py_ssize_t *order, uint64_t *keys,
                       uint64_t *keys_tmp, Py_ssize_t *order_tmp, Py_ssize_t *counts, int low_bit) noexcept nogil:
    """Stable LSD radix sort (8-bit digits) of ``order`` on bits ``low_bit..63`` of the keys.

    On return ``keys`` and ``order`` hold the sorted keys and their indices.
    Passes whose digit is the same for every key are skipped.
    """
    cdef Py_ssize_t i, b, pos, shift
    cdef uint64_t bits = 0, digit, sh
    cdef uint64_t *src_k = keys
    cdef uint64_t *dst_k = keys_tmp
    cdef uint64_t *tk
    cdef Py_ssize_t *src_o = order
    cdef Py_ssize_t *dst_o = order_tmp
    cdef Py_ssize_t *to
    cdef bint skip
    for i in range(n):
        memcpy(&bits, &values[i], 8)
        if NEGATIVE_ZERO_IS_ZERO and bits == SIGN:  # -0.0 sorts as +0.0
            bits = 0
        keys[i] = (bits ^ ALL) if (bits & SIGN) else (bits | SIGN)
        order[i] = i
    for shift in range(low_bit, 64, 8):
        sh = <uint64_t>shift
        for b in range(257):
            counts[b] = 0
        for i in range(n):
            counts[((src_k[i] >> sh) & 0xFF) + 1] += 1
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
            digit = (src_k[i] >> sh) & 0xFF
            pos = counts[digit]
            dst_k[pos] = src_k[i]
            dst_o[pos] = src_o[i]
            counts[digit] = pos + 1
        tk = src_k; src_k = dst_k; dst_k = tk
        to = src_o; src_o = dst_o; dst_o = to
    if src_o != order:
        memcpy(order, src_o, n * sizeof(Py_ssize_t))
        memcpy(keys, src_k, n * sizeof(uint64_t))


cdef bint insertion_finish_keys(uint64_t *keys, Py_ssize_t *order, Py_ssize_t n, Py_ssize_t budget) noexcept nogil:
    """Stable insertion sort of the nearly sorted ``keys``, moving ``order`` along.

    An entry never moves past an equal one.  Returns True (``keys``/``order``
    then partly sorted) once more than ``budget`` entries have moved.
    """
    cdef Py_ssize_t i, j, idx
    cdef uint64_t key
    for i in range(1, n):
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


cdef bint insertion_finish_values(double *vals, Py_ssize_t *order, Py_ssize_t n, Py_ssize_t budget) noexcept nogil:
    """:func:`insertion_finish_keys` on float64 values (``-0.0`` and ``0.0`` compare equal)."""
    cdef Py_ssize_t i, j, idx
    cdef double key
    for i in range(1, n):
        key = vals[i]
        if vals[i - 1] <= key:
            continue
        idx = order[i]
        j = i - 1
        while j >= 0 and vals[j] > key:
            vals[j + 1] = vals[j]
            order[j + 1] = order[j]
            j -= 1
        vals[j + 1] = key
        order[j + 1] = idx
        budget -= i - 1 - j
        if budget < 0:
            return True
    return False


cdef bint radix_argsort(const double *values, Py_ssize_t n, Py_ssize_t *order, uint64_t *keys,
                        uint64_t *keys_tmp, Py_ssize_t *order_tmp, Py_ssize_t *counts) noexcept nogil:
    """Stable argsort of float64 ``values`` into ``order``; True if it fell back to all 64 bits.

    Floats map to unsigned keys of the same order.  A radix sort orders the
    keys' top RADIX_KEY_BITS bits; an insertion pass finishes the order on the
    whole keys, in O(n) when few neighbours agree on the top bits.  Should that
    pass move more than 4n entries, the sort is redone on all 64 bits.
    """
    radix_passes(values, n, order, keys, keys_tmp, order_tmp, counts, 64 - RADIX_KEY_BITS)
    if not insertion_finish_keys(keys, order, n, 4 * n):
        return False
    radix_passes(values, n, order, keys, keys_tmp, order_tmp, counts, 0)
    return True


cdef bint bucket_argsort(const double *values, Py_ssize_t n, Py_ssize_t *order, double *out,
                         Py_ssize_t *bucket, Py_ssize_t *counts) noexcept nogil:
    """Stable argsort of values of unit scale: ``order``, and ``out = values[order]``.

    Each value ``v`` goes to one of ``n`` buckets by ``u = v / (1 + |v|)`` (a
    monotone map onto (-1, 1) that standardised data fill nearly evenly): a
    stable counting pass, then an insertion pass that finishes the order on
    the values themselves, so the result is the stable argsort whatever the
    buckets are.  Returns True, with ``order``/``out`` undefined, when a bucket
    holds more than BUCKET_CROWDED values, a value is not finite, or the
    insertion pass would move more than 4n entries: the caller then sorts by
    :func:`radix_argsort`.  ``counts`` holds n + 1 entries.
    """
    cdef Py_ssize_t i, b, pos
    cdef double half = 0.5 * n, v, x
    for i in range(n):
        v = values[i]
        x = (v / (1.0 + fabs(v)) + 1.0) * half
        if not x >= 0.0:  # NaN, from a non-finite value: left to the radix sort
            return True
        b = <Py_ssize_t>x
        bucket[i] = b if b < n - 1 else n - 1
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
    return insertion_finish_values(out, order, n, 4 * n)


cdef void sort_values(const double *a, Py_ssize_t n, Workspace *ws, Py_ssize_t *order, double *out) noexcept nogil:
    """``order = argsort(a)`` (stable) and ``out = a[order]``: bucket sort, radix sort when values crowd."""
    cdef Py_ssize_t p
    if not USE_BUCKET or bucket_argsort(a, n, order, out, ws.iscratch, ws.counts):
        radix_argsort(a, n, order, ws.keys, ws.keys + n, ws.iscratch, ws.counts)
        for p in range(n):
            out[p] = a[order[p]]


def _argsort(const double[::1] values, *, bint bucket=True):
    """Stable argsort of ``values`` by the kernels' sort: ``(order, fell_back)``.

    ``bucket=False`` runs the radix sort alone.  ``fell_back`` tells whether the
    sort left its fast path (bucket to radix, or radix's 32 top bits to 64).
    For tests: ``np.argsort(values, kind="stable")`` must come out.

    Examples
    --------
    >>> import numpy as np
    >>> from fastsmi._cython import _slices
    >>> order, fell_back = _slices._argsort(np.array([0.5, -1.0, 0.0, -0.0, 2.0]))
    >>> order.tolist(), fell_back
    ([1, 2, 3, 0, 4], False)
    """
    import numpy as np
    cdef Py_ssize_t n = values.shape[0], p
    cdef Workspace ws
    order = np.empty(n, dtype=np.intp)
    if n == 0:
        return order, False
    cdef Py_ssize_t[::1] o = order
    cdef double[::1] out = np.empty(n)
    cdef bint fell = False
    if ws_alloc(&ws, n, 1, C_SEARCH_SWEEP, 0) != 0:
        ws_free(&ws)
        raise MemoryError("fastsmi: cannot allocate the sort workspace.")
    with nogil:
        if not bucket or bucket_argsort(&values[0], n, &o[0], &out[0], ws.iscratch, ws.counts):
            fell = bucket
            fell = radix_argsort(&values[0], n, &o[0], ws.keys, ws.keys + n, ws.iscratch, ws.counts) or fell
    ws_free(&ws)
    return order, bool(fell)


cdef void build_grid(Workspace *ws) noexcept nogil:
    """Bucket the points into a g x g grid over the quantiles of x and y."""
    cdef Py_ssize_t n = ws.n, g = ws.g, n_cells = ws.g * ws.g
    cdef Py_ssize_t c, lo, hi, p, cell, t
    cdef Py_ssize_t *cell_start = ws.cell_start
    cdef Py_ssize_t *fill = ws.iscratch
    cdef double *bounds = ws.bounds
    cdef Py_ssize_t gp = ws.gmax + 1
    for c in range(n_cells + 1):
        cell_start[c] = 0
    # column c holds the x-ranks p with (p * g) // n == c, likewise rows by y-rank
    for c in range(g):
        lo = (c * n + g - 1) // g
        hi = ((c + 1) * n + g - 1) // g
        bounds[c] = ws.xs[lo]
        bounds[gp + c] = ws.xs[hi - 1]
        bounds[2 * gp + c] = ws.ys[lo]
        bounds[3 * gp + c] = ws.ys[hi - 1]
    for p in range(n):
        cell = ((p * g) // n) * g + (ws.yrank[p] * g) // n
        ws.cell_of[p] = cell
        cell_start[cell + 1] += 1
    for c in range(n_cells):
        cell_start[c + 1] += cell_start[c]
    for c in range(n_cells):
        fill[c] = cell_start[c]
    for p in range(n):
        c = ws.cell_of[p]
        t = fill[c]
        ws.members[t] = ws.order[p]
        ws.member_rank[t] = p
        ws.coords[t] = ws.xs[p]
        ws.coords[n + t] = ws.ysx[p]
        fill[c] = t + 1


cdef void sort_joint(const double *a, const double *b, Workspace *ws, int search) noexcept nogil:
    """Sort the points ``(a[i], b[i])`` by each coordinate and build the search index for k neighbours."""
    cdef Py_ssize_t n = ws.n, p, r
    cdef Py_ssize_t *order = ws.order
    cdef Py_ssize_t *yrank = ws.yrank
    cdef Py_ssize_t *scratch = ws.iscratch
    sort_values(a, n, ws, order, ws.xs)
    for p in range(n):
        ws.ysx[p] = b[order[p]]
    sort_values(b, n, ws, yrank, ws.ys)
    for r in range(n):
        scratch[yrank[r]] = r
    for p in range(n):
        yrank[p] = scratch[order[p]]  # now: y-rank of x-rank p
    if search == C_SEARCH_GRID:
        ws.g = grid_size(a, b, n, ws.k)
        build_grid(ws)


# ----------------------------------------------------------------------------
# joint k nearest neighbours
# ----------------------------------------------------------------------------
cdef inline void insert(double *dist, Py_ssize_t *idx, Py_ssize_t k, double d, Py_ssize_t j) noexcept nogil:
    """Insert ``(d, j)`` into the ascending list of the k smallest ``(distance, index)``."""
    cdef Py_ssize_t last = k - 1, t
    if d > dist[last] or (d == dist[last] and j > idx[last]):
        return
    t = last
    while t > 0 and (dist[t - 1] > d or (dist[t - 1] == d and idx[t - 1] > j)):
        dist[t] = dist[t - 1]
        idx[t] = idx[t - 1]
        t -= 1
    dist[t] = d
    idx[t] = j


# The lane scan's inner step: one candidate ``(px, py)`` against the eight queries of a
# group.  ``st[r * C_LANES + lane]``, r = 0 .. rows - 1, holds a lane's smallest
# distances, ascending (the low rows pinned at -inf when k < rows); inserting ``d``
# sets the top row to min(top, max(d, top - 1)) and carries min(d, .) down.  Called
# with constant ``euclid`` and ``rows``, the function is inlined and specialised, the
# network unrolled, and the lane loop (constant trip count, no branch) vectorised.
cdef inline void lane_step(double *st, const double *qx, const double *qy, double px, double py, bint euclid,
                           int rows) noexcept nogil:
    cdef int lane, u, top = rows - 1
    cdef double dx, dy, d, r, c, m
    for lane in range(C_LANES):
        dx = fabs(px - qx[lane])
        dy = fabs(py - qy[lane])
        if euclid:
            d = dx * dx + dy * dy
        else:
            d = dy if dy > dx else dx
        r = st[(top - 1) * C_LANES + lane]
        c = d if d < r else r
        m = d if d > r else r
        st[top * C_LANES + lane] = m if m < st[top * C_LANES + lane] else st[top * C_LANES + lane]
        for u in range(top - 1, 0, -1):
            r = st[(u - 1) * C_LANES + lane]
            st[u * C_LANES + lane] = c if c > r else r
            c = c if c < r else r
        st[lane] = c


cdef inline void lane_step_self(double *st, const double *qx, const double *qy, double px, double py, bint euclid,
                                int rows, Py_ssize_t own, Py_ssize_t n_own) noexcept nogil:
    """:func:`lane_step` for a candidate that is the query of lane ``own`` (lanes past
    ``n_own`` repeat the last query, so when ``own == n_own - 1`` they skip it too)."""
    cdef int lane, u, top = rows - 1
    cdef double dx, dy, d, r, c, m
    for lane in range(C_LANES):
        dx = fabs(px - qx[lane])
        dy = fabs(py - qy[lane])
        if euclid:
            d = dx * dx + dy * dy
        else:
            d = dy if dy > dx else dx
        if lane == own or (own == n_own - 1 and lane >= n_own):
            d = INFINITY
        r = st[(top - 1) * C_LANES + lane]
        c = d if d < r else r
        m = d if d > r else r
        st[top * C_LANES + lane] = m if m < st[top * C_LANES + lane] else st[top * C_LANES + lane]
        for u in range(top - 1, 0, -1):
            r = st[(u - 1) * C_LANES + lane]
            st[u * C_LANES + lane] = c if c > r else r
            c = c if c < r else r
        st[lane] = c


cdef Py_ssize_t grid_kth_lanes(Workspace *ws, Py_ssize_t k, int metric, int rows) noexcept nogil:
    """k-th joint neighbour distance by a vectorised block scan; returns how many points it left.

    The members of one grid column are taken in their storage order (by cell)
    eight at a time.  Each group scans the candidates of its cells' 3 x 3 blocks
    (three contiguous runs of storage), with one query per lane: the distance to
    a candidate and the insertion into that lane's k smallest distances (a
    min/max network over ``rows`` registers) are branch-free.  A query's own
    storage position gets distance +inf.

    A lane's result is the k-th smallest distance over the scanned cells.  It is
    exact when below the gap to the nearest column or row outside them; such
    points get ``ws.kth[p]``.  The others get an upper bound there, and their
    x-ranks go to ``ws.pending`` for :func:`grid_knn_all`, which resumes from
    their k smallest distances (``ws.nd[s * k:(s + 1) * k]``) and the rows the
    scan covered (``ws.ni[s * k] = y_lo << 32 | y_hi``).  Euclidean distances are
    compared squared and rooted at the end, which gives the ring search's
    ``sqrt(dx * dx + dy * dy)`` (the square root is monotone).  As
    ``grid_kth_lanes`` of the Numba backend.
    """
    cdef Py_ssize_t n = ws.n, g = ws.g, gp = ws.gmax + 1
    cdef const Py_ssize_t *cell_start = ws.cell_start
    cdef const double *cxs = ws.coords
    cdef const double *cys = ws.coords + n
    cdef const double *bounds = ws.bounds
    cdef const Py_ssize_t *member_rank = ws.member_rank
    cdef double *kth = ws.kth
    cdef bint euclid = metric != METRIC_MAX
    cdef int top = rows - 1, lane, r
    cdef double st[C_KTH_MAX * C_LANES]
    cdef double qx[C_LANES]
    cdef double qy[C_LANES]
    cdef Py_ssize_t n_pending = 0, gx, gxx, col_end, x_lo, x_hi, row, last, a, b, y_lo, y_hi, q, t, t_end, p, j
    cdef double px, py, dx, dy, kd, x0, y0, bound, v
    for gx in range(g):
        col_end = cell_start[gx * g + g]
        x_lo = gx - 1 if gx > 0 else 0
        x_hi = gx + 1 if gx + 1 < g else g - 1
        row = 0
        a = cell_start[gx * g]
        while a < col_end:
            b = a + C_LANES if a + C_LANES < col_end else col_end
            while cell_start[gx * g + row + 1] <= a:
                row += 1
            last = row
            while cell_start[gx * g + last + 1] < b:
                last += 1
            y_lo = row - 1 if row > 0 else 0
            y_hi = last + 1 if last + 1 < g else g - 1
            for lane in range(C_LANES):
                q = a + lane if a + lane < b else b - 1
                for r in range(rows):
                    st[r * C_LANES + lane] = -INFINITY if r < rows - k else INFINITY
                qx[lane] = cxs[q]
                qy[lane] = cys[q]
            for gxx in range(x_lo, x_hi + 1):
                t_end = cell_start[gxx * g + y_hi + 1]
                for t in range(cell_start[gxx * g + y_lo], t_end):
                    px = cxs[t]
                    py = cys[t]
                    if a <= t < b:
                        lane_step_self(st, qx, qy, px, py, euclid, rows, t - a, b - a)
                    elif euclid:
                        if rows == 5:
                            lane_step(st, qx, qy, px, py, True, 5)
                        elif rows == 8:
                            lane_step(st, qx, qy, px, py, True, 8)
                        else:
                            lane_step(st, qx, qy, px, py, True, rows)
                    else:
                        if rows == 5:
                            lane_step(st, qx, qy, px, py, False, 5)
                        elif rows == 8:
                            lane_step(st, qx, qy, px, py, False, 8)
                        else:
                            lane_step(st, qx, qy, px, py, False, rows)
            for lane in range(b - a):
                t = a + lane
                p = member_rank[t]
                kd = st[top * C_LANES + lane]
                if euclid:
                    kd = sqrt(kd)
                x0 = cxs[t]
                y0 = cys[t]
                # gap to the nearest column or row outside the scanned ones
                bound = INFINITY
                if x_lo > 0 and x0 - bounds[gp + x_lo - 1] < bound:
                    bound = x0 - bounds[gp + x_lo - 1]
                if x_hi + 1 < g and bounds[x_hi + 1] - x0 < bound:
                    bound = bounds[x_hi + 1] - x0
                if y_lo > 0 and y0 - bounds[3 * gp + y_lo - 1] < bound:
                    bound = y0 - bounds[3 * gp + y_lo - 1]
                if y_hi + 1 < g and bounds[2 * gp + y_hi + 1] - y0 < bound:
                    bound = bounds[2 * gp + y_hi + 1] - y0
                kth[p] = kd  # exact, or an upper bound for the ring search
                if not (kd < bound or bound == INFINITY):
                    for j in range(k):
                        v = st[(top - k + 1 + j) * C_LANES + lane]
                        ws.nd[n_pending * k + j] = sqrt(v) if euclid else v
                    ws.ni[n_pending * k] = (y_lo << 32) | y_hi
                    ws.pending[n_pending] = p
                    n_pending += 1
            a = b
    return n_pending


cdef void grid_knn_all(Workspace *ws, int metric, bint registers, const Py_ssize_t *targets,
                       Py_ssize_t n_targets) noexcept nogil:
    """Exact k nearest neighbours of the x-ranks ``targets[:n_targets]`` by ring search over the quantile grid.

    As ``grid_knn_all`` of the Numba backend.  Row ``p`` of ``ws.nd``/``ws.ni``
    receives the neighbours of x-rank ``p``, sorted by ``(distance, original
    index)``.  The 3 x 3 block of cells around the query's cell is scanned
    first (its rows are contiguous in the cell order); further rings are
    scanned only while the k-th distance is not below the gap to the nearest
    unscanned column or row, and cells farther than the current k-th distance
    are skipped.

    With ``registers`` (k <= 8, after :func:`grid_kth_lanes`) only the k-th
    distance is kept, in ``ws.kth[p]``: the search resumes from the lane scan's
    k smallest distances of target ``s`` (``ws.nd[s * k:]``) and skips the
    cells the scan covered (columns ``cx - 1 .. cx + 1``, rows packed in
    ``ws.ni[s * k]``), so the result is the k smallest over the union, as from a
    cold start.  The k smallest then live in eight scalars and an insertion is a
    fixed min/max network.
    """
    cdef Py_ssize_t n = ws.n, k = ws.k, g = ws.g, gp = ws.gmax + 1
    cdef double *dist = ws.kd
    cdef Py_ssize_t *idx = ws.ki
    cdef const double *xs = ws.xs
    cdef const double *ysx = ws.ysx
    cdef const double *cxs = ws.coords
    cdef const double *cys = ws.coords + n
    cdef const double *bounds = ws.bounds
    cdef const Py_ssize_t *members = ws.members
    cdef const Py_ssize_t *cell_start = ws.cell_start
    cdef Py_ssize_t *runs = ws.runs
    cdef bint euclid = metric != METRIC_MAX
    cdef bint full, scanned
    cdef Py_ssize_t s, p, t, u, me, cx, cy, ring, lo_x, hi_x, lo_y, hi_y, gx, gy, gy_end, cell, j, n_runs, rr
    cdef Py_ssize_t skip_lo, skip_hi, packed
    cdef double x0, y0, gap_x, gap_y, gap, dx, dy, d, bound, kd, c
    cdef double r0, r1, r2, r3, r4, r5, r6, r7
    cdef const double *reg
    for s in range(n_targets):
        p = targets[s]
        for t in range(k):
            dist[t] = INFINITY
            idx[t] = n
        # register mode: r0 <= ... <= r7 hold the k smallest, the 8 - k lowest pinned
        # at -inf, so r7 is the k-th distance; they start from the lane scan's registers
        reg = ws.nd + s * k
        if registers:
            r0 = -INFINITY if k < 8 else reg[k - 8]
            r1 = -INFINITY if k < 7 else reg[k - 7]
            r2 = -INFINITY if k < 6 else reg[k - 6]
            r3 = -INFINITY if k < 5 else reg[k - 5]
            r4 = -INFINITY if k < 4 else reg[k - 4]
            r5 = -INFINITY if k < 3 else reg[k - 3]
            r6 = -INFINITY if k < 2 else reg[k - 2]
            r7 = reg[k - 1]
            packed = ws.ni[s * k]
            skip_lo = packed >> 32
            skip_hi = packed - (skip_lo << 32)
        else:
            r0 = r1 = r2 = r3 = r4 = r5 = r6 = r7 = INFINITY
            skip_lo = -1
            skip_hi = -2
        kd = r7
        x0 = xs[p]
        y0 = ysx[p]
        me = ws.order[p]
        cx = (p * g) // n
        cy = (ws.yrank[p] * g) // n
        n_runs = 0
        if not registers:
            for gx in range(cx - 1 if cx > 0 else 0, (cx + 1 if cx + 1 < g else g - 1) + 1):
                runs[2 * n_runs] = cell_start[gx * g + (cy - 1 if cy > 0 else 0)]
                runs[2 * n_runs + 1] = cell_start[gx * g + (cy + 1 if cy + 1 < g else g - 1) + 1]
                n_runs += 1
        ring = 1
        while True:
            for rr in range(n_runs):
                for t in range(runs[2 * rr], runs[2 * rr + 1]):
                    j = members[t]
                    dx = fabs(cxs[t] - x0)
                    dy = fabs(cys[t] - y0)
                    if euclid:
                        d = sqrt(dx * dx + dy * dy)
                    else:
                        d = dx if dx >= dy else dy
                    if d <= kd and j != me:
                        if registers:
                            if d < kd:
                                c = d if d < r6 else r6
                                r7 = d if d > r6 else r6
                                r6 = c if c > r5 else r5
                                c = c if c < r5 else r5
                                r5 = c if c > r4 else r4
                                c = c if c < r4 else r4
                                r4 = c if c > r3 else r3
                                c = c if c < r3 else r3
                                r3 = c if c > r2 else r2
                                c = c if c < r2 else r2
                                r2 = c if c > r1 else r1
                                c = c if c < r1 else r1
                                r1 = c if c > r0 else r0
                                r0 = c if c < r0 else r0
                                kd = r7
                        elif d < kd or j < idx[k - 1]:
                            u = k - 1
                            while u > 0 and (dist[u - 1] > d or (dist[u - 1] == d and idx[u - 1] > j)):
                                dist[u] = dist[u - 1]
                                idx[u] = idx[u - 1]
                                u -= 1
                            dist[u] = d
                            idx[u] = j
                            kd = dist[k - 1]
            lo_x = cx - ring
            hi_x = cx + ring
            lo_y = cy - ring
            hi_y = cy + ring
            bound = INFINITY
            if lo_x > 0 and x0 - bounds[gp + lo_x - 1] < bound:
                bound = x0 - bounds[gp + lo_x - 1]
            if hi_x + 1 < g and bounds[hi_x + 1] - x0 < bound:
                bound = bounds[hi_x + 1] - x0
            if lo_y > 0 and y0 - bounds[3 * gp + lo_y - 1] < bound:
                bound = y0 - bounds[3 * gp + lo_y - 1]
            if hi_y + 1 < g and bounds[2 * gp + hi_y + 1] - y0 < bound:
                bound = bounds[2 * gp + hi_y + 1] - y0
            if kd < bound or bound == INFINITY:
                break
            ring += 1
            lo_x -= 1
            hi_x += 1
            lo_y -= 1
            hi_y += 1
            n_runs = 0
            for gx in range(lo_x if lo_x > 0 else 0, (hi_x if hi_x < g - 1 else g - 1) + 1):
                if gx < cx:
                    gap_x = x0 - bounds[gp + gx]
                elif gx > cx:
                    gap_x = bounds[gx] - x0
                else:
                    gap_x = 0.0
                full = gx == lo_x or gx == hi_x
                gy = lo_y if lo_y > 0 else 0
                gy_end = hi_y if hi_y < g - 1 else g - 1
                while gy <= gy_end:
                    if not full and gy != lo_y and gy != hi_y:
                        gy = hi_y  # interior of the square: already scanned
                        continue
                    if gy < cy:
                        gap_y = y0 - bounds[3 * gp + gy]
                    elif gy > cy:
                        gap_y = bounds[2 * gp + gy] - y0
                    else:
                        gap_y = 0.0
                    if euclid:
                        gap = sqrt(gap_x * gap_x + gap_y * gap_y)
                    else:
                        gap = gap_x if gap_x >= gap_y else gap_y
                    scanned = cx - 1 <= gx <= cx + 1 and skip_lo <= gy <= skip_hi
                    if gap <= kd and not scanned:
                        cell = gx * g + gy
                        runs[2 * n_runs] = cell_start[cell]
                        runs[2 * n_runs + 1] = cell_start[cell + 1]
                        n_runs += 1
                    gy += 1
        if registers:
            ws.kth[p] = r7
        else:
            for t in range(k):
                ws.nd[p * k + t] = dist[t]
                ws.ni[p * k + t] = idx[t]


cdef void sweep_knn_all(Workspace *ws, int metric) noexcept nogil:
    """Exact k nearest neighbours of every point by a sweep over the x-sorted order."""
    cdef Py_ssize_t n = ws.n, k = ws.k, p, t, left, right, q
    cdef double *dist = ws.kd
    cdef Py_ssize_t *idx = ws.ki
    cdef const double *xs = ws.xs
    cdef const double *ysx = ws.ysx
    cdef bint euclid = metric != METRIC_MAX
    cdef double x0, y0, gl, gr, dx, dy, d
    for p in range(n):
        for t in range(k):
            dist[t] = INFINITY
            idx[t] = n
        x0 = xs[p]
        y0 = ysx[p]
        left = p - 1
        right = p + 1
        while True:
            gl = x0 - xs[left] if left >= 0 else INFINITY
            gr = xs[right] - x0 if right < n else INFINITY
            if gl <= gr:
                dx = gl
                q = left
                left -= 1
            else:
                dx = gr
                q = right
                right += 1
            if dx == INFINITY or dx > dist[k - 1]:
                break
            dy = fabs(ysx[q] - y0)
            if euclid:
                d = sqrt(dx * dx + dy * dy)
            else:
                d = dx if dx >= dy else dy
            if d <= dist[k - 1]:
                insert(dist, idx, k, d, ws.order[q])
        for t in range(k):
            ws.nd[p * k + t] = dist[t]
            ws.ni[p * k + t] = idx[t]


cdef void knn_all(Workspace *ws, int metric, int search) noexcept nogil:
    """k nearest joint neighbours of every point (after :func:`sort_joint`) into ``ws.nd``, ``ws.ni``."""
    cdef Py_ssize_t p, n = ws.n
    if search == C_SEARCH_GRID:
        for p in range(n):
            ws.pending[p] = p
        grid_knn_all(ws, metric, False, ws.pending, n)
    else:
        sweep_knn_all(ws, metric)


cdef void kth_all(Workspace *ws, int metric, int search, int lanes) noexcept nogil:
    """k-th joint neighbour distance of every x-rank into ``ws.kth`` (after :func:`sort_joint`).

    ``lanes`` is :func:`lane_rows` of ``(k, search)``: the depth of the lane scan
    whose pending points the ring search then settles, or 0 for the k-NN search.
    """
    cdef Py_ssize_t p, n = ws.n, k = ws.k, n_pending
    if lanes == 0:
        knn_all(ws, metric, search)
        for p in range(n):
            ws.kth[p] = ws.nd[p * k + k - 1]
        return
    n_pending = grid_kth_lanes(ws, k, metric, lanes)
    grid_knn_all(ws, metric, True, ws.pending, n_pending)


# ----------------------------------------------------------------------------
# 1-D neighbour primitives on sorted data
# ----------------------------------------------------------------------------
cdef inline Py_ssize_t count_up(const double *xs, Py_ssize_t n, Py_ssize_t start, double x0, double radius,
                                bint strict) noexcept nogil:
    """Number of ``j >= start`` with ``xs[j] - x0 < radius`` (``<=`` if not strict).

    The predicate holds on a prefix of ``xs[start:]``: a linear scan of up to
    ``LINEAR`` entries, then a binary search.
    """
    cdef Py_ssize_t j = start, limit = start + LINEAR, lo, hi, mid
    cdef double d
    if limit > n:
        limit = n
    if strict:
        while j < limit and xs[j] - x0 < radius:
            j += 1
    else:
        while j < limit and xs[j] - x0 <= radius:
            j += 1
    if j < limit or j == n:
        return j - start
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


cdef inline Py_ssize_t count_down(const double *xs, Py_ssize_t start, double x0, double radius,
                                  bint strict) noexcept nogil:
    """Number of ``j <= start`` with ``x0 - xs[j] < radius`` (``<=`` if not strict)."""
    cdef Py_ssize_t j = start, limit = start - LINEAR, lo, hi, mid
    cdef double d
    if limit < -1:
        limit = -1
    if strict:
        while j > limit and x0 - xs[j] < radius:
            j -= 1
    else:
        while j > limit and x0 - xs[j] <= radius:
            j -= 1
    if j > limit or j == -1:
        return start - j
    lo = 0
    hi = j + 1
    while lo < hi:
        mid = (lo + hi) >> 1
        d = x0 - xs[mid]
        if (d < radius) if strict else (d <= radius):
            hi = mid
        else:
            lo = mid + 1
    return start - lo + 1


cdef inline Py_ssize_t count_around(const double *xs, Py_ssize_t n, Py_ssize_t pos, double radius,
                                    bint strict) noexcept nogil:
    """Number of ``j != pos`` with ``|xs[j] - xs[pos]| < radius`` (or ``<=``); ``xs`` sorted."""
    cdef double x0 = xs[pos]
    return count_up(xs, n, pos + 1, x0, radius, strict) + count_down(xs, pos - 1, x0, radius, strict)


cdef Py_ssize_t count_within(const double *xs, Py_ssize_t n, double xi, double radius, bint strict) noexcept nogil:
    """Number of entries of sorted ``xs`` with ``|xs[j] - xi| < radius`` (or ``<=``)."""
    cdef Py_ssize_t lo = 0, hi = n, mid, left
    cdef double d
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


cdef inline void knn_sorted(const double *xs, Py_ssize_t n, Py_ssize_t pos, Py_ssize_t k, double *out) noexcept nogil:
    """The ``k`` nearest-neighbour distances of ``xs[pos]`` among the other entries, ascending."""
    cdef double x0 = xs[pos], dl, dr
    cdef Py_ssize_t left = pos - 1, right = pos + 1, j
    for j in range(k):
        dl = x0 - xs[left] if left >= 0 else INFINITY
        dr = xs[right] - x0 if right < n else INFINITY
        if dl <= dr:
            out[j] = dl
            left -= 1
        else:
            out[j] = dr
            right += 1


cdef void mean_log_knn_1d(const double *xs, Py_ssize_t n, Py_ssize_t k, double *scratch, double *sums,
                          double *acc) noexcept nogil:
    """``acc[j] += mean_i log r_{i,j+1}`` for sorted 1-D data ``xs`` (``sums``: k scratch)."""
    cdef Py_ssize_t p, j
    for j in range(k):
        sums[j] = 0.0
    for p in range(n):
        knn_sorted(xs, n, p, k, scratch)
        for j in range(k):
            sums[j] += log(scratch[j])
    for j in range(k):
        acc[j] += sums[j] / n


cdef void count_all_strict(const double *xs, const double *ys, const Py_ssize_t *y_rank, const double *radius,
                           Py_ssize_t n, Py_ssize_t *nx, Py_ssize_t *ny) noexcept nogil:
    """Strict marginal counts of every x-rank ``p`` with radius ``radius[p]``.

    ``nx[p]`` counts the ``j != p`` with ``|xs[j] - xs[p]| < radius[p]``, ``ny[p]``
    the same in ``ys`` around the y-rank ``y_rank[p]``: the difference of two
    prefix lengths, each found by a branch-free binary search (a conditional
    move a step).  Eight points are searched together, so their 32 independent
    searches overlap in the pipeline.  The comparisons are those of
    :func:`count_around`, so the counts agree exactly (``count_all_strict`` of
    the Numba backend).
    """
    cdef Py_ssize_t pos[4 * COUNT_GROUP]
    cdef double query[3 * COUNT_GROUP]
    cdef Py_ssize_t base, lane, p, length, half, a, b, c, d, top
    cdef double x0, y0, r
    base = 0
    while base < n:
        for lane in range(COUNT_GROUP):
            p = base + lane if base + lane < n else n - 1
            query[lane] = xs[p]
            query[COUNT_GROUP + lane] = ys[y_rank[p]]
            query[2 * COUNT_GROUP + lane] = radius[p]
            pos[lane] = 0
            pos[COUNT_GROUP + lane] = 0
            pos[2 * COUNT_GROUP + lane] = 0
            pos[3 * COUNT_GROUP + lane] = 0
        length = n
        while length > 1:
            half = length >> 1
            for lane in range(COUNT_GROUP):
                x0 = query[lane]
                y0 = query[COUNT_GROUP + lane]
                r = query[2 * COUNT_GROUP + lane]
                a = pos[lane] + half
                pos[lane] = a if xs[a] - x0 < r else pos[lane]
                b = pos[COUNT_GROUP + lane] + half
                pos[COUNT_GROUP + lane] = b if x0 - xs[b] >= r else pos[COUNT_GROUP + lane]
                c = pos[2 * COUNT_GROUP + lane] + half
                pos[2 * COUNT_GROUP + lane] = c if ys[c] - y0 < r else pos[2 * COUNT_GROUP + lane]
                d = pos[3 * COUNT_GROUP + lane] + half
                pos[3 * COUNT_GROUP + lane] = d if y0 - ys[d] >= r else pos[3 * COUNT_GROUP + lane]
            length -= half
        top = n - base if n - base < COUNT_GROUP else COUNT_GROUP
        for lane in range(top):
            p = base + lane
            x0 = query[lane]
            y0 = query[COUNT_GROUP + lane]
            r = query[2 * COUNT_GROUP + lane]
            if not r > 0.0:
                nx[p] = 0
                ny[p] = 0
                continue
            a = pos[lane] + (xs[pos[lane]] - x0 < r)
            b = pos[COUNT_GROUP + lane] + (x0 - xs[pos[COUNT_GROUP + lane]] >= r)
            c = pos[2 * COUNT_GROUP + lane] + (ys[pos[2 * COUNT_GROUP + lane]] - y0 < r)
            d = pos[3 * COUNT_GROUP + lane] + (y0 - ys[pos[3 * COUNT_GROUP + lane]] >= r)
            nx[p] = a - b - 1
            ny[p] = c - d - 1
        base += COUNT_GROUP


cdef void count_pair(const double *xs, const double *ys, Py_ssize_t n, Py_ssize_t px, Py_ssize_t py, double rx,
                     double ry, bint strict, Py_ssize_t *out) noexcept nogil:
    """``out = (count_around(xs, px, rx), count_around(ys, py, ry))`` by four branch-free searches.

    Over the whole sorted array ``xs[j] - x0 < rx`` holds on a prefix, and
    ``x0 - xs[j] >= rx`` on a prefix too, so the count is the difference of the
    two prefix lengths minus the point itself (``count_pair`` of the Numba
    backend).  Radii outside that argument's range go to :func:`count_around`.
    """
    cdef double x0 = xs[px], y0 = ys[py]
    cdef Py_ssize_t a = 0, b = 0, c = 0, d = 0, length = n, half
    if (not (rx > 0.0 and ry > 0.0)) if strict else (not (rx >= 0.0 and ry >= 0.0)):
        out[0] = count_around(xs, n, px, rx, strict)
        out[1] = count_around(ys, n, py, ry, strict)
        return
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
    out[0] = a - b - 1
    out[1] = c - d - 1


# ----------------------------------------------------------------------------
# whitening
# ----------------------------------------------------------------------------
cdef double whiten_pair(const double *x, const double *y, Py_ssize_t n, double *z1, double *u2,
                        double *z2) noexcept nogil:
    """Whiten the pair by its sample covariance; returns ``-0.5 log(1 - rho^2)`` (NaN if degenerate)."""
    cdef Py_ssize_t i
    cdef double mx = 0.0, my = 0.0, sxx = 0.0, syy = 0.0, sxy = 0.0, dx, dy
    cdef double rho, one_minus, sx, sy, root, a, b
    for i in range(n):
        mx += x[i]
        my += y[i]
    mx /= n
    my /= n
    for i in range(n):
        dx = x[i] - mx
        dy = y[i] - my
        sxx += dx * dx
        syy += dy * dy
        sxy += dx * dy
    rho = sxy / sqrt(sxx * syy)
    one_minus = 1.0 - rho * rho
    if not one_minus > WHITEN_MIN_RESIDUAL:
        return NAN
    sx = sqrt(sxx / n)
    sy = sqrt(syy / n)
    root = sqrt(one_minus)
    for i in range(n):
        a = (x[i] - mx) / sx
        b = (y[i] - my) / sy
        z1[i] = a
        u2[i] = b
        z2[i] = (b - rho * a) / root
    return -0.5 * log(one_minus)


# ----------------------------------------------------------------------------
# one-slice estimators
# ----------------------------------------------------------------------------
cdef double ksg_slice(Workspace *ws, int variant, int search, int lanes, const double *psi) noexcept nogil:
    """KSG estimate of I(x; y) without the constant ``psi(k) + psi(n)`` terms.

    ``lanes``: see :func:`kth_all` (KSG-1 only).
    """
    cdef Py_ssize_t n = ws.n, k = ws.k, p, yp, j, q
    cdef Py_ssize_t counts[2]
    cdef const double *x = ws.x
    cdef const double *y = ws.y
    cdef const double *xs = ws.xs
    cdef const double *ys = ws.ys
    cdef double total = 0.0, eps, x0, y0, ex, ey, dx, dy
    sort_joint(x, y, ws, search)
    if variant == 1:
        kth_all(ws, METRIC_MAX, search, lanes)
        if USE_GROUPED_COUNTS:
            count_all_strict(xs, ys, ws.yrank, ws.kth, n, ws.count_x, ws.count_y)
        else:
            for p in range(n):
                eps = ws.kth[p]
                ws.count_x[p] = count_around(xs, n, p, eps, True)
                ws.count_y[p] = count_around(ys, n, ws.yrank[p], eps, True)
        for p in range(n):
            total += psi[ws.count_x[p] + 1] + psi[ws.count_y[p] + 1]
        return -total / n
    knn_all(ws, METRIC_MAX, search)
    for p in range(n):
        yp = ws.yrank[p]
        x0 = xs[p]
        y0 = ys[yp]
        ex = 0.0
        ey = 0.0
        for j in range(k):
            q = ws.ni[p * k + j]
            dx = fabs(x[q] - x0)
            dy = fabs(y[q] - y0)
            if dx > ex:
                ex = dx
            if dy > ey:
                ey = dy
        if USE_GROUPED_COUNTS:
            count_pair(xs, ys, n, p, yp, ex, ey, False, counts)
        else:
            counts[0] = count_around(xs, n, p, ex, False)
            counts[1] = count_around(ys, n, yp, ey, False)
        total += psi[counts[0]] + psi[counts[1]]
    return -total / n


cdef double kl_slice(Workspace *ws, const double *coef, bint whiten, int search, int lanes) noexcept nogil:
    """``sum_j coef[0,j] Lx_j + coef[1,j] Ly_j + coef[2,j] Lxy_j`` (+ the whitening term).

    With ``lanes == C_LANES_ALL`` every joint ``Lxy_j``; otherwise only
    ``Lxy_{k-1}`` (the others are then 0, and so are their coefficients), from
    :func:`kth_all` with that ``lanes``.
    """
    cdef Py_ssize_t n = ws.n, k = ws.k, p, j
    cdef double extra = 0.0, total
    cdef const double *a = ws.x
    cdef const double *b = ws.y
    cdef const double *ym = ws.y
    cdef double *lx = ws.sums
    cdef double *ly = ws.sums + k
    cdef double *lxy = ws.sums + 2 * k
    cdef double *sums = ws.sums + 3 * k
    if whiten:
        extra = whiten_pair(ws.x, ws.y, n, ws.wbuf, ws.wbuf + n, ws.wbuf + 2 * n)
        if isnan(extra):
            return NAN
        a = ws.wbuf
        ym = ws.wbuf + n
        b = ws.wbuf + 2 * n
    for j in range(k):
        lx[j] = 0.0
        ly[j] = 0.0
        lxy[j] = 0.0
    sort_joint(a, b, ws, search)
    mean_log_knn_1d(ws.xs, n, k, ws.dscratch, sums, lx)
    if lanes != C_LANES_ALL:
        kth_all(ws, METRIC_EUCLIDEAN, search, lanes)
        total = 0.0
        for p in range(n):
            total += log(ws.kth[p])
        lxy[k - 1] = total / n
    else:
        knn_all(ws, METRIC_EUCLIDEAN, search)
        for j in range(k):
            sums[j] = 0.0
        for p in range(n):
            for j in range(k):
                sums[j] += log(ws.nd[p * k + j])
        for j in range(k):
            lxy[j] = sums[j] / n
    if whiten:
        sort_values(ym, n, ws, ws.yrank, ws.ysx)  # the x-ordered copy is no longer needed
        mean_log_knn_1d(ws.ysx, n, k, ws.dscratch, sums, ly)
    else:
        mean_log_knn_1d(ws.ys, n, k, ws.dscratch, sums, ly)
    total = extra
    for j in range(k):
        total += coef[j] * lx[j] + coef[k + j] * ly[j] + coef[2 * k + j] * lxy[j]
    return total


cdef void class_sorted(Workspace *ws, const long long *codes, const long long *class_start,
                       Py_ssize_t n_classes) noexcept nogil:
    """Sort x into ``xs``; gather each class's values, sorted, into ``ys`` (CSR by ``class_start``)."""
    cdef Py_ssize_t n = ws.n, p, i, c
    cdef double *cls_vals = ws.ys
    sort_values(ws.x, n, ws, ws.order, ws.xs)
    for c in range(n_classes):
        ws.fill[c] = <Py_ssize_t>class_start[c]
    for p in range(n):
        i = ws.order[p]
        c = <Py_ssize_t>codes[i]
        cls_vals[ws.fill[c]] = ws.x[i]
        ws.fill[c] += 1


cdef double ross_slice(Workspace *ws, const long long *codes, const long long *class_start,
                       Py_ssize_t n_classes, const double *psi) noexcept nogil:
    """Ross (2014) estimate without constants: ``-mean_i psi(m_i)``."""
    cdef Py_ssize_t n = ws.n, k = ws.k, c, q, m, size
    cdef const double *vals
    cdef double total = 0.0, radius
    class_sorted(ws, codes, class_start, n_classes)
    for c in range(n_classes):
        vals = ws.ys + class_start[c]
        size = <Py_ssize_t>(class_start[c + 1] - class_start[c])
        for q in range(size):
            knn_sorted(vals, size, q, k, ws.dscratch)
            radius = ws.dscratch[k - 1]
            m = count_within(ws.xs, n, vals[q], radius, False) - 1
            total += psi[m]
    return -total / n


cdef double kl_discrete_slice(Workspace *ws, const long long *codes, const long long *class_start,
                              Py_ssize_t n_classes, const double *coef) noexcept nogil:
    """``sum_j coef[0,j] mean_i log r_ij - coef[1,j] mean_i log r_ij^(class)``."""
    cdef Py_ssize_t n = ws.n, k = ws.k, c, q, j, size
    cdef const double *vals
    cdef double *lall = ws.sums
    cdef double *sums = ws.sums + k
    cdef double *tmp = ws.sums + 2 * k
    cdef double total = 0.0
    class_sorted(ws, codes, class_start, n_classes)
    for j in range(k):
        lall[j] = 0.0
    mean_log_knn_1d(ws.xs, n, k, ws.dscratch, tmp, lall)
    for j in range(k):
        sums[j] = 0.0
    for c in range(n_classes):
        vals = ws.ys + class_start[c]
        size = <Py_ssize_t>(class_start[c + 1] - class_start[c])
        for q in range(size):
            knn_sorted(vals, size, q, k, ws.dscratch)
            for j in range(k):
                sums[j] += log(ws.dscratch[j])
    for j in range(k):
        total += coef[j] * lall[j] - coef[k + j] * (sums[j] / n)
    return total


# ----------------------------------------------------------------------------
# chunks of slices (one call per thread)
# ----------------------------------------------------------------------------
def _check_chunk(Py_ssize_t n, Py_ssize_t k, Py_ssize_t lo, Py_ssize_t hi, Py_ssize_t width, Py_ssize_t n_out):
    if n < 2 or k < 1 or k >= n:
        raise ValueError(f"need 1 <= k < n and n >= 2, got k={k}, n={n}.")
    if not 0 <= lo <= hi <= n_out or hi > width:
        raise ValueError(f"slice range {lo}:{hi} does not fit {n_out} outputs and {width} projection columns.")


cdef bint prepare_pair(const double *px, const double *py, Py_ssize_t n, Py_ssize_t width, Py_ssize_t width_y,
                       Py_ssize_t s, const double *jx, const double *jy, double tol_x, double tol_y,
                       Workspace *ws, double[::1] out, signed char[::1] status) noexcept nogil:
    """Standardise slice ``s`` of X and Y into the workspace; flag a constant projection."""
    if not standardize_column(px, n, width, s, jx, ws.x, tol_x):
        status[s] = C_STATUS_CONSTANT_X
        out[s] = NAN
        return False
    if not standardize_column(py, n, width_y, s, jy, ws.y, tol_y):
        status[s] = C_STATUS_CONSTANT_Y
        out[s] = NAN
        return False
    return True


def ksg_chunk(const double[:, ::1] PX, const double[:, ::1] PY, const double[::1] JX, const double[::1] JY,
              double tol_x, double tol_y, Py_ssize_t k, int variant, int search, const double[::1] psi,
              double[::1] out, signed char[::1] status, Py_ssize_t lo, Py_ssize_t hi):
    """KSG (algorithm ``variant``) for the slices ``lo:hi``: ``(PX[:, s], PY[:, s])`` into ``out[s]``."""
    cdef Py_ssize_t n = PX.shape[0], width = PX.shape[1], s
    cdef Workspace ws
    _check_chunk(n, k, lo, hi, width, out.shape[0])
    if PY.shape[0] != n or PY.shape[1] < hi or JX.shape[0] != n or JY.shape[0] != n or psi.shape[0] < n + 2:
        raise ValueError("ksg_chunk: inconsistent array shapes.")
    if lo == hi:
        return
    cdef const double *px = &PX[0, 0]
    cdef const double *py = &PY[0, 0]
    cdef Py_ssize_t width_y = PY.shape[1]
    cdef const double *jx = &JX[0]
    cdef const double *jy = &JY[0]
    cdef const double *ps = &psi[0]
    cdef int ok
    cdef int lanes = lane_rows(k, search) if variant == 1 else 0
    with nogil:
        ok = ws_alloc(&ws, n, k, search, 0)
        if ok == 0:
            for s in range(lo, hi):
                if prepare_pair(px, py, n, width, width_y, s, jx, jy, tol_x, tol_y, &ws, out, status):
                    out[s] = ksg_slice(&ws, variant, search, lanes, ps)
        ws_free(&ws)
    if ok != 0:
        raise MemoryError("fastsmi: cannot allocate the slice workspace.")


def kl_chunk(const double[:, ::1] PX, const double[:, ::1] PY, const double[::1] JX, const double[::1] JY,
             double tol_x, double tol_y, Py_ssize_t k, const double[:, ::1] coef, bint whiten, int search,
             double[::1] out, signed char[::1] status, Py_ssize_t lo, Py_ssize_t hi):
    """Kozachenko-Leonenko MI terms for the slices ``lo:hi`` (``coef`` has shape (3, k))."""
    cdef Py_ssize_t n = PX.shape[0], width = PX.shape[1], s
    cdef Workspace ws
    _check_chunk(n, k, lo, hi, width, out.shape[0])
    if PY.shape[0] != n or PY.shape[1] < hi or JX.shape[0] != n or JY.shape[0] != n:
        raise ValueError("kl_chunk: inconsistent array shapes.")
    if coef.shape[0] != 3 or coef.shape[1] != k:
        raise ValueError(f"kl_chunk: coef must have shape (3, {k}), got ({coef.shape[0]}, {coef.shape[1]}).")
    if lo == hi:
        return
    cdef const double *px = &PX[0, 0]
    cdef const double *py = &PY[0, 0]
    cdef Py_ssize_t width_y = PY.shape[1]
    cdef const double *jx = &JX[0]
    cdef const double *jy = &JY[0]
    cdef const double *cf = &coef[0, 0]
    cdef int ok
    # the k-th joint distance alone when only it carries weight
    cdef int lanes = lane_rows(k, search)
    for s in range(k - 1):
        if coef[2, s] != 0.0:
            lanes = C_LANES_ALL
    with nogil:
        ok = ws_alloc(&ws, n, k, search, 0)
        if ok == 0:
            for s in range(lo, hi):
                if prepare_pair(px, py, n, width, width_y, s, jx, jy, tol_x, tol_y, &ws, out, status):
                    out[s] = kl_slice(&ws, cf, whiten, search, lanes)
        ws_free(&ws)
    if ok != 0:
        raise MemoryError("fastsmi: cannot allocate the slice workspace.")


def discrete_chunk(const double[:, ::1] PX, const double[::1] JX, double tol_x, const long long[::1] codes,
                   const long long[::1] class_start, Py_ssize_t k, bint ross, const double[::1] psi,
                   const double[:, ::1] coef, double[::1] out, signed char[::1] status, Py_ssize_t lo,
                   Py_ssize_t hi):
    """Continuous slices ``lo:hi`` against discrete labels: Ross KSG or KL entropies."""
    cdef Py_ssize_t n = PX.shape[0], width = PX.shape[1], s, c
    cdef Py_ssize_t n_classes = class_start.shape[0] - 1
    cdef Workspace ws
    _check_chunk(n, k, lo, hi, width, out.shape[0])
    if JX.shape[0] != n or codes.shape[0] != n or n_classes < 1 or class_start[n_classes] != n:
        raise ValueError("discrete_chunk: inconsistent labels.")
    for c in range(n_classes):
        if class_start[c + 1] - class_start[c] <= k:
            raise ValueError(f"discrete_chunk: every class needs more than k={k} samples.")
    for s in range(n):
        if codes[s] < 0 or codes[s] >= n_classes:
            raise ValueError("discrete_chunk: class codes out of range.")
    if ross and psi.shape[0] < n + 2:
        raise ValueError("discrete_chunk: psi too short.")
    if not ross and (coef.shape[0] != 2 or coef.shape[1] != k):
        raise ValueError(f"discrete_chunk: coef must have shape (2, {k}).")
    if lo == hi:
        return
    cdef const double *px = &PX[0, 0]
    cdef const double *jx = &JX[0]
    cdef const double *ps = &psi[0]
    cdef const double *cf = &coef[0, 0] if not ross else NULL
    cdef const long long *cd = &codes[0]
    cdef const long long *cs = &class_start[0]
    cdef int ok
    with nogil:
        ok = ws_alloc(&ws, n, k, C_SEARCH_SWEEP, n_classes)
        if ok == 0:
            for s in range(lo, hi):
                if not standardize_column(px, n, width, s, jx, ws.x, tol_x):
                    status[s] = C_STATUS_CONSTANT_X
                    out[s] = NAN
                elif ross:
                    out[s] = ross_slice(&ws, cd, cs, n_classes, ps)
                else:
                    out[s] = kl_discrete_slice(&ws, cd, cs, n_classes, cf)
        ws_free(&ws)
    if ok != 0:
        raise MemoryError("fastsmi: cannot allocate the slice workspace.")


def _joint_kth(const double[::1] a, const double[::1] b, Py_ssize_t k, *, bint euclidean=False, bint lanes=True):
    """k-th joint neighbour distance of every point ``(a[i], b[i])``, by the grid search: ``(kth, n_pending)``.

    ``kth[i]`` belongs to point ``i`` (max-norm, or Euclidean).  With ``lanes``
    (and k <= KTH_REGISTERS) the lane scan runs first and ``n_pending`` counts the
    points it left to the ring search, which resumes from its registers; without,
    the ring search runs alone from a cold start (``n_pending`` is then 0).  For
    tests: the result must be the brute-force k-th distance either way.

    Examples
    --------
    >>> import numpy as np
    >>> from fastsmi._cython import _slices
    >>> kth, _ = _slices._joint_kth(np.array([0.0, 1.0, 3.0]), np.array([0.0, 0.5, 0.0]), 1)
    >>> kth.tolist()
    [1.0, 1.0, 2.0]
    """
    import numpy as np
    cdef Py_ssize_t n = a.shape[0], p
    cdef Workspace ws
    cdef int metric = METRIC_EUCLIDEAN if euclidean else METRIC_MAX
    cdef int rows = 0
    cdef Py_ssize_t n_pending = 0
    if b.shape[0] != n or n < 2 or not 1 <= k < n:
        raise ValueError(f"need two samples of one length n >= 2 and 1 <= k < n, got {n}, {b.shape[0]}, k={k}.")
    kth = np.empty(n)
    cdef double[::1] out = kth
    if ws_alloc(&ws, n, k, C_SEARCH_GRID, 0) != 0:
        ws_free(&ws)
        raise MemoryError("fastsmi: cannot allocate the search workspace.")
    if lanes:
        rows = lane_rows(k, C_SEARCH_GRID)
    with nogil:
        memcpy(ws.x, &a[0], n * sizeof(double))
        memcpy(ws.y, &b[0], n * sizeof(double))
        sort_joint(ws.x, ws.y, &ws, C_SEARCH_GRID)
        if rows == 0:
            kth_all(&ws, metric, C_SEARCH_GRID, 0)
        else:
            n_pending = grid_kth_lanes(&ws, k, metric, rows)
            grid_knn_all(&ws, metric, True, ws.pending, n_pending)
        for p in range(n):
            out[ws.order[p]] = ws.kth[p]
    ws_free(&ws)
    return kth, int(n_pending)
