"""What each fast path of the Cython slice kernels gains, side by side in one run, with Numba.

The canonical case on fewer directions (n = 3000, d = 10 + 10, m = 400, KSG k = 5,
two threads).  The Cython kernels run with every fast path, then with one
switched off at a time (``_slices._set_paths``), then with none: the radix sort
alone, the ring search alone from a cold start, one query's counts at a time.
Each build of the kernels is timed: the platform baseline (SSE2 on x86-64) and,
where the CPU has it, AVX2.  All rows give the same numbers (checked).

Run::

    pytest bench/bench_cython_steps.py --benchmark-only
"""
from __future__ import annotations

import importlib

import numpy as np
import pytest

pytest.importorskip("pytest_benchmark")

import fastsmi  # noqa: E402
from conftest import record  # noqa: E402
from fastsmi._backends import BackendUnavailableError, get_backend  # noqa: E402
from fastsmi.experiments.models import GaussianModel  # noqa: E402

N, DIM, M, K = 3000, 10, 400, 5
GROUP = "cython fast paths n=3000 d=10 m=400 ksg k=5"
PATHS = {
    "all": {},
    "no grouped counts": dict(grouped_counts=False),
    "no lane scan": dict(lanes=False),
    "no bucket sort": dict(bucket=False),
    "none": dict(bucket=False, lanes=False, grouped_counts=False),
}
_VALUES: dict = {}


def _builds() -> list[str]:
    from fastsmi._cython import _simd

    names = ["_slices"]
    if _simd.cpu_has_avx2():
        try:
            importlib.import_module("fastsmi._cython._slices_avx2")
            names.insert(0, "_slices_avx2")
        except ImportError:
            pass
    return names


@pytest.fixture(scope="module")
def canonical():
    return GaussianModel(DIM, 2.0).sample(N, rng=np.random.default_rng(2024))


def _run(X, Y, backend):
    return fastsmi.smi(X, Y, n_projections=M, k=K, seed=1, backend=backend, n_jobs=2, progress=False)


def _check(res):
    key = "value"
    if key in _VALUES:
        np.testing.assert_array_equal(res.per_slice, _VALUES[key])
    _VALUES[key] = res.per_slice


def test_numba(benchmark, canonical):
    try:
        get_backend("numba")
    except BackendUnavailableError as exc:
        pytest.skip(str(exc))
    benchmark.group = GROUP
    res = benchmark.pedantic(_run, args=(*canonical, "numba"), rounds=5, warmup_rounds=1)
    _check(res)
    record(benchmark, GROUP, "numba", M)


@pytest.mark.parametrize("build", _builds())
@pytest.mark.parametrize("paths", list(PATHS))
def test_cython(benchmark, canonical, build, paths, monkeypatch):
    from fastsmi._cython import backend

    mod = importlib.import_module(f"fastsmi._cython.{build}")
    monkeypatch.setattr(backend, "_slices", mod)
    previous = mod._set_paths(**PATHS[paths])
    try:
        benchmark.group = GROUP
        res = benchmark.pedantic(_run, args=(*canonical, "cython"), rounds=5, warmup_rounds=1)
    finally:
        mod._set_paths(**previous)
    _check(res)
    label = "baseline" if build == "_slices" else "avx2"
    record(benchmark, GROUP, f"cython {label}: {paths}", M)
