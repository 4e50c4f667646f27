"""Reading and writing a non-blocking socket without an asyncio transport's code.

The listener face writes frames straight to the socket when the transport has
nothing buffered, and on asyncio's own loop it reads the socket straight into
the receive buffer (see :mod:`wirespeed._core.transport`). The write
functions (:func:`write_some`, :func:`writev_some`, and :func:`write_masked`,
which masks a client frame into a reusable scratch buffer as it writes it)
return the number of bytes the socket took, ``-1`` if it took nothing because
its buffer is full (``EAGAIN``), or ``-2`` on any other error, which the
caller leaves to the transport to report (it hands it the same bytes, and its
own write fails the same way). :func:`read_into` returns the number of bytes
read (0 at the end of the stream), ``-1`` if there was nothing to read, and
raises :class:`OSError` on errors. :func:`new_buffer` and :func:`new_payload`
allocate what reads land in.

This pure-Python module is replaced by ``sockio.pyx`` when the extension is
built; that one makes the system calls without creating Python objects and
holds the GIL for short writes.
"""

from __future__ import annotations

import os
from typing import Any, Tuple

from wirespeed._core.mask import mask_slice

__all__ = [
    "new_buffer",
    "new_payload",
    "read_into",
    "view_bytes",
    "view_slice",
    "write_masked",
    "write_some",
    "writev_some",
]

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


def write_masked(fd: int, scratch: bytearray, header: bytes, payload: Any, key: bytes) -> int:
    """Write ``header`` then ``payload`` masked with the 4-byte ``key``, through ``scratch``.

    The payload is masked into ``scratch`` (after the header, for the first
    chunk) one chunk at a time, and each chunk is written before the next is
    masked, so that a frame of any size needs no buffer of its size. It stops
    at the first write that the socket does not take whole. Returns the
    number of bytes written (header included), -1 if none could be
    (``EAGAIN``), -2 on any other error before any was written.
    """
    if len(key) != 4:
        raise ValueError("masking key must be 4 bytes long")
    capacity = len(scratch)
    if capacity <= len(header):
        raise ValueError("scratch buffer too small for the header")
    view = memoryview(payload).cast("B") if not isinstance(payload, bytes) else payload
    length = len(view)
    done = 0
    prefix = len(header)
    scratch[:prefix] = header
    total = 0
    while True:
        chunk = min(capacity - prefix, length - done)
        scratch[prefix : prefix + chunk] = mask_slice(view, done, done + chunk, key, done)
        written = write_some(fd, memoryview(scratch)[: prefix + chunk])
        if written < 0:
            return total if total else written
        total += written
        done += chunk
        if written < prefix + chunk or done == length:
            return total
        prefix = 0


def new_payload(size: int) -> Tuple[Any, memoryview]:
    """Return a new buffer of ``size`` bytes to receive a payload into, and a view of it.

    The compiled version returns a :class:`bytes` object (filled through the
    writable view before anyone else sees it); this one a :class:`bytearray`,
    which the caller turns into bytes once filled.
    """
    if size < 2:
        raise ValueError("a payload object holds at least 2 bytes")
    buffer = bytearray(size)
    return buffer, memoryview(buffer)


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
