"""The Numba search primitives against obvious references.

The slice estimators are compared with ``naive.py`` in ``test_kernels.py``; these
tests pin down the building blocks on inputs chosen to reach every path: the
bucket sort and its fallback, the radix sort's top-bits passes and insertion finish, the branch-free counts, and
the vectorised block scan of the grid with its fallback to the ring search.
"""
from __future__ import annotations

import numpy as np
import pytest

from conftest import requires_numba

pytestmark = requires_numba


def _sorter(report=None):
    from fastsmi import _algorithm
    from fastsmi._numba import sort, workspace

    def argsort(v):
        n = v.shape[0]
        ws = workspace.alloc_workspace(max(n, 1), 1, _algorithm.SEARCH_SWEEP)
        order = np.empty(n, np.int64)
        fell_back = sort.radix_argsort(v, order, ws.keys[0], ws.keys[1], ws.scratch, ws.counts)
        if report is not None:
            report.append(fell_back)
        return order

    return argsort


@pytest.mark.parametrize("kind", ["normal", "rounded", "close", "pairs", "signed_zero", "tiny", "constant", "wide"])
@pytest.mark.parametrize("n", [1, 2, 7, 300, 4001])
def test_radix_argsort_is_a_stable_argsort(kind, n):
    rng = np.random.default_rng(n)
    v = rng.standard_normal(n)
    if kind == "rounded":
        v = np.round(v, 1)
    elif kind == "close":  # all values agree on the top 32 bits: sorted again on all 64
        v = 1.0 + rng.standard_normal(n) * 1e-12
    elif kind == "pairs":  # a few values agree on the top 32 bits with another: the insertion pass orders them
        idx = np.arange(0, n - 1, 7)
        v[idx] = v[idx + 1] * (1.0 + 1e-13)
    elif kind == "signed_zero":
        v = np.where(rng.random(n) < 0.5, -0.0, 0.0) * np.round(v)
    elif kind == "tiny":
        v = np.round(v * 1e3) * 1e-305
    elif kind == "constant":
        v = np.full(n, 3.5)
    elif kind == "wide":
        v = v * 10.0 ** rng.integers(-200, 200, n)
    order = _sorter()(v)
    np.testing.assert_array_equal(order, np.argsort(v, kind="stable"))


def test_radix_argsort_falls_back_to_all_bits_only_for_crowded_values():
    # 100,000 values agreeing on their top 32 bits: the insertion finish would be
    # quadratic, so the sort is redone on all 64 bits
    report = []
    v = 1.0 + np.random.default_rng(0).standard_normal(100_000) * 1e-12
    np.testing.assert_array_equal(_sorter(report)(v), np.argsort(v, kind="stable"))
    w = np.random.default_rng(0).standard_normal(100_000)
    idx = np.arange(0, w.size - 1, 7)
    w[idx] = w[idx + 1] * (1.0 + 1e-13)  # pairs within the top bits: a few insertion moves
    np.testing.assert_array_equal(_sorter(report)(w), np.argsort(w, kind="stable"))
    assert report == [True, False]


_SORT_KINDS = ["normal", "standardised", "heavy", "rounded", "signed_zero", "constant", "wide", "jittered_ties"]


def _sort_input(kind, n):
    rng = np.random.default_rng(n + 17)
    v = rng.standard_normal(n)
    if kind == "standardised":
        v = (v - v.mean()) / v.std() if n > 1 else v
    elif kind == "heavy":  # Cauchy: the buckets still fill evenly under v / (1 + |v|)
        v = rng.standard_cauchy(n)
    elif kind == "rounded":  # many exact ties
        v = np.round(v, 1)
    elif kind == "signed_zero":
        v = np.where(rng.random(n) < 0.5, -0.0, 0.0) * np.round(v)
    elif kind == "constant":
        v = np.full(n, 3.5)
    elif kind == "wide":
        v = v * 10.0 ** rng.integers(-200, 200, n)
    elif kind == "jittered_ties":  # ReLU-like: a third exact zeros, plus the tie-breaking jitter
        v = np.where(rng.random(n) < 0.33, 0.0, np.abs(v)) + rng.uniform(-1e-10, 1e-10, n)
    return v


