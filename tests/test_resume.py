"""Resuming the synthetic grid from a damaged ``results.csv``: damaged rows are dropped, warned
about, kept aside and recomputed; no completed row is lost, and the final table equals an
uninterrupted run's."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from fastsmi.experiments import synthetic as syn
from test_synthetic import _table

TINY = dict(dims=(1, 2), mi_values=(0.0, 1.0), n_samples=200, n_projections=8, estimators=("ksg",))


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    out = tmp_path_factory.mktemp("clean")
    res = syn.run_experiment(syn.SyntheticConfig(**TINY), out, plots=False, progress=False)
    assert res.complete
    return out / "results.csv"


def _partial(tmp_path: Path, cells: int) -> Path:
    syn.run_experiment(syn.SyntheticConfig(**TINY), tmp_path, max_cells=cells, plots=False, progress=False)
    return tmp_path / "results.csv"


def _resume(tmp_path: Path):
    return syn.run_experiment(syn.SyntheticConfig(**TINY), tmp_path, plots=False, progress=False)


def test_cut_last_row_followed_by_a_newline_is_recomputed(tmp_path, clean):
    results = _partial(tmp_path, 4)
    lines = results.read_text().splitlines(keepends=True)
    assert len(lines) == 1 + 4
    cut = lines[-1][: len(lines[-1]) // 2]
    results.write_text("".join(lines[:-1]) + cut + "\n")  # a kill mid-write, then a later append's newline
    with pytest.warns(RuntimeWarning, match=r"1 damaged row\(s\) \(line 5: a cut or corrupted write\) were dropped; "
                                            r"their cells are computed again \(kept in results.csv.damaged\)"):
        res = _resume(tmp_path)
    total = len(syn.grid_cells(syn.SyntheticConfig(**TINY)))
    assert (res.skipped, res.computed, res.remaining) == (3, total - 3, 0)
    assert _table(results) == _table(clean)
    assert (tmp_path / "results.csv.damaged").read_text() == cut + "\n"
    again = _resume(tmp_path)  # the repaired file resumes silently
    assert (again.skipped, again.computed) == (total, 0)


@pytest.mark.parametrize("damage", ["drop_field", "bad_number", "bad_flag", "unknown_model", "nul_byte"])
def test_damaged_middle_row_keeps_the_others(tmp_path, clean, damage):
    results = _partial(tmp_path, 4)
    lines = results.read_text().splitlines()
    fields = lines[2].split(",")
    if damage == "drop_field":
        del fields[7]
    elif damage == "bad_number":
        fields[6] = "0.1x3"
    elif damage == "bad_flag":
        fields[5] = "Tru"
    elif damage == "unknown_model":
        fields[0] = "gaussiam"
    lines[2] = ",".join(fields) if damage != "nul_byte" else lines[2][:10] + "\0" + lines[2][10:]
    results.write_text("\n".join(lines) + "\n")
    before = results.read_text()
    with pytest.warns(RuntimeWarning, match=r"1 damaged row\(s\) \(line 3: .*were dropped"):
        assert len(syn.load_results(results)) == 3
    assert results.read_text() == before  # reading never changes the file
    with pytest.warns(RuntimeWarning, match=r"line 3: a cut or corrupted write"):
        res = _resume(tmp_path)
    assert res.skipped == 3 and res.complete
    assert _table(results) == _table(clean)


def test_cut_header_starts_afresh(tmp_path, clean):
    results = tmp_path / "results.csv"
    results.write_text("model,d,mi,ru")
    res = _resume(tmp_path)
    assert res.skipped == 0 and res.complete
    assert _table(results) == _table(clean)


def test_foreign_header_is_refused_with_the_fix(tmp_path):
    (tmp_path / "results.csv").write_text("a,b,c\n1,2,3\n")
    with pytest.raises(ValueError, match=r"has columns \['a', 'b', 'c'\].*use a new output directory, or "
                                         r"--overwrite \(overwrite=True\) to discard it"):
        _resume(tmp_path)


@pytest.mark.parametrize("content", [b"", b"not a checkpoint", b"PK\x03\x04cut"])
def test_damaged_mnist_checkpoint_is_reported_with_the_fix(tmp_path, content):
    pytest.importorskip("torch")
    from fastsmi.mnist.run import ExperimentConfig, run_experiment

    (tmp_path / "checkpoint.pt").write_bytes(content)
    cfg = ExperimentConfig(out=str(tmp_path), dataset="digits", n_train=64, n_test=48, epochs=1,
                           measure_epochs=(1,), n_projections=8, aemi=False, channels=(2, 2, 2), hidden=4,
                           figures=False, progress=False)
    with pytest.raises(ValueError, match=r"checkpoint\.pt cannot be read \(.*\); it is damaged or not a fastsmi "
                                         r"checkpoint: use resume=False \(--no-resume\) to start afresh"):
        run_experiment(cfg)


def test_cli_rerun_after_a_cut_row_equals_a_clean_run(tmp_path, capsys):
    """Through ``fastsmi synthetic``: the rerun exits 0, says what it dropped in one line, and ends
    with the uninterrupted run's table."""
    from fastsmi.cli import main

    args = ["synthetic", "fig1", "--dims", "1,2", "--mi-values", "0,1", "-n", "200", "-m", "8", "--estimators",
            "ksg", "--no-plots", "--no-progress", "--processes", "1"]
    assert main([*args, "--out", str(tmp_path / "clean")]) == 0
    part = tmp_path / "part"
    assert main([*args, "--out", str(part), "--max-cells", "3"]) == 0
    results = part / "results.csv"
    *done, last = results.read_text().splitlines(keepends=True)
    results.write_text("".join(done) + last[: last.index(",", 40) - 3] + "\n")  # cut in its numbers, then a newline
    capsys.readouterr()
    assert main([*args, "--out", str(part)]) == 0
    err = capsys.readouterr().err
    assert re.fullmatch(r"fastsmi synthetic: warning: \S+results\.csv: 1 damaged row\(s\) \(line 4: a cut or corrupted "
                        r"write\) were dropped; their cells are computed again \(kept in results\.csv\.damaged\)\n",
                        err), err
    assert _table(results) == _table(tmp_path / "clean" / "results.csv")
