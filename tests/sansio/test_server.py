"""Tests for ServerProtocol: the server side of the opening handshake, then frames."""

from __future__ import annotations

import base64
import hashlib
import http
import logging
import re

import pytest
from conftest import BINARY, CLOSE, TEXT, close_payload, encode_frame, frame_to

from wirespeed.exceptions import (
    HeaderLineTooLong,
    InvalidHeader,
    InvalidHeaderValue,
    InvalidMessage,
    InvalidMethod,
    InvalidOrigin,
    InvalidProtocol,
    InvalidStatus,
    InvalidUpgrade,
    NegotiationError,
    RequestLineTooLong,
    TooManyHeaders,
)
from wirespeed.frames import Frame, Opcode
from wirespeed.http import Headers, Request, Response
from wirespeed.sansio import SEND_EOF, ServerProtocol, Side, State

KEY = "dGhlIHNhbXBsZSBub25jZQ=="
ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="  # RFC 6455, section 1.3


def request_headers(**replace) -> Headers:
    """Headers of a valid handshake request; ``name=None`` removes a header."""
    fields = {
        "Host": "example.com",
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": KEY,
        "Sec-WebSocket-Version": "13",
    }
    for name, value in replace.items():
        fields[name.replace("_", "-")] = value
    return Headers([(name, value) for name, value in fields.items() if value is not None])


def request_bytes(headers=None, request_line=b"GET /chat HTTP/1.1") -> bytes:
    if headers is None:
        headers = request_headers()
    return request_line + b"\r\n" + headers.serialize()


def receive_request(server: ServerProtocol, data: bytes) -> Request:
    server.receive_data(data)
    (request,) = server.events_received()
    assert isinstance(request, Request)
    return request


def handshake(server: ServerProtocol, data: bytes) -> Response:
    """Receive a request, answer it, send the answer; return the response."""
    response = server.accept(receive_request(server, data))
    server.send_response(response)
    return response


def parse_response(data: bytes):
    """Split raw response bytes into the status line, the headers and the body."""
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    return status_line, [tuple(line.split(": ", 1)) for line in lines], body


# Successful handshake.


def test_accept_valid_request():
    server = ServerProtocol()
    request = receive_request(server, request_bytes())
    assert request.path == "/chat"
    assert request.headers["Sec-WebSocket-Key"] == KEY
    assert server.request is request
    response = server.accept(request)
    assert response.status_code == 101
    assert response.reason_phrase == "Switching Protocols"
    assert response.headers["Upgrade"] == "websocket"
    assert response.headers["Connection"] == "Upgrade"
    assert response.headers["Sec-WebSocket-Accept"] == ACCEPT
    assert "Sec-WebSocket-Protocol" not in response.headers
    assert "Sec-WebSocket-Extensions" not in response.headers
    assert server.handshake_exc is None
    assert server.state is State.CONNECTING


def test_accept_key_matches_rfc_computation():
    key = base64.b64encode(bytes(range(16))).decode()
    server = ServerProtocol()
    response = server.accept(
        receive_request(server, request_bytes(request_headers(Sec_WebSocket_Key=key)))
    )
    expected = base64.b64encode(
        hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()
    ).decode()
    assert response.headers["Sec-WebSocket-Accept"] == expected


def test_send_response_opens_connection():
    server = ServerProtocol()
    handshake(server, request_bytes())
    (data,) = server.data_to_send()
    status_line, headers, body = parse_response(data)
    assert status_line == "HTTP/1.1 101 Switching Protocols"
    assert ("Sec-WebSocket-Accept", ACCEPT) in headers
    assert body == b""
    assert server.state is State.OPEN
    assert server.response is not None
    assert not server.close_expected()


def test_messages_flow_after_handshake():
    server = ServerProtocol()
    handshake(server, request_bytes())
    server.data_to_send()
    server.receive_data(frame_to(Side.SERVER, TEXT, b"hello"))
    assert server.events_received() == [Frame(Opcode.TEXT, b"hello")]
    server.send_binary(b"\x00\x01")
    assert server.data_to_send() == [b"\x82\x02\x00\x01"]


def test_request_received_in_small_pieces():
    server = ServerProtocol()
    data = request_bytes()
    for index in range(len(data) - 1):
        server.receive_data(data[index : index + 1])
        assert server.events_received() == []
    server.receive_data(data[-1:])
    (request,) = server.events_received()
    assert request.headers["Host"] == "example.com"


