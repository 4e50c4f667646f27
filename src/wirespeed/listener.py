"""The listener face: picows' ``ws_connect`` / ``ws_create_server`` API.

A connection has a :class:`~wirespeed.WSTransport` to send with and a
:class:`~wirespeed.WSListener` (yours) whose non-async callbacks receive the
frames, zero-copy. This module performs the opening handshake with the Sans-I/O
core and then hands the connection to the compiled hot path in
:mod:`wirespeed._core.transport`.

Example::

    import asyncio
    from wirespeed import ws_connect, WSListener, WSMsgType

    class Client(WSListener):
        def on_ws_connected(self, transport):
            transport.send(WSMsgType.TEXT, b"hello")

        def on_ws_frame(self, transport, frame):
            print(frame.get_payload_as_utf8_text())
            transport.send_close()
            transport.disconnect()

    async def main():
        transport, client = await ws_connect(Client, "ws://127.0.0.1:9001/")
        await transport.wait_disconnected()

    asyncio.run(main())

Compression
-----------

``compression="deflate"`` on :func:`ws_connect` or :func:`ws_create_server`
offers or accepts permessage-deflate (RFC 7692) with good defaults; pass a
configured :class:`~wirespeed.extensions.ClientPerMessageDeflateFactory` or
:class:`~wirespeed.extensions.ServerPerMessageDeflateFactory` in
``extensions=`` to choose the window sizes, context takeover, compression
level, memory level or threshold (``compression`` may then stay ``None``). The
default is ``None``, as in picows: no compression.

Once negotiated:

* received messages are decompressed before :meth:`WSListener.on_ws_frame`
  sees them: each frame carries its decompressed part, with ``rsv1`` cleared,
  and the frames of a fragmented message still arrive one by one, as they
  come. Such frames hold their own bytes rather than a view into the receive
  buffer. ``max_frame_size`` bounds each frame once decompressed too: a frame
  that would inflate beyond it fails the connection with 1009, before the
  memory is spent.
* messages sent with :meth:`WSTransport.send` are compressed (except those
  under the factory's ``threshold`` and those that look like random bytes,
  sent as they are); ``compress=False`` sends a message uncompressed.
  ``rsv1=True`` keeps picows' meaning: the frame goes out exactly as given,
  RSV1 set, for applications that encode their payloads themselves.
"""

from __future__ import annotations

import asyncio
import email.utils
import http
import inspect
import logging
import ssl
import urllib.parse
from typing import Any, Callable, Dict, Iterable, Mapping, Optional, Sequence, Tuple, Union

from ._core.transport import (
    WIRESPEED_DEBUG_LL,
    WSAutoPingStrategy,
    WSListener,
    WSProtocolBase,
    WSTransport,
)
from .exceptions import InvalidHandshake, InvalidStatus, WebSocketException
from .extensions.base import ClientExtensionFactory, ServerExtensionFactory
from .extensions.permessage_deflate import (
    client_extension_factories,
    server_extension_factories,
)
from .frames import Frame
from .http import Headers, Request, Response
from .sansio import ClientProtocol, ServerProtocol
from .uri import WebSocketURI, parse_uri

__all__ = [
    "WSError",
    "WSUpgradeRequest",
    "WSUpgradeResponse",
    "WSUpgradeResponseWithListener",
    "ws_connect",
    "ws_create_server",
]

#: picows' name for errors specific to WebSocket: every wirespeed exception is one.
WSError = WebSocketException

HeadersLike = Union[Headers, Mapping[str, str], Iterable[Tuple[str, str]], None]

DEFAULT_MAX_FRAME_SIZE = 10 * 2**20
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5


class WSUpgradeRequest:
    """The HTTP request that opens a WebSocket connection, as a server sees it."""

    __slots__ = ("headers", "method", "path", "request", "version")

    def __init__(self, request: Request) -> None:
        #: The Sans-I/O request event.
        self.request = request
        self.method = request.method.encode()
        self.path = request.path.encode()
        self.version = request.protocol.encode()
        #: Case-insensitive, multi-valued headers.
        self.headers = request.headers

    def __repr__(self) -> str:
        return f"WSUpgradeRequest({self.method!r}, {self.path!r})"


