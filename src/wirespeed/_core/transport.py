"""The listener face's hot path: frames, listeners, transports (picows' API).

This module holds what runs for every frame: :class:`WSProtocolBase` receives
bytes into the core's buffer (it is the ``asyncio.BufferedProtocol`` half of a
connection), asks the core state machine for the next frame, and hands it to
the user's :class:`WSListener` as a :class:`WSFrame` whose payload is a view
into the receive buffer. :class:`WSTransport` is what the listener sends with.
The opening handshake, ``ws_connect`` and ``ws_create_server`` live in
:mod:`wirespeed.listener`.

This module is compiled by Cython (see ``transport.pxd``) when the extension
is built; the source is the same on both paths.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import os
import sys
from typing import Any, List, Optional, Union

from ..frames import Close, Opcode
from .framing import frame_header, random_mask_key, serialize_frame
from .mask import mask_inplace, mask_slice
from .protocol import Protocol, State
from .sockio import (
    new_buffer,
    read_into,
    view_bytes,
    view_slice,
    write_masked,
    write_some,
    writev_some,
)

OPEN = State.OPEN
CLOSING = State.CLOSING

# Frames are written straight to the socket when the transport has nothing
# buffered: a frame that goes out whole is never copied into the transport's
# buffer, and a payload view (an echoed frame) is sent without copying it at
# all. Only the transports below are known to keep the socket and their
# buffer consistent with this.
_HAS_WRITEV = hasattr(os, "writev")
try:
    from asyncio.selector_events import _SelectorSocketTransport
except ImportError:  # pragma: no cover - private name; the fast path is optional
    _SelectorSocketTransport = None
# asyncio's selector transport copied what it could not send at once before
# Python 3.12; since, it keeps references to the written objects, like uvloop.
_SELECTOR_COPIES = sys.version_info < (3, 12)
# Payloads at least this long are sent with writev() beside their header
# instead of being copied into one frame.
_WRITEV_THRESHOLD = 16384
# A client masks payloads at least _WRITEV_THRESHOLD long into a scratch
# buffer that its transport allocates at the first such frame and reuses: no
# frame-sized object per send. It grows to hold the largest frame sent, up to
# _MASK_BUFFER_MAX bytes; larger frames go out in chunks of that size. (One
# write per frame matters: on loopback, every write wakes the reader up.)
_MASK_BUFFER_MAX = 1048576 + 65536

__all__ = [
    "PICOWS_DEBUG_LL",
    "WIRESPEED_DEBUG_LL",
    "WSAutoPingStrategy",
    "WSCloseCode",
    "WSCloseHandshake",
    "WSFrame",
    "WSListener",
    "WSMsgType",
    "WSProtocolBase",
    "WSTransport",
]

#: Log level below DEBUG for per-frame traces: ``logging.getLogger("wirespeed")``
#: at this level logs every frame sent and received.
WIRESPEED_DEBUG_LL = 9
#: The same level under picows' name, so that code written for picows runs as is.
PICOWS_DEBUG_LL = WIRESPEED_DEBUG_LL


class WSMsgType(enum.IntEnum):
    """Frame types, with the opcodes of RFC 6455."""

    CONTINUATION = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA


MSG_TYPES = tuple(
    WSMsgType(value) if value in WSMsgType._value2member_map_ else None for value in range(16)
)
# The core's opcodes, by value: what extensions expect in a Frame.
CORE_OPCODES = tuple(
    Opcode(value) if value in Opcode._value2member_map_ else None for value in range(16)
)


class WSCloseCode(enum.IntEnum):
    """Close codes (RFC 6455, section 7.4.1)."""

    OK = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    NO_INFO = 1005
    ABNORMAL_CLOSURE = 1006
    INVALID_TEXT = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXTENSION = 1010
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    BAD_GATEWAY = 1014


class WSAutoPingStrategy(enum.Enum):
    """When auto ping sends a ping."""

    #: After ``auto_ping_idle_timeout`` seconds without receiving anything.
    PING_WHEN_IDLE = 1
    #: Every ``auto_ping_idle_timeout`` seconds, whatever is received.
    PING_PERIODICALLY = 2


class WSCloseHandshake:
    """The close frames of a connection: ``sent`` and ``recv`` (None if absent).

    ``recv_then_sent`` is True when the peer closed first, False when we did,
    None unless both frames exist.
    """

    __slots__ = ("recv", "recv_then_sent", "sent")

    def __init__(
        self, sent: Optional[Close], recv: Optional[Close], recv_then_sent: Optional[bool]
    ) -> None:
        self.sent = sent
        self.recv = recv
        self.recv_then_sent = recv_then_sent

    def __repr__(self) -> str:
        return (
            f"WSCloseHandshake(sent={self.sent!r}, recv={self.recv!r}, "
            f"recv_then_sent={self.recv_then_sent!r})"
        )


class WSFrame:
    """A received frame, handed to :meth:`WSListener.on_ws_frame`.

    The frame and its payload are valid only during the callback: the payload
    may be a view into the receive buffer, which the next read overwrites. Copy
    what you keep (:meth:`get_payload_as_bytes`). Fragmented messages arrive as
    several frames: frames are never concatenated.
    """

    def __init__(self) -> None:
        self.msg_type = WSMsgType.BINARY
        self.fin = True
        self.rsv1 = False
        self.payload_size = 0
        # The payload is view[start:start + payload_size], or data if not None.
        self.view: Any = None
        self.start = 0
        self.data: Optional[bytes] = None

    def get_payload_as_memoryview(self) -> memoryview:
        """Return the payload without copying it (valid during the callback only)."""
        if self.data is not None:
            return memoryview(self.data)
        return view_slice(self.view, self.start, self.payload_size)

    def get_payload_as_bytes(self) -> bytes:
        """Return the payload as bytes, which the application may keep.

        A copy of the receive buffer's bytes, or the payload's own bytes
        object when the core received it apart (large payloads on the
        asyncio face, see ``FrameReader.separate_large_payloads``).
        """
        if self.data is not None:
            return self.data
        return view_bytes(self.view, self.start, self.payload_size)

    def get_payload_as_utf8_text(self) -> str:
        """Decode the payload as UTF-8 (text frames are already validated)."""
        return str(self.get_payload_as_memoryview(), "utf-8")

    def get_payload_as_ascii_text(self) -> str:
        """Decode the payload as ASCII."""
        return str(self.get_payload_as_memoryview(), "ascii")

    def get_close_code(self) -> Union[WSCloseCode, int]:
        """Return the code of a close frame; ``WSCloseCode.NO_INFO`` if it has none."""
        payload = self.get_payload_as_bytes()
        if len(payload) < 2:
            return WSCloseCode.NO_INFO
        code = int.from_bytes(payload[:2], "big")
        try:
            return WSCloseCode(code)
        except ValueError:
            return code

    def get_close_message(self) -> Optional[bytes]:
        """Return the reason of a close frame, as bytes; None if it has none."""
        payload = self.get_payload_as_bytes()
        if len(payload) <= 2:
            return None
        return payload[2:]

    def get_close_reason(self) -> Optional[str]:
        """Return the reason of a close frame, decoded from UTF-8; None if it has none.

        :raises ValueError: if the frame is not a close frame.
        :raises UnicodeDecodeError: if the reason is not valid UTF-8 (the
            connection already failed with 1007 when such a frame arrived).
        """
        if self.msg_type != WSMsgType.CLOSE:
            raise ValueError("get_close_reason() is for CLOSE frames")
        if self.payload_size <= 2:
            return None
        return str(self.get_payload_as_memoryview()[2:], "utf-8")

    def __str__(self) -> str:
        return (
            f"WSFrame({self.msg_type.name}, fin={self.fin}, rsv1={self.rsv1}, "
            f"payload_size={self.payload_size})"
        )

    __repr__ = __str__


class WSListener:
    """Receive the events of one WebSocket connection; subclass and override.

    The methods are plain (non-async) callbacks, called from the event loop.
    """

    def on_ws_connected(self, transport: WSTransport) -> None:
        """The connection is open: ``transport`` is ready to send.

        If it raises, the connection is closed with 1011 (internal error).
        """

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        """A frame arrived.

        If it raises, the connection is closed with 1011 and disconnected,
        unless ``disconnect_on_error=False`` was given; then the exception is
        logged and the connection goes on.
        """

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        """The TCP connection is closed. Exceptions are logged."""

    def send_user_specific_ping(self, transport: WSTransport) -> None:
        """Send the ping of auto ping and :meth:`WSTransport.measure_roundtrip_time`.

        The default sends a PING frame. Override it for application-level pings,
        and :meth:`is_user_specific_pong` to recognize their answers.
        """
        transport.send_ping()

    def is_user_specific_pong(self, frame: WSFrame) -> bool:
        """Tell whether ``frame`` answers :meth:`send_user_specific_ping`.

        Called for every frame while a pong is awaited, before
        :meth:`on_ws_frame`; a frame recognized here is not passed on. Keep it
        fast. The default recognizes PONG frames. When the answer can only be
        recognized later, return False and call
        :meth:`WSTransport.notify_user_specific_pong_received` from
        :meth:`on_ws_frame`.
        """
        return frame.msg_type == WSMsgType.PONG

    def pause_writing(self) -> None:
        """The transport's write buffer went over its high-water mark: stop sending."""

    def resume_writing(self) -> None:
        """The transport's write buffer drained below its low-water mark."""


