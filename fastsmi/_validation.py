"""Input checks shared by every public function.

Each check runs once, at the public boundary, and raises a ``TypeError`` or
``ValueError`` whose message names the problem and the fix.  Kernels trust
their input.
"""
from __future__ import annotations

import numbers
import warnings
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

#: The registries of estimator names: every check and the command line's choices read them.
ESTIMATORS = ("ksg", "ksg2", "kl", "wkl", "seed")
DISCRETE_ESTIMATORS = ("ksg", "kl", "wkl", "seed")
ENTROPY_ESTIMATORS = ("kl", "wkl", "seed")


def as_samples(data: Any, name: str) -> np.ndarray:
    """Return ``data`` as a C-contiguous float64 array of shape ``(n, d)``.

    1-D input counts as one column.  Integer, boolean and float32 input is
    converted; anything non-numeric, complex, 3-D or non-finite is rejected.
    A copy is made only when the input is not already C-contiguous float64.
    """
    try:
        arr = np.asarray(data)
    except Exception as exc:  # pragma: no cover - exotic array-likes
        raise TypeError(f"{name} could not be converted to an array: {exc}") from exc
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.bool_)
    ):
        raise TypeError(
            f"{name} must hold numbers, got dtype {arr.dtype}; convert it with "
            f"np.asarray({name}, dtype=float) after removing non-numeric entries."
        )
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise TypeError(f"{name} is complex ({arr.dtype}); pass its real and imaginary parts as separate columns.")
    if arr.ndim == 1:
        arr = arr[:, None]
    elif arr.ndim != 2:
        raise ValueError(
            f"{name} must be 1-D (n,) or 2-D (n, d), got shape {arr.shape}; "
            f"flatten each sample first, e.g. {name}.reshape(len({name}), -1)."
        )
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape}); it needs at least one column and k+1 rows.")
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    if not np.isfinite(arr).all():
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise ValueError(
            f"{name} contains NaN or inf (first at row {bad[0]}, column {bad[1]}); "
            "drop or impute those samples first."
        )
    return arr


def check_same_length(X: np.ndarray, Y: np.ndarray, x_name: str = "X", y_name: str = "Y") -> int:
    if X.shape[0] != Y.shape[0]:
        raise ValueError(
            f"{x_name} and {y_name} must have the same number of samples (rows), "
            f"got {X.shape[0]} and {Y.shape[0]}."
        )
    return X.shape[0]


def _resolution_note(A: np.ndarray, name: str) -> str:
    """A sentence naming the columns that float64 stores too coarsely for their spread, or ''."""
    hi = np.abs(A).max(axis=0)
    spread = A.max(axis=0) - A.min(axis=0)
    # float64 spacing at the column's magnitude, against the column's own range
    coarse = np.flatnonzero(np.spacing(hi) > 1e-6 * np.where(spread > 0, spread, 0.0))
    if not coarse.size:
        return ""
    j = int(coarse[0])
    return (
        f" Column {j} of {name} has values of magnitude {hi[j]:.3g} where float64 numbers are "
        f"{np.spacing(hi[j]):.3g} apart, against a range of {spread[j]:.3g}: the data were probably rounded "
        "when a large offset was added; subtract the offset before converting to float64."
    )


def check_not_constant(A: np.ndarray, name: str, *, columns: str = "warn", stacklevel: int = 3) -> np.ndarray:
    """Refuse a constant variable; return the mask of its constant columns.

    A variable with a single value carries no information.  A constant column
    of a multivariate variable is legitimate data (e.g. pixels that are always
    0): with ``columns="warn"`` it is accepted with one warning, with
    ``columns="raise"`` (entropy, which is -inf for such a variable) refused.
    """
    const = A.max(axis=0) == A.min(axis=0)
    if const.all():
        others = " and so is every other column" if A.shape[1] > 1 else ""
        raise ValueError(
            f"column 0 of {name} is constant{others}, so {name} is constant (every sample has the same value); "
            "its mutual information with anything is 0 and cannot be estimated from neighbour distances: "
            "check the data." + _resolution_note(A, name)
        )
    if const.any():
        idx = np.flatnonzero(const)
        if idx.size == 1:
            which = f"column {idx[0]} of {name} is"
        else:
            which = f"{idx.size} columns of {name} (first: {idx[0]}) are"
        if columns == "raise":
            raise ValueError(
                f"{which} constant, so {name} has no density and its entropy is -inf; "
                f"drop constant columns (e.g. {name}[:, {name}.std(axis=0) > 0]) first."
            )
        warnings.warn(
            f"{which} constant; a constant coordinate carries no information and is ignored "
            "(it shifts every projection by a constant).",
            UserWarning,
            stacklevel=stacklevel,
        )
    return const


