"""Proxies for the blocking client: HTTP CONNECT, SOCKS4/4a/5/5h, and ``no_proxy``.

:func:`get_proxy` decides whether a connection goes through a proxy: an
explicit proxy host wins, else the ``http_proxy`` / ``https_proxy``
environment variables (lower or upper case) apply, and ``no_proxy`` (an
argument, else the ``no_proxy`` / ``NO_PROXY`` variable, else ``localhost``
and ``127.0.0.1``) lists the hosts reached directly. :func:`connect_through`
then opens the tunnel.

HTTP CONNECT is built in. SOCKS needs the optional ``python-socks`` package
(``pip install wirespeed[socks]``); ``socks4a`` and ``socks5h`` let the proxy
resolve the host name.
"""

from __future__ import annotations

import base64
import dataclasses
import ipaddress
import os
import socket
import urllib.parse
from typing import Any, Iterable, List, Optional, Sequence, Tuple

from .exceptions import (
    WebSocketAddressException,
    WebSocketProxyException,
    WebSocketTimeoutException,
)

__all__ = [
    "DEFAULT_NO_PROXY_HOSTS",
    "PROXY_TYPES",
    "Proxy",
    "connect_through",
    "get_proxy",
    "is_no_proxy_host",
]

#: Hosts reached directly when neither ``no_proxy`` nor its variables are set.
DEFAULT_NO_PROXY_HOSTS = ("localhost", "127.0.0.1")

#: The values of ``proxy_type``.
PROXY_TYPES = ("http", "socks4", "socks4a", "socks5", "socks5h")

#: Largest proxy response header block read before giving up.
MAX_PROXY_RESPONSE = 64 * 1024


@dataclasses.dataclass(frozen=True)
class Proxy:
    """A proxy to go through: type, address, and optional credentials."""

    type: str
    host: str
    port: int
    auth: Optional[Tuple[str, str]] = None
    timeout: Optional[float] = None


def is_no_proxy_host(hostname: str, no_proxy: Optional[Iterable[str]]) -> bool:
    """Tell whether ``hostname`` must be reached without a proxy.

    Entries of ``no_proxy`` match a host name exactly or as a domain suffix
    (``example.com`` and ``.example.com`` both match ``ws.example.com``), an IP
    address exactly or by network (``10.0.0.0/8``); ``*`` matches everything.
    """
    entries: List[str]
    if no_proxy:
        entries = [entry.strip() for entry in no_proxy if entry.strip()]
    else:
        value = os.environ.get("no_proxy", os.environ.get("NO_PROXY", ""))
        entries = [entry.strip() for entry in value.split(",") if entry.strip()]
    if not entries:
        entries = list(DEFAULT_NO_PROXY_HOSTS)
    hostname = hostname.lower().strip("[]")
    try:
        address: Optional[Any] = ipaddress.ip_address(hostname)
    except ValueError:
        address = None
    for entry in entries:
        entry = entry.lower()
        if entry == "*" or entry.strip("[]") == hostname:
            return True
        if address is not None and "/" in entry:
            try:
                if address in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                continue
        elif address is None:
            suffix = entry if entry.startswith(".") else "." + entry
            if hostname.endswith(suffix):
                return True
    return False


def get_proxy(
    hostname: str,
    secure: bool,
    *,
    proxy_host: Optional[str] = None,
    proxy_port: Optional[Any] = None,
    proxy_auth: Optional[Tuple[str, str]] = None,
    no_proxy: Optional[Sequence[str]] = None,
    proxy_type: Optional[str] = None,
    proxy_timeout: Optional[float] = None,
) -> Optional[Proxy]:
    """Return the proxy to use for ``hostname``, or ``None`` for a direct connection.

    ``proxy_port`` defaults to 80. Without ``proxy_host``, the variable
    ``https_proxy`` (for ``wss``) or ``http_proxy`` (for ``ws``) gives a proxy
    URL such as ``http://user:password@proxy:3128`` or ``socks5h://proxy:1080``.

    :raises WebSocketProxyException: if ``proxy_type`` is unknown.
    """
    if proxy_type is not None and proxy_type not in PROXY_TYPES:
        raise WebSocketProxyException(
            f"Proxy type must be one of {', '.join(PROXY_TYPES)}, not {proxy_type!r}"
        )
    if is_no_proxy_host(hostname, no_proxy):
        return None
    if proxy_host:
        return Proxy(
            proxy_type or "http",
            proxy_host,
            int(proxy_port) if proxy_port else 80,
            tuple(proxy_auth) if proxy_auth else None,  # type: ignore[arg-type]
            proxy_timeout,
        )
    names = ("https_proxy", "HTTPS_PROXY") if secure else ("http_proxy", "HTTP_PROXY")
    for name in names:
        value = os.environ.get(name)
        if value:
            return parse_proxy_url(value, proxy_timeout)
    return None


