"""Inference with SMI: permutation replicates, pointwise SMI, the sampling error, automatic slice counts.

The drivers here take data that :func:`fastsmi.smi` has checked, centred and
scaled, with the directions and jitter of the call's seed (see
:mod:`fastsmi._sliced`): :func:`null_rows` runs permutation replicates as
(replicate x slice) work items, :func:`pointwise_terms` keeps each sample's
KSG term, :func:`sliced_inference` serves ``smi(return_pointwise=True)`` and
``smi(n_projections="auto")``.  The public test is :func:`fastsmi.smi_test`.
"""
from __future__ import annotations

import math
import numbers
import time
import warnings
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
from scipy.special import stdtrit

from . import _validation as V
from ._backends import BackendUnavailableError, get_backend
from ._blas import blas_threads
from ._block import SLICE_CALL_WORK, _project, rank_slices
from ._plan import FAMILY_ROSS, Plan, make_plan
from ._result import SMIResult, check_status
from ._runtime import backend_choice, search_choice
from ._sliced import DEFAULT_SEARCH, SEARCHES, _block_size, seeded_streams
from .projections import SeedLike, as_seed_sequence, child_seed, seed_record

__all__ = ["DEFAULT_PERMUTATIONS", "DEFAULT_TEST_PROJECTIONS", "null_rows", "pointwise_terms", "sliced_inference"]

#: Default number of permutation replicates of :func:`smi_test`.
DEFAULT_PERMUTATIONS = 1000

#: Default number of slices of :func:`smi_test`.
DEFAULT_TEST_PROJECTIONS = 200

#: Child of the call's SeedSequence that the permutations are drawn from; children
#: 0-3 are the directions and jitter of :func:`fastsmi.smi`.
PERMUTATION_CHILD = 4

#: Bytes of permutation indices held at once (one row of ``n`` int64 per replicate).
PERMUTATION_MEMORY_BYTES = 64 << 20


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
    transform: str = "none"

    @property
    def kernel_tols(self) -> np.ndarray:
        """The tolerances the kernels check the (transformed) slices with (see :func:`~fastsmi._block.rank_slices`)."""
        return np.zeros(2) if self.transform == "rank" else self.tols


def prepare_checked(data: V.Samples, *, m: int, estimator: str, ss: np.random.SeedSequence, method: str,
                    width: Optional[int] = None, transform: str = "none") -> _Prepared:
    """The directions, jitter and plan of :func:`fastsmi._sliced.sliced_smi` for prepared samples.

    ``width`` (a multiple of the projection granule) sets the blocks; by default
    those of ``sliced_smi``.  Projections are granule-aligned, so every slice is
    the one ``sliced_smi`` computes, whatever the blocks.
    """
    X, Ymat = data.X, data.Y
    n, dx = X.shape
    dirs_x, jitter_x, dirs_y, jitter_y = seeded_streams(ss, n, dx, None if Ymat is None else Ymat.shape[1], m,
                                                         method)
    width = _block_size(n, m, None) if width is None else width
    blocks = [(a, min(a + width, m)) for a in range(0, m, width)]
    thetas = [(dirs_x.block(a, b), None if dirs_y is None else dirs_y.block(a, b)) for a, b in blocks]
    plan = make_plan(estimator, data.k, n, class_counts=data.counts)
    return _Prepared(X, Ymat, data.discrete, plan, thetas, blocks, width, jitter_x, jitter_y, data.tols, m, transform)


def permutation(perm_ss: np.random.SeedSequence, r: int, n: int) -> np.ndarray:
    """Replicate ``r``'s permutation of ``range(n)``: drawn from its own child of ``perm_ss``.

    Each replicate has its own generator, so a replicate's permutation does not
    depend on how the replicates are split into chunks, threads or Dask tasks.
    """
    return np.random.Generator(np.random.PCG64(child_seed(perm_ss, r))).permutation(n)


