"""Compare two result directories of one synthetic grid (e.g. a local run and a Dask run)."""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Optional

from .results import load_results, row_key

__all__ = ["compare_runs"]


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
    >>> from fastsmi.experiments.synthetic import SyntheticConfig, run_experiment
    >>> cfg = SyntheticConfig(dims=(2,), mi_values=(1.0,), n_samples=100, kinds=("full",), estimators=("ksg",))
    >>> a, b = tempfile.mkdtemp(), tempfile.mkdtemp()
    >>> _ = run_experiment(cfg, a, plots=False, progress=False)
    >>> _ = run_experiment(cfg, b, plots=False, progress=False)
    >>> compare_runs(a, b)["identical"]
    1
    """
    rows_a = {row_key(r): r for r in load_results(Path(dir_a) / "results.csv")}
    rows_b = {row_key(r): r for r in load_results(Path(dir_b) / "results.csv")}
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
