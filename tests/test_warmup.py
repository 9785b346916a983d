"""The parallel warm-up compile (fastsmi._warmup) and its use by the synthetic runner."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from conftest import requires_numba
from fastsmi import _warmup
from fastsmi.experiments import runners
from fastsmi.experiments import synthetic as syn


@pytest.mark.parametrize("weights, parts, loads", [
    ([3, 2, 1, 1], 2, [4, 3]),
    ([5, 1, 1, 1], 2, [5, 3]),
    ([1, 1, 1], 3, [1, 1, 1]),
    ([2, 2], 1, [4]),
    ([1], 3, [1, 0, 0]),
])
def test_split_tasks_balances_weights(weights, parts, loads):
    shares = _warmup.split_tasks([(w, print, (i,)) for i, w in enumerate(weights)], parts)
    assert [sum(w for w, _, _ in share) for share in shares] == loads
    assert sorted(t[2][0] for share in shares for t in share) == list(range(len(weights)))  # each task once


def test_split_tasks_head_start_keeps_more_here():
    tasks = [(3.0, print, ("kl",)), (2.5, print, ("ksg",)), (1.0, print, ("full1",)), (1.0, print, ("full2",))]
    even = _warmup.split_tasks(tasks, 2)
    assert [[t[2][0] for t in share] for share in even] == [["kl", "full2"], ["ksg", "full1"]]
    ahead = _warmup.split_tasks(tasks, 2, head_start=1.5)  # the helper starts later
    assert [[t[2][0] for t in share] for share in ahead] == [["kl", "full1", "full2"], ["ksg"]]


def _compile_fresh() -> None:
    """Compile a new function (no cache): this process's share compiles something."""
    from numba import njit

    njit(lambda x: x + 1)(1)


@requires_numba
def test_helper_runs_its_share_when_this_process_compiles(tmp_path):
    marker = tmp_path / "helper-ran"
    report = _warmup.warm_up([(2.0, _compile_fresh, ()), (1.0, Path.touch, (marker,))], processes=2)
    assert report == {"processes": 2, "compiled_here": 1}
    assert marker.exists()  # the spawned process ran Path.touch before warm_up returned


@requires_numba
def test_helpers_stopped_at_once_when_nothing_compiles():
    start = time.perf_counter()
    report = _warmup.warm_up([(2.0, int, ()), (1.0, time.sleep, (120.0,))], processes=2)
    assert report == {"processes": 2, "compiled_here": 0}
    assert time.perf_counter() - start < 60.0  # the sleeping helper was terminated, not awaited


def test_warm_up_processes_only_where_it_helps(monkeypatch):
    settings = syn.SyntheticConfig(dims=(2,)).to_dict()
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 1}, raising=False)
    monkeypatch.setattr(_warmup, "numba_cache_enabled", lambda: True)
    assert runners.warm_up_processes(settings, None, None) == 2
    assert runners.warm_up_processes(settings, object(), None) == 0  # a remote cluster's workers compile there

    class LocalCluster:
        pass

    class Client:
        cluster = LocalCluster()

    assert runners.warm_up_processes(settings, Client(), None) == 2  # a LocalCluster shares this machine's cache
    assert runners.warm_up_processes(settings, None, False) == 0
    assert runners.warm_up_processes(dict(settings, backend="cython"), None, None) == 0
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0}, raising=False)
    assert runners.warm_up_processes(settings, None, None) == 0
    assert runners.warm_up_processes(settings, None, True) == 1  # asked for: runs the tasks here
    monkeypatch.setattr(_warmup, "numba_cache_enabled", lambda: False)
    assert runners.warm_up_processes(settings, None, True) == 0


def test_numba_cache_enabled_follows_the_backend(monkeypatch):
    monkeypatch.setenv("FASTSMI_BACKEND", "cython")
    assert _warmup.numba_cache_enabled() is False


@requires_numba
def test_run_with_warm_up_equals_run_without(tmp_path, monkeypatch):
    from test_synthetic import TINY, _table

    monkeypatch.delenv("FASTSMI_BACKEND", raising=False)  # the warm-up compiles Numba kernels only
    cfg = syn.SyntheticConfig(**dict(TINY, dims=(2, 5)))
    calls = []
    real = runners.warm_up_kernels

    def spy(plan, settings, processes, *, task):
        calls.append(processes)
        real(plan, settings, processes, task=task)

    monkeypatch.setattr(runners, "warm_up_kernels", spy)
    warm = syn.run_experiment(cfg, tmp_path / "warm", plots=False, progress=False, warm_up=True)
    plain = syn.run_experiment(cfg, tmp_path / "plain", plots=False, progress=False, warm_up=False)
    assert len(calls) == 1 and calls[0] >= 1  # warm_up=False skipped it
    assert warm.complete and plain.complete
    assert _table(tmp_path / "warm" / "results.csv") == _table(tmp_path / "plain" / "results.csv")


@requires_numba
def test_helpers_cache_only_entry_kernels(tmp_path):
    """``FASTSMI_NUMBA_CACHE=entry`` (the helpers' mode) saves the entry kernel, not its building blocks."""
    import os
    import subprocess
    import sys

    code = ("import numpy as np, fastsmi; rng = np.random.default_rng(0); X = rng.normal(size=(80, 6)); "
            "fastsmi.mi(X, X + rng.normal(size=(80, 6)), estimator='ksg', n_jobs=1)")
    # FASTSMI_BACKEND="": the full-dimensional search runs in Numba even in a run that forces Cython
    env = dict(os.environ, FASTSMI_NUMBA_CACHE="entry", NUMBA_CACHE_DIR=str(tmp_path), FASTSMI_BACKEND="")
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=600)
    saved = {p.name.split("-")[0] for p in tmp_path.rglob("*.nbi")}
    assert "_dense.ksg_counts" in saved  # the entry kernel (max-norm brute force, joint d = 12)
    assert not saved & {"_dense.chebyshev_rows", "_dense.ksg_row", "_dense.select_smallest"}, saved
