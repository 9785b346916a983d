"""Running compiled, GIL-free work on Python threads, in contiguous chunks.

The kernels called here release the GIL (Numba ``nogil=True``, Cython ``nogil``), so
a :class:`~concurrent.futures.ThreadPoolExecutor` runs them in parallel, as scipy's
``cKDTree(workers=)`` does.  Every item of work is computed independently of the
others, so results never depend on the thread count or on the chunking.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Callable


def usable_cores() -> int:
    """Number of cores this process may run on (``sched_getaffinity``, else ``os.cpu_count``).

    Examples
    --------
    >>> usable_cores() >= 1
    True
    """
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def chunk_bounds(c: int, n_chunks: int, b: int) -> tuple[int, int]:
    """Bounds ``(lo, hi)`` of chunk ``c`` of ``n_chunks`` nearly equal, contiguous chunks of ``range(b)``.

    Examples
    --------
    >>> [chunk_bounds(c, 3, 10) for c in range(3)]
    [(0, 3), (3, 6), (6, 10)]
    """
    return (c * b) // n_chunks, ((c + 1) * b) // n_chunks


def run_chunks(func: Callable[[int, int], None], b: int, n_threads: int, *, per_thread: int = 1) -> None:
    """Call ``func(lo, hi)`` on contiguous chunks covering ``range(b)``, on ``n_threads`` threads.

    ``per_thread`` chunks per thread balance uneven work.  One thread (or one item)
    calls ``func(0, b)`` in the calling thread.

    Examples
    --------
    >>> seen = []
    >>> run_chunks(lambda lo, hi: seen.append((lo, hi)), 10, 2)
    >>> sorted(seen)
    [(0, 5), (5, 10)]
    """
    n_chunks = min(b, n_threads * per_thread)
    if n_threads <= 1 or n_chunks <= 1:
        if b > 0:
            func(0, b)
        return
    with ThreadPoolExecutor(max_workers=min(n_threads, n_chunks), thread_name_prefix="fastsmi") as pool:
        futures = [pool.submit(func, *chunk_bounds(c, n_chunks, b)) for c in range(n_chunks)]
        for fut in futures:
            fut.result()
