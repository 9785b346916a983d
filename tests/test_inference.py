"""The SMI permutation test: its null against a plain loop over smi, calibration, determinism, bad input."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

import fastsmi
from fastsmi import _inference
from fastsmi import _validation as V
from fastsmi import smi_test

from conftest import BACKENDS, requires_numba
from naive import jackknife_stderr, permutation_null


def _prepared(X, Y, *, m, ss, y_discrete=False):
    """The replicates' view of the data, prepared as smi_test prepares it."""
    data = V.prepare_samples(X, Y, k=5, estimator="ksg", y_discrete=y_discrete, nan_policy="raise")
    return _inference.prepare_checked(data, m=m, estimator="ksg", ss=ss, method="sphere")


def _pair(n=120, seed=0, dependent=True):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 3))
    Y = rng.standard_normal((n, 2))
    if dependent:
        Y[:, 0] += np.tanh(X[:, 0])
    return X, Y


@pytest.mark.parametrize("backend", BACKENDS)
def test_null_equals_naive_loop_bit_for_bit(backend):
    """KSG counts neighbours: the permuted slices are the naive ones exactly, so the null is bit-identical."""
    X, Y = _pair()
    res = smi_test(X, Y, n_permutations=12, n_projections=20, seed=3, backend=backend)
    naive = permutation_null(X, Y, 12, 3, n_projections=20, backend=backend)
    np.testing.assert_array_equal(res.null, naive)
    assert res.statistic == res.smi.value
    assert res.n_exceed == int(np.sum(naive >= res.statistic))
    assert res.p_value == (1 + res.n_exceed) / 13


@pytest.mark.parametrize("backend", BACKENDS)
def test_label_null_equals_naive_loop_bit_for_bit(backend):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((150, 3))
    labels = rng.integers(0, 3, 150)
    X[:, 0] += labels
    res = smi_test(X, labels, y_discrete=True, n_permutations=10, n_projections=20, seed=4, backend=backend)
    naive = permutation_null(X, labels, 10, 4, y_discrete=True, n_projections=20, backend=backend)
    np.testing.assert_array_equal(res.null, naive)


def test_kl_null_matches_naive_loop_to_rounding():
    """KL sums log-distances: the permuted column's mean and std are summed in another order than the
    naive smi's (same values, permuted), so its standardised values may differ in the last bit."""
    X, Y = _pair(seed=2)
    res = smi_test(X, Y, n_permutations=6, n_projections=16, seed=5, estimator="kl", backend="cython")
    naive = permutation_null(X, Y, 6, 5, n_projections=16, estimator="kl", backend="cython")
    np.testing.assert_allclose(res.null, naive, rtol=0, atol=1e-12)


def test_identity_replicate_reproduces_the_observed_slices():
    """The replicate driver on the identity permutation gives smi's per-slice estimates bit for bit."""
    X, Y = _pair(seed=6)
    for backend in BACKENDS:
        obs = fastsmi.smi(X, Y, n_projections=40, seed=9, backend=backend)
        ss = np.random.SeedSequence(9)
        prep = _prepared(X, Y, m=40, ss=ss)

        orig = _inference.permutation
        try:
            _inference.permutation = lambda perm_ss, r, n: np.arange(n)
            rows = _inference.null_rows(prep, ss, 0, 2, backend, "grid", None)
        finally:
            _inference.permutation = orig
        np.testing.assert_array_equal(rows[0], obs.per_slice)
        np.testing.assert_array_equal(rows[1], obs.per_slice)


def test_dependence_is_detected():
    X, Y = _pair(n=300, seed=8)
    res = smi_test(X, Y, n_permutations=49, n_projections=32, seed=1)
    assert res.p_value == 1 / 50


