"""The ``fastsmi`` command line.

Sub-commands::

    fastsmi estimate X.npy Y.npy [--json] ...   SMI of two sample files
    fastsmi demo [--json]                       Gaussian data with known SMI
    fastsmi synthetic fig1|fig2 [--quick] ...   the synthetic experiments
    fastsmi mnist [--quick] ...                 the MNIST information plane
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Optional, Sequence

import numpy as np

from . import __version__


def _columns(spec: Optional[str], n_cols: int) -> slice | list[int]:
    """Parse ``"0:5"``, ``"2,4,7"`` or ``"3"`` into a column selector."""
    if spec is None:
        return slice(None)
    try:
        if ":" in spec:
            lo, _, hi = spec.partition(":")
            return slice(int(lo) if lo else None, int(hi) if hi else None)
        cols = [int(c) for c in spec.split(",")]
    except ValueError:
        raise SystemExit(f"fastsmi: bad column range {spec!r}; use START:STOP, a comma list or one index") from None
    if any(c >= n_cols or c < -n_cols for c in cols):
        raise SystemExit(f"fastsmi: column range {spec!r} is outside the {n_cols} columns of the file")
    return cols


def load_array(path: str, *, key: Optional[str] = None, columns: Optional[str] = None,
               delimiter: str = ",", skip_header: int = 0) -> np.ndarray:
    """Load samples from ``.npy``, ``.npz`` (``key`` names the array) or ``.csv``/``.txt``.

    ``columns`` selects columns (``"0:5"``, ``"1,3"``); rows are samples.
    """
    ext = os.path.splitext(path)[1].lower()
    if not os.path.exists(path):
        raise SystemExit(f"fastsmi: no such file: {path}")
    if ext == ".npy":
        arr = np.load(path, allow_pickle=False)
    elif ext == ".npz":
        with np.load(path, allow_pickle=False) as data:
            names = list(data.keys())
            if key is None:
                if len(names) != 1:
                    raise SystemExit(f"fastsmi: {path} holds {names}; choose one with --x-key/--y-key")
                key = names[0]
            if key not in names:
                raise SystemExit(f"fastsmi: {path} has no array {key!r}; it holds {names}")
            arr = data[key]
    elif ext in (".csv", ".txt", ".tsv"):
        delim = "\t" if ext == ".tsv" else delimiter
        arr = np.genfromtxt(path, delimiter=delim, skip_header=skip_header)
        if np.isnan(arr).any():
            raise SystemExit(
                f"fastsmi: {path} has empty or non-numeric cells; use --skip-header for a header row "
                "and --x-cols/--y-cols to select numeric columns"
            )
    else:
        raise SystemExit(f"fastsmi: unsupported file type {ext!r}; use .npy, .npz or .csv")
    if arr.ndim == 2 and columns is not None:
        arr = arr[:, _columns(columns, arr.shape[1])]
    return arr


def _cmd_estimate(args: argparse.Namespace) -> int:
    from . import smi

    if args.y is None:
        data = load_array(args.x, key=args.x_key, skip_header=args.skip_header, delimiter=args.delimiter)
        if args.x_cols is None or args.y_cols is None:
            raise SystemExit("fastsmi: with one file, give both --x-cols and --y-cols")
        X = data[:, _columns(args.x_cols, data.shape[1])]
        Y = data[:, _columns(args.y_cols, data.shape[1])]
    else:
        X = load_array(args.x, key=args.x_key, columns=args.x_cols, skip_header=args.skip_header,
                       delimiter=args.delimiter)
        Y = load_array(args.y, key=args.y_key, columns=args.y_cols, skip_header=args.skip_header,
                       delimiter=args.delimiter)
    t0 = time.perf_counter()
    res = smi(X, Y, n_projections=args.n_projections, estimator=args.estimator, k=args.k,
              y_discrete=args.y_discrete, seed=args.seed, n_jobs=args.n_jobs, backend=args.backend,
              method=args.method, return_slices=False, progress=None if not args.json else False)
    seconds = time.perf_counter() - t0
    report = dict(smi=res.value, stderr=res.stderr, n_projections=res.n_projections, estimator=res.estimator,
                  k=res.k, seed=res.seed, backend=res.backend, n=int(np.shape(X)[0]), seconds=seconds)
    if args.json:
        sys.stdout.write(json.dumps(report) + "\n")
    else:
        sys.stdout.write(
            f"SMI = {res.value:.6f} nats  (stderr {res.stderr:.6f}, {res.n_projections} projections, "
            f"{res.estimator} k={res.k}, seed {res.seed}, {res.backend})\n"
            f"time: {seconds:.3f} s\n"
        )
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from . import smi
    from .experiments.models import GaussianModel

    model = GaussianModel(args.dim, args.mi)
    X, Y = model.sample(args.n, rng=np.random.default_rng(args.seed))
    exact = model.smi()
    smi(X[:50], Y[:50], n_projections=2, seed=0, n_jobs=args.n_jobs)  # compile / load the kernels
    t0 = time.perf_counter()
    res = smi(X, Y, n_projections=args.n_projections, k=args.k, seed=args.seed, n_jobs=args.n_jobs,
              estimator=args.estimator, return_slices=False, progress=None if not args.json else False)
    seconds = time.perf_counter() - t0
    report = dict(d=args.dim, mi=args.mi, n=args.n, n_projections=res.n_projections, estimator=res.estimator,
                  estimate=res.value, stderr=res.stderr, exact_smi=exact, seconds=seconds, backend=res.backend)
    if args.json:
        sys.stdout.write(json.dumps(report) + "\n")
    else:
        z = (res.value - exact) / res.stderr if res.stderr > 0 else float("nan")
        sys.stdout.write(
            f"Gaussian model: X, Y in R^{args.dim}, I(X;Y) = {args.mi} nats, n = {args.n}\n"
            f"estimated SMI ({res.estimator}, k={res.k}, {res.n_projections} projections): "
            f"{res.value:.5f} +/- {res.stderr:.5f} nats\n"
            f"exact SMI:  {exact:.5f} nats   (difference {res.value - exact:+.5f}, {z:+.1f} stderr)\n"
            f"time: {seconds:.3f} s on {res.backend}\n"
        )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fastsmi", description="Fast, seeded Sliced Mutual Information.")
    parser.add_argument("--version", action="version", version=f"fastsmi {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    est = sub.add_parser("estimate", help="SMI between two sample files (.npy, .npz, .csv)")
    est.add_argument("x", help="samples of X (rows are samples)")
    est.add_argument("y", nargs="?", help="samples of Y (omit to take both from X's file with --x-cols/--y-cols)")
    est.add_argument("--x-key", help="array name inside an .npz for X")
    est.add_argument("--y-key", help="array name inside an .npz for Y")
    est.add_argument("--x-cols", help="columns of X, e.g. 0:10 or 1,3,5")
    est.add_argument("--y-cols", help="columns of Y")
    est.add_argument("--delimiter", default=",", help="CSV delimiter (default ,)")
    est.add_argument("--skip-header", type=int, default=0, help="header rows to skip in CSV files")
    _common_options(est)
    est.add_argument("--y-discrete", action="store_true", help="Y holds integer class labels")
    est.add_argument("--method", default="sphere", choices=["sphere", "orthonormal"], help="direction sampling")
    est.add_argument("--backend", default="auto", choices=["auto", "numba", "cython"])
    est.set_defaults(func=_cmd_estimate)

    demo = sub.add_parser("demo", help="estimate SMI on Gaussian data with known exact SMI")
    demo.add_argument("--dim", type=int, default=10, help="dimension of X and Y (default 10)")
    demo.add_argument("--mi", type=float, default=2.0, help="true I(X;Y) in nats (default 2)")
    demo.add_argument("--n", type=int, default=3000, help="samples (default 3000)")
    _common_options(demo, default_projections=2000, default_seed=0)
    demo.set_defaults(func=_cmd_demo)

    for module in ("fastsmi.experiments.cli", "fastsmi.mnist.cli"):
        try:
            mod = __import__(module, fromlist=["add_parser"])
        except ImportError:  # pragma: no cover - optional parts
            continue
        mod.add_parser(sub)
    return parser


def _common_options(p: argparse.ArgumentParser, *, default_projections: int = 1000,
                    default_seed: Optional[int] = None) -> None:
    p.add_argument("-m", "--n-projections", type=int, default=default_projections,
                   help=f"number of slices (default {default_projections})")
    p.add_argument("--estimator", default="ksg", choices=["ksg", "ksg2", "kl", "wkl", "seed"])
    p.add_argument("-k", type=int, default=5, help="neighbours (default 5)")
    p.add_argument("--seed", type=int, default=default_seed, help="random seed (default: fresh, reported)")
    p.add_argument("-j", "--n-jobs", type=int, default=None, help="threads (default: all cores)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (ValueError, TypeError) as exc:
        sys.stderr.write(f"fastsmi: error: {exc}\n")
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
