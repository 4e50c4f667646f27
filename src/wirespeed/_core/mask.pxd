# Cython declarations for wirespeed/_core/mask.pyx (WebSocket payload masking).
#
# Compiled modules use them with, for example:
#
#     from wirespeed._core.mask cimport mask_inplace, mask_into, mask_slice
#
# mask_into, the C masking loop itself, is an inline function of
# mask_kernel.pxd, cimported here so that it can be cimported from this module too.
#
# The cpdef functions are called at C speed from Cython and behave exactly
# like the functions of the pure-Python mask.py.

from wirespeed._core.mask_kernel cimport mask_into

cpdef bytes apply_mask(object data, object key)

cpdef bytes mask_slice(object buffer, Py_ssize_t start, Py_ssize_t end, object key,
                       Py_ssize_t key_offset)

cpdef void mask_inplace(object buffer, Py_ssize_t start, Py_ssize_t end, object key,
                        Py_ssize_t key_offset) except *

cpdef bytes mask_with_prefix(bytes prefix, object data, object key)

cpdef bytes encode_frame(int first_byte, object data, object key)

cpdef bytes encode_masked_frame(int first_byte, object data, bytes keys, Py_ssize_t key_offset)
