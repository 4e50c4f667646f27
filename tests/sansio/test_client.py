"""Tests for ClientProtocol, alone and in full handshakes with ServerProtocol."""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging

import pytest
from conftest import BINARY, CLOSE, MASK_KEY, TEXT, close_payload, encode_frame

from wirespeed.exceptions import (
    HeaderLineTooLong,
    InvalidHeader,
    InvalidHeaderValue,
    InvalidMessage,
    InvalidState,
    InvalidStatus,
    InvalidUpgrade,
    NegotiationError,
    StatusLineTooLong,
    TooManyHeaders,
)
from wirespeed.frames import Frame, Opcode
from wirespeed.http import Request, Response
from wirespeed.sansio import SEND_EOF, ClientProtocol, ServerProtocol, Side, State
from wirespeed.uri import parse_uri

URI = parse_uri("ws://example.com/chat?room=1")


def accept_for(key: str) -> str:
    digest = hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()
    return base64.b64encode(digest).decode()


def response_bytes(
    client: ClientProtocol, status: bytes = b"101 Switching Protocols", **replace
) -> bytes:
    """A handshake response for ``client``; ``Name=None`` removes a header."""
    fields = {
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Accept": accept_for(client.key),
    }
    for name, value in replace.items():
        fields[name.replace("_", "-")] = value
    lines = [f"{name}: {value}\r\n" for name, value in fields.items() if value is not None]
    return b"HTTP/1.1 " + status + b"\r\n" + "".join(lines).encode() + b"\r\n"


def started_client(**kwargs) -> ClientProtocol:
    client = ClientProtocol(URI, **kwargs)
    client.send_request(client.connect())
    client.data_to_send()
    return client


def check_failed(client: ClientProtocol, exc_type: type, message: str) -> None:
    assert type(client.handshake_exc) is exc_type
    assert str(client.handshake_exc) == message
    assert client.data_to_send() == [SEND_EOF]
    assert client.close_expected()
    assert client.state is State.CONNECTING


# The request.


def test_connect_builds_handshake_request():
    client = ClientProtocol(URI)
    request = client.connect()
    assert isinstance(request, Request)
    assert request.path == "/chat?room=1"
    assert request.method == "GET"
    headers = request.headers
    assert headers["Host"] == "example.com"
    assert headers["Upgrade"] == "websocket"
    assert headers["Connection"] == "Upgrade"
    assert headers["Sec-WebSocket-Version"] == "13"
    assert len(base64.b64decode(headers["Sec-WebSocket-Key"], validate=True)) == 16
    assert headers["Sec-WebSocket-Key"] == client.key
    for name in ("Origin", "Sec-WebSocket-Protocol", "Sec-WebSocket-Extensions", "Authorization"):
        assert name not in headers


def test_each_client_has_a_fresh_key():
    keys = {ClientProtocol(URI).key for _ in range(20)}
    assert len(keys) == 20


@pytest.mark.parametrize(
    ("uri", "host"),
    [
        ("ws://example.com:8080/", "example.com:8080"),
        ("wss://example.com/", "example.com"),
        ("wss://example.com:80/", "example.com:80"),
        ("ws://[::1]:9000/", "[::1]:9000"),
    ],
)
def test_connect_host_header(uri, host):
    assert ClientProtocol(parse_uri(uri)).connect().headers["Host"] == host


def test_connect_with_origin_and_subprotocols():
    client = ClientProtocol(URI, origin="https://example.com", subprotocols=["chat", "superchat"])
    headers = client.connect().headers
    assert headers["Origin"] == "https://example.com"
    assert headers["Sec-WebSocket-Protocol"] == "chat, superchat"


def test_connect_with_credentials():
    client = ClientProtocol(parse_uri("ws://user:p%40ss@example.com/"))
    assert client.connect().headers["Authorization"] == "Basic " + base64.b64encode(
        b"user:p@ss"
    ).decode()


