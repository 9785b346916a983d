"""Power of the SMI permutation test next to hyppo's Dcorr and Hsic and a full-dimensional KSG-MI test.

Data: hyppo's independence simulations (``hyppo.tools.indep_sim(sim, n, p, noise=True)``):
linear, quadratic, spiral, sin_four_pi (sinusoid), circle, w_shaped.  Every test
runs B permutations on the same data at level alpha = 0.05:

* ``smi``: :func:`fastsmi.smi_test` (m slices, KSG k = 5);
* ``dcorr``, ``hsic``: hyppo's permutation tests (``auto=False``);
* ``ksg_mi``: full-dimensional KSG MI (:func:`fastsmi.mi`, KD-tree) recomputed on B
  permutations of Y's rows.

Run (the study's full grid is ``--full``)::

    python bench/inference_power.py                 # reduced: see the defaults
    python bench/inference_power.py --full          # n in {100, 300, 1000}, p in {1, 10, 100}, 200 reps, B = 999
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import zlib

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the checkout's fastsmi

import fastsmi  # noqa: E402
from fastsmi import smi_test  # noqa: E402

SIMS = ("linear", "quadratic", "spiral", "sin_four_pi", "circle", "w_shaped")
TESTS = ("smi", "dcorr", "hsic", "ksg_mi")


def ksg_mi_pvalue(x, y, B, rng):
    stat = fastsmi.mi(x, y, seed=0)
    exceed = 0
    for _ in range(B):
        exceed += fastsmi.mi(x, y[rng.permutation(len(y))], seed=0) >= stat
    return (1 + exceed) / (1 + B)


def pvalues(x, y, B, m, seed):
    from hyppo.independence import Dcorr, Hsic

    out = {}
    t = {}
    int_seed = zlib.crc32(repr(seed).encode())  # hyppo takes an int seed
    t0 = time.perf_counter()
    out["smi"] = smi_test(x, y, n_permutations=B, n_projections=m, seed=seed).p_value
    t["smi"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    out["dcorr"] = float(Dcorr().test(x, y, reps=B, auto=False, workers=1, random_state=int_seed)[1])
    t["dcorr"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    out["hsic"] = float(Hsic().test(x, y, reps=B, auto=False, workers=1, random_state=int_seed)[1])
    t["hsic"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    out["ksg_mi"] = ksg_mi_pvalue(x, y, B, np.random.default_rng(int_seed))
    t["ksg_mi"] = time.perf_counter() - t0
    return out, t


def main() -> None:
    from hyppo.tools import indep_sim

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--full", action="store_true", help="n in {100,300,1000}, p in {1,10,100}, 200 reps, B = 999")
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--ns", default="100")
    ap.add_argument("--ps", default="1,10")
    ap.add_argument("--sims", default=",".join(SIMS))
    ap.add_argument("--B", type=int, default=99)
    ap.add_argument("--m", type=int, default=100)
    ap.add_argument("--alpha", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--out", default="bench/results/inference_power.json")
    args = ap.parse_args()
    if args.full:
        args.reps, args.ns, args.ps, args.B = 200, "100,300,1000", "1,10,100", 999
    rows = []
    for sim in args.sims.split(","):
        for n in map(int, args.ns.split(",")):
            for p in map(int, args.ps.split(",")):
                np.random.seed(zlib.crc32(f"{args.seed}-{sim}-{n}-{p}".encode()))  # hyppo's simulations draw from numpy's global RNG
                pv = {t: [] for t in TESTS}
                secs = {t: 0.0 for t in TESTS}
                for rep in range(args.reps):
                    x, y = indep_sim(sim, n, p, noise=True)
                    out, t = pvalues(np.asarray(x, float), np.asarray(y, float), args.B, args.m,
                                     [args.seed, rep, n, p])
                    for name in TESTS:
                        pv[name].append(out[name])
                        secs[name] += t[name]
                row = dict(sim=sim, n=n, p=p, reps=args.reps, B=args.B, m=args.m,
                           **{f"power_{t}": float(np.mean(np.array(pv[t]) <= args.alpha)) for t in TESTS},
                           **{f"seconds_{t}": secs[t] / args.reps for t in TESTS})
                rows.append(row)
                print(f"{sim:12s} n={n:5d} p={p:3d} reps={args.reps} B={args.B}: "
                      + "  ".join(f"{t}={row['power_' + t]:.2f}" for t in TESTS)
                      + "   s/test: " + " ".join(f"{t}={row['seconds_' + t]:.2f}" for t in TESTS), flush=True)
                os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
                with open(args.out, "w") as fh:  # after every cell, so that a long run keeps what it measured
                    json.dump({"args": vars(args), "rows": rows}, fh, indent=1)


if __name__ == "__main__":
    main()