def test_p_values_are_uniform_under_independence():
    """Randomised p-values of 150 independent data sets pass a Kolmogorov-Smirnov test for U(0, 1).

    The p-value takes the values j / (B + 1); subtracting U(0, 1) / (B + 1) makes it exactly
    U(0, 1) under independence (no ties occur with continuous data), so KS applies as is.
    """
    rng = np.random.default_rng(2024)
    B = 39
    pvals = []
    for rep in range(150):
        X = rng.standard_t(2, size=(60, 2))
        Y = rng.standard_t(2, size=(60, 2))
        res = smi_test(X, Y, n_permutations=B, n_projections=8, seed=rep, n_jobs=1)
        pvals.append(res.p_value - rng.uniform() / (B + 1))
    ks = stats.kstest(pvals, "uniform")
    assert ks.pvalue > 0.001, ks
    assert 0.02 <= np.mean(np.array(pvals) <= 0.05) <= 0.12


def test_same_seed_same_p_value_for_any_threads_backend_and_chunking(monkeypatch):
    X, Y = _pair(seed=11, dependent=False)
    ref = smi_test(X, Y, n_permutations=25, n_projections=24, seed=7, n_jobs=1, backend=BACKENDS[0])
    runs = [dict(n_jobs=2, backend=b) for b in BACKENDS]
    for kwargs in runs:
        other = smi_test(X, Y, n_permutations=25, n_projections=24, seed=7, **kwargs)
        np.testing.assert_array_equal(other.null, ref.null)
        assert other.p_value == ref.p_value
    monkeypatch.setattr(_inference, "chunk_replicates", lambda n, m, threads: 4)
    chunked = smi_test(X, Y, n_permutations=25, n_projections=24, seed=7)
    np.testing.assert_array_equal(chunked.null, ref.null)
    again = smi_test(X, Y, n_permutations=25, n_projections=24, seed=ref.seed)
    np.testing.assert_array_equal(again.null, ref.null)
    different = smi_test(X, Y, n_permutations=25, n_projections=24, seed=8)
    assert not np.array_equal(different.null, ref.null)


def test_seed_none_is_recorded_and_repeats():
    X, Y = _pair(n=80, seed=12)
    first = smi_test(X, Y, n_permutations=9, n_projections=8)
    again = smi_test(X, Y, n_permutations=9, n_projections=8, seed=first.seed)
    np.testing.assert_array_equal(first.null, again.null)
    assert first.p_value == again.p_value


def test_dask_layout_gives_the_local_null():
    distributed = pytest.importorskip("distributed")
    X, Y = _pair(seed=13)
    local = smi_test(X, Y, n_permutations=20, n_projections=24, seed=2)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        remote = smi_test(X, Y, n_permutations=20, n_projections=24, seed=2, client=client)
        stopped = smi_test(X, Y, n_permutations=20, n_projections=24, seed=2, client=client, stop_after=2)
    np.testing.assert_array_equal(local.null, remote.null)
    assert local.p_value == remote.p_value
    np.testing.assert_array_equal(stopped.null, local.null[:stopped.n_permutations])


def test_besag_clifford_stops_at_the_h_th_exceedance(monkeypatch):
    X, Y = _pair(seed=14, dependent=False)
    full = smi_test(X, Y, n_permutations=60, n_projections=16, seed=3)
    h = 3
    hits = np.flatnonzero(full.null >= full.statistic)
    assert hits.size >= h  # independent data: many exceedances
    seq = smi_test(X, Y, n_permutations=60, n_projections=16, seed=3, stop_after=h)
    assert seq.stopped_early and seq.n_permutations == hits[h - 1] + 1
    np.testing.assert_array_equal(seq.null, full.null[:seq.n_permutations])
    assert seq.p_value == h / seq.n_permutations
    monkeypatch.setattr(_inference, "chunk_replicates", lambda n, m, threads: 1)
    one_by_one = smi_test(X, Y, n_permutations=60, n_projections=16, seed=3, stop_after=h)
    np.testing.assert_array_equal(one_by_one.null, seq.null)


def test_besag_clifford_without_a_stop_is_the_full_test():
    X, Y = _pair(n=300, seed=15)
    full = smi_test(X, Y, n_permutations=30, n_projections=16, seed=3)
    seq = smi_test(X, Y, n_permutations=30, n_projections=16, seed=3, stop_after=5)
    assert not seq.stopped_early and seq.p_value == full.p_value
    np.testing.assert_array_equal(seq.null, full.null)


