"""websockets (the asyncio implementation: ``websockets.asyncio``), client and server.

Compression is off on both sides (websockets negotiates permessage-deflate by
default; the other libraries in the table don't compress) and ``max_size`` is
lifted so 1 MB messages pass. Everything else is websockets' default.
"""

from __future__ import annotations

from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.server import serve as ws_serve
from websockets.exceptions import ConnectionClosed

OPTIONS = {"compression": None, "max_size": None}


async def _echo(websocket) -> None:
    try:
        async for message in websocket:
            await websocket.send(message)
    except ConnectionClosed:
        pass


class WebsocketsRole:
    is_async = True

    async def serve(self, host: str):
        server = await ws_serve(_echo, host, 0, **OPTIONS)
        return server, server.sockets[0].getsockname()[1]

    async def connect(self, url: str):
        return await ws_connect(url, **OPTIONS)

    async def roundtrips(self, websocket, payload: bytes, count: int) -> int:
        send, recv = websocket.send, websocket.recv
        reply = b""
        for _ in range(count):
            await send(payload)
            reply = await recv()
        return len(reply)

    async def close(self, websocket) -> None:
        await websocket.close()
