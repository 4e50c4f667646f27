# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: embedsignature=True, embedsignature.format=python
"""WebSocket payload masking (RFC 6455, section 5.3), compiled implementation.

This extension takes the place of ``mask.py`` when the package is built; it
exposes the same functions with the same behaviour (see ``mask.py`` for the
full description):

* ``apply_mask(data, key)`` masks a whole buffer;
* ``mask_slice(buffer, start, end, key, key_offset)`` masks
  ``buffer[start:end]``, read in place without copying the slice first,
  continuing the key at ``key_offset``;
* ``mask_inplace(buffer, start, end, key, key_offset)`` does the same and
  writes the result back into the (writable) buffer: no allocation at all.

Compiled modules can also call the C function ``mask_into`` (an inline
function of ``mask_kernel.pxd``, cimported by ``mask.pxd``), which masks from one C buffer into another
without the GIL.

The XOR runs eight bytes at a time on a 64-bit word holding the key twice,
with ``memcpy`` loads and stores so that unaligned buffers are safe on every
platform; the loop is simple enough for the C compiler to vectorise. The GIL
is released while masking payloads of 64 KiB or more.
"""

from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.string cimport memcpy

__all__ = [
    "apply_mask",
    "encode_frame",
    "encode_masked_frame",
    "mask_inplace",
    "mask_slice",
    "mask_with_prefix",
]

# Payloads at least this long are masked with the GIL released.
cdef enum:
    NOGIL_THRESHOLD = 65536


cdef int _read_key(object key, unsigned char* out) except -1:
    """Copy the 4-byte masking ``key`` (any buffer) to ``out``."""
    cdef Py_buffer view
    cdef Py_ssize_t length
    if type(key) is bytes:
        length = PyBytes_GET_SIZE(key)
        if length == 4:
            memcpy(out, PyBytes_AS_STRING(key), 4)
            return 0
    else:
        PyObject_GetBuffer(key, &view, PyBUF_SIMPLE)
        length = view.len
        if length == 4:
            memcpy(out, view.buf, 4)
        PyBuffer_Release(&view)
        if length == 4:
            return 0
    raise ValueError(f"masking key must be 4 bytes long, not {length}")


cdef bytes _masked_copy(const unsigned char* src, Py_ssize_t length,
                        const unsigned char* key, Py_ssize_t key_offset):
    """Return a new bytes object holding ``length`` masked bytes of ``src``."""
    cdef bytes result = PyBytes_FromStringAndSize(NULL, length)
    cdef unsigned char* dst = <unsigned char*>PyBytes_AS_STRING(result)
    if length >= NOGIL_THRESHOLD:
        with nogil:
            mask_into(dst, src, length, key, key_offset)
    else:
        mask_into(dst, src, length, key, key_offset)
    return result


cpdef bytes apply_mask(object data, object key):
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
    cdef unsigned char key_bytes[4]
    cdef Py_buffer view
    _read_key(key, key_bytes)
    if type(data) is bytes:
        # Immutable: its memory stays valid while the GIL is released.
        return _masked_copy(<const unsigned char*>PyBytes_AS_STRING(data),
                            PyBytes_GET_SIZE(data), key_bytes, 0)
    # The buffer export also keeps a bytearray from being resized meanwhile.
    PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
    try:
        return _masked_copy(<const unsigned char*>view.buf, view.len, key_bytes, 0)
    finally:
        PyBuffer_Release(&view)


cpdef bytes encode_frame(int first_byte, object data, object key):
    """Encode a whole frame: header, then the payload masked with ``key``.

    ``first_byte`` holds FIN, RSV1-3 and the opcode; ``key`` is the 4-byte
    masking key of a client frame, or None for an unmasked (server) frame. The
    length uses the minimal encoding. One allocation, one pass over the payload.
    """
    cdef unsigned char key_bytes[4]
    if key is None:
        return _encode(first_byte, data, NULL)
    _read_key(key, key_bytes)
    return _encode(first_byte, data, key_bytes)


cpdef bytes encode_masked_frame(int first_byte, object data, bytes keys, Py_ssize_t key_offset):
    """Encode a client frame whose masking key is ``keys[key_offset:key_offset + 4]``.

    Same result as ``encode_frame(first_byte, data, keys[key_offset:key_offset + 4])``,
    without creating the key as an object: ``keys`` is a pool of random bytes.
    """
    if keys is None or not 0 <= key_offset <= PyBytes_GET_SIZE(keys) - 4:
        raise ValueError(f"no 4-byte key at offset {key_offset} of the key pool")
    return _encode(first_byte, data, <const unsigned char*>PyBytes_AS_STRING(keys) + key_offset)


