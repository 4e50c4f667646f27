"""Exceptions shared by every face of wirespeed.

The hierarchy::

    WebSocketException
    ├── ConnectionClosed
    │   ├── ConnectionClosedOK
    │   └── ConnectionClosedError
    ├── InvalidURI
    ├── InvalidHandshake
    │   ├── SecurityError
    │   ├── InvalidMessage
    │   │   ├── InvalidMethod
    │   │   ├── InvalidProtocol
    │   │   ├── RequestLineTooLong, StatusLineTooLong, HeaderLineTooLong
    │   │   ├── TooManyHeaders, BodyTooLong
    │   ├── InvalidStatus
    │   ├── InvalidHeader
    │   │   ├── InvalidHeaderFormat
    │   │   ├── InvalidHeaderValue
    │   │   ├── InvalidOrigin
    │   │   └── InvalidUpgrade
    │   └── NegotiationError
    │       ├── DuplicateParameter
    │       ├── InvalidParameterName
    │       └── InvalidParameterValue
    ├── PayloadTooBig
    ├── ProtocolError
    ├── InvalidState        (also an AssertionError)
    └── ConcurrencyError    (also a RuntimeError)

The limit errors (``RequestLineTooLong`` and friends) are both an
:class:`InvalidMessage` and a :class:`SecurityError`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

if TYPE_CHECKING:  # pragma: no cover
    from .frames import Close
    from .http import Response

__all__ = [
    "BodyTooLong",
    "ConcurrencyError",
    "ConnectionClosed",
    "ConnectionClosedError",
    "ConnectionClosedOK",
    "DuplicateParameter",
    "HeaderLineTooLong",
    "InvalidHandshake",
    "InvalidHeader",
    "InvalidHeaderFormat",
    "InvalidHeaderValue",
    "InvalidMessage",
    "InvalidMethod",
    "InvalidOrigin",
    "InvalidParameterName",
    "InvalidParameterValue",
    "InvalidProtocol",
    "InvalidState",
    "InvalidStatus",
    "InvalidURI",
    "InvalidUpgrade",
    "NegotiationError",
    "PayloadTooBig",
    "ProtocolError",
    "ProxyError",
    "RequestLineTooLong",
    "SecurityError",
    "StatusLineTooLong",
    "TooManyHeaders",
    "WebSocketException",
]


class WebSocketException(Exception):
    """Base class for every exception that wirespeed raises on purpose."""


class ConnectionClosed(WebSocketException):
    """Raised when operating on a connection that is closed or closing.

    ``rcvd`` is the close frame received from the peer, ``sent`` the close frame
    sent to it; either is ``None`` when no such frame went over the wire.
    ``rcvd_then_sent`` tells their order when both exist: ``True`` when the peer
    started the closing handshake, ``False`` when we did.
    """

    def __init__(
        self,
        rcvd: Optional[Close],
        sent: Optional[Close],
        rcvd_then_sent: Optional[bool] = None,
    ) -> None:
        self.rcvd = rcvd
        self.sent = sent
        self.rcvd_then_sent = rcvd_then_sent
        if (rcvd is None or sent is None) and rcvd_then_sent is not None:
            raise ValueError("rcvd_then_sent must be None unless both close frames exist")
        super().__init__(rcvd, sent, rcvd_then_sent)

    def __str__(self) -> str:
        if self.rcvd is None:
            if self.sent is None:
                return "no close frame received or sent"
            return f"sent {self.sent}; no close frame received"
        if self.sent is None:
            return f"received {self.rcvd}; no close frame sent"
        if self.rcvd_then_sent:
            return f"received {self.rcvd}; then sent {self.sent}"
        return f"sent {self.sent}; then received {self.rcvd}"

    @property
    def code(self) -> int:
        """Close code received from the peer; 1006 when none was received."""
        return 1006 if self.rcvd is None else self.rcvd.code

    @property
    def reason(self) -> str:
        """Close reason received from the peer; empty when none was received."""
        return "" if self.rcvd is None else self.rcvd.reason


class ConnectionClosedOK(ConnectionClosed):
    """The connection closed properly: close codes 1000, 1001 or 1005 both ways."""


class ConnectionClosedError(ConnectionClosed):
    """The connection closed with an error code, or without a closing handshake."""


class InvalidURI(WebSocketException):
    """A WebSocket URI is malformed or not a ``ws://`` / ``wss://`` URI."""

    def __init__(self, uri: str, msg: str) -> None:
        self.uri = uri
        self.msg = msg
        super().__init__(uri, msg)

    def __str__(self) -> str:
        return f"{self.uri} isn't a valid URI: {self.msg}"


class InvalidHandshake(WebSocketException):
    """The opening handshake failed."""


class SecurityError(InvalidHandshake):
    """The opening handshake went over one of the limits that protect memory."""


class InvalidMessage(InvalidHandshake):
    """The opening handshake request or response is not valid HTTP/1.1."""


class InvalidMethod(InvalidMessage):
    """The handshake request uses a method other than GET (answered with 405)."""

    def __init__(self, method: str) -> None:
        self.method = method
        super().__init__(f"unsupported HTTP method; expected GET; got {method}")


