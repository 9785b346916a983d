"""Coverage of the 95% interval ``ci`` of SMI (direction and sampling error together).

Cells: the seed's Gaussian model (exact SMI known, :func:`fastsmi.experiments.models.gaussian_smi`) at
d in {2, 10, 50} and MI in {0, 1, 4} nats, and independent Student-t(2) data in R^10 (exact SMI 0).
Each replicate draws a fresh sample and a fresh seed; the interval covers when
``low <= exact <= high``.  Also reported: the mean estimate's bias, the mean
``stderr`` (directions only), the mean ``stderr_samples`` and the standard
deviation of the estimates over replicates (the error the interval must cover).
With ``--fixed-seed`` every replicate uses the same directions, and the Gaussian model
keeps one pair of rotations, so that standard deviation is the sampling error alone: the direct check of ``stderr_samples``.

Run (the study's full size is ``--full``)::

    python bench/inference_coverage.py                # reduced: see the defaults
    python bench/inference_coverage.py --full         # 200 replicates per cell, n = 2000, m = 1000
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the checkout's fastsmi

import fastsmi  # noqa: E402
from fastsmi.experiments.models import GaussianModel  # noqa: E402


def cells(ds, mis):
    for d in ds:
        for mi in mis:
            yield f"gaussian d={d} I={mi:g}", d, mi
    yield "t2 independent d=10", 10, None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--full", action="store_true", help="200 replicates per cell, n = 2000, m = 1000")
    ap.add_argument("--reps", type=int, default=60)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--m", type=int, default=200)
    ap.add_argument("--ds", default="2,10,50")
    ap.add_argument("--mis", default="0,1,4")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--fixed-seed", action="store_true",
                    help="one seed (one set of directions) for every replicate: the spread of the estimates is "
                         "then the sampling error alone, to set against the mean stderr_samples")
    ap.add_argument("--out", default="bench/results/inference_coverage.json")
    args = ap.parse_args()
    if args.full:
        args.reps, args.n, args.m = 200, 2000, 1000
    ds = [int(v) for v in args.ds.split(",")]
    mis = [float(v) for v in args.mis.split(",")]
    rows = []
    for c, (label, d, mi) in enumerate(cells(ds, mis)):
        rng = np.random.default_rng([args.seed, c])
        if mi is None:
            exact = 0.0
        else:
            model = GaussianModel(d, mi)
            exact = model.smi()
            # with --fixed-seed the rotations are fixed too: only the sample changes between replicates
            rotations = model.draw_rotations(np.random.default_rng([args.seed, c, 1])) if args.fixed_seed else None
        est, se_dir, se_smp, cover = [], [], [], []
        t0 = time.perf_counter()
        for rep in range(args.reps):
            if mi is None:
                X, Y = rng.standard_t(2, size=(args.n, d)), rng.standard_t(2, size=(args.n, d))
            else:
                X, Y = model.sample(args.n, rng=rng, rotations=rotations)
            res = fastsmi.smi(X, Y, n_projections=args.m, return_pointwise=True,
                              seed=[args.seed, c] if args.fixed_seed else [args.seed, c, rep])
            se, (lo, hi) = res.stderr_samples, res.ci
            est.append(res.value)
            se_dir.append(res.stderr)
            se_smp.append(se)
            cover.append(lo <= exact <= hi)
        est = np.array(est)
        row = dict(cell=label, d=d, mi=mi, exact=exact, reps=args.reps, n=args.n, m=args.m,
                   coverage=float(np.mean(cover)), bias=float(est.mean() - exact), sd_estimates=float(est.std(ddof=1)),
                   mean_stderr_directions=float(np.mean(se_dir)), mean_stderr_samples=float(np.mean(se_smp)),
                   seconds=time.perf_counter() - t0)
        rows.append(row)
        print(f"{label:22s} exact={exact:.4f} reps={args.reps} n={args.n} m={args.m}: coverage={row['coverage']:.3f} "
              f"bias={row['bias']:+.4f} sd(est)={row['sd_estimates']:.4f} se_dir={row['mean_stderr_directions']:.4f} "
              f"se_samples={row['mean_stderr_samples']:.4f} ({row['seconds']:.0f} s)", flush=True)
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump({"args": vars(args), "rows": rows}, fh, indent=1)


if __name__ == "__main__":
    main()
