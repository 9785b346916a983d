"""Compiling the Numba kernels a job needs in several processes at once.

Numba compiles a kernel the first time it is called and keeps it in its on-disk
cache.  Compilation holds the GIL, so one process compiles one kernel at a time:
on a machine with an empty cache, the kernels of a synthetic experiment take
most of its quick run to compile.  :func:`warm_up` splits small *tasks* (tiny
computations that call the kernels of the job) between this process and spawned
ones.  Each process compiles its share and writes it to the cache, from which
the others then load it (the helpers write only their entry kernels: Numba's
cache is not safe for concurrent saves of one function's entries).  Only compile time is at stake: the tasks' results are
discarded, and a task that fails in a helper process is simply compiled again
when the job reaches it.
"""
from __future__ import annotations

import multiprocessing
import sys
from typing import Any, Callable, Sequence

from . import _config, _runtime

#: A task: ``(weight, function, args)``.  ``function`` must be importable from a
#: module (it runs in spawned processes); ``weight`` is its rough compile cost.
Task = tuple[float, Callable[..., Any], tuple]


def numba_cache_enabled() -> bool:
    """True when the Numba backend is in use and its kernels are cached on disk.

    Examples
    --------
    >>> isinstance(numba_cache_enabled(), bool)
    True
    """
    if not _runtime.numba_allowed() or _config.CACHE_MODE == "0":
        return False
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


def split_tasks(tasks: Sequence[Task], parts: int, *, head_start: float = 0.0) -> list[list[Task]]:
    """Split ``tasks`` into ``parts`` lists of nearly equal total weight (heaviest first, greedy).

    The first list is this process's; the others start ``head_start`` (in task weight)
    behind it, the cost of spawning a helper and importing the package there.

    Examples
    --------
    >>> parts = split_tasks([(3, print, ()), (2, print, ()), (1, print, ()), (1, print, ())], 2)
    >>> [sum(w for w, _, _ in part) for part in parts]
    [4, 3]
    """
    shares: list[list[Task]] = [[] for _ in range(parts)]
    loads = [0.0] + [head_start] * (parts - 1)
    for task in sorted(tasks, key=lambda t: -t[0]):
        i = loads.index(min(loads))
        shares[i].append(task)
        loads[i] += task[0]
    return shares


def run_tasks(tasks: Sequence[Task]) -> None:
    """Run every task, in order (the body of each helper process)."""
    for _, function, args in tasks:
        function(*args)


def _helper(cache_mode: str, tasks: Sequence[Task]) -> None:
    """The body of a helper process: set Numba's cache mode, then run ``tasks``.

    The mode is set before any kernel is defined (they are defined when the Numba
    backend is first imported); a helper that finds them already defined refuses to
    run rather than cache more than its own entry kernels.
    """
    if any(name.startswith("fastsmi._numba.") for name in sys.modules):
        raise RuntimeError("the Numba kernels were defined before the helper set its cache mode")
    _config.set_cache_mode(cache_mode)
    run_tasks(tasks)


def warm_up(tasks: Sequence[Task], *, processes: int = 2, head_start: float = 0.0) -> dict[str, Any]:
    """Run ``tasks`` split between this process and ``processes - 1`` spawned processes.

    This process runs the first share and counts what Numba compiles meanwhile.
    If it compiled nothing, the cache was already warm: the helper processes are
    stopped at once (they would only load the cache) and the job goes on.
    Otherwise this process waits for them, so that the job then finds every
    kernel in the cache.

    Parameters
    ----------
    tasks : sequence of (weight, function, args)
        Small computations that call the kernels of the job.
    processes : int, default 2
        Processes to compile in, this one included (1: run the tasks here).
    head_start : float, default 0
        Weight this process's share gets on top of the helpers' (see :func:`split_tasks`).

    Returns
    -------
    dict
        ``{"processes": int, "compiled_here": int}``: the processes used and the
        number of functions this process compiled (0 when the cache was warm).
    """
    from numba.core import event

    shares = split_tasks(tasks, max(1, min(processes, len(tasks))), head_start=head_start)
    context = multiprocessing.get_context("spawn")  # forking a running OpenMP runtime can deadlock
    helpers = [context.Process(target=_helper, args=("entry", share), daemon=True) for share in shares[1:]]
    # Numba's cache is not safe when two processes save entries of one function at once
    # (e.g. a search compiled for the max-norm here and for the Euclidean norm there):
    # the helpers cache only their entry kernels, one name per specialisation, and leave
    # the shared building blocks to this process (see fastsmi._config.CACHE_MODE).
    for helper in helpers:
        helper.start()
    compiled = 0
    try:
        with event.install_recorder("numba:compile") as recorder:
            run_tasks(shares[0])
        compiled = sum(1 for _, e in recorder.buffer if e.is_start)
    finally:
        for helper in helpers:
            if compiled == 0:  # a warm cache (or this share failed): do not wait for the helpers
                helper.terminate()
            helper.join()
    return {"processes": len(shares), "compiled_here": compiled}
