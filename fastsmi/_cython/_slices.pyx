# distutils: extra_compile_args = -ffp-contract=off
# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False
# -ffp-contract=off: never fuse ``a * b + c`` into an FMA, so every sum is the
# same sequence of IEEE operations as in the Numba kernels (which never fuse).
"""Compiled 1-D slice kernels: the Cython twin of :mod:`fastsmi._numba._kernels`.

Every function here computes the same numbers as its Numba counterpart, with
the same operations in the same order, and runs the same algorithm, whose
constants both twins read from :mod:`fastsmi._algorithm`:

* each projection column is standardised with sequential sums in index order
  (``mean = sum / n``, ``std = sqrt(sum((p - mean)^2) / n)``), then jittered;
* the ``seed`` estimator whitens the pair exactly like ``whiten_pair``;
* samples are sorted by a bucket sort finished by insertion, falling back to
  an LSD radix argsort when values crowd; both give the stable argsort (ties
  keep index order, ``-0.0`` sorts as ``0.0``);
* joint k-nearest neighbours are exact, ordered by ``(distance, original
  index)``, found by a sweep over the x-sorted order or by a ring search over
  a grid of x/y quantiles; when only the k-th distance is needed (k <= 8) the
  grid is first scanned eight queries at a time through a min/max register
  network (the lane scan), and the ring search resumes from its registers for
  the few queries it could not settle;
* marginal counts are strict (``<``) for KSG-1 (eight queries' branch-free
  binary searches interleaved) and non-strict for KSG-2 and Ross, with
  distances computed as ``xs[j] - x0`` like the references.

The Python-level entry points (``ksg_chunk``, ``kl_chunk``,
``discrete_chunk``) estimate the slices ``lo:hi`` of one block of
projections with the GIL released; :mod:`fastsmi._cython.backend` runs
contiguous chunks of slices on Python threads.  A workspace is allocated once
per chunk, so the loop over slices allocates nothing.
"""
include "_slices_impl.pxi"