class WSUpgradeResponse:
    """An HTTP response to an upgrade request: accept (101) or refuse it."""

    __slots__ = ("body", "headers", "status", "version")

    def __init__(
        self,
        status: int,
        headers: HeadersLike = None,
        body: bytes = b"",
        version: bytes = b"HTTP/1.1",
    ) -> None:
        self.status = http.HTTPStatus(status)
        self.headers = Headers(headers or ())
        self.body = body
        self.version = version

    @classmethod
    def create_101_response(cls, extra_headers: HeadersLike = None) -> WSUpgradeResponse:
        """Accept the upgrade, adding ``extra_headers`` to the 101 response."""
        return cls(101, extra_headers)

    @classmethod
    def create_error_response(
        cls, status: int, body: Optional[bytes] = None, extra_headers: HeadersLike = None
    ) -> WSUpgradeResponse:
        """Refuse the upgrade with ``status`` (e.g. 403, 404) and a plain-text body.

        Also answers plain HTTP requests, such as health checks (status 200).
        """
        status = http.HTTPStatus(status)
        if body is None:
            body = f"{status.value} {status.phrase}\n".encode()
        return cls(status, extra_headers, body)

    def __repr__(self) -> str:
        return f"WSUpgradeResponse({self.status.value})"


class WSUpgradeResponseWithListener:
    """What a server's listener factory returns to answer with its own response."""

    __slots__ = ("listener", "response")

    def __init__(self, response: WSUpgradeResponse, listener: Optional[WSListener]) -> None:
        self.response = response
        self.listener = listener


def _make_logger(name: Optional[str], side: str) -> logging.Logger:
    suffix = name if name else side
    return logging.getLogger(f"wirespeed.{suffix}")


