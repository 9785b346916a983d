"""The Cython twin runs the Numba twin's algorithm: same constants, every path exact.

The slice kernels' fast paths (the bucket sort, the lane scan and the ring search
resumed from it, the grouped counts) change only speed.  Each is checked here
against a brute-force answer and against the path it replaces, and both twins
against each other to 1e-10.  Both builds of the Cython kernels (baseline and
AVX2, where the CPU has it) are run.
"""
from __future__ import annotations

import importlib

import numpy as np
import pytest

import fastsmi
from fastsmi import _algorithm, _config

from conftest import _available

pytestmark = pytest.mark.skipif(not _available("cython"), reason="the Cython backend is not built")
requires_numba = pytest.mark.skipif(not _available("numba"), reason="the Numba backend is not installed")


def _builds() -> list:
    """The Cython kernel builds this machine runs: the baseline, and AVX2 where built and usable."""
    from fastsmi._cython import _simd

    mods = [importlib.import_module("fastsmi._cython._slices")]
    if _simd.cpu_has_avx2():
        try:
            mods.append(importlib.import_module("fastsmi._cython._slices_avx2"))
        except ImportError:
            pass
    return mods


BUILDS = _builds()
BUILD_IDS = [m.__name__.rsplit(".", 1)[1] for m in BUILDS]


@pytest.fixture(params=BUILDS, ids=BUILD_IDS)
def slices(request):
    return request.param


@pytest.fixture
def paths(slices):
    """Set the kernels' fast paths for one test (the backend's module too), then restore them."""
    from fastsmi._cython import backend

    mods = {slices, backend._slices}
    saved = [(m, m._set_paths()) for m in mods]

    def set_paths(**kw):
        for m in mods:
            m._set_paths(**kw)

    yield set_paths
    for m, prev in saved:
        m._set_paths(**prev)


# ----------------------------------------------------------------------------
# one description of the algorithm
# ----------------------------------------------------------------------------
def test_cython_reads_the_shared_constants(slices):
    seen = slices.constants()
    for name, value in seen.items():
        assert getattr(_algorithm, name, None) == value or getattr(_config, name) == value, name
    assert seen["GRID_POINTS_PER_CELL"] == 4.0 and seen["GRID_POINTS_PER_CELL_K1"] == 2.0
    assert seen["NEGATIVE_ZERO_IS_ZERO"] is True


@requires_numba
def test_numba_reads_the_shared_constants():
    from fastsmi._numba import _joint, backend, sort

    # each constant where the Numba kernels use it: the joint search, the sort, the backend's dispatch
    for module, names in ((_joint, ("GRID_POINTS_PER_CELL", "GRID_POINTS_PER_CELL_K1", "KTH_REGISTERS", "LANES",
                                    "LANE_ROWS_SHORT", "SEARCH_GRID", "LANES_ALL")),
                          (sort, ("RADIX_KEY_BITS", "BUCKET_CROWDED", "NEGATIVE_ZERO_IS_ZERO")),
                          (backend, ("SEARCH_SWEEP", "SEARCH_GRID", "LANES_ALL"))):
        for name in names:
            assert getattr(module, name) is getattr(_algorithm, name), (module.__name__, name)
    assert backend.lane_rows is _algorithm.lane_rows
    from fastsmi._numba import _kernels

    assert _kernels.WHITEN_MIN_RESIDUAL is _config.WHITEN_MIN_RESIDUAL
    assert [_algorithm.lane_rows(k, _algorithm.SEARCH_GRID) for k in range(1, 10)] == [8, 5, 5, 5, 5, 8, 8, 8, 0]


def test_backend_uses_a_build_of_the_kernels():
    from fastsmi._cython import backend

    assert backend._slices.__name__ in ("fastsmi._cython._slices", "fastsmi._cython._slices_avx2")


def test_bad_simd_setting_is_a_clear_error(monkeypatch):
    from fastsmi._cython import _simd

    monkeypatch.setenv(_simd.SIMD_ENV, "avx9000")
    with pytest.raises(ValueError, match="FASTSMI_CYTHON_SIMD"):
        _simd.slices_module()
    monkeypatch.setenv(_simd.SIMD_ENV, "baseline")
    assert _simd.slices_module().__name__ == "fastsmi._cython._slices"


# ----------------------------------------------------------------------------
# sorting: both paths give np.argsort(kind="stable")
# ----------------------------------------------------------------------------
def _sort_cases():
    rng = np.random.default_rng(3)
    n = 1500
    crowded = 1.0 + 1e-9 * rng.standard_normal(n)  # all within a relative 1e-8: radix on 64 bits
    zeros = rng.choice([-0.0, 0.0, 1.0, -1.0], size=n)
    return {
        "normal": (rng.standard_normal(n), False),
        "cauchy": (rng.standard_cauchy(n), None),
        "ties": (rng.integers(0, 5, n).astype(float), True),
        "crowded": (crowded, True),
        "signed-zeros": (zeros, True),
        "infinite": (np.concatenate([rng.standard_normal(n - 2), [np.inf, -np.inf]]), True),
        "small": (np.array([0.5, -1.0, 0.0, -0.0, 2.0]), False),
    }


@pytest.mark.parametrize("case", list(_sort_cases()))
@pytest.mark.parametrize("bucket", [True, False], ids=["bucket", "radix"])
def test_sort_paths_give_the_stable_argsort(slices, case, bucket):
    values, falls_back = _sort_cases()[case]
    order, fell_back = slices._argsort(np.ascontiguousarray(values), bucket=bucket)
    # -0.0 sorts as 0.0: numpy's stable argsort compares them equal too
    np.testing.assert_array_equal(order, np.argsort(values, kind="stable"))
    if bucket and falls_back is not None:
        assert fell_back == falls_back


