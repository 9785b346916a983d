"""The public ``smi()`` end to end against an independent oracle, slice by slice, to 1e-10.

The oracle rebuilds every slice from the documented recipe (``fastsmi/_sliced.py``,
``fastsmi/_ksliced.py``), one small step per function so a change of the recipe is a
change of one step:

1. :func:`naive_preprocess`: the data as the projection sees them;
2. :func:`oracle_children`: the seed's four SeedSequence children (directions of X, of
   Y, jitter of X, of Y);
3. :func:`oracle_directions` / :func:`oracle_frames`: unit directions / Haar frames;
4. :func:`oracle_slice`: projection, standardisation and jitter;
5. the O(n^2) estimators of ``tests/naive.py`` (1-D) and ``tests/naive_nd.py`` (k-SMI),
   with weights from the papers' definitions (``naive_nd.bsy_weights``,
   ``naive_nd.mutinfo_weights``).

No slice kernel of the library is called by the oracle.
"""
from __future__ import annotations

import numpy as np
import pytest

import naive
import naive_nd
from conftest import BACKENDS, require

import fastsmi

JITTER_SCALE = 1e-10  # documented: uniform on [-1e-10, 1e-10] standard deviations
TOL = 1e-10

N = 90
M = 4
K = 3
SEED = 20240611


# ------------------------------------------------------------------------ the recipe, step by step

def naive_preprocess(A: np.ndarray) -> np.ndarray:
    """The data the directions are applied to: the samples as given, in float64."""
    return np.asarray(A, dtype=np.float64)


def oracle_children(seed: int) -> list[np.random.SeedSequence]:
    """Children 0..3 of ``SeedSequence(seed)``: directions of X, directions of Y, jitter of X, jitter of Y."""
    return np.random.SeedSequence(seed).spawn(4)


def oracle_directions(ss: np.random.SeedSequence, m: int, d: int) -> np.ndarray:
    """``m`` directions uniform on the sphere: normalised standard Gaussian rows."""
    g = np.random.Generator(np.random.PCG64(ss)).standard_normal((m, d))
    return g / np.sqrt((g**2).sum(axis=1))[:, None]


def oracle_frames(ss: np.random.SeedSequence, m: int, d: int, s: int) -> np.ndarray:
    """``m`` Haar-random (d, s) orthonormal frames: Q of the QR of a Gaussian matrix, column signs of diag(R)."""
    g = np.random.Generator(np.random.PCG64(ss)).standard_normal((m, d, s))
    out = np.empty_like(g)
    for i in range(m):
        q, r = np.linalg.qr(g[i])
        out[i] = q * np.where(np.diag(r) < 0, -1.0, 1.0)
    return out


def oracle_jitter(ss: np.random.SeedSequence, shape) -> np.ndarray:
    return np.random.Generator(np.random.PCG64(ss)).uniform(-JITTER_SCALE, JITTER_SCALE, size=shape)


def oracle_slice(A: np.ndarray, direction: np.ndarray, jitter: np.ndarray) -> np.ndarray:
    """One projected, standardised (mean 0, variance 1) and jittered slice; 1-D or s-dimensional."""
    P = naive_preprocess(A) @ direction
    if P.ndim == 1:
        return naive.standardize(P, jitter)
    return (P - P.mean(axis=0)) / P.std(axis=0) + jitter


# ------------------------------------------------------------------------ the estimators

def oracle_1d(x: np.ndarray, y: np.ndarray, estimator: str, k: int) -> float:
    if estimator == "ksg":
        return naive.ksg1(x, y, k)
    if estimator == "ksg2":
        return naive.ksg2(x, y, k)
    if estimator in ("kl", "wkl"):  # Berrett-Samworth-Yuan weights in dimensions 1 and 2: the k-th neighbour
        assert np.array_equal(naive_nd.bsy_weights(k, 2), naive_nd.kth_neighbour_weights(k))
        return naive.kl_mi(x, y, k)
    if estimator == "seed":  # mutinfo's weights in dimensions <= 4: the first neighbour
        return naive.seed_mi(x, y)
    raise AssertionError(estimator)


def oracle_1d_discrete(x: np.ndarray, labels: np.ndarray, estimator: str, k: int) -> float:
    if estimator == "ksg":
        return naive.ross(x, labels, k)
    if estimator in ("kl", "wkl"):
        return naive.kl_discrete(x, labels, k, weights=naive_nd.bsy_weights(k, 1))
    if estimator == "seed":
        w, _ = naive_nd.mutinfo_weights(k, 1)
        return naive.kl_discrete(x, labels, k, weights=w, offset="seed")
    raise AssertionError(estimator)


