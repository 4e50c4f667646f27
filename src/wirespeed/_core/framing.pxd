# Cython declarations for wirespeed/_core/framing.py (compiled in pure-Python mode).
# Other compiled modules cimport FrameReader from here.

cimport cython

from wirespeed.frames cimport Frame
from wirespeed._core.mask cimport encode_frame, encode_masked_frame, mask_inplace
from wirespeed._core.sockio cimport new_buffer, new_payload, view_slice
from wirespeed._core.utf8 cimport Utf8Validator

cdef tuple OPCODES
cdef int FIN_BIT, RSV1_BIT, RSV2_BIT, RSV3_BIT, RSV_BITS, OPCODE_BITS, MASK_BIT, LENGTH_BITS
cdef Py_ssize_t NO_LIMIT
cdef Py_ssize_t MIN_READ_SIZE
cdef Py_ssize_t SEPARATE_PAYLOAD_THRESHOLD
cdef object _pack_u16, _pack_u64
cdef Py_ssize_t _KEY_POOL_SIZE
cdef bytes _key_pool
cdef Py_ssize_t _key_pool_pos

cpdef bytes random_mask_key()

@cython.locals(first=int)
cdef inline int first_byte(int opcode, bint fin, bint rsv1, bint rsv2, bint rsv3) noexcept

@cython.locals(first=int, mask_bit=int, header=bytes)
cpdef bytes frame_header(
    int opcode,
    Py_ssize_t length,
    bint fin=*,
    bint rsv1=*,
    bint rsv2=*,
    bint rsv3=*,
    bytes mask_key=*,
)

@cython.locals(first=int, offset=Py_ssize_t)
cpdef bytes serialize_frame(
    int opcode,
    object data,
    bint fin=*,
    bint rsv1=*,
    bint rsv2=*,
    bint rsv3=*,
    bint mask=*,
)


@cython.final
cdef class FrameReader:
    cdef public bytearray buffer
    cdef public object view
    cdef public Py_ssize_t pos
    cdef public Py_ssize_t end
    cdef public bint expect_masked
    cdef public Py_ssize_t max_message_size
    cdef public Py_ssize_t max_fragment_size
    cdef public int allowed_rsv
    cdef public Utf8Validator validator
    cdef public bint header_done
    cdef public int opcode
    cdef public int first_byte
    cdef public bint masked
    cdef public bytearray key
    cdef public Py_ssize_t length
    cdef public Py_ssize_t received
    cdef public bint validate
    cdef public Py_ssize_t payload_start
    cdef public int message_opcode
    cdef public bint message_compressed
    cdef public Py_ssize_t message_size
    cdef public int message_kind
    cdef public bint last_frame_validated
    cdef public Py_ssize_t read_limit
    cdef public Py_ssize_t separate_threshold
    cdef public bint large
    cdef public object payload_data
    cdef public object payload_buffer
    cdef public Py_ssize_t filled
    cdef public bytes payload

    cpdef void separate_large_payloads(self, Py_ssize_t threshold=*) except *

    @cython.locals(size=Py_ssize_t, taken=Py_ssize_t)
    cpdef void feed(self, object data) except *

    @cython.locals(wanted=Py_ssize_t, remaining=Py_ssize_t, limit=Py_ssize_t)
    cpdef object get_buffer(self, Py_ssize_t sizehint=*)

    cpdef void buffer_updated(self, Py_ssize_t nbytes) noexcept

    @cython.locals(pending=Py_ssize_t, capacity=Py_ssize_t, new_capacity=Py_ssize_t, buffer=bytearray)
    cpdef void reserve(self, Py_ssize_t size) except *

    cpdef Frame next_frame(self)

    @cython.locals(first=int)
    cpdef Frame current_frame(self)

    @cython.locals(start=Py_ssize_t, end=Py_ssize_t)
    cpdef bytes payload_bytes(self)

    @cython.locals(pos=Py_ssize_t, available=Py_ssize_t, ready=Py_ssize_t, start=Py_ssize_t, end=Py_ssize_t,
                   threshold=Py_ssize_t)
    cpdef bint advance(self) except -1

    cpdef void drop_payload(self) noexcept

    @cython.locals(pending=Py_ssize_t)
    cdef int start_payload(self) except -1

    @cython.locals(filled=Py_ssize_t, start=Py_ssize_t)
    cdef bint advance_payload(self) except -1

    @cython.locals(
        buffer=bytearray, pos=Py_ssize_t, available=Py_ssize_t, first=int, second=int,
        length=cython.ulonglong, header_size=Py_ssize_t, masked=int, opcode=int,
        key=bytearray, index=Py_ssize_t,
    )
    cdef bint parse_header(self) except -1

    @cython.locals(opcode=int, rsv=int)
    cdef int check_first_bytes(self, int first, bint masked) except -1

    @cython.locals(current=Py_ssize_t)
    cdef int check_size(self, int opcode, Py_ssize_t length) except -1

    @cython.locals(first=int, opcode=int, fin=bint)
    cdef int end_frame(self) except -1
