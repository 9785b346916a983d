"""Full-dimensional neighbour searches: the Cython KD-tree, or brute force where the tree prunes little.

Euclidean k-NN distances run by blocked brute force from :data:`NUMBA_DENSE_MIN_DIM`
dimensions on (Numba), or :data:`DENSE_MIN_DIM` without Numba (numpy and BLAS); the
KD-tree serves fewer dimensions and every max-norm search.  Both searches sum the
squares in coordinate order, so the choice never changes a distance.
"""
from __future__ import annotations

import functools
import types
from typing import Optional

import numpy as np

from ._backends import dependency_error
from ._blas import blas_threads
from ._runtime import numba_allowed
from ._threads import CHUNK_WORK, run_chunks
from ._validation import check_positive_int

try:
    from ._cython._kdtree import KDTree
except ImportError as _exc:  # pragma: no cover - depends on the build
    KDTree = None
    _IMPORT_ERROR: ImportError | None = _exc
else:
    _IMPORT_ERROR = None

__all__ = ["DENSE_MIN_DIM", "NUMBA_DENSE_MIN_DIM", "check_n_k", "dense_kernels", "dense_knn_distances", "kdtree",
           "mean_log_knn"]


def check_n_k(n: int, k: int, what: str = "samples") -> None:
    """``k`` a positive integer below ``n``, the number of ``what``."""
    check_positive_int(k, "k")
    if k >= n:
        raise ValueError(
            f"k={k} needs more than k {what}, got {n}; use a smaller k or more samples"
        )


@functools.lru_cache(maxsize=None)
def _import_dense() -> Optional[types.ModuleType]:
    if dependency_error("numba") is not None:  # without Numba, the KD-tree and numpy paths are used
        return None
    from ._numba import _dense
    return _dense


def dense_kernels() -> Optional[types.ModuleType]:
    """The Numba brute-force kernels (:mod:`fastsmi._numba._dense`), or None.

    None when Numba cannot be imported, or when ``FASTSMI_BACKEND=cython`` asks
    for no Numba: then KSG runs on the KD-tree and the Euclidean dense search on
    numpy.
    """
    if not numba_allowed():
        return None
    return _import_dense()


def kdtree(data: np.ndarray, metric: str) -> "KDTree":
    if KDTree is None:
        raise ImportError(
            "full-dimensional estimators need fastsmi's compiled KD-tree "
            f"(fastsmi._cython._kdtree could not be imported: {_IMPORT_ERROR}); "
            "reinstall fastsmi with a C compiler available"
        )
    return KDTree(data, metric=metric)


#: Euclidean k-NN searches in this many dimensions or more use :func:`dense_knn_distances`
#: (BLAS brute force) instead of the KD-tree, which prunes almost nothing there, when
#: Numba is not available.  Chosen by ``bench/bench_kdtree.py`` (the measurements are in
#: ``docs/architecture.md``).
DENSE_MIN_DIM = 12

#: :data:`DENSE_MIN_DIM` for the Numba dense search, chosen the same way.  Both searches
#: sum the squares in coordinate order, so moving the threshold does not change any distance.
NUMBA_DENSE_MIN_DIM = 8

_ROUNDING = np.finfo(np.float64).eps


