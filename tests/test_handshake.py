"""Tests for wirespeed.handshake: keys and header grammar."""

from __future__ import annotations

import base64
from typing import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wirespeed.exceptions import (
    InvalidHeader,
    InvalidHeaderFormat,
    InvalidHeaderValue,
    InvalidUpgrade,
)
from wirespeed.handshake import (
    GUID,
    ExtensionHeader,
    accept_key,
    build_authorization_basic,
    build_extension,
    build_host,
    build_subprotocol,
    check_upgrade,
    generate_key,
    is_valid_key,
    parse_authorization_basic,
    parse_connection,
    parse_extension,
    parse_subprotocol,
    parse_upgrade,
    single_value,
)
from wirespeed.http import Headers

# Keys.


def test_guid() -> None:
    assert GUID == "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def test_accept_key_rfc_vector() -> None:
    # RFC 6455, section 1.3.
    assert accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_generate_key() -> None:
    key = generate_key()
    assert len(base64.b64decode(key, validate=True)) == 16
    assert is_valid_key(key)


def test_generate_key_is_random() -> None:
    assert len({generate_key() for _ in range(100)}) == 100


@pytest.mark.parametrize(
    ("key", "valid"),
    [
        ("dGhlIHNhbXBsZSBub25jZQ==", True),
        ("AAAAAAAAAAAAAAAAAAAAAA==", True),
        ("/+/+/+/+/+/+/+/+/+/+/w==", True),
        ("", False),
        ("dGhlIHNhbXBsZSBub25jZQ", False),  # no padding
        ("dGhlIHNhbXBsZSBub25jZQ=", False),
        ("dGhlIHNhbXBsZSBub25jZQ===", False),
        ("dGhlIHNhbXBsZSBub25jZXM=", False),  # 17 bytes
        ("dGhlIHNhbXBsZSBub25j", False),  # 15 bytes
        ("dGhlIHNhbXBsZSBub25jZR==", False),  # non-canonical padding bits
        ("dGhlIHNhbXBsZSBub25jZQ=A", False),
        ("dGhlIHNhbXBsZSBub25jZQ.=", False),
        ("dGhlIHNhbXBsZSBub25j ZQ=", False),
        ("dGhlIHNhbXBsZSBub25jZ-_", False),  # URL-safe alphabet
        ("dGhlIHNhbXBsZSBub25jZé=", False),
    ],
)
def test_is_valid_key(key: str, valid: bool) -> None:
    assert is_valid_key(key) is valid


@given(st.binary(min_size=16, max_size=16))
def test_is_valid_key_accepts_any_16_bytes(raw: bytes) -> None:
    assert is_valid_key(base64.b64encode(raw).decode())


@given(st.binary(max_size=40).filter(lambda raw: len(raw) != 16))
def test_is_valid_key_rejects_other_lengths(raw: bytes) -> None:
    assert not is_valid_key(base64.b64encode(raw).decode())


# Errors.


def format_error(parse: Callable[[str], object], header: str) -> InvalidHeaderFormat:
    with pytest.raises(InvalidHeaderFormat) as raised:
        parse(header)
    return raised.value


# Connection.


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Upgrade", ["Upgrade"]),
        ("keep-alive, Upgrade", ["keep-alive", "Upgrade"]),
        ("keep-alive,Upgrade", ["keep-alive", "Upgrade"]),
        ("  keep-alive \t,\t Upgrade  ", ["keep-alive", "Upgrade"]),
        (",Upgrade", ["Upgrade"]),
        ("Upgrade,", ["Upgrade"]),
        (", ,Upgrade, , ,close,,", ["Upgrade", "close"]),
        ("", []),
        (" , ", []),
    ],
)
def test_parse_connection(header: str, expected: list[str]) -> None:
    assert parse_connection(header) == expected