class _ConnectionProtocol(WSProtocolBase, asyncio.BufferedProtocol):
    """asyncio protocol of one connection: the handshake, then the hot path."""

    def __init__(
        self,
        sansio: Any,
        *,
        logger: logging.Logger,
        disconnect_on_error: bool,
        enable_auto_pong: bool,
        enable_auto_ping: bool,
        auto_ping_idle_timeout: float,
        auto_ping_reply_timeout: float,
        auto_ping_strategy: WSAutoPingStrategy,
        handshake_timeout: float,
        close_timeout: float,
    ) -> None:
        WSProtocolBase.__init__(self, sansio, disconnect_on_error, enable_auto_pong)
        self.loop = asyncio.get_running_loop()
        self.logger = logger
        self.trace = logger.isEnabledFor(WIRESPEED_DEBUG_LL)
        self.enable_auto_ping = enable_auto_ping
        self.auto_ping_idle_timeout = auto_ping_idle_timeout
        self.auto_ping_reply_timeout = auto_ping_reply_timeout
        self.auto_ping_strategy = auto_ping_strategy
        self.handshake_timeout = handshake_timeout
        self.close_timeout = close_timeout
        self.underlying: Any = None
        self.handshake_timer: Any = None

    def connection_made(self, transport: Any) -> None:
        self.underlying = transport
        self.handshake_timer = self.loop.call_later(
            self.handshake_timeout, self.handshake_timed_out
        )

    def handshake_timed_out(self) -> None:
        self.handshake_timer = None
        if not self.open:
            self.handshake_failed(asyncio.TimeoutError("timed out during the opening handshake"))
            self.underlying.abort()

    def handshake_failed(self, exc: BaseException) -> None:
        """The opening handshake failed with ``exc``."""

    def write_sansio_output(self) -> None:
        for data in self.protocol.data_to_send():
            if data:
                self.underlying.write(data)
            elif self.underlying.can_write_eof():
                self.underlying.write_eof()

    def start_websocket(self, listener: Any, request: Request, response: Response) -> None:
        """The handshake succeeded: switch to frames and tell the listener."""
        if self.handshake_timer is not None:
            self.handshake_timer.cancel()
            self.handshake_timer = None
        transport = WSTransport(
            isinstance(self.protocol, ClientProtocol),
            self.underlying,
            self.protocol,
            self.logger,
            self.loop,
        )
        transport.request = request
        transport.response = response
        transport.listener = listener
        transport.close_timeout = self.close_timeout
        self.transport = transport
        self.listener = listener
        self.open = True
        self.opened(transport, listener)
        try:
            listener.on_ws_connected(transport)
        except Exception:
            self.logger.exception("WSListener.on_ws_connected failed")
            transport.protocol_fail(1011, "")
            transport.disconnect()
            return
        if self.enable_auto_ping:
            transport.start_auto_ping(
                self.auto_ping_idle_timeout,
                self.auto_ping_reply_timeout,
                self.auto_ping_strategy is WSAutoPingStrategy.PING_PERIODICALLY,
            )
        # Frames that arrived with the end of the handshake.
        for event in self.protocol.events_received():
            if isinstance(event, Frame):
                self.deliver_frame_event(event)
        transport.flush()

    def opened(self, transport: WSTransport, listener: Any) -> None:
        """The connection is open (before ``on_ws_connected``)."""

    def connection_lost(self, exc: Optional[BaseException]) -> None:
        if self.handshake_timer is not None:
            self.handshake_timer.cancel()
            self.handshake_timer = None
        if not self.open:
            self.handshake_failed(
                exc or ConnectionResetError("connection closed during the opening handshake")
            )
            return
        protocol = self.protocol
        protocol.receive_eof()
        protocol.data_to_send()
        transport = self.transport
        transport.disconnected = True
        transport.stop_timers()
        if transport.pong_waiter is not None and not transport.pong_waiter.done():
            transport.pong_waiter.set_exception(ConnectionResetError("disconnected"))
        try:
            self.listener.on_ws_disconnected(transport)
        except Exception:
            self.logger.exception("WSListener.on_ws_disconnected failed")
        future = transport.disconnected_future
        if future is not None and not future.done():
            future.set_result(None)


class _ClientConnection(_ConnectionProtocol):
    def __init__(
        self, listener_factory: Callable[[], Any], request_headers: HeadersLike, **options: Any
    ) -> None:
        super().__init__(options.pop("sansio"), **options)
        self.listener_factory = listener_factory
        self.request_headers = request_headers
        self.done = self.loop.create_future()

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        sansio = self.protocol
        request = sansio.connect()
        if self.request_headers:
            for name, value in Headers(self.request_headers).raw_items():
                if name in request.headers:
                    del request.headers[name]
                request.headers[name] = value
        sansio.send_request(request)
        self.write_sansio_output()

    def handshake_data_received(self, data: bytes) -> None:
        sansio = self.protocol
        sansio.receive_data(data)
        self.write_sansio_output()
        if sansio.handshake_exc is not None:
            self.handshake_failed(sansio.handshake_exc)
            self.underlying.close()
            return
        if sansio.response is None:
            # The response isn't complete yet. (Once it is, frames that came
            # with it may already have moved the state past OPEN.)
            return
        # The events are left for start_websocket: the Response, then frames.
        try:
            listener = self.listener_factory()
        except Exception as exc:
            self.handshake_failed(exc)
            self.underlying.abort()
            return
        sansio.events = [event for event in sansio.events if isinstance(event, Frame)]
        self.start_websocket(listener, sansio.request, sansio.response)

    def handshake_failed(self, exc: BaseException) -> None:
        if not self.done.done():
            self.done.set_exception(exc)

    def opened(self, transport: WSTransport, listener: Any) -> None:
        if not self.done.done():
            self.done.set_result((transport, listener))


