"""Property-based invariances (hypothesis): scale, offset, row order, dtype and container, backend parity.

What is exact and why (docs/ties_and_scale.md): every estimator first centres each column
on one of its own values (the lower median) and multiplies by a power of two.  Both steps
commute with float64 rounding, so for ``c = 2**p`` and an exactly representable ``c X + b``
the prepared data, and hence the results, are bit for bit those of ``X``.  Other scales
agree to rounding (1e-9 relative is asserted).
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import fastsmi

from conftest import BACKENDS

pytest.importorskip("fastsmi._cython._kdtree")

PROFILE = settings(max_examples=20, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
SEEDS = st.integers(0, 2**32 - 1)
#: powers of two from about 1e-298 to 1e298
POWERS = st.integers(-990, 990)


def gaussian(seed: int, n: int = 120, dx: int = 3, dy: int = 2) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, dx))
    Y = X[:, :dy] + rng.standard_normal((n, dy))
    return X, Y


def outcome(f):
    """The value of ``f()``, or the error it raises: both sides must agree on either.

    The note that names coarsely stored columns (" Column j of X has values of magnitude ...")
    describes the raw data, so it is left out of the comparison.
    """
    try:
        return f()
    except ValueError as exc:
        return ("ValueError", str(exc).split(" Column ")[0])


def slices(X, Y, backend, estimator="ksg", **kw):
    return fastsmi.smi(X, Y, n_projections=6, seed=7, estimator=estimator, backend=backend, **kw).per_slice


# ---------------------------------------------------------------------------------------------
# scale
# ---------------------------------------------------------------------------------------------
@PROFILE
@given(seed=SEEDS, p=POWERS, q=POWERS, estimator=st.sampled_from(["ksg", "kl", "seed"]),
       backend=st.sampled_from(BACKENDS))
def test_power_of_two_scale_is_exact(seed, p, q, estimator, backend):
    """smi, k-SMI and mi of (2^p X, 2^q Y) are bit-identical to those of (X, Y)."""
    X, Y = gaussian(seed)
    cX, cY = np.ldexp(X, p), np.ldexp(Y, q)
    assert np.array_equal(np.ldexp(cX, -p), X)  # the scaled data are exact
    np.testing.assert_array_equal(slices(cX, cY, backend, estimator), slices(X, Y, backend, estimator))
    assert fastsmi.mi(cX[:, 0], cY[:, 0], estimator=estimator, backend=backend) == fastsmi.mi(
        X[:, 0], Y[:, 0], estimator=estimator, backend=backend)
    assert fastsmi.mi(cX, cY, estimator=estimator) == fastsmi.mi(X, Y, estimator=estimator)
    k_smi = dict(n_projections=3, seed=2, slice_dim=2, estimator=estimator)
    assert fastsmi.smi(cX, cY, **k_smi).value == fastsmi.smi(X, Y, **k_smi).value


@PROFILE
@given(seed=SEEDS, p=st.integers(-990, 990), d=st.integers(1, 3), estimator=st.sampled_from(["kl", "wkl", "seed"]))
def test_entropy_scale_equivariance(seed, p, d, estimator):
    """H(2^p X) = H(X) + d p log 2, to rounding, over 600 decades of scale."""
    X = np.random.default_rng(seed).standard_normal((150, d))
    expected = fastsmi.entropy(X, estimator=estimator) + d * p * math.log(2.0)
    assert math.isclose(fastsmi.entropy(np.ldexp(X, p), estimator=estimator), expected, rel_tol=1e-12,
                        abs_tol=1e-12 * abs(d * p))


@PROFILE
@given(seed=SEEDS, exponent=st.floats(-300, 300), backend=st.sampled_from(BACKENDS))
def test_any_scale_to_rounding(seed, exponent, backend):
    """c = 10**e, not a power of two: c X is rounded, so the results agree to rounding (1e-9 relative)."""
    X, Y = gaussian(seed)
    c = 10.0**exponent
    assume(np.isfinite(c) and c > 0 and np.all(np.abs(c * X[X != 0]) > 1e-300))
    for est in ("ksg", "kl"):
        np.testing.assert_allclose(slices(c * X, Y, backend, est), slices(X, Y, backend, est), rtol=1e-9, atol=1e-12)
    assert math.isclose(fastsmi.mi(c * X, Y), fastsmi.mi(X, Y), rel_tol=1e-9, abs_tol=1e-12)


@PROFILE
@given(seed=SEEDS, powers=st.lists(POWERS, min_size=3, max_size=3), estimator=st.sampled_from(["ksg", "kl", "wkl"]))
def test_full_mi_per_column_scale_is_exact(seed, powers, estimator):
    """Full-dimensional MI is invariant to a different scale per column (2^p_j: bit-identical)."""
    X, Y = gaussian(seed)
    assert fastsmi.mi(np.ldexp(X, np.array(powers)), Y, estimator=estimator) == fastsmi.mi(X, Y, estimator=estimator)


# ---------------------------------------------------------------------------------------------
# offset
# ---------------------------------------------------------------------------------------------
@PROFILE
@given(seed=SEEDS, bits=st.integers(3, 30), fraction=st.lists(st.floats(-1, 1), min_size=3, max_size=3),
       estimator=st.sampled_from(["ksg", "ksg2", "kl"]), backend=st.sampled_from(BACKENDS))
def test_offset_is_exact(seed, bits, fraction, estimator, backend):
    """X on the grid 2^-bits, shifted by up to 2^(51 - bits) per column (5e14 SD at bits = 3): same results.

    On that grid X + b is exact in float64, so both sides describe the same data.  Coarse
    grids have ties; then both sides must raise the same error (KL) or agree (KSG).
    """
    X, Y = gaussian(seed)
    X = np.round(np.ldexp(X, bits)) / 2.0**bits
    b = np.round(np.array(fraction) * 2.0 ** (51 - bits)) / 1.0  # integers: multiples of the grid step
    Xb = X + b
    assert np.array_equal(Xb - b, X)
    assert outcome(lambda: slices(Xb, Y, backend, estimator).tolist()) == outcome(
        lambda: slices(X, Y, backend, estimator).tolist())
    assert outcome(lambda: fastsmi.mi(Xb, Y, estimator=estimator)) == outcome(
        lambda: fastsmi.mi(X, Y, estimator=estimator))
    assert outcome(lambda: fastsmi.mi(Xb[:, 0], Y[:, 0], estimator=estimator, backend=backend)) == outcome(
        lambda: fastsmi.mi(X[:, 0], Y[:, 0], estimator=estimator, backend=backend))
    k_smi = dict(n_projections=2, seed=3, slice_dim=2, estimator=estimator)
    assert outcome(lambda: fastsmi.smi(Xb, Y, **k_smi).value) == outcome(lambda: fastsmi.smi(X, Y, **k_smi).value)
    if estimator == "kl":
        assert outcome(lambda: fastsmi.entropy(Xb)) == outcome(lambda: fastsmi.entropy(X))


# ---------------------------------------------------------------------------------------------
# row order
# ---------------------------------------------------------------------------------------------
def _min_gap(P: np.ndarray) -> float:
    """Smallest gap between sorted values of each standardised column."""
    Z = (P - P.mean(axis=0)) / P.std(axis=0)
    return float(np.diff(np.sort(Z, axis=0), axis=0).min())


@PROFILE
@given(seed=SEEDS, perm_seed=SEEDS, estimator=st.sampled_from(["ksg", "ksg2", "kl", "wkl", "seed"]),
       backend=st.sampled_from(BACKENDS))
def test_row_permutation(seed, perm_seed, estimator, backend):
    """Permuting the rows changes only which jitter value each sample gets.

    The jitter is at most J = 1e-10 standard deviations.  KSG depends on the order of
    distances alone, which a jitter cannot change while every gap of the standardised
    projections exceeds 2J: the estimates are the same to summation order.  A KL term
    log r moves by at most 2 sqrt(2) J / r, and r is at least the smallest gap g, so with
    coefficients summing to at most 4 in absolute value the estimate moves by at most
    4 * 2 sqrt(2) J / (g - 2 sqrt(2) J).
    """
    X, Y = gaussian(seed, n=100)
    rng = np.random.default_rng(perm_seed)
    perm = rng.permutation(X.shape[0])
    tx = np.random.default_rng(seed + 1).standard_normal((4, X.shape[1]))
    ty = np.random.default_rng(seed + 2).standard_normal((4, Y.shape[1]))
    tx /= np.linalg.norm(tx, axis=1, keepdims=True)
    ty /= np.linalg.norm(ty, axis=1, keepdims=True)
    gap = min(_min_gap(X @ tx.T), _min_gap(Y @ ty.T))
    J = 1e-10
    assume(gap > 1e3 * J)
    kw = dict(directions_x=tx, directions_y=ty, estimator=estimator, backend=backend, seed=0)
    a = fastsmi.smi(X, Y, **kw).per_slice
    b = fastsmi.smi(X[perm], Y[perm], **kw).per_slice
    if estimator.startswith("ksg"):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-13)
    else:
        w = 2 * math.sqrt(2) * J
        bound = 4 * w / (gap - w) * (3.0 if estimator == "seed" else 1.0)  # whitening: |coefficients| up to 3
        assert np.max(np.abs(a - b)) <= bound


@PROFILE
@given(seed=SEEDS, perm_seed=SEEDS, estimator=st.sampled_from(["ksg", "ksg2", "kl"]))
def test_row_permutation_full_dimensional(seed, perm_seed, estimator):
    """The full-dimensional path has no jitter: a permutation changes only summation order."""
    X, Y = gaussian(seed, n=100)
    perm = np.random.default_rng(perm_seed).permutation(100)
    assert math.isclose(fastsmi.mi(X[perm], Y[perm], estimator=estimator), fastsmi.mi(X, Y, estimator=estimator),
                        rel_tol=1e-12, abs_tol=1e-13)


@PROFILE
@given(seed=SEEDS, perm_seed=SEEDS)
def test_row_permutation_with_the_gaussian_correction(seed, perm_seed):
    """The Gaussian reference is drawn from the data's correlation, summed in a canonical row order."""
    X, Y = gaussian(seed, n=100)
    perm = np.random.default_rng(perm_seed).permutation(100)
    kw = dict(transform="rank", correction="gaussian")
    assert math.isclose(fastsmi.mi(X[perm], Y[perm], **kw), fastsmi.mi(X, Y, **kw), rel_tol=1e-12, abs_tol=1e-13)


