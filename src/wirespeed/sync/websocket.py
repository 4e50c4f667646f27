"""websocket-client's blocking API: :func:`create_connection`, :class:`WebSocket`, :class:`ABNF`.

::

    from wirespeed.sync import create_connection

    ws = create_connection("ws://127.0.0.1:8765")
    ws.send("Hello, World")
    print(ws.recv())
    ws.close()

Unlike :class:`~wirespeed.sync.connection.Connection`, a :class:`WebSocket`
has no background thread: :meth:`~WebSocket.recv` reads the socket in the
calling thread, through :attr:`WebSocket.sock`, which may be replaced. Frames
go through wirespeed's protocol core both ways: it answers pings, echoes close
frames, validates UTF-8 and fails the connection on protocol errors.
"""

from __future__ import annotations

import logging
import os
import socket
import ssl
import struct
import threading
from collections import deque
from typing import Any, Callable, Deque, Dict, Iterator, List, Optional, Sequence, Tuple, Union

from .._core.mask import apply_mask
from ..exceptions import InvalidState, InvalidStatus, PayloadTooBig, ProtocolError
from ..frames import Close, Frame, Opcode, is_valid_close_code
from ..http import Headers, Response
from ..sansio import ClientProtocol, State
from ..uri import parse_uri
from .client import client_extensions
from .exceptions import (
    WebSocketBadStatusException,
    WebSocketConnectionClosedException,
    WebSocketException,
    WebSocketHandshakeException,
    WebSocketPayloadException,
    WebSocketProtocolException,
    WebSocketTimeoutException,
)
from .net import (
    feed_received,
    open_tcp,
    reads_into,
    ssl_context_from_options,
    wrap_tls,
)
from .proxy import connect_through, get_proxy

__all__ = [
    "ABNF",
    "STATUS_ABNORMAL_CLOSED",
    "STATUS_BAD_GATEWAY",
    "STATUS_GOING_AWAY",
    "STATUS_INVALID_EXTENSION",
    "STATUS_INVALID_PAYLOAD",
    "STATUS_MESSAGE_TOO_BIG",
    "STATUS_NORMAL",
    "STATUS_POLICY_VIOLATION",
    "STATUS_PROTOCOL_ERROR",
    "STATUS_SERVICE_RESTART",
    "STATUS_STATUS_NOT_AVAILABLE",
    "STATUS_TLS_HANDSHAKE_ERROR",
    "STATUS_TRY_AGAIN_LATER",
    "STATUS_UNEXPECTED_CONDITION",
    "STATUS_UNSUPPORTED_DATA_TYPE",
    "WebSocket",
    "create_connection",
    "enableTrace",
    "getdefaulttimeout",
    "setdefaulttimeout",
]

STATUS_NORMAL = 1000
STATUS_GOING_AWAY = 1001
STATUS_PROTOCOL_ERROR = 1002
STATUS_UNSUPPORTED_DATA_TYPE = 1003
STATUS_STATUS_NOT_AVAILABLE = 1005
STATUS_ABNORMAL_CLOSED = 1006
STATUS_INVALID_PAYLOAD = 1007
STATUS_POLICY_VIOLATION = 1008
STATUS_MESSAGE_TOO_BIG = 1009
STATUS_INVALID_EXTENSION = 1010
STATUS_UNEXPECTED_CONDITION = 1011
STATUS_SERVICE_RESTART = 1012
STATUS_TRY_AGAIN_LATER = 1013
STATUS_BAD_GATEWAY = 1014
STATUS_TLS_HANDSHAKE_ERROR = 1015

#: Logger of websocket-client's API; :func:`enableTrace` attaches a handler.
logger = logging.getLogger("websocket")
logger.addHandler(logging.NullHandler())

_trace_enabled = False
_default_timeout: Optional[float] = None

#: Bytes asked from the socket per read, when it is read with ``recv``.
RECV_BUFSIZE = 64 * 1024

OP_CONT = Opcode.CONT
OP_TEXT = Opcode.TEXT
OP_BINARY = Opcode.BINARY
OP_CLOSE = Opcode.CLOSE

#: Statuses that redirect the opening handshake to the ``Location`` header.
REDIRECT_STATUSES = (301, 302, 303, 307, 308)


def enableTrace(
    traceable: bool,
    handler: Optional[logging.Handler] = None,
    level: str = "DEBUG",
) -> None:
    """Print the opening handshake and every frame, sent and received.

    The trace goes to the ``websocket`` logger, to which ``handler`` (by
    default a :class:`logging.StreamHandler` on standard error) is added.
    """
    global _trace_enabled
    _trace_enabled = traceable
    if traceable:
        if handler is None:
            handler = logging.StreamHandler()
        if handler not in logger.handlers:
            logger.addHandler(handler)
        logger.setLevel(getattr(logging, level) if isinstance(level, str) else level)


