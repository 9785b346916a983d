# Declarations of the KD-tree so that other Cython modules can ``cimport`` it
# and call its nogil kernels directly (see _kdtree.pyx for the documentation):
#
#     from fastsmi._cython._kdtree cimport KDTree
#     cdef KDTree tree = KDTree(data, metric="chebyshev")   # with the GIL
#     with nogil:
#         # neighbours of the points at tree positions [start, stop); rows are
#         # written at the points' original indices of (n, k) C-contiguous outputs
#         tree._knn_range(start, stop, k, &dist[0, 0], &ind[0, 0])
#         # counts for the indexed points at tree positions [start, stop), radii and
#         # outputs indexed by original row
#         tree._count_self_range(&radii[0], start, stop, True, &counts[0])
#         # counts for arbitrary query rows [start, stop) of an (m, d) array
#         tree._count_range(&points[0, 0], &radii[0], start, stop, True, &counts[0])

cimport cython

ctypedef Py_ssize_t intp_t


@cython.final
cdef class KDTree:
    cdef readonly object data
    cdef readonly intp_t leaf_size
    cdef readonly str metric
    cdef readonly intp_t n_samples
    cdef readonly intp_t n_features
    cdef readonly intp_t n_nodes
    cdef readonly intp_t n_levels
    cdef int _metric_id
    # Arrays owned by the tree (kept as numpy arrays for pickling) ...
    cdef object _tree_data_arr
    cdef object _idx_arr
    cdef object _node_start_arr
    cdef object _node_end_arr
    cdef object _bounds_arr
    cdef object _node_min_idx_arr
    # ... and raw pointers into them for the nogil kernels.
    cdef const double* _tree_data
    cdef const intp_t* _idx
    cdef const intp_t* _node_start
    cdef const intp_t* _node_end
    cdef const double* _bounds
    cdef const intp_t* _node_min_idx

    cdef void _attach(self) noexcept
    cdef void _knn_range(self, intp_t start, intp_t stop, intp_t k,
                         double* dist_out, intp_t* ind_out) noexcept nogil
    cdef void _count_range(self, const double* points, const double* radii,
                           intp_t start, intp_t stop, bint strict,
                           long long* out) noexcept nogil
    cdef void _knn_node(self, intp_t node, const double* q, intp_t qpos, intp_t k,
                        double* hd, intp_t* hi, double node_min) noexcept nogil
    cdef long long _count_node(self, intp_t node, const double* q, double r,
                               bint strict) noexcept nogil
    cdef void _count_self_range(self, const double* radii, intp_t start,
                                intp_t stop, bint strict,
                                long long* out) noexcept nogil
