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
import json
import logging
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

import fastsmi

from ..projections import child_seed
from . import data as mnist_data
from .autoencoder import ConvAutoencoder, encode, train_autoencoder
from .checkpoint import (
    ae_cache_path,
    ae_signature,
    atomic_torch_save,
    load_autoencoder,
    load_checkpoint,
    save_checkpoint,
)
from .config import SEED_MEASURE_EPOCHS, ExperimentConfig, quick_config
from .infoplane import draw_directions, measure_infoplane, seeded_torch
from .model import SeedClassifier, evaluate, seed_layers, torch_seed, train_epoch
from .plots import plot_infoplane, plot_training_curves

__all__ = [
    "SEED_MEASURE_EPOCHS",
    "ExperimentConfig",
    "ExperimentResult",
    "quick_config",
    "run_experiment",
    "summarize",
]

logger = logging.getLogger(__name__)

# Keys of the seed sequence's children.
_KEY_INIT, _KEY_AE, _KEY_XDIR, _KEY_TRAIN, _KEY_EVAL, _KEY_MEASURE = range(6)

INFOPLANE_COLUMNS = ["epoch", "layer", "quantity", "estimate", "stderr", "seconds"]
HISTORY_COLUMNS = [
    "epoch", "train_loss", "train_accuracy", "test_loss", "test_accuracy", "train_seconds", "eval_seconds",
]


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



@dataclass
class _Data:
    """The run's images and labels as tensors (``y_test_np``: the test labels for the estimators)."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    y_test_np: np.ndarray
    image_size: int


@dataclass
class _State:
    """What a checkpoint stores, and where the loop stands.

    ``epoch`` is the last trained epoch, ``saved`` the epoch of the last checkpoint
    written or resumed from (None: none yet).
    """

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    history: list = field(default_factory=list)
    records: list = field(default_factory=list)
    measured: set = field(default_factory=set)
    epoch: int = 0
    saved: int | None = None


@dataclass
class _Probe:
    """The fixed inputs of every measurement: layers, their transforms, X's directions and codes."""

    layers: Any
    transforms: Any
    directions_x: np.ndarray | None
    x_codes: Any


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
    data = _prepare_data(config)
    timings["data"] = time.perf_counter() - t0
    progress = _progress_enabled(config)

    state = _new_state(config, ss, data.image_size)
    if config.resume and ckpt_path.is_file():
        _restore(state, load_checkpoint(ckpt_path, config))
        logger.info("resuming %s after epoch %d (%d measurements done)", out, state.epoch, len(state.measured))
    with open(out / "config.json", "w") as fh:
        json.dump(config.to_json(), fh, indent=2)

    x_codes = None
    if config.aemi:
        t0 = time.perf_counter()
        x_codes = encode(_autoencoder(config, ss, data, out, progress), data.x_test,
                         batch_size=config.measure_batch_size)
        timings["autoencoder"] = time.perf_counter() - t0
    directions_x = _directions_x(config, ss, data)
    probe = _Probe(*seed_layers(), directions_x=directions_x, x_codes=x_codes)

    schedule = _schedule(config, state)
    done_here = 0  # measurements of this invocation

    def measure_and_save(epoch: int) -> bool:
        """Measure and checkpoint after ``epoch``; True when ``max_measurements`` says stop."""
        nonlocal done_here
        timings["measure"] += _measure(epoch, state, data, probe, config, ss)
        _save(epoch, state, config, out, ckpt_path)
        done_here += 1
        return config.max_measurements is not None and done_here >= config.max_measurements

    stopped = False
    if 0 in schedule and 0 not in state.measured and state.epoch == 0:
        stopped = measure_and_save(0)
    if not stopped:
        bar = _epoch_bar(config, state.epoch) if progress else None
        try:
            for epoch in range(state.epoch + 1, config.epochs + 1):
                row = _train_epoch(epoch, state, data, config, ss, timings)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{row['train_loss']:.3f}", acc=f"{row['test_accuracy']:.3f}")
                if epoch in schedule and epoch not in state.measured and measure_and_save(epoch):
                    break
        finally:
            if bar is not None:
                bar.close()

    completed = state.epoch == config.epochs and all(e in state.measured for e in schedule)
    if completed and state.saved != config.epochs:
        _save(config.epochs, state, config, out, ckpt_path)
    if config.figures:
        _write_figures(state, config, out)
    timings["total"] = time.perf_counter() - t_start
    return ExperimentResult(records=state.records, history=state.history, completed=completed, out=out,
                            timings=timings)