def _weights(estimator: str, k: int, d: int) -> np.ndarray:
    if estimator == "kl":
        return naive_nd.kth_neighbour_weights(k)
    if estimator == "wkl":
        return naive_nd.bsy_weights(k, d)
    w, margin = naive_nd.mutinfo_weights(k, d)
    assert margin > 1e-3
    return w


def oracle_nd(px: np.ndarray, py: np.ndarray, estimator: str, k: int) -> float:
    if estimator in ("ksg", "ksg2"):
        return naive_nd.ksg_mi(px, py, k, 1 if estimator == "ksg" else 2)
    dx, dy = px.shape[1], py.shape[1]
    seed = estimator == "seed"
    return naive_nd.kl_mi(px, py, _weights(estimator, k, dx), _weights(estimator, k, dy),
                          _weights(estimator, k, dx + dy), whiten=seed, seed_offset=seed)


def oracle_nd_discrete(px: np.ndarray, labels: np.ndarray, estimator: str, k: int) -> float:
    if estimator == "ksg":
        return naive_nd.ross_mi(px, labels, k)
    seed = estimator == "seed"
    return naive_nd.kl_discrete_mi(px, labels, _weights(estimator, k, px.shape[1]), whiten=seed, seed_offset=seed)


# ------------------------------------------------------------------------ the oracles

def oracle_smi(X, Y, *, m: int, estimator: str, k: int, seed: int, y_discrete: bool = False,
               directions=None) -> np.ndarray:
    """Per-slice SMI estimates of the 1-D recipe (``directions``: given unit directions of X and Y)."""
    n = X.shape[0]
    c = oracle_children(seed)
    theta_x = oracle_directions(c[0], m, X.shape[1]) if directions is None else directions[0]
    jitter_x = oracle_jitter(c[2], n)
    if y_discrete:
        return np.array([oracle_1d_discrete(oracle_slice(X, theta_x[i], jitter_x), Y, estimator, k)
                         for i in range(m)])
    theta_y = oracle_directions(c[1], m, Y.shape[1]) if directions is None else directions[1]
    jitter_y = oracle_jitter(c[3], n)
    return np.array([oracle_1d(oracle_slice(X, theta_x[i], jitter_x), oracle_slice(Y, theta_y[i], jitter_y),
                               estimator, k) for i in range(m)])


def oracle_ksmi(X, Y, *, m: int, s: int, estimator: str, k: int, seed: int, y_discrete: bool = False) -> np.ndarray:
    """Per-slice k-SMI estimates of the s-dimensional recipe."""
    n = X.shape[0]
    c = oracle_children(seed)
    frames_x, jitter_x = oracle_frames(c[0], m, X.shape[1], s), oracle_jitter(c[2], (n, s))
    if y_discrete:
        return np.array([oracle_nd_discrete(oracle_slice(X, frames_x[i], jitter_x), Y, estimator, k)
                         for i in range(m)])
    frames_y, jitter_y = oracle_frames(c[1], m, Y.shape[1], s), oracle_jitter(c[3], (n, s))
    return np.array([oracle_nd(oracle_slice(X, frames_x[i], jitter_x), oracle_slice(Y, frames_y[i], jitter_y),
                               estimator, k) for i in range(m)])


# ------------------------------------------------------------------------ data and tests

def _data(n: int = N, seed: int = 7):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 3)) * [1.0, 2.0, 0.5] + [3.0, -1.0, 0.0]
    Y = np.column_stack([X[:, 0] - 0.5 * X[:, 2], X[:, 1]]) + rng.standard_normal((n, 2))
    Y = np.column_stack([Y, np.tanh(X[:, 0]) + 0.3 * rng.standard_normal(n)])
    labels = np.where(X[:, 0] + 0.5 * rng.standard_normal(n) > 3.3, 7, np.where(X[:, 1] > 0, -2, 4))
    return X, Y, labels


def _check(res, expected, tol=TOL):
    assert res.per_slice.shape == expected.shape
    np.testing.assert_allclose(res.per_slice, expected, rtol=0, atol=tol)
    assert abs(res.value - expected.mean()) <= tol


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("estimator", ["ksg", "ksg2", "kl", "wkl", "seed"])
def test_smi_equals_the_oracle(estimator, backend):
    X, Y, _ = _data()
    res = fastsmi.smi(X, Y, n_projections=M, estimator=estimator, k=K, seed=SEED, backend=backend)
    _check(res, oracle_smi(X, Y, m=M, estimator=estimator, k=K, seed=SEED))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("estimator", ["ksg", "kl", "wkl", "seed"])
