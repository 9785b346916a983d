"""fastsmi's environment variables, all read here, each at a documented moment.

fastsmi never writes ``os.environ``.

========================  ==========================================  =====================================
variable                  meaning                                     read
========================  ==========================================  =====================================
``FASTSMI_BACKEND``       ``numba`` / ``cython`` for ``backend=       on every call that resolves a backend
                          "auto"``; ``cython`` also keeps the         (:func:`backend_choice`)
                          full-dimensional searches off Numba
``FASTSMI_SEARCH``        joint search of the 1-D kernels,            on every ``smi`` call
                          ``grid`` (default) or ``sweep``             (:func:`search_choice`)
``FASTSMI_NUMBA_CACHE``   Numba's on-disk cache: ``1`` (default)      once, when :mod:`fastsmi._config` is
                          every kernel, ``0`` none, ``entry`` only    imported (before any kernel is
                          the entry kernels                           defined)
``FASTSMI_LLVM_CMOV``     ``1`` (default): LLVM's own conversion      once, when the Numba backend is first
                          of conditional moves to branches; ``0``:    imported (:func:`llvm_cmov_converter`)
                          turn it off, for the whole process (see
                          below)
``FASTSMI_CYTHON_SIMD``   ``auto`` (default) or ``baseline``: the     when the Cython backend is first
                          Cython slice kernels' build                 imported (:func:`cython_simd`)
``FASTSMI_CACHE``         where ``fastsmi mnist`` keeps downloaded    when the data are looked for
                          data (default ``~/.cache/fastsmi``)         (:func:`data_cache`)
========================  ==========================================  =====================================

The synthetic experiments record, in their ``config.json``, the variables that can
change a run (:func:`recorded_settings`).

``FASTSMI_LLVM_CMOV``: LLVM options are process-wide (``llvmlite.binding.set_option``
parses them as LLVM's command line), so ``FASTSMI_LLVM_CMOV=0`` also changes how every other
Numba function of the process is compiled after fastsmi's Numba backend is imported: it is
the user's choice, off by default.  It keeps the conditional moves of the branch-free binary
searches where LLVM would turn them into branches; with the LLVM of the supported Numba the
kernels compile to the same code either way (``docs/architecture.md``).  Numba's on-disk
cache does not record the option: after changing it, clear the cache (or point
``NUMBA_CACHE_DIR`` elsewhere) to recompile.
"""
from __future__ import annotations

import os


def _read(name: str, default: str) -> str:
    return os.environ.get(name, default).strip().lower() or default


def backend_choice() -> str:
    """``FASTSMI_BACKEND``, lower case (``""`` when unset)."""
    return os.environ.get("FASTSMI_BACKEND", "").strip().lower()


def numba_allowed() -> bool:
    """False when ``FASTSMI_BACKEND=cython`` asks fastsmi to run without Numba."""
    return backend_choice() != "cython"


def search_choice(default: str) -> str:
    """``FASTSMI_SEARCH``, or ``default`` when unset (checked by the caller)."""
    return _read("FASTSMI_SEARCH", default)


def numba_cache_mode() -> str:
    """``FASTSMI_NUMBA_CACHE``: ``"1"`` (default), ``"0"`` or ``"entry"``."""
    return _read("FASTSMI_NUMBA_CACHE", "1")


def llvm_cmov_converter() -> bool:
    """``FASTSMI_LLVM_CMOV``: True (the default) to keep LLVM's cmov-to-branch conversion.

    Raises
    ------
    ValueError
        For a value other than ``0`` or ``1``.
    """
    value = _read("FASTSMI_LLVM_CMOV", "1")
    if value not in ("0", "1"):
        raise ValueError(f"FASTSMI_LLVM_CMOV={value!r} is not understood; use 0 or 1.")
    return value == "1"


def cython_simd() -> str:
    """``FASTSMI_CYTHON_SIMD``: ``"auto"`` (default) or ``"baseline"`` (checked by the caller)."""
    return _read("FASTSMI_CYTHON_SIMD", "auto")


def data_cache() -> str:
    """``FASTSMI_CACHE`` (``""`` when unset)."""
    return os.environ.get("FASTSMI_CACHE", "")


#: Variables a synthetic run records in its ``config.json``.
RECORDED = ("FASTSMI_BACKEND", "NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "FASTSMI_SEARCH", "FASTSMI_LLVM_CMOV")


def recorded_settings() -> dict[str, str]:
    """The variables of :data:`RECORDED` that are set, with their values."""
    return {name: os.environ[name] for name in RECORDED if name in os.environ}