# --------------------------------------------------------------------------------------
# the steps of a run
# --------------------------------------------------------------------------------------
def _check_estimator(config: ExperimentConfig) -> None:
    """Fail before hours of training if the estimator settings are rejected by the core."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((4 * config.k + 20, 2))
    labels = np.arange(a.shape[0]) % 2
    common = dict(estimator=config.estimator, k=config.k, n_jobs=1, backend=config.backend, seed=0)
    if config.smi:
        fastsmi.smi(a, a[:, ::-1] + a, n_projections=2, method=config.method, progress=False, **common)
        fastsmi.smi(a, labels, n_projections=2, y_discrete=True, progress=False, **common)
    if config.aemi:
        fastsmi.mi(a, a + rng.standard_normal(a.shape), estimator=config.estimator, k=config.k, n_jobs=1)



def _load_data(config: ExperimentConfig) -> mnist_data.MNISTData:
    if config.dataset == "digits":
        data = mnist_data.load_digits_as_mnist(seed=config.seed)
    else:
        data = mnist_data.load_mnist(config.data_path)
    return data.subset(n_train=config.n_train, n_test=config.n_test)


def _prepare_data(config: ExperimentConfig) -> _Data:
    """Load the images, normalized, as tensors (channels-last if asked)."""
    data = _load_data(config)
    x_train = torch.from_numpy(mnist_data.normalize_images(data.x_train))
    x_test = torch.from_numpy(mnist_data.normalize_images(data.x_test))
    if config.channels_last:
        x_train = x_train.contiguous(memory_format=torch.channels_last)
        x_test = x_test.contiguous(memory_format=torch.channels_last)
    return _Data(x_train=x_train, y_train=torch.from_numpy(data.y_train), x_test=x_test,
                 y_test=torch.from_numpy(data.y_test), y_test_np=data.y_test, image_size=data.x_train.shape[-1])


def _progress_enabled(config: ExperimentConfig) -> bool:
    if config.progress is not None:
        return bool(config.progress)
    return sys.stderr.isatty()


def _new_state(config: ExperimentConfig, ss: np.random.SeedSequence, image_size: int) -> _State:
    """The classifier (initialised from a seeded, isolated generator) and its optimizer."""
    with seeded_torch(child_seed(ss, _KEY_INIT)):
        model = SeedClassifier(
            image_size=image_size, channels=config.channels, hidden=config.hidden,
            dropout=config.dropout, noise=config.noise, dense_dropout=config.dense_dropout,
        )
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)
    return _State(model=model, optimizer=torch.optim.Adam(model.parameters(), lr=config.lr))


def _restore(state: _State, ckpt: dict) -> None:
    """Continue from a checkpoint: weights, optimizer, torch RNG, history and measurements."""
    state.model.load_state_dict(ckpt["model"])
    state.optimizer.load_state_dict(ckpt["optimizer"])
    torch.set_rng_state(ckpt["torch_rng"])
    state.history, state.records = list(ckpt["history"]), list(ckpt["records"])
    state.epoch = state.saved = int(ckpt["epoch"])
    state.measured = set(int(e) for e in ckpt["measured"])


def _autoencoder(config: ExperimentConfig, ss: np.random.SeedSequence, data: _Data, out: Path,
                 progress: bool) -> ConvAutoencoder:
    """The autoencoder of AE+MI: loaded if trained before (this run or the user cache), else trained.

    It is stored as ``out/autoencoder.pt`` and, with ``ae_cache``, in the user cache.
    """
    with seeded_torch(child_seed(ss, _KEY_AE)):
        ae = ConvAutoencoder(latent_dim=config.latent_dim, image_size=data.image_size,
                             latent_noise=config.ae_latent_noise)
        if config.channels_last:
            ae = ae.to(memory_format=torch.channels_last)
        signature = ae_signature(config)
        ae_path = out / "autoencoder.pt"
        candidates = [ae_path] if config.resume else []
        shared = ae_cache_path(signature) if config.ae_cache else None
        if shared is not None:
            candidates.append(shared)
        state, source = load_autoencoder(candidates, signature)
        if state is not None:
            ae.load_state_dict(state["state"])
            logger.info("autoencoder loaded (trained before)")
        else:
            gen = torch.Generator().manual_seed(torch_seed(child_seed(ss, _KEY_AE, 1)))
            partial = out / "autoencoder.partial.pt"
            if not config.resume:
                partial.unlink(missing_ok=True)
            losses = train_autoencoder(
                ae, data.x_train, epochs=config.ae_epochs, batch_size=config.ae_batch_size,
                lr=config.ae_lr, generator=gen, progress=progress, checkpoint=partial, signature=signature,
            )
            state = {"state": ae.state_dict(), "config": signature, "losses": losses}
        _store_autoencoder(state, source, ae_path, shared)
    return ae


def _store_autoencoder(state: dict, source: Path | None, ae_path: Path, shared: Path | None) -> None:
    """Keep the autoencoder in the run's folder and the user cache; drop the partial training state."""
    if source != ae_path:
        atomic_torch_save(state, ae_path)
    ae_path.with_name("autoencoder.partial.pt").unlink(missing_ok=True)
    if shared is not None and not shared.is_file():
        try:
            shared.parent.mkdir(parents=True, exist_ok=True)
            atomic_torch_save(state, shared)
        except OSError:
            logger.warning("could not write the autoencoder cache %s", shared)


