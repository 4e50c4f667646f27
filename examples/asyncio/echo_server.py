#!/usr/bin/env python
"""Echo server: every message comes back to its sender.

Written as a websockets user writes it; only the import names wirespeed.
Usage: ``python echo_server.py [PORT]`` (0, the default, picks a free port).
"""

import asyncio
import sys

from wirespeed.asyncio import serve


async def echo(websocket):
    async for message in websocket:
        await websocket.send(message)


async def main(port):
    async with serve(echo, "127.0.0.1", port) as server:
        port = server.sockets[0].getsockname()[1]
        print(f"listening on ws://127.0.0.1:{port}/", flush=True)
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 0))
