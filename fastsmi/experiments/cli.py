"""The ``fastsmi synthetic`` sub-command (the seed's Figures 1 and 2).

``add_parser(subparsers)`` registers the sub-command on the ``fastsmi`` console script;
``python -m fastsmi.experiments.cli synthetic ...`` runs it stand-alone.  Dask is imported only
when ``--dask`` or ``--scheduler`` is given.

Examples
--------
::

    fastsmi synthetic fig1 --quick                 # < 1 minute, ./fastsmi-out/fig1
    fastsmi synthetic fig2                         # the seed's full Figure 2 grid
    fastsmi synthetic fig2 --dask --out runs/fig2  # 2-worker LocalCluster
    fastsmi synthetic fig2 --scheduler tcp://10.0.0.1:8786
"""
from __future__ import annotations

import argparse
import contextlib
import sys
import warnings
from typing import Any, Callable, Iterator, Optional, Sequence

__all__ = ["add_parser", "main", "run_from_args", "config_from_args"]


def _list_of(cast: Callable[[str], Any], what: str) -> Callable[[str], tuple]:
    def parse(text: str) -> tuple:
        try:
            values = tuple(cast(part.strip()) for part in text.split(",") if part.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid {what} list {text!r}: use comma-separated values") from None
        if not values:
            raise argparse.ArgumentTypeError(f"empty {what} list")
        return values

    return parse


def add_parser(subparsers: Any) -> None:
    """Add the ``synthetic`` sub-command to an ``argparse`` sub-parsers object.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        From ``parser.add_subparsers()``; the new parser sets ``func=run_from_args``.

    Examples
    --------
    >>> import argparse
    >>> parser = argparse.ArgumentParser(prog="fastsmi")
    >>> add_parser(parser.add_subparsers(dest="command"))
    >>> args = parser.parse_args(["synthetic", "fig1", "--quick", "--dims", "1,2"])
    >>> args.figure, args.dims, args.func is run_from_args
    ('fig1', (1, 2), True)
    """
    p = subparsers.add_parser(
        "synthetic",
        help="reproduce the seed's synthetic experiments (Figures 1 and 2) with exact SMI",
        description=(
            "Estimate MI and SMI on synthetic data with known MI over a grid of (model, d, I, run, "
            "estimator, sliced/full) cells. Defaults are the seed's parameters: I in linspace(0, 4, 21), "
            "n=2000, m=1000; fig1: d in {1,2,6,10}, 1 run; fig2: d in {1,2,5,6,8,10,20,30,40,50,75,100}, "
            "10 runs. Results are appended to OUT/results.csv as cells finish; rerunning with the same "
            "--out resumes."
        ),
    )
    p.add_argument("figure", choices=("fig1", "fig2"), help="which of the seed's grids to run")
    p.add_argument("--out", default=None, help="output directory (default: ./fastsmi-out/FIGURE)")
    p.add_argument("--quick", action="store_true",
                   help="small grid (fewer I values, n ~ 600-1000, m ~ 100) that runs in under a minute")
    grid = p.add_argument_group("grid (default: the seed's values for the figure)")
    grid.add_argument("--models", type=_list_of(str, "model"), default=None,
                      help="comma-separated models: gaussian, uniform, student_t, uniform_noise (default gaussian)")
    grid.add_argument("--dims", type=_list_of(int, "dimension"), default=None, help="comma-separated d values")
    grid.add_argument("--mi-values", type=_list_of(float, "MI"), default=None,
                      help="comma-separated true MI values in nats (overrides --mi-max/--mi-points)")
    grid.add_argument("--mi-max", type=float, default=None, help="largest MI of the grid (seed: 4)")
    grid.add_argument("--mi-points", type=int, default=None, help="number of MI values from 0 to --mi-max (seed: 21)")
    grid.add_argument("--runs", type=int, default=None, help="independent runs (fig1: 1, fig2: 10)")
    grid.add_argument("--estimators", type=_list_of(str, "estimator"), default=None,
                      help="comma-separated estimators: seed (whitened 1-NN KL), ksg, ... (default seed,ksg)")
    grid.add_argument("--kinds", type=_list_of(str, "kind"), default=None,
                      help="sliced and/or full (default sliced,full)")
    est = p.add_argument_group("estimation")
    est.add_argument("-n", "--n-samples", type=int, default=None, help="samples per cell (seed: 2000)")
    est.add_argument("-m", "--n-projections", type=int, default=None, help="slices per SMI estimate (seed: 1000)")
    est.add_argument("-k", type=int, default=None, help="neighbours (default 5)")
    est.add_argument("--seed", type=int, default=None, help="base seed (default 0)")
    est.add_argument("--dof", type=float, default=None, help="degrees of freedom of the student_t model (default 5)")
    est.add_argument("--method", choices=("sphere", "orthonormal"), default=None,
                     help="directions: uniform (sphere) or the seed's stacked orthonormal blocks (default sphere)")
    est.add_argument("--backend", choices=("auto", "numba", "cython"), default=None, help="SMI backend (default auto)")
    est.add_argument("--n-jobs", type=int, default=None,
                     help="threads per cell (default: all cores in sequence, 1 with --processes or Dask)")
    run = p.add_argument_group("execution")
    run.add_argument("--dask", action="store_true", help="run the cells on a local Dask cluster")
    run.add_argument("--dask-workers", type=int, default=2, help="workers of the --dask LocalCluster (default 2)")
    run.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                     help="run the cells on this Dask scheduler")
    run.add_argument("--processes", type=int, default=None,
                     help="run the cells in a local pool of this many processes, one thread each; 1 runs "
                          "them in sequence with the kernels' threads (default: one process per core, "
                          "except with --quick, where compiling the kernels in every process costs more "
                          "than it saves, and with --n-jobs)")
    run.add_argument("--max-cells", type=int, default=None,
                     help="compute at most this many new cells, then stop (rerun to continue)")
    run.add_argument("--overwrite", action="store_true",
                     help="discard results in --out computed with other parameters")
    run.add_argument("--no-plots", action="store_true", help="write the tables but no figures")
    run.add_argument("--no-warm-up", dest="warm_up", action="store_false", default=None,
                     help="do not compile the kernels in one process per core before the cells (by default "
                          "they are, with the Numba backend on more than one core; same results)")
    bar = run.add_mutually_exclusive_group()
    bar.add_argument("--progress", dest="progress", action="store_true", default=None,
                     help="always show the progress bar (default: only on a terminal)")
    bar.add_argument("--no-progress", dest="progress", action="store_false", help="never show the progress bar")
    p.set_defaults(func=run_from_args)


