"""WebSocket payload masking (RFC 6455, section 5.3), pure-Python implementation.

A client masks every frame it sends by XORing the payload with a 4-byte key,
repeated: byte ``i`` of the payload is XORed with ``key[i % 4]``. Masking is its
own inverse, so the same functions unmask what a server receives.

This module is the reference implementation and the one used on the pure-Python
path (``WIRESPEED_NO_EXTENSIONS=1``). When the package is built with Cython, the
extension compiled from ``mask.pyx`` has the same module name and takes its
place; both expose exactly the same functions with the same behaviour:

* :func:`apply_mask` masks a whole buffer;
* :func:`mask_slice` masks ``buffer[start:end]`` as the continuation of a
  payload whose first ``key_offset`` bytes were masked earlier, which is how a
  payload that arrives in several reads is unmasked straight out of a receive
  buffer;
* :func:`mask_inplace` does the same but writes the result back into the
  buffer, which must be writable.

They accept any C-contiguous object that supports the buffer protocol
(:class:`bytes`, :class:`bytearray`, :class:`memoryview`, :mod:`array`, ...),
read-only or writable, and the first two return a new :class:`bytes` object. A
buffer that is not C-contiguous raises :exc:`BufferError`; an object that is
not a buffer raises :exc:`TypeError`; a key that is not exactly 4 bytes long
raises :exc:`ValueError`.

The pure-Python version XORs two big integers (the payload and the key
repeated to the payload's length), which runs at C speed inside CPython's
arbitrary-precision arithmetic instead of looping over bytes.
"""

from __future__ import annotations

from typing import Optional, Union

__all__ = [
    "apply_mask",
    "encode_frame",
    "encode_masked_frame",
    "mask_inplace",
    "mask_slice",
    "mask_with_prefix",
]

#: Anything :func:`apply_mask` and :func:`mask_slice` accept as a buffer.
BufferLike = Union[bytes, bytearray, memoryview]


def _byte_view(obj: object) -> BufferLike:
    """Return ``obj`` as a sequence of bytes without copying it.

    :class:`bytes` and :class:`bytearray` are returned unchanged; any other
    buffer becomes a one-dimensional ``memoryview`` of unsigned bytes, so that
    ``len()`` and slicing count bytes whatever the buffer's item format.
    """
    if type(obj) is bytes or type(obj) is bytearray:
        return obj  # type: ignore[return-value]
    view = memoryview(obj)  # type: ignore[arg-type]  # TypeError if not a buffer
    if not view.c_contiguous:
        raise BufferError("wirespeed: masking needs a C-contiguous buffer")
    if view.ndim != 1 or view.format != "B":
        view = view.cast("B")
    return view


def _check_key(key: object) -> bytes:
    """Return the masking key as :class:`bytes`, or raise if it is not 4 bytes."""
    if type(key) is not bytes:
        key = bytes(_byte_view(key))
    if len(key) != 4:  # type: ignore[arg-type]
        raise ValueError(f"masking key must be 4 bytes long, not {len(key)}")  # type: ignore[arg-type]
    return key  # type: ignore[return-value]


def _xor_key(data: BufferLike, key: bytes) -> bytes:
    """XOR ``data`` with ``key`` repeated, starting at ``key[0]``."""
    length = len(data)
    if not length:
        return b""
    quotient, remainder = divmod(length, 4)
    stream = key * quotient + key[:remainder]
    return (int.from_bytes(data, "big") ^ int.from_bytes(stream, "big")).to_bytes(length, "big")


def apply_mask(data: BufferLike, key: bytes) -> bytes:
    """Mask or unmask ``data`` with the 4-byte ``key``.

    Byte ``i`` of the result is ``data[i] ^ key[i % 4]``. Applying the same
    key twice gives the original bytes back.

    :param data: the payload, any C-contiguous buffer.
    :param key: the masking key, any buffer of exactly 4 bytes.
    :returns: the masked payload, as a new :class:`bytes` object.
    :raises ValueError: if ``key`` is not 4 bytes long.
    :raises TypeError: if ``data`` or ``key`` does not support the buffer protocol.
    :raises BufferError: if ``data`` or ``key`` is not C-contiguous.
    """
    key = _check_key(key)
    return _xor_key(_byte_view(data), key)


