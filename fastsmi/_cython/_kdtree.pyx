# distutils: extra_compile_args = -ffp-contract=off
# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False
# -ffp-contract=off: never fuse ``acc + t * t`` into an FMA (compilers may do so on
# aarch64 or with -march flags), so Euclidean distances stay bit-identical to a
# scalar brute force with separate multiply and add.
"""Array-based KD-tree for exact k-nearest-neighbour and radius-count queries.

The tree follows the layout of scikit-learn's binary trees: a balanced binary
tree stored in flat arrays, node ``i`` having children ``2 i + 1`` and
``2 i + 2``, a permutation array mapping tree positions to the original row
indices, and a tight bounding box per node.  Each node is split at the median
of its widest coordinate, so every leaf sits on the last level and holds between
``leaf_size`` and ``2 leaf_size`` points.  Unlike scikit-learn the points are
also stored *in tree order*, so a leaf is a contiguous block of memory.

Exactness
---------
All answers are exact, not approximate, and reproducible bit for bit:

* Distances are computed exactly as a scalar brute force would:
  ``chebyshev`` is ``max_j |a_j - b_j|`` and ``euclidean`` is
  ``sqrt(sum_j (a_j - b_j) ** 2)`` with the sum accumulated in coordinate order
  ``j = 0, ..., d - 1``.
* The box distances used for pruning are computed with the same operations
  applied to the box faces.  Because IEEE subtraction, multiplication, addition of
  non-negative numbers and ``sqrt`` are monotone, a box bound never contradicts
  the exact distance of a point inside the box, so no point is ever pruned (or
  counted wholesale) wrongly.
* Neighbours are ordered by ``(distance, original index)``; ties are broken by
  the smaller index.

Parallelism comes from Python threads: each thread runs a contiguous chunk of
queries with the GIL released.  Results do not depend on the number of threads.
"""
import os

import numpy as np

from libc.math cimport sqrt, fabs, INFINITY

__all__ = ["KDTree"]

cdef enum:
    METRIC_CHEBYSHEV = 0
    METRIC_EUCLIDEAN = 1

_METRICS = {"chebyshev": METRIC_CHEBYSHEV, "euclidean": METRIC_EUCLIDEAN}

# Relative slack used for the early exit of squared Euclidean partial sums.  A
# partial sum above ``(1 + _SQ_SLACK) * bound ** 2`` has a square root strictly
# above ``bound`` whatever the rounding (the rounding errors are ~1e-16).
cdef double _SQ_SLACK = 1e-10
# Below this scale squares may be subnormal and lose relative precision; the early
# exit is then switched off (the exact comparison is still made on the distance).
cdef double _SQ_TINY = 1e-100
cdef intp_t _NO_INDEX = <intp_t>((<size_t>-1) >> 1)


# ---------------------------------------------------------------------------
# Input checks and helpers (Python level)
# ---------------------------------------------------------------------------

def _resolve_workers(workers):
    """Return a positive number of threads from the ``workers`` option."""
    if isinstance(workers, (bool, np.bool_)) or not isinstance(workers, (int, np.integer)):
        raise TypeError(f"workers must be an integer (-1 for all cores), got {workers!r}")
    workers = int(workers)
    if workers == -1:
        from .._threads import usable_cores

        return usable_cores()
    if workers < 1:
        raise ValueError(f"workers must be a positive integer or -1 for all cores, got {workers}")
    return workers


def _as_points(arr, name):
    """Validate a 2-D finite numeric array and return it as C-contiguous float64."""
    arr = np.asarray(arr)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.floating)
                                   or np.issubdtype(arr.dtype, np.integer)
                                   or arr.dtype == np.bool_):
        raise TypeError(
            f"{name} must be a real numeric array, got dtype {arr.dtype}; "
            "convert it with np.asarray(..., dtype=float)"
        )
    if arr.ndim != 2:
        raise ValueError(
            f"{name} must be 2-D with shape (n_samples, n_features), got {arr.ndim}-D "
            f"shape {arr.shape}; reshape a single feature with x.reshape(-1, 1)"
        )
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(f"{name} must have at least one row and one column, got shape {arr.shape}")
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinite values; remove or impute them first")
    return arr


