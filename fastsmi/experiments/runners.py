"""Where the sample groups of a synthetic run are computed: here, in a process pool, or on Dask.

A runner receives a *plan* (:data:`~fastsmi.experiments.grid.Plan`), the run settings as
plain data (``SyntheticConfig.to_dict()``) and a *sink* that stores each result row as it
arrives.  What one sample group computes is passed in as a function (``rows`` yields a
group's rows one by one, ``task`` returns them as a list, for a remote process), so the
runners know nothing of estimators.  Whichever runner is used, a cell's row depends only
on its key and the settings, never on where or in which order it ran.

Before the cells, :func:`warm_up_kernels` can compile the Numba kernels they need in
several processes at once (see :mod:`fastsmi._warmup`).

Examples
--------
>>> from fastsmi.experiments.grid import SampleGroup
>>> plan = [(SampleGroup("gaussian", 2, 1.0, 0), [("ksg", True)])]
>>> rows = []
>>> run_local(plan, {}, rows.append, rows=lambda group, variants, settings: [group.d])
>>> rows
[2]
"""
from __future__ import annotations

import multiprocessing
import sys
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import as_completed as futures_completed
from typing import Any, Callable, Iterable, Optional, Sequence

from .. import _warmup
from .._threads import usable_cores
from .grid import Plan, SampleGroup

__all__ = [
    "Rows",
    "Sink",
    "Task",
    "execute",
    "progress_bar",
    "run_dask",
    "run_local",
    "run_pool",
    "warm_up_kernels",
    "warm_up_processes",
    "warm_variant",
]

#: A group's rows, one by one: ``rows(group, variants, settings)``.
Rows = Callable[[SampleGroup, Sequence[tuple[str, bool]], dict[str, Any]], Iterable[dict[str, Any]]]
#: A group's rows as a list, importable by name (it runs in other processes).
Task = Callable[[SampleGroup, Sequence[tuple[str, bool]], dict[str, Any]], list[dict[str, Any]]]
#: Stores one finished row.
Sink = Callable[[dict[str, Any]], None]

#: Relative compile cost of the warm-up tasks (see :func:`warm_up_kernels`): the sliced KL-type
#: kernels take longest to compile, then the sliced KSG ones, then the full-dimensional
#: searches; a helper process starts _WARM_HEAD_START behind (spawn and imports).  On the
#: quick Figure 1 grid these weights keep the full-vector tasks in this process and give a
#: helper the sliced KSG ones (measurements: docs/architecture.md).
_WARM_WEIGHTS = {"sliced_kl": 3.0, "sliced_ksg": 2.5, "full": 1.0}
_WARM_HEAD_START = 1.5


def progress_bar(total: int, enabled: Optional[bool]) -> Any:
    """A tqdm bar of ``total`` cells, or None (disabled, nothing to do, or tqdm absent).

    ``enabled=None`` shows it only when standard error is a terminal.
    """
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled or total == 0:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm is optional
        return None
    return tqdm(total=total, unit="cell", desc="synthetic", dynamic_ncols=True)


# --------------------------------------------------------------------------------------
# warm-up compile
# --------------------------------------------------------------------------------------
def warm_variant(task: Task, jobs: Sequence[tuple[SampleGroup, dict[str, Any]]], variant: tuple[str, bool]) -> None:
    """Compute one ``(estimator, sliced)`` variant on tiny samples, discarding the rows.

    A warm-up task of :func:`warm_up_kernels`: ``task`` calls the same kernels as the grid's
    cells, with the same argument types, so they are compiled (or loaded) once here.
    """
    for group, settings in jobs:
        task(group, [variant], settings)