def _bucket(v):
    from fastsmi import _algorithm
    from fastsmi._numba import sort, workspace

    n = v.shape[0]
    ws = workspace.alloc_workspace(max(n, 1), 1, _algorithm.SEARCH_SWEEP)
    order = np.empty(n, np.int64)
    out = np.empty(n)
    crowded = sort.bucket_argsort(v, order, out, ws.scratch, ws.counts)
    return crowded, order, out


@pytest.mark.parametrize("kind", _SORT_KINDS)
@pytest.mark.parametrize("n", [1, 2, 7, 300, 4001])
def test_bucket_argsort_is_a_stable_argsort_or_says_it_gave_up(kind, n):
    v = _sort_input(kind, n)
    crowded, order, out = _bucket(v)
    expected = np.argsort(v, kind="stable")
    if not crowded:
        np.testing.assert_array_equal(order, expected)
        np.testing.assert_array_equal(out, v[expected])
    # spread data must take the bucket path, crowded data the fallback
    if kind in ("normal", "standardised", "heavy") and n >= 7:
        assert not crowded
    if kind in ("constant", "rounded") and n >= 4001:
        assert crowded


def test_bucket_argsort_leaves_non_finite_values_to_the_radix_sort():
    from fastsmi import _algorithm
    from fastsmi._numba import sort, workspace

    for v in (np.array([0.0, 1.0, np.inf, -1.0, 2.0]), np.array([0.0, -np.inf, 1.0]), np.array([1.0, np.nan, 0.0])):
        crowded, _, _ = _bucket(v)
        assert crowded
    v = np.array([0.0, 1.0, np.inf, -1.0, 2.0, -np.inf])
    ws = workspace.alloc_workspace(v.size, 1, _algorithm.SEARCH_SWEEP)
    order = np.empty(v.size, np.int64)
    out = np.empty(v.size)
    sort.sort_values(v, ws, order, out)
    np.testing.assert_array_equal(order, np.argsort(v, kind="stable"))


@pytest.mark.parametrize("kind", _SORT_KINDS + ["close"])
@pytest.mark.parametrize("n", [1, 2, 300, 4001])
def test_sort_values_is_a_stable_argsort(kind, n):
    from fastsmi import _algorithm
    from fastsmi._numba import sort, workspace

    v = 1.0 + np.random.default_rng(n).standard_normal(n) * 1e-12 if kind == "close" else _sort_input(kind, n)
    ws = workspace.alloc_workspace(max(n, 1), 1, _algorithm.SEARCH_SWEEP)
    order = np.empty(n, np.int64)
    out = np.empty(n)
    sort.sort_values(v, ws, order, out)
    expected = np.argsort(v, kind="stable")
    np.testing.assert_array_equal(order, expected)
    np.testing.assert_array_equal(out, v[expected])


def _brute_count(values, pos, radius, strict):
    d = np.abs(values - values[pos])
    inside = d < radius if strict else d <= radius
    return int(np.count_nonzero(inside)) - (1 if (0.0 < radius or not strict) else 0)


@pytest.mark.parametrize("strict", [True, False])
@pytest.mark.parametrize("kind", ["normal", "ties"])
def test_count_pair_matches_brute_force(strict, kind):
    from fastsmi._numba._neighbors import count_pair

    rng = np.random.default_rng(3)
    n = 257
    xs = np.sort(rng.standard_normal(n))
    ys = np.sort(rng.exponential(size=n))
    if kind == "ties":
        xs = np.sort(np.round(xs, 1))
        ys = np.sort(np.round(ys, 1))
    for trial in range(400):
        px, py = int(rng.integers(n)), int(rng.integers(n))
        rx = float(rng.choice([0.0, 0.1, abs(xs[px] - xs[rng.integers(n)]), 10.0]))
        ry = float(rng.choice([0.0, 0.2, abs(ys[py] - ys[rng.integers(n)]), 10.0]))
        got = count_pair(xs, ys, px, py, rx, ry, strict)
        assert got == (_brute_count(xs, px, rx, strict), _brute_count(ys, py, ry, strict)), (trial, px, py, rx, ry)


