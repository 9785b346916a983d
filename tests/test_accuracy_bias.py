"""The Gaussian-reference bias correction: closed form, seeding, and the bias it removes from KSG."""
import numpy as np
import pytest

from fastsmi._bias import (CORRECTIONS, _correlation, _reference_correlation, check_correction, gaussian_mi,
                           gaussian_reference_bias)
from fastsmi._fulldim import ksg_mi


def pairwise(d, rho):
    """Correlation of a Gaussian (X, Y) in d + d dimensions with corr(X_i, Y_i) = rho, MI -d/2 log(1 - rho^2)."""
    C = np.eye(2 * d)
    for i in range(d):
        C[i, d + i] = C[d + i, i] = rho
    return C, -0.5 * d * np.log1p(-rho ** 2)


@pytest.mark.parametrize("d,rho", [(1, 0.8), (3, 0.5), (4, 0.9)])
def test_gaussian_mi_closed_form(d, rho):
    C, exact = pairwise(d, rho)
    assert gaussian_mi(C, d) == pytest.approx(exact, rel=1e-12)


def test_gaussian_mi_of_a_dense_block_matches_the_eigenvalues():
    # equicorrelated 2 + 2 block at 0.5: joint eigenvalues 1 + 3(0.5), 0.5 (x3); marginal 1.5, 0.5
    C = np.full((4, 4), 0.5)
    np.fill_diagonal(C, 1.0)
    exact = 0.5 * (2 * np.log(1.5 * 0.5) - np.log(2.5 * 0.5 ** 3))
    assert gaussian_mi(C, 2) == pytest.approx(exact, rel=1e-12)


def test_bias_of_a_shifted_plug_in_estimator_is_the_shift():
    rng = np.random.default_rng(0)
    C, _ = pairwise(3, 0.6)
    Z = rng.multivariate_normal(np.zeros(6), C, size=5000)

    def shifted(A, B):
        return gaussian_mi(_correlation(A, B), A.shape[1]) - 0.3

    X, Y = Z[:, :3], Z[:, 3:]
    bias = gaussian_reference_bias(X, Y, shifted, seed=np.random.SeedSequence(1), reps=4)
    # the plug-in on a reference sample has a standard deviation of about 0.015 nats here
    assert bias == pytest.approx(-0.3, abs=0.03)
    # a constant estimator's bias is that constant minus the reference MI, exactly
    exact = gaussian_mi(_reference_correlation(_correlation(X, Y), 3, 5000), 3)
    assert gaussian_reference_bias(X, Y, lambda A, B: 2.0, seed=np.random.SeedSequence(1)) == 2.0 - exact


def test_reference_removes_the_plug_in_bias():
    rng = np.random.default_rng(4)
    C, _ = pairwise(3, 0.6)
    Z = rng.multivariate_normal(np.zeros(6), C, size=400)
    S = _correlation(Z[:, :3], Z[:, 3:])
    R = _reference_correlation(S, 3, 400)
    assert gaussian_mi(R, 3) == pytest.approx(gaussian_mi(S, 3) - 9 / 800, abs=1e-9)
    assert np.array_equal(R[:3, :3], S[:3, :3]) and np.array_equal(R[3:, 3:], S[3:, 3:])
    # independent data whose plug-in MI is below its bias get an independent reference
    weak = np.array([[1.0, 0.01], [0.01, 1.0]])  # plug-in MI 5e-5, below its bias 1 / 200 at n = 100
    R0 = _reference_correlation(weak, 1, 100)
    assert R0[0, 1] == 0.0 and R0[1, 0] == 0.0 and gaussian_mi(R0, 1) == 0.0


def test_reference_depends_on_the_seed_only():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((300, 2))
    Y = X + rng.standard_normal((300, 2))
    calls = []

    def first_value(A, B):
        calls.append(A.shape + B.shape)
        return float(A[0, 0] + B[0, 0])

    a = gaussian_reference_bias(X, Y, first_value, seed=np.random.SeedSequence(7), reps=3)
    b = gaussian_reference_bias(X, Y, first_value, seed=np.random.SeedSequence(7), reps=3)
    c = gaussian_reference_bias(X, Y, first_value, seed=np.random.SeedSequence(8), reps=3)
    assert a == b and a != c
    assert calls == [(300, 2, 300, 2)] * 9


def test_correction_removes_the_high_mi_bias_of_ksg():
    # KSG (k = 5, n = 500) underestimates 4 + 4 pairs at 0.9 (MI 3.32) by about 1.25 nats
    C, exact = pairwise(4, 0.9)
    for s in range(2):
        Z = np.random.default_rng(s).multivariate_normal(np.zeros(8), C, size=500)
        X, Y = Z[:, :4], Z[:, 4:]
        raw = ksg_mi(X, Y, k=5)
        bias = gaussian_reference_bias(X, Y, lambda A, B: ksg_mi(A, B, k=5), seed=np.random.SeedSequence(s), reps=2)
        assert raw - exact < -1.0
        assert abs(raw - bias - exact) < 0.25


def test_singular_correlation_is_refused():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((200, 2))
    Y = np.column_stack([X[:, 0] + X[:, 1], rng.standard_normal(200)])
    with pytest.raises(ValueError, match="singular.*correction='none'"):
        gaussian_reference_bias(X, Y, lambda A, B: 0.0, seed=np.random.SeedSequence(0))


def test_check_correction():
    assert CORRECTIONS == ("none", "gaussian")
    assert check_correction("Gaussian", "ksg", False) == "gaussian"
    assert check_correction("none", "seed", True) == "none"
    with pytest.raises(ValueError, match="unknown correction.*'none', 'gaussian'"):
        check_correction("lnc", "ksg", False)
    with pytest.raises(ValueError, match="y_discrete=True use correction='none'"):
        check_correction("gaussian", "ksg", True)
    with pytest.raises(ValueError, match="estimator='seed'"):
        check_correction("gaussian", "seed", False)
