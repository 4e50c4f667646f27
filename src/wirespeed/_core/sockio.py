"""Writing to a non-blocking socket without going through an asyncio transport.

The listener face writes frames straight to the socket when the transport has
nothing buffered (see :mod:`wirespeed._core.transport`). These two functions
are that write: they return the number of bytes the socket took, ``-1`` if it
took nothing because its buffer is full (``EAGAIN``), or ``-2`` on any other
error, which the caller leaves to the transport to report (it hands it the
same bytes, and its own write fails the same way).

This pure-Python module is replaced by ``sendio.pyx`` when the extension is
built; that one makes the system calls without creating Python objects and
holds the GIL for short writes.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["write_some", "writev_some"]

_write = os.write
_writev = getattr(os, "writev", None)


def write_some(fd: int, data: Any) -> int:
    """Write as much of ``data`` to ``fd`` as it takes now; see the module docstring."""
    try:
        return _write(fd, data)
    except BlockingIOError:
        return -1
    except OSError:
        return -2


def writev_some(fd: int, header: Any, payload: Any) -> int:
    """Write ``header`` then ``payload`` to ``fd`` in one system call (``writev``)."""
    if _writev is None:  # pragma: no cover - Windows, where nothing calls it
        return -2
    try:
        return _writev(fd, (header, payload))
    except BlockingIOError:
        return -1
    except OSError:
        return -2
