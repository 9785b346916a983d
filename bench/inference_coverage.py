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
    python bench/inference_coverage.py --full --reps 100 --rep-start 100   # a second batch
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the checkout's fastsmi

import fastsmi  # noqa: E402
from fastsmi._inference import JACKKNIFE_GROUPS, interval  # noqa: E402
from fastsmi.experiments.models import GaussianModel  # noqa: E402


METHODS = ("influence", "jackknife", "average")


def intervals(X, Y, m, seed):
    """The result of each ``sampling_error`` method, from two calls.

    ``"average"`` is assembled from the other two as :func:`fastsmi.smi` does
    (``tests/test_inference.py`` checks that it equals the library's), which
    saves a third jackknife per replicate.
    """
    inf = fastsmi.smi(X, Y, n_projections=m, seed=seed, sampling_error="influence")
    jack = fastsmi.smi(X, Y, n_projections=m, seed=seed, sampling_error="jackknife")
    se = math.sqrt((jack.stderr_samples ** 2 + inf.stderr_samples ** 2) / 2)
    df = (JACKKNIFE_GROUPS - 1) * se ** 4 / (jack.stderr_samples ** 2 / 2) ** 2
    avg = dataclasses.replace(inf, stderr_samples=se, sampling_error="average",
                              ci=interval(inf.value, inf.stderr, se, m=m, df_samples=df))
    return {"influence": inf, "jackknife": jack, "average": avg}


def cells(ds, mis):
    for d in ds:
        for mi in mis:
            yield f"gaussian d={d} I={mi:g}", d, mi
    yield "t2 independent d=10", 10, None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--full", action="store_true", help="200 replicates per cell, n = 2000, m = 1000")
    ap.add_argument("--reps", type=int, default=None, help="replicates per cell (60; 200 with --full)")
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--m", type=int, default=200)
    ap.add_argument("--ds", default="2,10,50")
    ap.add_argument("--mis", default="0,1,4")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--fixed-seed", action="store_true",
                    help="one seed (one set of directions) for every replicate: the spread of the estimates is "
                         "then the sampling error alone, to set against the mean stderr_samples")
    ap.add_argument("--rep-start", type=int, default=0,
                    help="first replicate number: batches with different starts add up to one study")
    ap.add_argument("--out", default="bench/results/inference_coverage.json")
    args = ap.parse_args()
    if args.full:
        args.n, args.m = 2000, 1000
    if args.reps is None:
        args.reps = 200 if args.full else 60
    ds = [int(v) for v in args.ds.split(",")]
    mis = [float(v) for v in args.mis.split(",")]
    rows = []
    for c, (label, d, mi) in enumerate(cells(ds, mis)):
        if mi is None:
            exact = 0.0
        else:
            model = GaussianModel(d, mi)
            exact = model.smi()
            # with --fixed-seed the rotations are fixed too: only the sample changes between replicates
            rotations = model.draw_rotations(np.random.default_rng([args.seed, c, 1])) if args.fixed_seed else None
        est, se_dir = [], []
        se = {name: [] for name in METHODS}
        cover = {name: [] for name in METHODS}
        t0 = time.perf_counter()
        for rep in range(args.rep_start, args.rep_start + args.reps):
            rng = np.random.default_rng([args.seed, c, rep, 2])  # each replicate its own sample, for any batching
            if mi is None:
                X, Y = rng.standard_t(2, size=(args.n, d)), rng.standard_t(2, size=(args.n, d))
            else:
                X, Y = model.sample(args.n, rng=rng, rotations=rotations)
            seed = [args.seed, c] if args.fixed_seed else [args.seed, c, rep]
            for name, res in intervals(X, Y, args.m, seed).items():
                se[name].append(res.stderr_samples)
                cover[name].append(res.ci[0] <= exact <= res.ci[1])
            est.append(res.value)
            se_dir.append(res.stderr)
        est = np.array(est)
        row = dict(cell=label, d=d, mi=mi, exact=exact, reps=args.reps, rep_start=args.rep_start, n=args.n,
                   m=args.m, bias=float(est.mean() - exact), sd_estimates=float(est.std(ddof=1)),
                   mean_stderr_directions=float(np.mean(se_dir)), seconds=time.perf_counter() - t0,
                   estimates=est.tolist())
        for name in METHODS:
            row[f"coverage_{name}"] = float(np.mean(cover[name]))
            row[f"rms_stderr_samples_{name}"] = float(np.sqrt(np.mean(np.square(se[name]))))
            row[f"covered_{name}"] = [bool(v) for v in cover[name]]
        rows.append(row)
        print(f"{label:22s} exact={exact:.4f} reps={args.reps} n={args.n} m={args.m}: bias={row['bias']:+.4f} "
              f"sd(est)={row['sd_estimates']:.4f} se_dir={row['mean_stderr_directions']:.4f} "
              + " ".join(f"{name}: cover={row[f'coverage_{name}']:.3f} se={row[f'rms_stderr_samples_{name}']:.4f}"
                         for name in METHODS)
              + f" ({row['seconds']:.0f} s)", flush=True)
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump({"args": vars(args), "rows": rows}, fh, indent=1)


if __name__ == "__main__":
    main()