class _ServerConnection(_ConnectionProtocol):
    def __init__(
        self, listener_factory: Callable[..., Any], factory_takes_request: bool, **options: Any
    ) -> None:
        super().__init__(options.pop("sansio"), **options)
        self.listener_factory = listener_factory
        self.factory_takes_request = factory_takes_request

    def handshake_data_received(self, data: bytes) -> None:
        sansio = self.protocol
        if sansio.request is not None:
            # The request is being answered; keep early frames for later.
            sansio.receive_data(data)
            return
        sansio.receive_data(data)
        if sansio.handshake_exc is not None:
            # Not an HTTP request: answer 400 and close.
            sansio.data_to_send()
            response = sansio.reject(
                400, f"Failed to open a WebSocket connection: {sansio.handshake_exc}.\n"
            )
            self.underlying.write(response.serialize())
            self.underlying.close()
            return
        if sansio.request is None:
            return
        sansio.events = [event for event in sansio.events if isinstance(event, Frame)]
        self.answer(sansio.request)

    def answer(self, request: Request) -> None:
        sansio = self.protocol
        upgrade_request = WSUpgradeRequest(request)
        try:
            if self.factory_takes_request:
                result = self.listener_factory(upgrade_request)
            else:
                result = self.listener_factory()
        except Exception:
            self.logger.exception("listener factory failed")
            result = WSUpgradeResponse.create_error_response(500)
        custom: Optional[WSUpgradeResponse] = None
        listener = result
        if isinstance(result, WSUpgradeResponseWithListener):
            custom, listener = result.response, result.listener
        elif isinstance(result, WSUpgradeResponse):
            custom, listener = result, None
        elif result is None:
            custom = WSUpgradeResponse.create_error_response(404)
        if custom is not None and (custom.status != 101 or listener is None):
            response = _error_response(custom)
        else:
            response = sansio.accept(request)
            if custom is not None and response.status_code == 101:
                for name, value in custom.headers.raw_items():
                    response.headers[name] = value
        sansio.send_response(response)
        self.write_sansio_output()
        if response.status_code != 101:
            self.logger.info("upgrade refused: %d %s", response.status_code, request.path)
            self.underlying.close()
            return
        self.start_websocket(listener, request, response)


def _error_response(custom: WSUpgradeResponse) -> Response:
    headers = Headers()
    headers["Date"] = email.utils.formatdate(usegmt=True)
    headers["Connection"] = "close"
    headers["Content-Length"] = str(len(custom.body))
    if custom.body and "Content-Type" not in custom.headers:
        headers["Content-Type"] = "text/plain; charset=utf-8"
    for name, value in custom.headers.raw_items():
        headers[name] = value
    return Response(custom.status.value, custom.status.phrase, headers, bytes(custom.body))


