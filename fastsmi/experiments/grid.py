"""The grid of a synthetic experiment: cells, sample groups and their seeds.

A *cell* is one estimate ``(model, d, mi, run, estimator, sliced)``; the cells of one
``(model, d, mi, run)`` form a *sample group*, whose samples are drawn once from
:func:`cell_seed` and shared by every estimator of the group.

Examples
--------
>>> cells = grid_cells(SyntheticConfig(dims=(2,), mi_values=(1.0,), estimators=("ksg",)))
>>> [(c.estimator, c.sliced) for c in cells]
[('ksg', True), ('ksg', False)]
>>> plan_groups(cells)[0][0]
SampleGroup(model='gaussian', d=2, mi=1.0, run=0)
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .config import SyntheticConfig
from .models import make_model

__all__ = ["Cell", "Plan", "SampleGroup", "cell_seed", "dropped_mi", "grid_cells", "model_options", "plan_groups"]


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
        make_model(model, d, mi, **model_options(config, model))
    except ValueError:
        return False
    return True


def model_options(config: SyntheticConfig, model: str) -> dict[str, float]:
    """Keyword options of :func:`~fastsmi.experiments.models.make_model` for ``model``."""
    return {"dof": config.dof} if model == "student_t" else {}


def dropped_mi(config: SyntheticConfig) -> dict[str, list[float]]:
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



#: The work of a run: each sample group with the ``(estimator, sliced)`` variants to compute on it.
Plan = list[tuple[SampleGroup, list[tuple[str, bool]]]]


def plan_groups(cells: Sequence[Cell]) -> Plan:
    """Group ``cells`` by sample group, keeping the order of their first appearance."""
    groups: dict[SampleGroup, list[tuple[str, bool]]] = {}
    for cell in cells:
        groups.setdefault(cell.group, []).append((cell.estimator, cell.sliced))
    return list(groups.items())
