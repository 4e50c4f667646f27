"""Errors: exceptions in callbacks, protocol violations by the peer, size limits, close timeout."""

from __future__ import annotations

import asyncio
import struct

import pytest
from listener_helpers import Recorder, disconnect, raw_frame, run, serving, until

from wirespeed import WSCloseCode, WSMsgType, ws_connect


class RaisesOnFrame(Recorder):
    """Raises on every text frame that says 'raise'; echoes the rest."""

    def on_ws_frame(self, transport, frame):
        super().on_ws_frame(transport, frame)
        if frame.msg_type == WSMsgType.TEXT and frame.get_payload_as_bytes() == b"raise":
            raise RuntimeError("listener bug")
        if frame.msg_type in (WSMsgType.TEXT, WSMsgType.BINARY):
            transport.send(frame.msg_type, frame.get_payload_as_bytes())


def test_on_ws_frame_raising_closes_with_1011(caplog):
    async def main():
        async with serving(RaisesOnFrame) as srv:
            transport, client = await ws_connect(Recorder, srv.url)
            transport.send(WSMsgType.TEXT, b"fine")
            transport.send(WSMsgType.TEXT, b"raise")
            transport.send(WSMsgType.TEXT, b"never echoed")
            await asyncio.wait_for(transport.wait_disconnected(), 2)
            assert [f.payload for f in client.of_type(WSMsgType.TEXT)] == [b"fine"]
            assert client.close_code() == WSCloseCode.INTERNAL_ERROR
            server = srv.listeners[0]
            await server.wait_disconnected()
            assert server.transport.close_handshake.sent.code == 1011

    run(main())
    assert any("on_ws_frame" in r.getMessage() for r in caplog.records)


def test_on_ws_frame_raising_without_disconnect_on_error(caplog):
    async def main():
        async with serving(RaisesOnFrame, disconnect_on_error=False) as srv:
            transport, client = await ws_connect(Recorder, srv.url)
            transport.send(WSMsgType.TEXT, b"raise")
            transport.send(WSMsgType.TEXT, b"still here")
            await client.wait_frames(1)
            assert client.frames[0].payload == b"still here"
            assert not transport.is_disconnected
            await disconnect(transport)

    run(main())
    assert any(r.exc_info and "listener bug" in str(r.exc_info[1]) for r in caplog.records)


class RaisesOnRaise(Recorder):
    """Records frames; raises on a text frame that says 'raise'."""

    def on_ws_frame(self, transport, frame):
        super().on_ws_frame(transport, frame)
        if frame.msg_type == WSMsgType.TEXT and frame.get_payload_as_bytes() == b"raise":
            raise RuntimeError("listener bug")


@pytest.mark.parametrize("disconnect_on_error", [True, False])
def test_client_side_disconnect_on_error(disconnect_on_error):
    async def main():
        async with serving(lambda: Recorder(echo=True)) as srv:
            transport, client = await ws_connect(
                RaisesOnRaise, srv.url, disconnect_on_error=disconnect_on_error
            )
            transport.send(WSMsgType.TEXT, b"raise")  # the echo makes the client raise
            transport.send(WSMsgType.TEXT, b"after")
            await until(lambda: srv.listeners and srv.listeners[0].connected)
            server = srv.listeners[0]
            if disconnect_on_error:
                await asyncio.wait_for(transport.wait_disconnected(), 2)
                await server.wait_disconnected()
                assert server.close_code() == 1011
                assert b"after" not in [f.payload for f in client.frames]
            else:
                await until(lambda: b"after" in [f.payload for f in client.frames])
                assert not transport.is_disconnected
                transport.send(WSMsgType.TEXT, b"still open")
                await until(lambda: b"still open" in [f.payload for f in client.frames])
                await disconnect(transport)

    run(main())


class RaisesOnConnect(Recorder):
    def on_ws_connected(self, transport):
        super().on_ws_connected(transport)
        raise RuntimeError("connect bug")


def test_on_ws_connected_raising_server_side():
    async def main():
        async with serving(RaisesOnConnect, disconnect_on_error=False) as srv:
            transport, client = await ws_connect(Recorder, srv.url)
            await asyncio.wait_for(transport.wait_disconnected(), 2)
            assert client.close_code() == WSCloseCode.INTERNAL_ERROR
            await srv.listeners[0].wait_disconnected()

    run(main())


