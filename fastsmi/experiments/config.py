"""Parameters of a synthetic experiment: the seed's figure grids and :class:`SyntheticConfig`.

The first layer of :mod:`fastsmi.experiments.synthetic`: plain, validated data that every
other layer (grid, results, runners) reads and that travels to worker processes as a dict.

Examples
--------
>>> SyntheticConfig(dims=(1, 2), runs=2).result_params()["n_samples"]
2000
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Optional

import numpy as np

from .._validation import ESTIMATORS as _CORE_ESTIMATORS
from ..projections import METHODS
from .models import MODELS

__all__ = [
    "ESTIMATORS",
    "FIG1_DIMS",
    "FIG2_DIMS",
    "FULL_ESTIMATORS",
    "FIGURES",
    "KINDS",
    "METHODS",
    "RESULT_PARAMS",
    "SEED_MI_VALUES",
    "SLICED_ESTIMATORS",
    "SyntheticConfig",
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

#: Parameters that change the numbers: a results directory only resumes when they match.
RESULT_PARAMS = ("n_samples", "n_projections", "k", "seed", "dof", "method")

#: Estimators a full-dimensional run supports.
FULL_ESTIMATORS = ("seed", "ksg")
#: Estimators a sliced run supports: every estimator of :func:`fastsmi.smi`.
SLICED_ESTIMATORS = tuple(_CORE_ESTIMATORS)
_QUICK = {
    "fig1": dict(dims=FIG1_DIMS, mi_values=tuple(float(v) for v in np.linspace(0.0, 4.0, 9)),
                 runs=1, n_samples=1000, n_projections=128),
    "fig2": dict(dims=(1, 2, 10, 30), mi_values=tuple(float(v) for v in np.linspace(0.0, 4.0, 6)),
                 runs=2, n_samples=600, n_projections=96),
}
_FIGURES = {"fig1": dict(dims=FIG1_DIMS, runs=1), "fig2": dict(dims=FIG2_DIMS, runs=10)}
#: The seed's figures :meth:`SyntheticConfig.preset` knows.
FIGURES = tuple(_FIGURES)


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
        Base seed; every sample group's seed derives from it (:func:`~fastsmi.experiments.grid.cell_seed`).
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
            for kind, allowed in (("sliced", SLICED_ESTIMATORS), ("full", FULL_ESTIMATORS)):
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
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {list(METHODS)}, got {self.method!r}")
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
        if figure not in FIGURES:
            raise ValueError(f"figure must be one of {list(FIGURES)}, got {figure!r}")
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

