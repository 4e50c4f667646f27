"""The asyncio face's connection: awaitable ``recv`` and ``send`` over the listener face.

:class:`Connection` is a :class:`~wirespeed.WSListener`. The listener face
hands it every frame, zero-copy, from the event loop; it copies the payload
into a queue of messages and wakes the coroutine waiting in :meth:`recv`.
Sending goes straight to the :class:`~wirespeed.WSTransport`: a call to
:meth:`Connection.send` costs one frame header and one ``transport.write``.

Flow control works both ways:

* receiving: when ``max_queue`` frames wait in the queue, the connection stops
  reading from the socket (``pause_reading``) until :meth:`recv` brings the
  queue down to the low-water mark; the kernel's buffers fill up and TCP
  slows the sender down;
* sending: when the transport's write buffer goes over ``write_limit``,
  :meth:`send` waits until it drains below the low-water mark.

Client and server connections share this class; :mod:`wirespeed.asyncio.client`
and :mod:`wirespeed.asyncio.server` add what is specific to each side.
"""

from __future__ import annotations

import asyncio
import codecs
import collections
import heapq
import logging
import os
import threading
import time
import uuid
from typing import (
    Any,
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Deque,
    Dict,
    Iterable,
    Mapping,
    Optional,
    Tuple,
    Union,
)

from .._core.protocol import State
from .._core.transport import WSListener, WSMsgType, WSTransport
from ..exceptions import ConcurrencyError, ConnectionClosed, ConnectionClosedOK
from ..frames import CloseCode

__all__ = ["Connection", "Data", "State"]

try:
    # Python 3.12+: asyncio.current_task in C.
    from _asyncio import current_task
except ImportError:  # pragma: no cover - depends on the Python version
    try:
        # Python 3.9-3.11: the dict of running tasks that current_task() reads.
        from _asyncio import _current_tasks

        current_task = _current_tasks.get
    except ImportError:
        from asyncio import current_task

#: A WebSocket message: ``str`` for a text message, ``bytes`` for a binary one.
Data = Union[str, bytes]
#: What :meth:`Connection.send` accepts as one message or one fragment.
DataLike = Union[str, bytes, bytearray, memoryview]
#: A limit given as a high-water mark, or as a ``(high, low)`` pair.
Limit = Union[int, Tuple[int, Optional[int]], None]

TEXT = WSMsgType.TEXT
BINARY = WSMsgType.BINARY
CONTINUATION = WSMsgType.CONTINUATION
PONG = WSMsgType.PONG

OPEN = State.OPEN
CLOSED = State.CLOSED

BYTES_LIKE = (bytes, bytearray, memoryview)

#: What Connection.take_message() returns when no whole message is queued.
NO_MESSAGE: Any = object()


PENDING = 0
DONE = 1
CANCELLED = 2


class Waiter:
    """What :meth:`Connection.recv` awaits while the receive queue is empty.

    A connection has one, reused for every wait (at most one coroutine
    receives at a time). It is a minimal future as :class:`asyncio.Task`
    sees one (``_asyncio_future_blocking``, ``add_done_callback``,
    ``result``, ``cancel``...), with one difference that matters for speed:
    :meth:`wake`, called from the listener callback that queued a message,
    resumes the waiting task at once, in that callback, when no other task
    is running. The message is then handled (and usually answered) in the
    same event-loop iteration that read it, instead of one iteration later
    after a ``call_soon`` hop, as a future's ``set_result`` would do.

    Cancelling the waiting task cancels the waiter; the message that would
    have woken it stays in the queue.
    """

    __slots__ = ("_asyncio_future_blocking", "callback", "context", "loop", "state", "yielded")

    def __init__(self, loop: Any) -> None:
        self.loop = loop
        self.callback: Any = None
        self.context: Any = None
        self.state = DONE
        self.yielded = True
        self._asyncio_future_blocking = False

    def arm(self) -> Waiter:
        """Make the waiter pending again, ready for the next ``await``."""
        self.state = PENDING
        self.yielded = False
        self.callback = None
        self.context = None
        return self

    def wake(self, now: bool) -> None:
        """Complete the waiter; with ``now``, resume its task before returning if possible."""
        if self.state != PENDING:
            return
        self.state = DONE
        callback = self.callback
        if callback is None:
            return
        self.callback = None
        context = self.context
        self.context = None
        if now and current_task(self.loop) is None:
            if context is None:
                callback(self)
            else:
                context.run(callback, self)
        else:
            self.loop.call_soon(callback, self, context=context)

    # The awaitable: suspends the task once, on this object, unless completed.

    def __await__(self) -> Waiter:
        return self

    def __iter__(self) -> Waiter:
        return self

    def __next__(self) -> Waiter:
        if not self.yielded:
            self.yielded = True
            if self.state == PENDING:
                self._asyncio_future_blocking = True
                return self
        if self.state == CANCELLED:
            raise asyncio.CancelledError()
        raise StopIteration

    # What asyncio.Task calls on the object a coroutine suspends on.

    def get_loop(self) -> Any:
        return self.loop

    def add_done_callback(self, callback: Any, *, context: Any = None) -> None:
        if self.state != PENDING:
            self.loop.call_soon(callback, self, context=context)
        else:
            self.callback = callback
            self.context = context

    def remove_done_callback(self, callback: Any) -> int:
        if self.callback is not None and self.callback == callback:
            self.callback = None
            self.context = None
            return 1
        return 0

    def cancel(self, msg: Any = None) -> bool:
        if self.state != PENDING:
            return False
        self.state = CANCELLED
        callback = self.callback
        if callback is not None:
            self.callback = None
            # The task learns of the cancellation from a cancelled future of
            # its own: this waiter may be armed again before the task runs.
            cancelled = self.loop.create_future()
            cancelled.cancel(msg)
            self.loop.call_soon(callback, cancelled, context=self.context)
            self.context = None
        return True

    def cancelled(self) -> bool:
        return self.state == CANCELLED

    def done(self) -> bool:
        return self.state != PENDING

    def result(self) -> None:
        if self.state == CANCELLED:
            raise asyncio.CancelledError()
        if self.state == PENDING:
            raise asyncio.InvalidStateError("result is not ready")

    def exception(self) -> Optional[BaseException]:
        self.result()
        return None


