"""SMI with and without ``transform="rank"`` on Gaussian, heavy-tailed and warped models.

Each model is a pair (X, Y) in R^d x R^d built from the seed's Gaussian model
(:class:`fastsmi.experiments.models.GaussianModel`, MI = 1 nat between X and Y):

- ``gaussian``: the model itself; its SMI is known exactly (``model.smi()``);
- ``student-t(nu)``: the same Gaussian pair divided by one shared ``sqrt(W / nu)``,
  ``W ~ chi2(nu)``: a multivariate Student-t, heavy tailed, whose slices are
  t-distributed; no closed form, so the reference is a high-n estimate;
- ``cubed``: every coordinate of the Gaussian pair cubed (heavy-ish, non-Gaussian
  slices); reference a high-n estimate.

At the seed's n = 2000 and m = 1000 (``--runs`` fresh samples and seeds), each
setting's mean, bias against the reference and RMSE are reported.  The
reference is the mean of both settings at ``--ref-n`` samples and ``--ref-m``
slices (they are reported separately too: at high n the two should agree, since
they estimate the same SMI).  Writes JSON and a Markdown table::

    python bench/accuracy_smi_transform.py --out bench/results/accuracy_smi_transform.json
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

SETTINGS = ("none", "rank")


def sampler(name: str, model: GaussianModel, rotations):
    def draw(n: int, rng: np.random.Generator):
        X, Y = model.sample(n, rng=rng, rotations=rotations)
        if name.startswith("student-t"):
            nu = float(name.split("(")[1].rstrip(")"))
            scale = np.sqrt(rng.chisquare(nu, size=(n, 1)) / nu)
            return X / scale, Y / scale
        if name == "cubed":
            return X ** 3, Y ** 3
        return X, Y
    return draw


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="gaussian,student-t(2),student-t(5),cubed")
    ap.add_argument("--d", type=int, default=5)
    ap.add_argument("--mi", type=float, default=1.0)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--m", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--ref-n", type=int, default=100_000)
    ap.add_argument("--ref-m", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--out", default="bench/results/accuracy_smi_transform.json")
    args = ap.parse_args()
    model = GaussianModel(args.d, args.mi)
    rotations = model.draw_rotations(np.random.default_rng([args.seed, 0]))
    rows = []
    for i, name in enumerate(args.models.split(",")):
        draw = sampler(name, model, rotations)
        t0 = time.perf_counter()
        Xr, Yr = draw(args.ref_n, np.random.default_rng([args.seed, i, 1]))
        ref = {s: fastsmi.smi(Xr, Yr, n_projections=args.ref_m, seed=[args.seed, i], transform=s,
                              return_slices=False).value for s in SETTINGS}
        del Xr, Yr
        exact = model.smi() if name == "gaussian" else None
        reference = exact if exact is not None else float(np.mean(list(ref.values())))
        est = {s: [] for s in SETTINGS}
        for r in range(args.runs):
            X, Y = draw(args.n, np.random.default_rng([args.seed, i, 2, r]))
            for s in SETTINGS:
                est[s].append(fastsmi.smi(X, Y, n_projections=args.m, seed=[args.seed, i, r], transform=s,
                                          return_slices=False).value)
        row = dict(model=name, d=args.d, mi=args.mi, n=args.n, m=args.m, runs=args.runs, ref_n=args.ref_n,
                   ref_m=args.ref_m, exact=exact, reference=reference,
                   reference_by_setting=ref, seconds=time.perf_counter() - t0)
        for s in SETTINGS:
            v = np.array(est[s])
            row[s] = dict(mean=float(v.mean()), bias=float(v.mean() - reference), sd=float(v.std(ddof=1)),
                          rmse=float(np.sqrt(np.mean((v - reference) ** 2))), estimates=v.tolist())
        rows.append(row)
        print(f"{name:14s} reference {reference:.4f} ({'exact' if exact is not None else 'high n'}; "
              f"none {ref['none']:.4f}, rank {ref['rank']:.4f} at n={args.ref_n}) | "
              + " | ".join(f"{s}: bias {row[s]['bias']:+.4f} sd {row[s]['sd']:.4f} rmse {row[s]['rmse']:.4f}"
                           for s in SETTINGS) + f" ({row['seconds']:.0f} s)", flush=True)
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump({"args": vars(args), "rows": rows}, fh, indent=1)
    print()
    print("| model | reference SMI | none: bias | none: RMSE | rank: bias | rank: RMSE |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        kind = "exact" if row["exact"] is not None else f"n = {row['ref_n']:,}"
        print(f"| {row['model']} | {row['reference']:.4f} ({kind}) | {row['none']['bias']:+.4f} | "
              f"{row['none']['rmse']:.4f} | {row['rank']['bias']:+.4f} | {row['rank']['rmse']:.4f} |")


if __name__ == "__main__":
    main()
