"""Synthetic models with known mutual information (and, where possible, known SMI).

Every model is a small frozen dataclass with

- ``sample(n, *, rng, rotations=None) -> (X, Y)``: ``n`` i.i.d. draws, ``X`` of shape
  ``(n, d)`` and ``Y`` of shape ``(n, d)``;
- ``mi``: the exact mutual information I(X; Y) in nats;
- ``smi()``: the exact sliced mutual information
  ``E_{theta, phi} I(theta^T X; phi^T Y)`` for ``theta`` and ``phi`` drawn independently and
  uniformly from the unit spheres, or :class:`NotImplementedError` when no closed form is known.

Rotations
---------
Following the seed experiments, each block is rotated by its own Haar-random orthogonal
matrix, ``X = A X0`` and ``Y = B Y0``. Unless ``rotations=(A, B)`` is passed, ``sample``
draws ``A`` and ``B`` from the ``rng`` it is given, *before* drawing the data, so every call
redraws the rotations (as the seed's Figure 2 redraws the covariance for every run) and the
whole draw is reproducible from the generator alone. Use :meth:`draw_rotations` to fix them.
Rotations never change the MI (invertible linear maps of X and of Y), and for the Gaussian and
Student-t models they do not change the SMI either (uniform directions are rotation invariant).

Models
------
:class:`GaussianModel`
    The seed's model: ``d`` coordinate pairs with correlation ``rho``, MI spread evenly.
:class:`UniformMarginalModel`
    The Gaussian model pushed coordinate-wise through the standard normal CDF after rotation:
    uniform margins, same MI, no closed-form SMI for ``d > 1``.
:class:`StudentTModel`
    A split multivariate Student-t: heavy tails, MI in closed form with digamma terms, SMI a
    1-D quadrature.
:class:`AdditiveUniformNoiseModel`
    ``Y0 = X0 + N`` with uniform ``X0`` and uniform noise: bounded support, non-smooth density.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
from scipy import integrate, optimize, special

__all__ = [
    "GaussianModel",
    "UniformMarginalModel",
    "StudentTModel",
    "AdditiveUniformNoiseModel",
    "gaussian_rho",
    "gaussian_smi",
    "student_t_mi_excess",
    "haar_orthogonal",
    "MODELS",
    "make_model",
]

_QUAD_OPTIONS = {"epsabs": 1e-14, "epsrel": 1e-12, "limit": 500}


# --------------------------------------------------------------------------------------
# validation helpers
# --------------------------------------------------------------------------------------
def _check_dim(d: object) -> int:
    if isinstance(d, bool) or not isinstance(d, (int, np.integer)):
        raise TypeError(f"d must be an integer >= 1, got {d!r} of type {type(d).__name__}")
    if d < 1:
        raise ValueError(f"d must be >= 1 (the dimension of X and of Y), got {d}")
    return int(d)


def _check_mi(mi: object) -> float:
    if isinstance(mi, bool) or not isinstance(mi, (int, float, np.integer, np.floating)):
        raise TypeError(f"mi must be a real number >= 0 (nats), got {mi!r}")
    value = float(mi)
    if not math.isfinite(value) or value < 0.0:
        raise ValueError(f"mi must be finite and >= 0 (nats), got {mi!r}")
    return value


def _check_n(n: object) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"n must be an integer >= 1, got {n!r}")
    if n < 1:
        raise ValueError(f"n must be >= 1 (number of samples), got {n}")
    return int(n)


def _check_rng(rng: object) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            "rng must be a numpy.random.Generator, e.g. numpy.random.default_rng(seed); "
            f"got {type(rng).__name__}"
        )
    return rng


# --------------------------------------------------------------------------------------
# Gaussian closed forms
# --------------------------------------------------------------------------------------
def gaussian_rho(mi: float, d: int) -> float:
    """Per-coordinate correlation of the seed's Gaussian model.

    With the MI spread evenly over ``d`` independent coordinate pairs,
    ``-d/2 log(1 - rho^2) = mi``, so ``rho = sqrt(1 - exp(-2 mi / d))``.

    Parameters
    ----------
    mi : float
        Total mutual information in nats, ``>= 0``.
    d : int
        Dimension of X and of Y, ``>= 1``.

    Returns
    -------
    float
        The correlation ``rho`` in ``[0, 1)``.

    Examples
    --------
    >>> round(gaussian_rho(1.0, 1), 6)
    0.929873
    """
    d = _check_dim(d)
    mi = _check_mi(mi)
    return math.sqrt(-math.expm1(-2.0 * mi / d))


def _smi_from_residual(residual: float, d: int) -> float:
    """E_t[-1/2 log(1 - rho^2 t)], t ~ Beta(1/2, (d-1)/2), with ``residual = 1 - rho^2``.

    Substituting ``t = sin^2(u)`` removes the endpoint singularities of the Beta density:
    ``dt * density = 2 cos(u)^(d-2) / B(1/2, (d-1)/2) du`` on ``[0, pi/2]``, and
    ``1 - rho^2 sin^2 u = cos^2 u + residual sin^2 u`` is evaluated without cancellation.
    """
    if residual >= 1.0:
        return 0.0
    if d == 1:
        return -0.5 * math.log(residual)
    if d == 2:
        # Closed form: (2/pi) int_0^{pi/2} -1/2 log(1 - a sin^2 u) du = -log((1 + sqrt(1-a)) / 2).
        return -math.log1p(math.sqrt(residual)) + math.log(2.0)
    log_norm = math.log(2.0) - special.betaln(0.5, 0.5 * (d - 1))
    power = d - 2

    def integrand(u: float) -> float:
        c = math.cos(u)
        s = math.sin(u)
        if c <= 0.0:
            return 0.0
        weight = math.exp(log_norm + power * math.log(c))
        return -0.5 * weight * math.log(c * c + residual * s * s)

    # Most of the mass sits at u <~ 1/sqrt(d); for small residuals the log peaks near pi/2.
    upper = 0.5 * math.pi
    points = [min(upper * 0.5, 4.0 / math.sqrt(d))]
    if residual < 1e-2:
        points.append(upper - math.sqrt(residual))
    points = sorted(p for p in set(points) if 0.0 < p < upper)
    value, _ = integrate.quad(integrand, 0.0, upper, points=points, **_QUAD_OPTIONS)
    return value


def gaussian_smi(mi: float, d: int) -> float:
    """Exact SMI of the seed's Gaussian model.

    For ``d >= 2``, ``SMI = E_t[-1/2 log(1 - rho^2 t)]`` with ``t ~ Beta(1/2, (d-1)/2)``
    (the squared inner product of two independent uniform unit vectors in R^d) and
    ``rho = gaussian_rho(mi, d)``; ``SMI = mi`` at ``d = 1``. Computed by adaptive quadrature
    after the substitution ``t = sin^2 u``; tested to agree with an independent
    hypergeometric series to better than 1e-10.

    Parameters
    ----------
    mi : float
        Total mutual information in nats, ``>= 0``.
    d : int
        Dimension of X and of Y, ``>= 1``.

    Returns
    -------
    float
        SMI in nats.

    Examples
    --------
    >>> round(gaussian_smi(2.0, 2), 6)
    0.379885
    >>> round(gaussian_smi(4.0, 10), 6)
    0.029736
    """
    d = _check_dim(d)
    mi = _check_mi(mi)
    if d == 1:
        return mi
    return _smi_from_residual(math.exp(-2.0 * mi / d), d)


def haar_orthogonal(d: int, rng: np.random.Generator) -> np.ndarray:
    """Draw a Haar-distributed ``d x d`` orthogonal matrix (QR of a Gaussian, signs fixed).

    Examples
    --------
    >>> Q = haar_orthogonal(3, np.random.default_rng(0))
    >>> bool(np.allclose(Q @ Q.T, np.eye(3)))
    True
    """
    d = _check_dim(d)
    rng = _check_rng(rng)
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    signs = np.sign(np.diag(r))
    signs[signs == 0] = 1.0
    return q * signs


# --------------------------------------------------------------------------------------
# shared machinery
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _RotatedModel:
    """Base: a model defined in canonical coordinates, then rotated block-wise."""

    d: int
    mi: float
    name: ClassVar[str] = "rotated"

    def __post_init__(self) -> None:
        object.__setattr__(self, "d", _check_dim(self.d))
        object.__setattr__(self, "mi", _check_mi(self.mi))

    def draw_rotations(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Draw the pair ``(A, B)`` of independent Haar orthogonal rotations, X first."""
        rng = _check_rng(rng)
        return haar_orthogonal(self.d, rng), haar_orthogonal(self.d, rng)

    def _canonical(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _post(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return x, y

    def sample(
        self,
        n: int,
        *,
        rng: np.random.Generator,
        rotations: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Draw ``n`` samples ``(X, Y)``, each of shape ``(n, d)``.

        Parameters
        ----------
        n : int
            Number of samples.
        rng : numpy.random.Generator
            Source of randomness. Unless ``rotations`` is given, the rotations are drawn from
            it first (``A`` then ``B``), then the data.
        rotations : tuple of ndarray, optional
            Fixed ``(A, B)`` orthogonal matrices, e.g. from :meth:`draw_rotations`.

        Returns
        -------
        X, Y : ndarray of shape (n, d)
        """
        n = _check_n(n)
        rng = _check_rng(rng)
        if rotations is None:
            a, b = self.draw_rotations(rng)
        else:
            a, b = (np.asarray(r, dtype=np.float64) for r in rotations)
            if a.shape != (self.d, self.d) or b.shape != (self.d, self.d):
                raise ValueError(
                    f"rotations must be two ({self.d}, {self.d}) matrices, got shapes "
                    f"{a.shape} and {b.shape}"
                )
        x0, y0 = self._canonical(n, rng)
        return self._post(x0 @ a.T, y0 @ b.T)

    def smi(self) -> float:  # pragma: no cover - overridden
        raise NotImplementedError(f"{type(self).__name__} has no closed-form SMI")


def _gaussian_canonical(
    n: int, d: int, rho: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    x0 = rng.standard_normal((n, d))
    noise = rng.standard_normal((n, d))
    y0 = rho * x0 + math.sqrt(1.0 - rho * rho) * noise
    return x0, y0


# --------------------------------------------------------------------------------------
# models
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GaussianModel(_RotatedModel):
    """The seed's Gaussian model with MI ``mi`` spread evenly over ``d`` coordinates.

    ``(X0, Y0)`` is Gaussian with covariance ``[[I, rho I], [rho I, I]]``,
    ``rho = gaussian_rho(mi, d)``; then ``X = A X0`` and ``Y = B Y0`` with independent Haar
    rotations (see the module docstring for how they are drawn).

    Parameters
    ----------
    d : int
        Dimension of X and of Y, ``>= 1``.
    mi : float
        Mutual information in nats, ``>= 0``.

    Examples
    --------
    >>> model = GaussianModel(d=2, mi=2.0)
    >>> X, Y = model.sample(500, rng=np.random.default_rng(0))
    >>> X.shape, Y.shape
    ((500, 2), (500, 2))
    >>> round(model.smi(), 6)
    0.379885
    """

    name: ClassVar[str] = "gaussian"

    @property
    def rho(self) -> float:
        """Per-coordinate correlation ``sqrt(1 - exp(-2 mi / d))``."""
        return gaussian_rho(self.mi, self.d)

    def covariance(self, rotations: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
        """Joint ``(2d, 2d)`` covariance of ``(X, Y)`` for the given rotations (identity if None)."""
        d = self.d
        a, b = (np.eye(d), np.eye(d)) if rotations is None else rotations
        cross = self.rho * (a @ b.T)
        return np.block([[np.eye(d), cross], [cross.T, np.eye(d)]])

    def _canonical(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        return _gaussian_canonical(n, self.d, self.rho, rng)

    def smi(self) -> float:
        """Exact SMI, :func:`gaussian_smi` ``(mi, d)``."""
        return gaussian_smi(self.mi, self.d)


@dataclass(frozen=True)
class UniformMarginalModel(_RotatedModel):
    """The Gaussian model with every rotated coordinate mapped through the normal CDF.

    ``X = Phi(A X0)`` and ``Y = Phi(B Y0)`` coordinate-wise. Each coordinate of ``A X0`` is
    standard normal, so every margin is uniform on (0, 1). Coordinate-wise invertible maps do
    not change MI, so ``mi`` is exact. Projections now mix non-Gaussian coordinates, so the
    SMI has no closed form for ``d > 1`` (at ``d = 1`` it equals the MI).

    Examples
    --------
    >>> model = UniformMarginalModel(d=3, mi=1.0)
    >>> X, Y = model.sample(100, rng=np.random.default_rng(1))
    >>> bool((X > 0).all() and (X < 1).all())
    True
    """

    name: ClassVar[str] = "uniform"

    @property
    def rho(self) -> float:
        """Per-coordinate correlation of the latent Gaussian model."""
        return gaussian_rho(self.mi, self.d)

    def _canonical(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        return _gaussian_canonical(n, self.d, self.rho, rng)

    def _post(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return special.ndtr(x), special.ndtr(y)

    def smi(self) -> float:
        """SMI: equals ``mi`` at ``d = 1``; no closed form otherwise."""
        if self.d == 1:
            return self.mi
        raise NotImplementedError(
            "UniformMarginalModel has no closed-form SMI for d > 1: projections mix "
            "uniform coordinates into non-Gaussian variables whose MI has no known "
            "formula. Estimate it by Monte Carlo, or use GaussianModel/StudentTModel "
            "for exact SMI."
        )


def _t_entropy_shape_term(dof: float, dim: int) -> float:
    """Shape part of the entropy of a ``dim``-variate t with ``dof`` degrees of freedom.

    ``H = 1/2 log det S + dim/2 log(dof pi) + g(dim)`` with
    ``g(dim) = log Gamma(dof/2) - log Gamma((dof+dim)/2)
    + (dof+dim)/2 (psi((dof+dim)/2) - psi(dof/2))``.
    """
    half = 0.5 * dof
    half_d = 0.5 * (dof + dim)
    return (
        special.gammaln(half)
        - special.gammaln(half_d)
        + half_d * (special.digamma(half_d) - special.digamma(half))
    )


def student_t_mi_excess(dof: float, dx: int, dy: int) -> float:
    """MI of a multivariate t beyond the Gaussian term of its scatter matrix.

    For ``(X, Y)`` jointly t with ``dof`` degrees of freedom and scatter ``S`` (blocks
    ``S11``, ``S22``), ``I(X; Y) = -1/2 log(det S / (det S11 det S22)) + c`` with
    ``c = g(dx) + g(dy) - g(dx + dy)`` and ``g`` the shape term of the t entropy
    (``log Gamma(nu/2) - log Gamma((nu+k)/2) + (nu+k)/2 (psi((nu+k)/2) - psi(nu/2))``);
    see e.g. Arellano-Valle, Contreras-Reyes & Genton (2013), Scand. J. Statist. 40(1).
    ``c > 0``: uncorrelated t blocks are still dependent through their shared scale.

    Examples
    --------
    >>> round(student_t_mi_excess(1e8, 1, 1), 6)  # vanishes in the Gaussian limit
    0.0
    """
    dof = _check_dof(dof)
    dx = _check_dim(dx)
    dy = _check_dim(dy)
    return float(
        _t_entropy_shape_term(dof, dx)
        + _t_entropy_shape_term(dof, dy)
        - _t_entropy_shape_term(dof, dx + dy)
    )


def _check_dof(dof: object) -> float:
    if isinstance(dof, bool) or not isinstance(dof, (int, float, np.integer, np.floating)):
        raise TypeError(f"dof must be a positive real number, got {dof!r}")
    value = float(dof)
    if not (value > 0.0) or not math.isfinite(value):
        raise ValueError(
            f"dof must be finite and > 0, got {dof!r} (for the Gaussian limit use GaussianModel)"
        )
    return value


@dataclass(frozen=True)
class StudentTModel(_RotatedModel):
    """Split multivariate Student-t with total MI ``mi``.

    ``(X0, Y0) = Z / sqrt(W)`` with ``Z`` from the Gaussian model's canonical coordinates
    (per-coordinate correlation ``rho``) and an independent ``W ~ chi2(dof) / dof`` shared by
    both blocks; then ``X = A X0``, ``Y = B Y0`` as in :class:`GaussianModel`. The MI is
    ``-d/2 log(1 - rho^2) + student_t_mi_excess(dof, d, d)``, so ``mi`` must be at least the
    excess (the MI at ``rho = 0``); ``rho`` is solved from ``mi``.

    Every 1-D projection pair is bivariate t with the same ``dof`` and correlation
    ``rho * u`` with ``u^2 ~ Beta(1/2, (d-1)/2)``, so the SMI is the Gaussian SMI of ``rho``
    plus ``student_t_mi_excess(dof, 1, 1)``.

    Parameters
    ----------
    d : int
        Dimension of X and of Y.
    mi : float
        Total mutual information in nats, ``>= student_t_mi_excess(dof, d, d)``.
    dof : float
        Degrees of freedom, ``> 0`` (default 5). Variances exist only for ``dof > 2``.

    Examples
    --------
    >>> model = StudentTModel(d=2, mi=1.0, dof=5.0)
    >>> X, Y = model.sample(100, rng=np.random.default_rng(0))
    >>> X.shape
    (100, 2)
    >>> bool(model.smi() > student_t_mi_excess(5.0, 1, 1))
    True
    """

    name: ClassVar[str] = "student_t"
    dof: float = 5.0
    _residual: float = field(init=False, repr=False, compare=False, default=1.0)

    def __post_init__(self) -> None:
        super().__post_init__()
        dof = _check_dof(self.dof)
        object.__setattr__(self, "dof", dof)
        excess = student_t_mi_excess(dof, self.d, self.d)
        gauss_part = self.mi - excess
        if gauss_part < -1e-12:
            raise ValueError(
                f"mi={self.mi!r} is below the smallest MI of a {self.d}+{self.d}-dimensional "
                f"Student-t with dof={dof!r}: {excess:.6g} nats (the MI of uncorrelated "
                "blocks through their shared scale). Use mi >= that value or a larger dof."
            )
        # 1 - rho^2 = exp(-2 (mi - excess) / d)
        object.__setattr__(self, "_residual", math.exp(-2.0 * max(gauss_part, 0.0) / self.d))

    @property
    def rho(self) -> float:
        """Per-coordinate correlation of the scatter matrix."""
        return math.sqrt(1.0 - self._residual)

    @property
    def mi_floor(self) -> float:
        """The smallest MI this family reaches for ``(d, dof)`` (at ``rho = 0``)."""
        return student_t_mi_excess(self.dof, self.d, self.d)

    def _canonical(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        rho = self.rho
        x0 = rng.standard_normal((n, self.d))
        noise = rng.standard_normal((n, self.d))
        y0 = rho * x0 + math.sqrt(self._residual) * noise
        scale = 1.0 / np.sqrt(rng.chisquare(self.dof, size=(n, 1)) / self.dof)
        return x0 * scale, y0 * scale

    def scatter(self, rotations: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
        """Joint ``(2d, 2d)`` scatter matrix (covariance times ``(dof - 2) / dof``)."""
        d = self.d
        a, b = (np.eye(d), np.eye(d)) if rotations is None else rotations
        cross = self.rho * (a @ b.T)
        return np.block([[np.eye(d), cross], [cross.T, np.eye(d)]])

    def smi(self) -> float:
        """Exact SMI: Gaussian SMI of the scatter plus ``student_t_mi_excess(dof, 1, 1)``."""
        if self.d == 1:
            return self.mi
        return _smi_from_residual(self._residual, self.d) + student_t_mi_excess(self.dof, 1, 1)


@dataclass(frozen=True)
class AdditiveUniformNoiseModel(_RotatedModel):
    """Additive uniform noise: ``Y0 = X0 + N`` with ``X0 ~ U(0, 1)^d``, ``N ~ U(0, eps)^d``.

    Per coordinate ``I(X0_i; Y0_i) = eps/2 - log(eps)`` for ``eps <= 1`` and ``1 / (2 eps)``
    for ``eps >= 1``; ``eps`` is solved so that the ``d`` independent coordinates carry
    ``mi / d`` each. ``mi = 0`` gives ``Y0`` independent of ``X0`` (uniform on (0, 1)).
    Then ``X = A X0``, ``Y = B Y0`` (see the module docstring). The SMI has no closed form for
    ``d > 1``.

    Examples
    --------
    >>> model = AdditiveUniformNoiseModel(d=1, mi=0.5)
    >>> round(model.noise_width, 12)
    1.0
    """

    name: ClassVar[str] = "uniform_noise"

    @property
    def noise_width(self) -> float:
        """The noise width ``eps`` (``inf`` when ``mi = 0``)."""
        return _uniform_noise_width(self.mi / self.d)

    def _canonical(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        x0 = rng.random((n, self.d))
        eps = self.noise_width
        if math.isinf(eps):
            return x0, rng.random((n, self.d))
        return x0, x0 + eps * rng.random((n, self.d))

    def smi(self) -> float:
        """SMI: equals ``mi`` at ``d = 1``; no closed form otherwise."""
        if self.d == 1:
            return self.mi
        raise NotImplementedError(
            "AdditiveUniformNoiseModel has no closed-form SMI for d > 1: projections of "
            "uniform vectors are not uniform. Estimate it by Monte Carlo, or use "
            "GaussianModel/StudentTModel for exact SMI."
        )


def _uniform_noise_mi(eps: float) -> float:
    """MI per coordinate of ``X + N``, ``X ~ U(0,1)``, ``N ~ U(0, eps)``."""
    if eps >= 1.0:
        return 0.5 / eps
    return 0.5 * eps - math.log(eps)


def _uniform_noise_width(mi_per_coordinate: float) -> float:
    if mi_per_coordinate <= 0.0:
        return math.inf
    if mi_per_coordinate <= 0.5:
        return 0.5 / mi_per_coordinate
    # Solve eps/2 - log(eps) = m on (0, 1]; the left side is decreasing there.
    # The root lies in [exp(-m), exp(0.5 - m)] since 0 < eps/2 <= 1/2.
    lo, hi = math.exp(-mi_per_coordinate), min(1.0, math.exp(0.5 - mi_per_coordinate))
    return float(
        optimize.brentq(lambda e: _uniform_noise_mi(e) - mi_per_coordinate, lo, hi, xtol=1e-300, rtol=1e-15)
    )



MODELS: dict[str, type] = {
    cls.name: cls
    for cls in (GaussianModel, UniformMarginalModel, StudentTModel, AdditiveUniformNoiseModel)
}


def make_model(name: str, d: int, mi: float, **options: float) -> _RotatedModel:
    """Build a model by its registry name (``MODELS`` keys), e.g. from a command-line flag.

    Parameters
    ----------
    name : str
        One of ``"gaussian"``, ``"uniform"``, ``"student_t"``, ``"uniform_noise"``.
    d : int
        Dimension of X and of Y.
    mi : float
        Mutual information in nats.
    **options
        Extra model parameters, e.g. ``dof`` for ``"student_t"``.

    Examples
    --------
    >>> make_model("student_t", 2, 1.0, dof=4.0).dof
    4.0
    """
    try:
        cls = MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; choose one of {sorted(MODELS)}") from None
    return cls(d, mi, **options)
