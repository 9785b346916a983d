"""Marginal transforms applied before the k-NN estimators.

Mutual information is unchanged by any invertible map of each variable on its
own (``I(f(X); g(Y)) = I(X; Y)`` for injective ``f``, ``g``).  The estimators,
though, are not: a k-NN estimate is biased where the density is far from
locally uniform, in heavy tails above all.  Replacing every coordinate by the
normal scores of its ranks (a Gaussian copula transform) estimates the same
quantity from samples whose marginals are standard normal, which removes the
marginal part of that bias.  The cost is one sort per variable.
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np
from scipy.special import ndtri

__all__ = ["TRANSFORMS", "DEFAULT_TRANSFORM", "check_transform", "normal_scores", "apply_transform"]

#: The accepted values of the ``transform`` option.
TRANSFORMS = ("none", "rank")

#: What ``transform=None`` means for every estimator except ``"seed"`` (which always means ``"none"``).
DEFAULT_TRANSFORM = "none"


def check_transform(transform: Any, estimator: str) -> str:
    """Return the transform to apply, ``"none"`` or ``"rank"``.

    Parameters
    ----------
    transform : {None, "none", "rank"}
        The user's choice; None is :data:`DEFAULT_TRANSFORM` (``"none"`` for
        ``estimator="seed"``).
    estimator : str
        The validated estimator name.

    Returns
    -------
    str

    Raises
    ------
    ValueError
        For an unknown name, or ``"rank"`` with ``estimator="seed"``, which
        reproduces the seed project's numbers and so takes its data as given.
    """
    if transform is None:
        return "none" if estimator == "seed" else DEFAULT_TRANSFORM
    if not isinstance(transform, str) or transform.lower() not in TRANSFORMS:
        raise ValueError(
            f"unknown transform {transform!r}; choose one of {', '.join(map(repr, TRANSFORMS))} "
            "(or None for the default)."
        )
    transform = transform.lower()
    if transform == "rank" and estimator == "seed":
        raise ValueError(
            "transform='rank' cannot be combined with estimator='seed', which reproduces the seed project's "
            "estimates on the data as given; use transform='none' with it, or another estimator with 'rank'."
        )
    return transform


def normal_scores(A: np.ndarray) -> np.ndarray:
    """Replace every column of ``A`` by the normal scores of its ranks.

    Each value becomes ``Phi^-1((r - 1/2) / n)``, with ``r`` its rank in its
    column (1 for the smallest) and ``Phi^-1`` the standard normal quantile.
    Equal values get the average of their ranks, so ties stay ties and the
    result does not depend on the order of the rows.

    Parameters
    ----------
    A : ndarray of shape (n,) or (n, d)
        Finite samples, one variable a column.

    Returns
    -------
    ndarray of float64, same shape as ``A``
        The scores, in ``(-Phi^-1(1/(2n)), Phi^-1(1/(2n)))`` up to sign; the
        same bits as ``ndtri((scipy.stats.rankdata(A, axis=0) - 0.5) / n)``.

    Notes
    -----
    The output depends on ``A`` only through the ranks of each column, so it is
    the same for ``f(A)`` with any strictly increasing ``f`` (applied per
    column) that keeps distinct values distinct.  One stable sort per column.

    Examples
    --------
    >>> import numpy as np
    >>> from fastsmi._transform import normal_scores
    >>> normal_scores(np.array([10.0, -3.0, 10.0, 7.0])).round(4)
    array([ 0.6745, -1.1503,  0.6745, -0.3186])
    """
    A = np.asarray(A, dtype=np.float64)
    flat = A.ndim == 1
    M = A[:, None] if flat else A
    n, d = M.shape
    out = np.empty((n, d), dtype=np.float64)
    for j in range(d):
        col = M[:, j]
        order = np.argsort(col, kind="stable")
        s = col[order]
        # tie groups in sorted order: [lo, hi] the first and last position of each run of equal values
        new = np.empty(n, dtype=bool)
        new[0] = True
        np.not_equal(s[1:], s[:-1], out=new[1:])
        starts = np.flatnonzero(new)
        ends = np.append(starts[1:], n) - 1
        group = np.cumsum(new) - 1
        # average rank r = (lo + hi)/2 + 1, so r - 1/2 = (lo + hi + 1)/2; one division, rounded once
        num = (starts + ends + 1)[group].astype(np.float64)
        out[order, j] = ndtri(num / (2.0 * n))
    return out[:, 0] if flat else out


def apply_transform(A: np.ndarray, transform: str) -> np.ndarray:
    """``A`` itself for ``"none"``, :func:`normal_scores` of its columns for ``"rank"``."""
    return normal_scores(A) if transform == "rank" else A


def transform_or_none(A: Optional[np.ndarray], transform: str) -> Optional[np.ndarray]:
    """:func:`apply_transform` that passes None through (labels, a missing second variable)."""
    return None if A is None else apply_transform(A, transform)
