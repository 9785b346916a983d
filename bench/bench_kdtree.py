"""Full-dimensional searches: fastsmi's KD-tree against scipy's cKDTree and brute force.

Three parts: KSG-1 on the KD-tree against scipy's cKDTree (below); Euclidean k-NN,
tree against dense; and the full-dimensional ``fastsmi.mi`` cells of the Figure 2 grid
(KSG and the seed's KL, n = 2000, d = 10, 20, 50, 100), old path against Numba.

KSG-1 against cKDTree:

n = 10,000 samples, X and Y of dimension 10 each (a 20-dimensional joint), k = 3,
two threads for both.  Both timings include building the three trees.

Run::

    pytest bench/bench_kdtree.py --benchmark-only
    pytest bench/bench_kdtree.py --benchmark-only -k old_vs_numba   # the Figure 2 cells only

The two entries share the benchmark group ``ksg-fulldim-n10000-d10+10`` so they
are printed side by side.
"""
import math

import numpy as np
import pytest
from scipy.special import digamma

pytest.importorskip("pytest_benchmark")
spatial = pytest.importorskip("scipy.spatial")
pytest.importorskip("fastsmi._cython._kdtree")

from conftest import record  # noqa: E402
from fastsmi._fulldim import ksg_mi  # noqa: E402

N = 10_000
DIM = 10
K = 3
WORKERS = 2
GROUP = "ksg-fulldim-n10000-d10+10"
_ESTIMATES: dict = {}


@pytest.fixture(scope="module")
def gaussian_pair():
    """X, Y in R^10 with total MI = 2 nats spread over the coordinates."""
    rho = math.sqrt(1.0 - math.exp(-2.0 * 2.0 / DIM))
    rng = np.random.default_rng(20240601)
    X = rng.normal(size=(N, DIM))
    Y = rho * X + math.sqrt(1.0 - rho**2) * rng.normal(size=(N, DIM))
    return X, Y


def scipy_ksg1(X, Y, k, workers):
    """KSG-1 the usual way with scipy: a k+1 query for eps, then ball counts.

    cKDTree counts ``dist <= r``; the strict ``dist < eps`` of KSG-1 is obtained with
    the largest double below eps, ``np.nextafter(eps, 0)``.
    """
    X = X / X.std(axis=0)
    Y = Y / Y.std(axis=0)
    Z = np.hstack([X, Y])
    n = Z.shape[0]
    eps = spatial.cKDTree(Z).query(Z, k + 1, p=np.inf, workers=workers)[0][:, -1]
    r = np.nextafter(eps, 0)
    n_x = spatial.cKDTree(X).query_ball_point(X, r, p=np.inf, return_length=True,
                                              workers=workers) - 1
    n_y = spatial.cKDTree(Y).query_ball_point(Y, r, p=np.inf, return_length=True,
                                              workers=workers) - 1
    return digamma(k) + digamma(n) - np.mean(digamma(n_x + 1) + digamma(n_y + 1))


@pytest.mark.benchmark(group=GROUP)
def test_ksg_fulldim_fastsmi_kdtree(benchmark, gaussian_pair):
    X, Y = gaussian_pair
    est = benchmark.pedantic(ksg_mi, args=(X, Y), kwargs=dict(k=K, workers=WORKERS),
                             rounds=3, iterations=1, warmup_rounds=0)
    benchmark.extra_info["estimate"] = est
    record(benchmark, GROUP, "fastsmi KDTree ksg_mi", 1)
    _ESTIMATES["fastsmi"] = est


@pytest.mark.benchmark(group=GROUP)
def test_ksg_fulldim_scipy_ckdtree(benchmark, gaussian_pair):
    X, Y = gaussian_pair
    est = benchmark.pedantic(scipy_ksg1, args=(X, Y, K, WORKERS),
                             rounds=3, iterations=1, warmup_rounds=0)
    benchmark.extra_info["estimate"] = est
    record(benchmark, GROUP, "scipy cKDTree (query + query_ball_point)", 1)
    # Both compute the same exact KSG-1 estimate.
    if "fastsmi" in _ESTIMATES:
        assert abs(_ESTIMATES["fastsmi"] - est) < 1e-10