def centre_and_scale(A: np.ndarray, *, per_column: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(B, e)`` with ``A = B * 2**e + median``: columns centred, scaled by a power of two.

    Each column's lower median (one of its own values) is subtracted, then the
    data are multiplied by ``2**-e`` so that ``max|B|`` lies in ``[0.5, 1)``:
    one exponent for the whole array, or one per column with ``per_column``.
    For ``c * A + b`` with ``c`` a power of two and ``c * A + b`` exact in
    float64, ``B`` is bit for bit the same as for ``A``: both steps commute with
    rounding.  Centring removes offsets that would swamp a projection's rounding
    tolerance, and the scaling keeps squares of the data away from overflow
    (|A| near 1e155) and underflow (|A| near 1e-200).
    """
    n = A.shape[0]
    mid = (n - 1) // 2
    med = np.partition(A, mid, axis=0)[mid]
    B = A - med
    if not np.isfinite(B).all():
        raise ValueError(
            "the range of the data exceeds float64 (max - min overflows); rescale it, e.g. divide by its largest "
            "absolute value, before estimating."
        )
    B += 0.0  # -0.0 -> +0.0, so that equal rows have equal bytes
    top = np.abs(B).max(axis=0) if per_column else np.array([np.abs(B).max()])
    e = np.where(top > 0, np.frexp(top)[1], 0).astype(np.int64)
    if np.any(e):
        B = np.ldexp(B, -e if per_column else -int(e[0]))
    return np.ascontiguousarray(B), e


#: Estimators whose entropies need a density: an atom (tied samples) makes them diverge.
KL_ESTIMATORS = ("kl", "wkl", "seed")


def row_ids(A: np.ndarray) -> np.ndarray:
    """An integer per row of ``A``, equal for equal rows (compared as bytes; ``-0.0`` counts as ``0.0``)."""
    if np.any((A == 0) & np.signbit(A)):
        A = A + 0.0  # -0.0 -> +0.0; a copy only when a negative zero is present
    A = np.ascontiguousarray(A)
    rows = A.view(np.dtype((np.void, A.dtype.itemsize * A.shape[1])))[:, 0]
    return np.unique(rows, return_inverse=True)[1].ravel()


def tie_counts(A: np.ndarray, B: Optional[np.ndarray] = None) -> np.ndarray:
    """For every row, the number of rows (itself included) equal to it: rows of ``A``, or of ``[A, B]``.

    The joint rows are compared through the ids of each side, so ``[A, B]`` is never built.
    """
    ids = row_ids(A)
    if B is not None:
        other = row_ids(B)
        pair = ids.astype(np.int64) * (int(other.max()) + 1) + other
        ids = np.unique(pair, return_inverse=True)[1].ravel()
    counts = np.bincount(ids)
    return counts[ids]


#: Largest fraction of samples allowed in small repeated (x, y) groups for KSG (see :func:`check_ties`).
SMALL_ATOM_TOLERANCE = 0.01


def check_ties(X: np.ndarray, Y: Optional[np.ndarray], codes: Optional[np.ndarray], k: int, estimator: str,
               raw: tuple = (None, None), names: tuple = ("X", "Y")) -> None:
    """Apply the tie policy; ``X``, ``Y`` are the centred data, ``codes`` the labels, ``raw`` for messages.

    * ``"kl"``, ``"wkl"``, ``"seed"``: their entropies need a density, and an
      atom (a sample equal to another) makes the log-distances diverge: any
      tied sample of X (or of Y) is refused.
    * ``"ksg"``, ``"ksg2"``: with the tie-breaking jitter KSG is the mixed
      estimator of Gao, Kannan, Oh & Viswanath (2017), consistent for samples of
      discrete-continuous mixtures.  It reads a repeated ``(x, y)`` pair as an
      atom; an atom of at most ``2k`` copies is too small to be resolved (each copy
      counts its twins as neighbours: duplicated records add about 0.4 nats at
      k = 5), so more than :data:`SMALL_ATOM_TOLERANCE` of the samples in such
      groups is refused.
    """
    if estimator in KL_ESTIMATORS:
        fix = ("Use estimator='ksg', which handles discrete-continuous mixtures, or de-duplicate the data."
               if names[1] is not None else "An atom has entropy -inf: de-duplicate the data or add noise.")
        for A, name, r in ((X, names[0], raw[0]), (Y, names[1], raw[1])):
            if A is None:
                continue
            g = tie_counts(A)
            tied = int(np.count_nonzero(g > 1))
            if tied:
                raise ValueError(
                    f"{name} has duplicated values: {tied} of its {A.shape[0]} samples ({tied / A.shape[0]:.3g}) "
                    "equal another sample; "
                    f"the {estimator!r} estimator needs a density and an atom (tied samples: duplicated rows, ReLU "
                    f"zeros, discrete values) makes its log-distances diverge. {fix}"
                    + ("" if r is None else _resolution_note(r, name))
                )
        return
    g = tie_counts(X, Y if Y is not None else codes[:, None])
    small = int(np.count_nonzero((g > 1) & (g <= 2 * k)))
    if small > SMALL_ATOM_TOLERANCE * X.shape[0]:
        raise ValueError(
            f"{small} of the {X.shape[0]} samples ({small / X.shape[0]:.3g}) repeat an (X, Y) pair that occurs "
            f"only 2 to {2 * k} times (2k); the {estimator!r} estimator reads a repeated pair as an atom and such "
            "small atoms bias it (duplicated records add about 0.4 nats at k=5). If these are duplicated records, "
            "de-duplicate them (np.unique(np.hstack([X, Y]), axis=0)); if the data are discrete, use more samples "
            "per value."
        )


def check_k(k: Any, n: int) -> int:
    k = check_positive_int(k, "k")
    if n <= k:
        raise ValueError(
            f"need more samples than neighbours: n={n} but k={k}; use k < n (k=5 needs at least 6 samples)."
        )
    return k


def check_estimator(estimator: Any, y_discrete: bool) -> str:
    if not isinstance(estimator, str) or estimator.lower() not in ESTIMATORS:
        raise ValueError(f"unknown estimator {estimator!r}; choose one of {', '.join(map(repr, ESTIMATORS))}.")
    estimator = estimator.lower()
    if y_discrete and estimator not in DISCRETE_ESTIMATORS:
        raise ValueError(
            f"estimator {estimator!r} has no discrete-label version; with y_discrete=True choose one of "
            f"{', '.join(map(repr, DISCRETE_ESTIMATORS))}."
        )
    return estimator


def check_positive_int(value: Any, name: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a positive integer, got {value!r}.")
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}.")
    return int(value)


def as_labels(labels: Any, k: int, name: str = "Y") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Integer class codes ``0..C-1``, class offsets (CSR) and class sizes.

    Labels must be integers (or integral floats, or booleans); every class
    needs at least ``k + 1`` samples so that its k-th neighbour exists.
    """
    arr = np.asarray(labels)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"with y_discrete=True, {name} must be one column of labels, got shape {arr.shape}.")
    if np.issubdtype(arr.dtype, np.bool_):
        arr = arr.astype(np.int64)
    if np.issubdtype(arr.dtype, np.floating):
        if not np.isfinite(arr).all() or not np.array_equal(arr, np.round(arr)):
            raise ValueError(
                f"with y_discrete=True, {name} must hold integer class labels; it has non-integer values. "
                "Encode classes as integers, or use y_discrete=False for a continuous Y."
            )
    elif not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(
            f"with y_discrete=True, {name} must hold integer class labels, got dtype {arr.dtype}; "
            f"encode them first, e.g. np.unique({name}, return_inverse=True)[1]."
        )
    classes, codes, counts = np.unique(arr, return_inverse=True, return_counts=True)
    small = np.flatnonzero(counts < k + 1)
    if small.size:
        c = small[0]
        raise ValueError(
            f"class {classes[c].item()!r} of {name} has {counts[c]} samples but k={k} needs at least {k + 1} per class; "
            "lower k, merge rare classes, or drop them."
        )
    if classes.size < 2:
        raise ValueError(f"{name} has a single class; MI with a constant label is 0 and cannot be estimated by k-NN.")
    class_start = np.zeros(classes.size + 1, dtype=np.int64)
    np.cumsum(counts, out=class_start[1:])
    return np.ascontiguousarray(codes, dtype=np.int64), class_start, counts