def config_from_args(args: argparse.Namespace) -> Any:
    """Build the :class:`~fastsmi.experiments.synthetic.SyntheticConfig` of parsed arguments.

    Examples
    --------
    >>> import argparse
    >>> parser = argparse.ArgumentParser()
    >>> add_parser(parser.add_subparsers())
    >>> cfg = config_from_args(parser.parse_args(["synthetic", "fig2", "--mi-max", "2", "--mi-points", "3"]))
    >>> cfg.mi_values, cfg.runs, cfg.n_samples
    ((0.0, 1.0, 2.0), 10, 2000)
    """
    import numpy as np

    from .synthetic import SEED_MI_VALUES, SyntheticConfig

    mi_values = args.mi_values
    if mi_values is None and (args.mi_max is not None or args.mi_points is not None):
        if args.mi_points is not None and args.mi_points < 1:
            raise ValueError(f"--mi-points must be >= 1, got {args.mi_points}")
        top = 4.0 if args.mi_max is None else args.mi_max
        points = (9 if args.quick else len(SEED_MI_VALUES)) if args.mi_points is None else args.mi_points
        mi_values = tuple(float(v) for v in np.linspace(0.0, top, points))
    n_jobs = args.n_jobs
    if n_jobs is None and (args.dask or args.scheduler or (_processes(args) or 0) > 1):
        n_jobs = 1
    return SyntheticConfig.preset(
        args.figure, quick=args.quick, models=args.models, dims=args.dims, mi_values=mi_values, runs=args.runs,
        estimators=args.estimators, kinds=args.kinds, n_samples=args.n_samples, n_projections=args.n_projections,
        k=args.k, seed=args.seed, dof=args.dof, method=args.method, backend=args.backend, n_jobs=n_jobs,
    )