def _check_k(k, n):
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"k must be an integer, got {k!r}")
    k = int(k)
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if k >= n:
        raise ValueError(
            f"k must be smaller than the number of points (k={k}, n={n}): each point "
            "needs k other points; use a smaller k or more samples"
        )
    return k


def _run_chunks(func, n, workers, args):
    """Run ``func(start, stop, *args)`` over ``range(n)`` split among threads.

    Chunks are bounded (:data:`QUERY_CHUNK` queries), so a Ctrl-C or an error
    stops the search after the running chunks, also on one thread; the thread
    count is capped at the usable cores (:mod:`fastsmi._threads`).
    """
    from .._threads import run_chunks

    workers = _resolve_workers(workers)
    if n < 64:
        workers = 1
    # A few chunks per thread so that uneven query costs balance out.
    run_chunks(lambda lo, hi: func(lo, hi, *args), n, workers, per_thread=8, max_chunk=QUERY_CHUNK)


#: Queries per chunk of a search, at most.
QUERY_CHUNK = 2048


# ---------------------------------------------------------------------------
# Tree construction (nogil)
# ---------------------------------------------------------------------------

cdef inline void _swap(intp_t* a, intp_t i, intp_t j) noexcept nogil:
    cdef intp_t t = a[i]
    a[i] = a[j]
    a[j] = t