def test_frames_right_after_request_are_kept():
    server = ServerProtocol()
    frames = frame_to(Side.SERVER, TEXT, b"early") + frame_to(Side.SERVER, BINARY, b"bird")
    request = receive_request(server, request_bytes() + frames[:5])
    server.receive_data(frames[5:])
    assert server.events_received() == []  # frames wait for the response
    server.send_response(server.accept(request))
    assert server.events_received() == [
        Frame(Opcode.TEXT, b"early"),
        Frame(Opcode.BINARY, b"bird"),
    ]


def test_too_much_data_before_response():
    server = ServerProtocol(max_size=10)
    receive_request(server, request_bytes())
    server.receive_data(b"\x00" * (10 + 14 + 2**16 + 1))
    assert isinstance(server.handshake_exc, InvalidMessage)
    assert server.data_to_send() == [SEND_EOF]
    assert server.close_expected()


def test_connection_header_with_several_options():
    server = ServerProtocol()
    request = receive_request(
        server, request_bytes(request_headers(Connection="keep-alive, Upgrade"))
    )
    assert server.accept(request).status_code == 101


def test_upgrade_and_connection_are_case_insensitive():
    server = ServerProtocol()
    request = receive_request(
        server, request_bytes(request_headers(Connection="upgrade", Upgrade="WebSocket"))
    )
    assert server.accept(request).status_code == 101


# Invalid requests: each problem gets its own status and message.


INVALID_REQUESTS = [
    # (headers, request line, status, exception, message, extra header)
    (
        {"Upgrade": None},
        b"GET / HTTP/1.1",
        426,
        InvalidUpgrade,
        "missing Upgrade header",
        ("Upgrade", "websocket"),
    ),
    (
        {"Upgrade": "h2c"},
        b"GET / HTTP/1.1",
        426,
        InvalidUpgrade,
        "invalid Upgrade header: h2c",
        ("Upgrade", "websocket"),
    ),
    (
        {"Upgrade": "websocket, h2c"},
        b"GET / HTTP/1.1",
        426,
        InvalidUpgrade,
        "invalid Upgrade header: websocket, h2c",
        ("Upgrade", "websocket"),
    ),
    (
        {"Connection": None},
        b"GET / HTTP/1.1",
        426,
        InvalidUpgrade,
        "missing Connection header",
        ("Upgrade", "websocket"),
    ),
    (
        {"Connection": "keep-alive"},
        b"GET / HTTP/1.1",
        426,
        InvalidUpgrade,
        "invalid Connection header: keep-alive",
        ("Upgrade", "websocket"),
    ),
    (
        {"Sec-WebSocket-Key": None},
        b"GET / HTTP/1.1",
        400,
        InvalidHeader,
        "missing Sec-WebSocket-Key header",
        None,
    ),
    (
        {"Sec-WebSocket-Key": "not a key"},
        b"GET / HTTP/1.1",
        400,
        InvalidHeaderValue,
        "invalid Sec-WebSocket-Key header: not a key",
        None,
    ),
    (
        {"Sec-WebSocket-Key": "AAAAAAAAAAAAAAAAAAAAAAAA"},  # 18 bytes, not 16
        b"GET / HTTP/1.1",
        400,
        InvalidHeaderValue,
        "invalid Sec-WebSocket-Key header: AAAAAAAAAAAAAAAAAAAAAAAA",
        None,
    ),
    (
        {"Sec-WebSocket-Version": None},
        b"GET / HTTP/1.1",
        426,
        InvalidHeader,
        "missing Sec-WebSocket-Version header",
        ("Sec-WebSocket-Version", "13"),
    ),
    (
        {"Sec-WebSocket-Version": "8"},
        b"GET / HTTP/1.1",
        426,
        InvalidHeaderValue,
        "invalid Sec-WebSocket-Version header: 8",
        ("Sec-WebSocket-Version", "13"),
    ),
    (
        {},
        b"POST / HTTP/1.1",
        405,
        InvalidMethod,
        "unsupported HTTP method; expected GET; got POST",
        ("Allow", "GET"),
    ),
    (
        {},
        b"GET / HTTP/1.0",
        505,
        InvalidProtocol,
        "unsupported protocol; expected HTTP/1.1; got HTTP/1.0",
        None,
    ),
]


