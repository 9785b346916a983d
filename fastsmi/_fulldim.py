"""Full-dimensional k-NN estimators of mutual information and entropy.

These private functions run the classical estimators on whole d-dimensional
vectors (no slicing), with the neighbour searches of :mod:`fastsmi._knn` (the
Cython KD-tree, or brute force in many dimensions) and, for KSG's max-norm counts in
a joint space of :data:`KSG_DENSE_MIN_DIM` or more dimensions, Numba's brute force
(without Numba KSG stays on the KD-tree).  They are called by the public
``fastsmi.mi`` and ``fastsmi.entropy`` functions and by the k-dimensional
slice path.

Conventions: natural logarithms, ``psi`` is the digamma function, inputs are
already validated C-contiguous float64 arrays with one row per sample.

* KSG-1 and KSG-2 (Kraskov, Stoegbauer and Grassberger 2004) use the max-norm in
  the joint and in both marginal spaces, after scaling every column to unit
  variance.
* Kozachenko-Leonenko (KL) entropy uses the Euclidean norm; ``weights`` gives the
  weighted version (WKL, Berrett, Samworth and Yuan 2019), ``weights=[1]`` the
  plain 1-NN estimator.
* The Ross (2014) estimator handles continuous X against discrete labels.
"""
from __future__ import annotations

import math
import types

import numpy as np
from scipy.linalg import solve_triangular
from scipy.special import digamma, gammaln

from ._blas import blas_threads
from ._knn import check_n_k, dense_kernels, kdtree, mean_log_knn
from ._plan import entropy_weights
from ._threads import CHUNK_WORK, run_chunks
from ._validation import tie_counts

__all__ = ["ksg_mi", "kl_entropy", "kl_mi", "mi_full", "ross_mi"]


def _unit_variance(A: np.ndarray, *, canonical: bool = False) -> np.ndarray:
    """Divide every column by its population standard deviation (constant columns kept).

    ``canonical``: sum each column in sorted order, so the scale has the same bits
    for any order of the rows.  The count-based estimators (KSG, Ross) need it:
    they compare distances exactly, and on data with many equal distances (normal
    scores, ranks) an ulp of scale moves a point across the k-th distance.
    """
    sd = (np.sort(A, axis=0) if canonical else A).std(axis=0)
    return np.ascontiguousarray(A / np.where(sd > 0.0, sd, 1.0))


def _check_pair(X: np.ndarray, Y: np.ndarray) -> None:
    if X.ndim != 2 or Y.ndim != 2:
        raise ValueError(f"X and Y must be 2-D (n_samples, n_features), got {X.shape} and {Y.shape}")
    if X.shape[0] != Y.shape[0]:
        raise ValueError(
            f"X and Y must have the same number of rows, got {X.shape[0]} and {Y.shape[0]}"
        )


def _max_neighbour_dist(A: np.ndarray, ind: np.ndarray, block: int = 4096) -> np.ndarray:
    """Max-norm distance from each row of A to the farthest of its listed neighbours."""
    n = A.shape[0]
    out = np.empty(n)
    for start in range(0, n, block):
        stop = min(n, start + block)
        diff = np.abs(A[ind[start:stop]] - A[start:stop, None, :])
        out[start:stop] = diff.max(axis=(1, 2))
    return out


