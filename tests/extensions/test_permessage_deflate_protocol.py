"""permessage-deflate through the Sans-I/O protocols: handshake, wire, errors.

A :class:`ClientProtocol` and a :class:`ServerProtocol` negotiate the
extension in memory, then exchange messages; frames are also written by hand
(with :func:`conftest.encode_frame`) to check what the receiving side does with
compressed data that is too big, invalid, or not allowed.
"""

from __future__ import annotations

import struct
import zlib
from typing import List, NamedTuple

import pytest
from conftest import MASK_KEY, encode_frame, xor

from wirespeed.exceptions import NegotiationError, PayloadTooBig
from wirespeed.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    DecompressionError,
    PerMessageDeflate,
    ServerPerMessageDeflateFactory,
    enable_client_permessage_deflate,
    enable_server_permessage_deflate,
)
from wirespeed.frames import Frame, Opcode
from wirespeed.http import Request, Response
from wirespeed.sansio import SEND_EOF, ClientProtocol, ServerProtocol, State
from wirespeed.uri import parse_uri

URI = parse_uri("ws://example.com/chat")
TEXT, BINARY, CONT, CLOSE, PING = 0x1, 0x2, 0x0, 0x8, 0x9

#: Compressible but varied JSON-like text, about 4 KiB.
MESSAGE = b"".join(
    b'{"seq": %d, "kind": "%s", "value": %d, "user": "u%d"}'
    % (i, [b"update", b"insert", b"delete"][i * i % 3], i * 7919 % 10007, i * 31 % 97)
    for i in range(80)
)


class WireFrame(NamedTuple):
    opcode: int
    payload: bytes
    fin: bool
    rsv1: bool


def wire_frames(data: bytes, *, masked: bool) -> List[WireFrame]:
    """Decode whole frames, keeping RSV1 (``conftest.decode_frames`` rejects it)."""
    frames, pos = [], 0
    while pos < len(data):
        first, second = data[pos], data[pos + 1]
        assert first & 0x30 == 0, "RSV2 or RSV3 set"
        length, pos = second & 0x7F, pos + 2
        if length == 126:
            (length,), pos = struct.unpack_from("!H", data, pos), pos + 2
        elif length == 127:
            (length,), pos = struct.unpack_from("!Q", data, pos), pos + 8
        key = b""
        if masked:
            key, pos = data[pos : pos + 4], pos + 4
        payload, pos = data[pos : pos + length], pos + length
        if masked:
            payload = xor(payload, key)
        frames.append(WireFrame(first & 0x0F, payload, bool(first & 0x80), bool(first & 0x40)))
    return frames


def sent(protocol) -> List[WireFrame]:
    """Frames in ``protocol.data_to_send()``; an EOF is left out."""
    chunks = [chunk for chunk in protocol.data_to_send() if chunk != SEND_EOF]
    return wire_frames(b"".join(chunks), masked=isinstance(protocol, ClientProtocol))


def deliver(source, destination) -> list:
    for chunk in source.data_to_send():
        if chunk == SEND_EOF:
            destination.receive_eof()
        else:
            destination.receive_data(chunk)
    return destination.events_received()


def open_pair(client_extensions=None, server_extensions=None, **kwargs):
    """A client and a server after a full handshake in memory."""
    client = ClientProtocol(URI, extensions=client_extensions, **kwargs)
    server = ServerProtocol(extensions=server_extensions, **kwargs)
    client.send_request(client.connect())
    (request,) = deliver(client, server)
    assert isinstance(request, Request)
    server.send_response(server.accept(request))
    (response,) = deliver(server, client)
    assert isinstance(response, Response)
    assert response.status_code == 101, response
    return client, server


def deflate_pair(**kwargs):
    return open_pair(
        enable_client_permessage_deflate(None), enable_server_permessage_deflate(None), **kwargs
    )


def compress(data: bytes, window_bits: int = 15) -> bytes:
    """One compressed message, as RFC 7692 puts it on the wire."""
    compressor = zlib.compressobj(6, zlib.DEFLATED, -window_bits)
    return (compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]


# The handshake.


def test_negotiation_with_default_settings():
    client, server = deflate_pair()
    assert client.request.headers["Sec-WebSocket-Extensions"] == (
        "permessage-deflate; client_max_window_bits"
    )
    assert client.response.headers["Sec-WebSocket-Extensions"] == (
        "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12"
    )
    [client_extension] = client.extensions
    [server_extension] = server.extensions
    assert isinstance(client_extension, PerMessageDeflate)
    assert (client_extension.local_max_window_bits, client_extension.remote_max_window_bits) == (
        12,
        12,
    )
    assert (server_extension.local_max_window_bits, server_extension.remote_max_window_bits) == (
        12,
        12,
    )


