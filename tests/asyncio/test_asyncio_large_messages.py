"""Large messages on the asyncio face.

The asyncio face receives large payloads straight into the bytes that
``recv()`` returns (``FrameReader.separate_large_payloads``), and a client
masks large frames through a buffer its transport reuses. These tests check
whole messages, both ways, around the size where that starts, on asyncio's
loop and on uvloop, and the close codes for bad or oversized large messages.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest
from asyncio_helpers import HOST, echo_server, port_of

from wirespeed import ws_create_server
from wirespeed.asyncio import ConnectionClosedError, connect

try:
    import uvloop
except ImportError:  # pragma: no cover - uvloop is a test dependency
    uvloop = None

LOOPS = ["asyncio"] + (["uvloop"] if uvloop is not None else [])


def run_on(loop_name: str, coro: Any, timeout: float = 20.0) -> Any:
    bounded = asyncio.wait_for(coro, timeout)
    if loop_name == "uvloop":
        return uvloop.run(bounded)
    return asyncio.run(bounded)


@pytest.mark.parametrize("loop_name", LOOPS)
@pytest.mark.parametrize("size", [65535, 65536, 100_000, 2**20, 5 * 2**20 + 3])
def test_large_messages_echoed_whole(loop_name: str, size: int) -> None:
    async def main() -> None:
        async with (
            echo_server(max_size=None, compression=None) as (_, uri),
            connect(uri, max_size=None, compression=None) as ws,
        ):
            for _ in range(3):
                payload = os.urandom(size)
                await ws.send(payload)
                echoed = await ws.recv()
                assert type(echoed) is bytes and echoed == payload
            text = ("aé€😀" * (size // 10 + 1))[: size // 2]
            await ws.send(text)
            assert await ws.recv() == text
            # A fragmented message with large fragments.
            fragments = [os.urandom(size // 3 + 1) for _ in range(3)]
            await ws.send(fragments)
            assert await ws.recv() == b"".join(fragments)

    run_on(loop_name, main())


@pytest.mark.parametrize("loop_name", LOOPS)
def test_large_message_over_max_size_closes_with_1009(loop_name: str) -> None:
    async def main() -> None:
        async with (
            echo_server(max_size=None, compression=None) as (_, uri),
            connect(uri, max_size=300_000, compression=None) as ws,
        ):
            await ws.send(b"x" * 300_000)
            assert await ws.recv() == b"x" * 300_000
            await ws.send(b"y" * 300_001)
            with pytest.raises(ConnectionClosedError) as info:
                await ws.recv()
            assert info.value.sent.code == 1009

    run_on(loop_name, main())


class InvalidTextSender:
    """A listener-face server that sends a large text frame, invalid near its end."""

    def __init__(self) -> None:
        self.transport: Any = None

    def on_ws_connected(self, transport: Any) -> None:
        payload = bytearray(("aé€😀" * 50_000).encode())
        payload[-5] = 0xFF
        transport.send(2, b"first")  # a binary message that arrives whole before
        transport.send(1, bytes(payload))

    def on_ws_frame(self, transport: Any, frame: Any) -> None:
        pass

    def on_ws_disconnected(self, transport: Any) -> None:
        pass

    def send_user_specific_ping(self, transport: Any) -> None:
        transport.send_ping()

    def is_user_specific_pong(self, frame: Any) -> bool:
        return False

    def pause_writing(self) -> None:
        pass

    def resume_writing(self) -> None:
        pass


@pytest.mark.parametrize("loop_name", LOOPS)
def test_invalid_utf8_in_a_large_text_message_closes_with_1007(loop_name: str) -> None:
    async def main() -> None:
        server = await ws_create_server(InvalidTextSender, HOST, 0)
        try:
            ws = await connect(f"ws://{HOST}:{port_of(server)}/", close_timeout=5)
            assert await ws.recv() == b"first"
            with pytest.raises(ConnectionClosedError) as info:
                await ws.recv()
            assert info.value.sent.code == 1007
            await ws.close()
        finally:
            server.close()
            await server.wait_closed()

    run_on(loop_name, main())
