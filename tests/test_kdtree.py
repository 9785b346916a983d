"""Exactness of the Cython KD-tree against the brute force in tests/naive_nd.py."""
import pickle

import numpy as np
import pytest

from conftest import require  # noqa: E402

require("kdtree")  # skipped only when the extension is not compiled; a broken one fails the run
from fastsmi._cython import _kdtree as kdtree_mod  # noqa: E402

KDTree = kdtree_mod.KDTree

from naive_nd import count_within as naive_count  # noqa: E402
from naive_nd import knn as naive_knn  # noqa: E402

METRICS = ["chebyshev", "euclidean"]
DIMS = [1, 2, 5, 20]


def _data(kind, n, d, seed):
    rng = np.random.default_rng(seed)
    if kind == "random":
        return rng.normal(size=(n, d))
    if kind == "ties":  # few distinct values per coordinate: many equal distances
        return rng.integers(0, 3, size=(n, d)).astype(np.float64)
    if kind == "duplicates":  # exact duplicated rows, plus a constant column
        base = rng.normal(size=(n // 3 + 1, d))
        X = base[rng.integers(0, base.shape[0], size=n)]
        X[:, 0] = 1.5
        return X
    raise ValueError(kind)


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("d", DIMS)
@pytest.mark.parametrize("kind", ["random", "ties", "duplicates"])
def test_knn_matches_brute_force(metric, d, kind):
    X = _data(kind, 150, d, seed=d)
    ref_dist, ref_ind = naive_knn(X, 7, metric)
    for leaf_size in (1, 4, 16):
        tree = KDTree(X, leaf_size=leaf_size, metric=metric)
        for k in (1, 3, 7):
            dist, ind = tree.knn(k)
            assert dist.dtype == np.float64 and ind.dtype == np.intp
            np.testing.assert_array_equal(ind, ref_ind[:, :k])
            np.testing.assert_array_equal(dist, ref_dist[:, :k])


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("d", DIMS)
@pytest.mark.parametrize("kind", ["random", "ties", "duplicates"])
@pytest.mark.parametrize("strict", [True, False])
def test_counts_match_brute_force(metric, d, kind, strict):
    X = _data(kind, 150, d, seed=10 + d)
    rng = np.random.default_rng(d)
    # Radii equal to actual neighbour distances (the KSG case: boundary points exist),
    # plus random radii, zero radii and an infinite radius.
    kth, _ = naive_knn(X, 5, metric)
    radii = np.concatenate([kth[:, 4], kth[:, 0]])
    Q = np.vstack([X, X])
    radii[::7] = rng.uniform(0, 3, size=radii[::7].shape)
    radii[3] = 0.0
    radii[5] = np.inf
    expected = naive_count(X, Q, radii, metric, strict)
    for leaf_size in (1, 16):
        tree = KDTree(X, leaf_size=leaf_size, metric=metric)
        got = tree.count_within(Q, radii, strict=strict)
        assert got.dtype == np.int64
        np.testing.assert_array_equal(got, expected)
        # The self-query shortcut gives the same counts.
        np.testing.assert_array_equal(
            tree.count_within(None, radii[: len(X)], strict=strict), expected[: len(X)]
        )
    # Queries that are not indexed points.
    P = rng.normal(size=(40, d))
    r = rng.uniform(0, 2, size=40)
    np.testing.assert_array_equal(
        KDTree(X, metric=metric).count_within(P, r, strict=strict),
        naive_count(X, P, r, metric, strict),
    )


@pytest.mark.parametrize("metric", METRICS)
def test_workers_give_identical_results(metric):
    X = _data("ties", 3000, 3, seed=5)
    tree = KDTree(X, metric=metric)
    d1, i1 = tree.knn(4, workers=1)
    d2, i2 = tree.knn(4, workers=2)
    d3, i3 = tree.knn(4, workers=-1)
    np.testing.assert_array_equal(d1, d2)
    np.testing.assert_array_equal(i1, i2)
    np.testing.assert_array_equal(i1, i3)
    r = d1[:, -1]
    c1 = tree.count_within(X, r, workers=1)
    np.testing.assert_array_equal(c1, tree.count_within(X, r, workers=2))
    np.testing.assert_array_equal(c1, tree.count_within(None, r, workers=2))


def test_single_leaf_and_tiny_inputs():
    X = np.array([[0.0], [1.0]])
    dist, ind = KDTree(X).knn(1)
    np.testing.assert_array_equal(ind.ravel(), [1, 0])
    np.testing.assert_array_equal(dist.ravel(), [1.0, 1.0])
    one = KDTree(np.array([[2.0, 3.0]]))
    assert one.count_within(np.array([[2.0, 3.0]]), 0.5).tolist() == [1]
    assert one.count_within(np.array([[2.0, 3.0]]), 0.0, strict=True).tolist() == [0]
    assert one.count_within(np.array([[2.0, 3.0]]), 0.0, strict=False).tolist() == [1]


def test_tree_structure_is_a_valid_partition():
    X = _data("random", 1000, 3, seed=1)
    tree = KDTree(X, leaf_size=10)
    assert sorted(tree.index_array.tolist()) == list(range(1000))
    ranges = tree.node_ranges
    bounds = tree.node_bounds
    first_leaf = tree.n_nodes // 2
    sizes = ranges[first_leaf:, 1] - ranges[first_leaf:, 0]
    assert sizes.sum() == 1000 and sizes.min() >= 10 and sizes.max() <= 20
    for node in range(tree.n_nodes):
        pts = X[tree.index_array[ranges[node, 0]:ranges[node, 1]]]
        np.testing.assert_array_equal(bounds[node, 0], pts.min(axis=0))
        np.testing.assert_array_equal(bounds[node, 1], pts.max(axis=0))


@pytest.mark.parametrize("metric", METRICS)
def test_pickle_round_trip(metric):
    X = _data("random", 500, 4, seed=2)
    tree = KDTree(X, leaf_size=8, metric=metric)
    clone = pickle.loads(pickle.dumps(tree))
    assert clone.metric == metric and clone.leaf_size == 8 and clone.n_samples == 500
    np.testing.assert_array_equal(clone.data, X)
    np.testing.assert_array_equal(clone.node_bounds, tree.node_bounds)
    for a, b in zip(tree.knn(3), clone.knn(3)):
        np.testing.assert_array_equal(a, b)
    r = np.full(500, 0.7)
    np.testing.assert_array_equal(tree.count_within(X, r), clone.count_within(X, r))


def test_read_only_and_non_contiguous_input():
    X = _data("random", 300, 3, seed=3)
    ro = X.copy()
    ro.flags.writeable = False
    ref = KDTree(X).knn(2)
    for arr in (ro, np.asfortranarray(X), X[:, ::-1][:, ::-1]):
        got = KDTree(arr).knn(2)
        np.testing.assert_array_equal(got[0], ref[0])
        np.testing.assert_array_equal(got[1], ref[1])
    single = X.astype(np.float32)
    np.testing.assert_array_equal(
        KDTree(single).knn(2)[1], KDTree(single.astype(np.float64)).knn(2)[1]
    )
    assert not KDTree(ro).data.flags.writeable
    q = X[:10].copy()
    q.flags.writeable = False
    KDTree(ro).count_within(q, np.full(10, 0.5))
    ints = KDTree(np.arange(10).reshape(5, 2))
    assert ints.data.dtype == np.float64


def test_bad_input_is_rejected_clearly():
    X = np.random.default_rng(0).normal(size=(20, 2))
    bad = X.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        KDTree(bad)
    with pytest.raises(ValueError, match="2-D"):
        KDTree(X[:, 0])
    with pytest.raises(ValueError, match="2-D"):
        KDTree(X[None])
    with pytest.raises(TypeError, match="numeric"):
        KDTree(np.array([["a", "b"]]))
    with pytest.raises(ValueError, match="unknown metric"):
        KDTree(X, metric="manhattan")
    with pytest.raises(ValueError, match="leaf_size"):
        KDTree(X, leaf_size=0)
    tree = KDTree(X)
    with pytest.raises(ValueError, match="smaller than the number of points"):
        tree.knn(20)
    with pytest.raises(ValueError, match="at least 1"):
        tree.knn(0)
    with pytest.raises(ValueError, match="features"):
        tree.count_within(np.zeros((3, 5)), 1.0)
    with pytest.raises(ValueError, match="radii"):
        tree.count_within(X, np.ones(3))
    with pytest.raises(ValueError, match="workers"):
        tree.knn(2, workers=0)


def test_heavy_duplicates_are_exact_and_fast():
    # 30,000 points on 3 distinct locations: every neighbour is at distance 0 and
    # ties are broken by index, so the answer is known in closed form.  Without
    # the per-node minimum-index pruning this takes O(n^2) time.
    n = 30_000
    X = np.zeros((n, 2))
    X[:, 1] = np.arange(n) % 3
    tree = KDTree(X)
    dist, ind = tree.knn(3, workers=2)
    assert not dist.any()
    i = np.arange(n)
    first = i % 3  # smallest index of the same location
    expected = np.where(
        (i[:, None] <= first[:, None] + 3 * np.arange(3)[None, :]),
        first[:, None] + 3 * np.arange(1, 4)[None, :],
        first[:, None] + 3 * np.arange(3)[None, :],
    )
    np.testing.assert_array_equal(ind, expected)
    np.testing.assert_array_equal(tree.count_within(None, 0.5), np.full(n, n // 3))
    np.testing.assert_array_equal(tree.count_within(None, 0.0, strict=False), np.full(n, n // 3))
    np.testing.assert_array_equal(tree.count_within(None, 0.0, strict=True), np.zeros(n))
