"""The 1-D slice driver: directions and jitter from the seed, blocks of slices, local or Dask runs.

:func:`sliced_smi` takes data that :func:`fastsmi.smi` has already checked, centred and
scaled; it draws (or checks) the directions block by block, runs every block through
:func:`fastsmi._block.compute_block` here or on a Dask cluster
(:mod:`fastsmi._distributed`), and builds the result.
"""
from __future__ import annotations

import math
import time
from typing import Any, Optional

import numpy as np

from . import _validation as V
from ._backends import get_backend
from ._block import compute_block
from ._config import BLOCK_MEMORY_BYTES, JITTER_SCALE, PROJECTION_GRANULE
from ._distributed import run_on_client
from ._plan import make_plan
from ._result import Moments, SMIResult, build_result, check_status
from ._runtime import search_choice
from ._threads import progress_bar
from .projections import DirectionStream, SeedLike, as_seed_sequence, child_seed, seed_record

__all__ = ["DEFAULT_SEARCH", "KEEP_SLICES_MAX", "SEARCHES", "seeded_streams", "sliced_smi"]

#: Joint neighbour search used by the 1-D slice kernels, chosen by measurement
#: (``bench/bench_search.py``); ``FASTSMI_SEARCH`` overrides it.
DEFAULT_SEARCH = "grid"
SEARCHES = ("sweep", "grid")

#: With ``return_slices=False``, up to this many slices are kept internally, and the
#: mean and standard error are those of the kept array (bit-identical to
#: ``return_slices=True``); beyond it they are accumulated block by block in fixed
#: groups of slices (see :class:`~fastsmi._result.Moments`), so memory does not grow with m.
KEEP_SLICES_MAX = 1 << 22


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


def seeded_streams(ss: np.random.SeedSequence, n: int, dx: int, dy: Optional[int], m: int, method: str,
                   directions_x: Any = None, directions_y: Any = None) -> tuple:
    """``(dirs_x, jitter_x, dirs_y, jitter_y)`` from the children 0-3 of ``ss`` (``dy=None``: labels)."""
    dirs_x = _Directions(directions_x, m, dx, method, child_seed(ss, 0), "directions_x")
    jitter_x = _jitter(child_seed(ss, 2), n)
    dirs_y = jitter_y = None
    if dy is not None:
        dirs_y = _Directions(directions_y, m, dy, method, child_seed(ss, 1), "directions_y")
        jitter_y = _jitter(child_seed(ss, 3), n)
    return dirs_x, jitter_x, dirs_y, jitter_y


def _block_size(n: int, m: int, block_size: Optional[int]) -> int:
    g = PROJECTION_GRANULE
    if block_size is None:
        per_direction = 2 * 8 * n
        block_size = max(g, min(256, BLOCK_MEMORY_BYTES // per_direction))
    else:
        block_size = V.check_positive_int(block_size, "block_size")
    block_size = g * math.ceil(block_size / g)
    return min(block_size, g * math.ceil(m / g))


def sliced_smi(X: np.ndarray, Ymat: Optional[np.ndarray], discrete: Optional[tuple], counts: Optional[np.ndarray], *,
               n_projections: Optional[int], estimator: str, k: int, seed: SeedLike, n_jobs: Optional[int],
               backend: str, return_slices: bool, method: str, directions_x: Any, directions_y: Any,
               block_size: Optional[int], progress: Optional[bool], client: Any, t0: float, tols: np.ndarray,
               n_omitted: int, transform: str = "none") -> SMIResult:
    """SMI on 1-D slices of prepared data (see :func:`fastsmi.smi` for the options).

    ``discrete`` is ``(codes, class_start)`` for labels (then ``Ymat`` is None) and
    ``counts`` the class sizes; ``tols`` the rounding tolerances of X and Y;
    ``transform`` the checked per-slice transform (``"none"`` or ``"rank"``).
    """
    n, dx = X.shape
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
    dirs_x, jitter_x, dirs_y, jitter_y = seeded_streams(ss, n, dx, None if Ymat is None else Ymat.shape[1], m,
                                                         method, directions_x, directions_y)

    backend_mod = get_backend(backend)
    search = search_choice(DEFAULT_SEARCH)
    if search not in SEARCHES:
        raise ValueError(f"FASTSMI_SEARCH={search!r} is not a search; use one of {SEARCHES}.")
    plan = make_plan(estimator, k, n, class_counts=counts)
    width = _block_size(n, m, block_size)
    starts = list(range(0, m, width))
    keep = return_slices or client is not None or m <= KEEP_SLICES_MAX
    per_slice = np.empty(m) if keep else None
    moments = None if keep else Moments()
    common = dict(plan=plan, discrete=discrete, width=width, backend=backend_mod.NAME, search=search, n_jobs=n_jobs,
                  tols=tols, transform=transform)

    status = np.zeros(m, dtype=np.int8) if keep else None
    if client is not None:
        blocks = [(start, min(start + width, m)) for start in starts]
        thetas = [(dirs_x.block(a, b), None if dirs_y is None else dirs_y.block(a, b)) for a, b in blocks]
        run_on_client(client, X, Ymat, thetas, jitter_x, jitter_y, blocks, common, per_slice, status)
    else:
        bar = progress_bar(m, progress)
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
                    check_status(st, offset=start)
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
    return build_result(per_slice, status, m, estimator, k, ss, backend_mod.NAME, return_slices, t0, n_omitted)
