"""Inference with SMI: the permutation independence test :func:`smi_test`."""
from __future__ import annotations

import math
import numbers
import os
import time
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from . import _validation as V
from ._backends import get_backend
from ._blas import blas_threads
from ._config import BLOCK_MEMORY_BYTES
from ._plan import FAMILY_ROSS, Plan, make_plan
from ._smi import (
    DEFAULT_SEARCH,
    SEARCHES,
    SLICE_CALL_WORK,
    SMIResult,
    _block_size,
    _child,
    _Directions,
    _finish_status,
    _jitter,
    _project,
    smi,
)
from .projections import SeedLike, as_seed_sequence, seed_record

__all__ = ["SMITestResult", "smi_test", "DEFAULT_PERMUTATIONS", "DEFAULT_TEST_PROJECTIONS"]

#: Default number of permutation replicates of :func:`smi_test`.
DEFAULT_PERMUTATIONS = 1000

#: Default number of slices of :func:`smi_test`.
DEFAULT_TEST_PROJECTIONS = 200

#: Child of the call's SeedSequence that the permutations are drawn from; children
#: 0-3 are the directions and jitter of :func:`fastsmi.smi`.
PERMUTATION_CHILD = 4

#: Bytes of permutation indices held at once (one row of ``n`` int64 per replicate).
PERMUTATION_MEMORY_BYTES = 64 << 20


@dataclass(frozen=True, eq=False)
class SMITestResult:
    """The result of :func:`smi_test`.

    Attributes
    ----------
    statistic : float
        The observed SMI estimate (``smi.value``), in nats.
    p_value : float
        ``(1 + #{null >= statistic}) / (1 + n_permutations)``; with
        ``stop_after=h`` and a stop, ``h / n_permutations`` (Besag-Clifford).
    null : ndarray, shape (n_permutations,)
        The SMI estimate of every permutation replicate run, in replicate order.
    n_permutations : int
        Replicates run (fewer than asked when the test stopped early).
    smi : SMIResult
        The estimate on the observed data (directions, jitter, per-slice values).
    n_exceed : int
        Replicates whose statistic is at least the observed one.
    stopped_early : bool
        True when ``stop_after`` ended the test before all replicates ran.
    seed : int or dict
        The seed record; passing it back as ``seed=`` repeats the test bit for bit.
    seconds : float
        Wall-clock time of the call.
    """

    statistic: float
    p_value: float
    null: np.ndarray = field(repr=False)
    n_permutations: int
    smi: SMIResult = field(repr=False)
    n_exceed: int
    stopped_early: bool
    seed: Any
    seconds: float = field(default=0.0, compare=False)

    def __float__(self) -> float:
        return float(self.p_value)


def _check_replicates(value: Any, name: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f"{name} must be a positive integer (the number of permutation replicates), got {value!r}; "
            f"pass e.g. {name}=1000."
        )
    if value < 1:
        raise ValueError(
            f"{name} must be at least 1, got {value}; the p-value (1 + #exceed) / (1 + B) needs B >= 1 "
            "replicates (1000 or more for p-values near 0.05)."
        )
    return int(value)


def _check_stop_after(stop_after: Any, b: int) -> Optional[int]:
    if stop_after is None:
        return None
    if isinstance(stop_after, (bool, np.bool_)) or not isinstance(stop_after, numbers.Integral):
        raise TypeError(
            f"stop_after must be None or a positive integer (the exceedances that end the test), "
            f"got {stop_after!r}; pass e.g. stop_after=10, or None to run every replicate."
        )
    if not 1 <= stop_after <= b:
        raise ValueError(
            f"stop_after must lie in [1, n_permutations={b}], got {stop_after}; Besag-Clifford stopping "
            "ends the test at the h-th replicate at least as large as the statistic (h = 10 is usual)."
        )
    return int(stop_after)