def _processes(args: argparse.Namespace) -> Optional[int]:
    """The local pool size: ``--processes``, else one process per core for full grids.

    Measured on one run of the Figure 2 grid (1008 cells, 2 cores): 215 s in a pool of two
    single-threaded processes against 245 s in sequence with two kernel threads.  Quick
    grids stay in sequence: each spawned process loads or compiles the kernels itself.
    """
    if args.processes is not None:
        return args.processes
    if args.dask or args.scheduler or args.quick or args.n_jobs is not None:
        return None  # an explicit --n-jobs means threads per cell, cells in sequence
    from .._threads import usable_cores

    cores = usable_cores()
    return cores if cores > 1 else None


@contextlib.contextmanager
def _client(args: argparse.Namespace) -> Iterator[Optional[Any]]:
    if not (args.dask or args.scheduler):
        yield None
        return
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise _OptionError("--dask and --scheduler need Dask: pip install 'fastsmi[dask]'") from None
    if args.scheduler:
        with Client(args.scheduler) as client:
            yield client
        return
    with LocalCluster(n_workers=args.dask_workers, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        yield client


class _OptionError(ValueError):
    """An option combination or environment that stops the run before it starts."""


def _fail(message: Any) -> None:
    text = " ".join(str(message).split())
    print(f"fastsmi synthetic: error: {text}", file=sys.stderr)


def run_from_args(args: argparse.Namespace) -> int:
    """Run the experiment described by parsed arguments; return the exit status.

    0 when the grid is complete or ``--max-cells`` stopped it early (rerun to continue);
    2 for a bad option, an option combination, a missing Dask, or an output directory
    holding results of other parameters; 1 when the system refuses to write the outputs;
    130 on Ctrl-C (the finished cells are kept: rerun to resume).  Each error is one line
    on stderr, never a traceback.
    """
    from pathlib import Path

    from .synthetic import run_experiment

    try:
        if args.processes is not None and args.processes < 1:
            raise _OptionError(f"--processes must be a positive integer, got {args.processes}")
        if args.dask_workers is not None and args.dask_workers < 1:
            raise _OptionError(f"--dask-workers must be a positive integer, got {args.dask_workers}")
        if args.max_cells is not None and args.max_cells < 0:
            raise _OptionError(f"--max-cells must be a non-negative integer, got {args.max_cells}")
        if sum(map(bool, (args.dask, args.scheduler, args.processes))) > 1:
            raise _OptionError("use only one of --dask, --scheduler and --processes")
        config = config_from_args(args)
        out = Path(args.out) if args.out else Path("fastsmi-out") / args.figure
        with _client(args) as client, warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                result = run_experiment(config, out, client=client, max_cells=args.max_cells,
                                        processes=_processes(args), progress=args.progress,
                                        plots=not args.no_plots, overwrite=args.overwrite, warm_up=args.warm_up)
            finally:  # the run's warnings (damaged rows dropped, failed cells) as one line each
                for warning in caught:
                    text = " ".join(str(warning.message).split())
                    print(f"fastsmi synthetic: warning: {text}", file=sys.stderr)
    except (TypeError, ValueError) as exc:
        _fail(exc)
        return 2
    except OSError as exc:
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        _fail(f"cannot write the results: {exc.strerror or exc}{where}; choose another --out")
        return 1
    except KeyboardInterrupt:
        _fail("interrupted; the finished cells are saved: run the same command again to resume")
        return 130
    print(f"{result.computed} cells computed, {result.skipped} already done, {result.remaining} remaining "
          f"({result.seconds:.1f} s) -> {out}")
    if result.complete:
        md = (out / "summary.md").read_text()
        print(md.split("\n\n### ", 1)[0].strip())
        print(f"tables: {out / 'summary.md'}, {out / 'summary.csv'}; results: {out / 'results.csv'}")
        figures = [str(f) for f in result.files if str(f).endswith(".png")]
        if figures:
            print("figures: " + ", ".join(figures))
    else:
        print("grid not complete: run the same command again to continue")
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Stand-alone entry point: ``python -m fastsmi.experiments.cli synthetic fig1 --quick``."""
    parser = argparse.ArgumentParser(prog="python -m fastsmi.experiments.cli")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