def test_on_ws_connected_raising_client_side():
    async def main():
        async with serving(Recorder) as srv:
            transport, client = await ws_connect(RaisesOnConnect, srv.url)
            await asyncio.wait_for(transport.wait_disconnected(), 2)
            assert client.disconnected
            server = srv.listeners[0]
            await server.wait_disconnected()
            assert server.close_code() == WSCloseCode.INTERNAL_ERROR

    run(main())


def test_on_ws_disconnected_raising_is_logged(caplog):
    class RaisesOnDisconnect(Recorder):
        def on_ws_disconnected(self, transport):
            super().on_ws_disconnected(transport)
            raise RuntimeError("disconnect bug")

    async def main():
        async with serving(Recorder) as srv:
            transport, client = await ws_connect(RaisesOnDisconnect, srv.url)
            transport.send_close()
            await asyncio.wait_for(transport.wait_disconnected(), 2)
            assert client.disconnected

    run(main())
    assert any("on_ws_disconnected" in r.getMessage() for r in caplog.records)


# Protocol violations by the peer: the listener's side fails the connection
# with the right close code. The "peer" is a wirespeed client writing raw
# bytes through underlying_transport.

MASKED_TO_SERVER = [
    ("unmasked frame", raw_frame(WSMsgType.BINARY, b"abc", mask=False), 1002),
    ("reserved opcode", raw_frame(0x3, b"abc"), 1002),
    ("reserved control opcode", raw_frame(0xB, b""), 1002),
    ("rsv2 set", raw_frame(WSMsgType.BINARY, b"abc", rsv=2), 1002),
    ("rsv1 without extension", raw_frame(WSMsgType.TEXT, b"abc", rsv=4), 1002),
    ("fragmented ping", raw_frame(WSMsgType.PING, b"p", fin=False), 1002),
    ("long ping", raw_frame(WSMsgType.PING, b"p" * 126), 1002),
    ("orphan continuation", raw_frame(WSMsgType.CONTINUATION, b"abc"), 1002),
    (
        "text inside a fragmented message",
        raw_frame(WSMsgType.TEXT, b"a", fin=False) + raw_frame(WSMsgType.TEXT, b"b"),
        1002,
    ),
    ("invalid utf-8", raw_frame(WSMsgType.TEXT, b"ok \xff"), 1007),
    (
        "invalid utf-8 across fragments",
        raw_frame(WSMsgType.TEXT, b"\xe2\x82", fin=False)
        + raw_frame(WSMsgType.CONTINUATION, b"\x28"),
        1007,
    ),
    ("truncated utf-8 at the end", raw_frame(WSMsgType.TEXT, b"\xe2\x82"), 1007),
    ("close code 999", raw_frame(WSMsgType.CLOSE, struct.pack("!H", 999)), 1002),
    ("close code 1005", raw_frame(WSMsgType.CLOSE, struct.pack("!H", 1005)), 1002),
    ("one-byte close", raw_frame(WSMsgType.CLOSE, b"\x03"), 1002),
    ("close reason not utf-8", raw_frame(WSMsgType.CLOSE, b"\x03\xe8\xff"), 1007),
]


@pytest.mark.parametrize(
    "data, code", [case[1:] for case in MASKED_TO_SERVER], ids=[c[0] for c in MASKED_TO_SERVER]
)
def test_protocol_violation_from_client(data, code):
    async def main():
        async with serving(Recorder) as srv:
            transport, client = await ws_connect(Recorder, srv.url)
            await until(lambda: srv.listeners and srv.listeners[0].connected)
            transport.underlying_transport.write(data)
            await asyncio.wait_for(transport.wait_disconnected(), 2)
            assert client.close_code() == code
            server = srv.listeners[0]
            await server.wait_disconnected()
            assert server.transport.close_handshake.sent.code == code
            # No message got through whole (valid leading fragments may arrive).
            assert not [f for f in server.frames if f.msg_type != WSMsgType.CLOSE and f.fin]

    run(main())


def test_protocol_violation_from_server():
    async def main():
        cases = [
            (raw_frame(WSMsgType.BINARY, b"abc", mask=True), 1002),  # masked by a server
            (raw_frame(WSMsgType.TEXT, b"\xc0\xaf", mask=False), 1007),
            (raw_frame(0x7, b"", mask=False), 1002),
        ]
        for data, code in cases:
            async with serving(Recorder) as srv:
                transport, _client = await ws_connect(Recorder, srv.url)
                await until(lambda srv=srv: srv.listeners and srv.listeners[0].connected)
                server = srv.listeners[0]
                server.transport.underlying_transport.write(data)
                await server.wait_disconnected()
                assert server.close_code() == code
                await asyncio.wait_for(transport.wait_disconnected(), 2)
                assert transport.close_handshake.sent.code == code

    run(main())


