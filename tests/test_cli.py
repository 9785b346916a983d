"""The command line as users run it: ``python -m fastsmi ...`` in a subprocess.

Every error path must end with the documented exit status (2: the command or its input is
wrong; 1: an output cannot be written; 130: interrupted) and one line on stderr that names
the problem and the fix, never a traceback.  The error cases run as concurrent subprocesses
from one fixture (each pays the import, none reaches a Numba kernel); the success paths use
tiny data on the prebuilt Cython backend.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import fastsmi
from fastsmi import cli
from fastsmi._backends import BackendUnavailableError

ROOT = Path(fastsmi.__file__).resolve().parents[1]


def run_cli(args, cwd, timeout=120):
    """``python -m fastsmi ARGS`` with this checkout of fastsmi first on the path."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-m", "fastsmi", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def strict_json(text):
    """``json.loads`` that refuses NaN and infinities, as strict parsers do."""
    def refuse(name):
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 3))
    np.save(d / "x.npy", X)
    np.save(d / "y.npy", X[:, :2] + rng.standard_normal((60, 2)))
    np.save(d / "y40.npy", rng.standard_normal(40))
    np.save(d / "empty.npy", np.empty((0, 3)))
    (d / "zero.npy").write_bytes(b"")
    (d / "empty.csv").write_text("")
    (d / "header_only.csv").write_text("a,b,c\n")
    (d / "x.parquet").write_bytes(b"PAR1")
    np.savez(d / "two.npz", a=X, b=X)
    with open(d / "named.csv", "w") as fh:  # a text column first, then numbers
        fh.write("name,u,v,w\n")
        for i, row in enumerate(X):
            fh.write(f"s{i}," + ",".join(repr(float(v)) for v in row) + "\n")
    (d / "ragged.csv").write_text("1,2,3\n4,5\n6,7,8\n")
    nan = X.copy()
    nan[5, 0] = np.nan
    np.savetxt(d / "nan.csv", nan, delimiter=",")
    np.savetxt(d / "space.txt", X)
    (d / "not_a_dir").write_text("a file where --out wants a directory")
    (d / "other").mkdir()
    (d / "other" / "config.json").write_text(json.dumps({"config": {"n_samples": 999}}))
    return d