def trace(message: str) -> None:
    """Log one line of trace when :func:`enableTrace` is on."""
    if _trace_enabled:
        logger.debug(message)


def setdefaulttimeout(timeout: Optional[float]) -> None:
    """Set the timeout, in seconds, of connections created from now on (``None``: none)."""
    global _default_timeout
    _default_timeout = timeout


def getdefaulttimeout() -> Optional[float]:
    """Return the timeout set by :func:`setdefaulttimeout`."""
    return _default_timeout


class ABNF:
    """One WebSocket frame, as websocket-client represents it (RFC 6455, 5.2).

    ``fin``, ``rsv1``, ``rsv2`` and ``rsv3`` are 0 or 1, ``opcode`` one of the
    ``OPCODE_*`` constants, ``mask_value`` tells whether :meth:`format` masks
    the payload, with a key from :attr:`get_mask_key` (:func:`os.urandom` by
    default), and ``data`` is the payload (str is encoded to UTF-8).
    """

    OPCODE_CONT = 0x0
    OPCODE_TEXT = 0x1
    OPCODE_BINARY = 0x2
    OPCODE_CLOSE = 0x8
    OPCODE_PING = 0x9
    OPCODE_PONG = 0xA

    #: Every valid opcode.
    OPCODES = (OPCODE_CONT, OPCODE_TEXT, OPCODE_BINARY, OPCODE_CLOSE, OPCODE_PING, OPCODE_PONG)

    #: Name of each opcode.
    OPCODE_MAP = {
        OPCODE_CONT: "cont",
        OPCODE_TEXT: "text",
        OPCODE_BINARY: "binary",
        OPCODE_CLOSE: "close",
        OPCODE_PING: "ping",
        OPCODE_PONG: "pong",
    }

    # Payload lengths from which the 16-bit and 64-bit length encodings apply,
    # and the first length too large for a frame.
    LENGTH_7 = 0x7E
    LENGTH_16 = 1 << 16
    LENGTH_63 = 1 << 63

    def __init__(
        self,
        fin: int = 0,
        rsv1: int = 0,
        rsv2: int = 0,
        rsv3: int = 0,
        opcode: int = OPCODE_TEXT,
        mask_value: int = 1,
        data: Union[str, bytes, None] = "",
    ) -> None:
        self.fin = fin
        self.rsv1 = rsv1
        self.rsv2 = rsv2
        self.rsv3 = rsv3
        self.opcode = opcode
        self.mask_value = mask_value
        self.data: Union[str, bytes] = "" if data is None else data
        #: ``get_mask_key(4)`` returns the 4-byte key that :meth:`format` uses.
        self.get_mask_key: Callable[[int], bytes] = os.urandom

    def validate(self, skip_utf8_validation: bool = False) -> None:
        """Check the frame against RFC 6455.

        :raises WebSocketProtocolException: if a reserved bit is set, the
            opcode is unknown, a control frame is fragmented or too long, or a
            close frame has an invalid length, code, or (unless
            ``skip_utf8_validation``) a reason that isn't UTF-8.
        """
        if self.rsv1 or self.rsv2 or self.rsv3:
            raise WebSocketProtocolException("rsv is not implemented, yet")
        if self.opcode not in ABNF.OPCODES:
            raise WebSocketProtocolException(f"Invalid opcode {self.opcode!r}")
        data = _as_bytes(self.data)
        if self.opcode >= ABNF.OPCODE_CLOSE:
            if not self.fin:
                raise WebSocketProtocolException("Invalid control frame: fragmented")
            if len(data) > 125:
                raise WebSocketProtocolException("Invalid control frame: too long")
        if self.opcode == ABNF.OPCODE_CLOSE and data:
            if len(data) == 1:
                raise WebSocketProtocolException("Invalid close frame.")
            if not skip_utf8_validation:
                try:
                    data[2:].decode()
                except UnicodeDecodeError:
                    raise WebSocketProtocolException("Invalid close frame.") from None
            (code,) = struct.unpack("!H", data[:2])
            if not is_valid_close_code(code):
                raise WebSocketProtocolException(f"Invalid close opcode {code!r}")

    def __str__(self) -> str:
        data = self.data if isinstance(self.data, str) else repr(self.data)
        return f"fin={self.fin} opcode={self.opcode} data={data}"

    def __repr__(self) -> str:
        return (
            f"ABNF(fin={self.fin!r}, rsv1={self.rsv1!r}, rsv2={self.rsv2!r}, "
            f"rsv3={self.rsv3!r}, opcode={self.opcode!r}, mask_value={self.mask_value!r}, "
            f"data={self.data!r})"
        )

    @staticmethod
    def create_frame(data: Union[str, bytes], opcode: int, fin: int = 1) -> ABNF:
        """Build a masked frame to send; text given as str is encoded to UTF-8."""
        if opcode == ABNF.OPCODE_TEXT and isinstance(data, str):
            data = data.encode()
        return ABNF(fin, 0, 0, 0, opcode, 1, data)

    def format(self) -> bytes:
        """Serialize the frame for the wire, masking it if ``mask_value`` is set.

        :raises ValueError: if the opcode, a bit or the length is invalid.
        """
        if any(bit not in (0, 1) for bit in (self.fin, self.rsv1, self.rsv2, self.rsv3)):
            raise ValueError("not 0 or 1")
        if self.opcode not in ABNF.OPCODES:
            raise ValueError("Invalid OPCODE")
        data = _as_bytes(self.data)
        length = len(data)
        if length >= ABNF.LENGTH_63:
            raise ValueError("data is too long")
        first = (
            (self.fin << 7) | (self.rsv1 << 6) | (self.rsv2 << 5) | (self.rsv3 << 4) | self.opcode
        )
        mask_bit = 0x80 if self.mask_value else 0
        if length < ABNF.LENGTH_7:
            header = struct.pack("!BB", first, mask_bit | length)
        elif length < ABNF.LENGTH_16:
            header = struct.pack("!BBH", first, mask_bit | 126, length)
        else:
            header = struct.pack("!BBQ", first, mask_bit | 127, length)
        if not self.mask_value:
            return header + data
        key = self.get_mask_key(4)
        return header + self._get_masked(key)

    def _get_masked(self, mask_key: Union[str, bytes]) -> bytes:
        """Return the mask key followed by the masked payload."""
        key = _as_bytes(mask_key)
        return key + ABNF.mask(key, self.data)

    @staticmethod
    def mask(mask_key: Union[str, bytes], data: Union[str, bytes]) -> bytes:
        """Mask or unmask ``data`` with the 4-byte ``mask_key`` (RFC 6455, 5.3)."""
        if data is None:
            data = ""
        return apply_mask(_as_bytes(data), _as_bytes(mask_key))


