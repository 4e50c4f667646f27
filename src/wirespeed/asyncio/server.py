"""The asyncio face's server: :func:`serve`, :class:`Server`, :func:`broadcast` and helpers.

:func:`serve` listens with the listener face's server protocol: each accepted
TCP connection runs the opening handshake (with the ``process_request`` and
``process_response`` hooks, origin checks and subprotocol selection), then
becomes a :class:`ServerConnection` (a :class:`~wirespeed.asyncio.Connection`)
and the handler runs in its own task::

    async def echo(websocket):
        async for message in websocket:
            await websocket.send(message)

    async with serve(echo, "localhost", 8765) as server:
        await server.serve_forever()

When the handler returns, the connection is closed (1000); when it raises,
the error is logged and the connection closed with 1011 (internal error).
"""

from __future__ import annotations

import asyncio
import builtins
import hmac
import http
import inspect
import logging
import re
import sys
from types import TracebackType
from typing import (
    Any,
    Awaitable,
    Callable,
    Dict,
    Generator,
    Iterable,
    List,
    Mapping,
    Optional,
    Sequence,
    Set,
    Tuple,
    Type,
    Union,
)

from .._core.transport import WSAutoPingStrategy, WSMsgType
from ..exceptions import InvalidHeader
from ..extensions.permessage_deflate import server_extension_factories
from ..frames import CloseCode
from ..handshake import parse_authorization_basic
from ..http import Request, Response
from ..listener import _ServerConnection
from ..sansio import ServerProtocol
from .connection import Connection, DataLike, Limit

__all__ = [
    "Server",
    "ServerConnection",
    "basic_auth",
    "broadcast",
    "route",
    "serve",
    "unix_serve",
]

#: Value of the ``Server`` header sent by default.
SERVER_HEADER = "Python/{}.{} wirespeed".format(*sys.version_info[:2])

HandlerT = Callable[["ServerConnection"], Awaitable[None]]
ProcessRequest = Callable[["ServerConnection", Request], Any]
ProcessResponse = Callable[["ServerConnection", Request, Response], Any]


class ServerConnection(Connection):
    """A server's WebSocket connection (see :class:`~wirespeed.asyncio.Connection`).

    During the opening handshake (in ``process_request`` and
    ``process_response``), :attr:`request` and :attr:`remote_address` are
    already available.
    """

    #: The :class:`Server` that accepted the connection.
    server: Server
    #: The user name authenticated by :func:`basic_auth`, if any.
    username: Optional[str] = None

    def respond(self, status: Union[int, http.HTTPStatus], text: str) -> Response:
        """Build a plain-text HTTP response, to return from ``process_request``.

        For example, a health check::

            def health_check(connection, request):
                if request.path == "/healthz":
                    return connection.respond(http.HTTPStatus.OK, "OK\\n")
        """
        return self.handshake_protocol.reject(status, text)

    def on_ws_connected(self, transport: Any) -> None:
        super().on_ws_connected(transport)
        self.handler_task = self.loop.create_task(self.server.run_handler(self))


