"""The threaded server: :func:`serve`, :func:`unix_serve` and :class:`Server`.

::

    from wirespeed.sync import serve

    def echo(websocket):
        for message in websocket:
            websocket.send(message)

    with serve(echo, "127.0.0.1", 8765) as server:
        server.serve_forever()

Each connection runs in its own thread: the opening handshake, then the
handler, then the closing handshake (code 1000 when the handler returns, 1011
when it raises).
"""

from __future__ import annotations

import http
import logging
import os
import selectors
import socket
import ssl as ssl_module
import threading
from types import TracebackType
from typing import Any, Callable, List, Optional, Sequence, Set, Tuple, Type, Union

from .. import __version__
from ..exceptions import ConnectionClosed
from ..extensions.base import ServerExtensionFactory
from ..frames import CloseCode
from ..http import Request, Response
from ..sansio import ServerProtocol
from ..sansio.server import Origin, SelectSubprotocol
from .client import read_handshake
from .connection import Connection

__all__ = ["SERVER_HEADER", "Server", "ServerConnection", "serve", "unix_serve"]

#: Default value of the ``Server`` header.
SERVER_HEADER = f"Python/3 wirespeed/{__version__}"

ProcessRequest = Callable[["ServerConnection", Request], Optional[Response]]
ProcessResponse = Callable[["ServerConnection", Request, Response], Optional[Response]]


class ServerConnection(Connection):
    """A server connection, as passed to the handler of :func:`serve`.

    See :class:`~wirespeed.sync.connection.Connection` for the methods.
    """

    protocol: ServerProtocol

    def respond(self, status: Union[http.HTTPStatus, int], text: str) -> Response:
        """Build a plain-text HTTP response, for ``process_request`` to return."""
        return self.protocol.reject(status, text)

    def handshake(
        self,
        process_request: Optional[ProcessRequest] = None,
        process_response: Optional[ProcessResponse] = None,
        server_header: Optional[str] = SERVER_HEADER,
        timeout: Optional[float] = None,
    ) -> bool:
        """Perform the opening handshake; return whether the connection is open.

        ``process_request(connection, request)`` may return a response that
        rejects the connection, or ``None`` to go on; ``process_response(
        connection, request, response)`` may replace the response.
        """
        protocol = self.protocol
        try:
            read_handshake(self, Request, timeout)
        except TimeoutError:
            return False
        request = protocol.request
        if request is None:
            self.close_socket()
            return False
        response: Optional[Response] = None
        try:
            if process_request is not None:
                response = process_request(self, request)
            if response is None:
                response = protocol.accept(request)
            if server_header is not None and "Server" not in response.headers:
                response.headers["Server"] = server_header
            if process_response is not None:
                replacement = process_response(self, request, response)
                if replacement is not None:
                    response = replacement
        except Exception as exc:
            self.logger.error("opening handshake failed", exc_info=True)
            response = protocol.reject(
                http.HTTPStatus.INTERNAL_SERVER_ERROR,
                "Failed to open a WebSocket connection.\nSee server log for more information.\n",
            )
            protocol.handshake_exc = exc
        with self.protocol_mutex:
            protocol.send_response(response)
            events = protocol.events_received()
            try:
                self.send_data()
            except OSError:
                pass
        if response.status_code != 101 or protocol.handshake_exc is not None:
            self.close_socket()
            return False
        self.start(events)
        return True


