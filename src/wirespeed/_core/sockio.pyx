# cython: language_level=3, boundscheck=False, wraparound=False
# cython: embedsignature=True, embedsignature.format=python
"""Reading and writing a non-blocking socket without an asyncio transport's code.

Compiled twin of ``sockio.py`` (same functions, same results): the listener
face writes frames straight to the socket when the transport has nothing
buffered, and reads straight into its receive buffer on asyncio's own loop.
The write functions (``write_masked`` masks a client frame into a reusable
scratch buffer as it writes it) return the number of bytes the socket took,
``-1`` if it took nothing because its buffer is full (``EAGAIN``), or ``-2``
on any other error, which the caller leaves to the transport to report.
``read_into`` returns the number of bytes read (0 at the end of the stream),
``-1`` if there was nothing to read, and raises ``OSError`` on errors.
``new_payload`` returns a new bytes object with a writable view of its
storage, for a payload received straight into the object delivered.

A write runs with the GIL held under 64 KiB (releasing and taking it back
would cost more than the write), without it for larger ones. Reads hold the
GIL, like uvloop's.
"""

import os

from cpython.buffer cimport (
    PyBUF_SIMPLE,
    PyBUF_WRITABLE,
    PyBuffer_FillInfo,
    PyBuffer_Release,
    PyObject_GetBuffer,
)
from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_FromStringAndSize, PyByteArray_GET_SIZE
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.memoryview cimport PyMemoryView_FromObject, PyMemoryView_GET_BUFFER
from libc.string cimport memcpy

from wirespeed._core.mask_kernel cimport mask_into

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

cdef extern from *:
    """
    #ifdef _WIN32
    #include <errno.h>
    static Py_ssize_t wirespeed_write(int fd, const char *data, Py_ssize_t size)
    {
        (void)fd; (void)data; (void)size;
        return -2;
    }
    static Py_ssize_t wirespeed_writev2(int fd, const char *a, Py_ssize_t a_size,
                                        const char *b, Py_ssize_t b_size)
    {
        (void)fd; (void)a; (void)a_size; (void)b; (void)b_size;
        return -2;
    }
    static Py_ssize_t wirespeed_read(int fd, char *data, Py_ssize_t size, int *error)
    {
        (void)fd; (void)data; (void)size;
        *error = ENOSYS;
        return -2;
    }
    #else
    #include <errno.h>
    #include <sys/uio.h>
    #include <unistd.h>
    static Py_ssize_t wirespeed_result(ssize_t result)
    {
        if (result >= 0)
            return (Py_ssize_t)result;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return -1;
        return -2;
    }
    static Py_ssize_t wirespeed_write(int fd, const char *data, Py_ssize_t size)
    {
        ssize_t result;
        do {
            result = write(fd, data, (size_t)size);
        } while (result < 0 && errno == EINTR);
        return wirespeed_result(result);
    }
    static Py_ssize_t wirespeed_writev2(int fd, const char *a, Py_ssize_t a_size,
                                        const char *b, Py_ssize_t b_size)
    {
        struct iovec parts[2];
        ssize_t result;
        parts[0].iov_base = (void *)a;
        parts[0].iov_len = (size_t)a_size;
        parts[1].iov_base = (void *)b;
        parts[1].iov_len = (size_t)b_size;
        do {
            result = writev(fd, parts, 2);
        } while (result < 0 && errno == EINTR);
        return wirespeed_result(result);
    }
    static Py_ssize_t wirespeed_read(int fd, char *data, Py_ssize_t size, int *error)
    {
        ssize_t result;
        do {
            result = read(fd, data, (size_t)size);
        } while (result < 0 && errno == EINTR);
        if (result >= 0)
            return (Py_ssize_t)result;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return -1;
        *error = errno;
        return -2;
    }
    #endif
    """
    Py_ssize_t wirespeed_write(int fd, const char* data, Py_ssize_t size) nogil
    Py_ssize_t wirespeed_writev2(int fd, const char* a, Py_ssize_t a_size,
                                 const char* b, Py_ssize_t b_size) nogil
    Py_ssize_t wirespeed_read(int fd, char* data, Py_ssize_t size, int* error) nogil

# Writes at least this long release the GIL.
cdef enum:
    NOGIL_THRESHOLD = 65536