def _as_bytes(data: Union[str, bytes, bytearray, memoryview]) -> bytes:
    if isinstance(data, str):
        return data.encode()
    return data if isinstance(data, bytes) else bytes(data)


def _to_abnf(frame: Frame) -> ABNF:
    return ABNF(
        int(frame.fin),
        int(frame.rsv1),
        int(frame.rsv2),
        int(frame.rsv3),
        int(frame.opcode),
        0,
        frame.data if isinstance(frame.data, bytes) else bytes(frame.data),
    )


class WebSocket:
    """A blocking WebSocket client, websocket-client's low-level interface.

    :param get_mask_key: ``get_mask_key(4)`` returns the mask key of each
        frame sent (see :meth:`set_mask_key`); random keys by default.
    :param sockopt: ``setsockopt`` argument tuples for the socket.
    :param sslopt: TLS options (see
        :func:`~wirespeed.sync.net.ssl_context_from_options`).
    :param fire_cont_frame: make :meth:`recv_data_frame` return each frame of
        a fragmented message instead of the whole message.
    :param enable_multithread: accepted for compatibility: a
        :class:`WebSocket` is always safe to use from several threads.
    :param skip_utf8_validation: accepted for compatibility: the protocol core
        always validates text, incrementally.
    :param max_size: largest incoming message in bytes; ``None`` (the
        default, as in websocket-client) sets no limit.
    :param compression: ``"deflate"`` to offer permessage-deflate; ``None``
        (the default) doesn't.
    """

    def __init__(
        self,
        get_mask_key: Optional[Callable[[int], bytes]] = None,
        sockopt: Optional[Sequence[Tuple[Any, ...]]] = None,
        sslopt: Optional[Dict[str, Any]] = None,
        fire_cont_frame: bool = False,
        enable_multithread: bool = True,
        skip_utf8_validation: bool = False,
        max_size: Optional[int] = None,
        compression: Optional[str] = None,
        **_: Any,
    ) -> None:
        #: The socket all I/O goes through; it may be replaced.
        self.sock: Optional[socket.socket] = None
        #: Whether the opening handshake succeeded and the connection is usable.
        self.connected = False
        self.get_mask_key = get_mask_key
        self.sockopt = list(sockopt or [])
        self.sslopt = dict(sslopt or {})
        self.fire_cont_frame = fire_cont_frame
        self.skip_utf8_validation = skip_utf8_validation
        self.max_size = max_size
        self.compression = compression
        self.protocol: Optional[ClientProtocol] = None
        self.handshake_response: Optional[Response] = None
        self._timeout: Optional[float] = None
        # Guards the protocol and the writes; frames never interleave.
        self.lock = threading.Lock()
        # Serializes readers.
        self.readlock = threading.Lock()
        self.events: Deque[Frame] = deque()
        self.fragments: List[bytes] = []
        self.fragments_opcode: Optional[int] = None
        self.failure_reported = False
        # The socket last read, and whether it can be read with recv_into.
        self._checked_sock: Any = None
        self._direct_reads = False
        # Free space of the protocol's receive buffer for the next recv_into.
        self._free_space: Any = None

    # Iteration

    def __iter__(self) -> Iterator[Union[str, bytes]]:
        """Yield received messages, forever (until an exception)."""
        while True:
            yield self.recv()

    def __next__(self) -> Union[str, bytes]:
        return self.recv()

    def next(self) -> Union[str, bytes]:
        """Receive the next message (same as :meth:`recv`)."""
        return self.recv()

    # Accessors

    def fileno(self) -> int:
        """File descriptor of the socket."""
        assert self.sock is not None, "not connected"
        return self.sock.fileno()

    def set_mask_key(self, func: Callable[[int], bytes]) -> None:
        """Mask frames with keys from ``func(4)`` rather than random ones (for tests)."""
        self.get_mask_key = func

    def gettimeout(self) -> Optional[float]:
        """Timeout of socket operations, in seconds (``None``: blocking)."""
        return self._timeout

    def settimeout(self, timeout: Optional[float]) -> None:
        """Set the timeout of socket operations, in seconds."""
        self._timeout = timeout
        if self.sock is not None:
            self.sock.settimeout(timeout)

    timeout = property(gettimeout, settimeout)

    def getsubprotocol(self) -> Optional[str]:
        """The subprotocol the server selected, if any."""
        return self.protocol.subprotocol if self.protocol is not None else None

    subprotocol = property(getsubprotocol)

    def getstatus(self) -> Optional[int]:
        """HTTP status of the handshake response (101 once connected)."""
        response = self.handshake_response
        return response.status_code if response is not None else None

    status = property(getstatus)

    def getheaders(self) -> Optional[Dict[str, str]]:
        """Headers of the handshake response, with lower-case names."""
        response = self.handshake_response
        if response is None:
            return None
        return _headers_dict(response.headers)

    headers = property(getheaders)

    def is_ssl(self) -> bool:
        """Whether the connection uses TLS."""
        return isinstance(self.sock, ssl.SSLSocket)

    # Opening

    def connect(self, url: str, **options: Any) -> None:
        """Open the connection: TCP (or a proxy tunnel, or ``socket``), TLS, handshake.

        Options, as in websocket-client: ``header`` (list of ``"Name: value"``
        or dict), ``cookie``, ``origin``, ``suppress_origin``, ``host``,
        ``suppress_host``, ``timeout``, ``subprotocols``, ``socket`` (a
        connected socket used as is), ``http_proxy_host``, ``http_proxy_port``,
        ``http_no_proxy``, ``http_proxy_auth``, ``http_proxy_timeout``,
        ``proxy_type``, ``redirect_limit`` (3).

        :raises WebSocketBadStatusException: if the server answers with
            another status than 101 (after following redirects).
        :raises WebSocketHandshakeException: if the handshake is invalid.
        :raises WebSocketTimeoutException: if the server doesn't answer in time.
        :raises WebSocketProxyException: if the proxy refuses the tunnel.
        :raises WebSocketAddressException: if a host name can't be resolved.
        """
        if "timeout" in options and options["timeout"] is not None:
            self._timeout = options["timeout"]
        redirects = options.pop("redirect_limit", 3)
        while True:
            try:
                self._open(url, options)
                return
            except WebSocketBadStatusException as exc:
                location = (exc.resp_headers or {}).get("location")
                if exc.status_code in REDIRECT_STATUSES and location and redirects > 0:
                    redirects -= 1
                    url = location
                    continue
                raise

    def _open(self, url: str, options: Dict[str, Any]) -> None:
        wsuri = parse_uri(url)
        timeout = self._timeout
        sock = options.get("socket")
        try:
            if sock is None:
                proxy = get_proxy(
                    wsuri.host,
                    wsuri.secure,
                    proxy_host=options.get("http_proxy_host"),
                    proxy_port=options.get("http_proxy_port"),
                    proxy_auth=options.get("http_proxy_auth"),
                    no_proxy=options.get("http_no_proxy"),
                    proxy_type=options.get("proxy_type"),
                    proxy_timeout=options.get("http_proxy_timeout"),
                )
                if proxy is not None:
                    sock = connect_through(
                        proxy, wsuri.host, wsuri.port, timeout=timeout, sockopt=self.sockopt
                    )
                else:
                    sock = open_tcp(wsuri.host, wsuri.port, timeout=timeout, sockopt=self.sockopt)
            if wsuri.secure:
                context = ssl_context_from_options(self.sslopt)
                hostname = self.sslopt.get("server_hostname", wsuri.host)
                sock = wrap_tls(sock, context, hostname, timeout)
        except socket.timeout as exc:
            raise WebSocketTimeoutException(str(exc) or "timed out") from exc
        sock.settimeout(timeout)
        self.sock = sock
        self.events.clear()
        self._free_space = None
        self.fragments = []
        self.fragments_opcode = None
        self.failure_reported = False
        protocol = ClientProtocol(
            wsuri,
            subprotocols=options.get("subprotocols"),
            extensions=client_extensions(self.compression, None),
            max_size=self.max_size,
        )
        self.protocol = protocol
        # Large payloads are received straight into the bytes handed out.
        protocol.reader.separate_large_payloads()
        request = protocol.connect()
        headers = request.headers
        if options.get("host"):
            del headers["Host"]
            headers["Host"] = options["host"]
        if options.get("suppress_host"):
            del headers["Host"]
        if not options.get("suppress_origin"):
            origin = options.get("origin")
            if not origin:
                scheme = "https" if wsuri.secure else "http"
                origin = f"{scheme}://{_host_port(wsuri.host, wsuri.port, wsuri.secure)}"
            headers["Origin"] = origin
        for name, value in _header_items(options.get("header")):
            if name.lower() in ("upgrade", "connection", "sec-websocket-key", "host"):
                del headers[name]
            headers[name] = value
        cookie = options.get("cookie")
        if cookie:
            headers["Cookie"] = cookie
        if _trace_enabled:
            trace("--- request header ---")
            trace(request.serialize().decode("latin-1").rstrip("\r\n"))
            trace("-----------------------")
        with self.lock:
            protocol.send_request(request)
            self._write(protocol.data_to_send())
        response = self._read_handshake()
        self.handshake_response = response
        if _trace_enabled and response is not None:
            trace("--- response header ---")
            trace(f"HTTP/1.1 {response.status_code} {response.reason_phrase}")
            for name, value in response.headers.raw_items():
                trace(f"{name}: {value}")
            trace("-----------------------")
        exc = protocol.handshake_exc
        if exc is not None:
            self.shutdown()
            if isinstance(exc, InvalidStatus):
                status = exc.response
                headers_dict = _headers_dict(status.headers)
                raise WebSocketBadStatusException(
                    f"Handshake status {status.status_code} {status.reason_phrase} -+-+- "
                    f"{headers_dict} -+-+- {status.body!r}",
                    status.status_code,
                    status.reason_phrase,
                    headers_dict,
                    status.body,
                ) from exc
            raise WebSocketHandshakeException(str(exc)) from exc
        self.connected = True

    def _read_handshake(self) -> Optional[Response]:
        protocol = self.protocol
        assert protocol is not None
        while True:
            data = self._recv_raw()
            with self.lock:
                if data:
                    protocol.receive_data(data)
                else:
                    protocol.receive_eof()
                events = protocol.events_received()
                # A protocol error right after messages that came with the
                # response waits until the application answered them.
                writes = [] if protocol.pending_failure is not None else protocol.data_to_send()
                if any(writes):
                    # Answers to frames that came with the response.
                    try:
                        self._write(writes)
                    except WebSocketException:
                        pass
            for index, event in enumerate(events):
                if isinstance(event, Response):
                    self.events.extend(events[index + 1 :])
                    return event
            if protocol.handshake_exc is not None:
                return None
            if not data:
                self.shutdown()
                raise WebSocketConnectionClosedException("Connection to remote host was lost.")

    # Sending

    def send(self, payload: Union[str, bytes], opcode: int = ABNF.OPCODE_TEXT) -> int:
        """Send a message; return the number of bytes written.

        :raises WebSocketConnectionClosedException: if the connection is closed.
        """
        if opcode == ABNF.OPCODE_TEXT or opcode == ABNF.OPCODE_BINARY:
            data = payload.encode() if isinstance(payload, str) else payload
            return self._send(opcode, data, True)
        return self.send_frame(ABNF.create_frame(payload, opcode))

    def send_text(self, text_data: str) -> int:
        """Send a text message."""
        return self._send(ABNF.OPCODE_TEXT, text_data.encode(), True)

    def send_bytes(self, data: Union[bytes, bytearray]) -> int:
        """Send a binary message."""
        return self._send(2, data, True)

    def send_binary(self, payload: bytes) -> int:
        """Send a binary message."""
        return self._send(2, payload, True)

    def send_frame(self, frame: ABNF) -> int:
        """Send one frame; return the number of bytes written.

        Data frames must follow the rules of fragmentation; a close frame
        starts the closing handshake.

        :raises WebSocketProtocolException: if a reserved bit is set, which
            needs an extension.
        """
        if frame.rsv1 or frame.rsv2 or frame.rsv3:
            raise WebSocketProtocolException("rsv is not implemented, yet")
        data = _as_bytes(frame.data)
        return self._send(frame.opcode, data, bool(frame.fin))

    def ping(self, payload: Union[str, bytes] = "") -> None:
        """Send a ping."""
        self._send(ABNF.OPCODE_PING, _as_bytes(payload), True)

    def pong(self, payload: Union[str, bytes] = "") -> None:
        """Send a pong."""
        self._send(ABNF.OPCODE_PONG, _as_bytes(payload), True)

    def send_close(self, status: int = STATUS_NORMAL, reason: bytes = b"") -> None:
        """Send a close frame without waiting for the answer."""
        if status < 0 or status >= ABNF.LENGTH_16:
            raise ValueError("code is invalid range")
        self._send(ABNF.OPCODE_CLOSE, struct.pack("!H", status) + _as_bytes(reason), True)

    def _send(self, opcode: int, data: Any, fin: bool) -> int:
        protocol = self.protocol
        if protocol is None or self.sock is None:
            raise WebSocketConnectionClosedException("socket is already closed.")
        # acquire() and release() rather than a with statement: this is the
        # hot path of every message sent.
        lock = self.lock
        lock.acquire()
        try:
            try:
                if opcode == 2:
                    protocol.send_binary(data, fin)
                elif opcode == 1:
                    protocol.send_text(data, fin)
                elif opcode == 0:
                    protocol.send_continuation(data, fin)
                elif opcode == 9:
                    protocol.send_ping(data)
                elif opcode == 10:
                    protocol.send_pong(data)
                elif opcode == 8:
                    close = Close.parse(data)
                    if close.code == 1005:
                        protocol.send_close()
                    else:
                        protocol.send_close(close.code, close.reason)
                else:
                    raise ValueError("Invalid OPCODE")
            except InvalidState:
                raise WebSocketConnectionClosedException(
                    "socket is already closed.", protocol.close_rcvd, protocol.close_sent
                ) from None
            except ProtocolError as exc:
                raise WebSocketProtocolException(str(exc)) from exc
            writes = protocol.data_to_send()
            if self.get_mask_key is not None or _trace_enabled:
                writes = self._rewrite(opcode, data, fin, writes)
            elif len(writes) == 1 and writes[0]:
                # One frame: _write(), inlined on this hot path.
                frame = writes[0]
                try:
                    self.sock.sendall(frame)
                except OSError as exc:
                    self._write_failed(exc)
                return len(frame)
            return self._write(writes)
        finally:
            lock.release()

    def _rewrite(self, opcode: int, data: bytes, fin: bool, writes: List[bytes]) -> List[bytes]:
        """Re-encode a frame with the custom mask key, and trace it."""
        frame = ABNF(int(fin), 0, 0, 0, opcode, 1, data)
        if self.get_mask_key is not None:
            frame.get_mask_key = self.get_mask_key
            writes = [frame.format()]
        if _trace_enabled:
            trace(f"++Sent raw: {b''.join(writes)!r}")
            trace(f"++Sent decoded: {frame}")
        return writes

    def _write(self, writes: List[bytes]) -> int:
        """Write the protocol's output to the socket (lock held)."""
        sock = self.sock
        if sock is None:
            raise WebSocketConnectionClosedException("socket is already closed.")
        total = 0
        try:
            for data in writes:
                if data:
                    sock.sendall(data)
                    total += len(data)
                else:
                    try:
                        sock.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
        except OSError as exc:
            self._write_failed(exc)
        return total

    def _write_failed(self, exc: OSError) -> None:
        """Raise the exception for an error of ``sendall``."""
        if isinstance(exc, socket.timeout):
            raise WebSocketTimeoutException(str(exc) or "timed out") from exc
        self.connected = False
        raise WebSocketConnectionClosedException("Connection to remote host was lost.") from exc

    # Receiving

    def recv(self) -> Union[str, bytes]:
        """Receive a message: str for text, bytes for binary, ``""`` for a close frame.

        :raises WebSocketConnectionClosedException: if the connection is lost.
        :raises WebSocketTimeoutException: if the timeout expires.
        """
        readlock = self.readlock
        readlock.acquire()
        try:
            if self.events or _trace_enabled:
                frame = self._recv_message(False)
            else:
                # Nothing queued: read, and hand a whole message over at once.
                frame = self._receive()
                opcode = frame.opcode
                if (
                    not frame.fin
                    or self.fragments
                    or (opcode is not OP_BINARY and opcode is not OP_TEXT)
                ):
                    frame = self._recv_message(False, frame)
        finally:
            readlock.release()
        opcode = frame.opcode
        if opcode is OP_BINARY:
            data = frame.data
            return data if type(data) is bytes else bytes(data)
        if opcode is OP_TEXT:
            data = frame.data
            return data.decode() if type(data) is bytes else bytes(data).decode()
        return ""

    def recv_data(self, control_frame: bool = False) -> Tuple[int, bytes]:
        """Receive ``(opcode, payload)``; control frames too if ``control_frame``."""
        with self.readlock:
            frame = self._recv_message(control_frame)
        data = frame.data
        return int(frame.opcode), data if type(data) is bytes else bytes(data)

    def recv_data_frame(self, control_frame: bool = False) -> Tuple[int, ABNF]:
        """Receive ``(opcode, ABNF frame)``.

        Fragmented messages are returned whole, with the first frame's opcode,
        unless ``fire_cont_frame`` is set; pings are answered by the protocol
        and, like pongs, returned only if ``control_frame``; a close frame is
        answered and returned.
        """
        with self.readlock:
            frame = self._recv_message(control_frame)
        return int(frame.opcode), _to_abnf(frame)

    def _recv_message(self, control_frame: bool, frame: Optional[Frame] = None) -> Frame:
        """Return the next message (or frame, with ``fire_cont_frame``), readlock held.

        A fragmented message comes back as one frame holding the whole
        payload, with the first frame's opcode. ``frame``, when given, is the
        next frame, already received.
        """
        while True:
            if frame is None:
                frame = self._next_frame()
            opcode = frame.opcode
            if opcode is OP_BINARY or opcode is OP_TEXT or opcode is OP_CONT:
                fragments = self.fragments
                if self.fire_cont_frame or (frame.fin and not fragments):
                    return frame
                if not fragments:
                    self.fragments_opcode = opcode
                fragments.append(bytes(frame.data))
                if frame.fin:
                    data = b"".join(fragments)
                    first = self.fragments_opcode
                    self.fragments = []
                    self.fragments_opcode = None
                    assert first is not None
                    return Frame(Opcode(first), data)
            elif opcode is OP_CLOSE or control_frame:
                return frame
            frame = None

    def recv_frame(self) -> ABNF:
        """Receive the next frame of any kind, as is."""
        with self.readlock:
            return _to_abnf(self._next_frame())

    def _next_frame(self) -> Frame:
        events = self.events
        frame = events.popleft() if events else self._receive()
        if _trace_enabled:
            abnf = _to_abnf(frame)
            trace(f"++Rcv decoded: {abnf}")
        return frame

    def _receive(self) -> Frame:
        """Read the socket until a frame comes; return it and queue those after it.

        A plain or TLS socket is read straight into the protocol's receive
        buffer; a replaced :attr:`sock` is read with its ``recv``.

        :raises WebSocketConnectionClosedException: at the end of the stream.
        :raises WebSocketProtocolException: when the peer broke the protocol.
        """
        protocol = self.protocol
        if protocol is None:
            raise WebSocketConnectionClosedException("socket is already closed.")
        lock = self.lock
        while True:
            sock = self.sock
            if sock is None:
                raise WebSocketConnectionClosedException("socket is already closed.")
            if protocol.pending_failure is not None:
                # The application had its chance to answer the messages that
                # came before a protocol error: fail the connection now.
                with lock:
                    try:
                        self._write(protocol.data_to_send())
                    except WebSocketException:
                        pass
            if protocol.parser_exc is not None:
                self._raise_failure()
            if sock is not self._checked_sock:
                self._checked_sock = sock
                self._direct_reads = reads_into(sock)
            data: Optional[bytes] = None
            if self._direct_reads and not _trace_enabled:
                # Straight into the free space of the protocol's receive
                # buffer, which the previous read reserved (see below).
                view = self._free_space
                if view is None:
                    with lock:
                        view = protocol.reader.get_buffer()
                try:
                    nbytes = sock.recv_into(view)
                except OSError as exc:
                    nbytes = self._recv_failed(exc)
            else:
                data = self._recv_raw()
                nbytes = len(data)
            lock.acquire()
            try:
                self._free_space = None
                if not nbytes:
                    protocol.receive_eof()
                elif data is None:
                    if not protocol.discarding and protocol.pending_failure is None:
                        # feed_received(), inlined on this hot path: after EOF
                        # the protocol discards, and complete_message_queued
                        # is already false (events_received() follows every
                        # feed, below).
                        protocol.reader.buffer_updated(nbytes)
                        protocol.parse_frames()
                    else:
                        feed_received(protocol, nbytes)
                    # Reserve the space for the next read now, while the
                    # lock is held (nothing but a failure, which discards
                    # what is received, touches the buffer until then).
                    self._free_space = protocol.reader.get_buffer()
                else:
                    protocol.receive_data(data)
                events = protocol.events_received()
                # A protocol error right after complete messages waits until the
                # application answered them: its next send applies it, after them.
                if protocol.pending_failure is None:
                    writes = protocol.data_to_send()
                    if writes:
                        try:
                            self._write(writes)
                        except WebSocketException:
                            pass
            finally:
                lock.release()
            if events:
                if len(events) > 1:
                    self.events.extend(events[1:])
                return events[0]  # type: ignore[no-any-return]
            if not nbytes:
                self.connected = False
                raise WebSocketConnectionClosedException(
                    "Connection to remote host was lost.",
                    protocol.close_rcvd,
                    protocol.close_sent,
                )
            self._raise_failure()

    def _raise_failure(self) -> None:
        """Raise, once, the error that made the protocol fail the connection."""
        protocol = self.protocol
        assert protocol is not None
        exc = protocol.parser_exc
        if exc is None or self.failure_reported or isinstance(exc, EOFError):
            return
        self.failure_reported = True
        self.connected = False
        if isinstance(exc, UnicodeDecodeError):
            raise WebSocketPayloadException(f"cannot decode: {exc}") from exc
        if isinstance(exc, PayloadTooBig):
            raise WebSocketProtocolException(str(exc)) from exc
        raise WebSocketProtocolException(str(exc)) from exc

    @staticmethod
    def _recv_failed(exc: OSError) -> int:
        """Turn an error of ``recv`` into an exception to raise, or 0 for EOF."""
        if isinstance(exc, socket.timeout):
            raise WebSocketTimeoutException(str(exc) or "timed out") from exc
        if isinstance(exc, ssl.SSLWantReadError):  # pragma: no cover - non-blocking only
            raise WebSocketTimeoutException("SSL want read") from exc
        if isinstance(exc, (ConnectionResetError, ssl.SSLError, BrokenPipeError)):
            return 0
        raise exc

    def _recv_raw(self) -> bytes:
        sock = self.sock
        if sock is None:
            raise WebSocketConnectionClosedException("socket is already closed.")
        try:
            data = sock.recv(RECV_BUFSIZE)
        except OSError as exc:
            self._recv_failed(exc)
            return b""
        if _trace_enabled and data:
            trace(f"++Rcv raw: {data!r}")
        return data

    # Closing

    def close(
        self, status: int = STATUS_NORMAL, reason: bytes = b"", timeout: Optional[float] = 3
    ) -> None:
        """Send a close frame, wait up to ``timeout`` seconds for the answer, close.

        Frames other than the peer's close frame are discarded meanwhile.
        """
        protocol = self.protocol
        if self.connected and protocol is not None and protocol.state is State.OPEN:
            try:
                self.send_close(status, reason)
            except WebSocketException:
                pass
            sock = self.sock
            wait = -1 if timeout is None else timeout
            if sock is not None and self.readlock.acquire(timeout=wait):
                try:
                    previous = sock.gettimeout()
                    sock.settimeout(timeout)
                    try:
                        while protocol.close_rcvd is None and protocol.state is not State.CLOSED:
                            self._next_frame()
                    except (WebSocketException, OSError):
                        pass
                    finally:
                        try:
                            sock.settimeout(previous)
                        except OSError:
                            pass
                finally:
                    self.readlock.release()
        self.shutdown()

    def abort(self) -> None:
        """Shut the socket down both ways: blocked reads and writes return."""
        self.connected = False
        if self.sock is not None:
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def shutdown(self) -> None:
        """Close the socket without a closing handshake."""
        self.connected = False
        sock = self.sock
        if sock is not None:
            self.sock = None
            try:
                sock.close()
            except OSError:
                pass


