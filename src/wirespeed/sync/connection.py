"""The blocking WebSocket connection shared by the client and the server.

A :class:`Connection` drives one :class:`wirespeed.sansio.Protocol` over one
connected socket, for programs that use threads:

* the thread that calls :meth:`~Connection.recv` reads the socket itself, feeds
  the bytes to the protocol and gets its message without any thread switch;
  while no thread is in :meth:`~Connection.recv`, a background thread reads
  instead, so that pings and the closing handshake are answered, and queues
  the data frames it receives (up to ``max_queue``);
* :meth:`~Connection.send`, :meth:`~Connection.ping`, :meth:`~Connection.pong`
  and :meth:`~Connection.close` go through the protocol and write to the socket
  under one lock, so that frames sent from several threads never interleave;
* another background thread sends keepalive pings, when ``ping_interval`` is
  set, and fails the connection with close code 1011 when a pong doesn't come
  back within ``ping_timeout``.

The protocol enforces every rule of RFC 6455; this module only adds threads,
queues and timers around it.
"""

from __future__ import annotations

import os
import select
import socket
import ssl
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from types import TracebackType
from typing import Any, Deque, Dict, List, Optional, Tuple, Type, Union

from ..exceptions import (
    ConcurrencyError,
    ConnectionClosed,
    ConnectionClosedOK,
    InvalidState,
)
from ..frames import CloseCode, Frame, Opcode
from ..http import Request, Response
from ..sansio import SEND_EOF, Protocol, State
from .net import feed_received, reads_into

__all__ = ["Connection", "Data", "PongWaiter"]

#: A message: text as :class:`str`, binary as :class:`bytes`.
Data = Union[str, bytes]

#: Anything :meth:`Connection.send` accepts as one message or one fragment.
DataLike = Union[str, bytes, bytearray, memoryview]

OP_TEXT = Opcode.TEXT
OP_BINARY = Opcode.BINARY
OP_CONT = Opcode.CONT
OP_PONG = Opcode.PONG
OPEN = State.OPEN
CLOSED = State.CLOSED

#: Bytes asked from the socket per read, when it is read with ``recv``.
RECV_BUFSIZE = 64 * 1024

#: Seconds after recv() returns during which the background thread leaves the
#: socket to the application, which usually calls recv() again at once.
IDLE_GRACE = 0.02


class PongWaiter(threading.Event):
    """What :meth:`Connection.ping` returns: wait on it for the matching pong.

    It is a :class:`threading.Event`: :meth:`wait` returns ``True`` once the
    pong arrived or the connection closed. :attr:`latency` then holds the
    round-trip time in seconds; :meth:`result` returns it, or raises.
    """

    def __init__(self) -> None:
        super().__init__()
        #: Seconds between sending the ping and receiving its pong.
        self.latency: Optional[float] = None
        #: Why no pong will come: the connection closed first.
        self.exception: Optional[BaseException] = None

    def result(self, timeout: Optional[float] = None) -> float:
        """Wait for the pong and return the latency in seconds.

        :raises TimeoutError: if no pong arrives within ``timeout`` seconds.
        :raises ConnectionClosed: if the connection closed before the pong came.
        """
        if not self.wait(timeout):
            raise TimeoutError("timed out waiting for a pong")
        if self.exception is not None:
            raise self.exception
        assert self.latency is not None
        return self.latency


