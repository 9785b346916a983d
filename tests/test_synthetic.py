"""Tests of the synthetic-experiment runner: seeds, shared samples, resume, Dask, outputs."""
from __future__ import annotations

import csv
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import available, status

import fastsmi
from fastsmi.experiments import synthetic as syn
from fastsmi.experiments.cli import add_parser, config_from_args, main
from fastsmi.experiments.models import GaussianModel, gaussian_smi, make_model
from fastsmi.experiments.plotting import pearson, summarize, summary_markdown

TINY = dict(dims=(1, 2), mi_values=(0.0, 1.0, 2.0), n_samples=200, n_projections=16)
TIMING = ("wall_s", "cpu_s")


def _table(path: Path) -> list[list[str]]:
    """The results file without its timing columns, as text (NaN == NaN)."""
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    drop = [rows[0].index(c) for c in TIMING]
    return [[v for i, v in enumerate(r) if i not in drop] for r in rows]


# ------------------------------------------------------------------ grid and seeds
def test_grid_cells_count_order_and_student_t_floor():
    cfg = syn.SyntheticConfig(models=("gaussian", "student_t"), dims=(1, 10), mi_values=(0.0, 0.2, 1.0), runs=2)
    cells = syn.grid_cells(cfg)
    gauss = [c for c in cells if c.model == "gaussian"]
    assert len(gauss) == 2 * 3 * 2 * 2 * 2
    assert len({c.key for c in cells}) == len(cells)
    # Student-t has a minimum MI (shared scale); values below it are left out.
    floor10 = make_model("student_t", 10, 1.0).mi_floor
    t10 = {c.mi for c in cells if c.model == "student_t" and c.d == 10}
    assert t10 == {v for v in (0.0, 0.2, 1.0) if v >= floor10}
    # variants of a sample group are adjacent, so the group is drawn once
    runs_of_groups = [g for i, g in enumerate(c.group for c in cells) if i == 0 or cells[i - 1].group != g]
    assert len(runs_of_groups) == len(set(runs_of_groups))


def test_cell_seed_distinct_and_process_independent():
    seeds = {syn.cell_seed(0, m, d, mi, r) for m in ("gaussian", "uniform") for d in (1, 2, 10)
             for mi in syn.SEED_MI_VALUES for r in range(3)}
    assert len(seeds) == 2 * 3 * 21 * 3
    assert syn.cell_seed(1, "gaussian", 2, 1.0, 0) != syn.cell_seed(0, "gaussian", 2, 1.0, 0)
    code = "from fastsmi.experiments.synthetic import cell_seed; print(cell_seed(7, 'gaussian', 5, 1.4, 3))"
    outs = set()
    for hashseed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=hashseed)
        outs.add(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                                check=True, timeout=120).stdout.strip())
    assert outs == {str(syn.cell_seed(7, "gaussian", 5, 1.4, 3))}


def test_config_validation_messages():
    with pytest.raises(ValueError, match="cannot run full"):
        syn.SyntheticConfig(estimators=("kl",), kinds=("sliced", "full"))
    with pytest.raises(ValueError, match="unknown model"):
        syn.SyntheticConfig(models=("cauchy",))
    with pytest.raises(ValueError, match="duplicates"):
        syn.SyntheticConfig(dims=(1, 1))
    with pytest.raises(ValueError, match="k=5 must be smaller"):
        syn.SyntheticConfig(n_samples=5)
    syn.SyntheticConfig(estimators=("kl", "ksg2"), kinds=("sliced",))  # fine sliced-only


def test_quick_presets_are_small():
    for fig in ("fig1", "fig2"):
        cfg = syn.SyntheticConfig.preset(fig, quick=True)
        groups = len({c.group for c in syn.grid_cells(cfg)})
        # work ~ groups x (2 sliced estimates of m slices at n samples); keep it below a budget
        assert groups * cfg.n_projections * cfg.n_samples <= 40 * 128 * 1000
        assert set(cfg.estimators) == {"seed", "ksg"} and set(cfg.kinds) == {"sliced", "full"}
    full = syn.SyntheticConfig.preset("fig2")
    assert len(syn.grid_cells(full)) == 12 * 21 * 10 * 4
    assert (full.n_samples, full.n_projections, full.runs) == (2000, 1000, 10)


