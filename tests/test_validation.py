"""Bad input gets a clear exception that names the problem and the fix; the messages are part of the API,
so each test matches both."""
from __future__ import annotations

import numpy as np
import pytest

import fastsmi

_rng = np.random.default_rng(0)
X = _rng.standard_normal((50, 3))
Y = _rng.standard_normal((50, 2))


def with_nan(a, value=np.nan):
    a = a.copy()
    a[7, 1] = value
    return a


CASES = [
    (dict(X=with_nan(X)), ValueError,
     r"X contains NaN or inf \(first at row 7, column 1\); drop or impute those samples first"),
    (dict(Y=with_nan(Y, np.inf)), ValueError,
     r"Y contains NaN or inf \(first at row 7, column 1\); drop or impute those samples first"),
    (dict(Y=Y[:40]), ValueError, r"X and Y must have the same number of samples \(rows\), got 50 and 40"),
    (dict(k=50), ValueError, r"need more samples than neighbours: n=50 but k=50; use k < n"),
    (dict(k=0), ValueError, r"k must be at least 1, got 0"),
    (dict(k=2.5), TypeError, r"k must be a positive integer, got 2\.5"),
    (dict(X=np.ones((50, 3))), ValueError,
     r"column 0 of X is constant and so is every other column, so X is constant .*"
     r"cannot be estimated from neighbour distances: check the data"),
    (dict(Y=np.full((50, 2), 3.0)), ValueError,
     r"column 0 of Y is constant and so is every other column, so Y is constant .*check the data"),
    (dict(X=np.array([["a", "b"]] * 50)), TypeError,
     r"X must hold numbers, got dtype <U1; convert it with np\.asarray\(X, dtype=float\) after removing non-numeric"),
    (dict(X=np.empty((50, 2), dtype=object)), TypeError,
     r"X must hold numbers, got dtype object; convert it with np\.asarray\(X, dtype=float\)"),
    (dict(X=X + 1j), TypeError, r"X is complex \(complex128\); pass its real and imaginary parts as separate columns"),
    (dict(X=X.reshape(50, 3, 1)), ValueError,
     r"X must be 1-D \(n,\) or 2-D \(n, d\), got shape \(50, 3, 1\);"
     r" flatten each sample first, e\.g\. X\.reshape\(len\(X\), -1\)"),
    (dict(n_projections=0), ValueError, r"n_projections must be at least 1, got 0"),
    (dict(n_projections=10.0), TypeError, r"n_projections must be a positive integer, got 10\.0"),
    (dict(estimator="knn"), ValueError, r"unknown estimator 'knn'; choose one of 'ksg', 'ksg2', 'kl', 'wkl', 'seed'"),
    (dict(estimator="ksg2", y_discrete=True, Y=np.arange(50) % 2), ValueError,
     r"estimator 'ksg2' has no discrete-label version; with y_discrete=True choose one of 'ksg', 'kl', 'wkl', 'seed'"),
    (dict(y_discrete=True, Y=np.linspace(0, 1, 50)), ValueError,
     r"Y must hold integer class labels;"
     r" it has non-integer values\. Encode classes as integers, or use y_discrete=False"),
    (dict(y_discrete=True, Y=np.array(["a", "b"] * 25)), TypeError,
     r"Y must hold integer class labels, got dtype <U1;"
     r" encode them first, e\.g\. np\.unique\(Y, return_inverse=True\)\[1\]"),
    (dict(y_discrete=True, Y=np.r_[np.zeros(47), np.ones(3)].astype(int)), ValueError,
     r"class 1 of Y has 3 samples but k=5 needs at least 6 per class; lower k, merge rare classes, or drop them"),
    (dict(y_discrete=True, Y=np.zeros(50, dtype=int)), ValueError,
     r"Y has a single class; MI with a constant label is 0"),
    (dict(y_discrete=True, Y=np.arange(40) % 2), ValueError,
     r"X and Y must have the same number of samples \(rows\), got 50 and 40"),
    (dict(n_jobs=0), ValueError, r"n_jobs must be a positive integer, -1 or None \(all cores\), got 0"),
    (dict(backend="gpu"), ValueError, r"unknown backend 'gpu'; choose one of 'auto', 'numba', 'cython'"),
    (dict(method="halton"), ValueError,
     r"unknown projection method 'halton'; choose one of \('sphere', 'orthonormal'\)"),
    (dict(seed=-3), ValueError, r"seed must be a non-negative integer, got -3"),
    (dict(seed="abc"), TypeError, r"seed must be None, a non-negative int, .*got str"),
    (dict(directions_x=np.ones((4, 2))), ValueError,
     r"directions_x must have shape \(m, 3\) to match the data, got \(4, 2\)"),
    (dict(directions_x=np.zeros((4, 3)), directions_y=np.ones((4, 2))), ValueError,
     r"directions_x has a zero row; every direction must be a non-zero vector"),
    (dict(X=np.empty((0, 3)), Y=np.empty((0, 2))), ValueError,
     r"X is empty \(shape \(0, 3\)\); it needs at least one column and k\+1 rows"),
]