@pytest.mark.parametrize("value, error, words", [
    (0, ValueError, "at least 1"),
    (-5, ValueError, "at least 1"),
    (2.5, TypeError, "positive integer"),
    ("100", TypeError, "n_permutations=1000"),
    (True, TypeError, "positive integer"),
    (None, TypeError, "positive integer"),
])
def test_bad_n_permutations_is_named_with_the_fix(value, error, words):
    X, Y = _pair(n=50)
    with pytest.raises(error, match="n_permutations") as info:
        smi_test(X, Y, n_permutations=value, n_projections=4)
    assert words in str(info.value)


@pytest.mark.parametrize("value, error", [(0, ValueError), (11, ValueError), (1.5, TypeError), ("3", TypeError)])
def test_bad_stop_after_is_named_with_the_fix(value, error):
    X, Y = _pair(n=50)
    with pytest.raises(error, match="stop_after"):
        smi_test(X, Y, n_permutations=10, n_projections=4, stop_after=value)


def test_bad_data_is_refused_as_smi_refuses_it():
    X, Y = _pair(n=50)
    with pytest.raises(ValueError, match="same number of samples"):
        smi_test(X, Y[:40], n_permutations=5, n_projections=4)
    with pytest.raises(ValueError, match="n_projections"):
        smi_test(X, Y, n_permutations=5, n_projections=0)


# ---------------------------------------------------------------------------
# pointwise SMI, the sampling error and n_projections="auto"
# ---------------------------------------------------------------------------
def _all_projections(prep):
    from fastsmi._inference import _projections

    parts = [_projections(prep, i) for i in range(len(prep.blocks))]
    PX = np.hstack([p[0] for p in parts])
    PY = None if prep.Y is None else np.hstack([p[1] for p in parts])
    return PX, PY


@pytest.mark.parametrize("discrete", [False, True])
@requires_numba
def test_pointwise_matches_dense_reference_and_averages_to_the_estimate(discrete):
    from naive import pointwise_smi

    rng = np.random.default_rng(21)
    X = rng.standard_normal((90, 3))
    if discrete:
        Y = rng.integers(0, 3, 90)
        X[:, 0] += Y
    else:
        Y = X[:, :2] + rng.standard_normal((90, 2))
    res = fastsmi.smi(X, Y, y_discrete=discrete, n_projections=20, seed=2, return_pointwise=True, backend="numba")
    pw, se, (lo, hi) = res.pointwise, res.stderr_samples, res.ci
    ref = fastsmi.smi(X, Y, y_discrete=discrete, n_projections=20, seed=2)
    assert (res.value, res.stderr, res.n_projections) == (ref.value, ref.stderr, ref.n_projections)
    np.testing.assert_array_equal(res.per_slice, ref.per_slice)
    prep = _prepared(X, Y, m=20, ss=np.random.SeedSequence(2), y_discrete=discrete)
    PX, PY = _all_projections(prep)
    naive = pointwise_smi(PX, PY, prep.jitter_x, prep.jitter_y, 5, labels=prep.discrete[0] if discrete else None)
    np.testing.assert_allclose(pw, naive, rtol=0, atol=1e-12)
    assert abs(pw.mean() - res.value) < 1e-12
    assert se == pytest.approx(np.std(pw, ddof=1) / np.sqrt(90), rel=1e-12)
    half = 1.959963984540054 * np.hypot(res.stderr, se)
    assert lo == pytest.approx(res.value - half) and hi == pytest.approx(res.value + half)


@requires_numba
def test_pointwise_is_bit_identical_across_threads():
    X, Y = _pair(n=200, seed=22)
    one = fastsmi.smi(X, Y, n_projections=40, seed=3, n_jobs=1, return_pointwise=True, backend="numba")
    two = fastsmi.smi(X, Y, n_projections=40, seed=3, n_jobs=2, return_pointwise=True, backend="numba")
    np.testing.assert_array_equal(one.pointwise, two.pointwise)
    assert one == two and one.ci is not None