def test_send_request():
    client = ClientProtocol(URI)
    request = client.connect()
    client.send_request(request)
    (data,) = client.data_to_send()
    assert data.startswith(b"GET /chat?room=1 HTTP/1.1\r\n")
    assert data.endswith(b"\r\n\r\n")
    assert f"Sec-WebSocket-Key: {client.key}\r\n".encode() in data
    assert client.request is request
    assert client.state is State.CONNECTING


def test_credentials_are_not_logged(caplog):
    name = "tests.client.debug"
    with caplog.at_level(logging.DEBUG, logger=name):
        client = ClientProtocol(
            parse_uri("ws://user:secret@example.com/"), logger=logging.getLogger(name)
        )
        client.send_request(client.connect())
    messages = [record.getMessage() for record in caplog.records if record.name == name]
    assert "> GET / HTTP/1.1" in messages
    assert "> Authorization: <hidden>" in messages
    secret = base64.b64encode(b"user:secret").decode()
    assert not any(secret in message for message in messages)


# Full handshakes between a client and a server.


def deliver(source, destination) -> list:
    for chunk in source.data_to_send():
        if chunk == SEND_EOF:
            destination.receive_eof()
        else:
            destination.receive_data(chunk)
    return destination.events_received()


def open_pair(client_kwargs=None, server_kwargs=None):
    client = ClientProtocol(URI, **(client_kwargs or {}))
    server = ServerProtocol(**(server_kwargs or {}))
    client.send_request(client.connect())
    (request,) = deliver(client, server)
    assert isinstance(request, Request)
    server.send_response(server.accept(request))
    (response,) = deliver(server, client)
    assert isinstance(response, Response)
    assert response.status_code == 101
    return client, server


def test_full_handshake():
    client, server = open_pair()
    assert client.state is State.OPEN
    assert server.state is State.OPEN
    assert client.handshake_exc is None
    assert server.handshake_exc is None
    assert client.response is not None
    assert client.response.headers["Sec-WebSocket-Accept"] == accept_for(client.key)
    assert client.subprotocol is None
    assert server.subprotocol is None


def test_messages_flow_both_ways():
    client, server = open_pair()
    client.send_text("héllo".encode())
    client.send_binary(b"\x00" * 70_000)
    assert deliver(client, server) == [
        Frame(Opcode.TEXT, "héllo".encode()),
        Frame(Opcode.BINARY, b"\x00" * 70_000),
    ]
    server.send_text(b"a", fin=False)
    server.send_continuation(b"b", fin=True)
    server.send_ping(b"p")
    assert deliver(server, client) == [
        Frame(Opcode.TEXT, b"a", fin=False),
        Frame(Opcode.CONT, b"b"),
        Frame(Opcode.PING, b"p"),
    ]
    assert deliver(client, server) == [Frame(Opcode.PONG, b"p")]


def test_full_closing_handshake_after_opening_handshake():
    client, server = open_pair()
    client.send_close(1000, "done")
    deliver(client, server)
    deliver(server, client)
    deliver(client, server)
    assert client.state is State.CLOSED
    assert server.state is State.CLOSED
    assert str(client.close_exc) == "sent 1000 (OK) done; then received 1000 (OK) done"
    assert str(server.close_exc) == "received 1000 (OK) done; then sent 1000 (OK) done"


def test_frames_right_after_response_are_not_lost():
    client = started_client()
    frames = encode_frame(TEXT, b"first") + encode_frame(BINARY, b"second")
    client.receive_data(response_bytes(client) + frames[:3])
    client.receive_data(frames[3:])
    events = client.events_received()
    assert isinstance(events[0], Response)
    assert events[1:] == [Frame(Opcode.TEXT, b"first"), Frame(Opcode.BINARY, b"second")]