@dataclass
class _Prepared:
    """The arrays the observed statistic was computed from, shared by every replicate."""

    X: np.ndarray
    Y: Optional[np.ndarray]
    discrete: Optional[tuple]
    plan: Plan
    thetas: list
    blocks: list
    width: int
    jitter_x: np.ndarray
    jitter_y: Optional[np.ndarray]
    tols: np.ndarray
    m: int


def _prepare(X: Any, Y: Any, *, m: int, estimator: str, k: int, y_discrete: bool,
             ss: np.random.SeedSequence, method: str, nan_policy: str) -> _Prepared:
    """Repeat :func:`fastsmi.smi`'s preparation of the data, directions and jitter.

    Called after :func:`fastsmi.smi` has validated the same inputs, so no check
    here can fail; the identity permutation reproduces its per-slice estimates
    bit for bit (a test holds this).
    """
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # smi has already warned about omitted rows
        clean, _ = V.drop_missing({"X": X, "Y": Y}, nan_policy)
    X = V.as_samples(clean["X"], "X")
    n, dx = X.shape
    Y = clean["Y"]
    if y_discrete:
        codes, class_start, counts = V.as_labels(Y, k)
        Ymat = None
        discrete: Optional[tuple] = (codes, class_start)
    else:
        Ymat = V.as_samples(Y, "Y")
        counts = None
        discrete = None
    raw = (X, Ymat)
    X, e_x = V.centre_and_scale(X)
    tols = np.array([V.rounding_tolerance(X, raw[0], e_x), 0.0])
    if Ymat is not None:
        Ymat, e_y = V.centre_and_scale(Ymat)
        tols[1] = V.rounding_tolerance(Ymat, raw[1], e_y)
    dirs_x = _Directions(None, m, dx, method, _child(ss, 0), "directions_x")
    jitter_x = _jitter(_child(ss, 2), n)
    dirs_y = jitter_y = None
    if Ymat is not None:
        dirs_y = _Directions(None, m, Ymat.shape[1], method, _child(ss, 1), "directions_y")
        jitter_y = _jitter(_child(ss, 3), n)
    width = _block_size(n, m, None)
    blocks = [(a, min(a + width, m)) for a in range(0, m, width)]
    thetas = [(dirs_x.block(a, b), None if dirs_y is None else dirs_y.block(a, b)) for a, b in blocks]
    plan = make_plan(estimator, k, n, class_counts=counts)
    return _Prepared(X, Ymat, discrete, plan, thetas, blocks, width, jitter_x, jitter_y, tols, m)


def permutation(perm_ss: np.random.SeedSequence, r: int, n: int) -> np.ndarray:
    """Replicate ``r``'s permutation of ``range(n)``: drawn from its own child of ``perm_ss``.

    Each replicate has its own generator, so a replicate's permutation does not
    depend on how the replicates are split into chunks, threads or Dask tasks.
    """
    return np.random.Generator(np.random.PCG64(_child(perm_ss, r))).permutation(n)


def _projections(prep: _Prepared, i: int) -> tuple[np.ndarray, Optional[np.ndarray]]:
    """The projected slices of block ``i``, exactly as :func:`fastsmi._smi.compute_block` projects them."""
    a, b = prep.blocks[i]
    theta_x, theta_y = prep.thetas[i]
    with blas_threads(1):
        PX = _project(prep.X, theta_x, 0, b - a, prep.width)
        PY = None if prep.Y is None else _project(prep.Y, theta_y, 0, b - a, prep.width)
    PX = np.ascontiguousarray(PX[:, : b - a])
    PY = None if PY is None else np.ascontiguousarray(PY[:, : b - a])
    return PX, PY