# ---------------------------------------------------------------------------------------------
# dtype and container
# ---------------------------------------------------------------------------------------------
class FrameLike:
    """A minimal pandas-like container: only ``__array__``."""

    def __init__(self, data):
        self._data = data

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self._data, dtype=dtype)


CONTAINERS = {
    "float32": lambda A: A.astype(np.float32),
    "int": lambda A: A.astype(np.int64),
    "list": lambda A: A.tolist(),
    "frame": FrameLike,
    "fortran": np.asfortranarray,
    "strided": lambda A: np.repeat(A, 2, axis=1)[:, ::2],
}


@PROFILE
@given(seed=SEEDS, kind=st.sampled_from(sorted(CONTAINERS)), estimator=st.sampled_from(["ksg", "kl"]),
       backend=st.sampled_from(BACKENDS))
def test_dtype_and_container(seed, kind, estimator, backend):
    """Every container gives the results of its float64 values, bit for bit (int data on a wide range: no ties)."""
    X, Y = gaussian(seed)
    X = np.round(X * 2**20) if kind == "int" else X.astype(np.float32).astype(np.float64) if kind == "float32" else X
    wrapped = CONTAINERS[kind](X)
    np.testing.assert_array_equal(slices(wrapped, Y, backend, estimator), slices(X, Y, backend, estimator))
    assert fastsmi.mi(wrapped, Y, estimator=estimator) == fastsmi.mi(X, Y, estimator=estimator)


