"""Tests for the Sans-I/O ``Protocol`` (seed 002): state machine, sending, closing."""

from __future__ import annotations

import logging
import uuid

import pytest
from conftest import (
    BINARY,
    CLOSE,
    CONT,
    EOF,
    PING,
    PONG,
    TEXT,
    WireFrame,
    close_payload,
    frame_to,
    outgoing,
)

from wirespeed.exceptions import (
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidState,
    PayloadTooBig,
    ProtocolError,
)
from wirespeed.frames import Close, Frame, Opcode
from wirespeed.sansio import SEND_EOF, Protocol, Side, State

SIDES = [Side.CLIENT, Side.SERVER]
side_ids = ["client", "server"]

VALID_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4999]
INVALID_CODES = [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535]


@pytest.fixture(params=SIDES, ids=side_ids)
def side(request):
    return request.param


def transfer(source: Protocol, destination: Protocol) -> list:
    """Deliver what ``source`` wants to send to ``destination``; return ``destination``'s events."""
    for chunk in source.data_to_send():
        if chunk == SEND_EOF:
            destination.receive_eof()
        else:
            destination.receive_data(chunk)
    return destination.events_received()


def feed(protocol: Protocol, opcode: int, payload: bytes = b"", **kwargs) -> None:
    """Make ``protocol`` receive one frame from its peer."""
    protocol.receive_data(frame_to(protocol.side, opcode, payload, **kwargs))


def closed_by_eof(protocol: Protocol) -> None:
    protocol.receive_eof()
    assert protocol.state is State.CLOSED


# Construction and attributes.


def test_initial_state_is_open(side):
    assert Protocol(side).state is State.OPEN


def test_initial_state_argument(side):
    assert Protocol(side, state=State.CLOSING).state is State.CLOSING


def test_id_is_a_unique_uuid(side):
    first, second = Protocol(side), Protocol(side)
    assert isinstance(first.id, uuid.UUID)
    assert first.id != second.id


@pytest.mark.parametrize(
    ("protocol_side", "name"),
    [(Side.CLIENT, "wirespeed.client"), (Side.SERVER, "wirespeed.server")],
)
def test_default_logger(protocol_side, name):
    assert Protocol(protocol_side).logger is logging.getLogger(name)


def test_custom_logger(side):
    logger = logging.getLogger("tests.protocol.custom")
    assert Protocol(side, logger=logger).logger is logger


def test_debug_logs_frames_received_and_sent(side, caplog):
    name = "tests.protocol.debug"
    with caplog.at_level(logging.DEBUG, logger=name):
        protocol = Protocol(side, logger=logging.getLogger(name))
        feed(protocol, TEXT, b"hello")
        protocol.send_binary(b"\x01\x02")
    messages = [record.getMessage() for record in caplog.records if record.name == name]
    assert any(message.startswith("< TEXT 'hello'") for message in messages), messages
    assert any(message.startswith("> BINARY 01 02") for message in messages), messages


def test_debug_logs_use_logger_adapter(side, caplog):
    name = "tests.protocol.adapter"
    with caplog.at_level(logging.DEBUG, logger=name):
        adapter = logging.LoggerAdapter(logging.getLogger(name), {})
        protocol = Protocol(side, logger=adapter)
        protocol.send_ping(b"")
    assert protocol.logger is adapter
    assert any(
        record.name == name and record.getMessage().startswith("> PING")
        for record in caplog.records
    )


def test_no_debug_logs_when_logger_is_not_at_debug(side, caplog):
    name = "tests.protocol.quiet"
    with caplog.at_level(logging.INFO, logger=name):
        protocol = Protocol(side, logger=logging.getLogger(name))
        feed(protocol, TEXT, b"hello")
        protocol.send_text(b"hello")
    assert [record for record in caplog.records if record.name == name] == []


def test_default_logger_logs_at_debug(side, caplog):
    name = "wirespeed.client" if side is Side.CLIENT else "wirespeed.server"
    with caplog.at_level(logging.DEBUG, logger=name):
        protocol = Protocol(side)
        protocol.send_text(b"x")
    assert any(
        record.name == name and record.getMessage().startswith("> TEXT 'x'")
        for record in caplog.records
    )


# Receiving data.


def test_receive_text_and_binary(side):
    protocol = Protocol(side)
    feed(protocol, TEXT, "café".encode())
    feed(protocol, BINARY, b"\x00\xff")
    assert protocol.events_received() == [
        Frame(Opcode.TEXT, "café".encode()),
        Frame(Opcode.BINARY, b"\x00\xff"),
    ]
    assert protocol.data_to_send() == []


def test_events_received_returns_each_event_once(side):
    protocol = Protocol(side)
    feed(protocol, BINARY, b"data")
    assert len(protocol.events_received()) == 1
    assert protocol.events_received() == []


def test_receive_frame_split_across_reads(side):
    protocol = Protocol(side)
    data = frame_to(side, BINARY, b"abcdefgh")
    for index in range(len(data) - 1):
        protocol.receive_data(data[index : index + 1])
        assert protocol.events_received() == []
    protocol.receive_data(data[-1:])
    assert protocol.events_received() == [Frame(Opcode.BINARY, b"abcdefgh")]