# ------------------------------------------------------------------ one sample group
def test_group_shares_samples_and_rows_reproduce_from_seed():
    settings = syn.SyntheticConfig(**TINY).to_dict()
    group = syn.SampleGroup("gaussian", 2, 1.0, 0)
    rows = syn.compute_group(group, [("ksg", True), ("seed", True), ("ksg", False), ("seed", False)], settings)
    assert len({r["seed"] for r in rows}) == 1
    seed = rows[0]["seed"]
    assert seed == syn.cell_seed(settings["seed"], "gaussian", 2, 1.0, 0)
    # documented derivation: samples from child 0, slice directions from child 1
    data_ss, slice_ss, full_ss = np.random.SeedSequence(seed).spawn(3)
    X, Y = GaussianModel(2, 1.0).sample(200, rng=np.random.default_rng(data_ss))
    for row in rows:
        if row["sliced"]:
            ref = fastsmi.smi(X, Y, n_projections=16, estimator=row["estimator"], k=5, seed=slice_ss).value
            assert row["estimate"] == ref
            assert math.isfinite(row["stderr"]) and row["stderr"] > 0
        else:
            assert row["estimate"] == syn.full_mi(X, Y, estimator=row["estimator"], k=5, seed=full_ss)
            assert math.isnan(row["stderr"])
        assert row["exact_mi"] == 1.0
        assert row["exact_smi"] == pytest.approx(gaussian_smi(1.0, 2), abs=1e-12)
        assert row["wall_s"] >= 0 and row["cpu_s"] >= 0


def test_full_mi_against_closed_form():
    # tests/calibration/sweep.py synthetic_full_mi[d-estimator-n], 100 seeds (bias, sd, largest
    # error -> tolerance, and the fraction of seeds in which a 10% bias fails):
    #   d=1 ksg  n=6000:  +0.0057, 0.0129, 0.037 -> 0.0482 (100%; a 7% bias fails 90% of seeds)
    #   d=1 seed n=24000: -0.0009, 0.0173, 0.044 -> 0.0578 (99%; 8%)
    #   d=2 ksg  n=8000:  +0.0096, 0.0149, 0.047 -> 0.0586 (98%; 9%)
    # (formerly n = 2000 and d = 3, where KSG's own bias in a 6-D joint at that n is -0.15 nat).
    X, Y = GaussianModel(1, 1.0).sample(24000, rng=np.random.default_rng(3))
    assert abs(syn.full_mi(X[:6000], Y[:6000], estimator="ksg", k=5) - 1.0) < 0.0482
    assert abs(syn.full_mi(X, Y, estimator="seed", k=5) - 1.0) < 0.0578
    X, Y = GaussianModel(2, 1.0).sample(8000, rng=np.random.default_rng(4))
    assert abs(syn.full_mi(X, Y, estimator="ksg", k=5) - 1.0) < 0.0586
    with pytest.raises(ValueError, match="full-dimensional estimator"):
        syn.full_mi(X, Y, estimator="ksg2x", k=5)


# ------------------------------------------------------------------ runner, resume, Dask
def test_max_cells_resume_equals_clean_run(tmp_path):
    cfg = syn.SyntheticConfig(**TINY)
    total = len(syn.grid_cells(cfg))
    clean = syn.run_experiment(cfg, tmp_path / "clean", plots=False, progress=False)
    assert clean.complete and clean.computed == total == len(clean.rows)
    part = tmp_path / "part"
    first = syn.run_experiment(cfg, part, max_cells=5, plots=False, progress=False)
    assert (first.computed, first.remaining) == (5, total - 5)
    assert not (part / "summary.csv").exists()
    # a kill during a write leaves a partial line: it is dropped on resume
    with open(part / "results.csv", "a") as fh:
        fh.write("gaussian,2,1.0,0,ksg,Tr")
    with pytest.warns(RuntimeWarning, match=r"1 damaged row\(s\) \(line 7: a cut or corrupted write\) were dropped"):
        second = syn.run_experiment(cfg, part, plots=False, progress=False)
    assert (second.skipped, second.computed, second.remaining) == (5, total - 5, 0)
    assert _table(part / "results.csv") == _table(tmp_path / "clean" / "results.csv")
    third = syn.run_experiment(cfg, part, plots=False, progress=False)
    assert (third.computed, third.skipped) == (0, total)


def test_resume_refuses_other_parameters(tmp_path):
    syn.run_experiment(syn.SyntheticConfig(**TINY), tmp_path, max_cells=1, plots=False, progress=False)
    other = syn.SyntheticConfig(**dict(TINY, n_samples=300))
    with pytest.raises(ValueError, match="n_samples: 200 there, 300 now"):
        syn.run_experiment(other, tmp_path, plots=False, progress=False)
    res = syn.run_experiment(other, tmp_path, max_cells=1, plots=False, progress=False, overwrite=True)
    assert res.skipped == 0 and res.computed == 1


