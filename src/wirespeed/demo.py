"""``python -m wirespeed demo``: an echo server and a client talking on localhost.

Both ends use the listener face (:func:`~wirespeed.ws_create_server`,
:func:`~wirespeed.ws_connect`): the server echoes every frame, the client sends
binary messages of several sizes, checks each echo and prints round-trip times
and messages per second, then measures ping round trips and closes.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any, Optional

from . import COMPILED, __version__
from ._core.transport import WSFrame, WSListener, WSMsgType, WSTransport
from .listener import ws_connect, ws_create_server

SIZES = [("16 B", 16), ("1 KiB", 1024), ("64 KiB", 65536), ("1 MiB", 2**20)]


class EchoServer(WSListener):
    """Send every data frame back; answer a close frame and disconnect."""

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()
        else:
            transport.send(frame.msg_type, frame.get_payload_as_memoryview(), frame.fin)


class EchoClient(WSListener):
    """Resolve a future with each echoed message."""

    def __init__(self) -> None:
        self.reply: Optional[asyncio.Future[bytes]] = None

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.BINARY and self.reply is not None:
            self.reply.set_result(frame.get_payload_as_bytes())

    async def round_trip(self, transport: WSTransport, message: bytes) -> bytes:
        self.reply = asyncio.get_running_loop().create_future()
        transport.send(WSMsgType.BINARY, message)
        return await self.reply


async def run_demo(duration: float = 0.5) -> None:
    """Run the demo, spending about ``duration`` seconds on each message size."""
    server = await ws_create_server(lambda request: EchoServer(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    url = f"ws://127.0.0.1:{port}/"
    print(f"wirespeed {__version__} ({'compiled' if COMPILED else 'pure Python'} core)")
    print(f"echo server listening on {url}")
    transport: Any
    transport, client = await ws_connect(EchoClient, url)
    print("client connected; sending binary messages and checking each echo\n")
    print(f"{'size':>8} {'round trips':>12} {'mean RTT':>12} {'messages/s':>12} {'MB/s':>10}")
    for label, size in SIZES:
        message = os.urandom(size)
        count = 0
        start = time.perf_counter()
        while True:
            if await client.round_trip(transport, message) != message:
                raise AssertionError("the echo differs from the message")
            count += 1
            elapsed = time.perf_counter() - start
            if elapsed >= duration:
                break
        rate = count / elapsed
        print(
            f"{label:>8} {count:>12,} {elapsed / count * 1e6:>10.1f}µs "
            f"{rate:>12,.0f} {rate * size / 1e6:>10.1f}"
        )
    rtts = await transport.measure_roundtrip_time(10)
    print(f"\nping round trip: min {min(rtts) * 1e6:.1f}µs, max {max(rtts) * 1e6:.1f}µs")
    transport.send_close(1000, b"demo done")
    await asyncio.wait_for(transport.wait_disconnected(), 5)
    print(f"connection closed: {transport.close_handshake}")
    server.close()
    await server.wait_closed()
