"""Sliced mutual information: the public :func:`smi` and its block driver."""
from __future__ import annotations

import hashlib
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from . import _validation as V
from ._backends import get_backend
from ._blas import blas_threads
from ._config import BLOCK_MEMORY_BYTES, JITTER_SCALE, PROJECTION_GRANULE
from ._plan import Plan, make_plan
from .projections import METHODS, DirectionStream, SeedLike, as_seed_sequence, seed_record

__all__ = ["SMIResult", "smi"]

#: Joint neighbour search used by the 1-D slice kernels, chosen by measurement
#: (``bench/bench_search.py``); ``FASTSMI_SEARCH`` overrides it.
DEFAULT_SEARCH = "grid"
SEARCHES = ("sweep", "grid")

#: Slices times samples estimated per thread by one call of a backend's kernel, at
#: most (a block of projections is estimated in several calls when larger): a Ctrl-C
#: is seen between calls, so this keeps the wait well under a second.  Every slice is
#: estimated on its own, so results do not depend on it.
SLICE_CALL_WORK = 1 << 18

#: With ``return_slices=False``, up to this many slices are kept internally, and the
#: mean and standard error are those of the kept array (bit-identical to
#: ``return_slices=True``); beyond it they are accumulated block by block in fixed
#: groups of slices (see :class:`_Moments`), so memory does not grow with m.
KEEP_SLICES_MAX = 1 << 22


@dataclass(frozen=True, eq=False)
class SMIResult:
    """The result of :func:`smi`.

    Attributes
    ----------
    value : float
        The SMI estimate in nats: the mean of the per-slice MI estimates.
    stderr : float
        Standard error of that mean over slices (``std(per_slice, ddof=1) /
        sqrt(n_projections)``, NaN for a single slice); it measures the Monte Carlo error of averaging
        over random directions, not the bias of the k-NN estimator.
    n_projections : int
        Number of slices.
    per_slice : ndarray or None
        The MI estimate of every slice, in direction order (None when
        ``return_slices=False``).
    estimator : str
        Estimator name.
    k : int
        Number of neighbours.
    seed : int or dict
        The :class:`numpy.random.SeedSequence` the directions and the jitter
        were drawn from, in a JSON-serialisable form
        (:func:`fastsmi.projections.seed_record`): an int for ``seed=int``, else a
        dict ``{"entropy": ..., "spawn_key": [...]}``.  Pass it back as ``seed=``
        to repeat the call bit for bit, whatever seed type was given.
    backend : str
        Backend that computed the slices.
    seconds : float
        Wall-clock time of the call.
    n_omitted : int
        Rows dropped by ``nan_policy="omit"`` (0 otherwise).

    Notes
    -----
    Two results are equal when every field but ``seconds`` is equal, ``per_slice``
    element by element (NaN equals NaN, as for a single slice's ``stderr``);
    results are hashable, consistently with that equality.
    """

    value: float
    stderr: float
    n_projections: int
    per_slice: Optional[np.ndarray] = field(repr=False)
    estimator: str
    k: int
    seed: Any
    backend: str = "numba"
    seconds: float = field(default=0.0, compare=False)
    n_omitted: int = 0

    def __float__(self) -> float:
        return float(self.value)

    def _key(self) -> tuple:
        slices = None if self.per_slice is None else np.asarray(self.per_slice, dtype=np.float64)
        return (
            _float_key(self.value), _float_key(self.stderr), self.n_projections, self.estimator, self.k,
            json.dumps(self.seed, sort_keys=True), self.backend, self.n_omitted,
            None if slices is None else (slices.shape, slices.tobytes()),
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SMIResult):
            return NotImplemented
        if (self.per_slice is None) != (other.per_slice is None):
            return False
        same = self._key()[:-1] == other._key()[:-1]
        if self.per_slice is None:
            return same
        return same and np.array_equal(self.per_slice, other.per_slice, equal_nan=True)

    def __hash__(self) -> int:
        key = self._key()
        if key[-1] is not None:
            # NaN entries have several bit patterns: hash a canonical copy
            slices = np.where(np.isnan(self.per_slice), np.nan, self.per_slice) + 0.0
            key = key[:-1] + (hashlib.sha1(np.ascontiguousarray(slices, dtype=np.float64).tobytes()).hexdigest(),)
        return hash(key)


def _float_key(x: float) -> Any:
    """A float for comparisons and hashes in which NaN equals NaN and 0.0 equals -0.0."""
    x = float(x)
    return "nan" if math.isnan(x) else x + 0.0


