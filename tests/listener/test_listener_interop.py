"""Interoperability of the listener face with picows and websockets, both ways."""

from __future__ import annotations

import asyncio

import pytest
from listener_helpers import Recorder, run, serving, until

from wirespeed import WSCloseCode, WSMsgType, ws_connect

SIZES = (0, 1, 125, 126, 65535, 65536, 1_000_000)


def payloads():
    return [bytes([size % 256]) * size for size in SIZES]


async def exchange_with_echo(transport, client):
    """Send a mix of frames to an echo server; check what comes back."""
    expected = []
    for payload in payloads():
        transport.send(WSMsgType.BINARY, payload)
        expected.append((WSMsgType.BINARY, payload))
    transport.send(WSMsgType.TEXT, "héllo wörld")
    expected.append((WSMsgType.TEXT, "héllo wörld".encode()))
    rtts = await transport.measure_roundtrip_time(3)
    assert len(rtts) == 3
    await until(lambda: len(client.frames) >= len(expected), timeout=5)
    assert [(f.msg_type, f.payload) for f in client.frames[: len(expected)]] == expected
    transport.send_close(WSCloseCode.GOING_AWAY, b"done")
    await asyncio.wait_for(transport.wait_disconnected(), 3)
    assert transport.close_handshake.recv.code == 1001


# picows


@pytest.fixture
def picows():
    return pytest.importorskip("picows")


