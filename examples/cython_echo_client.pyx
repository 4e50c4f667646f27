# cython: language_level=3
"""A wirespeed listener written in Cython: an echo client that measures round trips.

It ``cimport``\\s the listener face's extension types from
``wirespeed._core.transport`` (declared in ``transport.pxd``), so its callbacks
are C-level overrides of ``WSListener``'s ``cpdef`` methods and its calls to
``WSTransport.send`` and ``WSFrame.get_payload_as_memoryview`` skip Python's
attribute lookup.

Build it next to this file (the compiled wirespeed core must be installed or
on the include path)::

    cythonize -i -I src examples/cython_echo_client.pyx

then, with an echo server listening (``python -m wirespeed demo`` runs one, or
``compliance/testees/listener_server.py 9001``)::

    python -c "import cython_echo_client as c; c.main('ws://127.0.0.1:9001/')"
"""

import asyncio
import time

from wirespeed import ws_connect

from wirespeed._core.transport cimport WSFrame, WSListener, WSTransport

# WSMsgType values (RFC 6455 opcodes), as C constants.
cdef int BINARY = 0x2
cdef int CLOSE = 0x8


cdef class EchoClientListener(WSListener):
    """Sends ``payload``, waits for its echo, ``rounds`` times; then closes."""

    cdef bytes payload
    cdef Py_ssize_t remaining
    cdef double sent_at
    cdef public list round_trips
    cdef public object done
    cdef public object error

    def __init__(self, bytes payload, Py_ssize_t rounds, done):
        self.payload = payload
        self.remaining = rounds
        self.round_trips = []
        self.done = done
        self.error = None

    cpdef on_ws_connected(self, WSTransport transport):
        self.send_next(transport)

    cdef void send_next(self, WSTransport transport):
        self.sent_at = time.perf_counter()
        transport.send(BINARY, self.payload)

    cpdef on_ws_frame(self, WSTransport transport, WSFrame frame):
        cdef int msg_type = frame.msg_type
        if msg_type == CLOSE:
            return
        if msg_type != BINARY or not frame.fin:
            self.fail(transport, f"unexpected frame {frame}")
            return
        # Zero-copy: compare the echo in place, in the receive buffer.
        if frame.payload_size != len(self.payload) or (
            frame.get_payload_as_memoryview() != self.payload
        ):
            self.fail(transport, "the echo differs from what was sent")
            return
        self.round_trips.append(time.perf_counter() - self.sent_at)
        self.remaining -= 1
        if self.remaining > 0:
            self.send_next(transport)
        else:
            transport.send_close()
            if not self.done.done():
                self.done.set_result(self.round_trips)

    cpdef on_ws_disconnected(self, WSTransport transport):
        if not self.done.done():
            self.done.set_exception(ConnectionError("disconnected before the last echo"))

    cdef void fail(self, WSTransport transport, str reason):
        self.error = reason
        transport.send_close(1002, reason)
        if not self.done.done():
            self.done.set_exception(AssertionError(reason))


async def run_echo(str url, Py_ssize_t size=256, Py_ssize_t rounds=1000, **kwargs):
    """Run ``rounds`` round trips of ``size`` bytes against the echo server at ``url``.

    Returns the list of round-trip times in seconds. ``kwargs`` go to
    :func:`wirespeed.ws_connect`.
    """
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    payload = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
    transport, listener = await ws_connect(
        lambda: EchoClientListener(payload, rounds, done), url, **kwargs
    )
    try:
        return await done
    finally:
        await transport.wait_disconnected()


def main(url="ws://127.0.0.1:9001/", size=256, rounds=10000):
    """Print the mean round-trip time and the round trips per second."""
    started = time.perf_counter()
    round_trips = asyncio.run(run_echo(url, size, rounds))
    elapsed = time.perf_counter() - started
    mean = sum(round_trips) / len(round_trips)
    print(f"{rounds} round trips of {size} B: mean {mean * 1e6:.1f} us, "
          f"{rounds / elapsed:.0f} round trips/s")
