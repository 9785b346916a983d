"""What users run today, re-implemented for side-by-side timing.

* :func:`sklearn_loop` -- a Python loop of scikit-learn's
  ``mutual_info_regression`` over the slices (KSG-1 with k neighbours).
* :func:`seed_method` -- the seed project's procedure: per slice, whiten the pair, build three
  ball trees (x, y, joint) and compute 1-NN Kozachenko-Leonenko entropies with
  the ``log(n - 1)`` constant, then ``H(x) + H(y) - H(x, y)``.

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


def seed_slice(x: np.ndarray, y: np.ndarray) -> float:
    """One slice of the seed's estimator: whitened 1-NN KL with three ball trees."""
    z = np.column_stack([x, y])
    cov = np.cov(z, rowvar=False)
    chol = np.linalg.cholesky(cov)
    white = np.linalg.solve(chol, (z - z.mean(axis=0)).T).T
    hx = _kl_entropy_balltree(((x - x.mean()) / x.std(ddof=1))[:, None]) + np.log(x.std(ddof=1))
    hy = _kl_entropy_balltree(((y - y.mean()) / y.std(ddof=1))[:, None]) + np.log(y.std(ddof=1))
    hxy = _kl_entropy_balltree(white) + np.log(np.diag(chol)).sum()
    return hx + hy - hxy


def seed_method(PX: np.ndarray, PY: np.ndarray, *, slices: int | None = None) -> np.ndarray:
    """The seed's loop over slices (or the first ``slices``)."""
    m = PX.shape[1] if slices is None else slices
    return np.array([seed_slice(PX[:, s], PY[:, s]) for s in range(m)])
