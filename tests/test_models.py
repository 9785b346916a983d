"""Tests for the known-MI synthetic models, against independent references."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
from scipy import special, stats

from fastsmi.experiments.models import (
    AdditiveUniformNoiseModel,
    GaussianModel,
    StudentTModel,
    UniformMarginalModel,
    gaussian_rho,
    gaussian_smi,
    haar_orthogonal,
    student_t_mi_excess,
)


# ------------------------------------------------------------------ references
def smi_series_reference(mi: float, d: int) -> float:
    """Independent reference: E_t[-1/2 log(1 - a t)], t ~ Beta(1/2, (d-1)/2), as a series.

    -1/2 log(1 - a t) = 1/2 sum_n a^n t^n / n and E[t^n] = (1/2)_n / (d/2)_n, which sums to
    (a / (2 d)) 3F2(1, 1, 3/2; 2, d/2 + 1; a); evaluated with mpmath at 40 digits.
    """
    with mpmath.workdps(40):
        a = -mpmath.expm1(-2 * mpmath.mpf(mi) / d)
        return float(a / (2 * d) * mpmath.hyp3f2(1, 1, 1.5, 2, mpmath.mpf(d) / 2 + 1, a))


def smi_mpmath_quad_reference(mi: float, d: int) -> float:
    """Second reference: direct mpmath quadrature of the Beta-weighted integrand in t."""
    with mpmath.workdps(30):
        a = -mpmath.expm1(-2 * mpmath.mpf(mi) / d)
        b = mpmath.mpf(d - 1) / 2
        norm = mpmath.beta(mpmath.mpf(1) / 2, b)

        def f(t):
            return -mpmath.log(1 - a * t) / 2 * t ** (-mpmath.mpf(1) / 2) * (1 - t) ** (b - 1)

        return float(mpmath.quad(f, [0, mpmath.mpf(1) / 2, 1]) / norm)


def random_unit(rng: np.random.Generator, m: int, d: int) -> np.ndarray:
    v = rng.standard_normal((m, d))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


# ------------------------------------------------------------------ Gaussian SMI
@pytest.mark.parametrize(
    ("d", "mi", "expected"),
    [(2, 2.0, 0.3798854930417224), (10, 4.0, 0.0297355754210632)],
)
def test_gaussian_smi_known_values(d, mi, expected):
    # expected = the hypergeometric series at 40 digits; the brief quotes 0.379885..., 0.029736...
    assert abs(smi_series_reference(mi, d) - expected) < 1e-15
    assert abs(gaussian_smi(mi, d) - expected) < 1e-8
    assert round(gaussian_smi(mi, d), 6) == {2: 0.379885, 10: 0.029736}[d]


@pytest.mark.parametrize("d", [2, 3, 4, 7, 20, 100, 1000])
@pytest.mark.parametrize("mi", [0.0, 1e-3, 0.5, 4.0])
def test_gaussian_smi_matches_series(d, mi):
    assert abs(gaussian_smi(mi, d) - smi_series_reference(mi, d)) < 1e-10


@pytest.mark.parametrize(("d", "mi"), [(3, 2.0), (6, 4.0), (50, 1.0), (3, 30.0), (7, 30.0), (100, 60.0)])
def test_gaussian_smi_matches_mpmath_quadrature(d, mi):
    assert abs(gaussian_smi(mi, d) - smi_mpmath_quad_reference(mi, d)) < 1e-10


def test_gaussian_smi_elementary_closed_forms():
    for mi in (0.1, 1.0, 3.0, 10.0):
        a = gaussian_rho(mi, 2) ** 2
        assert abs(gaussian_smi(mi, 2) + math.log((1 + math.sqrt(1 - a)) / 2)) < 1e-12
        a = gaussian_rho(mi, 3) ** 2
        # int_0^1 log(1 - a s^2) ds = log(1 - a) - 2 + 2 artanh(sqrt a) / sqrt a
        d3 = -0.5 * (math.log1p(-a) - 2 + 2 * math.atanh(math.sqrt(a)) / math.sqrt(a))
        assert abs(gaussian_smi(mi, 3) - d3) < 1e-10


def test_gaussian_smi_d1_and_zero():
    assert gaussian_smi(1.7, 1) == 1.7
    assert gaussian_smi(0.0, 5) == 0.0
    assert GaussianModel(1, 2.5).smi() == 2.5


@pytest.mark.parametrize(("d", "mi"), [(2, 2.0), (5, 3.0), (10, 4.0)])
def test_gaussian_smi_monte_carlo_over_directions(d, mi):
    """Average the exact MI of projected pairs over random directions and rotations."""
    rng = np.random.default_rng(12345 + d)
    model = GaussianModel(d, mi)
    estimates = []
    m = 20000
    for _ in range(10):
        rotations = model.draw_rotations(rng)
        cov = model.covariance(rotations)
        theta = random_unit(rng, m, d)
        phi = random_unit(rng, m, d)
        sxy = cov[:d, d:]
        var_x = np.einsum("ij,jk,ik->i", theta, cov[:d, :d], theta)
        var_y = np.einsum("ij,jk,ik->i", phi, cov[d:, d:], phi)
        corr = np.einsum("ij,jk,ik->i", theta, sxy, phi) / np.sqrt(var_x * var_y)
        estimates.append(-0.5 * np.log1p(-(corr**2)))
    values = np.concatenate(estimates)
    se = values.std(ddof=1) / math.sqrt(values.size)
    assert abs(values.mean() - model.smi()) < 4.5 * se


# ------------------------------------------------------------------ Gaussian sampling
def test_gaussian_rho_and_mi():
    for d, mi in [(1, 1.0), (4, 2.0), (10, 0.0)]:
        rho = gaussian_rho(mi, d)
        assert abs(-0.5 * d * math.log1p(-(rho**2)) - mi) < 1e-12
    assert GaussianModel(3, 0.0).rho == 0.0


def test_gaussian_sample_shapes_and_covariance():
    model = GaussianModel(3, 1.5)
    rng = np.random.default_rng(0)
    rotations = model.draw_rotations(rng)
    x, y = model.sample(200_000, rng=rng, rotations=rotations)
    assert x.shape == (200_000, 3) and y.shape == (200_000, 3)
    assert x.dtype == np.float64
    emp = np.cov(np.hstack([x, y]).T)
    np.testing.assert_allclose(emp, model.covariance(rotations), atol=0.01)
    # the exact MI of the empirical covariance is close to mi
    sign, logdet = np.linalg.slogdet(emp)
    mi_emp = -0.5 * (logdet - np.linalg.slogdet(emp[:3, :3])[1] - np.linalg.slogdet(emp[3:, 3:])[1])
    assert abs(mi_emp - 1.5) < 0.02


def test_gaussian_rotations_redrawn_per_call_and_reproducible():
    model = GaussianModel(4, 2.0)
    x1, y1 = model.sample(50, rng=np.random.default_rng(7))
    x2, y2 = model.sample(50, rng=np.random.default_rng(7))
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)
    rng = np.random.default_rng(7)
    a, b = model.draw_rotations(rng)
    x3, _ = model.sample(50, rng=rng, rotations=(a, b))
    np.testing.assert_array_equal(x1, x3)  # default = rotations first, then data, same stream


def test_gaussian_mi_zero_samples_independent():
    x, y = GaussianModel(2, 0.0).sample(100_000, rng=np.random.default_rng(1))
    cross = (x - x.mean(0)).T @ (y - y.mean(0)) / x.shape[0]
    assert np.abs(cross).max() < 0.02


def test_haar_orthogonal_is_orthogonal_and_uniform():
    rng = np.random.default_rng(3)
    q = haar_orthogonal(5, rng)
    np.testing.assert_allclose(q @ q.T, np.eye(5), atol=1e-12)
    # first column of a Haar matrix is uniform on the sphere: E[q11^2] = 1/d
    vals = np.array([haar_orthogonal(4, rng)[0, 0] ** 2 for _ in range(4000)])
    assert abs(vals.mean() - 0.25) < 4 * vals.std() / math.sqrt(vals.size)


# ------------------------------------------------------------------ uniform margins
def test_uniform_marginal_model_margins_and_mi():
    model = UniformMarginalModel(2, 1.0)
    rng = np.random.default_rng(4)
    x, y = model.sample(20_000, rng=rng)
    for col in np.hstack([x, y]).T:
        assert stats.kstest(col, "uniform").pvalue > 1e-4
    assert model.mi == 1.0
    # inverting the CDF recovers the Gaussian model exactly (same stream)
    xg, yg = GaussianModel(2, 1.0).sample(20_000, rng=np.random.default_rng(4))
    np.testing.assert_allclose(special.ndtri(x), xg, atol=1e-8)
    np.testing.assert_allclose(special.ndtri(y), yg, atol=1e-8)


def test_uniform_marginal_smi():
    assert UniformMarginalModel(1, 0.7).smi() == 0.7
    with pytest.raises(NotImplementedError, match="no closed-form SMI"):
        UniformMarginalModel(3, 0.7).smi()


# ------------------------------------------------------------------ Student-t
def student_t_brute_mi(model: StudentTModel, n: int, seed: int) -> tuple[float, float]:
    """MC average of log p(x,y) - log p(x) - log p(y) with scipy's multivariate_t densities."""
    rng = np.random.default_rng(seed)
    rotations = model.draw_rotations(rng)
    x, y = model.sample(n, rng=rng, rotations=rotations)
    d = model.d
    shape = model.scatter(rotations)
    joint = stats.multivariate_t(loc=np.zeros(2 * d), shape=shape, df=model.dof)
    px = stats.multivariate_t(loc=np.zeros(d), shape=shape[:d, :d], df=model.dof)
    py = stats.multivariate_t(loc=np.zeros(d), shape=shape[d:, d:], df=model.dof)
    ratio = joint.logpdf(np.hstack([x, y])) - px.logpdf(x) - py.logpdf(y)
    return float(ratio.mean()), float(ratio.std(ddof=1) / math.sqrt(n))


