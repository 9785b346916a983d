"""Core benchmarks of fastsmi.smi with the baselines measured in the same run.

Canonical case: X, Y in R^10 Gaussian with I(X;Y) = 2 nats, n = 3000,
m = 2000 directions, KSG with k = 5, all cores.  Discrete case: n = 10,000,
X in R^50 against 10 class labels, m = 1000, with Ross's KSG and the seed's estimator.

The baselines (a loop of scikit-learn's ``mutual_info_regression`` /
``mutual_info_classif``, and the seed project's ball-tree method as its library
ran it, plus a cheaper 1-NN variant of it) are timed on
the first 20 slices and compared per slice: their cost is linear in the
number of slices.  Run::

    pytest bench/bench_core.py --benchmark-only

and read the per-slice summary printed at the end.
"""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pytest_benchmark")

import fastsmi  # noqa: E402
from baselines import project, seed_method, seed_method_1nn, sklearn_loop  # noqa: E402
from conftest import record  # noqa: E402
from fastsmi.experiments.models import GaussianModel  # noqa: E402

N, DIM, MI, M, K = 3000, 10, 2.0, 2000, 5
BASELINE_SLICES = 20
CANON = "canonical n=3000 d=10 m=2000 ksg k=5"
DISC = "discrete n=10000 d=50 m=1000 10 classes"


@pytest.fixture(scope="module")
def canonical():
    return GaussianModel(DIM, MI).sample(N, rng=np.random.default_rng(2024))


@pytest.fixture(scope="module")
def discrete():
    rng = np.random.default_rng(7)
    labels = rng.integers(0, 10, 10_000)
    centers = rng.standard_normal((10, 50))
    return centers[labels] + 2.0 * rng.standard_normal((10_000, 50)), labels


@pytest.mark.parametrize("backend", ["numba", "cython"])
def test_canonical_fastsmi(benchmark, canonical, backend):
    X, Y = canonical
    try:
        fastsmi.smi(X[:100], Y[:100], n_projections=4, seed=0, backend=backend)  # compile / load
    except ImportError as exc:
        pytest.skip(str(exc))
    benchmark.group = CANON
    res = benchmark.pedantic(fastsmi.smi, args=(X, Y), kwargs=dict(n_projections=M, k=K, seed=1, backend=backend,
                                                                   progress=False), rounds=5, warmup_rounds=1)
    benchmark.extra_info["estimate"] = res.value
    benchmark.extra_info["exact_smi"] = GaussianModel(DIM, MI).smi()
    record(benchmark, CANON, f"fastsmi.smi backend={backend}", M)


def test_canonical_fastsmi_one_thread(benchmark, canonical):
    """CPU time per slice: the kernel on one thread."""
    X, Y = canonical
    benchmark.group = CANON
    benchmark.pedantic(fastsmi.smi, args=(X, Y), kwargs=dict(n_projections=400, k=K, seed=1, n_jobs=1,
                                                             backend="numba", progress=False),
                       rounds=5, warmup_rounds=1)
    record(benchmark, CANON, "fastsmi.smi numba n_jobs=1", 400)


@pytest.fixture(scope="module")
def canonical_subset(canonical):
    """The first BASELINE_SLICES projections of the canonical case, for the baselines."""
    pytest.importorskip("sklearn")
    return project(*canonical, BASELINE_SLICES)


def test_canonical_sklearn_loop(benchmark, canonical_subset):
    benchmark.group = CANON
    benchmark.pedantic(sklearn_loop, args=canonical_subset, kwargs=dict(k=K), rounds=3, warmup_rounds=0)
    record(benchmark, CANON, "sklearn mutual_info_regression loop", BASELINE_SLICES)


@pytest.mark.parametrize("method, label", [
    (seed_method, "seed method (3 ball trees, 5-NN queries)"),
    # same estimates, a lower bound on its cost (the baseline of earlier figures)
    (seed_method_1nn, "seed method, 1-NN queries only"),
], ids=["as-run", "1nn"])
def test_canonical_seed_method(benchmark, canonical_subset, method, label):
    benchmark.group = CANON
    benchmark.pedantic(method, args=canonical_subset, rounds=3, warmup_rounds=0)
    record(benchmark, CANON, label, BASELINE_SLICES)


@pytest.mark.parametrize("estimator", ["ksg", "seed"])
def test_discrete_fastsmi(benchmark, discrete, estimator):
    """Label SMI: Ross's KSG (the default), and the seed's estimator, which its information plane used."""
    X, labels = discrete
    fastsmi.smi(X[:200], labels[:200], y_discrete=True, n_projections=4, seed=0, k=3, estimator=estimator)
    benchmark.group = DISC
    benchmark.pedantic(fastsmi.smi, args=(X, labels), kwargs=dict(y_discrete=True, n_projections=1000, k=K, seed=1,
                                                                  estimator=estimator, progress=False),
                       rounds=3, warmup_rounds=1)
    record(benchmark, DISC, f"fastsmi.smi y_discrete=True estimator={estimator}", 1000)


def test_discrete_sklearn_loop(benchmark, discrete):
    sklearn = pytest.importorskip("sklearn.feature_selection")
    X, labels = discrete
    PX, _ = project(X, X[:, :1], BASELINE_SLICES)

    def loop():
        return [sklearn.mutual_info_classif(PX[:, [s]], labels, n_neighbors=K, random_state=0)[0]
                for s in range(BASELINE_SLICES)]

    benchmark.group = DISC
    benchmark.pedantic(loop, rounds=3, warmup_rounds=0)
    record(benchmark, DISC, "sklearn mutual_info_classif loop", BASELINE_SLICES)
