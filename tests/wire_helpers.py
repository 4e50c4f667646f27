"""A raw WebSocket client for wire-level tests of permessage-deflate.

Shared by the compression tests of the listener and asyncio faces: it sends
frames exactly as given (masked) and returns the server's frames exactly as
received, so the tests can check RSV1, fragmentation and the DEFLATE stream
on the wire.
"""

from __future__ import annotations

import asyncio
import base64
import os
import struct
import zlib
from typing import Any, NamedTuple, Optional

from wirespeed.extensions import PerMessageDeflate

HOST = "127.0.0.1"


class Wire(NamedTuple):
    """A frame as it travelled on the wire."""

    opcode: int
    fin: bool
    rsv1: bool
    payload: bytes


def mask(payload: bytes, key: bytes) -> bytes:
    """Mask ``payload`` with ``key`` (RFC 6455, 5.3), fast enough for a megabyte."""
    if not payload:
        return payload
    keys = (key * (len(payload) // 4 + 1))[: len(payload)]
    size = len(payload)
    return (int.from_bytes(payload, "big") ^ int.from_bytes(keys, "big")).to_bytes(size, "big")


class RawPeer:
    """A minimal WebSocket client over asyncio streams, for checking the wire.

    It offers ``offer`` in ``Sec-WebSocket-Extensions``, sends frames exactly
    as given (masked) and returns frames exactly as received.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.extensions = ""

    @classmethod
    async def open(cls, port: int, offer: Optional[str] = "permessage-deflate") -> RawPeer:
        reader, writer = await asyncio.open_connection(HOST, port)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            "GET / HTTP/1.1",
            f"Host: {HOST}:{port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
        ]
        if offer is not None:
            lines.append(f"Sec-WebSocket-Extensions: {offer}")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        assert head.startswith("HTTP/1.1 101"), head
        peer = cls(reader, writer)
        for line in head.split("\r\n")[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "sec-websocket-extensions":
                peer.extensions = value.strip()
        return peer

    def send(self, opcode: int, payload: bytes, *, fin: bool = True, rsv1: bool = False) -> None:
        first = opcode | (0x80 if fin else 0) | (0x40 if rsv1 else 0)
        length = len(payload)
        if length < 126:
            header = struct.pack("!BB", first, 0x80 | length)
        elif length < 65536:
            header = struct.pack("!BBH", first, 0x80 | 126, length)
        else:
            header = struct.pack("!BBQ", first, 0x80 | 127, length)
        key = os.urandom(4)
        self.writer.write(header + key + mask(payload, key))

    async def recv(self, timeout: float = 3.0) -> Wire:
        async def read() -> Wire:
            first, second = await self.reader.readexactly(2)
            assert not second & 0x80, "a server's frames are not masked"
            length = second & 0x7F
            if length == 126:
                (length,) = struct.unpack("!H", await self.reader.readexactly(2))
            elif length == 127:
                (length,) = struct.unpack("!Q", await self.reader.readexactly(8))
            payload = await self.reader.readexactly(length)
            return Wire(first & 0x0F, bool(first & 0x80), bool(first & 0x40), payload)

        return await asyncio.wait_for(read(), timeout)

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except OSError:
            pass


def deflate(compressor: Any, data: bytes) -> bytes:
    """Compress one message as RFC 7692 says: sync flush, without its last 4 bytes."""
    out = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


def inflate(decompressor: Any, payload: bytes) -> bytes:
    return decompressor.decompress(payload + b"\x00\x00\xff\xff")


def extension_of(transport: Any) -> Optional[PerMessageDeflate]:
    extensions = transport.protocol.extensions
    return extensions[0] if extensions else None