@pytest.mark.parametrize(
    ("header", "error", "pos"),
    [
        ("Upgrade keep-alive", "expected comma", 8),
        ("Upgrade;", "expected comma", 7),
        ("keep-alive, @", "expected token", 12),
        ('"Upgrade"', "expected token", 0),
        ("Upgrade, keep alive", "expected comma", 14),
    ],
)
def test_parse_connection_errors(header: str, error: str, pos: int) -> None:
    exc = format_error(parse_connection, header)
    assert exc.name == "Connection"
    assert exc.value == f"{error} at {pos} in {header}"
    assert str(exc) == f"invalid Connection header: {error} at {pos} in {header}"


def test_parse_connection_custom_name() -> None:
    with pytest.raises(InvalidHeaderFormat) as raised:
        parse_connection("a b", name="Proxy-Connection")
    assert raised.value.name == "Proxy-Connection"


# Upgrade.


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("websocket", ["websocket"]),
        ("WebSocket", ["WebSocket"]),
        ("HTTP/2.0, SHTTP/1.3, IRC/6.9, RTA/x11", ["HTTP/2.0", "SHTTP/1.3", "IRC/6.9", "RTA/x11"]),
        (" websocket ,", ["websocket"]),
    ],
)
def test_parse_upgrade(header: str, expected: list[str]) -> None:
    assert parse_upgrade(header) == expected


@pytest.mark.parametrize(
    ("header", "error", "pos"),
    [
        ("websocket/", "expected token", 10),
        ("/1", "expected token", 0),
        ("websocket/1/2", "expected comma", 11),
        ("websocket / 1", "expected comma", 10),
        ("web socket", "expected comma", 4),
    ],
)
def test_parse_upgrade_errors(header: str, error: str, pos: int) -> None:
    exc = format_error(parse_upgrade, header)
    assert exc.name == "Upgrade"
    assert exc.value == f"{error} at {pos} in {header}"


# Sec-WebSocket-Protocol.


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("chat", ["chat"]),
        ("chat, superchat", ["chat", "superchat"]),
        ("v2.chat.example.com,v1.chat.example.com", ["v2.chat.example.com", "v1.chat.example.com"]),
        ("Chat", ["Chat"]),
        ("", []),
    ],
)
def test_parse_subprotocol(header: str, expected: list[str]) -> None:
    assert parse_subprotocol(header) == expected


@pytest.mark.parametrize(
    ("header", "error", "pos"),
    [
        ("chat/1", "expected comma", 4),
        ("chat, {json}", "expected token", 6),
    ],
)
def test_parse_subprotocol_errors(header: str, error: str, pos: int) -> None:
    exc = format_error(parse_subprotocol, header)
    assert exc.name == "Sec-WebSocket-Protocol"
    assert exc.value == f"{error} at {pos} in {header}"


def test_build_subprotocol() -> None:
    assert build_subprotocol(["chat"]) == "chat"
    assert build_subprotocol(["chat", "superchat"]) == "chat, superchat"
    assert build_subprotocol([]) == ""


@pytest.mark.parametrize("subprotocol", ["", "a b", "a,b", "ché"])
def test_build_subprotocol_invalid(subprotocol: str) -> None:
    with pytest.raises(ValueError, match="invalid subprotocol"):
        build_subprotocol(["chat", subprotocol])


# Sec-WebSocket-Extensions.


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("foo", [("foo", [])]),
        ("foo, bar", [("foo", []), ("bar", [])]),
        ("foo; name", [("foo", [("name", None)])]),
        ("foo;name=value", [("foo", [("name", "value")])]),
        ("foo ; name = value ; other", [("foo", [("name", "value"), ("other", None)])]),
        ('foo; name="value"', [("foo", [("name", "value")])]),
        ('foo; name="va\\lue"', [("foo", [("name", "value")])]),
        ('foo; name = "10"', [("foo", [("name", "10")])]),
        (
            "permessage-deflate; client_max_window_bits, "
            "permessage-deflate; server_no_context_takeover",
            [
                ("permessage-deflate", [("client_max_window_bits", None)]),
                ("permessage-deflate", [("server_no_context_takeover", None)]),
            ],
        ),
        (",foo;a=1,,bar;b,", [("foo", [("a", "1")]), ("bar", [("b", None)])]),
        ("", []),
    ],
)
def test_parse_extension(header: str, expected: list[ExtensionHeader]) -> None:
    assert parse_extension(header) == expected


