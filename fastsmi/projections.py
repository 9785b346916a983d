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

import numbers
from typing import Any, Mapping, Sequence, Union

import numpy as np

from ._validation import check_positive_int

SeedLike = Union[None, int, Sequence[int], Mapping[str, Any], np.random.SeedSequence, np.random.Generator]

METHODS = ("sphere", "orthonormal")

__all__ = ["METHODS", "DirectionStream", "SeedLike", "as_generator", "as_seed_sequence", "child_seed", "directions",
           "orthonormal", "seed_record", "sphere"]

#: Words drawn from a :class:`numpy.random.Generator` passed as a seed.
GENERATOR_SEED_WORDS = 4


def _entropy_list(value: Any, name: str) -> list[int]:
    """A sequence of non-negative integers as a list of Python ints (numpy keeps the same pool)."""
    try:
        items = list(value)
    except TypeError:
        items = None
    if not items or any(isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral) or v < 0
                        for v in items):
        raise TypeError(f"{name} must be a non-empty list of non-negative integers, got {value!r}.")
    return [int(v) for v in items]


def as_seed_sequence(seed: SeedLike) -> np.random.SeedSequence:
    """Turn ``seed`` into a :class:`numpy.random.SeedSequence`.

    Accepted: ``None`` (fresh entropy from the operating system, kept in the
    returned sequence, so the draw can be repeated), a non-negative int, a list
    of non-negative ints (numpy's entropy), a SeedSequence (spawned children
    included), a record made by :func:`seed_record` (a dict with ``"entropy"``
    and optional ``"spawn_key"`` and ``"pool_size"``), or a Generator, from which
    :data:`GENERATOR_SEED_WORDS` integers are drawn (``integers(0, 2**63, size=4,
    dtype=np.uint64)``) to form the entropy: the generator advances, so the same
    generator object gives a new seed on each call.

    Examples
    --------
    >>> ss = as_seed_sequence({"entropy": 5, "spawn_key": [1]})
    >>> ss.entropy, ss.spawn_key
    (5, (1,))
    """
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if isinstance(seed, np.random.Generator):
        words = seed.integers(0, 2**63, size=GENERATOR_SEED_WORDS, dtype=np.uint64)
        return np.random.SeedSequence([int(w) for w in words])
    if seed is None:
        return np.random.SeedSequence()
    if isinstance(seed, numbers.Integral) and not isinstance(seed, (bool, np.bool_)):
        if seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed}.")
        return np.random.SeedSequence(int(seed))
    if isinstance(seed, Mapping):
        unknown = set(seed) - {"entropy", "spawn_key", "pool_size"}
        if "entropy" not in seed or unknown:
            raise ValueError(
                f"a seed record needs the key 'entropy' and may have 'spawn_key' and 'pool_size', got keys "
                f"{sorted(map(str, seed))}; pass back the seed of a result unchanged."
            )
        entropy = seed["entropy"]
        if isinstance(entropy, numbers.Integral) and not isinstance(entropy, (bool, np.bool_)) and entropy >= 0:
            entropy = int(entropy)
        else:
            entropy = _entropy_list(entropy, "the entropy of a seed record")
        spawn_key = tuple(_entropy_list(seed["spawn_key"], "spawn_key")) if seed.get("spawn_key") else ()
        pool_size = seed.get("pool_size", 4)
        if isinstance(pool_size, (bool, np.bool_)) or not isinstance(pool_size, numbers.Integral) or pool_size < 4:
            raise ValueError(f"pool_size of a seed record must be an integer >= 4, got {pool_size!r}.")
        return np.random.SeedSequence(entropy, spawn_key=spawn_key, pool_size=int(pool_size))
    if isinstance(seed, (list, tuple)):
        return np.random.SeedSequence(_entropy_list(seed, "a list seed"))
    raise TypeError(
        "seed must be None, a non-negative int, a list of non-negative ints, a numpy SeedSequence or Generator, "
        f"or a seed record from a result, got {type(seed).__name__} ({seed!r})."
    )


def seed_record(ss: np.random.SeedSequence) -> Union[int, dict]:
    """A JSON-serialisable form of ``ss`` that :func:`as_seed_sequence` turns back into an equal sequence.

    A plain integer when ``ss`` is ``SeedSequence(int)`` (no spawn key, default pool
    size); otherwise a dict ``{"entropy": int or list of int, "spawn_key": [...]}``
    (with ``"pool_size"`` when not 4).

    Examples
    --------
    >>> seed_record(np.random.SeedSequence(7))
    7
    >>> seed_record(np.random.SeedSequence(7).spawn(2)[1])
    {'entropy': 7, 'spawn_key': [1]}
    """
    entropy = ss.entropy
    if isinstance(entropy, numbers.Integral):
        entropy = int(entropy)
    else:
        # a list of Python ints as is: np.ravel would turn words of 2**63 and more into floats
        entropy = [int(w) for w in (entropy.ravel() if isinstance(entropy, np.ndarray) else entropy)]
    if isinstance(entropy, int) and not ss.spawn_key and ss.pool_size == 4:
        return entropy
    record: dict = {"entropy": entropy, "spawn_key": [int(v) for v in ss.spawn_key]}
    if ss.pool_size != 4:
        record["pool_size"] = int(ss.pool_size)
    return record


