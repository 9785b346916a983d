"""Information-plane measurement of any PyTorch network with Sliced Mutual Information.

For each tapped layer L of a network fed with inputs X (labels Y), one
measurement gives the two coordinates of the information plane:

``SMI(X;L)``
    Sliced MI between the flattened input and the flattened layer output:
    the mean over m slices of I(theta_i^T X; phi_i^T L). The X directions
    ``theta`` are FIXED for a whole training run (pass ``directions_x``, drawn
    once, e.g. with :func:`draw_directions`), so the curve over epochs is not
    blurred by re-drawing them; the L directions ``phi`` are drawn FRESH at every
    measurement (from ``seed``), because the layer changes during training and
    its directions carry no identity across epochs. This is what the seed did.
``SMI(L;Y)``
    Sliced MI between the layer and the integer class label, with the label
    treated as a discrete variable (``y_discrete=True``): the mean over the
    same m fresh L directions of I(phi_i^T L; Y).

Optionally (``x_codes`` given) the AE+MI coordinates of the same forward pass:

``MI(AE(X);PCA(L))``
    Full-dimensional MI between the autoencoder code of X and the projection of
    L on its first principal components (PCA refitted at each measurement).
``MI(PCA(L);Y)``
    Full-dimensional MI between the PCA projection of L and the discrete label.

Choices behind the numbers, as in the seed's experiment:

* the measurement uses the held-out test images, so the plane describes what
  the network does on data it was not fitted to;
* the network runs in evaluation mode (dropout off) but its relative Gaussian
  noise stays on: the noise makes L a stochastic function of X, which keeps
  I(X;L) finite; the noise is drawn from a generator seeded by ``seed``, so a
  measurement is reproducible and does not disturb the training RNG stream;
* all SMI values are computed by :func:`fastsmi.smi` (and MI by
  :func:`fastsmi.mi`) on the tapped activations, in float64.
"""
from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator, Mapping, Sequence

import numpy as np
import torch
from torch import nn

import fastsmi

from .autoencoder import pca_reduce
from .model import torch_seed

__all__ = [
    "QUANTITIES",
    "InfoPlaneResult",
    "draw_directions",
    "tap_activations",
    "measure_infoplane",
    "seeded_torch",
    "varying_columns",
]

QUANTITIES = {
    "smi_xl": "SMI(X;L)",
    "smi_ly": "SMI(L;Y)",
    "aemi_xl": "MI(AE(X);PCA(L))",
    "aemi_ly": "MI(PCA(L);Y)",
}
"""Identifiers of the measured quantities (the ``quantity`` column) and their meaning."""

LayerSpec = Sequence[str] | Mapping[str, "str | nn.Module"]


def _as_seed_sequence(seed) -> np.random.SeedSequence:
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if isinstance(seed, np.random.Generator):
        raise TypeError("seed must be an int, a numpy SeedSequence or None, not a Generator")
    return np.random.SeedSequence(seed)


def _child(ss: np.random.SeedSequence, *key: int) -> np.random.SeedSequence:
    """Deterministic child sequence (unlike ``spawn``, it does not mutate ``ss``)."""
    return np.random.SeedSequence(ss.entropy, spawn_key=tuple(ss.spawn_key) + tuple(key))


def _int_seed(ss: np.random.SeedSequence) -> int:
    return int(ss.generate_state(1, dtype=np.uint32)[0])


