"""aiohttp: ``ClientSession.ws_connect`` client and ``web.WebSocketResponse`` server.

Compression is off (``compress``) and the message size limit is lifted
(``max_msg_size=0``); access logging is disabled on the server.
"""

from __future__ import annotations

import aiohttp
from aiohttp import WSMsgType, web


async def _echo(request: web.Request) -> web.WebSocketResponse:
    websocket = web.WebSocketResponse(compress=False, max_msg_size=0)
    await websocket.prepare(request)
    async for message in websocket:
        if message.type == WSMsgType.BINARY:
            await websocket.send_bytes(message.data)
        elif message.type == WSMsgType.TEXT:
            await websocket.send_str(message.data)
    return websocket


class AiohttpRole:
    is_async = True

    async def serve(self, host: str):
        app = web.Application()
        app.router.add_get("/", _echo)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, host, 0)
        await site.start()
        return runner, runner.addresses[0][1]

    async def connect(self, url: str):
        session = aiohttp.ClientSession()
        websocket = await session.ws_connect(url, compress=0, max_msg_size=0)
        return session, websocket

    async def roundtrips(self, connection, payload: bytes, count: int) -> int:
        websocket = connection[1]
        send, receive = websocket.send_bytes, websocket.receive
        message = None
        for _ in range(count):
            await send(payload)
            message = await receive()
            if message.type != WSMsgType.BINARY:
                raise ConnectionError(f"unexpected {message.type!r} during the benchmark")
        return len(message.data) if message is not None else 0

    async def close(self, connection) -> None:
        session, websocket = connection
        await websocket.close()
        await session.close()