@pytest.mark.parametrize(
    ("replace", "request_line", "status", "exc_type", "message", "extra_header"),
    INVALID_REQUESTS,
    ids=[f"{case[2]}-{case[4]}" for case in INVALID_REQUESTS],
)
def test_invalid_request(replace, request_line, status, exc_type, message, extra_header):
    server = ServerProtocol()
    headers = request_headers(**{name.replace("-", "_"): value for name, value in replace.items()})
    request = receive_request(server, request_bytes(headers, request_line))
    response = server.accept(request)
    assert response.status_code == status
    assert response.reason_phrase == http.HTTPStatus(status).phrase
    assert type(server.handshake_exc) is exc_type
    assert str(server.handshake_exc) == message
    assert f"Failed to open a WebSocket connection: {message}.".encode() in response.body
    if extra_header is not None:
        assert response.headers.get_all(extra_header[0]) == [extra_header[1]]
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert response.headers["Content-Length"] == str(len(response.body))
    assert response.headers["Connection"] == "close"
    assert "Sec-WebSocket-Accept" not in response.headers


def test_duplicate_key():
    server = ServerProtocol()
    headers = request_headers()
    headers["Sec-WebSocket-Key"] = KEY
    response = server.accept(receive_request(server, request_bytes(headers)))
    assert response.status_code == 400
    assert type(server.handshake_exc) is InvalidHeader
    assert str(server.handshake_exc) == "invalid Sec-WebSocket-Key header: multiple values"


def test_duplicate_version():
    server = ServerProtocol()
    headers = request_headers()
    headers["Sec-WebSocket-Version"] = "13"
    response = server.accept(receive_request(server, request_bytes(headers)))
    assert response.status_code == 426
    assert response.headers["Sec-WebSocket-Version"] == "13"


def test_upgrade_rejection_explains_browsers():
    server = ServerProtocol()
    response = server.accept(
        receive_request(server, request_bytes(request_headers(Upgrade=None, Connection=None)))
    )
    assert b"You cannot access a WebSocket server directly with a browser" in response.body


def test_rejected_handshake_closes_connection():
    server = ServerProtocol()
    request = receive_request(server, request_bytes(request_headers(Upgrade=None)))
    response = server.accept(request)
    server.send_response(response)
    data, eof = server.data_to_send()
    assert eof == SEND_EOF
    status_line, _, body = parse_response(data)
    assert status_line == "HTTP/1.1 426 Upgrade Required"
    assert body == response.body
    assert server.state is State.CONNECTING
    assert server.close_expected()
    # Anything the client sends now is ignored.
    server.receive_data(frame_to(Side.SERVER, TEXT, b"ignored"))
    assert server.events_received() == []
    assert server.data_to_send() == []


# reject().


def test_reject():
    server = ServerProtocol()
    receive_request(server, request_bytes())
    response = server.reject(http.HTTPStatus.FORBIDDEN, "Go away 🚫\n")
    assert response.status_code == 403
    assert response.reason_phrase == "Forbidden"
    assert response.body == "Go away 🚫\n".encode()
    assert response.headers["Content-Length"] == str(len("Go away 🚫\n".encode()))
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert response.headers["Connection"] == "close"
    server.send_response(response)
    data, eof = server.data_to_send()
    assert eof == SEND_EOF
    assert data.startswith(b"HTTP/1.1 403 Forbidden\r\n")
    assert data.endswith(b"\r\n\r\n" + "Go away 🚫\n".encode())
    assert type(server.handshake_exc) is InvalidStatus
    assert server.handshake_exc.response is response
    assert server.close_expected()


def test_reject_with_int_status():
    server = ServerProtocol()
    response = server.reject(503, "")
    assert (response.status_code, response.reason_phrase) == (503, "Service Unavailable")
    assert response.body == b""
    assert response.headers["Content-Length"] == "0"


def test_reject_body_too_large():
    server = ServerProtocol()
    with pytest.raises(ValueError):
        server.reject(500, "x" * (2**20 + 1))


def test_response_headers_can_be_changed_before_sending():
    server = ServerProtocol()
    response = server.accept(receive_request(server, request_bytes()))
    response.headers["X-Custom"] = "yes"
    server.send_response(response)
    (data,) = server.data_to_send()
    assert ("X-Custom", "yes") in parse_response(data)[1]


# Origins.


def origin_request(origin=None, **replace) -> bytes:
    return request_bytes(request_headers(Origin=origin, **replace))