def null_rows(prep: _Prepared, perm_ss: np.random.SeedSequence, r0: int, r1: int, backend: str,
              search: str, n_jobs: Optional[int], cache: Optional[dict] = None) -> np.ndarray:
    """The per-slice estimates of replicates ``r0:r1``, shape ``(r1 - r0, m)``; the unit of work.

    ``cache`` (optional) keeps the projected blocks between calls.
    """
    mod = get_backend(backend)
    n = prep.X.shape[0]
    perms = np.stack([permutation(perm_ss, r, n) for r in range(r0, r1)])
    rows = np.empty((r1 - r0, prep.m))
    for i, (a, b) in enumerate(prep.blocks):
        if cache is not None and i in cache:
            PX, PY = cache[i]
        else:
            PX, PY = _projections(prep, i)
            if cache is not None:
                cache[i] = (PX, PY)
        out = np.empty((r1 - r0, b - a))
        status = np.zeros((r1 - r0, b - a), dtype=np.int8)
        with mod.threads(n_jobs) as threads:
            if mod.NAME == "numba":
                _run_numba(prep, PX, PY, perms, out, status, search)
            else:
                _run_gathered(mod, prep, PX, PY, perms, out, status, search, threads)
        _finish_status(status.max(axis=0), offset=a)
        rows[:, a:b] = out + prep.plan.const
    return rows


def _run_numba(prep: _Prepared, PX: np.ndarray, PY: Optional[np.ndarray], perms: np.ndarray, out: np.ndarray,
               status: np.ndarray, search: str) -> None:
    """(replicate x slice) items in one parallel Numba region."""
    import numba

    from ._numba import backend as nb
    from ._numba._permute import permuted_discrete_block, permuted_pair_block

    plan = prep.plan
    chunks = numba.get_num_threads()
    with nb._parallel_region():
        if prep.discrete is not None:
            codes, class_start = prep.discrete
            permuted_codes = np.ascontiguousarray(codes[perms])
            permuted_discrete_block(PX, prep.jitter_x, prep.tols, permuted_codes, class_start, plan.k,
                                    plan.family == FAMILY_ROSS, plan.psi, plan.coef, out, status, chunks)
        else:
            kernel = permuted_pair_block(*nb.specialisation(plan, nb.SEARCHES[search]))
            kernel(PX, PY, prep.jitter_x, prep.jitter_y, prep.tols, perms, plan.k, plan.psi, plan.coef,
                   plan.whiten, out, status, chunks)


def _run_gathered(mod: Any, prep: _Prepared, PX: np.ndarray, PY: Optional[np.ndarray], perms: np.ndarray,
                  out: np.ndarray, status: np.ndarray, search: str, threads: int) -> None:
    """Gather the permuted columns in Python and run the backend's block kernel on them.

    The continuous case lays the replicates side by side as extra slices of one
    block (column ``r * b + s`` is slice ``s`` of replicate ``r``); labels take
    one call per replicate, since a block shares one set of labels.
    """
    R, b = out.shape
    if prep.discrete is not None:
        codes, class_start = prep.discrete
        for r in range(R):
            o = np.empty(b)
            st = np.zeros(b, dtype=np.int8)
            mod.run_block(prep.plan, PX, None, prep.jitter_x, None, prep.tols, (codes[perms[r]], class_start),
                          o, st, search)
            out[r], status[r] = o, st
        return
    PXt = np.tile(PX, (1, R))
    PYt = np.ascontiguousarray(PY[perms].transpose(1, 0, 2).reshape(PX.shape[0], R * b))
    o = np.empty(R * b)
    st = np.zeros(R * b, dtype=np.int8)
    mod.run_block(prep.plan, PXt, PYt, prep.jitter_x, prep.jitter_y, prep.tols, None, o, st, search)
    out[:] = o.reshape(R, b)
    status[:] = st.reshape(R, b)


def _chunk_replicates(n: int, m: int, threads: int) -> int:
    """Replicates per call: about :data:`~fastsmi._smi.SLICE_CALL_WORK` slice-samples per thread, bounded memory."""
    by_work = (threads * SLICE_CALL_WORK) // max(1, n * m)
    by_memory = PERMUTATION_MEMORY_BYTES // (8 * n)
    return max(1, min(by_work, by_memory, 4096))


