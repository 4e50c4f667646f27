# Cython declarations for wirespeed/frames.py (compiled in pure-Python mode).

cdef class Frame:
    cdef public object opcode
    cdef public object data
    cdef public bint fin
    cdef public bint rsv1
    cdef public bint rsv2
    cdef public bint rsv3
    cpdef check(self)

