#!/usr/bin/env python
"""Client: greets the server, sends a few messages and prints the answers.

Written as a websockets user writes it; only the import names wirespeed.
Usage: ``python client.py ws://127.0.0.1:PORT/``
"""

import asyncio
import sys

from wirespeed.asyncio import connect


async def main(uri):
    async with connect(uri) as websocket:
        await websocket.send("Hello!")
        print("text:", await websocket.recv())

        await websocket.send(b"\x00\x01\x02")
        print("binary:", await websocket.recv())

        # A message sent in fragments arrives whole.
        await websocket.send(["frag", "ment", "ed"])
        print("fragmented:", await websocket.recv())

        latency = await (await websocket.ping())
        print("ping answered:", latency >= 0)

    print("closed with code", websocket.close_code)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