class Server:
    """A threaded WebSocket server, as returned by :func:`serve`.

    :meth:`serve_forever` accepts connections until :meth:`shutdown` is
    called, from another thread or from a handler. Use it as a context manager
    to shut it down on exit.
    """

    def __init__(
        self,
        socket: socket.socket,
        handler: Callable[[ServerConnection], Any],
        connection_factory: Callable[[socket.socket], Optional[ServerConnection]],
        *,
        logger: Optional[Any] = None,
    ) -> None:
        #: The listening socket.
        self.socket = socket
        self.handler = handler
        self.connection_factory = connection_factory
        self.logger = logger if logger is not None else logging.getLogger("wirespeed.server")
        self.connections: Set[ServerConnection] = set()
        self.threads: Set[threading.Thread] = set()
        self.lock = threading.Lock()
        self.shutdown_requested = threading.Event()
        self.serving = threading.Event()
        self.stopped = threading.Event()
        self.stopped.set()
        self.wake_reader, self.wake_writer = socket_pair()

    def fileno(self) -> int:
        """File descriptor of the listening socket."""
        return self.socket.fileno()

    def serve_forever(self) -> None:
        """Accept connections and run each one in a thread, until :meth:`shutdown`."""
        self.stopped.clear()
        self.serving.set()
        try:
            with selectors.DefaultSelector() as selector:
                selector.register(self.socket, selectors.EVENT_READ)
                selector.register(self.wake_reader, selectors.EVENT_READ)
                while not self.shutdown_requested.is_set():
                    ready = selector.select()
                    if self.shutdown_requested.is_set():
                        break
                    if not any(key.fileobj is self.socket for key, _ in ready):
                        continue
                    try:
                        sock, _ = self.socket.accept()
                    except OSError:
                        continue
                    thread = threading.Thread(
                        target=self.handle, args=(sock,), name="wirespeed-handler", daemon=True
                    )
                    with self.lock:
                        self.threads.add(thread)
                    thread.start()
        finally:
            self.serving.clear()
            self.stopped.set()

    def handle(self, sock: socket.socket) -> None:
        """Run one connection: handshake, handler, closing handshake (thread)."""
        connection: Optional[ServerConnection] = None
        try:
            connection = self.connection_factory(sock)
            if connection is None:
                return
            with self.lock:
                self.connections.add(connection)
                shutting_down = self.shutdown_requested.is_set()
            if shutting_down:
                # Opened while the server shuts down: close it at once; the
                # handler still sees the messages that arrived.
                connection.close(CloseCode.GOING_AWAY)
            try:
                self.handler(connection)
            except ConnectionClosed:
                connection.close()
            except Exception:
                self.logger.error("connection handler failed", exc_info=True)
                connection.close(CloseCode.INTERNAL_ERROR)
            else:
                connection.close()
        except Exception:
            self.logger.error("connection failed", exc_info=True)
            try:
                sock.close()
            except OSError:
                pass
        finally:
            with self.lock:
                if connection is not None:
                    self.connections.discard(connection)
                self.threads.discard(threading.current_thread())

    def shutdown(self, timeout: Optional[float] = 10) -> None:
        """Stop accepting connections and close the open ones with code 1001.

        Waits up to ``timeout`` seconds for :meth:`serve_forever` to return and
        for the connection threads to finish. Safe to call more than once.
        """
        self.shutdown_requested.set()
        try:
            self.wake_writer.send(b"x")
        except OSError:
            pass
        self.stopped.wait(timeout)
        try:
            self.socket.close()
        except OSError:
            pass
        with self.lock:
            connections = list(self.connections)
            threads = list(self.threads)
        closers = [
            threading.Thread(target=connection.close, args=(CloseCode.GOING_AWAY,), daemon=True)
            for connection in connections
        ]
        for closer in closers:
            closer.start()
        for thread in [*closers, *threads]:
            if thread is not threading.current_thread():
                thread.join(timeout)
        for end in (self.wake_reader, self.wake_writer):
            end.close()

    def __enter__(self) -> Server:
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc_value: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        self.shutdown()


def socket_pair() -> Tuple[socket.socket, socket.socket]:
    """A connected pair of sockets, to wake :meth:`Server.serve_forever` up."""
    reader, writer = socket.socketpair()
    reader.setblocking(False)
    return reader, writer


def server_extensions(
    compression: Optional[str], extensions: Optional[Sequence[ServerExtensionFactory]]
) -> Optional[List[ServerExtensionFactory]]:
    """Add permessage-deflate to ``extensions`` when ``compression="deflate"``."""
    if compression is None:
        return list(extensions) if extensions is not None else None
    if compression != "deflate":
        raise ValueError(f"unsupported compression: {compression}")
    from ..extensions.permessage_deflate import enable_server_permessage_deflate

    return enable_server_permessage_deflate(extensions)