def test_receive_several_frames_in_one_read(side):
    protocol = Protocol(side)
    protocol.receive_data(
        frame_to(side, TEXT, b"one") + frame_to(side, TEXT, b"two") + frame_to(side, BINARY, b"3")
    )
    assert protocol.events_received() == [
        Frame(Opcode.TEXT, b"one"),
        Frame(Opcode.TEXT, b"two"),
        Frame(Opcode.BINARY, b"3"),
    ]


def test_receive_fragmented_message(side):
    protocol = Protocol(side)
    feed(protocol, TEXT, b"spam", fin=False)
    feed(protocol, CONT, b"ham", fin=False)
    feed(protocol, CONT, b"eggs")
    assert protocol.events_received() == [
        Frame(Opcode.TEXT, b"spam", fin=False),
        Frame(Opcode.CONT, b"ham", fin=False),
        Frame(Opcode.CONT, b"eggs"),
    ]


def test_receive_empty_data_does_nothing(side):
    protocol = Protocol(side)
    protocol.receive_data(b"")
    assert protocol.events_received() == []
    assert protocol.data_to_send() == []
    assert protocol.state is State.OPEN


def test_receive_pong_sends_nothing(side):
    protocol = Protocol(side)
    feed(protocol, PONG, b"token")
    assert protocol.events_received() == [Frame(Opcode.PONG, b"token")]
    assert protocol.data_to_send() == []


# Receiving the end of the stream.


def test_receive_data_after_receive_eof_raises_eoferror(side):
    protocol = Protocol(side)
    protocol.receive_eof()
    with pytest.raises(EOFError):
        protocol.receive_data(frame_to(side, TEXT, b"late"))


def test_receive_data_after_closing_handshake_and_eof_raises_eoferror(side):
    protocol = Protocol(side)
    protocol.send_close(1000)
    feed(protocol, CLOSE, close_payload(1000))
    protocol.receive_eof()
    with pytest.raises(EOFError):
        protocol.receive_data(b"")


def test_receive_eof_in_open_state_sends_eof(side):
    # Without a closing handshake, both sides half-close at once.
    protocol = Protocol(side)
    protocol.receive_eof()
    assert protocol.data_to_send() == [SEND_EOF]
    assert protocol.events_received() == []
    assert protocol.state is State.CLOSED


def test_receive_eof_is_idempotent(side):
    protocol = Protocol(side)
    protocol.receive_eof()
    protocol.data_to_send()
    protocol.receive_eof()
    assert protocol.data_to_send() == []
    assert protocol.events_received() == []
    assert protocol.state is State.CLOSED
    assert str(protocol.close_exc) == "no close frame received or sent"


def test_receive_eof_drops_incomplete_frame(side):
    protocol = Protocol(side)
    protocol.receive_data(frame_to(side, TEXT, b"incomplete")[:-3])
    protocol.receive_eof()
    assert protocol.events_received() == []
    assert protocol.data_to_send() == [SEND_EOF]
    assert protocol.close_code == 1006


def test_close_exc_without_any_close_frame(side):
    protocol = Protocol(side)
    protocol.receive_eof()
    exc = protocol.close_exc
    assert type(exc) is ConnectionClosedError
    assert str(exc) == "no close frame received or sent"
    assert exc.rcvd is None
    assert exc.sent is None
    assert exc.rcvd_then_sent is None
    assert exc.code == 1006
    assert exc.reason == ""
    assert isinstance(exc.__cause__, EOFError)
    assert protocol.close_code == 1006
    assert protocol.close_reason == ""


# Sending.


@pytest.mark.parametrize(
    ("method", "opcode"),
    [("send_text", TEXT), ("send_binary", BINARY), ("send_ping", PING), ("send_pong", PONG)],
)
def test_send_frame(side, method, opcode):
    protocol = Protocol(side)
    payload = "😀".encode()
    getattr(protocol, method)(payload)
    # outgoing() checks that a client masks its frames and a server doesn't.
    assert outgoing(protocol) == [WireFrame(opcode, payload)]


def test_client_masks_with_a_key_and_server_does_not(side):
    protocol = Protocol(side)
    protocol.send_binary(b"\x00" * 8)
    (data,) = protocol.data_to_send()
    if side is Side.CLIENT:
        assert data[1] == 0x88
        # An all-zero payload shows the key repeated.
        assert data[6:] == data[2:6] * 2
    else:
        assert data == b"\x82\x08" + b"\x00" * 8


def test_send_empty_payloads(side):
    protocol = Protocol(side)
    protocol.send_text(b"")
    protocol.send_binary(b"")
    protocol.send_ping(b"")
    protocol.send_pong(b"")
    assert outgoing(protocol) == [
        WireFrame(TEXT, b""),
        WireFrame(BINARY, b""),
        WireFrame(PING, b""),
        WireFrame(PONG, b""),
    ]


def test_send_fragmented_message(side):
    protocol = Protocol(side)
    protocol.send_text(b"spam", fin=False)
    protocol.send_ping(b"in between")
    protocol.send_continuation(b"ham", fin=False)
    protocol.send_continuation(b"eggs", fin=True)
    protocol.send_binary(b"next")
    assert outgoing(protocol) == [
        WireFrame(TEXT, b"spam", fin=False),
        WireFrame(PING, b"in between"),
        WireFrame(CONT, b"ham", fin=False),
        WireFrame(CONT, b"eggs"),
        WireFrame(BINARY, b"next"),
    ]