class Server:
    """A WebSocket server, as :func:`serve` returns it.

    It wraps the :class:`asyncio.Server` (:attr:`server`) and keeps track of
    the open connections, so that :meth:`close` can close them.
    """

    def __init__(self, handler: HandlerT, logger: Any) -> None:
        self.handler = handler
        self.logger = logger
        #: The underlying :class:`asyncio.Server`.
        self.server: Any = None
        self.handshakes: Set[Any] = set()
        self.handlers: Dict[ServerConnection, Any] = {}
        self.close_task: Any = None
        self.serving: Any = None

    @property
    def connections(self) -> Set[ServerConnection]:
        """The open connections (their handler is running)."""
        return {connection for connection in self.handlers if connection.open}

    @property
    def sockets(self) -> Tuple[Any, ...]:
        """The sockets the server listens on."""
        return tuple(self.server.sockets)

    def is_serving(self) -> bool:
        """Whether the server accepts new connections."""
        return bool(self.server.is_serving())

    async def start_serving(self) -> None:
        """Start accepting connections (when created with ``start_serving=False``)."""
        await self.server.start_serving()

    async def serve_forever(self) -> None:
        """Accept connections until cancelled, or until :meth:`close` is called.

        When the task running it is cancelled, the server is closed (its
        connections with 1001) before the cancellation propagates.
        """
        if not self.server.is_serving():
            await self.server.start_serving()
        # Not asyncio.Server.serve_forever: from Python 3.12 its cancellation
        # waits for every connection to end before it returns, and the
        # connections are only closed below.
        self.serving = asyncio.get_running_loop().create_future()
        try:
            await self.serving
        except asyncio.CancelledError:
            if self.close_task is not None and self.serving.cancelled():
                # close() ended serve_forever.
                await self.wait_closed()
                return
            self.close()
            await self.wait_closed()
            raise

    async def run_handler(self, connection: ServerConnection) -> None:
        """Run the handler of ``connection``, then close the connection."""
        self.handlers[connection] = asyncio.current_task()
        try:
            try:
                await self.handler(connection)
            except Exception:
                connection.logger.error("connection handler failed", exc_info=True)
                await connection.close(CloseCode.INTERNAL_ERROR)
            except asyncio.CancelledError:
                await connection.close(CloseCode.INTERNAL_ERROR)
                raise
            else:
                await connection.close()
        finally:
            self.handlers.pop(connection, None)

    def close(self, close_connections: bool = True) -> None:
        """Stop accepting connections; close the open ones with 1001 (going away).

        Returns at once; :meth:`wait_closed` waits until it is done. With
        ``close_connections=False``, open connections stay open until their
        handlers return.
        """
        if self.close_task is None:
            self.close_task = asyncio.get_running_loop().create_task(
                self.close_everything(close_connections)
            )

    async def close_everything(self, close_connections: bool) -> None:
        self.server.close()
        if self.serving is not None and not self.serving.done():
            self.serving.cancel()
        for handshake in list(self.handshakes):
            if handshake.underlying is not None:
                handshake.underlying.abort()
        if close_connections:
            await asyncio.gather(
                *(connection.close(CloseCode.GOING_AWAY) for connection in list(self.handlers)),
                return_exceptions=True,
            )
        tasks = list(self.handlers.values())
        if tasks:
            await asyncio.wait(tasks)
        await self.server.wait_closed()

    async def wait_closed(self) -> None:
        """Wait until the server is closed, with every connection it accepted."""
        if self.close_task is None:
            await self.server.wait_closed()
            return
        await asyncio.shield(self.close_task)

    def get_loop(self) -> asyncio.AbstractEventLoop:
        """The event loop the server runs on."""
        return self.server.get_loop()  # type: ignore[no-any-return]

    async def __aenter__(self) -> Server:
        return self

    async def __aexit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc_value: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        self.close()
        await self.wait_closed()


class _Handshake(_ServerConnection):
    """The listener face's server protocol, with the asyncio face's handshake hooks."""

    def __init__(self, server: Server, serve_options: serve, **options: Any) -> None:
        super().__init__(None, False, **options)  # type: ignore[arg-type]
        self.server = server
        self.serve_options = serve_options
        self.hooks_task: Any = None

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self.server.handshakes.add(self)

    def opened(self, transport: Any, listener: Any) -> None:
        self.server.handshakes.discard(self)

    def connection_lost(self, exc: Optional[BaseException]) -> None:
        self.server.handshakes.discard(self)
        super().connection_lost(exc)

    def answer(self, request: Request) -> None:
        options = self.serve_options
        try:
            connection = options.create_connection(**options.connection_options)
        except Exception:
            self.logger.exception("create_connection failed")
            self.finish(None, request, self.protocol.reject(500, "Internal Server Error\n"))
            return
        connection.server = self.server
        connection.handshake_protocol = self.protocol
        connection.underlying_transport = self.underlying
        connection.request = request
        if options.select_subprotocol is not None:
            select = options.select_subprotocol
            self.protocol.select_subprotocol = lambda subprotocols: select(connection, subprotocols)
        if options.process_request is None and options.process_response is None:
            self.finish(connection, request, self.accept(request))
            return
        self.hooks_task = self.loop.create_task(self.answer_with_hooks(connection, request))

    def accept(self, request: Request) -> Response:
        response = self.protocol.accept(request)
        server_header = self.serve_options.server_header
        if server_header is not None and "Server" not in response.headers:
            response.headers["Server"] = server_header
        return response

    async def answer_with_hooks(self, connection: ServerConnection, request: Request) -> None:
        options = self.serve_options
        try:
            response = None
            if options.process_request is not None:
                response = options.process_request(connection, request)
                if inspect.isawaitable(response):
                    response = await response
            if response is None:
                response = self.accept(request)
            elif options.server_header is not None and "Server" not in response.headers:
                response.headers["Server"] = options.server_header
            if options.process_response is not None:
                replacement = options.process_response(connection, request, response)
                if inspect.isawaitable(replacement):
                    replacement = await replacement
                if replacement is not None:
                    response = replacement
        except Exception:
            self.logger.error("opening handshake failed", exc_info=True)
            response = self.protocol.reject(
                500,
                "Failed to open a WebSocket connection.\nSee server log for more information.\n",
            )
        self.finish(connection, request, response)

    def finish(
        self, connection: Optional[ServerConnection], request: Request, response: Response
    ) -> None:
        """Send ``response``; open the connection if it is a 101."""
        if self.underlying.is_closing():
            return
        sansio = self.protocol
        if response.status_code == 101 and sansio.handshake_exc is not None:
            # process_response turned a refused handshake into a 101: refuse.
            response = sansio.reject(
                400, f"Failed to open a WebSocket connection: {sansio.handshake_exc}.\n"
            )
        sansio.send_response(response)
        self.write_sansio_output()
        if response.status_code != 101 or connection is None:
            self.underlying.close()
            return
        self.start_websocket(connection, request, response)