def check_n_jobs(n_jobs: Any) -> None:
    """``None`` or ``-1`` (all cores) or a positive integer."""
    if n_jobs is None:
        return
    if isinstance(n_jobs, (bool, np.bool_)) or not isinstance(n_jobs, numbers.Integral) or n_jobs == 0 or n_jobs < -1:
        raise ValueError(f"n_jobs must be a positive integer, -1 or None (all cores), got {n_jobs!r}.")


def rounding_tolerance(A: np.ndarray, raw: Optional[np.ndarray] = None, exponent: Any = 0) -> float:
    """Largest range a projection of ``A`` on a unit direction can have from rounding alone.

    A dot product of d terms has error at most about ``d * eps * max|A|``; a
    projection whose range is below 1e-12 * d * max|A| is constant.  ``A`` is
    the centred data (:func:`centre_and_scale`): an offset must not count.
    With ``raw`` (the data as given, ``A = raw * 2**-exponent`` up to the centre)
    the rounding of the data themselves counts too: column j is only known to
    ``spacing(max|raw_j|)``, which is large when a big offset was added.
    """
    tol = 1e-12 * A.shape[1] * float(np.abs(A).max())
    if raw is not None:
        stored = np.spacing(np.abs(raw).max(axis=0)) * np.ldexp(1.0, -np.asarray(exponent, dtype=np.int64))
        tol += float(stored.sum())
    return tol