@pytest.mark.parametrize(("d", "dof", "mi"), [(1, 3.0, 0.8), (2, 5.0, 1.0), (4, 2.5, 2.0), (3, 1.0, 1.5)])
def test_student_t_mi_closed_form_vs_monte_carlo(d, dof, mi):
    model = StudentTModel(d, mi, dof=dof)
    mean, se = student_t_brute_mi(model, 40_000, seed=d)
    assert abs(mean - mi) < 4.5 * se


def test_student_t_floor_is_mi_of_uncorrelated_blocks():
    model = StudentTModel(3, student_t_mi_excess(4.0, 3, 3), dof=4.0)
    assert model.rho == 0.0
    mean, se = student_t_brute_mi(model, 40_000, seed=11)
    assert abs(mean - model.mi) < 4.5 * se
    assert model.mi > 0
    with pytest.raises(ValueError, match="below the smallest MI"):
        StudentTModel(3, 0.0, dof=4.0)


def student_t_excess_reference(dof: float, dx: int, dy: int) -> float:
    """The same digamma formula evaluated with mpmath at 40 digits (checks rounding)."""
    with mpmath.workdps(40):
        nu = mpmath.mpf(dof)

        def g(k):
            h, hk = nu / 2, (nu + k) / 2
            return mpmath.loggamma(h) - mpmath.loggamma(hk) + hk * (mpmath.digamma(hk) - mpmath.digamma(h))

        return float(g(dx) + g(dy) - g(dx + dy))


