"""One permutation test of independence: fastsmi.smi_test against hyppo's Dcorr, in the same run.

Data: n = 1000, X in R^10, Y = X-dependent in R^10 (a noisy linear map).  fastsmi:
B = 1000 permutations, m = 200 slices, KSG k = 5, all cores.  Baseline: hyppo
``Dcorr().test(x, y, reps=1000, workers=-1, auto=False)`` (the permutation test,
not its chi-square shortcut), all cores.  Both receive the same data.

hyppo runs first: its worker processes are forked, and a fork after Numba's
thread pool has started hangs.

Run::

    pytest bench/bench_inference.py --benchmark-only
"""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pytest_benchmark")

from conftest import record  # noqa: E402
from fastsmi import smi_test  # noqa: E402

GROUP = "permutation test B=1000 n=1000 d=10+10"
N, D, B, M = 1000, 10, 1000, 200


def _data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((N, D))
    Y = 0.3 * X @ rng.standard_normal((D, D)) / np.sqrt(D) + rng.standard_normal((N, D))
    return X, Y


def test_hyppo_dcorr(benchmark):
    independence = pytest.importorskip("hyppo.independence")
    X, Y = _data()
    benchmark.group = GROUP
    stat, p = benchmark.pedantic(
        lambda: independence.Dcorr().test(X, Y, reps=B, workers=-1, auto=False, random_state=0),
        rounds=3, warmup_rounds=0)[:2]
    benchmark.extra_info.update(p_value=float(p), statistic=float(stat))
    record(benchmark, GROUP, "hyppo Dcorr reps=1000", (B + 1) * M)


def test_fastsmi_smi_test(benchmark):
    X, Y = _data()
    smi_test(X[:200], Y[:200], n_permutations=2, n_projections=16, seed=0)  # compile outside the timing
    benchmark.group = GROUP
    res = benchmark.pedantic(smi_test, args=(X, Y), kwargs=dict(n_permutations=B, n_projections=M, seed=0),
                             rounds=3, warmup_rounds=0)
    benchmark.extra_info.update(p_value=res.p_value, statistic=res.statistic)
    record(benchmark, GROUP, f"fastsmi.smi_test m={M}", (B + 1) * M)
