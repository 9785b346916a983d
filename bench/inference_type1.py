"""Type I error of ``fastsmi.smi_test`` at alpha = 0.05 on independent data.

Scenarios (X and Y independent, n rows each):

* ``gaussian``: standard normal X in R^d, Y in R^d;
* ``t2``: Student-t(2) coordinates (heavy tails, no variance);
* ``relu``: ``max(Z - 0.5, 0)`` in R^2 (69% of the coordinates exactly zero: heavy ties, an atom at 0);
* ``labels``: Gaussian X in R^d against independent integer labels 0..4 (``y_discrete``).

Each replicate draws a fresh data set and runs the test with its own seed; the
rejection rate over ``--reps`` replicates is reported with its binomial 95%
interval.  With B + 1 a multiple of 20, P(p <= 0.05) is exactly 0.05 under
independence.

Run (the full size of the study is ``--full``)::

    python bench/inference_type1.py                  # reduced: see the defaults below
    python bench/inference_type1.py --full           # 400 replicates, B = 999, n = 500, m = 200
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
from scipy import stats

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the checkout's fastsmi

from fastsmi import smi_test  # noqa: E402

SCENARIOS = ("gaussian", "t2", "relu", "labels")


def sample(scenario: str, n: int, d: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, bool]:
    if scenario == "gaussian":
        return rng.standard_normal((n, d)), rng.standard_normal((n, d)), False
    if scenario == "t2":
        return rng.standard_t(2, size=(n, d)), rng.standard_t(2, size=(n, d)), False
    if scenario == "relu":
        # two coordinates, each exactly zero with probability 0.69: about a quarter of the (x, y) rows are
        # the atom (0, 0), and a third of each margin's rows are tied at 0
        return (np.maximum(rng.standard_normal((n, 2)) - 0.5, 0.0), np.maximum(rng.standard_normal((n, 2)) - 0.5, 0.0),
                False)
    if scenario == "labels":
        return rng.standard_normal((n, d)), rng.integers(0, 5, n), True
    raise ValueError(scenario)


def run(scenarios, reps: int, n: int, d: int, m: int, B: int, alpha: float, seed: int, n_jobs, out: str = "",
        args: dict | None = None) -> list[dict]:
    rows = []
    for scenario in scenarios:
        rng = np.random.default_rng([seed, SCENARIOS.index(scenario)])
        pvals = []
        t0 = time.perf_counter()
        for rep in range(reps):
            X, Y, discrete = sample(scenario, n, d, rng)
            res = smi_test(X, Y, n_permutations=B, n_projections=m, y_discrete=discrete,
                           seed=[seed, SCENARIOS.index(scenario), rep], n_jobs=n_jobs)
            pvals.append(res.p_value)
        pvals = np.array(pvals)
        rejections = int(np.sum(pvals <= alpha))
        ci = stats.binomtest(rejections, reps).proportion_ci(0.95, method="exact")
        rows.append(dict(scenario=scenario, reps=reps, n=n, d=d, m=m, B=B, alpha=alpha, rejections=rejections,
                         type1=rejections / reps, ci_low=ci.low, ci_high=ci.high,
                         ks_pvalue=float(stats.kstest(pvals - rng.uniform(size=reps) / (B + 1), "uniform").pvalue),
                         seconds=time.perf_counter() - t0))
        r = rows[-1]
        print(f"{scenario:9s} reps={reps} n={n} d={d} m={m} B={B}: type I = {r['type1']:.4f} "
              f"[{r['ci_low']:.3f}, {r['ci_high']:.3f}]  KS p = {r['ks_pvalue']:.3f}  ({r['seconds']:.0f} s)",
              flush=True)
        if out:
            os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
            with open(out, "w") as fh:  # after every scenario, so that a long run keeps what it measured
                json.dump({"args": args, "rows": rows}, fh, indent=1)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--full", action="store_true", help="the study's full size: reps 400, B 999, n 500, m 200")
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--d", type=int, default=5)
    ap.add_argument("--m", type=int, default=50)
    ap.add_argument("--B", type=int, default=199)
    ap.add_argument("--alpha", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--n-jobs", type=int, default=None)
    ap.add_argument("--scenarios", default=",".join(SCENARIOS))
    ap.add_argument("--out", default="bench/results/inference_type1.json")
    args = ap.parse_args()
    if args.full:
        args.reps, args.B, args.n, args.m = 400, 999, 500, 200
    run(args.scenarios.split(","), args.reps, args.n, args.d, args.m, args.B, args.alpha, args.seed, args.n_jobs,
        out=args.out, args=vars(args))


if __name__ == "__main__":
    main()