def smi_test(X: Any, Y: Any, *, n_permutations: int = DEFAULT_PERMUTATIONS,
             n_projections: Optional[int] = None, estimator: str = "ksg", k: int = 5, y_discrete: bool = False,
             seed: SeedLike = None, n_jobs: Optional[int] = None, backend: str = "auto", client: Any = None,
             stop_after: Optional[int] = None, method: Optional[str] = None,
             nan_policy: str = "raise") -> SMITestResult:
    """Permutation test of independence of X and Y with the SMI statistic.

    The statistic is :func:`fastsmi.smi` on the data.  Each of the
    ``n_permutations`` replicates permutes the rows of Y (or the labels) once and
    re-estimates SMI with the same directions and tie-breaking jitter as the
    statistic, so under independence the statistic and the replicates are
    exchangeable and ``p = (1 + #{null >= statistic}) / (1 + B)`` is an exact
    (valid at any n) p-value.  Replicates run inside the parallel kernels as
    extra (replicate x slice) work items.

    Parameters
    ----------
    X : array_like, shape (n, dx) or (n,)
        Samples of X.
    Y : array_like, shape (n, dy) or (n,)
        Samples of Y, or integer labels with ``y_discrete=True``.
    n_permutations : int, default 1000
        Permutation replicates B.  The smallest p-value is ``1 / (1 + B)``; with
        B = 1000 the Monte Carlo standard error of a p-value near 0.05 is 0.007.
    n_projections : int, optional
        Slices m (default 200).  The test is valid for any m (the same
        directions serve the statistic and the replicates); m only changes its
        power, which the power study (``docs/inference.md``) found flat beyond
        a few hundred slices, while the cost grows as m * B.
    estimator, k, y_discrete, method, nan_policy
        As in :func:`fastsmi.smi`.
    seed : None, int, SeedSequence, Generator or seed record
        Seed of the directions, the jitter and the permutations (replicate ``r``
        is drawn from its own child of the seed): the p-value is bit-identical for
        any ``n_jobs``, backend, chunking and Dask layout.
    n_jobs : int, optional
        Threads (default: all cores).
    backend : {"auto", "numba", "cython"}, default "auto"
        Compute backend.  Numba gathers each replicate's permuted column inside
        its parallel kernel; Cython gathers a chunk of replicates in Python and
        runs them as extra slices of one block.
    client : dask.distributed.Client, optional
        Run chunks of replicates as tasks on a Dask cluster (same result).
    stop_after : int, optional
        Besag-Clifford sequential stopping: stop at the replicate where the
        ``h = stop_after``-th null statistic at least as large as the observed
        one appears, and report ``p = h / L`` (L replicates run).  The p-value
        stays valid (``P(p <= a) <= a`` under independence for every a), and a
        test that does not stop runs all B replicates and gives the usual p;
        what is lost is resolution above the stopping point (the p-value is
        then h / L, a coarser estimate of the full-B p-value), and it stops
        early only when the p-value is clearly large: dependent data still cost
        B replicates.  The stop does not depend on chunking or threads.

    Returns
    -------
    SMITestResult

    Raises
    ------
    TypeError, ValueError
        For a non-integer or non-positive ``n_permutations`` or ``stop_after``,
        and every input :func:`fastsmi.smi` refuses.

    Examples
    --------
    >>> import numpy as np
    >>> import fastsmi
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((300, 2))
    >>> Y = X[:, :1] ** 2 + 0.5 * rng.standard_normal((300, 1))
    >>> res = fastsmi.smi_test(X, Y, n_permutations=99, n_projections=32, seed=1)
    >>> res.p_value
    0.01
    """
    t0 = time.perf_counter()
    B = _check_replicates(n_permutations, "n_permutations")
    h = _check_stop_after(stop_after, B)
    if n_projections is None:
        n_projections = DEFAULT_TEST_PROJECTIONS
    ss = as_seed_sequence(seed)
    observed = smi(X, Y, n_projections=n_projections, estimator=estimator, k=k, y_discrete=y_discrete, seed=ss,
                   n_jobs=n_jobs, backend=backend, method=method, nan_policy=nan_policy, client=client)
    m = observed.n_projections
    prep = _prepare(X, Y, m=m, estimator=observed.estimator, k=observed.k, y_discrete=bool(y_discrete), ss=ss,
                    method="sphere" if method is None else method, nan_policy=nan_policy)
    mod = get_backend(backend)
    search = os.environ.get("FASTSMI_SEARCH", DEFAULT_SEARCH)
    if search not in SEARCHES:
        raise ValueError(f"FASTSMI_SEARCH={search!r} is not a search; use one of {SEARCHES}.")
    perm_ss = _child(ss, PERMUTATION_CHILD)
    n = prep.X.shape[0]
    chunk = _chunk_replicates(n, m, mod.resolve_n_jobs(n_jobs))
    statistic = observed.value
    null_parts: list[np.ndarray] = []
    exceed = 0
    done = 0
    stopped = False
    if client is not None:
        chunk_rows = _run_on_client(client, prep, perm_ss, B, chunk, mod.NAME, search, h, statistic)
    else:
        cache: Optional[dict] = {} if 16 * n * m <= BLOCK_MEMORY_BYTES else None
        chunk_rows = (null_rows(prep, perm_ss, r0, min(B, r0 + chunk), mod.NAME, search, n_jobs, cache)
                      for r0 in range(0, B, chunk))
    for rows in chunk_rows:
        # the mean of each replicate's slices, as smi() takes it: bit-identical to smi on permuted data
        values = np.array([row.mean() for row in rows])
        if not np.isfinite(values).all():
            raise ValueError(
                "a permutation replicate gave a non-finite estimate (perfectly dependent projections for the "
                "whitened 'seed' estimator?); use estimator='ksg'."
            )
        if h is not None:
            hits = np.flatnonzero(values >= statistic)
            if exceed + hits.size >= h:
                cut = hits[h - exceed - 1] + 1
                values = values[:cut]
                stopped = done + cut < B
        null_parts.append(values)
        exceed += int(np.count_nonzero(values >= statistic))
        done += values.size
        if h is not None and exceed >= h:
            break
    null = np.concatenate(null_parts)
    if stopped:
        p_value = h / null.size
    else:
        p_value = (1 + exceed) / (1 + null.size)
    return SMITestResult(statistic=statistic, p_value=float(p_value), null=null, n_permutations=int(null.size),
                         smi=observed, n_exceed=exceed, stopped_early=bool(stopped), seed=seed_record(ss),
                         seconds=time.perf_counter() - t0)


