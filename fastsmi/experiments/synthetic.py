"""The synthetic experiments (the seed's Figures 1 and 2): a grid of independent cells.

A *cell* is one estimate: ``(model, d, mi, run, estimator, sliced)``.  The cells of one
``(model, d, mi, run)`` form a *sample group*: its ``n`` samples are drawn once, from a seed
derived from ``(base seed, model, d, mi, run)`` through :class:`numpy.random.SeedSequence`,
and shared by every estimator, sliced (:func:`fastsmi.smi`) and full-dimensional (the "MI"
baseline).  A cell's result therefore depends only on its own key and the run parameters,
never on where or in which order it ran: locally, in a process pool or on a Dask cluster.

Results go to an output directory:

``results.csv``
    One row per cell (:data:`COLUMNS`), appended and flushed as each cell finishes.  A rerun
    with the same directory skips the finished cells; when the grid is complete the file is
    rewritten in grid order, so an interrupted-and-resumed run ends with the same table as
    an uninterrupted one (timing columns aside).  ``wall_s`` and ``cpu_s`` time the
    estimator call alone; ``cpu_s`` is the CPU time of the whole process running the cell (all
    its threads), so on a multi-threaded Dask worker it also counts concurrent cells.
``config.json``
    The parameters, the environment (versions, backend, threads) and the run's timing.
``summary.csv``, ``summary.md``, ``estimates_<model>.png/.svg``, ``correlation_<model>.png/.svg``
    Written by :mod:`fastsmi.experiments.plotting` once the grid is complete.

This module holds what one sample group computes and :func:`run_experiment`; the parts it
is built from import one way: :mod:`~fastsmi.experiments.config` (parameters),
:mod:`~fastsmi.experiments.grid` (cells and seeds), :mod:`~fastsmi.experiments.results`
(the files, resume), :mod:`~fastsmi.experiments.metadata`,
:mod:`~fastsmi.experiments.runners` (local, pool, Dask; warm-up) and
:mod:`~fastsmi.experiments.compare`.  The names users import are re-exported here.

Examples
--------
>>> import tempfile
>>> from fastsmi.experiments.synthetic import SyntheticConfig, run_experiment
>>> config = SyntheticConfig(dims=(1, 2), mi_values=(0.0, 1.0, 2.0), n_samples=200,
...                          n_projections=16, estimators=("ksg",), kinds=("sliced",))
>>> result = run_experiment(config, tempfile.mkdtemp(), plots=False, progress=False)
>>> result.complete, len(result.rows)
(True, 6)
"""
from __future__ import annotations

import json
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence

import numpy as np

import fastsmi

from . import runners
from .compare import compare_runs
from .config import (
    ESTIMATORS,
    FIG1_DIMS,
    FIG2_DIMS,
    FULL_ESTIMATORS,
    KINDS,
    RESULT_PARAMS,
    SEED_MI_VALUES,
    SLICED_ESTIMATORS,
    SyntheticConfig,
)
from .grid import Cell, SampleGroup, cell_seed, dropped_mi, grid_cells, plan_groups
from .metadata import describe_client, environment, threading_layer
from .models import make_model
from .plotting import summarize, write_outputs
from .results import (
    COLUMNS,
    ResultWriter,
    check_resumable,
    load_results,
    repair_results,
    row_key,
    sort_key,
    write_json,
    write_sorted,
)

__all__ = [
    "COLUMNS",
    "ESTIMATORS",
    "FIG1_DIMS",
    "FIG2_DIMS",
    "KINDS",
    "RESULT_PARAMS",
    "SEED_MI_VALUES",
    "Cell",
    "ExperimentResult",
    "SampleGroup",
    "SyntheticConfig",
    "cell_seed",
    "compare_runs",
    "compute_group",
    "full_mi",
    "grid_cells",
    "iter_group",
    "load_results",
    "run_experiment",
]


# --------------------------------------------------------------------------------------
# computing one sample group
# --------------------------------------------------------------------------------------
def full_mi(X: np.ndarray, Y: np.ndarray, *, estimator: str, k: int, seed: Any = 0,
            n_jobs: Optional[int] = None, backend: str = "auto") -> float:
    """Mutual information of the full vectors (the "MI" baseline of the figures).

    A thin wrapper of :func:`fastsmi.mi`: ``"ksg"`` is KSG-1 and ``"seed"`` the seed's
    estimator (whitened Kozachenko-Leonenko entropies with the seed library's weights, 1-NN
    up to dimension 4), on the KD-tree for ``d > 1``.  ``seed`` only feeds the tie-breaking
    jitter of the 1-D path.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((1000, 2))
    >>> y = x + rng.standard_normal((1000, 2))
    >>> exact = -np.log(1 - 0.5)  # two coordinates with rho^2 = 1/2
    >>> bool(abs(full_mi(x, y, estimator="ksg", k=5) - exact) < 0.15)
    True
    """
    if estimator not in FULL_ESTIMATORS:
        raise ValueError(
            f"full-dimensional estimator must be one of {list(FULL_ESTIMATORS)}, got {estimator!r}"
        )
    return float(fastsmi.mi(X, Y, estimator=estimator, k=k, seed=seed, n_jobs=n_jobs, backend=backend))