def test_send_continuation_without_fragmented_message(side):
    protocol = Protocol(side)
    with pytest.raises(ProtocolError):
        protocol.send_continuation(b"", fin=True)
    assert protocol.data_to_send() == []


def test_send_continuation_after_fragmented_message_ended(side):
    protocol = Protocol(side)
    protocol.send_binary(b"a", fin=False)
    protocol.send_continuation(b"b", fin=True)
    protocol.data_to_send()
    with pytest.raises(ProtocolError):
        protocol.send_continuation(b"c", fin=True)
    assert protocol.data_to_send() == []


@pytest.mark.parametrize("method", ["send_text", "send_binary"])
@pytest.mark.parametrize("first", ["send_text", "send_binary"])
def test_send_data_frame_during_fragmented_message(side, method, first):
    protocol = Protocol(side)
    getattr(protocol, first)(b"start", fin=False)
    protocol.data_to_send()
    with pytest.raises(ProtocolError):
        getattr(protocol, method)(b"oops")
    assert protocol.data_to_send() == []
    # The fragmented message can still be finished.
    protocol.send_continuation(b"end", fin=True)
    assert outgoing(protocol) == [WireFrame(CONT, b"end")]


@pytest.mark.parametrize("method", ["send_text", "send_binary"])
def test_send_data_when_closing(side, method):
    protocol = Protocol(side)
    protocol.send_close(1000)
    protocol.data_to_send()
    with pytest.raises(InvalidState):
        getattr(protocol, method)(b"late")
    assert protocol.data_to_send() == []


def test_send_continuation_when_closing(side):
    protocol = Protocol(side)
    protocol.send_binary(b"start", fin=False)
    feed(protocol, CLOSE, close_payload(1001))
    protocol.data_to_send()
    with pytest.raises(InvalidState):
        protocol.send_continuation(b"end", fin=True)
    assert protocol.data_to_send() == []


@pytest.mark.parametrize("method", ["send_text", "send_binary", "send_ping", "send_pong"])
def test_send_when_closed(side, method):
    protocol = Protocol(side)
    protocol.receive_eof()
    protocol.data_to_send()
    with pytest.raises(InvalidState):
        getattr(protocol, method)(b"late")
    assert protocol.data_to_send() == []


def test_send_close_when_closing_or_closed(side):
    protocol = Protocol(side)
    protocol.send_close(1000)
    with pytest.raises(InvalidState):
        protocol.send_close(1000)
    protocol.receive_eof()
    with pytest.raises(InvalidState):
        protocol.send_close(1000)


@pytest.mark.parametrize(("method", "opcode"), [("send_ping", PING), ("send_pong", PONG)])
def test_send_control_frame_when_closing(side, method, opcode):
    # RFC 6455 allows control frames after the close frame was sent.
    protocol = Protocol(side)
    protocol.send_close(1000)
    protocol.data_to_send()
    getattr(protocol, method)(b"still here")
    assert outgoing(protocol) == [WireFrame(opcode, b"still here")]


# Sending a close frame.


def test_send_close_with_code_and_reason(side):
    protocol = Protocol(side)
    protocol.send_close(1000, "bye")
    assert outgoing(protocol) == [WireFrame(CLOSE, close_payload(1000, "bye"))]
    assert protocol.state is State.CLOSING
    assert protocol.close_expected()


def test_send_close_without_code(side):
    protocol = Protocol(side)
    protocol.send_close()
    assert outgoing(protocol) == [WireFrame(CLOSE, b"")]
    assert protocol.state is State.CLOSING


def test_send_close_with_non_ascii_reason(side):
    protocol = Protocol(side)
    protocol.send_close(1001, "au revoir 👋")
    assert outgoing(protocol) == [WireFrame(CLOSE, close_payload(1001, "au revoir 👋"))]


def test_send_close_reason_without_code(side):
    protocol = Protocol(side)
    with pytest.raises(ProtocolError):
        protocol.send_close(None, "reason")
    assert protocol.data_to_send() == []
    assert protocol.state is State.OPEN


@pytest.mark.parametrize("code", INVALID_CODES)
def test_send_close_invalid_code(side, code):
    protocol = Protocol(side)
    with pytest.raises(ProtocolError):
        protocol.send_close(code)
    assert protocol.data_to_send() == []
    assert protocol.state is State.OPEN
    assert not protocol.close_expected()


@pytest.mark.parametrize("code", VALID_CODES)
def test_send_close_valid_code(side, code):
    protocol = Protocol(side)
    protocol.send_close(code, "x")
    assert outgoing(protocol) == [WireFrame(CLOSE, close_payload(code, "x"))]


def test_send_close_longest_reason(side):
    protocol = Protocol(side)
    protocol.send_close(1000, "r" * 123)
    (frame,) = outgoing(protocol)
    assert len(frame.payload) == 125


def test_send_close_reason_too_long(side):
    protocol = Protocol(side)
    with pytest.raises(ProtocolError):
        protocol.send_close(1000, "é" * 62)  # 124 bytes
    assert protocol.data_to_send() == []
    assert protocol.state is State.OPEN