cpdef Py_ssize_t write_some(int fd, object data) except -3:
    """Write as much of ``data`` to ``fd`` as it takes now.

    :returns: the number of bytes written, -1 if none could be (``EAGAIN``),
        -2 on any other error.
    """
    cdef Py_buffer view
    cdef Py_ssize_t result
    PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
    try:
        if view.len >= NOGIL_THRESHOLD:
            with nogil:
                result = wirespeed_write(fd, <const char*>view.buf, view.len)
        else:
            result = wirespeed_write(fd, <const char*>view.buf, view.len)
    finally:
        PyBuffer_Release(&view)
    return result


cpdef Py_ssize_t writev_some(int fd, object header, object payload) except -3:
    """Write ``header`` then ``payload`` to ``fd`` in one system call (``writev``).

    :returns: the number of bytes written, -1 if none could be (``EAGAIN``),
        -2 on any other error.
    """
    cdef Py_buffer first
    cdef Py_buffer second
    cdef Py_ssize_t result
    PyObject_GetBuffer(header, &first, PyBUF_SIMPLE)
    try:
        PyObject_GetBuffer(payload, &second, PyBUF_SIMPLE)
        try:
            if first.len + second.len >= NOGIL_THRESHOLD:
                with nogil:
                    result = wirespeed_writev2(fd, <const char*>first.buf, first.len,
                                               <const char*>second.buf, second.len)
            else:
                result = wirespeed_writev2(fd, <const char*>first.buf, first.len,
                                           <const char*>second.buf, second.len)
        finally:
            PyBuffer_Release(&second)
    finally:
        PyBuffer_Release(&first)
    return result


cpdef Py_ssize_t read_into(int fd, object buffer) except -3:
    """Read from ``fd`` into the writable ``buffer``.

    :returns: the number of bytes read (0 at the end of the stream), -1 if
        there was nothing to read (``EAGAIN``).
    :raises OSError: on any other error (its subclass for the errno).
    """
    cdef Py_buffer view
    cdef Py_ssize_t result
    cdef int error = 0
    PyObject_GetBuffer(buffer, &view, PyBUF_WRITABLE)
    try:
        result = wirespeed_read(fd, <char*>view.buf, view.len, &error)
    finally:
        PyBuffer_Release(&view)
    if result == -2:
        raise OSError(error, os.strerror(error))
    return result


cpdef bytearray new_buffer(Py_ssize_t size):
    """Return a bytearray of ``size`` bytes to receive into, its content uninitialised.

    The receive buffer is only read where bytes were received, and a large
    buffer is not written to (nor its pages faulted in) before the first read
    lands in it.
    """
    if size < 0:
        raise ValueError("negative size")
    return PyByteArray_FromStringAndSize(NULL, size)


cdef inline int _check_slice(Py_buffer* buffer, Py_ssize_t start, Py_ssize_t length) except -1:
    if start < 0 or length < 0 or start + length > buffer.len:
        raise IndexError(f"[{start}:{start + length}] is outside a view of {buffer.len} bytes")
    return 0


cpdef object view_slice(object view, Py_ssize_t start, Py_ssize_t length):
    """Return ``view[start:start + length]``.

    For a one-dimensional memoryview of bytes (the receive buffer's), the new
    view is made like CPython's slicing makes it (it shares the same buffer
    export), without creating a slice object and its two integers.
    """
    cdef Py_buffer* buffer
    cdef object result
    if type(view) is not memoryview:
        return view[start : start + length]
    buffer = PyMemoryView_GET_BUFFER(view)
    if buffer.ndim != 1 or buffer.itemsize != 1 or buffer.strides == NULL or buffer.strides[0] != 1:
        return view[start : start + length]
    _check_slice(buffer, start, length)
    result = PyMemoryView_FromObject(view)
    buffer = PyMemoryView_GET_BUFFER(result)
    buffer.buf = <char*>buffer.buf + start
    buffer.len = length
    buffer.shape[0] = length
    return result


