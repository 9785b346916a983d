"""The Cython backend: runs a :class:`~fastsmi._plan.Plan` over a block of slices.

It has the module interface of :mod:`fastsmi._numba.backend` (``NAME``,
``run_block``, ``threads``, ``resolve_n_jobs``, ``max_threads``) and computes
the same numbers, without importing Numba.  The slices of a block are split
into contiguous chunks, one per thread; each chunk runs in compiled code with
the GIL released, with its own workspace, so results do not depend on the
number of threads.
"""
from __future__ import annotations

import contextlib
import threading
from typing import Callable, Iterator, Optional

import numpy as np

from .. import _threads
from .._plan import FAMILY_KL, FAMILY_KSG, FAMILY_ROSS, Plan
from ._simd import slices_module

_slices = slices_module()

NAME = "cython"
SEARCHES = {"sweep": _slices.SEARCH_SWEEP, "grid": _slices.SEARCH_GRID}

_local = threading.local()


def max_threads() -> int:
    """Number of cores this process may run on (:func:`fastsmi._threads.usable_cores`).

    Examples
    --------
    >>> from fastsmi._cython import backend
    >>> backend.max_threads() >= 1
    True
    """
    return _threads.usable_cores()


def resolve_n_jobs(n_jobs: Optional[int]) -> int:
    """Threads to use for ``n_jobs``: ``None`` or ``-1`` means every core; capped at :func:`max_threads`.

    Examples
    --------
    >>> from fastsmi._cython import backend
    >>> backend.resolve_n_jobs(1)
    1
    """
    return _threads.resolve_n_jobs(n_jobs, max_threads())


def _current_threads() -> int:
    wanted = getattr(_local, "n_threads", None)
    return max_threads() if wanted is None else wanted


@contextlib.contextmanager
def threads(n_jobs: Optional[int]) -> Iterator[int]:
    """Use ``n_jobs`` threads for the blocks run by this (calling) thread, then restore.

    Examples
    --------
    >>> from fastsmi._cython import backend
    >>> with backend.threads(1) as n:
    ...     n
    1
    """
    previous = getattr(_local, "n_threads", None)
    wanted = resolve_n_jobs(n_jobs)
    _local.n_threads = wanted
    try:
        yield wanted
    finally:
        _local.n_threads = previous


def _run_chunks(func: Callable[[int, int], None], b: int) -> None:
    """Call ``func(lo, hi)`` on contiguous chunks of ``range(b)``, one chunk per thread."""
    _threads.run_chunks(func, b, _current_threads())


def _f64(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float64)


def run_block(plan: Plan, PX: np.ndarray, PY: Optional[np.ndarray], JX: np.ndarray, JY: Optional[np.ndarray],
              tols: np.ndarray, discrete: Optional[tuple], out: np.ndarray, status: np.ndarray, search: str) -> None:
    """Estimate the slices ``PX[:, s]`` (against ``PY[:, s]`` or the labels) into ``out``.

    Columns past ``out.shape[0]`` (padding of the last block) are ignored.
    A projection of X (Y) whose range is at most ``tols[0]`` (``tols[1]``) is
    constant: ``status[s] = 1`` (``2``) and ``out[s] = NaN``.  ``out`` holds
    the kernel sums; the estimate of slice ``s`` is ``out[s] + plan.const``.

    Examples
    --------
    >>> import numpy as np
    >>> from fastsmi._cython import backend
    >>> from fastsmi._plan import make_plan
    >>> rng = np.random.default_rng(0)
    >>> PX = rng.standard_normal((200, 16))
    >>> PY = PX + rng.standard_normal((200, 16))
    >>> plan = make_plan("ksg", 5, 200)
    >>> out, status = np.empty(3), np.zeros(3, np.int8)
    >>> jitter = np.zeros(200)
    >>> backend.run_block(plan, PX, PY, jitter, jitter, np.zeros(2), None, out, status, "grid")
    >>> bool(np.all(out + plan.const > 0.1)), status.tolist()
    (True, [0, 0, 0])
    """
    if search not in SEARCHES:
        raise ValueError(f"unknown joint search {search!r}; use one of {tuple(SEARCHES)}.")
    if out.dtype != np.float64 or not out.flags.c_contiguous or out.ndim != 1:
        raise TypeError("out must be a contiguous 1-D float64 array.")
    if status.dtype != np.int8 or not status.flags.c_contiguous or status.shape != out.shape:
        raise TypeError("status must be a contiguous int8 array shaped like out.")
    code = SEARCHES[search]
    b = out.shape[0]
    if b == 0:
        return
    PX = _f64(PX)
    JX = _f64(JX)
    k = int(plan.k)
    tol_x = float(tols[0])
    tol_y = float(tols[1]) if len(tols) > 1 else 0.0
    if discrete is not None:
        codes, class_start = discrete
        codes = np.ascontiguousarray(codes, dtype=np.int64)
        class_start = np.ascontiguousarray(class_start, dtype=np.int64)
        ross = plan.family == FAMILY_ROSS
        coef = _f64(plan.coef)
        psi = _f64(plan.psi)

        def work(lo: int, hi: int) -> None:
            _slices.discrete_chunk(PX, JX, tol_x, codes, class_start, k, ross, psi, coef, out, status, lo, hi)

    elif plan.family == FAMILY_KSG:
        PY = _f64(PY)
        JY = _f64(JY)
        psi = _f64(plan.psi)
        variant = int(plan.variant)

        def work(lo: int, hi: int) -> None:
            _slices.ksg_chunk(PX, PY, JX, JY, tol_x, tol_y, k, variant, code, psi, out, status, lo, hi)

    elif plan.family == FAMILY_KL:
        PY = _f64(PY)
        JY = _f64(JY)
        coef = _f64(plan.coef)
        whiten = bool(plan.whiten)

        def work(lo: int, hi: int) -> None:
            _slices.kl_chunk(PX, PY, JX, JY, tol_x, tol_y, k, coef, whiten, code, out, status, lo, hi)

    else:  # pragma: no cover - plans are built by make_plan
        raise ValueError(f"unknown estimator family {plan.family!r}")
    _run_chunks(work, b)