class InvalidProtocol(InvalidMessage):
    """The handshake uses an HTTP version other than 1.1 (answered with 505)."""

    def __init__(self, protocol: str) -> None:
        self.protocol = protocol
        super().__init__(f"unsupported protocol; expected HTTP/1.1; got {protocol}")


class RequestLineTooLong(InvalidMessage, SecurityError):
    """The request line is longer than the limit."""


class StatusLineTooLong(InvalidMessage, SecurityError):
    """The status line is longer than the limit."""


class HeaderLineTooLong(InvalidMessage, SecurityError):
    """A header line is longer than the limit."""


class TooManyHeaders(InvalidMessage, SecurityError):
    """The message has more headers than the limit."""


class BodyTooLong(InvalidMessage, SecurityError):
    """The body of an HTTP response is longer than the limit."""


class InvalidStatus(InvalidHandshake):
    """The server answered the handshake with a status other than 101."""

    def __init__(self, response: Response) -> None:
        self.response = response
        super().__init__(response)

    def __str__(self) -> str:
        return f"server rejected WebSocket connection: HTTP {self.response.status_code:d}"


class InvalidHeader(InvalidHandshake):
    """A handshake header is missing, empty or has a wrong value."""

    def __init__(self, name: str, value: Optional[str] = None) -> None:
        self.name = name
        self.value = value
        super().__init__(name, value)

    def __str__(self) -> str:
        if self.value is None:
            return f"missing {self.name} header"
        if self.value == "":
            return f"empty {self.name} header"
        return f"invalid {self.name} header: {self.value}"


class InvalidHeaderFormat(InvalidHeader):
    """A handshake header could not be parsed."""

    def __init__(self, name: str, error: str, header: str, pos: int) -> None:
        super().__init__(name, f"{error} at {pos} in {header}")


class InvalidHeaderValue(InvalidHeader):
    """A handshake header parsed, but its value is not acceptable."""


class InvalidOrigin(InvalidHeader):
    """The Origin header of a handshake request is missing or not allowed."""

    def __init__(self, origin: Optional[str]) -> None:
        super().__init__("Origin", origin)


class InvalidUpgrade(InvalidHeader):
    """The Upgrade or Connection header does not ask for a WebSocket upgrade."""


class ProxyError(InvalidHandshake):
    """The proxy refused to open a tunnel, or didn't answer as a proxy.

    Raised by the asyncio face's :func:`~wirespeed.asyncio.connect` when it
    goes through an HTTP CONNECT or SOCKS proxy; it is an
    :class:`InvalidHandshake`, like websockets' own ``ProxyError``.
    """


class NegotiationError(InvalidHandshake):
    """Negotiating an extension or a subprotocol failed."""


class DuplicateParameter(NegotiationError):
    """An extension parameter appears twice."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(name)

    def __str__(self) -> str:
        return f"duplicate parameter: {self.name}"


class InvalidParameterName(NegotiationError):
    """An extension parameter name is unknown."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(name)

    def __str__(self) -> str:
        return f"invalid parameter name: {self.name}"


class InvalidParameterValue(NegotiationError):
    """An extension parameter value is not acceptable."""

    def __init__(self, name: str, value: Optional[str]) -> None:
        self.name = name
        self.value = value
        super().__init__(name, value)

    def __str__(self) -> str:
        if self.value is None:
            return f"missing value for parameter {self.name}"
        if self.value == "":
            return f"empty value for parameter {self.name}"
        return f"invalid value for parameter {self.name}: {self.value}"


class PayloadTooBig(WebSocketException):
    """A frame or message is larger than the configured ``max_size``.

    ``size`` is the size announced or reached (``None`` when unknown),
    ``max_size`` the limit and ``current_size`` what earlier fragments of the
    same message already held.
    """

    def __init__(
        self,
        size_or_message: Any,
        max_size: Optional[int] = None,
        current_size: Optional[int] = None,
    ) -> None:
        if isinstance(size_or_message, str):
            self.message: Optional[str] = size_or_message
            self.size: Optional[int] = None
        else:
            self.message = None
            self.size = size_or_message
        self.max_size = max_size
        self.current_size = current_size
        super().__init__(size_or_message, max_size, current_size)

    def set_current_size(self, current_size: Optional[int]) -> None:
        """Record the size of the earlier fragments of the message."""
        self.current_size = current_size

    def __str__(self) -> str:
        if self.message is not None:
            return self.message
        if self.current_size:
            total = (self.size or 0) + self.current_size
            return (
                f"message of at least {total} bytes (fragments so far: "
                f"{self.current_size} bytes) exceeds the limit of {self.max_size} bytes"
            )
        return f"frame of {self.size} bytes exceeds the limit of {self.max_size} bytes"


class ProtocolError(WebSocketException):
    """The peer, or the local application, broke a rule of RFC 6455."""


class InvalidState(WebSocketException, AssertionError):
    """An operation is not allowed in the current state of the connection."""


class ConcurrencyError(WebSocketException, RuntimeError):
    """Two coroutines or threads tried to read from one connection at once."""