@pytest.mark.parametrize(
    ("client_settings", "server_settings", "response"),
    [
        ({}, {}, "permessage-deflate"),
        (
            {"server_no_context_takeover": True, "client_no_context_takeover": True},
            {},
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
        ),
        (
            {"server_max_window_bits": 10, "client_max_window_bits": 9},
            {},
            "permessage-deflate; server_max_window_bits=10; client_max_window_bits=9",
        ),
        (
            {},
            {"server_max_window_bits": 8, "client_max_window_bits": 8},
            "permessage-deflate; server_max_window_bits=8; client_max_window_bits=8",
        ),
        (
            {"client_max_window_bits": None},
            {"server_no_context_takeover": True, "client_max_window_bits": 10},
            "permessage-deflate; server_no_context_takeover",
        ),
    ],
)
def test_negotiation_end_to_end(client_settings, server_settings, response):
    client, server = open_pair(
        [ClientPerMessageDeflateFactory(**client_settings)],
        [ServerPerMessageDeflateFactory(**server_settings)],
    )
    assert client.response.headers["Sec-WebSocket-Extensions"] == response
    # Both ends agree, mirrored.
    [theirs], [ours] = client.extensions, server.extensions
    assert (theirs.local_no_context_takeover, theirs.local_max_window_bits) == (
        ours.remote_no_context_takeover,
        ours.remote_max_window_bits,
    )
    assert (theirs.remote_no_context_takeover, theirs.remote_max_window_bits) == (
        ours.local_no_context_takeover,
        ours.local_max_window_bits,
    )
    for _ in range(3):
        client.send_text(MESSAGE)
        server.send_binary(MESSAGE)
        assert deliver(client, server) == [Frame(Opcode.TEXT, MESSAGE)]
        assert deliver(server, client) == [Frame(Opcode.BINARY, MESSAGE)]


def server_response_to(header: str) -> str:
    """What a default server answers to a request with this extensions header."""
    server = ServerProtocol(extensions=enable_server_permessage_deflate(None))
    client = ClientProtocol(URI)
    request = client.connect()
    request.headers["Sec-WebSocket-Extensions"] = header
    client.send_request(request)
    (request,) = deliver(client, server)
    response = server.accept(request)
    assert response.status_code == 101
    return response.headers.get("Sec-WebSocket-Extensions")


@pytest.mark.parametrize(
    ("header", "response"),
    [
        # Browsers.
        (
            "permessage-deflate; client_max_window_bits",
            "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12",
        ),
        # The first acceptable offer wins.
        (
            "permessage-deflate; foo, permessage-deflate; server_max_window_bits=10",
            "permessage-deflate; server_max_window_bits=10",
        ),
        (
            "permessage-deflate; server_max_window_bits=16, "
            "permessage-deflate; server_max_window_bits=9; server_max_window_bits=9, "
            "permessage-deflate; client_no_context_takeover",
            "permessage-deflate; client_no_context_takeover; server_max_window_bits=12",
        ),
        # Only one is accepted, even over several headers... here, one header.
        (
            "permessage-deflate, permessage-deflate; client_no_context_takeover",
            "permessage-deflate; server_max_window_bits=12",
        ),
        # Unknown extensions are ignored; nothing acceptable means no extension.
        (
            "x-webkit-deflate-frame, permessage-deflate",
            "permessage-deflate; server_max_window_bits=12",
        ),
        ("permessage-deflate; server_max_window_bits=7", None),
    ],
)
def test_server_picks_the_first_acceptable_offer(header, response):
    assert server_response_to(header) == response


def client_receiving(extensions_header: str, extensions=None) -> ClientProtocol:
    """A client whose handshake response has this extensions header."""
    client = ClientProtocol(URI, extensions=extensions)
    client.send_request(client.connect())
    client.data_to_send()
    server = ServerProtocol()
    request = Request("/chat", client.request.headers)
    response = server.accept(request)
    response.headers["Sec-WebSocket-Extensions"] = extensions_header
    server.send_response(response)
    client.receive_data(b"".join(server.data_to_send()))
    client.events_received()
    return client


@pytest.mark.parametrize(
    ("header", "extensions"),
    [
        ("permessage-deflate", None),
        (
            "permessage-deflate; client_max_window_bits=10",
            [ClientPerMessageDeflateFactory(client_max_window_bits=None)],
        ),
        (
            "permessage-deflate; server_max_window_bits=12",
            [ClientPerMessageDeflateFactory(server_max_window_bits=10)],
        ),
        ("permessage-deflate; foo", enable_client_permessage_deflate(None)),
        ("permessage-deflate, permessage-deflate", enable_client_permessage_deflate(None)),
    ],
)
def test_client_fails_on_an_answer_it_did_not_allow(header, extensions):
    client = client_receiving(header, extensions)
    assert isinstance(client.handshake_exc, NegotiationError)
    assert client.state is not State.OPEN
    message = str(client.handshake_exc)
    assert "permessage-deflate" in message or message == "no extensions supported"