@pytest.mark.parametrize(
    ("header", "error", "pos"),
    [
        ("foo;", "expected token", 4),
        ("foo; ", "expected token", 5),
        (";a", "expected token", 0),
        ("foo; a=", "expected token", 7),
        ("foo; a= ", "expected token", 8),
        ("foo; a=b=c", "expected comma", 8),
        ("foo bar", "expected comma", 4),
        ('foo; a="unterminated', "expected quoted string", 7),
        ('foo; a="two words"', "invalid quoted header content", 7),
        ('foo; a=""', "invalid quoted header content", 7),
        ('foo; a="x,y"', "invalid quoted header content", 7),
        ('"foo"', "expected token", 0),
        ("foo; =1", "expected token", 5),
    ],
)
def test_parse_extension_errors(header: str, error: str, pos: int) -> None:
    exc = format_error(parse_extension, header)
    assert exc.name == "Sec-WebSocket-Extensions"
    assert exc.value == f"{error} at {pos} in {header}"


def test_build_extension() -> None:
    header = build_extension(
        [
            (
                "permessage-deflate",
                [("client_max_window_bits", "10"), ("server_no_context_takeover", None)],
            ),
            ("x-other", []),
        ]
    )
    assert header == (
        "permessage-deflate; client_max_window_bits=10; server_no_context_takeover, x-other"
    )


@pytest.mark.parametrize(
    ("extensions", "message"),
    [
        ([("bad name", [])], "invalid extension name"),
        ([("ok", [("bad=name", None)])], "invalid extension parameter name"),
        ([("ok", [("name", "two words")])], "invalid extension parameter value"),
        ([("ok", [("name", "")])], "invalid extension parameter value"),
    ],
)
def test_build_extension_invalid(extensions: list[ExtensionHeader], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_extension(extensions)


_tokens = st.text(alphabet="!#$%&'*+-.^_`|~09azAZ", min_size=1, max_size=10)
_extensions = st.lists(
    st.tuples(_tokens, st.lists(st.tuples(_tokens, st.none() | _tokens), max_size=4)),
    max_size=4,
)


@given(_extensions)
def test_extension_round_trip(extensions: list[ExtensionHeader]) -> None:
    assert parse_extension(build_extension(extensions)) == extensions


@given(st.lists(_tokens, max_size=5))
def test_subprotocol_round_trip(subprotocols: list[str]) -> None:
    assert parse_subprotocol(build_subprotocol(subprotocols)) == subprotocols


@given(st.text(max_size=40))
def test_parsers_raise_only_invalid_header_format(header: str) -> None:
    for parse in (parse_connection, parse_upgrade, parse_subprotocol, parse_extension):
        try:
            parse(header)
        except InvalidHeaderFormat:
            pass


# Host.


@pytest.mark.parametrize(
    ("host", "port", "secure", "expected"),
    [
        ("example.com", 80, False, "example.com"),
        ("example.com", 443, True, "example.com"),
        ("example.com", 443, False, "example.com:443"),
        ("example.com", 80, True, "example.com:80"),
        ("example.com", 8080, False, "example.com:8080"),
        ("127.0.0.1", 80, False, "127.0.0.1"),
        ("::1", 80, False, "[::1]"),
        ("::1", 8443, True, "[::1]:8443"),
        ("[::1]", 8443, True, "[::1]:8443"),
        ("fe80::1%eth0", 80, False, "[fe80::1%25eth0]"),
    ],
)
def test_build_host(host: str, port: int, secure: bool, expected: str) -> None:
    assert build_host(host, port, secure) == expected


# Authorization.


def test_build_authorization_basic() -> None:
    # RFC 7617, section 2.
    assert (
        build_authorization_basic("Aladdin", "open sesame") == "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
    )


def test_build_authorization_basic_utf8() -> None:
    # RFC 7617, section 2.1.
    assert build_authorization_basic("test", "123£") == "Basic dGVzdDoxMjPCow=="


def test_build_authorization_basic_rejects_colon_in_username() -> None:
    with pytest.raises(ValueError, match="colon"):
        build_authorization_basic("a:b", "c")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==", ("Aladdin", "open sesame")),
        ("basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==", ("Aladdin", "open sesame")),
        ("BASIC   QWxhZGRpbjpvcGVuIHNlc2FtZQ==", ("Aladdin", "open sesame")),
        ("Basic dGVzdDoxMjPCow==", ("test", "123£")),
        ("Basic dTo=", ("u", "")),
        ("Basic OnA=", ("", "p")),
        ("Basic dTpwOnE=", ("u", "p:q")),
    ],
)
def test_parse_authorization_basic(header: str, expected: tuple[str, str]) -> None:
    assert parse_authorization_basic(header) == expected


