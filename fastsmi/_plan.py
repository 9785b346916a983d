"""From an estimator name to what the kernels need: family, coefficients, constants.

The kernels compute only data-dependent sums; every constant term (digamma
values, unit-ball volumes, weights) is assembled here once per call, and the
same plan drives both backends.

Estimators (natural logs, nats):

``"ksg"``, ``"ksg2"``
    Kraskov-Stögbauer-Grassberger algorithms 1 and 2; max-norm joint space.
``"kl"``
    ``H(X) + H(Y) - H(X, Y)``, Kozachenko-Leonenko entropies with the k-th
    neighbour, Euclidean joint.
``"wkl"``
    The same with the Berrett-Samworth-Yuan (2019) weights over neighbours
    ``1..k``; in dimensions 1 and 2 those reduce to the plain k-th neighbour.
``"seed"``
    The seed project's estimator (``mutinfo``'s weighted KL with its own
    weights and its ``log(n - 1)`` constant, the joint whitened by its sample
    covariance).  In 1-D and 2-D its weights are ``(1, 0, ..., 0)``: it is
    1-nearest-neighbour KL on whitened data, whatever ``k``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import digamma, gammaln

from ._weights import bsy_weights, seed_weights

FAMILY_KSG = "ksg"
FAMILY_KL = "kl"
FAMILY_ROSS = "ross"
FAMILY_KL_DISCRETE = "kl_discrete"


@dataclass(frozen=True)
class Plan:
    """Everything a backend needs to turn per-slice sums into MI estimates."""

    family: str
    k: int            # neighbours the kernel must find
    variant: int      # KSG algorithm (1 or 2); unused otherwise
    coef: np.ndarray  # (3, k) or (2, k) coefficients of mean log-distances
    const: float      # added to every slice's kernel output
    whiten: bool
    psi: np.ndarray   # digamma(0..n+1), psi[0] unused


def log_unit_ball(d: int) -> float:
    """Log-volume of the Euclidean unit ball in R^d."""
    return 0.5 * d * np.log(np.pi) - gammaln(0.5 * d + 1.0)


def entropy_weights(estimator: str, k: int, d: int) -> np.ndarray:
    """Weights over neighbours ``1..k`` of the KL-type entropy estimators."""
    if estimator == "kl":
        w = np.zeros(k)
        w[-1] = 1.0
        return w
    if estimator == "wkl":
        return np.asarray(bsy_weights(k, d), dtype=np.float64)
    if estimator == "seed":
        return np.asarray(seed_weights(k, d), dtype=np.float64)
    raise ValueError(f"estimator {estimator!r} has no entropy weights")


def entropy_offsets(estimator: str, k: int, n: int, d: int) -> np.ndarray:
    """``c_n - psi(j) + log V_d`` for ``j = 1..k``: the constant part of each term."""
    j = np.arange(1, k + 1)
    c_n = np.log(n - 1.0) if estimator == "seed" else digamma(n)
    return c_n - digamma(j) + log_unit_ball(d)


def _trim(*weights: np.ndarray) -> int:
    """Number of leading neighbours with a non-zero weight in any of ``weights``."""
    last = 0
    for w in weights:
        nz = np.flatnonzero(w)
        if nz.size:
            last = max(last, int(nz[-1]) + 1)
    return max(last, 1)


def make_plan(estimator: str, k: int, n: int, *, class_counts: np.ndarray | None = None) -> Plan:
    """Build the plan for ``estimator`` on slices of ``n`` samples.

    ``class_counts`` switches to the discrete-label estimators.
    """
    psi = digamma(np.arange(n + 2, dtype=np.float64))
    psi[0] = np.nan
    empty = np.zeros((0, 0))
    if class_counts is not None:
        p = class_counts / n
        if estimator == "ksg":
            const = digamma(n) + digamma(k) - float(np.dot(p, digamma(class_counts)))
            return Plan(FAMILY_ROSS, k, 1, np.zeros((2, k)), const, False, psi)
        w = entropy_weights(estimator, k, 1)
        kk = _trim(w)
        w = w[:kk]
        const = float(np.dot(w, entropy_offsets(estimator, kk, n, 1)))
        for n_c, p_c in zip(class_counts, p):
            const -= p_c * float(np.dot(w, entropy_offsets(estimator, kk, int(n_c), 1)))
        return Plan(FAMILY_KL_DISCRETE, kk, 0, np.vstack([w, w]), const, False, psi)

    if estimator in ("ksg", "ksg2"):
        variant = 1 if estimator == "ksg" else 2
        const = digamma(k) + digamma(n) - (0.0 if variant == 1 else 1.0 / k)
        return Plan(FAMILY_KSG, k, variant, empty, float(const), False, psi)

    w1 = entropy_weights(estimator, k, 1)
    w2 = entropy_weights(estimator, k, 2)
    kk = _trim(w1, w2)
    w1, w2 = w1[:kk], w2[:kk]
    off1 = entropy_offsets(estimator, kk, n, 1)
    off2 = entropy_offsets(estimator, kk, n, 2)
    const = 2.0 * float(np.dot(w1, off1)) - float(np.dot(w2, off2))
    # the joint is 2-D: its term is (d / n) sum_i log r = 2 * mean log r
    coef = np.vstack([w1, w1, -2.0 * w2])
    return Plan(FAMILY_KL, kk, 0, coef, const, estimator == "seed", psi)