def test_client_opens_on_an_acceptable_answer():
    client = client_receiving(
        "permessage-deflate; server_no_context_takeover; client_max_window_bits=9",
        enable_client_permessage_deflate(None),
    )
    assert client.handshake_exc is None
    assert client.state is State.OPEN
    [extension] = client.extensions
    assert extension.remote_no_context_takeover and extension.local_max_window_bits == 9


# Messages.


def test_messages_flow_both_ways_compressed():
    client, server = deflate_pair()
    client.send_text(MESSAGE)
    [frame] = sent(client)
    assert frame.rsv1 and len(frame.payload) < len(MESSAGE) / 2
    server.receive_data(b"".join(reencode([frame], masked=True)))
    client.send_text(MESSAGE)
    client.send_binary(MESSAGE)
    assert deliver(client, server) == [
        Frame(Opcode.TEXT, MESSAGE),
        Frame(Opcode.TEXT, MESSAGE),
        Frame(Opcode.BINARY, MESSAGE),
    ]
    server.send_binary(MESSAGE)
    server.send_text("é".encode() * 100)
    assert deliver(server, client) == [
        Frame(Opcode.BINARY, MESSAGE),
        Frame(Opcode.TEXT, "é".encode() * 100),
    ]


@pytest.mark.parametrize("sender_side", ["client", "server"])
def test_fragmented_compressed_message(sender_side):
    client, server = deflate_pair()
    sender, receiver = (client, server) if sender_side == "client" else (server, client)
    sender.send_text(MESSAGE[:1000], fin=False)
    sender.send_ping(b"in between")
    sender.send_continuation(MESSAGE[1000:2000], fin=False)
    sender.send_continuation(MESSAGE[2000:], fin=True)
    frames = sent(sender)
    assert [(frame.opcode, frame.rsv1) for frame in frames] == [
        (TEXT, True),
        (PING, False),
        (CONT, False),
        (CONT, False),
    ]
    masked = sender_side == "client"
    receiver.receive_data(b"".join(reencode(frames, masked)))
    events = receiver.events_received()
    assert [event.opcode for event in events] == [
        Opcode.TEXT,
        Opcode.PING,
        Opcode.CONT,
        Opcode.CONT,
    ]
    assert b"".join(event.data for event in events if event.opcode != Opcode.PING) == MESSAGE
    assert events[1].data == b"in between"


def reencode(frames: List[WireFrame], masked: bool) -> List[bytes]:
    kwargs = {"mask_key": MASK_KEY} if masked else {}
    return [
        encode_frame(frame.opcode, frame.payload, fin=frame.fin, rsv1=frame.rsv1, **kwargs)
        for frame in frames
    ]


def test_control_frames_are_not_compressed():
    client, _ = deflate_pair()
    client.send_ping(b"a" * 100)
    assert sent(client) == [WireFrame(PING, b"a" * 100, True, False)]
    client.send_close(1000, "bye" * 30)
    [close] = sent(client)
    assert close.opcode == CLOSE and not close.rsv1


def test_pong_answer_is_not_compressed():
    client, server = deflate_pair()
    client.send_ping(b"x" * 100)
    deliver(client, server)
    assert sent(server) == [WireFrame(0xA, b"x" * 100, True, False)]


@pytest.mark.parametrize("method", ["send_text", "send_binary"])
def test_per_message_opt_out(method):
    # Shorter than the negotiated 4 KiB window, so the context can be seen.
    message = MESSAGE[:2000]
    client, server = deflate_pair()
    getattr(client, method)(message)
    getattr(client, method)(message, compress=False)
    getattr(client, method)(message[:500], fin=False, compress=False)
    client.send_continuation(message[500:], fin=True)
    getattr(client, method)(message)
    frames = sent(client)
    assert [frame.rsv1 for frame in frames] == [True, False, False, False, True]
    assert frames[1].payload == message
    # The context survives the uncompressed messages: the last one is tiny.
    assert len(frames[4].payload) < len(frames[0].payload) / 10
    server.receive_data(b"".join(reencode(frames, masked=True)))
    events = server.events_received()
    assert [event.data for event in events] == [
        message,
        message,
        message[:500],
        message[500:],
        message,
    ]


def test_opt_out_without_extensions_is_harmless():
    client, server = open_pair()
    client.send_text(b"plain", compress=False)
    assert deliver(client, server) == [Frame(Opcode.TEXT, b"plain")]


