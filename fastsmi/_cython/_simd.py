"""Pick the build of the Cython slice kernels this CPU runs best.

``_slices`` is compiled for the baseline of the platform (SSE2 on x86-64) and,
on x86-64, ``_slices_avx2`` from the same source with AVX2, whose lane loops
run twice as many float64 lanes a vector.  Both give the same bits.  The AVX2
build is used when it was built, the CPU and the OS support AVX2 (as NumPy's
own dispatch reports it), and ``FASTSMI_CYTHON_SIMD`` is not ``baseline``.
"""
from __future__ import annotations

from types import ModuleType

from .._runtime import cython_simd

#: ``FASTSMI_CYTHON_SIMD=baseline`` forces the baseline build (``auto``, the default,
#: takes AVX2 where it runs).
SIMD_ENV = "FASTSMI_CYTHON_SIMD"


def cpu_has_avx2() -> bool:
    """True when NumPy's CPU dispatch reports AVX2 usable (CPU and OS); False if unknown.

    Examples
    --------
    >>> isinstance(cpu_has_avx2(), bool)
    True
    """
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as features
    except ImportError:  # NumPy < 2
        try:
            from numpy.core._multiarray_umath import __cpu_features__ as features
        except ImportError:
            return False
    return bool(features.get("AVX2", False))


def slices_module() -> ModuleType:
    """The slice-kernel module to use: ``_slices_avx2`` where it runs, else ``_slices``.

    Raises ``ValueError`` for an unknown ``FASTSMI_CYTHON_SIMD``; ``ImportError``
    when the baseline build is missing (the backend is then unavailable).

    Examples
    --------
    >>> slices_module().__name__ in ("fastsmi._cython._slices", "fastsmi._cython._slices_avx2")
    True
    """
    wanted = cython_simd()
    if wanted not in ("auto", "baseline"):
        raise ValueError(f"{SIMD_ENV}={wanted!r} is not understood; use 'auto' or 'baseline'.")
    if wanted == "auto" and cpu_has_avx2():
        try:
            from . import _slices_avx2
            return _slices_avx2
        except ImportError:  # not built on this platform: the baseline build serves
            pass
    from . import _slices
    return _slices