def _run_on_client(client: Any, prep: _Prepared, perm_ss: np.random.SeedSequence, B: int, chunk: int,
                   backend: str, search: str, h: Optional[int], statistic: float):
    """Yield the rows of each chunk of replicates, in order, computed as tasks on ``client``.

    With ``h`` (sequential stopping) the chunks are submitted a few at a time so
    that a stop does not wait for the whole null; the rows returned are those of
    a local run.
    """
    try:
        from distributed import wait  # noqa: F401
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("client= needs dask.distributed: pip install 'fastsmi[dask]'") from exc
    scattered = client.scatter(prep, broadcast=True, hash=False)
    starts = list(range(0, B, chunk))
    ahead = len(starts) if h is None else max(2, len(client.scheduler_info().get("workers", {})) * 2)
    futures = []
    i = 0
    while i < len(starts) or futures:
        while i < len(starts) and len(futures) < ahead:
            r0 = starts[i]
            futures.append(client.submit(null_rows, scattered, perm_ss, r0, min(B, r0 + chunk), backend, search,
                                         1, None, pure=False))
            i += 1
        fut = futures.pop(0)
        yield fut.result()


#: Normal quantile of the two-sided 95% interval.
Z95 = 1.959963984540054


def _pointwise_block(prep: _Prepared, i: int, search: str, n_jobs: Optional[int]) -> tuple[np.ndarray, np.ndarray]:
    """Block ``i``'s slice estimates (constant included) and per-sample terms (without it), shape ``(b, n)``."""
    import numba

    from ._numba import backend as nb
    from ._numba._pointwise import pointwise_ksg1_block, pointwise_ross_block

    plan = prep.plan
    a, b = prep.blocks[i]
    PX, PY = _projections(prep, i)
    out = np.empty(b - a)
    terms = np.empty((b - a, prep.X.shape[0]))
    status = np.zeros(b - a, dtype=np.int8)
    with nb.threads(n_jobs), nb._parallel_region():
        chunks = numba.get_num_threads()
        if prep.discrete is not None:
            codes, class_start = prep.discrete
            pointwise_ross_block(PX, prep.jitter_x, prep.tols, codes, class_start, plan.k, plan.psi, out, terms,
                                 status, chunks)
        else:
            lanes = nb.specialisation(plan, nb.SEARCHES[search])[3]
            pointwise_ksg1_block(nb.SEARCHES[search], lanes)(PX, PY, prep.jitter_x, prep.jitter_y, prep.tols,
                                                             plan.k, plan.psi, out, terms, status, chunks)
    _finish_status(status, offset=a)
    return out + plan.const, terms


