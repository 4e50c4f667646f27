"""The ceiling: a raw asyncio TCP echo with a 4-byte length prefix, no WebSocket.

Both ends are ``asyncio.BufferedProtocol``s that receive straight into one
preallocated buffer (grown to the message size) and hand whole messages to
``on_message``. The server writes each message back from its receive buffer; the
client, like the listener client, sends the next request from the callback.
This is the least CPU any message-oriented echo over asyncio transports can use,
so every WebSocket row is also shown as a fraction of it.

``RawTcpRole(fast_transport=True)`` ("raw-tcp/aiofastnet") opens the same
protocols on aiofastnet's transports instead of the loop's: picows 2.3 uses them
by default (on both loops), so this is the floor picows itself stands on.

Writing a view of the receive buffer is safe here because a peer only sends the
next message after it has received the whole echo of the previous one.
"""

from __future__ import annotations

import asyncio
import struct
from urllib.parse import urlsplit

HEADER = struct.Struct("!I")


class _MessageProtocol(asyncio.BufferedProtocol):
    """Reassembles length-prefixed messages in a growable receive buffer."""

    def __init__(self) -> None:
        self.transport = None
        self.buffer = bytearray(65536)
        self.view = memoryview(self.buffer)
        self.used = 0

    def connection_made(self, transport) -> None:
        self.transport = transport

    def get_buffer(self, sizehint: int):
        if self.used == len(self.buffer):
            self._grow(2 * len(self.buffer))
        return self.view[self.used :]

    def buffer_updated(self, nbytes: int) -> None:
        self.used += nbytes
        while self.used >= HEADER.size:
            end = HEADER.size + HEADER.unpack_from(self.buffer)[0]
            if self.used < end:
                if end > len(self.buffer):
                    self._grow(end)
                return
            self.on_message(self.view[HEADER.size : end])
            leftover = self.used - end
            if leftover:
                self.buffer[:leftover] = self.buffer[end : self.used]
            self.used = leftover

    def _grow(self, size: int) -> None:
        buffer = bytearray(size)
        buffer[: self.used] = self.view[: self.used]
        self.view.release()
        self.buffer, self.view = buffer, memoryview(buffer)

    def on_message(self, payload: memoryview) -> None:
        raise NotImplementedError


class _EchoServer(_MessageProtocol):
    def on_message(self, payload: memoryview) -> None:
        self.transport.write(self.view[: HEADER.size + len(payload)])


class _EchoClient(_MessageProtocol):
    def __init__(self) -> None:
        super().__init__()
        self.message = b""
        self.remaining = 0
        self.done = None

    def on_message(self, payload: memoryview) -> None:
        self.remaining -= 1
        if self.remaining > 0:
            self.transport.write(self.message)
        elif self.done is not None and not self.done.done():
            self.done.set_result(len(payload))

    def connection_lost(self, exc) -> None:
        if self.done is not None and not self.done.done():
            self.done.set_exception(ConnectionError("disconnected during the benchmark"))


class RawTcpRole:
    is_async = True
    scheme = "tcp"

    def __init__(self, fast_transport: bool = False) -> None:
        self.fast_transport = fast_transport
        if fast_transport:
            import aiofastnet

            self._aiofastnet = aiofastnet

    async def serve(self, host: str):
        loop = asyncio.get_running_loop()
        if self.fast_transport:
            server = await self._aiofastnet.create_server(loop, _EchoServer, host, 0)
        else:
            server = await loop.create_server(_EchoServer, host, 0)
        return server, server.sockets[0].getsockname()[1]

    async def connect(self, url: str):
        parts = urlsplit(url)
        loop = asyncio.get_running_loop()
        if self.fast_transport:
            _, protocol = await self._aiofastnet.create_connection(
                loop, _EchoClient, parts.hostname, parts.port
            )
        else:
            _, protocol = await loop.create_connection(_EchoClient, parts.hostname, parts.port)
        return protocol

    async def roundtrips(self, protocol: _EchoClient, payload: bytes, count: int) -> int:
        protocol.message = HEADER.pack(len(payload)) + payload
        protocol.remaining = count
        protocol.done = asyncio.get_running_loop().create_future()
        protocol.transport.write(protocol.message)
        return await protocol.done

    async def close(self, protocol: _EchoClient) -> None:
        protocol.transport.close()