def _projections(prep: _Prepared, i: int) -> tuple[np.ndarray, Optional[np.ndarray]]:
    """The projected (and transformed) slices of block ``i``, exactly as :func:`fastsmi._block.compute_block` has them."""
    a, b = prep.blocks[i]
    theta_x, theta_y = prep.thetas[i]
    with blas_threads(1):
        PX = _project(prep.X, theta_x, 0, b - a, prep.width)
        PY = None if prep.Y is None else _project(prep.Y, theta_y, 0, b - a, prep.width)
    if prep.transform == "rank":
        PX = rank_slices(PX, b - a, prep.tols[0])
        PY = None if PY is None else rank_slices(PY, b - a, prep.tols[1])
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
        check_status(status.max(axis=0), offset=a)
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
            permuted_discrete_block(PX, prep.jitter_x, prep.kernel_tols, permuted_codes, class_start, plan.k,
                                    plan.family == FAMILY_ROSS, plan.psi, plan.coef, out, status, chunks)
        else:
            kernel = permuted_pair_block(*nb.specialisation(plan, nb.SEARCHES[search]))
            kernel(PX, PY, prep.jitter_x, prep.jitter_y, prep.kernel_tols, perms, plan.k, plan.psi, plan.coef,
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
            mod.run_block(prep.plan, PX, None, prep.jitter_x, None, prep.kernel_tols, (codes[perms[r]], class_start),
                          o, st, search)
            out[r], status[r] = o, st
        return
    PXt = np.tile(PX, (1, R))
    PYt = np.ascontiguousarray(PY[perms].transpose(1, 0, 2).reshape(PX.shape[0], R * b))
    o = np.empty(R * b)
    st = np.zeros(R * b, dtype=np.int8)
    mod.run_block(prep.plan, PXt, PYt, prep.jitter_x, prep.jitter_y, prep.kernel_tols, None, o, st, search)
    out[:] = o.reshape(R, b)
    status[:] = st.reshape(R, b)


def chunk_replicates(n: int, m: int, threads: int) -> int:
    """Replicates per call: about :data:`~fastsmi._block.SLICE_CALL_WORK` slice-samples per thread, bounded memory."""
    by_work = (threads * SLICE_CALL_WORK) // max(1, n * m)
    by_memory = PERMUTATION_MEMORY_BYTES // (8 * n)
    return max(1, min(by_work, by_memory, 4096))


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
            pointwise_ross_block(PX, prep.jitter_x, prep.kernel_tols, codes, class_start, plan.k, plan.psi, out, terms,
                                 status, chunks)
        else:
            lanes = nb.specialisation(plan, nb.SEARCHES[search])[3]
            pointwise_ksg1_block(nb.SEARCHES[search], lanes)(PX, PY, prep.jitter_x, prep.jitter_y, prep.kernel_tols,
                                                             plan.k, plan.psi, out, terms, status, chunks)
    check_status(status, offset=a)
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
    try:
        get_backend("numba")
    except BackendUnavailableError as exc:
        raise ImportError(
            f"pointwise SMI, stderr_samples, ci and n_projections='auto' need Numba ({exc}); install numba, or "
            "drop return_pointwise / use a fixed n_projections."
        ) from exc


def asks_for_cython(backend: Any) -> bool:
    """True when ``backend``, or ``FASTSMI_BACKEND`` under ``"auto"``, asks for the Cython backend."""
    chosen = backend.lower() if isinstance(backend, str) else backend
    return chosen == "cython" or (chosen == "auto" and backend_choice() == "cython")


def pointwise_available(estimator: str, backend: str = "auto") -> bool:
    """True when :func:`smi_pointwise` can run: KSG, Numba importable, and ``backend`` not asking for Cython."""
    if asks_for_cython(backend):
        return False
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


def interval(value: float, stderr: float, stderr_samples: float, *, m: Optional[int] = None,
             df_samples: Optional[float] = None) -> Optional[tuple[float, float]]:
    """The 95% interval with both errors added in quadrature.

    With ``df_samples`` (the degrees of freedom of ``stderr_samples**2``, e.g. the jackknife's G - 1) the quantile is Student's t with
    the Welch-Satterthwaite degrees of freedom of ``stderr**2 + stderr_samples**2``
    (``stderr**2`` having ``m - 1``); otherwise the normal quantile.  None for a
    single slice, whose direction error is unknown (``stderr`` is NaN): an
    interval of the sampling error alone would be too narrow.
    """
    if math.isnan(stderr):
        return None
    a, b = stderr ** 2, stderr_samples ** 2
    s = math.sqrt(a + b)
    z = Z95
    if df_samples is not None and s > 0:
        df = (a + b) ** 2 / (a ** 2 / (m - 1) + b ** 2 / df_samples)
        z = float(stdtrit(df, 0.975))
    return (value - z * s, value + z * s)


#: Groups of the delete-a-group jackknife of ``smi(sampling_error="jackknife")``.
JACKKNIFE_GROUPS = 10

#: Child of the call's SeedSequence that assigns the jackknife's groups.
JACKKNIFE_CHILD = 5

#: Ways to compute ``stderr_samples``: ``None`` computes it only where it is free.
SAMPLING_ERRORS = ("influence", "jackknife", "average")


def check_sampling_error(sampling_error: Any) -> Optional[str]:
    """Validate ``smi``'s ``sampling_error`` option."""
    if sampling_error is None:
        return None
    if not isinstance(sampling_error, str) or sampling_error not in SAMPLING_ERRORS:
        raise ValueError(f"sampling_error must be None or one of {SAMPLING_ERRORS}, got {sampling_error!r}.")
    return sampling_error


def jackknife_groups(n: int, ss: np.random.SeedSequence, groups: int = JACKKNIFE_GROUPS) -> list[np.ndarray]:
    """The rows of each group: a seeded random split of ``range(n)`` into ``groups`` near-equal parts.

    Random rather than contiguous, so that rows stored in any order (sorted by
    label, by time) do not make one group unlike the others.
    """
    if n < 2 * groups:
        raise ValueError(f"sampling_error='jackknife' splits the samples into {groups} groups and needs at least "
                         f"{2 * groups} samples, got {n}; use more samples or sampling_error='influence'.")
    order = np.random.Generator(np.random.PCG64(child_seed(ss, JACKKNIFE_CHILD))).permutation(n)
    return np.array_split(order, groups)


def jackknife_error(values: Any) -> float:
    """Delete-a-group jackknife standard error ``sqrt((G - 1) / G * sum (v_g - mean)^2)``."""
    v = np.asarray(values, dtype=np.float64)
    g = v.shape[0]
    return float(math.sqrt((g - 1) / g * np.sum((v - v.mean()) ** 2)))


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
        if isinstance(atol, (bool, np.bool_)) or not isinstance(atol, numbers.Real):
            raise TypeError(f"atol must be a positive number of nats (e.g. 1e-3), got {atol!r}.")
        if not atol > 0 or not math.isfinite(atol):
            raise ValueError(f"atol must be a positive number of nats (e.g. 1e-3), got {atol!r}.")
        atol = float(atol)
    return atol, cap


def search() -> str:
    """The joint search the 1-D kernels use (``FASTSMI_SEARCH`` or the default), checked."""
    name = search_choice(DEFAULT_SEARCH)
    if name not in SEARCHES:
        raise ValueError(f"FASTSMI_SEARCH={name!r} is not a search; use one of {SEARCHES}.")
    return name


def sliced_inference(data: V.Samples, *, n_projections: Any, estimator: str, seed: SeedLike,
                     n_jobs: Optional[int], method: str, t0: float, return_slices: bool, return_pointwise: bool,
                     atol: Any, max_projections: Any, transform: str = "none") -> SMIResult:
    """:func:`fastsmi.smi` with ``return_pointwise=True`` or ``n_projections="auto"`` on checked data.

    The slices run on the Numba driver that keeps each sample's KSG term; their
    estimates are those of the block driver, so ``value``, ``stderr`` and
    ``per_slice`` equal ``smi``'s for the same m and seed.  With ``"auto"``,
    blocks of :data:`AUTO_BLOCK` directions (a prefix of one sequence) are added
    until ``stderr <= max(atol, AUTO_RATIO * stderr_samples)`` or the cap.
    """
    check_pointwise_estimator(estimator)
    require_numba()
    auto = isinstance(n_projections, str)
    ss = as_seed_sequence(seed)
    if auto:
        atol, cap = check_auto(atol, max_projections)
        m_max = AUTO_BLOCK * (cap // AUTO_BLOCK)
        prep = prepare_checked(data, m=m_max, estimator=estimator, ss=ss, method=method, width=AUTO_BLOCK,
                               transform=transform)
    else:
        m_max = V.check_positive_int(1000 if n_projections is None else n_projections, "n_projections")
        prep = prepare_checked(data, m=m_max, estimator=estimator, ss=ss, method=method, transform=transform)
    name = search()
    per_slice = np.empty(m_max)
    total = np.zeros(data.X.shape[0])
    m = 0
    for i, (a, b) in enumerate(prep.blocks):
        per_slice[a:b], terms = _pointwise_block(prep, i, name, n_jobs)
        for row in terms:  # in slice order: the sum does not depend on blocks or threads
            total += row
        m = b
        if auto and m > 1:
            stderr = float(per_slice[:m].std(ddof=1) / math.sqrt(m))
            if stderr <= max(0.0 if atol is None else atol, AUTO_RATIO * sampling_error(
                    _pointwise_from_total(prep, total, m))):
                break
    values = per_slice[:m].copy()
    if not np.isfinite(values).all():  # pragma: no cover - KSG slices are finite
        raise ValueError("a slice gave a non-finite estimate; use estimator='ksg'.")
    pointwise = _pointwise_from_total(prep, total, m)
    value = float(values.mean())
    stderr = float(values.std(ddof=1) / math.sqrt(m)) if m > 1 else float("nan")
    se = sampling_error(pointwise)
    return SMIResult(value=value, stderr=stderr, n_projections=m, per_slice=values if return_slices else None,
                     estimator=estimator, k=data.k, seed=seed_record(ss), backend="numba",
                     seconds=time.perf_counter() - t0, n_omitted=data.n_omitted, stderr_samples=se,
                     sampling_error="influence",
                     ci=interval(value, stderr, se), pointwise=pointwise if return_pointwise else None)
