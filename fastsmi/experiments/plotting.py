"""Summary tables and figures of the synthetic experiments, in the seed's style.

:func:`summarize` turns the tidy result rows into one row per (model, estimator, sliced, d):

``pearson_grid``
    The seed's metric: Pearson correlation of the estimates with the MI grid, per run,
    averaged over runs (``pearson_grid_sd``: its standard deviation over runs).
``pearson_exact_smi``
    Correlation with the exact SMI (NaN where the model has no closed form), averaged.
``rmse_smi``, ``rmse_mi``
    Root mean squared error against the exact SMI and against the exact MI, over all
    runs and MI values.  A sliced estimator targets the SMI, a full one the MI.

The reference rows with ``estimator="exact"`` hold the same metrics for the exact SMI itself
(what a perfect SMI estimator would score against the grid).

Figures (matplotlib, imported only here; no pyplot state is touched):

``estimates_<model>.png/.svg``
    Estimate vs true MI for each d: full-vector estimates against the MI (top of each pair
    of rows) and sliced estimates against the exact SMI (bottom), with error bands.
``correlation_<model>.png/.svg``
    Mean Pearson correlation with the grid vs d for every estimator, sliced and full, with
    the exact SMI's own correlation and (Gaussian model) the seed's published values.
"""
from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

__all__ = [
    "SEED_FIG1",
    "SEED_FIG2",
    "SUMMARY_COLUMNS",
    "pearson",
    "plot_correlation",
    "plot_estimates",
    "summarize",
    "summary_markdown",
    "write_outputs",
]

#: The seed's Figure 1 correlations (Gaussian model, one run), by d.
SEED_FIG1 = {
    "MI": {1: 0.999, 2: 0.999, 6: 0.349, 10: 0.276},
    "SMI": {1: 0.999, 2: 0.977, 6: 0.983, 10: 0.980},
}
#: The seed's Figure 2 mean correlations (Gaussian model, 10 runs, read from the plot, +-0.01).
SEED_FIG2 = {
    "SMI": dict(zip((1, 2, 5, 6, 8, 10, 20, 30, 40, 50, 75, 100),
                    (1.00, 0.98, 0.985, 0.985, 0.985, 0.977, 0.825, 0.667, 0.405, 0.188, 0.089, 0.072))),
    "MI": dict(zip((1, 2, 5, 6, 8, 10, 20, 30, 40, 50, 75, 100),
                   (1.00, 1.00, 0.945, 0.415, -0.085, 0.027, 0.054, 0.007, -0.007, -0.036, 0.306, 0.078))),
}

SUMMARY_COLUMNS = (
    "model", "estimator", "sliced", "d", "runs", "points", "pearson_grid", "pearson_grid_sd",
    "pearson_exact_smi", "rmse_smi", "rmse_mi", "wall_s_mean",
)

_COLORS = {("seed", True): "tab:orange", ("seed", False): "tab:blue",
           ("ksg", True): "tab:green", ("ksg", False): "tab:purple"}
_EXTRA_COLORS = ("tab:brown", "tab:pink", "tab:olive", "tab:cyan", "tab:gray")


def pearson(a: Sequence[float], b: Sequence[float]) -> float:
    """Pearson correlation, NaN when either side is constant, has < 2 points or a NaN.

    Examples
    --------
    >>> pearson([0, 1, 2], [0, 2, 4])
    1.0
    >>> math.isnan(pearson([1, 1, 1], [0, 1, 2]))
    True
    """
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    if x.size < 2 or not (np.isfinite(x).all() and np.isfinite(y).all()):
        return float("nan")
    x = x - x.mean()
    y = y - y.mean()
    denom = math.sqrt(float(x @ x) * float(y @ y))
    if denom == 0.0:
        return float("nan")
    return float(np.clip((x @ y) / denom, -1.0, 1.0))


def _label(estimator: str, sliced: bool) -> str:
    if estimator == "exact":
        return "exact SMI"
    return f"{'SMI' if sliced else 'MI'} ({estimator})"