@pytest.mark.parametrize(
    ("origins", "origin", "accepted"),
    [
        (None, None, True),
        (None, "https://anything.example", True),
        (["https://good.example"], "https://good.example", True),
        (["https://good.example"], "https://evil.example", False),
        (["https://good.example"], None, False),
        (["https://good.example", None], None, True),
        ([None], "https://good.example", False),
        ([], "https://good.example", False),
        ([re.compile(r"https://[a-z]+\.example")], "https://good.example", True),
        ([re.compile(r"https://[a-z]+\.example")], "https://good.example.evil", False),
        ([re.compile(r"https://[a-z]+\.example")], "xhttps://good.example", False),
        ([re.compile(r"https://[a-z]+\.example")], None, False),
        (["https://a.example", re.compile(r"https://b+\.example")], "https://bbb.example", True),
    ],
)
def test_origins(origins, origin, accepted):
    server = ServerProtocol(origins=origins)
    response = server.accept(receive_request(server, origin_request(origin)))
    if accepted:
        assert response.status_code == 101
        assert server.handshake_exc is None
    else:
        assert response.status_code == 403
        assert type(server.handshake_exc) is InvalidOrigin
        expected = "missing Origin header" if origin is None else f"invalid Origin header: {origin}"
        assert str(server.handshake_exc) == expected


def test_multiple_origin_headers():
    server = ServerProtocol(origins=["https://good.example"])
    headers = request_headers(Origin="https://good.example")
    headers["Origin"] = "https://good.example"
    response = server.accept(receive_request(server, request_bytes(headers)))
    assert response.status_code == 400
    assert isinstance(server.handshake_exc, InvalidHeader)


# Subprotocols.


def subprotocol_request(*offers: str) -> bytes:
    headers = request_headers()
    for offer in offers:
        headers["Sec-WebSocket-Protocol"] = offer
    return request_bytes(headers)


@pytest.mark.parametrize(
    ("supported", "offers", "selected"),
    [
        (None, ["chat"], None),
        (["chat"], [], None),
        (["chat"], ["chat"], "chat"),
        (["chat", "superchat"], ["superchat, chat"], "chat"),  # the server's preference
        (["superchat", "chat"], ["chat", "superchat"], "superchat"),
        (["chat"], ["other"], None),
    ],
)
def test_default_subprotocol_selection(supported, offers, selected):
    server = ServerProtocol(subprotocols=supported)
    response = server.accept(receive_request(server, subprotocol_request(*offers)))
    assert response.status_code == 101
    assert server.subprotocol == selected
    expected = [] if selected is None else [selected]
    assert response.headers.get_all("Sec-WebSocket-Protocol") == expected


def test_custom_subprotocol_selection():
    calls = []

    def select_subprotocol(protocol, subprotocols):
        calls.append((protocol, list(subprotocols)))
        return subprotocols[-1]

    server = ServerProtocol(subprotocols=["a"], select_subprotocol=select_subprotocol)
    response = server.accept(receive_request(server, subprotocol_request("a, b", "c")))
    assert calls == [(server, ["a", "b", "c"])]
    assert server.subprotocol == "c"
    assert response.headers["Sec-WebSocket-Protocol"] == "c"


def test_custom_subprotocol_selection_returns_none():
    server = ServerProtocol(select_subprotocol=lambda protocol, subprotocols: None)
    response = server.accept(receive_request(server, subprotocol_request("a")))
    assert response.status_code == 101
    assert "Sec-WebSocket-Protocol" not in response.headers


def test_custom_subprotocol_selection_rejects():
    def select_subprotocol(protocol, subprotocols):
        raise NegotiationError("missing subprotocol")

    server = ServerProtocol(select_subprotocol=select_subprotocol)
    response = server.accept(receive_request(server, subprotocol_request("a")))
    assert response.status_code == 400
    assert type(server.handshake_exc) is NegotiationError
    assert b"missing subprotocol" in response.body


def test_custom_subprotocol_selection_crashes(caplog):
    def select_subprotocol(protocol, subprotocols):
        raise RuntimeError("bug")

    server = ServerProtocol(select_subprotocol=select_subprotocol)
    with caplog.at_level(logging.ERROR, logger="wirespeed.server"):
        response = server.accept(receive_request(server, subprotocol_request("a")))
    assert response.status_code == 500
    assert type(server.handshake_exc) is RuntimeError
    assert b"bug" not in response.body
    assert any(record.exc_info for record in caplog.records)


def test_invalid_subprotocol_header():
    server = ServerProtocol(subprotocols=["chat"])
    response = server.accept(receive_request(server, subprotocol_request("chat; x")))
    assert response.status_code == 400
    assert isinstance(server.handshake_exc, InvalidHeader)


