"""Mutual information and entropy without slicing: the public :func:`mi` and :func:`entropy`."""
from __future__ import annotations

import math
from typing import Any, Optional

import numpy as np

from . import _validation as V
from ._threads import usable_cores
from .projections import SeedLike, as_seed_sequence

__all__ = ["entropy", "mi"]

ENTROPY_ESTIMATORS = ("kl", "wkl", "seed")


def _workers(n_jobs: Optional[int]) -> int:
    """Threads for the full-dimensional searches: ``n_jobs`` capped at the usable cores."""
    V.check_n_jobs(n_jobs)
    cores = usable_cores()
    return cores if n_jobs is None or n_jobs == -1 else min(int(n_jobs), cores)


def mi(X: Any, Y: Any, *, estimator: str = "ksg", k: int = 5, y_discrete: bool = False,
       seed: SeedLike = 0, n_jobs: Optional[int] = None, backend: str = "auto",
       nan_policy: str = "raise") -> float:
    """Estimate the mutual information I(X; Y) in nats.

    One-dimensional X and Y (and 1-D X against labels) run on the same sorted
    1-D kernels as :func:`smi`, with the same standardisation and tie-breaking
    jitter.  Vectors of any other dimension are estimated on the full joint
    space with the KD-tree (this needs the compiled Cython extension).

    Parameters
    ----------
    X : array_like, shape (n, dx) or (n,)
    Y : array_like, shape (n, dy) or (n,)
        Samples, or integer class labels when ``y_discrete=True``.
    estimator : {"ksg", "ksg2", "kl", "wkl", "seed"}, default "ksg"
        See :func:`smi`.  In full dimension ``"wkl"`` uses the Berrett,
        Samworth & Yuan weights (which need ``k > d_joint / 4``) and ``"seed"``
        the seed project's whitened weighted KL with its own weights.
    k : int, default 5
        Number of neighbours.
    y_discrete : bool, default False
        Treat Y as class labels.
    seed : None, int, list of int, SeedSequence, Generator or seed record, default 0
        Seed of the tie-breaking jitter of the 1-D path (checked on every path;
        see :func:`fastsmi.projections.as_seed_sequence`).
    n_jobs : int, optional
        Threads (default: all cores; capped at the usable cores).
    backend : {"auto", "numba", "cython"}, default "auto"
        Backend of the 1-D path.  The full-dimensional path runs its brute-force
        searches in Numba whenever Numba imports, unless the environment sets
        ``FASTSMI_BACKEND=cython``; the results are the same either way.
    nan_policy : {"raise", "omit"}, default "raise"
        NaN and masked (:mod:`numpy.ma`) entries: refuse them, or drop the rows
        that hold one with a RuntimeWarning that gives the count (see :func:`smi`).

    Returns
    -------
    float
        The estimate in nats.

    Raises
    ------
    ValueError, TypeError
        As :func:`smi`; the tie policy is the same.

    Notes
    -----
    Each column is centred on its lower median and scaled by its own power of
    two (MI is invariant to per-column affine maps; both steps are exact), and
    constant columns are dropped with one warning (they change no MI).  Ties
    follow the policy of :func:`smi`: the KL-type estimators refuse tied
    samples; KSG handles atoms.  In full dimension, where no jitter is added,
    a point whose k-th neighbour is an exact copy uses the counts of Gao,
    Kannan, Oh & Viswanath (2017): the number of copies replaces k and the
    marginal counts are the copies in each marginal (for labels, the copies in
    the class replace k in Ross's estimator), which gives the plug-in estimate
    on atoms; ``"ksg2"`` refuses atoms of more than k copies there, where its
    rectangle correction fails.  See ``docs/ties_and_scale.md``.

    Examples
    --------
    >>> import numpy as np
    >>> import fastsmi
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal(2000)
    >>> y = 0.8 * x + 0.6 * rng.standard_normal(2000)
    >>> exact = -0.5 * np.log(1 - 0.8 ** 2)
    >>> bool(abs(fastsmi.mi(x, y) - exact) < 0.05)
    True
    """
    estimator = V.check_estimator(estimator, bool(y_discrete))
    ss = as_seed_sequence(seed)
    V.check_n_jobs(n_jobs)
    clean, _ = V.drop_missing({"X": X, "Y": Y}, nan_policy)
    X, Y = clean["X"], clean["Y"]
    Xm = V.as_samples(X, "X")
    n, dx = Xm.shape
    k = V.check_k(k, n)
    if y_discrete:
        codes, _, _ = V.as_labels(Y, k)
        if codes.shape[0] != n:
            raise ValueError(f"X and Y must have the same number of samples (rows), got {n} and {codes.shape[0]}.")
        dy = 1
    else:
        Ym = V.as_samples(Y, "Y")
        V.check_same_length(Xm, Ym)
        # MI is invariant to per-column affine maps and ignores constant columns: centre, scale each
        # column by a power of two (exact) and drop the constant ones
        raw_y = Ym
        Ym = _prepare_full(Ym, "Y")
        dy = Ym.shape[1]
    raw_x = Xm
    Xm = _prepare_full(Xm, "X")
    dx = Xm.shape[1]
    V.check_ties(Xm, None if y_discrete else Ym, codes if y_discrete else None, k, estimator,
                 raw=(raw_x, None if y_discrete else raw_y))
    if dx == 1 and dy == 1:
        from ._smi import smi

        res = smi(Xm, Y if y_discrete else Ym, n_projections=1, estimator=estimator, k=k, y_discrete=y_discrete,
                  seed=ss, n_jobs=n_jobs, backend=backend, directions_x=np.ones((1, 1)),
                  directions_y=None if y_discrete else np.ones((1, 1)), progress=False)
        return float(res.value)
    return _mi_full(Xm, codes if y_discrete else Ym, estimator, k, y_discrete, _workers(n_jobs))