def test_threshold():
    client, server = open_pair(
        enable_client_permessage_deflate(None),
        [ServerPerMessageDeflateFactory(threshold=100)],
    )
    server.send_text(b"a" * 99)
    server.send_text(b"a" * 100)
    assert [frame.rsv1 for frame in sent(server)] == [False, True]
    client.send_text(b"a" * 31)
    client.send_text(b"a" * 32)
    assert [frame.rsv1 for frame in sent(client)] == [False, True]


@pytest.mark.parametrize("takeover", [True, False])
def test_context_takeover(takeover):
    client, server = open_pair(
        [ClientPerMessageDeflateFactory(client_no_context_takeover=not takeover)],
        [ServerPerMessageDeflateFactory(server_no_context_takeover=not takeover)],
    )
    for sender, receiver in ((client, server), (server, client)):
        sender.send_text(MESSAGE)
        sender.send_text(MESSAGE)
        first, second = sent(sender)
        if takeover:
            assert len(second.payload) < len(first.payload) / 10
        else:
            assert second.payload == first.payload
        receiver.receive_data(b"".join(reencode([first, second], sender is client)))
        assert [event.data for event in receiver.events_received()] == [MESSAGE, MESSAGE]
        assert (sender.extensions[0].compressor is None) is not takeover
        assert (receiver.extensions[0].decompressor is None) is not takeover


# Errors.


def server_receiving(*frames: bytes, max_size=2**20) -> ServerProtocol:
    _, server = deflate_pair(max_size=max_size)
    for frame in frames:
        server.receive_data(frame)
    return server


def close_code(protocol) -> int:
    frames = [frame for frame in sent(protocol) if frame.opcode == CLOSE]
    assert frames, "no close frame sent"
    return struct.unpack("!H", frames[0].payload[:2])[0]


def to_server(opcode, payload, **kwargs) -> bytes:
    return encode_frame(opcode, payload, mask_key=MASK_KEY, **kwargs)


def test_invalid_compressed_data_closes_with_1007():
    server = server_receiving(to_server(TEXT, b"\xff\xff\xff\xff", rsv1=True))
    assert close_code(server) == 1007
    exc = server.parser_exc
    assert isinstance(exc, DecompressionError) or isinstance(exc.__cause__, DecompressionError)
    assert server.events_received() == []


def test_messages_before_invalid_data_are_delivered():
    server = server_receiving(
        to_server(TEXT, compress(b"Hello"), rsv1=True)
        + to_server(BINARY, b"\x04garbage", rsv1=True)
    )
    assert server.events_received() == [Frame(Opcode.TEXT, b"Hello")]
    assert close_code(server) == 1007


def test_invalid_utf8_in_compressed_text_closes_with_1007():
    server = server_receiving(to_server(TEXT, compress(b"caf\xc3"), rsv1=True))
    assert close_code(server) == 1007


def test_invalid_utf8_across_compressed_fragments_is_found_early():
    data = compress(b"ok \xff and more")
    server = server_receiving(to_server(TEXT, data, fin=False, rsv1=True))
    # The whole message isn't there yet, but the bad byte is.
    assert close_code(server) == 1007


def test_rsv1_on_continuation_frame_closes_with_1002():
    data = compress(MESSAGE)
    server = server_receiving(
        to_server(TEXT, data[:10], fin=False, rsv1=True),
        to_server(CONT, data[10:], rsv1=True),
    )
    assert close_code(server) == 1002


def test_rsv1_on_control_frame_closes_with_1002():
    server = server_receiving(to_server(PING, b"", rsv1=True))
    assert close_code(server) == 1002


def test_rsv1_without_the_extension_closes_with_1002():
    _, server = open_pair()
    server.receive_data(to_server(TEXT, compress(b"Hello"), rsv1=True))
    assert close_code(server) == 1002


def test_decompressed_message_over_max_size_closes_with_1009():
    server = server_receiving(to_server(BINARY, compress(bytes(2000)), rsv1=True), max_size=1000)
    assert close_code(server) == 1009
    assert isinstance(server.parser_exc, PayloadTooBig)


def test_max_size_applies_to_the_whole_decompressed_message():
    data = compress(bytes(1500))
    server = server_receiving(
        to_server(BINARY, data[:5], fin=False, rsv1=True),
        to_server(CONT, data[5:]),
        max_size=1000,
    )
    assert close_code(server) == 1009


def test_max_size_is_exact():
    server = server_receiving(to_server(BINARY, compress(bytes(1000)), rsv1=True), max_size=1000)
    assert server.events_received() == [Frame(Opcode.BINARY, bytes(1000))]
    assert sent(server) == []


def test_client_side_errors_too():
    client, _ = deflate_pair()
    client.receive_data(encode_frame(TEXT, b"\xff\xff\xff\xff", rsv1=True))
    assert close_code(client) == 1007


def test_response_has_one_extensions_header():
    _, server = deflate_pair()
    assert len(server.response.headers.get_all("Sec-WebSocket-Extensions")) == 1