def _nanmean(values: Iterable[float]) -> float:
    arr = np.asarray(list(values), dtype=np.float64)
    arr = arr[np.isfinite(arr)]
    return float(arr.mean()) if arr.size else float("nan")


def _nanstd(values: Iterable[float]) -> float:
    arr = np.asarray(list(values), dtype=np.float64)
    arr = arr[np.isfinite(arr)]
    return float(arr.std(ddof=1)) if arr.size > 1 else float("nan")


def _rmse(est: np.ndarray, target: np.ndarray) -> float:
    ok = np.isfinite(target) & np.isfinite(est)
    if not ok.all() or not ok.any():
        return float("nan")
    return float(np.sqrt(np.mean((est - target) ** 2)))


def _groups(rows: Sequence[dict[str, Any]]) -> dict[tuple, dict[int, list[dict[str, Any]]]]:
    """(model, estimator, sliced, d) -> run -> rows sorted by mi."""
    out: dict[tuple, dict[int, list[dict[str, Any]]]] = {}
    for row in rows:
        key = (row["model"], row["estimator"], row["sliced"], row["d"])
        out.setdefault(key, {}).setdefault(row["run"], []).append(row)
    for runs in out.values():
        for run_rows in runs.values():
            run_rows.sort(key=lambda r: r["mi"])
    return out


