"""Driver of the MNIST information-plane experiment, with checkpoints and resume.

:func:`run_experiment` trains the seed's classifier and, at the epochs of the
measurement schedule, measures the information plane of its six layers on the
test images (SMI, and AE+MI with an autoencoder trained first). Everything
goes to an output folder:

``infoplane.csv``
    Tidy table: ``epoch, layer, quantity, estimate, stderr, seconds``.
``training.csv``
    Per epoch: losses, accuracies, and training / evaluation wall times.
``infoplane.png``, ``training_curves.png``
    The information plane (AE+MI row, SMI row, one panel per layer, coloured
    by epoch) and the loss / accuracy curves, redrawn at every measurement.
``checkpoint.pt``
    Model, optimizer and RNG states, history and measurements, written
    atomically after every measurement. Running again with the same output
    folder resumes after the last finished measurement.
``autoencoder.pt``, ``config.json``
    The trained autoencoder and the configuration of the run.
``autoencoder.partial.pt``
    The autoencoder's training state after its last finished epoch, while it
    trains: a run killed during the autoencoder's training resumes from there.

Randomness: all seeds derive from one :class:`numpy.random.SeedSequence`
(``seed``). Each epoch's shuffle, dropout and noise are seeded by
``(seed, epoch)``, each measurement by ``(seed, epoch)`` too, so a resumed run
reproduces the uninterrupted one exactly (for the same thread count).
"""
from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import logging
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from . import data as mnist_data
from .autoencoder import ConvAutoencoder, encode, train_autoencoder
from .infoplane import _child, draw_directions, measure_infoplane, seeded_torch
from .model import SeedClassifier, evaluate, seed_layers, torch_seed, train_epoch

__all__ = [
    "SEED_MEASURE_EPOCHS",
    "ExperimentConfig",
    "ExperimentResult",
    "quick_config",
    "run_experiment",
]

logger = logging.getLogger(__name__)

SEED_MEASURE_EPOCHS: tuple[int, ...] = tuple(range(2, 50, 2)) + tuple(range(50, 300, 10))
"""The seed's measurement epochs: 2, 4, ..., 48, then 50, 60, ..., 290 (49 points)."""

_CHECKPOINT_VERSION = 1
_AE_ARCHITECTURE = "seed-conv-ae-v1"
# Fields that may differ between an interrupted run and its resumption.
# A run can also be extended: more epochs, or a schedule that adds later measurements.
_RESUMABLE_FIELDS = {
    "out", "progress", "max_measurements", "threads", "n_jobs", "resume", "figures", "ae_cache",
    "epochs", "measure_epochs",
}

# Keys of the seed sequence's children.
_KEY_INIT, _KEY_AE, _KEY_XDIR, _KEY_TRAIN, _KEY_EVAL, _KEY_MEASURE = range(6)