@pytest.mark.parametrize(
    ("header", "error", "pos"),
    [
        ("", "expected token", 0),
        (" Basic dTpw", "expected token", 0),
        ("Basic", "expected space after scheme", 5),
        ("Basic\tdTpw", "expected space after scheme", 5),
        ("Basic ", "expected token68", 6),
        ("Basic @", "expected token68", 6),
        ("Basic dTpw extra", "expected end of credentials", 10),
        ("Basic dT=pw", "expected end of credentials", 9),
    ],
)
def test_parse_authorization_basic_format_errors(header: str, error: str, pos: int) -> None:
    exc = format_error(parse_authorization_basic, header)
    assert exc.name == "Authorization"
    assert exc.value == f"{error} at {pos} in {header}"


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("Bearer abc", "unsupported scheme: Bearer"),
        ("Digest username=x", "unsupported scheme: Digest"),
        ("Basic dTpw=", "expected base64-encoded credentials"),
        ("Basic dTp", "expected base64-encoded credentials"),
        ("Basic -_-_", "expected base64-encoded credentials"),
        ("Basic /w==", "expected base64-encoded credentials"),  # not UTF-8
        ("Basic dXNlcg==", "expected username:password credentials"),
    ],
)
def test_parse_authorization_basic_value_errors(header: str, message: str) -> None:
    with pytest.raises(InvalidHeaderValue) as raised:
        parse_authorization_basic(header)
    assert not isinstance(raised.value, InvalidHeaderFormat)
    assert raised.value.name == "Authorization"
    assert raised.value.value == message


def test_parse_authorization_basic_custom_name() -> None:
    with pytest.raises(InvalidHeaderValue) as raised:
        parse_authorization_basic("Bearer x", name="Proxy-Authorization")
    assert raised.value.name == "Proxy-Authorization"


@given(st.text().filter(lambda text: ":" not in text), st.text())
def test_authorization_round_trip(username: str, password: str) -> None:
    header = build_authorization_basic(username, password)
    assert parse_authorization_basic(header) == (username, password)


# check_upgrade and single_value


@pytest.mark.parametrize(
    ("connection", "upgrade"),
    [("Upgrade", "websocket"), ("keep-alive, UPGRADE", "WebSocket"), ("upgrade", "websocket")],
)
def test_check_upgrade_accepts(connection, upgrade):
    check_upgrade(Headers({"Connection": connection, "Upgrade": upgrade}))


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({"Upgrade": "websocket"}, "missing Connection header"),
        ({"Connection": "keep-alive", "Upgrade": "websocket"}, "invalid Connection header: keep-alive"),
        ({"Connection": "Upgrade"}, "missing Upgrade header"),
        ({"Connection": "Upgrade", "Upgrade": "h2c"}, "invalid Upgrade header: h2c"),
        ({"Connection": "Upgrade", "Upgrade": "websocket, h2c"}, "invalid Upgrade header: websocket, h2c"),
    ],
)
def test_check_upgrade_rejects(headers, message):
    with pytest.raises(InvalidUpgrade) as info:
        check_upgrade(Headers(headers))
    assert str(info.value) == message


def test_single_value():
    headers = Headers([("X", "1"), ("Y", "2"), ("Y", "3")])
    assert single_value(headers, "x") == "1"
    with pytest.raises(InvalidHeader, match="missing Z header"):
        single_value(headers, "Z")
    with pytest.raises(InvalidHeader, match="invalid Y header: multiple values"):
        single_value(headers, "Y")