def test_pointwise_refuses_what_it_cannot_do():
    X, Y = _pair(n=60)
    with pytest.raises(ValueError, match="estimator='ksg'"):
        fastsmi.smi(X, Y, n_projections=8, estimator="kl", return_pointwise=True)
    with pytest.raises(ValueError, match="runs on the Numba backend .*use backend='numba'"):
        fastsmi.smi(X, Y, n_projections=8, backend="cython", return_pointwise=True)
    with pytest.raises(TypeError, match="return_pointwise must be True or False"):
        fastsmi.smi(X, Y, n_projections=8, return_pointwise="yes")
    plain = fastsmi.smi(X, Y, n_projections=8)
    assert plain.ci is None and np.isnan(plain.stderr_samples) and plain.pointwise is None


@requires_numba
def test_auto_projections_is_a_prefix_of_one_sequence():
    X, Y = _pair(n=300, seed=23)
    res = fastsmi.smi(X, Y, n_projections="auto", seed=4, max_projections=512, backend="numba")
    assert res.n_projections % _inference.AUTO_BLOCK == 0 and res.n_projections <= 512
    ref = fastsmi.smi(X, Y, n_projections=res.n_projections, seed=4)
    assert (res.value, res.stderr) == (ref.value, ref.stderr)
    np.testing.assert_array_equal(res.per_slice, ref.per_slice)
    assert res.stderr <= _inference.AUTO_RATIO * res.stderr_samples or res.n_projections == 512
    one = fastsmi.smi(X, Y, n_projections="auto", seed=4, max_projections=512, n_jobs=1, backend="numba")
    assert one == res
    loose = fastsmi.smi(X, Y, n_projections="auto", seed=4, max_projections=512, atol=1.0, backend="numba")
    assert loose.n_projections == _inference.AUTO_BLOCK
    np.testing.assert_array_equal(loose.per_slice, res.per_slice[:_inference.AUTO_BLOCK])


@pytest.mark.parametrize("kwargs, error, words", [
    (dict(max_projections=10), ValueError, "below one block"),
    (dict(max_projections=0), ValueError, "max_projections"),
    (dict(max_projections=100.5), TypeError, "max_projections"),
    (dict(atol=-1.0), ValueError, "atol"),
    (dict(atol="small"), TypeError, r"atol must be a positive number of nats \(e\.g\. 1e-3\)"),
    (dict(n_projections="many"), ValueError, "positive integer or 'auto'"),
    (dict(n_projections=16, atol=1e-3), ValueError, "atol applies to n_projections='auto' only"),
    (dict(n_projections=16, max_projections=512), ValueError,
     "max_projections applies to n_projections='auto' only; drop max_projections"),
    (dict(directions_y=np.eye(2)), ValueError, "draws its own directions and runs locally; drop directions_y"),
])
def test_auto_bad_options_name_the_fix(kwargs, error, words):
    X, Y = _pair(n=60)
    kwargs = dict(dict(n_projections="auto"), **kwargs)
    with pytest.raises(error, match=words):
        fastsmi.smi(X, Y, **kwargs)


def test_pointwise_refuses_cython_chosen_by_the_environment(monkeypatch):
    # backend="auto" resolved to Cython by FASTSMI_BACKEND cannot give the per-sample terms
    X, Y = _pair(n=60)
    monkeypatch.setenv("FASTSMI_BACKEND", "cython")
    with pytest.raises(ValueError, match="runs on the Numba backend .*unset FASTSMI_BACKEND=cython"):
        fastsmi.smi(X, Y, n_projections=16, seed=0, return_pointwise=True)
    assert not _inference.pointwise_available("ksg", "auto")


@requires_numba
def test_single_slice_has_no_interval():
    # one slice: the direction error is unknown, so no interval rather than a too-narrow one
    X, Y = _pair(n=60)
    res = fastsmi.smi(X, Y, n_projections=1, seed=0, return_pointwise=True, backend="numba")
    assert np.isnan(res.stderr) and res.ci is None and np.isfinite(res.stderr_samples)


