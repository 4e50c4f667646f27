# Cython declarations for wirespeed/_core/sockio.pyx (direct socket reads and writes).
#
# Compiled modules use them with:
#
#     from wirespeed._core.sockio cimport new_buffer, read_into, write_some, writev_some

cpdef Py_ssize_t write_some(int fd, object data) except -3

cpdef Py_ssize_t writev_some(int fd, object header, object payload) except -3

cpdef Py_ssize_t read_into(int fd, object buffer) except -3

cpdef bytearray new_buffer(Py_ssize_t size)

cpdef object view_slice(object view, Py_ssize_t start, Py_ssize_t length)

cpdef bytes view_bytes(object view, Py_ssize_t start, Py_ssize_t length)

cpdef Py_ssize_t write_masked(int fd, bytearray scratch, bytes header, object payload,
                              bytes key) except -3

cpdef tuple new_payload(Py_ssize_t size)