@pytest.mark.parametrize("dof", [0.3, 1.0, 2.5, 7.0, 100.0, 1e4])
@pytest.mark.parametrize(("dx", "dy"), [(1, 1), (2, 3), (20, 20)])
def test_student_t_excess_rounding(dof, dx, dy):
    assert abs(student_t_mi_excess(dof, dx, dy) - student_t_excess_reference(dof, dx, dy)) < 1e-9


def test_student_t_excess_gaussian_limit_and_positivity():
    assert abs(student_t_mi_excess(1e5, 2, 3)) < 1e-6
    for dof in (0.5, 1.0, 3.0, 30.0):
        assert student_t_mi_excess(dof, 1, 1) > 0


@pytest.mark.parametrize(("d", "dof", "mi"), [(2, 3.0, 1.0), (6, 5.0, 3.0)])
def test_student_t_smi_monte_carlo_over_directions(d, dof, mi):
    """Projected pairs are bivariate t with the projected scatter; average their exact MI."""
    model = StudentTModel(d, mi, dof=dof)
    rng = np.random.default_rng(99 + d)
    excess11 = student_t_mi_excess(dof, 1, 1)
    values = []
    for _ in range(10):
        rotations = model.draw_rotations(rng)
        s = model.scatter(rotations)
        theta = random_unit(rng, 20_000, d)
        phi = random_unit(rng, 20_000, d)
        r = np.einsum("ij,jk,ik->i", theta, s[:d, d:], phi)
        values.append(-0.5 * np.log1p(-(r**2)) + excess11)
    v = np.concatenate(values)
    assert abs(v.mean() - model.smi()) < 4.5 * v.std(ddof=1) / math.sqrt(v.size)