# ----------------------------------------------------------------------------
# the sampling error: influence terms, the jackknife, and their average
# ----------------------------------------------------------------------------
def _welch_t_halfwidth(stderr, se, m, df_samples):
    """The half-width of the 95% interval from scipy.stats.t, with the Welch-Satterthwaite df."""
    a, b = stderr ** 2, se ** 2
    df = (a + b) ** 2 / (a ** 2 / (m - 1) + b ** 2 / df_samples)
    return stats.t.ppf(0.975, df) * np.sqrt(a + b)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("estimator, discrete", [("ksg", False), ("kl", False), ("ksg", True)])
def test_jackknife_equals_a_naive_leave_out_loop(backend, estimator, discrete):
    X, Y = _pair(n=160, seed=11)
    if discrete:
        Y = (Y[:, 0] > 0).astype(int) + (X[:, 1] > 1)
    res = fastsmi.smi(X, Y, n_projections=24, seed=8, estimator=estimator, y_discrete=discrete, backend=backend,
                      sampling_error="jackknife")
    naive = jackknife_stderr(X, Y, 8, n_projections=24, estimator=estimator, y_discrete=discrete, backend=backend)
    assert res.sampling_error == "jackknife"
    assert res.stderr_samples == pytest.approx(naive, rel=1e-12, abs=0)
    plain = fastsmi.smi(X, Y, n_projections=24, seed=8, estimator=estimator, y_discrete=discrete, backend=backend)
    assert (res.value, res.stderr) == (plain.value, plain.stderr)
    half = (res.ci[1] - res.ci[0]) / 2
    assert half == pytest.approx(_welch_t_halfwidth(res.stderr, naive, 24, 9), rel=1e-9)
    assert res.ci[0] + half == pytest.approx(res.value, rel=1e-12)


def test_jackknife_of_k_smi_equals_the_naive_loop():
    X, Y = _pair(n=200, seed=12)
    res = fastsmi.smi(X, Y, n_projections=20, seed=3, slice_dim=2, sampling_error="jackknife")
    assert res.stderr_samples == pytest.approx(jackknife_stderr(X, Y, 3, n_projections=20, slice_dim=2), rel=1e-12)


@requires_numba
def test_auto_with_jackknife_re_estimates_with_the_slices_auto_chose():
    X, Y = _pair(n=200, seed=12)
    res = fastsmi.smi(X, Y, n_projections="auto", max_projections=256, seed=3, sampling_error="jackknife",
                      backend="numba")
    assert res.n_projections % _inference.AUTO_BLOCK == 0
    naive = jackknife_stderr(X, Y, 3, n_projections=res.n_projections, backend="numba")
    assert res.stderr_samples == pytest.approx(naive, rel=1e-12)


@requires_numba
def test_average_is_the_mean_of_the_influence_and_jackknife_variances():
    X, Y = _pair(n=300, seed=13)
    kw = dict(n_projections=32, seed=6, backend="numba")
    inf = fastsmi.smi(X, Y, sampling_error="influence", **kw)
    jack = fastsmi.smi(X, Y, sampling_error="jackknife", **kw)
    avg = fastsmi.smi(X, Y, sampling_error="average", **kw)
    assert inf.sampling_error == "influence" and avg.sampling_error == "average"
    assert inf.stderr_samples == fastsmi.smi(X, Y, return_pointwise=True, **kw).stderr_samples
    se = np.sqrt((inf.stderr_samples ** 2 + jack.stderr_samples ** 2) / 2)
    assert avg.stderr_samples == pytest.approx(se, rel=1e-12)
    # the influence variance counts as exact: the df are the jackknife half's, scaled by Satterthwaite
    df = 9 * se ** 4 / (jack.stderr_samples ** 2 / 2) ** 2
    half = (avg.ci[1] - avg.ci[0]) / 2
    assert half == pytest.approx(_welch_t_halfwidth(avg.stderr, se, 32, df), rel=1e-9)
    assert inf.stderr_samples < avg.stderr_samples < jack.stderr_samples