def _direct_distances(Z: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``sqrt(sum((Z[cols] - Z[rows, None]) ** 2, axis=-1))``: ``cols`` is per row (2-D) or shared (1-D)."""
    diff = Z[cols] - Z[rows, None, :]
    return np.sqrt(np.einsum("ijk,ijk->ij", diff, diff))


def dense_knn_distances(Z: np.ndarray, k: int, *, margin: int = 4, workers: int = 1,
                        _report: Optional[dict] = None) -> np.ndarray:
    """Euclidean distances to the k nearest other rows, by blocked brute force.

    On centred data, squared distances ``|a|^2 + |b|^2 - 2 a.b`` come from one
    matrix product per block of rows; they select ``k + margin`` candidates per
    row, whose distances are then computed directly, ``sqrt(sum((a - b)^2))``.
    The selection is checked: if some row's nearest excluded point could, within
    a bound on the product's rounding error, be closer than its k-th candidate,
    that row is recomputed against every point.  The result is therefore exact up
    to the rounding of a direct distance computation.

    With Numba (:func:`fastsmi._numba._dense.euclidean_knn`) the blocks run on
    ``workers`` threads and the candidates are selected in one pass over each row; without
    it, numpy does the same steps.  The two agree to the last bits of the direct
    sums of squares (summation order).

    Parameters
    ----------
    Z : ndarray of shape (n, d)
    k : int
        ``1 <= k < n``.
    margin : int, default 4
        Extra candidates per row.
    workers : int, default 1
        Threads (``-1``: all cores).

    Returns
    -------
    ndarray of shape (n, k)
        Row ``i``: the distances from point ``i`` to its k nearest other points,
        ascending.

    Examples
    --------
    >>> import numpy as np
    >>> from fastsmi._knn import dense_knn_distances
    >>> dense_knn_distances(np.array([[0.0, 0.0], [3.0, 4.0], [0.0, 1.0]]), 2).tolist()
    [[1.0, 5.0], [4.242640687119285, 5.0], [1.0, 4.242640687119285]]
    """
    n, d = Z.shape
    check_n_k(n, k)
    m = min(n - 1, k + max(int(margin), 0))
    C = Z - Z.mean(axis=0)  # the same distances, smaller norms: a tighter rounding bound
    sq = np.einsum("ij,ij->i", C, C)
    # |fl(D2) - D2| <= (2d + 4) u (|a|^2 + |b|^2) for the product form; twice that is used
    slack = 2.0 * (2 * d + 4) * _ROUNDING * (sq + sq.max())
    dense = dense_kernels()
    if dense is None:
        return _dense_knn_numpy(Z, C, sq, slack, k, m, workers, _report)
    out = np.empty((n, k))
    unsure = np.empty(n, dtype=np.bool_)
    # rows per product: a block of products (block x n) stays in a core's L2 cache
    block = max(1, min(DENSE_BLOCK_ROWS, (1 << 17) // n))
    n_blocks = -(-n // block)
    CT = C.T

    def rows(lo: int, hi: int) -> None:
        dense.euclidean_knn(Z, C, CT, sq, slack, m, block, lo * block, min(n, hi * block), out, unsure)

    with blas_threads(1):
        # each thread's products run on one BLAS thread; the chunking does not change results
        run_chunks(rows, n_blocks, dense.resolve_n_jobs(workers), per_thread=4,
                   max_chunk=max(1, CHUNK_WORK // (block * n * d)))
    if _report is not None:
        _report["rechecked"] = int(np.count_nonzero(unsure))
    return out


#: Rows per matrix product of the Numba dense search, at most (fewer when n is large,
#: so that a block of products, ``block x n`` doubles, stays under 1 MiB).
DENSE_BLOCK_ROWS = 256


def _dense_knn_numpy(Z: np.ndarray, C: np.ndarray, sq: np.ndarray, slack: np.ndarray, k: int, m: int,
                     workers: int, _report: Optional[dict]) -> np.ndarray:
    """:func:`dense_knn_distances` in numpy (no Numba)."""
    n, d = Z.shape
    # rows per block: the (block, n) products and the (block, m, d) differences stay under 32 MiB
    block = max(1, min(1024, (1 << 22) // n, (1 << 22) // (m * d)))
    out = np.empty((n, k))
    unsure_rows = []
    with blas_threads(workers):
        for start in range(0, n, block):
            stop = min(n, start + block)
            rows = np.arange(stop - start)
            D2 = C[start:stop] @ C.T
            D2 *= -2.0
            D2 += sq[start:stop, None]
            D2 += sq[None, :]
            D2[rows, start + rows] = np.inf
            if m < n - 1:
                part = np.argpartition(D2, m, axis=1)
                cand = part[:, :m]
                excluded = D2[rows, part[:, m]]
            else:  # every other point is a candidate
                cand = np.argsort(D2, axis=1)[:, :m]
                excluded = np.full(stop - start, np.inf)
            exact = _direct_distances(Z, np.arange(start, stop), cand)
            exact.sort(axis=1)
            out[start:stop] = exact[:, :k]
            unsure_rows.append(start + np.flatnonzero(excluded - slack[start:stop] < exact[:, k - 1] ** 2))
    unsure = np.concatenate(unsure_rows)
    if _report is not None:
        _report["rechecked"] = int(unsure.size)
    # rows whose selection may be wrong: all distances, directly, a block at a time
    step = max(1, (1 << 22) // (n * d))
    for lo in range(0, unsure.size, step):
        idx = unsure[lo:lo + step]
        full = _direct_distances(Z, idx, np.arange(n))
        full[np.arange(idx.size), idx] = np.inf
        out[idx] = np.sort(full, axis=1)[:, :k]
    return out


def mean_log_knn(Z: np.ndarray, *, k: int, workers: int = 1) -> np.ndarray:
    """Mean log Euclidean distance to the 1st, ..., k-th nearest other point.

    The search runs on the KD-tree below :data:`DENSE_MIN_DIM` dimensions
    (:data:`NUMBA_DENSE_MIN_DIM` with Numba) and by :func:`dense_knn_distances`
    from there on.

    Parameters
    ----------
    Z : ndarray of shape (n, d)
    k : int
    workers : int, default 1

    Returns
    -------
    ndarray of shape (k,)
        Entry ``j - 1`` is ``mean_i log r_ij``.

    Raises
    ------
    ValueError
        If some point has a duplicate (a zero distance makes the log infinite).

    Examples
    --------
    >>> import numpy as np
    >>> from fastsmi._knn import mean_log_knn
    >>> mean_log_knn(np.array([[0.0], [1.0], [3.0]]), k=2).round(4).tolist()
    [0.231, 0.9635]
    """
    n = Z.shape[0]
    check_n_k(n, k)
    if Z.shape[1] >= (DENSE_MIN_DIM if dense_kernels() is None else NUMBA_DENSE_MIN_DIM):
        dist = dense_knn_distances(Z, k, workers=workers)
    else:
        dist, _ = kdtree(Z, "euclidean").knn(k, workers=workers)
    if dist[:, 0].min() == 0.0:
        n_dup = int(np.count_nonzero(dist[:, 0] == 0.0))
        raise ValueError(
            f"the data contain duplicated points ({n_dup} rows have an identical twin), so "
            "some nearest-neighbour distances are 0 and their log is infinite; "
            "fastsmi.smi adds a tiny jitter for this, otherwise add small noise to the "
            "data or deduplicate it"
        )
    return np.log(dist).mean(axis=0)