def direct_write_fd(transport: Any) -> int:
    """Return the socket's file descriptor if frames may be written to it directly, else -1.

    That is for plain (not TLS) sockets under asyncio's selector transport or
    uvloop's TCP transport, on platforms with ``os.writev``.
    """
    kind = type(transport)
    if not _HAS_WRITEV or not (
        kind is _SelectorSocketTransport
        or (kind.__name__ == "TCPTransport" and kind.__module__ == "uvloop.loop")
    ):
        return -1
    if transport.get_extra_info("sslcontext") is not None:
        return -1
    sock = transport.get_extra_info("socket")
    if sock is None:
        return -1
    try:
        return int(sock.fileno())
    except (OSError, ValueError):
        return -1


# Most reads in a row for one call of DirectReader.read_ready.
_MAX_READS = 8

# What DirectReader uses of asyncio's selector transport (private, but stable
# from Python 3.8 to 3.13); without any of them, asyncio reads as usual.
_READER_NEEDS = (
    "_read_ready_cb",
    "_read_ready",
    "_read_ready__on_eof",
    "_fatal_error",
    "_conn_lost",
    "_protocol",
    "_loop",
)


class DirectReader:
    """Read a plain socket for asyncio's selector transport, in compiled code.

    asyncio's loop runs its transport's Python code for every read; this
    reader does the same work (``get_buffer``, ``read``, ``buffer_updated``;
    end of stream and errors go to the transport's own handlers) without it.
    It takes the place of the transport's read callback, so that pausing and
    resuming reading keep working; if the transport gets another protocol,
    it hands every read back to the transport.

    Like libuv (uvloop), it reads again while a read fills the whole space
    offered, a few times at most, and as long as the transport is reading:
    the rest of a large frame that already arrived is taken without waiting
    for the next turn of the event loop.
    """

    def __init__(self, transport: Any, protocol: Any, fd: int) -> None:
        self.transport = transport
        self.protocol = protocol
        self.fd = fd

    def read_ready(self) -> None:
        transport = self.transport
        protocol = self.protocol
        if transport._protocol is not protocol:
            transport._read_ready()
            return
        reads = 0
        while True:
            if transport._conn_lost:
                return
            try:
                buffer = protocol.get_buffer(-1)
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                transport._fatal_error(exc, "Fatal error: protocol.get_buffer() call failed.")
                return
            try:
                nbytes = read_into(self.fd, buffer)
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                transport._fatal_error(exc, "Fatal read error on socket transport")
                return
            if nbytes < 0:
                return
            if nbytes == 0:
                transport._read_ready__on_eof()
                return
            try:
                protocol.buffer_updated(nbytes)
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                transport._fatal_error(exc, "Fatal error: protocol.buffer_updated() call failed.")
                return
            reads += 1
            if (
                nbytes < len(buffer)
                or reads == _MAX_READS
                or transport._protocol is not protocol
                or not transport.is_reading()
            ):
                return