def test_send_close_does_not_send_eof(side):
    protocol = Protocol(side)
    protocol.send_close(1000)
    assert EOF not in outgoing(protocol)


# Closing handshake, from start to end, between a client and a server.


@pytest.fixture
def pair():
    return Protocol(Side.CLIENT), Protocol(Side.SERVER)


def test_closing_handshake_started_by_client(pair):
    client, server = pair
    client.send_close(1000, "bye")
    assert transfer(client, server) == [Frame(Opcode.CLOSE, close_payload(1000, "bye"))]
    assert server.state is State.CLOSING
    # The server echoes the close frame and closes TCP right away.
    server_output = server.data_to_send()
    assert server_output[-1] == SEND_EOF
    assert [chunk for chunk in server_output if chunk] != []
    for chunk in server_output[:-1]:
        client.receive_data(chunk)
    assert client.events_received() == [Frame(Opcode.CLOSE, close_payload(1000, "bye"))]
    assert client.state is State.CLOSING
    # The client waits for the server to close TCP before closing its side.
    assert client.data_to_send() == []
    client.receive_eof()
    assert client.data_to_send() == [SEND_EOF]
    assert client.state is State.CLOSED
    server.receive_eof()
    assert server.data_to_send() == []
    assert server.state is State.CLOSED

    client_exc, server_exc = client.close_exc, server.close_exc
    assert type(client_exc) is ConnectionClosedOK
    assert str(client_exc) == "sent 1000 (OK) bye; then received 1000 (OK) bye"
    assert client_exc.rcvd == Close(1000, "bye")
    assert client_exc.sent == Close(1000, "bye")
    assert client_exc.rcvd_then_sent is False
    assert type(server_exc) is ConnectionClosedOK
    assert str(server_exc) == "received 1000 (OK) bye; then sent 1000 (OK) bye"
    assert server_exc.rcvd_then_sent is True
    assert client.close_code == server.close_code == 1000
    assert client.close_reason == server.close_reason == "bye"



def test_closing_handshake_started_by_server(pair):
    client, server = pair
    server.send_close(1001, "going away")
    # The server doesn't close TCP before the client answers.
    assert transfer(server, client) == [Frame(Opcode.CLOSE, close_payload(1001, "going away"))]
    assert client.state is State.CLOSING
    # The client echoes the close frame and doesn't close TCP: the server does.
    client_output = client.data_to_send()
    assert SEND_EOF not in client_output
    for chunk in client_output:
        server.receive_data(chunk)
    assert server.events_received() == [Frame(Opcode.CLOSE, close_payload(1001, "going away"))]
    assert server.data_to_send() == [SEND_EOF]
    assert server.state is State.CLOSING
    client.receive_eof()
    assert client.data_to_send() == [SEND_EOF]
    server.receive_eof()
    assert server.data_to_send() == []
    assert client.state is State.CLOSED
    assert server.state is State.CLOSED

    assert type(server.close_exc) is ConnectionClosedOK
    assert str(server.close_exc) == (
        "sent 1001 (going away) going away; then received 1001 (going away) going away"
    )
    assert type(client.close_exc) is ConnectionClosedOK
    assert str(client.close_exc) == (
        "received 1001 (going away) going away; then sent 1001 (going away) going away"
    )


def test_closing_handshake_without_code(pair):
    client, server = pair
    client.send_close()
    transfer(client, server)
    transfer(server, client)
    transfer(client, server)
    assert client.state is server.state is State.CLOSED
    assert client.close_code == server.close_code == 1005
    assert client.close_reason == server.close_reason == ""
    assert type(client.close_exc) is ConnectionClosedOK
    assert str(client.close_exc) == (
        "sent 1005 (no status received [internal]); "
        "then received 1005 (no status received [internal])"
    )


@pytest.mark.parametrize(
    ("code", "exc_type"),
    [
        (1000, ConnectionClosedOK),
        (1001, ConnectionClosedOK),
        (1002, ConnectionClosedError),
        (1011, ConnectionClosedError),
        (3000, ConnectionClosedError),
        (4999, ConnectionClosedError),
    ],
)
def test_close_exc_type_depends_on_code(pair, code, exc_type):
    client, server = pair
    client.send_close(code, "reason")
    transfer(client, server)
    transfer(server, client)
    transfer(client, server)
    assert type(client.close_exc) is exc_type
    assert type(server.close_exc) is exc_type
    assert client.close_exc.code == server.close_exc.code == code
    assert server.close_code == client.close_code == code


def test_close_exc_received_error_code(side):
    protocol = Protocol(side)
    feed(protocol, CLOSE, close_payload(1002, "bad frame"))
    closed_by_eof(protocol)
    exc = protocol.close_exc
    assert type(exc) is ConnectionClosedError
    assert str(exc) == (
        "received 1002 (protocol error) bad frame; then sent 1002 (protocol error) bad frame"
    )


def test_close_exc_sent_close_no_close_received(side):
    protocol = Protocol(side)
    protocol.send_close(1000, "bye")
    closed_by_eof(protocol)
    exc = protocol.close_exc
    assert type(exc) is ConnectionClosedError
    assert str(exc) == "sent 1000 (OK) bye; no close frame received"
    assert exc.rcvd is None
    assert exc.sent == Close(1000, "bye")
    assert protocol.close_code == 1006
    assert protocol.close_reason == ""


