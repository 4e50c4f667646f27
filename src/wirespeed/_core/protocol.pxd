# Cython declarations for wirespeed/_core/protocol.py (compiled in pure-Python mode).
# Faces written in Cython cimport Protocol from here.

from wirespeed.frames cimport Frame
from wirespeed._core.framing cimport FrameReader, serialize_frame


cdef class Protocol:
    cdef public object id
    cdef public object logger
    cdef public bint debug
    cdef public object side
    cdef public object _state
    cdef public object max_message_size
    cdef public object max_fragment_size
    cdef public FrameReader reader
    cdef public bint mask_frames
    cdef public list extensions
    cdef public Py_ssize_t decoded_size
    cdef public list events
    cdef public list writes
    cdef public object close_rcvd
    cdef public object close_sent
    cdef public object close_rcvd_then_sent
    cdef public object handshake_exc
    cdef public object parser_exc
    cdef public bint expect_continuation
    cdef public bint eof_received
    cdef public bint eof_sent
    cdef public bint discarding
    cdef public bint auto_pong
    cdef public Frame decoded_frame
    cdef public bytes control_payload
    cdef public object pending_failure
    cdef public bint pending_failure_due
    cdef public bint complete_message_queued

    cdef bint process_next_frame(self) except -1
    cpdef receive_control_frame(self, int opcode, bytes data)

    cpdef send_frame(self, object opcode, object data, bint fin=*, bint compress=*)
