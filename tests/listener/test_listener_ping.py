"""Auto ping (both strategies), user-specific ping/pong, auto pong, round-trip times."""

from __future__ import annotations

import asyncio

import pytest
from listener_helpers import Recorder, disconnect, run, serving, until

from wirespeed import WSAutoPingStrategy, WSMsgType, ws_connect

IDLE = WSAutoPingStrategy.PING_WHEN_IDLE
PERIODIC = WSAutoPingStrategy.PING_PERIODICALLY


class ManualPonger(Recorder):
    """With ``enable_auto_pong=False``: sees the pings and answers them itself."""

    def on_ws_frame(self, transport, frame):
        super().on_ws_frame(transport, frame)
        if frame.msg_type == WSMsgType.PING:
            transport.send_pong(frame.get_payload_as_bytes())


class Chatty(ManualPonger):
    """Sends a small frame every ``interval`` seconds while connected."""

    interval = 0.03

    def on_ws_connected(self, transport):
        super().on_ws_connected(transport)
        self.ticker = asyncio.get_running_loop().call_later(self.interval, self.tick)

    def tick(self):
        if not self.transport.is_disconnected:
            self.transport.send(WSMsgType.BINARY, b"tick")
            self.ticker = asyncio.get_running_loop().call_later(self.interval, self.tick)

    def on_ws_disconnected(self, transport):
        self.ticker.cancel()
        super().on_ws_disconnected(transport)


def pings(listener):
    return listener.of_type(WSMsgType.PING)


def test_auto_ping_when_idle_pings_an_idle_peer():
    async def main():
        async with serving(ManualPonger, enable_auto_pong=False) as srv:
            transport, client = await ws_connect(
                Recorder,
                srv.url,
                enable_auto_ping=True,
                auto_ping_idle_timeout=0.1,
                auto_ping_reply_timeout=0.3,
            )
            await asyncio.sleep(0.55)
            server = srv.listeners[0]
            assert 2 <= len(pings(server)) <= 6
            # The pongs were consumed by auto ping, not passed to on_ws_frame.
            assert not client.of_type(WSMsgType.PONG)
            assert not transport.is_disconnected
            await disconnect(transport)

    run(main())


@pytest.mark.parametrize("strategy, expect_pings", [(IDLE, False), (PERIODIC, True)])
def test_strategies_with_incoming_traffic(strategy, expect_pings):
    # The server sends a frame every 30 ms: never idle for 100 ms. Only the
    # periodic strategy pings anyway.
    async def main():
        async with serving(Chatty, enable_auto_pong=False) as srv:
            transport, client = await ws_connect(
                Recorder,
                srv.url,
                enable_auto_ping=True,
                auto_ping_idle_timeout=0.1,
                auto_ping_reply_timeout=0.3,
                auto_ping_strategy=strategy,
            )
            await asyncio.sleep(0.5)
            server = srv.listeners[0]
            assert len(client.of_type(WSMsgType.BINARY)) >= 5
            if expect_pings:
                assert 2 <= len(pings(server)) <= 7
            else:
                assert pings(server) == []
            assert not transport.is_disconnected
            await disconnect(transport)

    run(main())


@pytest.mark.parametrize("strategy", [IDLE, PERIODIC])
def test_no_pong_disconnects_client(strategy):
    async def main():
        # The server sees pings (no auto pong) and ignores them.
        async with serving(Recorder, enable_auto_pong=False) as srv:
            loop = asyncio.get_running_loop()
            start = loop.time()
            transport, client = await ws_connect(
                Recorder,
                srv.url,
                enable_auto_ping=True,
                auto_ping_idle_timeout=0.1,
                auto_ping_reply_timeout=0.15,
                auto_ping_strategy=strategy,
            )
            await asyncio.wait_for(transport.wait_disconnected(), 2)
            elapsed = loop.time() - start
            assert 0.2 <= elapsed < 1.5
            assert client.disconnected
            server = srv.listeners[0]
            await server.wait_disconnected()
            assert len(pings(server)) == 1
            # The client said why before disconnecting.
            assert server.close_code() in (None, 1011)

    run(main())


def test_no_pong_disconnects_server_side():
    async def main():
        async with serving(
            Recorder,
            enable_auto_ping=True,
            auto_ping_idle_timeout=0.1,
            auto_ping_reply_timeout=0.15,
        ) as srv:
            transport, client = await ws_connect(Recorder, srv.url, enable_auto_pong=False)
            await asyncio.wait_for(transport.wait_disconnected(), 2)
            assert len(pings(client)) == 1
            await srv.listeners[0].wait_disconnected()

    run(main())


def test_server_auto_ping_with_auto_pong_client_stays_connected():
    async def main():
        async with serving(
            Recorder,
            enable_auto_ping=True,
            auto_ping_idle_timeout=0.05,
            auto_ping_reply_timeout=0.1,
        ) as srv:
            transport, client = await ws_connect(Recorder, srv.url)
            await asyncio.sleep(0.4)
            assert not transport.is_disconnected
            assert not srv.listeners[0].disconnected
            assert client.frames == []  # pings answered by wirespeed, not shown
            await disconnect(transport)

    run(main())


