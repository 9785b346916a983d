"""Choosing a compute backend: Numba (default) or the compiled Cython fallback."""
from __future__ import annotations

import functools
import types
import warnings
from typing import Optional

from ._runtime import backend_choice

BACKENDS = ("auto", "numba", "cython")


class BackendUnavailableError(ImportError):
    """The requested backend cannot be imported on this machine."""


_FAILURES: dict[str, BackendUnavailableError] = {}


def _load(name: str) -> types.ModuleType:
    """Import a backend once; a failure is remembered, so a retry reports the first cause."""
    if name in _FAILURES:
        raise _FAILURES[name]
    try:
        return _import(name)
    except BackendUnavailableError as exc:
        _FAILURES[name] = exc
        raise


def dependency_error(name: str) -> Optional[Exception]:
    """Why what backend ``name`` is built on does not import (Numba, or the compiled slice kernels), or None.

    Only the dependency is tried here: fastsmi's own backend module is then imported
    without a guard, so a bug in it surfaces as itself instead of as a missing backend.
    """
    try:
        if name == "numba":
            import numba  # noqa: F401
        else:
            from ._cython import _slices  # noqa: F401
    except Exception as exc:  # a missing or broken third-party install, reported with its cause
        return exc
    return None


@functools.lru_cache(maxsize=None)
def _import(name: str) -> types.ModuleType:
    cause = dependency_error(name)
    if name == "numba":
        if cause is not None:
            raise BackendUnavailableError(
                f"the Numba backend is unavailable ({cause}); install numba (pip install numba) "
                "or use backend='cython'."
            ) from cause
        from ._numba import backend
        return backend
    if cause is not None:
        raise BackendUnavailableError(
            f"the Cython backend is unavailable ({cause}); reinstall fastsmi with a C compiler "
            "(pip install --force-reinstall --no-deps .) or use backend='numba'."
        ) from cause
    from ._cython import backend
    return backend


def get_backend(name: str = "auto") -> types.ModuleType:
    """Return the backend module for ``name`` (``"auto"``, ``"numba"`` or ``"cython"``).

    ``"auto"`` honours the ``FASTSMI_BACKEND`` environment variable, then uses
    Numba when it imports and falls back to Cython with one warning.
    """
    if not isinstance(name, str) or name.lower() not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; choose one of {', '.join(map(repr, BACKENDS))}.")
    name = name.lower()
    if name == "auto":
        env = backend_choice()
        if env and env != "auto":
            if env not in BACKENDS:
                raise ValueError(f"FASTSMI_BACKEND={env!r} is not a backend; use 'numba' or 'cython'.")
            return _load(env)
        try:
            return _load("numba")
        except BackendUnavailableError as exc:
            _warn_fallback(str(exc))
            return _load("cython")
    return _load(name)


@functools.lru_cache(maxsize=None)
def _warn_fallback(reason: str) -> None:
    warnings.warn(f"fastsmi is using its Cython backend: {reason}", RuntimeWarning, stacklevel=4)