def test_extensions_offered_are_ignored_without_support():
    server = ServerProtocol()
    headers = request_headers(Sec_WebSocket_Extensions="permessage-deflate")
    response = server.accept(receive_request(server, request_bytes(headers)))
    assert response.status_code == 101
    assert "Sec-WebSocket-Extensions" not in response.headers


# Malformed requests: the server can't answer, it closes the connection.


@pytest.mark.parametrize(
    ("data", "cause_type"),
    [
        (b"GET " + b"/" * 8200 + b" HTTP/1.1\r\n\r\n", RequestLineTooLong),
        (request_bytes()[:-2] + b"X-Long: " + b"x" * 8200 + b"\r\n\r\n", HeaderLineTooLong),
        (
            request_bytes()[:-2] + b"".join(b"X-%d: y\r\n" % n for n in range(130)) + b"\r\n",
            TooManyHeaders,
        ),
        (b"not http at all\r\n\r\n", InvalidMessage),
        (b"GET / HTTP/1.1\nHost: x\n\n", InvalidMessage),
    ],
    ids=["request-line-too-long", "header-line-too-long", "too-many-headers", "garbage", "bare-lf"],
)
def test_malformed_request(data, cause_type):
    server = ServerProtocol()
    server.receive_data(data)
    assert server.events_received() == []
    assert type(server.handshake_exc) is InvalidMessage
    assert str(server.handshake_exc) == "did not receive a valid HTTP request"
    assert isinstance(server.handshake_exc.__cause__, cause_type)
    assert server.data_to_send() == [SEND_EOF]
    assert server.close_expected()
    server.receive_data(b"more")
    assert server.data_to_send() == []
    server.receive_eof()
    assert server.data_to_send() == []
    assert server.state is State.CLOSED


def test_request_line_too_long_detected_before_its_end():
    server = ServerProtocol()
    server.receive_data(b"GET /" + b"a" * 10_000)
    assert isinstance(server.handshake_exc.__cause__, RequestLineTooLong)
    assert server.data_to_send() == [SEND_EOF]


def test_eof_before_request():
    server = ServerProtocol()
    server.receive_data(b"GET / HTTP/1.1\r\nHost: exa")
    server.receive_eof()
    assert type(server.handshake_exc) is InvalidMessage
    assert isinstance(server.handshake_exc.__cause__, EOFError)
    assert server.data_to_send() == [SEND_EOF]
    assert server.events_received() == []
    assert server.state is State.CLOSED


def test_eof_without_any_data():
    server = ServerProtocol()
    server.receive_eof()
    assert type(server.handshake_exc) is InvalidMessage
    assert server.data_to_send() == [SEND_EOF]


def test_request_with_body_is_rejected():
    server = ServerProtocol()
    server.receive_data(request_bytes()[:-2] + b"Content-Length: 3\r\n\r\nabc")
    assert type(server.handshake_exc) is InvalidMessage
    assert server.data_to_send() == [SEND_EOF]


# After the handshake, the server side rules apply.


def test_server_requires_masked_frames_after_handshake():
    server = ServerProtocol()
    handshake(server, request_bytes())
    server.data_to_send()
    server.receive_data(encode_frame(TEXT, b"unmasked"))
    output = server.data_to_send()
    assert output[-1] == SEND_EOF
    assert output[0] == b"\x88" + bytes([len(close_payload(1002, "incorrect masking"))]) + (
        close_payload(1002, "incorrect masking")
    )


def test_server_closes_after_close_handshake():
    server = ServerProtocol()
    handshake(server, request_bytes())
    server.data_to_send()
    server.receive_data(frame_to(Side.SERVER, CLOSE, close_payload(1000)))
    assert server.data_to_send() == [b"\x88\x02\x03\xe8", SEND_EOF]


def test_server_state_starts_connecting():
    server = ServerProtocol()
    assert server.state is State.CONNECTING
    assert server.side is Side.SERVER
    assert not server.close_expected()


def test_server_logs_handshake_at_debug(caplog):
    name = "tests.server.debug"
    with caplog.at_level(logging.DEBUG, logger=name):
        server = ServerProtocol(logger=logging.getLogger(name))
        handshake(
            server, request_bytes(request_headers(Authorization="Basic c2VjcmV0OnNlY3JldA=="))
        )
    messages = [record.getMessage() for record in caplog.records if record.name == name]
    assert "< GET /chat HTTP/1.1" in messages
    assert "> HTTP/1.1 101 Switching Protocols" in messages
    assert "< Authorization: <hidden>" in messages
    assert not any("c2VjcmV0" in message for message in messages)

