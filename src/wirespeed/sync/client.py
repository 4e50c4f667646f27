"""The blocking client: :func:`connect` and :func:`unix_connect`.

::

    from wirespeed.sync import connect

    with connect("ws://127.0.0.1:8765") as websocket:
        websocket.send("Hello world!")
        print(websocket.recv())
"""

from __future__ import annotations

import socket
import ssl as ssl_module
import time
from typing import Any, List, Optional, Sequence, Tuple, Union

from .. import __version__
from ..exceptions import InvalidHandshake
from ..extensions.base import ClientExtensionFactory
from ..http import HeadersLike, Response
from ..sansio import ClientProtocol
from ..uri import parse_uri
from .connection import Connection
from .net import open_tcp, wrap_tls
from .proxy import connect_through, get_proxy, parse_proxy_url

__all__ = ["USER_AGENT", "ClientConnection", "connect", "unix_connect"]

#: Default value of the ``User-Agent`` header.
USER_AGENT = f"Python/3 wirespeed/{__version__}"


class ClientConnection(Connection):
    """A client connection, as returned by :func:`connect`.

    See :class:`~wirespeed.sync.connection.Connection` for the methods.
    """

    protocol: ClientProtocol

    def handshake(
        self,
        additional_headers: Optional[HeadersLike] = None,
        user_agent_header: Optional[str] = USER_AGENT,
        timeout: Optional[float] = None,
    ) -> None:
        """Perform the opening handshake, then start the background threads.

        :raises InvalidHandshake: if the server doesn't open the connection.
        :raises TimeoutError: if it doesn't answer within ``timeout`` seconds.
        """
        protocol = self.protocol
        request = protocol.connect()
        if additional_headers is not None:
            request.headers.update(additional_headers)
        if user_agent_header is not None and "User-Agent" not in request.headers:
            request.headers["User-Agent"] = user_agent_header
        with self.protocol_mutex:
            protocol.send_request(request)
            self.send_data()
        events = read_handshake(self, Response, timeout)
        if protocol.handshake_exc is not None:
            self.close_socket()
            raise protocol.handshake_exc
        self.start(events)


def read_handshake(connection: Connection, kind: type, timeout: Optional[float]) -> List[Any]:
    """Read until the protocol produces an event of type ``kind`` or fails.

    Return the events that came after it (frames sent right after the
    handshake).

    :raises TimeoutError: if that takes longer than ``timeout`` seconds.
    """
    protocol = connection.protocol
    sock = connection.socket
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        if deadline is not None:
            sock.settimeout(max(deadline - time.monotonic(), 0.001))
        try:
            data = sock.recv(65536)
        except socket.timeout:
            connection.close_socket()
            raise TimeoutError("timed out during opening handshake") from None
        except OSError:
            data = b""
        with connection.protocol_mutex:
            if data:
                protocol.receive_data(data)
            else:
                protocol.receive_eof()
            events = protocol.events_received()
            # A protocol error right after messages that came with the
            # handshake waits for the application (see Connection.recv_events).
            if protocol.pending_failure is None:
                try:
                    connection.send_data()
                except OSError:
                    pass
        for index, event in enumerate(events):
            if isinstance(event, kind):
                return events[index + 1 :]
        if protocol.handshake_exc is not None or not data:
            if protocol.handshake_exc is None:
                protocol.handshake_exc = InvalidHandshake("connection closed during handshake")
            return []


def client_extensions(
    compression: Optional[str], extensions: Optional[Sequence[ClientExtensionFactory]]
) -> Optional[List[ClientExtensionFactory]]:
    """Add permessage-deflate to ``extensions`` when ``compression="deflate"``."""
    if compression is None:
        return list(extensions) if extensions is not None else None
    if compression != "deflate":
        raise ValueError(f"unsupported compression: {compression}")
    from ..extensions.permessage_deflate import enable_client_permessage_deflate

    return enable_client_permessage_deflate(extensions)


