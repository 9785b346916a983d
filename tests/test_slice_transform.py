"""transform="rank" per slice in smi, k-SMI and smi_test: invariance, backends, the permutation null, ties."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fastsmi
from fastsmi import _block, _inference, _ksliced
from fastsmi import _validation as V
from fastsmi._transform import normal_scores

from conftest import BACKENDS, requires_numba
from naive import permutation_null

#: Strictly increasing maps that keep distinct standard-normal samples distinct in float64.
INCREASING = {
    "cube": lambda v: v ** 3,
    "exp": lambda v: np.exp(v / 4),
    "affine": lambda v: 3.0 * v - 7.0,
    "sinh": np.sinh,
}


def _heavy(n=300, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_t(2, size=(n, 3))
    Y = X[:, :2] + rng.standard_t(2, size=(n, 2))
    return X, Y


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2 ** 16), fx=st.sampled_from(sorted(INCREASING)), fy=st.sampled_from(sorted(INCREASING)),
       estimator=st.sampled_from(["ksg", "ksg2", "kl"]))
def test_a_slice_with_rank_is_invariant_under_increasing_maps(seed, fx, fy, estimator):
    """One 1-D slice: its MI and, with "rank", its estimate depend on the data through ranks only."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(120)
    y = x + rng.standard_normal(120)
    kw = dict(n_projections=1, seed=seed, estimator=estimator, transform="rank")
    ref = fastsmi.smi(x, y, **kw).value
    assert fastsmi.smi(INCREASING[fx](x), INCREASING[fy](y), **kw).value == ref


def test_rank_changes_a_heavy_tailed_estimate_and_none_is_the_default():
    X, Y = _heavy()
    plain = fastsmi.smi(X, Y, n_projections=32, seed=1)
    assert fastsmi.smi(X, Y, n_projections=32, seed=1, transform="none") == plain
    assert fastsmi.smi(X, Y, n_projections=32, seed=1, transform="rank").value != plain.value


def test_each_slice_is_the_estimate_of_its_ranked_projections():
    """The transformed slice equals smi on the normal scores of that slice's projections, given as data."""
    X, Y = _heavy(seed=2)
    res = fastsmi.smi(X, Y, n_projections=8, seed=3, transform="rank")
    ss = np.random.SeedSequence(3)
    data = V.prepare_samples(X, Y, k=5, estimator="ksg", y_discrete=False, nan_policy="raise")
    prep = _inference.prepare_checked(data, m=8, estimator="ksg", ss=ss, method="sphere", transform="rank")
    theta_x, theta_y = prep.thetas[0]
    for s in range(8):
        px = normal_scores(data.X @ theta_x[s])
        py = normal_scores(data.Y @ theta_y[s])
        # one slice along the first axis of the scores, with the call's jitter
        one = fastsmi.smi(px, py, directions_x=[[1.0]], directions_y=[[1.0]], seed=3)
        np.testing.assert_allclose(res.per_slice[s], one.value, rtol=0, atol=1e-12)


@pytest.mark.parametrize("discrete", [False, True])
def test_backends_agree_bit_for_bit_with_rank(discrete):
    X, Y = _heavy(seed=4)
    if discrete:
        Y = (Y[:, 0] > 0).astype(int)
    res = [fastsmi.smi(X, Y, y_discrete=discrete, n_projections=24, seed=5, backend=b, transform="rank")
           for b in BACKENDS]
    for other in res[1:]:
        np.testing.assert_array_equal(other.per_slice, res[0].per_slice)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("discrete", [False, True])
def test_rank_null_equals_the_naive_loop_bit_for_bit(backend, discrete):
    """Ranks of a permuted column are the permuted ranks: replicates equal smi on permuted data exactly."""
    X, Y = _heavy(n=150, seed=6)
    if discrete:
        Y = (Y[:, 0] > 0).astype(int) + (Y[:, 1] > 1)
    res = fastsmi.smi_test(X, Y, y_discrete=discrete, n_permutations=8, n_projections=12, seed=7, backend=backend,
                           transform="rank")
    naive = permutation_null(X, Y, 8, 7, y_discrete=discrete, n_projections=12, backend=backend, transform="rank")
    np.testing.assert_array_equal(res.null, naive)
    assert res.statistic == fastsmi.smi(X, Y, y_discrete=discrete, n_projections=12, seed=7, backend=backend,
                                        transform="rank").value