class serve:
    """Start a WebSocket server on ``host:port``; ``handler(connection)`` runs per connection.

    Use it as an asynchronous context manager (the server closes on exit) or
    await it to get the :class:`Server`.

    :param handler: coroutine function called with each :class:`ServerConnection`.
    :param origins: acceptable ``Origin`` values (strings, compiled regular
        expressions, ``None`` for requests without the header); None accepts any.
    :param extensions: extension factories the server supports.
    :param subprotocols: subprotocols the server supports, in order of preference.
    :param select_subprotocol: ``select_subprotocol(connection, subprotocols)``
        picks one of the client's offers, or None.
    :param process_request: ``process_request(connection, request)``, plain or
        async, called before the handshake is accepted; returning a
        :class:`~wirespeed.http.Response` (see :meth:`ServerConnection.respond`)
        answers with it instead, e.g. for health checks or authentication.
    :param process_response: ``process_response(connection, request,
        response)``, plain or async; it may change the response or return
        another one.
    :param server_header: value of the ``Server`` header; None omits it.
    :param compression: ``"deflate"`` (the default, as in websockets) accepts
        permessage-deflate with the defaults of
        :func:`~wirespeed.extensions.enable_server_permessage_deflate`;
        ``None`` disables compression. To configure it, pass a
        :class:`~wirespeed.extensions.ServerPerMessageDeflateFactory` in
        ``extensions``: it is used instead of the default one.
        Compressors are created by the first compressed message, and freed
        when a keepalive ping (``ping_interval``) finds that nothing was
        compressed since the previous one: an idle connection keeps only its
        decompressor. ``send(..., compress=False)`` sends one message
        uncompressed.
    :param open_timeout: seconds the opening handshake may take.
    :param ping_interval, ping_timeout, close_timeout, max_size, max_queue,
        read_limit, write_limit: as for :func:`connect`.
    :param logger: logger for the server; defaults to
        ``logging.getLogger("wirespeed.server")``.
    :param create_connection: factory of the connections, called with keyword
        arguments (``create_protocol`` is an alias); see seed 001's
        ``functools.partial`` example.
    :param kwargs: passed to :meth:`asyncio.loop.create_server` (``ssl``,
        ``sock``, ``reuse_port``, ``start_serving``...).
    """

    def __init__(
        self,
        handler: HandlerT,
        host: Any = None,
        port: Optional[int] = None,
        *,
        origins: Optional[Sequence[Any]] = None,
        extensions: Optional[Sequence[Any]] = None,
        subprotocols: Optional[Sequence[str]] = None,
        select_subprotocol: Optional[Callable[[Any, Sequence[str]], Optional[str]]] = None,
        process_request: Optional[ProcessRequest] = None,
        process_response: Optional[ProcessResponse] = None,
        server_header: Optional[str] = SERVER_HEADER,
        compression: Optional[str] = "deflate",
        open_timeout: Optional[float] = 10,
        ping_interval: Optional[float] = 20,
        ping_timeout: Optional[float] = 20,
        close_timeout: Optional[float] = 10,
        max_size: Optional[int] = 2**20,
        max_queue: Limit = 2**5,
        read_limit: int = 2**16,
        write_limit: Limit = 2**16,
        logger: Any = None,
        create_connection: Optional[Callable[..., ServerConnection]] = None,
        create_protocol: Optional[Callable[..., ServerConnection]] = None,
        **kwargs: Any,
    ) -> None:
        if logger is None:
            logger = logging.getLogger("wirespeed.server")
        self.logger = logger
        self.handler = handler
        self.host = host
        self.port = port
        self.origins = origins
        self.extensions = server_extension_factories(compression, extensions)
        self.subprotocols = subprotocols
        self.select_subprotocol = select_subprotocol
        self.process_request = process_request
        self.process_response = process_response
        self.server_header = server_header
        self.open_timeout = open_timeout
        self.close_timeout = close_timeout
        self.max_size = max_size
        self.read_limit = read_limit
        self.create_connection = create_connection or create_protocol or ServerConnection
        self.connection_options = dict(
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            close_timeout=close_timeout,
            max_queue=max_queue,
            read_limit=read_limit,
            write_limit=write_limit,
            logger=logger,
        )
        self.unix_path: Optional[str] = kwargs.pop("unix_path", None)
        self.unix = kwargs.pop("unix", False)
        self.kwargs = kwargs
        self.server: Optional[Server] = None

    def make_protocol(self, server: Server) -> _Handshake:
        big = 1e9
        return _Handshake(
            server,
            self,
            sansio=ServerProtocol(
                origins=self.origins,
                extensions=self.extensions,
                subprotocols=self.subprotocols,
                max_size=self.max_size,
                logger=self.logger,
            ),
            logger=self.logger,
            disconnect_on_error=True,
            enable_auto_pong=True,
            enable_auto_ping=False,
            auto_ping_idle_timeout=big,
            auto_ping_reply_timeout=big,
            auto_ping_strategy=WSAutoPingStrategy.PING_WHEN_IDLE,
            handshake_timeout=self.open_timeout if self.open_timeout is not None else big,
            close_timeout=self.close_timeout if self.close_timeout is not None else big,
        )

    async def create(self) -> Server:
        loop = asyncio.get_running_loop()
        server = Server(self.handler, self.logger)
        if self.unix:
            server.server = await loop.create_unix_server(
                lambda: self.make_protocol(server), self.unix_path, **self.kwargs
            )
        else:
            server.server = await loop.create_server(
                lambda: self.make_protocol(server), self.host, self.port, **self.kwargs
            )
        self.server = server
        return server

    def __await__(self) -> Generator[Any, None, Server]:
        return self.create().__await__()

    async def __aenter__(self) -> Server:
        return await self.create()

    async def __aexit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc_value: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


