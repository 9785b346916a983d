"""The result of :func:`fastsmi.smi`, and how per-slice estimates become one.

:class:`SMIResult` is what every SMI driver returns; :func:`build_result` checks the
slices' status codes and assembles it, and :class:`Moments` accumulates the mean and
standard error block by block when the slices are not kept.
"""
from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from .projections import seed_record

__all__ = ["Moments", "SMIResult", "build_result", "check_status", "raise_nonfinite"]


@dataclass(frozen=True, eq=False)
class SMIResult:
    """The result of :func:`smi`.

    Attributes
    ----------
    value : float
        The SMI estimate in nats: the mean of the per-slice MI estimates.
    stderr : float
        Standard error of that mean over slices (``std(per_slice, ddof=1) /
        sqrt(n_projections)``, NaN for a single slice); it measures the Monte Carlo error of averaging
        over random directions, not the bias of the k-NN estimator.
    n_projections : int
        Number of slices.
    per_slice : ndarray or None
        The MI estimate of every slice, in direction order (None when
        ``return_slices=False``).
    estimator : str
        Estimator name.
    k : int
        Number of neighbours.
    seed : int or dict
        The :class:`numpy.random.SeedSequence` the directions and the jitter
        were drawn from, in a JSON-serialisable form
        (:func:`fastsmi.projections.seed_record`): an int for ``seed=int``, else a
        dict ``{"entropy": ..., "spawn_key": [...]}``.  Pass it back as ``seed=``
        to repeat the call bit for bit, whatever seed type was given.
    backend : str
        Backend that computed the slices.
    seconds : float
        Wall-clock time of the call.
    n_omitted : int
        Rows dropped by ``nan_policy="omit"`` (0 otherwise).
    stderr_samples : float
        Standard error from the finite sample, computed as ``sampling_error`` says
        (see ``docs/inference.md``); NaN when it was not computed.
    ci : tuple of float or None
        95% interval ``value +/- q sqrt(stderr**2 + stderr_samples**2)``, covering
        the direction and the sampling error: ``q`` is 1.96 for ``"influence"``, a
        Student-t quantile for ``"jackknife"`` and ``"average"``; None when ``stderr_samples`` is NaN.
    sampling_error : str or None
        How ``stderr_samples`` was computed: ``"influence"`` (the spread of the
        pointwise terms, ``std(pointwise, ddof=1) / sqrt(n)``), ``"jackknife"``
        (delete-a-group jackknife), ``"average"`` (the mean of those two variances),
        or None (not computed).
    pointwise : ndarray or None
        With ``return_pointwise=True``, each sample's KSG term averaged over the
        slices (pointwise SMI, in sample order); its mean is ``value`` to rounding.

    Notes
    -----
    Two results are equal when every field but ``seconds`` and ``pointwise`` (a
    function of the others' inputs) is equal, ``per_slice``
    element by element (NaN equals NaN, as for a single slice's ``stderr``);
    results are hashable, consistently with that equality.
    """

    value: float
    stderr: float
    n_projections: int
    per_slice: Optional[np.ndarray] = field(repr=False)
    estimator: str
    k: int
    seed: Any
    backend: str = "numba"
    seconds: float = field(default=0.0, compare=False)
    n_omitted: int = 0
    stderr_samples: float = float("nan")
    ci: Optional[tuple] = None
    pointwise: Optional[np.ndarray] = field(default=None, repr=False)
    sampling_error: Optional[str] = None

    def __float__(self) -> float:
        return float(self.value)

    def _key(self) -> tuple:
        slices = None if self.per_slice is None else np.asarray(self.per_slice, dtype=np.float64)
        return (
            _float_key(self.value), _float_key(self.stderr), self.n_projections, self.estimator, self.k,
            json.dumps(self.seed, sort_keys=True), self.backend, self.n_omitted, _float_key(self.stderr_samples),
            None if self.ci is None else tuple(map(_float_key, self.ci)), self.sampling_error,
            None if slices is None else (slices.shape, slices.tobytes()),
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SMIResult):
            return NotImplemented
        if (self.per_slice is None) != (other.per_slice is None):
            return False
        same = self._key()[:-1] == other._key()[:-1]
        if self.per_slice is None:
            return same
        return same and np.array_equal(self.per_slice, other.per_slice, equal_nan=True)

    def __hash__(self) -> int:
        key = self._key()
        if key[-1] is not None:
            # NaN entries have several bit patterns: hash a canonical copy
            slices = np.where(np.isnan(self.per_slice), np.nan, self.per_slice) + 0.0
            key = key[:-1] + (hashlib.sha1(np.ascontiguousarray(slices, dtype=np.float64).tobytes()).hexdigest(),)
        return hash(key)