def _child(ss: np.random.SeedSequence, i: int) -> np.random.SeedSequence:
    """The ``i``-th child of ``ss``, without mutating ``ss`` (unlike ``spawn``)."""
    return np.random.SeedSequence(ss.entropy, spawn_key=tuple(ss.spawn_key) + (i,), pool_size=ss.pool_size)


def _jitter(ss: np.random.SeedSequence, n: int) -> np.ndarray:
    rng = np.random.Generator(np.random.PCG64(ss))
    return rng.uniform(-JITTER_SCALE, JITTER_SCALE, size=n)


def _check_directions(theta: Any, m: Optional[int], d: int, name: str) -> np.ndarray:
    arr = V.as_samples(theta, name)
    if arr.shape[1] != d:
        raise ValueError(f"{name} must have shape (m, {d}) to match the data, got {arr.shape}.")
    if m is not None and arr.shape[0] != m:
        raise ValueError(
            f"{name} has {arr.shape[0]} rows but n_projections={m}; the directions set the number of slices: "
            f"drop n_projections, or pass {m} directions."
        )
    norms = np.sqrt((arr**2).sum(axis=1))
    if np.any(norms == 0):
        raise ValueError(f"{name} has a zero row; every direction must be a non-zero vector.")
    return arr


def _normalise(theta: np.ndarray) -> np.ndarray:
    return theta / np.sqrt((theta**2).sum(axis=1))[:, None]


