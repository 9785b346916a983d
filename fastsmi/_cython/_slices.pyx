# distutils: extra_compile_args = -ffp-contract=off
# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False
# -ffp-contract=off: never fuse ``a * b + c`` into an FMA, so every sum is the
# same sequence of IEEE operations as in the Numba kernels (which never fuse).
"""Compiled 1-D slice kernels: the Cython twin of :mod:`fastsmi._numba._kernels`.

Every function here computes the same numbers as its Numba counterpart, with
the same operations in the same order:

* each projection column is standardised with sequential sums in index order
  (``mean = sum / n``, ``std = sqrt(sum((p - mean)^2) / n)``), then jittered;
* the ``seed`` estimator whitens the pair exactly like ``whiten_pair``;
* samples are sorted by a stable LSD radix argsort (ties keep index order);
* joint k-nearest neighbours are exact, ordered by ``(distance, original
  index)``, found by a sweep over the x-sorted order or by a ring search over
  a grid of x/y quantiles;
* marginal counts are strict (``<``) for KSG-1 and non-strict for KSG-2 and
  Ross, with distances computed as ``xs[j] - x0`` like the references.

The Python-level entry points (``ksg_chunk``, ``kl_chunk``,
``discrete_chunk``) estimate the slices ``lo:hi`` of one block of
projections with the GIL released; :mod:`fastsmi._cython.backend` runs
contiguous chunks of slices on Python threads.  A workspace is allocated once
per chunk, so the loop over slices allocates nothing.
"""
from libc.math cimport INFINITY, NAN, fabs, isnan, log, sqrt
from libc.stdint cimport uint64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy

cdef enum:
    # status codes of a slice (as in the Numba kernels)
    C_STATUS_OK = 0
    C_STATUS_CONSTANT_X = 1
    C_STATUS_CONSTANT_Y = 2
    # joint neighbour searches (codes as in the Numba backend)
    C_SEARCH_SWEEP = 0
    C_SEARCH_GRID = 1
    METRIC_MAX = 0
    METRIC_EUCLIDEAN = 1
    # counts scan this many sorted neighbours linearly before binary search
    LINEAR = 64

#: Target number of points per cell of the quantile grid.
cdef double GRID_POINTS_PER_CELL = 3.0

STATUS_OK = C_STATUS_OK
STATUS_CONSTANT_X = C_STATUS_CONSTANT_X
STATUS_CONSTANT_Y = C_STATUS_CONSTANT_Y
SEARCH_SWEEP = C_SEARCH_SWEEP
SEARCH_GRID = C_SEARCH_GRID

cdef uint64_t SIGN = 0x8000000000000000ULL
cdef uint64_t ALL = 0xFFFFFFFFFFFFFFFFULL


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
    Py_ssize_t *iscratch # radix order scratch / inverse permutation / grid fill pointers
    Py_ssize_t *cell_start
    Py_ssize_t *members  # grid members' original indices
    Py_ssize_t *cell_of  # grid cell of each x-rank
    double *coords       # grid members' coordinates, (2, n)
    double *bounds       # column and row bounds, (4, gmax + 1)
    double *nd           # neighbour distances by x-rank, (n, k)
    Py_ssize_t *ni       # neighbour original indices by x-rank, (n, k)
    double *kd           # one query's current k best distances
    Py_ssize_t *ki       # ... and their indices
    double *dscratch     # k scratch distances
    double *sums         # 4 k accumulators
    uint64_t *keys       # radix keys, (2, n)
    Py_ssize_t *counts   # radix histogram, 257
    double *wbuf         # whitening buffers, (3, n)
    Py_ssize_t *fill     # per-class fill pointers


cdef Py_ssize_t grid_size_max(Py_ssize_t n) noexcept nogil:
    """Largest grid side the workspace holds: 2 sqrt(n) (4n cells)."""
    cdef Py_ssize_t g = <Py_ssize_t>(2.0 * sqrt(<double>n))
    return g if g > 1 else 1


cdef Py_ssize_t grid_size(const double *a, const double *b, Py_ssize_t n) noexcept nogil:
    """Grid side for the points ``(a, b)``: about GRID_POINTS_PER_CELL points per occupied cell.

    Dependent samples fill only a band around the diagonal of the quantile
    grid, of relative width about ``sqrt(1 - r^2)`` (r the sample
    correlation); the grid is refined accordingly, as in the Numba backend.
    Only speed depends on this choice.
    """
    cdef Py_ssize_t i, g, top
    cdef double ma = 0.0, mb = 0.0, saa = 0.0, sbb = 0.0, sab = 0.0, da, db, r2, width, floor_w
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
    g = <Py_ssize_t>sqrt(n / (GRID_POINTS_PER_CELL * width))
    if g < 1:
        g = 1
    top = grid_size_max(n)
    return g if g < top else top