# --------------------------------------------------------------------------------------
# Euclidean k-NN distances in high dimension: KD-tree against blocked BLAS brute force
# (fastsmi._knn picks brute force from DENSE_MIN_DIM dimensions on).
# --------------------------------------------------------------------------------------
DENSE_CASES = [(2000, 8), (2000, 16), (2000, 100), (10_000, 16), (10_000, 100)]


@pytest.fixture(scope="module", params=DENSE_CASES, ids=[f"n{n}-d{d}" for n, d in DENSE_CASES])
def cloud(request):
    n, d = request.param
    return n, d, np.random.default_rng(d).standard_normal((n, d))


def _knn_tree(Z, k, workers):
    from fastsmi._cython._kdtree import KDTree

    return KDTree(Z, metric="euclidean").knn(k, workers=workers)[0]


@pytest.mark.parametrize("search", ["kdtree", "dense"])
def test_euclidean_knn_search(benchmark, cloud, search):
    from fastsmi._knn import dense_knn_distances

    n, d, Z = cloud
    group = f"euclidean-knn k=5 n={n} d={d}"
    benchmark.group = group
    if search == "kdtree":
        dist = benchmark.pedantic(_knn_tree, args=(Z, 5, WORKERS), rounds=3, iterations=1, warmup_rounds=1)
    else:
        dist = benchmark.pedantic(dense_knn_distances, args=(Z, 5), kwargs=dict(workers=WORKERS),
                                  rounds=3, iterations=1, warmup_rounds=1)
    record(benchmark, group, f"{search} k-NN distances", 1)
    # both searches are exact: same distances up to the rounding of the sum of squares
    np.testing.assert_allclose(dist, _knn_tree(Z, 5, WORKERS), rtol=1e-12)


# --------------------------------------------------------------------------------------
# The full-dimensional estimators of the Figure 2 grid (fastsmi.mi, n = 2000, k = 5):
# the old path (KD-tree for KSG, KD-tree / numpy dense search for the seed's KL; what
# FASTSMI_BACKEND=cython selects) against the Numba brute force, side by side per d.
# --------------------------------------------------------------------------------------
FULL_DIMS = [10, 20, 50, 100]


@pytest.fixture(scope="module", params=FULL_DIMS, ids=[f"d{d}" for d in FULL_DIMS])
def fig2_pair(request):
    d = request.param
    rho = math.sqrt(1.0 - math.exp(-2.0 / d))  # 1 nat in total
    rng = np.random.default_rng(d)
    X = rng.normal(size=(2000, d))
    Y = rho * X + math.sqrt(1.0 - rho**2) * rng.normal(size=(2000, d))
    return d, X, Y


@pytest.mark.parametrize("path", ["old", "numba"])
@pytest.mark.parametrize("estimator", ["ksg", "seed"])
def test_fulldim_mi_old_vs_numba(benchmark, fig2_pair, estimator, path, monkeypatch):
    import fastsmi

    pytest.importorskip("numba")
    d, X, Y = fig2_pair
    monkeypatch.setenv("FASTSMI_BACKEND", "cython" if path == "old" else "auto")
    group = f"full {estimator} n=2000 d={d}+{d}"
    benchmark.group = group
    est = benchmark.pedantic(fastsmi.mi, args=(X, Y), kwargs=dict(estimator=estimator, k=5, n_jobs=WORKERS),
                             rounds=5, iterations=1, warmup_rounds=1)
    benchmark.extra_info["estimate"] = est
    record(benchmark, group, f"{path} path", 1)
    key = (estimator, d)
    if key in _ESTIMATES:  # KSG bit for bit; the seed to the last bits of the sums of squares
        assert est == _ESTIMATES[key] if estimator == "ksg" else abs(est - _ESTIMATES[key]) < 1e-8 * abs(est)
    _ESTIMATES[key] = est
