"""k-dimensional slices (k-SMI, Goldfeld et al. 2022): MI between s-dimensional projections.

Each slice projects X and Y onto random s-dimensional orthonormal frames
(Haar-distributed), standardises every projected coordinate, adds the same
kind of tie-breaking jitter as the 1-D path, and estimates the MI of the
s + s joint with the KD-tree estimators.  Slices run on a thread pool: the
KD-tree releases the GIL.
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from . import _validation as V
from ._blas import blas_threads
from ._config import JITTER_SCALE
from ._fulldim import mi_full
from ._result import SMIResult, build_result
from ._threads import progress_bar, resolve_n_jobs, run_chunks
from ._transform import normal_scores
from .projections import SeedLike, as_seed_sequence, child_seed

__all__ = ["frames", "jitter_matrix", "ksliced_smi", "ksmi_slices"]


def frames(m: int, d: int, s: int, rng: np.random.Generator) -> np.ndarray:
    """``m`` Haar-random orthonormal frames of R^d with ``s`` columns: shape (m, d, s)."""
    g = rng.standard_normal((m, d, s))
    out = np.empty_like(g)
    for i in range(m):
        q, r = np.linalg.qr(g[i])
        signs = np.sign(np.diag(r))
        signs[signs == 0] = 1.0
        out[i] = q * signs
    return out


def _prepare(P: np.ndarray, jitter: np.ndarray, tol: float, transform: str) -> Optional[np.ndarray]:
    """Standardised slice plus jitter, or None if a coordinate is constant; ranks first with ``"rank"``."""
    spread = P.max(axis=0) - P.min(axis=0)
    if np.any(spread <= tol):
        return None
    if transform == "rank":
        P = normal_scores(P)
    return (P - P.mean(axis=0)) / P.std(axis=0) + jitter


def ksmi_slices(X: np.ndarray, Y: Optional[np.ndarray], codes: Optional[np.ndarray], frames_x: np.ndarray,
                frames_y: Optional[np.ndarray], jitter_x: np.ndarray, jitter_y: Optional[np.ndarray],
                estimator: str, k: int, n_jobs: Optional[int], progress=None,
                tols: Optional[np.ndarray] = None, transform: str = "none") -> tuple[np.ndarray, np.ndarray]:
    """Per-slice MI estimates and status codes (1/2: a constant projected coordinate of X/Y).

    ``tols``: the rounding tolerances of X and Y (:func:`~fastsmi._validation.rounding_tolerance`),
    computed from ``X`` and ``Y`` alone when not given.
    """
    m = frames_x.shape[0]
    if tols is None:
        tols = (V.rounding_tolerance(X), 0.0 if Y is None else V.rounding_tolerance(Y))
    tol_x, tol_y = float(tols[0]), float(tols[1])
    out = np.empty(m)
    status = np.zeros(m, dtype=np.int8)

    def one(i: int) -> None:
        px = _prepare(X @ frames_x[i], jitter_x, tol_x, transform)
        if px is None:
            status[i], out[i] = 1, np.nan
            return
        if codes is not None:
            out[i] = mi_full(px, codes, estimator, k, True, 1)
            return
        py = _prepare(Y @ frames_y[i], jitter_y, tol_y, transform)
        if py is None:
            status[i], out[i] = 2, np.nan
            return
        out[i] = mi_full(px, py, estimator, k, False, 1)

    workers = resolve_n_jobs(n_jobs)

    def chunk(lo: int, hi: int) -> None:
        for i in range(lo, hi):
            one(i)
            if progress is not None:
                progress.update(1)

    # one slice per chunk: a Ctrl-C stops the call after the slices already running
    with blas_threads(1):
        run_chunks(chunk, m, workers, max_chunk=1)
    return out, status


def jitter_matrix(rng: np.random.Generator, n: int, s: int) -> np.ndarray:
    return rng.uniform(-JITTER_SCALE, JITTER_SCALE, size=(n, s))


def ksliced_smi(X: np.ndarray, Y: Optional[np.ndarray], discrete: Optional[tuple], *, n_projections: int,
                estimator: str, k: int, seed: SeedLike, n_jobs: Optional[int], return_slices: bool,
                progress: Optional[bool], slice_dim: int, client: Any, t0: float, tols: Optional[np.ndarray] = None,
                n_omitted: int = 0, transform: str = "none") -> SMIResult:
    """k-SMI: slices of dimension ``slice_dim`` estimated on the KD-tree (``transform``: per projected coordinate)."""
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
    gen = [np.random.Generator(np.random.PCG64(child_seed(ss, i))) for i in range(4)]
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
    bar = progress_bar(m, progress)
    try:
        per_slice, status = ksmi_slices(X, Y, codes, frames_x, frames_y, jitter_x, jitter_y, estimator, k,
                                        n_jobs, bar, tols=tols, transform=transform)
    finally:
        if bar is not None:
            bar.close()
    return build_result(per_slice, status, m, estimator, k, ss, "cython-kdtree", return_slices, t0, n_omitted)