def test_crowded_values_take_the_full_radix_sort(slices):
    values = 1.0 + 1e-12 * np.random.default_rng(0).standard_normal(2000)
    order, fell_back = slices._argsort(values, bucket=False)
    assert fell_back  # the 32 top bits agree: the 64-bit passes ran
    np.testing.assert_array_equal(order, np.argsort(values, kind="stable"))


# ----------------------------------------------------------------------------
# the grid search: lane scan, then the ring search resumed from it
# ----------------------------------------------------------------------------
def _brute_kth(a, b, k, euclidean):
    dx = np.abs(a[:, None] - a[None, :])
    dy = np.abs(b[:, None] - b[None, :])
    d = np.sqrt(dx * dx + dy * dy) if euclidean else np.maximum(dx, dy)
    np.fill_diagonal(d, np.inf)
    return np.sort(d, axis=1)[:, k - 1]


def _clustered(n, seed):
    """Tight clusters far apart, and a few stragglers: many queries the lane scan cannot settle."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(-50, 50, (6, 2))
    pts = centres[rng.integers(0, 6, n)] + 0.01 * rng.standard_normal((n, 2))
    pts[: n // 50] = rng.uniform(-60, 60, (n // 50, 2))
    return pts[:, 0].copy(), pts[:, 1].copy()


@pytest.mark.parametrize("k", range(1, 9))
@pytest.mark.parametrize("euclidean", [False, True], ids=["max", "euclid"])
def test_grid_kth_is_exact_for_every_lane_depth(slices, k, euclidean):
    rng = np.random.default_rng(k)
    a = rng.standard_normal(700)
    b = 0.8 * a + 0.6 * rng.standard_normal(700)
    exact = _brute_kth(a, b, k, euclidean)
    with_lanes, _ = slices._joint_kth(a, b, k, euclidean=euclidean, lanes=True)
    ring_only, none = slices._joint_kth(a, b, k, euclidean=euclidean, lanes=False)
    assert none == 0
    np.testing.assert_array_equal(with_lanes, exact)
    np.testing.assert_array_equal(ring_only, exact)


@pytest.mark.parametrize("k", [1, 3, 5, 8])
@pytest.mark.parametrize("euclidean", [False, True], ids=["max", "euclid"])
def test_ring_search_resumes_from_the_lane_scan(slices, k, euclidean):
    a, b = _clustered(900, seed=k)
    kth, n_pending = slices._joint_kth(a, b, k, euclidean=euclidean, lanes=True)
    assert n_pending > 10  # the resume path really ran
    np.testing.assert_array_equal(kth, _brute_kth(a, b, k, euclidean))


def test_joint_kth_rejects_bad_input(slices):
    with pytest.raises(ValueError, match="1 <= k < n"):
        slices._joint_kth(np.zeros(3), np.zeros(3), 3)


# ----------------------------------------------------------------------------
# whole estimators: every path, and the Numba twin
# ----------------------------------------------------------------------------
def _data(n, seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 3))
    Y = 0.7 * X[:, :2] + rng.standard_normal((n, 2))
    return X, Y


@pytest.mark.parametrize("estimator", ["ksg", "ksg2", "kl", "wkl", "seed"])
def test_fast_paths_do_not_change_results(paths, estimator):
    X, Y = _data(300, seed=1)
    kw = dict(n_projections=12, estimator=estimator, k=4, seed=2, backend="cython")
    fast = fastsmi.smi(X, Y, **kw).per_slice
    paths(bucket=False, lanes=False, grouped_counts=False)
    slow = fastsmi.smi(X, Y, **kw).per_slice
    np.testing.assert_array_equal(fast, slow)


@requires_numba
@pytest.mark.parametrize("k", range(1, 9))
@pytest.mark.parametrize("estimator", ["ksg", "kl"])
def test_cython_matches_numba_for_every_lane_depth(estimator, k):
    X, Y = _data(250, seed=10 + k)
    kw = dict(n_projections=8, estimator=estimator, k=k, seed=3)
    a = fastsmi.smi(X, Y, backend="numba", **kw).per_slice
    b = fastsmi.smi(X, Y, backend="cython", **kw).per_slice
    np.testing.assert_allclose(b, a, rtol=0, atol=1e-10)


def test_builds_agree_bitwise():
    if len(BUILDS) < 2:
        pytest.skip("only the baseline build runs here")
    from fastsmi._cython import backend
    from fastsmi._plan import make_plan

    rng = np.random.default_rng(0)
    PX = rng.standard_normal((400, 16))
    PY = PX + rng.standard_normal((400, 16))
    jitter = np.zeros(400)
    results = []
    for mod in BUILDS:
        for estimator in ("ksg", "kl"):
            plan = make_plan(estimator, 5, 400)
            out = np.empty(16)
            status = np.zeros(16, np.int8)
            if estimator == "ksg":
                mod.ksg_chunk(PX, PY, jitter, jitter, 0.0, 0.0, 5, 1, mod.SEARCH_GRID, plan.psi, out, status, 0, 16)
            else:
                mod.kl_chunk(PX, PY, jitter, jitter, 0.0, 0.0, 5, np.ascontiguousarray(plan.coef), bool(plan.whiten),
                             mod.SEARCH_GRID, out, status, 0, 16)
            results.append(out)
    assert backend._slices in BUILDS
    np.testing.assert_array_equal(results[0], results[2])
    np.testing.assert_array_equal(results[1], results[3])


@pytest.mark.parametrize("module", ["fastsmi._algorithm", "fastsmi._cython._simd", "fastsmi._cython._slices"])
def test_docstring_examples_run(module):
    import doctest

    mod = importlib.import_module(module)
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