def test_kill_subprocess_midway_then_resume(tmp_path):
    # 80 cells: far more than can finish between two polls, so the kill lands midway
    # cells in sequence (--processes 1): one process to kill
    args = ["synthetic", "fig1", "--dims", "1,2,3,4", "--mi-values", "0,0.75,1.5,2.25,3", "-n", "400", "-m", "32",
            "--no-plots", "--no-progress", "--processes", "1"]
    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "fastsmi.experiments.cli", *args, "--out", str(killed)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results = killed / "results.csv"
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if results.exists() and results.read_bytes().count(b"\n") >= 4:  # header + 3 cells
                break
            time.sleep(0.005)
        assert proc.poll() is None, "the run ended before it could be killed"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    done = len(syn.load_results(results))
    assert 3 <= done < 80
    assert main([*args, "--out", str(killed)]) == 0
    clean = tmp_path / "clean"
    assert main([*args, "--out", str(clean)]) == 0
    assert _table(results) == _table(clean / "results.csv")
    assert len(_table(results)) == 1 + 80


def test_dask_local_cluster_matches_local(tmp_path):
    if not available("dask"):
        pytest.skip(f"dask: {status('dask').detail}")
    import distributed
    local_cfg = syn.SyntheticConfig(**TINY)
    dask_cfg = syn.SyntheticConfig(**TINY, n_jobs=1)  # threads are not a result parameter
    syn.run_experiment(local_cfg, tmp_path / "local", plots=False, progress=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        res = syn.run_experiment(dask_cfg, tmp_path / "dask", client=client, plots=False, progress=False)
    assert res.complete
    assert _table(tmp_path / "dask" / "results.csv") == _table(tmp_path / "local" / "results.csv")


def test_process_pool_matches_sequential(tmp_path):
    # full-vector cells at d >= 2 run on the compiled KD-tree: no JIT compilation per process
    cfg = syn.SyntheticConfig(dims=(2, 3), mi_values=(0.0, 1.0, 2.0), n_samples=300, kinds=("full",))
    syn.run_experiment(cfg, tmp_path / "seq", plots=False, progress=False)
    res = syn.run_experiment(syn.SyntheticConfig(**{**cfg.to_dict(), "n_jobs": 1}), tmp_path / "pool",
                             processes=2, plots=False, progress=False)
    assert res.complete and res.computed == 12
    assert _table(tmp_path / "pool" / "results.csv") == _table(tmp_path / "seq" / "results.csv")


def test_dask_not_imported_locally():
    code = ("import sys; from fastsmi.experiments.cli import main; "
            "import fastsmi.experiments.synthetic, fastsmi.experiments.plotting; "
            "print(any(m == 'dask' or m.startswith(('dask.', 'distributed')) for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "False"


# ------------------------------------------------------------------ summary and outputs
def test_pearson_and_summary_against_numpy():
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=30), rng.normal(size=30)
    assert pearson(a, b) == pytest.approx(np.corrcoef(a, b)[0, 1], abs=1e-12)
    grid = np.linspace(0, 4, 7)
    rows, per_run = [], []
    for run in range(3):
        est = grid ** 2 / 4 + rng.normal(scale=0.5, size=grid.size)
        per_run.append(np.corrcoef(est, grid)[0, 1])
        rows += [dict(model="gaussian", estimator="ksg", sliced=True, d=5, run=run, mi=float(g), estimate=float(e),
                      stderr=0.1, exact_mi=float(g), exact_smi=gaussian_smi(float(g), 5), wall_s=1.0, cpu_s=1.0)
                 for g, e in zip(grid, est)]
    summary = summarize(rows)
    ksg = next(r for r in summary if r["estimator"] == "ksg")
    assert ksg["pearson_grid"] == pytest.approx(np.mean(per_run), abs=1e-12)
    assert ksg["pearson_grid_sd"] == pytest.approx(np.std(per_run, ddof=1), abs=1e-12)
    est_all = np.array([r["estimate"] for r in rows])
    smi_all = np.array([r["exact_smi"] for r in rows])
    assert ksg["rmse_smi"] == pytest.approx(np.sqrt(np.mean((est_all - smi_all) ** 2)), abs=1e-12)
    exact = next(r for r in summary if r["estimator"] == "exact")
    assert exact["pearson_grid"] == pytest.approx(
        np.corrcoef([gaussian_smi(float(g), 5) for g in grid], grid)[0, 1], abs=1e-12)
    md = summary_markdown(summary)
    assert "| SMI (ksg) |" in md and "seed paper, Fig. 2: SMI | 0.985" in md


def test_outputs_written_and_no_closed_form_is_nan(tmp_path):
    cfg = syn.SyntheticConfig(models=("uniform",), dims=(1, 3), mi_values=(0.0, 1.0, 2.0), n_samples=200,
                              n_projections=16, estimators=("ksg",))
    res = syn.run_experiment(cfg, tmp_path, progress=False)
    rows = syn.load_results(tmp_path / "results.csv")
    assert all(math.isnan(r["exact_smi"]) == (r["d"] > 1) for r in rows)
    names = {p.name for p in res.files}
    for stem in ("estimates_uniform", "correlation_uniform"):
        for ext in ("png", "svg"):
            path = tmp_path / f"{stem}.{ext}"
            assert path.name in names and path.stat().st_size > 1000
    assert (tmp_path / "estimates_uniform.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    import json

    meta = json.loads((tmp_path / "config.json").read_text())
    assert meta["status"] == "complete" and meta["config"]["models"] == ["uniform"]
    assert meta["environment"]["versions"]["numpy"] == np.__version__
    assert {"backend", "numba_threads", "threads_per_cell"} <= set(meta["environment"])


def test_cli_flags_map_to_config():
    import argparse

    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    args = parser.parse_args(["synthetic", "fig2", "--quick", "--models", "gaussian,student_t", "--runs", "3",
                              "-n", "700", "--estimators", "ksg", "--kinds", "sliced", "--dask"])
    cfg = config_from_args(args)
    assert cfg.models == ("gaussian", "student_t") and cfg.runs == 3 and cfg.n_samples == 700
    assert cfg.estimators == ("ksg",) and cfg.kinds == ("sliced",)
    assert cfg.n_jobs == 1  # one thread per Dask task unless --n-jobs
    assert cfg.dims == syn.SyntheticConfig.preset("fig2", quick=True).dims
    assert main(["synthetic", "fig1", "--estimators", "kl", "--kinds", "full", "--out", "/nonexistent/x"]) == 2


def test_cli_runs_full_grids_in_a_process_pool_by_default(monkeypatch):
    import argparse

    from fastsmi.experiments.cli import _processes

    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    monkeypatch.setattr("os.cpu_count", lambda: 4)
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    full = parser.parse_args(["synthetic", "fig2"])
    assert _processes(full) == 4 and config_from_args(full).n_jobs == 1  # one thread per process
    assert _processes(parser.parse_args(["synthetic", "fig2", "--quick"])) is None
    assert _processes(parser.parse_args(["synthetic", "fig2", "--dask"])) is None
    one = parser.parse_args(["synthetic", "fig2", "--processes", "1"])
    assert _processes(one) == 1 and config_from_args(one).n_jobs is None  # in sequence, all threads per cell
    threads = parser.parse_args(["synthetic", "fig2", "--n-jobs", "2"])
    assert _processes(threads) is None and config_from_args(threads).n_jobs == 2  # threads, cells in sequence
    monkeypatch.setattr("os.cpu_count", lambda: 1)
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0}, raising=False)
    assert _processes(full) is None
    assert main(["synthetic", "fig1", "--processes", "0", "--out", "/nonexistent/x"]) == 2