def child_seed(ss: np.random.SeedSequence, *key: int) -> np.random.SeedSequence:
    """The child of ``ss`` at ``key``, without mutating ``ss`` (unlike :meth:`~numpy.random.SeedSequence.spawn`).

    ``child_seed(ss, i)`` is the ``i``-th child ``ss.spawn`` would give; a longer ``key``
    names a grandchild, and so on.

    Examples
    --------
    >>> ss = np.random.SeedSequence(5)
    >>> child_seed(ss, 2).spawn_key, ss.n_children_spawned
    ((2,), 0)
    """
    return np.random.SeedSequence(ss.entropy, spawn_key=tuple(ss.spawn_key) + tuple(key), pool_size=ss.pool_size)


def as_generator(seed: SeedLike) -> np.random.Generator:
    """A :class:`numpy.random.Generator` (PCG64) seeded through :func:`as_seed_sequence`."""
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.Generator(np.random.PCG64(as_seed_sequence(seed)))


def _check(m: int, d: int) -> None:
    check_positive_int(m, "m")
    check_positive_int(d, "d")


class DirectionStream:
    """Unit directions of R^d drawn block by block, the same rows whatever the block sizes.

    ``take(b)`` returns the next ``b`` rows.  The rows are those of one call
    ``sphere(m, d)`` / ``orthonormal(m, d)`` with the same seed, for any sequence
    of block sizes: numpy fills a Generator's normal draws row by row, so
    consecutive ``(b, d)`` draws are the rows of one ``(m, d)`` draw, and the
    orthonormal method keeps the unused rows of its last QR block for the next
    call.  Memory is that of one block.

    Examples
    --------
    >>> stream = DirectionStream(3, seed=4)
    >>> blocks = np.vstack([stream.take(2), stream.take(5)])
    >>> bool(np.array_equal(blocks, sphere(7, 3, seed=4)))
    True
    """

    def __init__(self, d: int, *, method: str = "sphere", seed: SeedLike = None) -> None:
        _check(1, d)
        if method not in METHODS:
            raise ValueError(f"unknown projection method {method!r}; choose 'sphere' or 'orthonormal'.")
        self.d = int(d)
        self.method = method
        self._rng = as_generator(seed)
        self._left = np.empty((0, self.d))

    def take(self, b: int) -> np.ndarray:
        """The next ``b`` unit directions, shape ``(b, d)``, C-contiguous."""
        _check(b, self.d)
        if self.method == "sphere":
            return self._sphere(b)
        return self._orthonormal(b)

    def _sphere(self, b: int) -> np.ndarray:
        rng, d = self._rng, self.d
        g = rng.standard_normal((b, d))
        norms = np.sqrt(np.einsum("ij,ij->i", g, g))
        # a zero Gaussian vector has probability zero; redraw it if it ever happens
        while np.any(norms == 0.0):  # pragma: no cover
            bad = norms == 0.0
            g[bad] = rng.standard_normal((int(bad.sum()), d))
            norms = np.sqrt(np.einsum("ij,ij->i", g, g))
        return g / norms[:, None]

    def _orthonormal(self, b: int) -> np.ndarray:
        d = self.d
        blocks = [self._left]
        rows = self._left.shape[0]
        while rows < b:
            q, r = np.linalg.qr(self._rng.standard_normal((d, d)))
            signs = np.sign(np.diag(r))
            signs[signs == 0] = 1.0
            blocks.append((q * signs).T)  # rows are the orthonormal directions
            rows += d
        allrows = np.vstack(blocks)
        self._left = allrows[b:].copy()
        return np.ascontiguousarray(allrows[:b])


def sphere(m: int, d: int, *, seed: SeedLike = None) -> np.ndarray:
    """Draw ``m`` directions uniformly on the unit sphere of R^d.

    Parameters
    ----------
    m : int
        Number of directions.
    d : int
        Dimension.
    seed : None, int, list of int, SeedSequence, Generator or seed record, optional
        Source of randomness (see :func:`as_seed_sequence`).

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
    return DirectionStream(d, method="sphere", seed=seed).take(m)


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
    return DirectionStream(d, method="orthonormal", seed=seed).take(m)


def directions(m: int, d: int, *, method: str = "sphere", seed: SeedLike = None) -> np.ndarray:
    """Draw ``m`` unit directions in R^d by ``method`` (``"sphere"`` or ``"orthonormal"``)."""
    if method not in METHODS:
        raise ValueError(f"unknown projection method {method!r}; choose 'sphere' or 'orthonormal'.")
    _check(m, d)
    return DirectionStream(d, method=method, seed=seed).take(m)