class Fragment:
    """A frame of a fragmented message, waiting in the receive queue."""

    __slots__ = ("data", "fin", "text")

    def __init__(self, data: bytes, text: bool, fin: bool) -> None:
        self.data = data
        self.text = text
        self.fin = fin


class Send:
    """What :meth:`Connection.send` returns: a coroutine that sends the message when awaited.

    A single frame that the transport takes at once (the common case) goes
    out in the first step, without a coroutine frame of its own; anything
    else (fragments, compression off for this message, a connection that is
    not open, a write buffer over ``write_limit``) is delegated to the
    general coroutine, :meth:`Connection.send_message` or
    :meth:`Connection.drain`. It has the coroutine methods (``send``,
    ``throw``, ``close``), so :func:`asyncio.create_task` accepts it.
    """

    __slots__ = ("compress", "connection", "inner", "message", "state", "text")

    def __init__(self, connection: Connection, message: Any, text: Any, compress: bool) -> None:
        self.connection = connection
        self.message = message
        self.text = text
        self.compress = compress
        self.inner: Any = None
        self.state = 0

    def __await__(self) -> Send:
        return self

    def __next__(self) -> Any:
        if self.state == 0:
            self.state = 2
            connection = self.connection
            message = self.message
            self.message = None
            cls = message.__class__
            if (
                (cls is bytes or cls is str)
                and self.compress
                and connection.fragmented_send_waiter is None
                and connection.protocol._state is OPEN
            ):
                # The hot path: one frame, nothing to wait for.
                text = self.text
                if text is None:
                    connection.transport.send(BINARY if cls is bytes else TEXT, message)
                else:
                    connection.transport.send(TEXT if text else BINARY, message)
                if not connection.writing_paused:
                    raise StopIteration
                self.inner = connection.drain()
            else:
                self.inner = connection.send_message(message, self.text, self.compress)
            self.state = 1
        elif self.state == 2:
            raise RuntimeError("cannot reuse already awaited coroutine")
        try:
            return self.inner.send(None)
        except BaseException:
            self.state = 2
            self.inner = None
            raise

    def send(self, value: Any) -> Any:
        if value is not None and self.state == 1:
            try:
                return self.inner.send(value)
            except BaseException:
                self.state = 2
                self.inner = None
                raise
        return self.__next__()

    def throw(self, typ: Any, val: Any = None, tb: Any = None) -> Any:
        inner = self.inner
        if inner is not None and self.state == 1:
            try:
                if val is None and tb is None:
                    return inner.throw(typ)
                return inner.throw(typ, val, tb)
            except BaseException:
                self.state = 2
                self.inner = None
                raise
        self.state = 2
        self.message = None
        raise exception_of(typ, val, tb)

    def close(self) -> None:
        inner = self.inner
        self.state = 2
        self.inner = None
        self.message = None
        if inner is not None:
            inner.close()


def new_send(connection: Connection, message: Any, text: Any, compress: bool) -> Send:
    """``Send(connection, message, text, compress)``, without the argument parsing."""
    call = Send.__new__(Send)
    call.connection = connection
    call.message = message
    call.text = text
    call.compress = compress
    call.inner = None
    call.state = 0
    return call


def exception_of(typ: Any, val: Any, tb: Any) -> BaseException:
    """The exception that ``coroutine.throw(typ, val, tb)`` raises."""
    if isinstance(typ, BaseException):
        exc = typ
    elif isinstance(val, BaseException):
        exc = val
    else:
        exc = typ() if val is None else typ(val)
    if tb is not None:
        exc = exc.with_traceback(tb)
    return exc


class Receive:
    """What :meth:`Connection.recv` and ``async for`` return: a coroutine that receives a message.

    When a whole message is queued, or comes while the coroutine waits on
    the connection's :class:`Waiter`, it returns it without a coroutine frame
    of its own; anything else (fragmented messages, closed connections) is
    delegated to :meth:`Connection.recv_assembled`. It has the coroutine
    methods (``send``, ``throw``, ``close``), so :func:`asyncio.create_task`
    accepts it. Compiled, it also fills the ``am_send`` slot (see
    ``connection.pxd``): the awaiting coroutine or task gets the message as a
    return value, without a ``StopIteration`` exception.
    """

    __slots__ = ("connection", "decode", "inner", "iterating", "state", "waiter")

    def __init__(self, connection: Connection, decode: Optional[bool], iterating: bool) -> None:
        self.connection = connection
        self.decode = decode
        self.iterating = iterating
        self.inner: Any = None
        self.waiter: Any = None
        self.state = NEW

    def __await__(self) -> Receive:
        return self

    def __next__(self) -> Any:
        result = receive_step(self, None)
        if self.state == FINISHED:
            raise StopIteration(result)
        return result

    def send(self, value: Any) -> Any:
        result = receive_step(self, value)
        if self.state == FINISHED:
            raise StopIteration(result)
        return result

    def throw(self, typ: Any, val: Any = None, tb: Any = None) -> Any:
        exc = exception_of(typ, val, tb)
        state = self.state
        self.state = FINISHED
        if state == WAITING:
            waiter = self.waiter
            self.waiter = None
            self.connection.stop_waiting(waiter)
        elif state == DELEGATING:
            inner = self.inner
            self.inner = None
            try:
                result = inner.throw(exc)
            except StopIteration as stop:
                raise StopIteration(stop.value) from None
            self.inner = inner
            self.state = DELEGATING
            return result
        raise exc

    def close(self) -> None:
        state = self.state
        self.state = FINISHED
        if state == WAITING:
            waiter = self.waiter
            self.waiter = None
            self.connection.stop_waiting(waiter)
        elif state == DELEGATING:
            inner = self.inner
            self.inner = None
            inner.close()


# Receive.state
NEW = 0
WAITING = 1
DELEGATING = 2
FINISHED = 3


