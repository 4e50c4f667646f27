"""Echo server testee for Autobahn|Testsuite's fuzzing client, on the asyncio face.

Usage::

    python compliance/testees/asyncio_server.py PORT

Serves ``ws://127.0.0.1:PORT`` with :func:`wirespeed.asyncio.serve`; the
handler receives each whole message with ``recv()`` and sends it back with
``send()``, the way a websockets application does. Pings, the closing
handshake, protocol errors and invalid UTF-8 are left to wirespeed. It runs
until it is killed.

``wirespeed`` must be importable: ``compliance/run.py`` puts ``src`` on
``PYTHONPATH``.
"""

from __future__ import annotations

import asyncio
import sys

import wirespeed
from wirespeed.asyncio import ConnectionClosed, serve

#: Largest message accepted. Autobahn's biggest messages are 16 MiB (case 9.1.6).
MAX_SIZE = 2**25


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def echo(websocket) -> None:
    try:
        async for message in websocket:
            await websocket.send(message)
    except ConnectionClosed:
        pass


async def main(port: int) -> None:
    async with serve(
        echo,
        "127.0.0.1",
        port,
        max_size=MAX_SIZE,
        close_timeout=3,
        ping_interval=None,
        compression="deflate",  # the default, spelled out: 12.* and 13.* need it
    ) as server:
        core = "compiled" if wirespeed.COMPILED else "pure Python"
        log(f"asyncio echo server on ws://127.0.0.1:{port} (wirespeed {core} core)")
        await server.serve_forever()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(f"usage: {sys.argv[0]} PORT", file=sys.stderr)
        sys.exit(2)
    try:
        asyncio.run(main(int(sys.argv[1])))
    except KeyboardInterrupt:
        pass