cdef bytes _encode(int first_byte, object data, const unsigned char* key):
    """encode_frame() with ``key`` a 4-byte C array, or NULL for an unmasked frame."""
    cdef unsigned char key_bytes[4]
    cdef Py_buffer view
    cdef Py_ssize_t length, header_length
    cdef unsigned char mask_bit = 0
    cdef bytes result
    cdef unsigned char* dst
    cdef int i
    if key != NULL:
        memcpy(key_bytes, key, 4)
        mask_bit = 0x80
    PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
    try:
        length = view.len
        if length < 126:
            header_length = 2
        elif length < 65536:
            header_length = 4
        else:
            header_length = 10
        if mask_bit:
            header_length += 4
        result = PyBytes_FromStringAndSize(NULL, header_length + length)
        dst = <unsigned char*>PyBytes_AS_STRING(result)
        dst[0] = <unsigned char>first_byte
        if length < 126:
            dst[1] = mask_bit | <unsigned char>length
        elif length < 65536:
            dst[1] = mask_bit | 126
            dst[2] = <unsigned char>(length >> 8)
            dst[3] = <unsigned char>length
        else:
            dst[1] = mask_bit | 127
            for i in range(8):
                dst[2 + i] = <unsigned char>(length >> (56 - 8 * i))
        if mask_bit:
            memcpy(dst + header_length - 4, key_bytes, 4)
            if length >= NOGIL_THRESHOLD and type(data) is bytes:
                with nogil:
                    mask_into(dst + header_length, <const unsigned char*>view.buf, length,
                              key_bytes, 0)
            else:
                mask_into(dst + header_length, <const unsigned char*>view.buf, length,
                          key_bytes, 0)
        else:
            memcpy(dst + header_length, view.buf, length)
        return result
    finally:
        PyBuffer_Release(&view)


cpdef bytes mask_with_prefix(bytes prefix, object data, object key):
    """Return ``prefix`` followed by ``data`` masked with ``key``, in one new object.

    Builds a whole client frame (``prefix`` is its header and key) with a single
    allocation and a single pass over the payload.
    """
    cdef unsigned char key_bytes[4]
    cdef Py_buffer view
    cdef Py_ssize_t prefix_length = PyBytes_GET_SIZE(prefix)
    cdef bytes result
    cdef unsigned char* dst
    _read_key(key, key_bytes)
    PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
    try:
        result = PyBytes_FromStringAndSize(NULL, prefix_length + view.len)
        dst = <unsigned char*>PyBytes_AS_STRING(result)
        memcpy(dst, PyBytes_AS_STRING(prefix), prefix_length)
        if view.len >= NOGIL_THRESHOLD and type(data) is bytes:
            with nogil:
                mask_into(dst + prefix_length, <const unsigned char*>view.buf, view.len,
                          key_bytes, 0)
        else:
            mask_into(dst + prefix_length, <const unsigned char*>view.buf, view.len,
                      key_bytes, 0)
        return result
    finally:
        PyBuffer_Release(&view)


cpdef bytes mask_slice(object buffer, Py_ssize_t start, Py_ssize_t end, object key,
                       Py_ssize_t key_offset):
    """Mask or unmask ``buffer[start:end]``, continuing the key at ``key_offset``.

    Byte ``i`` of the result is ``buffer[start + i] ^ key[(key_offset + i) % 4]``:
    ``key_offset`` is the number of payload bytes already unmasked when the
    payload arrives in several pieces (any integer; only its value modulo 4
    matters). ``mask_slice(buf, s, e, key, 0)`` equals
    ``apply_mask(buf[s:e], key)``, but reads the bytes in place.

    Unlike Python slicing, the bounds are not clamped and may not be
    negative: they must satisfy ``0 <= start <= end <= len(buffer)``
    (``len`` counted in bytes).

    :param buffer: the buffer holding the bytes, any C-contiguous buffer.
    :param start: index of the first byte to mask.
    :param end: index one past the last byte to mask.
    :param key: the masking key, any buffer of exactly 4 bytes.
    :param key_offset: position in the payload of ``buffer[start]``.
    :returns: the masked bytes, as a new :class:`bytes` object.
    :raises ValueError: if ``key`` is not 4 bytes long or the bounds are invalid.
    :raises TypeError: if ``buffer`` or ``key`` does not support the buffer protocol.
    :raises BufferError: if ``buffer`` or ``key`` is not C-contiguous.
    """
    cdef unsigned char key_bytes[4]
    cdef Py_buffer view
    cdef Py_ssize_t length
    _read_key(key, key_bytes)
    if type(buffer) is bytes:
        length = PyBytes_GET_SIZE(buffer)
        if not 0 <= start <= end <= length:
            raise ValueError(f"invalid slice [{start}:{end}] of a buffer of {length} bytes")
        return _masked_copy(<const unsigned char*>PyBytes_AS_STRING(buffer) + start,
                            end - start, key_bytes, key_offset)
    PyObject_GetBuffer(buffer, &view, PyBUF_SIMPLE)
    try:
        length = view.len
        if not 0 <= start <= end <= length:
            raise ValueError(f"invalid slice [{start}:{end}] of a buffer of {length} bytes")
        return _masked_copy(<const unsigned char*>view.buf + start, end - start,
                            key_bytes, key_offset)
    finally:
        PyBuffer_Release(&view)


cpdef void mask_inplace(object buffer, Py_ssize_t start, Py_ssize_t end, object key,
                        Py_ssize_t key_offset) except *:
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
    cdef unsigned char key_bytes[4]
    cdef Py_buffer view
    cdef unsigned char* pointer
    cdef Py_ssize_t length
    _read_key(key, key_bytes)
    PyObject_GetBuffer(buffer, &view, PyBUF_SIMPLE)
    try:
        if view.readonly:
            raise TypeError("mask_inplace needs a writable buffer")
        length = view.len
        if not 0 <= start <= end <= length:
            raise ValueError(f"invalid slice [{start}:{end}] of a buffer of {length} bytes")
        pointer = <unsigned char*>view.buf + start
        length = end - start
        if length >= NOGIL_THRESHOLD:
            with nogil:
                mask_into(pointer, pointer, length, key_bytes, key_offset)
        else:
            mask_into(pointer, pointer, length, key_bytes, key_offset)
    finally:
        PyBuffer_Release(&view)