def connect(
    uri: str,
    *,
    sock: Optional[socket.socket] = None,
    ssl: Union[ssl_module.SSLContext, bool, None] = None,
    server_hostname: Optional[str] = None,
    origin: Optional[str] = None,
    extensions: Optional[Sequence[ClientExtensionFactory]] = None,
    subprotocols: Optional[Sequence[str]] = None,
    compression: Optional[str] = None,
    additional_headers: Optional[HeadersLike] = None,
    user_agent_header: Optional[str] = USER_AGENT,
    proxy: Union[str, bool, None] = True,
    open_timeout: Optional[float] = 10,
    ping_interval: Optional[float] = 20,
    ping_timeout: Optional[float] = 20,
    close_timeout: Optional[float] = 10,
    max_size: Union[int, Tuple[Optional[int], Optional[int]], None] = 2**20,
    max_queue: Union[int, Tuple[Optional[int], Optional[int]], None] = 16,
    logger: Optional[Any] = None,
    create_connection: Optional[type] = None,
    sockopt: Sequence[Tuple[Any, ...]] = (),
    unix_path: Optional[str] = None,
) -> ClientConnection:
    """Connect to the WebSocket server at ``uri`` and return the connection.

    :param uri: ``ws://`` or ``wss://`` URI of the server.
    :param sock: an already connected socket to use instead of opening one.
    :param ssl: TLS context for ``wss://``; ``None`` or ``True`` use a default
        context that verifies the server's certificate.
    :param server_hostname: host name for TLS (SNI and certificate check);
        defaults to the host of ``uri``.
    :param origin: value of the ``Origin`` header.
    :param extensions: extension factories to offer.
    :param subprotocols: subprotocols to offer, in order of preference.
    :param compression: ``"deflate"`` to offer permessage-deflate, or ``None``.
    :param additional_headers: extra headers for the handshake request.
    :param user_agent_header: ``User-Agent`` header; ``None`` leaves it out.
    :param proxy: ``True`` uses the ``http_proxy`` / ``https_proxy``
        variables (except for hosts in ``no_proxy``), a URL such as
        ``"socks5h://proxy:1080"`` names a proxy, ``None`` connects directly.
    :param open_timeout: seconds allowed for connecting and the opening
        handshake; ``None`` waits forever.
    :param ping_interval: seconds between keepalive pings; ``None`` disables them.
    :param ping_timeout: seconds to wait for a keepalive pong; ``None`` waits forever.
    :param close_timeout: seconds allowed for the closing handshake.
    :param max_size: largest incoming message, in bytes; ``None`` for no limit.
    :param max_queue: high-water mark of the queue of received frames.
    :param logger: logger for the connection (``wirespeed.client`` by default).
    :param create_connection: a subclass of :class:`ClientConnection` to use.
    :param sockopt: ``setsockopt`` argument tuples applied to a new socket.
    :param unix_path: connect to this Unix socket instead (see :func:`unix_connect`).
    :raises InvalidURI: if ``uri`` isn't a valid WebSocket URI.
    :raises InvalidHandshake: if the server rejects the connection.
    :raises TimeoutError: if opening takes longer than ``open_timeout``.
    :raises OSError: if the TCP connection fails.
    """
    wsuri = parse_uri(uri)
    if not wsuri.secure and ssl not in (None, False):
        raise ValueError("ssl argument is incompatible with a ws:// URI")
    deadline = None if open_timeout is None else time.monotonic() + open_timeout

    def remaining() -> Optional[float]:
        return None if deadline is None else max(deadline - time.monotonic(), 0.001)

    if sock is None:
        if unix_path is not None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(remaining())
            try:
                sock.connect(unix_path)
            except BaseException:
                sock.close()
                raise
        else:
            proxy_info = None
            if proxy is True:
                proxy_info = get_proxy(wsuri.host, wsuri.secure)
            elif isinstance(proxy, str):
                proxy_info = parse_proxy_url(proxy)
            if proxy_info is not None:
                sock = connect_through(
                    proxy_info, wsuri.host, wsuri.port, timeout=remaining(), sockopt=sockopt
                )
            else:
                sock = open_tcp(wsuri.host, wsuri.port, timeout=remaining(), sockopt=sockopt)
    if wsuri.secure:
        context = ssl if isinstance(ssl, ssl_module.SSLContext) else None
        if context is None:
            context = ssl_module.create_default_context()
        sock = wrap_tls(sock, context, server_hostname or wsuri.host, remaining())
    protocol = ClientProtocol(
        wsuri,
        origin=origin,
        extensions=client_extensions(compression, extensions),
        subprotocols=subprotocols,
        max_size=max_size,
        logger=logger,
    )
    factory = create_connection or ClientConnection
    connection = factory(
        sock,
        protocol,
        ping_interval=ping_interval,
        ping_timeout=ping_timeout,
        close_timeout=close_timeout,
        max_queue=max_queue,
    )
    try:
        connection.handshake(additional_headers, user_agent_header, remaining())
    except BaseException:
        connection.close_socket()
        raise
    return connection


def unix_connect(
    path: Optional[str] = None, uri: Optional[str] = None, **kwargs: Any
) -> ClientConnection:
    """Connect to a WebSocket server listening on the Unix socket ``path``.

    ``uri`` defaults to ``ws://localhost/``, or ``wss://localhost/`` when an
    ``ssl`` context is given; it only sets the request's ``Host`` and target.
    Other arguments are those of :func:`connect`.
    """
    if uri is None:
        uri = "wss://localhost/" if kwargs.get("ssl") else "ws://localhost/"
    return connect(uri, unix_path=path, **kwargs)
