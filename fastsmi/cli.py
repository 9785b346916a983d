"""The ``fastsmi`` command line (also ``python -m fastsmi``).

Sub-commands::

    fastsmi estimate X.npy Y.npy [--json] ...   SMI of two sample files
    fastsmi test X.npy Y.npy [--json] ...       permutation test of independence with SMI
    fastsmi demo [--json]                       Gaussian data with known SMI
    fastsmi synthetic fig1|fig2 [--quick] ...   the synthetic experiments
    fastsmi mnist [--quick] ...                 the MNIST information plane

Errors print one line, ``fastsmi COMMAND: error: ...``, on stderr, never a traceback, and
end the process with one of the :data:`EXIT_CODES`.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
import textwrap
import time
import warnings
import zipfile
from typing import Any, Optional, Sequence

import numpy as np

import fastsmi

from . import __version__
from ._backends import BACKENDS
from ._inference import DEFAULT_PERMUTATIONS, DEFAULT_TEST_PROJECTIONS, SAMPLING_ERRORS, pointwise_available
from ._transform import TRANSFORMS
from ._validation import ESTIMATORS
from .experiments.models import GaussianModel
from .projections import METHODS

__all__ = ["EXIT_CODES", "UsageError", "build_parser", "load_array", "main"]

#: Exit status of the ``fastsmi`` command and its sub-commands.
EXIT_CODES = {
    0: "success (also a run stopped early by --max-cells or --max-measurements: rerun to continue)",
    1: "the run failed: the system refused to write an output (permission, disk full, not a directory) "
       "or ran out of memory",
    2: "the command or its input is wrong: usage, an option value, a missing, unreadable, empty or "
       "malformed input file, a non-numeric selected column, data the estimators reject (NaN, "
       "mismatched lengths, too few samples), an output directory holding results of other "
       "parameters, or a missing optional dependency",
    130: "interrupted (Ctrl-C); the synthetic and MNIST runs keep what they finished: rerun to resume",
}

_EPILOG = "exit status:\n" + "\n".join(
    textwrap.fill(text, width=79, initial_indent=f"  {code:<5}", subsequent_indent=" " * 7)
    for code, text in EXIT_CODES.items())


class _HelpFormatter(argparse.HelpFormatter):
    """Wraps descriptions as usual but keeps the exit-status table as laid out."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if text.startswith("exit status:"):
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


class UsageError(Exception):
    """A problem with the command line or its input files: exit status 2."""


# --------------------------------------------------------------------------------------
# input files
# --------------------------------------------------------------------------------------
def _parse_columns(spec: str, n_cols: int, what: str) -> list[int]:
    """``"0:5"``, ``"2,4,7"``, ``"-1"`` -> non-negative column indices, all inside ``n_cols``."""
    try:
        if ":" in spec:
            lo, _, hi = spec.partition(":")
            start = int(lo) if lo.strip() else 0
            stop = int(hi) if hi.strip() else n_cols
            for bound in (start, stop):
                if not -n_cols <= bound <= n_cols:
                    raise UsageError(f"column range {spec!r} of {what} is outside its {n_cols} columns "
                                     f"(0 to {n_cols - 1})")
            cols = list(range(n_cols))[slice(start, stop)]
        else:
            cols = [int(c) for c in spec.split(",")]
    except ValueError:
        raise UsageError(f"bad column selection {spec!r} for {what}; use START:STOP, a comma list such "
                         "as 1,3,5 or one index (0-based)") from None
    bad = [c for c in cols if not -n_cols <= c < n_cols]
    if bad:
        raise UsageError(f"column {bad[0]} of {spec!r} is outside the {n_cols} columns of {what} "
                         f"(0 to {n_cols - 1})")
    if not cols:
        raise UsageError(f"column range {spec!r} selects no column of {what}; use START:STOP with START < STOP")
    return [c % n_cols for c in cols]


def _split(line: str, delimiter: Optional[str]) -> list[str]:
    return line.split() if delimiter is None else next(csv.reader([line], delimiter=delimiter))