cdef int ws_alloc(Workspace *ws, Py_ssize_t n, Py_ssize_t k, int search, Py_ssize_t n_classes) noexcept nogil:
    """Allocate every buffer; returns -1 on failure (then ``ws_free`` is safe)."""
    cdef Py_ssize_t g = grid_size_max(n) if search == C_SEARCH_GRID else 1
    cdef Py_ssize_t kk = k if k > 1 else 1
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
    ws.cell_of = <Py_ssize_t *>malloc(n * sizeof(Py_ssize_t))
    ws.coords = <double *>malloc(2 * n * sizeof(double))
    ws.bounds = <double *>malloc(4 * (g + 1) * sizeof(double))
    ws.nd = <double *>malloc(n * kk * sizeof(double))
    ws.ni = <Py_ssize_t *>malloc(n * kk * sizeof(Py_ssize_t))
    ws.kd = <double *>malloc(kk * sizeof(double))
    ws.ki = <Py_ssize_t *>malloc(kk * sizeof(Py_ssize_t))
    ws.dscratch = <double *>malloc(kk * sizeof(double))
    ws.sums = <double *>malloc(4 * kk * sizeof(double))
    ws.keys = <uint64_t *>malloc(2 * n * sizeof(uint64_t))
    ws.counts = <Py_ssize_t *>malloc(257 * sizeof(Py_ssize_t))
    ws.wbuf = <double *>malloc(3 * n * sizeof(double))
    ws.fill = <Py_ssize_t *>malloc((n_classes + 1) * sizeof(Py_ssize_t))
    if (ws.x == NULL or ws.y == NULL or ws.xs == NULL or ws.ysx == NULL or ws.ys == NULL
            or ws.order == NULL or ws.yrank == NULL or ws.iscratch == NULL or ws.cell_start == NULL
            or ws.members == NULL or ws.cell_of == NULL or ws.coords == NULL or ws.bounds == NULL
            or ws.nd == NULL or ws.ni == NULL or ws.kd == NULL or ws.ki == NULL or ws.dscratch == NULL
            or ws.sums == NULL or ws.keys == NULL or ws.counts == NULL or ws.wbuf == NULL
            or ws.fill == NULL):
        return -1
    return 0


cdef void ws_free(Workspace *ws) noexcept nogil:
    free(ws.x); free(ws.y); free(ws.xs); free(ws.ysx); free(ws.ys)
    free(ws.order); free(ws.yrank); free(ws.iscratch); free(ws.cell_start)
    free(ws.members); free(ws.cell_of); free(ws.coords); free(ws.bounds)
    free(ws.nd); free(ws.ni); free(ws.kd); free(ws.ki); free(ws.dscratch)
    free(ws.sums); free(ws.keys); free(ws.counts); free(ws.wbuf); free(ws.fill)


# ----------------------------------------------------------------------------
# preparing one slice
# ----------------------------------------------------------------------------
cdef bint standardize_column(const double *P, Py_ssize_t n, Py_ssize_t width, Py_ssize_t s,
                             const double *jitter, double *out, double tol) noexcept nogil:
    """``out = (P[:, s] - mean) / std + jitter``; False if the column is constant.

    A column whose range is at most ``tol`` (the rounding error of the
    projection) is constant.
    """
    cdef Py_ssize_t i
    cdef double v, lo = P[s], hi = P[s], total = 0.0, mean, ss, dv, std
    for i in range(n):
        v = P[i * width + s]
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
        dv = P[i * width + s] - mean
        ss += dv * dv
    std = sqrt(ss / n)
    for i in range(n):
        out[i] = (P[i * width + s] - mean) / std + jitter[i]
    return True


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
    # below 1e-12 the pair is linearly dependent up to the tie-breaking jitter (1e-20): refused
    if not one_minus > 1e-12:
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
# sorting
# ----------------------------------------------------------------------------
cdef void radix_argsort(const double *values, Py_ssize_t n, Py_ssize_t *order, uint64_t *keys,
                        uint64_t *keys_tmp, Py_ssize_t *order_tmp, Py_ssize_t *counts) noexcept nogil:
    """Stable argsort of float64 ``values`` (LSD radix, 8-bit digits; constant digits skipped)."""
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
        keys[i] = (bits ^ ALL) if (bits & SIGN) else (bits | SIGN)
        order[i] = i
    for shift in range(0, 64, 8):
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


cdef void sort_values(const double *a, Py_ssize_t n, Workspace *ws, Py_ssize_t *order, double *out) noexcept nogil:
    """``order = argsort(a)`` (stable) and ``out = a[order]``."""
    cdef Py_ssize_t p
    radix_argsort(a, n, order, ws.keys, ws.keys + n, ws.iscratch, ws.counts)
    for p in range(n):
        out[p] = a[order[p]]


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
        ws.coords[2 * t] = ws.xs[p]
        ws.coords[2 * t + 1] = ws.ysx[p]
        fill[c] = t + 1


cdef void sort_joint(const double *a, const double *b, Workspace *ws, int search) noexcept nogil:
    """Sort the points ``(a[i], b[i])`` by each coordinate and build the search index."""
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
        ws.g = grid_size(a, b, n)
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


