"""The Numba backend's kernels.

Importing it applies :data:`fastsmi._config.LLVM_OPTIONS` to the whole process unless
``FASTSMI_LLVM_CMOV=1`` (:mod:`fastsmi._runtime`).
"""
from __future__ import annotations

import platform
import warnings

import llvmlite.binding as _llvm
import numba as _numba

from .. import _config, _runtime
from .._config import LLVM_OPTIONS

# LLVM accepts each option once per process (a repeat aborts it), so the options set are
# remembered on the llvmlite module, which outlives a reload of this one.
_done = getattr(_llvm, "_fastsmi_options_set", set())
if platform.machine().lower() in ("x86_64", "amd64", "i686", "x86") and not _runtime.llvm_cmov_converter():
    for _option in LLVM_OPTIONS:
        if _option not in _done:
            _llvm.set_option("fastsmi", _option)
            _done.add(_option)
_llvm._fastsmi_options_set = _done


def _probe() -> None:  # pragma: no cover - never called: it only locates the cache
    pass


# Numba refuses to define a cached kernel when it finds no writable cache directory
# (a read-only install or NUMBA_CACHE_DIR): compile in memory instead, and say so.
if _config.JIT_OPTIONS["cache"] or _config.ENTRY_JIT_OPTIONS["cache"]:
    try:
        _numba.njit(cache=True)(_probe)
    except RuntimeError as _exc:
        _config.set_cache_mode("0")
        warnings.warn(
            f"fastsmi cannot use Numba's on-disk cache ({_exc}): its kernels are compiled in memory, without "
            "caching, so each first use in a process compiles again. Point NUMBA_CACHE_DIR to a writable "
            "directory to cache them, or set FASTSMI_NUMBA_CACHE=0 to silence this warning.",
            RuntimeWarning,
            stacklevel=2,
        )
