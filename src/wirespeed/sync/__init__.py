"""The sync face: blocking WebSocket clients and servers for threaded programs.

Two APIs share one implementation on wirespeed's protocol core:

* websockets' threading API: :func:`connect`, :func:`unix_connect`,
  :func:`serve`, :func:`unix_serve`, with :class:`ClientConnection` and
  :class:`ServerConnection` (``recv``, ``send``, ``ping``, ``close``, ...);
* websocket-client's API: :func:`create_connection` and :class:`WebSocket`,
  :class:`ABNF`, the callback-driven :class:`WebSocketApp` with
  ``run_forever``, :func:`enableTrace`, :func:`setdefaulttimeout`, and the
  exceptions websocket-client users catch. A program written for
  websocket-client runs unchanged with ``import wirespeed.sync as websocket``.
"""

from __future__ import annotations

from ..exceptions import (
    ConcurrencyError,
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidHandshake,
    InvalidStatus,
    InvalidURI,
)
from .app import RECONNECT, WebSocketApp, set_reconnect, setReconnect
from .client import ClientConnection, connect, unix_connect
from .connection import Connection, PongWaiter
from .exceptions import (
    WebSocketAddressException,
    WebSocketBadStatusException,
    WebSocketConnectionClosedException,
    WebSocketException,
    WebSocketHandshakeException,
    WebSocketPayloadException,
    WebSocketProtocolException,
    WebSocketProxyException,
    WebSocketTimeoutException,
)
from .server import Server, ServerConnection, serve, unix_serve
from .websocket import (
    ABNF,
    STATUS_ABNORMAL_CLOSED,
    STATUS_BAD_GATEWAY,
    STATUS_GOING_AWAY,
    STATUS_INVALID_EXTENSION,
    STATUS_INVALID_PAYLOAD,
    STATUS_MESSAGE_TOO_BIG,
    STATUS_NORMAL,
    STATUS_POLICY_VIOLATION,
    STATUS_PROTOCOL_ERROR,
    STATUS_SERVICE_RESTART,
    STATUS_STATUS_NOT_AVAILABLE,
    STATUS_TLS_HANDSHAKE_ERROR,
    STATUS_TRY_AGAIN_LATER,
    STATUS_UNEXPECTED_CONDITION,
    STATUS_UNSUPPORTED_DATA_TYPE,
    WebSocket,
    create_connection,
    enableTrace,
    getdefaulttimeout,
    setdefaulttimeout,
)

__all__ = [
    "ABNF",
    "RECONNECT",
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
    "ClientConnection",
    "ConcurrencyError",
    "Connection",
    "ConnectionClosed",
    "ConnectionClosedError",
    "ConnectionClosedOK",
    "InvalidHandshake",
    "InvalidStatus",
    "InvalidURI",
    "PongWaiter",
    "Server",
    "ServerConnection",
    "WebSocket",
    "WebSocketAddressException",
    "WebSocketApp",
    "WebSocketBadStatusException",
    "WebSocketConnectionClosedException",
    "WebSocketException",
    "WebSocketHandshakeException",
    "WebSocketPayloadException",
    "WebSocketProtocolException",
    "WebSocketProxyException",
    "WebSocketTimeoutException",
    "connect",
    "create_connection",
    "enableTrace",
    "getdefaulttimeout",
    "serve",
    "setReconnect",
    "set_reconnect",
    "setdefaulttimeout",
    "unix_connect",
    "unix_serve",
]