def test_wirespeed_client_picows_server(picows):
    class PicowsEcho(picows.WSListener):
        def on_ws_frame(self, transport, frame):
            if frame.msg_type in (
                picows.WSMsgType.TEXT,
                picows.WSMsgType.BINARY,
                picows.WSMsgType.CONTINUATION,
            ):
                transport.send(frame.msg_type, frame.get_payload_as_bytes(), frame.fin)
            elif frame.msg_type == picows.WSMsgType.CLOSE:
                transport.send_close(frame.get_close_code(), frame.get_close_message())
                transport.disconnect()

    async def main():
        server = await picows.ws_create_server(lambda request: PicowsEcho(), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            transport, client = await ws_connect(Recorder, f"ws://127.0.0.1:{port}/")
            # Fragments come back as fragments (picows echoes frame by frame).
            transport.send(WSMsgType.TEXT, b"frag", fin=False)
            transport.send(WSMsgType.CONTINUATION, b"ment", fin=True)
            await client.wait_frames(2)
            assert [(f.msg_type, f.fin, f.payload) for f in client.frames] == [
                (WSMsgType.TEXT, False, b"frag"),
                (WSMsgType.CONTINUATION, True, b"ment"),
            ]
            client.frames.clear()
            await exchange_with_echo(transport, client)
        finally:
            server.close()
            await server.wait_closed()

    run(main(), timeout=15)


def test_picows_client_wirespeed_server(picows):
    class PicowsClient(picows.WSListener):
        def __init__(self):
            self.frames = []
            self.disconnected = False

        def on_ws_frame(self, transport, frame):
            self.frames.append((int(frame.msg_type), frame.fin, frame.get_payload_as_bytes()))

        def on_ws_disconnected(self, transport):
            self.disconnected = True

    async def main():
        async with serving(lambda: Recorder(echo=True)) as srv:
            transport, client = await picows.ws_connect(
                PicowsClient,
                srv.url,
                enable_auto_ping=True,
                auto_ping_idle_timeout=0.05,
                auto_ping_reply_timeout=0.05,  # picows wants reply <= idle
            )
            expected = []
            for payload in payloads():
                transport.send(picows.WSMsgType.BINARY, payload)
                expected.append((2, True, payload))
            transport.send(picows.WSMsgType.TEXT, b"part one ", False)
            transport.send(picows.WSMsgType.CONTINUATION, b"and two", True)
            expected += [(1, False, b"part one "), (0, True, b"and two")]
            await until(lambda: len(client.frames) >= len(expected), timeout=5)
            assert client.frames == expected
            rtts = await transport.measure_roundtrip_time(3)
            assert len(rtts) == 3
            await asyncio.sleep(0.2)  # picows auto pings an idle wirespeed server
            assert not client.disconnected
            transport.send_close(picows.WSCloseCode.OK, b"bye")
            await asyncio.wait_for(transport.wait_disconnected(), 3)
            server = srv.listeners[0]
            await server.wait_disconnected()
            assert server.close_code() == 1000
            assert server.close_frames()[0].payload[2:] == b"bye"
            assert client.frames[-1][0] == 8  # the echoed close

    run(main(), timeout=15)


def test_picows_server_auto_ping_wirespeed_client(picows):
    async def main():
        server = await picows.ws_create_server(
            lambda request: picows.WSListener(),
            "127.0.0.1",
            0,
            enable_auto_ping=True,
            auto_ping_idle_timeout=0.05,
            auto_ping_reply_timeout=0.05,
        )
        port = server.sockets[0].getsockname()[1]
        try:
            transport, _client = await ws_connect(Recorder, f"ws://127.0.0.1:{port}/")
            await asyncio.sleep(0.4)
            assert not transport.is_disconnected  # wirespeed answered picows' pings
            transport.disconnect()
            await asyncio.wait_for(transport.wait_disconnected(), 2)
        finally:
            server.close()
            await server.wait_closed()

    run(main())


# websockets


@pytest.fixture
def websockets():
    module = pytest.importorskip("websockets")
    pytest.importorskip("websockets.asyncio.server")
    return module


def test_websockets_client_wirespeed_server(websockets):
    from websockets.asyncio.client import connect

    async def main():
        async with serving(lambda: Recorder(echo=True)) as srv:
            async with connect(srv.url, max_size=None, compression=None) as ws:
                for payload in payloads():
                    await ws.send(payload)
                    assert await asyncio.wait_for(ws.recv(), 3) == payload
                await ws.send("héllo")
                assert await asyncio.wait_for(ws.recv(), 3) == "héllo"
                # A fragmented message: wirespeed echoes its frames, websockets
                # reassembles them.
                await ws.send(["frag", "ment", "ed"])
                assert await asyncio.wait_for(ws.recv(), 3) == "fragmented"
                pong = await ws.ping(b"ping data")
                await asyncio.wait_for(pong, 3)
                await ws.close(code=1001, reason="going")
                assert ws.close_code == 1001
                assert ws.close_reason == "going"
            server = srv.listeners[0]
            await server.wait_disconnected()
            assert server.close_code() == 1001
            fins = [f.fin for f in server.frames if f.msg_type != WSMsgType.CLOSE][-3:]
            assert fins[-1] is True and True not in fins[:-1]

    run(main(), timeout=15)


def test_wirespeed_client_websockets_server(websockets):
    from websockets.asyncio.server import serve

    async def echo(ws):
        async for message in ws:
            await ws.send(message)

    async def main():
        async with serve(echo, "127.0.0.1", 0, max_size=None, compression=None) as server:
            port = server.sockets[0].getsockname()[1]
            transport, client = await ws_connect(Recorder, f"ws://127.0.0.1:{port}/")
            # websockets reassembles, so the fragmented message comes back whole.
            transport.send(WSMsgType.BINARY, b"ab", fin=False)
            transport.send(WSMsgType.CONTINUATION, b"cd", fin=False)
            transport.send(WSMsgType.CONTINUATION, b"ef", fin=True)
            await client.wait_frames(1)
            assert client.frames == [(WSMsgType.BINARY, True, False, b"abcdef")]
            client.frames.clear()
            await exchange_with_echo(transport, client)

    run(main(), timeout=15)


def test_websockets_server_closes_first(websockets):
    from websockets.asyncio.server import serve

    async def closer(ws):
        await ws.send("bye")
        await ws.close(code=4000, reason="server says bye")

    async def main():
        async with serve(closer, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            transport, client = await ws_connect(Recorder, f"ws://127.0.0.1:{port}/")
            await asyncio.wait_for(transport.wait_disconnected(), 3)
            assert client.frames[0].payload == b"bye"
            assert client.close_code() == 4000
            assert client.close_frames()[0].payload[2:] == b"server says bye"
            handshake = transport.close_handshake
            assert handshake.recv.code == 4000 and handshake.recv_then_sent is True

    run(main())
