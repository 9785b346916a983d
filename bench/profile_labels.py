"""Where the time of a label SMI slice goes: ``python bench/profile_labels.py``.

The case of ``bench/bench_core.py`` (n = 10,000, X in R^50, 10 classes), one
thread, 200 slices.  Each stage runs the kernels up to and including that
stage on every slice, so a stage's cost is its line minus the line above.
"""
from __future__ import annotations

import time

import numpy as np
from numba import njit

import fastsmi
from fastsmi import _validation as V
from fastsmi._blas import blas_threads
from fastsmi._numba import _kernels as K
from fastsmi._numba.sort import sort_values
from fastsmi._numba.workspace import alloc_workspace
from fastsmi._numba._neighbors import kth_sorted
from fastsmi._plan import make_plan

STAGES = ("standardise", "sort", "gather classes", "class k-th radii", "counts (Ross KSG)", "seed KL with labels")


@njit
def _run(P, codes, class_start, k, psi, coef, upto):
    n = P.shape[0]
    ws = alloc_workspace(n, k, 0)
    x = np.empty(n)
    jitter = np.zeros(n)
    acc = 0.0
    for s in range(P.shape[1]):
        K.standardize_column(P, s, jitter, x, 0.0)
        if upto == 0:
            acc += x[0]
        elif upto == 1:
            sort_values(x, ws, ws.order, ws.xs)
            acc += ws.xs[0]
        elif upto == 2:
            K._class_sorted(x, codes, class_start, ws)
            acc += ws.ysx[0]
        elif upto == 3:
            K._class_sorted(x, codes, class_start, ws)
            for c in range(class_start.shape[0] - 1):
                vals = ws.ysx[class_start[c]:class_start[c + 1]]
                for q in range(vals.shape[0]):
                    ws.kth[class_start[c] + q] = kth_sorted(vals, q, k)
            acc += ws.kth[0]
        elif upto == 4:
            acc += K.ross_slice(x, codes, class_start, k, psi, ws)
        else:
            acc += K.kl_discrete_slice(x, codes, class_start, k, coef, ws)
    return acc


def main(n: int = 10_000, d: int = 50, n_classes: int = 10, m: int = 200, k: int = 5) -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, n_classes, n)
    X = rng.standard_normal((n, n_classes))[labels] @ rng.standard_normal((n_classes, d)) * 0.1
    X += rng.standard_normal((n, d))
    codes, class_start, counts = V.as_labels(labels, k)
    P = np.ascontiguousarray(X @ fastsmi.projections.sphere(m, d, seed=0).T)
    ross = make_plan("ksg", k, n, class_counts=counts)
    seed = make_plan("seed", k, n, class_counts=counts)
    theta = fastsmi.projections.sphere(m, d, seed=0)
    with blas_threads(1):  # as the library projects
        best = min(_timed(np.matmul, X, theta.T) for _ in range(3))
    print(f"{'projection (BLAS)':>22}: {best / m * 1e3:7.3f} ms a slice")
    for upto, name in enumerate(STAGES):
        coef = seed.coef if upto == 5 else ross.coef
        _run(P[:, :2].copy(), codes, class_start, k, ross.psi, coef, upto)  # compile
        best = min(_timed(_run, P, codes, class_start, k, ross.psi, coef, upto) for _ in range(3))
        print(f"{name:>22}: {best / m * 1e3:7.3f} ms a slice (cumulative)")


def _timed(func, *args) -> float:
    t0 = time.perf_counter()
    func(*args)
    return time.perf_counter() - t0


if __name__ == "__main__":
    main()