def _pointwise_from_total(prep: _Prepared, total: np.ndarray, m: int) -> np.ndarray:
    """Each sample's term averaged over ``m`` slices, with the estimator's constants."""
    pointwise = total / m + prep.plan.const
    if prep.discrete is not None:
        # Ross's constant holds -sum_c p_c psi(n_c); each sample's own class gives -psi(n_c(i))
        codes, class_start = prep.discrete
        n = codes.shape[0]
        sizes = np.diff(class_start)
        psi_sizes = prep.plan.psi[sizes]
        pointwise += float(np.dot(sizes / n, psi_sizes)) - psi_sizes[codes]
    return pointwise


def pointwise_terms(prep: _Prepared, search: str, n_jobs: Optional[int]) -> tuple[np.ndarray, np.ndarray]:
    """``(per_slice, pointwise)``: every slice's estimate and each sample's term averaged over slices.

    The terms of slice ``s`` are added to the running sum in slice order,
    whatever the blocks and threads, so the pointwise values are bit-identical
    for any ``n_jobs``; their mean is the estimate up to rounding.  KSG
    (algorithm 1) and Ross's labels estimator only: theirs are means of
    per-sample terms.
    """
    per_slice = np.empty(prep.m)
    total = np.zeros(prep.X.shape[0])
    for i, (a, b) in enumerate(prep.blocks):
        per_slice[a:b], terms = _pointwise_block(prep, i, search, n_jobs)
        for row in terms:
            total += row
    return per_slice, _pointwise_from_total(prep, total, prep.m)


def check_pointwise_estimator(estimator: str, slice_dim: int = 1) -> None:
    """Refuse the estimators whose slices are not means of per-sample terms."""
    if estimator != "ksg" or slice_dim != 1:
        raise ValueError(
            f"pointwise SMI, stderr_samples and ci need estimator='ksg' with slice_dim=1 (a mean of per-sample "
            f"terms), got estimator={estimator!r}, slice_dim={slice_dim}; use estimator='ksg', or drop "
            "return_pointwise."
        )


def require_numba() -> None:
    """The per-sample terms run on the Numba driver: say so, with the fix, when Numba is missing."""
    from ._backends import BackendUnavailableError

    try:
        get_backend("numba")
    except BackendUnavailableError as exc:
        raise ImportError(
            f"pointwise SMI, stderr_samples, ci and n_projections='auto' need Numba ({exc}); install numba, or "
            "drop return_pointwise / use a fixed n_projections."
        ) from exc


