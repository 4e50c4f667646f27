# Cython declarations for wirespeed/asyncio/connection.py (compiled in pure-Python
# mode when listed in setup.py's COMPILED_MODULES; the same source runs as plain
# Python otherwise). Connection becomes a cdef class: its per-message work
# (on_ws_frame, recv, send) runs as C, and Python subclasses still work
# (instances keep a __dict__ for their own attributes).

cimport cython

from wirespeed._core.protocol cimport Protocol
from wirespeed._core.transport cimport WSListener, WSTransport


cdef int PENDING, DONE, CANCELLED
cdef int NEW, WAITING, DELEGATING, FINISHED
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


@cython.freelist(8)
cdef class Send:
    cdef Connection connection
    cdef object message
    cdef object text
    cdef bint compress
    cdef object inner
    cdef int state


@cython.locals(call=Send)
cdef Send new_send(Connection connection, object message, object text, bint compress)


@cython.freelist(8)
cdef class Receive:
    cdef Connection connection
    cdef object decode
    cdef bint iterating
    cdef object inner
    cdef Waiter waiter
    cdef int state


@cython.locals(call=Receive)
cdef Receive new_receive(Connection connection, object decode, bint iterating)
@cython.locals(state=int, connection=Connection, waiter=Waiter)
cdef object receive_step(Receive call, object value)
cdef object receive_delegate(Receive call, object value)
cdef int receive_finished(Receive call) noexcept


# The am_send slot of Receive (Python 3.10+). Awaiting an object without it
# goes through tp_iternext, which returns a coroutine's result by raising
# StopIteration(result); with it, the awaiting coroutine (or the task) gets the
# result as a plain return value. receive_step() runs one step;
# receive_finished() tells a yielded object from the result.
ctypedef object (*ReceiveStep)(Receive, object)
ctypedef int (*ReceiveFinished)(Receive) noexcept

cdef extern from *:
    """
    #if PY_VERSION_HEX >= 0x030A0000
    static PyObject *(*wirespeed_receive_step)(PyObject *, PyObject *);
    static int (*wirespeed_receive_finished)(PyObject *);

    static PySendResult wirespeed_receive_am_send(PyObject *self, PyObject *arg, PyObject **result) {
        PyObject *value = wirespeed_receive_step(self, arg);
        *result = value;
        if (value == NULL) {
            return PYGEN_ERROR;
        }
        return wirespeed_receive_finished(self) ? PYGEN_RETURN : PYGEN_NEXT;
    }

    static void wirespeed_install_receive_am_send(PyObject *type, void *step, void *finished) {
        PyTypeObject *tp = (PyTypeObject *)type;
        wirespeed_receive_step = (PyObject *(*)(PyObject *, PyObject *))step;
        wirespeed_receive_finished = (int (*)(PyObject *))finished;
        if (tp->tp_as_async != NULL) {
            tp->tp_as_async->am_send = wirespeed_receive_am_send;
            PyType_Modified(tp);
        }
    }
    #else
    static void wirespeed_install_receive_am_send(PyObject *type, void *step, void *finished) {
        (void)type; (void)step; (void)finished;
    }
    #endif
    #define install_receive_am_send(type, step, finished) \\
        wirespeed_install_receive_am_send(type, (void *)(step), (void *)(finished))
    """
    void install_receive_am_send(object type, ReceiveStep step, ReceiveFinished finished)


cdef class MessageIterator:
    cdef Connection connection