class Connection:
    """A WebSocket connection over a blocking socket, safe to share between threads.

    :class:`~wirespeed.sync.client.ClientConnection` and
    :class:`~wirespeed.sync.server.ServerConnection` add the opening handshake;
    use :func:`~wirespeed.sync.connect` and :func:`~wirespeed.sync.serve`
    rather than building one yourself.

    :param socket: connected socket (TCP, Unix, or TLS-wrapped).
    :param protocol: Sans-I/O protocol for the connection.
    :param ping_interval: seconds between keepalive pings; ``None`` disables them.
    :param ping_timeout: seconds to wait for the pong of a keepalive ping before
        failing the connection with code 1011; ``None`` waits forever.
    :param close_timeout: seconds to wait for the closing handshake and the end
        of the TCP connection before aborting it; ``None`` waits forever.
    :param max_queue: high-water mark of the queue of received frames: when it
        is full, the socket isn't read any more (TCP backpressure) until the
        queue drains to a quarter of it. A ``(high, low)`` pair sets both;
        ``None`` disables the limit.
    """

    # Slots: the attributes of the hot paths are read at every message, and
    # they are too many for CPython's shared-key instance dictionaries. The
    # __dict__ slot keeps instances open to attributes set by applications.
    __slots__ = (
        "__dict__",
        "__weakref__",
        "aborting",
        "answer_wait",
        "app_left",
        "app_reading",
        "background_waiting",
        "caught_up",
        "close_deadline",
        "close_timeout",
        "closed_event",
        "direct_reads",
        "end_lock",
        "ended",
        "frames",
        "free_space",
        "keepalive_thread",
        "last_app_read",
        "latency",
        "logger",
        "max_queue_high",
        "max_queue_low",
        "paused",
        "pending",
        "ping_interval",
        "ping_timeout",
        "pong_waiters",
        "protocol",
        "protocol_mutex",
        "read_lock",
        "recv_in_progress",
        "recv_thread",
        "resume",
        "send_in_progress",
        "socket",
        "wake_reader",
        "wake_writer",
    )

    def __init__(
        self,
        socket: socket.socket,
        protocol: Protocol,
        *,
        ping_interval: Optional[float] = 20,
        ping_timeout: Optional[float] = 20,
        close_timeout: Optional[float] = 10,
        max_queue: Union[int, Tuple[Optional[int], Optional[int]], None] = 16,
    ) -> None:
        self.socket = socket
        self.protocol = protocol
        # Large payloads are received straight into the bytes handed out.
        protocol.reader.separate_large_payloads()
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.close_timeout = close_timeout
        if isinstance(max_queue, tuple):
            high, low = max_queue
            if low is None and high is not None:
                low = high // 4
        else:
            high, low = max_queue, (None if max_queue is None else max_queue // 4)
        if high is not None and (low is None or not 0 <= low <= high or high < 1):
            raise ValueError("max_queue must be None, a positive int, or (high, low)")
        self.max_queue_high = high
        self.max_queue_low = low
        #: Logger of the connection (that of the protocol).
        self.logger: Any = protocol.logger
        #: Round-trip time of the last ping that got its pong, in seconds.
        #: 0 until one did.
        self.latency: float = 0.0
        # Guards the protocol and the writes to the socket: whoever holds it
        # calls the protocol and writes its output before releasing it, so the
        # bytes of two frames never interleave.
        self.protocol_mutex = threading.Lock()
        # Held for the whole of one outgoing message, so that a fragmented
        # message isn't interleaved with another one.
        self.send_in_progress = threading.Lock()
        # Held by the thread that is in recv() or recv_streaming().
        self.recv_in_progress = threading.Lock()
        # True while the application waits in recv() with nothing queued: it
        # has handled every message delivered so far (see answer_wait).
        self.caught_up = True
        # Data frames received, then None when the connection is closed. Only
        # the thread that holds read_lock appends (end_connection aside), only
        # the thread in recv() takes: appends and pops are atomic.
        self.frames: Deque[Optional[Frame]] = deque()
        # Fragments of the message that recv() was reading when it timed out.
        self.pending: List[Frame] = []
        self.paused = False
        self.resume = threading.Event()
        # Set by abort(): the reading thread must not wait for the queue anymore.
        self.aborting = False
        #: Seconds the reading thread waits for the application to handle the
        #: messages it has, before feeding more data to the protocol.
        self.answer_wait = 0.2
        # Pings waiting for their pong: payload -> (waiter, time sent).
        self.pong_waiters: Dict[bytes, Tuple[PongWaiter, float]] = {}
        # Set once the reading thread finished: the connection is CLOSED.
        self.closed_event = threading.Event()
        # When set, the peer has until then to close the TCP connection.
        self.close_deadline: Optional[float] = None
        self.recv_thread: Optional[threading.Thread] = None
        self.keepalive_thread: Optional[threading.Thread] = None
        # Whoever holds read_lock reads the socket: the thread in recv(), so
        # that a message reaches it without a thread switch, or the background
        # thread when the application has been away from recv() for a while
        # (it must still answer pings and the closing handshake).
        self.read_lock = threading.Lock()
        self.app_reading = False
        self.last_app_read = 0.0
        self.app_left = threading.Event()
        self.background_waiting = False
        self.ended = False
        self.end_lock = threading.Lock()
        # Written to, to get the background thread out of select().
        self.wake_reader: Optional[socket.socket] = None
        self.wake_writer: Optional[socket.socket] = None
        # Whether the socket is read with recv_into, straight into the
        # protocol's receive buffer, and the free space of that buffer that
        # the next read fills (reserved after each read, protocol_mutex held).
        self.direct_reads = reads_into(socket)
        self.free_space: Any = None

    # Public attributes

    @property
    def id(self) -> uuid.UUID:
        """Unique identifier of the connection, useful in logs."""
        return self.protocol.id

    @property
    def state(self) -> State:
        """State of the WebSocket connection (CONNECTING, OPEN, CLOSING, CLOSED)."""
        return self.protocol.state

    @property
    def local_address(self) -> Any:
        """Local address of the socket (see :meth:`socket.socket.getsockname`)."""
        return self.socket.getsockname()

    @property
    def remote_address(self) -> Any:
        """Remote address of the socket (see :meth:`socket.socket.getpeername`)."""
        return self.socket.getpeername()

    @property
    def request(self) -> Optional[Request]:
        """The opening handshake request."""
        return getattr(self.protocol, "request", None)

    @property
    def response(self) -> Optional[Response]:
        """The opening handshake response."""
        return getattr(self.protocol, "response", None)

    @property
    def subprotocol(self) -> Optional[str]:
        """Subprotocol negotiated in the opening handshake, if any."""
        return getattr(self.protocol, "subprotocol", None)

    @property
    def close_code(self) -> Optional[int]:
        """Close code received from the peer; ``None`` until the connection is closed."""
        return self.protocol.close_code

    @property
    def close_reason(self) -> Optional[str]:
        """Close reason received from the peer; ``None`` until the connection is closed."""
        return self.protocol.close_reason

    # Context manager and iteration

    def __enter__(self) -> Connection:
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc_value: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.close(CloseCode.INTERNAL_ERROR)

    def __iter__(self) -> Iterator[Data]:
        """Iterate over incoming messages until the connection closes normally.

        :raises ConnectionClosedError: if it closes with an error.
        """
        try:
            while True:
                yield self.recv()
        except ConnectionClosedOK:
            return

    # Receiving

    def recv(self, timeout: Optional[float] = None, decode: Optional[bool] = None) -> Data:
        """Receive the next message.

        Text messages are returned as :class:`str` and binary messages as
        :class:`bytes`; ``decode=False`` returns text as bytes (UTF-8, already
        validated), ``decode=True`` decodes binary messages as UTF-8 too.

        :param timeout: seconds to wait; ``None`` waits forever, ``0`` doesn't
            wait. On a timeout, the fragments already received are kept for the
            next call.
        :raises ConnectionClosed: when the connection is closed.
        :raises ConcurrencyError: if two threads call :meth:`recv` or
            :meth:`recv_streaming` at once.
        :raises TimeoutError: if no complete message arrives in time.
        """
        if not self.recv_in_progress.acquire(False):
            raise ConcurrencyError(
                "cannot call recv while another thread is already running recv or recv_streaming"
            )
        self.app_reading = True
        try:
            pending = self.pending
            if timeout is None and not pending and not self.frames:
                # The common case, next_frame() inlined: nothing is queued,
                # read the socket in this thread.
                self.caught_up = True
                frame = self.read_for_application(None)
                if frame is not None:
                    if frame.fin:
                        data = frame.data
                        if decode is None and frame.opcode is OP_BINARY and type(data) is bytes:
                            return data
                        return self.decode_message(frame.opcode, data, decode)
                    pending.append(frame)
            deadline = None if timeout is None else time.monotonic() + timeout
            while True:
                frame = self.next_frame(deadline)
                if frame.fin and not pending:
                    data = frame.data
                    if decode is None and frame.opcode is OP_BINARY and type(data) is bytes:
                        return data
                    return self.decode_message(frame.opcode, data, decode)
                pending.append(frame)
                if frame.fin:
                    data = b"".join([fragment.data for fragment in pending])
                    opcode = pending[0].opcode
                    pending.clear()
                    return self.decode_message(opcode, data, decode)
        finally:
            # leave_recv(), inlined on this hot path.
            self.app_reading = False
            self.last_app_read = time.monotonic()
            if self.background_waiting:
                self.app_left.set()
            self.recv_in_progress.release()

    def recv_streaming(self, decode: Optional[bool] = None) -> Iterator[Data]:
        """Receive the next message fragment by fragment, as the frames arrive.

        Yields :class:`str` for a text message and :class:`bytes` for a binary
        one (see ``decode`` in :meth:`recv`). Consume the whole iterator before
        calling :meth:`recv` or :meth:`recv_streaming` again.

        :raises ConnectionClosed: when the connection is closed.
        :raises ConcurrencyError: if two threads receive at once.
        """
        if not self.recv_in_progress.acquire(False):
            raise ConcurrencyError(
                "cannot call recv_streaming while another thread is already running "
                "recv or recv_streaming"
            )
        self.app_reading = True
        try:
            opcode = None
            while self.pending:
                frame = self.pending.pop(0)
                opcode = frame.opcode
                yield self.decode_message(opcode, frame.data, decode)
            while True:
                frame = self.next_frame(None)
                if opcode is None:
                    opcode = frame.opcode
                yield self.decode_message(opcode, frame.data, decode)
                if frame.fin:
                    return
        finally:
            self.leave_recv()

    def leave_recv(self) -> None:
        """End of recv() or recv_streaming(): the background thread may read again."""
        self.app_reading = False
        self.last_app_read = time.monotonic()
        if self.background_waiting:
            self.app_left.set()
        self.recv_in_progress.release()

    def next_frame(self, deadline: Optional[float]) -> Frame:
        """Take the next data frame, reading the socket until ``deadline`` if needed."""
        frames = self.frames
        while True:
            if not frames:
                self.caught_up = True
                remaining = None
                if deadline is not None:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise TimeoutError("timed out waiting for a message") from None
                frame = self.read_for_application(remaining)
                if frame is not None:
                    return frame
                continue
            frame = frames.popleft()
            if frame is None:
                # Leave the end marker for the next caller.
                frames.appendleft(None)
                raise self.closed_exception()
            if self.paused and len(frames) <= (self.max_queue_low or 0):
                self.paused = False
                self.resume.set()
            return frame

    def read_for_application(self, timeout: Optional[float]) -> Optional[Frame]:
        """Read the socket once in the thread that waits in recv() (queue empty).

        Returns the first data frame read, which skips the queue, if any;
        the frames after it are queued.
        """
        lock = self.read_lock
        if not lock.acquire(False):
            # The background thread is reading: get it out of the way. It may
            # queue frames meanwhile, and wait for them to be taken.
            self.preempt()
            deadline = None if timeout is None else time.monotonic() + timeout
            while not lock.acquire(True, 0.005):
                if self.frames or self.ended:
                    return None
                if deadline is not None and time.monotonic() >= deadline:
                    return None
        try:
            if self.frames or self.ended:
                return None
            protocol = self.protocol
            if protocol.pending_failure is not None:
                # The application had its chance to answer: fail now.
                with self.protocol_mutex:
                    try:
                        self.send_data()
                    except OSError:
                        pass
                    if self.close_deadline is None and protocol.close_expected():
                        self.set_close_deadline()
            return self.read_once(timeout, background=False, take=True)
        finally:
            lock.release()

    @staticmethod
    def decode_message(opcode: Opcode, data: bytes, decode: Optional[bool]) -> Data:
        """Turn a payload into the message type that ``decode`` asks for."""
        if decode is None:
            decode = opcode == OP_TEXT
        if decode:
            return data.decode() if isinstance(data, bytes) else bytes(data).decode()
        return data if isinstance(data, bytes) else bytes(data)

    # Sending

    def send(
        self, message: Union[DataLike, Iterable[DataLike]], text: Optional[bool] = None
    ) -> None:
        """Send a message.

        A :class:`str` is sent as a text frame, a bytes-like object as a binary
        frame (``text=True`` sends bytes, which must be UTF-8, as text, and
        ``text=False`` sends a str as binary). An iterable of str or of
        bytes-like objects is sent as a fragmented message, one frame per item;
        other threads' messages wait until it is complete.

        :raises ConnectionClosed: when the connection is closed.
        :raises TypeError: for any other type, or a mix of str and bytes.
        """
        if isinstance(message, (bytes, bytearray, memoryview)):
            opcode = OP_TEXT if text else OP_BINARY
            data: Any = message
        elif isinstance(message, str):
            opcode = OP_BINARY if text is False else OP_TEXT
            data = message.encode()
        elif isinstance(message, Mapping):
            raise TypeError("data is a dict-like object")
        elif isinstance(message, Iterable):
            self.send_fragments(message, text)
            return
        else:
            raise TypeError("data must be str, bytes-like, or iterable")
        # A message in one frame needs nothing but protocol_mutex; only a
        # fragmented message in progress in another thread makes it wait, for
        # send_in_progress, which that thread holds until its last frame.
        mutex = self.protocol_mutex
        mutex.acquire()
        try:
            if not self.protocol.expect_continuation:
                self.send_with_protocol(opcode, data, True)
                return
        finally:
            mutex.release()
        with self.send_in_progress, mutex:
            self.send_with_protocol(opcode, data, True)

    def send_with_protocol(self, opcode: Opcode, data: Any, fin: bool) -> None:
        """Queue a data frame in the protocol and write it (protocol_mutex held)."""
        protocol = self.protocol
        try:
            if opcode is OP_TEXT:
                protocol.send_text(data, fin)
            elif opcode is OP_BINARY:
                protocol.send_binary(data, fin)
            else:
                protocol.send_continuation(data, fin)
        except InvalidState:
            raise self.closed_exception_later() from None
        writes = protocol.data_to_send()
        try:
            if len(writes) == 1 and writes[0]:
                self.socket.sendall(writes[0])
            else:
                self.write_out(writes)
        except OSError as exc:
            self.abort()
            raise self.closed_exception_later() from exc

    def send_fragments(self, fragments: Iterable[DataLike], text: Optional[bool]) -> None:
        """Send an iterable as a fragmented message."""
        iterator = iter(fragments)
        with self.send_in_progress:
            try:
                first = next(iterator)
            except StopIteration:
                return
            if isinstance(first, str):
                kind: type = str
                opcode = OP_BINARY if text is False else OP_TEXT
            elif isinstance(first, (bytes, bytearray, memoryview)):
                kind = bytes
                opcode = OP_TEXT if text else OP_BINARY
            else:
                raise TypeError("iterable must contain bytes or str")
            current: Any = first
            started = False
            try:
                for item in iterator:
                    with self.protocol_mutex:
                        self.send_with_protocol(
                            OP_CONT if started else opcode, _encode(current, kind), False
                        )
                    started = True
                    current = item
                with self.protocol_mutex:
                    self.send_with_protocol(
                        OP_CONT if started else opcode, _encode(current, kind), True
                    )
            except TypeError:
                # A fragmented message can't be abandoned half-way: fail.
                with self.protocol_mutex:
                    if self.protocol.state is OPEN:
                        self.protocol.fail(CloseCode.INTERNAL_ERROR, "error in fragmented message")
                        self.send_data()
                raise

    def ping(self, data: Optional[DataLike] = None) -> PongWaiter:
        """Send a ping; return a :class:`PongWaiter` set when its pong arrives.

        ``data`` defaults to four random bytes; a str is encoded to UTF-8. A
        pong also acknowledges every ping sent before the one it answers.
        :attr:`latency` is updated when the pong arrives.

        :raises ConnectionClosed: when the connection is closed.
        :raises ConcurrencyError: if a ping with the same data awaits its pong.
        """
        if isinstance(data, str):
            payload = data.encode()
        elif data is not None:
            payload = bytes(data)
        with self.protocol_mutex:
            if data is None:
                payload = os.urandom(4)
                while payload in self.pong_waiters:
                    payload = os.urandom(4)
            elif payload in self.pong_waiters:
                raise ConcurrencyError("already waiting for a pong with the same data")
            waiter = PongWaiter()
            try:
                self.protocol.send_ping(payload)
            except InvalidState:
                raise self.closed_exception_later() from None
            self.pong_waiters[payload] = (waiter, time.monotonic())
            try:
                self.send_data()
            except OSError as exc:
                self.abort()
                raise self.closed_exception_later() from exc
        return waiter

    def pong(self, data: DataLike = b"") -> None:
        """Send an unsolicited pong, for example as a unidirectional heartbeat.

        :raises ConnectionClosed: when the connection is closed.
        """
        payload = data.encode() if isinstance(data, str) else bytes(data)
        with self.protocol_mutex:
            try:
                self.protocol.send_pong(payload)
            except InvalidState:
                raise self.closed_exception_later() from None
            try:
                self.send_data()
            except OSError as exc:
                self.abort()
                raise self.closed_exception_later() from exc

    def close(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        """Perform the closing handshake and wait for the TCP connection to end.

        Waits at most ``close_timeout`` seconds, then aborts the TCP
        connection. Calling it on a closed connection does nothing; it is safe
        to call from several threads at once.
        """
        timeout = -1 if self.close_timeout is None else self.close_timeout
        if not self.protocol_mutex.acquire(timeout=timeout):
            # Another thread is stuck writing to a peer that doesn't read.
            self.abort()
            self.protocol_mutex.acquire()
        try:
            if self.protocol.state is OPEN:
                self.protocol.send_close(code, reason)
                try:
                    self.send_data()
                except OSError:
                    self.abort()
        finally:
            self.protocol_mutex.release()
        self.wait_closed_or_abort(self.close_timeout)

    # Internals

    def start(self, events: Optional[List[Any]] = None) -> None:
        """Start the background threads, once the connection is OPEN.

        ``events`` are frames that arrived with the opening handshake.
        """
        self.socket.settimeout(None)
        if events:
            self.process_events(events)
        self.wake_reader, self.wake_writer = socket.socketpair()
        self.wake_reader.setblocking(False)
        self.wake_writer.setblocking(False)
        self.recv_thread = threading.Thread(
            target=self.recv_events, name=f"wirespeed-recv-{self.id}", daemon=True
        )
        self.recv_thread.start()
        if self.ping_interval is not None and self.ping_interval > 0:
            self.keepalive_thread = threading.Thread(
                target=self.keepalive, name=f"wirespeed-keepalive-{self.id}", daemon=True
            )
            self.keepalive_thread.start()

    def send_data(self) -> None:
        """Write what the protocol wants to send (protocol_mutex held)."""
        self.write_out(self.protocol.data_to_send())

    def write_out(self, writes: List[bytes]) -> None:
        """Write the protocol's output ``writes`` (protocol_mutex held)."""
        sock = self.socket
        for data in writes:
            if data:
                sock.sendall(data)
            elif data is SEND_EOF or data == b"":
                try:
                    sock.shutdown(socket.SHUT_WR)
                except OSError:  # already closed or not connected
                    pass

    def recv_events(self) -> None:
        """Read the socket while the application isn't in recv() (background thread)."""
        protocol = self.protocol
        try:
            if protocol.pending_failure is not None:
                # Frames that came with the handshake end with a protocol error.
                self.wait_caught_up()
                with self.protocol_mutex:
                    self.send_data()
                    if protocol.close_expected():
                        self.set_close_deadline()
            while not self.ended:
                if self.paused:
                    self.wait_for_queue()
                    continue
                if self.app_reading:
                    # Sleep until recv() returns (see leave_recv).
                    self.background_waiting = True
                    if self.app_reading:
                        self.app_left.wait()
                    self.app_left.clear()
                    self.background_waiting = False
                    # recv() is likely to be called again at once: don't wake
                    # up at every message.
                    self.closed_event.wait(IDLE_GRACE)
                    continue
                idle = time.monotonic() - self.last_app_read
                if idle < IDLE_GRACE:
                    # recv() is likely to be called again at once (request and
                    # response): let the application read for itself.
                    self.closed_event.wait(IDLE_GRACE - idle)
                    continue
                if not self.read_lock.acquire(False):
                    self.closed_event.wait(IDLE_GRACE)
                    continue
                try:
                    if not self.app_reading and not self.ended:
                        self.read_once(None, background=True)
                finally:
                    self.read_lock.release()
        except Exception:
            self.logger.error("unexpected internal error", exc_info=True)
            self.end_connection()
        finally:
            for end in (self.wake_reader, self.wake_writer):
                if end is not None:
                    end.close()

    def read_once(
        self, timeout: Optional[float], background: bool, take: bool = False
    ) -> Optional[Frame]:
        """Read the socket once and feed the protocol (``read_lock`` held).

        Waits up to ``timeout`` seconds for data (``None``: as long as it
        takes); the background thread can be interrupted by :meth:`preempt`.
        Ends the connection on EOF, on an error, or when the peer doesn't
        close TCP by the close deadline. With ``take`` (the thread in recv(),
        the queue empty), returns the first data frame instead of queuing it.
        """
        protocol = self.protocol
        sock = self.socket
        wait = timeout
        if self.close_deadline is not None:
            remaining = self.close_deadline - time.monotonic()
            if remaining <= 0:
                if protocol.debug:
                    self.logger.debug("! timed out waiting for TCP close")
                self.end_connection()
                return None
            wait = remaining if wait is None else min(wait, remaining)
        if (background or wait is not None) and not self.wait_readable(wait, background):
            if self.close_deadline is not None and time.monotonic() >= self.close_deadline:
                self.end_connection()
            return None
        mutex = self.protocol_mutex
        data = None
        try:
            if self.direct_reads:
                # Straight into the free space of the protocol's receive
                # buffer, reserved after the previous read (see below).
                view = self.free_space
                if view is None:
                    with mutex:
                        view = protocol.reader.get_buffer()
                nbytes = sock.recv_into(view)
            else:
                data = sock.recv(RECV_BUFSIZE)
                nbytes = len(data)
        except (OSError, ssl.SSLError) as exc:
            if protocol.debug:
                self.logger.debug("! error while receiving data: %s", exc)
            self.end_connection()
            return None
        if not nbytes:
            self.end_connection()
            return None
        if background and not self.caught_up:
            # Let the application answer the messages it has before feeding
            # more data: if that data breaks the protocol, the close frame
            # then follows the answers (as Autobahn expects).
            self.wait_caught_up()
        failed = False
        mutex.acquire()
        try:
            if data is None:
                if not protocol.discarding and protocol.pending_failure is None:
                    # feed_received(), inlined on this hot path: after EOF the
                    # protocol discards, and complete_message_queued is
                    # already false (events_received() follows every feed).
                    protocol.reader.buffer_updated(nbytes)
                    protocol.parse_frames()
                else:
                    feed_received(protocol, nbytes)
                # Nothing but a failure (which discards what it received)
                # touches the buffer until the next read: reserve its space now.
                self.free_space = protocol.reader.get_buffer()
            else:
                protocol.receive_data(data)
            events = protocol.events_received()
            # A protocol error that came right after complete messages waits
            # until the application has had a chance to answer them: its next
            # send applies the failure after its own frames.
            deferred = protocol.pending_failure is not None
            if not deferred:
                try:
                    writes = protocol.data_to_send()
                    if writes:
                        self.write_out(writes)
                except OSError as exc:
                    if protocol.debug:
                        self.logger.debug("! error while sending data: %s", exc)
                    failed = True
                if (
                    self.close_deadline is None
                    and protocol._state is not OPEN
                    and protocol.close_expected()
                ):
                    self.set_close_deadline()
        finally:
            mutex.release()
        first = None
        if events:
            if take and len(events) == 1 and not failed and not deferred:
                # The common case, process_events() inlined: one data frame
                # for the thread in recv().
                first = events[0]
                opcode = first.opcode
                if opcode is OP_BINARY or opcode is OP_TEXT or opcode is OP_CONT:
                    if first.fin:
                        self.caught_up = False
                    return first
            first = self.process_events(events, take)
        if failed:
            self.end_connection()
        elif deferred and background:
            self.wait_caught_up()
            with self.protocol_mutex:
                try:
                    self.send_data()
                except OSError:
                    failed = True
                if self.close_deadline is None and protocol.close_expected():
                    self.set_close_deadline()
            if failed:
                self.end_connection()
        return first

    def wait_caught_up(self) -> None:
        """Wait up to ``answer_wait`` seconds for the application to catch up.

        Only the background thread waits, and only after a protocol error or
        while messages it queued are unanswered: polling is cheap enough.
        """
        deadline = time.monotonic() + self.answer_wait
        while not self.caught_up and not self.ended and time.monotonic() < deadline:
            time.sleep(0.001)

    def preempt(self) -> None:
        """Get the background thread out of select(), to read in recv() instead."""
        writer = self.wake_writer
        if writer is not None:
            try:
                writer.send(b"\0")
            except OSError:  # closed, or already full of wake-ups
                pass

    def process_events(self, events: List[Any], take: bool = False) -> Optional[Frame]:
        """Queue data frames; resolve pings with pongs.

        With ``take`` (the queue is empty), the first data frame isn't queued
        but returned, to the thread in recv().
        """
        high = self.max_queue_high
        frames = self.frames
        first = None
        for event in events:
            opcode = event.opcode
            if opcode is OP_BINARY or opcode is OP_TEXT or opcode is OP_CONT:
                if event.fin:
                    self.caught_up = False
                if take:
                    take = False
                    first = event
                    continue
                frames.append(event)
                if high is not None and len(frames) >= high:
                    self.resume.clear()
                    self.paused = True
            elif opcode is OP_PONG:
                self.acknowledge_pings(bytes(event.data))
        return first

    def wait_for_queue(self) -> None:
        """Stop reading while the queue of received frames is full."""
        if len(self.frames) > (self.max_queue_low or 0) and not self.aborting:
            self.resume.wait()
        self.paused = False

    def acknowledge_pings(self, data: bytes) -> None:
        """Resolve the ping that ``data`` answers and every ping sent before it."""
        with self.protocol_mutex:
            if data not in self.pong_waiters:
                return
            now = time.monotonic()
            acknowledged = []
            for payload, (waiter, sent_at) in self.pong_waiters.items():
                acknowledged.append(payload)
                waiter.latency = now - sent_at
                waiter.set()
                if payload == data:
                    self.latency = now - sent_at
                    break
            for payload in acknowledged:
                del self.pong_waiters[payload]

    def keepalive(self) -> None:
        """Send a ping every ``ping_interval`` seconds; fail without a pong (thread)."""
        assert self.ping_interval is not None
        while not self.closed_event.wait(self.ping_interval):
            try:
                waiter = self.ping()
            except ConnectionClosed:
                return
            if self.protocol.debug:
                self.logger.debug("% sent keepalive ping")
            if self.ping_timeout is None:
                continue
            if waiter.wait(self.ping_timeout):
                continue
            with self.protocol_mutex:
                if self.protocol.state is OPEN:
                    if self.protocol.debug:
                        self.logger.debug("- timed out waiting for keepalive pong")
                    self.protocol.fail(CloseCode.INTERNAL_ERROR, "keepalive ping timeout")
                    try:
                        self.send_data()
                    except OSError:
                        pass
            self.wait_closed_or_abort(self.close_timeout)
            return

    def set_close_deadline(self) -> None:
        """Give the peer ``close_timeout`` seconds to close the TCP connection."""
        timeout = self.close_timeout
        self.close_deadline = time.monotonic() + (timeout if timeout is not None else 1e9)

    def wait_readable(self, timeout: Optional[float], background: bool = False) -> bool:
        """Wait up to ``timeout`` seconds for the socket to be readable.

        The background thread also wakes up when :meth:`preempt` is called;
        it then returns False unless the socket is readable too.
        """
        sock = self.socket
        if isinstance(sock, ssl.SSLSocket) and sock.pending():
            return True
        wake = self.wake_reader if background else None
        try:
            if wake is not None:
                readable, _, _ = select.select([sock, wake], [], [], timeout)
            else:
                readable, _, _ = select.select([sock], [], [], timeout)
        except (OSError, ValueError):
            return True  # let recv() report the problem
        if wake is not None and wake in readable:
            try:
                wake.recv(4096)
            except OSError:
                pass
            return sock in readable
        return bool(readable)

    def end_connection(self) -> None:
        """The socket is done: move the protocol to CLOSED and wake everyone."""
        with self.end_lock:
            if self.ended:
                return
            self.ended = True
        with self.protocol_mutex:
            self.protocol.receive_eof()
            try:
                self.send_data()
            except OSError:
                pass
            waiters = list(self.pong_waiters.values())
            self.pong_waiters.clear()
        self.close_socket()
        self.frames.append(None)
        self.closed_event.set()
        self.resume.set()
        self.app_left.set()
        exc = self.protocol.close_exc
        for waiter, _ in waiters:
            waiter.exception = exc
            waiter.set()

    def close_socket(self) -> None:
        """Shut the socket down both ways and close it."""
        try:
            self.socket.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.socket.close()

    def abort(self) -> None:
        """Abort the TCP connection; the reading thread notices and finishes."""
        try:
            self.socket.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        # Wake the reading thread up if the queue of received frames is full.
        self.aborting = True
        self.resume.set()
        self.caught_up = True

    def wait_closed_or_abort(self, timeout: Optional[float]) -> None:
        """Wait until the connection is CLOSED; abort TCP after ``timeout`` seconds.

        Reads the socket meanwhile if no other thread does.
        """
        if self.recv_thread is None:
            # Never started: there is no thread to wait for.
            with self.protocol_mutex:
                self.protocol.receive_eof()
                self.protocol.data_to_send()
            self.close_socket()
            self.closed_event.set()
            return
        if threading.current_thread() is self.recv_thread:
            return
        deadline = None if timeout is None else time.monotonic() + timeout
        aborted = False
        while not self.closed_event.is_set():
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0 and not aborted:
                self.abort()
                aborted = True
                remaining = None
            if self.read_lock.acquire(False):
                try:
                    if not self.ended:
                        self.read_once(0.05 if remaining is None else min(remaining, 0.05), False)
                finally:
                    self.read_lock.release()
            else:
                self.closed_event.wait(0.01 if remaining is None else min(remaining, 0.01))

    def closed_exception(self) -> ConnectionClosed:
        """The exception for a CLOSED connection."""
        return self.protocol.close_exc

    def closed_exception_later(self) -> ConnectionClosed:
        """Wait until the connection is CLOSED (within ``close_timeout``); return why.

        Called with ``protocol_mutex`` held, by a thread that found the
        connection CLOSING or CLOSED: it releases the lock while waiting.
        """
        if self.protocol.state is CLOSED:
            return self.protocol.close_exc
        self.protocol_mutex.release()
        try:
            self.wait_closed_or_abort(self.close_timeout)
        finally:
            self.protocol_mutex.acquire()
        return self.protocol.close_exc


def _encode(fragment: Any, kind: type) -> Any:
    """Check that a fragment is of the message's kind; encode a str."""
    if kind is str:
        if not isinstance(fragment, str):
            raise TypeError("iterable must contain only str")
        return fragment.encode()
    if not isinstance(fragment, (bytes, bytearray, memoryview)):
        raise TypeError("iterable must contain only bytes-like objects")
    return fragment
