"""``python -m wirespeed demo``: an echo server and a client talking on localhost.

Both ends drive the Sans-I/O face (:mod:`wirespeed.sansio`) from asyncio
protocols, exchange messages of several sizes and print round-trip times and
messages per second. It shows the smallest complete integration of the
Sans-I/O API with an event loop: bytes in, events out, bytes to write.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any, List, Optional

from . import COMPILED, __version__
from .frames import Frame, Opcode
from .http import Request, Response
from .sansio import SEND_EOF, ClientProtocol, Protocol, ServerProtocol
from .uri import parse_uri

SIZES = [("16 B", 16), ("1 KiB", 1024), ("64 KiB", 65536), ("1 MiB", 2**20)]


class SansIOBridge(asyncio.Protocol):
    """Feed a Sans-I/O protocol from an asyncio transport and write its output."""

    def __init__(self, protocol: Protocol) -> None:
        self.protocol = protocol
        self.transport: Optional[asyncio.Transport] = None
        self.fragments: List[bytes] = []
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.protocol.receive_data(data)
        self.flush()
        for event in self.protocol.events_received():
            self.handle_event(event)
        self.flush()

    def eof_received(self) -> bool:
        self.protocol.receive_eof()
        self.flush()
        return False

    def connection_lost(self, exc: Optional[BaseException]) -> None:
        if not self.closed.done():
            self.closed.set_result(None)

    def flush(self) -> None:
        assert self.transport is not None
        for data in self.protocol.data_to_send():
            if data is SEND_EOF or data == SEND_EOF:
                if self.transport.can_write_eof():
                    self.transport.write_eof()
                else:
                    self.transport.close()
            else:
                self.transport.write(data)
        if self.protocol.close_expected():
            # Give the peer a moment to close the TCP connection, then do it.
            asyncio.get_running_loop().call_later(1.0, self.transport.close)

    def handle_event(self, event: Any) -> None:
        if isinstance(event, Frame) and event.opcode in (Opcode.TEXT, Opcode.BINARY, Opcode.CONT):
            if event.opcode is not Opcode.CONT:
                self.kind = event.opcode
            self.fragments.append(event.data)
            if event.fin:
                message = b"".join(self.fragments)
                self.fragments = []
                self.message_received(self.kind, message)
        else:
            self.other_event(event)

    def message_received(self, opcode: Opcode, message: bytes) -> None:
        """Called with each complete message."""

    def other_event(self, event: Any) -> None:
        """Called with handshake events and control frames."""


class EchoServer(SansIOBridge):
    def __init__(self) -> None:
        super().__init__(ServerProtocol(max_size=None))

    def other_event(self, event: Any) -> None:
        if isinstance(event, Request):
            protocol = self.protocol
            assert isinstance(protocol, ServerProtocol)
            protocol.send_response(protocol.accept(event))

    def message_received(self, opcode: Opcode, message: bytes) -> None:
        if opcode is Opcode.TEXT:
            self.protocol.send_text(message)
        else:
            self.protocol.send_binary(message)


class Client(SansIOBridge):
    def __init__(self, uri: str) -> None:
        super().__init__(ClientProtocol(parse_uri(uri), max_size=None))
        loop = asyncio.get_running_loop()
        self.opened = loop.create_future()
        self.reply: asyncio.Future[bytes] = loop.create_future()

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        protocol = self.protocol
        assert isinstance(protocol, ClientProtocol)
        protocol.send_request(protocol.connect())
        self.flush()

    def other_event(self, event: Any) -> None:
        if isinstance(event, Response):
            if self.protocol.handshake_exc is None:
                self.opened.set_result(None)
            else:
                self.opened.set_exception(self.protocol.handshake_exc)

    def message_received(self, opcode: Opcode, message: bytes) -> None:
        self.reply.set_result(message)

    async def round_trip(self, message: bytes) -> bytes:
        self.reply = asyncio.get_running_loop().create_future()
        self.protocol.send_binary(message)
        self.flush()
        return await self.reply


async def run_demo(duration: float = 0.5) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(EchoServer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    uri = f"ws://127.0.0.1:{port}/"
    print(f"wirespeed {__version__} ({'compiled' if COMPILED else 'pure Python'} core)")
    print(f"echo server listening on {uri}")
    _, client = await loop.create_connection(lambda: Client(uri), "127.0.0.1", port)
    await client.opened
    print("client connected; sending binary messages and waiting for each echo\n")
    print(f"{'size':>8} {'round trips':>12} {'mean RTT':>12} {'messages/s':>12} {'MB/s':>10}")
    for label, size in SIZES:
        message = os.urandom(size)
        count = 0
        start = time.perf_counter()
        while True:
            echoed = await client.round_trip(message)
            if echoed != message:
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
    client.protocol.send_close(1000, "demo done")
    client.flush()
    await asyncio.wait_for(client.closed, 5)
    protocol = client.protocol
    print(f"\nconnection closed: {protocol.close_exc}")
    server.close()
    await server.wait_closed()