def test_jackknife_is_the_same_for_any_threads_and_backend():
    X, Y = _pair(n=150, seed=14)
    ref = fastsmi.smi(X, Y, n_projections=16, seed=2, n_jobs=1, sampling_error="jackknife", backend=BACKENDS[0])
    for backend in BACKENDS:
        for n_jobs in (1, 2):
            res = fastsmi.smi(X, Y, n_projections=16, seed=2, n_jobs=n_jobs, sampling_error="jackknife",
                              backend=backend)
            assert res.stderr_samples == pytest.approx(ref.stderr_samples, rel=1e-12)


def test_seed_none_jackknife_is_recorded_and_repeats():
    X, Y = _pair(n=120, seed=15)
    res = fastsmi.smi(X, Y, n_projections=12, sampling_error="jackknife")
    again = fastsmi.smi(X, Y, n_projections=12, seed=res.seed, sampling_error="jackknife")
    assert again == res


def test_jackknife_tracks_the_sampling_error_of_fresh_samples():
    """With the directions fixed, the spread of the estimate over fresh samples is the sampling error alone:
    the jackknife (conservative) and the average must be near it, the influence terms below it."""
    rng = np.random.default_rng(21)
    est, jack = [], []
    for _ in range(40):
        X = rng.standard_normal((300, 2))
        Y = X + rng.standard_normal((300, 2))
        res = fastsmi.smi(X, Y, n_projections=16, seed=4, sampling_error="jackknife")
        est.append(res.value)
        jack.append(res.stderr_samples)
    ratio = np.sqrt(np.mean(np.square(jack))) / np.std(est, ddof=1)
    # 40 samples: the sd is known to about 11%; a jackknife without its (G - 1) / G * sum would be 3x off
    assert 0.8 < ratio < 1.7


@pytest.mark.parametrize("kwargs, error, words", [
    (dict(sampling_error="bootstrap"), ValueError, r"one of \('influence', 'jackknife', 'average'\)"),
    (dict(sampling_error=True), ValueError, "sampling_error must be None or one of"),
    (dict(sampling_error="influence", estimator="kl"), ValueError, "estimator='ksg'"),
    (dict(sampling_error="average", estimator="seed"), ValueError, "estimator='ksg'"),
    (dict(sampling_error="jackknife", n_projections=4, seed=0, _n=19), ValueError,
     "needs at least 20 samples, got 19; use more samples or sampling_error='influence'"),
])
def test_bad_sampling_error_is_named_with_the_fix(kwargs, error, words):
    n = kwargs.pop("_n", 60)
    X, Y = _pair(n=n)
    with pytest.raises(error, match=words):
        fastsmi.smi(X, Y, **kwargs)


def test_jackknife_names_the_subset_that_a_small_class_breaks():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((100, 2))
    labels = np.zeros(100, dtype=int)
    labels[:6] = 1  # 6 samples: k = 5 fits the full data, but not a subset that drops one of them
    with pytest.raises(ValueError, match=r"leaving out 1/10 of the samples at a time, and one such subset was "
                                         r"refused: .*sampling_error='influence'"):
        fastsmi.smi(X, labels, y_discrete=True, n_projections=8, seed=1, sampling_error="jackknife")


def test_jackknife_warns_once_at_the_callers_line():
    X, Y = _pair(n=100, seed=16)
    X[3, 0] = np.nan
    with pytest.warns(RuntimeWarning, match="dropped 1 of 100 rows") as caught:
        fastsmi.smi(X, Y, n_projections=8, seed=0, nan_policy="omit", sampling_error="jackknife")
    assert len(caught) == 1 and caught[0].filename == __file__


def test_smi_test_prepares_the_data_once_and_warns_at_the_callers_line():
    X, Y = _pair(n=100, seed=17)
    X[5, 1] = np.nan
    with pytest.warns(RuntimeWarning, match="dropped 1 of 100 rows") as caught:
        res = smi_test(X, Y, n_permutations=4, n_projections=8, seed=0, nan_policy="omit")
    assert len(caught) == 1 and caught[0].filename == __file__
    assert res.smi.n_omitted == 1