def _directions_x(config: ExperimentConfig, ss: np.random.SeedSequence, data: _Data) -> np.ndarray | None:
    """The directions of X, drawn once and shared by every measurement (None without SMI)."""
    if not config.smi:
        return None
    return draw_directions(config.n_projections, int(np.prod(data.x_test.shape[1:])), seed=child_seed(ss, _KEY_XDIR),
                           method=config.method)


def _schedule(config: ExperimentConfig, state: _State) -> list[int]:
    """The epochs to measure at: within ``epochs``, and not 0 once training has started without it."""
    schedule = [e for e in config.measure_epochs if e <= config.epochs]
    if state.epoch > 0 and 0 not in state.measured:
        schedule = [e for e in schedule if e != 0]  # the untrained network is gone
    return schedule


def _epoch_bar(config: ExperimentConfig, start_epoch: int) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=config.epochs, initial=start_epoch, desc="mnist", unit="epoch")


def _train_epoch(epoch: int, state: _State, data: _Data, config: ExperimentConfig, ss: np.random.SeedSequence,
                 timings: dict) -> dict:
    """Train and evaluate one epoch (each seeded by ``(seed, epoch)``); return its history row."""
    t0 = time.perf_counter()
    with seeded_torch(child_seed(ss, _KEY_TRAIN, epoch)):
        gen = torch.Generator().manual_seed(torch_seed(child_seed(ss, _KEY_TRAIN, epoch, 1)))
        train_loss, train_acc = train_epoch(
            state.model, state.optimizer, data.x_train, data.y_train, batch_size=config.batch_size, generator=gen
        )
    t_train = time.perf_counter() - t0
    state.epoch = epoch
    t0 = time.perf_counter()
    with seeded_torch(child_seed(ss, _KEY_EVAL, epoch)):
        test_loss, test_acc = evaluate(state.model, data.x_test, data.y_test, batch_size=config.eval_batch_size)
    t_eval = time.perf_counter() - t0
    timings["train"] += t_train
    timings["evaluate"] += t_eval
    row = dict(epoch=epoch, train_loss=train_loss, train_accuracy=train_acc, test_loss=test_loss,
               test_accuracy=test_acc, train_seconds=t_train, eval_seconds=t_eval)
    state.history.append(row)
    logger.info(
        "epoch %d: train loss %.4f, test loss %.4f, test accuracy %.4f (%.1f s)",
        epoch, train_loss, test_loss, test_acc, t_train + t_eval,
    )
    return row


def _measure(epoch: int, state: _State, data: _Data, probe: _Probe, config: ExperimentConfig,
             ss: np.random.SeedSequence) -> float:
    """Measure the information plane after ``epoch`` (seeded by ``(seed, epoch)``); return its seconds."""
    t0 = time.perf_counter()
    res = measure_infoplane(
        state.model, data.x_test, data.y_test_np, layers=probe.layers, transforms=probe.transforms,
        n_projections=config.n_projections, estimator=config.estimator, k=config.k,
        seed=child_seed(ss, _KEY_MEASURE, epoch), directions_x=probe.directions_x, method=config.method,
        x_codes=probe.x_codes,
        n_components=config.pca_components, smi=config.smi, batch_size=config.measure_batch_size,
        n_jobs=config.n_jobs, backend=config.backend,
    )
    for row in res.records:
        state.records.append({"epoch": epoch, **row})
    state.measured.add(epoch)
    seconds = time.perf_counter() - t0
    logger.info("epoch %d: measured in %.1f s", epoch, seconds)
    return seconds


# --------------------------------------------------------------------------------------
# outputs
# --------------------------------------------------------------------------------------
def _save(epoch: int, state: _State, config: ExperimentConfig, out: Path, ckpt_path: Path) -> None:
    """Checkpoint after ``epoch``, then rewrite the tables (and figures)."""
    state.saved = epoch
    save_checkpoint(ckpt_path, config, epoch=epoch, model=state.model, optimizer=state.optimizer,
                    history=state.history, records=state.records, measured=state.measured)
    _write_csv(state.records, out / "infoplane.csv", INFOPLANE_COLUMNS)
    _write_csv(state.history, out / "training.csv", HISTORY_COLUMNS)
    if config.figures:
        _write_figures(state, config, out)


def _write_csv(rows: list[dict], path: Path, columns: list[str]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({c: (repr(v) if isinstance(v, float) else v) for c, v in row.items()})
    os.replace(tmp, path)


def _write_figures(state: _State, config: ExperimentConfig, out: Path) -> None:
    if state.records:
        plot_infoplane(state.records, out / "infoplane.png",
                       title=f"{config.dataset}: information plane (m = {config.n_projections})")
    if state.history:
        plot_training_curves(state.history, out / "training_curves.png")


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
