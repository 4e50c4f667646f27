"""Choose between the compiled core and the pure-Python core.

wirespeed's core modules exist once, as Python source. When the package was
built with Cython, each of them also exists as a compiled extension module with
the same name, and Python's import system prefers the extension. Setting the
environment variable ``WIRESPEED_NO_EXTENSIONS`` to a non-empty value before
``wirespeed`` is first imported installs a finder that only sees Python source
inside the package, so the very same modules run uncompiled.
"""

from __future__ import annotations

import importlib.machinery
import os
import sys
from typing import Optional, Sequence

__all__ = ["COMPILED", "CORE_MODULES", "extensions_disabled", "install_pure_finder"]

#: The modules that have a compiled twin (see ``setup.py``).
CORE_MODULES = (
    "wirespeed._core.mask",
    "wirespeed._core.utf8",
    "wirespeed.frames",
    "wirespeed._core.framing",
    "wirespeed._core.protocol",
    "wirespeed._core.transport",
    "wirespeed.asyncio.connection",
)


def extensions_disabled() -> bool:
    """Return whether ``WIRESPEED_NO_EXTENSIONS`` asks for the pure-Python core."""
    return os.environ.get("WIRESPEED_NO_EXTENSIONS", "") not in ("", "0")


class _PureSourceFinder:
    """A meta path finder that resolves ``wirespeed.*`` to ``.py`` files only."""

    _loaders = (
        (importlib.machinery.SourceFileLoader, importlib.machinery.SOURCE_SUFFIXES),
        (importlib.machinery.SourcelessFileLoader, importlib.machinery.BYTECODE_SUFFIXES),
    )

    @classmethod
    def find_spec(
        cls, fullname: str, path: Optional[Sequence[str]], target: object = None
    ) -> Optional[importlib.machinery.ModuleSpec]:
        if not fullname.startswith("wirespeed.") or path is None:
            return None
        for entry in path:
            spec = importlib.machinery.FileFinder(entry, *cls._loaders).find_spec(fullname)
            if spec is not None:
                return spec
        return None


def install_pure_finder() -> None:
    """Make every later ``wirespeed.*`` import load Python source."""
    if not any(finder is _PureSourceFinder for finder in sys.meta_path):
        sys.meta_path.insert(0, _PureSourceFinder)  # type: ignore[arg-type]


def _is_compiled(module_name: str) -> bool:
    module = sys.modules.get(module_name)
    if module is None:
        module = __import__(module_name, fromlist=["_"])
    loader = getattr(module.__spec__, "loader", None)
    return isinstance(loader, importlib.machinery.ExtensionFileLoader)


if extensions_disabled():
    install_pure_finder()

#: True when every core module runs compiled; False on the pure-Python path.
COMPILED: bool = False


def _detect() -> bool:
    global COMPILED
    COMPILED = all(_is_compiled(name) for name in CORE_MODULES)
    return COMPILED
