"""Brute-force O(n^2) references for the KD-tree and the full-dimensional estimators.

Written for clarity, not speed, and independently of the library code.

Distances are computed with the same floating-point operations as the KD-tree so
that strict ``<`` comparisons agree bit for bit:

* chebyshev: ``max_j |a_j - b_j|`` (a maximum is exact whatever the order);
* euclidean: ``sqrt(s)`` where ``s`` accumulates ``(a_j - b_j) ** 2`` one
  coordinate at a time in the order ``j = 0, ..., d - 1``.  This is deliberately
  *not* ``np.sqrt(((a - b) ** 2).sum())``: numpy's pairwise/SIMD summation may
  add the terms in another order and differ in the last bit.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.special import digamma, gammaln


def pairwise_distances(A: np.ndarray, B: np.ndarray, metric: str) -> np.ndarray:
    """Distances between every row of ``A`` and every row of ``B``, shape (len(A), len(B))."""
    A = np.asarray(A, dtype=np.float64)
    B = np.asarray(B, dtype=np.float64)
    out = np.zeros((A.shape[0], B.shape[0]))
    for j in range(A.shape[1]):  # coordinate order j = 0 .. d-1
        diff = A[:, j][:, None] - B[:, j][None, :]
        if metric == "chebyshev":
            out = np.maximum(out, np.abs(diff))
        elif metric == "euclidean":
            out = out + diff * diff
        else:
            raise ValueError(metric)
    if metric == "euclidean":
        out = np.sqrt(out)
    return out


def knn(X: np.ndarray, k: int, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """k nearest other points of every row, sorted by (distance, index)."""
    n = X.shape[0]
    D = pairwise_distances(X, X, metric)
    dist = np.empty((n, k))
    ind = np.empty((n, k), dtype=np.intp)
    for i in range(n):
        others = np.array([j for j in range(n) if j != i])
        order = np.lexsort((others, D[i, others]))[:k]  # primary key: distance
        ind[i] = others[order]
        dist[i] = D[i, ind[i]]
    return dist, ind


def count_within(X: np.ndarray, Q: np.ndarray, radii, metric: str, strict: bool) -> np.ndarray:
    """Number of rows of X within radius of each row of Q (a row equal to the query counts)."""
    D = pairwise_distances(Q, X, metric)
    radii = np.broadcast_to(np.asarray(radii, dtype=np.float64), (Q.shape[0],))
    if strict:
        return (D < radii[:, None]).sum(axis=1)
    return (D <= radii[:, None]).sum(axis=1)


def _unit_variance(A: np.ndarray) -> np.ndarray:
    # the population std of each column, summed in sorted order: the same bits for any row order, as the
    # library's count-based estimators use (on tied data an ulp of scale moves a count)
    A = np.asarray(A, dtype=np.float64)
    sd = np.sort(A, axis=0).std(axis=0)
    return A / np.where(sd > 0, sd, 1.0)


def ksg_mi(X, Y, k: int, variant: int) -> float:
    """KSG-1 / KSG-2 (Kraskov, Stoegbauer and Grassberger 2004), max-norm, looping over points."""
    X = _unit_variance(X)
    Y = _unit_variance(Y)
    n = X.shape[0]
    DX = pairwise_distances(X, X, "chebyshev")
    DY = pairwise_distances(Y, Y, "chebyshev")
    DZ = np.maximum(DX, DY)
    total = 0.0
    for i in range(n):
        others = np.array([j for j in range(n) if j != i])
        order = np.lexsort((others, DZ[i, others]))
        neigh = others[order[:k]]
        if variant == 1:
            eps = DZ[i, neigh[-1]]
            nx = sum(1 for j in others if DX[i, j] < eps)
            ny = sum(1 for j in others if DY[i, j] < eps)
            total += digamma(nx + 1) + digamma(ny + 1)
        else:
            ex = DX[i, neigh].max()
            ey = DY[i, neigh].max()
            nx = sum(1 for j in others if DX[i, j] <= ex)
            ny = sum(1 for j in others if DY[i, j] <= ey)
            total += digamma(nx) + digamma(ny)
    if variant == 1:
        return float(digamma(k) + digamma(n) - total / n)
    return float(digamma(k) - 1.0 / k + digamma(n) - total / n)


def mean_log_knn(Z, k: int) -> np.ndarray:
    """Entry j-1: mean over points of log(Euclidean distance to the j-th nearest other point)."""
    dist, _ = knn(np.asarray(Z, dtype=np.float64), k, "euclidean")
    return np.log(dist).mean(axis=0)


def kl_entropy(Z, weights, whiten: bool = False, seed_offset: bool = False) -> float:
    """Weighted Kozachenko-Leonenko entropy, term by term from the textbook formula."""
    Z = np.asarray(Z, dtype=np.float64)
    n, d = Z.shape
    extra = 0.0
    if whiten:
        C = np.atleast_2d(np.cov(Z, rowvar=False))
        # Symmetric inverse square root (the seed's choice); distances equal Cholesky's.
        vals, vecs = np.linalg.eigh(C)
        Z = Z @ (vecs @ np.diag(vals ** -0.5) @ vecs.T)
        extra = 0.5 * float(np.sum(np.log(vals)))
    k = len(weights)
    dist, _ = knn(Z, k, "euclidean")
    log_unit_ball = (d / 2.0) * math.log(math.pi) - gammaln(d / 2.0 + 1.0)
    c_n = math.log(n - 1) if seed_offset else digamma(n)
    H = 0.0
    for j in range(1, k + 1):
        term = c_n - digamma(j) + log_unit_ball + (d / n) * np.sum(np.log(dist[:, j - 1]))
        H += weights[j - 1] * term
    return float(H + extra)


def kl_mi(X, Y, wx, wy, wxy, whiten: bool = False, seed_offset: bool = False) -> float:
    """H(X) + H(Y) - H(X, Y) with :func:`kl_entropy`."""
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    if not whiten:
        X = _unit_variance(X)
        Y = _unit_variance(Y)
    Z = np.hstack([X, Y])
    return (kl_entropy(X, wx, whiten, seed_offset) + kl_entropy(Y, wy, whiten, seed_offset)
            - kl_entropy(Z, wxy, whiten, seed_offset))


def ross_mi(X, labels, k: int) -> float:
    """Ross (2014) MI between continuous X and discrete labels, max-norm."""
    X = _unit_variance(X)
    labels = np.asarray(labels)
    n = X.shape[0]
    D = pairwise_distances(X, X, "chebyshev")
    total_m = 0.0
    total_class = 0.0
    for i in range(n):
        same = np.array([j for j in range(n) if j != i and labels[j] == labels[i]])
        order = np.lexsort((same, D[i, same]))
        d_i = D[i, same[order[k - 1]]]
        m_i = sum(1 for j in range(n) if j != i and D[i, j] <= d_i)
        total_m += digamma(m_i)
        total_class += digamma(np.sum(labels == labels[i]))
    return float(digamma(n) - total_class / n + digamma(k) - total_m / n)


def kl_discrete_mi(X, labels, weights, whiten: bool = False, seed_offset: bool = False) -> float:
    """H(X) - sum_c p_c H(X | c) with :func:`kl_entropy`; X at unit variance unless whitened."""
    X = np.asarray(X, dtype=np.float64)
    labels = np.asarray(labels)
    if not whiten:
        X = _unit_variance(X)
    n = X.shape[0]
    total = kl_entropy(X, weights, whiten, seed_offset)
    for c in np.unique(labels):
        sub = X[labels == c]
        total -= sub.shape[0] / n * kl_entropy(sub, weights, whiten, seed_offset)
    return float(total)


# ---------------------------------------------------------------------------- weights
# Written from the papers' definitions in 50-digit arithmetic, independently of fastsmi._weights.

def kth_neighbour_weights(k: int) -> np.ndarray:
    """(0, ..., 0, 1): the unweighted estimator with the k-th neighbour."""
    w = np.zeros(k)
    w[-1] = 1.0
    return w


def bsy_weights(k: int, d: int) -> np.ndarray:
    """Berrett, Samworth & Yuan (2019): the minimum-norm w with sum w = 1, the moment sums
    sum_j w_j Gamma(j + 2l/d) / Gamma(j) = 0 (l = 1..floor(d/4)) and w_j = 0 off the ranks
    {floor(i k / d)}; the unweighted k-th neighbour for d <= 3 (no moment condition), as the
    authors' IndepTest does."""
    import mpmath

    if d <= 3:
        return kth_neighbour_weights(k)
    support = sorted({(i * k) // d for i in range(1, d + 1)} - {0})
    with mpmath.workdps(50):
        rows = [[mpmath.mpf(1)] * len(support)]
        for ell in range(1, d // 4 + 1):
            s = mpmath.mpf(2 * ell) / d
            rows.append([mpmath.gamma(j + s) / mpmath.gamma(j) for j in support])
        A = mpmath.matrix(rows)
        b = mpmath.matrix([1] + [0] * (len(rows) - 1))
        w_s = A.T * mpmath.lu_solve(A * A.T, b)  # minimum-norm solution of A w = b
        w = np.zeros(k)
        for i, j in enumerate(support):
            w[j - 1] = float(w_s[i])
    return w


def mutinfo_weights(k: int, d: int, rcond: float = 1e-6) -> tuple[np.ndarray, float]:
    """The seed library's weights rebuilt from its definition, in 50-digit arithmetic.

    mutinfo (VanessB/Information-v3, ``KLFunctional.set_optimal_weights``) defines the
    weights of its weighted Kozachenko-Leonenko estimator as the least-squares solution,
    with singular values below ``rcond`` times the largest treated as zero, of the system

    * ``(1/k) sum_j w_j = 1/k``;
    * ``sum_j w_j g_l(j) / ||g_l|| = 0`` with ``g_l(j) = Gamma(j + 2l/d) / Gamma(j)``,
      ``l = 1..floor(d/4)``;
    * ``w_j = 0`` for every 1-based rank ``j`` outside ``{floor(i k / d) : i = 1..d}``;

    and as ``(1, 0, ..., 0)`` for ``d <= 4``.  The truncated-SVD pseudo-inverse is what a
    least-squares solve with that ``rcond`` returns; here it is computed exactly (mpmath SVD)
    rather than in floating point.  Also returned: the distance, in log10, from the cut-off
    to the nearest singular value (a case near the cut-off is decided by rounding).
    """
    import mpmath

    if d <= 4:
        return np.eye(k)[0], np.inf
    with mpmath.workdps(50):
        rows = [[mpmath.mpf(1) / k] * k]
        rhs = [mpmath.mpf(1) / k]
        for ell in range(1, d // 4 + 1):
            g = [mpmath.gamma(j + mpmath.mpf(2 * ell) / d) / mpmath.gamma(j) for j in range(1, k + 1)]
            norm = mpmath.sqrt(mpmath.fsum(x * x for x in g))
            rows.append([x / norm for x in g])
            rhs.append(mpmath.mpf(0))
        allowed = {(i * k) // d for i in range(1, d + 1)}
        for j in range(1, k + 1):
            if j not in allowed:
                rows.append([mpmath.mpf(1) if c == j else mpmath.mpf(0) for c in range(1, k + 1)])
                rhs.append(mpmath.mpf(0))
        A = mpmath.matrix(rows)
        U, S, V = mpmath.svd_r(A, full_matrices=False, compute_uv=True)
        cut = rcond * max(S)
        w = [mpmath.mpf(0)] * k
        for i in range(len(S)):
            if S[i] > cut:
                coef = mpmath.fsum(U[r, i] * rhs[r] for r in range(A.rows)) / S[i]
                for c in range(k):
                    w[c] += coef * V[i, c]
        margin = min(abs(float(mpmath.log10(S[i] / cut))) for i in range(len(S)) if S[i] > 0)
        return np.array([float(x) for x in w]), margin