def test_close_exc_keepalive_ping_timeout(side):
    protocol = Protocol(side)
    protocol.fail(1011, "keepalive ping timeout")
    closed_by_eof(protocol)
    exc = protocol.close_exc
    assert type(exc) is ConnectionClosedError
    assert str(exc) == "sent 1011 (internal error) keepalive ping timeout; no close frame received"
    assert exc.code == 1006


@pytest.mark.parametrize("code", [1000, 1001])
def test_close_exc_is_error_when_sent_code_is_an_error(side, code):
    protocol = Protocol(side)
    protocol.send_close(1011, "boom")
    feed(protocol, CLOSE, close_payload(code))
    closed_by_eof(protocol)
    assert protocol.close_exc.rcvd == Close(code, "")
    assert type(protocol.close_exc) is ConnectionClosedError


def test_close_exc_private_and_registered_codes(side):
    protocol = Protocol(side)
    feed(protocol, CLOSE, close_payload(4321, "custom"))
    closed_by_eof(protocol)
    assert str(protocol.close_exc) == (
        "received 4321 (private use) custom; then sent 4321 (private use) custom"
    )
    protocol = Protocol(side)
    feed(protocol, CLOSE, close_payload(3333))
    closed_by_eof(protocol)
    assert str(protocol.close_exc) == "received 3333 (registered); then sent 3333 (registered)"


def test_close_exc_raises_assertion_error_until_closed(side):
    protocol = Protocol(side)
    with pytest.raises(AssertionError):
        protocol.close_exc  # noqa: B018
    protocol.send_close(1000)
    assert protocol.state is State.CLOSING
    with pytest.raises(AssertionError):
        protocol.close_exc  # noqa: B018
    feed(protocol, CLOSE, close_payload(1000))
    with pytest.raises(AssertionError):
        protocol.close_exc  # noqa: B018
    protocol.receive_eof()
    assert isinstance(protocol.close_exc, ConnectionClosed)


def test_close_code_and_reason_are_none_until_closed(side):
    protocol = Protocol(side)
    assert protocol.close_code is None
    assert protocol.close_reason is None
    feed(protocol, CLOSE, close_payload(1000, "bye"))
    assert protocol.state is State.CLOSING
    assert protocol.close_code is None
    assert protocol.close_reason is None
    protocol.receive_eof()
    assert protocol.close_code == 1000
    assert protocol.close_reason == "bye"


def test_client_echoes_close_without_eof():
    client = Protocol(Side.CLIENT)
    feed(client, CLOSE, close_payload(1000, "bye"))
    assert outgoing(client) == [WireFrame(CLOSE, close_payload(1000, "bye"))]
    assert client.state is State.CLOSING
    assert client.close_expected()


def test_server_echoes_close_then_eof():
    server = Protocol(Side.SERVER)
    feed(server, CLOSE, close_payload(1000, "bye"))
    assert outgoing(server) == [WireFrame(CLOSE, close_payload(1000, "bye")), EOF]
    assert server.state is State.CLOSING
    assert server.close_expected()


def test_server_sends_eof_when_close_handshake_completes():
    server = Protocol(Side.SERVER)
    server.send_close(1000)
    assert EOF not in outgoing(server)
    feed(server, CLOSE, close_payload(1000))
    assert server.data_to_send() == [SEND_EOF]
    server.receive_eof()
    assert server.data_to_send() == []


def test_client_sends_eof_only_after_receiving_eof():
    client = Protocol(Side.CLIENT)
    client.send_close(1000)
    client.data_to_send()
    feed(client, CLOSE, close_payload(1000))
    assert client.data_to_send() == []
    client.receive_eof()
    assert client.data_to_send() == [SEND_EOF]
    client.receive_eof()
    assert client.data_to_send() == []


def test_empty_close_frame_is_echoed_empty(side):
    protocol = Protocol(side)
    feed(protocol, CLOSE, b"")
    output = outgoing(protocol)
    assert output[0] == WireFrame(CLOSE, b"")
    protocol.receive_eof()
    assert protocol.close_code == 1005
    assert protocol.close_reason == ""
    assert type(protocol.close_exc) is ConnectionClosedOK


def test_receive_close_when_closing_does_not_echo(side):
    protocol = Protocol(side)
    protocol.send_close(1000, "mine")
    protocol.data_to_send()
    feed(protocol, CLOSE, close_payload(1001, "theirs"))
    assert CLOSE not in [item.opcode for item in outgoing(protocol) if item != EOF]
    protocol.receive_eof()
    assert str(protocol.close_exc) == "sent 1000 (OK) mine; then received 1001 (going away) theirs"
    assert type(protocol.close_exc) is ConnectionClosedOK


# Data after a close frame, data while closing.


def test_data_after_close_frame_is_discarded(side):
    protocol = Protocol(side)
    protocol.receive_data(
        frame_to(side, CLOSE, close_payload(1000))
        + frame_to(side, TEXT, b"ignored")
        + frame_to(side, PING, b"ignored")
    )
    assert protocol.events_received() == [Frame(Opcode.CLOSE, close_payload(1000))]
    assert [item.opcode for item in outgoing(protocol) if item != EOF] == [CLOSE]
    feed(protocol, TEXT, b"also ignored")
    feed(protocol, PING, b"also ignored")
    assert protocol.events_received() == []
    assert protocol.data_to_send() == []