async def ws_connect(
    ws_listener_factory: Callable[[], Any],
    url: str,
    *,
    ssl_context: Optional[ssl.SSLContext] = None,
    disconnect_on_error: bool = True,
    websocket_handshake_timeout: float = 5,
    logger_name: Optional[str] = None,
    enable_auto_ping: bool = False,
    auto_ping_idle_timeout: float = 10,
    auto_ping_reply_timeout: float = 10,
    auto_ping_strategy: WSAutoPingStrategy = WSAutoPingStrategy.PING_WHEN_IDLE,
    enable_auto_pong: bool = True,
    max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
    extra_headers: HeadersLike = None,
    close_timeout: float = 5,
    max_redirects: int = MAX_REDIRECTS,
    disconnect_on_exception: Optional[bool] = None,
    compression: Optional[str] = None,
    extensions: Optional[Sequence[ClientExtensionFactory]] = None,
    **kwargs: Any,
) -> Tuple[WSTransport, Any]:
    """Open a WebSocket connection to ``url``; return ``(transport, listener)``.

    :param ws_listener_factory: called without arguments once the handshake
        succeeded; returns the :class:`~wirespeed.WSListener` of the connection.
    :param url: ``ws://`` or ``wss://`` URL.
    :param ssl_context: for ``wss://``; the default verifies the certificate.
    :param disconnect_on_error: close with 1011 and disconnect when
        ``on_ws_frame`` raises; if False, log and go on.
    :param websocket_handshake_timeout: seconds for the opening handshake.
    :param logger_name: log under ``wirespeed.<logger_name>``.
    :param enable_auto_ping: ping the server when it has been idle for
        ``auto_ping_idle_timeout`` seconds (or periodically, with
        ``auto_ping_strategy``) and disconnect without a pong within
        ``auto_ping_reply_timeout``.
    :param enable_auto_pong: answer pings automatically (the listener doesn't
        see them); if False, pings reach ``on_ws_frame``.
    :param max_frame_size: largest frame accepted (1009 beyond).
    :param extra_headers: headers added to the handshake request.
    :param close_timeout: seconds the closing handshake may take.
    :param max_redirects: redirects (301, 302, 303, 307, 308) followed;
        never from ``wss://`` to ``ws://``.
    :param disconnect_on_exception: picows 2.x's name for ``disconnect_on_error``.
    :param compression: ``"deflate"`` offers permessage-deflate (see the
        module's documentation); ``None`` (the default) doesn't.
    :param extensions: extension factories to offer, e.g. a configured
        :class:`~wirespeed.extensions.ClientPerMessageDeflateFactory`.
    :param kwargs: passed to :meth:`asyncio.loop.create_connection`.
    :raises InvalidHandshake: (a :data:`WSError`) if the handshake fails,
        e.g. :class:`~wirespeed.exceptions.InvalidStatus` for a non-101 answer.
    :raises OSError: network errors, as the system reports them.
    """
    if disconnect_on_exception is not None:
        disconnect_on_error = disconnect_on_exception
    loop = asyncio.get_running_loop()
    logger = _make_logger(logger_name, "client")
    factories = client_extension_factories(compression, extensions)
    redirects = 0
    while True:
        uri = parse_uri(url)
        options: Dict[str, Any] = dict(
            sansio=ClientProtocol(
                uri, extensions=factories, max_size=(None, max_frame_size), logger=logger
            ),
            logger=logger,
            disconnect_on_error=disconnect_on_error,
            enable_auto_pong=enable_auto_pong,
            enable_auto_ping=enable_auto_ping,
            auto_ping_idle_timeout=auto_ping_idle_timeout,
            auto_ping_reply_timeout=auto_ping_reply_timeout,
            auto_ping_strategy=auto_ping_strategy,
            handshake_timeout=websocket_handshake_timeout,
            close_timeout=close_timeout,
        )
        connect_kwargs = dict(kwargs)
        if uri.secure:
            connect_kwargs.setdefault("ssl", ssl_context or ssl.create_default_context())
            connect_kwargs.setdefault("server_hostname", uri.host)
        _, connection = await loop.create_connection(
            lambda options=options: _ClientConnection(
                ws_listener_factory, extra_headers, **options
            ),
            uri.host,
            uri.port,
            **connect_kwargs,
        )
        try:
            return await connection.done
        except InvalidStatus as exc:
            location = _redirect_location(exc, uri, url)
            if location is None:
                raise
            redirects += 1
            if redirects > max_redirects:
                raise InvalidHandshake(f"more than {max_redirects} redirects") from exc
            url = location


def _redirect_location(exc: InvalidStatus, uri: WebSocketURI, url: str) -> Optional[str]:
    """Return where a redirect response points, or None if it isn't one to follow."""
    response = exc.response
    if response.status_code not in REDIRECT_STATUSES:
        return None
    try:
        location = response.headers["Location"]
    except LookupError:
        return None
    target = urllib.parse.urljoin(url.replace("ws", "http", 1), location)
    scheme, _, rest = target.partition("://")
    scheme = {"http": "ws", "https": "wss"}.get(scheme.lower(), scheme.lower())
    if uri.secure and scheme != "wss":
        raise InvalidHandshake(f"refused to follow a redirect from wss:// to {scheme}://") from exc
    return f"{scheme}://{rest}"


