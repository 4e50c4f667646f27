"""The exception names that websocket-client users catch, in wirespeed's hierarchy.

Every class here derives from :class:`WebSocketException`, itself a subclass of
:class:`wirespeed.exceptions.WebSocketException`, and, where a shared class
means the same thing, from that class too:

========================================  =============================================
websocket-client name                     also an instance of
========================================  =============================================
:class:`WebSocketConnectionClosedException` :class:`~wirespeed.exceptions.ConnectionClosed`
:class:`WebSocketProtocolException`         :class:`~wirespeed.exceptions.ProtocolError`
:class:`WebSocketPayloadException`          :class:`~wirespeed.exceptions.ProtocolError`
:class:`WebSocketBadStatusException`        :class:`~wirespeed.exceptions.InvalidStatus`
:class:`WebSocketHandshakeException`        :class:`~wirespeed.exceptions.InvalidHandshake`
:class:`WebSocketTimeoutException`          :class:`TimeoutError`
:class:`WebSocketAddressException`          :class:`OSError`
========================================  =============================================

So ``except websocket.WebSocketException`` keeps working after switching the
import to :mod:`wirespeed.sync`, and ``except wirespeed.ConnectionClosed``
catches a closed connection whichever face raised it.
"""

from __future__ import annotations

from typing import Any, Optional

from .. import exceptions as shared
from ..frames import Close
from ..http import Headers, Response

__all__ = [
    "WebSocketAddressException",
    "WebSocketBadStatusException",
    "WebSocketConnectionClosedException",
    "WebSocketException",
    "WebSocketHandshakeException",
    "WebSocketPayloadException",
    "WebSocketProtocolException",
    "WebSocketProxyException",
    "WebSocketTimeoutException",
]


class WebSocketException(shared.WebSocketException):
    """Base class of the exceptions raised by websocket-client's API."""


class WebSocketProtocolException(WebSocketException, shared.ProtocolError):
    """The peer broke a rule of RFC 6455, or a frame to send is malformed."""


class WebSocketPayloadException(WebSocketException, shared.ProtocolError):
    """A payload is invalid, for example a text message that is not UTF-8."""


class WebSocketConnectionClosedException(WebSocketException, shared.ConnectionClosed):
    """The connection is closed, or was lost while reading or writing.

    It takes a message, like websocket-client's exception, and optionally the
    close frames exchanged, like :class:`~wirespeed.exceptions.ConnectionClosed`.
    ``status_code`` and ``reason`` hold the close code and reason received,
    when a close frame was received.
    """

    def __init__(
        self,
        message: str = "",
        rcvd: Optional[Close] = None,
        sent: Optional[Close] = None,
        rcvd_then_sent: Optional[bool] = None,
    ) -> None:
        self.message = message
        self.rcvd = rcvd
        self.sent = sent
        self.rcvd_then_sent = rcvd_then_sent if rcvd is not None and sent is not None else None
        self.status_code: Optional[int] = rcvd.code if rcvd is not None else None
        Exception.__init__(self, message)

    def __str__(self) -> str:
        if self.message:
            return self.message
        return shared.ConnectionClosed.__str__(self)

    @property  # type: ignore[override]
    def reason(self) -> Optional[str]:  # type: ignore[override]
        """Close reason received from the peer, or ``None``."""
        return self.__dict__.get("_reason", self.rcvd.reason if self.rcvd is not None else None)

    @reason.setter
    def reason(self, value: Optional[str]) -> None:
        self.__dict__["_reason"] = value


class WebSocketTimeoutException(WebSocketException, TimeoutError):
    """A socket operation timed out (see :func:`setdefaulttimeout`)."""


class WebSocketProxyException(WebSocketException):
    """The proxy refused the connection or could not be reached."""


class WebSocketAddressException(WebSocketException, OSError):
    """The host name of the server or of the proxy could not be resolved."""


class WebSocketHandshakeException(WebSocketException, shared.InvalidHandshake):
    """The opening handshake failed for a reason other than the HTTP status."""


class WebSocketBadStatusException(WebSocketException, shared.InvalidStatus):
    """The server answered the opening handshake with a status other than 101.

    ``status_code``, ``resp_headers`` (a dict with lower-case names) and
    ``resp_body`` describe the response, as in websocket-client; ``response``
    is the :class:`~wirespeed.http.Response` itself.
    """

    def __init__(
        self,
        message: str,
        status_code: int,
        status_message: Any = None,
        resp_headers: Optional[dict] = None,
        resp_body: Optional[bytes] = None,
    ) -> None:
        self.message = message
        self.status_code = status_code
        self.resp_headers = resp_headers
        self.resp_body = resp_body
        self.response = Response(
            status_code,
            status_message if isinstance(status_message, str) else "",
            Headers(resp_headers or {}),
            resp_body or b"",
        )
        Exception.__init__(self, message)

    def __str__(self) -> str:
        return self.message
