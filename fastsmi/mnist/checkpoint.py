"""Checkpoints of the MNIST experiment: save, load, compatibility, and the autoencoder cache.

A run's ``checkpoint.pt`` holds everything the training loop needs to continue after the
last finished measurement: model, optimizer and torch RNG states, the history, the
measurements and the configuration it was written with.  A later run resumes from it only
if the settings that change the numbers are the same (:func:`check_compatible`).

The trained autoencoder is stored beside it (``autoencoder.pt``) and, optionally, in the
user cache under a digest of its *signature* (the settings it depends on), so that other
runs with the same data and autoencoder settings reuse it.

Examples
--------
>>> from fastsmi.mnist.config import quick_config
>>> signature = ae_signature(quick_config())
>>> signature["architecture"], signature["ae_epochs"]
('seed-conv-ae-v1', 5)
>>> ae_cache_path(signature).name.startswith("autoencoder-")
True
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

import torch

from . import data as mnist_data
from .config import ExperimentConfig

__all__ = [
    "CHECKPOINT_VERSION",
    "ae_cache_path",
    "ae_signature",
    "atomic_torch_save",
    "check_compatible",
    "load_autoencoder",
    "load_checkpoint",
    "save_checkpoint",
]

logger = logging.getLogger(__name__)

CHECKPOINT_VERSION = 1
_AE_ARCHITECTURE = "seed-conv-ae-v1"
# Fields that may differ between an interrupted run and its resumption.
# A run can also be extended: more epochs, or a schedule that adds later measurements.
_RESUMABLE_FIELDS = {
    "out", "progress", "max_measurements", "threads", "n_jobs", "resume", "figures", "ae_cache",
    "epochs", "measure_epochs",
}


def atomic_torch_save(obj: Any, path: Path) -> None:
    """``torch.save`` to a file beside ``path``, then rename it: a kill never leaves a cut file."""
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def check_compatible(saved: dict, config: ExperimentConfig) -> None:
    """Refuse (ValueError) to resume a checkpoint written with settings that change the numbers."""
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


def load_checkpoint(path: Path, config: ExperimentConfig) -> dict:
    """Read the checkpoint at ``path`` for a resumed run of ``config``.

    Raises
    ------
    ValueError
        If the file is damaged or foreign, of another version, written with other
        settings (:func:`check_compatible`), or beyond ``config.epochs``.
    """
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # cut, corrupted or foreign: torch raises several types
        detail = (str(exc).strip().splitlines() or [""])[0]
        raise ValueError(
            f"{path} cannot be read ({type(exc).__name__}: {detail}); "
            "it is damaged or not a fastsmi checkpoint: use resume=False (--no-resume) to start afresh, "
            "or another output folder"
        ) from None
    if not isinstance(ckpt, dict) or ckpt.get("version") != CHECKPOINT_VERSION:
        version = ckpt.get("version") if isinstance(ckpt, dict) else None
        raise ValueError(f"{path} has an unknown checkpoint version {version!r}; use resume=False "
                         "(--no-resume) to start afresh, or another output folder")
    check_compatible(ckpt["config"], config)
    epoch = int(ckpt["epoch"])
    if epoch > config.epochs:
        raise ValueError(
            f"the checkpoint in {path.parent} is at epoch {epoch}, beyond epochs={config.epochs}; "
            "ask for at least as many epochs, or use resume=False (--no-resume) to start afresh"
        )
    return ckpt


def save_checkpoint(path: Path, config: ExperimentConfig, *, epoch: int, model: torch.nn.Module,
                    optimizer: torch.optim.Optimizer, history: list[dict], records: list[dict],
                    measured: set[int]) -> None:
    """Write the state after ``epoch`` (with the torch RNG state) to ``path``, atomically."""
    atomic_torch_save(
        {
            "version": CHECKPOINT_VERSION,
            "config": config.to_json(),
            "epoch": epoch,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "history": history,
            "records": records,
            "measured": sorted(measured),
        },
        path,
    )


def ae_signature(config: ExperimentConfig) -> dict:
    """The settings a trained autoencoder depends on: a stored one is reused only when they match."""
    keys = ("dataset", "data_path", "n_train", "latent_dim", "ae_epochs", "ae_batch_size", "ae_lr",
            "ae_latent_noise", "seed", "channels_last")
    return {"architecture": _AE_ARCHITECTURE, **{k: getattr(config, k) for k in keys}}


def ae_cache_path(signature: dict) -> Path:
    """Where the user cache keeps the autoencoder of ``signature``."""
    digest = hashlib.sha256(json.dumps(signature, sort_keys=True).encode()).hexdigest()[:16]
    return mnist_data.default_cache_dir() / "autoencoders" / f"autoencoder-{digest}.pt"


def load_autoencoder(paths: list[Path], signature: dict) -> tuple[dict | None, Path | None]:
    """The first stored autoencoder among ``paths`` with this ``signature``, and its path (or None, None)."""
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
