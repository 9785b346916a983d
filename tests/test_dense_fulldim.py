"""Brute-force (Numba) searches of the full-dimensional estimators against the KD-tree and naive references."""
import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from conftest import require  # noqa: E402

# skipped only when numba or the KD-tree is not installed; a dense module that fails to
# import while numba does is a failure of the run (conftest), not a skip
require("kdtree")
require("dense")

import naive_nd  # noqa: E402
from fastsmi import _fulldim, _knn  # noqa: E402

DENSE = _knn._import_dense()
assert DENSE is not None, "fastsmi._knn cannot import its dense kernels although fastsmi._numba._dense imports"


def _data(kind, n, dx, dy, seed):
    """X, Y with dependence; 'tied' draws from a coarse grid (ties and duplicated points)."""
    rng = np.random.default_rng(seed)
    if kind == "random":
        X = rng.normal(size=(n, dx))
        Y = 0.6 * X[:, :1] + 0.8 * rng.normal(size=(n, dy))
    else:
        X = rng.integers(0, 3, size=(n, dx)).astype(np.float64)
        Y = (X[:, :1] + rng.integers(0, 2, size=(n, dy))).astype(np.float64)
    return np.ascontiguousarray(X), np.ascontiguousarray(Y)


def _scaled(X, Y):
    return _fulldim._unit_variance(X), _fulldim._unit_variance(Y)


@pytest.fixture(autouse=True)
def numba_env(monkeypatch):
    """Every test here runs the Numba kernels, whatever FASTSMI_BACKEND the outer run sets."""
    monkeypatch.setenv("FASTSMI_BACKEND", "auto")


@pytest.fixture
def no_numba_env(monkeypatch):
    """FASTSMI_BACKEND=cython: the full-dimensional code takes its KD-tree / numpy paths."""
    monkeypatch.setenv("FASTSMI_BACKEND", "cython")
    assert _knn.dense_kernels() is None


# --------------------------------------------------------------------------------------
# KSG: max-norm brute force == KD-tree, bit for bit
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["random", "tied"])
@pytest.mark.parametrize("dims", [(1, 1), (2, 3), (5, 5), (7, 13)])
@pytest.mark.parametrize("n", [40, 300])
def test_ksg_counts_equal_the_tree(kind, dims, n):
    X, Y = _scaled(*_data(kind, n, *dims, seed=n + sum(dims)))
    for k in (1, 3, 5):
        for variant in (1, 2):
            tree = _fulldim._ksg_counts_tree(X, Y, k, variant, 1)
            dense = _fulldim._ksg_counts_dense(DENSE, X, Y, k, variant, 2)
            np.testing.assert_array_equal(dense[0], tree[0])
            np.testing.assert_array_equal(dense[1], tree[1])


@pytest.mark.parametrize("kind", ["random", "tied"])
@pytest.mark.parametrize("d", [4, 5, 12])  # joint 8 (tree), 10 and 24 (brute force)
def test_ksg_on_both_sides_of_the_threshold(kind, d, monkeypatch):
    X, Y = _data(kind, 200, d, d, seed=d)
    for k in (1, 4):
        for variant in (1, 2):
            got = _fulldim.ksg_mi(X, Y, k=k, variant=variant, workers=2)
            assert abs(got - naive_nd.ksg_mi(X, Y, k, variant)) < 1e-10
            with monkeypatch.context() as m:
                m.setenv("FASTSMI_BACKEND", "cython")
                assert _fulldim.ksg_mi(X, Y, k=k, variant=variant, workers=2) == got


@pytest.mark.parametrize("k", [1, 3])
def test_ksg_with_n_equal_k_plus_one(k):
    X, Y = _data("random", k + 1, 6, 6, seed=k)
    Xs, Ys = _scaled(X, Y)
    for variant in (1, 2):
        tree = _fulldim._ksg_counts_tree(Xs, Ys, k, variant, 1)
        dense = _fulldim._ksg_counts_dense(DENSE, Xs, Ys, k, variant, 1)
        np.testing.assert_array_equal(dense[0], tree[0])
        np.testing.assert_array_equal(dense[1], tree[1])
        assert abs(_fulldim.ksg_mi(X, Y, k=k, variant=variant) - naive_nd.ksg_mi(X, Y, k, variant)) < 1e-10