@contextlib.contextmanager
def seeded_torch(seed: int | np.random.SeedSequence | None) -> Iterator[None]:
    """Run a block with PyTorch's global CPU generator seeded, restoring it afterwards.

    Parameters
    ----------
    seed : int, numpy.random.SeedSequence or None
        Seed of the block's random draws (dropout, noise layers).

    Examples
    --------
    >>> with seeded_torch(1):
    ...     a = torch.randn(2)
    >>> with seeded_torch(1):
    ...     b = torch.randn(2)
    >>> bool(torch.equal(a, b))
    True
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(torch_seed(_as_seed_sequence(seed)))
        yield


def draw_directions(n_projections: int, dim: int, *, seed=None, method: str = "sphere") -> np.ndarray:
    """Draw ``n_projections`` random unit directions in ``R^dim`` with the core's sampler.

    Parameters
    ----------
    n_projections : int
        Number of directions m.
    dim : int
        Dimension d.
    seed : int, numpy.random.SeedSequence or None, optional
        Seed of the draw.
    method : {"sphere", "orthonormal"}, optional
        Independent uniform directions (default), or the seed project's stacked
        orthonormal blocks (see :func:`fastsmi.projections.directions`).

    Returns
    -------
    numpy.ndarray
        Array ``(m, d)`` of unit rows.

    Examples
    --------
    >>> th = draw_directions(5, 3, seed=0)
    >>> th.shape, bool(np.allclose(np.linalg.norm(th, axis=1), 1.0))
    ((5, 3), True)
    """
    out = fastsmi.projections.directions(int(n_projections), int(dim), method=method, seed=_as_seed_sequence(seed))
    return np.ascontiguousarray(out, dtype=np.float64)


def varying_columns(a: np.ndarray) -> np.ndarray:
    """Indices of the columns of ``a`` that take more than one value.

    Constant columns (pixels that are zero in every image, units whose input
    is always zero) are dropped before slicing: for a direction uniform on the
    sphere, its restriction to the varying coordinates points uniformly on their
    sphere, the constant coordinates only shift each projection, and MI is
    invariant to shifts and scalings, so SMI is unchanged. (With the seed's
    orthonormal blocks, ``method="orthonormal"``, the restricted rows are no
    longer exactly orthogonal to each other; each is still a uniform direction.)

    Parameters
    ----------
    a : numpy.ndarray
        Data ``(n, d)``.

    Returns
    -------
    numpy.ndarray
        Sorted integer indices.

    Examples
    --------
    >>> varying_columns(np.array([[0.0, 1.0, 2.0], [0.0, 3.0, 2.0]])).tolist()
    [1]
    """
    a = np.asarray(a)
    return np.flatnonzero(a.max(axis=0) != a.min(axis=0))


def _resolve_layers(model: nn.Module, layers) -> dict[str, nn.Module]:
    if isinstance(layers, Mapping):
        items = list(layers.items())
    elif isinstance(layers, (str, bytes)) or not isinstance(layers, Sequence):
        raise TypeError(
            "layers must be a sequence of module names or a mapping label -> module name/module, "
            f"got {type(layers).__name__}"
        )
    else:
        items = [(name, name) for name in layers]
    if not items:
        raise ValueError("layers is empty; name at least one module to tap")
    resolved: dict[str, nn.Module] = {}
    for label, target in items:
        if isinstance(target, nn.Module):
            resolved[str(label)] = target
            continue
        try:
            resolved[str(label)] = model.get_submodule(target)
        except AttributeError as err:
            names = [n for n, _ in model.named_modules() if n]
            raise ValueError(
                f"layer {label!r}: the model has no submodule {target!r}; available: {names}"
            ) from err
    return resolved


def tap_activations(
    model: nn.Module,
    x,
    *,
    layers: LayerSpec,
    transforms: Mapping[str, Callable[[torch.Tensor], torch.Tensor]] | None = None,
    batch_size: int = 2048,
    seed=None,
    eval_mode: bool = True,
) -> dict[str, np.ndarray]:
    """Run ``x`` through ``model`` and return the flattened outputs of the tapped modules.

    Forward hooks record the output of each named submodule, batch by batch,
    without gradients.

    Parameters
    ----------
    model : torch.nn.Module
        Any network.
    x : torch.Tensor or numpy.ndarray
        Inputs, first axis the samples.
    layers : sequence of str, or mapping
        Module names (as in ``model.named_modules()``), or a mapping
        ``label -> module name or module``; several labels may tap the same module.
    transforms : mapping, optional
        ``label -> function`` applied to that label's tapped tensor (e.g. ``torch.exp``).
    batch_size : int, optional
        Forward-pass batch size (default 2048).
    seed : int, numpy.random.SeedSequence or None, optional
        Seed of the network's own randomness during the pass (noise layers).
    eval_mode : bool, optional
        Put the model in evaluation mode for the pass (default ``True``); its mode is restored.

    Returns
    -------
    dict
        ``label -> float64 array (n, d_label)``, C-contiguous.

    Examples
    --------
    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.ReLU())
    >>> acts = tap_activations(net, torch.ones(4, 3), layers=["0", "1"])
    >>> acts["0"].shape, bool((acts["1"] >= 0).all())
    ((4, 2), True)
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    modules = _resolve_layers(model, layers)
    transforms = dict(transforms or {})
    unknown = set(transforms) - set(modules)
    if unknown:
        raise ValueError(f"transforms name labels that are not tapped: {sorted(unknown)}")
    x = torch.as_tensor(x)
    if x.ndim < 1 or x.shape[0] == 0:
        raise ValueError("x must hold at least one sample along its first axis")
    param_dtype = next((p.dtype for p in model.parameters()), None)
    if param_dtype is not None and x.is_floating_point() and x.dtype != param_dtype:
        x = x.to(param_dtype)  # e.g. float64 numpy input to a float32 network

    by_module: dict[int, list[str]] = {}
    for label, module in modules.items():
        by_module.setdefault(id(module), []).append(label)
    store: dict[str, list[np.ndarray]] = {label: [] for label in modules}

    def make_hook(labels: list[str]):
        def hook(_module, _inputs, output):
            if not isinstance(output, torch.Tensor):
                raise TypeError(f"tapped module for {labels} returned {type(output).__name__}, not a Tensor")
            out = output.detach()
            for label in labels:
                val = transforms[label](out) if label in transforms else out
                store[label].append(val.reshape(val.shape[0], -1).to(torch.float64).numpy())

        return hook

    handles = []
    seen: set[int] = set()
    for module in modules.values():
        if id(module) not in seen:
            seen.add(id(module))
            handles.append(module.register_forward_hook(make_hook(by_module[id(module)])))
    was_training = model.training
    try:
        if eval_mode:
            model.eval()
        with torch.no_grad(), seeded_torch(seed):
            for start in range(0, x.shape[0], batch_size):
                model(x[start : start + batch_size])
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return {label: np.ascontiguousarray(np.concatenate(parts, axis=0)) for label, parts in store.items()}


