"""The asyncio face's client: :func:`connect` and :func:`unix_connect`.

:func:`connect` opens a connection with the listener face's machinery (the
opening handshake runs in the listener face's protocol; once it succeeds the
connection switches to the compiled hot path) and returns a
:class:`ClientConnection`. It is used in three ways::

    websocket = await connect("ws://localhost:8765")          # close it yourself

    async with connect("ws://localhost:8765") as websocket:   # closed on exit
        ...

    async for websocket in connect("ws://localhost:8765"):    # reconnects
        try:
            ...
        except ConnectionClosed:
            continue

With ``async for``, a connection attempt that fails with an error that may heal
(network errors, timeouts, a 5xx answer) is retried after a delay that grows
exponentially, with random jitter; errors that will not heal (4xx answers, a
bad URI, a TLS failure) are raised. A connection that the server closes with
1012 (service restart) or 1013 (try again later) is reopened after a delay too.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import random
import socket
import ssl as ssl_module
import sys
import urllib.parse
from types import TracebackType
from typing import (
    Any,
    AsyncIterator,
    Callable,
    Generator,
    Iterator,
    Optional,
    Sequence,
    Type,
    Union,
)

from .._core.transport import WSAutoPingStrategy
from ..exceptions import InvalidHandshake, InvalidMessage, InvalidStatus, InvalidURI, ProxyError
from ..extensions.permessage_deflate import client_extension_factories
from ..http import Headers
from ..listener import _ClientConnection, _redirect_location
from ..sansio import ClientProtocol
from ..uri import WebSocketURI, parse_uri
from .connection import Connection, Limit

__all__ = [
    "ClientConnection",
    "ProxyError",
    "connect",
    "process_exception",
    "unix_connect",
]

#: Value of the ``User-Agent`` header sent by default.
USER_AGENT = "Python/{}.{} wirespeed".format(*sys.version_info[:2])

#: Redirects followed by :func:`connect`.
MAX_REDIRECTS = int(os.environ.get("WIRESPEED_MAX_REDIRECTS", "10"))

#: Reconnection delays of ``async for websocket in connect(...)``, in seconds:
#: the first is random in [0, initial]; then from ``min`` the delay grows by
#: ``factor`` up to ``max``, each one drawn at random in [delay / 2, delay].
BACKOFF_INITIAL_DELAY = float(os.environ.get("WIRESPEED_BACKOFF_INITIAL_DELAY", "5"))
BACKOFF_MIN_DELAY = float(os.environ.get("WIRESPEED_BACKOFF_MIN_DELAY", "3.1"))
BACKOFF_MAX_DELAY = float(os.environ.get("WIRESPEED_BACKOFF_MAX_DELAY", "90.0"))
BACKOFF_FACTOR = float(os.environ.get("WIRESPEED_BACKOFF_FACTOR", "1.618"))

#: Close codes after which ``async for`` waits before reconnecting.
RETRY_CLOSE_CODES = frozenset({1012, 1013})

HeadersLike = Any


class ClientConnection(Connection):
    """A client's WebSocket connection (see :class:`~wirespeed.asyncio.Connection`)."""


def process_exception(exc: Exception) -> Optional[Exception]:
    """Decide whether ``async for ... in connect(...)`` retries after ``exc``.

    Return None to retry, or the exception to raise. Retried: network errors
    (``OSError``), timeouts, invalid HTTP answers and 5xx statuses. Raised:
    TLS failures, 4xx statuses, bad URIs, everything else. Pass your own
    function as ``process_exception`` to change the policy.
    """
    if isinstance(exc, ssl_module.SSLError):
        return exc
    if isinstance(exc, (OSError, asyncio.TimeoutError, InvalidMessage)):
        return None
    if isinstance(exc, InvalidStatus) and 500 <= exc.response.status_code < 600:
        return None
    return exc


def backoff_delays() -> Iterator[float]:
    """Yield reconnection delays: exponential backoff with jitter."""
    yield random.random() * BACKOFF_INITIAL_DELAY
    delay = BACKOFF_MIN_DELAY
    while True:
        yield random.uniform(delay / 2, delay)
        delay = min(delay * BACKOFF_FACTOR, BACKOFF_MAX_DELAY)


