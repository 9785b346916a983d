"""What users run today, re-implemented for side-by-side timing.

* :func:`sklearn_loop` -- a Python loop of scikit-learn's
  ``mutual_info_regression`` over the slices (KSG-1 with k neighbours).
* :func:`seed_method` -- the seed project's procedure, as its library (``mutinfo``) runs it with
  the seed's setting "KL, k = 5": per slice, three entropy estimators (x, y, joint), each
  whitening its data by the inverse square root of the sample covariance, building a ball
  tree (leaf size 40) and querying the 5 nearest neighbours of every point; the weights keep
  only the first neighbour in 1-D and 2-D, so the estimate is 1-NN Kozachenko-Leonenko with the
  ``log(n - 1)`` constant, and MI is ``H(x) + H(y) - H(x, y)``.
* :func:`seed_method_1nn` -- a cheaper variant of it, and this bench's seed baseline in
  earlier figures: one Cholesky whitening and 1-NN queries only.  Same estimates (to 1e-11);
  a lower bound on the seed's cost.

Both take the *projections* (computed once, outside the timing of the slice
loop, exactly as fastsmi's time includes its own projections) and return the
per-slice estimates.
"""
from __future__ import annotations

import numpy as np
from scipy.special import digamma, gammaln


def project(X: np.ndarray, Y: np.ndarray, m: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Project on ``m`` uniform directions per variable: arrays of shape (n, m)."""
    rng = np.random.default_rng(seed)
    tx = rng.standard_normal((m, X.shape[1]))
    ty = rng.standard_normal((m, Y.shape[1]))
    tx /= np.linalg.norm(tx, axis=1, keepdims=True)
    ty /= np.linalg.norm(ty, axis=1, keepdims=True)
    return X @ tx.T, Y @ ty.T


def sklearn_loop(PX: np.ndarray, PY: np.ndarray, *, k: int = 5, slices: int | None = None) -> np.ndarray:
    """``mutual_info_regression`` on every slice (or the first ``slices``)."""
    from sklearn.feature_selection import mutual_info_regression

    m = PX.shape[1] if slices is None else slices
    return np.array([
        mutual_info_regression(PX[:, [s]], PY[:, s], n_neighbors=k, random_state=0)[0] for s in range(m)
    ])


def _kl_entropy_balltree(z: np.ndarray) -> float:
    from sklearn.neighbors import BallTree

    n, d = z.shape
    dist, _ = BallTree(z).query(z, k=2)
    r = dist[:, 1]
    log_ball = 0.5 * d * np.log(np.pi) - gammaln(0.5 * d + 1.0)
    return float(np.log(n - 1.0) - digamma(1) + log_ball + d * np.mean(np.log(r)))


def seed_slice_1nn(x: np.ndarray, y: np.ndarray) -> float:
    """One slice of the seed's estimator with 1-NN queries only (a lower bound on its cost)."""
    z = np.column_stack([x, y])
    cov = np.cov(z, rowvar=False)
    chol = np.linalg.cholesky(cov)
    white = np.linalg.solve(chol, (z - z.mean(axis=0)).T).T
    hx = _kl_entropy_balltree(((x - x.mean()) / x.std(ddof=1))[:, None]) + np.log(x.std(ddof=1))
    hy = _kl_entropy_balltree(((y - y.mean()) / y.std(ddof=1))[:, None]) + np.log(y.std(ddof=1))
    hxy = _kl_entropy_balltree(white) + np.log(np.diag(chol)).sum()
    return hx + hy - hxy


def _seed_entropy(data: np.ndarray, k_neighbours: int = 5) -> float:
    """The seed library's KL entropy estimate, step by step: whiten, ball tree, k-NN query."""
    import math

    from scipy.linalg import sqrtm
    from sklearn.neighbors import BallTree

    n, d = data.shape
    cov = np.atleast_2d(np.cov(data, rowvar=False))
    scaling = np.linalg.inv(sqrtm(cov))
    delta = -0.5 * np.linalg.slogdet(cov)[1]
    white = data @ scaling
    tree = BallTree(white, leaf_size=40, metric="euclidean")
    dist, _ = tree.query(white, k_neighbours + 1, return_distance=True)
    dist = dist[:, 1:]
    psi = np.zeros(k_neighbours)
    psi[0] = -np.euler_gamma
    for j in range(1, k_neighbours):
        psi[j] = psi[j - 1] + 1.0 / j
    log_ball = 0.5 * d * np.log(np.pi) - gammaln(0.5 * d + 1.0)
    densities = np.exp(psi) / (np.exp(log_ball) * np.power(dist, d)) / (n - 1)
    weights = np.zeros(k_neighbours)
    weights[0] = 1.0  # the library's weights for d <= 4
    values = np.log(densities) @ weights
    mean = math.fsum(values) / n
    _ = np.std(values) / np.sqrt(n)  # the library's error term, computed on every call
    return -mean - delta


def seed_slice(x: np.ndarray, y: np.ndarray) -> float:
    """One slice of the seed's method: H(x) + H(y) - H(x, y), three estimators as the seed ran them."""
    X, Y = x[:, None], y[:, None]
    return _seed_entropy(X) + _seed_entropy(Y) - _seed_entropy(np.concatenate([X, Y], axis=1))


def seed_method(PX: np.ndarray, PY: np.ndarray, *, slices: int | None = None) -> np.ndarray:
    """The seed's loop over slices (or the first ``slices``)."""
    m = PX.shape[1] if slices is None else slices
    return np.array([seed_slice(PX[:, s], PY[:, s]) for s in range(m)])


def seed_method_1nn(PX: np.ndarray, PY: np.ndarray, *, slices: int | None = None) -> np.ndarray:
    """:func:`seed_method` with 1-NN queries and one Cholesky whitening (same estimates, less work)."""
    m = PX.shape[1] if slices is None else slices
    return np.array([seed_slice_1nn(PX[:, s], PY[:, s]) for s in range(m)])
