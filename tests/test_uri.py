"""Tests for wirespeed.uri."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wirespeed.exceptions import InvalidURI
from wirespeed.uri import WebSocketURI, parse_uri

VALID = [
    ("ws://localhost/", WebSocketURI(False, "localhost", 80, "/", "")),
    ("wss://localhost/", WebSocketURI(True, "localhost", 443, "/", "")),
    ("ws://localhost", WebSocketURI(False, "localhost", 80, "", "")),
    ("ws://localhost:8080/", WebSocketURI(False, "localhost", 8080, "/", "")),
    ("wss://localhost:80/", WebSocketURI(True, "localhost", 80, "/", "")),
    ("ws://localhost:/", WebSocketURI(False, "localhost", 80, "/", "")),
    ("ws://localhost:65535", WebSocketURI(False, "localhost", 65535, "", "")),
    ("ws://localhost:000000000000000000080", WebSocketURI(False, "localhost", 80, "", "")),
    ("WS://EXAMPLE.com/Path", WebSocketURI(False, "example.com", 80, "/Path", "")),
    ("ws://127.0.0.1:9000/chat", WebSocketURI(False, "127.0.0.1", 9000, "/chat", "")),
    ("ws://[::1]/", WebSocketURI(False, "::1", 80, "/", "")),
    ("ws://[::1]:8080/", WebSocketURI(False, "::1", 8080, "/", "")),
    ("wss://[2001:DB8::1]", WebSocketURI(True, "2001:db8::1", 443, "", "")),
    ("ws://[fe80::1%25eth0]:80/", WebSocketURI(False, "fe80::1%eth0", 80, "/", "")),
    ("ws://[FE80::A%25Eth0]/", WebSocketURI(False, "fe80::a%Eth0", 80, "/", "")),
    ("ws://h/a/b?x=1&y=2", WebSocketURI(False, "h", 80, "/a/b", "x=1&y=2")),
    ("ws://h?x", WebSocketURI(False, "h", 80, "", "x")),
    ("ws://h/?", WebSocketURI(False, "h", 80, "/", "")),
    ("ws://h/p?a=/b?c", WebSocketURI(False, "h", 80, "/p", "a=/b?c")),
    ("ws://user:pass@h/", WebSocketURI(False, "h", 80, "/", "", "user", "pass")),
    ("ws://user:@h/", WebSocketURI(False, "h", 80, "/", "", "user", "")),
    ("ws://:pass@h/", WebSocketURI(False, "h", 80, "/", "", "", "pass")),
    ("ws://us%40er:p%3Aw%20d@h/", WebSocketURI(False, "h", 80, "/", "", "us@er", "p:w d")),
    ("ws://u:p@[::1]:1/", WebSocketURI(False, "::1", 1, "/", "", "u", "p")),
    # Internationalized host names are IDNA-encoded.
    ("ws://bücher.example/", WebSocketURI(False, "xn--bcher-kva.example", 80, "/", "")),
    ("ws://BÜCHER.example/", WebSocketURI(False, "xn--bcher-kva.example", 80, "/", "")),
    ("ws://b%C3%BCcher.example/", WebSocketURI(False, "xn--bcher-kva.example", 80, "/", "")),
    ("ws://ex%41mple.com/", WebSocketURI(False, "example.com", 80, "/", "")),
    # Non-ASCII and unsafe characters in the path and query are percent-encoded.
    ("ws://h/päth?q=é", WebSocketURI(False, "h", 80, "/p%C3%A4th", "q=%C3%A9")),
    ("ws://h/a b?c d", WebSocketURI(False, "h", 80, "/a%20b", "c%20d")),
    ("ws://h/%C3%A4?%20", WebSocketURI(False, "h", 80, "/%C3%A4", "%20")),
    ("ws://h/ä%C3%A4", WebSocketURI(False, "h", 80, "/%C3%A4%C3%A4", "")),
    ('ws://h/"<>{}|^`\\', WebSocketURI(False, "h", 80, "/%22%3C%3E%7B%7D%7C%5E%60%5C", "")),
    ("ws://h/:@!$&'()*+,;=-._~", WebSocketURI(False, "h", 80, "/:@!$&'()*+,;=-._~", "")),
]


@pytest.mark.parametrize(("uri", "expected"), VALID)
def test_parse_valid(uri: str, expected: WebSocketURI) -> None:
    assert parse_uri(uri) == expected


INVALID = [
    ("http://localhost/", "scheme isn't ws or wss"),
    ("https://localhost/", "scheme isn't ws or wss"),
    ("localhost/", "scheme isn't ws or wss"),
    ("", "scheme isn't ws or wss"),
    ("ws:///path", "hostname isn't provided"),
    ("ws://", "hostname isn't provided"),
    ("ws:/localhost", "hostname isn't provided"),
    ("ws:localhost", "hostname isn't provided"),
    ("ws://user:pass@/", "hostname isn't provided"),
    ("ws://h/#", "fragment identifier is meaningless"),
    ("ws://h/path#fragment", "fragment identifier is meaningless"),
    ("ws://user@h/", "user information must be username:password"),
    ("ws://h:0/", "port isn't between 1 and 65535: 0"),
    ("ws://h:65536/", "port isn't between 1 and 65535: 65536"),
    ("ws://h:00000000000000000065536/", "port isn't between 1 and 65535: 000000000000000000"),
    ("ws://h:" + "9" * 5000 + "/", "port isn't between 1 and 65535: 999"),
    ("ws://h:port/", "port isn't a number: port"),
    ("ws://h:-1/", "port isn't a number: -1"),
    ("ws://h:+1/", "port isn't a number: +1"),
    ("ws://h:1_0/", "port isn't a number: 1_0"),
    ("ws://h:٣/", "port isn't a number: ٣"),
    ("ws://h:1:2/", "port isn't a number: 1:2"),
    ("ws://[::1]:x/", "port isn't a number: x"),
    ("ws://[::1/", "Invalid IPv6 URL"),
    ("ws://[::1]x/", "unexpected characters after IPv6 address"),
    ("ws://host name/", "invalid hostname"),
    ("ws://h%2Fx/", "invalid hostname"),
    ("ws://%FF/", "invalid internationalized hostname"),
    ("ws://" + "ü" * 64 + ".example/", "invalid internationalized hostname"),
]


@pytest.mark.parametrize(("uri", "message"), INVALID)
def test_parse_invalid(uri: str, message: str) -> None:
    with pytest.raises(InvalidURI) as raised:
        parse_uri(uri)
    assert raised.value.uri == uri
    assert message in raised.value.msg
    assert str(raised.value) == f"{uri} isn't a valid URI: {raised.value.msg}"


@pytest.mark.parametrize("uri", ["ws://[1.2.3.4]/", "ws://[zz]/", "ws://[::g]/", "ws://[]/"])
def test_parse_invalid_ipv6(uri: str) -> None:
    # Depending on the version, urllib.parse or wirespeed detects the problem.
    with pytest.raises(InvalidURI):
        parse_uri(uri)


@pytest.mark.parametrize(
    ("uri", "resource_name"),
    [
        ("ws://h", "/"),
        ("ws://h/", "/"),
        ("ws://h/path", "/path"),
        ("ws://h?q", "/?q"),
        ("ws://h/path?q=1&r", "/path?q=1&r"),
        ("ws://h/path?", "/path"),
    ],
)
def test_resource_name(uri: str, resource_name: str) -> None:
    assert parse_uri(uri).resource_name == resource_name


@pytest.mark.parametrize(
    ("uri", "user_info"),
    [
        ("ws://h/", None),
        ("ws://u:p@h/", ("u", "p")),
        ("ws://u:@h/", ("u", "")),
    ],
)
def test_user_info(uri: str, user_info: tuple[str, str] | None) -> None:
    assert parse_uri(uri).user_info == user_info


def test_frozen() -> None:
    uri = parse_uri("ws://h/")
    with pytest.raises(dataclasses.FrozenInstanceError):
        uri.host = "other"  # type: ignore[misc]


def test_hashable() -> None:
    assert hash(parse_uri("ws://h/")) == hash(parse_uri("ws://h/"))


@given(
    secure=st.booleans(),
    host=st.from_regex(
        r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?(\.[a-z0-9]{1,10}){0,3}", fullmatch=True
    ),
    port=st.integers(1, 65535),
    path=st.text(max_size=30).map(lambda text: "/" + text.replace("#", "")),
)
def test_parse_generated(secure: bool, host: str, port: int, path: str) -> None:
    uri = parse_uri(f"{'wss' if secure else 'ws'}://{host}:{port}{path}")
    assert uri.secure is secure
    assert uri.host == host
    assert uri.port == port
    # Whatever the path held, the resource name can go in a request line.
    assert uri.resource_name.isascii()
    assert all("\x21" <= char <= "\x7e" for char in uri.resource_name)
