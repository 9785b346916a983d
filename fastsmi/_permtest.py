"""The SMI permutation test of independence, :func:`smi_test`.

It runs :func:`fastsmi.smi` for the statistic, then the permutation replicates
through the drivers of :mod:`fastsmi._inference`.
"""
from __future__ import annotations

import numbers
import time
from dataclasses import dataclass, field, replace
from typing import Any, Optional

import numpy as np

from . import _inference as I
from . import _validation as V
from ._api import check_method
from ._backends import get_backend
from ._config import BLOCK_MEMORY_BYTES
from ._result import SMIResult
from ._sliced import sliced_smi
from ._transform import check_transform
from .projections import SeedLike, as_seed_sequence, child_seed, seed_record

__all__ = ["SMITestResult", "smi_test"]


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
        Its ``ci`` and ``stderr_samples`` are set when the test ran on the Numba
        backend with ``estimator="ksg"``, and None otherwise.
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




def smi_test(X: Any, Y: Any, *, n_permutations: int = I.DEFAULT_PERMUTATIONS,
             n_projections: Optional[int] = None, estimator: str = "ksg", k: int = 5, y_discrete: bool = False,
             seed: SeedLike = None, n_jobs: Optional[int] = None, backend: str = "auto", client: Any = None,
             stop_after: Optional[int] = None, method: Optional[str] = None,
             nan_policy: str = "raise", transform: Optional[str] = None) -> SMITestResult:
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
        power, while the cost grows as m * B; 200 is a cost choice (no
        power-versus-m study has been run).
    estimator, k, y_discrete, method, nan_policy, transform
        As in :func:`fastsmi.smi`.  With ``transform="rank"`` each replicate's
        permuted projection is the permutation of the observed one's scores,
        exactly as ``smi`` would compute them on the permuted data.
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
        n_projections = I.DEFAULT_TEST_PROJECTIONS
    ss = as_seed_sequence(seed)
    estimator = V.check_estimator(estimator, bool(y_discrete))
    transform = check_transform(transform, estimator)
    method = check_method(method)
    V.check_n_jobs(n_jobs)
    data = V.prepare_samples(X, Y, k=k, estimator=estimator, y_discrete=bool(y_discrete), nan_policy=nan_policy)
    observed = sliced_smi(data.X, data.Y, data.discrete, data.counts, n_projections=n_projections,
                          estimator=estimator, k=data.k, seed=ss, n_jobs=n_jobs, backend=backend, return_slices=True,
                          method=method, directions_x=None, directions_y=None, block_size=None, progress=None,
                          client=client, t0=t0, tols=data.tols, n_omitted=data.n_omitted, transform=transform)
    m = observed.n_projections
    prep = I.prepare_checked(data, m=m, estimator=estimator, ss=ss, method=method, transform=transform)
    mod = get_backend(backend)
    search = I.search()
    if observed.backend == "numba" and I.pointwise_available(observed.estimator):
        # the observed estimate's interval: its per-sample terms, on the same slices
        per_slice, pointwise = I.pointwise_terms(prep, search, n_jobs)
        if np.array_equal(per_slice, observed.per_slice):
            se = I.sampling_error(pointwise)
            observed = replace(observed, stderr_samples=se, ci=I.interval(observed.value, observed.stderr, se))
    perm_ss = child_seed(ss, I.PERMUTATION_CHILD)
    n = prep.X.shape[0]
    chunk = I.chunk_replicates(n, m, mod.resolve_n_jobs(n_jobs))
    statistic = observed.value
    null_parts: list[np.ndarray] = []
    exceed = 0
    done = 0
    stopped = False
    if client is not None:
        chunk_rows = _run_on_client(client, prep, perm_ss, B, chunk, mod.NAME, search, h, statistic)
    else:
        cache: Optional[dict] = {} if 16 * n * m <= BLOCK_MEMORY_BYTES else None
        chunk_rows = (I.null_rows(prep, perm_ss, r0, min(B, r0 + chunk), mod.NAME, search, n_jobs, cache)
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


def _run_on_client(client: Any, prep: I._Prepared, perm_ss: np.random.SeedSequence, B: int, chunk: int,
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
            futures.append(client.submit(I.null_rows, scattered, perm_ss, r0, min(B, r0 + chunk), backend, search,
                                         1, None, pure=False))
            i += 1
        fut = futures.pop(0)
        yield fut.result()


