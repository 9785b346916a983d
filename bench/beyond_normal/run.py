"""Estimate MI on the Beyond Normal samples with named settings; write the CSV, MAE table and figure.

Runs with the project's python, after ``generate.py`` (and ``bmi_estimates.py``)::

    python bench/beyond_normal/run.py [DATA] --sizes 5000 [--out docs/accuracy]

Estimates are cached in ``DATA/fastsmi_estimates.csv`` (a sample and setting
already there is not recomputed), so sizes can be added one run at a time.  The
report step reads every estimate (this harness's and ``bmi_estimates.csv``) and
writes ``estimates.csv`` (all of them), ``mae.md`` (mean absolute error against
the true MI per task family and overall, for every setting and n) and
``mae.png`` / ``mae.svg`` into ``--out``.

Settings (``fastsmi`` full-dimensional KSG unless named otherwise):

* ``KSG k=K none|rank``: :func:`fastsmi.mi`, ``transform="none"`` or ``"rank"``.
* ``KSG2 k=5 rank``: KSG algorithm 2.
* ``ens(3,5,10) T``, ``ens(5,10) T``: the mean of the KSG estimates at those k.
* ``LNC k=5 T``: KSG plus the local non-uniformity correction (``corrections.py``),
  which needs joint dimension < k: elsewhere it equals ``KSG k=5 T``.
* ``GCref k=5 T``: KSG minus its own bias measured on one Gaussian sample of the
  same n with the data's correlation (``fastsmi._bias.gaussian_reference_bias``);
  ``GCref3``: the mean bias over three such samples.
* ``Gaussian copula``: the closed-form Gaussian MI of the normal scores' correlation
  (a parametric reference, exact for Gaussian copulas only).
* ``sklearn k=3``: ``sklearn.feature_selection.mutual_info_regression`` with its
  defaults; it gives one MI per column of X against a 1-D y, so it applies to the
  tasks with ``dim_x = dim_y = 1`` only.
* ``ennemi k=3``: ``ennemi.estimate_mi`` with its defaults (it also estimates one
  column of X against a 1-D y): the same 1 x 1 tasks only.
* ``bmi KSG k=5``, ``bmi KSG k=10``, ``bmi KSG ensemble`` from ``bmi_estimates.py``.

The MAE of a setting that applies to part of the tasks is over those tasks only
(the table gives the count).
"""
from __future__ import annotations

import argparse
import csv
import inspect
import sys
import time
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(HERE.parents[1]))  # the checkout's fastsmi, also when run from elsewhere
from common import BMI_CSV, data_argument, int_list  # noqa: E402
from corrections import lnc_term  # noqa: E402

import fastsmi  # noqa: E402
from fastsmi._bias import _correlation, gaussian_mi, gaussian_reference_bias  # noqa: E402
from fastsmi._transform import normal_scores  # noqa: E402

CACHE = "fastsmi_estimates.csv"
FIELDS = ["file", "task_id", "family", "n", "seed", "mi_true", "setting", "estimate", "seconds"]
FAMILIES = ("one-dimensional", "embeddings", "multinormal", "student", "transformed")
KS = (3, 5, 10)
LNC_ALPHA = 0.25  # the reference code's default for k = 5 in two dimensions

_HAS_TRANSFORM = "transform" in inspect.signature(fastsmi.mi).parameters


def ksg(X: np.ndarray, Y: np.ndarray, k: int, transform: str, estimator: str = "ksg") -> float:
    if _HAS_TRANSFORM:
        return fastsmi.mi(X, Y, k=k, estimator=estimator, transform=transform)
    if transform == "rank":
        X, Y = normal_scores(X), normal_scores(Y)
    return fastsmi.mi(X, Y, k=k, estimator=estimator)


