# Cython declarations for wirespeed/asyncio/connection.py (compiled in pure-Python
# mode when listed in setup.py's COMPILED_MODULES; the same source runs as plain
# Python otherwise). Connection becomes a cdef class: its per-message work
# (on_ws_frame, recv, send) runs as C, and Python subclasses still work
# (instances keep a __dict__ for their own attributes).

from wirespeed._core.protocol cimport Protocol
from wirespeed._core.transport cimport WSListener, WSTransport


cdef int PENDING, DONE, CANCELLED
cdef object current_task
cdef object NO_MESSAGE


cdef class Waiter:
    cdef public bint _asyncio_future_blocking
    cdef public object callback
    cdef public object context
    cdef public object loop
    cdef public int state
    cdef public bint yielded

    cpdef Waiter arm(self)
    cpdef wake(self, bint now)


cdef class Fragment:
    cdef public object data
    cdef public bint text
    cdef public bint fin


cdef class Connection(WSListener):
    cdef dict __dict__
    cdef public object ping_interval
    cdef public object ping_timeout
    cdef public object close_timeout
    cdef public object max_queue_high
    cdef public Py_ssize_t max_queue_low
    cdef public object write_limit_high
    cdef public Py_ssize_t write_limit_low
    cdef public Py_ssize_t read_limit
    cdef public object logger
    cdef public double latency
    cdef public object loop
    cdef public WSTransport transport
    cdef public object underlying_transport
    cdef public Protocol protocol
    cdef public object request
    cdef public object response
    cdef public object messages
    cdef public bint fragments_in_progress
    cdef public Waiter recv_waiter
    cdef public bint recv_in_progress
    cdef public bint reading_paused
    cdef public bint writing_paused
    cdef public object drain_waiter
    cdef public object fragmented_send_waiter
    cdef public dict pings
    cdef public object keepalive_timer
    cdef public object keepalive_timeout_timer
    cdef public object closed_waiter
    cdef public bint disconnected
    cdef public Waiter waiter

    cpdef Waiter start_waiting(self)
    cpdef stop_waiting(self, Waiter waiter)
    cpdef object take_message(self)


cdef class MessageIterator:
    cdef Connection connection