def _brute_kth(x, y, k, euclid):
    dx = np.abs(x[:, None] - x[None, :])
    dy = np.abs(y[:, None] - y[None, :])
    d = np.sqrt(dx * dx + dy * dy) if euclid else np.maximum(dx, dy)
    np.fill_diagonal(d, np.inf)
    return np.sort(d, axis=1)[:, k - 1]


def _kth_all(ws, k, metric, search, kth, lanes):
    """``kth_all`` (an overload: jitted callers only) behind a jitted entry point."""
    from numba import njit

    from fastsmi._numba import _joint

    global _KTH_ENTRY
    if _KTH_ENTRY is None:
        _KTH_ENTRY = njit(lambda ws, k, metric, search, kth, lanes: _joint.kth_all(ws, k, metric, search, kth, lanes))
    _KTH_ENTRY(ws, k, metric, search, kth, lanes)


_KTH_ENTRY = None


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5, 6, 7, 8])  # both lane networks, every pinned depth
@pytest.mark.parametrize("euclid", [False, True])
@pytest.mark.parametrize("lanes", ["scan", "knn"])
@pytest.mark.parametrize("kind", ["independent", "dependent", "ties", "clusters"])
@pytest.mark.parametrize("n", ["k+1", 11, 40, 1500])
def test_grid_kth_matches_brute_force(k, euclid, lanes, kind, n):
    from fastsmi import _algorithm
    from fastsmi._numba import _joint, workspace
    from fastsmi._numba._neighbors import METRIC_EUCLIDEAN, METRIC_MAX

    n = k + 1 if n == "k+1" else n
    rng = np.random.default_rng(k + n)
    x = rng.standard_normal(n)
    y = rng.standard_normal(n)
    if kind == "dependent":
        y = x + 0.05 * y
    elif kind == "ties":
        x, y = np.round(x, 1), np.round(y, 1)
    elif kind == "clusters":  # dense blobs and empty space: many points fall back to the ring search
        x = rng.integers(0, 5, n) + 0.01 * x
        y = rng.integers(0, 5, n) + 0.01 * y
    metric = METRIC_EUCLIDEAN if euclid else METRIC_MAX
    ws = workspace.alloc_workspace(n, k, _algorithm.SEARCH_GRID)
    _joint.sort_joint(x, y, ws, _algorithm.SEARCH_GRID, k)
    kth = np.empty(n)
    rows = _algorithm.lane_rows(k, _algorithm.SEARCH_GRID) if lanes == "scan" else 0
    _kth_all(ws, k, metric, _algorithm.SEARCH_GRID, kth, rows)
    order = ws.order  # x-rank -> original index
    np.testing.assert_array_equal(kth, _brute_kth(x, y, k, euclid)[order])


@pytest.mark.parametrize("kind", ["normal", "ties", "zero_radius"])
@pytest.mark.parametrize("n", [1, 5, 8, 9, 300])
def test_count_all_strict_matches_count_pair(kind, n):
    from fastsmi._numba._neighbors import count_all_strict, count_pair

    rng = np.random.default_rng(n)
    x = rng.standard_normal(n)
    y = rng.standard_normal(n)
    if kind == "ties":
        x, y = np.round(x, 1), np.round(y, 1)
    xs, ys = np.sort(x), np.sort(y)
    y_rank = rng.permutation(n)
    radius = rng.uniform(0.0, 0.5, n)
    if kind == "zero_radius":
        radius[::3] = 0.0
    # as in KSG-1, most radii are exactly the distance to some point: the strict < is decisive
    others = rng.integers(0, n, n)
    radius[1::2] = np.abs(xs[others] - xs)[1::2]
    nx = np.empty(n, np.int64)
    ny = np.empty(n, np.int64)
    count_all_strict(xs, ys, y_rank, radius, nx, ny)
    for p in range(n):
        expect = (_brute_count(xs, p, radius[p], True), _brute_count(ys, y_rank[p], radius[p], True))
        assert (nx[p], ny[p]) == expect == count_pair(xs, ys, p, y_rank[p], radius[p], radius[p], True), p