def test_markdown_answers_ksg_vs_seed_at_high_d():
    grid = np.linspace(0, 4, 5)
    rows = []
    for estimator, noise in (("ksg", 0.01), ("seed", 2.0)):
        rng = np.random.default_rng(11)
        for d in (2, 20, 40):
            est = grid / d + rng.normal(scale=noise, size=grid.size)
            rows += [dict(model="gaussian", estimator=estimator, sliced=True, d=d, run=0, mi=float(g),
                          estimate=float(e), stderr=0.1, exact_mi=float(g), exact_smi=gaussian_smi(float(g), d),
                          wall_s=1.0, cpu_s=1.0) for g, e in zip(grid, est)]
    summary = summarize(rows)
    by = {(r["estimator"], r["d"]): r["pearson_grid"] for r in summary}
    wins = sum(by[("ksg", d)] > by[("seed", d)] for d in (20, 40))
    assert f"sliced, d >= 20: KSG is better correlated than the seed's KL at {wins} of 2 dimensions" \
        in summary_markdown(summary)


def test_failing_cell_is_recorded_not_fatal(tmp_path, monkeypatch):
    import json

    real = syn.full_mi

    def flaky(X, Y, **kw):
        if X.shape[1] == 2:
            raise ValueError("cannot whiten: the sample covariance is singular")
        return real(X, Y, **kw)

    monkeypatch.setattr(syn, "full_mi", flaky)
    cfg = syn.SyntheticConfig(dims=(2, 3), mi_values=(0.0, 1.0), n_samples=200, kinds=("full",), estimators=("ksg",))
    with pytest.warns(RuntimeWarning, match="2 cell"):
        res = syn.run_experiment(cfg, tmp_path, plots=False, progress=False)
    assert res.complete
    rows = syn.load_results(tmp_path / "results.csv")
    assert all(math.isnan(r["estimate"]) == (r["d"] == 2) for r in rows)
    errors = json.loads((tmp_path / "config.json").read_text())["cell_errors"]
    assert len(errors) == 2 and all(e["d"] == 2 and "singular" in e["error"] for e in errors)