def _exact(model_obj: Any) -> tuple[float, float]:
    try:
        smi_value = float(model_obj.smi())
    except NotImplementedError:
        smi_value = float("nan")
    return float(model_obj.mi), smi_value


def _copy(ss: np.random.SeedSequence) -> np.random.SeedSequence:
    """A fresh copy, so no estimator call can change what the next one sees."""
    return np.random.SeedSequence(ss.entropy, spawn_key=ss.spawn_key, pool_size=ss.pool_size)


def iter_group(group: SampleGroup, variants: Sequence[tuple[str, bool]],
               settings: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Draw a group's samples once and yield one result row per ``(estimator, sliced)``.

    Parameters
    ----------
    group : SampleGroup
    variants : sequence of (str, bool)
        ``(estimator, sliced)`` pairs to compute.
    settings : dict
        ``SyntheticConfig.to_dict()`` (plain data, so it travels to Dask workers).

    Yields
    ------
    dict
        A row with the keys of :data:`COLUMNS`.  When an estimator raises ValueError or an
        arithmetic error on these samples, the row has a NaN estimate and an extra ``"error"``
        message (recorded in ``config.json``; delete the row from ``results.csv`` to retry).
    """
    options = {"dof": settings["dof"]} if group.model == "student_t" else {}
    model = make_model(group.model, group.d, group.mi, **options)
    exact_mi, exact_smi = _exact(model)
    seed = cell_seed(settings["seed"], group.model, group.d, group.mi, group.run)
    root = np.random.SeedSequence(seed)
    data_ss, slice_ss, full_ss = root.spawn(3)
    X, Y = model.sample(settings["n_samples"], rng=np.random.default_rng(data_ss))
    for estimator, sliced in variants:
        wall0, cpu0 = time.perf_counter(), time.process_time()
        error = None
        try:
            if sliced:
                res = fastsmi.smi(
                    X, Y, n_projections=settings["n_projections"], estimator=estimator, k=settings["k"],
                    seed=_copy(slice_ss), n_jobs=settings["n_jobs"], backend=settings["backend"],
                    return_slices=False, method=settings["method"], progress=False,
                )
                estimate, stderr = float(res.value), float(res.stderr)
            else:
                estimate = full_mi(X, Y, estimator=estimator, k=settings["k"], seed=_copy(full_ss),
                                   n_jobs=settings["n_jobs"], backend=settings["backend"])
                stderr = float("nan")
        except (ValueError, ArithmeticError, np.linalg.LinAlgError) as exc:
            # A data-dependent failure of one estimator (e.g. a singular covariance to whiten)
            # must not stop a long grid: the cell gets NaN and the message goes to config.json.
            estimate = stderr = float("nan")
            error = f"{type(exc).__name__}: {exc}"
        row = {
            "model": group.model, "d": group.d, "mi": group.mi, "run": group.run,
            "estimator": estimator, "sliced": bool(sliced), "estimate": estimate, "stderr": stderr,
            "exact_mi": exact_mi, "exact_smi": exact_smi, "seed": seed,
            "wall_s": time.perf_counter() - wall0, "cpu_s": time.process_time() - cpu0,
        }
        if error is not None:
            row["error"] = error
        yield row


def compute_group(group: SampleGroup, variants: Sequence[tuple[str, bool]],
                  settings: dict[str, Any]) -> list[dict[str, Any]]:
    """:func:`iter_group` as a list: the unit of work of a Dask task."""
    return list(iter_group(group, variants, settings))


# --------------------------------------------------------------------------------------
# running the grid
# --------------------------------------------------------------------------------------
@dataclass
class ExperimentResult:
    """What :func:`run_experiment` did.

    Attributes
    ----------
    out_dir : Path
    rows : list of dict
        Every finished row of the grid, in grid order.
    summary : list of dict
        Correlation and error per (model, estimator, sliced, d) (empty until complete).
    computed, skipped, remaining : int
        Cells computed by this call, found already done, and still to do.
    seconds : float
        Wall time of this call.
    files : list of Path
        Files written (figures, tables).
    """

    out_dir: Path
    rows: list = field(default_factory=list)
    summary: list = field(default_factory=list)
    computed: int = 0
    skipped: int = 0
    remaining: int = 0
    seconds: float = 0.0
    files: list = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """True when every cell of the grid has a result."""
        return self.remaining == 0


def run_experiment(
    config: SyntheticConfig,
    out_dir: str | os.PathLike,
    *,
    client: Any = None,
    max_cells: Optional[int] = None,
    processes: Optional[int] = None,
    progress: Optional[bool] = None,
    plots: bool = True,
    overwrite: bool = False,
    warm_up: Optional[bool] = None,
) -> ExperimentResult:
    """Run (or resume) the grid of ``config`` into ``out_dir``.

    Parameters
    ----------
    config : SyntheticConfig
    out_dir : path
        Created if needed.  Finished cells found in ``results.csv`` are skipped.
    client : dask.distributed.Client, optional
        Submit the sample groups as tasks to this cluster (dask is imported only then).
    max_cells : int, optional
        Compute at most this many new cells, then stop (the rest is left for a rerun).
    processes : int, optional
        Run the sample groups in a local pool of this many processes (spawned; each pays the
        kernels' compilation once) instead of in sequence.  Combine with ``n_jobs=1``.
    progress : bool, optional
        tqdm bar with cells done, elapsed time and ETA (default: only on a terminal).
    plots : bool, default True
        When the grid is complete, write the summary tables and the figures.
    overwrite : bool, default False
        Discard results of an earlier run with other parameters instead of refusing.
    warm_up : bool, optional
        Before the cells, compile the Numba kernels they need in one process per core at
        once, on tiny samples (default: on more than one core, with the Numba backend and
        its on-disk cache; with ``client`` only for a ``LocalCluster``).  It shortens a run on an
        empty cache and costs little on a warm one (docs/architecture.md); results are the
        same either way.

    Returns
    -------
    ExperimentResult

    Examples
    --------
    >>> import tempfile
    >>> cfg = SyntheticConfig(dims=(2,), mi_values=(0.5, 1.5), n_samples=200, n_projections=16,
    ...                       estimators=("ksg",))
    >>> out = tempfile.mkdtemp()
    >>> first = run_experiment(cfg, out, max_cells=1, plots=False, progress=False)
    >>> first.computed, first.remaining
    (1, 3)
    >>> second = run_experiment(cfg, out, plots=False, progress=False)
    >>> second.skipped, second.computed, second.complete
    (1, 3, True)
    """
    _check_run_arguments(config, client=client, max_cells=max_cells, processes=processes)
    t0 = time.perf_counter()
    out = Path(out_dir)
    results_path, config_path = _prepare_directory(out, config, overwrite=overwrite)

    cells = grid_cells(config)
    existing = {row_key(row): row for row in repair_results(results_path)}
    pending = [cell for cell in cells if cell.key not in existing]
    skipped = len(cells) - len(pending)
    todo = pending if max_cells is None else pending[:max_cells]

    meta = _start_record(config, cells, config_path, client=client, processes=processes)
    write_json(config_path, meta)
    errors: list[dict[str, Any]] = []
    computed = _compute_cells(todo, config.to_dict(), results_path, existing, errors, client=client,
                              processes=processes, progress=progress, warm_up=warm_up)

    result = _gather(cells, existing, out, results_path, plots=plots, computed=computed, skipped=skipped)
    result.seconds = time.perf_counter() - t0
    if errors:
        warnings.warn(f"{len(errors)} cell(s) failed and were recorded as NaN; see {config_path} "
                      f"(first: {errors[0]['error']})", RuntimeWarning, stacklevel=2)
    _finish_record(meta, result, errors, config_path)
    return result


def _check_run_arguments(config: Any, *, client: Any, max_cells: Any, processes: Any) -> None:
    if not isinstance(config, SyntheticConfig):
        raise TypeError(f"config must be a SyntheticConfig, got {type(config).__name__}")
    if max_cells is not None and (isinstance(max_cells, bool) or not isinstance(max_cells, int) or max_cells < 0):
        raise ValueError(f"max_cells must be a non-negative integer or None, got {max_cells!r}")
    if processes is not None and (isinstance(processes, bool) or not isinstance(processes, int) or processes < 1):
        raise ValueError(f"processes must be a positive integer or None, got {processes!r}")
    if processes is not None and processes > 1 and client is not None:
        raise ValueError("use either client= (Dask) or processes= (local pool), not both")


def _prepare_directory(out: Path, config: SyntheticConfig, *, overwrite: bool) -> tuple[Path, Path]:
    """Create ``out`` and check its results can be resumed; return the results and config paths."""
    out.mkdir(parents=True, exist_ok=True)
    results_path, config_path = out / "results.csv", out / "config.json"
    if overwrite:
        for path in (results_path, config_path):
            if path.exists():
                path.unlink()
    check_resumable(config_path, config)
    return results_path, config_path


def _utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _start_record(config: SyntheticConfig, cells: Sequence[Cell], config_path: Path, *, client: Any,
                  processes: Optional[int]) -> dict[str, Any]:
    """The ``config.json`` of a starting run, keeping the history and cell errors of earlier ones."""
    meta: dict[str, Any] = {
        "config": config.to_dict(),
        "figure_cells": len(cells),
        "mi_below_model_minimum": dropped_mi(config),
        "scheduler": describe_client(client) if client is not None else (
            {"local_processes": processes} if processes and processes > 1 else "local, cells in sequence"),
        "environment": environment(config),
        "started_utc": _utc_now(),
        "status": "running",
    }
    if config_path.exists():
        try:
            previous = json.loads(config_path.read_text())
        except ValueError:
            previous = {}
        meta["history"] = previous.get("history", [])
        if previous.get("cell_errors"):
            meta["cell_errors"] = previous["cell_errors"]
    return meta


def _compute_cells(todo: Sequence[Cell], settings: dict[str, Any], results_path: Path,
                   existing: dict[tuple, dict[str, Any]], errors: list[dict[str, Any]], *, client: Any,
                   processes: Optional[int], progress: Optional[bool], warm_up: Optional[bool]) -> int:
    """Compute ``todo``, appending each row to ``results_path`` and ``existing``; return how many.

    A failed cell's message goes to ``errors`` (its row, with a NaN estimate, is kept).
    """
    writer = ResultWriter(results_path)
    bar = runners.progress_bar(len(todo), progress)
    computed = 0

    def sink(row: dict[str, Any]) -> None:
        nonlocal computed
        if "error" in row:
            errors.append({**{k: row[k] for k in ("model", "d", "mi", "run", "estimator", "sliced")},
                           "error": row.pop("error")})
        writer.write(row)
        existing[row_key(row)] = row
        computed += 1
        if bar is not None:
            bar.update(1)

    try:
        plan = plan_groups(todo)
        warm_processes = runners.warm_up_processes(settings, client, warm_up) if plan else 0
        if warm_processes:
            if bar is not None:
                bar.set_description(f"synthetic (compiling kernels in {warm_processes} processes)")
            runners.warm_up_kernels(plan, settings, warm_processes, task=compute_group)
            if bar is not None:
                bar.set_description("synthetic")
        runners.execute(plan, settings, sink, rows=iter_group, task=compute_group, client=client,
                        processes=processes)
    finally:
        writer.close()
        if bar is not None:
            bar.close()
    return computed


def _gather(cells: Sequence[Cell], existing: dict[tuple, dict[str, Any]], out: Path, results_path: Path, *,
            plots: bool, computed: int, skipped: int) -> ExperimentResult:
    """The result of the run; a complete grid is rewritten in grid order and summarized."""
    order = {cell.key: i for i, cell in enumerate(cells)}
    in_grid = sorted((row for key, row in existing.items() if key in order), key=lambda r: order[row_key(r)])
    others = sorted((row for key, row in existing.items() if key not in order), key=sort_key)
    remaining = len(cells) - len(in_grid)
    result = ExperimentResult(out_dir=out, rows=in_grid, computed=computed, skipped=skipped, remaining=remaining)
    if remaining == 0:
        write_sorted(results_path, in_grid + others)
        result.summary = summarize(in_grid)
        result.files = write_outputs(in_grid, result.summary, out, plots=plots)
    return result


def _finish_record(meta: dict[str, Any], result: ExperimentResult, errors: list[dict[str, Any]],
                   config_path: Path) -> None:
    """Write the final ``config.json``: status, counts, timing, cell errors and the history entry."""
    meta["environment"].update(threading_layer())
    if errors:
        meta["cell_errors"] = meta.get("cell_errors", []) + errors
    meta.update(status="complete" if result.complete else "partial", finished_utc=_utc_now(),
                computed=result.computed, skipped=result.skipped, remaining=result.remaining,
                seconds=result.seconds)
    meta.setdefault("history", []).append(
        {k: meta[k] for k in ("started_utc", "finished_utc", "computed", "seconds", "scheduler")})
    write_json(config_path, meta)
