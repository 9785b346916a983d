"""Settings of the MNIST information-plane experiment (importable without PyTorch).

Examples
--------
>>> cfg = quick_config(out="run", epochs=2, measure_epochs=(2, 0))
>>> cfg.measure_epochs, cfg.n_projections
((0, 2), 200)
>>> ExperimentConfig().measure_epochs[-1]  # the seed's schedule
290
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..projections import METHODS

__all__ = ["SEED_MEASURE_EPOCHS", "ExperimentConfig", "quick_config"]

SEED_MEASURE_EPOCHS: tuple[int, ...] = tuple(range(2, 50, 2)) + tuple(range(50, 300, 10))
"""The seed's measurement epochs: 2, 4, ..., 48, then 50, 60, ..., 290 (49 points)."""


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
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {list(METHODS)}, got {self.method!r}")
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
