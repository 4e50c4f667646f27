"""The WebSocket connection state machine (RFC 6455, sections 5 to 7).

:class:`Protocol` is written once and driven by every face of wirespeed. It does
no I/O, reads no clock and never sleeps: bytes received go in through
:meth:`~Protocol.receive_data` and :meth:`~Protocol.receive_eof`, frames come
out through :meth:`~Protocol.events_received`, bytes to send through
:meth:`~Protocol.data_to_send`. Its Python API is the Sans-I/O face,
:class:`wirespeed.sansio.Protocol`.

The states are CONNECTING -> OPEN -> CLOSING -> CLOSED:

* CONNECTING: the opening handshake is in progress (handled by the client and
  server subclasses in :mod:`wirespeed.sansio`);
* OPEN: frames flow both ways;
* CLOSING: a close frame was sent; frames are still received until the peer's
  close frame arrives;
* CLOSED: the TCP connection is closed (EOF received). A server half-closes
  TCP first; a client waits for the server to do it.

This module is compiled by Cython (see ``protocol.pxd``) when the extension is
built; the source is the same on both paths.
"""

from __future__ import annotations

import enum
import logging
import uuid
from typing import Any, List, Optional, Sequence, Tuple, Union

from ..exceptions import (
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidState,
    PayloadTooBig,
    ProtocolError,
)
from ..frames import OK_CLOSE_CODES, Close, CloseCode, Frame, Opcode
from .framing import FrameReader, serialize_frame

__all__ = ["SEND_EOF", "Protocol", "Side", "State"]


class Side(enum.IntEnum):
    """A WebSocket connection is either a server or a client."""

    SERVER = 0
    CLIENT = 1


SERVER = Side.SERVER
CLIENT = Side.CLIENT


class State(enum.IntEnum):
    """A WebSocket connection is in one of these four states."""

    CONNECTING = 0
    OPEN = 1
    CLOSING = 2
    CLOSED = 3


CONNECTING = State.CONNECTING
OPEN = State.OPEN
CLOSING = State.CLOSING
CLOSED = State.CLOSED

#: Sentinel in :meth:`Protocol.data_to_send`: half-close the TCP connection.
SEND_EOF = b""

OP_CONT = Opcode.CONT
OP_TEXT = Opcode.TEXT
OP_BINARY = Opcode.BINARY
OP_CLOSE = Opcode.CLOSE
OP_PING = Opcode.PING
OP_PONG = Opcode.PONG

#: Longest close reason, in bytes, that fits a close frame with its code.
MAX_CLOSE_REASON = 123

MaxSize = Union[int, None, Tuple[Optional[int], Optional[int]]]


def split_max_size(max_size: MaxSize) -> Tuple[Optional[int], Optional[int]]:
    """Turn ``max_size`` into a (message limit, fragment limit) pair."""
    if isinstance(max_size, tuple):
        message_limit, fragment_limit = max_size
    else:
        message_limit = fragment_limit = max_size
    for limit in (message_limit, fragment_limit):
        if limit is not None and (not isinstance(limit, int) or limit < 0):
            raise ValueError(f"max_size must be None or a non-negative int, got {limit!r}")
    return message_limit, fragment_limit


def truncate_reason(reason: str) -> str:
    """Shorten ``reason`` so that it fits a close frame, on a character boundary."""
    encoded = reason.encode()
    if len(encoded) <= MAX_CLOSE_REASON:
        return reason
    return encoded[: MAX_CLOSE_REASON - 3].decode(errors="ignore") + "..."