def summarize(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Correlation and error per (model, estimator, sliced, d), plus ``"exact"`` reference rows.

    Parameters
    ----------
    rows : sequence of dict
        Result rows (:data:`fastsmi.experiments.synthetic.COLUMNS`).

    Returns
    -------
    list of dict
        Rows with the keys of :data:`SUMMARY_COLUMNS`.

    Examples
    --------
    >>> rows = [dict(model="gaussian", estimator="ksg", sliced=False, d=1, run=0, mi=float(i),
    ...              estimate=2.0 * i, exact_mi=float(i), exact_smi=float(i), wall_s=0.1)
    ...         for i in range(3)]
    >>> s = [r for r in summarize(rows) if r["estimator"] == "ksg"][0]
    >>> s["pearson_grid"], round(s["rmse_mi"], 6)
    (1.0, 1.290994)
    """
    out: list[dict[str, Any]] = []
    exact_done: set[tuple] = set()
    for (model, estimator, sliced, d), runs in _groups(rows).items():
        per_run_grid, per_run_smi = [], []
        est_all, smi_all, mi_all, walls = [], [], [], []
        for run_rows in runs.values():
            grid = [r["mi"] for r in run_rows]
            est = [r["estimate"] for r in run_rows]
            smi = [r["exact_smi"] for r in run_rows]
            per_run_grid.append(pearson(est, grid))
            per_run_smi.append(pearson(est, smi))
            est_all += est
            smi_all += smi
            mi_all += [r["exact_mi"] for r in run_rows]
            walls += [r["wall_s"] for r in run_rows]
        est_arr = np.asarray(est_all, dtype=np.float64)
        out.append(dict(
            model=model, estimator=estimator, sliced=sliced, d=d, runs=len(runs), points=len(est_all),
            pearson_grid=_nanmean(per_run_grid), pearson_grid_sd=_nanstd(per_run_grid),
            pearson_exact_smi=_nanmean(per_run_smi),
            rmse_smi=_rmse(est_arr, np.asarray(smi_all, dtype=np.float64)),
            rmse_mi=_rmse(est_arr, np.asarray(mi_all, dtype=np.float64)),
            wall_s_mean=_nanmean(walls),
        ))
        if (model, d) not in exact_done:
            exact_done.add((model, d))
            first = next(iter(runs.values()))
            grid = [r["mi"] for r in first]
            smi = [r["exact_smi"] for r in first]
            out.append(dict(
                model=model, estimator="exact", sliced=True, d=d, runs=1, points=len(grid),
                pearson_grid=pearson(smi, grid), pearson_grid_sd=float("nan"),
                pearson_exact_smi=1.0 if np.isfinite(smi).all() else float("nan"),
                rmse_smi=0.0 if np.isfinite(smi).all() else float("nan"),
                rmse_mi=_rmse(np.asarray(smi, dtype=np.float64), np.asarray(grid, dtype=np.float64)),
                wall_s_mean=float("nan"),
            ))
    out.sort(key=lambda r: (r["model"], r["estimator"] == "exact", not r["sliced"], r["estimator"], r["d"]))
    return out


# --------------------------------------------------------------------------------------
# tables
# --------------------------------------------------------------------------------------
def _fmt(value: Any, digits: int = 3) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.{digits}f}"
    return str(value)


def _variants(summary: Sequence[dict[str, Any]], model: str) -> list[tuple[str, bool]]:
    seen: list[tuple[str, bool]] = []
    for row in summary:
        key = (row["estimator"], row["sliced"])
        if row["model"] == model and key not in seen:
            seen.append(key)
    return seen


def _comparison(index: dict[tuple, dict[str, Any]], dims: Sequence[int], *, high_d: int = 20) -> list[str]:
    """One sentence per kind: is KSG better correlated with the grid than the seed's KL at d >= high_d?"""
    out = []
    for sliced, name in ((True, "sliced"), (False, "full-vector")):
        pairs = [(index[("ksg", sliced, d)]["pearson_grid"], index[("seed", sliced, d)]["pearson_grid"])
                 for d in dims if d >= high_d and ("ksg", sliced, d) in index and ("seed", sliced, d) in index]
        pairs = [(a, b) for a, b in pairs if np.isfinite(a) and np.isfinite(b)]
        if pairs:
            wins = sum(a > b for a, b in pairs)
            ksg, seed = np.mean([a for a, _ in pairs]), np.mean([b for _, b in pairs])
            out.append(f"- {name}, d >= {high_d}: KSG is better correlated than the seed's KL at {wins} of "
                       f"{len(pairs)} dimensions (mean correlation {ksg:.3f} vs {seed:.3f}).")
    return out + [""] if out else []


def summary_markdown(summary: Sequence[dict[str, Any]]) -> str:
    """Markdown tables, per model: correlation with the grid (next to the seed's values for
    the Gaussian model), correlation with the exact SMI, RMSE, and mean seconds per cell.

    Examples
    --------
    >>> rows = [dict(model="gaussian", estimator="ksg", sliced=True, d=1, run=0, mi=float(i),
    ...              estimate=float(i), exact_mi=float(i), exact_smi=float(i), wall_s=0.1)
    ...         for i in range(3)]
    >>> "| SMI (ksg) | 1.000 |" in summary_markdown(summarize(rows))
    True
    """
    lines: list[str] = []
    models = list(dict.fromkeys(row["model"] for row in summary))
    for model in models:
        rows = [r for r in summary if r["model"] == model]
        dims = sorted({r["d"] for r in rows})
        index = {(r["estimator"], r["sliced"], r["d"]): r for r in rows}
        variants = _variants(summary, model)
        header = "| estimator | " + " | ".join(f"d={d}" for d in dims) + " |"
        rule = "|---|" + "---|" * len(dims)

        def table(title: str, metric: str, extra: Sequence[tuple[str, dict[int, float]]] = (),
                  digits: int = 3, keep=lambda v: True) -> None:
            lines.extend([f"### {model}: {title}", "", header, rule])
            for estimator, sliced in variants:
                if not keep((estimator, sliced)):
                    continue
                cells = [_fmt(index[(estimator, sliced, d)][metric], digits) if (estimator, sliced, d) in index
                         else "" for d in dims]
                lines.append(f"| {_label(estimator, sliced)} | " + " | ".join(cells) + " |")
            for name, values in extra:
                if any(d in values for d in dims):
                    lines.append(f"| {name} | " + " | ".join(_fmt(values.get(d, float('nan'))) for d in dims) + " |")
            lines.append("")

        seed_rows: list[tuple[str, dict[int, float]]] = []
        if model == "gaussian":
            seed_rows = [("seed paper, Fig. 1: MI", SEED_FIG1["MI"]), ("seed paper, Fig. 1: SMI", SEED_FIG1["SMI"]),
                         ("seed paper, Fig. 2: MI", SEED_FIG2["MI"]), ("seed paper, Fig. 2: SMI", SEED_FIG2["SMI"])]
        runs = max(r["runs"] for r in rows)
        table(f"Pearson correlation with the MI grid (mean over {runs} run(s))", "pearson_grid", seed_rows)
        lines.extend(_comparison(index, dims))
        if runs > 1:
            table("standard deviation of that correlation over runs", "pearson_grid_sd",
                  keep=lambda v: v[0] != "exact")
        table("Pearson correlation with the exact SMI", "pearson_exact_smi", keep=lambda v: v[0] != "exact")
        table("RMSE against the exact SMI (nats)", "rmse_smi", keep=lambda v: v[0] != "exact")
        table("RMSE against the exact MI (nats)", "rmse_mi")
        table("mean wall seconds per cell", "wall_s_mean", digits=4, keep=lambda v: v[0] != "exact")
    return "\n".join(lines)


def _write_summary_csv(path: Path, summary: Sequence[dict[str, Any]]) -> None:
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(SUMMARY_COLUMNS)
        for row in summary:
            writer.writerow([repr(v) if isinstance(v, float) else v for v in (row[c] for c in SUMMARY_COLUMNS)])


# --------------------------------------------------------------------------------------
# figures
# --------------------------------------------------------------------------------------
def _color(estimator: str, sliced: bool, fallback: dict[tuple[str, bool], str]) -> str:
    key = (estimator, sliced)
    if key in _COLORS:
        return _COLORS[key]
    if key not in fallback:
        fallback[key] = _EXTRA_COLORS[len(fallback) % len(_EXTRA_COLORS)]
    return fallback[key]


def _curve(rows: Sequence[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean estimate per MI value and its band: sd over runs, or 2 stderr for one run."""
    by_mi: dict[float, list[dict[str, Any]]] = {}
    for row in rows:
        by_mi.setdefault(row["mi"], []).append(row)
    grid = np.array(sorted(by_mi))
    mean = np.array([np.mean([r["estimate"] for r in by_mi[g]]) for g in grid])
    band = np.full(grid.size, np.nan)
    for i, g in enumerate(grid):
        values = [r["estimate"] for r in by_mi[g]]
        if len(values) > 1:
            band[i] = np.std(values, ddof=1)
        else:
            band[i] = 2.0 * by_mi[g][0]["stderr"]
    return grid, mean, band


def _new_figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _save(fig: Any, stem: Path) -> list[Path]:
    paths = []
    for ext in ("png", "svg"):
        path = stem.with_suffix(f".{ext}")
        fig.savefig(path, dpi=150 if ext == "png" else None, metadata={"Date": None} if ext == "svg" else None)
        paths.append(path)
    return paths


def _limits(values: Iterable[float], floor: float, ceiling: float) -> tuple[float, float]:
    arr = np.asarray([v for v in values if np.isfinite(v)], dtype=np.float64)
    lo, hi = floor, ceiling
    if arr.size:
        lo = min(lo, float(np.percentile(arr, 2)))
        hi = max(hi, float(np.percentile(arr, 98)))
    pad = 0.06 * (hi - lo if hi > lo else 1.0)
    return lo - pad, hi + pad


def plot_estimates(rows: Sequence[dict[str, Any]], model: str, stem: str | Path, *, max_cols: int = 6) -> list[Path]:
    """Estimate vs true MI for each d (seed's Figure 1 style); writes ``stem``.png and .svg.

    For each d, the upper panel shows the full-vector ("MI") estimates with the true MI and
    the lower panel the sliced ("SMI") estimates with the exact SMI (dashed; absent when the
    model has no closed form).  Bands: standard deviation over runs, or +-2 standard errors
    over slices for a single run.  Legends give the Pearson correlation with the grid.

    Returns
    -------
    list of Path
        The files written.
    """
    rows = [r for r in rows if r["model"] == model]
    dims = sorted({r["d"] for r in rows})
    if not dims:
        raise ValueError(f"no result rows for model {model!r}")
    variants = list(dict.fromkeys((r["estimator"], r["sliced"]) for r in rows))
    summary = {(s["estimator"], s["sliced"], s["d"]): s for s in summarize(rows)}
    ncols = min(len(dims), max_cols)
    nblocks = math.ceil(len(dims) / ncols)
    fig = _new_figure(2.9 * ncols, 2.6 * 2 * nblocks)
    axes = fig.subplots(2 * nblocks, ncols, squeeze=False)
    fallback: dict[tuple[str, bool], str] = {}
    for i, d in enumerate(dims):
        block, col = divmod(i, ncols)
        rows_d = [r for r in rows if r["d"] == d]
        for top, sliced in ((True, False), (False, True)):
            ax = axes[2 * block + (0 if top else 1), col]
            ref = [r for r in rows_d if r["run"] == min(x["run"] for x in rows_d)]
            grid = np.array(sorted({r["mi"] for r in ref}))
            exact_mi = [next(r["exact_mi"] for r in ref if r["mi"] == g) for g in grid]
            exact_smi = [next(r["exact_smi"] for r in ref if r["mi"] == g) for g in grid]
            plotted: list[float] = []
            if not sliced:
                ax.plot(grid, exact_mi, color="tab:red", lw=1.5, label="true MI")
                plotted += exact_mi
            elif np.isfinite(exact_smi).all():
                ax.plot(grid, exact_smi, color="black", ls="--", lw=1.5, label="exact SMI")
                plotted += exact_smi
            for estimator, is_sliced in variants:
                if is_sliced != sliced:
                    continue
                sel = [r for r in rows_d if r["estimator"] == estimator and r["sliced"] == sliced]
                if not sel:
                    continue
                g, mean, band = _curve(sel)
                color = _color(estimator, sliced, fallback)
                corr = summary.get((estimator, sliced, d), {}).get("pearson_grid", float("nan"))
                ax.plot(g, mean, marker="o", ms=3, lw=1.2, color=color,
                        label=f"{_label(estimator, sliced)}  r={_fmt(corr, 3)}")
                if np.isfinite(band).any():
                    ax.fill_between(g, mean - np.nan_to_num(band), mean + np.nan_to_num(band), color=color, alpha=0.2,
                                    lw=0)
                plotted += list(mean)
            top = max(exact_mi + [0.1])
            lo, hi = _limits(plotted, 0.0, max(plotted + [1e-3]) if sliced else top)
            clipped = False
            if not sliced and (lo < -0.5 * top or hi > 2.0 * top):
                # The seed's full-dimensional estimator can swing by hundreds of nats; keep
                # the true-MI line readable and say that points left the frame.
                lo, hi, clipped = max(lo, -0.5 * top), min(hi, 2.0 * top), True
            ax.set_ylim(lo, hi)
            title = f"d = {d}: {'sliced (SMI)' if sliced else 'full vectors (MI)'}"
            if sliced and not np.isfinite(exact_smi).all():
                title += " [no exact SMI]"
            ax.set_title(title + (" [clipped]" if clipped else ""), fontsize=9)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=6.5, loc="upper left")
            if col == 0:
                ax.set_ylabel("estimate (nats)")
            if block == nblocks - 1 and sliced:
                ax.set_xlabel("true MI I (nats)")
    for j in range(len(dims), nblocks * ncols):
        block, col = divmod(j, ncols)
        axes[2 * block, col].set_visible(False)
        axes[2 * block + 1, col].set_visible(False)
    fig.suptitle(f"Synthetic {model} model: estimates vs true MI", fontsize=11)
    return _save(fig, Path(stem))


def plot_correlation(summary: Sequence[dict[str, Any]], model: str, stem: str | Path) -> list[Path]:
    """Mean Pearson correlation with the MI grid vs d (seed's Figure 2 style).

    One line per estimator, sliced (solid) and full (dotted), with a +-1 standard error band
    (standard deviation over runs / sqrt(runs)), the exact SMI's own correlation (dashed black) and, for the Gaussian
    model, the seed's published values (grey markers).

    Returns
    -------
    list of Path
        The files written.
    """
    rows = [r for r in summary if r["model"] == model]
    if not rows:
        raise ValueError(f"no summary rows for model {model!r}")
    dims = sorted({r["d"] for r in rows})
    fig = _new_figure(6.4, 4.2)
    ax = fig.subplots()
    fallback: dict[tuple[str, bool], str] = {}
    lowest = -0.25
    for estimator, sliced in _variants(summary, model):
        sel = sorted((r for r in rows if r["estimator"] == estimator and r["sliced"] == sliced), key=lambda r: r["d"])
        d = np.array([r["d"] for r in sel], dtype=float)
        mean = np.array([r["pearson_grid"] for r in sel])
        se = np.array([r["pearson_grid_sd"] / math.sqrt(r["runs"]) for r in sel])
        if estimator == "exact":
            ax.plot(d, mean, color="black", ls="--", lw=1.3, label="exact SMI")
            continue
        color = _color(estimator, sliced, fallback)
        ax.plot(d, mean, marker="o", ms=4, color=color, ls="-" if sliced else ":", label=_label(estimator, sliced))
        lowest = min([lowest] + [v for v in mean if np.isfinite(v)])
        if np.isfinite(se).any():
            ax.fill_between(d, mean - np.nan_to_num(se), mean + np.nan_to_num(se), color=color, alpha=0.15, lw=0)
    if model == "gaussian":
        reference = SEED_FIG2 if max(r["runs"] for r in rows) > 1 else SEED_FIG1
        for name, marker in (("SMI", "P"), ("MI", "X")):
            pts = sorted((d, v) for d, v in reference[name].items() if d in dims)
            if pts:
                ax.scatter(*zip(*pts), marker=marker, color="0.45", s=30, zorder=3, label=f"seed paper: {name}")
    ax.set_xscale("log")
    ax.set_xticks(dims)
    ax.set_xticklabels([str(d) for d in dims])
    ax.minorticks_off()
    ax.set_ylim(max(-1.05, lowest - 0.05), 1.05)
    ax.axhline(0.0, color="0.7", lw=0.8)
    ax.set_xlabel("dimension d of X and of Y")
    ax.set_ylabel("Pearson correlation with true MI")
    runs = max(r["runs"] for r in rows if r["estimator"] != "exact")
    band = "; band: +-1 s.e. over runs" if runs > 1 else ""
    ax.set_title(f"Synthetic {model} model: correlation with the true MI vs d\n(mean over {runs} run(s){band})",
                 fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7.5, loc="lower left")
    return _save(fig, Path(stem))


def write_outputs(rows: Sequence[dict[str, Any]], summary: Sequence[dict[str, Any]], out_dir: str | Path, *,
                  plots: bool = True) -> list[Path]:
    """Write ``summary.csv`` and ``summary.md`` and, with ``plots``, the figures of every model.

    Returns
    -------
    list of Path
        The files written.
    """
    out = Path(out_dir)
    files = [out / "summary.csv", out / "summary.md"]
    _write_summary_csv(files[0], summary)
    files[1].write_text(summary_markdown(summary) + "\n")
    if plots:
        for model in dict.fromkeys(r["model"] for r in rows):
            files += plot_estimates(rows, model, out / f"estimates_{model}")
            files += plot_correlation(summary, model, out / f"correlation_{model}")
    return files
