"""Tests for the WKL entropy weights (Berrett-Samworth-Yuan and the seed's mutinfo)."""

from __future__ import annotations

import mpmath
import numpy as np
import pytest

from fastsmi import _weights
from naive_nd import bsy_weights as bsy_weights_reference
from naive_nd import mutinfo_weights

from fastsmi._weights import bsy_min_k, bsy_support, bsy_weights, seed_weights


def moment_rows_mp(k: int, d: int) -> list[list]:
    """Constraint rows [1, Gamma(j + 2l/d) / Gamma(j)] at 40 digits, j = 1..k."""
    with mpmath.workdps(40):
        rows = [[mpmath.mpf(1)] * k]
        for ell in range(1, d // 4 + 1):
            s = mpmath.mpf(2 * ell) / d
            rows.append([mpmath.gamma(j + s) / mpmath.gamma(j) for j in range(1, k + 1)])
        return rows


def constraint_errors(w: np.ndarray, d: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact (40-digit) values of (sum w_j - 1, moment sums) and their term scales."""
    k = w.size
    rows = moment_rows_mp(k, d)
    errors, scales = [], []
    with mpmath.workdps(40):
        ws = [mpmath.mpf(float(x)) for x in w]
        for i, row in enumerate(rows):
            total = mpmath.fsum(a * b for a, b in zip(ws, row)) - (1 if i == 0 else 0)
            errors.append(float(abs(total)))
            scales.append(float(mpmath.fsum(abs(a * b) for a, b in zip(ws, row))))
    return np.array(errors), np.array(scales)


# ------------------------------------------------------------------ support
def test_support_matches_definition():
    for k, d in [(10, 4), (5, 20), (100, 12), (7, 3), (1, 5)]:
        expected = sorted({(i * k) // d for i in range(1, d + 1)} - {0})
        assert bsy_support(k, d).tolist() == expected
    assert bsy_support(10, 4).tolist() == [2, 5, 7, 10]
    assert bsy_support(6, 20).tolist() == [1, 2, 3, 4, 5, 6]


def test_min_k():
    for d in (1, 3, 4, 7, 8, 20, 33):
        assert bsy_min_k(d) == d // 4 + 1


# ------------------------------------------------------------------ BSY weights
@pytest.mark.parametrize("d", [1, 2, 3])
def test_bsy_low_dimension_is_unweighted_kth_neighbour(d):
    for k in (1, 5, 12):
        w = bsy_weights(k, d)
        assert w.shape == (k,)
        np.testing.assert_array_equal(w, np.eye(k)[k - 1])


@pytest.mark.parametrize(
    ("k", "d"), [(5, 4), (10, 4), (10, 8), (3, 8), (50, 12), (6, 20), (30, 20), (100, 9), (40, 16)]
)
@pytest.mark.parametrize("support", ["paper", "all"])
def test_bsy_constraints_hold(k, d, support):
    w = bsy_weights(k, d, support=support)
    assert w.shape == (k,)
    errors, scales = constraint_errors(w, d)
    # exact arithmetic on the float64 weights: the constraints hold to float64 rounding
    assert np.all(errors <= 1e-15 * np.maximum(scales, 1.0) * k)
    if np.abs(w).max() < 1e5:
        assert errors.max() < 1e-9
    if support == "paper":
        off = np.setdiff1d(np.arange(1, k + 1), bsy_support(k, d))
        assert np.all(w[off - 1] == 0.0)


@pytest.mark.parametrize(("k", "d", "support"), [(10, 8, "paper"), (30, 20, "paper"), (25, 12, "all")])
def test_bsy_is_minimum_norm(k, d, support):
    """The minimum-norm solution lies in the row space of the constraints on its support."""
    w = bsy_weights(k, d, support=support)
    ranks = bsy_support(k, d) if support == "paper" else np.arange(1, k + 1)
    with mpmath.workdps(40):
        rows = moment_rows_mp(k, d)
        g = mpmath.matrix([[row[j - 1] for j in ranks] for row in rows])
        # independent formula: w = G^T (G G^T)^{-1} e_1, solved in 40-digit arithmetic
        rhs = mpmath.matrix([1] + [0] * (len(rows) - 1))
        ref = g.T * mpmath.lu_solve(g * g.T, rhs)
    ref = np.array([float(x) for x in ref])
    np.testing.assert_allclose(w[ranks - 1], ref, rtol=1e-9, atol=1e-12 * np.abs(ref).max())


def test_bsy_float_path_accuracy_follows_condition_number():
    """Where float64 is used (condition < 1e5) it agrees with the multiple-precision solve."""
    for k, d in [(10, 8), (50, 12), (100, 9), (12, 4)]:
        ranks = bsy_support(k, d)
        w_float, cond = _weights._min_norm_float(ranks, d)
        assert cond < _weights._FLOAT_MAX_COND
        w_mp = _weights._min_norm_mp(ranks, d)
        np.testing.assert_allclose(w_float, w_mp, rtol=0, atol=1e-15 * cond * 100 * np.abs(w_mp).max())


def test_bsy_ill_conditioned_uses_multiple_precision():
    # 10 moment conditions on 11 ranks (d = 40), and the d = 20 cases: float64 alone would
    # lose up to 8 digits; the result must be the exact minimum-norm weights, rounded
    for k, d in [(11, 40), (6, 20), (30, 20)]:
        ranks = bsy_support(k, d)
        assert _weights._min_norm_float(ranks, d)[1] >= _weights._FLOAT_MAX_COND
        w = bsy_weights(k, d)
        errors, scales = constraint_errors(w, d)
        assert np.all(errors <= 1e-15 * scales * k)
        with mpmath.workdps(50):
            rows = moment_rows_mp(k, d)
            g = mpmath.matrix([[row[j - 1] for j in ranks] for row in rows])
            rhs = mpmath.matrix([1] + [0] * (len(rows) - 1))
            ref = g.T * mpmath.lu_solve(g * g.T, rhs)
        np.testing.assert_allclose(w[ranks - 1], [float(x) for x in ref], rtol=1e-13)


def test_bsy_returns_copy():
    w = bsy_weights(10, 8)
    w[0] = 123.0
    assert bsy_weights(10, 8)[0] != 123.0


def test_bsy_infeasible_names_min_k():
    with pytest.raises(ValueError, match=r"k must be >= 6"):
        bsy_weights(5, 20)
    with pytest.raises(ValueError, match=r"k must be >= 3"):
        bsy_weights(2, 8, support="all")


def test_bsy_bad_arguments():
    with pytest.raises(ValueError, match="k must be at least 1"):
        bsy_weights(0, 3)
    with pytest.raises(ValueError, match="d must be at least 1"):
        bsy_weights(3, 0)
    with pytest.raises(TypeError, match="k must be a positive integer"):
        bsy_weights(2.0, 3)
    with pytest.raises(ValueError, match="support must be one of"):
        bsy_weights(5, 8, support="none")


# ------------------------------------------------------------------ seed weights
def test_seed_weights_low_dimension():
    for d in (1, 2, 3, 4):
        for k in (1, 5, 25):
            np.testing.assert_array_equal(seed_weights(k, d), np.eye(k)[0])


def test_seed_weights_20d_k5_from_the_definition():
    ref, margin = mutinfo_weights(5, 20)
    # the nearest singular value is 10^0.106 from the cut-off, far beyond float64 rounding
    # (about 1e-10 relative here): which values are kept does not hinge on rounding
    assert margin > 0.1
    w = seed_weights(5, 20)
    # float64 least squares on a system of condition up to 1e6 keeps about ten digits
    np.testing.assert_allclose(w, ref, rtol=1e-7)
    # the README's quoted values
    np.testing.assert_allclose(w, [618.34, -5535.48, 14478.19, -14866.26, 5306.20], atol=0.006)
    # the seed's system is inconsistent: the weights do not even sum to one
    assert abs(w.sum() - 1.0) > 1e-3


@pytest.mark.parametrize("d", [5, 6, 8, 11, 16, 20, 30])
@pytest.mark.parametrize("k", [1, 2, 3, 5, 8, 13, 30])
def test_seed_weights_equal_the_definition(k, d):
    ref, margin = mutinfo_weights(k, d)
    # a singular value within rounding of the cut-off would make the kept set a coin toss
    assert margin > 1e-3, f"a singular value lies within 10^{margin:.4f} of the cut-off"
    np.testing.assert_allclose(seed_weights(k, d), ref, rtol=1e-7, atol=1e-9 * max(1.0, np.abs(ref).max()))


def test_seed_weights_match_bsy_when_consistent_and_well_conditioned():
    # a consistent, well-conditioned system: least squares returns the minimum-norm exact
    # solution, which is BSY's with the paper's support
    for k, d in [(10, 8), (20, 5), (50, 12)]:
        np.testing.assert_allclose(seed_weights(k, d), bsy_weights(k, d), rtol=1e-8, atol=1e-9)


@pytest.mark.parametrize("k, d", [(2, 4), (5, 4), (3, 6), (10, 8), (20, 12), (9, 9)])
def test_bsy_weights_equal_the_reference(k, d):
    np.testing.assert_allclose(bsy_weights(k, d), bsy_weights_reference(k, d), rtol=1e-9, atol=1e-12)


def test_seed_weights_bad_arguments():
    with pytest.raises(ValueError, match="k must be at least 1"):
        seed_weights(0, 5)
    with pytest.raises(TypeError, match="d must be a positive integer"):
        seed_weights(5, "20")
