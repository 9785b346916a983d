# distutils: extra_compile_args = -ffp-contract=off
# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False
# -ffp-contract=off: never fuse ``a * b + c`` into an FMA, so every sum is the
# same sequence of IEEE operations as in the Numba kernels (which never fuse).
"""The slice kernels of :mod:`fastsmi._cython._slices`, compiled for AVX2.

The same source (``_slices_impl.pxi``) built with ``-mavx2``, so the lane loops
run four float64 lanes a vector instead of two.  Imported in place of the
baseline build when the CPU has AVX2 (:mod:`fastsmi._cython._simd`); the numbers
are the same bits, as no flag here reorders, fuses or approximates arithmetic.
"""

include "_slices_impl.pxi"
