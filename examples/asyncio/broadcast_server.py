#!/usr/bin/env python
"""Chat room: every message a client sends goes to every connected client.

``broadcast`` writes to each connection without waiting, so a slow client
never holds the others back. Written as a websockets user writes it; only the
import names wirespeed.
Usage: ``python broadcast_server.py [PORT]``
"""

import asyncio
import sys

from wirespeed.asyncio import broadcast, serve

CLIENTS = set()


async def chat(websocket):
    CLIENTS.add(websocket)
    try:
        broadcast(CLIENTS, f"{len(CLIENTS)} in the room")
        async for message in websocket:
            broadcast(CLIENTS, message)
    finally:
        CLIENTS.remove(websocket)


async def main(port):
    async with serve(chat, "127.0.0.1", port) as server:
        port = server.sockets[0].getsockname()[1]
        print(f"listening on ws://127.0.0.1:{port}/", flush=True)
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 0))
