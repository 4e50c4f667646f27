"""Tests for wirespeed.http: Headers, Request, Response and the incremental readers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wirespeed.exceptions import (
    BodyTooLong,
    HeaderLineTooLong,
    InvalidMessage,
    InvalidState,
    RequestLineTooLong,
    SecurityError,
    StatusLineTooLong,
    TooManyHeaders,
)
from wirespeed.http import (
    MAX_BODY_SIZE,
    MAX_LINE_LENGTH,
    MAX_NUM_HEADERS,
    Headers,
    MultipleValuesError,
    Request,
    RequestReader,
    Response,
    ResponseReader,
)

REQUEST = (
    b"GET /chat?room=1 HTTP/1.1\r\n"
    b"Host: server.example.com\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Version: 13\r\n"
    b"\r\n"
)

RESPONSE_101 = (
    b"HTTP/1.1 101 Switching Protocols\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
    b"\r\n"
)

FRAME = b"\x81\x05Hello"

CHUNKED_RESPONSE = (
    b"HTTP/1.1 400 Bad Request\r\n"
    b"Transfer-Encoding: chunked\r\n"
    b"\r\n"
    b"5\r\nHello\r\n"
    b"7;name=value\r\n, world\r\n"
    b"0\r\n"
    b"X-Trailer: yes\r\n"
    b"\r\n"
)


def feed_bytewise(reader: RequestReader | ResponseReader, data: bytes) -> list[object]:
    """Feed ``data`` one byte at a time; return every non-None result."""
    results = []
    for index in range(len(data)):
        result = reader.feed(data[index : index + 1])
        if result is not None:
            results.append(result)
    return results


def request_with_line(line: bytes) -> bytes:
    return line + b"\r\nHost: example.com\r\n\r\n"


def response_with_headers(*lines: bytes, status: bytes = b"200 OK") -> bytes:
    return b"HTTP/1.1 " + status + b"\r\n" + b"".join(line + b"\r\n" for line in lines) + b"\r\n"


# Headers.


class TestHeaders:
    def test_setitem_adds_values(self) -> None:
        headers = Headers()
        headers["X-Name"] = "one"
        headers["x-name"] = "two"
        assert headers.get_all("X-NAME") == ["one", "two"]
        assert list(headers.raw_items()) == [("X-Name", "one"), ("x-name", "two")]

    def test_getitem(self) -> None:
        headers = Headers([("Host", "example.com"), ("X-Multi", "a"), ("X-Multi", "b")])
        assert headers["host"] == "example.com"
        assert headers["HOST"] == "example.com"
        with pytest.raises(KeyError):
            headers["Missing"]
        with pytest.raises(MultipleValuesError) as raised:
            headers["x-multi"]
        assert raised.value.name == "x-multi"
        assert str(raised.value) == "multiple values for header 'x-multi'"
        assert isinstance(raised.value, LookupError)

    def test_get_propagates_multiple_values(self) -> None:
        headers = Headers([("X", "1"), ("X", "2")])
        assert headers.get("Y") is None
        assert headers.get("Y", "default") == "default"
        with pytest.raises(MultipleValuesError):
            headers.get("X")

    def test_delitem_removes_every_value(self) -> None:
        headers = Headers([("A", "1"), ("B", "2"), ("a", "3")])
        del headers["A"]
        assert "a" not in headers
        assert list(headers.raw_items()) == [("B", "2")]
        with pytest.raises(KeyError):
            del headers["a"]

    def test_iteration_and_length_over_distinct_names(self) -> None:
        headers = Headers([("Host", "h"), ("X-A", "1"), ("x-a", "2"), ("Origin", "o")])
        assert list(headers) == ["host", "x-a", "origin"]
        assert len(headers) == 3
        assert list(headers.keys()) == ["host", "x-a", "origin"]

    def test_contains(self) -> None:
        headers = Headers(Host="h")
        assert "host" in headers
        assert "HOST" in headers
        assert "Origin" not in headers
        assert 42 not in headers

    def test_get_all_missing(self) -> None:
        assert Headers().get_all("X") == []

    def test_get_all_returns_a_copy(self) -> None:
        headers = Headers(X="1")
        headers.get_all("X").append("2")
        assert headers.get_all("X") == ["1"]

    def test_copy_is_independent(self) -> None:
        headers = Headers([("X", "1")])
        clone = headers.copy()
        clone["X"] = "2"
        clone["Y"] = "3"
        assert headers.get_all("X") == ["1"]
        assert "Y" not in headers
        assert clone.get_all("x") == ["1", "2"]
        assert isinstance(clone, Headers)

    def test_clear(self) -> None:
        headers = Headers(A="1", B="2")
        headers.clear()
        assert len(headers) == 0
        assert list(headers.raw_items()) == []
        assert str(headers) == "\r\n"

    @pytest.mark.parametrize(
        "source",
        [
            {"A": "1", "B": "2"},
            [("A", "1"), ("B", "2")],
            (pair for pair in [("A", "1"), ("B", "2")]),
            Headers([("A", "1"), ("B", "2")]),
        ],
    )
    def test_constructor_forms(self, source: object) -> None:
        headers = Headers(source)  # type: ignore[arg-type]
        assert list(headers.raw_items()) == [("A", "1"), ("B", "2")]

    def test_update_keeps_existing_values_and_multiple_values(self) -> None:
        headers = Headers(A="0")
        headers.update(Headers([("A", "1"), ("a", "2")]), B="3")
        headers.update([("C", "4")])
        headers.update({"D": "5"})
        assert list(headers.raw_items()) == [
            ("A", "0"),
            ("A", "1"),
            ("a", "2"),
            ("B", "3"),
            ("C", "4"),
            ("D", "5"),
        ]

    def test_update_from_itself(self) -> None:
        headers = Headers(A="1")
        headers.update(headers)
        assert headers.get_all("A") == ["1", "1"]

    def test_kwargs(self) -> None:
        assert list(Headers(Host="h", Origin="o").raw_items()) == [("Host", "h"), ("Origin", "o")]

    def test_equality(self) -> None:
        headers = Headers([("Host", "h"), ("X", "1")])
        assert headers == Headers([("host", "h"), ("x", "1")])
        assert headers != Headers([("Host", "h"), ("X", "2")])
        assert headers != Headers([("X", "1"), ("Host", "h")])
        assert headers != Headers([("Host", "h")])
        assert headers != {"host": "h", "x": "1"}
        assert headers.__eq__({"host": "h"}) is NotImplemented

    def test_not_hashable(self) -> None:
        with pytest.raises(TypeError):
            hash(Headers())

    def test_str_and_serialize(self) -> None:
        headers = Headers([("Host", "example.com"), ("X-Latin", "caf\xe9")])
        assert str(headers) == "Host: example.com\r\nX-Latin: caf\xe9\r\n\r\n"
        assert headers.serialize() == b"Host: example.com\r\nX-Latin: caf\xe9\r\n\r\n"

    def test_repr_round_trips(self) -> None:
        headers = Headers([("Host", "h"), ("X", "1"), ("x", "2")])
        assert repr(headers) == "Headers([('Host', 'h'), ('X', '1'), ('x', '2')])"
        assert eval(repr(headers)) == headers

    def test_mapping_views_read_single_values(self) -> None:
        headers = Headers([("A", "1"), ("B", "2")])
        assert dict(headers.items()) == {"a": "1", "b": "2"}
        headers["A"] = "3"
        with pytest.raises(MultipleValuesError):
            dict(headers.items())

    @pytest.mark.parametrize("name", ["", "X Name", "X:Name", "X\r\nY", "Näme", "(x)"])
    def test_invalid_name(self, name: str) -> None:
        with pytest.raises(ValueError, match="invalid header name"):
            Headers()[name] = "value"

    @pytest.mark.parametrize(
        "value", ["a\r\nX-Injected: 1", "a\nb", "a\rb", "a\x00b", "\x7f", "\u20ac"]
    )
    def test_invalid_value(self, value: str) -> None:
        with pytest.raises(ValueError, match="invalid value for header X"):
            Headers()["X"] = value

    @pytest.mark.parametrize("value", ["", " padded\t", "a\tb", "~!@#$%^&*()", "\x80\xff"])
    def test_valid_unusual_values(self, value: str) -> None:
        headers = Headers()
        headers["X"] = value
        assert headers["X"] == value

    def test_non_str_rejected(self) -> None:
        with pytest.raises(TypeError):
            Headers()["X"] = 1  # type: ignore[assignment]
        with pytest.raises(TypeError):
            Headers([(b"X", "1")])  # type: ignore[list-item]


# Request and Response.


def test_request_serialize() -> None:
    request = Request("/chat", Headers(Host="example.com"))
    assert request.method == "GET"
    assert request.protocol == "HTTP/1.1"
    assert request.serialize() == b"GET /chat HTTP/1.1\r\nHost: example.com\r\n\r\n"


def test_request_serialize_custom_method_and_protocol() -> None:
    request = Request("/", Headers(), method="OPTIONS", protocol="HTTP/1.0")
    assert request.serialize() == b"OPTIONS / HTTP/1.0\r\n\r\n"


def test_response_serialize() -> None:
    response = Response(404, "Not Found", Headers([("Content-Length", "3")]), b"Bye")
    assert response.serialize() == b"HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nBye"


def test_response_serialize_defaults() -> None:
    response = Response(101, "Switching Protocols", Headers(Upgrade="websocket"))
    assert response.body == b""
    assert response.protocol == "HTTP/1.1"
    assert response.serialize() == (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"
    )


def test_serialized_messages_parse_back() -> None:
    request = Request("/path?q=1", Headers([("Host", "h"), ("X", "1"), ("X", "2")]))
    assert RequestReader().feed(request.serialize()) == request
    response = Response(200, "OK", Headers([("Content-Length", "4")]), b"body")
    assert ResponseReader().feed(response.serialize()) == response


def test_limits() -> None:
    assert MAX_LINE_LENGTH == 8192
    assert MAX_NUM_HEADERS == 128
    assert MAX_BODY_SIZE == 2**20


# RequestReader.


class TestRequestReader:
    def test_whole_request(self) -> None:
        reader = RequestReader()
        assert not reader.complete
        request = reader.feed(REQUEST)
        assert request is not None
        assert request.method == "GET"
        assert request.path == "/chat?room=1"
        assert request.protocol == "HTTP/1.1"
        assert request.headers["Host"] == "server.example.com"
        assert request.headers["sec-websocket-key"] == "dGhlIHNhbXBsZSBub25jZQ=="
        assert list(request.headers) == [
            "host",
            "upgrade",
            "connection",
            "sec-websocket-key",
            "sec-websocket-version",
        ]
        assert reader.complete
        assert reader.leftover == b""

    @pytest.mark.parametrize("split", range(len(REQUEST) + len(FRAME) + 1))
    def test_every_split_point(self, split: int) -> None:
        data = REQUEST + FRAME
        reader = RequestReader()
        first = reader.feed(data[:split])
        if split < len(REQUEST):
            assert first is None
            assert reader.leftover == b""
            request = reader.feed(data[split:])
            assert reader.leftover == FRAME
        else:
            request = first
            # Bytes that arrived with the request are leftover.
            assert reader.leftover == data[len(REQUEST) : split]
        assert request == RequestReader().feed(REQUEST)

    def test_byte_by_byte(self) -> None:
        reader = RequestReader()
        results = feed_bytewise(reader, REQUEST)
        assert len(results) == 1
        assert results[0] == RequestReader().feed(REQUEST)

    def test_empty_feed(self) -> None:
        reader = RequestReader()
        assert reader.feed(b"") is None
        assert reader.feed(REQUEST) is not None

    def test_accepts_bytearray_and_memoryview(self) -> None:
        reader = RequestReader()
        assert reader.feed(bytearray(REQUEST[:10])) is None
        assert reader.feed(memoryview(REQUEST[10:])) is not None

    def test_any_method_and_version(self) -> None:
        request = RequestReader().feed(request_with_line(b"POST /upload HTTP/1.0"))
        assert request is not None
        assert (request.method, request.path, request.protocol) == ("POST", "/upload", "HTTP/1.0")

    def test_absolute_form_target(self) -> None:
        request = RequestReader().feed(request_with_line(b"GET http://h/x?y=%20 HTTP/1.1"))
        assert request is not None
        assert request.path == "http://h/x?y=%20"

    @pytest.mark.parametrize(
        "line",
        [
            b"",
            b"GET",
            b"GET /",
            b"GET / HTTP/1.1 ",
            b" GET / HTTP/1.1",
            b"GET  / HTTP/1.1",
            b"GET /\tx HTTP/1.1",
            b"GET / HTTP/11",
            b"GET / HTTP/1.1.1",
            b"GET / http/1.1",
            b"GET / FTP/1.1",
            b"G(T / HTTP/1.1",
            b"GET /caf\xc3\xa9 HTTP/1.1",
            b"GET /\x7f HTTP/1.1",
            b"GET / HTTP/1.1\x00",
        ],
    )
    def test_invalid_request_line(self, line: bytes) -> None:
        with pytest.raises(InvalidMessage, match="invalid HTTP request line"):
            RequestReader().feed(request_with_line(line))

    def test_request_line_bare_lf(self) -> None:
        with pytest.raises(InvalidMessage, match="HTTP request line ends with a bare LF"):
            RequestReader().feed(b"GET / HTTP/1.1\nHost: h\r\n\r\n")

    def test_header_line_bare_lf(self) -> None:
        with pytest.raises(InvalidMessage, match="HTTP header line ends with a bare LF"):
            RequestReader().feed(b"GET / HTTP/1.1\r\nHost: h\n\r\n")

    def test_empty_line_bare_lf(self) -> None:
        with pytest.raises(InvalidMessage, match="bare LF"):
            RequestReader().feed(b"GET / HTTP/1.1\r\nHost: h\r\n\n")

    def test_bare_lf_split_from_line(self) -> None:
        reader = RequestReader()
        assert reader.feed(b"GET / HTTP/1.1") is None
        with pytest.raises(InvalidMessage, match="bare LF"):
            reader.feed(b"\n")

    @pytest.mark.parametrize(
        ("line", "name", "value"),
        [
            (b"X: value", "X", "value"),
            (b"X:value", "X", "value"),
            (b"X: \t value \t ", "X", "value"),
            (b"X:", "X", ""),
            (b"X:   ", "X", ""),
            (b"X: a  b\tc", "X", "a  b\tc"),
            (b"X: caf\xe9", "X", "caf\xe9"),
            (b"X: \xe2\x82\xac", "X", "\xe2\x82\xac"),
            (b"X-Weird_Name!#$%&'*+.^`|~: 1", "X-Weird_Name!#$%&'*+.^`|~", "1"),
            (b"X: a:b: c", "X", "a:b: c"),
        ],
    )
    def test_header_lines(self, line: bytes, name: str, value: str) -> None:
        request = RequestReader().feed(b"GET / HTTP/1.1\r\n" + line + b"\r\n\r\n")
        assert request is not None
        assert list(request.headers.raw_items()) == [(name, value)]

    @pytest.mark.parametrize(
        "line",
        [
            b"X",
            b": value",
            b"X : value",
            b"X\t: value",
            b"X Y: value",
            b"X@: value",
            b"X: a\x00b",
            b"X: a\rb",
            b"X: a\x7fb",
            b"X: a\x1bb",
            b"N\xe4me: value",
        ],
    )
    def test_invalid_header_line(self, line: bytes) -> None:
        with pytest.raises(InvalidMessage, match="invalid HTTP header line"):
            RequestReader().feed(b"GET / HTTP/1.1\r\n" + line + b"\r\n\r\n")

    @pytest.mark.parametrize("fold", [b" folded", b"\tfolded"])
    def test_obs_fold_rejected(self, fold: bytes) -> None:
        with pytest.raises(InvalidMessage, match="obsolete line folding"):
            RequestReader().feed(b"GET / HTTP/1.1\r\nX: a\r\n" + fold + b"\r\n\r\n")

    def test_whitespace_before_first_header_rejected(self) -> None:
        with pytest.raises(InvalidMessage, match="starts with whitespace"):
            RequestReader().feed(b"GET / HTTP/1.1\r\n Host: h\r\n\r\n")

    def test_long_line_is_truncated_in_error_message(self) -> None:
        with pytest.raises(InvalidMessage) as raised:
            RequestReader().feed(b"GET / HTTP/1.1\r\n" + b"X" * 500 + b"\r\n\r\n")
        message = str(raised.value)
        assert message.endswith("...")
        assert len(message) < 150

    # Limits.

    def test_request_line_at_limit(self) -> None:
        line = b"GET /" + b"a" * (MAX_LINE_LENGTH - 14) + b" HTTP/1.1"
        assert len(line) == MAX_LINE_LENGTH
        request = RequestReader().feed(request_with_line(line))
        assert request is not None
        assert len(request.path) == MAX_LINE_LENGTH - 13

    def test_request_line_over_limit(self) -> None:
        line = b"GET /" + b"a" * (MAX_LINE_LENGTH - 13) + b" HTTP/1.1"
        assert len(line) == MAX_LINE_LENGTH + 1
        with pytest.raises(RequestLineTooLong, match="longer than 8192 bytes"):
            RequestReader().feed(request_with_line(line))

    def test_too_long_raises_before_crlf(self) -> None:
        with pytest.raises(RequestLineTooLong):
            RequestReader().feed(b"GET /" + b"a" * 10240)

    def test_line_at_limit_waits_for_crlf(self) -> None:
        reader = RequestReader(max_line_length=20)
        assert reader.feed(b"GET /aaaaaa HTTP/1.1") is None  # 20 bytes
        assert reader.feed(b"\r") is None
        assert reader.feed(b"\n") is None
        assert reader.feed(b"\r\n") is not None

    def test_one_byte_over_limit_raises_at_once(self) -> None:
        reader = RequestReader(max_line_length=20)
        assert reader.feed(b"GET /aaaaaa HTTP/1.") is None
        # Bytes 20 and 21 without CRLF: the line can't fit any more.
        assert reader.feed(b"1") is None
        with pytest.raises(RequestLineTooLong):
            reader.feed(b"x")

    def test_cr_after_limit_then_no_lf(self) -> None:
        reader = RequestReader(max_line_length=20)
        assert reader.feed(b"GET /aaaaaa HTTP/1.1\r") is None
        with pytest.raises(RequestLineTooLong):
            reader.feed(b"x")

    def test_too_long_byte_by_byte_raises_at_the_first_byte_too_many(self) -> None:
        reader = RequestReader()
        data = b"G" * (MAX_LINE_LENGTH + 1)
        for index in range(MAX_LINE_LENGTH):
            assert reader.feed(data[index : index + 1]) is None
        with pytest.raises(RequestLineTooLong):
            reader.feed(b"G")

    def test_header_line_at_limit(self) -> None:
        line = b"X: " + b"v" * (MAX_LINE_LENGTH - 3)
        request = RequestReader().feed(b"GET / HTTP/1.1\r\n" + line + b"\r\n\r\n")
        assert request is not None
        assert len(request.headers["X"]) == MAX_LINE_LENGTH - 3

    def test_header_line_over_limit(self) -> None:
        line = b"X: " + b"v" * (MAX_LINE_LENGTH - 2)
        with pytest.raises(HeaderLineTooLong, match="HTTP header line is longer than 8192"):
            RequestReader().feed(b"GET / HTTP/1.1\r\n" + line + b"\r\n\r\n")

    def test_header_line_too_long_before_crlf(self) -> None:
        reader = RequestReader()
        assert reader.feed(b"GET / HTTP/1.1\r\nX: ") is None
        with pytest.raises(HeaderLineTooLong):
            reader.feed(b"v" * 10240)

    def test_custom_line_limit(self) -> None:
        reader = RequestReader(max_line_length=10)
        assert reader.max_line_length == 10
        with pytest.raises(RequestLineTooLong):
            reader.feed(request_with_line(b"GET / HTTP/1.1"))

    def test_headers_at_limit(self) -> None:
        lines = b"".join(b"X-%d: %d\r\n" % (i, i) for i in range(MAX_NUM_HEADERS))
        request = RequestReader().feed(b"GET / HTTP/1.1\r\n" + lines + b"\r\n")
        assert request is not None
        assert len(request.headers) == MAX_NUM_HEADERS

    def test_headers_over_limit(self) -> None:
        lines = b"".join(b"X: %d\r\n" % i for i in range(MAX_NUM_HEADERS + 1))
        with pytest.raises(TooManyHeaders, match="more than 128 HTTP headers"):
            RequestReader().feed(b"GET / HTTP/1.1\r\n" + lines + b"\r\n")

    def test_headers_over_custom_limit(self) -> None:
        reader = RequestReader(max_num_headers=2)
        assert reader.feed(b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\n") is None
        with pytest.raises(TooManyHeaders):
            reader.feed(b"C: 3\r\n")

    def test_limit_errors_are_security_errors(self) -> None:
        for error in (RequestLineTooLong, HeaderLineTooLong, TooManyHeaders):
            assert issubclass(error, SecurityError)
            assert issubclass(error, InvalidMessage)

    # Bodies.

    @pytest.mark.parametrize("value", [b"0", b"000", b"0, 0"])
    def test_zero_content_length_accepted(self, value: bytes) -> None:
        request = RequestReader().feed(b"GET / HTTP/1.1\r\nContent-Length: " + value + b"\r\n\r\n")
        assert request is not None

    @pytest.mark.parametrize(
        "header",
        [
            b"Content-Length: 5",
            b"Content-Length: 99999999999999999999999999999999",
            b"Transfer-Encoding: chunked",
            b"Transfer-Encoding: gzip",
        ],
    )
    def test_body_rejected(self, header: bytes) -> None:
        with pytest.raises(InvalidMessage, match="unsupported request body"):
            RequestReader().feed(b"GET / HTTP/1.1\r\n" + header + b"\r\n\r\nhello")

    @pytest.mark.parametrize("value", [b"abc", b"-1", b"+1", b"1 2", b"", b"1,", b"\xb2"])
    def test_invalid_content_length(self, value: bytes) -> None:
        with pytest.raises(InvalidMessage, match="invalid Content-Length header"):
            RequestReader().feed(b"GET / HTTP/1.1\r\nContent-Length: " + value + b"\r\n\r\n")

    def test_conflicting_content_length(self) -> None:
        data = b"GET / HTTP/1.1\r\nContent-Length: 0\r\nContent-Length: 1\r\n\r\n"
        with pytest.raises(InvalidMessage, match="conflicting Content-Length"):
            RequestReader().feed(data)

    # State.

    def test_feed_after_complete(self) -> None:
        reader = RequestReader()
        assert reader.feed(REQUEST) is not None
        with pytest.raises(InvalidState, match="already complete"):
            reader.feed(b"more")

    def test_feed_after_error(self) -> None:
        reader = RequestReader()
        with pytest.raises(InvalidMessage):
            reader.feed(b"garbage\r\n")
        with pytest.raises(InvalidState, match="failed earlier"):
            reader.feed(REQUEST)
        assert not reader.complete

    def test_feed_eof_before_anything(self) -> None:
        with pytest.raises(EOFError, match="connection closed while reading HTTP request line"):
            RequestReader().feed_eof()

    def test_feed_eof_in_request_line(self) -> None:
        reader = RequestReader()
        reader.feed(b"GET / HT")
        with pytest.raises(EOFError, match="while reading HTTP request line"):
            reader.feed_eof()

    def test_feed_eof_in_headers(self) -> None:
        reader = RequestReader()
        reader.feed(REQUEST[:-2])
        with pytest.raises(EOFError, match="while reading HTTP headers"):
            reader.feed_eof()
        with pytest.raises(InvalidState):
            reader.feed(b"\r\n")

    def test_feed_eof_after_complete(self) -> None:
        reader = RequestReader()
        reader.feed(REQUEST + FRAME)
        assert reader.feed_eof() is None
        assert reader.leftover == FRAME


# ResponseReader.


class TestResponseReader:
    def test_switching_protocols(self) -> None:
        reader = ResponseReader()
        response = reader.feed(RESPONSE_101 + FRAME)
        assert response is not None
        assert response.status_code == 101
        assert response.reason_phrase == "Switching Protocols"
        assert response.protocol == "HTTP/1.1"
        assert response.headers["Sec-WebSocket-Accept"] == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        assert response.body == b""
        assert reader.leftover == FRAME
        assert reader.complete

    @pytest.mark.parametrize("split", range(len(RESPONSE_101) + len(FRAME) + 1))
    def test_switching_protocols_every_split_point(self, split: int) -> None:
        data = RESPONSE_101 + FRAME
        reader = ResponseReader()
        first = reader.feed(data[:split])
        if split < len(RESPONSE_101):
            assert first is None
            response = reader.feed(data[split:])
            assert reader.leftover == FRAME
        else:
            response = first
            assert reader.leftover == data[len(RESPONSE_101) : split]
        assert response == ResponseReader().feed(RESPONSE_101)

    def test_switching_protocols_ignores_framing_headers(self) -> None:
        data = response_with_headers(b"Content-Length: 100", status=b"101 Switching Protocols")
        reader = ResponseReader()
        response = reader.feed(data + FRAME)
        assert response is not None
        assert response.body == b""
        assert reader.leftover == FRAME

    def test_byte_by_byte(self) -> None:
        results = feed_bytewise(ResponseReader(), RESPONSE_101)
        assert results == [ResponseReader().feed(RESPONSE_101)]

    # Status line.

    @pytest.mark.parametrize(
        ("line", "code", "reason"),
        [
            (b"HTTP/1.1 200 OK", 200, "OK"),
            (b"HTTP/1.1 404 Not  Found ", 404, "Not  Found "),
            (b"HTTP/1.1 204 ", 204, ""),
            (b"HTTP/1.1 204", 204, ""),
            (b"HTTP/1.1 100 Continue", 100, "Continue"),
            (b"HTTP/1.1 599 Custom", 599, "Custom"),
            (b"HTTP/1.1 418 I\tam a \xe9teapot", 418, "I\tam a \xe9teapot"),
        ],
    )
    def test_status_lines(self, line: bytes, code: int, reason: str) -> None:
        response = ResponseReader().feed(line + b"\r\nContent-Length: 0\r\n\r\n")
        assert response is not None
        assert response.status_code == code
        assert response.reason_phrase == reason

    def test_other_version_accepted(self) -> None:
        response = ResponseReader().feed(b"HTTP/1.0 204 No Content\r\n\r\n")
        assert response is not None
        assert response.protocol == "HTTP/1.0"

    @pytest.mark.parametrize(
        "line",
        [
            b"",
            b"HTTP/1.1",
            b"HTTP/1.1 20 OK",
            b"HTTP/1.1 2000 OK",
            b"HTTP/1.1 abc OK",
            b"HTTP/1.1  200 OK",
            b"HTTP/11 200 OK",
            b"http/1.1 200 OK",
            b"ICY 200 OK",
            b"HTTP/1.1 200 O\x00K",
            b"HTTP/1.1 200 O\rK",
            b"HTTP/1.1 200\tOK",
        ],
    )
    def test_invalid_status_line(self, line: bytes) -> None:
        with pytest.raises(InvalidMessage, match="invalid HTTP status line"):
            ResponseReader().feed(line + b"\r\n\r\n")

    @pytest.mark.parametrize("code", [b"000", b"099", b"600", b"999"])
    def test_invalid_status_code(self, code: bytes) -> None:
        with pytest.raises(InvalidMessage, match="invalid HTTP status code"):
            ResponseReader().feed(b"HTTP/1.1 " + code + b" X\r\n\r\n")

    def test_status_line_bare_lf(self) -> None:
        with pytest.raises(InvalidMessage, match="HTTP status line ends with a bare LF"):
            ResponseReader().feed(b"HTTP/1.1 101 Switching Protocols\n\r\n")

    def test_status_line_at_limit(self) -> None:
        line = b"HTTP/1.1 101 " + b"r" * (MAX_LINE_LENGTH - 13)
        assert len(line) == MAX_LINE_LENGTH
        response = ResponseReader().feed(line + b"\r\n\r\n")
        assert response is not None

    def test_status_line_over_limit(self) -> None:
        line = b"HTTP/1.1 101 " + b"r" * (MAX_LINE_LENGTH - 12)
        with pytest.raises(StatusLineTooLong, match="HTTP status line is longer than 8192"):
            ResponseReader().feed(line + b"\r\n\r\n")

    def test_status_line_too_long_before_crlf(self) -> None:
        with pytest.raises(StatusLineTooLong):
            ResponseReader().feed(b"HTTP/1.1 101 " + b"r" * 10240)

    def test_header_limits(self) -> None:
        at_limit = response_with_headers(b"X: " + b"v" * (MAX_LINE_LENGTH - 3), status=b"101 S")
        assert ResponseReader().feed(at_limit) is not None
        over = response_with_headers(b"X: " + b"v" * (MAX_LINE_LENGTH - 2), status=b"101 S")
        with pytest.raises(HeaderLineTooLong):
            ResponseReader().feed(over)

    def test_header_count_limits(self) -> None:
        lines = [b"X: %d" % i for i in range(MAX_NUM_HEADERS)]
        assert ResponseReader().feed(response_with_headers(*lines, status=b"101 S")) is not None
        with pytest.raises(TooManyHeaders):
            ResponseReader().feed(response_with_headers(*lines, b"Y: 1", status=b"101 S"))

    def test_invalid_header_line(self) -> None:
        with pytest.raises(InvalidMessage, match="invalid HTTP header line"):
            ResponseReader().feed(response_with_headers(b"Bad Header: 1"))

    # Bodies without content.

    @pytest.mark.parametrize(
        "status", [b"100 Continue", b"199 X", b"204 No Content", b"304 Not Modified"]
    )
    def test_no_body(self, status: bytes) -> None:
        reader = ResponseReader()
        data = response_with_headers(b"Content-Length: 5", status=status)
        response = reader.feed(data + b"extra")
        assert response is not None
        assert response.body == b""
        assert reader.leftover == b"extra"

    # Content-Length.

    def test_content_length_body(self) -> None:
        reader = ResponseReader()
        data = response_with_headers(b"Content-Length: 5", status=b"403 Forbidden") + b"Hello"
        response = reader.feed(data + b"next")
        assert response is not None
        assert response.body == b"Hello"
        assert reader.leftover == b"next"

    @pytest.mark.parametrize("split", range(60))
    def test_content_length_every_split_point(self, split: int) -> None:
        data = response_with_headers(b"Content-Length: 5") + b"Hello"
        assert len(data) < 60
        reader = ResponseReader()
        first = reader.feed(data[:split])
        response = first if split >= len(data) else reader.feed(data[split:])
        if split < len(data):
            assert first is None
        assert response is not None
        assert response.body == b"Hello"
        assert reader.leftover == b""

    def test_content_length_byte_by_byte(self) -> None:
        data = response_with_headers(b"Content-Length: 11") + b"Hello world"
        results = feed_bytewise(ResponseReader(), data)
        assert len(results) == 1
        assert results[0].body == b"Hello world"  # type: ignore[attr-defined]

    def test_empty_content_length_body(self) -> None:
        response = ResponseReader().feed(response_with_headers(b"Content-Length: 0"))
        assert response is not None
        assert response.body == b""

    @pytest.mark.parametrize("value", [b"5, 5", b"005", b"5,5"])
    def test_repeated_content_length(self, value: bytes) -> None:
        data = response_with_headers(b"Content-Length: " + value) + b"Hello"
        response = ResponseReader().feed(data)
        assert response is not None
        assert response.body == b"Hello"

    def test_repeated_content_length_headers(self) -> None:
        data = response_with_headers(b"Content-Length: 5", b"Content-Length: 5") + b"Hello"
        response = ResponseReader().feed(data)
        assert response is not None
        assert response.body == b"Hello"

    def test_conflicting_content_length(self) -> None:
        with pytest.raises(InvalidMessage, match="conflicting Content-Length"):
            ResponseReader().feed(response_with_headers(b"Content-Length: 5, 6"))

    @pytest.mark.parametrize("value", [b"-5", b"5.0", b"0x5", b"five"])
    def test_invalid_content_length(self, value: bytes) -> None:
        with pytest.raises(InvalidMessage, match="invalid Content-Length"):
            ResponseReader().feed(response_with_headers(b"Content-Length: " + value))

    def test_content_length_at_limit(self) -> None:
        reader = ResponseReader(max_body_size=10)
        response = reader.feed(response_with_headers(b"Content-Length: 10") + b"0123456789")
        assert response is not None
        assert response.body == b"0123456789"

    def test_content_length_over_limit_raises_before_body(self) -> None:
        reader = ResponseReader(max_body_size=10)
        with pytest.raises(BodyTooLong, match="body of 11 bytes exceeds the limit of 10 bytes"):
            reader.feed(response_with_headers(b"Content-Length: 11"))

    def test_default_body_limit(self) -> None:
        reader = ResponseReader()
        assert reader.max_body_size == MAX_BODY_SIZE
        with pytest.raises(BodyTooLong):
            reader.feed(response_with_headers(b"Content-Length: %d" % (MAX_BODY_SIZE + 1)))

    def test_huge_content_length(self) -> None:
        with pytest.raises(BodyTooLong):
            ResponseReader().feed(response_with_headers(b"Content-Length: " + b"9" * 5000))

    def test_large_body_at_once(self) -> None:
        body = bytes(range(256)) * (MAX_BODY_SIZE // 256)
        data = response_with_headers(b"Content-Length: %d" % len(body)) + body
        response = ResponseReader().feed(data)
        assert response is not None
        assert response.body == body

    # Chunked.

    def test_chunked(self) -> None:
        reader = ResponseReader()
        response = reader.feed(CHUNKED_RESPONSE + b"after")
        assert response is not None
        assert response.status_code == 400
        assert response.body == b"Hello, world"
        assert "X-Trailer" not in response.headers
        assert reader.leftover == b"after"

    @pytest.mark.parametrize("split", range(len(CHUNKED_RESPONSE)))
    def test_chunked_every_split_point(self, split: int) -> None:
        reader = ResponseReader()
        assert reader.feed(CHUNKED_RESPONSE[:split]) is None
        response = reader.feed(CHUNKED_RESPONSE[split:])
        assert response is not None
        assert response.body == b"Hello, world"
        assert reader.leftover == b""

    def test_chunked_byte_by_byte(self) -> None:
        results = feed_bytewise(ResponseReader(), CHUNKED_RESPONSE)
        assert len(results) == 1
        assert results[0].body == b"Hello, world"  # type: ignore[attr-defined]

    def test_chunked_hex_sizes(self) -> None:
        body = b"x" * 0x1A + b"y" * 0x10
        data = (
            response_with_headers(b"Transfer-Encoding: chunked")
            + b"1a\r\n" + b"x" * 0x1A + b"\r\n"
            + b"0010 \r\n" + b"y" * 0x10 + b"\r\n"
            + b"0\r\n\r\n"
        )  # fmt: skip
        response = ResponseReader().feed(data)
        assert response is not None
        assert response.body == body

    def test_chunked_transfer_coding_is_case_insensitive_and_last(self) -> None:
        data = response_with_headers(b"Transfer-Encoding: gzip", b"Transfer-Encoding: Chunked")
        response = ResponseReader().feed(data + b"3\r\nabc\r\n0\r\n\r\n")
        assert response is not None
        assert response.body == b"abc"

    def test_transfer_encoding_overrides_content_length(self) -> None:
        data = response_with_headers(b"Content-Length: 100", b"Transfer-Encoding: chunked")
        response = ResponseReader().feed(data + b"3\r\nabc\r\n0\r\n\r\n")
        assert response is not None
        assert response.body == b"abc"

    @pytest.mark.parametrize("value", [b"chunked, gzip", b"chunked, chunked", b"", b" , "])
    def test_invalid_transfer_encoding(self, value: bytes) -> None:
        with pytest.raises(InvalidMessage, match="invalid Transfer-Encoding header"):
            ResponseReader().feed(response_with_headers(b"Transfer-Encoding: " + value))

    def test_non_chunked_transfer_encoding_reads_to_eof(self) -> None:
        reader = ResponseReader()
        assert reader.feed(response_with_headers(b"Transfer-Encoding: gzip") + b"data") is None
        response = reader.feed_eof()
        assert response is not None
        assert response.body == b"data"

    @pytest.mark.parametrize("line", [b"", b"x", b"-1", b"1 2", b"1;\x00", b" 1"])
    def test_invalid_chunk_size_line(self, line: bytes) -> None:
        data = response_with_headers(b"Transfer-Encoding: chunked") + line + b"\r\n"
        with pytest.raises(InvalidMessage, match="invalid chunk size line"):
            ResponseReader().feed(data)

    def test_chunk_size_line_bare_lf(self) -> None:
        data = response_with_headers(b"Transfer-Encoding: chunked") + b"3\nabc"
        with pytest.raises(InvalidMessage, match="chunk size line ends with a bare LF"):
            ResponseReader().feed(data)

    def test_chunk_size_line_too_long(self) -> None:
        data = response_with_headers(b"Transfer-Encoding: chunked") + b"1;" + b"e" * 10240
        with pytest.raises(InvalidMessage, match="chunk size line is longer than"):
            ResponseReader().feed(data)

    @pytest.mark.parametrize("after", [b"XX", b"\rX", b"X"])
    def test_chunk_without_crlf(self, after: bytes) -> None:
        data = response_with_headers(b"Transfer-Encoding: chunked") + b"3\r\nabc" + after
        with pytest.raises(InvalidMessage, match="chunk data isn't followed by CRLF"):
            ResponseReader().feed(data)

    def test_chunked_at_limit(self) -> None:
        data = response_with_headers(b"Transfer-Encoding: chunked")
        data += b"6\r\n012345\r\n4\r\n6789\r\n0\r\n\r\n"
        response = ResponseReader(max_body_size=10).feed(data)
        assert response is not None
        assert response.body == b"0123456789"

    def test_chunked_over_limit_raises_before_chunk_data(self) -> None:
        reader = ResponseReader(max_body_size=10)
        data = response_with_headers(b"Transfer-Encoding: chunked") + b"6\r\n012345\r\n"
        assert reader.feed(data) is None
        with pytest.raises(BodyTooLong, match="chunked body exceeds the limit of 10 bytes"):
            reader.feed(b"5\r\n")

    def test_huge_chunk_size(self) -> None:
        data = response_with_headers(b"Transfer-Encoding: chunked") + b"f" * 100 + b"\r\n"
        with pytest.raises(BodyTooLong):
            ResponseReader().feed(data)

    def test_trailers_count_towards_header_limit(self) -> None:
        data = response_with_headers(b"Transfer-Encoding: chunked", b"X: 1")
        data += b"0\r\nT1: 1\r\nT2: 2\r\n\r\n"
        assert ResponseReader(max_num_headers=4).feed(data) is not None
        with pytest.raises(TooManyHeaders):
            ResponseReader(max_num_headers=3).feed(data)

    def test_invalid_trailer(self) -> None:
        data = response_with_headers(b"Transfer-Encoding: chunked") + b"0\r\nBad Trailer\r\n\r\n"
        with pytest.raises(InvalidMessage, match="invalid HTTP header line"):
            ResponseReader().feed(data)

    # Delimited by EOF.

    def test_body_until_eof(self) -> None:
        reader = ResponseReader()
        assert reader.feed(response_with_headers(b"Content-Type: text/plain") + b"Hel") is None
        assert reader.feed(b"lo") is None
        assert not reader.complete
        response = reader.feed_eof()
        assert response is not None
        assert response.body == b"Hello"
        assert reader.leftover == b""
        assert reader.complete
        assert reader.feed_eof() is None

    def test_empty_body_until_eof(self) -> None:
        reader = ResponseReader()
        assert reader.feed(response_with_headers()) is None
        response = reader.feed_eof()
        assert response is not None
        assert response.body == b""

    def test_body_until_eof_at_limit(self) -> None:
        reader = ResponseReader(max_body_size=10)
        assert reader.feed(response_with_headers() + b"01234") is None
        assert reader.feed(b"56789") is None
        response = reader.feed_eof()
        assert response is not None
        assert response.body == b"0123456789"

    def test_body_until_eof_over_limit(self) -> None:
        reader = ResponseReader(max_body_size=10)
        assert reader.feed(response_with_headers() + b"01234") is None
        with pytest.raises(BodyTooLong, match="body exceeds the limit of 10 bytes"):
            reader.feed(b"567890")

    # State and end of stream.

    def test_feed_after_complete(self) -> None:
        reader = ResponseReader()
        assert reader.feed(RESPONSE_101) is not None
        with pytest.raises(InvalidState, match="HTTP response is already complete"):
            reader.feed(FRAME)

    def test_feed_after_error(self) -> None:
        reader = ResponseReader()
        with pytest.raises(InvalidMessage):
            reader.feed(b"SSH-2.0-OpenSSH\r\n")
        with pytest.raises(InvalidState, match="HTTP response failed earlier"):
            reader.feed(RESPONSE_101)
        with pytest.raises(InvalidState):
            reader.feed_eof()

    def test_feed_after_eof(self) -> None:
        reader = ResponseReader()
        assert reader.feed(response_with_headers()) is None
        assert reader.feed_eof() is not None
        with pytest.raises(InvalidState):
            reader.feed(b"more")

    def test_feed_eof_after_complete(self) -> None:
        reader = ResponseReader()
        assert reader.feed(RESPONSE_101) is not None
        assert reader.feed_eof() is None

    @pytest.mark.parametrize(
        ("data", "where"),
        [
            (b"", "status line"),
            (b"HTTP/1.1 101", "status line"),
            (RESPONSE_101[:-2], "headers"),
            (response_with_headers(b"Content-Length: 5") + b"Hell", "body"),
            (response_with_headers(b"Transfer-Encoding: chunked") + b"5\r\nHe", "body"),
            (response_with_headers(b"Transfer-Encoding: chunked") + b"5\r\nHello", "body"),
            (response_with_headers(b"Transfer-Encoding: chunked") + b"5", "body"),
            (response_with_headers(b"Transfer-Encoding: chunked") + b"0\r\nX: 1\r\n", "trailers"),
        ],
    )
    def test_feed_eof_incomplete(self, data: bytes, where: str) -> None:
        reader = ResponseReader()
        assert reader.feed(data) is None
        with pytest.raises(EOFError, match=f"connection closed while reading HTTP {where}"):
            reader.feed_eof()
        with pytest.raises(InvalidState):
            reader.feed(b"x")


# Property-based tests.

_token = st.text(alphabet="!#$%&'*+-.^_`|~0123456789abcdefABCDEFXYZ", min_size=1, max_size=20)
_value = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_categories=["Cc"]),
    max_size=30,
).map(lambda value: value.strip(" "))


@given(st.lists(st.tuples(_token, _value), max_size=20), st.data())
def test_request_round_trip_in_random_chunks(
    pairs: list[tuple[str, str]], data: st.DataObject
) -> None:
    request = Request("/path", Headers(pairs))
    serialized = request.serialize()
    cuts = sorted(data.draw(st.lists(st.integers(0, len(serialized)), max_size=10)))
    reader = RequestReader()
    results = []
    for start, end in zip([0, *cuts], [*cuts, len(serialized)]):
        if reader.complete:
            break
        result = reader.feed(serialized[start:end])
        if result is not None:
            results.append(result)
    assert results == [request]
    assert list(results[0].headers.raw_items()) == pairs


@given(st.binary(max_size=300), st.data())
def test_chunked_body_round_trip_in_random_chunks(body: bytes, data: st.DataObject) -> None:
    sizes = data.draw(st.lists(st.integers(1, 50), max_size=20))
    encoded = b""
    pos = 0
    for size in sizes:
        piece = body[pos : pos + size]
        if piece:
            encoded += b"%x\r\n" % len(piece) + piece + b"\r\n"
        pos += size
    if body[pos:]:
        encoded += b"%x\r\n" % len(body[pos:]) + body[pos:] + b"\r\n"
    message = response_with_headers(b"Transfer-Encoding: chunked") + encoded + b"0\r\n\r\n"
    cuts = sorted(data.draw(st.lists(st.integers(0, len(message)), max_size=10)))
    reader = ResponseReader()
    results = []
    for start, end in zip([0, *cuts], [*cuts, len(message)]):
        if reader.complete:
            break
        result = reader.feed(message[start:end])
        if result is not None:
            results.append(result)
    assert len(results) == 1
    assert results[0].body == body  # type: ignore[attr-defined]


@given(st.binary(max_size=200))
def test_garbage_never_crashes(data: bytes) -> None:
    reader = ResponseReader(max_line_length=64, max_num_headers=4, max_body_size=64)
    try:
        reader.feed(b"HTTP/1.1 200 OK\r\n" + data)
        reader.feed_eof()
    except (InvalidMessage, EOFError):
        pass