def unix_serve(handler: HandlerT, path: Optional[str] = None, **kwargs: Any) -> serve:
    """Start a WebSocket server on the unix socket at ``path``.

    Takes the arguments of :func:`serve` but ``host`` and ``port``.
    """
    return serve(handler, unix=True, unix_path=path, **kwargs)


def broadcast(
    connections: Iterable[Connection], message: DataLike, raise_exceptions: bool = False
) -> None:
    """Send ``message`` to every open connection of ``connections``, without waiting.

    A connection whose write buffer is over its ``write_limit`` (a slow
    client), or that is in the middle of sending a fragmented message, is
    skipped with a warning: :func:`broadcast` never blocks, and one slow client
    doesn't hold the others back. Closed connections are skipped silently. The
    message is encoded once.

    :param raise_exceptions: raise the errors that happened (an
        ``ExceptionGroup`` on Python 3.11+, the first error before) instead of
        logging them.
    :raises TypeError: if ``message`` isn't ``str`` or bytes-like.
    """
    if isinstance(message, str):
        opcode = WSMsgType.TEXT
        payload: Any = message.encode()
    elif isinstance(message, (bytes, bytearray, memoryview)):
        opcode = WSMsgType.BINARY
        payload = message
    else:
        raise TypeError("data must be str or bytes-like")
    errors: List[Exception] = []
    for connection in connections:
        if not connection.open:
            continue
        if connection.fragmented_send_waiter is not None:
            exc: Exception = RuntimeError("sending a fragmented message")
        elif connection.writing_paused:
            exc = RuntimeError("the write buffer is full: the client is slow")
        else:
            try:
                connection.transport.send(opcode, payload)  # type: ignore[union-attr]
                continue
            except Exception as error:
                exc = error
        if raise_exceptions:
            errors.append(exc)
        else:
            connection.logger.warning("skipped broadcast: %s", exc)
    if errors:
        exception_group = getattr(builtins, "ExceptionGroup", None)
        if exception_group is not None:
            raise exception_group("skipped broadcast", errors)
        raise errors[0]