# ---------------------------------------------------------------------------------------------
# backend parity
# ---------------------------------------------------------------------------------------------
@pytest.mark.skipif(len(BACKENDS) < 2, reason="needs both backends")
@PROFILE
@given(seed=SEEDS, p=POWERS, ties=st.sampled_from(["none", "relu", "grid"]),
       estimator=st.sampled_from(["ksg", "ksg2", "kl", "wkl", "seed"]), labels=st.booleans())
def test_backend_parity(seed, p, ties, estimator, labels):
    """numba and cython agree to 1e-10 on every case, or raise the same error."""
    X, Y = gaussian(seed)
    if ties == "relu":
        X = np.maximum(X, 0.0)
    elif ties == "grid":
        X = np.round(4 * X) / 4
    X = np.ldexp(X, p)
    target = (Y[:, 0] > 0).astype(int) if labels else Y
    if labels and estimator == "ksg2":
        estimator = "ksg"
    res = [outcome(lambda: slices(X, target, b, estimator, y_discrete=labels)) for b in ("numba", "cython")]
    if isinstance(res[0], tuple):
        assert res[0] == res[1]
    else:
        np.testing.assert_allclose(res[0], res[1], rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# the reported cases, and constant columns
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_extreme_scales_and_offsets(backend):
    """|X| ~ 1e155 gave 1e-13 (squares overflowed), 1e-200 garbage per backend, X + 1e13 'constant'."""
    X, Y = gaussian(0, n=400)
    base = slices(X, Y, backend)
    for scaled in (X * 1e155, X * 1e-200, X * 1e300, X * 1e-300):
        np.testing.assert_allclose(slices(scaled, Y, backend), base, rtol=1e-9)
    # 1e13 + X rounds X to 2e-3: the result moves by that rounding, not by an error.  Exactly: the slices
    # are those of the rounded data.  In size: the move is a deterministic function of the data, not a
    # sampling error; tests/calibration/sweep.py invariance_offset_rounding_shift, 100 data seeds: mean
    # 0.0011, sd 0.0004, largest 0.0022 -> max(mean + 3.29 sd, largest) = 0.0023 (99.9% of seeds pass;
    # truth 0, no bias to detect; the old bound 0.02 was nine times that)
    shifted = slices(X + 1e13, Y, backend)
    np.testing.assert_allclose(shifted, slices((X + 1e13) - 1e13, Y, backend), rtol=1e-12)
    assert np.max(np.abs(shifted - base)) < 0.0023
    assert math.isclose(fastsmi.mi(X * 1e155, Y), fastsmi.mi(X, Y), rel_tol=1e-9)
    assert math.isclose(fastsmi.entropy(X * 1e155), fastsmi.entropy(X) + 3 * math.log(1e155), rel_tol=1e-9)


@pytest.mark.parametrize("backend", BACKENDS)
def test_constant_columns_are_accepted(backend):
    """load_digits has pixels that are always 0: one warning, the same slices as without those columns."""
    datasets = pytest.importorskip("sklearn.datasets")
    X, y = datasets.load_digits(return_X_y=True)
    const = X.std(axis=0) == 0
    assert const.sum() == 3
    T = np.random.default_rng(0).standard_normal((8, 64))
    with pytest.warns(UserWarning, match=r"3 columns of X \(first: 0\) are constant") as record:
        full = fastsmi.smi(X, y, y_discrete=True, directions_x=T, backend=backend)
    assert len(record) == 1
    reduced = fastsmi.smi(X[:, ~const], y, y_discrete=True, directions_x=T[:, ~const], backend=backend)
    np.testing.assert_allclose(full.per_slice, reduced.per_slice, rtol=1e-9)
    assert 0.1 < full.value < np.log(10)
    with pytest.warns(UserWarning, match="constant"):
        assert fastsmi.mi(X, y, y_discrete=True) == fastsmi.mi(X[:, ~const], y, y_discrete=True)
    with pytest.warns(UserWarning, match="constant"):
        res = fastsmi.smi(X, y, y_discrete=True, slice_dim=2, n_projections=4, seed=0)
    assert 0.1 < res.value < np.log(10)


def test_constant_column_full_dimensional_kl():
    """A constant column must not enter the KL entropies' dimension: same MI as without it."""
    X, Y = gaussian(3, n=400)
    Xc = np.c_[X, np.full(400, 7.0)]
    with pytest.warns(UserWarning, match="column 3 of X is constant"):
        assert fastsmi.mi(Xc, Y, estimator="kl") == fastsmi.mi(X, Y, estimator="kl")
    with pytest.raises(ValueError, match="column 3 of x is constant, so x has no density"):
        fastsmi.entropy(Xc)


def test_constant_variable_and_projection_still_refused():
    X, Y = gaussian(4, n=100)
    with pytest.raises(ValueError, match="so X is constant"):
        fastsmi.smi(np.ones((100, 3)), Y, n_projections=4)
    with pytest.raises(ValueError, match="so Y is constant"):
        fastsmi.mi(X, np.full((100, 2), 1e13))
    with pytest.raises(ValueError, match="projection of X on direction 0 is constant"):
        fastsmi.smi(np.c_[X[:, 0], X[:, 0] + 1e13], Y, directions_x=[[1.0, -1.0]], directions_y=[[1.0, 0.0]])
