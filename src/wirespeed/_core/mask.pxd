# Cython declarations for wirespeed/_core/mask.pyx (WebSocket payload masking).
#
# Compiled modules use them with, for example:
#
#     from wirespeed._core.mask cimport mask_inplace, mask_into, mask_slice
#
# The cpdef functions are called at C speed from Cython and behave exactly
# like the functions of the pure-Python mask.py.

cdef void mask_into(unsigned char* dst, const unsigned char* src, Py_ssize_t length,
                    const unsigned char* key, Py_ssize_t key_offset) noexcept nogil

cpdef bytes apply_mask(object data, object key)

cpdef bytes mask_slice(object buffer, Py_ssize_t start, Py_ssize_t end, object key,
                       Py_ssize_t key_offset)

cpdef void mask_inplace(object buffer, Py_ssize_t start, Py_ssize_t end, object key,
                        Py_ssize_t key_offset) except *

cpdef bytes mask_with_prefix(bytes prefix, object data, object key)

cpdef bytes encode_frame(int first_byte, object data, object key)

cpdef bytes encode_masked_frame(int first_byte, object data, bytes keys, Py_ssize_t key_offset)
