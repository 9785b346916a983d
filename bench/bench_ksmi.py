"""k-SMI with 2-dimensional slices: n = 3000, m = 1000, KSG k = 5, on the KD-tree, all cores.

Run::

    pytest bench/bench_ksmi.py --benchmark-only
"""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pytest_benchmark")
pytest.importorskip("fastsmi._cython._kdtree")

import fastsmi  # noqa: E402
from conftest import record  # noqa: E402
from fastsmi.experiments.models import GaussianModel  # noqa: E402

GROUP = "k-SMI s=2 n=3000 m=1000 d=10"


def test_ksmi_s2(benchmark):
    X, Y = GaussianModel(10, 2.0).sample(3000, rng=np.random.default_rng(0))
    benchmark.group = GROUP
    res = benchmark.pedantic(fastsmi.smi, args=(X, Y), kwargs=dict(n_projections=1000, slice_dim=2, seed=0,
                                                                   progress=False), rounds=1, warmup_rounds=0)
    benchmark.extra_info["estimate"] = res.value
    record(benchmark, GROUP, "fastsmi.smi slice_dim=2", 1000)
