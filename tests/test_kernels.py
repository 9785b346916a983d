"""The slice kernels against the brute-force references in ``naive.py``.

Kernels are driven through the same block driver as :func:`fastsmi.smi`, on
one slice whose direction is 1 (so the projection is the data itself).  The
references receive exactly the standardised (and jittered) samples the
kernels see, so agreement is expected to rounding (1e-10 is asserted).
"""
from __future__ import annotations

import numpy as np
import pytest

import naive
from fastsmi._plan import make_plan
from fastsmi._block import compute_block
from fastsmi._validation import as_labels

from conftest import BACKENDS

SEARCHES = ["grid", "sweep"]


def run_kernel(x, y, estimator, k, *, backend, search="grid", jitter=0.0, labels=None, seed=0, n_jobs=None):
    """Run one slice through the backend; return (estimate, standardised x, standardised y)."""
    n = x.shape[0]
    rng = np.random.default_rng(seed)
    jx = rng.uniform(-jitter, jitter, n) if jitter else np.zeros(n)
    jy = rng.uniform(-jitter, jitter, n) if jitter else np.zeros(n)
    theta = np.ones((1, 1))
    X = np.ascontiguousarray(x, dtype=float)[:, None]
    if labels is not None:
        codes, class_start, counts = as_labels(labels, k)
        plan = make_plan(estimator, k, n, class_counts=counts)
        out, status = compute_block(X, None, theta, None, jx, None, plan=plan, discrete=(codes, class_start),
                                    start=0, stop=1, width=16, backend=backend, search=search, n_jobs=n_jobs)
        assert status[0] == 0
        return out[0], naive.standardize(x, jx), None
    Y = np.ascontiguousarray(y, dtype=float)[:, None]
    plan = make_plan(estimator, k, n)
    out, status = compute_block(X, Y, theta, theta, jx, jy, plan=plan, discrete=None, start=0, stop=1, width=16,
                                backend=backend, search=search, n_jobs=n_jobs)
    assert status[0] == 0
    return out[0], naive.standardize(x, jx), naive.standardize(y, jy)


def _data(kind, n, rng):
    if kind == "gauss":
        x = rng.standard_normal(n)
        return x, 0.7 * x + rng.standard_normal(n)
    if kind == "independent":
        return rng.standard_normal(n), rng.exponential(size=n)
    if kind == "ties":  # integer-valued: many equal coordinates and distances, duplicated points
        x = rng.integers(0, 4, n).astype(float)
        return x, (x + rng.integers(0, 3, n)).astype(float)
    if kind == "heavy":
        x = rng.standard_cauchy(n)
        return x, x + rng.standard_cauchy(n)
    raise ValueError(kind)


CONTINUOUS = [
    ("ksg", lambda x, y, k: naive.ksg1(x, y, k)),
    ("ksg2", lambda x, y, k: naive.ksg2(x, y, k)),
    ("kl", lambda x, y, k: naive.kl_mi(x, y, k)),
    ("seed", lambda x, y, k: naive.seed_mi(x, y)),
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("search", SEARCHES)
@pytest.mark.parametrize("estimator,reference", CONTINUOUS, ids=[c[0] for c in CONTINUOUS])
@pytest.mark.parametrize("kind", ["gauss", "independent", "heavy"])
@pytest.mark.parametrize("n,k", [(6, 5), (40, 1), (40, 3), (300, 5), (120, 8), (150, 11)])
def test_continuous_matches_reference(backend, search, estimator, reference, kind, n, k):
    rng = np.random.default_rng(n * 7 + k)
    x, y = _data(kind, n, rng)
    est, xs, ys = run_kernel(x, y, estimator, k, backend=backend, search=search)
    assert est == pytest.approx(reference(xs, ys, k), abs=1e-10)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("search", SEARCHES)
@pytest.mark.parametrize("estimator", ["ksg", "ksg2"])
@pytest.mark.parametrize("n,k", [(8, 2), (60, 3), (250, 5)])
def test_ksg_on_exact_ties_matches_reference(backend, search, estimator, n, k):
    """Tied data without jitter: KSG stays finite and equals the reference exactly."""
    rng = np.random.default_rng(n + k)
    x, y = _data("ties", n, rng)
    est, xs, ys = run_kernel(x, y, estimator, k, backend=backend, search=search)
    ref = naive.ksg1(xs, ys, k) if estimator == "ksg" else naive.ksg2(xs, ys, k)
    assert np.isfinite(est)
    assert est == pytest.approx(ref, abs=1e-10)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("estimator,reference", CONTINUOUS, ids=[c[0] for c in CONTINUOUS])
def test_jittered_ties_are_finite_and_match(backend, estimator, reference):
    """With the tie-breaking jitter, every estimator is finite on duplicated data."""
    rng = np.random.default_rng(3)
    x, y = _data("ties", 200, rng)
    est, xs, ys = run_kernel(x, y, estimator, 4, backend=backend, jitter=1e-10)
    assert np.isfinite(est)
    # duplicated points sit 1e-10 apart; the reference whitens with LAPACK, whose
    # rounding (1e-16 absolute) is 1e-6 relative to such distances: only the
    # whitened estimator needs the looser tolerance.
    tol = 1e-5 if estimator == "seed" else 1e-10
    assert est == pytest.approx(reference(xs, ys, 4), abs=tol)


DISCRETE = [
    ("ksg", lambda x, c, k: naive.ross(x, c, k)),
    ("kl", lambda x, c, k: naive.kl_discrete(x, c, k)),
    ("seed", lambda x, c, k: naive.kl_discrete(x, c, 1, offset="seed")),
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("estimator,reference", DISCRETE, ids=[c[0] for c in DISCRETE])
@pytest.mark.parametrize("n,k,n_classes", [(12, 2, 3), (90, 3, 4), (400, 5, 10)])
def test_discrete_matches_reference(backend, estimator, reference, n, k, n_classes):
    rng = np.random.default_rng(n)
    labels = np.arange(n) % n_classes
    rng.shuffle(labels)
    x = rng.standard_normal(n) + 0.8 * labels
    est, xs, _ = run_kernel(x, None, estimator, k, backend=backend, labels=labels)
    assert est == pytest.approx(reference(xs, labels, k), abs=1e-10)


@pytest.mark.parametrize("backend", BACKENDS)
def test_ross_on_ties_matches_reference(backend):
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 3, 150)
    x = rng.integers(0, 5, 150).astype(float) + labels
    est, xs, _ = run_kernel(x, None, "ksg", 3, backend=backend, labels=labels)
    assert np.isfinite(est)
    assert est == pytest.approx(naive.ross(xs, labels, 3), abs=1e-10)


@pytest.mark.parametrize("backend", BACKENDS)
def test_wkl_equals_kl_in_one_and_two_dimensions(backend):
    """Berrett-Samworth-Yuan weights are (0, ..., 0, 1) for d <= 3: WKL slices are KL slices."""
    rng = np.random.default_rng(11)
    x, y = _data("gauss", 200, rng)
    a, _, _ = run_kernel(x, y, "kl", 4, backend=backend)
    b, _, _ = run_kernel(x, y, "wkl", 4, backend=backend)
    assert a == b


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("estimator", ["ksg", "ksg2", "kl"])
def test_grid_and_sweep_agree_bitwise(backend, estimator):
    rng = np.random.default_rng(2)
    x, y = _data("heavy", 500, rng)
    a, _, _ = run_kernel(x, y, estimator, 5, backend=backend, search="grid")
    b, _, _ = run_kernel(x, y, estimator, 5, backend=backend, search="sweep")
    assert a == pytest.approx(b, abs=1e-12)
