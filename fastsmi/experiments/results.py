"""The files of a synthetic run: ``results.csv`` (appended row by row, resumable) and ``config.json``.

Every finished cell is one row of :data:`COLUMNS`, written and flushed at once, so a run
killed at any moment loses at most the row being written.  Reading tolerates that damage:
a cut or corrupted line is dropped (and kept aside in ``results.csv.damaged``) and its
cell is computed again by the next run.

Examples
--------
>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "results.csv"
>>> row = dict(model="gaussian", d=2, mi=1.0, run=0, estimator="ksg", sliced=True, estimate=0.5,
...            stderr=0.01, exact_mi=1.0, exact_smi=0.4, seed=7, wall_s=0.1, cpu_s=0.1)
>>> writer = ResultWriter(path)
>>> writer.write(row)
>>> writer.close()
>>> load_results(path) == [row]
True
"""
from __future__ import annotations

import csv
import json
import os
import warnings
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from .config import FULL_ESTIMATORS, SLICED_ESTIMATORS, SyntheticConfig
from .models import MODELS

__all__ = [
    "COLUMNS",
    "ResultWriter",
    "check_resumable",
    "load_results",
    "repair_results",
    "row_key",
    "sort_key",
    "write_json",
    "write_sorted",
]

#: Columns of ``results.csv``, in order.
COLUMNS = (
    "model", "d", "mi", "run", "estimator", "sliced", "estimate", "stderr",
    "exact_mi", "exact_smi", "seed", "wall_s", "cpu_s",
)


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


def row_key(row: dict[str, Any]) -> tuple:
    """The cell of a row: ``(model, d, mi, run, estimator, sliced)``."""
    return (row["model"], row["d"], row["mi"], row["run"], row["estimator"], row["sliced"])


def _parse_row(fields: list[str]) -> Optional[dict[str, Any]]:
    """A typed row, or ``None`` when the line is damaged (wrong field count, unparseable value)."""
    if len(fields) != len(COLUMNS):
        return None
    try:
        row = {name: _PARSERS[name](text) for name, text in zip(COLUMNS, fields)}
    except (KeyError, ValueError):
        return None
    if row["model"] not in MODELS or row["estimator"] not in SLICED_ESTIMATORS + FULL_ESTIMATORS:
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
        rows[row_key(row)] = row
    return list(rows.values())


def repair_results(path: Path) -> list[dict[str, Any]]:
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
        write_sorted(path, good)
    rows: dict[tuple, dict[str, Any]] = {}
    for row in good:
        rows[row_key(row)] = row
    return list(rows.values())


class ResultWriter:
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


def write_sorted(path: Path, rows: list[dict[str, Any]]) -> None:
    """Replace ``path`` by a file of ``rows`` in the given order (written aside, then renamed)."""
    tmp = path.with_suffix(".csv.tmp")
    with open(tmp, "w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(COLUMNS)
        for row in rows:
            writer.writerow([_format(row[name]) for name in COLUMNS])
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)



def check_resumable(config_path: Path, config: SyntheticConfig) -> None:
    """Refuse (ValueError) to add cells of ``config`` to results computed with other result parameters."""
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


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Replace ``path`` by the JSON of ``data`` (written aside, then renamed)."""
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
    os.replace(tmp, path)


def sort_key(row: dict[str, Any]) -> tuple:
    """Grid order of a row outside the current grid (model, d, run, mi, estimator, sliced first)."""
    return (row["model"], row["d"], row["run"], row["mi"], row["estimator"], not row["sliced"])