@pytest.mark.parametrize("kwargs,error,message", CASES, ids=[c[2][:40] for c in CASES])
def test_smi_rejects_bad_input(kwargs, error, message):
    args = dict(X=X, Y=Y, n_projections=4, seed=0)
    args.update(kwargs)
    with pytest.raises(error, match=message):
        fastsmi.smi(args.pop("X"), args.pop("Y"), **args)


def test_constant_projection_is_reported():
    """X on a line: a direction orthogonal to it projects every sample to one value."""
    t = np.random.default_rng(1).standard_normal(50)
    line = np.column_stack([t, t])
    with pytest.raises(ValueError, match=r"the projection of X on direction 0 is constant.*: drop redundant columns "
                                         r"or pass directions that are not orthogonal to the data"):
        fastsmi.smi(line, Y, directions_x=np.array([[1.0, -1.0]]), directions_y=np.array([[1.0, 0.0]]))


@pytest.mark.parametrize(
    "kwargs,error,message",
    [
        (dict(x=np.r_[0.0, 0.0, np.arange(20.0)]), ValueError,
         r"x has duplicated values: 3 of its 22 samples \(0\.136\) equal another sample; .*"
         r"An atom has entropy -inf: de-duplicate the data or add noise"),
        (dict(estimator="ksg"), ValueError, r"unknown entropy estimator 'ksg'; choose one of 'kl', 'wkl', 'seed'"),
        (dict(x=np.ones(30)), ValueError, r"column 0 of x is constant, so x is constant .*check the data"),
        (dict(k=30), ValueError, r"need more samples than neighbours: n=30 but k=30; use k < n"),
    ],
)
def test_entropy_rejects_bad_input(kwargs, error, message):
    args = dict(x=np.random.default_rng(2).standard_normal(30))
    args.update(kwargs)
    with pytest.raises(error, match=message):
        fastsmi.entropy(args.pop("x"), **args)


def test_mi_rejects_bad_input():
    with pytest.raises(ValueError, match=r"X and Y must have the same number of samples \(rows\), got 50 and 30"):
        fastsmi.mi(X[:, 0], Y[:30, 0])
    with pytest.raises(ValueError, match=r"class 1 of Y has 2 samples but k=5 needs at least 6 per class; lower k, "
                                         r"merge rare classes, or drop them"):
        fastsmi.mi(X[:, 0], np.r_[np.zeros(48), np.ones(2)].astype(int), y_discrete=True)


def test_no_silent_nan_for_perfectly_dependent_whitened_slices():
    """The whitened 'seed' estimator cannot whiten y = 2x: it says so instead of returning NaN."""
    x = np.random.default_rng(0).standard_normal(100)
    with pytest.raises(ValueError, match=r"a slice gave a non-finite estimate .*; use estimator='ksg' or add noise"):
        fastsmi.mi(x, 2.0 * x, estimator="seed")
