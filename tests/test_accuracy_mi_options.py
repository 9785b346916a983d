"""``mi``'s ``transform`` and ``correction`` options: what they compute, invariance, seeding, errors."""
import numpy as np
import pytest

import fastsmi
from fastsmi._transform import normal_scores


@pytest.fixture(scope="module")
def heavy():
    rng = np.random.default_rng(0)
    x = rng.standard_t(1, size=(800, 2))
    y = x + rng.standard_t(1, size=(800, 2))
    return x, y


def test_rank_is_the_estimator_on_normal_scores(heavy):
    x, y = heavy
    assert fastsmi.mi(x, y, transform="rank") == fastsmi.mi(normal_scores(x), normal_scores(y))
    assert fastsmi.mi(x[:, 0], y[:, 0], transform="rank") == fastsmi.mi(normal_scores(x[:, 0]),
                                                                        normal_scores(y[:, 0]))


def test_rank_estimate_is_invariant_to_increasing_maps(heavy):
    x, y = heavy
    warped_x = np.column_stack([np.arctan(x[:, 0]), x[:, 1] ** 3])
    warped_y = np.sign(y) * np.log1p(np.abs(y))
    assert fastsmi.mi(warped_x, warped_y, transform="rank") == fastsmi.mi(x, y, transform="rank")
    # without the transform the estimate moves
    assert fastsmi.mi(warped_x, warped_y) != fastsmi.mi(x, y)


def test_default_is_no_transform(heavy):
    x, y = heavy
    assert fastsmi.mi(x, y) == fastsmi.mi(x, y, transform="none") == fastsmi.mi(x, y, transform=None)


def test_rank_transforms_x_only_against_labels():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 3, 600)
    x = np.exp(labels[:, None] + rng.standard_normal((600, 2)))
    assert (fastsmi.mi(x, labels, y_discrete=True, transform="rank")
            == fastsmi.mi(normal_scores(x), labels, y_discrete=True))


def test_rank_keeps_the_tie_policy():
    x = np.repeat(np.arange(50.0), 4)
    y = x + np.random.default_rng(2).standard_normal(200)
    with pytest.raises(ValueError):
        fastsmi.mi(x, y, estimator="kl", transform="rank")


def test_gaussian_correction_is_seeded_and_leaves_the_seed_alone(heavy):
    x, y = heavy
    ss = np.random.SeedSequence(5)
    a = fastsmi.mi(x, y, transform="rank", correction="gaussian", seed=ss)
    b = fastsmi.mi(x, y, transform="rank", correction="gaussian", seed=ss)
    c = fastsmi.mi(x, y, transform="rank", correction="gaussian", seed=6)
    assert a == b and a != c
    assert ss.n_children_spawned == 0


def test_gaussian_correction_removes_ksg_bias_in_many_dimensions():
    # 4 + 4 pairs at 0.9: MI 3.32 nats, which KSG (k = 5, n = 500) underestimates by about 1.25
    d, rho = 4, 0.9
    C = np.eye(2 * d)
    for i in range(d):
        C[i, d + i] = C[d + i, i] = rho
    exact = -0.5 * d * np.log1p(-rho ** 2)
    Z = np.random.default_rng(3).multivariate_normal(np.zeros(2 * d), C, size=500)
    raw = fastsmi.mi(Z[:, :d], Z[:, d:])
    fixed = fastsmi.mi(Z[:, :d], Z[:, d:], correction="gaussian")
    assert raw - exact < -1.0 and abs(fixed - exact) < 0.25


@pytest.mark.parametrize("kwargs,match", [
    (dict(transform="copula"), "unknown transform.*'none', 'rank'"),
    (dict(transform="rank", estimator="seed"), "estimator='seed'"),
    (dict(correction="lnc"), "unknown correction.*'none', 'gaussian'"),
    (dict(correction="gaussian", estimator="seed"), "estimator='seed'"),
])
def test_bad_options_name_the_choices(heavy, kwargs, match):
    x, y = heavy
    with pytest.raises(ValueError, match=match):
        fastsmi.mi(x, y, **kwargs)


def test_gaussian_correction_refuses_labels():
    rng = np.random.default_rng(4)
    with pytest.raises(ValueError, match="y_discrete=True use correction='none'"):
        fastsmi.mi(rng.standard_normal((100, 2)), rng.integers(0, 2, 100), y_discrete=True, correction="gaussian")
