"""Figure 3 from a finished ``fastsmi mnist`` run: the figures, the CSVs and the wall time of each phase.

Reads a run directory (``infoplane.csv``, ``training.csv``) and the run's log
(the autoencoder's per-epoch lines), copies both CSVs to ``--docs``, draws the
information plane (PNG and SVG; AE+MI row and SMI row, each layer's path
coloured by epoch) and prints a Markdown table of the phases: the sum, median
and count of the per-epoch (or per-measurement) times the run recorded::

    python bench/mnist_report.py /work/mnist-full --log /work/mnist-full.log --docs docs/mnist

The sums are what the run spent, interruptions and other jobs on the machine
included; the medians are the typical cost on this machine, and
``median x count`` summed over the phases is what an uninterrupted run would
take at those medians.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import re
import shutil
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the checkout's fastsmi

from fastsmi.mnist.plots import plot_infoplane  # noqa: E402

AE_LINE = re.compile(r"autoencoder epoch (\d+)/(\d+): .*\(([0-9.]+) s\)")
SEED_RANGES = {"smi_xl": (0.03, 0.076), "smi_ly": (0.17, 0.56)}


def read_csv(path: str) -> list[dict]:
    with open(path) as fh:
        return list(csv.DictReader(fh))


def autoencoder_seconds(log: str) -> list[float]:
    """Seconds of each autoencoder epoch, the last logged line of each epoch (a resumed run repeats none)."""
    per_epoch: dict[int, float] = {}
    for line in open(log):
        hit = AE_LINE.search(line)
        if hit:
            per_epoch[int(hit.group(1))] = float(hit.group(3))
    return [per_epoch[e] for e in sorted(per_epoch)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run")
    ap.add_argument("--log", required=True)
    ap.add_argument("--docs", default="docs/mnist")
    args = ap.parse_args()
    plane = read_csv(os.path.join(args.run, "infoplane.csv"))
    training = read_csv(os.path.join(args.run, "training.csv"))
    os.makedirs(args.docs, exist_ok=True)
    for name in ("infoplane.csv", "training.csv"):
        shutil.copy(os.path.join(args.run, name), os.path.join(args.docs, name))
    epochs = sorted({int(r["epoch"]) for r in plane})
    with open(os.path.join(args.run, "config.json")) as fh:
        config = json.load(fh)
    title = (f"MNIST information plane: {len(epochs)} measurements, epochs {epochs[0]}-{epochs[-1]} of "
             f"{len(training)}, m = {config['n_projections']}, {config['estimator']} k = {config['k']}")
    for ext in ("png", "svg"):
        plot_infoplane(plane, os.path.join(args.docs, f"infoplane.{ext}"), title=title)

    ae = autoencoder_seconds(args.log)
    train = [float(r["train_seconds"]) + float(r["eval_seconds"]) for r in training]
    measure: dict[int, float] = {}
    for r in plane:
        measure[int(r["epoch"])] = measure.get(int(r["epoch"]), 0.0) + float(r["seconds"])
    phases = [("autoencoder (AE+MI)", ae, "epochs"), ("classifier training + evaluation", train, "epochs"),
              ("measurement (all layers, SMI and AE+MI)", list(measure.values()), "points")]
    print("| phase | count | median (s) | sum recorded (min) | median x count (min) |")
    print("|---|---|---|---|---|")
    total_sum = total_med = 0.0
    for name, values, unit in phases:
        v = np.array(values)
        total_sum += v.sum() / 60
        total_med += np.median(v) * v.size / 60
        print(f"| {name} | {v.size} {unit} | {np.median(v):.1f} | {v.sum() / 60:.1f} | "
              f"{np.median(v) * v.size / 60:.1f} |")
    print(f"| **whole run** | | | **{total_sum:.1f}** | **{total_med:.1f}** |")
    print()
    last = max(epochs)
    for q, (lo, hi) in SEED_RANGES.items():
        vals = [float(r["estimate"]) for r in plane if r["quantity"] == q]
        at_last = [float(r["estimate"]) for r in plane if r["quantity"] == q and int(r["epoch"]) == last]
        print(f"{q}: range {min(vals):.3f}-{max(vals):.3f} over all layers and epochs "
              f"(seed reports about {lo}-{hi}); at epoch {last}: {min(at_last):.3f}-{max(at_last):.3f}")
    acc = [float(r["test_accuracy"]) for r in training]
    print(f"test accuracy: epoch 1 {acc[0]:.4f}, epoch {len(acc)} {acc[-1]:.4f}")


if __name__ == "__main__":
    main()
