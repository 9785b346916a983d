"""Build script for the optional Cython extensions of fastsmi.

The Numba core needs no compiler.  The Cython fallback backend and the
KD-tree are compiled here; if compilation fails (no C compiler, no Python
headers) the package still installs, with the Numba backend only, and says so.
"""
import os
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
            exts.append(
                Extension(
                    f"fastsmi._cython.{mod}",
                    [os.path.join("fastsmi", "_cython", name)],
                    include_dirs=[numpy.get_include()],
                    define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
                    extra_compile_args=["-O3"],
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