class connect:
    """Open a WebSocket connection to ``uri``.

    Await it, use it as an asynchronous context manager, or iterate over it to
    reconnect automatically (see the module's documentation).

    :param uri: ``ws://`` or ``wss://`` URI of the server.
    :param origin: value of the ``Origin`` header.
    :param extensions: extension factories to offer.
    :param subprotocols: subprotocols to offer, in order of preference.
    :param additional_headers: more headers for the handshake request
        (``extra_headers`` is accepted as an alias).
    :param user_agent_header: value of the ``User-Agent`` header; None omits it.
    :param compression: ``"deflate"`` (the default, as in websockets) offers
        permessage-deflate with the defaults of
        :func:`~wirespeed.extensions.enable_client_permessage_deflate`;
        ``None`` disables compression. To configure it, pass a
        :class:`~wirespeed.extensions.ClientPerMessageDeflateFactory` in
        ``extensions``: it is used instead of the default one.
        Compressors are created by the first compressed message, and freed
        when a keepalive ping (``ping_interval``) finds that nothing was
        compressed since the previous one: an idle connection keeps only its
        decompressor. ``send(..., compress=False)`` sends one message
        uncompressed.
    :param proxy: ``True`` uses the ``https_proxy``/``http_proxy`` environment
        variables (honouring ``no_proxy``); a URL such as
        ``http://user:pass@proxy:3128`` or ``socks5h://proxy:1080`` uses that
        proxy; ``None`` connects directly. SOCKS needs ``python-socks``.
    :param process_exception: retry policy of ``async for`` (see
        :func:`process_exception`).
    :param open_timeout: seconds to connect and complete the opening
        handshake; None disables the timeout.
    :param ping_interval: seconds between keepalive pings; None disables them.
    :param ping_timeout: seconds to wait for a keepalive pong before closing
        with 1011; None disables the timeout.
    :param close_timeout: seconds the closing handshake may take.
    :param max_size: largest incoming message, in bytes (1009 beyond); None
        disables the limit.
    :param max_queue: high-water mark of the receive queue, in frames, or
        ``(high, low)``; reading stops while the queue is full.
    :param read_limit: the most bytes one read brings in ahead of the parser,
        beyond the rest of the frame being received.
    :param write_limit: high-water mark of the write buffer, in bytes, or
        ``(high, low)``; :meth:`~Connection.send` waits while it is exceeded.
    :param logger: logger for the connection; defaults to
        ``logging.getLogger("wirespeed.client")``.
    :param create_connection: factory of the connection, a
        :class:`ClientConnection` subclass or a :func:`functools.partial` of
        one; called with keyword arguments (``create_protocol`` is an alias).
    :param kwargs: passed to :meth:`asyncio.loop.create_connection`: ``ssl``
        (an :class:`ssl.SSLContext`; TLS is verified by default), ``sock``,
        ``host`` and ``port`` (to connect elsewhere than the URI says),
        ``server_hostname``, ``local_addr``...
    :raises InvalidURI: if ``uri`` isn't a valid WebSocket URI.
    :raises InvalidHandshake: if the opening handshake fails
        (:class:`~wirespeed.exceptions.InvalidStatus` for a non-101 answer).
    :raises OSError: if the TCP connection fails.
    :raises TimeoutError: if the opening handshake times out.
    """

    def __init__(
        self,
        uri: str,
        *,
        origin: Optional[str] = None,
        extensions: Optional[Sequence[Any]] = None,
        subprotocols: Optional[Sequence[str]] = None,
        additional_headers: HeadersLike = None,
        user_agent_header: Optional[str] = USER_AGENT,
        compression: Optional[str] = "deflate",
        proxy: Union[str, bool, None] = True,
        process_exception: Callable[[Exception], Optional[Exception]] = process_exception,
        open_timeout: Optional[float] = 10,
        ping_interval: Optional[float] = 20,
        ping_timeout: Optional[float] = 20,
        close_timeout: Optional[float] = 10,
        max_size: Optional[int] = 2**20,
        max_queue: Limit = 2**5,
        read_limit: int = 2**16,
        write_limit: Limit = 2**16,
        logger: Any = None,
        create_connection: Optional[Callable[..., Connection]] = None,
        create_protocol: Optional[Callable[..., Connection]] = None,
        extra_headers: HeadersLike = None,
        **kwargs: Any,
    ) -> None:
        self.uri = uri
        self.origin = origin
        self.extensions = client_extension_factories(compression, extensions)
        self.subprotocols = subprotocols
        self.additional_headers = additional_headers if extra_headers is None else extra_headers
        self.user_agent_header = user_agent_header
        self.proxy = proxy
        self.process_exception = process_exception
        self.open_timeout = open_timeout
        self.close_timeout = close_timeout
        self.max_size = max_size
        self.read_limit = read_limit
        if logger is None:
            logger = logging.getLogger("wirespeed.client")
        self.logger = logger
        factory = create_connection or create_protocol or ClientConnection
        self.connection_options = dict(
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            close_timeout=close_timeout,
            max_queue=max_queue,
            read_limit=read_limit,
            write_limit=write_limit,
            logger=logger,
        )
        self.create_connection = factory
        self.unix_path: Optional[str] = kwargs.pop("unix_path", None)
        self.kwargs = kwargs
        self.connection: Optional[Connection] = None

    # Opening

    async def create(self) -> Connection:
        """Connect, following redirects; return the open connection."""
        url = self.uri
        redirects = 0
        while True:
            uri = parse_uri(url)
            try:
                return await self.open_once(uri)
            except InvalidStatus as exc:
                location = _redirect_location(exc, uri, url)
                if location is None:
                    raise
                redirects += 1
                if redirects > MAX_REDIRECTS:
                    raise InvalidHandshake(f"more than {MAX_REDIRECTS} redirects") from exc
                self.logger.info("redirected to %s", location)
                url = location

    async def open_once(self, uri: WebSocketURI) -> Connection:
        """Open a TCP (or TLS, or unix) connection and run the opening handshake."""
        loop = asyncio.get_running_loop()
        sansio = ClientProtocol(
            uri,
            origin=self.origin,
            extensions=self.extensions,
            subprotocols=self.subprotocols,
            max_size=self.max_size,
            logger=self.logger,
        )
        headers = Headers()
        if self.user_agent_header is not None:
            headers["User-Agent"] = self.user_agent_header
        if self.additional_headers:
            for name, value in Headers(self.additional_headers).raw_items():
                headers[name] = value
        big = 1e9
        options = dict(
            sansio=sansio,
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
        connection_options = self.connection_options
        create_connection = self.create_connection

        def make_listener() -> Connection:
            return create_connection(**connection_options)

        def make_protocol() -> _ClientConnection:
            return _ClientConnection(make_listener, headers, **options)

        kwargs = dict(self.kwargs)
        if uri.secure:
            kwargs.setdefault("ssl", True)
            if kwargs["ssl"] is True:
                kwargs["ssl"] = ssl_module.create_default_context()
            kwargs.setdefault("server_hostname", uri.host)
        elif kwargs.get("ssl") is not None:
            raise ValueError("connect() received a ssl argument for a ws:// URI, use a wss:// URI")
        else:
            kwargs.pop("ssl", None)

        async def open_and_handshake() -> Connection:
            if self.unix_path is not None:
                _, protocol = await loop.create_unix_connection(
                    make_protocol, self.unix_path, **kwargs
                )
            elif "sock" in kwargs:
                _, protocol = await loop.create_connection(make_protocol, **kwargs)
            else:
                host = kwargs.pop("host", uri.host)
                port = kwargs.pop("port", uri.port)
                proxy_url = self.proxy_url(uri)
                if proxy_url is not None:
                    kwargs["sock"] = await open_tunnel(proxy_url, uri.host, uri.port)
                    _, protocol = await loop.create_connection(make_protocol, **kwargs)
                else:
                    _, protocol = await loop.create_connection(make_protocol, host, port, **kwargs)
            try:
                _, listener = await protocol.done
            except BaseException:
                if protocol.underlying is not None:
                    protocol.underlying.abort()
                raise
            return listener  # type: ignore[no-any-return]

        if self.open_timeout is None:
            return await open_and_handshake()
        try:
            return await asyncio.wait_for(open_and_handshake(), self.open_timeout)
        except asyncio.TimeoutError:
            raise asyncio.TimeoutError("timed out during opening handshake") from None

    def proxy_url(self, uri: WebSocketURI) -> Optional[str]:
        """The proxy to go through for ``uri``, as a URL; None for a direct connection."""
        proxy = self.proxy
        if proxy is None or proxy is False:
            return None
        if proxy is True:
            return proxy_from_environment(uri)
        return str(proxy)

    # The three ways of using connect

    def __await__(self) -> Generator[Any, None, Connection]:
        return self.create().__await__()

    async def __aenter__(self) -> Connection:
        self.connection = await self.create()
        return self.connection

    async def __aexit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc_value: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        assert self.connection is not None
        await self.connection.close()

    async def __aiter__(self) -> AsyncIterator[Connection]:
        delays: Optional[Iterator[float]] = None
        while True:
            try:
                connection = await self.create()
            except Exception as exc:
                to_raise = self.process_exception(exc)
                if to_raise is exc:
                    raise
                if to_raise is not None:
                    raise to_raise from exc
                if delays is None:
                    delays = backoff_delays()
                delay = next(delays)
                self.logger.info("connection failed; reconnecting in %.1f seconds: %s", delay, exc)
                await asyncio.sleep(delay)
                continue
            try:
                yield connection
            finally:
                await connection.close()
            if connection.close_code in RETRY_CLOSE_CODES:
                if delays is None:
                    delays = backoff_delays()
                delay = next(delays)
                self.logger.info(
                    "server closed with %d; reconnecting in %.1f seconds",
                    connection.close_code,
                    delay,
                )
                await asyncio.sleep(delay)
            else:
                delays = None


def unix_connect(path: Optional[str] = None, uri: Optional[str] = None, **kwargs: Any) -> connect:
    """Open a WebSocket connection over the unix socket at ``path``.

    Takes the arguments of :func:`connect`; ``uri`` defaults to
    ``ws://localhost/`` (``wss://localhost/`` when ``ssl`` is given) and only
    fills the ``Host`` header and the request path.
    """
    if uri is None:
        uri = "wss://localhost/" if kwargs.get("ssl") else "ws://localhost/"
    return connect(uri=uri, unix_path=path, **kwargs)


# Proxies


def proxy_from_environment(uri: WebSocketURI) -> Optional[str]:
    """The proxy URL that ``https_proxy``/``http_proxy`` give for ``uri``, or None.

    ``no_proxy`` (or ``NO_PROXY``) lists hosts reached directly.
    """
    names = ("https_proxy", "HTTPS_PROXY") if uri.secure else ("http_proxy", "HTTP_PROXY")
    value = None
    for name in names:
        value = os.environ.get(name)
        if value:
            break
    if not value:
        return None
    try:
        from ..sync.proxy import is_no_proxy_host
    except ImportError:  # pragma: no cover - the sync face is part of wirespeed
        return value
    if is_no_proxy_host(uri.host, None):
        return None
    return value


async def open_tunnel(proxy_url: str, host: str, port: int) -> socket.socket:
    """Open a tunnel to ``host:port`` through the proxy at ``proxy_url``; return its socket."""
    if "://" not in proxy_url:
        proxy_url = "http://" + proxy_url
    parts = urllib.parse.urlsplit(proxy_url)
    scheme = parts.scheme.lower()
    if scheme.startswith("socks"):
        return await open_socks_tunnel(proxy_url, host, port)
    if scheme != "http":
        raise InvalidURI(proxy_url, f"unsupported proxy scheme {scheme}")
    if not parts.hostname:
        raise InvalidURI(proxy_url, "missing proxy host")
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(parts.hostname, parts.port or 80, type=socket.SOCK_STREAM)
    family, type_, proto, _, address = infos[0]
    sock = socket.socket(family, type_, proto)
    sock.setblocking(False)
    try:
        await loop.sock_connect(sock, address)
        target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        lines = [f"CONNECT {target} HTTP/1.1", f"Host: {target}"]
        if parts.username is not None:
            credentials = "{}:{}".format(
                urllib.parse.unquote(parts.username), urllib.parse.unquote(parts.password or "")
            )
            token = base64.b64encode(credentials.encode()).decode("ascii")
            lines.append(f"Proxy-Authorization: Basic {token}")
        await loop.sock_sendall(sock, ("\r\n".join(lines) + "\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            # The server speaks only after the client: nothing follows the head.
            chunk = await loop.sock_recv(sock, 4096)
            if not chunk:
                raise ProxyError("the proxy closed the connection")
            head += chunk
            if len(head) > 65536:
                raise ProxyError("the proxy's answer is too long")
        status_line = head.split(b"\r\n", 1)[0].decode("latin-1")
        fields = status_line.split(" ", 2)
        try:
            status = int(fields[1])
        except (IndexError, ValueError):
            raise ProxyError(f"invalid proxy response: {status_line!r}") from None
        if not 200 <= status < 300:
            raise ProxyError(f"proxy rejected the tunnel: HTTP {status}")
    except BaseException:
        sock.close()
        raise
    return sock


async def open_socks_tunnel(proxy_url: str, host: str, port: int) -> socket.socket:
    """Open a tunnel through a SOCKS4/4a/5/5h proxy with ``python-socks``."""
    try:
        from python_socks import ProxyError as SocksError
        from python_socks.async_.asyncio import Proxy
    except ImportError:
        raise ImportError(
            "SOCKS proxies need the python-socks package: pip install python-socks"
        ) from None
    # python-socks knows socks4 and socks5; the "a"/"h" variants resolve
    # the host name on the proxy.
    scheme, _, rest = proxy_url.partition("://")
    scheme = scheme.lower()
    rdns = scheme in ("socks4a", "socks5h")
    base = scheme.rstrip("ah") if scheme in ("socks4a", "socks5h") else scheme
    proxy = Proxy.from_url(f"{base}://{rest}", rdns=rdns)
    try:
        return await proxy.connect(host, port)  # type: ignore[no-any-return]
    except SocksError as exc:
        raise ProxyError(f"SOCKS proxy failed: {exc}") from exc
