"""Compression for the AE+MI variant: a convolutional autoencoder for X, PCA for layers.

The seed's AE+MI estimate of the information plane compresses the 784-pixel
input X to 4 dimensions with a convolutional autoencoder (trained once, before
the classifier) and every layer L to 4 dimensions with PCA (refitted at every
measurement), then estimates full-dimensional MI between the 4-dimensional
codes. The autoencoder mirrors the seed's:

* encoder: [Dropout(0.1), Conv 3x3 'same', MaxPool 2, LeakyReLU] with
  1->8->16->32 channels, Linear 288->128, LeakyReLU, Linear 128->4, Sigmoid;
* latent noise: ``z + 0.1 * z * N(0, 1)`` in training only;
* decoder: Linear 4->128, LeakyReLU, Linear 128->1568, LeakyReLU, reshape to
  32x7x7, [Conv 3x3 'same', Upsample 2, LeakyReLU] with 32->16->8 channels,
  Conv 8->1 (linear output);
* training: L1 reconstruction loss, Adam with lr 1e-3, 200 epochs, batch 2048.
"""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any, Optional

import numpy as np
import scipy.linalg
import torch
from torch import nn

from .model import FastDropout, RelativeGaussianNoise

__all__ = ["ConvAutoencoder", "train_autoencoder", "encode", "pca_reduce"]

logger = logging.getLogger(__name__)

#: Format of the per-epoch training checkpoint; bumped when its fields change.
_AE_CHECKPOINT_VERSION = 1


class ConvAutoencoder(nn.Module):
    """The seed's convolutional autoencoder with a sigmoid latent code.

    Parameters
    ----------
    latent_dim : int, optional
        Code dimension (default 4).
    image_size : int, optional
        Side of the square single-channel images; a multiple of 4 (default 28).
    channels : tuple of int, optional
        Encoder convolution channels (default ``(8, 16, 32)``; the decoder mirrors them).
    hidden : int, optional
        Width of the dense layer on each side (default 128).
    dropout : float, optional
        Dropout before each encoder convolution (default 0.1).
    latent_noise : float, optional
        Relative Gaussian noise on the code during training (default 0.1).
    negative_slope : float, optional
        LeakyReLU slope (default 0.01).

    Examples
    --------
    >>> _ = torch.manual_seed(0)
    >>> ae = ConvAutoencoder().eval()
    >>> ae.encode(torch.zeros(2, 1, 28, 28)).shape, ae(torch.zeros(2, 1, 28, 28)).shape
    (torch.Size([2, 4]), torch.Size([2, 1, 28, 28]))
    """

    def __init__(
        self,
        *,
        latent_dim: int = 4,
        image_size: int = 28,
        channels: tuple[int, int, int] = (8, 16, 32),
        hidden: int = 128,
        dropout: float = 0.1,
        latent_noise: float = 0.1,
        negative_slope: float = 0.01,
    ) -> None:
        super().__init__()
        if image_size % 4 != 0 or image_size < 8:
            raise ValueError(f"image_size must be a multiple of 4 and at least 8, got {image_size}")
        if latent_dim < 1:
            raise ValueError(f"latent_dim must be positive, got {latent_dim}")
        c1, c2, c3 = channels
        enc_side = image_size // 8
        dec_side = image_size // 4
        self.image_size = image_size
        self.latent_dim = latent_dim
        self._dec_shape = (c3, dec_side, dec_side)

        def act() -> nn.LeakyReLU:
            return nn.LeakyReLU(negative_slope)

        layers: list[nn.Module] = []
        for c_in, c_out in ((1, c1), (c1, c2), (c2, c3)):
            layers += [
                FastDropout(dropout),
                nn.Conv2d(c_in, c_out, kernel_size=3, padding="same"),
                nn.MaxPool2d(2),
                act(),
            ]
        self.encoder = nn.Sequential(
            *layers,
            nn.Flatten(1),
            nn.Linear(c3 * enc_side * enc_side, hidden),
            act(),
            nn.Linear(hidden, latent_dim),
            nn.Sigmoid(),
        )
        self.latent_noise = RelativeGaussianNoise(latent_noise, on_inference=False)
        self.decoder_dense = nn.Sequential(
            nn.Linear(latent_dim, hidden), act(), nn.Linear(hidden, c3 * dec_side * dec_side), act()
        )
        self.decoder_conv = nn.Sequential(
            nn.Conv2d(c3, c2, kernel_size=3, padding="same"),
            nn.Upsample(scale_factor=2),
            act(),
            nn.Conv2d(c2, c1, kernel_size=3, padding="same"),
            nn.Upsample(scale_factor=2),
            act(),
            nn.Conv2d(c1, 1, kernel_size=3, padding="same"),
        )

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Map images ``(n, 1, H, W)`` to codes ``(n, latent_dim)`` in (0, 1)."""
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Map codes back to images ``(n, 1, H, W)``."""
        h = self.decoder_dense(z).reshape(-1, *self._dec_shape)
        return self.decoder_conv(h)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.latent_noise(self.encode(x)))


