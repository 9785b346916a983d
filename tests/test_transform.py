"""The normal-scores (rank) transform: exact against scipy, rank-only, ties, option checks."""
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.special import ndtri
from scipy.stats import rankdata

from fastsmi._transform import TRANSFORMS, apply_transform, check_transform, normal_scores


def reference(A):
    A = np.asarray(A, dtype=float)
    return ndtri((rankdata(A, axis=0, method="average") - 0.5) / A.shape[0])


@pytest.mark.parametrize("shape", [(1,), (2,), (7,), (500,), (300, 1), (300, 4)])
def test_bitwise_equal_to_scipy_reference(shape):
    rng = np.random.default_rng(sum(shape))
    A = rng.standard_t(2, size=shape)
    assert np.array_equal(normal_scores(A), reference(A))


def test_ties_get_the_average_rank_bitwise():
    rng = np.random.default_rng(1)
    A = rng.integers(0, 4, size=(1001, 3)).astype(float)  # heavy ties, odd n
    out = normal_scores(A)
    assert np.array_equal(out, reference(A))
    # equal inputs give equal scores, distinct inputs distinct scores, order kept
    for j in range(3):
        vals, inv = np.unique(A[:, j], return_inverse=True)
        scores = np.array([out[inv.ravel() == g, j][0] for g in range(vals.size)])
        assert np.all(out[:, j] == scores[inv.ravel()])
        assert np.all(np.diff(scores) > 0)


def test_constant_column_maps_to_zero_and_two_values_are_symmetric():
    out = normal_scores(np.column_stack([np.full(10, 3.5), np.repeat([1.0, 2.0], 5)]))
    assert np.all(out[:, 0] == 0.0)
    assert np.allclose(out[:5, 1], -out[5:, 1]) and np.all(out[:5, 1] < 0)


def test_row_order_does_not_matter():
    rng = np.random.default_rng(2)
    A = np.round(rng.standard_normal((400, 2)), 1)  # with ties
    perm = rng.permutation(400)
    assert np.array_equal(normal_scores(A)[perm], normal_scores(A[perm]))


def test_scores_of_distinct_values_are_normal_quantiles():
    n = 2000
    out = np.sort(normal_scores(np.random.default_rng(3).exponential(size=n)))
    assert np.array_equal(out, ndtri((np.arange(1, n + 1) - 0.5) / n))
    assert abs(out.mean()) < 1e-12 and abs(out.std() - 1.0) < 2e-3


MONOTONE = {
    "arctan": np.arctan,
    "cube": lambda x: x ** 3,
    "exp": lambda x: np.exp(np.clip(x, -700, 700)),
    "affine": lambda x: 3.0 * x - 7.0,
    "signed_log": lambda x: np.sign(x) * np.log1p(np.abs(x)),
}

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)


@settings(max_examples=60, deadline=None)
@given(x=arrays(np.float64, st.integers(1, 60), elements=finite), name=st.sampled_from(sorted(MONOTONE)))
def test_invariant_under_increasing_maps(x, name):
    y = MONOTONE[name](x)
    # the property is about maps that keep the sample's order and ties; rounding may merge close values
    assume(np.array_equal(rankdata(x), rankdata(y)))
    assert np.array_equal(normal_scores(x), normal_scores(y))


@settings(max_examples=40, deadline=None)
@given(x=arrays(np.float64, st.integers(1, 60), elements=finite))
def test_decreasing_map_flips_the_sign(x):
    assert np.allclose(normal_scores(-x), -normal_scores(x), rtol=1e-12, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(x=arrays(np.float64, st.integers(1, 60), elements=st.integers(-3, 3).map(float)))
def test_ties_match_scipy_on_small_integer_samples(x):
    assert np.array_equal(normal_scores(x), reference(x))


def test_apply_transform_none_is_identity():
    A = np.arange(6.0).reshape(3, 2)
    assert apply_transform(A, "none") is A
    assert np.array_equal(apply_transform(A, "rank"), reference(A))


@pytest.mark.parametrize("estimator", ["ksg", "ksg2", "kl", "wkl"])
def test_check_transform_accepts_the_choices(estimator):
    assert check_transform(None, estimator) in TRANSFORMS
    assert check_transform("rank", estimator) == "rank"
    assert check_transform("NONE", estimator) == "none"


def test_check_transform_seed_keeps_its_behaviour():
    assert check_transform(None, "seed") == "none"
    assert check_transform("none", "seed") == "none"
    with pytest.raises(ValueError, match="estimator='seed'.*transform='none'"):
        check_transform("rank", "seed")


@pytest.mark.parametrize("bad", ["ranks", "copula", 1, True])
def test_check_transform_names_the_choices(bad):
    with pytest.raises(ValueError, match="unknown transform.*'none', 'rank'"):
        check_transform(bad, "ksg")
