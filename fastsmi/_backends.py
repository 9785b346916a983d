"""Choosing a compute backend: Numba (default) or the compiled Cython fallback."""
from __future__ import annotations

import functools
import types
import warnings

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


@functools.lru_cache(maxsize=None)
def _import(name: str) -> types.ModuleType:
    if name == "numba":
        try:
            from ._numba import backend
        except Exception as exc:
            raise BackendUnavailableError(
                f"the Numba backend is unavailable ({exc}); install numba (pip install numba) "
                "or use backend='cython'."
            ) from exc
        return backend
    try:
        from ._cython import backend
    except Exception as exc:
        raise BackendUnavailableError(
            f"the Cython backend is unavailable ({exc}); reinstall fastsmi with a C compiler "
            "(pip install --force-reinstall --no-deps .) or use backend='numba'."
        ) from exc
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