cdef void grid_knn_all(Workspace *ws, int metric) noexcept nogil:
    """Exact k nearest neighbours of every point by ring search over the quantile grid.

    Same algorithm as ``grid_knn_all`` of the Numba backend: rings of cells
    around the query's cell are scanned outwards, skipping cells whose box is
    farther than the current k-th distance, until the k-th distance is below
    the gap to the nearest unscanned column or row.
    """
    cdef Py_ssize_t n = ws.n, k = ws.k, g = ws.g, gp = ws.gmax + 1
    cdef double *dist = ws.kd
    cdef Py_ssize_t *idx = ws.ki
    cdef const double *xs = ws.xs
    cdef const double *ysx = ws.ysx
    cdef const double *coords = ws.coords
    cdef const double *bounds = ws.bounds
    cdef const Py_ssize_t *members = ws.members
    cdef const Py_ssize_t *cell_start = ws.cell_start
    cdef bint euclid = metric != METRIC_MAX
    cdef bint full
    cdef Py_ssize_t p, t, me, cx, cy, ring, lo_x, hi_x, lo_y, hi_y, gx, gy, gy_end, c, j
    cdef double x0, y0, gap_x, gap_y, gap, dx, dy, d, bound, kth
    for p in range(n):
        for t in range(k):
            dist[t] = INFINITY
            idx[t] = n
        x0 = xs[p]
        y0 = ysx[p]
        me = ws.order[p]
        cx = (p * g) // n
        cy = (ws.yrank[p] * g) // n
        ring = 0
        while True:
            lo_x = cx - ring
            hi_x = cx + ring
            lo_y = cy - ring
            hi_y = cy + ring
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
                    if gap <= dist[k - 1]:
                        c = gx * g + gy
                        kth = dist[k - 1]
                        for t in range(cell_start[c], cell_start[c + 1]):
                            dx = fabs(coords[2 * t] - x0)
                            dy = fabs(coords[2 * t + 1] - y0)
                            if euclid:
                                d = sqrt(dx * dx + dy * dy)
                            else:
                                d = dx if dx >= dy else dy
                            if d <= kth:
                                j = members[t]
                                if j != me:
                                    insert(dist, idx, k, d, j)
                                    kth = dist[k - 1]
                    gy += 1
            bound = INFINITY
            if lo_x > 0 and x0 - bounds[gp + lo_x - 1] < bound:
                bound = x0 - bounds[gp + lo_x - 1]
            if hi_x + 1 < g and bounds[hi_x + 1] - x0 < bound:
                bound = bounds[hi_x + 1] - x0
            if lo_y > 0 and y0 - bounds[3 * gp + lo_y - 1] < bound:
                bound = y0 - bounds[3 * gp + lo_y - 1]
            if hi_y + 1 < g and bounds[2 * gp + hi_y + 1] - y0 < bound:
                bound = bounds[2 * gp + hi_y + 1] - y0
            if dist[k - 1] < bound or bound == INFINITY:
                break
            ring += 1
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


cdef inline void knn_all(Workspace *ws, int metric, int search) noexcept nogil:
    if search == C_SEARCH_GRID:
        grid_knn_all(ws, metric)
    else:
        sweep_knn_all(ws, metric)


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


# ----------------------------------------------------------------------------
# one-slice estimators
# ----------------------------------------------------------------------------
cdef double ksg_slice(Workspace *ws, int variant, int search, const double *psi) noexcept nogil:
    """KSG estimate of I(x; y) without the constant ``psi(k) + psi(n)`` terms."""
    cdef Py_ssize_t n = ws.n, k = ws.k, p, yp, j, q, nx, ny
    cdef const double *x = ws.x
    cdef const double *y = ws.y
    cdef const double *xs = ws.xs
    cdef const double *ys = ws.ys
    cdef double total = 0.0, eps, x0, y0, ex, ey, dx, dy
    sort_joint(x, y, ws, search)
    knn_all(ws, METRIC_MAX, search)
    for p in range(n):
        yp = ws.yrank[p]
        if variant == 1:
            eps = ws.nd[p * k + k - 1]
            nx = count_around(xs, n, p, eps, True)
            ny = count_around(ys, n, yp, eps, True)
            total += psi[nx + 1] + psi[ny + 1]
        else:
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
            nx = count_around(xs, n, p, ex, False)
            ny = count_around(ys, n, yp, ey, False)
            total += psi[nx] + psi[ny]
    return -total / n


cdef double kl_slice(Workspace *ws, const double *coef, bint whiten, int search) noexcept nogil:
    """``sum_j coef[0,j] Lx_j + coef[1,j] Ly_j + coef[2,j] Lxy_j`` (+ the whitening term)."""
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
    with nogil:
        ok = ws_alloc(&ws, n, k, search, 0)
        if ok == 0:
            for s in range(lo, hi):
                if prepare_pair(px, py, n, width, width_y, s, jx, jy, tol_x, tol_y, &ws, out, status):
                    out[s] = ksg_slice(&ws, variant, search, ps)
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
    with nogil:
        ok = ws_alloc(&ws, n, k, search, 0)
        if ok == 0:
            for s in range(lo, hi):
                if prepare_pair(px, py, n, width, width_y, s, jx, jy, tol_x, tol_y, &ws, out, status):
                    out[s] = kl_slice(&ws, cf, whiten, search)
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
