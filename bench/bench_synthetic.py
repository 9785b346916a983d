"""Cost of the synthetic experiments: one cell of each kind, and the full Figure 2 grid.

The seed's Figure 2 grid has 12 dimensions x 21 MI values x 10 runs = 2520 sample groups,
each estimated four ways (seed's KL and KSG, sliced and full), n = 2000, m = 1000.

Benchmarks (one representative cell each, d = 10, n = 2000, m = 1000, all cores)::

    pytest bench/bench_synthetic.py --benchmark-only

Each entry records in ``extra_info`` how many cells of its kind the Figure 2 grid has and
the grid time that its mean extrapolates to (cost varies with d; see ``--extrapolate``).

Extrapolate the full grid from one sample group per dimension (about a minute)::

    python bench/bench_synthetic.py --extrapolate

Run the full Figure 2 grid (resumable; rerun the same command after an interruption)::

    python bench/bench_synthetic.py --full [--out fastsmi-out/fig2] [--dask]
    # equivalently: fastsmi synthetic fig2 --out fastsmi-out/fig2

The same grid on a 2-worker Dask LocalCluster, then the comparison with the local run
(identical cells, wall times)::

    fastsmi synthetic fig2 --dask --out fastsmi-out/fig2-dask
    python bench/bench_synthetic.py --compare fastsmi-out/fig2 fastsmi-out/fig2-dask
"""
from __future__ import annotations

import argparse
import sys
import time

import pytest

from fastsmi.experiments.synthetic import FIG2_DIMS, SEED_MI_VALUES, SampleGroup, SyntheticConfig, iter_group

N, M, D, MI = 2000, 1000, 10, 2.0
GROUPS_FIG2 = len(FIG2_DIMS) * len(SEED_MI_VALUES) * 10
SETTINGS = SyntheticConfig.preset("fig2").to_dict()


def _one_cell(estimator: str, sliced: bool, d: int = D) -> float:
    (row,) = iter_group(SampleGroup("gaussian", d, MI, 0), [(estimator, sliced)], SETTINGS)
    return row["estimate"]


@pytest.mark.parametrize(
    "estimator, sliced",
    [("ksg", True), ("seed", True), ("ksg", False), ("seed", False)],
    ids=["sliced-ksg", "sliced-seed", "full-ksg", "full-seed"],
)
def test_cell_d10(benchmark, estimator, sliced):
    pytest.importorskip("pytest_benchmark")
    benchmark.group = f"synthetic-cell-n{N}-m{M}-d{D}"
    _one_cell(estimator, sliced)  # compile outside the timing
    benchmark.pedantic(_one_cell, args=(estimator, sliced), rounds=3, iterations=1)
    mean = benchmark.stats.stats.mean
    benchmark.extra_info["fig2_cells_of_this_kind"] = GROUPS_FIG2
    benchmark.extra_info["fig2_extrapolated_s_if_all_cells_cost_d10"] = mean * GROUPS_FIG2


def test_full_ksg_cell_d100(benchmark):
    """The heaviest full-vector cell: a 200-dimensional joint space."""
    pytest.importorskip("pytest_benchmark")
    benchmark.group = f"synthetic-cell-n{N}-d100"
    benchmark.pedantic(_one_cell, args=("ksg", False, 100), rounds=2, iterations=1)


def extrapolate(dims=FIG2_DIMS, runs: int = 10, mi_values=SEED_MI_VALUES) -> float:
    """Time one sample group (four cells) per d at I = 2 and extrapolate the grid, in seconds."""
    variants = [("seed", True), ("ksg", True), ("seed", False), ("ksg", False)]
    list(iter_group(SampleGroup("gaussian", 2, MI, 0), variants, SETTINGS))  # compile
    total = 0.0
    print(f"{'d':>4} " + " ".join(f"{('SMI ' if s else 'MI ') + e:>10}" for e, s in variants) + "   group s")
    for d in dims:
        rows = list(iter_group(SampleGroup("gaussian", d, MI, 0), variants, SETTINGS))
        walls = [r["wall_s"] for r in rows]
        total += sum(walls) * runs * len(mi_values)
        print(f"{d:>4} " + " ".join(f"{w:>10.3f}" for w in walls) + f"   {sum(walls):7.3f}")
    print(f"extrapolated Figure 2 grid ({len(dims)} d x {len(mi_values)} I x {runs} runs x 4 cells): "
          f"{total:.0f} s = {total / 60:.1f} min")
    return total


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--extrapolate", action="store_true", help="time one group per d, extrapolate the grid")
    mode.add_argument("--full", action="store_true", help="run the full Figure 2 grid")
    mode.add_argument("--compare", nargs=2, metavar=("DIR_A", "DIR_B"),
                      help="compare two result directories (e.g. local and --dask): identical cells, times")
    parser.add_argument("--out", default="fastsmi-out/fig2", help="output directory of --full")
    parser.add_argument("--dask", action="store_true", help="--full on a 2-worker Dask LocalCluster")
    args = parser.parse_args(argv)
    if args.extrapolate:
        extrapolate()
        return 0
    if args.compare:
        from fastsmi.experiments.synthetic import compare_runs

        for key, value in compare_runs(*args.compare).items():
            print(f"{key:>14}: {value}")
        return 0
    from fastsmi.experiments.cli import main as cli_main

    t0 = time.perf_counter()
    code = cli_main(["synthetic", "fig2", "--out", args.out] + (["--dask"] if args.dask else []))
    print(f"Figure 2 grid: {time.perf_counter() - t0:.0f} s wall")
    return code


if __name__ == "__main__":
    sys.exit(main())