def pointwise_available(estimator: str) -> bool:
    """True when :func:`smi_pointwise` can run: KSG, and Numba importable."""
    try:
        check_pointwise_estimator(estimator)
        require_numba()
    except (ValueError, ImportError):
        return False
    return True


def sampling_error(pointwise: np.ndarray) -> float:
    """Standard error of the estimate from the finite sample: ``std(pointwise, ddof=1) / sqrt(n)``.

    The pointwise values are the sample's influence terms averaged over the
    slices; averaging over many directions removes most of the k-NN noise of
    each term, so their spread estimates the sampling variability of SMI (see
    ``docs/inference.md`` for the coverage study).
    """
    n = pointwise.shape[0]
    return float(np.std(pointwise, ddof=1) / math.sqrt(n))


def interval(value: float, stderr: float, stderr_samples: float) -> tuple[float, float]:
    """The 95% normal interval with both errors added in quadrature."""
    s = math.sqrt((0.0 if math.isnan(stderr) else stderr) ** 2 + stderr_samples ** 2)
    return (value - Z95 * s, value + Z95 * s)


def smi_pointwise(X: Any, Y: Any, *, n_projections: Optional[int] = None, k: int = 5, y_discrete: bool = False,
                  seed: SeedLike = None, n_jobs: Optional[int] = None, method: Optional[str] = None,
                  nan_policy: str = "raise", estimator: str = "ksg",
                  backend: str = "auto") -> tuple[SMIResult, np.ndarray, float, tuple]:
    """``(result, pointwise, stderr_samples, ci)`` of :func:`fastsmi.smi` with KSG.

    ``result`` is that of ``smi`` with the same arguments, on ``backend``; the
    per-sample terms come from the Numba driver, whose per-slice values are
    checked to be the result's (the backends agree bit for bit).
    """
    check_pointwise_estimator(estimator)
    require_numba()
    ss = as_seed_sequence(seed)
    m = DEFAULT_SMI_PROJECTIONS if n_projections is None else n_projections
    res = smi(X, Y, n_projections=m, estimator=estimator, k=k, y_discrete=y_discrete, seed=ss, n_jobs=n_jobs,
              backend=backend, method=method, nan_policy=nan_policy)
    prep = _prepare(X, Y, m=res.n_projections, estimator=res.estimator, k=res.k, y_discrete=bool(y_discrete), ss=ss,
                    method="sphere" if method is None else method, nan_policy=nan_policy)
    search = os.environ.get("FASTSMI_SEARCH", DEFAULT_SEARCH)
    per_slice, pw = pointwise_terms(prep, search, n_jobs)
    if not np.array_equal(per_slice, res.per_slice):  # pragma: no cover - the drivers share the slice code
        raise RuntimeError("the pointwise driver disagrees with the block driver")
    se = sampling_error(pw)
    return res, pw, se, interval(res.value, res.stderr, se)


#: Default number of slices of :func:`fastsmi.smi`.
DEFAULT_SMI_PROJECTIONS = 1000


#: Slices added per step by ``n_projections="auto"`` (a multiple of the projection granule).
AUTO_BLOCK = 64

#: ``n_projections="auto"`` stops once the direction error is at most this fraction of the
#: sampling error: the total error is then within 12% of the sampling error alone
#: (``sqrt(1 + 0.5**2)``), and the interval ``ci`` counts both anyway.
AUTO_RATIO = 0.5

#: Default cap on the slices of ``n_projections="auto"``.
AUTO_MAX_PROJECTIONS = 4096