def test_valid_message_then_bad_frame_in_one_write():
    # The message before the bad frame reaches the listener, and its answer
    # goes out before the close frame.
    async def main():
        async with serving(lambda: Recorder(echo=True)) as srv:
            transport, client = await ws_connect(Recorder, srv.url)
            await until(lambda: srv.listeners and srv.listeners[0].connected)
            transport.underlying_transport.write(
                raw_frame(WSMsgType.TEXT, b"first") + raw_frame(WSMsgType.BINARY, b"bad", rsv=1)
            )
            await asyncio.wait_for(transport.wait_disconnected(), 2)
            assert [(f.msg_type, f.payload[:2]) for f in client.frames] == [
                (WSMsgType.TEXT, b"fi"),
                (WSMsgType.CLOSE, struct.pack("!H", 1002)),
            ]

    run(main())


@pytest.mark.parametrize("side", ["server", "client"])
def test_max_frame_size(side):
    async def main():
        limit = 1000
        server_kwargs = {"max_frame_size": limit} if side == "server" else {}
        client_kwargs = {"max_frame_size": limit} if side == "client" else {}
        async with serving(Recorder, **server_kwargs) as srv:
            transport, client = await ws_connect(Recorder, srv.url, **client_kwargs)
            await until(lambda: srv.listeners and srv.listeners[0].connected)
            server = srv.listeners[0]
            sender, receiver = (
                (transport, server) if side == "server" else (server.transport, client)
            )
            other = client if side == "server" else server
            sender.send(WSMsgType.BINARY, b"x" * limit)  # at the limit: fine
            await receiver.wait_frames(1)
            sender.send(WSMsgType.BINARY, b"x" * (limit + 1))
            await other.wait_disconnected()
            assert other.close_code() == WSCloseCode.MESSAGE_TOO_BIG
            assert len(receiver.of_type(WSMsgType.BINARY)) == 1
            await receiver.wait_disconnected()

    run(main())


def test_max_frame_size_applies_per_frame_not_per_message():
    async def main():
        async with serving(Recorder, max_frame_size=100) as srv:
            transport, _client = await ws_connect(Recorder, srv.url)
            for index in range(5):
                transport.send(
                    WSMsgType.BINARY if index == 0 else WSMsgType.CONTINUATION,
                    b"y" * 100,
                    fin=index == 4,
                )
            await until(lambda: srv.listeners and len(srv.listeners[0].frames) == 5)
            assert not transport.is_disconnected
            await disconnect(transport)

    run(main())


def test_close_timeout_when_peer_never_answers_the_close():
    async def main():
        async with serving(Recorder) as srv:
            transport, _client = await ws_connect(Recorder, srv.url, close_timeout=0.2)
            await until(lambda: srv.listeners and srv.listeners[0].connected)
            # The server stops reading: it will never answer the close frame.
            srv.listeners[0].transport.underlying_transport.pause_reading()
            loop = asyncio.get_running_loop()
            start = loop.time()
            transport.send_close()
            await asyncio.wait_for(transport.wait_disconnected(), 2)
            assert 0.15 < loop.time() - start < 1.5

    run(main())


def test_server_close_timeout_when_client_never_closes_tcp():
    async def main():
        async with serving(Recorder, close_timeout=0.2) as srv:
            transport, _client = await ws_connect(Recorder, srv.url)
            await until(lambda: srv.listeners and srv.listeners[0].connected)
            server = srv.listeners[0]
            # The client stops reading before the server closes.
            transport.underlying_transport.pause_reading()
            server.transport.send_close()
            await server.wait_disconnected(timeout=2)
            await disconnect(transport)

    run(main())


