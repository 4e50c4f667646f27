"""Reading and writing a non-blocking socket without an asyncio transport's code.

The listener face writes frames straight to the socket when the transport has
nothing buffered, and on asyncio's own loop it reads the socket straight into
the receive buffer (see :mod:`wirespeed._core.transport`). The two write
functions return the number of bytes the socket took, ``-1`` if it took
nothing because its buffer is full (``EAGAIN``), or ``-2`` on any other error,
which the caller leaves to the transport to report (it hands it the same
bytes, and its own write fails the same way). :func:`read_into` returns the
number of bytes read (0 at the end of the stream), ``-1`` if there was nothing
to read, and raises :class:`OSError` on errors.

This pure-Python module is replaced by ``sockio.pyx`` when the extension is
built; that one makes the system calls without creating Python objects and
holds the GIL for short writes.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["new_buffer", "read_into", "view_bytes", "view_slice", "write_some", "writev_some"]

_write = os.write
_writev = getattr(os, "writev", None)
_readv = getattr(os, "readv", None)


def read_into(fd: int, buffer: Any) -> int:
    """Read from ``fd`` into the writable ``buffer``; see the module docstring."""
    if _readv is None:  # pragma: no cover - Windows, where nothing calls it
        raise OSError("readv() is not available")
    try:
        return _readv(fd, (buffer,))
    except BlockingIOError:
        return -1


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


def new_buffer(size: int) -> bytearray:
    """Return a bytearray of ``size`` bytes to receive into.

    The compiled version leaves its content uninitialised: the receive buffer
    is only read where bytes were received, and a large buffer is not written
    to (nor its pages faulted in) before the first read lands in it.
    """
    return bytearray(size)


def view_slice(view: memoryview, start: int, length: int) -> memoryview:
    """Return ``view[start:start + length]`` (the compiled version makes no slice object)."""
    if start < 0 or length < 0 or start + length > len(view):
        raise IndexError(f"[{start}:{start + length}] is outside a view of {len(view)} bytes")
    return view[start : start + length]


def view_bytes(view: memoryview, start: int, length: int) -> bytes:
    """Return a copy of ``view[start:start + length]`` as bytes."""
    if start < 0 or length < 0 or start + length > len(view):
        raise IndexError(f"[{start}:{start + length}] is outside a view of {len(view)} bytes")
    return bytes(view[start : start + length])