def train_autoencoder(
    autoencoder: ConvAutoencoder,
    x_train: torch.Tensor,
    *,
    epochs: int = 200,
    batch_size: int = 2048,
    lr: float = 1e-3,
    generator: torch.Generator | None = None,
    progress: bool = False,
    checkpoint: str | os.PathLike | None = None,
    signature: Optional[dict] = None,
) -> list[float]:
    """Train the autoencoder with the L1 reconstruction loss and Adam.

    Every epoch is logged (``logging.INFO`` on ``fastsmi.mnist.autoencoder``:
    its loss and time), so a batch job's log shows progress without a terminal.

    Parameters
    ----------
    autoencoder : ConvAutoencoder
    x_train : torch.Tensor
        Images ``(n, 1, H, W)`` (normalised as for the classifier).
    epochs : int, optional
        Number of passes (default 200, the seed's value).
    batch_size : int, optional
        Mini-batch size (default 2048).
    lr : float, optional
        Adam learning rate (default 1e-3).
    generator : torch.Generator or None, optional
        Generator of the shuffle order.
    progress : bool, optional
        Show a tqdm progress bar.
    checkpoint : path-like, optional
        File saved (atomically) after every epoch with the weights, the optimizer,
        both random generators and the losses so far.  If it exists when training
        starts, with the same ``signature``, training resumes after its last epoch,
        and the result is the same as an uninterrupted run: a kill loses at most
        one epoch.  A checkpoint with another signature is ignored and overwritten.
    signature : dict, optional
        JSON-like description of the run (data and settings) stored in the
        checkpoint and compared on resume.

    Returns
    -------
    list of float
        Mean training L1 loss of each epoch (including epochs restored from the
        checkpoint).

    Examples
    --------
    >>> _ = torch.manual_seed(0)
    >>> ae = ConvAutoencoder(image_size=8)
    >>> losses = train_autoencoder(ae, torch.randn(16, 1, 8, 8), epochs=2, batch_size=8)
    >>> len(losses)
    2
    """
    if epochs < 0 or batch_size < 1:
        raise ValueError(f"epochs must be >= 0 and batch_size >= 1, got {epochs} and {batch_size}")
    optimizer = torch.optim.Adam(autoencoder.parameters(), lr=lr)
    losses: list[float] = []
    ckpt_path = None if checkpoint is None else Path(checkpoint)
    if ckpt_path is not None:
        state = _load_training_checkpoint(ckpt_path, signature, epochs)
        if state is not None:
            autoencoder.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            torch.set_rng_state(state["torch_rng"])
            if generator is not None and state["generator"] is not None:
                generator.set_state(state["generator"])
            losses = [float(v) for v in state["losses"]]
            logger.info("autoencoder: resuming from %s after epoch %d of %d", ckpt_path, len(losses), epochs)
    n = x_train.shape[0]
    epoch_iter = range(len(losses), epochs)
    if progress:
        from tqdm.auto import tqdm

        epoch_iter = tqdm(epoch_iter, desc="autoencoder", unit="epoch", leave=False,
                          initial=len(losses), total=epochs)
    autoencoder.train()
    for epoch in epoch_iter:
        t0 = time.perf_counter()
        order = torch.randperm(n, generator=generator)
        total = 0.0
        for start in range(0, n, batch_size):
            xb = x_train[order[start : start + batch_size]]
            optimizer.zero_grad(set_to_none=True)
            loss = nn.functional.l1_loss(autoencoder(xb), xb)
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * xb.shape[0]
        losses.append(total / n)
        if ckpt_path is not None:
            _save_training_checkpoint(ckpt_path, autoencoder, optimizer, generator, losses, signature)
        logger.info("autoencoder epoch %d/%d: L1 loss %.4f (%.1f s)", epoch + 1, epochs, losses[-1],
                    time.perf_counter() - t0)
    autoencoder.eval()
    return losses