def install_direct_reader(transport: Any, fd: int) -> Optional[DirectReader]:
    """Let a :class:`DirectReader` read for ``transport`` (asyncio's, plain TCP).

    Only for a :class:`WSProtocolBase` protocol; returns the reader, or None
    when asyncio keeps reading.
    """
    if fd < 0 or _SelectorSocketTransport is None:
        return None
    if type(transport) is not _SelectorSocketTransport:
        return None
    protocol = transport.get_protocol()
    if not isinstance(protocol, WSProtocolBase):
        return None
    for name in _READER_NEEDS:
        if not hasattr(transport, name):
            return None
    reader = DirectReader(transport, protocol, fd)
    transport._read_ready_cb = reader.read_ready
    if transport.is_reading():
        # Straight from the selector, without the transport's _read_ready().
        transport._loop._add_reader(fd, reader.read_ready)
    return reader


class WSTransport:
    """Send frames on one WebSocket connection.

    Created by wirespeed and handed to the listener's callbacks; not created by
    the application.
    """

    def __init__(
        self,
        is_client_side: bool,
        underlying_transport: Any,
        protocol: Protocol,
        logger: Any,
        loop: Any,
    ) -> None:
        #: True on the client side of the connection.
        self.is_client_side = is_client_side
        #: The asyncio transport below the WebSocket connection.
        self.underlying_transport = underlying_transport
        self.protocol = protocol
        self.logger = logger
        self.loop = loop
        #: The opening handshake request (a :class:`~wirespeed.http.Request`).
        self.request: Any = None
        #: The opening handshake response (a :class:`~wirespeed.http.Response`).
        self.response: Any = None
        self.listener: Any = None
        self.mask = is_client_side
        # The client's scratch buffer for masking large frames (see _MASK_BUFFER_MAX).
        self.mask_buffer: Any = None
        # See direct_write_fd; -1 when every write goes through the transport.
        self.fd = direct_write_fd(underlying_transport)
        # asyncio's selector transport: its buffer and closing flag are read
        # directly (its methods are Python code, and on Python 3.12+
        # get_write_buffer_size() sums its whole buffer).
        self.selector = (
            self.fd >= 0
            and type(underlying_transport) is _SelectorSocketTransport
            and hasattr(underlying_transport, "_buffer")
            and hasattr(underlying_transport, "_closing")
        )
        # Whether the transport copies what it buffers (so a view may be
        # handed to it): asyncio's selector transport before Python 3.12.
        self.transport_copies = (
            _SELECTOR_COPIES
            and _SelectorSocketTransport is not None
            and type(underlying_transport) is _SelectorSocketTransport
        )
        self.direct_reader = install_direct_reader(underlying_transport, self.fd)
        self.disconnected = False
        self.disconnected_future: Any = None
        self.close_timer: Any = None
        self.close_timeout = 5.0
        # Auto ping and round-trip measurement.
        self.auto_ping_enabled = False
        self.auto_ping_idle_timeout = 10.0
        self.auto_ping_reply_timeout = 10.0
        self.auto_ping_periodic = False
        self.auto_ping_timer: Any = None
        self.last_data_time = 0.0
        self.waiting_for_pong = False
        self.pong_waiter: Any = None

    # Sending

    def send(
        self,
        msg_type: int,
        message: Any = b"",
        fin: bool = True,
        rsv1: bool = False,
        compress: bool = True,
    ) -> None:
        """Send one frame.

        :param msg_type: a :class:`WSMsgType`.
        :param message: the payload: bytes, bytearray, memoryview or str
            (encoded as UTF-8). It is not kept after the call.
        :param fin: False for every frame of a fragmented message but the last.
        :param rsv1: the RSV1 bit, for an extension the application implements:
            the frame goes out as given, even when permessage-deflate was
            negotiated (the payload is then the application's business).
        :param compress: when permessage-deflate was negotiated (the
            ``compression`` option of :func:`~wirespeed.ws_connect` and
            :func:`~wirespeed.ws_create_server`), messages are compressed;
            ``False`` on the first frame of a message sends that message
            uncompressed (its continuation frames follow it). Without
            compression negotiated, it has no effect.

        Frames sent after the connection started closing are dropped.
        """
        if isinstance(message, str):
            message = message.encode()
        elif message is None:
            message = b""
        if msg_type == 8:
            # A close frame starts (or answers) the closing handshake.
            self.send_close_payload(bytes(message))
            return
        if msg_type & 0x08:
            if len(message) > 125:
                raise ValueError("control frames carry at most 125 bytes")
            if not fin:
                raise ValueError("control frames cannot be fragmented")
        protocol = self.protocol
        if protocol._state is not OPEN and not (
            msg_type & 0x08 and msg_type != 8 and protocol._state is CLOSING
        ):
            if self.logger.isEnabledFor(logging.DEBUG):
                self.logger.debug("dropped %s frame: the connection is closing", msg_type)
            return
        if protocol.extensions and not rsv1:
            # Extensions (compression) go through the core's encoder.
            protocol.send_frame(CORE_OPCODES[msg_type], message, fin, compress)
            self.flush()
            return
        length = len(message)
        if length < _WRITEV_THRESHOLD:
            self.write_data(serialize_frame(msg_type, message, fin, rsv1, False, False, self.mask))
            return
        # A large payload goes out without being copied into a frame.
        if type(message) is not bytes and type(message) is not bytearray:
            message = memoryview(message)
            if message.itemsize != 1 or message.ndim != 1:
                # len() counted items, not bytes.
                message = message.cast("B")
                length = len(message)
        if self.mask:
            self.write_masked_frame(msg_type, message, length, fin, rsv1)
            return
        self.write_parts(frame_header(msg_type, length, fin, rsv1), message)

    def can_write_directly(self) -> bool:
        """Whether a frame may go straight to the socket now.

        Only on plain TCP (``fd`` is set) while the transport has nothing
        buffered and is not closing: what it buffers must go out first.
        """
        if self.fd < 0:
            return False
        transport = self.underlying_transport
        if self.selector:
            return not transport._buffer and not transport._closing
        return not transport.get_write_buffer_size() and not transport.is_closing()

    def write_masked_frame(
        self, msg_type: int, payload: Any, length: int, fin: bool, rsv1: bool
    ) -> None:
        """Write a client frame with a large payload, masked chunk by chunk.

        Straight to the socket through the reused scratch buffer when the
        transport has nothing buffered; what the socket does not take goes to
        the transport as a new object (never a view of the scratch buffer).
        """
        transport = self.underlying_transport
        if not self.can_write_directly():
            transport.write(serialize_frame(msg_type, payload, fin, rsv1, False, False, True))
            return
        key = random_mask_key()
        header = frame_header(msg_type, length, fin, rsv1, False, False, key)
        needed = len(header) + length
        scratch = self.mask_buffer
        if scratch is None or (len(scratch) < needed and len(scratch) < _MASK_BUFFER_MAX):
            # In steps of 64 KiB, not to grow it for every larger frame.
            size = (needed + 65535) & ~65535
            if size > _MASK_BUFFER_MAX:
                size = _MASK_BUFFER_MAX
            scratch = new_buffer(size)
            self.mask_buffer = scratch
        sent = write_masked(self.fd, scratch, header, payload, key)
        if sent == needed:
            return
        # On EAGAIN (-1) or an error (-2), the transport gets the whole frame:
        # it reports the error when it tries the same write.
        if sent < 0:
            sent = 0
        if sent < len(header):
            transport.write(header[sent:] if sent else header)
            sent = 0
        else:
            sent -= len(header)
        transport.write(mask_slice(payload, sent, length, key, sent))

    def write_data(self, data: bytes) -> None:
        """Write ``data`` (immutable) to the socket, or to the transport's buffer."""
        transport = self.underlying_transport
        if self.can_write_directly():
            # On EAGAIN (-1) or an error (-2), the transport gets the frame:
            # it reports the error when it tries the same write.
            sent = write_some(self.fd, data)
            if sent == len(data):
                return
            if sent > 0:
                transport.write(memoryview(data)[sent:])
                return
        transport.write(data)

    def write_parts(self, header: bytes, payload: Any) -> None:
        """Write ``header`` then ``payload``, which may change once this returns.

        The payload is copied only if the socket does not take all of it at
        once and the transport would keep a reference to it.
        """
        transport = self.underlying_transport
        sent = 0
        if self.can_write_directly():
            sent = writev_some(self.fd, header, payload)
            if sent == len(header) + len(payload):
                return
            if sent < 0:
                sent = 0
        if sent < len(header):
            transport.write(header[sent:] if sent else header)
            sent = 0
        else:
            sent -= len(header)
        if type(payload) is bytes:
            transport.write(memoryview(payload)[sent:] if sent else payload)
        elif self.transport_copies:
            transport.write(payload[sent:] if sent else payload)
        else:
            transport.write(bytes(payload[sent:] if sent else payload))

    def send_reuse_external_bytearray(
        self,
        msg_type: int,
        buffer: bytearray,
        msg_offset: int,
        fin: bool = True,
        rsv1: bool = False,
    ) -> None:
        """Send ``buffer[msg_offset:]`` as one frame, building the frame in ``buffer``.

        The frame header is written into the bytes just before
        ``msg_offset``, and on the client side the payload is masked in
        place, so the payload is not copied into a new frame. ``buffer`` is
        changed by the call (header bytes, masked payload); the application
        may reuse it once the call returns.

        :param msg_type: a :class:`WSMsgType`, except ``CLOSE`` (use
            :meth:`send_close`).
        :param buffer: a :class:`bytearray` holding at least 14 free bytes,
            then the payload.
        :param msg_offset: where the payload starts in ``buffer``; at least 14.
        :param fin: False for every frame of a fragmented message but the last.
        :param rsv1: the RSV1 bit, for an extension the application implements.
        :raises ValueError: if ``buffer`` is None, ``msg_offset`` is below 14
            or beyond the end of ``buffer``, or ``msg_type`` is ``CLOSE``.

        Frames sent after the connection started closing are dropped.
        """
        if buffer is None:
            raise ValueError("send_reuse_external_bytearray() needs a bytearray, not None")
        if not isinstance(buffer, bytearray):
            raise TypeError(f"buffer must be a bytearray, not {type(buffer).__name__}")
        if msg_offset < 14:
            raise ValueError(
                "buffer must have at least 14 bytes available before the message: "
                f"msg_offset is {msg_offset}"
            )
        if msg_type == 8:
            raise ValueError(
                "send a CLOSE frame with send_close(), not send_reuse_external_bytearray()"
            )
        size = len(buffer)
        if msg_offset > size:
            raise ValueError(
                f"msg_offset {msg_offset} is beyond the end of the buffer ({size} bytes)"
            )
        length = size - msg_offset
        protocol = self.protocol
        if msg_type & 0x08 or protocol.extensions or protocol._state is not OPEN:
            # Rare cases: control frames (checked by send()), compression
            # (the encoder builds the frame), a closing connection.
            self.send(msg_type, memoryview(buffer)[msg_offset:], fin, rsv1)
            return
        if self.mask:
            key = random_mask_key()
            header = frame_header(msg_type, length, fin, rsv1, False, False, key)
            mask_inplace(buffer, msg_offset, size, key, 0)
        else:
            header = frame_header(msg_type, length, fin, rsv1)
        start = msg_offset - len(header)
        buffer[start:msg_offset] = header
        self.write_view(memoryview(buffer)[start:])

    def write_view(self, data: Any) -> None:
        """Write ``data``, a buffer that may change once this returns.

        It is copied only if the socket does not take all of it at once and
        the transport would keep a reference to it.
        """
        transport = self.underlying_transport
        sent = 0
        if self.can_write_directly():
            sent = write_some(self.fd, data)
            if sent == len(data):
                return
            if sent < 0:
                sent = 0
        if self.transport_copies:
            transport.write(data[sent:] if sent else data)
        else:
            transport.write(bytes(data[sent:] if sent else data))

    def send_ping(self, message: Any = b"") -> None:
        """Send a PING frame."""
        self.send(WSMsgType.PING, message)

    def send_pong(self, message: Any = b"") -> None:
        """Send a PONG frame."""
        self.send(WSMsgType.PONG, message)

    def send_close(self, close_code: int = WSCloseCode.OK, close_message: Any = b"") -> None:
        """Start the closing handshake with ``close_code`` and ``close_message``.

        Does nothing if a close frame was already sent. The connection closes
        when the peer answers, or after ``close_timeout`` seconds.
        """
        if isinstance(close_message, str):
            close_message = close_message.encode()
        if close_code == WSCloseCode.NO_INFO:
            if close_message:
                raise ValueError("a close frame without a code cannot have a message")
            self.send_close_payload(b"")
        else:
            self.send_close_payload(
                int(close_code).to_bytes(2, "big") + bytes(close_message or b"")
            )

    def send_close_payload(self, payload: bytes) -> None:
        """Send a close frame with ``payload`` (empty, or a code and a UTF-8 reason)."""
        protocol = self.protocol
        if protocol._state is not OPEN:
            return
        if payload:
            close = Close.parse(payload)
            protocol.send_close(close.code, close.reason)
        else:
            protocol.send_close()
        self.flush()

    def disconnect(self, graceful: bool = True) -> None:
        """Close the TCP connection; ``graceful`` waits for the write buffer to drain."""
        if self.disconnected:
            return
        transport = self.underlying_transport
        if graceful:
            transport.close()
        else:
            transport.abort()

    async def wait_disconnected(self) -> None:
        """Wait until the TCP connection is closed."""
        if self.disconnected:
            return
        if self.disconnected_future is None:
            self.disconnected_future = self.loop.create_future()
        await asyncio.shield(self.disconnected_future)

    @property
    def is_secure(self) -> bool:
        """Whether the connection runs over TLS."""
        return self.underlying_transport.get_extra_info("sslcontext") is not None

    @property
    def is_close_frame_sent(self) -> bool:
        """Whether a close frame was sent on this connection."""
        return self.protocol.close_sent is not None

    @property
    def is_disconnected(self) -> bool:
        """Whether the TCP connection is closed."""
        return self.disconnected

    @property
    def close_handshake(self) -> Optional[WSCloseHandshake]:
        """The close frames sent and received; None until either happened."""
        protocol = self.protocol
        if protocol.close_sent is None and protocol.close_rcvd is None:
            return None
        return WSCloseHandshake(
            protocol.close_sent, protocol.close_rcvd, protocol.close_rcvd_then_sent
        )

    def flush(self) -> None:
        """Write what the core queued (pongs, close frames, end of stream)."""
        protocol = self.protocol
        # data_to_send() also applies a failure that waited for the frames
        # before it to be delivered (see Protocol.fail_internally).
        writes = protocol.data_to_send()
        transport = self.underlying_transport
        for data in writes:
            if data:
                transport.write(data)
            elif transport.can_write_eof():
                try:
                    transport.write_eof()
                except OSError:
                    # The peer is gone already; connection_lost follows.
                    transport.close()
            else:
                transport.close()
        if protocol.close_expected() and self.close_timer is None and not self.disconnected:
            # Bound the closing handshake: drop the connection if the peer
            # doesn't finish it in time.
            self.close_timer = self.loop.call_later(self.close_timeout, self.close_timed_out)

    def close_timed_out(self) -> None:
        self.close_timer = None
        if not self.disconnected:
            self.logger.debug("closing handshake timed out; disconnecting")
            self.underlying_transport.abort()

    # Pings

    def notify_user_specific_pong_received(self) -> None:
        """Tell auto ping (and round-trip measurement) that a pong arrived."""
        self.waiting_for_pong = False
        waiter = self.pong_waiter
        if waiter is not None:
            self.pong_waiter = None
            if not waiter.done():
                waiter.set_result(self.loop.time())
        if self.auto_ping_enabled:
            self.schedule_auto_ping(self.auto_ping_idle_timeout)

    async def measure_roundtrip_time(self, rounds: int) -> List[float]:
        """Measure the round-trip time ``rounds`` times; return the times in seconds.

        Each round sends :meth:`WSListener.send_user_specific_ping` and waits
        for the answer that :meth:`WSListener.is_user_specific_pong` recognizes.
        """
        results = []
        for _ in range(rounds):
            waiter = self.loop.create_future()
            self.pong_waiter = waiter
            self.waiting_for_pong = True
            start = self.loop.time()
            self.listener.send_user_specific_ping(self)
            end = await waiter
            results.append(end - start)
        return results

    def start_auto_ping(self, idle_timeout: float, reply_timeout: float, periodic: bool) -> None:
        self.auto_ping_enabled = True
        self.auto_ping_idle_timeout = idle_timeout
        self.auto_ping_reply_timeout = reply_timeout
        self.auto_ping_periodic = periodic
        self.last_data_time = self.loop.time()
        self.schedule_auto_ping(idle_timeout)

    def schedule_auto_ping(self, delay: float) -> None:
        if self.auto_ping_timer is not None:
            self.auto_ping_timer.cancel()
        if not self.disconnected:
            self.auto_ping_timer = self.loop.call_later(delay, self.auto_ping_fired)

    def auto_ping_fired(self) -> None:
        self.auto_ping_timer = None
        if self.disconnected:
            return
        if self.waiting_for_pong:
            # No pong within the reply timeout: the peer is gone or stuck.
            self.logger.info(
                "no pong within %s seconds; disconnecting", self.auto_ping_reply_timeout
            )
            self.protocol_fail(1011, "auto ping: no pong received")
            self.disconnect()
            return
        if not self.auto_ping_periodic:
            idle = self.loop.time() - self.last_data_time
            if idle < self.auto_ping_idle_timeout:
                self.schedule_auto_ping(self.auto_ping_idle_timeout - idle)
                return
        self.waiting_for_pong = True
        try:
            self.listener.send_user_specific_ping(self)
        except Exception:
            self.logger.exception("send_user_specific_ping failed")
            self.protocol_fail(1011, "")
            self.disconnect()
            return
        self.schedule_auto_ping(self.auto_ping_reply_timeout)

    def protocol_fail(self, code: int, reason: str) -> None:
        """Fail the connection with ``code`` and flush the close frame."""
        protocol = self.protocol
        if protocol._state is OPEN:
            protocol.fail(code, reason)
            self.flush()

    def stop_timers(self) -> None:
        if self.auto_ping_timer is not None:
            self.auto_ping_timer.cancel()
            self.auto_ping_timer = None
        if self.close_timer is not None:
            self.close_timer.cancel()
            self.close_timer = None


