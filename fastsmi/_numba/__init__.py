"""The Numba backend's kernels.  Importing it applies :data:`fastsmi._config.LLVM_OPTIONS`."""
from __future__ import annotations

import platform

import llvmlite.binding as _llvm

from .._config import LLVM_OPTIONS

if platform.machine().lower() in ("x86_64", "amd64", "i686", "x86"):
    for _option in LLVM_OPTIONS:
        _llvm.set_option("fastsmi", _option)
