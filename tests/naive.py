"""Slow, obviously correct O(n^2) references for the one-slice estimators.

Every function takes the exact 1-D samples a kernel sees (already standardised
and jittered) and follows the textbook definition with dense distance
matrices.  Ties in the k-nearest-neighbour set are broken by the smaller
index, as the kernels document.
"""
from __future__ import annotations

import numpy as np
from scipy.special import digamma, gammaln


def _pairwise_abs(x: np.ndarray) -> np.ndarray:
    return np.abs(x[:, None] - x[None, :])


def _knn_order(dist: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k nearest other points of every row, by (distance, index)."""
    n = dist.shape[0]
    out = np.empty((n, k), dtype=np.int64)
    for i in range(n):
        d = dist[i].copy()
        d[i] = np.inf
        order = np.lexsort((np.arange(n), d))
        out[i] = order[:k]
    return out


def ksg1(x: np.ndarray, y: np.ndarray, k: int) -> float:
    """KSG algorithm 1: max-norm joint, strict marginal counts (the mean of :func:`ksg1_terms`)."""
    return float(np.mean(ksg1_terms(x, y, k)))


def ksg2(x: np.ndarray, y: np.ndarray, k: int) -> float:
    """KSG algorithm 2: per-marginal radii from the k-neighbour set, ``<=`` counts."""
    n = x.shape[0]
    dx = _pairwise_abs(x)
    dy = _pairwise_abs(y)
    nbr = _knn_order(np.maximum(dx, dy), k)
    rows = np.arange(n)[:, None]
    ex = dx[rows, nbr].max(axis=1)
    ey = dy[rows, nbr].max(axis=1)
    np.fill_diagonal(dx, np.inf)
    np.fill_diagonal(dy, np.inf)
    nx = (dx <= ex[:, None]).sum(axis=1)
    ny = (dy <= ey[:, None]).sum(axis=1)
    return float(digamma(k) - 1.0 / k + digamma(n) - np.mean(digamma(nx) + digamma(ny)))


def log_unit_ball(d: int) -> float:
    return 0.5 * d * np.log(np.pi) - gammaln(0.5 * d + 1.0)


def kl_entropy(z: np.ndarray, k: int, *, weights=None, offset: str = "digamma") -> float:
    """Kozachenko-Leonenko entropy of the rows of ``z`` (Euclidean), weighted over neighbours 1..k."""
    z = np.asarray(z, dtype=float)
    if z.ndim == 1:
        z = z[:, None]
    n, d = z.shape
    diff = z[:, None, :] - z[None, :, :]
    dist = np.sqrt((diff**2).sum(axis=2))
    np.fill_diagonal(dist, np.inf)
    r = np.sort(dist, axis=1)[:, :k]
    if weights is None:
        weights = np.zeros(k)
        weights[-1] = 1.0
    c_n = np.log(n - 1.0) if offset == "seed" else digamma(n)
    j = np.arange(1, k + 1)
    terms = c_n - digamma(j) + log_unit_ball(d) + d * np.log(r).mean(axis=0)
    return float(np.dot(weights, terms))


def kl_mi(x: np.ndarray, y: np.ndarray, k: int) -> float:
    """H(x) + H(y) - H(x, y) with the k-th neighbour."""
    return kl_entropy(x, k) + kl_entropy(y, k) - kl_entropy(np.column_stack([x, y]), k)


def seed_mi(x: np.ndarray, y: np.ndarray) -> float:
    """The seed project's slice estimator: 1-NN KL, joint whitened by its sample covariance."""
    z = np.column_stack([x, y])
    cov = np.cov(z, rowvar=False)
    chol = np.linalg.cholesky(cov)
    white = np.linalg.solve(chol, (z - z.mean(axis=0)).T).T
    h_joint = kl_entropy(white, 1, offset="seed") + np.log(np.diag(chol)).sum()
    return kl_entropy(x, 1, offset="seed") + kl_entropy(y, 1, offset="seed") - h_joint


def ross(x: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Ross (2014): continuous x against discrete labels."""
    n = x.shape[0]
    dx = _pairwise_abs(x)
    np.fill_diagonal(dx, np.inf)
    same = labels[:, None] == labels[None, :]
    d_same = np.where(same, dx, np.inf)
    radius = np.sort(d_same, axis=1)[:, k - 1]
    m = (dx <= radius[:, None]).sum(axis=1)
    _, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    return float(digamma(n) - np.mean(digamma(counts[inverse])) + digamma(k) - np.mean(digamma(m)))


def kl_discrete(x: np.ndarray, labels: np.ndarray, k: int, *, weights=None, offset: str = "digamma") -> float:
    """H(x) - sum_c p_c H(x | c), KL entropies."""
    n = x.shape[0]
    total = kl_entropy(x, k, weights=weights, offset=offset)
    for c in np.unique(labels):
        sub = x[labels == c]
        total -= sub.shape[0] / n * kl_entropy(sub, k, weights=weights, offset=offset)
    return float(total)


def standardize(p: np.ndarray, jitter: np.ndarray) -> np.ndarray:
    """What every kernel does to a projection first: ``(p - mean) / std + jitter``.

    Sequential sums in index order, as in the kernels, so the result is
    bit-identical to the kernels' input.
    """
    n = p.shape[0]
    total = 0.0
    for v in p:
        total += float(v)
    mean = total / n
    ss = 0.0
    for v in p:
        dv = float(v) - mean
        ss += dv * dv
    std = np.sqrt(ss / n)
    return (p - mean) / std + jitter


def permutation_null(X, Y, n_permutations: int, seed: int, **smi_kwargs) -> np.ndarray:
    """The permutation null of ``smi_test`` by a plain loop over :func:`fastsmi.smi`.

    Replicate ``r`` permutes the rows of Y (or the labels) with the generator of
    child ``(4, r)`` of ``SeedSequence(seed)`` and calls ``smi`` on the permuted
    data with the same seed, hence the same directions and jitter.
    """
    import fastsmi

    n = np.asarray(X).shape[0]
    Y = np.asarray(Y)
    null = np.empty(n_permutations)
    for r in range(n_permutations):
        child = np.random.SeedSequence(seed, spawn_key=(4, r))
        perm = np.random.Generator(np.random.PCG64(child)).permutation(n)
        null[r] = fastsmi.smi(X, Y[perm], seed=seed, **smi_kwargs).value
    return null


def ksg1_terms(x: np.ndarray, y: np.ndarray, k: int) -> np.ndarray:
    """Each sample's term of :func:`ksg1`, whose mean is the estimate."""
    n = x.shape[0]
    dx = _pairwise_abs(x)
    dy = _pairwise_abs(y)
    dz = np.maximum(dx, dy)
    np.fill_diagonal(dz, np.inf)
    eps = np.sort(dz, axis=1)[:, k - 1]
    np.fill_diagonal(dx, np.inf)
    np.fill_diagonal(dy, np.inf)
    nx = (dx < eps[:, None]).sum(axis=1)
    ny = (dy < eps[:, None]).sum(axis=1)
    return digamma(k) + digamma(n) - digamma(nx + 1) - digamma(ny + 1)


def ross_terms(x: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """Each sample's term of :func:`ross`, whose mean is the estimate."""
    n = x.shape[0]
    dx = _pairwise_abs(x)
    np.fill_diagonal(dx, np.inf)
    same = labels[:, None] == labels[None, :]
    radius = np.sort(np.where(same, dx, np.inf), axis=1)[:, k - 1]
    m = (dx <= radius[:, None]).sum(axis=1)
    _, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    return digamma(n) - digamma(counts[inverse]) + digamma(k) - digamma(m)


def pointwise_smi(PX: np.ndarray, PY, JX: np.ndarray, JY, k: int, labels=None) -> np.ndarray:
    """Pointwise SMI: each sample's KSG (or Ross) term averaged over the projected columns."""
    total = np.zeros(PX.shape[0])
    for s in range(PX.shape[1]):
        x = standardize(PX[:, s], JX)
        if labels is None:
            total += ksg1_terms(x, standardize(PY[:, s], JY), k)
        else:
            total += ross_terms(x, labels, k)
    return total / PX.shape[1]


def jackknife_stderr(X, Y, seed, groups: int = 10, **smi_kwargs) -> float:
    """``stderr_samples`` of ``smi(sampling_error="jackknife")`` by a plain loop over :func:`fastsmi.smi`.

    Rows are split by the permutation of child ``(5,)`` of ``SeedSequence(seed)``
    into ``groups`` near-equal parts; each part is left out in turn and SMI
    re-estimated with the same seed (the same directions); the delete-a-group
    jackknife variance is ``(G - 1) / G * sum_g (v_g - mean v)^2``.
    """
    import fastsmi

    X, Y = np.asarray(X), np.asarray(Y)
    n = X.shape[0]
    perm = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(5,)))).permutation(n)
    size, extra = divmod(n, groups)
    values, start = [], 0
    for g in range(groups):
        stop = start + size + (1 if g < extra else 0)
        keep = np.ones(n, dtype=bool)
        keep[perm[start:stop]] = False
        values.append(fastsmi.smi(X[keep], Y[keep], seed=seed, **smi_kwargs).value)
        start = stop
    mean = sum(values) / groups
    return float(np.sqrt((groups - 1) / groups * sum((v - mean) ** 2 for v in values)))
