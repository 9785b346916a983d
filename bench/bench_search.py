"""Which exact joint-neighbour search for 1-D x 1-D slices: grid, sweep or KD-tree?

The same canonical slices (n = 3000, KSG-1, k = 5) estimated with

* the quantile-grid ring search (``FASTSMI_SEARCH=grid``, the default),
* the sweep over the x-sorted order (``FASTSMI_SEARCH=sweep``),
* the Cython KD-tree (max-norm kNN + strict counts), one slice at a time,

on one thread, so the numbers are CPU time per slice.  Run::

    pytest bench/bench_search.py --benchmark-only
"""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pytest_benchmark")

import fastsmi  # noqa: E402
from baselines import project  # noqa: E402
from conftest import record  # noqa: E402
from fastsmi.experiments.models import GaussianModel  # noqa: E402

GROUP = "joint search, KSG-1 slices n=3000 k=5, one thread"
M = 200


@pytest.fixture(scope="module")
def data():
    return GaussianModel(10, 2.0).sample(3000, rng=np.random.default_rng(1))


@pytest.mark.parametrize("search", ["grid", "sweep"])
def test_numba_search(benchmark, data, monkeypatch, search):
    X, Y = data
    monkeypatch.setenv("FASTSMI_SEARCH", search)
    benchmark.group = GROUP
    benchmark.pedantic(fastsmi.smi, args=(X, Y), kwargs=dict(n_projections=M, seed=0, n_jobs=1, backend="numba",
                                                             progress=False), rounds=5, warmup_rounds=1)
    record(benchmark, GROUP, f"numba {search}", M)


def test_cython_kdtree(benchmark, data):
    fulldim = pytest.importorskip("fastsmi._fulldim")
    pytest.importorskip("fastsmi._cython._kdtree")
    X, Y = data
    slices = 20
    PX, PY = project(X, Y, slices)

    def loop():
        return [fulldim.ksg_mi(PX[:, [s]], PY[:, [s]], k=5, variant=1, workers=1) for s in range(slices)]

    benchmark.group = GROUP
    benchmark.pedantic(loop, rounds=3, warmup_rounds=1)
    record(benchmark, GROUP, "cython KD-tree per slice", slices)