def basic_auth(
    realm: str = "",
    credentials: Union[Tuple[str, str], Iterable[Tuple[str, str]], None] = None,
    check_credentials: Optional[Callable[[str, str], Any]] = None,
) -> Callable[[ServerConnection, Request], Awaitable[Optional[Response]]]:
    """Build a ``process_request`` that enforces HTTP Basic authentication.

    Give either ``credentials`` (a ``(username, password)`` pair or a list of
    them; passwords are compared in constant time) or ``check_credentials``
    (plain or async, returning whether the pair is valid). A request without
    valid credentials gets 401 with a ``WWW-Authenticate`` challenge; on
    success the user name is stored in ``connection.username``.
    """
    if (credentials is None) == (check_credentials is None):
        raise TypeError("provide either credentials or check_credentials")
    if credentials is not None:
        if (
            isinstance(credentials, tuple)
            and len(credentials) == 2
            and all(isinstance(item, str) for item in credentials)
        ):
            pairs: Iterable[Any] = [credentials]
        else:
            pairs = list(credentials)  # type: ignore[arg-type]
        table: Dict[str, str] = {}
        for pair in pairs:
            if not (isinstance(pair, tuple) and len(pair) == 2):
                raise TypeError(f"invalid credentials argument: {credentials!r}")
            table[pair[0]] = pair[1]

        def check_table(username: str, password: str) -> bool:
            expected = table.get(username)
            if expected is None:
                return False
            return hmac.compare_digest(expected.encode(), password.encode())

        check_credentials = check_table

    def unauthorized(connection: ServerConnection, text: str) -> Response:
        response = connection.respond(http.HTTPStatus.UNAUTHORIZED, text)
        response.headers["WWW-Authenticate"] = f'Basic realm="{realm}", charset="UTF-8"'
        return response

    async def process_request(connection: ServerConnection, request: Request) -> Optional[Response]:
        try:
            header = request.headers["Authorization"]
        except KeyError:
            return unauthorized(connection, "Missing credentials\n")
        except LookupError:
            return unauthorized(connection, "Unsupported credentials\n")
        try:
            username, password = parse_authorization_basic(header)
        except InvalidHeader:
            return unauthorized(connection, "Unsupported credentials\n")
        valid = check_credentials(username, password)  # type: ignore[misc]
        if inspect.isawaitable(valid):
            valid = await valid
        if not valid:
            return unauthorized(connection, "Invalid credentials\n")
        connection.username = username
        return None

    return process_request


Route = Tuple["re.Pattern[str]", Callable[..., Awaitable[None]]]


def compile_routes(routes: Union[Mapping[str, Any], Sequence[Tuple[str, Any]]]) -> List[Route]:
    """Turn ``{"/chat/{room}": handler}`` patterns into regular expressions."""
    items = routes.items() if isinstance(routes, Mapping) else routes
    compiled = []
    for pattern, handler in items:
        regex = "".join(
            f"(?P<{part[1:-1]}>[^/]+)" if part.startswith("{") else re.escape(part)
            for part in re.split(r"(\{[A-Za-z_][A-Za-z0-9_]*\})", pattern)
        )
        compiled.append((re.compile(regex), handler))
    return compiled


def route(
    routes: Union[Mapping[str, Any], Sequence[Tuple[str, Any]]],
    host: Any = None,
    port: Optional[int] = None,
    **kwargs: Any,
) -> serve:
    """Start a server that dispatches connections to handlers by request path.

    ``routes`` maps path patterns to handlers; ``{name}`` in a pattern
    matches one path segment and is passed to the handler as a keyword
    argument::

        async def chat(websocket, room):
            ...

        async with route({"/": home, "/chat/{room}": chat}, "localhost", 8765):
            ...

    The query string is ignored. A path that no pattern matches gets 404.
    Other arguments are those of :func:`serve`; a ``process_request`` runs
    before the routing.
    """
    compiled = compile_routes(routes)
    user_process_request = kwargs.pop("process_request", None)

    def match(path: str) -> Optional[Tuple[Callable[..., Awaitable[None]], Dict[str, str]]]:
        path = path.split("?", 1)[0]
        for regex, handler in compiled:
            found = regex.fullmatch(path)
            if found is not None:
                return handler, found.groupdict()
        return None

    async def process_request(connection: ServerConnection, request: Request) -> Optional[Response]:
        if user_process_request is not None:
            response = user_process_request(connection, request)
            if inspect.isawaitable(response):
                response = await response
            if response is not None:
                return response  # type: ignore[no-any-return]
        if match(request.path) is None:
            return connection.respond(http.HTTPStatus.NOT_FOUND, "Not Found\n")
        return None

    async def dispatch(connection: ServerConnection) -> None:
        found = match(connection.request.path)
        assert found is not None
        handler, params = found
        await handler(connection, **params)

    return serve(dispatch, host, port, process_request=process_request, **kwargs)