def _float_key(x: float) -> Any:
    """A float for comparisons and hashes in which NaN equals NaN and 0.0 equals -0.0."""
    x = float(x)
    return "nan" if math.isnan(x) else x + 0.0


#: Slices per exactly rounded chunk of :class:`Moments`.
MOMENT_CHUNK = 1 << 16


class Moments:
    """Mean and standard error of the slices, accumulated block by block in slice order.

    Slices are gathered into chunks of :data:`MOMENT_CHUNK`, at fixed positions
    whatever the block size; each chunk adds the exactly rounded sums
    (``math.fsum``) of ``x - K`` and ``(x - K)^2``, ``K`` the first slice, to
    compensated (Neumaier) totals.  The result does not depend on the blocks.
    """

    def __init__(self) -> None:
        self.m = 0
        self.shift: Optional[float] = None
        self.s1 = [0.0, 0.0]  # total and compensation
        self.s2 = [0.0, 0.0]
        self.pending: list[np.ndarray] = []
        self.n_pending = 0

    def add(self, values: np.ndarray) -> None:
        if not np.isfinite(values).all():
            raise_nonfinite()
        if self.shift is None:
            self.shift = float(values[0])
        self.pending.append(np.array(values, dtype=np.float64))
        self.n_pending += values.size
        self.m += values.size
        if self.n_pending >= MOMENT_CHUNK:
            buf = np.concatenate(self.pending)
            cut = (buf.size // MOMENT_CHUNK) * MOMENT_CHUNK
            for lo in range(0, cut, MOMENT_CHUNK):
                self._fold(buf[lo:lo + MOMENT_CHUNK])
            self.pending = [buf[cut:]]
            self.n_pending = buf.size - cut

    def _fold(self, chunk: np.ndarray) -> None:
        d = chunk - self.shift
        for acc, x in ((self.s1, math.fsum(d)), (self.s2, math.fsum(d * d))):
            t = acc[0] + x
            acc[1] += (acc[0] - t) + x if abs(acc[0]) >= abs(x) else (x - t) + acc[0]
            acc[0] = t

    def result(self) -> tuple[float, float]:
        if self.n_pending:
            self._fold(np.concatenate(self.pending))
            self.pending, self.n_pending = [], 0
        m = self.m
        s1 = self.s1[0] + self.s1[1]
        s2 = self.s2[0] + self.s2[1]
        value = self.shift + s1 / m
        if m < 2:
            return value, float("nan")
        var = max(0.0, (s2 - s1 * s1 / m) / (m - 1))
        return value, math.sqrt(var) / math.sqrt(m)


def check_status(status: np.ndarray, offset: int = 0) -> None:
    """Raise for the first constant projection flagged in ``status`` (slice ``offset`` first)."""
    bad = np.flatnonzero(status)
    if bad.size:
        which = "X" if status[bad[0]] == 1 else "Y"
        raise ValueError(
            f"the projection of {which} on direction {offset + bad[0]} is constant (and {bad.size - 1} more slices); "
            f"{which} seems to be concentrated on a lower-dimensional set orthogonal to that direction: "
            "drop redundant columns or pass directions that are not orthogonal to the data."
        )


def raise_nonfinite() -> None:
    raise ValueError(
        "a slice gave a non-finite estimate (perfectly dependent projections for the whitened 'seed' "
        "estimator?); use estimator='ksg' or add noise to the data."
    )


def build_result(per_slice: np.ndarray, status: np.ndarray, m: int, estimator: str, k: int,
                 ss: np.random.SeedSequence, backend: str, return_slices: bool, t0: float,
                 n_omitted: int = 0) -> SMIResult:
    """Check the slice status codes and assemble the result."""
    check_status(status)
    if not np.isfinite(per_slice).all():
        raise_nonfinite()
    value = float(per_slice.mean())
    stderr = float(per_slice.std(ddof=1) / math.sqrt(m)) if m > 1 else float("nan")
    return SMIResult(
        value=value,
        stderr=stderr,
        n_projections=m,
        per_slice=per_slice if return_slices else None,
        estimator=estimator,
        k=k,
        seed=seed_record(ss),
        backend=backend,
        seconds=time.perf_counter() - t0,
        n_omitted=n_omitted,
    )
