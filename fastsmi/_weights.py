"""Weights of the weighted Kozachenko-Leonenko (WKL) entropy estimator.

The WKL estimator is ``sum_j w_j H_j`` where ``H_j`` is the Kozachenko-Leonenko estimate
from the ``j``-th nearest-neighbour distances, ``j = 1..k``.

:func:`bsy_weights`
    Berrett, Samworth & Yuan (2019), "Efficient multivariate entropy estimation via
    k-nearest neighbour distances", Ann. Statist. 47(1), eq. (2) (arXiv:1606.00304). The
    admissible set is

    ``W(k) = {w in R^k : sum_j w_j = 1,
    sum_j w_j Gamma(j + 2l/d) / Gamma(j) = 0 for l = 1..floor(d/4),
    w_j = 0 for j not in {floor(k/d), floor(2k/d), ..., k}}``.

    The moment conditions cancel the first ``floor(d/4)`` terms of the bias expansion, which
    is what makes the estimator efficient for ``d >= 4``. The paper proves properties of any
    element of ``W(k)``; its authors' R package IndepTest (``L2OptW``, CRAN) picks the
    element of minimum Euclidean norm, and for ``d <= 3`` (no moment condition) returns
    ``(0, ..., 0, 1)``, i.e. the unweighted estimator with the ``k``-th neighbour. We do the
    same. ``L2OptW`` itself lets every ``j = 1..k`` carry weight; ``support="all"`` gives
    that variant, the default ``support="paper"`` keeps the paper's support restriction.

:func:`seed_weights`
    The weights of the seed project's library ``mutinfo`` (VanessB/Information-v3,
    ``source/python/mutinfo/estimators/functional.py``, ``KLFunctional.set_optimal_weights``):
    ``(1, 0, ..., 0)`` (the 1st neighbour) for ``d <= 4``; otherwise the least-squares
    solution (``numpy.linalg.lstsq``, ``rcond=1e-6``) of the stacked system "mean of ``w``
    equals ``1/k``", the unit-normalised moment rows of the paper equal 0, and ``w_j = 0``
    off the paper's support. When that system is inconsistent (``k <= floor(d/4)``) the
    result satisfies none of the constraints exactly; for ``k = 5`` and ``d = 20`` it is
    ``[618.34, -5535.48, 14478.19, -14866.26, 5306.20]``, summing to 0.9898.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from scipy.special import gammaln, loggamma

from ._validation import check_positive_int

__all__ = ["bsy_weights", "seed_weights", "bsy_support", "bsy_min_k"]

_SUPPORTS = ("paper", "all")
# condition number up to which the float64 solve is accurate to ~1e-11 relative
_FLOAT_MAX_COND = 1e5


def bsy_support(k: int, d: int) -> np.ndarray:
    """Neighbour ranks allowed a non-zero weight by Berrett, Samworth & Yuan (2019).

    The set ``{floor(i k / d) : i = 1..d}`` without 0, sorted (1-based ranks).

    Examples
    --------
    >>> bsy_support(10, 4).tolist()
    [2, 5, 7, 10]
    """
    k = check_positive_int(k, "k")
    d = check_positive_int(d, "d")
    ranks = {(i * k) // d for i in range(1, d + 1)}
    ranks.discard(0)
    return np.array(sorted(ranks), dtype=np.int64)


def bsy_min_k(d: int, *, support: str = "paper") -> int:
    """Smallest ``k`` for which the weight set of :func:`bsy_weights` is non-empty.

    ``floor(d/4) + 1`` for both supports: with ``k <= d`` the paper's support is all of
    ``1..k``, and ``floor(d/4) + 1`` distinct ranks make the moment system solvable.

    Examples
    --------
    >>> bsy_min_k(20)
    6
    """
    d = check_positive_int(d, "d")
    _check_support(support)
    return d // 4 + 1


def _check_support(support: object) -> str:
    if support not in _SUPPORTS:
        raise ValueError(f"support must be one of {_SUPPORTS}, got {support!r}")
    return str(support)


def _moment_rows_float(ranks: np.ndarray, d: int) -> np.ndarray:
    """Rows ``[1, Gamma(j + 2l/d) / Gamma(j) for l = 1..floor(d/4)]`` at the given ranks."""
    j = ranks.astype(np.float64)
    rows = [np.ones_like(j)]
    for ell in range(1, d // 4 + 1):
        rows.append(np.exp(gammaln(j + 2.0 * ell / d) - gammaln(j)))
    return np.vstack(rows)


def _min_norm_float(ranks: np.ndarray, d: int) -> tuple[np.ndarray, float]:
    """Float64 minimum-norm solution and the condition number of the row-scaled system."""
    rows = _moment_rows_float(ranks, d)
    rows = rows / np.linalg.norm(rows, axis=1)[:, None]
    rhs = np.zeros(rows.shape[0])
    rhs[0] = 1.0 / math.sqrt(ranks.size)
    w = np.linalg.lstsq(rows, rhs, rcond=None)[0]
    return w, float(np.linalg.cond(rows))


def _min_norm_mp(ranks: np.ndarray, d: int) -> np.ndarray:
    """Minimum-norm solution ``G^T (G G^T)^{-1} e_1`` in multiple precision."""
    try:
        import mpmath
    except ImportError as exc:  # pragma: no cover - mpmath ships with most stacks
        raise RuntimeError(
            f"the BSY weight system for d={d} with {ranks.size} ranks is too ill-conditioned "
            "for float64; install mpmath (pip install mpmath) to solve it in multiple "
            "precision, or use fewer dimensions"
        ) from exc
    n_rows = d // 4 + 1
    dps = 60
    while True:
        with mpmath.workdps(dps):
            js = [mpmath.mpf(int(j)) for j in ranks]
            rows = [[mpmath.mpf(1)] * len(js)]
            for ell in range(1, n_rows):
                s = mpmath.mpf(2 * ell) / d
                rows.append([mpmath.exp(mpmath.loggamma(j + s) - mpmath.loggamma(j)) for j in js])
            g = mpmath.matrix(rows)
            gram = g * g.T
            rhs = mpmath.matrix([1] + [0] * (n_rows - 1))
            lam = mpmath.lu_solve(gram, rhs)
            w = g.T * lam
            resid = g * w - rhs
            scale = max(mpmath.mpf(1), max(abs(x) for x in w))
            ok = max(abs(x) for x in resid) / scale < mpmath.mpf(10) ** (-(dps // 2))
            if ok or dps >= 480:
                return np.array([float(x) for x in w], dtype=np.float64)
        dps *= 2


@lru_cache(maxsize=256)
def _bsy_cached(k: int, d: int, support: str) -> np.ndarray:
    if d // 4 == 0:
        w = np.zeros(k)
        w[-1] = 1.0
        return w
    ranks = bsy_support(k, d) if support == "paper" else np.arange(1, k + 1)
    if ranks.size < d // 4 + 1:
        raise ValueError(
            f"no Berrett-Samworth-Yuan weights exist for k={k} in dimension d={d}: the "
            f"{d // 4} moment conditions and the sum-to-one condition need at least "
            f"{d // 4 + 1} neighbour ranks, so k must be >= {bsy_min_k(d, support=support)}"
        )
    w_support, cond = _min_norm_float(ranks, d)
    if not cond < _FLOAT_MAX_COND:
        w_support = _min_norm_mp(ranks, d)
    w = np.zeros(k)
    w[ranks - 1] = w_support
    w.setflags(write=False)
    return w


def bsy_weights(k: int, d: int, *, support: str = "paper") -> np.ndarray:
    """Berrett-Samworth-Yuan weights of the WKL entropy estimator.

    The minimum-Euclidean-norm element of the paper's set ``W(k)`` (see the module
    docstring): weights summing to 1 whose ``floor(d/4)`` moment conditions
    ``sum_j w_j Gamma(j + 2l/d) / Gamma(j) = 0`` hold, non-zero only on the ranks
    :func:`bsy_support` ``(k, d)``. For ``d <= 3`` there is no moment condition and the result
    is ``(0, ..., 0, 1)``: the unweighted estimator with the ``k``-th neighbour, as in the
    authors' R package.

    Well-conditioned systems are solved in float64 (relative accuracy about 1e-11); an
    ill-conditioned one (condition number above 1e5, e.g. ``d >= 16``) is solved in multiple
    precision with mpmath, so the returned weights are the exact ones rounded to float64. For large ``d`` and ``k`` close to :func:`bsy_min_k` the
    weights are exact but very large (they cancel a high-order bias), which amplifies the
    variance of the estimator: prefer ``k`` several times larger than the minimum.

    Parameters
    ----------
    k : int
        Number of neighbours, ``>= 1``.
    d : int
        Dimension of the data whose entropy is estimated, ``>= 1``.
    support : {"paper", "all"}, keyword-only
        ``"paper"`` (default) restricts the support to the paper's ranks; ``"all"`` lets
        every rank ``1..k`` carry weight (IndepTest's ``L2OptW``).

    Returns
    -------
    ndarray of shape (k,)
        Read-only weights for neighbours ``1..k``.

    Raises
    ------
    ValueError
        If ``k`` or ``d`` is below 1, or ``k < bsy_min_k(d)`` (no admissible weights).

    Examples
    --------
    >>> bsy_weights(3, 2).tolist()
    [0.0, 0.0, 1.0]
    >>> w = bsy_weights(10, 8)
    >>> round(float(w.sum()), 12)
    1.0
    """
    k = check_positive_int(k, "k")
    d = check_positive_int(d, "d")
    support = _check_support(support)
    return _bsy_cached(k, d, support).copy()


def seed_weights(k: int, d: int) -> np.ndarray:
    """The weights of the seed project's ``mutinfo`` KL entropy estimator.

    ``(1, 0, ..., 0)`` for ``d <= 4``. Otherwise the ``numpy.linalg.lstsq`` solution
    (``rcond=1e-6``) of the stacked rows: ``[1/k, ..., 1/k] w = 1/k``; for
    ``l = 1..floor(d/4)`` the row ``(Gamma(j + 2l/d) / Gamma(j))_j`` divided by its Euclidean
    norm, times ``w``, equals 0; and ``w_j = 0`` for every rank ``j`` (1-based) outside
    ``{floor(i k / d) : i = 1..d}``. Unlike :func:`bsy_weights` this never fails: for
    ``k <= floor(d/4)`` the system is inconsistent and the least-squares answer violates every
    constraint (its sum is not 1), which is why the seed's full-dimensional curves collapse.

    Parameters
    ----------
    k : int
        Number of neighbours, ``>= 1``.
    d : int
        Dimension of the data, ``>= 1``.

    Returns
    -------
    ndarray of shape (k,)

    Examples
    --------
    >>> seed_weights(5, 2).tolist()
    [1.0, 0.0, 0.0, 0.0, 0.0]
    >>> np.round(seed_weights(5, 20), 2).tolist()
    [618.34, -5535.48, 14478.19, -14866.26, 5306.2]
    """
    k = check_positive_int(k, "k")
    d = check_positive_int(d, "d")
    w = np.zeros(k)
    if d <= 4:
        w[0] = 1.0
        return w
    ranks = np.arange(1, k + 1)
    rows = [np.ones(k) / k]
    for ell in range(1, d // 4 + 1):
        # same special function and operation order as the seed (scipy.special.loggamma)
        row = np.exp(loggamma(ranks + 2 * ell / d) - loggamma(ranks))
        rows.append(row / np.linalg.norm(row))
    allowed = set(bsy_support(k, d).tolist())
    for j in range(1, k + 1):
        if j not in allowed:
            unit = np.zeros(k)
            unit[j - 1] = 1.0
            rows.append(unit)
    system = np.vstack(rows)
    rhs = np.zeros(system.shape[0])
    rhs[0] = 1.0 / k
    return np.linalg.lstsq(system, rhs, rcond=1e-6)[0]