def test_frames_right_after_request_and_response_are_not_lost():
    client = ClientProtocol(URI)
    server = ServerProtocol()
    client.send_request(client.connect())
    (request_data,) = client.data_to_send()
    server.receive_data(request_data + encode_frame(TEXT, b"eager", mask_key=MASK_KEY))
    (request,) = server.events_received()
    server.send_response(server.accept(request))
    assert server.events_received() == [Frame(Opcode.TEXT, b"eager")]
    server.send_text(b"welcome")
    response_data, frame_data = server.data_to_send()
    client.receive_data(response_data + frame_data)
    events = client.events_received()
    assert isinstance(events[0], Response)
    assert events[1:] == [Frame(Opcode.TEXT, b"welcome")]


def test_close_frame_right_after_response():
    client = started_client()
    client.receive_data(response_bytes(client) + encode_frame(CLOSE, close_payload(1001)))
    events = client.events_received()
    assert events[1:] == [Frame(Opcode.CLOSE, close_payload(1001))]
    assert client.state is State.CLOSING


def test_response_received_in_small_pieces():
    client = started_client()
    data = response_bytes(client)
    for index in range(len(data) - 1):
        client.receive_data(data[index : index + 1])
        assert client.events_received() == []
    client.receive_data(data[-1:])
    assert client.state is State.OPEN
    assert client.data_to_send() == []


def test_client_cannot_send_data_before_open():
    client = ClientProtocol(URI)
    with pytest.raises(InvalidState):
        client.send_text(b"early")
    assert client.data_to_send() == []


@pytest.mark.parametrize(
    ("client_subprotocols", "server_subprotocols", "selected"),
    [
        (["chat"], ["chat"], "chat"),
        (["superchat", "chat"], ["chat", "superchat"], "chat"),
        (["chat"], ["other"], None),
        (None, ["chat"], None),
        (["chat"], None, None),
    ],
)
def test_subprotocol_negotiation(client_subprotocols, server_subprotocols, selected):
    client, server = open_pair(
        {"subprotocols": client_subprotocols}, {"subprotocols": server_subprotocols}
    )
    assert client.subprotocol == selected
    assert server.subprotocol == selected


def test_custom_subprotocol_selection_end_to_end():
    client, server = open_pair(
        {"subprotocols": ["v1", "v2", "v3"]},
        {"select_subprotocol": lambda protocol, offered: max(offered)},
    )
    assert client.subprotocol == server.subprotocol == "v3"


def test_origin_end_to_end():
    client, server = open_pair(
        {"origin": "https://example.com"}, {"origins": ["https://example.com"]}
    )
    assert server.request.headers["Origin"] == "https://example.com"
    assert client.state is server.state is State.OPEN


def test_origin_rejected_end_to_end():
    client = ClientProtocol(URI, origin="https://evil.example")
    server = ServerProtocol(origins=["https://example.com"])
    client.send_request(client.connect())
    (request,) = deliver(client, server)
    server.send_response(server.accept(request))
    (response,) = deliver(server, client)
    assert response.status_code == 403
    assert type(client.handshake_exc) is InvalidStatus
    assert client.handshake_exc.response is response
    assert b"invalid Origin header: https://evil.example" in response.body
    assert client.data_to_send() == [SEND_EOF]


def test_rejected_handshake_end_to_end():
    client = ClientProtocol(URI)
    server = ServerProtocol()
    request = client.connect()
    del request.headers["Sec-WebSocket-Version"]
    client.send_request(request)
    (request,) = deliver(client, server)
    server.send_response(server.accept(request))
    (response,) = deliver(server, client)  # and the server's EOF
    assert response.status_code == 426
    assert response.headers["Sec-WebSocket-Version"] == "13"
    assert type(client.handshake_exc) is InvalidStatus
    assert client.data_to_send() == [SEND_EOF]
    assert client.state is State.CLOSED


# The response is not acceptable.


