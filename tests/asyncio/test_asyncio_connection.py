"""Connection semantics of the asyncio face (seed 004): recv, send, close, ping, limits."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
import time
import uuid
import warnings

import pytest
from asyncio_helpers import HOST, echo_server, port_of, run, until

from wirespeed import WSFrame, WSListener, WSMsgType, ws_create_server
from wirespeed.asyncio import (
    ConcurrencyError,
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    State,
    connect,
    serve,
)
from wirespeed.asyncio.connection import KeepaliveClock, keepalive_clock

# Receiving


def test_recv_text_and_binary_with_decode_overrides() -> None:
    async def main() -> None:
        async with echo_server() as (_, uri), connect(uri) as ws:
            await ws.send("héllo")
            assert await ws.recv() == "héllo"
            await ws.send(b"\x00\xff")
            assert await ws.recv() == b"\x00\xff"
            await ws.send("text")
            assert await ws.recv(decode=False) == b"text"
            await ws.send(b"bytes")
            assert await ws.recv(decode=True) == "bytes"
            await ws.send(bytearray(b"ba"))
            assert await ws.recv() == b"ba"
            await ws.send(memoryview(b"mv"))
            assert await ws.recv() == b"mv"
            await ws.send(b"as text", text=True)
            assert await ws.recv() == "as text"
            await ws.send("as binary", text=False)
            assert await ws.recv() == b"as binary"

    run(main())


def test_fragmented_messages_are_assembled() -> None:
    async def main() -> None:
        async with echo_server() as (_, uri), connect(uri) as ws:
            await ws.send(["caf", "é", "!"])
            assert await ws.recv() == "café!"
            await ws.send([b"a", bytearray(b"b"), memoryview(b"c")])
            assert await ws.recv() == b"abc"

            async def fragments():
                for part in ("x", "y", "z"):
                    await asyncio.sleep(0)
                    yield part

            await ws.send(fragments())
            assert await ws.recv() == "xyz"
            await ws.send(["ab", "cd"])
            assert await ws.recv(decode=False) == b"abcd"

    run(main())


def test_recv_streaming_yields_fragments_as_they_arrive() -> None:
    received = []

    async def handler(ws):
        async for fragment in ws.recv_streaming():
            received.append(fragment)
        # A text message split inside a character is decoded across fragments.
        await ws.send([b"caf\xc3", b"\xa9"], text=True)
        await ws.send("single")

    async def main() -> None:
        async with echo_server(handler=handler) as (_, uri), connect(uri) as ws:
            await ws.send([b"one", b"two"])
            assert [f async for f in ws.recv_streaming()] == ["caf", "é", ""]
            assert [f async for f in ws.recv_streaming(decode=False)] == [b"single"]
            await ws.wait_closed()
        assert received == [b"one", b"two", b""]

    run(main())


def test_send_rejects_dicts_and_unknown_types() -> None:
    async def main() -> None:
        async with echo_server() as (_, uri), connect(uri) as ws:
            with pytest.raises(TypeError, match="dict-like"):
                await ws.send({"a": 1})
            with pytest.raises(TypeError):
                await ws.send(42)
            # Still open: the keys of a dict go as fragments when asked for.
            await ws.send({"k1": 1, "k2": 2}.keys())
            assert await ws.recv() == "k1k2"

    run(main())


def test_mixed_fragment_types_raise_type_error_and_close() -> None:
    async def main() -> None:
        async with echo_server() as (_, uri), connect(uri) as ws:
            with pytest.raises(TypeError, match="uniform"):
                await ws.send(["text", b"bytes"])
            await ws.wait_closed()
            assert ws.closed
            with pytest.raises(ConnectionClosedError) as info:
                await ws.recv()
            assert info.value.sent.code == 1011

    run(main())


def test_async_iteration_stops_on_normal_closure() -> None:
    async def handler(ws):
        for index in range(3):
            await ws.send(str(index))

    async def main() -> None:
        async with echo_server(handler=handler) as (_, uri), connect(uri) as ws:
            assert [m async for m in ws] == ["0", "1", "2"]
            assert ws.close_code == 1000

    run(main())


def test_concurrent_recv_raises_concurrency_error() -> None:
    async def main() -> None:
        async with echo_server() as (_, uri), connect(uri) as ws:
            first = asyncio.ensure_future(ws.recv())
            await asyncio.sleep(0.01)
            with pytest.raises(ConcurrencyError) as info:
                await ws.recv()
            assert isinstance(info.value, RuntimeError)
            with pytest.raises(RuntimeError):
                await ws.recv_streaming().__anext__()
            await ws.send("done")
            assert await first == "done"

    run(main())


def test_cancelled_recv_loses_no_message() -> None:
    async def main() -> None:
        async with echo_server() as (_, uri), connect(uri) as ws:
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(ws.recv(), 0.02)
            # The message arrives right when recv() is cancelled: the frame
            # wakes recv(), which is cancelled before it runs again.
            task = asyncio.ensure_future(ws.recv())
            await asyncio.sleep(0)
            frame = WSFrame()
            frame.msg_type = WSMsgType.TEXT
            frame.data = b"kept"
            frame.payload_size = 4
            ws.on_ws_frame(ws.transport, frame)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert await ws.recv() == "kept"
            # A fragmented message half received survives cancellation too.
            task = asyncio.ensure_future(ws.recv())
            await ws.send(["a", "b"])
            assert await task == "ab"

    run(main())


# recv() and send() as coroutines


def test_recv_and_send_work_as_tasks() -> None:
    async def main() -> None:
        async with echo_server() as (_, uri), connect(uri) as ws:
            assert asyncio.iscoroutine(ws.recv())
            assert asyncio.iscoroutine(ws.send("unused"))
            receiving = asyncio.create_task(ws.recv())
            await asyncio.create_task(ws.send("through tasks"))
            assert await receiving == "through tasks"
            assert await asyncio.wait_for(ws.send(b"timed"), 1) is None
            assert await asyncio.wait_for(ws.recv(), 1) == b"timed"

    run(main())


def test_send_and_recv_run_when_awaited_and_only_once() -> None:
    async def main() -> None:
        async with echo_server() as (_, uri), connect(uri) as ws:
            # Not awaited: nothing is sent, and nothing waits for a message.
            ws.send("never sent").close()
            ws.recv().close()
            sending = ws.send("once")
            await sending
            with pytest.raises(RuntimeError):
                await sending
            receiving = ws.recv()
            assert await receiving == "once"
            with pytest.raises(RuntimeError):
                await receiving
            await ws.send("next")
            assert await ws.recv() == "next"

    run(main())


def test_recv_follows_the_coroutine_protocol() -> None:
    async def main() -> None:
        async with echo_server() as (_, uri), connect(uri) as ws:
            # A queued message is the result of the first step.
            await ws.send("queued")
            await until(lambda: len(ws.messages) == 1)
            with pytest.raises(StopIteration) as info:
                ws.recv().send(None)
            assert info.value.value == "queued"
            # A recv() suspended on the queue holds the connection's receive
            # side until it is closed or an exception is thrown into it.
            receiving = ws.recv()
            waiter = receiving.send(None)
            assert waiter.done() is False
            with pytest.raises(ConcurrencyError):
                await ws.recv()
            with pytest.raises(ValueError, match="thrown"):
                receiving.throw(ValueError("thrown"))
            receiving = ws.recv()
            receiving.send(None)
            receiving.close()
            await ws.send(b"after")
            assert await ws.recv() == b"after"

    run(main())


def test_async_iteration_assembles_fragments_then_stops() -> None:
    async def handler(ws):
        await ws.send("whole")
        await ws.send(["frag", "ments"])
        await ws.send([b"by", b"tes"])

    async def main() -> None:
        async with echo_server(handler=handler) as (_, uri), connect(uri) as ws:
            assert [m async for m in ws] == ["whole", "fragments", b"bytes"]

    run(main())


# Closing


def test_close_is_idempotent_and_gives_codes() -> None:
    async def main() -> None:
        async with echo_server() as (_, uri):
            ws = await connect(uri)
            assert ws.state is State.OPEN and ws.open and not ws.closed
            assert ws.close_code is None and ws.close_reason is None
            await ws.close(1000, "bye")
            assert ws.state is State.CLOSED and ws.closed and not ws.open
            assert ws.close_code == 1000 and ws.close_reason == "bye"
            await ws.close()
            await ws.wait_closed()
            with pytest.raises(ConnectionClosedOK):
                await ws.recv()
            with pytest.raises(ConnectionClosedOK):
                await ws.send("late")
            with pytest.raises(ConnectionClosedOK):
                await ws.ping()

    run(main())


def test_messages_received_before_close_are_delivered() -> None:
    async def handler(ws):
        await ws.send("one")
        await ws.send("two")
        await ws.close(1001, "going")

    async def main() -> None:
        async with echo_server(handler=handler) as (_, uri), connect(uri) as ws:
            await ws.wait_closed()
            assert await ws.recv() == "one"
            assert await ws.recv() == "two"
            with pytest.raises(ConnectionClosedOK) as info:
                await ws.recv()
            assert (
                str(info.value)
                == "received 1001 (going away) going; then sent 1001 (going away) going"
            )

    run(main())


class Stuck(WSListener):
    """A peer that stops reading once the connection is open: it never answers."""

    def on_ws_connected(self, transport):
        transport.underlying_transport.pause_reading()


class Dropper(WSListener):
    """A peer that drops the TCP connection at the first message."""

    def on_ws_frame(self, transport, frame):
        if frame.msg_type == WSMsgType.TEXT:
            transport.disconnect(graceful=False)


class ListenerServer:
    """A listener-face server that also drops its connections when closed.

    Since Python 3.12, ``Server.wait_closed()`` waits for every connection to
    close, and peers such as :class:`Stuck` never close theirs.
    """

    def __init__(self, server, transports):
        self.server = server
        self.transports = transports

    @property
    def sockets(self):
        return self.server.sockets

    def close(self):
        for transport in self.transports:
            transport.disconnect(graceful=False)
        self.server.close()

    async def wait_closed(self):
        await self.server.wait_closed()


async def listener_server(listener_class):
    transports = []

    class Tracked(listener_class):
        def on_ws_connected(self, transport):
            transports.append(transport)
            super().on_ws_connected(transport)

    server = await ws_create_server(lambda: Tracked(), HOST, 0, close_timeout=1)
    return ListenerServer(server, transports)


def test_close_is_bounded_by_close_timeout() -> None:
    async def main() -> None:
        server = await listener_server(Stuck)
        try:
            ws = await connect(f"ws://{HOST}:{port_of(server)}/", close_timeout=0.1)
            start = asyncio.get_running_loop().time()
            await ws.close()
            assert asyncio.get_running_loop().time() - start < 1
            assert ws.closed and ws.close_code == 1006
        finally:
            server.close()
            await server.wait_closed()

    run(main())


def test_lost_tcp_connection_gives_no_close_frame_error() -> None:
    async def main() -> None:
        server = await listener_server(Dropper)
        try:
            ws = await connect(f"ws://{HOST}:{port_of(server)}/")
            await ws.send("bye")
            with pytest.raises(ConnectionClosedError) as info:
                await ws.recv()
            assert str(info.value) == "no close frame received or sent"
            assert ws.close_code == 1006
        finally:
            server.close()
            await server.wait_closed()

    run(main())


# Pings and keepalive


def test_ping_returns_awaitable_latency_and_pong() -> None:
    async def main() -> None:
        async with echo_server() as (_, uri), connect(uri, ping_interval=None) as ws:
            assert ws.latency == 0
            waiter = await ws.ping()
            latency = await waiter
            assert 0 < latency < 1 and ws.latency == latency
            assert isinstance(await (await ws.ping("text")), float)
            assert isinstance(await (await ws.ping(b"\x01\x02")), float)
            # Two pings with the same payload can't be pending together.
            await ws.pong(b"unsolicited")
            ws.transport.underlying_transport.pause_reading()
            first = await ws.ping(b"same")
            with pytest.raises(ConcurrencyError):
                await ws.ping(b"same")
            ws.transport.underlying_transport.resume_reading()
            await first
            # Cancelling a pong waiter has no effect on the connection.
            waiter = await ws.ping()
            waiter.cancel()
            await ws.send("still open")
            assert await ws.recv() == "still open"

    run(main())


def test_pong_answers_every_earlier_ping() -> None:
    async def main() -> None:
        async with echo_server() as (_, uri), connect(uri, ping_interval=None) as ws:
            ws.transport.underlying_transport.pause_reading()
            waiters = [await ws.ping(str(i)) for i in range(3)]
            ws.transport.underlying_transport.resume_reading()
            assert all(isinstance(latency, float) for latency in await asyncio.gather(*waiters))

    run(main())


def test_pending_ping_fails_when_the_connection_closes() -> None:
    async def main() -> None:
        server = await listener_server(Stuck)
        try:
            ws = await connect(f"ws://{HOST}:{port_of(server)}/", close_timeout=0.1)
            waiter = await ws.ping()
            await ws.close()
            with pytest.raises(ConnectionClosed):
                await waiter
        finally:
            server.close()
            await server.wait_closed()

    run(main())


def test_keepalive_pings_measure_latency() -> None:
    async def main() -> None:
        async with echo_server() as (_, uri), connect(uri, ping_interval=0.02) as ws:
            await until(lambda: ws.latency > 0)

    run(main())


def test_keepalive_leaves_no_timer_in_the_event_loop() -> None:
    # A pending loop timer costs the loop something on every iteration: the
    # keepalive timers are timed by a thread instead.
    async def main() -> None:
        loop = asyncio.get_running_loop()
        async with echo_server() as (_, uri), connect(uri, ping_interval=20) as ws:
            await ws.send("hello")
            assert await ws.recv() == "hello"
            assert ws.keepalive_timer is not None
            timers = [timer for timer in loop._scheduled if not timer.cancelled()]
            assert [t for t in timers if getattr(t._callback, "__self__", None) is ws] == []

    run(main())


def test_keepalive_clock_calls_in_the_loop_unless_cancelled() -> None:
    clock = KeepaliveClock()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        calls = []
        done = loop.create_future()

        def record(name: str) -> None:
            calls.append((name, threading.current_thread() is threading.main_thread()))
            if name == "last":
                done.set_result(None)

        cancelled = clock.call_later(loop, 0.01, record, "cancelled")
        clock.call_later(loop, 0.02, record, "first")
        clock.call_later(loop, 0.05, record, "last")
        cancelled.cancel()
        await asyncio.wait_for(done, 3)
        assert calls == [("first", True), ("last", True)]
        # Cancelled calls don't pile up: the heap is compacted.
        for _ in range(1000):
            clock.call_later(loop, 60, record, "never").cancel()
        assert len(clock.heap) < 200

    run(main())
    # A call whose loop is closed by its deadline is dropped; the clock goes on.
    loop = asyncio.new_event_loop()
    clock.call_later(loop, 0.01, print, "dropped")
    loop.close()
    time.sleep(0.05)
    assert clock.thread is not None and clock.thread.is_alive()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_keepalive_clock_works_in_a_child_forked_while_its_lock_was_held() -> None:
    clock = keepalive_clock
    parent_loop = asyncio.new_event_loop()
    clock.call_later(parent_loop, 60, print, "never").cancel()  # the thread runs
    parent_loop.close()
    with warnings.catch_warnings():
        # Python 3.12+ warns that forking a multi-threaded process may deadlock:
        # exactly what is tested here.
        warnings.simplefilter("ignore", DeprecationWarning)
        with clock.condition:
            pid = os.fork()
            if pid == 0:  # pragma: no cover - the child reports through its exit status
                status = 3
                try:
                    signal.alarm(5)  # a deadlock ends the child (by SIGALRM)
                    loop = asyncio.new_event_loop()
                    fired: list = []
                    clock.call_later(loop, 0.01, fired.append, True)
                    loop.run_until_complete(asyncio.sleep(0.3))
                    status = 0 if fired else 1
                finally:
                    os._exit(status)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status), f"the child did not exit normally: {status:#x}"
    assert os.WEXITSTATUS(status) == 0


def test_keepalive_timeout_closes_with_1011() -> None:
    async def main() -> None:
        server = await listener_server(Stuck)
        try:
            ws = await connect(
                f"ws://{HOST}:{port_of(server)}/",
                ping_interval=0.05,
                ping_timeout=0.05,
                close_timeout=0.2,
            )
            with pytest.raises(ConnectionClosedError) as info:
                await ws.recv()
            assert str(info.value) == (
                "sent 1011 (internal error) keepalive ping timeout; no close frame received"
            )
        finally:
            server.close()
            await server.wait_closed()

    run(main())


def test_server_keepalive_timeout_too() -> None:
    closed = []

    async def handler(ws):
        try:
            await ws.recv()
        except ConnectionClosedError as exc:
            closed.append(str(exc))

    async def main() -> None:
        async with echo_server(
            handler=handler, ping_interval=0.05, ping_timeout=0.05, close_timeout=0.2
        ) as (_server, uri):
            ws = await connect(uri, ping_interval=None)
            ws.transport.underlying_transport.pause_reading()
            await until(lambda: closed)
            ws.transport.underlying_transport.resume_reading()
            await ws.wait_closed()
        assert closed == [
            "sent 1011 (internal error) keepalive ping timeout; no close frame received"
        ]

    run(main())


# Limits and flow control


def test_max_size_closes_with_1009() -> None:
    async def main() -> None:
        async with echo_server(max_size=100) as (_, uri), connect(uri) as ws:
            await ws.send(b"x" * 100)
            assert await ws.recv() == b"x" * 100
            await ws.send([b"x" * 60, b"x" * 60])
            with pytest.raises(ConnectionClosedError) as info:
                await ws.recv()
            assert info.value.rcvd.code == 1009

    run(main())


def test_client_max_size() -> None:
    async def main() -> None:
        async with echo_server() as (_, uri), connect(uri, max_size=10) as ws:
            await ws.send(b"y" * 11)
            with pytest.raises(ConnectionClosedError) as info:
                await ws.recv()
            assert info.value.sent.code == 1009

    run(main())


def test_max_queue_pauses_reading_so_tcp_slows_the_sender() -> None:
    """A slow reader makes the sender wait: memory stays bounded on both sides."""
    size = 16384
    count = 2048  # 32 MiB: more than the kernel's socket buffers hold on loopback
    write_limit = 65536
    sent = []
    peak_write_buffer = []

    async def sender(ws):
        peak = 0
        for index in range(count):
            await ws.send(b"%08d" % index + b"x" * (size - 8))
            peak = max(peak, ws.transport.underlying_transport.get_write_buffer_size())
            sent.append(index)
        peak_write_buffer.append(peak)
        await ws.wait_closed()

    async def main() -> None:
        async with (
            # Uncompressed: the messages must fill the socket buffers.
            echo_server(handler=sender, write_limit=write_limit, compression=None) as (_, uri),
            connect(uri, max_queue=4) as ws,
        ):
            await asyncio.sleep(0.3)
            # The sender is blocked well before the end of its messages.
            assert len(sent) < count // 2
            assert len(ws.messages) <= 4 + 65536 // size + 2
            assert ws.reading_paused
            peak_queue = 0
            for index in range(count):
                message = await ws.recv()
                assert message[:8] == b"%08d" % index
                peak_queue = max(peak_queue, len(ws.messages))
            assert peak_queue <= 4 + 65536 // size + 2
        assert peak_write_buffer and peak_write_buffer[0] <= write_limit + size + 14

    run(main(), timeout=20)


def test_message_with_more_fragments_than_max_queue_arrives_while_recv_waits() -> None:
    """Reading resumes for a message longer than max_queue even when recv was already waiting.

    The frame that fills the queue pauses reading; recv, woken by that very
    frame, must see the pause and resume, or the message never completes.
    """
    fragments = 12

    class SlowFragmenter(WSListener):
        def on_ws_connected(self, transport):
            async def send_fragments():
                for index in range(fragments):
                    first = index == 0
                    transport.send(
                        WSMsgType.TEXT if first else WSMsgType.CONTINUATION,
                        b"%02d" % index,
                        fin=index == fragments - 1,
                    )
                    if index < fragments - 1:
                        # One fragment per read, while recv() waits for the rest.
                        await asyncio.sleep(0.005)

            self.task = asyncio.ensure_future(send_fragments())

    async def main() -> None:
        server = await listener_server(SlowFragmenter)
        try:
            async with connect(
                f"ws://{HOST}:{port_of(server)}/", max_queue=4, compression=None
            ) as ws:
                message = await asyncio.wait_for(ws.recv(), 5)
                assert message == "".join(f"{index:02d}" for index in range(fragments))
                assert not ws.reading_paused
        finally:
            server.close()
            await server.wait_closed()

    run(main())


def test_write_limit_makes_send_wait_for_drain() -> None:
    async def main() -> None:
        server = await listener_server(Stuck)
        try:
            ws = await connect(
                f"ws://{HOST}:{port_of(server)}/", write_limit=32768, close_timeout=0.1
            )
            sent = 0

            async def flood():
                nonlocal sent
                while True:
                    await ws.send(b"z" * 32768)
                    sent += 1

            task = asyncio.ensure_future(flood())
            await asyncio.sleep(0.3)
            assert not task.done() and ws.writing_paused
            buffered = ws.transport.underlying_transport.get_write_buffer_size()
            assert buffered <= 32768 + 32768 + 14 + 4
            count = sent
            await asyncio.sleep(0.1)
            assert sent == count  # blocked, not growing
            await ws.close()
            with pytest.raises(ConnectionClosed):
                await task
        finally:
            server.close()
            await server.wait_closed()

    run(main())


def test_invalid_limits() -> None:
    from wirespeed.asyncio import Connection

    with pytest.raises(ValueError):
        Connection(max_queue=(4, 8))
    with pytest.raises(TypeError):
        Connection(unknown=1)
    assert Connection(max_queue=(8, None)).max_queue_low == 2
    assert Connection(max_queue=None).max_queue_high is None


# Properties


def test_properties() -> None:
    async def main() -> None:
        async with (
            echo_server() as (server, uri),
            connect(uri, logger=logging.getLogger("test")) as ws,
        ):
            assert isinstance(ws.id, uuid.UUID)
            assert ws.logger.name == "test"
            assert ws.local_address[0] == HOST
            assert ws.remote_address == (HOST, port_of(server))
            assert ws.request.path == "/"
            assert ws.response.status_code == 101
            assert ws.subprotocol is None
            assert "OPEN" in repr(ws)
            await until(lambda: server.connections)
            (peer,) = server.connections
            assert peer.remote_address == ws.local_address
            assert peer.request.headers["User-Agent"].startswith("Python/")

    run(main())


def test_unknown_compression_is_rejected() -> None:
    with pytest.raises(ValueError, match="compression"):
        connect("ws://localhost/", compression="brotli")
    with pytest.raises(ValueError, match="compression"):
        serve(lambda ws: None, HOST, 0, compression="brotli")


class GoodThenBad(WSListener):
    """Sends a message and a frame with reserved bits in one write; records what comes back."""

    def __init__(self, delay):
        self.received = []
        self.delay = delay

    def on_ws_connected(self, transport):
        good = bytes([0x81, 5]) + b"hello"
        bad = bytes([0x81 | 0x20, 3]) + b"bad"
        if self.delay:
            # After the handshake: through the listener face's hot path.
            transport.loop.call_later(0.05, transport.underlying_transport.write, good + bad)
        else:
            # With the handshake response: through the handshake path.
            transport.underlying_transport.write(good + bad)

    def on_ws_frame(self, transport, frame):
        self.received.append((frame.msg_type, frame.get_payload_as_bytes()))


@pytest.mark.parametrize("delay", [False, True])
def test_messages_before_a_protocol_error_can_be_answered(delay) -> None:
    """The message that came with the bad frame is delivered and may be answered first."""

    async def main() -> None:
        listener = GoodThenBad(delay)
        server = await ws_create_server(lambda: listener, HOST, 0, close_timeout=1)
        try:
            async with connect(f"ws://{HOST}:{port_of(server)}/") as ws:
                message = await ws.recv()
                assert message == "hello"
                await ws.send("answer")
                with pytest.raises(ConnectionClosedError) as info:
                    await ws.recv()
                assert info.value.sent.code == 1002
            assert listener.received[0] == (WSMsgType.TEXT, b"answer")
            assert listener.received[1][0] == WSMsgType.CLOSE
        finally:
            server.close()
            await server.wait_closed()

    run(main())


class StagedWriter(WSListener):
    """Writes raw frames at the given delays once the connection is open."""

    def __init__(self, stages):
        self.stages = stages

    def on_ws_connected(self, transport):
        for delay, data in self.stages:
            transport.loop.call_later(delay, transport.underlying_transport.write, data)


@pytest.mark.parametrize("message_first", [False, True])
def test_invalid_utf8_in_a_later_fragment_fails_at_once(message_first) -> None:
    """Autobahn 6.4.x: the bad fragment arrives while recv() waits for the message's end."""
    first = bytes([0x01, 4]) + "κό".encode()  # text, not final, valid
    bad = bytes([0x00, 2]) + b"\xf4\x90"  # continuation, invalid UTF-8
    stages = [(0.02, first), (0.2, bad)]
    if message_first:
        stages.insert(0, (0.01, bytes([0x81, 2]) + b"ok"))

    async def main() -> None:
        server = await ws_create_server(lambda: StagedWriter(stages), HOST, 0)
        try:
            ws = await connect(f"ws://{HOST}:{port_of(server)}/", close_timeout=5)
            if message_first:
                await asyncio.sleep(0.1)  # the message and the first fragment are queued
                assert await ws.recv() == "ok"
            start = asyncio.get_running_loop().time()
            with pytest.raises(ConnectionClosedError) as info:
                await ws.recv()
            assert info.value.sent.code == 1007
            assert asyncio.get_running_loop().time() - start < 1
            await ws.close()
        finally:
            server.close()
            await server.wait_closed()

    run(main())