def _prepare_full(A: np.ndarray, name: str) -> np.ndarray:
    """The non-constant columns of ``A``, centred and scaled by powers of two."""
    const = V.check_not_constant(A, name, stacklevel=4)
    B, _ = V.centre_and_scale(A, per_column=True)
    return np.ascontiguousarray(B[:, ~const]) if const.any() else B


def _mi_full(X: np.ndarray, Y: np.ndarray, estimator: str, k: int, y_discrete: bool, workers: int) -> float:
    from . import _fulldim
    from ._plan import entropy_weights

    if y_discrete:
        if estimator == "ksg":
            return _fulldim.ross_mi(X, Y, k=k, workers=workers, atoms=True)
        # H(X) - sum_c p_c H(X | c)
        w = entropy_weights(estimator, k, X.shape[1])
        opts = dict(weights=w, whiten=estimator == "seed", seed_offset=estimator == "seed", workers=workers)
        Xs = X if estimator == "seed" else X / X.std(axis=0)
        total = _fulldim.kl_entropy(Xs, **opts)
        for c in np.unique(Y):
            sub = np.ascontiguousarray(Xs[Y == c])
            total -= sub.shape[0] / X.shape[0] * _fulldim.kl_entropy(sub, **opts)
        return float(total)
    if estimator in ("ksg", "ksg2"):
        return _fulldim.ksg_mi(X, Y, k=k, variant=1 if estimator == "ksg" else 2, workers=workers, atoms=True)
    dx, dy = X.shape[1], Y.shape[1]
    return _fulldim.kl_mi(
        X, Y,
        weights_x=entropy_weights(estimator, k, dx),
        weights_y=entropy_weights(estimator, k, dy),
        weights_xy=entropy_weights(estimator, k, dx + dy),
        whiten=estimator == "seed",
        seed_offset=estimator == "seed",
        workers=workers,
    )