def ksg_mi(X: np.ndarray, Y: np.ndarray, *, k: int, variant: int = 1, workers: int = 1, atoms: bool = False) -> float:
    """KSG estimate of I(X; Y) in nats for vectors of any dimension.

    Parameters
    ----------
    X : ndarray of shape (n, dx)
    Y : ndarray of shape (n, dy)
    k : int
        Number of neighbours in the joint space, ``1 <= k < n``.
    variant : {1, 2}, default 1
        KSG-1: ``psi(k) + psi(n) - <psi(n_x + 1) + psi(n_y + 1)>`` with strict
        marginal counts inside the joint k-th neighbour distance.  KSG-2:
        ``psi(k) - 1/k + psi(n) - <psi(n_x) + psi(n_y)>`` with non-strict counts
        inside the marginal extents of the k neighbours.
    workers : int, default 1
        Threads for the neighbour searches (``-1``: all cores).
    atoms : bool, default False
        Treat exact copies as atoms (Gao, Kannan, Oh & Viswanath 2017): a point
        whose k-th joint neighbour is a copy (distance 0) uses the number of its
        copies for k and the copies in each marginal for the counts, which gives
        the plug-in estimate on atoms; KSG-2, whose rectangle correction fails at
        a marginal atom of more than k copies, refuses such data.  False is the
        textbook estimator, ties ranked by index.

    Returns
    -------
    float
        The estimate (can be slightly negative for independent data).

    Notes
    -----
    Every column is first divided by its population standard deviation.
    Neighbours are ranked by (max-norm distance, index), so ties are resolved
    reproducibly.  From :data:`KSG_DENSE_MIN_DIM` joint dimensions on, the
    searches run by brute force in Numba when it is available; the counts are
    exactly those of the KD-tree, so the estimate is the same to the last bit.

    Examples
    --------
    >>> import numpy as np
    >>> from fastsmi._fulldim import ksg_mi
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(2000, 1))
    >>> y = 0.8 * x + 0.6 * rng.normal(size=(2000, 1))
    >>> bool(abs(ksg_mi(x, y, k=3) - (-0.5 * np.log(1 - 0.8 ** 2))) < 0.1)
    True
    """
    _check_pair(X, Y)
    n = X.shape[0]
    check_n_k(n, k)
    if variant not in (1, 2):
        raise ValueError(f"variant must be 1 or 2 (KSG-1 or KSG-2), got {variant!r}")
    X = _unit_variance(X, canonical=True)
    Y = _unit_variance(Y, canonical=True)
    if atoms and variant == 2:
        for A, name in ((X, "X"), (Y, "Y")):
            big = int(np.count_nonzero(tie_counts(A) > k))
            if big:
                # KSG-2 counts inside the marginal extents of the k neighbours; at an atom of more than k copies
                # the extent is 0 and its rectangle correction (-1/k) no longer holds
                raise ValueError(
                    f"{big} of the {n} samples of {name} have more than k={k} exact copies (an atom); KSG "
                    "algorithm 2 is biased there in full dimension. Use estimator='ksg' (algorithm 1, the "
                    "mixed estimator of Gao et al. 2017), or the 1-D path, which breaks ties by a jitter."
                )
    dense = dense_kernels() if X.shape[1] + Y.shape[1] >= KSG_DENSE_MIN_DIM else None
    if dense is not None:
        n_x, n_y = _ksg_counts_dense(dense, X, Y, k, variant, workers)
    else:
        n_x, n_y = _ksg_counts_tree(X, Y, k, variant, workers)
    g = tie_counts(X, Y) if atoms else np.ones(n)
    atom = g > k  # the k-th joint neighbour is a copy of the point: its distance is 0
    if variant == 1:
        terms = digamma(n_x + 1.0) + digamma(n_y + 1.0)
        const = digamma(k) + digamma(n)
    else:
        terms = digamma(n_x.astype(np.float64)) + digamma(n_y.astype(np.float64))
        const = digamma(k) - 1.0 / k + digamma(n)
    if not atom.any():
        return float(const - np.mean(terms))
    # Gao, Kannan, Oh & Viswanath (2017): at an atom, k becomes the number of copies and the marginal
    # counts are the copies in each marginal, which turns KSG into the plug-in estimator on atoms
    local = const - terms
    local[atom] = (digamma(g[atom] - 1.0) + digamma(n)
                   - digamma(tie_counts(X)[atom].astype(np.float64))
                   - digamma(tie_counts(Y)[atom].astype(np.float64)))
    return float(np.mean(local))


#: KSG searches in a joint space of this many dimensions (``dx + dy``) or more run by
#: max-norm brute force in Numba (:func:`fastsmi._numba._dense.ksg_counts`) instead of
#: the KD-tree.  Brute force costs O(n^2 d) and the tree wins at low d and large n.
#: Measured (k = 5, 2 threads, medians of 7, both searches side by side), tree time /
#: brute-force time at joint d = 4, 6, 8, 10, 12: n = 2000: 1.0, 2.2, 2.1, 3.2, 3.7;
#: n = 10,000: 0.29, 0.75, 0.96, 1.5, 2.4.
KSG_DENSE_MIN_DIM = 10


