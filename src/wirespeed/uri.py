"""WebSocket URIs: the ``ws://`` and ``wss://`` schemes of RFC 6455, section 3.

:func:`parse_uri` turns a URI into a :class:`WebSocketURI` that holds what the
opening handshake needs: where to connect, whether to use TLS, the request
target and the credentials for HTTP Basic authentication, if any.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
import urllib.parse
from typing import Optional

from .exceptions import InvalidURI

__all__ = ["WebSocketURI", "parse_uri"]

# RFC 3986, section 3.2.2: reg-name = *( unreserved / pct-encoded / sub-delims ).
# Percent-escapes are decoded before checking.
_REG_NAME = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=]+")

# Characters left as they are in the path and the query: RFC 3986 pchar, "/"
# and "?", plus "%" so that existing percent-escapes survive. The unreserved
# characters are always kept by urllib.parse.quote.
_PATH_SAFE = "/:@!$&'()*+,;=%"
_QUERY_SAFE = _PATH_SAFE + "?"

_DIGITS = re.compile(r"[0-9]+")


@dataclasses.dataclass(frozen=True)
class WebSocketURI:
    """A parsed WebSocket URI.

    ``host`` is ASCII and lower-cased: IDNA-encoded for an internationalized
    name; without brackets for an IPv6 literal, whose zone identifier, if any,
    follows a plain ``%`` as :func:`socket.getaddrinfo` expects it. ``path``
    and ``query`` are percent-encoded ASCII; ``path`` may be empty.
    ``username`` and ``password`` are percent-decoded; they are both ``None``
    or both strings.
    """

    secure: bool
    host: str
    port: int
    path: str
    query: str
    username: Optional[str] = None
    password: Optional[str] = None

    @property
    def resource_name(self) -> str:
        """The request target of the handshake: path and query, ``/`` at least."""
        resource = self.path or "/"
        if self.query:
            resource += "?" + self.query
        return resource

    @property
    def user_info(self) -> Optional[tuple[str, str]]:
        """``(username, password)`` when the URI holds credentials, else ``None``."""
        if self.username is None or self.password is None:
            return None
        return (self.username, self.password)


def parse_uri(uri: str) -> WebSocketURI:
    """Parse and check a ``ws://`` or ``wss://`` URI.

    The default port is 80 for ``ws`` and 443 for ``wss``. Non-ASCII host names
    are IDNA-encoded. Characters of the path and the query that a URI can't
    hold as they are, non-ASCII ones included, are percent-encoded as UTF-8;
    existing percent-escapes are kept.

    Raises :exc:`~wirespeed.exceptions.InvalidURI` when the scheme isn't ``ws``
    or ``wss``, the host is missing or invalid, the port is invalid, the URI
    has a fragment, or its user information isn't of the form
    ``username:password``.
    """
    try:
        parts = urllib.parse.urlsplit(uri)
    except ValueError as exc:
        raise InvalidURI(uri, str(exc)) from None
    scheme = parts.scheme.lower()
    if scheme not in ("ws", "wss"):
        raise InvalidURI(uri, "scheme isn't ws or wss")
    if "#" in uri:
        raise InvalidURI(uri, "fragment identifier is meaningless")
    secure = scheme == "wss"

    username, password = parts.username, parts.password
    if (username is None) != (password is None):
        raise InvalidURI(uri, "user information must be username:password")
    if username is not None and password is not None:
        username = urllib.parse.unquote(username)
        password = urllib.parse.unquote(password)

    host, port = _split_host_port(uri, parts.netloc.rpartition("@")[2])
    return WebSocketURI(
        secure=secure,
        host=host,
        port=_parse_port(uri, port, 443 if secure else 80),
        path=urllib.parse.quote(parts.path, safe=_PATH_SAFE),
        query=urllib.parse.quote(parts.query, safe=_QUERY_SAFE),
        username=username,
        password=password,
    )


def _split_host_port(uri: str, host_port: str) -> tuple[str, str]:
    """Split the authority of ``uri``, without user information, into host and port.

    Return the host ASCII-encoded and without brackets, and the port as
    written, empty when absent.
    """
    if not host_port.startswith("["):
        host, _, port = host_port.partition(":")
        return _parse_reg_name(uri, host), port
    # urllib.parse rejects an opening bracket without a closing one.
    address, _, rest = host_port[1:].partition("]")
    if rest[:1] not in ("", ":"):
        raise InvalidURI(uri, "unexpected characters after IPv6 address")
    # A zone identifier is introduced by "%25", an escaped "%" (RFC 6874).
    address, percent, zone = address.partition("%25")
    address = address.lower() + ("%" + zone if percent else "")
    try:
        ipaddress.IPv6Address(address)
    except ValueError:
        raise InvalidURI(uri, f"invalid IPv6 address: {address}") from None
    return address, rest[1:]


def _parse_reg_name(uri: str, host: str) -> str:
    """Check a host name; return it lower-cased and, if needed, IDNA-encoded."""
    if not host:
        raise InvalidURI(uri, "hostname isn't provided")
    try:
        host = urllib.parse.unquote(host, errors="strict").lower()
        if not host.isascii():
            host = host.encode("idna").decode("ascii")
    except UnicodeError:
        raise InvalidURI(uri, f"invalid internationalized hostname: {host}") from None
    if _REG_NAME.fullmatch(host) is None:
        raise InvalidURI(uri, f"invalid hostname: {host}")
    return host


def _parse_port(uri: str, port: str, default: int) -> int:
    """Return the port written in ``uri``, or ``default`` when it is empty."""
    if not port:
        return default
    if _DIGITS.fullmatch(port) is None:
        raise InvalidURI(uri, f"port isn't a number: {port}")
    number = int(port) if len(port.lstrip("0")) <= 5 else 0
    if not 1 <= number <= 65535:
        raise InvalidURI(uri, f"port isn't between 1 and 65535: {port}")
    return number
