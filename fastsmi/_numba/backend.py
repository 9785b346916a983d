"""The Numba backend: runs a :class:`~fastsmi._plan.Plan` over a block of slices."""
from __future__ import annotations

import contextlib
import threading
from typing import Iterator, Optional

import numba
import numpy as np

from .. import _threads
from .._plan import FAMILY_KL, FAMILY_KSG, FAMILY_ROSS, Plan
from .._algorithm import LANES_ALL, SEARCH_GRID, SEARCH_SWEEP, lane_rows
from ._kernels import discrete_block, pair_block

NAME = "numba"
SEARCHES = {"sweep": SEARCH_SWEEP, "grid": SEARCH_GRID}


def run_block(plan: Plan, PX: np.ndarray, PY: Optional[np.ndarray], JX: np.ndarray, JY: Optional[np.ndarray],
              tols: np.ndarray, discrete: Optional[tuple], out: np.ndarray, status: np.ndarray, search: str) -> None:
    """Estimate the slices ``PX[:, s]`` (against ``PY[:, s]`` or the labels) into ``out``.

    ``tols[0]``/``tols[1]``: a projection of X/Y whose range is at most this is
    constant (status 1/2, estimate NaN).
    """
    code = SEARCHES[search]
    chunks = numba.get_num_threads()
    with _parallel_region():
        _run(plan, PX, PY, JX, JY, tols, discrete, out, status, code, chunks)


#: Numba's ``workqueue`` threading layer is not thread-safe: two parallel regions
#: launched from two Python threads at once abort the process.  Parallel kernels
#: take this lock unless the layer in use is known to be safe (OpenMP, TBB).
_PARALLEL_LOCK = threading.Lock()
_SAFE_LAYERS = ("omp", "tbb")


def _layer_is_safe() -> bool:
    """True when the threading layer Numba has started allows concurrent parallel regions."""
    try:
        return numba.threading_layer() in _SAFE_LAYERS
    except ValueError:  # no parallel region has run yet: the layer is not chosen
        return False


@contextlib.contextmanager
def _parallel_region() -> Iterator[None]:
    if _layer_is_safe():
        yield
        return
    with _PARALLEL_LOCK:
        yield


def _run(plan: Plan, PX: np.ndarray, PY: Optional[np.ndarray], JX: np.ndarray, JY: Optional[np.ndarray],
         tols: np.ndarray, discrete: Optional[tuple], out: np.ndarray, status: np.ndarray, code: int,
         chunks: int) -> None:
    if discrete is not None:
        codes, class_start = discrete
        discrete_block(PX, JX, tols, codes, class_start, plan.k, plan.family == FAMILY_ROSS, plan.psi, plan.coef,
                       out, status, chunks)
    elif plan.family in (FAMILY_KSG, FAMILY_KL):
        kernel = pair_block(*specialisation(plan, code))
        kernel(PX, PY, JX, JY, tols, plan.k, plan.psi, plan.coef, plan.whiten, out, status, chunks)
    else:  # pragma: no cover - plans are built by make_plan
        raise ValueError(f"unknown estimator family {plan.family!r}")


def specialisation(plan: Plan, search: int) -> tuple:
    """The compile-time constants of the driver for ``plan``: see :func:`~fastsmi._numba._kernels.pair_block`.

    Only what changes the code is kept (the others are set to 0), so plans that run
    the same code share one compiled driver.
    """
    if plan.family == FAMILY_KSG:
        lanes = lane_rows(plan.k, search) if plan.variant == 1 else 0
        return plan.family, plan.variant, search, lanes
    # KL: the k-th joint distance alone when only it carries weight
    lanes = LANES_ALL if np.any(plan.coef[2, :-1]) else lane_rows(plan.k, search)
    return plan.family, 0, search, lanes


def max_threads() -> int:
    """Threads a parallel kernel may use: Numba's pool size, capped at the usable cores."""
    return max(1, min(int(numba.config.NUMBA_NUM_THREADS), _threads.usable_cores()))


@contextlib.contextmanager
def threads(n_jobs: Optional[int]) -> Iterator[int]:
    """Set Numba's thread count for the duration of the block, then restore it."""
    previous = numba.get_num_threads()
    wanted = resolve_n_jobs(n_jobs)
    numba.set_num_threads(wanted)
    try:
        yield wanted
    finally:
        numba.set_num_threads(previous)


def resolve_n_jobs(n_jobs: Optional[int]) -> int:
    """Threads for ``n_jobs`` (``None`` or ``-1``: all), capped at :func:`max_threads`."""
    return _threads.resolve_n_jobs(n_jobs, max_threads())