def estimates(X: np.ndarray, Y: np.ndarray, want: set[str]) -> dict[str, tuple[float, float]]:
    """Every wanted setting that applies to (X, Y): name -> (estimate, seconds)."""
    out: dict[str, tuple[float, float]] = {}

    def timed(name, fn):
        if name in want:
            t0 = time.perf_counter()
            try:
                out[name] = (float(fn()), time.perf_counter() - t0)
            except ValueError as exc:  # a setting that refuses this sample is left out, and said so
                print(f"  {name}: refused: {exc}", flush=True)

    for t in ("none", "rank"):
        for k in KS:
            timed(f"KSG k={k} {t}", lambda: ksg(X, Y, k, t))
        timed(f"KSG2 k=5 {t}", lambda: ksg(X, Y, 5, t, "ksg2"))
        if f"LNC k=5 {t}" in want:
            base = out.get(f"KSG k=5 {t}") or (ksg(X, Y, 5, t), 0.0)
            Xt, Yt = (normal_scores(X), normal_scores(Y)) if t == "rank" else (X, Y)
            timed(f"LNC k=5 {t}", lambda: base[0] + lnc_term(Xt, Yt, 5, LNC_ALPHA))
        if {f"GCref k=5 {t}", f"GCref3 k=5 {t}"} & want:
            base = out.get(f"KSG k=5 {t}") or (ksg(X, Y, 5, t), 0.0)
            Xt, Yt = (normal_scores(X), normal_scores(Y)) if t == "rank" else (X, Y)
            timed(f"GCref k=5 {t}", lambda: base[0] - gaussian_reference_bias(
                Xt, Yt, lambda a, b: ksg(a, b, 5, "none"), seed=np.random.SeedSequence(0)))
            timed(f"GCref3 k=5 {t}", lambda: base[0] - gaussian_reference_bias(
                Xt, Yt, lambda a, b: ksg(a, b, 5, "none"), seed=np.random.SeedSequence(0), reps=3))
    timed("Gaussian copula", lambda: gaussian_mi(_correlation(normal_scores(X), normal_scores(Y)), X.shape[1]))
    if X.shape[1] == 1 and Y.shape[1] == 1:
        from sklearn.feature_selection import mutual_info_regression

        timed("sklearn k=3", lambda: mutual_info_regression(X, Y[:, 0], random_state=0)[0])
        try:
            import ennemi
        except ImportError:
            ennemi = None
        if ennemi is not None:
            timed("ennemi k=3", lambda: ennemi.estimate_mi(Y[:, 0], X[:, 0])[0, 0])
    return out


COMPUTED = ([f"KSG k={k} {t}" for t in ("none", "rank") for k in KS] + ["KSG2 k=5 none", "KSG2 k=5 rank",
            "LNC k=5 none", "LNC k=5 rank", "GCref k=5 none", "GCref k=5 rank", "GCref3 k=5 rank",
            "Gaussian copula",
            "sklearn k=3", "ennemi k=3"])
ENSEMBLES = {f"ens({','.join(map(str, ks))}) {t}": [f"KSG k={k} {t}" for k in ks]
             for ks in ((5, 10), (3, 5, 10)) for t in ("none", "rank")}


def compute(data: Path, sizes: list[int], settings: list[str]) -> None:
    cache = data / CACHE
    done = defaultdict(set)
    if cache.exists():
        with open(cache) as fh:
            for row in csv.DictReader(fh):
                done[row["file"]].add(row["setting"])
    files = sorted(f for n in sizes for f in data.glob(f"*__n{n}__s*.npz"))
    new = not cache.exists()
    t_all = time.perf_counter()
    with open(cache, "a", newline="") as fh:
        w = csv.DictWriter(fh, FIELDS)
        if new:
            w.writeheader()
        for f in files:
            want = set(settings) - done[f.name]
            if not want:
                continue
            z = np.load(f)
            meta = dict(file=f.name, task_id=str(z["task_id"]), family=str(z["family"]), n=int(z["n"]),
                        seed=int(z["seed"]), mi_true=float(z["mi_true"]))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = estimates(z["X"], z["Y"], want)
            for name, (value, sec) in res.items():
                w.writerow(dict(meta, setting=name, estimate=value, seconds=round(sec, 3)))
            fh.flush()
            print(f"{f.name:78s} " + " ".join(f"{v:.3f}" for v, _ in res.values())
                  + f"  true {meta['mi_true']:.3f}  {sum(s for _, s in res.values()):.1f}s", flush=True)
    print(f"computed in {time.perf_counter() - t_all:.0f} s")


def load_rows(data: Path) -> list[dict]:
    rows = []
    for name in (CACHE, BMI_CSV):
        if (data / name).exists():
            with open(data / name) as fh:
                rows += list(csv.DictReader(fh))
    for r in rows:
        r["n"], r["seed"] = int(r["n"]), int(r["seed"])
        r["mi_true"], r["estimate"] = float(r["mi_true"]), float(r["estimate"])
    # the ensembles are means of settings computed on the same sample
    by_file = defaultdict(dict)
    for r in rows:
        by_file[r["file"]][r["setting"]] = r
    for f, got in by_file.items():
        for name, parts in ENSEMBLES.items():
            if all(p in got for p in parts):
                base = got[parts[0]]
                rows.append(dict(base, setting=name, estimate=float(np.mean([got[p]["estimate"] for p in parts])),
                                 seconds=sum(float(got[p]["seconds"]) for p in parts)))
    return rows


