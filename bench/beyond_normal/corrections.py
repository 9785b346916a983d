"""Bias corrections of full-dimensional KSG measured on the benchmark (candidates, not library code).

* :func:`lnc_mi`: KSG plus the local non-uniformity correction of Gao, Ver Steeg
  & Galstyan (2015), as in their reference code (NPEET's ``mi(..., alpha)``):
  for every point, the k joint neighbours' PCA-aligned bounding box is compared
  with the axis-aligned one, and where the ratio is below ``alpha`` the log
  volume ratio is added.  The box of k points spans at most k dimensions, so the
  correction only means something for joint dimension < k: elsewhere it is
  skipped (the plain KSG estimate is returned) and the harness says so.
"""
from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree


def lnc_term(X: np.ndarray, Y: np.ndarray, k: int, alpha: float) -> float:
    """The LNC term (nats) added to KSG, on standardised data; 0 where ``dx + dy >= k``."""
    Z = np.hstack([X, Y])
    Z = (Z - Z.mean(axis=0)) / Z.std(axis=0)
    n, d = Z.shape
    if d >= k:
        return 0.0
    _, ind = cKDTree(Z).query(Z, k=k + 1, p=np.inf)
    D = Z[ind[:, 1:]] - Z[:, None, :]  # (n, k, d): the neighbours seen from the point
    cov = np.einsum("nki,nkj->nij", D, D) / k
    _, vec = np.linalg.eigh(cov)
    log_rect = np.log(np.abs(np.einsum("nki,nij->nkj", D, vec)).max(axis=1)).sum(axis=1)
    log_box = np.log(np.abs(D).max(axis=1)).sum(axis=1)
    gap = log_box - log_rect
    return float(np.where(log_rect < log_box + np.log(alpha), gap, 0.0).sum() / n)

