"""Configuration shared by every kernel: compiler flags and numerical constants.

Everything that changes the numbers fastsmi returns is set here, in one place.
"""
from __future__ import annotations

from ._runtime import numba_cache_mode

#: ``fastmath`` is off: kernels must agree bit for bit across thread counts and to
#: 1e-10 with the brute-force references, and reassociated sums would break that.
FASTMATH: bool = False

#: What Numba caches on disk: ``FASTSMI_NUMBA_CACHE=1`` (default) every kernel, ``0``
#: none, ``entry`` only the entry kernels (:data:`ENTRY_JIT_OPTIONS`).  The warm-up's
#: helper processes (:mod:`fastsmi._warmup`) run with ``entry``: Numba's cache is not
#: safe when two processes save entries of one function at once, and only the entry
#: kernels the helpers compile are theirs alone (one name per specialisation).
CACHE_MODE: str = numba_cache_mode()

#: Options for every serial Numba kernel.
JIT_OPTIONS: dict = {
    "nogil": True,
    "cache": CACHE_MODE not in ("0", "entry"),
    "fastmath": FASTMATH,
    "error_model": "numpy",
    "boundscheck": False,
}

#: Options for the kernels called from Python (the full-dimensional searches): the
#: same, but cached unless ``FASTSMI_NUMBA_CACHE=0``.  An entry kernel's cache entry
#: holds all the code it calls.
ENTRY_JIT_OPTIONS: dict = dict(JIT_OPTIONS, cache=CACHE_MODE != "0")

#: LLVM code-generation options set, process-wide, when the Numba backend is first
#: imported, unless ``FASTSMI_LLVM_CMOV=1`` (:mod:`fastsmi._runtime`).  They change
#: speed only, never results.  ``-x86-cmov-converter=false`` keeps the conditional moves
#: of the branch-free binary searches: LLVM otherwise turns them back into branches,
#: which mispredict half the time (measured in ``docs/architecture.md``).
LLVM_OPTIONS: tuple = ("-x86-cmov-converter=false",)

#: Options for the parallel (``prange``) drivers, entry kernels too.
PARALLEL_JIT_OPTIONS: dict = dict(ENTRY_JIT_OPTIONS, parallel=True)


def set_cache_mode(mode: str) -> None:
    """Set what Numba caches, as ``FASTSMI_NUMBA_CACHE`` would (before the kernels are defined).

    ``"0"`` when Numba finds no writable cache directory (it would otherwise refuse to
    define a cached kernel at all); ``"entry"`` in the warm-up's helper processes.
    """
    global CACHE_MODE
    CACHE_MODE = mode
    JIT_OPTIONS["cache"] = mode not in ("0", "entry")
    for options in (ENTRY_JIT_OPTIONS, PARALLEL_JIT_OPTIONS):
        options["cache"] = mode != "0"

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

#: The ``seed`` estimator refuses to whiten a slice whose ``1 - rho^2`` is at most this
#: (the slice's estimate is then non-finite and reported): below it the pair is linearly
#: dependent up to the tie-breaking jitter, its MI would exceed 13.8 nats, beyond any
#: k-NN estimate, and the whitened coordinates would be rounding noise.
WHITEN_MIN_RESIDUAL: float = 1e-12