def _ksg_counts_dense(dense: types.ModuleType, X: np.ndarray, Y: np.ndarray, k: int, variant: int,
                      workers: int) -> tuple[np.ndarray, np.ndarray]:
    """KSG marginal counts by brute force (bit-identical to :func:`_ksg_counts_tree`)."""
    n = X.shape[0]
    n_x = np.empty(n, dtype=np.int64)
    n_y = np.empty(n, dtype=np.int64)
    XT = np.ascontiguousarray(X.T)
    YT = np.ascontiguousarray(Y.T)
    n_blocks = -(-n // dense.QUERY_ROWS)

    def rows(lo: int, hi: int) -> None:
        dense.ksg_counts(X, XT, Y, YT, k, variant, lo * dense.QUERY_ROWS, min(n, hi * dense.QUERY_ROWS), n_x, n_y)

    # several chunks per thread balance the load, and bounded chunks let Ctrl-C through;
    # the chunking does not change results
    per_block = dense.QUERY_ROWS * n * (X.shape[1] + Y.shape[1])
    run_chunks(rows, n_blocks, dense.resolve_n_jobs(workers), per_thread=4,
               max_chunk=max(1, CHUNK_WORK // per_block))
    return n_x, n_y


def _ksg_counts_tree(X: np.ndarray, Y: np.ndarray, k: int, variant: int,
                     workers: int) -> tuple[np.ndarray, np.ndarray]:
    """KSG marginal counts ``(n_x, n_y)`` (the point itself excluded) from KD-tree searches."""
    Z = np.hstack([X, Y])
    dist, ind = kdtree(Z, "chebyshev").knn(k, workers=workers)
    tree_x = kdtree(X, "chebyshev")
    tree_y = kdtree(Y, "chebyshev")
    if variant == 1:
        eps = np.ascontiguousarray(dist[:, k - 1])
        # Counts include the point itself exactly when 0 < eps.
        self_hit = (eps > 0.0).astype(np.int64)
        n_x = tree_x.count_within(None, eps, strict=True, workers=workers) - self_hit
        n_y = tree_y.count_within(None, eps, strict=True, workers=workers) - self_hit
        return n_x, n_y
    eps_x = _max_neighbour_dist(X, ind)
    eps_y = _max_neighbour_dist(Y, ind)
    n_x = tree_x.count_within(None, eps_x, strict=False, workers=workers) - 1
    n_y = tree_y.count_within(None, eps_y, strict=False, workers=workers) - 1
    return n_x, n_y


def _whiten(Z: np.ndarray) -> tuple[np.ndarray, float]:
    """Whiten by the full sample covariance (np.cov); return the data and 0.5 log det C.

    BLAS and LAPACK run on one thread here: their results can depend on the
    thread count in the last bits, and the seed's weights amplify those.
    """
    with blas_threads(1):
        C = np.atleast_2d(np.cov(Z, rowvar=False))
        try:
            L = np.linalg.cholesky(C)
        except np.linalg.LinAlgError:
            raise ValueError(
                "cannot whiten: the sample covariance is singular (a constant or linearly "
                "dependent column); drop redundant columns or use whiten=False"
            ) from None
        W = solve_triangular(L, Z.T, lower=True).T
    return np.ascontiguousarray(W), float(np.sum(np.log(np.diag(L))))


def kl_entropy(
    Z: np.ndarray,
    *,
    weights,
    whiten: bool = False,
    seed_offset: bool = False,
    workers: int = 1,
) -> float:
    """Weighted Kozachenko-Leonenko estimate of the differential entropy H(Z) in nats.

    ``H = sum_j w_j [c_n - psi(j) + log V_d + (d / n) sum_i log r_ij]`` where
    ``r_ij`` is the Euclidean distance from point i to its j-th nearest other
    point and ``V_d = pi^(d/2) / Gamma(d/2 + 1)`` the volume of the unit ball.

    Parameters
    ----------
    Z : ndarray of shape (n, d)
    weights : array_like of shape (k,)
        Weights ``w_1, ..., w_k`` (they should sum to 1); ``[1.0]`` gives the
        classical 1-NN estimator.
    whiten : bool, default False
        Whiten Z by its full sample covariance C (``np.cov``, Cholesky factor)
        before the neighbour search and add ``0.5 log det C``: the procedure of
        the seed project's ``mutinfo`` library.  With False no rescaling is done.
    seed_offset : bool, default False
        Use ``c_n = log(n - 1)`` (the seed's formula) instead of ``psi(n)``.
    workers : int, default 1

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> from fastsmi._fulldim import kl_entropy
    >>> z = np.random.default_rng(1).normal(size=(4000, 2))
    >>> exact = np.log(2 * np.pi * np.e)
    >>> bool(abs(kl_entropy(z, weights=[1.0]) - exact) < 0.1)
    True
    """
    weights = np.asarray(weights, dtype=np.float64).ravel()
    if weights.size < 1 or not np.isfinite(weights).all():
        raise ValueError("weights must be a non-empty array of finite numbers")
    n, d = Z.shape
    k = weights.size
    check_n_k(n, k)
    extra = 0.0
    if whiten:
        Z, extra = _whiten(Z)
    mlk = mean_log_knn(Z, k=k, workers=workers)
    log_unit_ball = 0.5 * d * math.log(math.pi) - float(gammaln(0.5 * d + 1.0))
    c_n = math.log(n - 1) if seed_offset else float(digamma(n))
    j = np.arange(1, k + 1, dtype=np.float64)
    terms = c_n - digamma(j) + log_unit_ball + d * mlk
    return float(np.dot(weights, terms) + extra)


def kl_mi(
    X: np.ndarray,
    Y: np.ndarray,
    *,
    weights_x,
    weights_y,
    weights_xy,
    whiten: bool = False,
    seed_offset: bool = False,
    workers: int = 1,
) -> float:
    """KL / WKL estimate of I(X; Y) = H(X) + H(Y) - H(X, Y) in nats.

    Parameters
    ----------
    X : ndarray of shape (n, dx)
    Y : ndarray of shape (n, dy)
    weights_x, weights_y, weights_xy : array_like
        Weights for the three entropies (see :func:`kl_entropy`).
    whiten : bool, default False
        True reproduces the seed: each of X, Y and the joint is whitened by its own
        full sample covariance.  False scales every column of X and Y to unit
        variance once, and that scaled data is used for the marginals and the joint.
    seed_offset : bool, default False
        See :func:`kl_entropy`.
    workers : int, default 1

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> from fastsmi._fulldim import kl_mi
    >>> rng = np.random.default_rng(2)
    >>> x = rng.normal(size=(3000, 1))
    >>> y = 0.8 * x + 0.6 * rng.normal(size=(3000, 1))
    >>> est = kl_mi(x, y, weights_x=[1.0], weights_y=[1.0], weights_xy=[1.0])
    >>> bool(abs(est - (-0.5 * np.log(1 - 0.8 ** 2))) < 0.1)
    True
    """
    _check_pair(X, Y)
    if not whiten:
        X = _unit_variance(X)
        Y = _unit_variance(Y)
    Z = np.hstack([X, Y])
    opts = dict(whiten=whiten, seed_offset=seed_offset, workers=workers)
    return (
        kl_entropy(X, weights=weights_x, **opts)
        + kl_entropy(Y, weights=weights_y, **opts)
        - kl_entropy(Z, weights=weights_xy, **opts)
    )


def ross_mi(X: np.ndarray, labels, *, k: int, workers: int = 1, atoms: bool = False) -> float:
    """Ross (2014) estimate of I(X; L) for continuous X and discrete labels L.

    For each point, ``d_i`` is the max-norm distance to its k-th nearest neighbour
    of the same class and ``m_i`` the number of other points (any class) within
    ``d_i`` inclusive; then
    ``I = psi(n) - <psi(N_{label_i})> + psi(k) - <psi(m_i)>``.
    Columns are scaled to unit variance first.

    Parameters
    ----------
    X : ndarray of shape (n, d)
    labels : array_like of shape (n,)
        Class labels (integers or any values ``np.unique`` can sort).
    k : int
        Every class needs more than k points.
    workers : int, default 1
    atoms : bool, default False
        At a point whose k-th same-class neighbour is an exact copy (radius 0),
        use the number of its same-class copies for k (Gao et al. 2017).

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> from fastsmi._fulldim import ross_mi
    >>> rng = np.random.default_rng(3)
    >>> labels = rng.integers(0, 2, size=2000)
    >>> x = rng.normal(size=(2000, 2)) + 10.0 * labels[:, None]
    >>> bool(abs(ross_mi(x, labels, k=3) - np.log(2)) < 0.05)
    True
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.shape[0] != X.shape[0]:
        raise ValueError(
            f"labels must be 1-D with one entry per row of X ({X.shape[0]}), got shape {labels.shape}"
        )
    n = X.shape[0]
    check_n_k(n, k)
    _, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    inverse = inverse.ravel()
    if counts.min() <= k:
        raise ValueError(
            f"every class needs more than k={k} points, but the smallest class has "
            f"{counts.min()}; use a smaller k or merge rare classes"
        )
    X = _unit_variance(X, canonical=True)
    radius = np.empty(n)
    for c in range(counts.size):
        members = np.flatnonzero(inverse == c)
        dist, _ = kdtree(np.ascontiguousarray(X[members]), "chebyshev").knn(k, workers=workers)
        radius[members] = dist[:, k - 1]
    m = kdtree(X, "chebyshev").count_within(None, radius, strict=False, workers=workers) - 1
    avg_class = np.mean(digamma(counts[inverse].astype(np.float64)))
    avg_m = np.mean(digamma(m.astype(np.float64)))
    g = tie_counts(X, inverse[:, None]) if atoms else np.ones(n)
    atom = g > k  # the k-th same-class neighbour is a copy: radius 0
    if not atom.any():
        return float(digamma(n) - avg_class + digamma(k) - avg_m)
    # at an atom the number of same-class copies replaces k (Gao, Kannan, Oh & Viswanath 2017)
    kk = np.where(atom, g - 1.0, float(k))
    return float(digamma(n) - avg_class + np.mean(digamma(kk)) - avg_m)


def mi_full(X: np.ndarray, Y: np.ndarray, estimator: str, k: int, y_discrete: bool, workers: int) -> float:
    """MI of prepared full-dimensional samples (or of X against integer labels) by ``estimator``'s name.

    The dispatch of :func:`fastsmi.mi` and of every k-SMI slice.  The labels' KL-type
    estimate is ``H(X) - sum_c p_c H(X | c)``.
    """
    if y_discrete:
        if estimator == "ksg":
            return ross_mi(X, Y, k=k, workers=workers, atoms=True)
        # H(X) - sum_c p_c H(X | c)
        w = entropy_weights(estimator, k, X.shape[1])
        opts = dict(weights=w, whiten=estimator == "seed", seed_offset=estimator == "seed", workers=workers)
        Xs = X if estimator == "seed" else X / X.std(axis=0)
        total = kl_entropy(Xs, **opts)
        for c in np.unique(Y):
            sub = np.ascontiguousarray(Xs[Y == c])
            total -= sub.shape[0] / X.shape[0] * kl_entropy(sub, **opts)
        return float(total)
    if estimator in ("ksg", "ksg2"):
        return ksg_mi(X, Y, k=k, variant=1 if estimator == "ksg" else 2, workers=workers, atoms=True)
    dx, dy = X.shape[1], Y.shape[1]
    return kl_mi(
        X, Y,
        weights_x=entropy_weights(estimator, k, dx),
        weights_y=entropy_weights(estimator, k, dy),
        weights_xy=entropy_weights(estimator, k, dx + dy),
        whiten=estimator == "seed",
        seed_offset=estimator == "seed",
        workers=workers,
    )
