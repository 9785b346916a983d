"""The public estimators: :func:`smi`, :func:`mi` and :func:`entropy`.

Each validates its input once (:mod:`fastsmi._validation`), prepares the samples
(missing data, centring and power-of-two scaling, ties), and hands them to a driver:
the 1-D slice driver (:mod:`fastsmi._sliced`), the k-SMI driver
(:mod:`fastsmi._ksliced`) or the full-dimensional estimators (:mod:`fastsmi._fulldim`).
The drivers never call back up into this module.
"""
from __future__ import annotations

import dataclasses
import math
import time
import warnings
from typing import Any, Optional

import numpy as np

from . import _validation as V
from ._bias import check_correction, gaussian_reference_bias
from ._fulldim import kl_entropy, mi_full
from ._ksliced import ksliced_smi
from ._plan import entropy_offsets, entropy_weights
from ._result import SMIResult
from ._inference import (AUTO_MAX_PROJECTIONS, JACKKNIFE_GROUPS, asks_for_cython, check_auto,
                         check_pointwise_estimator, check_sampling_error, interval, jackknife_error, jackknife_groups,
                         sliced_inference)
from ._sliced import sliced_smi
from ._threads import resolve_n_jobs
from ._transform import apply_transform, check_transform
from .projections import METHODS, SeedLike, as_seed_sequence, child_seed

__all__ = ["SMIResult", "entropy", "mi", "smi"]