class WSProtocolBase:
    """The receiving half of a WebSocket connection on asyncio.

    :mod:`wirespeed.listener` subclasses it together with
    ``asyncio.BufferedProtocol`` and adds the opening handshake. Once the
    handshake completed (:meth:`start_websocket`), every read lands in the
    core's receive buffer and each frame goes to the listener.
    """

    def __init__(self, protocol: Protocol, disconnect_on_error: bool, auto_pong: bool) -> None:
        self.protocol = protocol
        protocol.auto_pong = auto_pong
        self.disconnect_on_error = disconnect_on_error
        self.auto_pong = auto_pong
        self.open = False
        self.transport: Optional[WSTransport] = None
        self.listener: Any = None
        self.handshake_buffer = bytearray(4096)
        self.logger: Any = None
        self.trace = False

    # asyncio.BufferedProtocol

    def get_buffer(self, sizehint: int) -> Any:
        if self.open:
            return self.protocol.reader.get_buffer(sizehint)
        return self.handshake_buffer

    def buffer_updated(self, nbytes: int) -> None:
        if not self.open:
            self.handshake_data_received(bytes(self.handshake_buffer[:nbytes]))
            return
        transport = self.transport
        if transport.auto_ping_enabled:
            transport.last_data_time = transport.loop.time()
        self.protocol.reader.buffer_updated(nbytes)
        self.receive_frames()

    def receive_frames(self) -> None:
        """Hand every complete frame in the buffer to the listener."""
        protocol = self.protocol
        reader = protocol.reader
        transport = self.transport
        while protocol.process_next_frame():
            if protocol.writes:
                transport.flush()
            opcode = reader.opcode
            if opcode == 9 and self.auto_pong:
                continue
            frame = WSFrame.__new__(WSFrame)
            frame.msg_type = MSG_TYPES[opcode]
            first = reader.first_byte
            frame.fin = (first & 0x80) != 0
            frame.rsv1 = (first & 0x40) != 0
            decoded = protocol.decoded_frame
            if decoded is not None:
                frame.data = decoded.data
                frame.rsv1 = decoded.rsv1
                frame.payload_size = len(decoded.data)
            elif opcode & 0x08:
                frame.data = protocol.control_payload
                frame.payload_size = len(frame.data)
            elif reader.payload is not None:
                # Received into bytes of its own (FrameReader.separate_large_payloads):
                # handed over, not copied, and no longer referenced by the reader.
                frame.data = reader.payload
                frame.payload_size = reader.length
                reader.payload = None
            else:
                frame.data = None
                frame.view = reader.view
                frame.start = reader.payload_start
                frame.payload_size = reader.length
            self.deliver(frame)
        if protocol.writes:
            transport.flush()

    def deliver(self, frame: WSFrame) -> None:
        """Pass a frame to the listener, handling pongs awaited by ping logic."""
        transport = self.transport
        listener = self.listener
        if self.trace:
            self.logger.log(WIRESPEED_DEBUG_LL, "< %s", frame)
        if transport.waiting_for_pong:
            try:
                is_pong = listener.is_user_specific_pong(frame)
            except Exception:
                self.logger.exception("is_user_specific_pong failed")
                is_pong = False
            if is_pong:
                transport.notify_user_specific_pong_received()
                return
        try:
            if isinstance(listener, WSListener):
                # Compiled, a typed call: a listener written in Cython (the
                # asyncio face's) gets its on_ws_frame called directly.
                typed_listener = listener
                typed_listener.on_ws_frame(transport, frame)
            else:
                listener.on_ws_frame(transport, frame)
        except Exception:
            self.logger.exception("WSListener.on_ws_frame failed")
            if self.disconnect_on_error:
                transport.protocol_fail(1011, "")
                transport.disconnect()

    def deliver_frame_event(self, event: Any) -> None:
        """Pass a frame that the handshake code parsed as a Sans-I/O event."""
        opcode = int(event.opcode)
        if opcode == 9 and self.auto_pong:
            return
        frame = WSFrame.__new__(WSFrame)
        frame.msg_type = MSG_TYPES[opcode]
        frame.fin = event.fin
        frame.rsv1 = event.rsv1
        frame.data = bytes(event.data)
        frame.payload_size = len(frame.data)
        self.deliver(frame)

    def eof_received(self) -> bool:
        self.protocol.receive_eof()
        if self.transport is not None:
            self.transport.flush()
        return False

    def pause_writing(self) -> None:
        if self.listener is not None:
            self.listener.pause_writing()

    def resume_writing(self) -> None:
        if self.listener is not None:
            self.listener.resume_writing()

    def handshake_data_received(self, data: bytes) -> None:
        """Bytes received during the opening handshake (implemented by subclasses)."""
        raise NotImplementedError
