"""Random projection directions, drawn reproducibly from a seed.

Every draw goes through :class:`numpy.random.SeedSequence` and a
:class:`numpy.random.Generator`; the global NumPy RNG is never used.

Examples
--------
>>> from fastsmi import projections
>>> theta = projections.sphere(4, 3, seed=0)
>>> theta.shape
(4, 3)
>>> bool(abs((theta ** 2).sum(axis=1) - 1).max() < 1e-12)
True
"""
from __future__ import annotations

from typing import Union

import numpy as np

SeedLike = Union[None, int, np.random.SeedSequence, np.random.Generator]

METHODS = ("sphere", "orthonormal")

__all__ = ["METHODS", "SeedLike", "as_generator", "as_seed_sequence", "directions", "orthonormal", "sphere"]


def as_seed_sequence(seed: SeedLike) -> np.random.SeedSequence:
    """Turn ``seed`` (None, int, SeedSequence or Generator) into a SeedSequence.

    ``None`` draws fresh entropy from the operating system; the entropy is
    kept in the returned sequence, so the draw can be repeated.
    """
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if isinstance(seed, np.random.Generator):
        # derive a child deterministically from the generator's stream
        return np.random.SeedSequence(seed.integers(0, 2**63, size=4, dtype=np.uint64))
    if seed is None or isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        if seed is not None and seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed}.")
        return np.random.SeedSequence(None if seed is None else int(seed))
    raise TypeError(
        f"seed must be None, a non-negative int, a numpy SeedSequence or a Generator, got {type(seed).__name__}."
    )


def as_generator(seed: SeedLike) -> np.random.Generator:
    """A :class:`numpy.random.Generator` (PCG64) seeded through :func:`as_seed_sequence`."""
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.Generator(np.random.PCG64(as_seed_sequence(seed)))


def _check(m: int, d: int) -> None:
    for value, name in ((m, "m"), (d, "d")):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")


def sphere(m: int, d: int, *, seed: SeedLike = None) -> np.ndarray:
    """Draw ``m`` directions uniformly on the unit sphere of R^d.

    Parameters
    ----------
    m : int
        Number of directions.
    d : int
        Dimension.
    seed : None, int, SeedSequence or Generator, optional
        Source of randomness.

    Returns
    -------
    ndarray of shape (m, d)
        Rows of unit Euclidean norm: normalised standard Gaussian vectors.

    Examples
    --------
    >>> sphere(2, 1, seed=1).tolist() in ([[1.0], [-1.0]], [[-1.0], [1.0]], [[1.0], [1.0]], [[-1.0], [-1.0]])
    True
    """
    _check(m, d)
    rng = as_generator(seed)
    g = rng.standard_normal((m, d))
    norms = np.sqrt(np.einsum("ij,ij->i", g, g))
    # a zero Gaussian vector has probability zero; redraw it if it ever happens
    while np.any(norms == 0.0):  # pragma: no cover
        bad = norms == 0.0
        g[bad] = rng.standard_normal((int(bad.sum()), d))
        norms = np.sqrt(np.einsum("ij,ij->i", g, g))
    return g / norms[:, None]


def orthonormal(m: int, d: int, *, seed: SeedLike = None) -> np.ndarray:
    """Draw ``m`` directions in blocks of ``d`` mutually orthogonal unit vectors.

    This is the seed project's scheme: each block is the Q factor of the QR
    decomposition of a d x d standard Gaussian matrix, with the signs of Q's
    columns fixed by the diagonal of R so that every block is Haar-distributed
    on the orthogonal group; blocks are stacked and cut to ``m`` rows.  Each
    row is uniform on the sphere; rows within a block are orthogonal.

    Examples
    --------
    >>> q = orthonormal(3, 3, seed=0)
    >>> bool(abs(q @ q.T - np.eye(3)).max() < 1e-12)
    True
    """
    _check(m, d)
    rng = as_generator(seed)
    blocks = []
    rows = 0
    while rows < m:
        q, r = np.linalg.qr(rng.standard_normal((d, d)))
        signs = np.sign(np.diag(r))
        signs[signs == 0] = 1.0
        blocks.append((q * signs).T)  # rows are the orthonormal directions
        rows += d
    return np.ascontiguousarray(np.vstack(blocks)[:m])


def directions(m: int, d: int, *, method: str = "sphere", seed: SeedLike = None) -> np.ndarray:
    """Draw ``m`` unit directions in R^d by ``method`` (``"sphere"`` or ``"orthonormal"``)."""
    if method == "sphere":
        return sphere(m, d, seed=seed)
    if method == "orthonormal":
        return orthonormal(m, d, seed=seed)
    raise ValueError(f"unknown projection method {method!r}; choose 'sphere' or 'orthonormal'.")
