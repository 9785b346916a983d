"""The Numba backend's kernels.  Importing it applies :data:`fastsmi._config.LLVM_OPTIONS`."""
from __future__ import annotations

import platform

import llvmlite.binding as _llvm

from .._config import LLVM_OPTIONS

# LLVM accepts each option once per process (a repeat aborts it), so the options set are
# remembered on the llvmlite module, which outlives a reload of this one.
_done = getattr(_llvm, "_fastsmi_options_set", set())
if platform.machine().lower() in ("x86_64", "amd64", "i686", "x86"):
    for _option in LLVM_OPTIONS:
        if _option not in _done:
            _llvm.set_option("fastsmi", _option)
            _done.add(_option)
_llvm._fastsmi_options_set = _done