class _Directions:
    """The unit directions of one variable, handed out block by block.

    Given directions are checked and normalised once; drawn ones come from a
    :class:`~fastsmi.projections.DirectionStream`, so only one block is in memory
    and the rows are those of one draw of all ``m`` at once, whatever the blocks.
    """

    def __init__(self, given: Any, m: int, d: int, method: str, ss: np.random.SeedSequence, name: str) -> None:
        self._given = None if given is None else _normalise(_check_directions(given, m, d, name))
        self._stream = DirectionStream(d, method=method, seed=ss) if given is None else None
        self._next = 0

    def block(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop``; drawn directions must be asked for in order."""
        if self._given is not None:
            return self._given[start:stop]
        if start != self._next:  # pragma: no cover - the driver walks the blocks in order
            raise RuntimeError("drawn directions are handed out in order")
        self._next = stop
        return _normalise(self._stream.take(stop - start))


def _block_size(n: int, m: int, block_size: Optional[int]) -> int:
    g = PROJECTION_GRANULE
    if block_size is None:
        per_direction = 2 * 8 * n
        block_size = max(g, min(256, BLOCK_MEMORY_BYTES // per_direction))
    else:
        block_size = V.check_positive_int(block_size, "block_size")
    block_size = g * math.ceil(block_size / g)
    return min(block_size, g * math.ceil(m / g))


def _project(A: np.ndarray, theta: np.ndarray, start: int, stop: int, width: int) -> np.ndarray:
    """``A @ theta[start:stop].T`` computed on exactly ``width`` directions (zero-padded).

    Every BLAS call sees a multiple of the granule, aligned to it, so the
    projection of a direction does not depend on the block it travels in.
    """
    block = np.zeros((width, theta.shape[1]))
    block[: stop - start] = theta[start:stop]
    return A @ block.T


def compute_block(X: np.ndarray, Y: Optional[np.ndarray], theta_x: np.ndarray, theta_y: Optional[np.ndarray],
                  jitter_x: np.ndarray, jitter_y: Optional[np.ndarray], plan: Plan, discrete: Optional[tuple],
                  start: int, stop: int, width: int, backend: str, search: str,
                  n_jobs: Optional[int], tols: Optional[np.ndarray] = None) -> tuple[np.ndarray, np.ndarray]:
    """Estimate slices ``start:stop``; the unit of work, local or on a Dask worker.

    Returns ``(estimates, status)``; the estimates include the plan's constant.
    """
    mod = get_backend(backend)
    with blas_threads(1):
        PX = _project(X, theta_x, start, stop, width)
        PY = None if discrete is not None else _project(Y, theta_y, start, stop, width)
    out = np.empty(stop - start)
    status = np.zeros(stop - start, dtype=np.int8)
    if tols is None:
        tols = np.array([V.rounding_tolerance(X), 0.0 if Y is None else V.rounding_tolerance(Y)])
    b = stop - start
    with mod.threads(n_jobs) as threads:
        # the same number of slices for every thread of a call, so none waits for the others
        step = threads * max(1, SLICE_CALL_WORK // X.shape[0])
        if step >= b:
            mod.run_block(plan, PX, PY, jitter_x, jitter_y, tols, discrete, out, status, search)
        else:
            for lo in range(0, b, step):
                hi = min(b, lo + step)
                mod.run_block(plan, np.ascontiguousarray(PX[:, lo:hi]),
                              None if PY is None else np.ascontiguousarray(PY[:, lo:hi]),
                              jitter_x, jitter_y, tols, discrete, out[lo:hi], status[lo:hi], search)
    return out + plan.const, status


def _progress(total: int, enabled: Optional[bool]):
    if enabled is None:
        enabled = total > 1 and sys.stderr.isatty()
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover
        return None
    return tqdm(total=total, unit="slice", desc="fastsmi", leave=False)


def smi(X: Any, Y: Any, *, n_projections: Optional[int] = None, estimator: str = "ksg", k: int = 5,
        y_discrete: bool = False, seed: SeedLike = None, n_jobs: Optional[int] = None,
        backend: str = "auto", return_slices: bool = True, method: Optional[str] = None,
        directions_x: Any = None, directions_y: Any = None, block_size: Optional[int] = None,
        progress: Optional[bool] = None, client: Any = None, slice_dim: int = 1,
        nan_policy: str = "raise") -> SMIResult:
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
    n_projections : int, optional
        Number of slices m (default 1000, or the number of rows of
        ``directions_x`` when given; a different value raises).
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
    _check_options(n_projections=n_projections, method=method, directions_x=directions_x,
                   directions_y=directions_y, y_discrete=bool(y_discrete), slice_dim=slice_dim,
                   block_size=block_size, client=client, backend=backend)
    clean, n_omitted = V.drop_missing({"X": X, "Y": Y}, nan_policy)
    X, Y = clean["X"], clean["Y"]
    X = V.as_samples(X, "X")
    n, dx = X.shape
    if y_discrete:
        k = V.check_k(k, n)
        codes, class_start, counts = V.as_labels(Y, k)
        if codes.shape[0] != n:
            raise ValueError(f"X and Y must have the same number of samples (rows), got {n} and {codes.shape[0]}.")
        Ymat = None
        discrete: Optional[tuple] = (codes, class_start)
    else:
        Ymat = V.as_samples(Y, "Y")
        V.check_same_length(X, Ymat)
        k = V.check_k(k, n)
        V.check_not_constant(Ymat, "Y")
        counts = None
        discrete = None
    V.check_not_constant(X, "X")
    method = "sphere" if method is None else method
    # SMI is invariant to c * X + b: centre the columns and scale by a power of two (exact), so that
    # neither offsets nor extreme scales reach the projections' rounding tolerance or their squares
    raw = (X, Ymat)
    X, e_x = V.centre_and_scale(X)
    tols = np.array([V.rounding_tolerance(X, raw[0], e_x), 0.0])
    if Ymat is not None:
        Ymat, e_y = V.centre_and_scale(Ymat)
        tols[1] = V.rounding_tolerance(Ymat, raw[1], e_y)
    V.check_ties(X, Ymat, codes if y_discrete else None, k, estimator, raw=raw)
    if method not in METHODS:
        raise ValueError(f"unknown projection method {method!r}; choose one of {METHODS}.")
    if not isinstance(return_slices, (bool, np.bool_)):
        raise TypeError(f"return_slices must be True or False, got {return_slices!r}.")
    V.check_n_jobs(n_jobs)

    if slice_dim > 1:
        return _smi_k(X, Ymat, (codes, counts) if y_discrete else None,
                      n_projections=1000 if n_projections is None else n_projections,
                      estimator=estimator, k=k, seed=seed, n_jobs=n_jobs, return_slices=return_slices,
                      progress=progress, slice_dim=slice_dim, client=client, t0=t0, tols=tols,
                      n_omitted=n_omitted)
    if directions_x is not None:
        m = V.check_positive_int(len(np.asarray(directions_x)), "n_projections")
        if n_projections is not None and V.check_positive_int(n_projections, "n_projections") != m:
            raise ValueError(
                f"n_projections={n_projections} contradicts directions_x, which has {m} rows (one slice per "
                "direction); drop n_projections, or pass that many directions."
            )
    else:
        m = V.check_positive_int(1000 if n_projections is None else n_projections, "n_projections")
    ss = as_seed_sequence(seed)
    dirs_x = _Directions(directions_x, m, dx, method, _child(ss, 0), "directions_x")
    jitter_x = _jitter(_child(ss, 2), n)
    dirs_y = jitter_y = None
    if Ymat is not None:
        dirs_y = _Directions(directions_y, m, Ymat.shape[1], method, _child(ss, 1), "directions_y")
        jitter_y = _jitter(_child(ss, 3), n)

    backend_mod = get_backend(backend)
    search = os.environ.get("FASTSMI_SEARCH", DEFAULT_SEARCH)
    if search not in SEARCHES:
        raise ValueError(f"FASTSMI_SEARCH={search!r} is not a search; use one of {SEARCHES}.")
    plan = make_plan(estimator, k, n, class_counts=counts)
    width = _block_size(n, m, block_size)
    starts = list(range(0, m, width))
    keep = return_slices or client is not None or m <= KEEP_SLICES_MAX
    per_slice = np.empty(m) if keep else None
    moments = None if keep else _Moments()
    common = dict(plan=plan, discrete=discrete, width=width, backend=backend_mod.NAME, search=search, n_jobs=n_jobs,
                  tols=tols)

    status = np.zeros(m, dtype=np.int8) if keep else None
    if client is not None:
        from ._distributed import run_on_client

        blocks = [(start, min(start + width, m)) for start in starts]
        thetas = [(dirs_x.block(a, b), None if dirs_y is None else dirs_y.block(a, b)) for a, b in blocks]
        run_on_client(client, X, Ymat, thetas, jitter_x, jitter_y, blocks, common, per_slice, status)
    else:
        bar = _progress(m, progress)
        try:
            for start in starts:
                stop = min(start + width, m)
                theta_x = dirs_x.block(start, stop)
                theta_y = None if dirs_y is None else dirs_y.block(start, stop)
                out, st = compute_block(X, Ymat, theta_x, theta_y, jitter_x, jitter_y, start=0, stop=stop - start,
                                        **common)
                if keep:
                    per_slice[start:stop] = out
                    status[start:stop] = st
                else:
                    _finish_status(st, offset=start)
                    moments.add(out)
                if bar is not None:
                    bar.update(stop - start)
        finally:
            if bar is not None:
                bar.close()

    if not keep:
        value, stderr = moments.result()
        return SMIResult(value=value, stderr=stderr, n_projections=m, per_slice=None, estimator=estimator, k=k,
                         seed=seed_record(ss), backend=backend_mod.NAME, seconds=time.perf_counter() - t0,
                         n_omitted=n_omitted)
    return _finish(per_slice, status, m, estimator, k, ss, backend_mod.NAME, return_slices, t0, n_omitted)


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


class _Moments:
    """Mean and standard error of the slices, accumulated block by block in slice order.

    Slices are gathered into chunks of :data:`MOMENT_CHUNK`, at fixed positions
    whatever the block size; each chunk adds the exactly rounded sums
    (``math.fsum``) of ``x - K`` and ``(x - K)^2``, ``K`` the first slice, to
    compensated (Neumaier) totals.  The result does not depend on the blocks.
    """

    def __init__(self) -> None:
        self.m = 0
        self.shift: Optional[float] = None
        self.s1 = [0.0, 0.0]  # total and compensation
        self.s2 = [0.0, 0.0]
        self.pending: list[np.ndarray] = []
        self.n_pending = 0

    def add(self, values: np.ndarray) -> None:
        if not np.isfinite(values).all():
            _finish_nonfinite()
        if self.shift is None:
            self.shift = float(values[0])
        self.pending.append(np.array(values, dtype=np.float64))
        self.n_pending += values.size
        self.m += values.size
        if self.n_pending >= MOMENT_CHUNK:
            buf = np.concatenate(self.pending)
            cut = (buf.size // MOMENT_CHUNK) * MOMENT_CHUNK
            for lo in range(0, cut, MOMENT_CHUNK):
                self._fold(buf[lo:lo + MOMENT_CHUNK])
            self.pending = [buf[cut:]]
            self.n_pending = buf.size - cut

    def _fold(self, chunk: np.ndarray) -> None:
        d = chunk - self.shift
        for acc, x in ((self.s1, math.fsum(d)), (self.s2, math.fsum(d * d))):
            t = acc[0] + x
            acc[1] += (acc[0] - t) + x if abs(acc[0]) >= abs(x) else (x - t) + acc[0]
            acc[0] = t

    def result(self) -> tuple[float, float]:
        if self.n_pending:
            self._fold(np.concatenate(self.pending))
            self.pending, self.n_pending = [], 0
        m = self.m
        s1 = self.s1[0] + self.s1[1]
        s2 = self.s2[0] + self.s2[1]
        value = self.shift + s1 / m
        if m < 2:
            return value, float("nan")
        var = max(0.0, (s2 - s1 * s1 / m) / (m - 1))
        return value, math.sqrt(var) / math.sqrt(m)


#: Slices per exactly rounded chunk of :class:`_Moments`.
MOMENT_CHUNK = 1 << 16


def _finish_status(status: np.ndarray, offset: int = 0) -> None:
    """Raise for the first constant projection flagged in ``status`` (slice ``offset`` first)."""
    bad = np.flatnonzero(status)
    if bad.size:
        which = "X" if status[bad[0]] == 1 else "Y"
        raise ValueError(
            f"the projection of {which} on direction {offset + bad[0]} is constant (and {bad.size - 1} more slices); "
            f"{which} seems to be concentrated on a lower-dimensional set orthogonal to that direction: "
            "drop redundant columns or pass directions that are not orthogonal to the data."
        )


def _finish_nonfinite() -> None:
    raise ValueError(
        "a slice gave a non-finite estimate (perfectly dependent projections for the whitened 'seed' "
        "estimator?); use estimator='ksg' or add noise to the data."
    )


def _finish(per_slice: np.ndarray, status: np.ndarray, m: int, estimator: str, k: int,
            ss: np.random.SeedSequence, backend: str, return_slices: bool, t0: float,
            n_omitted: int = 0) -> SMIResult:
    """Check the slice status codes and assemble the result."""
    _finish_status(status)
    if not np.isfinite(per_slice).all():
        _finish_nonfinite()
    value = float(per_slice.mean())
    stderr = float(per_slice.std(ddof=1) / math.sqrt(m)) if m > 1 else float("nan")
    return SMIResult(
        value=value,
        stderr=stderr,
        n_projections=m,
        per_slice=per_slice if return_slices else None,
        estimator=estimator,
        k=k,
        seed=seed_record(ss),
        backend=backend,
        seconds=time.perf_counter() - t0,
        n_omitted=n_omitted,
    )


def _smi_k(X: np.ndarray, Y: Optional[np.ndarray], discrete: Optional[tuple], *, n_projections: int, estimator: str,
           k: int, seed: SeedLike, n_jobs: Optional[int], return_slices: bool, progress: Optional[bool],
           slice_dim: int, client: Any, t0: float, tols: Optional[np.ndarray] = None,
           n_omitted: int = 0) -> SMIResult:
    """k-SMI: slices of dimension ``slice_dim`` estimated on the KD-tree."""
    from ._ksmi import frames, jitter_matrix, ksmi_slices

    if client is not None:
        raise ValueError("client= is supported for slice_dim=1 only; run k-SMI locally (it uses all cores).")
    n, dx = X.shape
    dims = [dx] if Y is None else [dx, Y.shape[1]]
    if slice_dim > min(dims):
        raise ValueError(
            f"slice_dim={slice_dim} exceeds the dimension of the data ({min(dims)}); use slice_dim <= {min(dims)}."
        )
    m = V.check_positive_int(n_projections, "n_projections")
    ss = as_seed_sequence(seed)
    gen = [np.random.Generator(np.random.PCG64(_child(ss, i))) for i in range(4)]
    frames_x = frames(m, dx, slice_dim, gen[0])
    jitter_x = jitter_matrix(gen[2], n, slice_dim)
    frames_y = jitter_y = None
    if Y is not None:
        frames_y = frames(m, Y.shape[1], slice_dim, gen[1])
        jitter_y = jitter_matrix(gen[3], n, slice_dim)
    codes = None
    if discrete is not None:
        codes = discrete[0]
        # every class needs k + 1 samples: already checked by as_labels
    bar = _progress(m, progress)
    try:
        per_slice, status = ksmi_slices(X, Y, codes, frames_x, frames_y, jitter_x, jitter_y, estimator, k,
                                        n_jobs, bar, tols=tols)
    finally:
        if bar is not None:
            bar.close()
    return _finish(per_slice, status, m, estimator, k, ss, "cython-kdtree", return_slices, t0, n_omitted)
