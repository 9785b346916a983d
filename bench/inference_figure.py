"""The inference studies in one figure and one table: type I error of ``smi_test`` and coverage of ``ci``.

Reads the JSON of ``bench/inference_type1.py`` (and the printed lines of its
log, for runs whose JSON was lost) and of ``bench/inference_coverage.py`` (one or
more batches, merged cell by cell), writes ``docs/inference/studies.png`` and
``.svg``, and prints the coverage table in Markdown::

    python bench/inference_figure.py --coverage bench/results/inference_coverage_full_*.json
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import re

import numpy as np
from scipy import stats

METHODS = ("influence", "jackknife", "average")
TYPE1_LINE = re.compile(r"^(\S+)\s+reps=(\d+) .*type I = ([0-9.]+)")


def exact_interval(k: int, n: int) -> tuple[float, float]:
    """Clopper-Pearson 95% interval of a proportion k / n."""
    lo = stats.beta.ppf(0.025, k, n - k + 1) if k > 0 else 0.0
    hi = stats.beta.ppf(0.975, k + 1, n - k) if k < n else 1.0
    return float(lo), float(hi)


def load_type1(paths: list[str], logs: list[str]) -> dict[str, tuple[int, int]]:
    """Scenario -> (rejections, replicates)."""
    out: dict[str, tuple[int, int]] = {}
    for path in logs:
        for line in open(path):
            hit = TYPE1_LINE.match(line)
            if hit:
                reps = int(hit.group(2))
                out[hit.group(1)] = (round(float(hit.group(3)) * reps), reps)
    for path in paths:
        for row in json.load(open(path))["rows"]:
            out[row["scenario"]] = (row["rejections"], row["reps"])
    return out


def load_coverage(paths: list[str]) -> list[dict]:
    """Rows of the coverage batches merged by cell (replicates concatenated, in batch order)."""
    cells: dict[str, dict] = {}
    for path in sorted(paths):
        for row in json.load(open(path))["rows"]:
            cell = cells.setdefault(row["cell"], dict(cell=row["cell"], exact=row["exact"], n=row["n"], m=row["m"],
                                                     estimates=[], **{f"covered_{m}": [] for m in METHODS},
                                                     **{f"se2_{m}": [] for m in METHODS}))
            cell["estimates"] += row["estimates"]
            for m in METHODS:
                cell[f"covered_{m}"] += row[f"covered_{m}"]
                cell[f"se2_{m}"].append((row[f"rms_stderr_samples_{m}"] ** 2, row["reps"]))
    rows = list(cells.values())
    for row in rows:
        est = np.array(row["estimates"])
        row["reps"] = est.size
        row["bias"] = float(est.mean() - row["exact"])
        row["sd"] = float(est.std(ddof=1))
        for m in METHODS:
            k = int(np.sum(row[f"covered_{m}"]))
            row[f"coverage_{m}"] = k / est.size
            row[f"coverage_ci_{m}"] = exact_interval(k, est.size)
            pairs = row[f"se2_{m}"]
            row[f"rms_se_{m}"] = float(np.sqrt(sum(v * r for v, r in pairs) / sum(r for _, r in pairs)))
    return rows


def table(rows: list[dict]) -> str:
    head = ("| cell | exact SMI | reps | bias | sd of estimates | "
            + " | ".join(f"coverage `{m}`" for m in METHODS) + " | "
            + " | ".join(f"rms `stderr_samples` `{m}`" for m in METHODS) + " |")
    lines = [head, "|" + "---|" * (5 + 2 * len(METHODS))]
    for r in rows:
        lines.append(f"| {r['cell']} | {r['exact']:.4f} | {r['reps']} | {r['bias']:+.4f} | {r['sd']:.4f} | "
                     + " | ".join(f"{100 * r[f'coverage_{m}']:.1f}%" for m in METHODS) + " | "
                     + " | ".join(f"{r[f'rms_se_{m}']:.4f}" for m in METHODS) + " |")
    return "\n".join(lines)


def figure(type1: dict, rows: list[dict], out: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4.2), gridspec_kw=dict(width_ratios=[1, 2.6]))
    names = list(type1)
    for i, name in enumerate(names):
        k, n = type1[name]
        lo, hi = exact_interval(k, n)
        a.errorbar(i, k / n, yerr=[[k / n - lo], [hi - k / n]], fmt="o", color="C0", capsize=3)
    a.axhspan(0.03, 0.07, color="0.85", zorder=0, label="target [0.03, 0.07]")
    a.axhline(0.05, color="0.4", lw=0.8)
    a.set_xticks(range(len(names)), names, rotation=30, ha="right")
    a.set_ylabel("type I error at alpha = 0.05")
    a.set_title(f"smi_test under independence ({max(n for _, n in type1.values())} replicates)")
    a.legend(loc="upper right", fontsize=8)

    width = 0.25
    for j, m in enumerate(METHODS):
        xs = np.arange(len(rows)) + (j - 1) * width
        cov = np.array([r[f"coverage_{m}"] for r in rows])
        err = np.array([[c - r[f"coverage_ci_{m}"][0], r[f"coverage_ci_{m}"][1] - c] for c, r in zip(cov, rows)]).T
        b.errorbar(xs, 100 * cov, yerr=100 * err, fmt="o", color=f"C{j + 1}", capsize=2, label=f"sampling_error='{m}'")
    b.axhspan(93, 97, color="0.85", zorder=0, label="target 93-97%")
    b.axhline(95, color="0.4", lw=0.8)
    b.set_xticks(range(len(rows)), [r["cell"] for r in rows], rotation=30, ha="right")
    b.set_ylabel("coverage of the 95% interval ci (%)")
    reps = min(r["reps"] for r in rows)
    b.set_title(f"ci against the exact SMI (n = {rows[0]['n']}, m = {rows[0]['m']}, {reps}+ replicates a cell)")
    b.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    for ext in ("png", "svg"):
        fig.savefig(f"{out}.{ext}", dpi=120)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--coverage", nargs="+", required=True, help="coverage JSON batches (globs allowed)")
    ap.add_argument("--type1", nargs="*", default=["bench/results/inference_type1_b.json"])
    ap.add_argument("--type1-log", nargs="*", default=["bench/results/inference_type1_gaussian_t2.log"])
    ap.add_argument("--out", default="docs/inference/studies")
    args = ap.parse_args()
    paths = [p for pattern in args.coverage for p in sorted(glob.glob(pattern))]
    rows = load_coverage(paths)
    figure(load_type1(args.type1, args.type1_log), rows, args.out)
    print(table(rows))


if __name__ == "__main__":
    main()
