# Cython declarations for wirespeed/_core/sendio.pyx (direct socket writes).
#
# Compiled modules use them with:
#
#     from wirespeed._core.sendio cimport write_some, writev_some

cpdef Py_ssize_t write_some(int fd, object data) except -3

cpdef Py_ssize_t writev_some(int fd, object header, object payload) except -3
