"""What the Beyond Normal scripts share: the data folder, file names and task families.

This module imports only the standard library, so that both interpreters use it:
the benchmark's own virtual environment (``generate.py``, ``bmi_estimates.py``)
and the project's (``run.py``).
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

#: Where the samples go unless a folder is given: outside the repository, so they are never committed.
DEFAULT_DATA = Path(os.environ.get("FASTSMI_BEYOND_NORMAL", Path.home() / ".cache" / "fastsmi" / "beyond_normal"))

SIZES = (1000, 5000, 10000)
SEEDS = (0, 1, 2)

#: bmi's own estimates, written by ``bmi_estimates.py`` next to the samples.
BMI_CSV = "bmi_estimates.csv"


def sample_name(task_id: str, n: int, seed: int) -> str:
    """File name of one sample: the task id made safe for a path, n and seed."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in task_id)
    return f"{safe}__n{n}__s{seed}.npz"


def data_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data", nargs="?", type=Path, default=DEFAULT_DATA,
                        help=f"folder of the .npz samples (default: {DEFAULT_DATA}, or $FASTSMI_BEYOND_NORMAL)")


def int_list(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v]
