"""Build script: compiles the protocol core with Cython when it can.

The core is written once, as plain Python modules (``.py``) typed by Cython
``.pxd`` files, plus two leaf primitives (masking, UTF-8 validation) that have a
``.pyx`` twin written in C-level Cython. When Cython or a C compiler is missing,
or ``WIRESPEED_NO_EXTENSIONS=1`` is set at build time, the package installs
without extensions and runs the same modules in pure Python.
"""

import os
import sys

from setuptools import setup
from setuptools.command.build_ext import build_ext

# (module name, source) for every compiled module.  A ``.py`` source is compiled
# in Cython's pure-Python mode with the ``.pxd`` beside it.
COMPILED_MODULES = [
    ("wirespeed._core.mask", "src/wirespeed/_core/mask.pyx"),
    ("wirespeed._core.utf8", "src/wirespeed/_core/utf8.pyx"),
    ("wirespeed._core.sockio", "src/wirespeed/_core/sockio.pyx"),
    ("wirespeed.frames", "src/wirespeed/frames.py"),
    ("wirespeed._core.framing", "src/wirespeed/_core/framing.py"),
    ("wirespeed._core.protocol", "src/wirespeed/_core/protocol.py"),
    ("wirespeed._core.transport", "src/wirespeed/_core/transport.py"),
    ("wirespeed.asyncio.connection", "src/wirespeed/asyncio/connection.py"),
]


class OptionalBuildExt(build_ext):
    """Build the extensions, but install without them if compilation fails."""

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
            f"WARNING: wirespeed's C extension could not be built ({exc}); "
            "the pure-Python implementation will be used.\n"
        )


def extensions():
    if os.environ.get("WIRESPEED_NO_EXTENSIONS"):
        return []
    try:
        from Cython.Build import cythonize
    except ImportError:
        sys.stderr.write("WARNING: Cython is not available; building without extensions.\n")
        return []
    from setuptools import Extension

    modules = [
        Extension(name, [source], extra_compile_args=["-O3"]) for name, source in COMPILED_MODULES
    ]
    return cythonize(
        modules,
        compiler_directives={
            "language_level": 3,
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "embedsignature": True,
            # Types come from the .pxd files; annotations are for readers and mypy.
            "annotation_typing": False,
        },
        quiet=True,
    )


setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})