def _data_lines(path: str, skip_header: int):
    """``(line number, text)`` of the data lines: after the header, not blank, not a ``#`` comment."""
    with open(path, newline="", encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if number <= skip_header:
                continue
            text = line.split("#", 1)[0].strip()
            if text:
                yield number, line.rstrip("\r\n")


def _csv_delimiter(ext: str, delimiter: Optional[str], first: str) -> Optional[str]:
    if delimiter is not None:
        if delimiter.lower() in ("whitespace", "space", " "):
            return None
        if delimiter.lower() in ("tab", "\\t"):
            return "\t"
        if len(delimiter) != 1 or delimiter in "\"#\r\n":
            raise UsageError(f"--delimiter must be one character, 'tab' or 'whitespace', got {delimiter!r}")
        return delimiter
    if ext == ".tsv":
        return "\t"
    if ext == ".txt" and "," not in first:
        return None  # np.savetxt's default: columns separated by spaces
    return ","


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _first_bad_cell(path: str, skip_header: int, delimiter: Optional[str], cols: list[int], what: str) -> str:
    """Find the first row where a selected column is missing or not a number; describe it and the fix."""
    lines = _data_lines(path, skip_header)
    for row, (number, line) in enumerate(lines):
        fields = _split(line, delimiter)
        for c in cols:
            if c >= len(fields):
                return (f"{what}, line {number} has {len(fields)} fields but column {c} is selected; "
                        "every data row needs the selected columns (check --delimiter)")
            if _is_number(fields[c]):
                continue
            cell = fields[c].strip()
            problem = f"{what}, line {number}, column {c} " + (f"is not a number ({cell[:40]!r})" if cell else
                                                               "is empty")
            if row == 0:  # a header row if the next row holds a number there
                following = next(lines, None)
                if following is not None:
                    nxt = _split(following[1], delimiter)
                    if c < len(nxt) and _is_number(nxt[c]):
                        return f"{problem}: it looks like a header row; skip it with --skip-header {number}"
            return f"{problem}; select only numeric columns with --x-cols/--y-cols, or fix the file"
    return ""


def _read_text(path: str, ext: str, specs: Sequence[Optional[str]], delimiter: Optional[str], skip_header: int,
               what: str) -> list[np.ndarray]:
    """Read only the selected columns of a delimited text file, one float64 array per spec."""
    first = next(_data_lines(path, skip_header), None)
    if first is None:
        raise UsageError(f"{what} has no data rows"
                         + (f" after the {skip_header} header row(s) skipped" if skip_header else "")
                         + "; give a file with one sample per row")
    delim = _csv_delimiter(ext, delimiter, first[1])
    n_cols = len(_split(first[1], delim))
    selections = [list(range(n_cols)) if spec is None else _parse_columns(spec, n_cols, what) for spec in specs]
    used = sorted(set().union(*selections))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "input contained no data": reported below
            table = np.loadtxt(path, dtype=np.float64, delimiter=delim, skiprows=skip_header, usecols=used,
                               ndmin=2, quotechar='"' if delim is not None else None, encoding="utf-8")
    except ValueError as exc:
        raise UsageError(_first_bad_cell(path, skip_header, delim, used, what) or f"cannot read {what}: {exc}") \
            from None
    position = {c: i for i, c in enumerate(used)}
    out = []
    for cols in selections:
        out.append(table[:, [position[c] for c in cols]])
    return out


def _read_binary(path: str, ext: str, key: Optional[str], what: str) -> np.ndarray:
    try:
        if ext == ".npy":
            return np.load(path, allow_pickle=False)
        with np.load(path, allow_pickle=False) as data:
            names = list(data.keys())
            if key is None:
                if len(names) != 1:
                    raise UsageError(f"{what} holds the arrays {names}; choose one with --x-key/--y-key")
                key = names[0]
            if key not in names:
                raise UsageError(f"{what} has no array {key!r}; it holds {names}")
            return data[key]
    except (ValueError, EOFError, zipfile.BadZipFile) as exc:
        writer = "numpy.save" if ext == ".npy" else "numpy.savez"
        raise UsageError(f"cannot read {what} as {ext} ({exc}); write it with {writer}") from None


def _select(arr: np.ndarray, spec: Optional[str], what: str, flag: str) -> np.ndarray:
    if spec is None:
        return arr
    if arr.ndim != 2:
        raise UsageError(f"{flag} selects columns of a 2-D array, but {what} holds shape {arr.shape}; "
                         f"drop {flag}")
    return arr[:, _parse_columns(spec, arr.shape[1], what)]


def _load(path: str, *, specs: Sequence[Optional[str]], flags: Sequence[str], key: Optional[str] = None,
          delimiter: Optional[str] = None, skip_header: int = 0, what: Optional[str] = None) -> list[np.ndarray]:
    what = what or f"file {path!r}"
    ext = os.path.splitext(path)[1].lower()
    if ext not in (".npy", ".npz", ".csv", ".txt", ".tsv"):
        raise UsageError(f"unsupported file type {ext or 'without extension'!r} for {what}; "
                         "use .npy, .npz, .csv, .tsv or .txt")
    if not os.path.exists(path):
        raise UsageError(f"no such file: {path!r}; check the path")
    if isinstance(skip_header, bool) or not isinstance(skip_header, int) or skip_header < 0:
        raise UsageError(f"--skip-header must be a non-negative integer, got {skip_header!r}")
    try:
        if ext in (".npy", ".npz"):
            arr = _read_binary(path, ext, key, what)
            arrays = [_select(arr, spec, what, flag) for spec, flag in zip(specs, flags)]
        else:
            arrays = _read_text(path, ext, specs, delimiter, skip_header, what)
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {what}: {getattr(exc, 'strerror', None) or exc}") from None
    for arr in arrays:
        if arr.size == 0 or arr.shape[0] == 0:
            raise UsageError(f"{what} holds no samples (shape {arr.shape}); give at least k+1 rows")
    return arrays


def load_array(path: str, *, key: Optional[str] = None, columns: Optional[str] = None,
               delimiter: Optional[str] = None, skip_header: int = 0) -> np.ndarray:
    """Load samples from ``.npy``, ``.npz`` or delimited text (``.csv``, ``.tsv``, ``.txt``).

    Parameters
    ----------
    path : str
        The file; rows are samples.
    key : str, optional
        The array inside an ``.npz`` (needed when it holds more than one).
    columns : str, optional
        Columns to keep, 0-based: ``"0:5"``, ``"1,3"``, ``"-1"``.  Only these columns of a
        text file are read, so other columns may hold text.
    delimiter : str, optional
        Text delimiter (default ``,``; a tab for ``.tsv``; spaces for a ``.txt`` without commas;
        ``"whitespace"`` for runs of spaces or tabs).
    skip_header : int, default 0
        Header rows to skip at the top of a text file.

    Returns
    -------
    numpy.ndarray

    Raises
    ------
    UsageError
        The file is missing, unreadable, empty or malformed, or a selected column is not numeric;
        the message names the file, line and column, and the fix.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "d.csv")
    >>> _ = open(path, "w").write("name,a,b\\nx,1,2\\ny,3,4\\n")
    >>> load_array(path, columns="1:3", skip_header=1)
    array([[1., 2.],
           [3., 4.]])
    >>> load_array(path, columns="0", skip_header=1)
    Traceback (most recent call last):
    ...
    fastsmi.cli.UsageError: file '...d.csv', line 2, column 0 is not a number ('x'); select only numeric ...
    """
    return _load(path, specs=[columns], flags=["columns"], key=key, delimiter=delimiter, skip_header=skip_header)[0]


# --------------------------------------------------------------------------------------
# output
# --------------------------------------------------------------------------------------
def _json_safe(value: Any) -> Any:
    """Plain JSON values: NaN and infinities become ``null`` (strict parsers reject ``NaN``)."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return _json_safe(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    return str(value)


def _write_json(report: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(_json_safe(report), allow_nan=False) + "\n")


# --------------------------------------------------------------------------------------
# commands
# --------------------------------------------------------------------------------------
def _load_xy(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray]:
    """X and Y from the file options shared by ``estimate`` and ``test``."""
    if args.y is None:
        if args.x_cols is None or args.y_cols is None:
            raise UsageError("with one file, give both --x-cols and --y-cols (or give a second file for Y)")
        X, Y = _load(args.x, specs=[args.x_cols, args.y_cols], flags=["--x-cols", "--y-cols"], key=args.x_key,
                     delimiter=args.delimiter, skip_header=args.skip_header)
    else:
        (X,) = _load(args.x, specs=[args.x_cols], flags=["--x-cols"], key=args.x_key, delimiter=args.delimiter,
                     skip_header=args.skip_header, what=f"X file {args.x!r}")
        (Y,) = _load(args.y, specs=[args.y_cols], flags=["--y-cols"], key=args.y_key, delimiter=args.delimiter,
                     skip_header=args.skip_header, what=f"Y file {args.y!r}")
    return X, Y


def _interval_text(res: Any) -> str:
    if res.ci is None:
        return ""
    return (f"95% interval [{res.ci[0]:.6f}, {res.ci[1]:.6f}], stderr_samples {res.stderr_samples:.6f} "
            f"({res.sampling_error}), ")


def _cmd_estimate(args: argparse.Namespace) -> int:
    X, Y = _load_xy(args)
    t0 = time.perf_counter()
    sampling_error = args.sampling_error
    if sampling_error is None and pointwise_available(args.estimator, args.backend):
        # KSG's per-sample terms on Numba give the interval almost free; otherwise the direction error only
        sampling_error = "influence"
    res = fastsmi.smi(X, Y, n_projections=args.n_projections, estimator=args.estimator, k=args.k,
                      y_discrete=args.y_discrete, seed=args.seed, n_jobs=args.n_jobs, backend=args.backend,
                      method=args.method, return_slices=False, progress=None if not args.json else False,
                      sampling_error=sampling_error, transform=args.transform)
    seconds = time.perf_counter() - t0
    report = dict(smi=res.value, stderr=res.stderr, stderr_samples=res.stderr_samples, ci=res.ci,
                  sampling_error=res.sampling_error, n_projections=res.n_projections, estimator=res.estimator, k=res.k, seed=res.seed,
                  backend=res.backend, n=int(np.shape(X)[0]), seconds=seconds)
    if args.json:
        _write_json(report)
    else:
        sys.stdout.write(
            f"SMI = {res.value:.6f} nats  ({_interval_text(res)}stderr {res.stderr:.6f}, "
            f"{res.n_projections} projections, {res.estimator} k={res.k}, seed {res.seed}, {res.backend})\n"
            f"time: {seconds:.3f} s\n"
        )
    return 0


def _cmd_test(args: argparse.Namespace) -> int:
    X, Y = _load_xy(args)
    t0 = time.perf_counter()
    res = fastsmi.smi_test(X, Y, n_permutations=args.permutations, n_projections=args.n_projections,
                           estimator=args.estimator, k=args.k, y_discrete=args.y_discrete, seed=args.seed,
                           n_jobs=args.n_jobs, backend=args.backend, method=args.method,
                           stop_after=args.stop_after, transform=args.transform)
    seconds = time.perf_counter() - t0
    obs = res.smi
    report = dict(statistic=res.statistic, p_value=res.p_value, n_permutations=res.n_permutations,
                  n_exceed=res.n_exceed, stopped_early=res.stopped_early, stderr=obs.stderr,
                  stderr_samples=obs.stderr_samples, ci=obs.ci, n_projections=obs.n_projections,
                  estimator=obs.estimator, k=obs.k, seed=res.seed, backend=obs.backend, n=int(np.shape(X)[0]),
                  seconds=seconds)
    if args.json:
        _write_json(report)
    else:
        stop = ", stopped early (Besag-Clifford)" if res.stopped_early else ""
        sys.stdout.write(
            f"SMI = {res.statistic:.6f} nats  ({_interval_text(obs)}{obs.n_projections} projections, "
            f"{obs.estimator} k={obs.k}, seed {res.seed}, {obs.backend})\n"
            f"p-value = {res.p_value:.6g}  ({res.n_exceed} of {res.n_permutations} permutations >= SMI{stop})\n"
            f"time: {seconds:.3f} s\n"
        )
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    model = GaussianModel(args.dim, args.mi)
    X, Y = model.sample(args.n, rng=np.random.default_rng(args.seed))
    exact = model.smi()
    # compile / load the kernels outside the timed call (with the data's own checks first)
    fastsmi.smi(X, Y, n_projections=1, seed=0, n_jobs=args.n_jobs, k=args.k, estimator=args.estimator, progress=False)
    t0 = time.perf_counter()
    res = fastsmi.smi(X, Y, n_projections=args.n_projections, k=args.k, seed=args.seed, n_jobs=args.n_jobs,
              estimator=args.estimator, return_slices=False, progress=None if not args.json else False)
    seconds = time.perf_counter() - t0
    report = dict(d=args.dim, mi=args.mi, n=args.n, n_projections=res.n_projections, estimator=res.estimator,
                  estimate=res.value, stderr=res.stderr, exact_smi=exact, seconds=seconds, backend=res.backend)
    if args.json:
        _write_json(report)
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
    """The ``fastsmi`` argument parser with every sub-command."""
    formatter = _HelpFormatter
    parser = argparse.ArgumentParser(prog="fastsmi", description="Fast, seeded Sliced Mutual Information.",
                                     epilog=_EPILOG, formatter_class=formatter)
    parser.add_argument("--version", action="version", version=f"fastsmi {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    est = sub.add_parser("estimate", help="SMI between two sample files (.npy, .npz, .csv)", epilog=_EPILOG,
                         formatter_class=formatter,
                         description="Estimate SMI between the rows of two sample files, or between two "
                                     "column ranges of one file. Only the selected columns of a text file "
                                     "are read, so other columns may hold text.")
    _file_options(est)
    _common_options(est)
    _data_options(est)
    est.add_argument("--sampling-error", choices=SAMPLING_ERRORS, default=None,
                     help="how the interval's sampling error is computed (default: 'influence' for KSG on Numba, "
                          "else none); 'average' is the calibrated one, at 11 times the cost (see smi's "
                          "sampling_error)")
    est.set_defaults(func=_cmd_estimate)

    tst = sub.add_parser("test", help="permutation test of independence with SMI", epilog=_EPILOG,
                         formatter_class=formatter,
                         description="Test whether the rows of X and Y are independent: the p-value of SMI "
                                     "against its permutation null (Y's rows permuted, same directions), "
                                     "p = (1 + #{null >= SMI}) / (1 + B). Same file options as estimate.")
    _file_options(tst)
    _common_options(tst, default_projections=DEFAULT_TEST_PROJECTIONS)
    _data_options(tst)
    tst.add_argument("-B", "--permutations", type=int, default=DEFAULT_PERMUTATIONS,
                     help=f"permutation replicates (default {DEFAULT_PERMUTATIONS})")
    tst.add_argument("--stop-after", type=int, default=None,
                     help="Besag-Clifford sequential stopping after this many replicates >= SMI (e.g. 10)")
    tst.set_defaults(func=_cmd_test)

    demo = sub.add_parser("demo", help="estimate SMI on Gaussian data with known exact SMI", epilog=_EPILOG,
                          formatter_class=formatter)
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
    for command in sub.choices.values():  # every sub-command documents the exit status
        if command.epilog is None:
            command.epilog, command.formatter_class = _EPILOG, _HelpFormatter
    return parser


def _file_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("x", help="samples of X (rows are samples): .npy, .npz, .csv, .tsv or .txt")
    p.add_argument("y", nargs="?", help="samples of Y (omit to take both from X's file with --x-cols/--y-cols)")
    p.add_argument("--x-key", help="array name inside an .npz for X")
    p.add_argument("--y-key", help="array name inside an .npz for Y")
    p.add_argument("--x-cols", help="columns of X, 0-based: 0:10, 1,3,5 or -1")
    p.add_argument("--y-cols", help="columns of Y")
    p.add_argument("--delimiter", default=None,
                   help="text delimiter (default: , for .csv, tab for .tsv, spaces for a .txt without commas; "
                        "'whitespace' for runs of spaces)")
    p.add_argument("--skip-header", type=int, default=0, help="header rows to skip in text files")


def _data_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--y-discrete", action="store_true", help="Y holds integer class labels")
    p.add_argument("--method", default="sphere", choices=METHODS, help="direction sampling")
    p.add_argument("--backend", default="auto", choices=BACKENDS)
    p.add_argument("--transform", default=None, choices=TRANSFORMS,
                   help="per-slice marginal transform: 'rank' uses the normal scores of each projected variable's "
                        "ranks (default 'none')")


def _common_options(p: argparse.ArgumentParser, *, default_projections: int = 1000,
                    default_seed: Optional[int] = None) -> None:
    p.add_argument("-m", "--n-projections", type=int, default=default_projections,
                   help=f"number of slices (default {default_projections})")
    p.add_argument("--estimator", default="ksg", choices=ESTIMATORS)
    p.add_argument("-k", type=int, default=5, help="neighbours (default 5)")
    p.add_argument("--seed", type=int, default=default_seed, help="random seed (default: fresh, reported)")
    p.add_argument("-j", "--n-jobs", type=int, default=None, help="threads (default: all cores)")
    p.add_argument("--json", action="store_true",
                   help="print one strict JSON object instead of text (NaN and infinities as null)")


def _error(command: Optional[str], message: Any) -> None:
    prog = "fastsmi" if not command else f"fastsmi {command}"
    text = " ".join(str(message).split()) or type(message).__name__
    sys.stderr.write(f"{prog}: error: {text}\n")


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command line; return the exit status (see :data:`EXIT_CODES`).

    Examples
    --------
    >>> main(["estimate", "missing.npy", "y.npy"])
    2
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help/--version (0) or a usage error (2), already printed
        return exc.code if isinstance(exc.code, int) else 2
    if getattr(args, "func", None) is None:
        parser.print_help(sys.stderr)
        return 2
    command = getattr(args, "command", None)
    try:
        return int(args.func(args) or 0)
    except (UsageError, ValueError, TypeError, ImportError) as exc:  # ImportError: a backend or extra is missing
        _error(command, exc)
        return 2
    except MemoryError:
        _error(command, "out of memory; use fewer samples or projections (-m)")
        return 1
    except OSError as exc:
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        _error(command, f"{exc.strerror or exc}{where}")
        return 1
    except KeyboardInterrupt:
        _error(command, "interrupted")
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