def test_garbage_after_close_frame_is_discarded(side):
    protocol = Protocol(side)
    protocol.receive_data(frame_to(side, CLOSE, close_payload(1000)) + b"\xff\xff\xff\xff")
    output = outgoing(protocol)
    assert output[0] == WireFrame(CLOSE, close_payload(1000))
    assert len([item for item in output if item != EOF]) == 1
    protocol.receive_eof()
    assert type(protocol.close_exc) is ConnectionClosedOK


def test_data_received_while_closing_is_delivered(side):
    # After sending a close frame, the peer may still send data until its close.
    protocol = Protocol(side)
    protocol.send_close(1000)
    protocol.data_to_send()
    feed(protocol, TEXT, b"in flight")
    feed(protocol, BINARY, b"also in flight")
    assert protocol.events_received() == [
        Frame(Opcode.TEXT, b"in flight"),
        Frame(Opcode.BINARY, b"also in flight"),
    ]


# Pings.


def test_ping_is_answered_with_pong(side):
    protocol = Protocol(side)
    feed(protocol, PING, b"\x00token\xff")
    assert protocol.events_received() == [Frame(Opcode.PING, b"\x00token\xff")]
    assert outgoing(protocol) == [WireFrame(PONG, b"\x00token\xff")]


def test_empty_ping_is_answered_with_empty_pong(side):
    protocol = Protocol(side)
    feed(protocol, PING)
    assert outgoing(protocol) == [WireFrame(PONG, b"")]


def test_each_ping_is_answered(side):
    protocol = Protocol(side)
    protocol.receive_data(b"".join(frame_to(side, PING, bytes([n])) for n in range(3)))
    assert outgoing(protocol) == [WireFrame(PONG, bytes([n])) for n in range(3)]


def test_ping_is_answered_when_closing(side):
    protocol = Protocol(side)
    protocol.send_close(1000)
    protocol.data_to_send()
    feed(protocol, PING, b"still there?")
    assert outgoing(protocol) == [WireFrame(PONG, b"still there?")]


def test_ping_after_close_frame_is_not_answered(side):
    protocol = Protocol(side)
    feed(protocol, CLOSE, close_payload(1000))
    protocol.data_to_send()
    feed(protocol, PING, b"too late")
    assert protocol.data_to_send() == []


# fail().


def test_fail_sends_close_frame(side):
    protocol = Protocol(side)
    protocol.fail(1008, "policy")
    output = outgoing(protocol)
    assert output[0] == WireFrame(CLOSE, close_payload(1008, "policy"))
    # A server closes TCP right away; a client waits for the server to do it.
    assert output[1:] == ([EOF] if side is Side.SERVER else [])
    assert protocol.state is State.CLOSING
    assert protocol.close_expected()


def test_fail_discards_incoming_data(side):
    protocol = Protocol(side)
    protocol.fail(1011)
    protocol.data_to_send()
    feed(protocol, TEXT, b"ignored")
    feed(protocol, PING, b"ignored")
    feed(protocol, CLOSE, close_payload(1000))
    assert protocol.events_received() == []
    assert protocol.data_to_send() == []


@pytest.mark.parametrize("code", [code for code in INVALID_CODES if code != 1006])
def test_fail_invalid_code(side, code):
    # 1006 is special: see test_fail_1006_sends_no_close_frame.
    protocol = Protocol(side)
    with pytest.raises(ProtocolError):
        protocol.fail(code)
    assert protocol.data_to_send() == []
    assert protocol.state is State.OPEN


def test_fail_1006_sends_no_close_frame(side):
    protocol = Protocol(side)
    protocol.fail(1006, "connection lost")
    assert outgoing(protocol) == ([EOF] if side is Side.SERVER else [])
    # Nothing can be sent any more, and the TCP connection should be closed.
    assert protocol.state is State.CLOSING
    assert protocol.close_expected()
    with pytest.raises(InvalidState):
        protocol.send_text(b"too late")
    assert protocol.data_to_send() == []
    protocol.receive_eof()
    assert protocol.state is State.CLOSED
    assert protocol.close_exc.sent is None
    assert str(protocol.close_exc) == "no close frame received or sent"


def test_fail_when_closing_sends_no_second_close_frame(side):
    protocol = Protocol(side)
    protocol.send_close(1000)
    protocol.data_to_send()
    protocol.fail(1002, "oops")
    assert outgoing(protocol) == ([EOF] if side is Side.SERVER else [])
    protocol.receive_eof()
    assert protocol.close_exc.sent == Close(1000, "")


def test_fail_after_close_frame_received(side):
    protocol = Protocol(side)
    feed(protocol, CLOSE, close_payload(1000))
    protocol.data_to_send()
    protocol.fail(1002)
    assert protocol.data_to_send() == []


def test_fail_then_eof_on_client_sends_eof():
    client = Protocol(Side.CLIENT)
    client.fail(1002)
    client.data_to_send()
    client.receive_eof()
    assert client.data_to_send() == [SEND_EOF]
    assert client.state is State.CLOSED


def test_send_after_fail(side):
    protocol = Protocol(side)
    protocol.fail(1011)
    with pytest.raises(InvalidState):
        protocol.send_text(b"x")