def smi(X: Any, Y: Any, *, n_projections: Optional[int] = None, estimator: str = "ksg", k: int = 5,
        y_discrete: bool = False, seed: SeedLike = None, n_jobs: Optional[int] = None,
        backend: str = "auto", return_slices: bool = True, method: Optional[str] = None,
        directions_x: Any = None, directions_y: Any = None, block_size: Optional[int] = None,
        progress: Optional[bool] = None, client: Any = None, slice_dim: int = 1,
        nan_policy: str = "raise", return_pointwise: bool = False, atol: Optional[float] = None,
        max_projections: int = AUTO_MAX_PROJECTIONS, sampling_error: Optional[str] = None,
        transform: Optional[str] = None) -> SMIResult:
    """Estimate the sliced mutual information SMI(X; Y) in nats.

    SMI(X; Y) = E I(theta^T X; phi^T Y) over independent directions theta and
    phi uniform on the unit spheres.  ``n_projections`` pairs of directions are
    drawn; each pair gives a 1-D slice whose MI is estimated by a k-nearest-
    neighbour estimator; the estimate is the mean over slices.

    Parameters
    ----------
    X : array_like, shape (n, dx) or (n,)
        Samples of X.  Integer and float32 input is computed in float64.
    Y : array_like, shape (n, dy) or (n,)
        Samples of Y, or integer class labels when ``y_discrete=True``.
    n_projections : int or "auto", optional
        Number of slices m (default 1000, or the number of rows of
        ``directions_x`` when given; a different value raises).  ``"auto"``
        (KSG): blocks of 64 directions, a prefix of one sequence, are added until
        ``stderr <= max(atol, 0.5 * stderr_samples)`` or ``max_projections``; the
        result equals ``smi(n_projections=m)`` for the m chosen, and carries
        ``stderr_samples`` and ``ci``.
    estimator : {"ksg", "ksg2", "kl", "wkl", "seed"}, default "ksg"
        Per-slice MI estimator (see Notes).
    k : int, default 5
        Number of neighbours.
    y_discrete : bool, default False
        Treat Y as class labels: only X is sliced.  ``"ksg"`` then uses the
        Ross (2014) estimator, the KL-type estimators ``H(x) - sum_y p(y) H(x | y)``.
    seed : None, int, list of int, SeedSequence, Generator or seed record
        Seed for the directions and the tie-breaking jitter (see
        :func:`fastsmi.projections.as_seed_sequence`).  The same seed gives
        bit-identical results for any ``n_jobs``, ``block_size``, backend and
        Dask layout; ``result.seed`` repeats the call.
    n_jobs : int, optional
        Threads for this call (default: all cores); restored afterwards.
    backend : {"auto", "numba", "cython"}, default "auto"
        Compute backend; ``"auto"`` honours ``FASTSMI_BACKEND``.
    return_slices : bool, default True
        Keep the per-slice estimates in the result.  With False and more than
        :data:`KEEP_SLICES_MAX` (4,194,304) slices, no per-slice array is held:
        memory does not grow with m, and ``value`` and ``stderr`` are accumulated
        in order over fixed chunks of slices (exactly rounded sums, shifted by the
        first slice), which agrees with the kept-array result to about 1e-15
        relative but not bit for bit.  With ``client=`` the array is always kept.
    method : {"sphere", "orthonormal"}, optional
        How directions are drawn (default ``"sphere"``): independent uniform
        directions, or the seed project's stacked orthonormal (QR) blocks.  Drawn
        block by block: the directions do not depend on ``block_size``.
    directions_x, directions_y : array_like, shape (m, dx) / (m, dy), optional
        Use these directions instead of drawing them (rows are normalised).
        ``method`` cannot be combined with given directions for both variables
        (nothing would be drawn), nor ``directions_y`` with ``y_discrete=True``.
    block_size : int, optional
        Directions projected at once (rounded up to a multiple of 16).  By
        default chosen to keep each block's projections under 128 MiB.
    progress : bool, optional
        Show a progress bar (default: only on a terminal, for multi-block work).
    client : dask.distributed.Client, optional
        Run the blocks as tasks on a Dask cluster; the data are scattered once
        and the result is identical to a local run with the same seed.
    slice_dim : int, default 1
        Dimension s of each slice.  ``s > 1`` gives k-SMI (Goldfeld et al.
        2022): X and Y are projected on Haar-random s-dimensional orthonormal
        frames and each s + s slice is estimated on the KD-tree (this path
        needs the compiled Cython extension; ``backend``, ``method``,
        ``directions_*``, ``block_size`` and ``client`` apply to s = 1 only, and
        passing them with s > 1 raises).
    nan_policy : {"raise", "omit"}, default "raise"
        Missing data: NaN entries, and the masked entries of a
        :class:`numpy.ma.MaskedArray` (X, Y or labels).  ``"raise"`` refuses
        them (a masked array with nothing masked is used as is); ``"omit"``
        drops every row where X or Y has one, warns (RuntimeWarning) with the
        count, and reports it as ``result.n_omitted``.
    return_pointwise : bool, default False
        KSG only: also return each sample's term averaged over the slices
        (``result.pointwise``, pointwise SMI; its mean is the estimate) and, from
        their spread, ``result.stderr_samples`` and the 95% interval
        ``result.ci``, which covers the direction and the sampling error (see
        ``docs/inference.md``).  Runs on the Numba backend.
    atol : float, optional
        With ``n_projections="auto"``: also stop once ``stderr <= atol`` (nats).
    max_projections : int, default 4096
        With ``n_projections="auto"``: the most slices drawn (at least 64).
    sampling_error : {None, "influence", "jackknife", "average"}, optional
        How ``result.stderr_samples`` (the error from the finite sample) and the
        interval ``result.ci`` are computed (coverage in ``docs/inference.md``):

        - ``"influence"`` (KSG on Numba, nearly free; the default with
          ``return_pointwise=True`` or ``"auto"``): the spread of the pointwise
          terms.  It misses the correlation of neighbouring samples' terms and is
          too small by 20-35% at d >= 10 or with heavy tails.
        - ``"jackknife"`` (any estimator, backend and ``slice_dim``; 11 times the
          cost): a delete-a-group jackknife over 10 seeded random groups of
          samples, re-estimated with the same directions, with a Student-t
          interval.  It counts those correlations twice (Efron & Stein 1981) and
          is too large by 10-35%: conservative.
        - ``"average"`` (KSG on Numba, the jackknife's cost): the mean of the two
          variances, which counts the correlations once; the calibrated one.

        None (default): computed only with ``return_pointwise=True`` or ``"auto"``.
    transform : {None, "none", "rank"}, default None
        Per-slice marginal transform: ``"rank"`` replaces each projected variable
        (``theta^T X``, ``phi^T Y``; not labels) by the normal scores of its ranks,
        ``Phi^-1((r - 1/2) / n)`` with ties averaged, before the neighbour search.
        A slice's MI is unchanged by a monotone map of each projected variable, so
        the estimand is the same; the k-NN estimate is less biased on heavy-tailed
        slices (``docs/accuracy.md``).  It costs one more sort per projected
        variable.  None is ``"none"`` (and ``"seed"`` refuses ``"rank"``).

    Returns
    -------
    SMIResult
        ``value``, ``stderr``, ``per_slice`` and metadata.

    Raises
    ------
    ValueError, TypeError
        For NaN (unless omitted), inf, masked entries, mismatched lengths,
        ``n <= k``, a constant X or Y, constant projections, ties the estimator
        cannot handle (see Notes), bad labels, non-numeric or 3-D input, unknown
        options, an invalid seed, or options that contradict each other.

    Notes
    -----
    Scale and offset: X and Y are first centred column by column on one of
    their own values (the lower median) and multiplied by a power of two, both
    exact in float64, so ``smi(c X + b, Y)`` equals ``smi(X, Y)`` bit for bit
    for ``c = 2**p`` (and to rounding for other ``c``) over the whole float64
    range.  Constant columns are accepted with one warning; a constant
    variable or a constant projection is an error.  Each projected variable
    is then standardised (mean 0, variance 1) before the neighbour search, as
    scikit-learn does for KSG, and a deterministic jitter, uniform on
    ``[-1e-10, 1e-10]`` standard deviations and drawn from the seed, is added
    to every sample to break exact ties.

    Ties: ``"kl"``, ``"wkl"`` and ``"seed"`` need a density, and an atom (a
    sample of X or Y equal to another: duplicated rows, ReLU zeros, discrete
    values) makes their log-distances diverge, so any tied sample raises a
    ValueError naming the tied fraction.  ``"ksg"`` and ``"ksg2"`` with the
    jitter behave as the mixed estimator of Gao, Kannan, Oh & Viswanath
    (2017) and are consistent on discrete-continuous mixtures; they refuse
    data where more than 1% of the samples repeat an (x, y) pair at most
    ``2k`` times (duplicated records), which biases them.  See
    ``docs/ties_and_scale.md``.

    Per slice, each sample is sorted once;
    marginal neighbour counts come from binary searches in the sorted order,
    and the joint neighbours from an exact grid search, O(n log n) per slice.

    Calls may run from several Python threads at once, on either backend and
    any Numba threading layer (under ``workqueue``, which is not thread-safe,
    the parallel kernels of concurrent calls take turns).  Long calls stop
    within about a second on Ctrl-C: the work runs in bounded pieces, and
    ``n_jobs`` is capped at the cores the process may use.

    ``"ksg"`` / ``"ksg2"`` are KSG algorithms 1 and 2 (max-norm joint, strict
    ``<`` counts for algorithm 1).  ``"kl"`` is ``H(x) + H(y) - H(x, y)`` with
    Kozachenko-Leonenko entropies from the k-th neighbour (Euclidean joint);
    ``"wkl"`` weights neighbours 1..k as Berrett, Samworth & Yuan (2019);
    ``"seed"`` reproduces the seed project (1-NN KL on the whitened slice).

    Examples
    --------
    >>> import numpy as np
    >>> import fastsmi
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((500, 3))
    >>> Y = X + rng.standard_normal((500, 3))
    >>> res = fastsmi.smi(X, Y, n_projections=64, seed=1)
    >>> bool(0.0 < res.value < 1.0), res.n_projections
    (True, 64)
    """
    t0 = time.perf_counter()
    estimator = V.check_estimator(estimator, bool(y_discrete))
    slice_dim = V.check_positive_int(slice_dim, "slice_dim")
    sampling_error = check_sampling_error(sampling_error)
    transform = check_transform(transform, estimator)
    auto = _check_inference_options(n_projections, return_pointwise, estimator, slice_dim, backend, client,
                                    directions_x, directions_y, atol, max_projections,
                                    influence=sampling_error in ("influence", "average"))
    if sampling_error in ("jackknife", "average"):
        options = dict(n_projections=n_projections, estimator=estimator, k=k, y_discrete=y_discrete, seed=seed,
                       n_jobs=n_jobs, backend=backend, return_slices=return_slices, method=method,
                       directions_x=directions_x, directions_y=directions_y, block_size=block_size,
                       progress=progress, client=client, slice_dim=slice_dim, nan_policy=nan_policy,
                       return_pointwise=return_pointwise, atol=atol, max_projections=max_projections,
                       transform=transform)
        return _jackknife(X, Y, options, t0, average=sampling_error == "average")
    _check_options(n_projections=n_projections, method=method, directions_x=directions_x,
                   directions_y=directions_y, y_discrete=bool(y_discrete), slice_dim=slice_dim,
                   block_size=block_size, client=client, backend=backend)
    data = V.prepare_samples(X, Y, k=k, estimator=estimator, y_discrete=bool(y_discrete), nan_policy=nan_policy)
    method = check_method(method)
    if not isinstance(return_slices, (bool, np.bool_)):
        raise TypeError(f"return_slices must be True or False, got {return_slices!r}.")
    V.check_n_jobs(n_jobs)

    if slice_dim > 1:
        return ksliced_smi(data.X, data.Y, None if data.discrete is None else (data.discrete[0], data.counts),
                           n_projections=1000 if n_projections is None else n_projections,
                           estimator=estimator, k=data.k, seed=seed, n_jobs=n_jobs, return_slices=return_slices,
                           progress=progress, slice_dim=slice_dim, client=client, t0=t0, tols=data.tols,
                           n_omitted=data.n_omitted, transform=transform)
    if return_pointwise or auto or sampling_error == "influence":
        return sliced_inference(data, n_projections=n_projections, estimator=estimator, seed=seed, n_jobs=n_jobs,
                                method=method, t0=t0, return_slices=return_slices,
                                return_pointwise=bool(return_pointwise), atol=atol, max_projections=max_projections,
                                transform=transform)
    return sliced_smi(data.X, data.Y, data.discrete, data.counts, n_projections=n_projections, estimator=estimator,
                      k=data.k, seed=seed, n_jobs=n_jobs, backend=backend, return_slices=return_slices,
                      method=method, directions_x=directions_x, directions_y=directions_y, block_size=block_size,
                      progress=progress, client=client, t0=t0, tols=data.tols, n_omitted=data.n_omitted,
                      transform=transform)