def centre_pair(X: np.ndarray, Y: Optional[np.ndarray]) -> tuple[np.ndarray, Optional[np.ndarray], np.ndarray]:
    """``X`` and ``Y`` (or None for labels) centred and scaled exactly, with their rounding tolerances.

    SMI is invariant to ``c * X + b``: the columns are centred on one of their own
    values and scaled by a power of two (:func:`centre_and_scale`), so that neither
    offsets nor extreme scales reach the projections' rounding tolerance or their
    squares.  Returns ``(X, Y, tols)`` with ``tols = [tol_X, tol_Y]`` (0 for labels).
    """
    Xc, e_x = centre_and_scale(X)
    tols = np.array([rounding_tolerance(Xc, X, e_x), 0.0])
    Yc = None
    if Y is not None:
        Yc, e_y = centre_and_scale(Y)
        tols[1] = rounding_tolerance(Yc, Y, e_y)
    return Xc, Yc, tols


NAN_POLICIES = ("raise", "omit")


def check_nan_policy(nan_policy: Any) -> str:
    """``"raise"`` or ``"omit"`` (scipy's names)."""
    if not isinstance(nan_policy, str) or nan_policy not in NAN_POLICIES:
        raise ValueError(f"nan_policy must be 'raise' or 'omit', got {nan_policy!r}.")
    return nan_policy


def _missing_rows(data: Any, name: str) -> tuple[Any, np.ndarray | None, int]:
    """``data`` without its mask, the rows holding a NaN or a masked entry (or None) and the masked count."""
    masked = 0
    bad = None
    if np.ma.isMaskedArray(data):
        mask = np.ma.getmaskarray(data)
        masked = int(mask.sum())
        data = np.ma.getdata(data)
        bad = mask
    arr = np.asarray(data)
    if arr.ndim in (1, 2) and arr.dtype != object and np.issubdtype(arr.dtype, np.inexact):
        nan = np.isnan(arr)
        bad = nan if bad is None else (bad | nan)
    if bad is None or bad.ndim not in (1, 2):
        return arr, None, masked
    rows = bad if bad.ndim == 1 else bad.any(axis=1)
    return arr, rows, masked