def mask_slice(buffer: BufferLike, start: int, end: int, key: bytes, key_offset: int) -> bytes:
    """Mask or unmask ``buffer[start:end]``, continuing the key at ``key_offset``.

    Byte ``i`` of the result is ``buffer[start + i] ^ key[(key_offset + i) % 4]``:
    ``key_offset`` is the number of payload bytes already unmasked when the
    payload arrives in several pieces (any integer; only its value modulo 4
    matters). ``mask_slice(buf, s, e, key, 0)`` equals
    ``apply_mask(buf[s:e], key)``.

    Unlike Python slicing, the bounds are not clamped and may not be
    negative: they must satisfy ``0 <= start <= end <= len(buffer)``
    (``len`` counted in bytes).

    :param buffer: the buffer holding the bytes, any C-contiguous buffer;
        the compiled implementation reads it in place, without copying the
        slice first.
    :param start: index of the first byte to mask.
    :param end: index one past the last byte to mask.
    :param key: the masking key, any buffer of exactly 4 bytes.
    :param key_offset: position in the payload of ``buffer[start]``.
    :returns: the masked bytes, as a new :class:`bytes` object.
    :raises ValueError: if ``key`` is not 4 bytes long or the bounds are invalid.
    :raises TypeError: if ``buffer`` or ``key`` does not support the buffer protocol.
    :raises BufferError: if ``buffer`` or ``key`` is not C-contiguous.
    """
    key = _check_key(key)
    view = _byte_view(buffer)
    if not 0 <= start <= end <= len(view):
        raise ValueError(f"invalid slice [{start}:{end}] of a buffer of {len(view)} bytes")
    shift = key_offset % 4
    if shift:
        key = key[shift:] + key[:shift]
    return _xor_key(view[start:end], key)


def mask_inplace(buffer: BufferLike, start: int, end: int, key: bytes, key_offset: int) -> None:
    """Mask or unmask ``buffer[start:end]`` in place, continuing the key at ``key_offset``.

    After the call, ``buffer[start:end]`` holds what
    ``mask_slice(buffer, start, end, key, key_offset)`` would have returned.
    The bounds follow the same rules as for :func:`mask_slice`.

    :param buffer: a writable C-contiguous buffer, a :class:`bytearray` for
        instance.
    :param start: index of the first byte to mask.
    :param end: index one past the last byte to mask.
    :param key: the masking key, any buffer of exactly 4 bytes.
    :param key_offset: position in the payload of ``buffer[start]``.
    :raises ValueError: if ``key`` is not 4 bytes long or the bounds are invalid.
    :raises TypeError: if ``buffer`` is read-only, or ``buffer`` or ``key`` does
        not support the buffer protocol.
    :raises BufferError: if ``buffer`` or ``key`` is not C-contiguous.
    """
    key = _check_key(key)
    view = _byte_view(buffer)
    if type(view) is bytes or (type(view) is memoryview and view.readonly):
        raise TypeError("mask_inplace needs a writable buffer")
    if not 0 <= start <= end <= len(view):
        raise ValueError(f"invalid slice [{start}:{end}] of a buffer of {len(view)} bytes")
    shift = key_offset % 4
    if shift:
        key = key[shift:] + key[:shift]
    view[start:end] = _xor_key(view[start:end], key)


def mask_with_prefix(prefix: bytes, data: BufferLike, key: BufferLike) -> bytes:
    """Return ``prefix`` followed by ``data`` masked with ``key``, in one new object.

    Builds a whole client frame (``prefix`` is its header and key) at once.
    """
    return prefix + apply_mask(data, key)


def encode_frame(first_byte: int, data: BufferLike, key: Optional[BufferLike]) -> bytes:
    """Encode a whole frame: header, then the payload masked with ``key``.

    ``first_byte`` holds FIN, RSV1-3 and the opcode; ``key`` is the 4-byte
    masking key of a client frame, or None for an unmasked (server) frame. The
    length uses the minimal encoding.
    """
    length = memoryview(data).nbytes
    mask_bit = 0x80 if key is not None else 0
    if length < 126:
        header = bytes((first_byte, mask_bit | length))
    elif length < 65536:
        header = bytes((first_byte, mask_bit | 126)) + length.to_bytes(2, "big")
    else:
        header = bytes((first_byte, mask_bit | 127)) + length.to_bytes(8, "big")
    if key is None:
        return header + bytes(data)
    return header + bytes(key) + apply_mask(data, key)


def encode_masked_frame(first_byte: int, data: BufferLike, keys: bytes, key_offset: int) -> bytes:
    """Encode a client frame whose masking key is ``keys[key_offset:key_offset + 4]``.

    Same result as ``encode_frame(first_byte, data, keys[key_offset:key_offset + 4])``;
    the compiled version reads the key in place, from a pool of random bytes.
    """
    if not 0 <= key_offset <= len(keys) - 4:
        raise ValueError(f"no 4-byte key at offset {key_offset} of {len(keys)} bytes")
    return encode_frame(first_byte, data, keys[key_offset : key_offset + 4])