SUB, IN = True, False  # run as a subprocess, or through cli.main in this process (same code, no import cost)
# (subprocess?, id, arguments, exit status, regex the stderr line must match: the problem AND the fix)
ERRORS = [
    (SUB, "missing file", ["estimate", "missing.npy", "y.npy"], 2,
     r"fastsmi estimate: error: no such file: 'missing\.npy'; check the path"),
    (SUB, "bad extension", ["estimate", "x.parquet", "y.npy"], 2,
     r"unsupported file type '\.parquet' for X file 'x\.parquet'; use \.npy, \.npz, \.csv, \.tsv or \.txt"),
    (SUB, "empty npy", ["estimate", "empty.npy", "y.npy"], 2,
     r"X file 'empty\.npy' holds no samples \(shape \(0, 3\)\); give at least k\+1 rows"),
    (IN, "zero-byte npy", ["estimate", "zero.npy", "y.npy"], 2,
     r"cannot read X file 'zero\.npy' as \.npy \(No data left in file\); write it with numpy\.save"),
    (SUB, "empty csv", ["estimate", "empty.csv", "y.npy"], 2,
     r"X file 'empty\.csv' has no data rows; give a file with one sample per row"),
    (IN, "header-only csv", ["estimate", "header_only.csv", "y.npy", "--skip-header", "1"], 2,
     r"has no data rows after the 1 header row\(s\) skipped; give a file with one sample per row"),
    (IN, "npz without key", ["estimate", "two.npz", "y.npy"], 2,
     r"X file 'two\.npz' holds the arrays \['a', 'b'\]; choose one with --x-key/--y-key"),
    (IN, "npz wrong key", ["estimate", "two.npz", "y.npy", "--x-key", "c"], 2,
     r"X file 'two\.npz' has no array 'c'; it holds \['a', 'b'\]"),
    (IN, "one file, one range", ["estimate", "x.npy", "--x-cols", "0:2"], 2,
     r"with one file, give both --x-cols and --y-cols \(or give a second file for Y\)"),
    (SUB, "columns out of range", ["estimate", "x.npy", "--x-cols", "0:5", "--y-cols", "2"], 2,
     r"column range '0:5' of file 'x\.npy' is outside its 3 columns \(0 to 2\)"),
    (IN, "column index out of range", ["estimate", "x.npy", "--x-cols", "0,7", "--y-cols", "2"], 2,
     r"column 7 of '0,7' is outside the 3 columns of file 'x\.npy' \(0 to 2\)"),
    (IN, "bad column spec", ["estimate", "x.npy", "--x-cols", "a", "--y-cols", "2"], 2,
     r"bad column selection 'a' for file 'x\.npy'; use START:STOP, a comma list such as 1,3,5 or one index"),
    (IN, "empty column range", ["estimate", "x.npy", "--x-cols", "2:2", "--y-cols", "1"], 2,
     r"column range '2:2' selects no column of file 'x\.npy'; use START:STOP with START < STOP"),
    (IN, "columns of a 1-D array", ["estimate", "x.npy", "y40.npy", "--y-cols", "0"], 2,
     r"--y-cols selects columns of a 2-D array, but Y file 'y40\.npy' holds shape \(40,\); drop --y-cols"),
    (SUB, "non-numeric selected column", ["estimate", "named.csv", "--x-cols", "0", "--y-cols", "2",
                                     "--skip-header", "1"], 2,
     r"file 'named\.csv', line 2, column 0 is not a number \('s0'\); select only numeric columns with "
     r"--x-cols/--y-cols, or fix the file"),
    (IN, "header not skipped", ["estimate", "named.csv", "--x-cols", "1", "--y-cols", "2"], 2,
     r"file 'named\.csv', line 1, column 1 is not a number \('u'\): it looks like a header row; skip it "
     r"with --skip-header 1"),
    (IN, "ragged rows", ["estimate", "ragged.csv", "--x-cols", "0", "--y-cols", "2"], 2,
     r"file 'ragged\.csv', line 2 has 2 fields but column 2 is selected; every data row needs the selected "
     r"columns \(check --delimiter\)"),
    (IN, "bad delimiter", ["estimate", "named.csv", "--x-cols", "1", "--y-cols", "2", "--delimiter", ";;"], 2,
     r"--delimiter must be one character, 'tab' or 'whitespace', got ';;'"),
    (SUB, "NaN in data", ["estimate", "nan.csv", "--x-cols", "0", "--y-cols", "1:3"], 2,
     r"X contains NaN or inf \(first at row 5, column 0\); drop or impute those samples first"),
    (SUB, "mismatched lengths", ["estimate", "x.npy", "y40.npy"], 2,
     r"X and Y must have the same number of samples \(rows\), got 60 and 40"),
    (SUB, "zero projections", ["estimate", "x.npy", "y.npy", "-m", "0"], 2,
     r"n_projections must be at least 1, got 0"),
    (IN, "k too large", ["estimate", "x.npy", "y.npy", "-k", "60"], 2,
     r"need more samples than neighbours: n=60 but k=60; use k < n"),
    (IN, "negative seed", ["estimate", "x.npy", "y.npy", "--seed", "-1"], 2,
     r"seed must be a non-negative integer, got -1"),
    (IN, "zero threads", ["estimate", "x.npy", "y.npy", "-j", "0"], 2,
     r"n_jobs must be a positive integer, -1 or None \(all cores\), got 0"),
    (IN, "negative header rows", ["estimate", "x.npy", "y.npy", "--skip-header", "-1"], 2,
     r"--skip-header must be a non-negative integer, got -1"),
    (IN, "demo dimension", ["demo", "--dim", "0"], 2, r"fastsmi demo: error: d must be >= 1 .*got 0"),
    (IN, "synthetic --processes 0", ["synthetic", "fig1", "--processes", "0", "--out", "o"], 2,
     r"fastsmi synthetic: error: --processes must be a positive integer, got 0"),
    (IN, "synthetic two schedulers", ["synthetic", "fig1", "--processes", "2", "--dask", "--out", "o"], 2,
     r"use only one of --dask, --scheduler and --processes"),
    (SUB, "synthetic other parameters", ["synthetic", "fig1", "--quick", "--out", "other"], 2,
     r"other holds results computed with other parameters \(n_samples: 999 there, 1000 now.*\); use another "
     r"output directory, or overwrite=True \(--overwrite\) to discard them"),
    (SUB, "synthetic unwritable --out", ["synthetic", "fig1", "--quick", "--out", "not_a_dir/run"], 1,
     r"fastsmi synthetic: error: cannot write the results: Not a directory \(not_a_dir/run\); choose another "
     r"--out"),
]
USAGE = [  # argparse's own usage errors: usage text, then one error line
    (SUB, "not an integer", ["estimate", "x.npy", "y.npy", "-m", "abc"],
     r"fastsmi estimate: error: argument -m/--n-projections: invalid int value: 'abc'"),
    (IN, "unknown estimator", ["estimate", "x.npy", "y.npy", "--estimator", "knn"],
     r"argument --estimator: invalid choice: 'knn' \(choose from '?ksg'?, '?ksg2'?, '?kl'?, '?wkl'?, '?seed'?\)"),
    (IN, "unknown option", ["estimate", "x.npy", "y.npy", "--bogus"],
     r"fastsmi: error: unrecognized arguments: --bogus"),
    (SUB, "no command", [], r"usage: fastsmi \[-h\] \[--version\] COMMAND"),
]