def _host_port(host: str, port: int, secure: bool) -> str:
    shown = f"[{host}]" if ":" in host else host
    if port == (443 if secure else 80):
        return shown
    return f"{shown}:{port}"


def _header_items(header: Any) -> List[Tuple[str, str]]:
    """Turn websocket-client's ``header`` option (list or dict) into pairs."""
    if not header:
        return []
    if isinstance(header, dict):
        return [(str(name), str(value)) for name, value in header.items() if value is not None]
    items = []
    for line in header:
        name, _, value = str(line).partition(":")
        items.append((name.strip(), value.strip()))
    return items


def _headers_dict(headers: Headers) -> Dict[str, str]:
    result: Dict[str, str] = {}
    for name, value in headers.raw_items():
        key = name.lower()
        result[key] = f"{result[key]}, {value}" if key in result else value
    return result


def create_connection(
    url: str, timeout: Optional[float] = None, class_: type = WebSocket, **options: Any
) -> Any:
    """Connect to ``url`` and return a connected :class:`WebSocket`.

    ``timeout`` defaults to :func:`getdefaulttimeout`. ``sockopt``,
    ``sslopt``, ``fire_cont_frame``, ``enable_multithread``,
    ``skip_utf8_validation``, ``max_size`` and ``compression`` go to the constructor of
    ``class_`` (a :class:`WebSocket` subclass); the other options to
    :meth:`WebSocket.connect`.
    """
    constructor_options = {
        name: options.pop(name)
        for name in (
            "sockopt",
            "sslopt",
            "fire_cont_frame",
            "enable_multithread",
            "skip_utf8_validation",
            "max_size",
            "get_mask_key",
            "compression",
        )
        if name in options
    }
    websock = class_(**constructor_options)
    websock.settimeout(timeout if timeout is not None else getdefaulttimeout())
    websock.connect(url, **options)
    return websock
