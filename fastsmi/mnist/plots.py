"""Figures of the MNIST experiment: information planes and training curves.

Uses matplotlib's object API (no pyplot state, no display needed).
"""
from __future__ import annotations

import os
from typing import Sequence

import numpy as np

__all__ = ["plot_infoplane", "plot_training_curves"]

# AE+MI on top, SMI below, as in the seed's Figure 3.
_ROWS = (
    ("AE+MI", "aemi_xl", "aemi_ly", "I(AE(X);PCA(L))", "I(PCA(L);Y)"),
    ("SMI", "smi_xl", "smi_ly", "SMI(X;L)", "SMI(L;Y)"),
)


def _figure(nrows: int, ncols: int, size: tuple[float, float]):
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, layout="constrained")
    axes = np.atleast_2d(fig.subplots(nrows, ncols, squeeze=False))
    return fig, axes


def plot_infoplane(records: Sequence[dict], path: str | os.PathLike, *, title: str | None = None) -> str:
    """Draw the information plane, one panel per layer, points coloured by epoch.

    The style follows the seed's Figure 3: a row for the AE+MI estimates on top
    and a row for the SMI estimates below (I(X;L) on the horizontal axis,
    I(L;Y) on the vertical one); rows without data are left out.

    Parameters
    ----------
    records : sequence of dict
        Rows with keys ``epoch``, ``layer``, ``quantity``, ``estimate``.
    path : str or path-like
        Output image file (PNG).
    title : str, optional
        Figure title.

    Returns
    -------
    str
        The path written.

    Examples
    --------
    >>> import tempfile, os
    >>> rows = [dict(epoch=e, layer="layer 1", quantity=q, estimate=0.1 * e)
    ...         for e in (2, 4) for q in ("smi_xl", "smi_ly")]
    >>> out = plot_infoplane(rows, os.path.join(tempfile.mkdtemp(), "plane.png"))
    >>> os.path.getsize(out) > 0
    True
    """
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from matplotlib.ticker import MaxNLocator

    layers: list[str] = []
    for row in records:
        if row["layer"] not in layers:
            layers.append(row["layer"])
    table = {(r["layer"], r["quantity"], int(r["epoch"])): float(r["estimate"]) for r in records}
    rows = [spec for spec in _ROWS if any(key[1] == spec[1] for key in table)]
    if not layers or not rows:
        raise ValueError("no information-plane records to plot")
    epochs = sorted({key[2] for key in table})
    norm = Normalize(vmin=min(epochs), vmax=max(epochs) if max(epochs) > min(epochs) else min(epochs) + 1)
    cmap = colormaps["viridis"]
    fig, axes = _figure(len(rows), len(layers), (2.7 * len(layers) + 1.0, 2.6 * len(rows) + 0.4))
    for i, (name, qx, qy, xlabel, ylabel) in enumerate(rows):
        for j, layer in enumerate(layers):
            ax = axes[i, j]
            pts = [
                (e, table[(layer, qx, e)], table[(layer, qy, e)])
                for e in epochs
                if (layer, qx, e) in table and (layer, qy, e) in table
            ]
            if pts:
                ep, xs, ys = (np.array(v) for v in zip(*pts))
                ax.plot(xs, ys, color="0.75", linewidth=0.8, zorder=1)
                ax.scatter(xs, ys, c=ep, cmap=cmap, norm=norm, s=14, zorder=2)
            ax.set_title(f"{layer} ({name})", fontsize=9)
            ax.set_xlabel(xlabel, fontsize=8)
            if j == 0:
                ax.set_ylabel(ylabel, fontsize=8)
            ax.tick_params(labelsize=7)
            ax.xaxis.set_major_locator(MaxNLocator(4))
            ax.grid(alpha=0.3)
    fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=axes, label="epoch", shrink=0.8)
    if title:
        fig.suptitle(title)
    fig.savefig(path, dpi=120)
    return str(path)


def plot_training_curves(history: Sequence[dict], path: str | os.PathLike) -> str:
    """Draw training and test loss and accuracy against the epoch.

    Parameters
    ----------
    history : sequence of dict
        Rows with keys ``epoch``, ``train_loss``, ``train_accuracy``,
        ``test_loss``, ``test_accuracy``.
    path : str or path-like
        Output image file (PNG).

    Returns
    -------
    str
        The path written.

    Examples
    --------
    >>> import tempfile, os
    >>> hist = [dict(epoch=e, train_loss=1 / e, train_accuracy=0.5, test_loss=1 / e, test_accuracy=0.5)
    ...         for e in (1, 2)]
    >>> out = plot_training_curves(hist, os.path.join(tempfile.mkdtemp(), "curves.png"))
    >>> os.path.getsize(out) > 0
    True
    """
    if not history:
        raise ValueError("no training history to plot")
    fig, axes = _figure(1, 2, (9.0, 3.4))
    epochs = [h["epoch"] for h in history]
    for ax, key, label in ((axes[0, 0], "loss", "NLL loss"), (axes[0, 1], "accuracy", "accuracy")):
        ax.plot(epochs, [h[f"train_{key}"] for h in history], label="train")
        ax.plot(epochs, [h[f"test_{key}"] for h in history], label="test")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.savefig(path, dpi=120)
    return str(path)