def check_method(method: Any) -> str:
    """The projection method, ``"sphere"`` when None."""
    method = "sphere" if method is None else method
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(f"unknown projection method {method!r}; choose one of {METHODS}.")
    return method


def _jackknife(X: Any, Y: Any, options: dict, t0: float, *, average: bool) -> SMIResult:
    """``smi`` with ``stderr_samples`` from a delete-a-group jackknife over the samples.

    The estimate is the full sample's; each group's leave-out estimate repeats the
    call on the other rows with the full call's seed record, hence the same
    directions (and the number of slices ``"auto"`` chose), so the spread of the
    leave-out estimates is the sampling error given the directions.  With
    ``average``, the variance is the mean of the jackknife's and the influence
    terms' (the full call then keeps the pointwise terms).
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        full = smi(X, Y, **dict(options, sampling_error="influence" if average else None))
    for w in caught:  # the full call's warnings, pointed at the user's call; the subsets repeat them
        warnings.warn(w.message, w.category, stacklevel=3)
    X, Y = np.asanyarray(X), np.asanyarray(Y)  # masked arrays stay masked
    groups = jackknife_groups(X.shape[0], as_seed_sequence(full.seed))
    sub = dict(options, seed=full.seed, n_projections=full.n_projections, return_pointwise=False, progress=False,
               atol=None, max_projections=AUTO_MAX_PROJECTIONS, return_slices=False)
    keep = np.ones(X.shape[0], dtype=bool)
    values = []
    for rows in groups:
        keep[rows] = False
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                values.append(smi(X[keep], Y[keep], **sub).value)
        except ValueError as err:
            raise ValueError(
                f"sampling_error={'average' if average else 'jackknife'!r} re-estimates SMI leaving out "
                f"1/{len(groups)} of the samples at a time, and one such subset was refused: {err} Use more "
                "samples, or sampling_error='influence'.") from err
        keep[rows] = True
    jack, df = jackknife_error(values), len(groups) - 1
    if average:
        # the influence variance has n - 1 degrees of freedom, counted as infinite
        se = math.sqrt((jack ** 2 + full.stderr_samples ** 2) / 2)
        df = df * se ** 4 / (jack ** 2 / 2) ** 2 if jack > 0 else math.inf
    else:
        se = jack
    return dataclasses.replace(
        full, stderr_samples=se, sampling_error="average" if average else "jackknife",
        seconds=time.perf_counter() - t0,
        ci=interval(full.value, full.stderr, se, m=full.n_projections, df_samples=df))


def _check_inference_options(n_projections: Any, return_pointwise: Any, estimator: str, slice_dim: int,
                             backend: Any, client: Any, directions_x: Any, directions_y: Any, atol: Any,
                             max_projections: Any, *, influence: bool = False) -> bool:
    """Check ``n_projections="auto"``, ``return_pointwise`` and ``sampling_error="influence"``; True for ``"auto"``."""
    if not isinstance(return_pointwise, (bool, np.bool_)):
        raise TypeError(f"return_pointwise must be True or False, got {return_pointwise!r}.")
    auto = isinstance(n_projections, str)
    if auto and n_projections != "auto":
        raise ValueError(f"n_projections must be a positive integer or 'auto', got {n_projections!r}.")
    if auto:
        check_auto(atol, max_projections)
    elif atol is not None:
        raise ValueError("atol applies to n_projections='auto' only; drop atol, or set n_projections='auto'.")
    elif max_projections != AUTO_MAX_PROJECTIONS:
        raise ValueError("max_projections applies to n_projections='auto' only; drop max_projections, or set "
                         "n_projections='auto'.")
    if not (auto or return_pointwise or influence):
        return False
    what = ("n_projections='auto'" if auto else "return_pointwise=True" if return_pointwise
            else "sampling_error='influence'")
    check_pointwise_estimator(estimator, slice_dim)
    for name, value in (("client", client), ("directions_x", directions_x), ("directions_y", directions_y)):
        if value is not None:
            raise ValueError(f"{what} draws its own directions and runs locally; drop {name}.")
    if asks_for_cython(backend):
        raise ValueError(f"{what} runs on the Numba backend (its per-sample terms); use backend='numba' (and "
                         "unset FASTSMI_BACKEND=cython).")
    return auto


def _check_options(*, n_projections: Any, method: Any, directions_x: Any, directions_y: Any, y_discrete: bool,
                   slice_dim: int, block_size: Any, client: Any, backend: Any) -> None:
    """Refuse options that another option makes meaningless, naming both and the fix."""
    if y_discrete and directions_y is not None:
        raise ValueError(
            "directions_y has no effect with y_discrete=True (labels are not projected); drop directions_y."
        )
    if slice_dim > 1:
        ignored = [name for name, value, unset in (
            ("directions_x", directions_x, None), ("directions_y", directions_y, None), ("method", method, None),
            ("block_size", block_size, None), ("client", client, None)) if value is not unset]
        if isinstance(backend, str) and backend.lower() != "auto":
            ignored.append("backend")
        if ignored:
            raise ValueError(
                f"{', '.join(ignored)} apply to slice_dim=1 only, but slice_dim={slice_dim}: k-SMI draws its own "
                "frames and runs on the KD-tree; drop those options or use slice_dim=1."
            )
        return
    given_all = directions_x is not None and (y_discrete or directions_y is not None)
    if given_all and method is not None:
        raise ValueError(
            f"method={method!r} has no effect when the directions are given (directions_x"
            f"{'' if y_discrete else ' and directions_y'}); drop method, or drop the directions to draw them."
        )



def mi(X: Any, Y: Any, *, estimator: str = "ksg", k: int = 5, y_discrete: bool = False,
       seed: SeedLike = 0, n_jobs: Optional[int] = None, backend: str = "auto",
       nan_policy: str = "raise", transform: Optional[str] = None, correction: str = "none") -> float:
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
    transform : {None, "none", "rank"}, default None
        Marginal transform of every column of X and Y (not of labels) before
        the estimator.  ``"rank"``: the normal scores of the ranks,
        ``Phi^-1((r - 1/2) / n)``, ties averaged (:func:`fastsmi._transform.normal_scores`).
        MI is unchanged by an increasing map of each coordinate, and on normal
        scores the k-NN estimators lose most of their bias on heavy-tailed and
        skewed marginals; it costs one sort per column.  None is ``"none"``
        (the default may change to ``"rank"``, see ``docs/accuracy.md``);
        ``estimator="seed"`` accepts ``"none"`` only.
    correction : {"none", "gaussian"}, default "none"
        ``"gaussian"``: subtract the estimator's own bias, measured on three
        Gaussian samples of the same size with the data's correlation (after
        the transform), whose MI is known in closed form
        (:func:`fastsmi._bias.gaussian_reference_bias`).  It removes most of
        the bias of KSG in many dimensions at the cost of three more estimates.
        Continuous Y only; not with ``estimator="seed"``.

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
    transform = check_transform(transform, estimator)
    correction = check_correction(correction, estimator, bool(y_discrete))
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
        Ym = _prepare_full(apply_transform(Ym, transform), "Y")
        dy = Ym.shape[1]
    raw_x = Xm
    Xm = _prepare_full(apply_transform(Xm, transform), "X")
    dx = Xm.shape[1]
    V.check_ties(Xm, None if y_discrete else Ym, codes if y_discrete else None, k, estimator,
                 raw=(raw_x, None if y_discrete else raw_y))

    def estimate(A: np.ndarray, B: np.ndarray) -> float:
        if A.shape[1] == 1 and (y_discrete or B.shape[1] == 1):
            res = smi(A, Y if y_discrete else B, n_projections=1, estimator=estimator, k=k, y_discrete=y_discrete,
                      seed=ss, n_jobs=n_jobs, backend=backend, directions_x=np.ones((1, 1)),
                      directions_y=None if y_discrete else np.ones((1, 1)), progress=False)
            return float(res.value)
        return mi_full(A, B, estimator, k, y_discrete, resolve_n_jobs(n_jobs))

    value = estimate(Xm, codes if y_discrete else Ym)
    if correction == "gaussian":
        # the reference's own stream, derived without touching the caller's seed object
        ref = child_seed(ss, REFERENCE_STREAM)
        value -= gaussian_reference_bias(Xm, Ym, estimate, seed=ref, reps=REFERENCE_REPS)
    return value


#: Spawn key appended to the seed for the Gaussian reference samples of ``correction="gaussian"``.
REFERENCE_STREAM = 0x6761

#: Gaussian reference samples averaged by ``correction="gaussian"``: with one, the reference's own noise made
#: 1 x 1 estimates at n = 1000 worse than uncorrected KSG (docs/accuracy.md); three remove that.
REFERENCE_REPS = 3


def _prepare_full(A: np.ndarray, name: str) -> np.ndarray:
    """The non-constant columns of ``A``, centred and scaled by powers of two."""
    const = V.check_not_constant(A, name, stacklevel=4)
    B, _ = V.centre_and_scale(A, per_column=True)
    return np.ascontiguousarray(B[:, ~const]) if const.any() else B


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
    if not isinstance(estimator, str) or estimator.lower() not in V.ENTROPY_ESTIMATORS:
        raise ValueError(
            f"unknown entropy estimator {estimator!r}; choose one of {', '.join(map(repr, V.ENTROPY_ESTIMATORS))}."
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
    w = entropy_weights(estimator, k, d)
    if d > 1:
        return shift + kl_entropy(A, weights=w, whiten=estimator == "seed", seed_offset=estimator == "seed",
                                  workers=resolve_n_jobs(n_jobs))
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