def drop_missing(arrays: dict[str, Any], nan_policy: Any, *, stacklevel: int = 3) -> tuple[dict[str, Any], int]:
    """Apply ``nan_policy`` to the named inputs (X, Y, labels) that share rows.

    ``"raise"``: a NaN or a masked entry of a :mod:`numpy.ma` array raises a
    ValueError that names the input and the fix; masked arrays with nothing
    masked are used as plain arrays.  ``"omit"``: the rows where any input has a
    NaN or a masked entry are dropped from every input, with a RuntimeWarning
    that says how many.  Returns the arrays and the number of dropped rows.
    Infinities are never dropped: they are refused later as bad data.
    """
    policy = check_nan_policy(nan_policy)
    out: dict[str, Any] = {}
    rows: dict[str, np.ndarray] = {}
    for name, data in arrays.items():
        arr, bad, masked = _missing_rows(data, name)
        out[name] = arr
        if bad is None:
            continue
        if policy == "raise":
            if masked:
                raise ValueError(
                    f"{name} is a numpy masked array with {masked} masked entries, which fastsmi would otherwise "
                    f"read as data; pass nan_policy='omit' to drop the rows with masked entries, or fill them "
                    f"first ({name}.filled(...))."
                )
            if bad.any():
                first = np.argwhere(np.isnan(arr))[0]
                col = first[1] if arr.ndim == 2 else 0
                raise ValueError(
                    f"{name} contains NaN or inf (first at row {first[0]}, column {col}); drop or impute those "
                    "samples first, or pass nan_policy='omit' to drop every row with a NaN."
                )
        elif bad.any():
            rows[name] = bad
    if not rows:
        return out, 0
    lengths = {name: np.shape(a)[0] if np.ndim(a) else 0 for name, a in out.items()}
    if len(set(lengths.values())) > 1:
        names = list(lengths)
        raise ValueError(
            f"{names[0]} and {names[1]} must have the same number of samples (rows), got "
            f"{lengths[names[0]]} and {lengths[names[1]]}."
        )
    drop = np.logical_or.reduce(list(rows.values()))
    n_drop = int(drop.sum())
    keep = ~drop
    out = {name: a[keep] for name, a in out.items()}
    warnings.warn(
        f"nan_policy='omit' dropped {n_drop} of {drop.size} rows with a NaN or masked entry "
        f"(in {' or '.join(rows)}); the estimate uses the remaining {drop.size - n_drop} rows.",
        RuntimeWarning, stacklevel=stacklevel,
    )
    return out, n_drop


@dataclass(frozen=True)
class Samples:
    """Checked samples of a pair, centred and scaled exactly: what the SMI drivers take.

    ``Y`` is None for labels, whose ``discrete = (codes, class_start)`` and
    per-class ``counts`` are set instead; ``tols`` are the rounding tolerances of
    :func:`centre_pair`, ``k`` the checked neighbour count, ``n_omitted`` the rows
    ``nan_policy="omit"`` dropped.
    """

    X: np.ndarray
    Y: Optional[np.ndarray]
    discrete: Optional[tuple]
    counts: Optional[np.ndarray]
    tols: np.ndarray
    k: int
    n_omitted: int


def prepare_samples(X: Any, Y: Any, *, k: Any, estimator: str, y_discrete: bool, nan_policy: Any,
                    stacklevel: int = 4) -> Samples:
    """Validate and prepare the inputs of :func:`fastsmi.smi` and :func:`fastsmi.smi_test`, once.

    Missing rows (``nan_policy``), shapes and dtypes, lengths, ``k``, labels,
    constant variables, exact centring and scaling, then the ties the estimator
    cannot take.  ``stacklevel`` points warnings at the caller's caller.
    """
    clean, n_omitted = drop_missing({"X": X, "Y": Y}, nan_policy, stacklevel=stacklevel)
    X = as_samples(clean["X"], "X")
    n = X.shape[0]
    Y = clean["Y"]
    codes = None
    if y_discrete:
        k = check_k(k, n)
        codes, class_start, counts = as_labels(Y, k)
        if codes.shape[0] != n:
            raise ValueError(f"X and Y must have the same number of samples (rows), got {n} and {codes.shape[0]}.")
        Ymat = None
        discrete: Optional[tuple] = (codes, class_start)
    else:
        Ymat = as_samples(Y, "Y")
        check_same_length(X, Ymat)
        k = check_k(k, n)
        check_not_constant(Ymat, "Y", stacklevel=stacklevel)
        counts = None
        discrete = None
    check_not_constant(X, "X", stacklevel=stacklevel)
    raw = (X, Ymat)
    X, Ymat, tols = centre_pair(X, Ymat)
    check_ties(X, Ymat, codes, k, estimator, raw=raw)
    return Samples(X, Ymat, discrete, counts, tols, k, n_omitted)