cdef void _select(intp_t* idx, const double* data, intp_t d, intp_t dim,
                  intp_t lo, intp_t hi, intp_t kth) noexcept nogil:
    """Reorder ``idx[lo:hi]`` so that position ``kth`` holds the kth smallest key.

    Quickselect with a median-of-three pivot and a three-way partition, so runs of
    equal keys (tied data) cost linear time.
    """
    cdef double a, b, c, pivot, v
    cdef intp_t lt, i, gt
    while hi - lo > 1:
        a = data[idx[lo] * d + dim]
        b = data[idx[lo + (hi - lo) // 2] * d + dim]
        c = data[idx[hi - 1] * d + dim]
        if a < b:
            if b < c:
                pivot = b
            elif a < c:
                pivot = c
            else:
                pivot = a
        else:
            if a < c:
                pivot = a
            elif b < c:
                pivot = c
            else:
                pivot = b
        lt = lo
        i = lo
        gt = hi
        while i < gt:
            v = data[idx[i] * d + dim]
            if v < pivot:
                _swap(idx, lt, i)
                lt += 1
                i += 1
            elif v > pivot:
                gt -= 1
                _swap(idx, i, gt)
            else:
                i += 1
        if kth < lt:
            hi = lt
        elif kth >= gt:
            lo = gt
        else:
            return


cdef void _build(const double* data, intp_t n, intp_t d, intp_t* idx,
                 intp_t n_nodes, intp_t n_internal, intp_t* node_start,
                 intp_t* node_end, double* bounds, intp_t* node_min_idx) noexcept nogil:
    """Fill the node arrays; parents are processed before their children."""
    cdef intp_t node, p, j, start, end, mid, dim, best_idx
    cdef double* lo
    cdef double* hi
    cdef const double* row
    cdef double spread, best
    node_start[0] = 0
    node_end[0] = n
    for node in range(n_nodes):
        start = node_start[node]
        end = node_end[node]
        lo = bounds + (2 * node) * d
        hi = lo + d
        for j in range(d):
            lo[j] = INFINITY
            hi[j] = -INFINITY
        for p in range(start, end):
            row = data + idx[p] * d
            for j in range(d):
                if row[j] < lo[j]:
                    lo[j] = row[j]
                if row[j] > hi[j]:
                    hi[j] = row[j]
        if node < n_internal:
            dim = 0
            best = -1.0
            for j in range(d):
                spread = hi[j] - lo[j]
                if spread > best:
                    best = spread
                    dim = j
            mid = start + (end - start) // 2
            _select(idx, data, d, dim, start, end, mid)
            node_start[2 * node + 1] = start
            node_end[2 * node + 1] = mid
            node_start[2 * node + 2] = mid
            node_end[2 * node + 2] = end
    # Smallest original index in each subtree (children before parents).  With
    # ties broken by index, it lets the k-NN search skip subtrees whose points can
    # only tie with the current k-th neighbour and lose the tie.
    for node in range(n_nodes - 1, -1, -1):
        if node < n_internal:
            node_min_idx[node] = min(node_min_idx[2 * node + 1], node_min_idx[2 * node + 2])
        else:
            best_idx = n
            for p in range(node_start[node], node_end[node]):
                if idx[p] < best_idx:
                    best_idx = idx[p]
            node_min_idx[node] = best_idx


# ---------------------------------------------------------------------------
# Distances between a point and a box (nogil)
# ---------------------------------------------------------------------------

cdef inline double _dmax(double a, double b) noexcept nogil:
    # Written as a conditional so that compilers emit a branch-free maxsd.
    return a if a > b else b


cdef inline double _min_dist(const double* lo, const double* hi, const double* q,
                             intp_t d, int metric) noexcept nogil:
    """Lower bound of the distance from ``q`` to any point of the box."""
    cdef intp_t j
    cdef double g, acc = 0.0
    if metric == METRIC_CHEBYSHEV:
        for j in range(d):
            # At most one of the two gaps is positive; negative gaps lose to acc >= 0.
            acc = _dmax(acc, _dmax(lo[j] - q[j], q[j] - hi[j]))
        return acc
    for j in range(d):
        g = _dmax(_dmax(lo[j] - q[j], q[j] - hi[j]), 0.0)
        acc = acc + g * g
    return sqrt(acc)


cdef inline void _min_max_dist(const double* lo, const double* hi, const double* q,
                               intp_t d, int metric, double* mn, double* mx) noexcept nogil:
    """Lower and upper bounds of the distance from ``q`` to the points of the box."""
    cdef intp_t j
    cdef double t, u, g, far, amin = 0.0, amax = 0.0
    if metric == METRIC_CHEBYSHEV:
        for j in range(d):
            t = lo[j] - q[j]
            u = q[j] - hi[j]
            amin = _dmax(amin, _dmax(t, u))
            amax = _dmax(amax, _dmax(fabs(t), fabs(u)))
        mn[0] = amin
        mx[0] = amax
        return
    for j in range(d):
        t = lo[j] - q[j]
        u = q[j] - hi[j]
        g = _dmax(_dmax(t, u), 0.0)
        amin = amin + g * g
        far = _dmax(fabs(t), fabs(u))
        amax = amax + far * far
    mn[0] = sqrt(amin)
    mx[0] = sqrt(amax)


cdef inline double _sq_bound(double r) noexcept nogil:
    """Squared-distance threshold above which the distance surely exceeds ``r``."""
    if r > _SQ_TINY and r < INFINITY:
        return r * r * (1.0 + _SQ_SLACK)
    return INFINITY



# ---------------------------------------------------------------------------
# Point-to-point distances with early exit (nogil)
# ---------------------------------------------------------------------------

cdef inline double _cheb_bounded(const double* a, const double* b, intp_t d,
                                 double bound) noexcept nogil:
    """Max-norm distance, or any partial maximum once it exceeds ``bound``.

    Coordinates are taken four at a time (fewer branches); the result is exact
    whenever it is ``<= bound``, and ``> bound`` otherwise.
    """
    cdef double m = 0.0, t0, t1, t2, t3
    cdef intp_t j = 0
    if d == 2:  # the common low-dimensional cases (2-D slices), unrolled
        t0 = fabs(a[0] - b[0])
        t1 = fabs(a[1] - b[1])
        return t0 if t0 > t1 else t1
    if d == 1:
        return fabs(a[0] - b[0])
    while j + 4 <= d:
        t0 = fabs(a[j] - b[j])
        t1 = fabs(a[j + 1] - b[j + 1])
        t2 = fabs(a[j + 2] - b[j + 2])
        t3 = fabs(a[j + 3] - b[j + 3])
        t0 = t0 if t0 > t1 else t1
        t2 = t2 if t2 > t3 else t3
        t0 = t0 if t0 > t2 else t2
        m = m if m > t0 else t0
        if m > bound:
            return m
        j += 4
    while j < d:
        t0 = fabs(a[j] - b[j])
        m = m if m > t0 else t0
        j += 1
    return m


cdef inline double _eucl_bounded(const double* a, const double* b, intp_t d,
                                 double bound_sq) noexcept nogil:
    """Euclidean distance (sum in coordinate order), or ``inf`` once the partial
    sum of squares exceeds ``bound_sq``."""
    cdef double acc = 0.0, t0, t1, t2, t3
    cdef intp_t j = 0
    while j + 4 <= d:
        t0 = a[j] - b[j]
        t1 = a[j + 1] - b[j + 1]
        t2 = a[j + 2] - b[j + 2]
        t3 = a[j + 3] - b[j + 3]
        acc = acc + t0 * t0
        acc = acc + t1 * t1
        acc = acc + t2 * t2
        acc = acc + t3 * t3
        if acc > bound_sq:
            return INFINITY
        j += 4
    while j < d:
        t0 = a[j] - b[j]
        acc = acc + t0 * t0
        j += 1
    if acc > bound_sq:
        return INFINITY
    return sqrt(acc)

# ---------------------------------------------------------------------------
# Bounded max-heap on (distance, index), lexicographic order (nogil)
# ---------------------------------------------------------------------------

cdef inline bint _after(double d1, intp_t i1, double d2, intp_t i2) noexcept nogil:
    """True if (d1, i1) comes strictly after (d2, i2)."""
    return d1 > d2 or (d1 == d2 and i1 > i2)


cdef inline void _sift_down(double* hd, intp_t* hi, intp_t size, intp_t pos,
                            double dv, intp_t iv) noexcept nogil:
    cdef intp_t child
    while True:
        child = 2 * pos + 1
        if child >= size:
            break
        if child + 1 < size and _after(hd[child + 1], hi[child + 1], hd[child], hi[child]):
            child += 1
        if _after(hd[child], hi[child], dv, iv):
            hd[pos] = hd[child]
            hi[pos] = hi[child]
            pos = child
        else:
            break
    hd[pos] = dv
    hi[pos] = iv


cdef inline void _heap_sort(double* hd, intp_t* hi, intp_t k) noexcept nogil:
    """Turn the max-heap into an ascending array."""
    cdef intp_t m
    cdef double dv
    cdef intp_t iv
    for m in range(k - 1, 0, -1):
        dv = hd[m]
        iv = hi[m]
        hd[m] = hd[0]
        hi[m] = hi[0]
        _sift_down(hd, hi, m, 0, dv, iv)


# ---------------------------------------------------------------------------
# The tree
# ---------------------------------------------------------------------------

cdef class KDTree:
    """Balanced KD-tree over float64 points with exact neighbour queries.

    Parameters
    ----------
    data : array_like of shape (n_samples, n_features)
        Finite real numbers.  A C-contiguous float64 array is used as is (read-only
        arrays are fine); anything else is converted once.
    leaf_size : int, default 16
        Leaves hold between ``leaf_size`` and ``2 * leaf_size`` points.
    metric : {"chebyshev", "euclidean"}, default "chebyshev"
        ``chebyshev`` is the max-norm used by the KSG estimators, ``euclidean``
        the norm used by Kozachenko-Leonenko.

    Attributes
    ----------
    data : ndarray of shape (n_samples, n_features)
        Read-only view of the indexed points (of the input itself when it needed
        no conversion).  The tree keeps its own copy in tree order, so later
        changes to the input array do not affect the answers.
    n_samples, n_features, leaf_size, metric, n_nodes, n_levels

    Examples
    --------
    >>> import numpy as np
    >>> from fastsmi._cython._kdtree import KDTree
    >>> pts = np.array([[0.0], [1.0], [3.0], [3.0]])
    >>> tree = KDTree(pts, metric="chebyshev")
    >>> dist, ind = tree.knn(1)
    >>> dist.ravel().tolist(), ind.ravel().tolist()
    ([1.0, 1.0, 0.0, 0.0], [1, 0, 3, 2])
    >>> tree.count_within(pts, np.full(4, 2.0), strict=True).tolist()
    [2, 2, 2, 2]
    """

    def __init__(self, data, *, leaf_size=16, metric="chebyshev"):
        arr = _as_points(data, "data")
        if isinstance(leaf_size, (bool, np.bool_)) or not isinstance(leaf_size, (int, np.integer)):
            raise TypeError(f"leaf_size must be an integer, got {leaf_size!r}")
        if leaf_size < 1:
            raise ValueError(f"leaf_size must be at least 1, got {leaf_size}")
        if metric not in _METRICS:
            raise ValueError(
                f"unknown metric {metric!r}; choose one of {sorted(_METRICS)}"
            )
        cdef intp_t n = arr.shape[0]
        cdef intp_t d = arr.shape[1]
        cdef intp_t levels = 1
        cdef intp_t per_leaf = (n - 1) // leaf_size
        while per_leaf >= 2:  # levels = 1 + floor(log2(max(1, (n - 1) // leaf_size)))
            per_leaf //= 2
            levels += 1
        cdef intp_t n_nodes = (1 << levels) - 1
        cdef intp_t n_internal = (1 << (levels - 1)) - 1

        idx = np.arange(n, dtype=np.intp)
        node_start = np.zeros(n_nodes, dtype=np.intp)
        node_end = np.zeros(n_nodes, dtype=np.intp)
        bounds = np.empty((n_nodes, 2, d), dtype=np.float64)
        node_min_idx = np.empty(n_nodes, dtype=np.intp)
        cdef const double[:, ::1] data_mv = arr
        cdef intp_t[::1] idx_mv = idx
        cdef intp_t[::1] start_mv = node_start
        cdef intp_t[::1] end_mv = node_end
        cdef double[:, :, ::1] bounds_mv = bounds
        cdef intp_t[::1] min_idx_mv = node_min_idx
        with nogil:
            _build(&data_mv[0, 0], n, d, &idx_mv[0], n_nodes, n_internal,
                   &start_mv[0], &end_mv[0], &bounds_mv[0, 0, 0], &min_idx_mv[0])

        view = arr.view()
        view.flags.writeable = False
        self.data = view
        self.leaf_size = int(leaf_size)
        self.metric = metric
        self._metric_id = _METRICS[metric]
        self.n_samples = n
        self.n_features = d
        self.n_nodes = n_nodes
        self.n_levels = levels
        self._idx_arr = idx
        self._node_start_arr = node_start
        self._node_end_arr = node_end
        self._bounds_arr = bounds
        self._node_min_idx_arr = node_min_idx
        self._tree_data_arr = np.ascontiguousarray(arr[idx])
        self._attach()

    cdef void _attach(self) noexcept:
        """Point the raw pointers at the owned arrays."""
        cdef const double[:, ::1] td = self._tree_data_arr
        cdef const intp_t[::1] ix = self._idx_arr
        cdef const intp_t[::1] ns = self._node_start_arr
        cdef const intp_t[::1] ne = self._node_end_arr
        cdef const double[:, :, ::1] bd = self._bounds_arr
        cdef const intp_t[::1] mi = self._node_min_idx_arr
        self._tree_data = &td[0, 0]
        self._idx = &ix[0]
        self._node_start = &ns[0]
        self._node_end = &ne[0]
        self._bounds = &bd[0, 0, 0]
        self._node_min_idx = &mi[0]

    # -- pickling ----------------------------------------------------------

    def __reduce__(self):
        # The points are pickled in tree order (the tree's own snapshot of them),
        # together with the node arrays, so unpickling rebuilds nothing.
        return (_rebuild_kdtree, (self._tree_data_arr, self.leaf_size, self.metric,
                                  self.n_levels, self._idx_arr, self._node_start_arr,
                                  self._node_end_arr, self._bounds_arr,
                                  self._node_min_idx_arr))

    def __repr__(self):
        return (f"KDTree(n_samples={self.n_samples}, n_features={self.n_features}, "
                f"leaf_size={self.leaf_size}, metric={self.metric!r})")

    @property
    def index_array(self):
        """Original row index of each tree position (read-only copy)."""
        return self._idx_arr.copy()

    @property
    def node_bounds(self):
        """Per-node bounding boxes, shape (n_nodes, 2, n_features) (copy)."""
        return self._bounds_arr.copy()

    @property
    def node_ranges(self):
        """Per-node ``(start, stop)`` tree positions, shape (n_nodes, 2) (copy)."""
        return np.stack([self._node_start_arr, self._node_end_arr], axis=1)

    # -- k nearest neighbours -------------------------------------------------

    def knn(self, k, *, workers=1):
        """k nearest other points of every indexed point.

        Parameters
        ----------
        k : int
            Number of neighbours, ``1 <= k < n_samples``.
        workers : int, default 1
            Number of threads; ``-1`` uses all cores.  Results do not depend on it.

        Returns
        -------
        dist : ndarray of float64, shape (n_samples, k)
            Distances, ascending along each row.
        ind : ndarray of intp, shape (n_samples, k)
            Original row indices of the neighbours.  The point itself is excluded
            by index (an exact duplicate of it is a neighbour at distance 0); ties
            in distance are broken by the smaller index.

        Examples
        --------
        >>> import numpy as np
        >>> from fastsmi._cython._kdtree import KDTree
        >>> tree = KDTree(np.array([[0.0, 0.0], [0.0, 2.0], [1.0, 0.0]]), metric="euclidean")
        >>> dist, ind = tree.knn(2)
        >>> ind.tolist()
        [[2, 1], [0, 2], [0, 1]]
        """
        k = _check_k(k, self.n_samples)
        dist = np.empty((self.n_samples, k), dtype=np.float64)
        ind = np.empty((self.n_samples, k), dtype=np.intp)
        _run_chunks(self._knn_chunk, self.n_samples, workers, (k, dist, ind))
        return dist, ind

    def _knn_chunk(self, intp_t start, intp_t stop, intp_t k,
                   double[:, ::1] dist, intp_t[:, ::1] ind):
        with nogil:
            self._knn_range(start, stop, k, &dist[0, 0], &ind[0, 0])

    cdef void _knn_range(self, intp_t start, intp_t stop, intp_t k,
                         double* dist_out, intp_t* ind_out) noexcept nogil:
        """Neighbours of the points at tree positions ``start .. stop - 1``."""
        cdef intp_t qpos, m, row
        cdef double* hd
        cdef intp_t* hi
        for qpos in range(start, stop):
            row = self._idx[qpos]
            hd = dist_out + row * k
            hi = ind_out + row * k
            for m in range(k):
                hd[m] = INFINITY
                hi[m] = _NO_INDEX
            self._knn_node(0, self._tree_data + qpos * self.n_features, qpos, k, hd, hi, 0.0)
            _heap_sort(hd, hi, k)

    cdef void _knn_node(self, intp_t node, const double* q, intp_t qpos, intp_t k,
                        double* hd, intp_t* hi, double node_min) noexcept nogil:
        cdef intp_t d = self.n_features
        cdef intp_t c1, c2, p, oi
        cdef double m1, m2, top, dist, bound_sq
        cdef const double* row
        if node_min > hd[0]:
            return
        if node_min == hd[0] and self._node_min_idx[node] > hi[0]:
            return  # its points can at best tie with the k-th and lose on index
        if node >= self.n_nodes // 2:  # leaf
            top = hd[0]
            bound_sq = _sq_bound(top)
            for p in range(self._node_start[node], self._node_end[node]):
                if p == qpos:
                    continue
                row = self._tree_data + p * d
                if self._metric_id == METRIC_CHEBYSHEV:
                    dist = _cheb_bounded(row, q, d, top)
                else:
                    dist = _eucl_bounded(row, q, d, bound_sq)
                if dist > top:
                    continue
                oi = self._idx[p]
                if dist < top or oi < hi[0]:
                    _sift_down(hd, hi, k, 0, dist, oi)
                    top = hd[0]
                    bound_sq = _sq_bound(top)
            return
        c1 = 2 * node + 1
        c2 = c1 + 1
        m1 = _min_dist(self._bounds + 2 * c1 * d, self._bounds + (2 * c1 + 1) * d, q, d,
                       self._metric_id)
        m2 = _min_dist(self._bounds + 2 * c2 * d, self._bounds + (2 * c2 + 1) * d, q, d,
                       self._metric_id)
        if m1 < m2 or (m1 == m2 and self._node_min_idx[c1] < self._node_min_idx[c2]):
            self._knn_node(c1, q, qpos, k, hd, hi, m1)
            self._knn_node(c2, q, qpos, k, hd, hi, m2)
        else:
            self._knn_node(c2, q, qpos, k, hd, hi, m2)
            self._knn_node(c1, q, qpos, k, hd, hi, m1)

    # -- radius counts ----------------------------------------------------------

    def count_within(self, points, radii, *, strict=True, workers=1):
        """Number of indexed points within a radius of each query point.

        Parameters
        ----------
        points : array_like of shape (m, n_features) or None
            Query points.  ``None`` means the indexed points themselves (in their
            original order); this is faster because queries then run in tree order.
        radii : float or array_like of shape (m,)
            One radius per query (a scalar is broadcast).  ``inf`` is allowed.
        strict : bool, default True
            Count ``dist(p, q) < r`` (as KSG-1 needs) if True, ``dist(p, q) <= r``
            otherwise.
        workers : int, default 1
            Number of threads; ``-1`` uses all cores.

        Returns
        -------
        counts : ndarray of int64, shape (m,)
            Counts include an indexed point identical to the query (at distance 0,
            counted whenever ``0 < r``, or ``0 <= r`` if not strict).

        Examples
        --------
        >>> import numpy as np
        >>> from fastsmi._cython._kdtree import KDTree
        >>> tree = KDTree(np.array([[0.0], [1.0], [2.0]]))
        >>> tree.count_within(np.array([[0.0]]), [1.0], strict=True).tolist()
        [1]
        >>> tree.count_within(np.array([[0.0]]), [1.0], strict=False).tolist()
        [2]
        """
        if points is None:
            m = self.n_samples
        else:
            points = _as_points(points, "points")
            if points.shape[1] != self.n_features:
                raise ValueError(
                    f"points have {points.shape[1]} features but the tree indexes "
                    f"{self.n_features}; query with arrays of the same width"
                )
            m = points.shape[0]
        radii = np.asarray(radii, dtype=np.float64)
        if radii.ndim == 0:
            radii = np.full(m, float(radii))
        if radii.shape != (m,):
            raise ValueError(f"radii must be a scalar or have shape ({m},), got {radii.shape}")
        if np.isnan(radii).any():
            raise ValueError("radii contain NaN")
        radii = np.ascontiguousarray(radii)
        out = np.empty(m, dtype=np.int64)
        if points is None:
            _run_chunks(self._count_self_chunk, m, workers, (radii, bool(strict), out))
        else:
            _run_chunks(self._count_chunk, m, workers, (points, radii, bool(strict), out))
        return out

    def _count_chunk(self, intp_t start, intp_t stop, const double[:, ::1] points,
                     const double[::1] radii, bint strict, long long[::1] out):
        with nogil:
            self._count_range(&points[0, 0], &radii[0], start, stop, strict, &out[0])

    def _count_self_chunk(self, intp_t start, intp_t stop, const double[::1] radii,
                          bint strict, long long[::1] out):
        with nogil:
            self._count_self_range(&radii[0], start, stop, strict, &out[0])

    cdef void _count_range(self, const double* points, const double* radii,
                           intp_t start, intp_t stop, bint strict,
                           long long* out) noexcept nogil:
        cdef intp_t i
        for i in range(start, stop):
            out[i] = self._count_node(0, points + i * self.n_features, radii[i], strict)

    cdef void _count_self_range(self, const double* radii, intp_t start,
                                intp_t stop, bint strict,
                                long long* out) noexcept nogil:
        cdef intp_t qpos, row
        for qpos in range(start, stop):
            row = self._idx[qpos]
            out[row] = self._count_node(0, self._tree_data + qpos * self.n_features,
                                        radii[row], strict)

    cdef long long _count_node(self, intp_t node, const double* q, double r,
                               bint strict) noexcept nogil:
        cdef intp_t d = self.n_features
        cdef intp_t p
        cdef double mn, mx, dist, bound_sq
        cdef const double* row
        cdef long long c = 0
        _min_max_dist(self._bounds + 2 * node * d, self._bounds + (2 * node + 1) * d,
                      q, d, self._metric_id, &mn, &mx)
        if strict:
            if mn >= r:
                return 0
            if mx < r:
                return self._node_end[node] - self._node_start[node]
        else:
            if mn > r:
                return 0
            if mx <= r:
                return self._node_end[node] - self._node_start[node]
        if node < self.n_nodes // 2:
            return (self._count_node(2 * node + 1, q, r, strict)
                    + self._count_node(2 * node + 2, q, r, strict))
        bound_sq = _sq_bound(r)
        for p in range(self._node_start[node], self._node_end[node]):
            row = self._tree_data + p * d
            if self._metric_id == METRIC_CHEBYSHEV:
                dist = _cheb_bounded(row, q, d, r)
            else:
                dist = _eucl_bounded(row, q, d, bound_sq)
            if dist < r or (not strict and dist == r):
                c += 1
        return c


def _rebuild_kdtree(tree_data, leaf_size, metric, n_levels, idx, node_start, node_end, bounds,
                    node_min_idx):
    """Unpickle a :class:`KDTree` without rebuilding it (checks shapes for safety)."""
    tree_data = _as_points(tree_data, "data")
    n, d = tree_data.shape
    n_nodes = (1 << int(n_levels)) - 1
    idx = np.ascontiguousarray(idx, dtype=np.intp)
    node_start = np.ascontiguousarray(node_start, dtype=np.intp)
    node_end = np.ascontiguousarray(node_end, dtype=np.intp)
    bounds = np.ascontiguousarray(bounds, dtype=np.float64)
    node_min_idx = np.ascontiguousarray(node_min_idx, dtype=np.intp)
    if (idx.shape != (n,) or node_start.shape != (n_nodes,) or node_end.shape != (n_nodes,)
            or bounds.shape != (n_nodes, 2, d) or node_min_idx.shape != (n_nodes,)
            or metric not in _METRICS
            or not np.array_equal(np.sort(idx), np.arange(n))
            or node_start.min() < 0 or node_end.max() > n):
        raise ValueError("corrupted KDTree pickle state")
    data = np.empty_like(tree_data)
    data[idx] = tree_data
    cdef KDTree tree = KDTree.__new__(KDTree)
    view = data.view()
    view.flags.writeable = False
    tree.data = view
    tree.leaf_size = int(leaf_size)
    tree.metric = metric
    tree._metric_id = _METRICS[metric]
    tree.n_samples = n
    tree.n_features = d
    tree.n_nodes = n_nodes
    tree.n_levels = int(n_levels)
    tree._idx_arr = idx
    tree._node_start_arr = node_start
    tree._node_end_arr = node_end
    tree._bounds_arr = bounds
    tree._node_min_idx_arr = node_min_idx
    tree._tree_data_arr = tree_data
    tree._attach()
    return tree