def _save_training_checkpoint(path: Path, autoencoder: ConvAutoencoder, optimizer: torch.optim.Optimizer,
                              generator: torch.Generator | None, losses: list[float],
                              signature: Optional[dict]) -> None:
    """Write the training state through a temporary file, so a kill never leaves a torn checkpoint."""
    state = {
        "version": _AE_CHECKPOINT_VERSION,
        "signature": signature,
        "model": autoencoder.state_dict(),
        "optimizer": optimizer.state_dict(),
        "torch_rng": torch.get_rng_state(),
        "generator": None if generator is None else generator.get_state(),
        "losses": list(losses),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def _load_training_checkpoint(path: Path, signature: Optional[dict], epochs: int) -> Optional[dict[str, Any]]:
    """The checkpoint at ``path`` if it belongs to this run and is not past ``epochs``, else None."""
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # a torn or foreign file: start afresh rather than fail the run
        logger.warning("autoencoder: ignoring unreadable checkpoint %s", path)
        return None
    if state.get("version") != _AE_CHECKPOINT_VERSION or state.get("signature") != signature:
        logger.warning("autoencoder: ignoring checkpoint %s written with other settings", path)
        return None
    if len(state["losses"]) > epochs:
        logger.warning("autoencoder: ignoring checkpoint %s, which is past epoch %d", path, epochs)
        return None
    return state


@torch.no_grad()
def encode(autoencoder: ConvAutoencoder, x: torch.Tensor, *, batch_size: int = 2048) -> np.ndarray:
    """Codes of ``x`` in evaluation mode (no dropout, no latent noise), as float64.

    Parameters
    ----------
    autoencoder : ConvAutoencoder
    x : torch.Tensor
        Images ``(n, 1, H, W)``.
    batch_size : int, optional
        Batch size of the forward passes.

    Returns
    -------
    numpy.ndarray
        Array ``(n, latent_dim)``.

    Examples
    --------
    >>> _ = torch.manual_seed(0)
    >>> encode(ConvAutoencoder(), torch.zeros(3, 1, 28, 28)).shape
    (3, 4)
    """
    was_training = autoencoder.training
    autoencoder.eval()
    try:
        parts = [
            autoencoder.encode(x[s : s + batch_size]).double().numpy()
            for s in range(0, x.shape[0], batch_size)
        ]
    finally:
        autoencoder.train(was_training)
    return np.concatenate(parts, axis=0)


def pca_reduce(a: np.ndarray, n_components: int = 4) -> np.ndarray:
    """Project rows of ``a`` on its first principal components (centred SVD).

    Parameters
    ----------
    a : numpy.ndarray
        Data ``(n, d)``.
    n_components : int, optional
        Number of components kept (default 4). If ``d <= n_components`` the
        centred data are returned unchanged.

    Returns
    -------
    numpy.ndarray
        Scores ``(n, min(d, n_components))`` in float64; the sign of each
        component is fixed so that its largest-magnitude loading is positive.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> z = rng.normal(size=(500, 1)) * [3.0, 0.0, 0.0] + rng.normal(size=(500, 3)) * 0.1
    >>> scores = pca_reduce(z, 1)
    >>> bool(abs(np.corrcoef(scores[:, 0], z[:, 0])[0, 1]) > 0.99)
    True
    """
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"a must be a 2-D array (n, d), got shape {a.shape}")
    if n_components < 1:
        raise ValueError(f"n_components must be positive, got {n_components}")
    centred = a - a.mean(axis=0)
    if a.shape[1] <= n_components:
        return centred
    if a.shape[1] < a.shape[0]:
        # eigenvectors of the scatter matrix: cheaper than an SVD when n >> d
        d = a.shape[1]
        _, vecs = scipy.linalg.eigh(centred.T @ centred, subset_by_index=[d - n_components, d - 1])
        comps = vecs[:, ::-1].T
    else:
        _, _, vt = np.linalg.svd(centred, full_matrices=False)
        comps = vt[:n_components]
    signs = np.sign(comps[np.arange(n_components), np.abs(comps).argmax(axis=1)])
    signs[signs == 0] = 1.0
    return centred @ (comps * signs[:, None]).T