@pytest.fixture(scope="module")
def outcomes(files):
    """Run the subprocess cases at once: each mostly waits for its imports."""
    cases = [(name, args) for sub, name, args, *_ in ERRORS + USAGE if sub]
    with ThreadPoolExecutor(max_workers=4) as pool:
        done = pool.map(lambda case: run_cli(case[1], files), cases)
        return {name: proc for (name, _), proc in zip(cases, done)}


@pytest.fixture
def outcome(outcomes, files, monkeypatch, capsys):
    """The result of one case: from the subprocess batch, or from cli.main here."""
    def get(sub, name, args):
        if sub:
            return outcomes[name]
        monkeypatch.chdir(files)
        status = cli.main(args)
        captured = capsys.readouterr()
        return subprocess.CompletedProcess(args, status, captured.out, captured.err)

    return get


@pytest.mark.parametrize("sub,name,args,status,message", ERRORS, ids=[e[1] for e in ERRORS])
def test_error_is_one_line_with_the_fix(outcome, sub, name, args, status, message):
    proc = outcome(sub, name, args)
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    assert proc.returncode == status, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"fastsmi {args[0]}: error: ")
    assert re.search(message, lines[0]), lines[0]


@pytest.mark.parametrize("sub,name,args,message", USAGE, ids=[u[1] for u in USAGE])
def test_usage_error_exits_2(outcome, sub, name, args, message):
    proc = outcome(sub, name, args)
    assert "Traceback" not in proc.stderr
    assert proc.returncode == 2
    assert proc.stderr.startswith("usage: fastsmi")
    assert re.search(message, proc.stderr), proc.stderr


def test_success_paths_and_strict_json(files):
    """Only the selected numeric columns of a CSV with a text column are read; one slice has no
    standard error, which --json writes as null (strict JSON), not NaN."""
    proc = run_cli(["estimate", "named.csv", "--x-cols", "1:3", "--y-cols", "3", "--skip-header", "1", "-m", "1",
                    "--seed", "4", "--backend", "cython", "--json"], files)
    assert proc.returncode == 0, proc.stderr
    out = strict_json(proc.stdout)
    X = np.load(files / "x.npy")
    expected = fastsmi.smi(X[:, :2], X[:, 2:], n_projections=1, seed=4, backend="cython")
    assert out["smi"] == expected.value and out["stderr"] is None and out["n"] == 60
    assert (out["n_projections"], out["seed"], out["backend"]) == (1, 4, "cython")