def warm_up_kernels(plan: Plan, settings: dict[str, Any], processes: int, *, task: Task) -> None:
    """Compile the kernels of ``plan`` in ``processes`` processes at once, before the cells run.

    One task per ``(estimator, sliced)`` variant computes it on every dimension of the
    plan with tiny samples (enough points to whiten the full vectors), so each variant's
    kernels are compiled in one process only; the others load them from Numba's cache.
    """
    dims: dict[tuple[str, int], SampleGroup] = {}
    variants: list[tuple[str, bool]] = []
    for group, group_variants in plan:
        dims.setdefault((group.model, group.d), group)
        variants.extend(v for v in group_variants if v not in variants)
    jobs = [(group, dict(settings, n_samples=min(settings["n_samples"], max(64, 4 * group.d)), n_projections=16))
            for group in dims.values()]
    tasks = []
    for estimator, sliced in variants:
        kind = "full" if not sliced else ("sliced_ksg" if estimator.startswith("ksg") else "sliced_kl")
        tasks.append((_WARM_WEIGHTS[kind], warm_variant, (task, jobs, (estimator, sliced))))
    _warmup.warm_up(tasks, processes=processes, head_start=_WARM_HEAD_START)


def _local_cluster(client: Any) -> bool:
    """Whether ``client`` runs a ``LocalCluster`` of this machine, whose workers share this process's Numba cache."""
    return type(getattr(client, "cluster", None)).__name__ == "LocalCluster"


def warm_up_processes(settings: dict[str, Any], client: Any, warm: Optional[bool]) -> int:
    """Processes for the warm-up compile: 0 (none) with a remote Dask cluster, the Cython backend, no Numba
    cache or one core.

    A ``LocalCluster``'s workers share this machine's cache, so the warm-up runs for them too:
    they then load the kernels instead of compiling them side by side, which Numba's cache
    does not make safe (two processes saving entries of one function at once).
    """
    remote = client is not None and not _local_cluster(client)
    if warm is False or remote or settings["backend"] == "cython" or not _warmup.numba_cache_enabled():
        return 0
    cores = usable_cores()
    return cores if cores > 1 or warm else 0


# --------------------------------------------------------------------------------------
# runners
# --------------------------------------------------------------------------------------
def run_local(plan: Plan, settings: dict[str, Any], sink: Sink, *, rows: Rows) -> None:
    """Compute the groups here, in plan order, storing each row as soon as it is computed."""
    for group, variants in plan:
        for row in rows(group, variants, settings):
            sink(row)


def _largest_first(plan: Plan) -> Plan:
    # The largest dimensions take longest: starting them first drains the workers evenly.
    return sorted(plan, key=lambda item: -item[0].d)


def run_pool(plan: Plan, settings: dict[str, Any], sink: Sink, *, task: Task, processes: int) -> None:
    """Compute the groups in a pool of ``processes`` spawned processes, largest dimension first."""
    # "spawn": forking a process whose OpenMP runtime is already running can deadlock.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=processes, mp_context=context) as pool:
        futures = [pool.submit(task, group, variants, settings) for group, variants in _largest_first(plan)]
        try:
            for future in futures_completed(futures):
                for row in future.result():
                    sink(row)
        finally:
            for future in futures:
                future.cancel()


def run_dask(plan: Plan, settings: dict[str, Any], sink: Sink, *, task: Task, client: Any) -> None:
    """Submit the groups as tasks to a Dask ``client``, largest dimension first."""
    from distributed import as_completed

    futures = [client.submit(task, group, variants, settings, pure=False) for group, variants in _largest_first(plan)]
    try:
        for future in as_completed(futures):
            for row in future.result():
                sink(row)
    finally:
        for future in futures:
            future.cancel()


def execute(plan: Plan, settings: dict[str, Any], sink: Sink, *, rows: Rows, task: Task, client: Any = None,
            processes: Optional[int] = None) -> None:
    """Run ``plan`` on Dask (``client``), in a local pool (``processes > 1``) or here."""
    if client is not None:
        run_dask(plan, settings, sink, task=task, client=client)
    elif processes is not None and processes > 1:
        run_pool(plan, settings, sink, task=task, processes=processes)
    else:
        run_local(plan, settings, sink, rows=rows)
