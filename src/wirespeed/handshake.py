"""Header grammar and keys of the WebSocket opening handshake (RFC 6455, section 4).

The parsers follow the ABNF of RFC 6455, section 4.3, with the list rule and
tokens of RFC 7230: list elements are separated by commas with optional
whitespace around them, and empty elements are ignored. On malformed input
they raise :exc:`~wirespeed.exceptions.InvalidHeaderFormat`, which tells the
header name, what was expected and the position in the value where parsing
stopped.

The builders are the reverse; they raise :exc:`ValueError` when given
something that can't be expressed in the header.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
from typing import TYPE_CHECKING, Callable, Optional, TypeVar

from .exceptions import InvalidHeader, InvalidHeaderFormat, InvalidHeaderValue, InvalidUpgrade

if TYPE_CHECKING:  # pragma: no cover
    from .http import Headers

__all__ = [
    "GUID",
    "ExtensionHeader",
    "ExtensionParameter",
    "accept_key",
    "build_authorization_basic",
    "build_extension",
    "build_host",
    "build_subprotocol",
    "check_upgrade",
    "generate_key",
    "is_valid_key",
    "parse_authorization_basic",
    "parse_connection",
    "parse_extension",
    "parse_subprotocol",
    "parse_upgrade",
    "single_value",
]

#: The GUID that RFC 6455 concatenates to the key to derive the accept value.
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

#: An extension parameter: its name and its value, ``None`` for a bare name.
ExtensionParameter = tuple[str, Optional[str]]

#: An extension offered or accepted: its name and its parameters.
ExtensionHeader = tuple[str, list[ExtensionParameter]]

T = TypeVar("T")

# RFC 7230, section 3.2.6.
_TOKEN = re.compile(r"[-!#$%&'*+.^_`|~0-9A-Za-z]+")
_OWS = re.compile(r"[ \t]*")
_QUOTED_STRING = re.compile(r'"(?:[\t !#-\[\]-~\x80-\xff]|\\[\t !-~\x80-\xff])*"')
_QUOTED_PAIR = re.compile(r"\\(.)", re.DOTALL)
# RFC 7235, section 2.1.
_TOKEN68 = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


# Handshake keys.


def generate_key() -> str:
    """Return a fresh ``Sec-WebSocket-Key``: 16 random bytes, base64-encoded."""
    return base64.b64encode(secrets.token_bytes(16)).decode("ascii")


def accept_key(key: str) -> str:
    """Return the ``Sec-WebSocket-Accept`` value that answers ``key``."""
    digest = hashlib.sha1((key + GUID).encode("ascii")).digest()
    return base64.b64encode(digest).decode("ascii")


def is_valid_key(key: str) -> bool:
    """Tell whether ``key`` is a valid ``Sec-WebSocket-Key``.

    A valid key is the canonical base64 encoding of exactly 16 bytes: 22
    characters of the base64 alphabet followed by ``==``.
    """
    if len(key) != 24 or not key.isascii():
        return False
    try:
        raw = base64.b64decode(key, validate=True)
    except binascii.Error:
        return False
    return len(raw) == 16 and base64.b64encode(raw).decode("ascii") == key


# Grammar primitives. Each takes the header value and a position and returns
# what it parsed with the position just after it.


def _skip_ows(header: str, pos: int) -> int:
    match = _OWS.match(header, pos)
    assert match is not None  # the pattern matches the empty string
    return match.end()


def _parse_token(header: str, pos: int, name: str) -> tuple[str, int]:
    match = _TOKEN.match(header, pos)
    if match is None:
        raise InvalidHeaderFormat(name, "expected token", header, pos)
    return match.group(), match.end()


def _parse_quoted_string(header: str, pos: int, name: str) -> tuple[str, int]:
    match = _QUOTED_STRING.match(header, pos)
    if match is None:
        raise InvalidHeaderFormat(name, "expected quoted string", header, pos)
    return _QUOTED_PAIR.sub(r"\1", match.group()[1:-1]), match.end()


def _parse_list(
    parse_item: Callable[[str, int, str], tuple[T, int]],
    header: str,
    name: str,
) -> list[T]:
    """Parse a comma-separated list (RFC 7230, section 7) with ``parse_item``.

    Empty elements are skipped, so an empty or blank header gives an empty
    list; deciding whether that is acceptable is up to the caller.
    """
    items: list[T] = []
    pos = _skip_ows(header, 0)
    while pos < len(header):
        if header[pos] == ",":  # an empty element
            pos = _skip_ows(header, pos + 1)
            continue
        item, pos = parse_item(header, pos, name)
        items.append(item)
        pos = _skip_ows(header, pos)
        if pos < len(header):
            if header[pos] != ",":
                raise InvalidHeaderFormat(name, "expected comma", header, pos)
            pos = _skip_ows(header, pos + 1)
    return items


def _check_token(value: str, what: str) -> None:
    if _TOKEN.fullmatch(value) is None:
        raise ValueError(f"invalid {what}: {value!r}")


# Connection and Upgrade.


def parse_connection(header: str, name: str = "Connection") -> list[str]:
    """Parse a ``Connection`` header into its options, as spelled in the header.

    Options are case-insensitive: compare them lower-cased.
    """
    return _parse_list(_parse_token, header, name)


def _parse_protocol(header: str, pos: int, name: str) -> tuple[str, int]:
    protocol, pos = _parse_token(header, pos, name)
    if header.startswith("/", pos):
        version, pos = _parse_token(header, pos + 1, name)
        protocol = f"{protocol}/{version}"
    return protocol, pos


def parse_upgrade(header: str, name: str = "Upgrade") -> list[str]:
    """Parse an ``Upgrade`` header into its protocols, like ``websocket`` or ``HTTP/2.0``.

    Protocol names are case-insensitive: compare them lower-cased.
    """
    return _parse_list(_parse_protocol, header, name)


# Sec-WebSocket-Protocol.


def parse_subprotocol(header: str, name: str = "Sec-WebSocket-Protocol") -> list[str]:
    """Parse a ``Sec-WebSocket-Protocol`` header into subprotocol names.

    Subprotocol names are case-sensitive.
    """
    return _parse_list(_parse_token, header, name)


def build_subprotocol(subprotocols: list[str]) -> str:
    """Build a ``Sec-WebSocket-Protocol`` header from subprotocol names."""
    for subprotocol in subprotocols:
        _check_token(subprotocol, "subprotocol")
    return ", ".join(subprotocols)


# Sec-WebSocket-Extensions.


def _parse_extension_param(header: str, pos: int, name: str) -> tuple[ExtensionParameter, int]:
    param, pos = _parse_token(header, pos, name)
    pos = _skip_ows(header, pos)
    if not header.startswith("=", pos):
        return (param, None), pos
    pos = _skip_ows(header, pos + 1)
    if not header.startswith('"', pos):
        value, pos = _parse_token(header, pos, name)
        return (param, value), pos
    value, end = _parse_quoted_string(header, pos, name)
    # RFC 6455, section 9.1: once unquoted, the value must still be a token.
    if _TOKEN.fullmatch(value) is None:
        raise InvalidHeaderFormat(name, "invalid quoted header content", header, pos)
    return (param, value), end


def _parse_extension_item(header: str, pos: int, name: str) -> tuple[ExtensionHeader, int]:
    extension, pos = _parse_token(header, pos, name)
    params: list[ExtensionParameter] = []
    while True:
        after = _skip_ows(header, pos)
        if not header.startswith(";", after):
            return (extension, params), pos
        param, pos = _parse_extension_param(header, _skip_ows(header, after + 1), name)
        params.append(param)


def parse_extension(header: str, name: str = "Sec-WebSocket-Extensions") -> list[ExtensionHeader]:
    """Parse a ``Sec-WebSocket-Extensions`` header.

    Return a list of ``(extension name, parameters)``, where parameters is a
    list of ``(name, value)`` and value is ``None`` for a parameter without
    one. Quoted values are unquoted::

        >>> parse_extension('permessage-deflate; client_max_window_bits="10", x-y')
        [('permessage-deflate', [('client_max_window_bits', '10')]), ('x-y', [])]
    """
    return _parse_list(_parse_extension_item, header, name)


def build_extension(extensions: list[ExtensionHeader]) -> str:
    """Build a ``Sec-WebSocket-Extensions`` header; the reverse of :func:`parse_extension`."""
    elements = []
    for extension, params in extensions:
        _check_token(extension, "extension name")
        parts = [extension]
        for param, value in params:
            _check_token(param, "extension parameter name")
            if value is None:
                parts.append(param)
            else:
                _check_token(value, "extension parameter value")
                parts.append(f"{param}={value}")
        elements.append("; ".join(parts))
    return ", ".join(elements)


# Host.


def build_host(host: str, port: int, secure: bool) -> str:
    """Build a ``Host`` header for ``host`` and ``port``.

    IPv6 addresses are enclosed in brackets, with a zone identifier's ``%``
    escaped as ``%25``; the port is left out when it's the default for the
    scheme, 80 for ``ws`` and 443 for ``wss``.
    """
    if ":" in host and not host.startswith("["):
        host = "[" + host.replace("%", "%25") + "]"
    if port != (443 if secure else 80):
        host = f"{host}:{port}"
    return host


# Authorization: HTTP Basic authentication (RFC 7617).


def build_authorization_basic(username: str, password: str) -> str:
    """Build an ``Authorization`` header for HTTP Basic authentication.

    Credentials are encoded as UTF-8. ``username`` can't contain a colon.
    """
    if ":" in username:
        raise ValueError("username can't contain a colon")
    credentials = f"{username}:{password}".encode()
    return "Basic " + base64.b64encode(credentials).decode("ascii")


def parse_authorization_basic(header: str, name: str = "Authorization") -> tuple[str, str]:
    """Parse an ``Authorization`` header for HTTP Basic authentication.

    Return ``(username, password)``. Raise
    :exc:`~wirespeed.exceptions.InvalidHeaderFormat` when the header isn't
    ``scheme token68`` and :exc:`~wirespeed.exceptions.InvalidHeaderValue`
    when the scheme isn't ``Basic`` or the credentials aren't base64-encoded
    UTF-8 ``username:password``.
    """
    scheme, pos = _parse_token(header, 0, name)
    if scheme.lower() != "basic":
        raise InvalidHeaderValue(name, f"unsupported scheme: {scheme}")
    if not header.startswith(" ", pos):
        raise InvalidHeaderFormat(name, "expected space after scheme", header, pos)
    pos += 1
    while header.startswith(" ", pos):
        pos += 1
    match = _TOKEN68.match(header, pos)
    if match is None:
        raise InvalidHeaderFormat(name, "expected token68", header, pos)
    if match.end() != len(header):
        raise InvalidHeaderFormat(name, "expected end of credentials", header, match.end())
    credentials = match.group()
    try:
        if len(credentials) % 4:
            raise binascii.Error("incorrect padding")
        decoded = base64.b64decode(credentials, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise InvalidHeaderValue(name, "expected base64-encoded credentials") from None
    username, colon, password = decoded.partition(":")
    if not colon:
        raise InvalidHeaderValue(name, "expected username:password credentials")
    return username, password


def check_upgrade(headers: Headers) -> None:
    """Check that ``Connection`` and ``Upgrade`` ask for a WebSocket upgrade.

    RFC 6455 (4.1 and 4.2.1): ``Connection`` must include the ``upgrade``
    token and ``Upgrade`` must be ``websocket``, both case-insensitively.

    :raises InvalidUpgrade: if either header doesn't.
    """
    connection = [
        item for value in headers.get_all("Connection") for item in parse_connection(value)
    ]
    if not any(token.lower() == "upgrade" for token in connection):
        raise InvalidUpgrade("Connection", ", ".join(connection) if connection else None)
    upgrade = [item for value in headers.get_all("Upgrade") for item in parse_upgrade(value)]
    if not (len(upgrade) == 1 and upgrade[0].lower() == "websocket"):
        raise InvalidUpgrade("Upgrade", ", ".join(upgrade) if upgrade else None)


def single_value(headers: Headers, name: str) -> str:
    """Return the only value of header ``name``.

    :raises InvalidHeader: if the header is missing or appears more than once.
    """
    values = headers.get_all(name)
    if not values:
        raise InvalidHeader(name)
    if len(values) > 1:
        raise InvalidHeader(name, "multiple values")
    return values[0]
