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

import csv
import dataclasses
import json
import math
import os
import platform
import sys
import time
import warnings
import zlib
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Optional, Sequence

import numpy as np

from .models import MODELS, make_model

__all__ = [
    "COLUMNS",
    "ESTIMATORS",
    "FIG1_DIMS",
    "FIG2_DIMS",
    "KINDS",
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

#: Figure 1 of the seed: dimensions, one run.
FIG1_DIMS = (1, 2, 6, 10)
#: Figure 2 of the seed: dimensions, ten runs.
FIG2_DIMS = (1, 2, 5, 6, 8, 10, 20, 30, 40, 50, 75, 100)
#: The seed's MI grid, ``linspace(0, 4, 21)`` nats.
SEED_MI_VALUES = tuple(float(v) for v in np.linspace(0.0, 4.0, 21))
#: Estimators run sliced and on the full vectors: the seed's whitened 1-NN KL and KSG.
ESTIMATORS = ("seed", "ksg")
#: ``"sliced"``: :func:`fastsmi.smi`; ``"full"``: the estimator on the full d-dim vectors.
KINDS = ("sliced", "full")

#: Columns of ``results.csv``, in order.
COLUMNS = (
    "model", "d", "mi", "run", "estimator", "sliced", "estimate", "stderr",
    "exact_mi", "exact_smi", "seed", "wall_s", "cpu_s",
)
#: Parameters that change the numbers: a results directory only resumes when they match.
RESULT_PARAMS = ("n_samples", "n_projections", "k", "seed", "dof", "method")

_FULL_ESTIMATORS = ("seed", "ksg")
_SLICED_ESTIMATORS = ("ksg", "ksg2", "kl", "wkl", "seed")
_QUICK = {
    "fig1": dict(dims=FIG1_DIMS, mi_values=tuple(float(v) for v in np.linspace(0.0, 4.0, 9)),
                 runs=1, n_samples=1000, n_projections=128),
    "fig2": dict(dims=(1, 2, 10, 30), mi_values=tuple(float(v) for v in np.linspace(0.0, 4.0, 6)),
                 runs=2, n_samples=600, n_projections=96),
}
_FIGURES = {"fig1": dict(dims=FIG1_DIMS, runs=1), "fig2": dict(dims=FIG2_DIMS, runs=10)}


# --------------------------------------------------------------------------------------
# configuration
# --------------------------------------------------------------------------------------
def _tuple_of(values: Any, cast: Callable[[Any], Any], name: str) -> tuple:
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise TypeError(f"{name} must be a sequence (e.g. a tuple), got {values!r}")
    out = tuple(cast(v) for v in values)
    if not out:
        raise ValueError(f"{name} must not be empty")
    if len(set(out)) != len(out):
        raise ValueError(f"{name} has duplicates: {out!r}; list every value once")
    return out


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class SyntheticConfig:
    """Parameters of a synthetic experiment; the defaults are the seed's Figure 1.

    Parameters
    ----------
    models : tuple of str
        Model names from :data:`fastsmi.experiments.models.MODELS`.
    dims : tuple of int
        Dimensions ``d`` of X and of Y.
    mi_values : tuple of float
        True MI values in nats (the grid the estimates are correlated with).  For models
        with a minimum MI (the Student-t), smaller values are skipped.
    runs : int
        Independent repetitions (each redraws rotations and samples).
    n_samples, n_projections, k : int
        Samples ``n``, slices ``m`` and neighbours ``k``.
    estimators : tuple of str
        Estimators, each run sliced and/or full (see ``kinds``).  Full-dimensional runs
        support ``"seed"`` and ``"ksg"``.
    kinds : tuple of str
        ``"sliced"`` and/or ``"full"``.
    seed : int
        Base seed; every sample group's seed derives from it (:func:`cell_seed`).
    dof : float
        Degrees of freedom of the ``"student_t"`` model.
    method : {"sphere", "orthonormal"}
        How :func:`fastsmi.smi` draws directions.
    backend : str
        Compute backend for :func:`fastsmi.smi` (not a result parameter).
    n_jobs : int or None
        Threads per cell (None: all cores).

    Examples
    --------
    >>> SyntheticConfig.preset("fig2").dims[-1]
    100
    >>> SyntheticConfig.preset("fig1", quick=True, runs=3).runs
    3
    """

    models: tuple = ("gaussian",)
    dims: tuple = FIG1_DIMS
    mi_values: tuple = SEED_MI_VALUES
    runs: int = 1
    n_samples: int = 2000
    n_projections: int = 1000
    k: int = 5
    estimators: tuple = ESTIMATORS
    kinds: tuple = KINDS
    seed: int = 0
    dof: float = 5.0
    method: str = "sphere"
    backend: str = "auto"
    n_jobs: Optional[int] = None

    def __post_init__(self) -> None:
        models = _tuple_of(self.models, str, "models")
        for name in models:
            if name not in MODELS:
                raise ValueError(f"unknown model {name!r}; choose from {sorted(MODELS)}")
        dims = _tuple_of(self.dims, lambda v: _positive_int(v, "every d"), "dims")
        mi_values = _tuple_of(self.mi_values, float, "mi_values")
        if any(not math.isfinite(v) or v < 0 for v in mi_values):
            raise ValueError(f"mi_values must be finite and >= 0 nats, got {mi_values!r}")
        estimators = _tuple_of(self.estimators, str, "estimators")
        kinds = _tuple_of(self.kinds, str, "kinds")
        for kind in kinds:
            if kind not in KINDS:
                raise ValueError(f"unknown kind {kind!r}; use 'sliced' and/or 'full'")
        for name in estimators:
            for kind, allowed in (("sliced", _SLICED_ESTIMATORS), ("full", _FULL_ESTIMATORS)):
                if kind in kinds and name not in allowed:
                    raise ValueError(
                        f"estimator {name!r} cannot run {kind}; {kind} runs support {list(allowed)}"
                    )
        runs = _positive_int(self.runs, "runs")
        n = _positive_int(self.n_samples, "n_samples")
        m = _positive_int(self.n_projections, "n_projections")
        k = _positive_int(self.k, "k")
        if k >= n:
            raise ValueError(f"k={k} must be smaller than n_samples={n}")
        seed = self.seed
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        if self.method not in ("sphere", "orthonormal"):
            raise ValueError(f"method must be 'sphere' or 'orthonormal', got {self.method!r}")
        if self.n_jobs is not None:
            _positive_int(self.n_jobs, "n_jobs")
        for name, value in (("models", models), ("dims", dims), ("mi_values", mi_values),
                            ("estimators", estimators), ("kinds", kinds), ("runs", runs),
                            ("n_samples", n), ("n_projections", m), ("k", k), ("seed", int(seed)),
                            ("dof", float(self.dof))):
            object.__setattr__(self, name, value)

    @classmethod
    def preset(cls, figure: str, *, quick: bool = False, **overrides: Any) -> "SyntheticConfig":
        """The seed's ``"fig1"`` or ``"fig2"`` grid (or its ``quick`` version), with overrides.

        ``quick`` keeps every estimator variant but shrinks the grid, ``n`` and ``m`` so the
        run takes well under a minute on two cores.
        """
        if figure not in _FIGURES:
            raise ValueError(f"figure must be 'fig1' or 'fig2', got {figure!r}")
        params: dict[str, Any] = dict(_QUICK[figure] if quick else _FIGURES[figure])
        params.update({key: value for key, value in overrides.items() if value is not None})
        return cls(**params)

    def result_params(self) -> dict[str, Any]:
        """The parameters that change the numbers (:data:`RESULT_PARAMS`)."""
        return {name: getattr(self, name) for name in RESULT_PARAMS}

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field."""
        return {f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v)
                for f in dataclasses.fields(self)}


# --------------------------------------------------------------------------------------
# cells and seeds
# --------------------------------------------------------------------------------------
@dataclass(frozen=True, order=True)
class SampleGroup:
    """The cells sharing one draw of samples: ``(model, d, mi, run)``."""

    model: str
    d: int
    mi: float
    run: int


@dataclass(frozen=True)
class Cell:
    """One estimate of the grid."""

    model: str
    d: int
    mi: float
    run: int
    estimator: str
    sliced: bool

    @property
    def key(self) -> tuple:
        return (self.model, self.d, self.mi, self.run, self.estimator, self.sliced)

    @property
    def group(self) -> SampleGroup:
        return SampleGroup(self.model, self.d, self.mi, self.run)


def _model_code(name: str) -> int:
    """A stable integer for a model name (CRC-32; Python's ``hash`` is salted per process)."""
    return zlib.crc32(name.encode("utf-8"))


def cell_seed(base_seed: int, model: str, d: int, mi: float, run: int) -> int:
    """The 63-bit seed of a sample group, from ``SeedSequence(base_seed, spawn_key=...)``.

    The spawn key is ``(crc32(model), d, round(mi * 1e6), run)``: stable integer encodings,
    so the seed is the same in every process and on every machine.  With
    ``SeedSequence(seed).spawn(3)``, the samples are drawn from child 0, the sliced
    estimators' directions and jitter from child 1 (the same for every estimator, so they
    are paired) and the jitter of the 1-D full-vector path from child 2.

    Examples
    --------
    >>> cell_seed(0, "gaussian", 2, 1.0, 0) == cell_seed(0, "gaussian", 2, 1.0, 0)
    True
    >>> cell_seed(0, "gaussian", 2, 1.0, 0) != cell_seed(0, "gaussian", 2, 1.0, 1)
    True
    """
    key = (_model_code(model), int(d), int(round(float(mi) * 1_000_000)), int(run))
    ss = np.random.SeedSequence(int(base_seed), spawn_key=key)
    # 63 bits: a non-negative int64, which every CSV reader keeps exactly
    return int(ss.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


def _valid_mi(config: SyntheticConfig, model: str, d: int, mi: float) -> bool:
    try:
        make_model(model, d, mi, **_model_options(config, model))
    except ValueError:
        return False
    return True


def _model_options(config: SyntheticConfig, model: str) -> dict[str, float]:
    return {"dof": config.dof} if model == "student_t" else {}


def _dropped_mi(config: SyntheticConfig) -> dict[str, list[float]]:
    """MI values left out of the grid because a model cannot reach them, per ``model/d``."""
    out = {}
    for model in config.models:
        for d in config.dims:
            bad = [mi for mi in config.mi_values if not _valid_mi(config, model, d, mi)]
            if bad:
                out[f"{model}/d={d}"] = bad
    return out


def grid_cells(config: SyntheticConfig) -> list[Cell]:
    """Every cell of the grid, in the canonical order of the results table.

    Order: model, d, run, mi, estimator, kind (sliced first).  MI values below a model's
    minimum (the Student-t floor) are left out.

    Examples
    --------
    >>> cfg = SyntheticConfig(dims=(1, 2), mi_values=(0.0, 1.0), runs=2)
    >>> len(grid_cells(cfg))  # 2 dims x 2 runs x 2 MI x 2 estimators x 2 kinds
    32
    """
    cells = []
    for model in config.models:
        for d in config.dims:
            valid = [mi for mi in config.mi_values if _valid_mi(config, model, d, mi)]
            for run in range(config.runs):
                for mi in valid:
                    for estimator in config.estimators:
                        for kind in config.kinds:
                            cells.append(Cell(model, d, mi, run, estimator, kind == "sliced"))
    return cells


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
    import fastsmi

    if estimator not in _FULL_ESTIMATORS:
        raise ValueError(
            f"full-dimensional estimator must be one of {list(_FULL_ESTIMATORS)}, got {estimator!r}"
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


def iter_group(group: SampleGroup, variants: Sequence[tuple[str, bool]], settings: dict[str, Any]) -> Iterator[dict[str, Any]]:
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
    import fastsmi

    model = make_model(group.model, group.d, group.mi, **({"dof": settings["dof"]} if group.model == "student_t" else {}))
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


def compute_group(group: SampleGroup, variants: Sequence[tuple[str, bool]], settings: dict[str, Any]) -> list[dict[str, Any]]:
    """:func:`iter_group` as a list: the unit of work of a Dask task."""
    return list(iter_group(group, variants, settings))


# --------------------------------------------------------------------------------------
# the results file
# --------------------------------------------------------------------------------------
def _format(value: Any) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "True" if value else "False"
    if isinstance(value, float):
        return repr(value)  # shortest round-trip text
    return str(value)


_PARSERS: dict[str, Callable[[str], Any]] = {
    "model": str, "d": int, "mi": float, "run": int, "estimator": str,
    "sliced": lambda s: {"True": True, "False": False}[s],
    "estimate": float, "stderr": float, "exact_mi": float, "exact_smi": float,
    "seed": int, "wall_s": float, "cpu_s": float,
}


def _row_key(row: dict[str, Any]) -> tuple:
    return (row["model"], row["d"], row["mi"], row["run"], row["estimator"], row["sliced"])


def _parse_row(fields: list[str]) -> Optional[dict[str, Any]]:
    """A typed row, or ``None`` when the line is damaged (wrong field count, unparseable value)."""
    if len(fields) != len(COLUMNS):
        return None
    try:
        row = {name: _PARSERS[name](text) for name, text in zip(COLUMNS, fields)}
    except (KeyError, ValueError):
        return None
    if row["model"] not in MODELS or row["estimator"] not in _SLICED_ESTIMATORS + _FULL_ESTIMATORS:
        return None
    return row


def _read_results(path: Path) -> tuple[list[dict[str, Any]], list[tuple[int, str]], bool]:
    """Read ``results.csv`` without failing on damage.

    Returns the good rows in file order, the damaged lines as ``(line number, text)``, and
    whether the file needs rewriting (damaged lines, or a last line without its newline).
    A kill during a write leaves a cut last line, possibly followed by the newline of a
    later append; a cut row has too few fields or a value that does not parse (only a cut
    inside the last, timing, column can still parse), so it is dropped and its cell is
    computed again.  A header that is only the start of the expected one is a cut header.
    """
    data = path.read_bytes()
    if not data:
        return [], [], False
    text = data.decode("utf-8", errors="replace")
    lines = text.split("\n")
    rewrite = not text.endswith("\n")
    if lines[-1] == "":
        lines.pop()
    header = lines[0].rstrip("\r").split(",") if lines else []
    if tuple(header) != COLUMNS:
        expected = ",".join(COLUMNS)
        if len(lines) == 1 and expected.startswith(lines[0].rstrip("\r")):
            return [], [], True  # a cut header and nothing else
        raise ValueError(
            f"{path} has columns {header}, expected {list(COLUMNS)}; it was not written by this version "
            "of fastsmi: use a new output directory, or --overwrite (overwrite=True) to discard it"
        )
    rows: list[dict[str, Any]] = []
    damaged: list[tuple[int, str]] = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            rewrite = True
            continue
        try:
            row = _parse_row(next(csv.reader([line.rstrip("\r")])))
        except csv.Error:  # e.g. a NUL byte
            row = None
        if row is None:
            damaged.append((number, line))
        else:
            rows.append(row)
    return rows, damaged, rewrite or bool(damaged)


def _describe_damage(path: Path, damaged: list[tuple[int, str]]) -> str:
    numbers = ", ".join(str(n) for n, _ in damaged[:5]) + (", ..." if len(damaged) > 5 else "")
    return (f"{path}: {len(damaged)} damaged row(s) (line {numbers}: a cut or corrupted write) were dropped; "
            "their cells are computed again")


def load_results(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Read a ``results.csv`` into typed rows (later duplicates of a cell win).

    Damaged rows (a write cut by a kill, a corrupted line) are skipped with a
    :class:`RuntimeWarning`; the file itself is not changed.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "results.csv"
    >>> _ = p.write_text(",".join(COLUMNS) + "\\n")
    >>> load_results(p)
    []
    """
    path = Path(path)
    if not path.exists():
        return []
    good, damaged, _ = _read_results(path)
    if damaged:
        warnings.warn(_describe_damage(path, damaged), RuntimeWarning, stacklevel=2)
    rows: dict[tuple, dict[str, Any]] = {}
    for row in good:
        rows[_row_key(row)] = row
    return list(rows.values())


def _repair_results(path: Path) -> list[dict[str, Any]]:
    """Load ``results.csv`` for a resume, rewriting it without its damaged lines.

    The damaged lines are appended to ``results.csv.damaged`` (nothing is silently lost)
    and reported in a :class:`RuntimeWarning`; every good row is kept, in its order.
    """
    if not path.exists():
        return []
    good, damaged, rewrite = _read_results(path)
    if damaged:
        with open(path.with_name(path.name + ".damaged"), "a", encoding="utf-8") as fh:
            fh.writelines(line + "\n" for _, line in damaged)
        warnings.warn(_describe_damage(path, damaged) + f" (kept in {path.name}.damaged)", RuntimeWarning,
                      stacklevel=3)
    if rewrite:
        _write_sorted(path, good)
    rows: dict[tuple, dict[str, Any]] = {}
    for row in good:
        rows[_row_key(row)] = row
    return list(rows.values())


class _ResultWriter:
    """Append rows to ``results.csv``, flushed to disk one by one."""

    def __init__(self, path: Path) -> None:
        new = not path.exists() or path.stat().st_size == 0
        self._fh = open(path, "a", newline="")
        self._writer = csv.writer(self._fh, lineterminator="\n")
        if new:
            self._writer.writerow(COLUMNS)
            self._flush()

    def _flush(self) -> None:
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def write(self, row: dict[str, Any]) -> None:
        self._writer.writerow([_format(row[name]) for name in COLUMNS])
        self._flush()

    def close(self) -> None:
        self._fh.close()


def _write_sorted(path: Path, rows: list[dict[str, Any]]) -> None:
    tmp = path.with_suffix(".csv.tmp")
    with open(tmp, "w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(COLUMNS)
        for row in rows:
            writer.writerow([_format(row[name]) for name in COLUMNS])
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


# --------------------------------------------------------------------------------------
# environment and configuration file
# --------------------------------------------------------------------------------------
def _version(package: str) -> Optional[str]:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def environment(config: SyntheticConfig) -> dict[str, Any]:
    """Versions, backend and threads, for ``config.json`` (imports no optional package)."""
    import fastsmi

    info: dict[str, Any] = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "fastsmi": getattr(fastsmi, "__version__", None),
        "versions": {p: _version(p) for p in ("numpy", "scipy", "numba", "matplotlib", "tqdm", "dask", "distributed")},
        "env": {v: os.environ.get(v) for v in ("FASTSMI_BACKEND", "NUMBA_NUM_THREADS", "OMP_NUM_THREADS",
                                               "FASTSMI_SEARCH") if os.environ.get(v) is not None},
    }
    try:
        from .._backends import get_backend

        info["backend"] = get_backend(config.backend).NAME
    except Exception as exc:  # reported, not fatal: the cells will raise the real error
        info["backend"] = f"unavailable: {exc}"
    try:
        import numba

        info["numba_threads"] = numba.get_num_threads()
        info["numba_threading_layer"] = numba.config.THREADING_LAYER
    except Exception:  # numba absent: the Cython backend runs the slices
        info["numba_threads"] = None
    info["threads_per_cell"] = config.n_jobs if config.n_jobs is not None else os.cpu_count()
    return info


def _threading_layer() -> dict[str, Any]:
    """The Numba threading layer this process used (known only after a parallel call)."""
    try:
        import numba

        return {"numba_threading_layer": numba.threading_layer()}
    except Exception:  # no parallel region ran here (e.g. every cell ran on Dask workers)
        return {}


def _check_resumable(config_path: Path, config: SyntheticConfig) -> None:
    if not config_path.exists():
        return
    try:
        previous = json.loads(config_path.read_text())["config"]
    except (ValueError, KeyError):
        return
    current = config.result_params()
    diffs = {k: (previous.get(k), v) for k, v in current.items() if previous.get(k) != v}
    if diffs:
        detail = ", ".join(f"{k}: {old!r} there, {new!r} now" for k, (old, new) in diffs.items())
        raise ValueError(
            f"{config_path.parent} holds results computed with other parameters ({detail}); "
            "use another output directory, or overwrite=True (--overwrite) to discard them"
        )


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
    os.replace(tmp, path)


# --------------------------------------------------------------------------------------
# the runner
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


def _progress_bar(total: int, enabled: Optional[bool]):
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled or total == 0:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm is optional
        return None
    return tqdm(total=total, unit="cell", desc="synthetic", dynamic_ncols=True)


def _plan_groups(cells: Sequence[Cell]) -> list[tuple[SampleGroup, list[tuple[str, bool]]]]:
    groups: dict[SampleGroup, list[tuple[str, bool]]] = {}
    for cell in cells:
        groups.setdefault(cell.group, []).append((cell.estimator, cell.sliced))
    return list(groups.items())


#: Compile weights of the warm-up tasks (see :func:`_warm_up`): the sliced KL-type kernels
#: take longest to compile, then the sliced KSG ones, then the full-dimensional searches;
#: a helper process starts _WARM_HEAD_START behind (spawn and imports).  On the quick
#: Figure 1 grid this keeps the full-vector tasks here and gives the helper sliced KSG: the
#: warm-up took 28.8 and 34.0 s, against 37.3 s with the helper also given a full task.
_WARM_WEIGHTS = {"sliced_kl": 3.0, "sliced_ksg": 2.5, "full": 1.0}
_WARM_HEAD_START = 1.5


def warm_variant(jobs: Sequence[tuple[SampleGroup, dict[str, Any]]], variant: tuple[str, bool]) -> None:
    """Compute one ``(estimator, sliced)`` variant on tiny samples, discarding the rows.

    A warm-up task of :func:`_warm_up`: it calls the same kernels as the grid's cells,
    with the same argument types, so they are compiled (or loaded) once here.
    """
    for group, settings in jobs:
        compute_group(group, [variant], settings)


def _warm_up(plan, settings: dict[str, Any], processes: int) -> None:
    """Compile the kernels of ``plan`` in ``processes`` processes at once, before the cells run.

    One task per ``(estimator, sliced)`` variant computes it on every dimension of the
    plan with tiny samples (enough points to whiten the full vectors), so each variant's
    kernels are compiled in one process only; the others load them from Numba's cache.
    """
    from .._warmup import warm_up

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
        tasks.append((_WARM_WEIGHTS[kind], warm_variant, (jobs, (estimator, sliced))))
    warm_up(tasks, processes=processes, head_start=_WARM_HEAD_START)


def _local_cluster(client: Any) -> bool:
    """Whether ``client`` runs a ``LocalCluster`` of this machine, whose workers share this process's Numba cache."""
    return type(getattr(client, "cluster", None)).__name__ == "LocalCluster"


def _warm_up_processes(settings: dict[str, Any], client: Any, warm: Optional[bool]) -> int:
    """Processes for the warm-up compile: 0 (none) with a remote Dask cluster, the Cython backend, no Numba
    cache or one core.

    A ``LocalCluster``'s workers share this machine's cache, so the warm-up runs for them too:
    they then load the kernels instead of compiling them side by side, which Numba's cache
    does not make safe (two processes saving entries of one function at once).
    """
    from .._threads import usable_cores
    from .._warmup import numba_cache_enabled

    remote = client is not None and not _local_cluster(client)
    if warm is False or remote or settings["backend"] == "cython" or not numba_cache_enabled():
        return 0
    cores = usable_cores()
    return cores if cores > 1 or warm else 0


def _run_local(plan, settings, sink: Callable[[dict[str, Any]], None]) -> None:
    for group, variants in plan:
        for row in iter_group(group, variants, settings):
            sink(row)


def _run_pool(plan, settings, sink: Callable[[dict[str, Any]], None], processes: int) -> None:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    order = sorted(plan, key=lambda item: -item[0].d)
    # "spawn": forking a process whose OpenMP runtime is already running can deadlock.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=processes, mp_context=context) as pool:
        futures = [pool.submit(compute_group, group, variants, settings) for group, variants in order]
        try:
            for future in as_completed(futures):
                for row in future.result():
                    sink(row)
        finally:
            for future in futures:
                future.cancel()


def _run_dask(plan, settings, sink: Callable[[dict[str, Any]], None], client: Any) -> None:
    from distributed import as_completed

    # Largest dimensions first: they take longest, so the cluster drains evenly.
    order = sorted(plan, key=lambda item: -item[0].d)
    futures = [client.submit(compute_group, group, variants, settings, pure=False) for group, variants in order]
    try:
        for future in as_completed(futures):
            for row in future.result():
                sink(row)
    finally:
        for future in futures:
            future.cancel()


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
        its on-disk cache; with ``client`` only for a ``LocalCluster``).  On an empty cache, 2 cores, the quick
        Figure 1 run took about 40 s with it against 44-48 s without; on a warm cache it
        costs a fraction of a second.  Results are the same either way.

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
    if not isinstance(config, SyntheticConfig):
        raise TypeError(f"config must be a SyntheticConfig, got {type(config).__name__}")
    if max_cells is not None and (isinstance(max_cells, bool) or not isinstance(max_cells, int) or max_cells < 0):
        raise ValueError(f"max_cells must be a non-negative integer or None, got {max_cells!r}")
    if processes is not None and (isinstance(processes, bool) or not isinstance(processes, int) or processes < 1):
        raise ValueError(f"processes must be a positive integer or None, got {processes!r}")
    if processes is not None and processes > 1 and client is not None:
        raise ValueError("use either client= (Dask) or processes= (local pool), not both")
    t0 = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    results_path, config_path = out / "results.csv", out / "config.json"
    if overwrite:
        for path in (results_path, config_path):
            if path.exists():
                path.unlink()
    _check_resumable(config_path, config)

    cells = grid_cells(config)
    existing = {_row_key(row): row for row in _repair_results(results_path)}
    pending = [cell for cell in cells if cell.key not in existing]
    skipped = len(cells) - len(pending)
    todo = pending if max_cells is None else pending[:max_cells]

    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    meta: dict[str, Any] = {
        "config": config.to_dict(),
        "figure_cells": len(cells),
        "mi_below_model_minimum": _dropped_mi(config),
        "scheduler": _describe_client(client) if client is not None else (
            {"local_processes": processes} if processes and processes > 1 else "local, cells in sequence"),
        "environment": environment(config),
        "started_utc": started,
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
    _write_json(config_path, meta)

    settings = config.to_dict()
    writer = _ResultWriter(results_path)
    bar = _progress_bar(len(todo), progress)
    computed = 0

    errors: list[dict[str, Any]] = []

    def sink(row: dict[str, Any]) -> None:
        nonlocal computed
        if "error" in row:
            errors.append({**{k: row[k] for k in ("model", "d", "mi", "run", "estimator", "sliced")},
                           "error": row.pop("error")})
        writer.write(row)
        existing[_row_key(row)] = row
        computed += 1
        if bar is not None:
            bar.update(1)

    try:
        plan = _plan_groups(todo)
        warm_processes = _warm_up_processes(settings, client, warm_up) if plan else 0
        if warm_processes:
            if bar is not None:
                bar.set_description(f"synthetic (compiling kernels in {warm_processes} processes)")
            _warm_up(plan, settings, warm_processes)
            if bar is not None:
                bar.set_description("synthetic")
        if client is not None:
            _run_dask(plan, settings, sink, client)
        elif processes is not None and processes > 1:
            _run_pool(plan, settings, sink, processes)
        else:
            _run_local(plan, settings, sink)
    finally:
        writer.close()
        if bar is not None:
            bar.close()

    order = {cell.key: i for i, cell in enumerate(cells)}
    in_grid = sorted((row for key, row in existing.items() if key in order), key=lambda r: order[_row_key(r)])
    others = sorted((row for key, row in existing.items() if key not in order), key=_sort_key)
    remaining = len(cells) - len(in_grid)
    result = ExperimentResult(out_dir=out, rows=in_grid, computed=computed, skipped=skipped, remaining=remaining)
    if remaining == 0:
        _write_sorted(results_path, in_grid + others)
        from .plotting import summarize, write_outputs

        result.summary = summarize(in_grid)
        result.files = write_outputs(in_grid, result.summary, out, plots=plots)
    result.seconds = time.perf_counter() - t0
    meta["environment"].update(_threading_layer())
    if errors:
        meta["cell_errors"] = meta.get("cell_errors", []) + errors
        warnings.warn(f"{len(errors)} cell(s) failed and were recorded as NaN; see {config_path} "
                      f"(first: {errors[0]['error']})", RuntimeWarning, stacklevel=2)
    meta.update(status="complete" if remaining == 0 else "partial", finished_utc=time.strftime(
        "%Y-%m-%dT%H:%M:%SZ", time.gmtime()), computed=computed, skipped=skipped, remaining=remaining,
        seconds=result.seconds)
    meta.setdefault("history", []).append(
        {k: meta[k] for k in ("started_utc", "finished_utc", "computed", "seconds", "scheduler")})
    _write_json(config_path, meta)
    return result


def compare_runs(dir_a: str | os.PathLike, dir_b: str | os.PathLike) -> dict[str, Any]:
    """Compare two result directories of the same grid, e.g. a local and a Dask run.

    Returns
    -------
    dict
        ``cells`` (in both), ``only_a``/``only_b`` (in one only), ``identical`` (cells whose
        estimate and stderr are bit-identical, NaN equal to NaN), ``max_abs_diff`` and the
        summed cell wall seconds and total run seconds (``config.json``) of each directory.

    Examples
    --------
    >>> import tempfile
    >>> cfg = SyntheticConfig(dims=(2,), mi_values=(1.0,), n_samples=100, kinds=("full",), estimators=("ksg",))
    >>> a, b = tempfile.mkdtemp(), tempfile.mkdtemp()
    >>> _ = run_experiment(cfg, a, plots=False, progress=False)
    >>> _ = run_experiment(cfg, b, plots=False, progress=False)
    >>> compare_runs(a, b)["identical"]
    1
    """
    rows_a = {_row_key(r): r for r in load_results(Path(dir_a) / "results.csv")}
    rows_b = {_row_key(r): r for r in load_results(Path(dir_b) / "results.csv")}
    common = rows_a.keys() & rows_b.keys()

    def same(x: float, y: float) -> bool:
        return x == y or (math.isnan(x) and math.isnan(y))

    identical = sum(all(same(rows_a[k][c], rows_b[k][c]) for c in ("estimate", "stderr")) for k in common)
    diffs = [abs(rows_a[k]["estimate"] - rows_b[k]["estimate"]) for k in common]
    diffs = [d for d in diffs if math.isfinite(d)]

    def total_seconds(directory: str | os.PathLike) -> Optional[float]:
        try:
            history = json.loads((Path(directory) / "config.json").read_text()).get("history", [])
        except (OSError, ValueError):
            return None
        return float(sum(h.get("seconds", 0.0) for h in history))

    return {
        "cells": len(common), "only_a": len(rows_a.keys() - common), "only_b": len(rows_b.keys() - common),
        "identical": identical, "max_abs_diff": max(diffs, default=0.0),
        "cell_wall_s_a": sum(rows_a[k]["wall_s"] for k in common),
        "cell_wall_s_b": sum(rows_b[k]["wall_s"] for k in common),
        "run_s_a": total_seconds(dir_a), "run_s_b": total_seconds(dir_b),
    }


def _sort_key(row: dict[str, Any]) -> tuple:
    return (row["model"], row["d"], row["run"], row["mi"], row["estimator"], not row["sliced"])


def _describe_client(client: Any) -> Optional[dict[str, Any]]:
    if client is None:
        return None
    try:
        info = client.scheduler_info()
        workers = info.get("workers", {})
        return {"address": info.get("address"), "workers": len(workers),
                "threads": sum(w.get("nthreads", 0) for w in workers.values())}
    except Exception as exc:  # pragma: no cover - diagnostic only
        return {"error": str(exc)}
