# Cython declarations for wirespeed/_core/transport.py (compiled in pure-Python mode).
#
# Cython code can cimport the listener face's types from here:
#
#     from wirespeed._core.transport cimport WSFrame, WSListener, WSTransport
#
# See examples/cython_echo_client.pyx.

cimport cython

from wirespeed._core.framing cimport FrameReader, frame_header, random_mask_key, serialize_frame
from wirespeed._core.mask cimport mask_inplace, mask_slice
from wirespeed._core.protocol cimport Protocol
from wirespeed._core.sockio cimport (
    new_buffer,
    read_into,
    view_bytes,
    view_slice,
    write_masked,
    write_some,
    writev_some,
)

cdef tuple MSG_TYPES
cdef object _SelectorSocketTransport
cdef bint _HAS_WRITEV, _SELECTOR_COPIES
cdef Py_ssize_t _WRITEV_THRESHOLD
cdef Py_ssize_t _MASK_BUFFER_MAX


cdef class WSFrame:
    cdef public object msg_type
    cdef public bint fin
    cdef public bint rsv1
    cdef public Py_ssize_t payload_size
    cdef public object view
    cdef public Py_ssize_t start
    cdef public object data

    cpdef object get_payload_as_memoryview(self)
    cpdef bytes get_payload_as_bytes(self)
    cpdef str get_payload_as_utf8_text(self)
    cpdef str get_payload_as_ascii_text(self)
    cpdef get_close_reason(self)


cdef tuple _READER_NEEDS
cdef int _MAX_READS


cdef class DirectReader:
    cdef public object transport
    cdef public WSProtocolBase protocol
    cdef public int fd

    @cython.locals(nbytes=Py_ssize_t, reads=int)
    cpdef read_ready(self)


cdef class WSListener:
    cpdef on_ws_connected(self, WSTransport transport)
    cpdef on_ws_frame(self, WSTransport transport, WSFrame frame)
    cpdef on_ws_disconnected(self, WSTransport transport)
    cpdef send_user_specific_ping(self, WSTransport transport)
    cpdef is_user_specific_pong(self, WSFrame frame)
    cpdef pause_writing(self)
    cpdef resume_writing(self)


cdef class WSTransport:
    cdef public bint is_client_side
    cdef public object underlying_transport
    cdef public Protocol protocol
    cdef public object logger
    cdef public object loop
    cdef public object request
    cdef public object response
    cdef public object listener
    cdef public bint mask
    cdef public bytearray mask_buffer
    cdef public int fd
    cdef public bint transport_copies
    cdef public bint selector
    cdef public DirectReader direct_reader
    cdef public bint disconnected
    cdef public object disconnected_future
    cdef public object close_timer
    cdef public double close_timeout
    cdef public bint auto_ping_enabled
    cdef public double auto_ping_idle_timeout
    cdef public double auto_ping_reply_timeout
    cdef public bint auto_ping_periodic
    cdef public object auto_ping_timer
    cdef public double last_data_time
    cdef public bint waiting_for_pong
    cdef public object pong_waiter

    @cython.locals(protocol=Protocol, length=Py_ssize_t, key=bytes, header=bytes)
    cpdef send(self, int msg_type, object message=*, bint fin=*, bint rsv1=*, bint compress=*)

    @cython.locals(protocol=Protocol, size=Py_ssize_t, length=Py_ssize_t, start=Py_ssize_t,
                   key=bytes, header=bytes)
    cpdef send_reuse_external_bytearray(self, int msg_type, object buffer, Py_ssize_t msg_offset,
                                        bint fin=*, bint rsv1=*)

    cdef bint can_write_directly(self) except -1

    @cython.locals(sent=Py_ssize_t, key=bytes, header=bytes, scratch=bytearray,
                   needed=Py_ssize_t, size=Py_ssize_t)
    cpdef write_masked_frame(self, int msg_type, object payload, Py_ssize_t length, bint fin,
                             bint rsv1)

    @cython.locals(sent=Py_ssize_t)
    cpdef write_view(self, object data)

    @cython.locals(sent=Py_ssize_t)
    cpdef write_data(self, bytes data)

    @cython.locals(sent=Py_ssize_t)
    cpdef write_parts(self, bytes header, object payload)

    @cython.locals(protocol=Protocol, writes=list)
    cpdef flush(self)


cdef class WSProtocolBase:
    cdef public Protocol protocol
    cdef public bint disconnect_on_error
    cdef public bint auto_pong
    cdef public bint open
    cdef public WSTransport transport
    cdef public object listener
    cdef public bytearray handshake_buffer
    cdef public object logger
    cdef public bint trace

    cpdef get_buffer(self, Py_ssize_t sizehint)

    @cython.locals(transport=WSTransport)
    cpdef buffer_updated(self, Py_ssize_t nbytes)

    @cython.locals(
        protocol=Protocol, reader=FrameReader, transport=WSTransport, opcode=int, first=int,
        frame=WSFrame,
    )
    cpdef receive_frames(self)

    @cython.locals(transport=WSTransport, is_pong=bint, typed_listener=WSListener)
    cpdef deliver(self, WSFrame frame)
