"""Frames written straight to the socket (WSTransport.write_data / write_parts).

When the asyncio transport has nothing buffered, the listener face writes
frames to the socket itself, and hands the transport only what the socket did
not take. These tests check that the bytes on the wire stay complete and in
order when the socket takes everything, part of a frame or nothing, on
asyncio's loop and on uvloop, and that a payload the application changes
right after send() goes out as it was when sent.
"""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
from typing import Any, Callable, List

import pytest
import trustme
from listener_helpers import Recorder, run, serving, until

from wirespeed import WSMsgType, ws_connect
from wirespeed._core.sockio import write_some, writev_some
from wirespeed._core.transport import direct_write_fd

try:
    import uvloop
except ImportError:  # pragma: no cover - uvloop is a test dependency
    uvloop = None

LOOPS = ["asyncio"] + (["uvloop"] if uvloop is not None else [])


def run_on(loop_name: str, coro: Any, timeout: float = 20.0) -> Any:
    if loop_name == "uvloop":
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    try:
        return run(coro, timeout)
    finally:
        asyncio.set_event_loop_policy(None)


class Collector(Recorder):
    """Records the payloads of data frames (copies), in order."""

    def __init__(self) -> None:
        super().__init__()
        self.payloads: List[bytes] = []

    def on_ws_frame(self, transport: Any, frame: Any) -> None:
        if frame.msg_type == WSMsgType.BINARY:
            self.payloads.append(frame.get_payload_as_bytes())
        else:
            super().on_ws_frame(transport, frame)


@pytest.mark.parametrize("loop_name", LOOPS)
def test_transport_is_written_directly(loop_name: str) -> None:
    async def main() -> None:
        async with serving(lambda: Recorder(echo=True)) as server:
            transport, _ = await ws_connect(Collector, server.url)
            try:
                assert (
                    transport.fd == transport.underlying_transport.get_extra_info("socket").fileno()
                )
                await until(lambda: server.listeners[0].transport is not None)
                assert server.listeners[0].transport.fd >= 0
            finally:
                transport.disconnect(graceful=False)
                await transport.wait_disconnected()

    run_on(loop_name, main())


@pytest.mark.parametrize("loop_name", LOOPS)
@pytest.mark.parametrize("size", [10, 300, 20_000, 70_000, 3 * 2**20])
def test_burst_of_echoes_arrives_whole_and_in_order(loop_name: str, size: int) -> None:
    # Many frames sent at once fill the socket: later frames find the
    # transport's buffer non-empty and must queue behind it, the frame that
    # filled the socket was written in part.
    count = 40 if size < 2**20 else 6

    async def main() -> None:
        payloads = [os.urandom(size) for _ in range(count)]
        async with serving(lambda: Recorder(echo=True), max_frame_size=2**23) as server:
            transport, client = await ws_connect(Collector, server.url, max_frame_size=2**23)
            try:
                for payload in payloads:
                    transport.send(WSMsgType.BINARY, payload)
                await until(lambda: len(client.payloads) == count, timeout=15)
                assert client.payloads == payloads
            finally:
                transport.disconnect(graceful=False)
                await transport.wait_disconnected()

    run_on(loop_name, main())