@dataclass
class InfoPlaneResult:
    """Result of one information-plane measurement.

    Attributes
    ----------
    records : list of dict
        One row per (layer, quantity) with keys ``layer``, ``quantity`` (a key of
        :data:`QUANTITIES`), ``estimate``, ``stderr`` (NaN where the estimator gives
        none) and ``seconds`` (wall time of that estimate).
    directions : dict
        ``label -> (m, d_L)`` fresh L directions drawn for that layer (full dimension).
    directions_x : numpy.ndarray or None
        The X directions used for every SMI(X;L) (full dimension).
    columns : dict
        ``label -> indices`` of the varying columns of each layer, and ``"X"`` for
        the input; the slices use the directions restricted to these columns
        (see :func:`varying_columns`).
    seeds : dict
        ``label -> int`` seed passed to :func:`fastsmi.smi` for that layer (it
        only seeds the core's tie-breaking jitter, the directions being given).
    activations : dict or None
        Tapped activations ``label -> (n, d_L)`` when ``return_activations=True``.
    """

    records: list[dict] = field(default_factory=list)
    directions: dict[str, np.ndarray] = field(default_factory=dict)
    directions_x: np.ndarray | None = None
    columns: dict[str, np.ndarray] = field(default_factory=dict)
    seeds: dict[str, int] = field(default_factory=dict)
    activations: dict[str, np.ndarray] | None = None

    def value(self, layer: str, quantity: str) -> float:
        """Return the estimate of ``quantity`` (e.g. ``"smi_xl"``) for ``layer``."""
        for row in self.records:
            if row["layer"] == layer and row["quantity"] == quantity:
                return row["estimate"]
        raise KeyError(f"no record for layer {layer!r} and quantity {quantity!r}")


def _value_stderr(res) -> tuple[float, float]:
    value = getattr(res, "value", res)
    stderr = getattr(res, "stderr", float("nan"))
    return float(value), float(stderr) if stderr is not None else float("nan")