def report(rows: list[dict], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    rows.sort(key=lambda r: (r["n"], r["family"], r["task_id"], r["seed"], r["setting"]))
    with open(out / "estimates.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, FIELDS)
        w.writeheader()
        for r in rows:
            w.writerow({k: (round(r[k], 6) if k in ("estimate", "mi_true") else r[k]) for k in FIELDS})
    err = defaultdict(list)  # (n, setting, family) -> absolute errors
    for r in rows:
        e = abs(r["estimate"] - r["mi_true"])
        err[(r["n"], r["setting"], r["family"])].append(e)
        err[(r["n"], r["setting"], "overall")].append(e)
    sizes = sorted({r["n"] for r in rows})
    order = {s: i for i, s in enumerate(COMPUTED + list(ENSEMBLES) + ["bmi KSG k=5", "bmi KSG k=10",
                                                                       "bmi KSG ensemble"])}
    cols = FAMILIES + ("overall",)
    lines = []
    for n in sizes:
        settings = sorted({s for (m, s, _) in err if m == n}, key=lambda s: order.get(s, 99))
        lines += [f"### n = {n}", "",
                  "| setting | " + " | ".join(cols) + " | samples |", "|---" * (len(cols) + 2) + "|"]
        for s in settings:
            cells = [f"{np.mean(err[(n, s, c)]):.4f}" if err.get((n, s, c)) else "" for c in cols]
            lines.append(f"| {s} | " + " | ".join(cells) + f" | {len(err[(n, s, 'overall')])} |")
        lines.append("")
    lines += spread_table(rows, sizes)
    (out / "mae.md").write_text("\n".join(lines))
    print("\n".join(lines))
    figure(err, sizes, out)


BASELINE = "KSG k=5 none"
CANDIDATES = ("KSG k=5 rank", "GCref k=5 rank", "GCref3 k=5 rank")


def spread_table(rows: list[dict], sizes: list[int]) -> list[str]:
    """Per family: a candidate's MAE minus plain KSG's, against the seed-to-seed spread of plain KSG's MAE.

    The spread is the standard deviation over the seeds of the family's MAE
    computed on one seed's samples.
    """
    per_seed = defaultdict(list)  # (n, setting, family, seed) -> absolute errors
    for r in rows:
        per_seed[(r["n"], r["setting"], r["family"], r["seed"])].append(abs(r["estimate"] - r["mi_true"]))
    seeds = sorted({r["seed"] for r in rows})
    lines = []
    for n in sizes:
        shown = [c for c in CANDIDATES if per_seed.get((n, c, FAMILIES[0], seeds[0]))]
        if not per_seed.get((n, BASELINE, FAMILIES[0], seeds[0])) or not shown:
            continue
        lines += [f"### n = {n}: change of MAE against `{BASELINE}`, and its seed-to-seed spread", "",
                  "| family | spread of KSG's MAE | " + " | ".join(shown) + " |", "|---" * (len(shown) + 2) + "|"]
        for fam in FAMILIES:
            base = [np.mean(per_seed[(n, BASELINE, fam, s)]) for s in seeds]
            cells = [f"{np.mean([np.mean(per_seed[(n, c, fam, s)]) for s in seeds]) - np.mean(base):+.4f}"
                     for c in shown]
            lines.append(f"| {fam} | {np.std(base, ddof=1):.4f} | " + " | ".join(cells) + " |")
        lines.append("")
    return lines


FIGURE_SETTINGS = ("KSG k=5 none", "KSG k=5 rank", "GCref3 k=5 rank", "ens(5,10) rank", "bmi KSG k=5",
                   "bmi KSG ensemble")


def figure(err: dict, sizes: list[int], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = FAMILIES + ("overall",)
    fig, axes = plt.subplots(1, len(sizes), figsize=(5.5 * len(sizes), 4.2), squeeze=False, sharey=True)
    for ax, n in zip(axes[0], sizes):
        shown = [s for s in FIGURE_SETTINGS if err.get((n, s, "overall"))]
        width = 0.8 / max(1, len(shown))
        for i, s in enumerate(shown):
            vals = [np.mean(err[(n, s, c)]) if err.get((n, s, c)) else np.nan for c in cols]
            ax.bar(np.arange(len(cols)) + (i - (len(shown) - 1) / 2) * width, vals, width, label=s)
        ax.set_xticks(np.arange(len(cols)))
        ax.set_xticklabels(cols, rotation=30, ha="right")
        ax.set_title(f"Beyond Normal, n = {n}, 3 seeds")
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].set_ylabel("mean absolute error (nats)")
    axes[0][-1].legend(fontsize=8)
    fig.tight_layout()
    for ext in ("png", "svg"):
        fig.savefig(out / f"mae.{ext}", dpi=120)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    data_argument(p)
    p.add_argument("--sizes", type=int_list, default=[5000])
    p.add_argument("--settings", default=",".join(COMPUTED),
                   help="comma-separated settings to compute (default: all)")
    p.add_argument("--out", type=Path, default=HERE.parents[1] / "docs" / "accuracy")
    p.add_argument("--report-only", action="store_true")
    args = p.parse_args(argv)
    if not args.report_only:
        compute(args.data, args.sizes, args.settings.split(","))
    report(load_rows(args.data), args.out)


if __name__ == "__main__":
    main()