def test_smi_with_labels_equals_the_oracle(estimator, backend):
    X, _, labels = _data()
    assert np.unique(labels, return_counts=True)[1].min() > K + 1
    res = fastsmi.smi(X, labels, y_discrete=True, n_projections=M, estimator=estimator, k=K, seed=SEED,
                      backend=backend)
    _check(res, oracle_smi(X, labels, m=M, estimator=estimator, k=K, seed=SEED, y_discrete=True))


@pytest.mark.parametrize("estimator", ["ksg", "ksg2", "kl", "wkl", "seed"])
def test_ksmi_equals_the_oracle(estimator):
    require("kdtree")
    X, Y, _ = _data(n=70)
    # k = 5 puts four ranks in the support of the 4-D joint's Berrett-Samworth-Yuan weights
    res = fastsmi.smi(X, Y, n_projections=3, estimator=estimator, k=5, seed=SEED, slice_dim=2)
    _check(res, oracle_ksmi(X, Y, m=3, s=2, estimator=estimator, k=5, seed=SEED))


@pytest.mark.parametrize("estimator", ["ksg", "kl", "wkl", "seed"])
def test_ksmi_with_labels_equals_the_oracle(estimator):
    require("kdtree")
    X, _, labels = _data(n=70)
    res = fastsmi.smi(X, labels, y_discrete=True, n_projections=3, estimator=estimator, k=K, seed=SEED,
                      slice_dim=2)
    _check(res, oracle_ksmi(X, labels, m=3, s=2, estimator=estimator, k=K, seed=SEED, y_discrete=True))


def _tied(n: int = N, seed: int = 3):
    """Small integers with duplicated rows: exact ties everywhere, broken by the seeded jitter alone."""
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 4, (n, 3)).astype(float)
    Y = (X[:, :2] + rng.integers(0, 2, (n, 2))).astype(float)
    Y = np.column_stack([Y, rng.integers(0, 3, n)])
    X[n // 2:], Y[n // 2:] = X[: n - n // 2], Y[: n - n // 2]
    labels = (X[:, 0] > 1).astype(int) + 2 * (X[:, 1] > 2)
    return X, Y, labels


# coordinate directions project exactly (x * 1 + y * 0 + z * 0 = x in any order), so the
# oracle sees the very bits the kernels see and the jitter alone orders the ties
AXES_X = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
AXES_Y = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("estimator", ["ksg", "ksg2", "kl", "wkl", "seed"])
def test_smi_on_ties_equals_the_oracle(estimator, backend, no_tie_policy):
    X, Y, _ = _tied()
    res = fastsmi.smi(X, Y, estimator=estimator, k=K, seed=SEED, backend=backend, directions_x=AXES_X,
                      directions_y=AXES_Y)
    # "seed" whitens the joint: on ties its neighbour distances are jitter-sized (1e-10) and carry the
    # rounding of the whitening arithmetic (1e-16), a relative 1e-6 that no two ways of whitening share.
    # 1e-4 still tells the seeded jitter from another (see test_the_oracle_is_not_blind).
    tol = 1e-4 if estimator == "seed" else TOL
    _check(res, oracle_smi(X, Y, m=3, estimator=estimator, k=K, seed=SEED, directions=(AXES_X, AXES_Y)), tol)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("estimator", ["ksg", "kl", "wkl", "seed"])
def test_smi_with_labels_on_ties_equals_the_oracle(estimator, backend, no_tie_policy):
    X, _, labels = _tied()
    res = fastsmi.smi(X, labels, y_discrete=True, estimator=estimator, k=K, seed=SEED, backend=backend,
                      directions_x=AXES_X)
    _check(res, oracle_smi(X, labels, m=3, estimator=estimator, k=K, seed=SEED, y_discrete=True,
                           directions=(AXES_X, None)))


def test_the_oracle_is_not_blind():
    # a different seed, k or estimator moves the oracle by far more than the tolerance
    X, Y, _ = _data()
    base = oracle_smi(X, Y, m=2, estimator="ksg", k=K, seed=SEED)
    for other in (oracle_smi(X, Y, m=2, estimator="ksg", k=K, seed=SEED + 1),
                  oracle_smi(X, Y, m=2, estimator="ksg", k=K + 1, seed=SEED),
                  oracle_smi(X, Y, m=2, estimator="ksg2", k=K, seed=SEED)):
        assert np.abs(base - other).max() > 1e-3
    # on ties, the jitter's stream decides the estimate
    X, Y, _ = _tied()
    for est in ("kl", "seed"):
        a = oracle_smi(X, Y, m=3, estimator=est, k=K, seed=SEED, directions=(AXES_X, AXES_Y))
        b = oracle_smi(X, Y, m=3, estimator=est, k=K, seed=SEED + 1, directions=(AXES_X, AXES_Y))
        assert np.abs(a - b).max() > 1e-3
