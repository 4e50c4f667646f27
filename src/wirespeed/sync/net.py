"""Sockets for the blocking faces: TCP, socket options, TLS, and reading.

:func:`open_tcp` resolves a host name and connects to the first address that
answers; :func:`ssl_context_from_options` turns websocket-client's ``sslopt``
dictionary into an :class:`ssl.SSLContext`, verified by default;
:func:`wrap_tls` runs the TLS handshake within a timeout.

:func:`reads_into` and :func:`receive_into` let a connection receive straight
into the protocol's receive buffer, and :func:`feed_received` hands those
bytes to the protocol: no intermediate :class:`bytes` object, no copy.
"""

from __future__ import annotations

import os
import socket
import ssl
from typing import Any, Dict, Optional, Sequence, Tuple

from .exceptions import WebSocketAddressException, WebSocketTimeoutException

__all__ = [
    "DEFAULT_SOCKET_OPTIONS",
    "apply_socket_options",
    "feed_received",
    "open_tcp",
    "reads_into",
    "receive_into",
    "ssl_context_from_options",
    "wrap_tls",
]

#: Options set on every client socket before the ones the caller passes:
#: small frames go out at once rather than after Nagle's delay.
DEFAULT_SOCKET_OPTIONS: Tuple[Tuple[int, int, int], ...] = (
    (socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),
)


def apply_socket_options(sock: socket.socket, sockopt: Sequence[Tuple[Any, ...]]) -> None:
    """Call :meth:`socket.socket.setsockopt` with each tuple of ``sockopt``."""
    for option in sockopt:
        sock.setsockopt(*option)


def open_tcp(
    host: str,
    port: int,
    *,
    timeout: Optional[float] = None,
    sockopt: Sequence[Tuple[Any, ...]] = (),
    source_address: Optional[Tuple[str, int]] = None,
) -> socket.socket:
    """Connect to ``host:port`` over TCP, trying every address it resolves to.

    ``sockopt`` is applied before connecting, after :data:`DEFAULT_SOCKET_OPTIONS`.

    :raises WebSocketAddressException: if the name can't be resolved.
    :raises WebSocketTimeoutException: if connecting times out.
    :raises OSError: if every address refuses the connection.
    """
    try:
        addresses = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise WebSocketAddressException(f"{exc}: {host}:{port}") from exc
    error: Optional[BaseException] = None
    for family, kind, proto, _, address in addresses:
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(timeout)
            apply_socket_options(sock, DEFAULT_SOCKET_OPTIONS)
            apply_socket_options(sock, sockopt)
            if source_address is not None:
                sock.bind(source_address)
            sock.connect(address)
        except socket.timeout as exc:
            sock.close()
            error = WebSocketTimeoutException(f"timed out connecting to {host}:{port}")
            error.__cause__ = exc
        except OSError as exc:
            sock.close()
            error = exc
        else:
            return sock
    assert error is not None
    raise error