@requires_numba
def test_pointwise_and_auto_see_the_same_ranked_slices():
    X, Y = _heavy(seed=8)
    block = fastsmi.smi(X, Y, n_projections=40, seed=9, transform="rank", backend="numba")
    point = fastsmi.smi(X, Y, n_projections=40, seed=9, transform="rank", return_pointwise=True, backend="numba")
    np.testing.assert_array_equal(point.per_slice, block.per_slice)
    assert point.pointwise.mean() == pytest.approx(block.value, abs=1e-12)


def test_k_smi_ranks_each_projected_coordinate():
    X, Y = _heavy(seed=10)
    none = fastsmi.smi(X, Y, n_projections=6, seed=1, slice_dim=2)
    rank = fastsmi.smi(X, Y, n_projections=6, seed=1, slice_dim=2, transform="rank")
    assert rank.value != none.value
    # with the coordinate axes as the frames a slice is the data itself: "rank" makes it depend on each
    # coordinate's ranks only, so increasing maps of the coordinates leave it unchanged ("none" does not)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((200, 2))
    y = x + rng.standard_normal((200, 2))
    axes = np.eye(2)[None]
    jitter = np.zeros((200, 2))

    def one(a, b, transform):
        out, status = _ksliced.ksmi_slices(a, b, None, axes, axes, jitter, jitter, "ksg", 5, 1, transform=transform)
        assert status[0] == 0
        return out[0]

    bent = (np.column_stack([x[:, 0] ** 3, np.exp(x[:, 1] / 4)]), np.column_stack([np.sinh(y[:, 0]), y[:, 1]]))
    assert one(*bent, "rank") == one(x, y, "rank")
    assert one(*bent, "none") != one(x, y, "none")


def test_ties_stay_ties_and_a_constant_projection_is_still_refused():
    rng = np.random.default_rng(11)
    relu = np.maximum(rng.standard_normal((400, 2)) - 0.5, 0.0)  # many exact zeros: an atom
    Y = relu + 0.1 * rng.standard_normal((400, 2))
    P = relu @ np.array([0.6, 0.8])
    scores = _block.rank_slices(P[:, None], 1, 0.0)[:, 0]
    zero = P == 0
    assert np.unique(scores[zero]).size == 1 and np.unique(scores[~zero]).size == np.unique(P[~zero]).size
    assert np.isfinite(fastsmi.smi(relu, Y, n_projections=16, seed=0, transform="rank").value)
    X = rng.standard_normal((100, 2))
    X[:, 1] = 4.0
    with pytest.raises(ValueError, match="constant"):
        fastsmi.smi(X, rng.standard_normal(100), directions_x=[[0.0, 1.0]], transform="rank")


def test_rank_slices_zeroes_a_column_within_the_rounding_tolerance():
    P = np.column_stack([np.linspace(0, 1e-14, 50), np.linspace(0, 1, 50), np.zeros(50)])
    out = _block.rank_slices(P, 2, 1e-12)
    assert np.all(out[:, 0] == 0) and np.array_equal(out[:, 1], normal_scores(P[:, 1])) and np.all(out[:, 2] == 0)


@pytest.mark.parametrize("kwargs, error, words", [
    (dict(transform="ranks"), ValueError, "unknown transform 'ranks'; choose one of 'none', 'rank'"),
    (dict(transform="rank", estimator="seed"), ValueError, "cannot be combined with estimator='seed'"),
])
def test_bad_transform_is_named_with_the_fix(kwargs, error, words):
    X, Y = _heavy(n=60)
    with pytest.raises(error, match=words):
        fastsmi.smi(X, Y, n_projections=4, **kwargs)
    with pytest.raises(error, match=words):
        fastsmi.smi_test(X, Y, n_permutations=2, n_projections=4, **kwargs)