def new_receive(connection: Connection, decode: Optional[bool], iterating: bool) -> Receive:
    """``Receive(connection, decode, iterating)``, without the argument parsing."""
    call = Receive.__new__(Receive)
    call.connection = connection
    call.decode = decode
    call.iterating = iterating
    call.inner = None
    call.waiter = None
    call.state = NEW
    return call


def receive_step(call: Receive, value: Any) -> Any:
    """Run ``call`` one step; return what it yields, or its result once it is FINISHED.

    The steps are those of this coroutine::

        waiter = connection.start_waiting()
        if waiter is not None:
            try:
                await waiter
            finally:
                connection.stop_waiting(waiter)
        message = connection.take_message()
        if message is not NO_MESSAGE:
            return message  # converted as ``decode`` asks
        return await connection.recv_assembled(decode)
    """
    state = call.state
    connection = call.connection
    if state == NEW:
        waiter = connection.start_waiting()
        if waiter is not None:
            call.waiter = waiter
            call.state = WAITING
            waiter.yielded = True
            waiter._asyncio_future_blocking = True
            return waiter
    elif state == WAITING:
        waiter = call.waiter
        call.waiter = None
        connection.stop_waiting(waiter)
        if waiter.state == CANCELLED:
            call.state = FINISHED
            raise asyncio.CancelledError()
    elif state == DELEGATING:
        return receive_delegate(call, value)
    else:
        raise RuntimeError("cannot reuse already awaited coroutine")
    message = connection.take_message()
    if message is not NO_MESSAGE:
        call.state = FINISHED
        decode = call.decode
        if decode is None:
            return message
        return convert(message, decode)
    if call.iterating:
        call.inner = connection.next_assembled()
    else:
        call.inner = connection.recv_assembled(call.decode)
    call.state = DELEGATING
    return receive_delegate(call, None)


def receive_delegate(call: Receive, value: Any) -> Any:
    """Run the coroutine that ``call`` delegates to one step."""
    try:
        return call.inner.send(value)
    except StopIteration as stop:
        call.state = FINISHED
        call.inner = None
        return stop.value
    except BaseException:
        call.state = FINISHED
        call.inner = None
        raise


def receive_finished(call: Receive) -> bool:
    """Whether ``call`` returned its result (for the compiled ``am_send`` slot)."""
    return call.state == FINISHED


class KeepaliveClock:
    """Calls functions on their event loop after a delay, timed by one daemon thread.

    Keepalive needs a timer per connection that fires every ``ping_interval``
    seconds. As a timer of the event loop (``loop.call_later``), it would
    cost something on every iteration of the loop, busy or not: the default
    loop computes a select timeout in Python whenever a timer is pending, and
    any loop's wait in the kernel arms a high-resolution timer for it. Timed
    from this thread instead, a busy connection's loop waits without a
    timeout; at the deadline, the thread hands the function to the loop with
    :meth:`~asyncio.loop.call_soon_threadsafe`, so it still runs in the loop.
    """

    def __init__(self) -> None:
        self.condition = threading.Condition(threading.Lock())
        self.heap: list = []
        self.counter = 0
        self.cancelled = 0
        self.thread: Optional[threading.Thread] = None
        self.pid = 0

    def forget_after_fork(self) -> None:
        """Start afresh in a forked child.

        The parent's thread does not exist in the child, and its lock may have
        been held at the moment of the fork: a new lock, an empty heap, and a
        new thread at the next :meth:`call_later`.
        """
        self.condition = threading.Condition(threading.Lock())
        self.heap = []
        self.cancelled = 0
        self.thread = None
        self.pid = 0

    def call_later(self, loop: Any, delay: float, callback: Any, *args: Any) -> ClockHandle:
        """Call ``callback(*args)`` in ``loop`` in ``delay`` seconds; return a handle."""
        handle = ClockHandle(self, loop, callback, args)
        deadline = time.monotonic() + delay
        with self.condition:
            if self.thread is None or self.pid != os.getpid():
                # First use, or first use in a forked child (without the thread).
                self.heap = []
                self.cancelled = 0
                self.pid = os.getpid()
                self.thread = threading.Thread(
                    target=self.run, name="wirespeed-keepalive", daemon=True
                )
                self.thread.start()
            heap = self.heap
            if self.cancelled > 64 and self.cancelled * 2 > len(heap):
                for entry in heap:
                    if entry[2].cancelled:
                        entry[2].queued = False
                heap[:] = [entry for entry in heap if entry[2].queued]
                heapq.heapify(heap)
                self.cancelled = 0
            self.counter += 1
            heapq.heappush(heap, (deadline, self.counter, handle))
            if heap[0][2] is handle:
                self.condition.notify()
        return handle

    def run(self) -> None:
        condition = self.condition
        heap = self.heap
        while True:
            with condition:
                while True:
                    while heap and heap[0][2].cancelled:
                        heapq.heappop(heap)[2].queued = False
                        self.cancelled -= 1
                    delay = heap[0][0] - time.monotonic() if heap else None
                    if delay is not None and delay <= 0:
                        break
                    condition.wait(delay)
                    heap = self.heap
                handle = heapq.heappop(heap)[2]
                handle.queued = False
            try:
                handle.loop.call_soon_threadsafe(handle.fire)
            except RuntimeError:
                pass  # the loop is closed


class ClockHandle:
    """A call scheduled by :meth:`KeepaliveClock.call_later`."""

    __slots__ = ("args", "callback", "cancelled", "clock", "loop", "queued")

    def __init__(
        self, clock: KeepaliveClock, loop: Any, callback: Any, args: Tuple[Any, ...]
    ) -> None:
        self.clock = clock
        self.loop = loop
        self.callback = callback
        self.args = args
        self.cancelled = False
        self.queued = True

    def cancel(self) -> None:
        """Don't call the function (it is called in the loop unless cancelled first)."""
        if not self.cancelled:
            self.cancelled = True
            self.callback = None
            with self.clock.condition:
                if self.queued:
                    self.clock.cancelled += 1

    def fire(self) -> None:
        if not self.cancelled:
            self.cancelled = True
            callback = self.callback
            self.callback = None
            callback(*self.args)


