"""Configuration shared by every kernel: compiler flags and numerical constants.

Everything that changes the numbers fastsmi returns is set here, in one place.
"""
from __future__ import annotations

import os

#: ``fastmath`` is off: kernels must agree bit for bit across thread counts and to
#: 1e-10 with the brute-force references, and reassociated sums would break that.
FASTMATH: bool = False

#: Options for every serial Numba kernel.
JIT_OPTIONS: dict = {
    "nogil": True,
    "cache": os.environ.get("FASTSMI_NUMBA_CACHE", "1") != "0",
    "fastmath": FASTMATH,
    "error_model": "numpy",
    "boundscheck": False,
}

#: Options for the parallel (``prange``) drivers.
PARALLEL_JIT_OPTIONS: dict = dict(JIT_OPTIONS, parallel=True)

#: Directions are projected in blocks whose sizes are multiples of this granule,
#: and every BLAS call sees exactly ``granule`` or a multiple of it, so a slice's
#: projection is bit-identical however the directions are chunked.
PROJECTION_GRANULE: int = 16

#: Memory budget (bytes) for the projections of one block of directions (X and Y
#: together).  Large inputs are projected block by block under this budget.
BLOCK_MEMORY_BYTES: int = 128 * 2**20

#: Amplitude of the deterministic tie-breaking jitter, in standard deviations of
#: each standardised projection.  Uniform on [-JITTER_SCALE, JITTER_SCALE].
JITTER_SCALE: float = 1e-10
