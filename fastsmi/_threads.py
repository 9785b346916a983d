"""Running compiled, GIL-free work on Python threads, in contiguous chunks, and showing its progress.

The kernels called here release the GIL (Numba ``nogil=True``, Cython ``nogil``), so
a :class:`~concurrent.futures.ThreadPoolExecutor` runs them in parallel, as scipy's
``cKDTree(workers=)`` does.  Every item of work is computed independently of the
others, so results never depend on the thread count or on the chunking.
"""
from __future__ import annotations

import contextvars
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Optional

from ._validation import check_n_jobs


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


def resolve_n_jobs(n_jobs: Optional[int], top: Optional[int] = None) -> int:
    """Threads for ``n_jobs``: ``None`` or ``-1`` means ``top``, and ``top`` caps any other value.

    ``top`` defaults to :func:`usable_cores`; a backend passes its own limit.

    Examples
    --------
    >>> resolve_n_jobs(1), resolve_n_jobs(None) == resolve_n_jobs(10**6) == usable_cores()
    (1, True)
    """
    check_n_jobs(n_jobs)
    top = usable_cores() if top is None else top
    return top if n_jobs is None or n_jobs == -1 else min(int(n_jobs), top)


def chunk_bounds(c: int, n_chunks: int, b: int) -> tuple[int, int]:
    """Bounds ``(lo, hi)`` of chunk ``c`` of ``n_chunks`` nearly equal, contiguous chunks of ``range(b)``.

    Examples
    --------
    >>> [chunk_bounds(c, 3, 10) for c in range(3)]
    [(0, 3), (3, 6), (6, 10)]
    """
    return (c * b) // n_chunks, ((c + 1) * b) // n_chunks


#: Work (multiply-adds or comparisons) of one chunk of a long search, at most: small
#: enough that the calling thread regains control, and sees a Ctrl-C, many times a
#: second; large enough that scheduling the chunks costs nothing measurable.
CHUNK_WORK: int = 1 << 25

#: Set while a call to :func:`run_chunks` is stopping (an exception or Ctrl-C in the
#: calling thread): chunks nested inside its workers check it and stop too.  A context
#: variable, so concurrent calls from other threads are not affected.
_STOP: contextvars.ContextVar[Optional[threading.Event]] = contextvars.ContextVar("fastsmi_stop", default=None)


class Cancelled(Exception):
    """Raised in a worker whose enclosing :func:`run_chunks` is stopping."""


def cap_threads(n_threads: int) -> int:
    """``n_threads`` capped at :func:`usable_cores` (and at least 1).

    Examples
    --------
    >>> cap_threads(10**6) == usable_cores()
    True
    """
    return max(1, min(int(n_threads), usable_cores()))


def _check_stop() -> None:
    stop = _STOP.get()
    if stop is not None and stop.is_set():
        raise Cancelled


def run_chunks(func: Callable[[int, int], None], b: int, n_threads: int, *, per_thread: int = 1,
               max_chunk: Optional[int] = None) -> None:
    """Call ``func(lo, hi)`` on contiguous chunks covering ``range(b)``, on ``n_threads`` threads.

    ``per_thread`` chunks per thread balance uneven work; ``max_chunk`` bounds the
    items of one chunk, so that the calling thread regains control often: a
    KeyboardInterrupt (Ctrl-C) or an error stops the call after the chunks already
    running, and no new chunk starts, also in ``run_chunks`` calls nested inside
    ``func``.  The thread count is capped at :func:`usable_cores`.  On one thread
    the chunks run in the calling thread, one after the other.

    Examples
    --------
    >>> seen = []
    >>> run_chunks(lambda lo, hi: seen.append((lo, hi)), 10, 2)
    >>> sorted(seen) if usable_cores() > 1 else [(0, 5), (5, 10)]
    [(0, 5), (5, 10)]
    """
    if b <= 0:
        return
    n_threads = cap_threads(n_threads)
    n_chunks = min(b, n_threads * max(1, int(per_thread)))
    if max_chunk is not None:
        n_chunks = max(n_chunks, -(-b // max(1, int(max_chunk))))
    if n_threads <= 1 or n_chunks <= 1:
        for c in range(n_chunks):
            _check_stop()
            func(*chunk_bounds(c, n_chunks, b))
        return
    stop = _STOP.get()
    own = stop is None
    if own:
        stop = threading.Event()

    def task(lo: int, hi: int) -> None:
        if stop.is_set():
            raise Cancelled
        func(lo, hi)

    def submit(pool: ThreadPoolExecutor, c: int):
        ctx = contextvars.copy_context()
        ctx.run(_STOP.set, stop)
        return pool.submit(ctx.run, task, *chunk_bounds(c, n_chunks, b))

    pool = ThreadPoolExecutor(max_workers=min(n_threads, n_chunks), thread_name_prefix="fastsmi")
    try:
        futures = [submit(pool, c) for c in range(n_chunks)]
        for fut in futures:
            fut.result()
    except BaseException:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    finally:
        pool.shutdown(wait=True)
    if not own:
        _check_stop()


def progress_bar(total: int, enabled: Optional[bool]) -> Any:
    """A tqdm bar over ``total`` slices, or None (``enabled=None``: only on a terminal, for more than one slice)."""
    if enabled is None:
        enabled = total > 1 and sys.stderr.isatty()
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover
        return None
    return tqdm(total=total, unit="slice", desc="fastsmi", leave=False)