#: The clock of every connection's keepalive timers.
keepalive_clock = KeepaliveClock()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=keepalive_clock.forget_after_fork)


def water_marks(limit: Limit, low_divisor: int, name: str) -> Tuple[Optional[int], int]:
    """Turn ``limit`` (high, or ``(high, low)``, or None) into ``(high, low)``."""
    if limit is None:
        return None, 0
    if isinstance(limit, tuple):
        high, low = limit
        if low is None:
            low = high // low_divisor
    else:
        high, low = limit, limit // low_divisor
    if high < 0 or low < 0 or low > high:
        raise ValueError(f"{name} must satisfy 0 <= low <= high; got {limit!r}")
    return high, low


class Connection(WSListener):
    """A WebSocket connection, client or server side.

    Connections are created by :func:`~wirespeed.asyncio.connect` and
    :func:`~wirespeed.asyncio.serve`; to customize them, pass a subclass as
    ``create_connection`` (or ``create_protocol``). The constructor takes
    keyword arguments only, so that a :func:`functools.partial` of a subclass
    can bind extra ones.

    :param ping_interval: seconds between keepalive pings; ``None`` disables
        keepalive.
    :param ping_timeout: seconds to wait for the pong of a keepalive ping
        before closing the connection with 1011; ``None`` waits forever.
    :param close_timeout: seconds the closing handshake and the end of the
        TCP connection may take, in total.
    :param max_queue: the receive queue's high-water mark, in frames
        (``(high, low)`` sets the low-water mark too; it defaults to a quarter
        of ``high``); ``None`` disables flow control on receiving.
    :param read_limit: the most bytes one read from the socket brings in
        ahead of the parser, beyond the rest of the frame being received
        (at least 1). While reading is paused (``max_queue``), frames that
        were read but not yet queued hold at most this much memory, and the
        queue goes over ``max_queue`` by at most the frames that fit in it.
    :param write_limit: the write buffer's high-water mark, in bytes
        (``(high, low)`` sets the low-water mark too; it defaults to a quarter
        of ``high``).
    :param logger: logger for this connection.
    """

    def __init__(
        self,
        *,
        ping_interval: Optional[float] = 20,
        ping_timeout: Optional[float] = 20,
        close_timeout: Optional[float] = 10,
        max_queue: Limit = 2**5,
        read_limit: int = 2**16,
        write_limit: Limit = 2**16,
        logger: Any = None,
        **kwargs: Any,
    ) -> None:
        if kwargs:
            raise TypeError(f"unexpected keyword arguments: {', '.join(sorted(kwargs))}")
        if read_limit < 1:
            raise ValueError(f"read_limit must be at least 1; got {read_limit!r}")
        self.read_limit = read_limit
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.close_timeout = close_timeout
        self.max_queue_high, self.max_queue_low = water_marks(max_queue, 4, "max_queue")
        self.write_limit_high, self.write_limit_low = water_marks(write_limit, 4, "write_limit")
        if logger is None:
            logger = logging.getLogger("wirespeed.asyncio")
        #: Logger for this connection.
        self.logger: Union[logging.Logger, logging.LoggerAdapter] = logger  # type: ignore[type-arg]
        #: Latency of the connection, in seconds: the time between the latest
        #: ping and its pong. ``0`` before the first pong.
        self.latency: float = 0.0
        self.loop: Any = None
        #: The listener face's transport, once the connection is open.
        self.transport: Optional[WSTransport] = None
        self.underlying_transport: Any = None
        self.protocol: Any = None
        #: The opening handshake request (a :class:`~wirespeed.http.Request`).
        self.request: Any = None
        #: The opening handshake response (a :class:`~wirespeed.http.Response`).
        self.response: Any = None
        # Receiving.
        self.messages: Deque[Any] = collections.deque()
        self.fragments_in_progress = False
        # The Waiter that recv() awaits (created once the loop is known), and
        # the same object while a recv() waits on it.
        self.waiter: Any = None
        self.recv_waiter: Any = None
        self.recv_in_progress = False
        self.reading_paused = False
        # Sending.
        self.writing_paused = False
        self.drain_waiter: Any = None
        self.fragmented_send_waiter: Any = None
        # Pings and keepalive: payload -> (future, time sent), in order.
        self.pings: Dict[bytes, Tuple[Any, float]] = {}
        self.keepalive_timer: Any = None
        self.keepalive_timeout_timer: Any = None
        # Closing.
        self.closed_waiter: Any = None
        self.disconnected = False

    # Listener callbacks (called by the listener face, from the event loop)

    def on_ws_connected(self, transport: WSTransport) -> None:
        """The opening handshake succeeded: start flow control and keepalive."""
        self.transport = transport
        self.underlying_transport = transport.underlying_transport
        self.protocol = transport.protocol
        self.loop = transport.loop
        self.waiter = Waiter(self.loop)
        self.request = transport.request
        self.response = transport.response
        # Bound what one read brings in ahead of the parser.
        transport.protocol.reader.read_limit = self.read_limit
        # Large payloads are received straight into the bytes that recv() returns.
        transport.protocol.reader.separate_large_payloads()
        if self.close_timeout is not None:
            transport.close_timeout = self.close_timeout
        else:
            transport.close_timeout = 1e9
        if self.write_limit_high is not None:
            self.underlying_transport.set_write_buffer_limits(
                high=self.write_limit_high, low=self.write_limit_low
            )
        if self.ping_interval is not None:
            self.keepalive_timer = keepalive_clock.call_later(
                self.loop, self.ping_interval, self.keepalive
            )

    def on_ws_frame(self, transport: WSTransport, frame: Any) -> None:
        """Queue a data frame's payload (copied) and wake :meth:`recv`."""
        msg_type = frame.msg_type
        if msg_type is BINARY and frame.fin:
            message: Any = frame.get_payload_as_bytes()
        elif msg_type is TEXT and frame.fin:
            message = frame.get_payload_as_utf8_text()
        else:
            message = self.fragment_of(frame)
            if message is None:
                return
        messages = self.messages
        messages.append(message)
        if message.__class__ is not Fragment or message.fin:
            protocol = self.protocol
            # A whole message waits for the application: if the rest of this
            # read breaks a rule, the core lets the application answer the
            # message before failing the connection (see
            # Protocol.fail_internally); apply_pending_failure() ends the
            # wait. Frames that came with the handshake response were fetched
            # with events_received(), which makes a held failure due at the
            # next flush: keep holding it too.
            protocol.complete_message_queued = True
            protocol.pending_failure_due = False
        # Pause first, then wake: the coroutine resumed below must see the
        # pause, to resume reading when it needs more frames than the queue
        # may hold (a message with more fragments than max_queue).
        high = self.max_queue_high
        if high is not None and len(messages) >= high and not self.reading_paused:
            self.reading_paused = True
            self.underlying_transport.pause_reading()
        waiter = self.recv_waiter
        if waiter is not None:
            # Resume the coroutine in recv() now: it takes the message and
            # usually answers it before the next frame is parsed.
            self.recv_waiter = None
            waiter.wake(True)

    def fragment_of(self, frame: Any) -> Optional[Fragment]:
        """Return the :class:`Fragment` for a frame of a fragmented message.

        Pongs are handled here (None is returned), and so are the other
        control frames: the core answers pings and closes by itself.
        """
        msg_type = frame.msg_type
        if msg_type is CONTINUATION:
            if frame.fin:
                self.fragments_in_progress = False
            return Fragment(frame.get_payload_as_bytes(), False, frame.fin)
        if msg_type is TEXT or msg_type is BINARY:
            self.fragments_in_progress = True
            return Fragment(frame.get_payload_as_bytes(), msg_type is TEXT, False)
        if msg_type is PONG:
            self.pong_received(frame.get_payload_as_bytes())
        return None

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        """The TCP connection is closed: wake everyone waiting on the connection."""
        self.disconnected = True
        self.cancel_keepalive()
        waiter = self.recv_waiter
        if waiter is not None:
            self.recv_waiter = None
            waiter.wake(False)
        waiter = self.drain_waiter
        if waiter is not None:
            self.drain_waiter = None
            if not waiter.done():
                waiter.set_result(None)
        if self.pings:
            exc = self.protocol.close_exc
            for future, _ in self.pings.values():
                if not future.done():
                    future.set_exception(exc)
                    # Nobody has to await a ping's future: don't log its error.
                    future.exception()
            self.pings.clear()
        if self.closed_waiter is not None and not self.closed_waiter.done():
            self.closed_waiter.set_result(None)
        self.connection_closed()

    def connection_closed(self) -> None:
        """Hook for subclasses: the connection is closed (TCP included)."""

    def pause_writing(self) -> None:
        """The write buffer went over ``write_limit``: :meth:`send` waits from now on."""
        self.writing_paused = True

    def resume_writing(self) -> None:
        """The write buffer drained below its low-water mark: wake :meth:`send`."""
        self.writing_paused = False
        waiter = self.drain_waiter
        if waiter is not None:
            self.drain_waiter = None
            if not waiter.done():
                waiter.set_result(None)

    # Properties

    @property
    def id(self) -> uuid.UUID:
        """Unique identifier of the connection, for logs."""
        return self.protocol.id

    @property
    def state(self) -> State:
        """State of the connection: CONNECTING, OPEN, CLOSING or CLOSED."""
        if self.protocol is None:
            return State.CONNECTING
        return self.protocol.state

    @property
    def open(self) -> bool:
        """True when the connection is open (messages can be sent)."""
        return self.protocol is not None and self.protocol.state is OPEN

    @property
    def closed(self) -> bool:
        """True once the connection is closed, TCP connection included.

        Both :attr:`open` and :attr:`closed` are False while the connection
        opens and while it closes.
        """
        return self.disconnected

    @property
    def local_address(self) -> Any:
        """Local address of the connection, as :meth:`socket.socket.getsockname` gives it.

        None if the TCP connection isn't established yet.
        """
        if self.underlying_transport is None:
            return None
        return self.underlying_transport.get_extra_info("sockname")

    @property
    def remote_address(self) -> Any:
        """Remote address of the connection, as :meth:`socket.socket.getpeername` gives it.

        None if the TCP connection isn't established yet.
        """
        if self.underlying_transport is None:
            return None
        return self.underlying_transport.get_extra_info("peername")

    @property
    def subprotocol(self) -> Optional[str]:
        """The subprotocol negotiated during the opening handshake, if any."""
        return getattr(self.protocol, "subprotocol", None)

    @property
    def close_code(self) -> Optional[int]:
        """Close code received from the peer (1006 without one); None until closed."""
        if not self.disconnected:
            return None
        return self.protocol.close_code

    @property
    def close_reason(self) -> Optional[str]:
        """Close reason received from the peer; None until the connection is closed."""
        if not self.disconnected:
            return None
        return self.protocol.close_reason

    # Receiving

    def recv(self, decode: Optional[bool] = None) -> Awaitable[Data]:
        """Receive the next message.

        A text message comes as ``str``, a binary one as ``bytes``.
        ``decode=False`` returns a text message as ``bytes`` (its UTF-8
        encoding); ``decode=True`` decodes a binary message as UTF-8.

        Cancelling :meth:`recv` is safe: the message stays in the queue and the
        next call returns it. Wrap it in :func:`asyncio.wait_for` or
        :func:`asyncio.timeout` to set a timeout.

        :raises ConnectionClosed: when the connection is closed and every
            message received before was returned:
            :class:`~wirespeed.exceptions.ConnectionClosedOK` after a normal
            closure, :class:`~wirespeed.exceptions.ConnectionClosedError`
            after a protocol error or a network failure.
        :raises ConcurrencyError: if another coroutine is already receiving
            (it is a :class:`RuntimeError`).
        """
        return new_receive(self, decode, False)

    def next_message(self) -> Awaitable[Data]:
        """:meth:`recv` for ``async for``: StopAsyncIteration after a normal closure."""
        return new_receive(self, None, True)

    async def next_assembled(self) -> Data:
        """:meth:`recv_assembled` for ``async for``: StopAsyncIteration after a normal closure."""
        try:
            return await self.recv_assembled(None)
        except ConnectionClosedOK:
            raise StopAsyncIteration from None

    def start_waiting(self) -> Optional[Waiter]:
        """Arm the waiter for the next message if :meth:`recv` has to wait; else None.

        The hot path of :meth:`recv` waits here rather than in
        :meth:`wait_for_frame`: one coroutine less per message.
        """
        if self.messages or self.recv_in_progress or self.disconnected:
            return None
        if self.protocol.pending_failure is not None:
            self.apply_pending_failure()
        waiter = self.waiter.arm()
        self.recv_waiter = waiter
        self.recv_in_progress = True
        return waiter

    def stop_waiting(self, waiter: Waiter) -> None:
        self.recv_in_progress = False
        if self.recv_waiter is waiter:
            self.recv_waiter = None

    def take_message(self) -> Any:
        """Pop the first queued message if it is whole (not fragmented); else NO_MESSAGE."""
        messages = self.messages
        if not messages or self.recv_in_progress:
            return NO_MESSAGE
        message = messages[0]
        if message.__class__ is Fragment:
            return NO_MESSAGE
        messages.popleft()
        if not messages:
            self.protocol.complete_message_queued = False
            if self.reading_paused:
                self.resume_reading()
        elif self.reading_paused and len(messages) <= self.max_queue_low:
            self.resume_reading()
        return message

    async def recv_assembled(self, decode: Optional[bool]) -> Data:
        """The general case of :meth:`recv`: fragmented messages, closed connections."""
        if self.recv_in_progress:
            raise ConcurrencyError(
                "cannot call recv while another coroutine is already running recv or recv_streaming"
            )
        messages = self.messages
        self.recv_in_progress = True
        try:
            await self.wait_for_frame(0)
            first = messages[0]
            if type(first) is not Fragment:
                message = messages.popleft()
                text = type(message) is str
            else:
                # Wait until the whole message is here, then take it.
                count = 1
                while True:
                    if messages[count - 1].fin:
                        break
                    await self.wait_for_frame(count)
                    count += 1
                chunks = [messages.popleft().data for _ in range(count)]
                text = first.text
                message = b"".join(chunks)
                if text:
                    message = message.decode()
            if not messages:
                self.protocol.complete_message_queued = False
            if self.reading_paused and len(messages) <= self.max_queue_low:
                self.resume_reading()
        finally:
            self.recv_in_progress = False
        if decode is None or decode is text:
            return message
        return convert(message, decode)

    async def wait_for_frame(self, index: int) -> None:
        """Wait until the receive queue holds more than ``index`` frames.

        :raises ConnectionClosed: if the connection closes first.
        """
        messages = self.messages
        while len(messages) <= index:
            if self.disconnected:
                raise self.protocol.close_exc
            if self.protocol.pending_failure is not None:
                self.apply_pending_failure()
            # Nothing whole is queued (the first message is incomplete, or the
            # queue is empty): a rule broken from now on fails the connection
            # at once, since the application can't answer anything first.
            self.protocol.complete_message_queued = False
            if self.reading_paused:
                # A fragmented message longer than max_queue: keep reading.
                self.resume_reading()
            waiter = self.waiter.arm()
            self.recv_waiter = waiter
            try:
                await waiter
            finally:
                if self.recv_waiter is waiter:
                    self.recv_waiter = None

    def apply_pending_failure(self) -> None:
        """Fail the connection now if the core held a failure back for the application.

        When a read completes a message and then breaks a rule, the core
        waits for the application to answer the message before failing the
        connection. Once the application asks for more, the wait is over.
        """
        protocol = self.protocol
        if protocol.pending_failure is not None and not self.disconnected:
            protocol.events_received()
            self.transport.flush()  # type: ignore[union-attr]

    async def recv_streaming(self, decode: Optional[bool] = None) -> AsyncIterator[Data]:
        """Receive the next message, fragment by fragment, as the fragments arrive.

        Yields ``str`` fragments for a text message and ``bytes`` fragments
        for a binary one (``decode`` overrides it as in :meth:`recv`). A text
        fragment split in the middle of a character is decoded with the next one.
        Iterate over the whole message: a message left half-read leaves the
        connection unable to receive the next one.

        :raises ConnectionClosed: when the connection is closed.
        :raises ConcurrencyError: if another coroutine is already receiving.
        """
        if self.recv_in_progress:
            raise ConcurrencyError(
                "cannot call recv_streaming while another coroutine is already running "
                "recv or recv_streaming"
            )
        self.recv_in_progress = True
        messages = self.messages
        try:
            await self.wait_for_frame(0)
            first = messages.popleft()
            if type(first) is not Fragment:
                if not messages:
                    self.protocol.complete_message_queued = False
                if decode is None or decode is (type(first) is str):
                    yield first
                else:
                    yield convert(first, decode)
                return
            text = first.text
            want_text = text if decode is None else decode
            decoder = codecs.getincrementaldecoder("utf-8")() if want_text else None
            fragment = first
            while True:
                if decoder is not None:
                    yield decoder.decode(fragment.data, fragment.fin)
                else:
                    yield fragment.data
                if self.reading_paused and len(messages) <= self.max_queue_low:
                    self.resume_reading()
                if fragment.fin:
                    if not messages:
                        self.protocol.complete_message_queued = False
                    return
                await self.wait_for_frame(0)
                fragment = messages.popleft()
        finally:
            self.recv_in_progress = False

    def resume_reading(self) -> None:
        """Read from the socket again (the receive queue went down)."""
        if self.reading_paused:
            self.reading_paused = False
            if not self.disconnected:
                self.underlying_transport.resume_reading()

    def __aiter__(self) -> AsyncIterator[Data]:
        """Iterate over messages until the connection closes normally.

        ``async for message in websocket`` stops quietly after a normal
        closure (:class:`~wirespeed.exceptions.ConnectionClosedOK`) and raises
        :class:`~wirespeed.exceptions.ConnectionClosedError` otherwise.
        """
        return MessageIterator(self)

    def send(
        self,
        message: Union[DataLike, Iterable[DataLike], AsyncIterable[DataLike]],
        text: Optional[bool] = None,
        compress: bool = True,
    ) -> Awaitable[None]:
        """Send a message (a coroutine: ``await websocket.send(message)``).

        ``str`` goes as a text message; ``bytes``, ``bytearray`` or
        ``memoryview`` as a binary one (``text`` overrides it: ``text=True``
        sends bytes-like UTF-8 as text, ``text=False`` a string as binary).
        An iterable or an asynchronous iterable of those sends a fragmented
        message, one frame per item; all items must have the same type.

        When the write buffer is over ``write_limit``, :meth:`send` waits
        until it drains: a slow peer slows the sender down instead of making
        memory grow. Prefer :meth:`close` to cancelling :meth:`send`.

        When permessage-deflate was negotiated (``compression="deflate"``, the
        default of :func:`~wirespeed.asyncio.connect` and
        :func:`~wirespeed.asyncio.serve`), ``compress=False`` sends this
        message uncompressed; it has no effect otherwise.

        :raises ConnectionClosed: when the connection is closed.
        :raises TypeError: if ``message`` has an unsupported type (dicts are
            rejected, since sending their keys is rarely meant; pass
            ``d.keys()`` for that), or if the fragments of a message don't
            all have the same type; in that case the connection is closed too.
        """
        return new_send(self, message, text, compress)

    async def send_message(
        self,
        message: Union[DataLike, Iterable[DataLike], AsyncIterable[DataLike]],
        text: Optional[bool] = None,
        compress: bool = True,
    ) -> None:
        """:meth:`send` for what doesn't go out in one step (see :class:`Send`)."""
        while self.fragmented_send_waiter is not None:
            # Frames of one message must not interleave with another message.
            await asyncio.shield(self.fragmented_send_waiter)
        transport: Any = self.transport
        if isinstance(message, str):
            if self.protocol._state is not OPEN:
                await self.check_open()
            transport.send(BINARY if text is False else TEXT, message, True, False, compress)
        elif isinstance(message, BYTES_LIKE):
            if self.protocol._state is not OPEN:
                await self.check_open()
            transport.send(TEXT if text else BINARY, message, True, False, compress)
        elif isinstance(message, Mapping):
            raise TypeError("data is a dict-like object")
        elif isinstance(message, Iterable):
            await self.send_fragments(iter(message), None, text, compress)
            return
        elif isinstance(message, AsyncIterable):
            await self.send_fragments(None, message.__aiter__(), text, compress)
            return
        else:
            raise TypeError("data must be str, bytes-like, or iterable")
        if self.writing_paused:
            await self.drain()

    async def send_fragments(
        self,
        iterator: Optional[Iterable[Any]],
        async_iterator: Optional[AsyncIterator[Any]],
        text: Optional[bool],
        compress: bool = True,
    ) -> None:
        """Send the items of ``iterator`` (or ``async_iterator``) as one fragmented message."""
        await self.check_open()
        transport: Any = self.transport
        self.fragmented_send_waiter = self.loop.create_future()
        first_type: Any = None
        started = False
        try:
            while True:
                try:
                    if iterator is not None:
                        fragment = next(iterator)  # type: ignore[call-overload]
                    else:
                        fragment = await async_iterator.__anext__()  # type: ignore[union-attr]
                except (StopIteration, StopAsyncIteration):
                    break
                if isinstance(fragment, str):
                    kind: Any = str
                elif isinstance(fragment, BYTES_LIKE):
                    kind = bytes
                else:
                    raise TypeError("data iterable must contain bytes-like or str")
                if first_type is None:
                    first_type = kind
                    if text is None:
                        text = kind is str
                elif kind is not first_type:
                    raise TypeError("data iterable must contain uniform types")
                if not self.open:
                    raise (
                        self.protocol.close_exc
                        if self.disconnected
                        else ConnectionClosedOK(None, None)
                    )
                opcode = CONTINUATION if started else (TEXT if text else BINARY)
                transport.send(opcode, fragment, False, False, compress)
                started = True
                if self.writing_paused:
                    await self.drain()
            if started:
                transport.send(CONTINUATION, b"", True)
                if self.writing_paused:
                    await self.drain()
        except TypeError:
            # websockets' rule: a bad fragment closes the connection.
            transport.protocol_fail(CloseCode.INTERNAL_ERROR, "error in fragmented message")
            raise
        except ConnectionClosed:
            await self.wait_disconnected()
            raise self.protocol.close_exc from None
        except BaseException:
            if started:
                # The message can't be finished: fail the connection.
                transport.protocol_fail(CloseCode.INTERNAL_ERROR, "error in fragmented message")
            raise
        finally:
            waiter = self.fragmented_send_waiter
            self.fragmented_send_waiter = None
            if waiter is not None and not waiter.done():
                waiter.set_result(None)

    async def check_open(self) -> None:
        """Raise the connection's close exception unless it is open.

        When the connection is closing, wait until it is closed (bounded by
        ``close_timeout``), so that the exception carries both close frames.
        """
        protocol = self.protocol
        if protocol is not None and protocol._state is OPEN:
            return
        if protocol is None:
            raise ConnectionClosedOK(None, None)
        await self.wait_disconnected()
        raise protocol.close_exc

    async def drain(self) -> None:
        """Wait until the write buffer drained below its low-water mark."""
        while self.writing_paused and not self.disconnected:
            waiter = self.loop.create_future()
            self.drain_waiter = waiter
            try:
                await waiter
            finally:
                if self.drain_waiter is waiter:
                    self.drain_waiter = None
        if self.disconnected:
            raise self.protocol.close_exc

    # Closing

    async def close(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        """Perform the closing handshake and wait for the TCP connection to close.

        Once :meth:`close` returns, the connection is closed: there is no need
        to call :meth:`wait_closed`. It is idempotent: closing a closed
        connection does nothing. It takes at most ``close_timeout`` seconds:
        a peer that doesn't complete the handshake in time is disconnected.
        """
        transport = self.transport
        if transport is None or self.disconnected:
            return
        self.apply_pending_failure()
        if self.fragmented_send_waiter is not None:
            # A fragmented message is being sent: it can't be finished.
            transport.protocol_fail(CloseCode.INTERNAL_ERROR, "close during fragmented message")
        else:
            transport.send_close(code, reason)
        # The peer's close frame may be waiting behind a paused reader: read
        # on until it comes, without pausing again.
        self.max_queue_high = None
        self.resume_reading()
        if self.protocol._state is not CLOSED and not self.protocol.close_expected():
            transport.disconnect()
        await self.wait_disconnected()

    async def wait_disconnected(self) -> None:
        """Wait until the TCP connection is closed."""
        if self.disconnected:
            return
        if self.closed_waiter is None:
            self.closed_waiter = self.loop.create_future()
        await asyncio.shield(self.closed_waiter)

    async def wait_closed(self) -> None:
        """Wait until the connection is closed, whatever the cause.

        Useful in a task that doesn't otherwise interact with the connection
        and must stop when it closes.
        """
        if self.loop is None:
            raise RuntimeError("the connection isn't open yet")
        await self.wait_disconnected()

    # Pings

    async def ping(self, data: Optional[DataLike] = None) -> Awaitable[float]:
        """Send a ping; return a future that the matching pong completes.

        The future's result is the latency, in seconds; awaiting it is
        optional, and cancelling it has no effect on the connection::

            pong_waiter = await websocket.ping()
            latency = await pong_waiter

        A pong also answers every ping sent before the one it matches.

        :param data: the ping's payload: ``str`` (encoded as UTF-8) or
            bytes-like; ``None`` sends four random bytes.
        :raises ConnectionClosed: when the connection is closed.
        :raises ConcurrencyError: if a ping with the same payload is still
            waiting for its pong (it is a :class:`RuntimeError`).
        """
        if isinstance(data, str):
            payload = data.encode()
        elif data is None:
            payload = os.urandom(4)
            while payload in self.pings:
                payload = os.urandom(4)
        else:
            payload = bytes(data)
        if payload in self.pings:
            raise ConcurrencyError("already waiting for a pong with the same data")
        await self.check_open_or_closing()
        future = self.loop.create_future()
        self.pings[payload] = (future, self.loop.time())
        self.transport.send_ping(payload)  # type: ignore[union-attr]
        if self.writing_paused:
            await self.drain()
        return future  # type: ignore[no-any-return]

    async def pong(self, data: DataLike = b"") -> None:
        """Send a pong: an unsolicited pong is a one-way heartbeat.

        :param data: the payload: ``str`` (encoded as UTF-8) or bytes-like.
        :raises ConnectionClosed: when the connection is closed.
        """
        payload = data.encode() if isinstance(data, str) else bytes(data)
        await self.check_open_or_closing()
        self.transport.send_pong(payload)  # type: ignore[union-attr]
        if self.writing_paused:
            await self.drain()

    async def check_open_or_closing(self) -> None:
        """Raise the close exception unless control frames can still be sent."""
        protocol = self.protocol
        if protocol is not None and protocol._state is OPEN:
            return
        await self.check_open()

    def pong_received(self, payload: bytes) -> None:
        """Complete the ping that ``payload`` answers, and every ping sent before it."""
        pings = self.pings
        if payload not in pings:
            return
        now = self.loop.time()
        for key in list(pings):
            future, sent = pings.pop(key)
            if not future.done():
                future.set_result(now - sent)
            if key == payload:
                self.latency = now - sent
                break

    def keepalive(self) -> None:
        """Send a keepalive ping, and close with 1011 if its pong doesn't come in time."""
        self.keepalive_timer = None
        if self.disconnected or self.protocol._state is not OPEN:
            return
        payload = os.urandom(4)
        while payload in self.pings:
            payload = os.urandom(4)
        future = self.loop.create_future()
        self.pings[payload] = (future, self.loop.time())
        self.transport.send_ping(payload)  # type: ignore[union-attr]
        for extension in self.protocol.extensions:
            # A connection that stopped sending gives back its compressor.
            release = getattr(extension, "release_idle_compressor", None)
            if release is not None:
                release()
        if self.ping_timeout is not None:
            self.keepalive_timeout_timer = keepalive_clock.call_later(
                self.loop, self.ping_timeout, self.keepalive_timed_out, future
            )
        self.keepalive_timer = keepalive_clock.call_later(
            self.loop, self.ping_interval, self.keepalive
        )

    def keepalive_timed_out(self, future: Any) -> None:
        """No pong within ``ping_timeout``: the peer is gone or stuck; close with 1011."""
        self.keepalive_timeout_timer = None
        if future.done() or self.disconnected:
            return
        self.logger.info("keepalive ping timeout; closing the connection")
        transport: Any = self.transport
        transport.protocol_fail(CloseCode.INTERNAL_ERROR, "keepalive ping timeout")
        self.resume_reading()
        transport.disconnect()

    def cancel_keepalive(self) -> None:
        if self.keepalive_timer is not None:
            self.keepalive_timer.cancel()
            self.keepalive_timer = None
        if self.keepalive_timeout_timer is not None:
            self.keepalive_timeout_timer.cancel()
            self.keepalive_timeout_timer = None

    def __repr__(self) -> str:
        state = self.state.name if self.protocol is not None else "CONNECTING"
        return f"<{type(self).__name__} {state} {self.remote_address}>"


class MessageIterator:
    """``async for message in connection``: :meth:`Connection.recv` until a normal closure."""

    __slots__ = ("connection",)

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def __aiter__(self) -> MessageIterator:
        return self

    def __anext__(self) -> Awaitable[Data]:
        return new_receive(self.connection, None, True)


def convert(message: Data, decode: bool) -> Data:
    """Return ``message`` as ``str`` if ``decode`` is true, as ``bytes`` otherwise."""
    if decode:
        return message if isinstance(message, str) else message.decode()
    return message.encode() if isinstance(message, str) else message


if not __file__.endswith(".py"):
    # Compiled: Receive gets its am_send slot (declared in connection.pxd).
    install_receive_am_send(Receive, receive_step, receive_finished)  # noqa: F821