def test_non_101_response():
    client = started_client()
    body = b"Not here.\n"
    client.receive_data(
        b"HTTP/1.1 404 Not Found\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    (response,) = client.events_received()
    assert response.status_code == 404
    assert response.body == body
    check_failed(client, InvalidStatus, "server rejected WebSocket connection: HTTP 404")
    assert client.handshake_exc.response is response
    assert client.response is response


def test_non_101_response_with_body_until_eof():
    client = started_client()
    client.receive_data(b"HTTP/1.1 503 Service Unavailable\r\n\r\nTry later")
    assert client.events_received() == []
    assert client.handshake_exc is None
    client.receive_eof()
    (response,) = client.events_received()
    assert response.status_code == 503
    assert response.body == b"Try later"
    assert type(client.handshake_exc) is InvalidStatus
    assert client.data_to_send() == [SEND_EOF]
    assert client.state is State.CLOSED


def test_non_101_response_with_chunked_body():
    client = started_client()
    client.receive_data(
        b"HTTP/1.1 500 Internal Server Error\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nHello\r\n0\r\n\r\n"
    )
    (response,) = client.events_received()
    assert response.body == b"Hello"
    assert type(client.handshake_exc) is InvalidStatus


def test_101_response_with_extra_leftover_after_failed_handshake_is_ignored():
    client = started_client()
    client.receive_data(
        response_bytes(client, Sec_WebSocket_Accept="wrong") + encode_frame(TEXT, b"x")
    )
    (response,) = client.events_received()
    assert isinstance(response, Response)
    assert type(client.handshake_exc) is InvalidHeaderValue
    client.receive_data(encode_frame(TEXT, b"y"))
    assert client.events_received() == []


@pytest.mark.parametrize(
    ("replace", "exc_type", "message"),
    [
        ({"Sec-WebSocket-Accept": None}, InvalidHeader, "missing Sec-WebSocket-Accept header"),
        (
            {"Sec-WebSocket-Accept": "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="},
            InvalidHeaderValue,
            "invalid Sec-WebSocket-Accept header: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
        ),
        ({"Upgrade": None}, InvalidUpgrade, "missing Upgrade header"),
        ({"Upgrade": "h2c"}, InvalidUpgrade, "invalid Upgrade header: h2c"),
        ({"Connection": None}, InvalidUpgrade, "missing Connection header"),
        ({"Connection": "close"}, InvalidUpgrade, "invalid Connection header: close"),
        (
            {"Sec-WebSocket-Protocol": "chat"},
            NegotiationError,
            "no subprotocols supported",
        ),
        (
            {"Sec-WebSocket-Extensions": "permessage-deflate"},
            NegotiationError,
            "no extensions supported",
        ),
    ],
)
def test_invalid_101_response(replace, exc_type, message):
    client = started_client()
    client.receive_data(response_bytes(client, **replace))
    (response,) = client.events_received()
    assert response.status_code == 101
    check_failed(client, exc_type, message)


def test_duplicate_accept_header():
    client = started_client()
    accept = accept_for(client.key)
    data = response_bytes(client)[:-2] + f"Sec-WebSocket-Accept: {accept}\r\n\r\n".encode()
    client.receive_data(data)
    check_failed(client, InvalidHeader, "invalid Sec-WebSocket-Accept header: multiple values")


def test_accept_for_another_key():
    client = started_client()
    other_key = base64.b64encode(binascii.unhexlify("00" * 16)).decode()
    client.receive_data(response_bytes(client, Sec_WebSocket_Accept=accept_for(other_key)))
    assert type(client.handshake_exc) is InvalidHeaderValue


def test_subprotocol_not_offered():
    client = started_client(subprotocols=["chat"])
    client.receive_data(response_bytes(client, Sec_WebSocket_Protocol="superchat"))
    check_failed(client, NegotiationError, "unsupported subprotocol: superchat")
    assert client.subprotocol is None


def test_several_subprotocols_selected():
    client = started_client(subprotocols=["chat", "superchat"])
    client.receive_data(response_bytes(client, Sec_WebSocket_Protocol="chat, superchat"))
    assert isinstance(client.handshake_exc, InvalidHeader)
    assert client.data_to_send() == [SEND_EOF]


def test_subprotocol_selected():
    client = started_client(subprotocols=["chat", "superchat"])
    client.receive_data(response_bytes(client, Sec_WebSocket_Protocol="superchat"))
    assert client.handshake_exc is None
    assert client.subprotocol == "superchat"
    assert client.state is State.OPEN


# The response is not valid HTTP.


@pytest.mark.parametrize(
    ("data", "cause_type"),
    [
        (b"garbage\r\n\r\n", InvalidMessage),
        (b"HTTP/1.1 101\nUpgrade: websocket\n\n", InvalidMessage),
        (b"HTTP/1.1 999 Nope\r\n\r\n", InvalidMessage),
        (b"HTTP/1.1 101 " + b"x" * 8200 + b"\r\n\r\n", StatusLineTooLong),
        (b"HTTP/1.1 101 OK\r\nX: " + b"y" * 8200 + b"\r\n\r\n", HeaderLineTooLong),
        (
            b"HTTP/1.1 101 OK\r\n" + b"".join(b"X-%d: y\r\n" % n for n in range(130)) + b"\r\n",
            TooManyHeaders,
        ),
    ],
    ids=["garbage", "bare-lf", "bad-status", "status-too-long", "header-too-long", "too-many"],
)
def test_malformed_response(data, cause_type):
    client = started_client()
    client.receive_data(data)
    assert client.events_received() == []
    check_failed(client, InvalidMessage, "did not receive a valid HTTP response")
    assert isinstance(client.handshake_exc.__cause__, cause_type)
    # Nothing more happens afterwards.
    client.receive_data(b"more")
    assert client.events_received() == []
    assert client.data_to_send() == []


def test_eof_before_response():
    client = started_client()
    client.receive_data(b"HTTP/1.1 101 Switching Protocols\r\nUpgr")
    client.receive_eof()
    assert type(client.handshake_exc) is InvalidMessage
    assert str(client.handshake_exc) == "did not receive a valid HTTP response"
    assert isinstance(client.handshake_exc.__cause__, EOFError)
    assert client.data_to_send() == [SEND_EOF]
    assert client.events_received() == []
    assert client.state is State.CLOSED
    assert client.close_expected()
    client.receive_eof()
    assert client.data_to_send() == []


def test_eof_without_any_response():
    client = started_client()
    client.receive_eof()
    assert type(client.handshake_exc) is InvalidMessage
    assert isinstance(client.handshake_exc.__cause__, EOFError)
    assert client.data_to_send() == [SEND_EOF]


# After the handshake, the client side rules apply.


def test_client_masks_frames_after_handshake():
    client = started_client()
    client.receive_data(response_bytes(client))
    client.send_text(b"hello")
    (data,) = client.data_to_send()
    assert data[1] == 0x80 | 5
    key = data[2:6]
    assert bytes(byte ^ key[index % 4] for index, byte in enumerate(data[6:])) == b"hello"


def test_client_rejects_masked_frames_after_handshake():
    client = started_client()
    client.receive_data(response_bytes(client) + encode_frame(TEXT, b"x", mask_key=MASK_KEY))
    (response,) = client.events_received()
    assert isinstance(response, Response)
    (data,) = client.data_to_send()
    assert data[0] == 0x88
    key = data[2:6]
    payload = bytes(byte ^ key[index % 4] for index, byte in enumerate(data[6:]))
    assert payload == close_payload(1002, "incorrect masking")


def test_client_state_starts_connecting():
    client = ClientProtocol(URI)
    assert client.state is State.CONNECTING
    assert client.side is Side.CLIENT
    assert not client.close_expected()


def test_client_state_open_skips_handshake():
    client = ClientProtocol(URI, state=State.OPEN)
    client.receive_data(encode_frame(TEXT, b"direct"))
    assert client.events_received() == [Frame(Opcode.TEXT, b"direct")]