cpdef bytes view_bytes(object view, Py_ssize_t start, Py_ssize_t length):
    """Return a copy of ``view[start:start + length]`` as bytes."""
    cdef Py_buffer* buffer
    if type(view) is not memoryview:
        return bytes(view[start : start + length])
    buffer = PyMemoryView_GET_BUFFER(view)
    if buffer.ndim != 1 or buffer.itemsize != 1 or buffer.strides == NULL or buffer.strides[0] != 1:
        return bytes(view[start : start + length])
    _check_slice(buffer, start, length)
    return PyBytes_FromStringAndSize(<char*>buffer.buf + start, length)


cpdef Py_ssize_t write_masked(int fd, bytearray scratch, bytes header, object payload,
                              bytes key) except -3:
    """Write ``header`` then ``payload`` masked with the 4-byte ``key``, through ``scratch``.

    The payload is masked into ``scratch`` (after the header, for the first
    chunk) one chunk at a time, and each chunk is written before the next is
    masked, so that a frame of any size needs no buffer of its size. It stops
    at the first write that the socket does not take whole.

    ``scratch`` must hold at least the header and one more byte; it is free
    again once this returns (nothing keeps a reference to it).

    :returns: the number of bytes written (header included), -1 if none
        could be (``EAGAIN``), -2 on any other error before any was written.
    """
    cdef Py_buffer view
    cdef Py_ssize_t header_size = PyBytes_GET_SIZE(header)
    cdef Py_ssize_t capacity = PyByteArray_GET_SIZE(scratch)
    cdef unsigned char* start = <unsigned char*>PyByteArray_AS_STRING(scratch)
    cdef unsigned char* out
    cdef const unsigned char* key_bytes = <const unsigned char*>PyBytes_AS_STRING(key)
    cdef const unsigned char* data
    cdef Py_ssize_t length, done = 0, prefix = header_size, lead = 0, room, chunk, written
    cdef Py_ssize_t total = 0
    if PyBytes_GET_SIZE(key) != 4:
        raise ValueError("masking key must be 4 bytes long")
    if capacity <= header_size:
        raise ValueError("scratch buffer too small for the header")
    if capacity >= header_size + 4096:
        # Masked bytes are stored 64-byte aligned: faster.
        lead = (64 - <Py_ssize_t>((<size_t>start + header_size) & 63)) & 63
    room = capacity - lead - header_size
    PyObject_GetBuffer(payload, &view, PyBUF_SIMPLE)
    try:
        data = <const unsigned char*>view.buf
        length = view.len
        memcpy(start + lead, PyBytes_AS_STRING(header), header_size)
        with nogil:
            while True:
                chunk = room
                if chunk > length - done:
                    chunk = length - done
                mask_into(start + lead + header_size, data + done, chunk, key_bytes, done)
                # The header goes out with the first chunk.
                out = start + lead + header_size - prefix
                written = wirespeed_write(fd, <const char*>out, prefix + chunk)
                if written < 0:
                    if total == 0:
                        total = written
                    break
                total += written
                done += chunk
                if written < prefix + chunk or done == length:
                    break
                prefix = 0
    finally:
        PyBuffer_Release(&view)
    return total


cdef class PayloadStorage:
    """Export the storage of a new :class:`bytes` object as a writable buffer.

    Only :func:`new_payload` creates them, for a bytes object that nothing
    else references yet. The exported buffer holds a reference to this
    object, which holds the bytes object: the memory stays valid as long as
    any view of it exists.
    """

    cdef bytes data

    def __getbuffer__(self, Py_buffer* buffer, int flags):
        PyBuffer_FillInfo(buffer, self, PyBytes_AS_STRING(self.data),
                          PyBytes_GET_SIZE(self.data), 0, flags)

    def __releasebuffer__(self, Py_buffer* buffer):
        pass


cpdef tuple new_payload(Py_ssize_t size):
    """Return a new bytes object of ``size`` bytes and a writable memoryview of it.

    The bytes object's content is uninitialised until written through the
    view. Its owner must fill it and stop writing to it before sharing it:
    bytes objects are immutable for everybody else. ``size`` must be at
    least 2 (shorter bytes objects may be shared singletons).
    """
    cdef PayloadStorage storage
    if size < 2:
        raise ValueError("a payload object holds at least 2 bytes")
    storage = PayloadStorage.__new__(PayloadStorage)
    storage.data = PyBytes_FromStringAndSize(NULL, size)
    return storage.data, memoryview(storage)
