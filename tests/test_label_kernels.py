"""The label-slice primitives (k-th distance in a class, grouped counts) against brute force.

``test_kernels.py`` compares whole label slices with ``naive.py``; these tests pin
down the building blocks on inputs that reach their edges: ties, zero radii,
the first and last points, and group sizes that leave a partial group.
"""
from __future__ import annotations

import numpy as np
import pytest

from conftest import requires_numba

pytestmark = requires_numba


def _values(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    v = rng.standard_normal(n)
    if kind == "ties":
        v = np.round(v, 1)
    elif kind == "heavy":
        v = rng.standard_t(1.0, n)
    return np.sort(v)


@pytest.mark.parametrize("kind", ["normal", "ties", "heavy"])
@pytest.mark.parametrize("n", [2, 3, 9, 257])
def test_kth_sorted_is_the_kth_nearest_distance(kind, n):
    from fastsmi._numba._neighbors import knn_sorted, kth_sorted

    rng = np.random.default_rng(n)
    xs = _values(kind, n, rng)
    dist = np.empty(n)
    for k in range(1, min(n, 9)):
        for pos in range(n):
            brute = np.sort(np.abs(np.delete(xs, pos) - xs[pos]))[k - 1]
            assert kth_sorted(xs, pos, k) == brute
            knn_sorted(xs, pos, k, dist)
            assert kth_sorted(xs, pos, k) == dist[k - 1]


@pytest.mark.parametrize("kind", ["normal", "ties", "heavy"])
@pytest.mark.parametrize("n_query", [1, 7, 8, 9, 100])
def test_count_all_within_counts_closed_intervals(kind, n_query):
    from fastsmi._numba._neighbors import count_all_within, count_within

    rng = np.random.default_rng(n_query)
    xs = _values(kind, 300, rng)
    query = np.concatenate([rng.choice(xs, n_query - n_query // 2), rng.standard_normal(n_query // 2)])
    radius = np.abs(rng.standard_normal(n_query)) * 0.3
    radius[::3] = 0.0  # a zero radius counts exact ties only
    # a radius equal to a distance: the boundary is inside (<=)
    radius[1::3] = np.abs(xs[rng.integers(0, 300, radius[1::3].size)] - query[1::3])
    out = np.empty(n_query, np.int64)
    count_all_within(xs, query, radius, out)
    brute = (np.abs(xs[None, :] - query[:, None]) <= radius[:, None]).sum(axis=1)
    np.testing.assert_array_equal(out, brute)
    assert all(out[i] == count_within(xs, query[i], radius[i], False) for i in range(n_query))


@pytest.mark.parametrize("weights", [[1.0], [0.0, 0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.5, 0.0, -0.25, 1.0]])
def test_kl_discrete_slice_against_brute_force(weights):
    """One weight (the fast path: every 1-D plan) or several, against brute-force distances."""
    from fastsmi import _validation as V
    from fastsmi._numba import _kernels as K
    from fastsmi._numba.workspace import alloc_workspace

    k = len(weights)
    coef = np.array([weights, [w * 0.75 for w in weights]])
    rng = np.random.default_rng(k)
    labels = rng.integers(0, 3, 400)
    x = rng.standard_normal(400) + 0.5 * labels
    codes, class_start, _ = V.as_labels(labels, k)
    got = K.kl_discrete_slice(x, codes, class_start, k, coef, alloc_workspace(400, k, 0))
    ref = 0.0
    for j in range(k):
        all_d = np.sort(np.abs(x[:, None] - x[None, :]) + np.diag(np.full(400, np.inf)), axis=1)[:, j]
        cls_d = np.empty(400)
        for c in range(3):
            idx = np.flatnonzero(codes == c)
            dc = np.abs(x[idx, None] - x[None, idx]) + np.diag(np.full(idx.size, np.inf))
            cls_d[idx] = np.sort(dc, axis=1)[:, j]
        ref += coef[0, j] * np.log(all_d).mean() - coef[1, j] * np.log(cls_d).mean()
    nonzero = np.flatnonzero(coef[0])
    assert K._single_weight(coef) == (nonzero[0] if nonzero.size == 1 else -1)
    assert got == pytest.approx(ref, rel=1e-12, abs=1e-12)