@dataclass
class ExperimentConfig:
    """Every setting of the experiment; defaults are the seed's.

    Attributes
    ----------
    out : str
        Output folder.
    dataset : str
        ``"mnist"`` (the real data, see :func:`fastsmi.mnist.data.load_mnist`) or
        ``"digits"`` (scikit-learn's 8x8 digits padded to 28x28; offline demo).
    data_path : str or None
        User copy of MNIST (npz file, or folder of idx or CSV files).
    n_train, n_test : int or None
        Use only the first examples of each split (``None``: all).
    epochs, batch_size, lr, eval_batch_size : training schedule (Adam, NLL loss).
    measure_epochs : tuple of int
        Epochs after which the information plane is measured.
    n_projections, estimator, k : SMI settings passed to :func:`fastsmi.smi`.
    method : str
        How directions are drawn: ``"sphere"`` (independent uniform) or
        ``"orthonormal"`` (the seed's stacked QR blocks).
    smi, aemi : bool
        Which variants to measure.
    latent_dim, pca_components : AE+MI compression sizes.
    ae_epochs, ae_batch_size, ae_lr, ae_latent_noise : autoencoder training.
    channels, hidden, dropout, noise, dense_dropout : classifier architecture.
    seed : int
        Root seed.
    threads : int or None
        ``torch.set_num_threads`` for the run (``None``: leave as is).
    n_jobs, backend : core parallelism settings.
    measure_batch_size : int
        Forward-pass batch size of the measurement.
    progress : bool or None
        tqdm progress bars; ``None``: only when stderr is a terminal.
    max_measurements : int or None
        Stop after this many measurements in this invocation (the run can be
        resumed later); ``None``: run to the end.
    resume : bool
        Resume from ``out/checkpoint.pt`` if present (else start afresh, overwriting).
    figures : bool
        Write the PNG figures.
    channels_last : bool
        Run the convolutions in PyTorch's channels-last memory format (about 1.5-2x
        faster on CPU; the numbers differ from the default layout only through the
        order in which random numbers are drawn).
    ae_cache : bool
        Also keep the trained autoencoder in the user cache
        (``$FASTSMI_CACHE/autoencoders``) and reuse it in later runs with the
        same data and autoencoder settings.
    """

    out: str = "mnist-infoplane"
    dataset: str = "mnist"
    data_path: str | None = None
    n_train: int | None = None
    n_test: int | None = None
    epochs: int = 300
    batch_size: int = 1024
    lr: float = 1e-5
    eval_batch_size: int = 2048
    measure_epochs: tuple[int, ...] = SEED_MEASURE_EPOCHS
    n_projections: int = 1000
    estimator: str = "ksg"
    k: int = 5
    method: str = "sphere"
    smi: bool = True
    aemi: bool = True
    latent_dim: int = 4
    pca_components: int = 4
    ae_epochs: int = 200
    ae_batch_size: int = 2048
    ae_lr: float = 1e-3
    ae_latent_noise: float = 0.1
    channels: tuple[int, int, int] = (8, 16, 32)
    hidden: int = 32
    dropout: float = 0.1
    noise: float = 1e-3
    dense_dropout: bool = False
    seed: int = 0
    threads: int | None = None
    n_jobs: int | None = None
    backend: str = "auto"
    measure_batch_size: int = 2048
    progress: bool | None = None
    max_measurements: int | None = None
    resume: bool = True
    figures: bool = True
    channels_last: bool = True
    ae_cache: bool = True

    def __post_init__(self) -> None:
        self.measure_epochs = tuple(sorted({int(e) for e in self.measure_epochs}))
        self.channels = tuple(int(c) for c in self.channels)
        if self.method not in ("sphere", "orthonormal"):
            raise ValueError(f"method must be 'sphere' or 'orthonormal', got {self.method!r}")
        if self.dataset not in ("mnist", "digits"):
            raise ValueError(f"dataset must be 'mnist' or 'digits', got {self.dataset!r}")
        if self.epochs < 0:
            raise ValueError(f"epochs must be >= 0, got {self.epochs}")
        for name in ("batch_size", "eval_batch_size", "n_projections", "k", "measure_batch_size",
                     "latent_dim", "pca_components", "ae_batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.measure_epochs and self.measure_epochs[0] < 0:
            raise ValueError("measure_epochs must be non-negative (0 measures the untrained network)")
        if not (self.smi or self.aemi):
            raise ValueError("enable at least one of smi and aemi")
        if self.max_measurements is not None and self.max_measurements < 1:
            raise ValueError(f"max_measurements must be positive or None, got {self.max_measurements}")

    def to_json(self) -> dict:
        """Return the settings as a JSON-serialisable dict."""
        d = dataclasses.asdict(self)
        d["measure_epochs"] = list(self.measure_epochs)
        d["channels"] = list(self.channels)
        return d


def quick_config(out: str = "mnist-infoplane-quick", **overrides) -> ExperimentConfig:
    """Settings of ``fastsmi mnist --quick``: the whole pipeline in a few minutes.

    6,000 training and 2,000 test images, 6 epochs with a larger learning rate
    and smaller batches (1e-3 and 128, so that the network learns in so few
    epochs), measurements at epochs
    0, 2, 4, 6 with 200 directions, and a 5-epoch autoencoder.

    Parameters
    ----------
    out : str, optional
        Output folder.
    **overrides
        Any :class:`ExperimentConfig` field.

    Returns
    -------
    ExperimentConfig

    Examples
    --------
    >>> quick_config(epochs=2, measure_epochs=(2,)).epochs
    2
    """
    settings = dict(
        out=out, n_train=6000, n_test=2000, epochs=6, batch_size=128, lr=1e-3, measure_epochs=(0, 2, 4, 6),
        n_projections=200, ae_epochs=5,
    )
    settings.update(overrides)
    return ExperimentConfig(**settings)


@dataclass
class ExperimentResult:
    """What :func:`run_experiment` produced.

    Attributes
    ----------
    records : list of dict
        The information-plane table (``epoch, layer, quantity, estimate, stderr, seconds``).
    history : list of dict
        Per-epoch losses, accuracies and wall times.
    completed : bool
        ``False`` when stopped early by ``max_measurements``.
    out : pathlib.Path
        The output folder.
    timings : dict
        Wall seconds of this invocation: ``data``, ``autoencoder``, ``train``,
        ``evaluate``, ``measure``, ``total``.
    """

    records: list[dict] = field(default_factory=list)
    history: list[dict] = field(default_factory=list)
    completed: bool = False
    out: Path = Path(".")
    timings: dict = field(default_factory=dict)


def _load_data(config: ExperimentConfig) -> mnist_data.MNISTData:
    if config.dataset == "digits":
        data = mnist_data.load_digits_as_mnist(seed=config.seed)
    else:
        data = mnist_data.load_mnist(config.data_path)
    return data.subset(n_train=config.n_train, n_test=config.n_test)


def _atomic_torch_save(obj, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _write_csv(rows: list[dict], path: Path, columns: list[str]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({c: (repr(v) if isinstance(v, float) else v) for c, v in row.items()})
    os.replace(tmp, path)


INFOPLANE_COLUMNS = ["epoch", "layer", "quantity", "estimate", "stderr", "seconds"]
HISTORY_COLUMNS = [
    "epoch", "train_loss", "train_accuracy", "test_loss", "test_accuracy", "train_seconds", "eval_seconds",
]


def _check_compatible(saved: dict, config: ExperimentConfig) -> None:
    current = config.to_json()
    diffs = [
        k for k in current
        if k not in _RESUMABLE_FIELDS and k in saved and saved[k] != current[k]
    ]
    if diffs:
        raise ValueError(
            f"the checkpoint in {config.out} was written with different settings ({', '.join(diffs)}); "
            "use another output folder, the same settings, or resume=False (--no-resume) to start afresh"
        )


def _progress_enabled(config: ExperimentConfig) -> bool:
    if config.progress is not None:
        return bool(config.progress)
    return sys.stderr.isatty()


def run_experiment(config: ExperimentConfig) -> ExperimentResult:
    """Train the classifier and measure its information plane on the schedule.

    Parameters
    ----------
    config : ExperimentConfig
        All settings (see :func:`quick_config` for a small run).

    Returns
    -------
    ExperimentResult
        Table, history, completion flag, output folder and timings; the same
        content is written to ``config.out``.

    Raises
    ------
    fastsmi.mnist.data.MNISTNotFoundError
        If ``dataset="mnist"`` and no copy of MNIST is found.
    ValueError
        If ``config.out`` holds a checkpoint of a run with other settings, or a damaged one.

    Examples
    --------
    >>> import tempfile
    >>> cfg = ExperimentConfig(out=tempfile.mkdtemp(), dataset="digits", n_train=64, n_test=48,
    ...                        epochs=1, measure_epochs=(1,), n_projections=8, aemi=False,
    ...                        channels=(2, 2, 2), hidden=4, figures=False, progress=False)
    >>> res = run_experiment(cfg)  # doctest: +SKIP
    >>> res.completed  # doctest: +SKIP
    True
    """
    t_start = time.perf_counter()
    timings = dict(data=0.0, autoencoder=0.0, train=0.0, evaluate=0.0, measure=0.0)
    if config.threads is not None:
        torch.set_num_threads(int(config.threads))
    out = Path(config.out).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    ss = np.random.SeedSequence(config.seed)
    ckpt_path = out / "checkpoint.pt"

    _check_estimator(config)
    t0 = time.perf_counter()
    data = _load_data(config)
    x_train = torch.from_numpy(mnist_data.normalize_images(data.x_train))
    y_train = torch.from_numpy(data.y_train)
    x_test = torch.from_numpy(mnist_data.normalize_images(data.x_test))
    if config.channels_last:
        x_train = x_train.contiguous(memory_format=torch.channels_last)
        x_test = x_test.contiguous(memory_format=torch.channels_last)
    y_test_np = data.y_test
    y_test = torch.from_numpy(y_test_np)
    image_size = data.x_train.shape[-1]
    timings["data"] = time.perf_counter() - t0
    progress = _progress_enabled(config)

    # Classifier and optimizer (initialised from a seeded, isolated generator).
    with seeded_torch(_child(ss, _KEY_INIT)):
        model = SeedClassifier(
            image_size=image_size, channels=config.channels, hidden=config.hidden,
            dropout=config.dropout, noise=config.noise, dense_dropout=config.dense_dropout,
        )
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    history: list[dict] = []
    records: list[dict] = []
    start_epoch = 0  # epochs already trained
    measured: set[int] = set()

    if config.resume and ckpt_path.is_file():
        try:
            ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=True)
        except Exception as exc:  # cut, corrupted or foreign: torch raises several types
            detail = (str(exc).strip().splitlines() or [""])[0]
            raise ValueError(
                f"{ckpt_path} cannot be read ({type(exc).__name__}: {detail}); "
                "it is damaged or not a fastsmi checkpoint: use resume=False (--no-resume) to start afresh, "
                "or another output folder"
            ) from None
        if not isinstance(ckpt, dict) or ckpt.get("version") != _CHECKPOINT_VERSION:
            version = ckpt.get("version") if isinstance(ckpt, dict) else None
            raise ValueError(f"{ckpt_path} has an unknown checkpoint version {version!r}; use resume=False "
                             "(--no-resume) to start afresh, or another output folder")
        _check_compatible(ckpt["config"], config)
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        torch.set_rng_state(ckpt["torch_rng"])
        history, records = list(ckpt["history"]), list(ckpt["records"])
        start_epoch = int(ckpt["epoch"])
        measured = set(int(e) for e in ckpt["measured"])
        if start_epoch > config.epochs:
            raise ValueError(
                f"the checkpoint in {out} is at epoch {start_epoch}, beyond epochs={config.epochs}; "
                "ask for at least as many epochs, or use resume=False (--no-resume) to start afresh"
            )
        logger.info("resuming %s after epoch %d (%d measurements done)", out, start_epoch, len(measured))
    with open(out / "config.json", "w") as fh:
        json.dump(config.to_json(), fh, indent=2)

    # Autoencoder for AE+MI: trained once, reused on resume.
    x_codes = None
    if config.aemi:
        t0 = time.perf_counter()
        with seeded_torch(_child(ss, _KEY_AE)):
            ae = ConvAutoencoder(
                latent_dim=config.latent_dim, image_size=image_size, latent_noise=config.ae_latent_noise
            )
            if config.channels_last:
                ae = ae.to(memory_format=torch.channels_last)
            signature = _ae_signature(config)
            ae_path = out / "autoencoder.pt"
            candidates = [ae_path] if config.resume else []
            shared = _ae_cache_path(signature) if config.ae_cache else None
            if shared is not None:
                candidates.append(shared)
            state, source = _load_autoencoder(candidates, signature)
            if state is not None:
                ae.load_state_dict(state["state"])
                logger.info("autoencoder loaded (trained before)")
            else:
                gen = torch.Generator().manual_seed(torch_seed(_child(ss, _KEY_AE, 1)))
                partial = out / "autoencoder.partial.pt"
                if not config.resume:
                    partial.unlink(missing_ok=True)
                losses = train_autoencoder(
                    ae, x_train, epochs=config.ae_epochs, batch_size=config.ae_batch_size,
                    lr=config.ae_lr, generator=gen, progress=progress, checkpoint=partial, signature=signature,
                )
                state = {"state": ae.state_dict(), "config": signature, "losses": losses}
            if source != ae_path:
                _atomic_torch_save(state, ae_path)
            (out / "autoencoder.partial.pt").unlink(missing_ok=True)
            if shared is not None and not shared.is_file():
                try:
                    shared.parent.mkdir(parents=True, exist_ok=True)
                    _atomic_torch_save(state, shared)
                except OSError:
                    logger.warning("could not write the autoencoder cache %s", shared)
        x_codes = encode(ae, x_test, batch_size=config.measure_batch_size)
        timings["autoencoder"] = time.perf_counter() - t0

    directions_x = None
    if config.smi:
        directions_x = draw_directions(
            config.n_projections, int(np.prod(x_test.shape[1:])), seed=_child(ss, _KEY_XDIR),
            method=config.method,
        )
    layers, transforms = seed_layers()
    schedule = [e for e in config.measure_epochs if e <= config.epochs]
    if start_epoch > 0 and 0 not in measured:
        schedule = [e for e in schedule if e != 0]  # the untrained network is gone
    n_done_here = 0

    def measure(epoch: int) -> None:
        t0 = time.perf_counter()
        res = measure_infoplane(
            model, x_test, y_test_np, layers=layers, transforms=transforms,
            n_projections=config.n_projections, estimator=config.estimator, k=config.k,
            seed=_child(ss, _KEY_MEASURE, epoch), directions_x=directions_x, method=config.method,
            x_codes=x_codes,
            n_components=config.pca_components, smi=config.smi, batch_size=config.measure_batch_size,
            n_jobs=config.n_jobs, backend=config.backend,
        )
        for row in res.records:
            records.append({"epoch": epoch, **row})
        measured.add(epoch)
        timings["measure"] += time.perf_counter() - t0
        logger.info("epoch %d: measured in %.1f s", epoch, time.perf_counter() - t0)

    def save_checkpoint(epoch: int) -> None:
        current["saved"] = epoch
        _atomic_torch_save(
            {
                "version": _CHECKPOINT_VERSION,
                "config": config.to_json(),
                "epoch": epoch,
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "torch_rng": torch.get_rng_state(),
                "history": history,
                "records": records,
                "measured": sorted(measured),
            },
            ckpt_path,
        )
        _write_csv(records, out / "infoplane.csv", INFOPLANE_COLUMNS)
        _write_csv(history, out / "training.csv", HISTORY_COLUMNS)
        if config.figures:
            write_figures()

    def write_figures() -> None:
        from .plots import plot_infoplane, plot_training_curves

        if records:
            plot_infoplane(records, out / "infoplane.png",
                           title=f"{config.dataset}: information plane (m = {config.n_projections})")
        if history:
            plot_training_curves(history, out / "training_curves.png")

    current = {"epoch": start_epoch, "saved": start_epoch if ckpt_path.is_file() and config.resume else None}
    stopped = False
    if 0 in schedule and 0 not in measured and start_epoch == 0:
        measure(0)
        save_checkpoint(0)
        n_done_here += 1
        stopped = config.max_measurements is not None and n_done_here >= config.max_measurements

    epoch_iter = range(start_epoch + 1, config.epochs + 1)
    bar = None
    if progress and not stopped:
        from tqdm.auto import tqdm

        bar = tqdm(total=config.epochs, initial=start_epoch, desc="mnist", unit="epoch")
    try:
        for epoch in epoch_iter:
            if stopped:
                break
            t0 = time.perf_counter()
            with seeded_torch(_child(ss, _KEY_TRAIN, epoch)):
                gen = torch.Generator().manual_seed(torch_seed(_child(ss, _KEY_TRAIN, epoch, 1)))
                train_loss, train_acc = train_epoch(
                    model, optimizer, x_train, y_train, batch_size=config.batch_size, generator=gen
                )
            t_train = time.perf_counter() - t0
            current["epoch"] = epoch
            t0 = time.perf_counter()
            with seeded_torch(_child(ss, _KEY_EVAL, epoch)):
                test_loss, test_acc = evaluate(model, x_test, y_test, batch_size=config.eval_batch_size)
            t_eval = time.perf_counter() - t0
            timings["train"] += t_train
            timings["evaluate"] += t_eval
            history.append(
                dict(epoch=epoch, train_loss=train_loss, train_accuracy=train_acc, test_loss=test_loss,
                     test_accuracy=test_acc, train_seconds=t_train, eval_seconds=t_eval)
            )
            logger.info(
                "epoch %d: train loss %.4f, test loss %.4f, test accuracy %.4f (%.1f s)",
                epoch, train_loss, test_loss, test_acc, t_train + t_eval,
            )
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{train_loss:.3f}", acc=f"{test_acc:.3f}")
            if epoch in schedule and epoch not in measured:
                measure(epoch)
                save_checkpoint(epoch)
                n_done_here += 1
                if config.max_measurements is not None and n_done_here >= config.max_measurements:
                    stopped = True
    finally:
        if bar is not None:
            bar.close()

    completed = current["epoch"] == config.epochs and all(e in measured for e in schedule)
    if completed and current["saved"] != config.epochs:
        save_checkpoint(config.epochs)
    if config.figures:
        write_figures()
    timings["total"] = time.perf_counter() - t_start
    return ExperimentResult(records=records, history=history, completed=completed, out=out, timings=timings)


def _check_estimator(config: ExperimentConfig) -> None:
    """Fail before hours of training if the estimator settings are rejected by the core."""
    import fastsmi

    rng = np.random.default_rng(0)
    a = rng.standard_normal((4 * config.k + 20, 2))
    labels = np.arange(a.shape[0]) % 2
    common = dict(estimator=config.estimator, k=config.k, n_jobs=1, backend=config.backend, seed=0)
    if config.smi:
        fastsmi.smi(a, a[:, ::-1] + a, n_projections=2, method=config.method, progress=False, **common)
        fastsmi.smi(a, labels, n_projections=2, y_discrete=True, progress=False, **common)
    if config.aemi:
        fastsmi.mi(a, a + rng.standard_normal(a.shape), estimator=config.estimator, k=config.k, n_jobs=1)


def _ae_signature(config: ExperimentConfig) -> dict:
    keys = ("dataset", "data_path", "n_train", "latent_dim", "ae_epochs", "ae_batch_size", "ae_lr",
            "ae_latent_noise", "seed", "channels_last")
    return {"architecture": _AE_ARCHITECTURE, **{k: getattr(config, k) for k in keys}}


def _ae_cache_path(signature: dict) -> Path:
    digest = hashlib.sha256(json.dumps(signature, sort_keys=True).encode()).hexdigest()[:16]
    return mnist_data.default_cache_dir() / "autoencoders" / f"autoencoder-{digest}.pt"


def _load_autoencoder(paths: list[Path], signature: dict) -> tuple[dict | None, Path | None]:
    for path in paths:
        if not path.is_file():
            continue
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception:  # a corrupt or foreign file: train afresh
            logger.warning("ignoring unreadable autoencoder file %s", path)
            continue
        if state.get("config") == signature:
            return state, path
    return None, None


def summarize(result: ExperimentResult) -> str:
    """One-paragraph text summary of a run (used by the command line).

    Parameters
    ----------
    result : ExperimentResult

    Returns
    -------
    str

    Examples
    --------
    >>> summarize(ExperimentResult(timings={"total": 1.0}))
    'no epochs trained; 0 measurements; total 1.0 s'
    """
    parts = []
    if result.history:
        last = result.history[-1]
        parts.append(
            f"epoch {last['epoch']}: test accuracy {last['test_accuracy']:.4f}, "
            f"test loss {last['test_loss']:.4f}"
        )
    else:
        parts.append("no epochs trained")
    n_meas = len({r["epoch"] for r in result.records})
    parts.append(f"{n_meas} measurements")
    t = result.timings
    extra = ", ".join(
        f"{k} {t[k]:.1f} s" for k in ("data", "autoencoder", "train", "evaluate", "measure") if t.get(k)
    )
    parts.append(f"total {t.get('total', math.nan):.1f} s" + (f" ({extra})" if extra else ""))
    return "; ".join(parts)