def test_text_output_and_whitespace_txt(files, capsys):
    """np.savetxt's space-separated .txt is read without --delimiter; -1 selects the last column."""
    assert cli.main(["estimate", str(files / "space.txt"), "--x-cols", "0:2", "--y-cols", "-1", "-m", "3",
                     "--seed", "4", "--backend", "cython"]) == 0
    X = np.load(files / "x.npy")
    same = fastsmi.smi(X[:, :2], X[:, 2:], n_projections=3, seed=4, backend="cython")
    out = capsys.readouterr()
    assert out.err == "" and out.out.startswith(f"SMI = {same.value:.6f} nats")


def test_help_documents_the_exit_status(capsys):
    assert cli.main(["estimate", "--help"]) == 0
    text = capsys.readouterr().out
    for code in cli.EXIT_CODES:
        assert f"\n  {code:<5}" in text
    assert "the command or its input is wrong" in text


# ------------------------------------------------------------------ in process: the mapping itself
def test_json_maps_every_non_finite_value_to_null():
    report = dict(a=float("nan"), b=[np.inf, 1.5, np.float32(-np.inf)], c=np.arange(2), d=np.int64(3),
                  e={"x": (np.nan, "s", None, True)})
    text = json.dumps(cli._json_safe(report), allow_nan=False)
    assert strict_json(text) == dict(a=None, b=[None, 1.5, None], c=[0, 1], d=3, e={"x": [None, "s", None, True]})


@pytest.mark.parametrize("raised,status,message", [
    (KeyboardInterrupt(), 130, r"fastsmi estimate: error: interrupted"),
    (BackendUnavailableError("the Numba backend is unavailable (no numba); install numba (pip install numba) or "
                             "use backend='cython'."), 2,
     r"fastsmi estimate: error: the Numba backend is unavailable \(no numba\); install numba \(pip install numba\) "
     r"or use backend='cython'\."),
    (MemoryError(), 1, r"fastsmi estimate: error: out of memory; use fewer samples or projections \(-m\)"),
    (PermissionError(13, "Permission denied", "/out/x"), 1, r"fastsmi estimate: error: Permission denied \(/out/x\)"),
])
def test_interrupts_and_system_errors_map_to_their_status(files, monkeypatch, capsys, raised, status, message):
    def fail(*args, **kwargs):
        raise raised

    monkeypatch.setattr(fastsmi, "smi", fail)
    assert cli.main(["estimate", str(files / "x.npy"), str(files / "y.npy")]) == status
    err = capsys.readouterr().err
    assert re.fullmatch(message + "\n", err), err


def test_synthetic_interrupt_says_how_to_resume(tmp_path, monkeypatch, capsys):
    from fastsmi.experiments import synthetic

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(synthetic, "run_experiment", interrupted)
    assert cli.main(["synthetic", "fig1", "--quick", "--out", str(tmp_path)]) == 130
    assert capsys.readouterr().err == ("fastsmi synthetic: error: interrupted; the finished cells are saved: run the "
                                       "same command again to resume\n")