def measure_infoplane(
    model: nn.Module,
    x,
    labels,
    *,
    layers: LayerSpec,
    transforms: Mapping[str, Callable[[torch.Tensor], torch.Tensor]] | None = None,
    n_projections: int = 1000,
    estimator: str = "ksg",
    k: int = 5,
    seed=None,
    directions_x: np.ndarray | None = None,
    method: str = "sphere",
    x_features: np.ndarray | None = None,
    x_codes: np.ndarray | None = None,
    n_components: int = 4,
    smi: bool = True,
    batch_size: int = 2048,
    n_jobs: int | None = None,
    backend: str = "auto",
    return_activations: bool = False,
) -> InfoPlaneResult:
    """Measure the information plane (SMI(X;L), SMI(L;Y)) of tapped layers of a network.

    Parameters
    ----------
    model : torch.nn.Module
        Any network; it is run once over ``x`` in evaluation mode without gradients.
    x : torch.Tensor or numpy.ndarray
        Model inputs ``(n, ...)``.
    labels : array-like of int
        Class labels ``(n,)``; Y of SMI(L;Y), treated as discrete.
    layers : sequence of str, or mapping
        Modules to tap: names, or ``label -> module name or module`` (see
        :func:`tap_activations`).
    transforms : mapping, optional
        ``label -> function`` applied to a tapped tensor (e.g. ``torch.exp``).
    n_projections : int, optional
        Number of slices m (default 1000).
    estimator : str, optional
        Per-slice MI estimator passed to :func:`fastsmi.smi` (default ``"ksg"``).
    k : int, optional
        Number of neighbours (default 5).
    seed : int, numpy.random.SeedSequence or None, optional
        Seed of this measurement: of the fresh L directions, of the network's noise
        during the pass, and of the X directions if ``directions_x`` is not given.
        Use a different seed at each measurement of a run (e.g. derived from the epoch).
    directions_x : numpy.ndarray, optional
        ``(m, d_X)`` unit rows: the fixed X directions. Draw them once per run
        (:func:`draw_directions`) and pass the same array at every measurement.
    method : {"sphere", "orthonormal"}, optional
        How the fresh L directions (and default X directions) are drawn:
        independent uniform directions, or the seed's orthonormal blocks.
    x_features : numpy.ndarray, optional
        X as used in SMI(X;L), ``(n, d_X)``; default: ``x`` flattened.
    x_codes : numpy.ndarray, optional
        Autoencoder codes of ``x`` ``(n, c)``; when given, the AE+MI quantities
        ``aemi_xl`` and ``aemi_ly`` are measured too, with :func:`fastsmi.mi` on
        the first ``n_components`` principal components of each layer.
    n_components : int, optional
        PCA components per layer for AE+MI (default 4).
    smi : bool, optional
        Measure the SMI quantities (default ``True``); ``False`` with ``x_codes``
        gives AE+MI only.
    batch_size : int, optional
        Forward-pass batch size.
    n_jobs : int or None, optional
        Workers of the core (``None``: all cores).
    backend : str, optional
        Core backend (default ``"auto"``).
    return_activations : bool, optional
        Keep the tapped activations in the result.

    Returns
    -------
    InfoPlaneResult
        Rows ``(layer, quantity, estimate, stderr, seconds)`` and the directions used.

    Notes
    -----
    For layer index j (in the order of ``layers``) the fresh directions are drawn
    from the child ``(2, j)`` of ``seed``, the network's noise from child ``(0,)``,
    and the default X directions from child ``(1,)``. SMI(X;L) and SMI(L;Y) of a
    layer use the same L directions. The numbers equal direct calls
    ``fastsmi.smi(X, L, directions_x=result.directions_x,
    directions_y=result.directions[label], ...)`` and ``fastsmi.smi(L, labels,
    y_discrete=True, directions_x=result.directions[label], ...)`` on the activations,
    with constant columns dropped from the data and the directions alike
    (``result.columns``; see :func:`varying_columns`).

    Examples
    --------
    >>> _ = torch.manual_seed(0)
    >>> net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh(), torch.nn.Linear(3, 2))
    >>> xs = torch.randn(200, 4)
    >>> ys = (xs[:, 0] > 0).long().numpy()
    >>> res = measure_infoplane(net, xs, ys, layers=["1"], n_projections=20, seed=0)
    >>> [row["quantity"] for row in res.records]
    ['smi_xl', 'smi_ly']
    """
    if n_projections < 1:
        raise ValueError(f"n_projections must be positive, got {n_projections}")
    if not smi and x_codes is None:
        raise ValueError("nothing to measure: smi=False and no x_codes for AE+MI")
    ss = _as_seed_sequence(seed)
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be a 1-D integer array, got dtype {labels.dtype} and shape {labels.shape}")
    labels = labels.astype(np.int64)
    n = labels.shape[0]
    if torch.as_tensor(x).shape[0] != n:
        raise ValueError(f"x has {torch.as_tensor(x).shape[0]} samples but labels has {n}")

    activations = tap_activations(
        model, x, layers=layers, transforms=transforms, batch_size=batch_size, seed=_child(ss, 0)
    )
    result = InfoPlaneResult()
    if smi:
        if x_features is None:
            x_features = torch.as_tensor(x).reshape(n, -1).to(torch.float64).numpy()
        x_features = np.ascontiguousarray(x_features, dtype=np.float64)
        if x_features.ndim != 2 or x_features.shape[0] != n:
            raise ValueError(f"x_features must have shape (n={n}, d), got {x_features.shape}")
        if directions_x is None:
            directions_x = draw_directions(
                n_projections, x_features.shape[1], seed=_child(ss, 1), method=method
            )
        directions_x = np.ascontiguousarray(directions_x, dtype=np.float64)
        if directions_x.shape != (n_projections, x_features.shape[1]):
            raise ValueError(
                f"directions_x must have shape (n_projections={n_projections}, d_X={x_features.shape[1]}), "
                f"got {directions_x.shape}"
            )
        result.directions_x = directions_x
        kx = varying_columns(x_features)
        result.columns["X"] = kx
        x_used = np.ascontiguousarray(x_features[:, kx])
        dirs_x_used = np.ascontiguousarray(directions_x[:, kx])
    if x_codes is not None:
        x_codes = np.ascontiguousarray(x_codes, dtype=np.float64)
        if x_codes.ndim != 2 or x_codes.shape[0] != n:
            raise ValueError(f"x_codes must have shape (n={n}, c), got {x_codes.shape}")

    common = dict(estimator=estimator, k=k)
    for j, (label, act) in enumerate(activations.items()):
        if smi:
            dirs = draw_directions(n_projections, act.shape[1], seed=_child(ss, 2, j), method=method)
            result.directions[label] = dirs
            kl = varying_columns(act)
            result.columns[label] = kl
            smi_seed = _int_seed(_child(ss, 3, j))
            result.seeds[label] = smi_seed
            if kl.size == 0 or kx.size == 0:
                # a constant layer (or input) carries no information
                for q in ("smi_xl", "smi_ly"):
                    result.records.append(_row(label, q, 0.0, 0.0, stderr=0.0))
            else:
                act_used = np.ascontiguousarray(act[:, kl])
                dirs_used = np.ascontiguousarray(dirs[:, kl])
                t0 = time.perf_counter()
                res = fastsmi.smi(
                    x_used, act_used, n_projections=n_projections, seed=smi_seed, n_jobs=n_jobs,
                    backend=backend, directions_x=dirs_x_used, directions_y=dirs_used,
                    progress=False, **common,
                )
                result.records.append(_row(label, "smi_xl", res, time.perf_counter() - t0))
                t0 = time.perf_counter()
                res = fastsmi.smi(
                    act_used, labels, n_projections=n_projections, y_discrete=True, seed=smi_seed,
                    n_jobs=n_jobs, backend=backend, directions_x=dirs_used, progress=False, **common,
                )
                result.records.append(_row(label, "smi_ly", res, time.perf_counter() - t0))
        if x_codes is not None:
            t0 = time.perf_counter()
            reduced = pca_reduce(act[:, varying_columns(act)], n_components)
            reduced = np.ascontiguousarray(reduced[:, varying_columns(reduced)])
            t_pca = time.perf_counter() - t0
            if reduced.shape[1] == 0:
                for q in ("aemi_xl", "aemi_ly"):
                    result.records.append(_row(label, q, 0.0, t_pca, stderr=0.0))
                continue
            t0 = time.perf_counter()
            res = fastsmi.mi(x_codes, reduced, n_jobs=n_jobs, backend=backend, **common)
            result.records.append(_row(label, "aemi_xl", res, time.perf_counter() - t0 + t_pca))
            t0 = time.perf_counter()
            res = fastsmi.mi(reduced, labels, y_discrete=True, n_jobs=n_jobs, backend=backend, **common)
            result.records.append(_row(label, "aemi_ly", res, time.perf_counter() - t0))
    if return_activations:
        result.activations = activations
    return result


def _row(label: str, quantity: str, res, seconds: float, *, stderr: float | None = None) -> dict:
    value, res_stderr = _value_stderr(res)
    stderr = res_stderr if stderr is None else stderr
    return {"layer": label, "quantity": quantity, "estimate": value, "stderr": stderr, "seconds": seconds}