@pytest.mark.parametrize("loop_name", LOOPS)
@pytest.mark.parametrize("side", ["server", "client"])
def test_payload_changed_after_send_goes_out_as_sent(loop_name: str, side: str) -> None:
    # 8 MiB cannot all go into a fresh socket at once: the rest is buffered
    # by the transport, which must not see the application's later changes.
    size = 8 * 2**20

    class Sender(Recorder):
        def on_ws_connected(self, transport: Any) -> None:
            super().on_ws_connected(transport)
            if side == "server":
                send_and_scribble(transport)

    def send_and_scribble(transport: Any) -> None:
        buffer = bytearray(b"a" * size)
        transport.send(WSMsgType.BINARY, buffer)
        view = memoryview(buffer)
        transport.send(WSMsgType.BINARY, view[: size // 2])
        buffer[:] = b"b" * size

    async def main() -> None:
        factory: Callable[[], Any] = Sender if side == "server" else Collector
        async with serving(factory, max_frame_size=2**24) as server:
            transport, client = await ws_connect(
                Collector if side == "server" else Recorder, server.url, max_frame_size=2**24
            )
            try:
                if side == "server":
                    receiver = client
                else:
                    send_and_scribble(transport)
                    await until(lambda: server.listeners, timeout=5)
                    receiver = server.listeners[0]
                await until(lambda: len(receiver.payloads) == 2, timeout=15)
                assert receiver.payloads[0] == b"a" * size
                assert receiver.payloads[1] == b"a" * (size // 2)
            finally:
                transport.disconnect(graceful=False)
                await transport.wait_disconnected()

    run_on(loop_name, main())


@pytest.mark.parametrize("loop_name", LOOPS)
def test_non_byte_memoryview_payload(loop_name: str) -> None:
    # len() of a memoryview counts items: the frame must carry every byte.
    import array

    values = array.array("i", range(20_000))

    async def main() -> None:
        async with serving(Collector) as server:
            transport, _ = await ws_connect(Recorder, server.url)
            try:
                await until(lambda: server.listeners)
                server.listeners[0].transport.send(WSMsgType.BINARY, memoryview(values))
                transport.send(WSMsgType.BINARY, memoryview(values))
                await until(lambda: len(server.listeners[0].payloads) == 1)
                await until(lambda: transport.listener.frames)
                assert server.listeners[0].payloads[0] == values.tobytes()
                assert transport.listener.frames[0].payload == values.tobytes()
            finally:
                transport.disconnect(graceful=False)
                await transport.wait_disconnected()

    run_on(loop_name, main())


def test_no_direct_writes_without_a_known_plain_socket_transport() -> None:
    class Other:
        def get_extra_info(self, name: str, default: Any = None) -> Any:
            return default

    assert direct_write_fd(Other()) == -1

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(asyncio.Protocol, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        plain, _ = await loop.create_connection(asyncio.Protocol, "127.0.0.1", port)
        try:
            assert direct_write_fd(plain) == plain.get_extra_info("socket").fileno()
        finally:
            plain.close()
            server.close()
            await server.wait_closed()

    run(main())


def test_no_direct_writes_over_tls() -> None:
    # TLS transports are never bypassed: the socket carries records.
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)

    async def main() -> None:
        async with serving(lambda: Recorder(echo=True), ssl=server_context) as server:
            url = server.url.replace("ws://", "wss://")
            transport, client = await ws_connect(Collector, url, ssl_context=client_context)
            try:
                assert transport.fd == -1
                transport.send(WSMsgType.BINARY, b"x" * 100_000)
                await until(lambda: client.payloads)
                assert client.payloads == [b"x" * 100_000]
            finally:
                transport.disconnect(graceful=False)
                await transport.wait_disconnected()

    run(main())


# The system calls themselves (compiled and pure-Python twins behave alike).


def test_write_some_full_partial_eagain_and_error() -> None:
    left, right = socket.socketpair()
    try:
        left.setblocking(False)
        assert write_some(left.fileno(), b"hello") == 5
        assert right.recv(5) == b"hello"
        assert writev_some(left.fileno(), b"ab", memoryview(b"cdef")[1:]) == 5
        assert right.recv(5) == b"abdef"
        # Fill the socket: a write then takes part of the data, then nothing.
        big = b"z" * (16 * 2**20)
        first = write_some(left.fileno(), big)
        assert 0 < first < len(big)
        assert write_some(left.fileno(), big) == -1
        assert writev_some(left.fileno(), b"h", big) == -1
    finally:
        left.close()
        right.close()
    # A closed descriptor (or any error but EAGAIN) gives -2: the caller then
    # hands the data to the transport, which reports the error.
    assert write_some(left.fileno(), b"x") == -2
    bad = os.open(os.devnull, os.O_RDONLY)
    try:
        assert write_some(bad, b"x") == -2
        assert writev_some(bad, b"x", b"y") == -2
    finally:
        os.close(bad)


# Reading: on asyncio's own loop, a DirectReader reads the socket in place of
# the transport's Python code.


@pytest.mark.parametrize("loop_name", LOOPS)
def test_direct_reader_only_on_asyncio_loop(loop_name: str) -> None:
    async def main() -> None:
        async with serving(lambda: Recorder(echo=True)) as server:
            transport, client = await ws_connect(Collector, server.url)
            try:
                if loop_name == "asyncio":
                    assert transport.direct_reader is not None
                    assert transport.direct_reader.fd == transport.fd
                else:
                    assert transport.direct_reader is None
                transport.send(WSMsgType.BINARY, b"ping" * 1000)
                await until(lambda: client.payloads)
                assert client.payloads == [b"ping" * 1000]
            finally:
                transport.disconnect(graceful=False)
                await transport.wait_disconnected()

    run_on(loop_name, main())


def test_pause_and_resume_reading_still_apply() -> None:
    async def main() -> None:
        async with serving(lambda: Recorder(echo=True)) as server:
            transport, client = await ws_connect(Collector, server.url)
            try:
                underlying = transport.underlying_transport
                underlying.pause_reading()
                transport.send(WSMsgType.BINARY, b"one")
                await asyncio.sleep(0.1)
                assert client.payloads == []
                underlying.resume_reading()
                await until(lambda: client.payloads)
                assert client.payloads == [b"one"]
                transport.send(WSMsgType.BINARY, b"two")
                await until(lambda: len(client.payloads) == 2)
                assert client.payloads == [b"one", b"two"]
            finally:
                transport.disconnect(graceful=False)
                await transport.wait_disconnected()

    run(main())


@pytest.mark.parametrize("how", ["eof", "reset"])
def test_peer_going_away_is_seen_by_the_reader(how: str) -> None:
    # The server's reader sees the end of the stream or a connection reset
    # and the listener is disconnected, as with asyncio's own reading.
    async def main() -> None:
        async with serving(Recorder) as server:
            transport, _ = await ws_connect(Recorder, server.url)
            await until(lambda: server.listeners and server.listeners[0].connected)
            sock = transport.underlying_transport.get_extra_info("socket")
            if how == "reset":
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00" * 2)
                transport.disconnect(graceful=False)
            else:
                transport.underlying_transport.write_eof()
            await server.listeners[0].wait_disconnected()
            assert server.listeners[0].transport.direct_reader is not None
            transport.disconnect(graceful=False)
            await transport.wait_disconnected()

    run(main())


def test_reader_hands_back_to_the_transport_after_set_protocol() -> None:
    # A new protocol on the transport (start_tls does that) reads through the
    # transport's own code again.
    async def main() -> None:
        async with serving(lambda: Recorder(echo=True)) as server:
            transport, client = await ws_connect(Collector, server.url)
            try:
                underlying = transport.underlying_transport
                received: List[bytes] = []

                class Plain(asyncio.Protocol):
                    def data_received(self, data: bytes) -> None:
                        received.append(data)

                original = underlying.get_protocol()
                underlying.set_protocol(Plain())
                transport.send(WSMsgType.BINARY, b"raw")
                await until(lambda: received)
                assert b"raw" in b"".join(received)
                assert client.payloads == []
                # Back to the WebSocket protocol: frames flow again.
                underlying.set_protocol(original)
                transport.send(WSMsgType.BINARY, b"again")
                await until(lambda: client.payloads)
                assert client.payloads == [b"again"]
            finally:
                transport.disconnect(graceful=False)
                await transport.wait_disconnected()

    run(main())


def test_read_into() -> None:
    from wirespeed._core.sockio import read_into

    left, right = socket.socketpair()
    try:
        left.setblocking(False)
        buffer = bytearray(10)
        assert read_into(left.fileno(), buffer) == -1
        right.sendall(b"hello")
        assert read_into(left.fileno(), buffer) == 5
        assert buffer[:5] == b"hello"
        right.close()
        assert read_into(left.fileno(), buffer) == 0
    finally:
        left.close()
    with pytest.raises(OSError):
        read_into(left.fileno(), bytearray(4))


def test_new_buffer() -> None:
    from wirespeed._core.sockio import new_buffer

    for size in (0, 1, 4096, 3 * 2**20):
        buffer = new_buffer(size)
        assert type(buffer) is bytearray
        assert len(buffer) == size
    with pytest.raises(ValueError):
        new_buffer(-1)