def check_auto(atol: Any, max_projections: Any) -> tuple[Optional[float], int]:
    """Validate the options of ``n_projections="auto"``."""
    cap = V.check_positive_int(max_projections, "max_projections")
    if cap < AUTO_BLOCK:
        raise ValueError(
            f"max_projections={cap} is below one block of n_projections='auto' ({AUTO_BLOCK} slices); "
            f"use max_projections >= {AUTO_BLOCK}, or a fixed n_projections."
        )
    if atol is not None:
        if isinstance(atol, (bool, np.bool_)) or not isinstance(atol, numbers.Real) or not atol > 0 \
                or not math.isfinite(atol):
            raise ValueError(f"atol must be a positive number of nats (e.g. 1e-3), got {atol!r}.")
        atol = float(atol)
    return atol, cap


def smi_auto(X: Any, Y: Any, *, atol: Optional[float] = None, max_projections: int = AUTO_MAX_PROJECTIONS,
             k: int = 5, y_discrete: bool = False, seed: SeedLike = None, n_jobs: Optional[int] = None,
             method: Optional[str] = None, nan_policy: str = "raise",
             estimator: str = "ksg") -> tuple[SMIResult, np.ndarray, float, tuple]:
    """SMI with as many slices as needed: blocks of :data:`AUTO_BLOCK` directions are added until
    ``stderr <= max(atol, AUTO_RATIO * stderr_samples)`` or ``max_projections`` is reached.

    The directions are a prefix of one sequence, so the result equals
    ``smi(n_projections=m)`` for the m chosen, bit for bit, whatever the threads.
    Returns ``(result, pointwise, stderr_samples, ci)``.
    """
    check_pointwise_estimator(estimator)
    require_numba()
    atol, cap = check_auto(atol, max_projections)
    ss = as_seed_sequence(seed)
    # validation and the first block, by smi itself
    first = smi(X, Y, n_projections=AUTO_BLOCK, estimator=estimator, k=k, y_discrete=y_discrete, seed=ss,
                n_jobs=n_jobs, backend="numba", method=method, nan_policy=nan_policy)
    t0 = time.perf_counter() - first.seconds
    cap = AUTO_BLOCK * (cap // AUTO_BLOCK)
    prep = _prepare(X, Y, m=cap, estimator=first.estimator, k=first.k, y_discrete=bool(y_discrete), ss=ss,
                    method="sphere" if method is None else method, nan_policy=nan_policy)
    # one sequence of directions, cut in blocks of AUTO_BLOCK: projections are granule-aligned,
    # so every slice is the one smi computes for it
    theta_x = np.vstack([t[0] for t in prep.thetas])
    theta_y = None if prep.Y is None else np.vstack([t[1] for t in prep.thetas])
    prep.blocks = [(a, a + AUTO_BLOCK) for a in range(0, cap, AUTO_BLOCK)]
    prep.thetas = [(theta_x[a:b], None if theta_y is None else theta_y[a:b]) for a, b in prep.blocks]
    prep.width = AUTO_BLOCK
    search = os.environ.get("FASTSMI_SEARCH", DEFAULT_SEARCH)
    per_slice = np.empty(cap)
    total = np.zeros(prep.X.shape[0])
    m = 0
    for i, (a, b) in enumerate(prep.blocks):
        per_slice[a:b], terms = _pointwise_block(prep, i, search, n_jobs)
        for row in terms:
            total += row
        m = b
        values = per_slice[:m]
        stderr = float(values.std(ddof=1) / math.sqrt(m))
        se = sampling_error(_pointwise_from_total(prep, total, m))
        if stderr <= max(0.0 if atol is None else atol, AUTO_RATIO * se):
            break
    values = per_slice[:m].copy()
    pointwise = _pointwise_from_total(prep, total, m)
    value = float(values.mean())
    stderr = float(values.std(ddof=1) / math.sqrt(m))
    se = sampling_error(pointwise)
    res = SMIResult(value=value, stderr=stderr, n_projections=m, per_slice=values, estimator=first.estimator,
                    k=first.k, seed=first.seed, backend=first.backend, seconds=time.perf_counter() - t0,
                    n_omitted=first.n_omitted)
    return res, pointwise, se, interval(value, stderr, se)