def parse_proxy_url(url: str, timeout: Optional[float] = None) -> Proxy:
    """Parse a proxy URL from an environment variable."""
    if "://" not in url:
        url = "http://" + url
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "https":
        scheme = "http"
    if scheme not in PROXY_TYPES or not parts.hostname:
        raise WebSocketProxyException(f"invalid proxy URL: {url}")
    auth = None
    if parts.username is not None:
        auth = (
            urllib.parse.unquote(parts.username),
            urllib.parse.unquote(parts.password or ""),
        )
    default_port = 1080 if scheme.startswith("socks") else 80
    return Proxy(scheme, parts.hostname, parts.port or default_port, auth, timeout)


def connect_through(
    proxy: Proxy,
    host: str,
    port: int,
    *,
    timeout: Optional[float] = None,
    sockopt: Sequence[Tuple[Any, ...]] = (),
) -> socket.socket:
    """Open a tunnel to ``host:port`` through ``proxy``; return the socket.

    :raises WebSocketProxyException: if the proxy refuses the tunnel.
    :raises WebSocketAddressException: if the proxy's name can't be resolved.
    :raises WebSocketTimeoutException: if the proxy doesn't answer in time.
    """
    proxy_timeout = proxy.timeout if proxy.timeout is not None else timeout
    if proxy.type == "http":
        from .net import open_tcp

        sock = open_tcp(proxy.host, proxy.port, timeout=proxy_timeout, sockopt=sockopt)
        try:
            http_connect(sock, host, port, proxy.auth)
        except BaseException:
            sock.close()
            raise
        return sock
    return socks_connect(proxy, host, port, proxy_timeout, sockopt)


def http_connect(
    sock: socket.socket, host: str, port: int, auth: Optional[Tuple[str, str]]
) -> None:
    """Ask an HTTP proxy to open a tunnel with ``CONNECT host:port``."""
    target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    lines = [f"CONNECT {target} HTTP/1.1", f"Host: {target}"]
    if auth:
        credentials = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode("ascii")
        lines.append(f"Proxy-Authorization: Basic {credentials}")
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()
    try:
        sock.sendall(request)
        head = read_response_head(sock)
    except socket.timeout as exc:
        raise WebSocketTimeoutException("timed out waiting for the proxy") from exc
    except OSError as exc:
        raise WebSocketProxyException(f"failed CONNECT via proxy: {exc}") from exc
    status_line = head.split(b"\r\n", 1)[0].decode("latin-1")
    parts = status_line.split(" ", 2)
    try:
        status = int(parts[1])
    except (IndexError, ValueError):
        raise WebSocketProxyException(f"invalid proxy response: {status_line!r}") from None
    if status != 200:
        raise WebSocketProxyException(f"failed CONNECT via proxy status: {status}")


def read_response_head(sock: socket.socket) -> bytes:
    """Read a response up to its blank line, without consuming what follows."""
    data = b""
    while True:
        chunk = sock.recv(4096, socket.MSG_PEEK)
        if not chunk:
            raise WebSocketProxyException("proxy closed the connection")
        end = (data + chunk).find(b"\r\n\r\n")
        if end >= 0:
            take = end + 4 - len(data)
            data += _recv_exactly(sock, take)
            return data
        data += _recv_exactly(sock, len(chunk))
        if len(data) > MAX_PROXY_RESPONSE:
            raise WebSocketProxyException("proxy response too long")


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    chunks = []
    while size > 0:
        chunk = sock.recv(size)
        if not chunk:
            raise WebSocketProxyException("proxy closed the connection")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def socks_connect(
    proxy: Proxy,
    host: str,
    port: int,
    timeout: Optional[float],
    sockopt: Sequence[Tuple[Any, ...]] = (),
) -> socket.socket:
    """Open a tunnel through a SOCKS proxy with python-socks."""
    try:
        from python_socks import ProxyError, ProxyTimeoutError, ProxyType
        from python_socks.sync import Proxy as SocksProxy
    except ImportError:
        raise WebSocketProxyException(
            "SOCKS proxies need the python-socks package: pip install python-socks"
        ) from None
    proxy_types = {
        "socks4": (ProxyType.SOCKS4, False),
        "socks4a": (ProxyType.SOCKS4, True),
        "socks5": (ProxyType.SOCKS5, False),
        "socks5h": (ProxyType.SOCKS5, True),
    }
    proxy_type, rdns = proxy_types[proxy.type]
    username, password = proxy.auth if proxy.auth else (None, None)
    socks = SocksProxy.create(
        proxy_type, proxy.host, proxy.port, username=username, password=password, rdns=rdns
    )
    try:
        sock = socks.connect(host, port, timeout=timeout)
    except ProxyTimeoutError as exc:
        raise WebSocketTimeoutException(str(exc)) from exc
    except ProxyError as exc:
        raise WebSocketProxyException(str(exc)) from exc
    except socket.gaierror as exc:
        raise WebSocketAddressException(str(exc)) from exc
    except OSError as exc:
        raise WebSocketProxyException(f"cannot connect to the SOCKS proxy: {exc}") from exc
    for option in sockopt:
        sock.setsockopt(*option)
    return sock
