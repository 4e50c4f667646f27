"""An aiohttp WebSocket echo server, the peer of the interop tests of every face.

The tests that check wirespeed's clients against aiohttp's server all need the
same thing: a server that sends every text and binary message back as it came.
Only the options of aiohttp's ``WebSocketResponse`` (``compress``,
``max_msg_size``...) vary from test to test.
"""

from __future__ import annotations

import contextlib
from typing import Any, AsyncIterator

HOST = "127.0.0.1"


@contextlib.asynccontextmanager
async def aiohttp_echo_server(**response_options: Any) -> AsyncIterator[int]:
    """Run an aiohttp echo server on ``HOST`` and yield its port.

    ``response_options`` go to ``aiohttp.web.WebSocketResponse``. The server
    is cleaned up on exit, connections included.
    """
    from aiohttp import WSMsgType, web

    async def echo(request: Any) -> Any:
        response = web.WebSocketResponse(**response_options)
        await response.prepare(request)
        async for message in response:
            if message.type == WSMsgType.TEXT:
                await response.send_str(message.data)
            elif message.type == WSMsgType.BINARY:
                await response.send_bytes(message.data)
        return response

    app = web.Application()
    app.router.add_get("/", echo)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, HOST, 0)
    await site.start()
    try:
        yield site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    finally:
        await runner.cleanup()
