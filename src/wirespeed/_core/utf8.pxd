# Cython declarations for wirespeed/_core/utf8.pyx (incremental UTF-8 validation).
#
# Compiled modules use them with:
#
#     from wirespeed._core.utf8 cimport Utf8Validator
#
# The class is final, so its cpdef methods are called directly in C;
# feed_slice() validates part of a receive buffer without copying it, and
# feed_ptr() validates memory the caller already holds without even a buffer
# request. Python code sees the same class as the pure-Python utf8.py.

cimport cython


@cython.final
cdef class Utf8Validator:
    # Current state of the automaton (S_ACCEPT, in utf8.pyx: not inside a sequence).
    cdef unsigned int _state
    # The bytes of the incomplete sequence at the end of the last chunk, kept
    # only to build the error raised by finish().
    cdef unsigned char _pending[4]
    cdef Py_ssize_t _pending_length

    cpdef void reset(self) noexcept
    cpdef void feed(self, object data) except *
    cpdef void feed_slice(self, object buffer, Py_ssize_t start, Py_ssize_t end) except *
    cpdef void finish(self) except *
    cdef int feed_ptr(self, const unsigned char* data, Py_ssize_t length) except -1
    cdef int _feed_memory(self, const unsigned char* data, Py_ssize_t length,
                          bint release_gil) except -1
    cdef int _conclude(self, const unsigned char* data, Py_ssize_t length,
                       Py_ssize_t bad, unsigned int state) except -1