def serve(
    handler: Callable[[ServerConnection], Any],
    host: Optional[str] = None,
    port: Optional[int] = None,
    *,
    sock: Optional[socket.socket] = None,
    ssl: Optional[ssl_module.SSLContext] = None,
    unix: bool = False,
    path: Optional[str] = None,
    origins: Optional[Sequence[Origin]] = None,
    extensions: Optional[Sequence[ServerExtensionFactory]] = None,
    subprotocols: Optional[Sequence[str]] = None,
    select_subprotocol: Optional[SelectSubprotocol] = None,
    process_request: Optional[ProcessRequest] = None,
    process_response: Optional[ProcessResponse] = None,
    server_header: Optional[str] = SERVER_HEADER,
    compression: Optional[str] = None,
    open_timeout: Optional[float] = 10,
    ping_interval: Optional[float] = 20,
    ping_timeout: Optional[float] = 20,
    close_timeout: Optional[float] = 10,
    max_size: Union[int, Tuple[Optional[int], Optional[int]], None] = 2**20,
    max_queue: Union[int, Tuple[Optional[int], Optional[int]], None] = 16,
    logger: Optional[Any] = None,
    create_connection: Optional[type] = None,
    backlog: int = 128,
) -> Server:
    """Create a threaded WebSocket server listening on ``host`` and ``port``.

    The server is listening when this returns; call
    :meth:`~Server.serve_forever` to accept connections. ``handler`` is called
    with a :class:`ServerConnection` in a new thread for each connection.

    :param host: address to listen on; ``None`` listens on every interface.
    :param port: TCP port; 0 picks a free one (see ``server.socket``).
    :param sock: an already listening socket to use instead.
    :param ssl: TLS context for ``wss://``.
    :param unix: listen on the Unix socket ``path`` (see :func:`unix_serve`).
    :param origins: acceptable ``Origin`` values (``None`` in the list accepts
        requests without one); ``None`` doesn't check.
    :param extensions: extension factories supported by the server.
    :param subprotocols: subprotocols supported, in order of preference.
    :param select_subprotocol: ``select_subprotocol(protocol, offered)`` picks one.
    :param process_request: ``process_request(connection, request)`` may return
        a :class:`~wirespeed.http.Response` to reject the handshake.
    :param process_response: ``process_response(connection, request, response)``
        may return a replacement response.
    :param server_header: ``Server`` header; ``None`` leaves it out.
    :param compression: ``"deflate"`` to accept permessage-deflate, or ``None``.
    :param open_timeout: seconds allowed for the TLS and opening handshakes.
    :param ping_interval: seconds between keepalive pings; ``None`` disables them.
    :param ping_timeout: seconds to wait for a keepalive pong.
    :param close_timeout: seconds allowed for the closing handshake.
    :param max_size: largest incoming message, in bytes; ``None`` for no limit.
    :param max_queue: high-water mark of the queue of received frames.
    :param logger: logger (``wirespeed.server`` by default).
    :param create_connection: a subclass of :class:`ServerConnection` to use.
    """
    if sock is None:
        if unix:
            if path is None:
                raise TypeError("unix=True requires path")
            if os.path.exists(path) and not os.path.isdir(path):
                try:
                    os.unlink(path)
                except OSError:
                    pass
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.bind(path)
                sock.listen(backlog)
            except BaseException:
                sock.close()
                raise
        elif host is None and socket.has_dualstack_ipv6():
            sock = socket.create_server(
                ("", port or 0),
                family=socket.AF_INET6,
                backlog=backlog,
                dualstack_ipv6=True,
                reuse_port=False,
            )
        else:
            family = socket.AF_INET6 if host and ":" in host else socket.AF_INET
            sock = socket.create_server((host or "", port or 0), family=family, backlog=backlog)
    extension_factories = server_extensions(compression, extensions)
    factory = create_connection or ServerConnection

    def open_connection(client: socket.socket) -> Optional[ServerConnection]:
        if client.family != socket.AF_UNIX:
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if ssl is not None:
            client.settimeout(open_timeout)
            try:
                client = ssl.wrap_socket(client, server_side=True)
            except (OSError, ssl_module.SSLError):
                client.close()
                return None
        protocol = ServerProtocol(
            origins=origins,
            extensions=extension_factories,
            subprotocols=subprotocols,
            select_subprotocol=select_subprotocol,
            max_size=max_size,
            logger=logger,
        )
        connection = factory(
            client,
            protocol,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            close_timeout=close_timeout,
            max_queue=max_queue,
        )
        if connection.handshake(process_request, process_response, server_header, open_timeout):
            return connection
        return None

    return Server(sock, handler, open_connection, logger=logger)


def unix_serve(
    handler: Callable[[ServerConnection], Any], path: Optional[str] = None, **kwargs: Any
) -> Server:
    """Create a threaded WebSocket server listening on the Unix socket ``path``.

    Arguments are those of :func:`serve`.
    """
    return serve(handler, unix=True, path=path, **kwargs)
