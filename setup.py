"""Build script for the optional Cython extensions of fastsmi.

The Numba core needs no compiler.  The Cython fallback backend and the
KD-tree are compiled here; if compilation fails (no C compiler, no Python
headers) the package still installs, with the Numba backend only, and says so.
"""
import os
import platform
import sys

from setuptools import setup
from setuptools.command.build_ext import build_ext


class OptionalBuildExt(build_ext):
    """Compile the extensions, but never let a compiler failure stop the install."""

    def run(self):
        try:
            super().run()
        except Exception as exc:  # pragma: no cover - depends on the machine
            self._warn(exc)

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as exc:  # pragma: no cover - depends on the machine
            self._warn(exc)

    @staticmethod
    def _warn(exc):
        sys.stderr.write(
            "\nWARNING: fastsmi's Cython extensions could not be compiled "
            f"({exc}).\nfastsmi is installed with the Numba backend only; install a "
            "C compiler and the Python headers, then reinstall, to get backend='cython'.\n\n"
        )


#: C flags of the extensions.  They target the baseline of the platform a wheel is built
#: for (no -march=native): the kernels' lane loops are written branch-free with constant
#: trip counts, so -O3 vectorises them with the baseline's vector unit (SSE2 on x86-64).
#: -ffp-contract=off never fuses a * b + c into an FMA (the Numba twin never does), so
#: every sum is the same sequence of IEEE operations in both twins.  -ffast-math (or
#: any flag it implies that reorders or approximates arithmetic) must never be added:
#: results must agree bit for bit with Numba's.
COMPILE_ARGS = ("-O3", "-ffp-contract=off")

#: Extensions named ``*_avx2`` are a second build of a kernel module for x86-64 CPUs
#: with AVX2 (picked at import, see fastsmi._cython._simd): the same source with this
#: flag added.  AVX2 alone, not FMA: an FMA rounds once where Numba rounds twice.
AVX2_ARGS = ("-mavx2",)


def _wants_avx2_build():
    """x86-64 with a GCC-style compiler: where ``-mavx2`` is understood."""
    return platform.machine().lower() in ("x86_64", "amd64") and sys.platform != "win32"


def _extensions():
    if os.environ.get("FASTSMI_NO_CYTHON"):
        return []
    try:
        import numpy
        from Cython.Build import cythonize
    except ImportError:  # pragma: no cover
        sys.stderr.write("WARNING: Cython or numpy missing at build time; skipping extensions.\n")
        return []
    from setuptools import Extension

    here = os.path.dirname(os.path.abspath(__file__))
    cy_dir = os.path.join(here, "fastsmi", "_cython")
    exts = []
    for name in sorted(os.listdir(cy_dir)):
        if name.endswith(".pyx"):
            mod = name[:-4]
            args = list(COMPILE_ARGS)
            if mod.endswith("_avx2"):
                if not _wants_avx2_build():
                    continue
                args += AVX2_ARGS
            exts.append(
                Extension(
                    f"fastsmi._cython.{mod}",
                    [os.path.join("fastsmi", "_cython", name)],
                    include_dirs=[numpy.get_include()],
                    define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
                    extra_compile_args=args,
                )
            )
    if not exts:
        return []
    return cythonize(
        exts,
        language_level=3,
        compiler_directives={
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
        },
    )


setup(ext_modules=_extensions(), cmdclass={"build_ext": OptionalBuildExt})