def entropy(x: Any, *, estimator: str = "kl", k: int = 5, n_jobs: Optional[int] = None,
            nan_policy: str = "raise") -> float:
    """Estimate the differential entropy H(x) in nats by Kozachenko-Leonenko.

    ``H = sum_j w_j [psi(n) - psi(j) + log V_d + (d/n) sum_i log r_ij]``, with
    ``r_ij`` the Euclidean distance from sample i to its j-th nearest other
    sample and ``V_d`` the volume of the unit ball.  Unlike MI, entropy is not
    scale invariant: the data are used as given.

    Parameters
    ----------
    x : array_like, shape (n,) or (n, d)
        Samples.  1-D data use the sorted order; d > 1 uses the KD-tree.
    estimator : {"kl", "wkl", "seed"}, default "kl"
        ``"kl"``: the k-th neighbour alone.  ``"wkl"``: Berrett-Samworth-Yuan
        weights over neighbours 1..k.  ``"seed"``: the seed project's weights,
        ``log(n - 1)`` offset and whitening.
    k : int, default 5
        Number of neighbours.
    n_jobs : int, optional
        Threads for the KD-tree (d > 1), capped at the usable cores.
    nan_policy : {"raise", "omit"}, default "raise"
        NaN and masked (:mod:`numpy.ma`) entries: refuse them, or drop the rows
        that hold one with a RuntimeWarning that gives the count.

    Returns
    -------
    float

    Raises
    ------
    ValueError
        For duplicated samples or a constant column (an atom: the entropy is
        -inf): add noise or deduplicate first.

    Notes
    -----
    The data are centred and multiplied by ``2**-e`` (exact) before the
    search, and ``d e log 2`` is added back: ``entropy(2**p x + b)`` is
    ``entropy(x) + d p log 2`` to rounding over the whole float64 range.

    Examples
    --------
    >>> import numpy as np
    >>> import fastsmi
    >>> x = np.random.default_rng(0).standard_normal(5000)
    >>> exact = 0.5 * np.log(2 * np.pi * np.e)
    >>> bool(abs(fastsmi.entropy(x) - exact) < 0.05)
    True
    """
    if not isinstance(estimator, str) or estimator.lower() not in ENTROPY_ESTIMATORS:
        raise ValueError(
            f"unknown entropy estimator {estimator!r}; choose one of {', '.join(map(repr, ENTROPY_ESTIMATORS))}."
        )
    estimator = estimator.lower()
    V.check_n_jobs(n_jobs)
    x = V.drop_missing({"x": x}, nan_policy)[0]["x"]
    raw = V.as_samples(x, "x")
    n, d = raw.shape
    k = V.check_k(k, n)
    V.check_not_constant(raw, "x", columns="raise")
    # H(2**e A + b) = H(A) + d e log 2: estimate on centred data of unit magnitude, add the exact shift
    A, e = V.centre_and_scale(raw)
    V.check_ties(A, None, None, k, estimator, raw=(raw, None), names=("x", None))
    shift = d * float(e[0]) * math.log(2.0)
    from ._plan import entropy_offsets, entropy_weights

    w = entropy_weights(estimator, k, d)
    if d > 1:
        from . import _fulldim

        return shift + _fulldim.kl_entropy(A, weights=w, whiten=estimator == "seed",
                                           seed_offset=estimator == "seed", workers=_workers(n_jobs))
    r = _knn_1d(np.sort(A[:, 0]), k)
    if np.any(r[:, 0] == 0.0):
        raise ValueError(
            "x has duplicated values: a zero neighbour distance makes the KL entropy -inf; "
            "add a small noise or deduplicate first."
        )
    mean_log = np.log(r).mean(axis=0)
    return shift + float(np.dot(w, entropy_offsets(estimator, k, n, 1) + mean_log))


def _knn_1d(xs: np.ndarray, k: int) -> np.ndarray:
    """Distances from every sorted sample to its k nearest other samples, ascending, shape (n, k)."""
    n = xs.shape[0]
    offsets = np.concatenate([np.arange(-k, 0), np.arange(1, k + 1)])
    pos = np.arange(n)[:, None] + offsets[None, :]
    valid = (pos >= 0) & (pos < n)
    cand = np.where(valid, np.abs(xs[np.clip(pos, 0, n - 1)] - xs[:, None]), np.inf)
    return np.sort(cand, axis=1)[:, :k]
