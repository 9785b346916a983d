"""bmi's own KSG estimates on the Beyond Normal samples, for the harness to compare against.

Runs in the benchmark's virtual environment after ``generate.py``::

    /work/bmi-venv/bin/python bench/beyond_normal/bmi_estimates.py [DATA] [--sizes 5000]

One fit of ``bmi.estimators.KSGEnsembleFirstEstimator(neighborhoods=(5, 10))``
per sample gives three settings, appended to ``DATA/bmi_estimates.csv``
(samples already there are skipped):

* ``bmi KSG k=5`` and ``bmi KSG k=10``: bmi's KSG-1 (Euclidean distance within X
  and within Y, their maximum on the pair, standardised data, clipped at 0);
* ``bmi KSG ensemble``: their mean, bmi's default ensemble.
"""
from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import BMI_CSV, SIZES, data_argument, int_list  # noqa: E402

FIELDS = ["file", "task_id", "family", "n", "seed", "mi_true", "setting", "estimate", "seconds"]


def main(argv: list[str] | None = None) -> None:
    from bmi.estimators import KSGEnsembleFirstEstimator

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    data_argument(p)
    p.add_argument("--sizes", type=int_list, default=list(SIZES))
    args = p.parse_args(argv)
    out = args.data / BMI_CSV
    done = set()
    if out.exists():
        with open(out) as fh:
            done = {row["file"] for row in csv.DictReader(fh)}
    files = sorted(f for n in args.sizes for f in args.data.glob(f"*__n{n}__s*.npz") if f.name not in done)
    new = not out.exists()
    with open(out, "a", newline="") as fh:
        w = csv.DictWriter(fh, FIELDS)
        if new:
            w.writeheader()
        for f in files:
            z = np.load(f)
            meta = dict(file=f.name, task_id=str(z["task_id"]), family=str(z["family"]), n=int(z["n"]),
                        seed=int(z["seed"]), mi_true=float(z["mi_true"]))
            est = KSGEnsembleFirstEstimator(neighborhoods=(5, 10), chunk_size=100)
            t0 = time.perf_counter()
            est.fit(z["X"], z["Y"])
            sec = time.perf_counter() - t0
            pred = est.get_predictions()
            for setting, value in (("bmi KSG k=5", pred[5]), ("bmi KSG k=10", pred[10]),
                                   ("bmi KSG ensemble", 0.5 * (pred[5] + pred[10]))):
                w.writerow(dict(meta, setting=setting, estimate=float(value), seconds=round(sec, 3)))
            fh.flush()
            print(f"{f.name:80s} {pred[5]:.4f} {pred[10]:.4f} true {meta['mi_true']:.4f} {sec:.1f}s", flush=True)


if __name__ == "__main__":
    main()