async def ws_create_server(
    ws_listener_factory: Callable[..., Any],
    host: Any = None,
    port: Optional[int] = None,
    *,
    disconnect_on_error: bool = True,
    websocket_handshake_timeout: float = 5,
    logger_name: Optional[str] = None,
    enable_auto_ping: bool = False,
    auto_ping_idle_timeout: float = 20,
    auto_ping_reply_timeout: float = 20,
    auto_ping_strategy: WSAutoPingStrategy = WSAutoPingStrategy.PING_WHEN_IDLE,
    enable_auto_pong: bool = True,
    max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
    close_timeout: float = 5,
    disconnect_on_exception: Optional[bool] = None,
    compression: Optional[str] = None,
    extensions: Optional[Sequence[ServerExtensionFactory]] = None,
    **kwargs: Any,
) -> asyncio.Server:
    """Start a WebSocket server; return the :class:`asyncio.Server`.

    :param ws_listener_factory: called with the :class:`WSUpgradeRequest` of
        each connection (or without arguments, if it takes none). It returns a
        :class:`~wirespeed.WSListener` to accept the connection, a
        :class:`WSUpgradeResponse` to answer with an HTTP response instead (a
        health check, 403, ...), a :class:`WSUpgradeResponseWithListener` to
        accept with extra response headers, or None to answer 404.

    :param compression: ``"deflate"`` accepts permessage-deflate when a client
        offers it (see the module's documentation); ``None`` (the default)
        doesn't.
    :param extensions: extension factories the server supports, e.g. a
        configured :class:`~wirespeed.extensions.ServerPerMessageDeflateFactory`.

    The other parameters are those of :func:`ws_connect` (also
    ``disconnect_on_exception``, picows 2.x's name for ``disconnect_on_error``);
    ``kwargs`` go to
    :meth:`asyncio.loop.create_server` (``ssl=`` for TLS, ``reuse_port=``, ...).
    """
    if disconnect_on_exception is not None:
        disconnect_on_error = disconnect_on_exception
    loop = asyncio.get_running_loop()
    logger = _make_logger(logger_name, "server")
    factory_takes_request = _takes_an_argument(ws_listener_factory)
    factories = server_extension_factories(compression, extensions)

    def make_connection() -> _ServerConnection:
        return _ServerConnection(
            ws_listener_factory,
            factory_takes_request,
            sansio=ServerProtocol(
                extensions=factories, max_size=(None, max_frame_size), logger=logger
            ),
            logger=logger,
            disconnect_on_error=disconnect_on_error,
            enable_auto_pong=enable_auto_pong,
            enable_auto_ping=enable_auto_ping,
            auto_ping_idle_timeout=auto_ping_idle_timeout,
            auto_ping_reply_timeout=auto_ping_reply_timeout,
            auto_ping_strategy=auto_ping_strategy,
            handshake_timeout=websocket_handshake_timeout,
            close_timeout=close_timeout,
        )

    return await loop.create_server(make_connection, host, port, **kwargs)


def _takes_an_argument(factory: Callable[..., Any]) -> bool:
    """Whether ``factory`` accepts the upgrade request (picows ≥ 1.2) or nothing."""
    if isinstance(factory, type):
        # A listener class: its constructor decides.
        if factory.__init__ in (WSListener.__init__, object.__init__):
            return False
        factory = factory.__init__  # type: ignore[misc]
        bound = 1
    else:
        bound = 0
    try:
        parameters = list(inspect.signature(factory).parameters.values())[bound:]
    except (TypeError, ValueError):
        return True
    for parameter in parameters:
        if parameter.kind in (parameter.VAR_POSITIONAL,):
            return True
        if parameter.kind in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD):
            return True
    return False