class Protocol:
    """Sans-I/O implementation of a WebSocket connection.

    :param side: :attr:`Side.CLIENT` or :attr:`Side.SERVER`.
    :param state: initial state; OPEN unless the opening handshake is handled
        by this object (see :class:`~wirespeed.sansio.ClientProtocol` and
        :class:`~wirespeed.sansio.ServerProtocol`).
    :param max_size: maximum size of incoming messages in bytes; ``None``
        disables the limit. A ``(message, fragment)`` pair sets separate limits
        for whole messages and for single frames.
    :param logger: logger for this connection; defaults to
        ``logging.getLogger("wirespeed.client")`` or ``"wirespeed.server"``.
    """

    def __init__(
        self,
        side: Side,
        *,
        state: State = OPEN,
        max_size: MaxSize = 2**20,
        logger: Optional[Any] = None,
    ) -> None:
        #: Unique identifier of the connection. Useful in logs.
        self.id: uuid.UUID = uuid.uuid4()
        if logger is None:
            logger = logging.getLogger(f"wirespeed.{side.name.lower()}")
        #: Logger for this connection.
        self.logger = logger
        self.debug = logger.isEnabledFor(logging.DEBUG)
        self.side = Side(side)
        self._state = State(state)
        self.max_message_size, self.max_fragment_size = split_max_size(max_size)
        self.reader = FrameReader(
            self.side is SERVER, self.max_message_size, self.max_fragment_size
        )
        self.mask_frames = self.side is CLIENT
        #: Extensions negotiated during the opening handshake, in order.
        self.extensions: List[Any] = []
        # Size of the message being received, after extensions decoded it.
        self.decoded_size = 0
        self.events: List[Any] = []
        self.writes: List[bytes] = []
        #: Close frame received from the peer, if any.
        self.close_rcvd: Optional[Close] = None
        #: Close frame sent to the peer, if any.
        self.close_sent: Optional[Close] = None
        #: Order of the two close frames, when both exist.
        self.close_rcvd_then_sent: Optional[bool] = None
        #: Exception that made the opening handshake fail, if any.
        self.handshake_exc: Optional[Exception] = None
        #: Exception raised while parsing incoming data, if any.
        self.parser_exc: Optional[BaseException] = None
        #: Whether a fragmented message is being sent (its last frame isn't
        #: out yet). Part of the contract with the faces: the sync face reads
        #: it to send a one-frame message without waiting for other threads.
        self.expect_continuation = False
        #: Whether received pings are answered automatically.
        self.auto_pong = True
        # The frame that process_next_frame() made ready, when an extension
        # decoded it, and the payload of the latest control frame.
        self.decoded_frame: Optional[Frame] = None
        self.control_payload = b""
        #: A parser failure waiting for the application to answer the messages
        #: received before it: ``(code, reason, exception)``; see
        #: :meth:`fail_internally`. Part of the contract with the faces: the
        #: asyncio and sync faces read it to apply the failure (with
        #: :meth:`apply_pending_failure`, or their next :meth:`data_to_send`)
        #: once the application had its chance to answer.
        self.pending_failure: Optional[Tuple[int, str, BaseException]] = None
        self.pending_failure_due = False
        #: Whether this call to receive_data() queued the end of a message.
        #: A face that receives straight into ``reader``'s buffer (with
        #: ``get_buffer()`` and ``buffer_updated()``, then :meth:`parse_frames`,
        #: in place of :meth:`receive_data`) resets it first, as
        #: :meth:`receive_data` does, after checking ``eof_received``,
        #: ``pending_failure`` and ``discarding`` the same way.
        self.complete_message_queued = False
        self.eof_received = False
        self.eof_sent = False
        #: Once the closing handshake completes or the connection fails,
        #: incoming data is discarded until EOF (faces that receive into
        #: ``reader``'s buffer drop what they read meanwhile).
        self.discarding = False

    # Public attributes

    @property
    def state(self) -> State:
        """State of the WebSocket connection (RFC 6455, 4.1, 4.2, 7.1.3, 7.1.4)."""
        return self._state

    @state.setter
    def state(self, state: State) -> None:
        if self.debug:
            self.logger.debug("= connection is %s", state.name)
        self._state = state

    @property
    def close_code(self) -> Optional[int]:
        """Close code received from the peer; ``None`` until the connection is closed.

        1006 when the connection closed without receiving a close frame.
        """
        if self._state is not CLOSED:
            return None
        if self.close_rcvd is None:
            return CloseCode.ABNORMAL_CLOSURE
        return self.close_rcvd.code

    @property
    def close_reason(self) -> Optional[str]:
        """Close reason received from the peer; ``None`` until the connection is closed."""
        if self._state is not CLOSED:
            return None
        if self.close_rcvd is None:
            return ""
        return self.close_rcvd.reason

    @property
    def close_exc(self) -> ConnectionClosed:
        """Exception to raise when trying to interact with a closed connection.

        Wait until the state is CLOSED before raising it: only then are the
        close code and reason known.

        :raises AssertionError: if the connection isn't closed yet.
        """
        assert self._state is CLOSED, "connection isn't closed yet"
        rcvd = self.close_rcvd
        sent = self.close_sent
        exc_type: type
        if (
            rcvd is not None
            and sent is not None
            and rcvd.code in OK_CLOSE_CODES
            and sent.code in OK_CLOSE_CODES
        ):
            exc_type = ConnectionClosedOK
        else:
            exc_type = ConnectionClosedError
        exc = exc_type(rcvd, sent, self.close_rcvd_then_sent)
        exc.__cause__ = self.parser_exc
        return exc

    # Receiving

    def receive_data(self, data: bytes) -> None:
        """Receive data from the network.

        After calling this method, call :meth:`data_to_send` and send the data
        to the network; then call :meth:`events_received` and process the
        events.

        :raises EOFError: if :meth:`receive_eof` was called earlier.
        """
        if self.eof_received:
            raise EOFError("stream ended")
        if self.pending_failure is not None:
            self.apply_pending_failure()
        if self.discarding:
            return
        self.complete_message_queued = False
        if self._state is CONNECTING:
            self.receive_handshake_data(data)
            return
        self.reader.feed(data)
        self.parse_frames()

    def receive_eof(self) -> None:
        """Receive the end of the data stream from the network.

        After calling this method, call :meth:`data_to_send` and send the data
        to the network; it returns ``[b""]``, signaling the end of the stream,
        or ``[]``. No new events are produced. This method is idempotent.
        """
        if self.eof_received:
            return
        if self.pending_failure is not None:
            self.apply_pending_failure()
        self.eof_received = True
        if self.debug:
            self.logger.debug("< EOF")
        if not self.discarding:
            if self._state is CONNECTING:
                self.receive_handshake_eof()
            else:
                # The closing handshake didn't complete: the connection is lost.
                exc = EOFError("unexpected end of stream")
                self.fail(CloseCode.ABNORMAL_CLOSURE, str(exc))
                self.parser_exc = exc
        # A server closed TCP when it started discarding; a client does it now,
        # once the server has closed its side.
        if self._state is not CONNECTING and self.side is CLIENT and not self.eof_sent:
            self.send_eof()
        self.state = CLOSED

    def parse_frames(self) -> None:
        """Turn buffered bytes into frames, apply the rules, queue them as events."""
        while self.process_next_frame():
            frame = self.decoded_frame
            if frame is None:
                frame = self.reader.current_frame()
            self.events.append(frame)
            if frame.fin and frame.opcode < 8:
                self.complete_message_queued = True

    def process_next_frame(self) -> bool:
        """Advance by one frame and apply the connection's rules to it.

        This is the state machine's C-level entry for the compiled faces: no
        Python object is created for a data frame unless an extension decodes
        it. It returns True when a frame is ready: :attr:`decoded_frame` when an
        extension decoded it, otherwise the frame is in place in the reader
        (see :meth:`FrameReader.advance`); control frames are also copied to
        :attr:`control_payload`. Pings are answered (if :attr:`auto_pong`) and
        close frames processed before it returns. It returns False when more
        bytes are needed, or when the connection failed or closed; a failure
        queues the close frame with the right code, never raises.
        """
        if self.discarding:
            return False
        reader = self.reader
        try:
            if not reader.advance():
                return False
            frame = None
            if self.extensions:
                frame = self.decode_frame(reader.current_frame())
            self.decoded_frame = frame
            if self.debug:
                self.logger.debug("< %s", frame if frame is not None else reader.current_frame())
            opcode = reader.opcode
            if opcode & 0x08:
                data = frame.data if frame is not None else reader.payload_bytes()
                self.control_payload = data
                self.receive_control_frame(opcode, data)
            return True
        except ProtocolError as exc:
            # An extension may name a more precise code: 1007 for a compressed
            # message that doesn't decompress.
            code = getattr(exc, "close_code", CloseCode.PROTOCOL_ERROR)
            self.fail_internally(code, str(exc), exc)
        except UnicodeDecodeError as exc:
            self.fail_internally(
                CloseCode.INVALID_DATA, f"{exc.reason} at position {exc.start}", exc
            )
        except PayloadTooBig as exc:
            self.fail_internally(CloseCode.MESSAGE_TOO_BIG, str(exc), exc)
        except Exception as exc:
            self.logger.error("parser failed", exc_info=True)
            # Don't include exception details, which may be security-sensitive.
            self.fail_internally(CloseCode.INTERNAL_ERROR, "", exc)
        return False

    def decode_frame(self, frame: Frame) -> Frame:
        """Let negotiated extensions decode ``frame``, then check it and its text."""
        opcode = frame.opcode
        is_data = opcode is OP_TEXT or opcode is OP_BINARY or opcode is OP_CONT
        if is_data and opcode is not OP_CONT:
            self.decoded_size = 0
        max_size = None
        if self.max_message_size is not None and is_data:
            max_size = self.max_message_size - self.decoded_size
        # A decoded frame is bounded like a received one: the listener face
        # limits frames only, and a deflate bomb fits in one frame.
        if (
            self.max_fragment_size is not None
            and is_data
            and (max_size is None or self.max_fragment_size < max_size)
        ):
            max_size = self.max_fragment_size
        for extension in reversed(self.extensions):
            frame = extension.decode(frame, max_size=max_size)
        frame.check()
        reader = self.reader
        if is_data:
            self.decoded_size += len(frame.data)
            if self.max_message_size is not None and self.decoded_size > self.max_message_size:
                raise PayloadTooBig(self.decoded_size, self.max_message_size)
            if reader.message_is_text and not reader.last_frame_validated:
                reader.validator.feed(frame.data)
                if frame.fin:
                    reader.validator.finish()
        return frame

    def receive_control_frame(self, opcode: int, data: bytes) -> None:
        """Apply the connection-level rules to a received control frame."""
        if opcode == 9:
            # 5.5.2: "Upon receipt of a Ping frame, an endpoint MUST send a Pong
            # frame in response". RFC 6455 allows it in the CLOSING state too.
            if self.auto_pong:
                self.send_frame(OP_PONG, data)
        elif opcode == 8:
            # Close.parse checks the code and decodes the reason as UTF-8.
            self.close_rcvd = Close.parse(data)
            if self._state is CLOSING:
                self.close_rcvd_then_sent = False
            elif self._state is OPEN:
                # 5.5.1: echo the close frame. Echo the original payload: an
                # empty payload must stay empty rather than become 1005.
                self.send_frame(OP_CLOSE, data)
                self.close_sent = self.close_rcvd
                self.close_rcvd_then_sent = True
                self.state = CLOSING
            # 7.1.1: the server closes the TCP connection first; the client
            # waits for it. 1.4: data after a close frame is discarded.
            if self.side is SERVER:
                self.send_eof()
            self.start_discarding()

    # Sending

    def send_continuation(self, data: bytes, fin: bool) -> None:
        """Send a Continuation frame.

        :param data: payload containing the same kind of data as the initial frame.
        :param fin: FIN bit; true for the last frame of a fragmented message.
        :raises ProtocolError: if a fragmented message isn't in progress.
        """
        if not self.expect_continuation:
            raise ProtocolError("unexpected continuation frame")
        if self._state is not OPEN:
            raise InvalidState(f"connection is {self._state.name.lower()}")
        self.expect_continuation = not fin
        self.send_frame(OP_CONT, data, fin)

    def send_text(self, data: bytes, fin: bool = True, *, compress: bool = True) -> None:
        """Send a Text frame.

        :param data: payload containing text encoded with UTF-8.
        :param fin: FIN bit; false for the first frame of a fragmented message.
        :param compress: false sends the message uncompressed even if a
            compression extension was negotiated; the continuation frames
            of a fragmented message follow its first frame.
        :raises ProtocolError: if a fragmented message is in progress.
        """
        if self.expect_continuation:
            raise ProtocolError("expected a continuation frame")
        if self._state is not OPEN:
            raise InvalidState(f"connection is {self._state.name.lower()}")
        self.expect_continuation = not fin
        self.send_frame(OP_TEXT, data, fin, compress)

    def send_binary(self, data: bytes, fin: bool = True, *, compress: bool = True) -> None:
        """Send a Binary frame.

        :param data: payload containing arbitrary binary data.
        :param fin: FIN bit; false for the first frame of a fragmented message.
        :param compress: false sends the message uncompressed even if a
            compression extension was negotiated; the continuation frames
            of a fragmented message follow its first frame.
        :raises ProtocolError: if a fragmented message is in progress.
        """
        if self.expect_continuation:
            raise ProtocolError("expected a continuation frame")
        if self._state is not OPEN:
            raise InvalidState(f"connection is {self._state.name.lower()}")
        self.expect_continuation = not fin
        self.send_frame(OP_BINARY, data, fin, compress)

    def send_close(self, code: Optional[int] = None, reason: str = "") -> None:
        """Send a Close frame.

        :param code: close code; ``None`` sends a close frame without a code.
        :param reason: close reason.
        :raises ProtocolError: if the code isn't valid or if a reason is
            provided without a code.
        """
        if self._state is not OPEN:
            raise InvalidState(f"connection is {self._state.name.lower()}")
        if code is None:
            if reason != "":
                raise ProtocolError("cannot send a reason without a code")
            close = Close(CloseCode.NO_STATUS_RCVD, "")
            data = b""
        else:
            close = Close(code, reason)
            data = close.serialize()
        self.send_frame(OP_CLOSE, data)
        self.close_sent = close
        self.state = CLOSING

    def send_ping(self, data: bytes) -> None:
        """Send a Ping frame.

        :param data: payload containing arbitrary binary data.
        """
        if self._state is not OPEN and self._state is not CLOSING:
            raise InvalidState(f"connection is {self._state.name.lower()}")
        self.send_frame(OP_PING, data)

    def send_pong(self, data: bytes) -> None:
        """Send a Pong frame.

        :param data: payload containing arbitrary binary data.
        """
        if self._state is not OPEN and self._state is not CLOSING:
            raise InvalidState(f"connection is {self._state.name.lower()}")
        self.send_frame(OP_PONG, data)

    def fail(self, code: int, reason: str = "") -> None:
        """Fail the WebSocket connection (RFC 6455, 7.1.7).

        Sends a close frame with ``code`` and ``reason`` if the connection is
        OPEN (except for 1006, which means the network is already gone); a
        server then closes the TCP connection. Incoming data is discarded from
        now on.

        :param code: close code.
        :param reason: close reason.
        :raises ProtocolError: if the code isn't valid.
        """
        if code != CloseCode.ABNORMAL_CLOSURE:
            close = Close(code, reason)
            data = close.serialize()
            if self._state is OPEN:
                self.send_frame(OP_CLOSE, data)
                self.close_sent = close
                if self.close_rcvd is not None:
                    self.close_rcvd_then_sent = True
                self.state = CLOSING
        elif self._state is OPEN:
            # The network is gone: nothing more can be sent; wait for EOF.
            self.state = CLOSING
        if self.side is SERVER and not self.eof_sent:
            self.send_eof()
        self.start_discarding()

    def fail_internally(self, code: int, reason: str, exc: BaseException) -> None:
        """Fail the connection because of ``exc``, raised by the parser.

        When the data that contained the error also completed a message, now
        waiting in :meth:`events_received`, the failure waits: the application may
        answer those messages first (RFC 6455 doesn't require it, but peers
        such as the Autobahn testsuite expect it). Everything received after
        the error is ignored meanwhile, and the failure takes effect at the
        first :meth:`data_to_send` after the events were fetched, or with the
        next data or EOF received.
        """
        reason = truncate_reason(reason)
        if self.complete_message_queued and self._state is OPEN:
            self.pending_failure = (code, reason, exc)
            self.start_discarding()
            return
        self.fail(code, reason)
        self.parser_exc = exc

    def apply_pending_failure(self) -> None:
        """Fail the connection now if a parser error was waiting (see fail_internally)."""
        pending = self.pending_failure
        if pending is not None:
            self.pending_failure = None
            self.pending_failure_due = False
            code, reason, exc = pending
            self.fail(code, reason)
            self.parser_exc = exc

    # Output

    def events_received(self) -> List[Any]:
        """Fetch events generated from data received from the network.

        Call this method immediately after any of the ``receive_*()`` methods
        and process the events it returns.
        """
        events = self.events
        self.events = []
        self.complete_message_queued = False
        if self.pending_failure is not None:
            self.pending_failure_due = True
        return events

    def data_to_send(self) -> List[bytes]:
        """Obtain data to send to the network.

        Call this method immediately after any of the ``receive_*()``,
        ``send_*()``, or :meth:`fail` methods and write the data to the
        connection. The empty bytestring :data:`SEND_EOF` signals the end of
        the data stream: when you receive it, half-close the TCP connection.
        """
        if self.pending_failure_due:
            self.apply_pending_failure()
        writes = self.writes
        self.writes = []
        return writes

    def close_expected(self) -> bool:
        """Tell if the TCP connection is expected to close soon.

        Call this method immediately after any of the ``receive_*()``,
        :meth:`send_close`, or :meth:`fail` methods. If it returns True,
        schedule closing the TCP connection after a short timeout if the other
        side hasn't already closed it.
        """
        # A failed opening handshake, or a close frame sent (by send_close or
        # fail): either way, the TCP connection is about to close.
        return self._state is CLOSING or self.handshake_exc is not None

    # Internals shared with the client and server subclasses

    def send_frame(
        self, opcode: Opcode, data: bytes, fin: bool = True, compress: bool = True
    ) -> None:
        """Serialize a frame into the output, through the negotiated extensions.

        ``compress=False`` asks the extensions not to compress the message that
        this frame starts: :meth:`Extension.encode` then gets ``compress=False``
        as a keyword argument. It gets no keyword otherwise, so an extension
        that doesn't compress works as long as the opt-out isn't used.
        """
        if self.extensions:
            frame = Frame(opcode, data, fin)
            if compress:
                for extension in self.extensions:
                    frame = extension.encode(frame)
            else:
                for extension in self.extensions:
                    frame = extension.encode(frame, compress=False)
            if self.debug:
                self.logger.debug("> %s", frame)
            self.writes.append(
                serialize_frame(
                    frame.opcode,
                    frame.data,
                    frame.fin,
                    frame.rsv1,
                    frame.rsv2,
                    frame.rsv3,
                    self.mask_frames,
                )
            )
            return
        if self.debug:
            self.logger.debug("> %s", Frame(opcode, data, fin))
        self.writes.append(
            serialize_frame(opcode, data, fin, False, False, False, self.mask_frames)
        )

    def send_eof(self) -> None:
        """Queue the end of the data stream (half-close)."""
        assert not self.eof_sent
        self.eof_sent = True
        if self.debug:
            self.logger.debug("> EOF")
        self.writes.append(SEND_EOF)

    def start_discarding(self) -> None:
        """Ignore all data received from now on (7.1.7 and 1.4 of RFC 6455)."""
        self.discarding = True
        self.reader.discard()

    def start_frames(self, extensions: Sequence[Any], data: bytes = b"") -> None:
        """End of a successful opening handshake: switch to frames.

        ``extensions`` are the negotiated extensions; ``data`` the bytes that
        followed the handshake, which are frames already.
        """
        self.extensions = list(extensions)
        rsv1 = rsv2 = rsv3 = False
        for extension in self.extensions:
            rsv1 = rsv1 or getattr(extension, "uses_rsv1", True)
            rsv2 = rsv2 or getattr(extension, "uses_rsv2", False)
            rsv3 = rsv3 or getattr(extension, "uses_rsv3", False)
        self.reader.allow_rsv_bits(rsv1, rsv2, rsv3)
        self.state = OPEN
        if data:
            self.reader.feed(data)
            self.parse_frames()

    def fail_handshake(self, exc: Exception, cause: Optional[BaseException]) -> None:
        """Record why the opening handshake failed and close the connection."""
        if cause is not None:
            exc.__cause__ = cause
        self.handshake_exc = exc
        if self.debug:
            self.logger.debug("! invalid handshake: %s", exc)
        if not self.eof_sent:
            self.send_eof()
        self.start_discarding()

    def receive_handshake_data(self, data: bytes) -> None:
        """Handle bytes received in the CONNECTING state (opening handshake)."""
        raise NotImplementedError("this protocol doesn't perform the opening handshake")

    def receive_handshake_eof(self) -> None:
        """Handle EOF received in the CONNECTING state (opening handshake)."""
        raise NotImplementedError("this protocol doesn't perform the opening handshake")