def test_ksg_all_points_equal_in_one_marginal():
    # Y repeats one value per block of rows: zero marginal distances, many tied joint distances
    rng = np.random.default_rng(3)
    X = rng.normal(size=(120, 6))
    Y = np.repeat(rng.normal(size=(12, 6)), 10, axis=0)
    for variant in (1, 2):
        got = _fulldim.ksg_mi(X, Y, k=3, variant=variant)
        assert abs(got - naive_nd.ksg_mi(X, Y, 3, variant)) < 1e-10


def test_ksg_thread_count_does_not_change_counts():
    X, Y = _scaled(*_data("tied", 1003, 6, 7, seed=9))
    for variant in (1, 2):
        one = _fulldim._ksg_counts_dense(DENSE, X, Y, 5, variant, 1)
        two = _fulldim._ksg_counts_dense(DENSE, X, Y, 5, variant, 2)
        np.testing.assert_array_equal(one[0], two[0])
        np.testing.assert_array_equal(one[1], two[1])
        assert _fulldim.ksg_mi(X, Y, k=5, variant=variant, workers=1) == _fulldim.ksg_mi(
            X, Y, k=5, variant=variant, workers=2)


def test_chebyshev_rows_are_exact():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(700, 9)) * 10.0 ** rng.integers(-3, 4, size=9)
    AT = np.ascontiguousarray(A.T)
    out = np.empty((4, 700))
    ref = naive_nd.pairwise_distances(A, A, "chebyshev")
    for lo, hi in [(0, 4), (696, 700), (697, 700), (699, 700)]:  # full, short and single-row blocks
        DENSE.chebyshev_rows(A, AT, lo, hi, out)
        np.testing.assert_array_equal(out[: hi - lo], ref[lo:hi])


# --------------------------------------------------------------------------------------
# Euclidean dense search: Numba kernel == numpy path == naive
# --------------------------------------------------------------------------------------

def _naive_knn(Z, k):
    D = naive_nd.pairwise_distances(Z, Z, "euclidean")
    np.fill_diagonal(D, np.inf)
    return np.sort(D, axis=1)[:, :k]


