"""One block of 1-D slices: project, then estimate every slice with a backend's kernel.

:func:`compute_block` is the unit of work of the 1-D slice driver
(:mod:`fastsmi._sliced`), run locally or as a Dask task (:mod:`fastsmi._distributed`):
both call this same function, so a distributed run is bit-identical to a local one.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from . import _validation as V
from ._backends import get_backend
from ._blas import blas_threads
from ._plan import Plan
from ._transform import normal_scores

__all__ = ["SLICE_CALL_WORK", "compute_block", "rank_slices"]

#: Slices times samples estimated per thread by one call of a backend's kernel, at
#: most (a block of projections is estimated in several calls when larger): a Ctrl-C
#: is seen between calls, so this keeps the wait well under a second.  Every slice is
#: estimated on its own, so results do not depend on it.
SLICE_CALL_WORK = 1 << 18


def _project(A: np.ndarray, theta: np.ndarray, start: int, stop: int, width: int) -> np.ndarray:
    """``A @ theta[start:stop].T`` computed on exactly ``width`` directions (zero-padded).

    Every BLAS call sees a multiple of the granule, aligned to it, so the
    projection of a direction does not depend on the block it travels in.
    """
    block = np.zeros((width, theta.shape[1]))
    block[: stop - start] = theta[start:stop]
    return A @ block.T


def rank_slices(P: np.ndarray, b: int, tol: float) -> np.ndarray:
    """Columns ``:b`` of the projections ``P`` replaced by the normal scores of their ranks.

    A slice's MI does not change under a monotone map of each projected
    variable, so this is ``transform="rank"`` per slice.  A column whose range is
    within ``tol`` (the projection's rounding error) is set to zeros, so the
    kernels flag it as constant as they would the raw column; the other columns
    then have ranges of order one, and the kernels check them with tolerance 0.
    Ties keep equal scores (average ranks).
    """
    out = np.zeros_like(P)
    cols = P[:, :b]
    live = np.flatnonzero(cols.max(axis=0) - cols.min(axis=0) > tol)
    if live.size:
        out[:, live] = normal_scores(cols[:, live])
    return out


def compute_block(X: np.ndarray, Y: Optional[np.ndarray], theta_x: np.ndarray, theta_y: Optional[np.ndarray],
                  jitter_x: np.ndarray, jitter_y: Optional[np.ndarray], plan: Plan, discrete: Optional[tuple],
                  start: int, stop: int, width: int, backend: str, search: str,
                  n_jobs: Optional[int], tols: Optional[np.ndarray] = None,
                  transform: str = "none") -> tuple[np.ndarray, np.ndarray]:
    """Estimate slices ``start:stop``; the unit of work, local or on a Dask worker.

    Returns ``(estimates, status)``; the estimates include the plan's constant.
    With ``transform="rank"`` each projected variable is replaced by the normal
    scores of its ranks (:func:`rank_slices`) before the kernels.
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
    if transform == "rank":
        PX = rank_slices(PX, b, tols[0])
        PY = None if PY is None else rank_slices(PY, b, tols[1])
        tols = np.zeros(2)
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