class TextPinger(Recorder):
    """Application-level ping/pong: TEXT 'ping' answered by TEXT 'pong'."""

    def __init__(self):
        super().__init__()
        self.pings_sent = 0

    def send_user_specific_ping(self, transport):
        self.pings_sent += 1
        transport.send(WSMsgType.TEXT, b"ping")

    def is_user_specific_pong(self, frame):
        return frame.msg_type == WSMsgType.TEXT and frame.get_payload_as_memoryview() == b"pong"


class TextPonger(Recorder):
    def on_ws_frame(self, transport, frame):
        super().on_ws_frame(transport, frame)
        if frame.msg_type == WSMsgType.TEXT and frame.get_payload_as_bytes() == b"ping":
            transport.send(WSMsgType.TEXT, b"pong")
            transport.send(WSMsgType.TEXT, b"other")


def test_user_specific_ping_and_pong():
    async def main():
        async with serving(TextPonger) as srv:
            transport, client = await ws_connect(
                TextPinger,
                srv.url,
                enable_auto_ping=True,
                auto_ping_idle_timeout=0.1,
                auto_ping_reply_timeout=0.2,
            )
            # Wait for two ping rounds (bounded, so that a loaded machine
            # doesn't make the test fail).
            await until(
                lambda: client.pings_sent >= 2
                and [f.payload for f in client.frames].count(b"other") >= 2,
                timeout=3,
            )
            server = srv.listeners[0]
            assert not server.of_type(WSMsgType.PING)
            await until(lambda: len(server.of_type(WSMsgType.TEXT)) == client.pings_sent, timeout=3)
            # Pongs are recognized and hidden; other frames pass.
            payloads = [f.payload for f in client.frames]
            assert b"pong" not in payloads
            assert payloads.count(b"other") >= 2
            assert not transport.is_disconnected
            rtts = await transport.measure_roundtrip_time(3)
            assert len(rtts) == 3 and all(0 <= rtt < 1 for rtt in rtts)
            await disconnect(transport)

    run(main())


class JsonPinger(Recorder):
    """Recognizes its pong only in on_ws_frame and notifies the transport."""

    def __init__(self, notify=True):
        super().__init__()
        self.notify = notify

    def send_user_specific_ping(self, transport):
        transport.send(WSMsgType.TEXT, b'{"op":"ping"}')

    def is_user_specific_pong(self, frame):
        return False

    def on_ws_frame(self, transport, frame):
        super().on_ws_frame(transport, frame)
        if frame.get_payload_as_bytes() == b'{"op":"pong"}' and self.notify:
            transport.notify_user_specific_pong_received()


class JsonPonger(Recorder):
    def on_ws_frame(self, transport, frame):
        super().on_ws_frame(transport, frame)
        if frame.get_payload_as_bytes() == b'{"op":"ping"}':
            transport.send(WSMsgType.TEXT, b'{"op":"pong"}')


@pytest.mark.parametrize("notify", [True, False])
def test_notify_user_specific_pong_received(notify):
    async def main():
        async with serving(JsonPonger) as srv:
            transport, client = await ws_connect(
                lambda: JsonPinger(notify),
                srv.url,
                enable_auto_ping=True,
                auto_ping_idle_timeout=0.1,
                auto_ping_reply_timeout=0.1,
            )
            if notify:
                await asyncio.sleep(0.6)
                assert not transport.is_disconnected
                assert len(client.frames) >= 3  # the pongs reach on_ws_frame
                rtts = await transport.measure_roundtrip_time(2)
                assert len(rtts) == 2
                await disconnect(transport)
            else:
                # Pongs arrive but nobody tells the transport: it gives up.
                await asyncio.wait_for(transport.wait_disconnected(), 2)
                assert client.frames[0].payload == b'{"op":"pong"}'

    run(main())


def test_measure_roundtrip_time_with_pings():
    async def main():
        async with serving(Recorder) as srv:
            transport, client = await ws_connect(Recorder, srv.url)
            rtts = await transport.measure_roundtrip_time(5)
            assert len(rtts) == 5
            assert all(isinstance(rtt, float) and 0 <= rtt < 1 for rtt in rtts)
            assert client.frames == []  # the pongs went to the measurement
            assert await transport.measure_roundtrip_time(0) == []
            # Both sides can measure.
            rtts = await srv.listeners[0].transport.measure_roundtrip_time(2)
            assert len(rtts) == 2
            await disconnect(transport)

    run(main())


def test_measure_roundtrip_time_together_with_auto_ping():
    async def main():
        async with serving(Recorder) as srv:
            transport, _ = await ws_connect(
                Recorder,
                srv.url,
                enable_auto_ping=True,
                auto_ping_idle_timeout=0.02,
                auto_ping_reply_timeout=0.5,
            )
            for _ in range(5):
                rtts = await transport.measure_roundtrip_time(3)
                assert len(rtts) == 3
                await asyncio.sleep(0.02)
            assert not transport.is_disconnected
            await disconnect(transport)

    run(main())


def test_measure_roundtrip_time_fails_on_disconnect():
    async def main():
        async with serving(Recorder, enable_auto_pong=False) as srv:
            transport, _ = await ws_connect(Recorder, srv.url)
            measuring = asyncio.ensure_future(transport.measure_roundtrip_time(1))
            await until(lambda: srv.listeners and srv.listeners[0].frames)
            srv.listeners[0].transport.disconnect(graceful=False)
            with pytest.raises(ConnectionError):
                await asyncio.wait_for(measuring, 2)

    run(main())