# close_expected().


def test_close_expected_false_when_open(side):
    protocol = Protocol(side)
    feed(protocol, TEXT, b"x")
    protocol.send_text(b"y")
    assert not protocol.close_expected()


def test_close_expected_after_send_close(side):
    protocol = Protocol(side)
    protocol.send_close()
    assert protocol.close_expected()


def test_close_expected_after_fail(side):
    protocol = Protocol(side)
    protocol.fail(1002)
    assert protocol.close_expected()


def test_close_expected_after_protocol_error(side):
    protocol = Protocol(side)
    protocol.receive_data(b"\xff\xff")
    assert protocol.close_expected()


# max_size.


def fail_reason(protocol: Protocol):
    """Code and reason of the close frame that ``protocol`` sent."""
    (frame,) = [item for item in outgoing(protocol) if item != EOF and item.opcode == CLOSE]
    return int.from_bytes(frame.payload[:2], "big"), frame.payload[2:].decode()


def test_max_size_accepts_message_at_limit(side):
    protocol = Protocol(side, max_size=10)
    feed(protocol, BINARY, b"x" * 10)
    assert protocol.events_received() == [Frame(Opcode.BINARY, b"x" * 10)]
    assert protocol.data_to_send() == []


@pytest.mark.parametrize("opcode", [TEXT, BINARY])
def test_max_size_rejects_frame_over_limit(side, opcode):
    protocol = Protocol(side, max_size=10)
    feed(protocol, opcode, b"x" * 11)
    assert protocol.events_received() == []
    assert fail_reason(protocol) == (1009, "frame of 11 bytes exceeds the limit of 10 bytes")
    protocol.receive_eof()
    exc = protocol.close_exc
    assert type(exc) is ConnectionClosedError
    assert str(exc) == (
        "sent 1009 (message too big) frame of 11 bytes exceeds the limit of 10 bytes; "
        "no close frame received"
    )
    assert isinstance(exc.__cause__, PayloadTooBig)


def test_max_size_rejects_fragmented_message_over_limit(side):
    protocol = Protocol(side, max_size=10)
    feed(protocol, TEXT, b"x" * 6, fin=False)
    feed(protocol, CONT, b"x" * 6)
    assert protocol.events_received() == [Frame(Opcode.TEXT, b"x" * 6, fin=False)]
    assert fail_reason(protocol) == (
        1009,
        "message of at least 12 bytes (fragments so far: 6 bytes) exceeds the limit of 10 bytes",
    )


def test_max_size_accepts_fragmented_message_at_limit(side):
    protocol = Protocol(side, max_size=10)
    feed(protocol, BINARY, b"x" * 4, fin=False)
    feed(protocol, CONT, b"x" * 4, fin=False)
    feed(protocol, CONT, b"x" * 2)
    assert len(protocol.events_received()) == 3
    # The count starts again with the next message.
    feed(protocol, BINARY, b"y" * 10)
    assert protocol.events_received() == [Frame(Opcode.BINARY, b"y" * 10)]
    assert protocol.data_to_send() == []


def test_max_size_is_checked_on_the_header(side):
    # The frame is rejected before its payload arrives.
    protocol = Protocol(side, max_size=1024)
    header = frame_to(side, BINARY, b"", length=2**40)
    protocol.receive_data(header)
    assert fail_reason(protocol) == (
        1009,
        f"frame of {2**40} bytes exceeds the limit of 1024 bytes",
    )
    assert protocol.reader.buffered == 0


def test_max_size_pair_limits_fragments(side):
    protocol = Protocol(side, max_size=(100, 10))
    feed(protocol, BINARY, b"x" * 10, fin=False)
    feed(protocol, CONT, b"x" * 11)
    assert fail_reason(protocol) == (1009, "frame of 11 bytes exceeds the limit of 10 bytes")


def test_max_size_pair_limits_messages(side):
    protocol = Protocol(side, max_size=(25, 10))
    feed(protocol, BINARY, b"x" * 10, fin=False)
    feed(protocol, CONT, b"x" * 10, fin=False)
    assert protocol.data_to_send() == []
    feed(protocol, CONT, b"x" * 6)
    assert fail_reason(protocol) == (
        1009,
        "message of at least 26 bytes (fragments so far: 20 bytes) exceeds the limit of 25 bytes",
    )


def test_max_size_pair_without_message_limit(side):
    protocol = Protocol(side, max_size=(None, 10))
    feed(protocol, BINARY, b"x" * 10, fin=False)
    for _ in range(20):
        feed(protocol, CONT, b"x" * 10, fin=False)
    feed(protocol, CONT, b"x" * 10)
    assert len(protocol.events_received()) == 22
    assert protocol.data_to_send() == []
    feed(protocol, BINARY, b"x" * 11)
    assert fail_reason(protocol)[0] == 1009


def test_max_size_pair_without_fragment_limit(side):
    protocol = Protocol(side, max_size=(50, None))
    feed(protocol, BINARY, b"x" * 50)
    assert protocol.data_to_send() == []
    feed(protocol, BINARY, b"x" * 51)
    assert fail_reason(protocol) == (1009, "frame of 51 bytes exceeds the limit of 50 bytes")