def _distinct_grid(n, d, seed):
    """n distinct points of an integer grid: many tied distances but no duplicates."""
    rng = np.random.default_rng(seed)
    if d > 12:  # 3^d points: a draw of n has no duplicate (checked)
        Z = rng.integers(0, 3, size=(n, d)).astype(np.float64)
        assert np.unique(Z, axis=0).shape[0] == n
        return Z
    side = int(math.ceil((3 * n) ** (1.0 / d))) + 1
    codes = rng.choice(side**d, size=n, replace=False)
    return np.stack([(codes // side**j) % side for j in range(d)], axis=1).astype(np.float64)


@pytest.mark.parametrize("kind", ["random", "grid"])
@pytest.mark.parametrize("d", [3, 12, 40])
def test_dense_knn_equals_naive_and_numpy_path(kind, d, no_numba_env, monkeypatch):
    if kind == "random":
        Z = np.random.default_rng(d).normal(size=(500, d)) * 10.0 ** (np.arange(d) % 3)
    else:
        Z = _distinct_grid(500, d, seed=d)
    for k in (1, 3, 5):
        numpy_path = _knn.dense_knn_distances(Z, k, workers=2)
        with monkeypatch.context() as m:
            m.setenv("FASTSMI_BACKEND", "auto")
            numba_path = _knn.dense_knn_distances(Z, k, workers=2)
        # the kernel sums squares in coordinate order, as the naive reference and the KD-tree do
        np.testing.assert_array_equal(numba_path, _naive_knn(Z, k))
        np.testing.assert_allclose(numba_path, numpy_path, rtol=1e-14, atol=0)


def test_dense_knn_equals_the_tree():
    from fastsmi._cython._kdtree import KDTree

    Z = np.random.default_rng(1).normal(size=(800, 16))
    tree = KDTree(Z, metric="euclidean").knn(4)[0]
    np.testing.assert_array_equal(_knn.dense_knn_distances(Z, 4), tree)


@pytest.mark.parametrize("d", [_knn.NUMBA_DENSE_MIN_DIM - 1, _knn.NUMBA_DENSE_MIN_DIM])
def test_mean_log_knn_on_both_sides_of_the_threshold(d, monkeypatch):
    # below the threshold the tree, from it on the dense search: the same distances bit for bit
    Z = np.random.default_rng(d).normal(size=(400, d))
    got = _knn.mean_log_knn(Z, k=4)
    monkeypatch.setattr(_knn, "NUMBA_DENSE_MIN_DIM", 1 if d < _knn.NUMBA_DENSE_MIN_DIM else 100)
    np.testing.assert_array_equal(_knn.mean_log_knn(Z, k=4), got)
    np.testing.assert_allclose(got, naive_nd.mean_log_knn(Z, 4), rtol=0, atol=1e-12)


def test_dense_knn_rechecks_unsettled_rows():
    # many tied distances and no spare candidates: ambiguous selections are searched directly
    Z = _distinct_grid(400, 12, seed=1)
    report = {}
    got = _knn.dense_knn_distances(Z, 3, margin=0, _report=report)
    np.testing.assert_array_equal(got, _naive_knn(Z, 3))
    assert report["rechecked"] > 0


def test_dense_knn_exact_where_the_product_form_is_not():
    Z = np.random.default_rng(5).normal(size=(200, 12))
    Z[:100, 0] += 1e8
    Z[100:, 0] -= 1e8
    report = {}
    got = _knn.dense_knn_distances(Z, 2, _report=report)
    np.testing.assert_array_equal(got, _naive_knn(Z, 2))
    assert report["rechecked"] > 0


@pytest.mark.parametrize("n", [2, 4, 9])
def test_dense_knn_every_point_a_candidate(n):
    Z = np.random.default_rng(n).normal(size=(n, 13))
    report = {}
    got = _knn.dense_knn_distances(Z, n - 1, _report=report)
    np.testing.assert_array_equal(got, _naive_knn(Z, n - 1))
    assert report["rechecked"] == 0


def test_dense_knn_blocks_and_threads_do_not_change_results(monkeypatch):
    Z = np.random.default_rng(2).normal(size=(1500, 30))
    ref = _knn.dense_knn_distances(Z, 5, workers=1)
    np.testing.assert_array_equal(_knn.dense_knn_distances(Z, 5, workers=2), ref)
    monkeypatch.setattr(_knn, "DENSE_BLOCK_ROWS", 7)
    np.testing.assert_array_equal(_knn.dense_knn_distances(Z, 5, workers=2), ref)


def test_seed_mi_at_high_dimension_matches_naive_and_threads():
    rng = np.random.default_rng(6)
    X = rng.normal(size=(600, 20))
    Y = 0.5 * X + rng.normal(size=(600, 20))
    kw = dict(weights_x=[0.1, 0.2, 0.3, 0.4], weights_y=[0.4, 0.3, 0.2, 0.1], weights_xy=[5e3, -1e4, 5e3, 1.0],
              whiten=True, seed_offset=True)
    one = _fulldim.kl_mi(X, Y, workers=1, **kw)
    assert _fulldim.kl_mi(X, Y, workers=2, **kw) == one
    ref = naive_nd.kl_mi(X, Y, kw["weights_x"], kw["weights_y"], kw["weights_xy"], True, True)
    assert abs(one - ref) < 1e-8 * max(1.0, abs(ref))


# --------------------------------------------------------------------------------------
# Without Numba
# --------------------------------------------------------------------------------------

SCRIPT = textwrap.dedent(
    """
    import sys
    sys.modules["numba"] = None  # any import of numba now raises ImportError
    import numpy as np
    from fastsmi import _fulldim, _knn

    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 8))
    Y = 0.5 * X + rng.normal(size=(300, 8))
    assert _knn.dense_kernels() is None
    ksg = _fulldim.ksg_mi(X, Y, k=3)
    kl = _fulldim.kl_mi(X, Y, weights_x=[1.0], weights_y=[1.0], weights_xy=[1.0], whiten=True)
    loaded = sorted(m for m, v in sys.modules.items() if m.split(".")[0] == "numba" and v is not None)
    print(repr(ksg), repr(kl), loaded)
    """
)


def test_full_dimensional_estimators_run_without_numba():
    env = {k: v for k, v in os.environ.items() if k != "FASTSMI_BACKEND"}
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr
    ksg, kl, loaded = proc.stdout.split(maxsplit=2)
    assert loaded.strip() == "[]"
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 8))
    Y = 0.5 * X + rng.normal(size=(300, 8))
    assert float(ksg) == _fulldim.ksg_mi(X, Y, k=3)  # bit-identical with the Numba search
    kl_here = _fulldim.kl_mi(X, Y, weights_x=[1.0], weights_y=[1.0], weights_xy=[1.0], whiten=True)
    assert abs(float(kl) - kl_here) < 1e-12