def test_mnist_missing_data_is_one_line_with_the_fix(tmp_path):
    pytest.importorskip("torch")
    proc = run_cli(["mnist", "--quick", "--dataset", "mnist", "--data-path", str(tmp_path / "none"), "--out",
                    str(tmp_path / "out")], tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and proc.stdout == ""
    assert re.fullmatch(r"fastsmi mnist: error: \S+none does not exist\. MNIST was not found\. .*pass the path of a "
                        r"folder with the standard idx files.*use dataset='digits'.*\n", proc.stderr), proc.stderr


# ------------------------------------------------------------------ fastsmi test
def test_test_command_json_is_smi_test(files):
    """``fastsmi test`` reports smi_test's numbers for the same seed, in strict JSON."""
    proc = run_cli(["test", "x.npy", "y.npy", "-B", "19", "-m", "8", "--seed", "3", "--backend", "cython",
                    "--json"], files)
    assert proc.returncode == 0, proc.stderr
    out = strict_json(proc.stdout)
    X, Y = np.load(files / "x.npy"), np.load(files / "y.npy")
    expected = fastsmi.smi_test(X, Y, n_permutations=19, n_projections=8, seed=3, backend="cython")
    assert out["statistic"] == expected.statistic and out["p_value"] == expected.p_value
    assert (out["n_permutations"], out["n_exceed"], out["seed"], out["n"]) == (19, expected.n_exceed, 3, 60)
    assert out["ci"] is None or out["ci"][0] <= out["statistic"] <= out["ci"][1]


def test_test_command_text_and_sequential_stop(files, capsys):
    rng = np.random.default_rng(5)
    np.save(files / "indep.npy", rng.standard_normal((60, 2)))
    assert cli.main(["test", str(files / "x.npy"), str(files / "indep.npy"), "-B", "50", "-m", "4", "--seed", "1",
                     "--backend", "cython", "--stop-after", "2"]) == 0
    out = capsys.readouterr()
    assert out.err == ""
    lines = out.out.splitlines()
    assert lines[0].startswith("SMI = ") and lines[1].startswith("p-value = ") and lines[2].startswith("time: ")


@pytest.mark.parametrize("args, message", [
    (["-B", "0"], r"fastsmi test: error: n_permutations must be at least 1, got 0; .*1000 or more"),
    (["-B", "10", "--stop-after", "11"], r"stop_after must lie in \[1, n_permutations=10\], got 11"),
])
def test_test_command_bad_options_are_one_line(files, capsys, monkeypatch, args, message):
    monkeypatch.chdir(files)
    assert cli.main(["test", "x.npy", "y.npy", "-m", "2", *args]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and re.search(message, err[0]), err


def test_estimate_prints_the_interval(files, capsys):
    """With KSG (and Numba for the per-sample terms) ``estimate`` prints the 95% interval."""
    pytest.importorskip("numba")
    assert cli.main(["estimate", str(files / "x.npy"), str(files / "y.npy"), "-m", "8", "--seed", "2",
                     "--backend", "numba"]) == 0
    out = capsys.readouterr().out
    X, Y = np.load(files / "x.npy"), np.load(files / "y.npy")
    res = fastsmi.smi(X, Y, n_projections=8, seed=2, return_pointwise=True, backend="numba")
    assert f"95% interval [{res.ci[0]:.6f}, {res.ci[1]:.6f}]" in out


def test_estimate_jackknife_interval_on_any_backend(files, capsys):
    """``--sampling-error jackknife`` needs neither KSG's terms nor Numba: KL gets an interval on any backend."""
    assert cli.main(["estimate", str(files / "x.npy"), str(files / "y.npy"), "-m", "8", "--seed", "2",
                     "--estimator", "kl", "--sampling-error", "jackknife", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    X, Y = np.load(files / "x.npy"), np.load(files / "y.npy")
    res = fastsmi.smi(X, Y, n_projections=8, seed=2, estimator="kl", sampling_error="jackknife")
    assert report["sampling_error"] == "jackknife"
    assert report["ci"] == list(res.ci) and report["stderr_samples"] == res.stderr_samples


def test_estimate_and_test_take_the_rank_transform(files, capsys):
    X, Y = np.load(files / "x.npy"), np.load(files / "y.npy")
    assert cli.main(["estimate", str(files / "x.npy"), str(files / "y.npy"), "-m", "8", "--seed", "2",
                     "--transform", "rank", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["smi"] == fastsmi.smi(X, Y, n_projections=8, seed=2, transform="rank").value
    assert cli.main(["test", str(files / "x.npy"), str(files / "y.npy"), "-m", "4", "-B", "5", "--seed", "2",
                     "--transform", "rank", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    res = fastsmi.smi_test(X, Y, n_permutations=5, n_projections=4, seed=2, transform="rank")
    assert (report["statistic"], report["p_value"]) == (res.statistic, res.p_value)