def test_max_size_none_disables_limit(side):
    protocol = Protocol(side, max_size=None)
    payload = b"x" * (2**21 + 1)
    feed(protocol, BINARY, payload)
    assert protocol.events_received() == [Frame(Opcode.BINARY, payload)]
    assert protocol.data_to_send() == []


def test_max_size_default_is_one_mebibyte(side):
    protocol = Protocol(side)
    feed(protocol, BINARY, b"x" * 2**20)
    assert len(protocol.events_received()) == 1
    assert protocol.data_to_send() == []
    feed(protocol, BINARY, b"x" * (2**20 + 1))
    assert fail_reason(protocol)[0] == 1009


def test_messages_before_too_big_frame_are_delivered(side):
    protocol = Protocol(side, max_size=10)
    protocol.receive_data(
        frame_to(side, TEXT, b"first") + frame_to(side, BINARY, b"second") + frame_to(
            side, BINARY, b"x" * 11
        )
    )
    assert protocol.events_received() == [
        Frame(Opcode.TEXT, b"first"),
        Frame(Opcode.BINARY, b"second"),
    ]
    assert fail_reason(protocol)[0] == 1009


# Protocol errors detected while receiving (details in tests/core/test_framing.py).


def test_protocol_error_fails_connection(side):
    protocol = Protocol(side)
    feed(protocol, CONT, b"orphan")
    assert fail_reason(protocol) == (1002, "unexpected continuation frame")
    protocol.receive_eof()
    exc = protocol.close_exc
    assert type(exc) is ConnectionClosedError
    assert str(exc) == (
        "sent 1002 (protocol error) unexpected continuation frame; no close frame received"
    )
    assert isinstance(exc.__cause__, ProtocolError)


def test_invalid_utf8_fails_connection(side):
    protocol = Protocol(side)
    feed(protocol, TEXT, b"caf\xe9")
    code, reason = fail_reason(protocol)
    assert code == 1007
    assert reason
    protocol.receive_eof()
    assert isinstance(protocol.close_exc.__cause__, UnicodeDecodeError)


# A protocol error right after a complete message, in the same data: the
# application may answer the message before the connection fails.


def message_then_bad_frame(side):
    return frame_to(side, TEXT, b"Hello") + frame_to(side, TEXT, b"x", rsv2=True)


def test_failure_after_message_waits_for_the_answer(side):
    protocol = Protocol(side)
    protocol.receive_data(message_then_bad_frame(side))
    # Nothing is sent before the application has seen the message...
    assert protocol.data_to_send() == []
    assert protocol.state is State.OPEN
    assert not protocol.close_expected()
    assert protocol.events_received() == [Frame(Opcode.TEXT, b"Hello")]
    # ...so its answer goes out before the close frame.
    protocol.send_text(b"Hello")
    expected = [WireFrame(TEXT, b"Hello"), WireFrame(CLOSE, close_payload(1002, "reserved bits must be 0"))]
    assert outgoing(protocol) == expected + ([EOF] if side is Side.SERVER else [])
    assert protocol.state is State.CLOSING
    assert protocol.close_expected()
    protocol.receive_eof()
    assert isinstance(protocol.close_exc.__cause__, ProtocolError)
    assert str(protocol.close_exc) == "sent 1002 (protocol error) reserved bits must be 0; no close frame received"


def test_failure_after_message_without_answer(side):
    protocol = Protocol(side)
    protocol.receive_data(message_then_bad_frame(side))
    assert len(protocol.events_received()) == 1
    assert outgoing(protocol)[0] == WireFrame(CLOSE, close_payload(1002, "reserved bits must be 0"))


def test_failure_after_message_applied_by_more_data(side):
    protocol = Protocol(side)
    protocol.receive_data(message_then_bad_frame(side))
    # The application doesn't fetch events; more data arrives: it is ignored
    # and the failure takes effect.
    protocol.receive_data(frame_to(side, TEXT, b"ignored"))
    assert outgoing(protocol)[0] == WireFrame(CLOSE, close_payload(1002, "reserved bits must be 0"))
    assert protocol.events_received() == [Frame(Opcode.TEXT, b"Hello")]


def test_failure_after_message_applied_by_eof(side):
    protocol = Protocol(side)
    protocol.receive_data(message_then_bad_frame(side))
    protocol.receive_eof()
    assert protocol.state is State.CLOSED
    assert protocol.close_exc.sent == Close(1002, "reserved bits must be 0")


def test_failure_inside_fragmented_message_is_immediate(side):
    protocol = Protocol(side)
    protocol.receive_data(
        frame_to(side, TEXT, b"Hel", fin=False) + frame_to(side, BINARY, b"lo")
    )
    assert outgoing(protocol)[0] == WireFrame(CLOSE, close_payload(1002, "expected a continuation frame"))
    assert protocol.events_received() == [Frame(Opcode.TEXT, b"Hel", fin=False)]


def test_failure_after_message_of_earlier_data_is_immediate(side):
    protocol = Protocol(side)
    protocol.receive_data(frame_to(side, TEXT, b"Hello"))
    protocol.receive_data(frame_to(side, TEXT, b"x", rsv2=True))
    assert outgoing(protocol)[0] == WireFrame(CLOSE, close_payload(1002, "reserved bits must be 0"))
