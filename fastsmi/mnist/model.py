"""The seed project's MNIST classifier, its noise layer, and its training step.

The architecture follows the seed's notebook (which reused the classifier of
the ``mutinfo`` project): three convolution blocks and two dense blocks, each
preceded by multiplicative ("relative") Gaussian noise ``x + sigma * x * N(0, 1)``
with ``sigma = 1e-3`` that stays ON at inference, and the convolution blocks
also by ``Dropout(0.1)``. The noise makes every layer a stochastic function of
the input, so I(X;L) is finite (for a deterministic network with continuous
input it is infinite or undefined).

The seed's code applies dropout before the convolution blocks only; the dense
blocks see noise but no dropout. ``dense_dropout=True`` adds dropout there too.

============  =====================================================  ==========
layer         block                                                  dimension
============  =====================================================  ==========
``layer1``    Dropout, noise, Conv 1->8 (3x3), MaxPool 2, LeakyReLU  8x13x13
``layer2``    Dropout, noise, Conv 8->16, MaxPool 2, LeakyReLU       16x5x5
``layer3``    Dropout, noise, Conv 16->32, MaxPool 2, LeakyReLU      32x1x1
``layer4``    Flatten, noise, Linear 32->32, LeakyReLU               32
``layer5``    noise, Linear 32->10, LogSoftmax                       10
============  =====================================================  ==========

The seed also measured ``exp(layer 5)`` (class probabilities);
:func:`seed_layers` returns the tap specification for all six.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch import nn

__all__ = [
    "FastDropout",
    "RelativeGaussianNoise",
    "SeedClassifier",
    "seed_layers",
    "torch_seed",
    "train_epoch",
    "evaluate",
]


def torch_seed(seed: int | np.random.SeedSequence | None) -> int:
    """Derive a 63-bit integer seed for :func:`torch.manual_seed` from a SeedSequence.

    Parameters
    ----------
    seed : int, numpy.random.SeedSequence or None
        Entropy; ``None`` draws fresh entropy from the OS.

    Returns
    -------
    int
        A non-negative integer below 2**63.

    Examples
    --------
    >>> torch_seed(0) == torch_seed(np.random.SeedSequence(0))
    True
    """
    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    return int(ss.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


def _random_like(x: torch.Tensor, sampler) -> torch.Tensor:
    if x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last):
        n, c, h, w = x.shape
        return sampler((n, h, w, c), dtype=x.dtype, device=x.device).permute(0, 3, 1, 2)
    return sampler(x.shape, dtype=x.dtype, device=x.device)


def _standard_normal_like(x: torch.Tensor) -> torch.Tensor:
    """Standard normal tensor shaped like ``x``, drawn fast for channels-last tensors too.

    ``torch.randn_like`` on a channels-last tensor is many times slower than on
    a contiguous one; drawing a contiguous NHWC buffer and permuting it gives
    the same distribution and memory layout at the contiguous speed.
    """
    return _random_like(x, torch.randn)


class FastDropout(nn.Module):
    """Inverted dropout, the distribution of :class:`torch.nn.Dropout`, drawn faster.

    In training each element is zeroed with probability ``p`` and the others
    are scaled by ``1 / (1 - p)``; in evaluation mode the input passes unchanged.
    The mask is a comparison of uniform draws, which PyTorch generates about
    twice as fast on the CPU as the Bernoulli draws of ``torch.nn.Dropout``.

    Parameters
    ----------
    p : float, optional
        Drop probability in [0, 1) (default 0.1).

    Examples
    --------
    >>> layer = FastDropout(0.5).eval()
    >>> bool(torch.equal(layer(torch.ones(4)), torch.ones(4)))
    True
    """

    def __init__(self, p: float = 0.1) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must lie in [0, 1), got {p}")
        self.p = float(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = _random_like(x, torch.rand) >= self.p
        return x * keep * (1.0 / (1.0 - self.p))

    def extra_repr(self) -> str:
        return f"p={self.p}"


class RelativeGaussianNoise(nn.Module):
    """Multiplicative Gaussian noise ``x + sigma * x * N(0, 1)``.

    Parameters
    ----------
    sigma : float, optional
        Noise-to-signal ratio (default ``1e-3``, the seed's value).
    on_inference : bool, optional
        Keep the noise in evaluation mode (default ``True``, as the seed did).

    Notes
    -----
    The noise is drawn from PyTorch's global generator (like dropout), which the
    experiment driver seeds from a :class:`numpy.random.SeedSequence` and saves in
    its checkpoints.

    Examples
    --------
    >>> layer = RelativeGaussianNoise(0.0)
    >>> bool(torch.equal(layer(torch.ones(3)), torch.ones(3)))
    True
    """

    def __init__(self, sigma: float = 1e-3, *, on_inference: bool = True) -> None:
        super().__init__()
        if sigma < 0:
            raise ValueError(f"sigma must be non-negative, got {sigma}")
        self.sigma = float(sigma)
        self.on_inference = bool(on_inference)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.sigma == 0.0 or not (self.training or self.on_inference):
            return x
        return torch.addcmul(x, x, _standard_normal_like(x), value=self.sigma)

    def extra_repr(self) -> str:
        return f"sigma={self.sigma}, on_inference={self.on_inference}"


def _conv_out(size: int, kernel: int, pool: int) -> int:
    return (size - kernel + 1) // pool


class SeedClassifier(nn.Module):
    """The seed's noisy convolutional MNIST classifier; returns log-probabilities.

    Parameters
    ----------
    in_channels : int, optional
        Image channels (1 for MNIST).
    image_size : int, optional
        Side length of the square input images (28 for MNIST).
    channels : tuple of int, optional
        Output channels of the three convolutions (default ``(8, 16, 32)``).
    hidden : int, optional
        Width of the first dense layer (default 32).
    n_classes : int, optional
        Number of classes (default 10).
    kernel_size : int, optional
        Convolution kernel size, no padding (default 3).
    pool : int, optional
        Max-pooling window and stride (default 2).
    dropout : float, optional
        Dropout probability before the convolution blocks (default 0.1).
    noise : float, optional
        Relative noise ``sigma`` before every block (default ``1e-3``).
    noise_on_inference : bool, optional
        Keep the noise on in evaluation mode (default ``True``).
    dense_dropout : bool, optional
        Also apply dropout before the dense blocks (default ``False``, as in the seed's code).
    negative_slope : float, optional
        LeakyReLU slope (default 0.01, PyTorch's default which the seed used).

    Examples
    --------
    >>> _ = torch.manual_seed(0)
    >>> net = SeedClassifier()
    >>> net(torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 10])
    """

    def __init__(
        self,
        *,
        in_channels: int = 1,
        image_size: int = 28,
        channels: tuple[int, int, int] = (8, 16, 32),
        hidden: int = 32,
        n_classes: int = 10,
        kernel_size: int = 3,
        pool: int = 2,
        dropout: float = 0.1,
        noise: float = 1e-3,
        noise_on_inference: bool = True,
        dense_dropout: bool = False,
        negative_slope: float = 0.01,
    ) -> None:
        super().__init__()
        if len(channels) != 3 or min(channels) < 1:
            raise ValueError(f"channels must be three positive integers, got {channels!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {dropout}")
        size = image_size
        for _ in range(3):
            size = _conv_out(size, kernel_size, pool)
        if size < 1:
            raise ValueError(
                f"image_size={image_size} is too small for three conv({kernel_size}) + "
                f"pool({pool}) blocks; use at least {self.min_image_size(kernel_size, pool)}"
            )
        flat = channels[2] * size * size
        self.flat_features = flat

        def noise_layer() -> RelativeGaussianNoise:
            return RelativeGaussianNoise(noise, on_inference=noise_on_inference)

        def act() -> nn.LeakyReLU:
            return nn.LeakyReLU(negative_slope)

        c_in = (in_channels,) + tuple(channels[:2])
        for i in range(3):
            block = nn.Sequential(
                FastDropout(dropout),
                noise_layer(),
                nn.Conv2d(c_in[i], channels[i], kernel_size=kernel_size),
                nn.MaxPool2d(pool),
                act(),
            )
            self.add_module(f"layer{i + 1}", block)
        def dense_drop() -> list[nn.Module]:
            return [FastDropout(dropout)] if dense_dropout else []

        self.layer4 = nn.Sequential(
            nn.Flatten(1), *dense_drop(), noise_layer(), nn.Linear(flat, hidden), act()
        )
        self.layer5 = nn.Sequential(
            *dense_drop(),
            noise_layer(),
            nn.Linear(hidden, n_classes),
            nn.LogSoftmax(dim=-1),
        )

    @staticmethod
    def min_image_size(kernel_size: int = 3, pool: int = 2) -> int:
        """Smallest input side length that survives the three conv+pool blocks."""
        size = 1
        for _ in range(3):
            size = size * pool + kernel_size - 1
        return size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        x = self.layer4(x)
        return self.layer5(x)


def seed_layers() -> tuple[dict[str, str], dict[str, Callable[[torch.Tensor], torch.Tensor]]]:
    """Tap specification of the seed's six measured layers of :class:`SeedClassifier`.

    Returns
    -------
    layers : dict
        Label -> module name: ``"layer 1"`` ... ``"layer 5"`` and ``"exp(layer 5)"``.
    transforms : dict
        Label -> function applied to the tapped output: ``torch.exp`` for ``"exp(layer 5)"``.

    Examples
    --------
    >>> layers, transforms = seed_layers()
    >>> list(layers)[-1], layers["exp(layer 5)"]
    ('exp(layer 5)', 'layer5')
    """
    layers = {f"layer {i}": f"layer{i}" for i in range(1, 6)}
    layers["exp(layer 5)"] = "layer5"
    return layers, {"exp(layer 5)": torch.exp}


def train_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    batch_size: int = 1024,
    generator: torch.Generator | None = None,
) -> tuple[float, float]:
    """One epoch of NLL training on shuffled mini-batches.

    Parameters
    ----------
    model : torch.nn.Module
        Returns log-probabilities.
    optimizer : torch.optim.Optimizer
    x, y : torch.Tensor
        Inputs ``(n, C, H, W)`` and integer labels ``(n,)``.
    batch_size : int, optional
        Mini-batch size (default 1024).
    generator : torch.Generator or None, optional
        Generator of the shuffle order.

    Returns
    -------
    loss, accuracy : float
        Means over the epoch's training batches (weighted by batch size).

    Examples
    --------
    >>> _ = torch.manual_seed(0)
    >>> net = SeedClassifier()
    >>> opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    >>> loss, acc = train_epoch(net, opt, torch.randn(8, 1, 28, 28), torch.arange(8) % 10)
    >>> 0.0 <= acc <= 1.0
    True
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    model.train()
    n = x.shape[0]
    order = torch.randperm(n, generator=generator)
    total_loss, correct = 0.0, 0
    for start in range(0, n, batch_size):
        idx = order[start : start + batch_size]
        xb, yb = x[idx], y[idx]
        optimizer.zero_grad(set_to_none=True)
        out = model(xb)
        loss = nn.functional.nll_loss(out, yb)
        loss.backward()
        optimizer.step()
        total_loss += float(loss.detach()) * len(idx)
        correct += int((out.detach().argmax(dim=1) == yb).sum())
    return total_loss / n, correct / n


@torch.no_grad()
def evaluate(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, batch_size: int = 2048
) -> tuple[float, float]:
    """Mean NLL loss and accuracy in evaluation mode (dropout off, noise as configured).

    Parameters
    ----------
    model : torch.nn.Module
    x, y : torch.Tensor
        Inputs and integer labels.
    batch_size : int, optional
        Evaluation batch size (default 2048).

    Returns
    -------
    loss, accuracy : float

    Examples
    --------
    >>> _ = torch.manual_seed(0)
    >>> loss, acc = evaluate(SeedClassifier(), torch.randn(4, 1, 28, 28), torch.zeros(4, dtype=torch.long))
    >>> loss > 0
    True
    """
    was_training = model.training
    model.eval()
    try:
        total_loss, correct = 0.0, 0
        for start in range(0, x.shape[0], batch_size):
            xb, yb = x[start : start + batch_size], y[start : start + batch_size]
            out = model(xb)
            total_loss += float(nn.functional.nll_loss(out, yb, reduction="sum"))
            correct += int((out.argmax(dim=1) == yb).sum())
    finally:
        model.train(was_training)
    n = x.shape[0]
    return total_loss / n, correct / n