def ssl_context_from_options(sslopt: Optional[Dict[str, Any]]) -> ssl.SSLContext:
    """Build a client TLS context from websocket-client's ``sslopt`` keys.

    ``context`` is used as is. Otherwise the context verifies certificates and
    host names unless ``cert_reqs`` is :data:`ssl.CERT_NONE` or
    ``check_hostname`` is false; ``ca_certs`` / ``ca_cert_path`` (or the
    ``WEBSOCKET_CLIENT_CA_BUNDLE`` variable) replace the system's CAs;
    ``certfile``, ``keyfile`` and ``password`` give a client certificate;
    ``ciphers``, ``ecdh_curve`` and ``ssl_version`` (a protocol constant) are
    applied when present.
    """
    options = dict(sslopt or {})
    context = options.get("context")
    if context is not None:
        return context
    protocol = options.get("ssl_version", ssl.PROTOCOL_TLS_CLIENT)
    if protocol == getattr(ssl, "PROTOCOL_TLS", None):
        protocol = ssl.PROTOCOL_TLS_CLIENT
    context = ssl.SSLContext(protocol)
    cert_reqs = options.get("cert_reqs", ssl.CERT_REQUIRED)
    check_hostname = options.get("check_hostname", cert_reqs != ssl.CERT_NONE)
    context.check_hostname = bool(check_hostname) and cert_reqs != ssl.CERT_NONE
    context.verify_mode = cert_reqs
    if cert_reqs != ssl.CERT_NONE:
        ca_certs = options.get("ca_certs")
        ca_cert_path = options.get("ca_cert_path")
        bundle = os.environ.get("WEBSOCKET_CLIENT_CA_BUNDLE")
        if ca_certs or ca_cert_path:
            context.load_verify_locations(cafile=ca_certs, capath=ca_cert_path)
        elif bundle:
            if os.path.isdir(bundle):
                context.load_verify_locations(capath=bundle)
            else:
                context.load_verify_locations(cafile=bundle)
        else:
            context.load_default_certs(ssl.Purpose.SERVER_AUTH)
    if options.get("certfile"):
        context.load_cert_chain(
            options["certfile"], options.get("keyfile"), options.get("password")
        )
    if options.get("ciphers"):
        context.set_ciphers(options["ciphers"])
    if options.get("ecdh_curve"):
        context.set_ecdh_curve(options["ecdh_curve"])
    return context


def wrap_tls(
    sock: socket.socket,
    context: ssl.SSLContext,
    server_hostname: Optional[str],
    timeout: Optional[float] = None,
) -> ssl.SSLSocket:
    """Run the TLS handshake on ``sock`` within ``timeout`` seconds.

    :raises WebSocketTimeoutException: if the handshake times out.
    :raises ssl.SSLError: if it fails, for example on an untrusted certificate.
    """
    previous = sock.gettimeout()
    sock.settimeout(timeout)
    try:
        tls = context.wrap_socket(sock, server_hostname=server_hostname)
    except socket.timeout as exc:
        sock.close()
        raise WebSocketTimeoutException("timed out during the TLS handshake") from exc
    except BaseException:
        sock.close()
        raise
    tls.settimeout(previous)
    return tls


# recv and recv_into of the socket classes whose recv_into reads exactly what
# recv would have returned.
_DIRECT_READS = (
    (socket.socket.recv, socket.socket.recv_into),
    (ssl.SSLSocket.recv, ssl.SSLSocket.recv_into),
)


def reads_into(sock: Any) -> bool:
    """Whether ``sock`` may be read with ``recv_into`` instead of ``recv``.

    True for plain and TLS sockets, and for their subclasses unless they
    override ``recv`` or ``recv_into``: a wrapper that replaces ``recv`` (to
    record or transform what is read) keeps seeing every read.
    """
    cls = type(sock)
    methods = (getattr(cls, "recv", None), getattr(cls, "recv_into", None))
    return methods in _DIRECT_READS


def receive_into(sock: Any, protocol: Any, lock: Any) -> int:
    """Read ``sock`` once, into the free space of ``protocol``'s receive buffer.

    Blocks like ``sock.recv`` (and raises what it raises); returns the number
    of bytes read, 0 at EOF. Pass them to :func:`feed_received`. ``lock`` is
    the lock that guards the protocol: it is held while the space is
    reserved, not during the read.
    """
    with lock:
        view = protocol.reader.get_buffer()
    return sock.recv_into(view)  # type: ignore[no-any-return]


def feed_received(protocol: Any, nbytes: int) -> None:
    """Give ``protocol`` the ``nbytes`` that :func:`receive_into` read.

    The equivalent of ``protocol.receive_data(data)`` for bytes already in
    the protocol's receive buffer (call it with the protocol's lock held, on
    an OPEN or CLOSING connection): a pending failure applies first, a
    discarding protocol ignores them, and the frames they complete become
    events.

    :raises EOFError: if the protocol already received EOF.
    """
    if protocol.eof_received:
        raise EOFError("stream ended")
    if protocol.pending_failure is not None:
        protocol.apply_pending_failure()
    if protocol.discarding:
        return
    protocol.complete_message_queued = False
    protocol.reader.buffer_updated(nbytes)
    protocol.parse_frames()