def test_student_t_projection_is_bivariate_t():
    """Brute check of the projection claim behind smi(): a fixed direction pair's MI by MC."""
    model = StudentTModel(3, 1.5, dof=4.0)
    rng = np.random.default_rng(5)
    rotations = model.draw_rotations(rng)
    theta = random_unit(rng, 1, 3)[0]
    phi = random_unit(rng, 1, 3)[0]
    x, y = model.sample(60_000, rng=rng, rotations=rotations)
    u, v = x @ theta, y @ phi
    r = float(theta @ model.scatter(rotations)[:3, 3:] @ phi)
    joint = stats.multivariate_t(loc=[0, 0], shape=[[1, r], [r, 1]], df=4.0)
    ratio = joint.logpdf(np.column_stack([u, v])) - stats.t.logpdf(u, 4.0) - stats.t.logpdf(v, 4.0)
    expected = -0.5 * math.log1p(-r * r) + student_t_mi_excess(4.0, 1, 1)
    assert abs(ratio.mean() - expected) < 4.5 * ratio.std(ddof=1) / math.sqrt(ratio.size)
    # and the projected margins are t(dof): a KS test on the projection
    assert stats.kstest(u, stats.t(4.0).cdf).pvalue > 1e-4


# ------------------------------------------------------------------ additive uniform noise
@pytest.mark.parametrize("mi", [0.2, 0.5, 1.3, 3.0])
def test_additive_uniform_noise_mi_monte_carlo(mi):
    model = AdditiveUniformNoiseModel(1, mi)
    eps = model.noise_width
    rng = np.random.default_rng(17)
    x0 = rng.random(200_000)
    y0 = x0 + eps * rng.random(200_000)
    # density of Y0 by direct convolution: (min(y, 1) - max(y - eps, 0)) / eps
    py = (np.minimum(y0, 1.0) - np.maximum(y0 - eps, 0.0)) / eps
    ratio = -math.log(eps) - np.log(py)
    assert abs(ratio.mean() - mi) < 4.5 * ratio.std(ddof=1) / math.sqrt(ratio.size)


def test_additive_uniform_noise_model_sampling():
    model = AdditiveUniformNoiseModel(3, 2.4)
    x, y = model.sample(1000, rng=np.random.default_rng(2))
    assert x.shape == y.shape == (1000, 3)
    assert math.isinf(AdditiveUniformNoiseModel(2, 0.0).noise_width)
    x, y = AdditiveUniformNoiseModel(2, 0.0).sample(50_000, rng=np.random.default_rng(3))
    cross = (x - x.mean(0)).T @ (y - y.mean(0)) / x.shape[0]
    assert np.abs(cross).max() < 0.01
    assert AdditiveUniformNoiseModel(1, 0.9).smi() == 0.9
    with pytest.raises(NotImplementedError, match="no closed-form SMI"):
        model.smi()


# ------------------------------------------------------------------ bad parameters
@pytest.mark.parametrize("cls", [GaussianModel, UniformMarginalModel, AdditiveUniformNoiseModel])
def test_bad_parameters(cls):
    with pytest.raises(ValueError, match="d must be >= 1"):
        cls(0, 1.0)
    with pytest.raises(TypeError, match="d must be an integer"):
        cls(2.5, 1.0)
    with pytest.raises(ValueError, match="mi must be finite and >= 0"):
        cls(2, -0.1)
    with pytest.raises(ValueError, match="mi must be finite and >= 0"):
        cls(2, float("nan"))
    model = cls(2, 1.0)
    with pytest.raises(ValueError, match="n must be >= 1"):
        model.sample(0, rng=np.random.default_rng(0))
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        model.sample(10, rng=0)
    with pytest.raises(ValueError, match="rotations must be two"):
        model.sample(10, rng=np.random.default_rng(0), rotations=(np.eye(3), np.eye(3)))


def test_student_t_bad_dof():
    for dof in (0.0, -1.0, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="dof must be finite and > 0"):
            StudentTModel(2, 5.0, dof=dof)
    with pytest.raises(TypeError, match="dof must be a positive real"):
        StudentTModel(2, 5.0, dof="5")


def test_models_are_frozen():
    model = GaussianModel(2, 1.0)
    with pytest.raises(AttributeError):
        model.mi = 2.0  # type: ignore[misc]


def test_registry():
    from fastsmi.experiments.models import MODELS, make_model

    assert set(MODELS) == {"gaussian", "uniform", "student_t", "uniform_noise"}
    model = make_model("gaussian", 3, 1.0)
    assert isinstance(model, GaussianModel) and model.name == "gaussian"
    assert not isinstance(make_model("uniform", 3, 1.0), GaussianModel)
    assert make_model("student_t", 2, 1.0, dof=3.0).dof == 3.0
    with pytest.raises(ValueError, match="unknown model 'cauchy'"):
        make_model("cauchy", 2, 1.0)