async def raw_ws_client(port: int):
    """Open a WebSocket connection by hand; return (reader, writer) after the 101."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 2)
    assert head.startswith(b"HTTP/1.1 101 ")
    return reader, writer


def test_peer_sends_close_and_closes_tcp_at_once():
    # A client that sends its close frame and closes the socket without
    # waiting for the answer: the server writes its close frame to a closed
    # socket (the kernel answers with a reset), then half-closes. The listener
    # must still see the close frame and on_ws_disconnected.
    async def main():
        for _ in range(5):
            async with serving(Recorder) as srv:
                _reader, writer = await raw_ws_client(srv.port)
                await until(lambda srv=srv: srv.listeners and srv.listeners[0].connected)
                writer.write(raw_frame(WSMsgType.CLOSE, struct.pack("!H", 1000)))
                await writer.drain()
                writer.close()
                await writer.wait_closed()
                server = srv.listeners[0]
                await server.wait_disconnected()
                assert server.close_code() == 1000

    run(main())


async def raw_ws_server(handler):
    """A server that answers the opening handshake by hand, then runs ``handler``.

    ``handler(reader, writer, accept_head)`` gets the 101 response to send
    (so that it can append frames to it in one write).
    """
    from wirespeed.handshake import accept_key

    async def serve(reader, writer):
        try:
            request = await reader.readuntil(b"\r\n\r\n")
            key = next(
                line.split(b":", 1)[1].strip()
                for line in request.split(b"\r\n")
                if line.lower().startswith(b"sec-websocket-key")
            )
            head = (
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Accept: "
                + accept_key(key.decode()).encode()
                + b"\r\n\r\n"
            )
            await handler(reader, writer, head)
        finally:
            writer.close()

    return await asyncio.start_server(serve, "127.0.0.1", 0)


async def read_close_frame(reader) -> bytes:
    """Read masked frames from a client until a close frame; return its payload."""
    while True:
        first, second = await reader.readexactly(2)
        length = second & 0x7F
        if length == 126:
            length = struct.unpack("!H", await reader.readexactly(2))[0]
        elif length == 127:
            length = struct.unpack("!Q", await reader.readexactly(8))[0]
        key = await reader.readexactly(4)
        data = bytes(b ^ key[i % 4] for i, b in enumerate(await reader.readexactly(length)))
        if first & 0x0F == WSMsgType.CLOSE:
            return data


@pytest.mark.parametrize("same_write", [True, False], ids=["with-the-101", "later"])
def test_bad_frame_after_frames_that_came_with_the_101(same_write):
    # Autobahn's fuzzing server writes its first frames together with the 101
    # response (cases 3.2, 3.3, 3.4, 4.1.3, 4.1.4, 4.2.3, 4.2.4, 5.15 as a
    # client). A valid message then a bad frame: the client must deliver the
    # message and fail the connection with 1002 - not go silent.
    async def main():
        closes = []

        async def handler(reader, writer, head):
            good = raw_frame(WSMsgType.TEXT, b"Hello", mask=False)
            bad = raw_frame(WSMsgType.TEXT, b"Hello", rsv=2, mask=False)
            if same_write:
                writer.write(head + good + bad)
            else:
                writer.write(head + good)
                await writer.drain()
                await asyncio.sleep(0.05)
                writer.write(bad)
            await writer.drain()
            closes.append(await asyncio.wait_for(read_close_frame(reader), 1))

        server = await raw_ws_server(handler)
        port = server.sockets[0].getsockname()[1]
        try:
            transport, client = await ws_connect(
                Recorder, f"ws://127.0.0.1:{port}/", close_timeout=0.5
            )
            await asyncio.wait_for(transport.wait_disconnected(), 2)
            assert client.frames[0].payload == b"Hello"
            assert closes and struct.unpack("!H", closes[0][:2])[0] == 1002
        finally:
            server.close()
            await server.wait_closed()

    run(main())


def test_bad_frame_sent_with_the_upgrade_request():
    # The server side of the same situation: the request, a valid message and
    # a bad frame in one write.
    async def main():
        async with serving(lambda: Recorder(echo=True)) as srv:
            reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
            writer.write(
                b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                b"Sec-WebSocket-Version: 13\r\n\r\n"
                + raw_frame(WSMsgType.TEXT, b"Hello")
                + raw_frame(WSMsgType.TEXT, b"Hello", rsv=2)
            )
            data = await asyncio.wait_for(reader.read(), 2)
            writer.close()
            head, _, frames = data.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 101 ")
            # The echo, then a close frame with 1002.
            assert frames[:7] == b"\x81\x05Hello"
            assert frames[7:11] == b"\x88" + bytes([len(frames) - 9]) + b"\x03\xea"
            server = srv.listeners[0]
            await server.wait_disconnected()

    run(main())
