"""Echo server testee for Autobahn|Testsuite's fuzzing client, on the listener face.

Usage::

    python compliance/testees/listener_server.py PORT

Serves ``ws://127.0.0.1:PORT`` with :func:`wirespeed.ws_create_server`. The
listener echoes every data frame as it arrives, with the same type and FIN bit
(continuation frames stay continuation frames), without reassembling messages:
picows' way. permessage-deflate is accepted: frames arrive decompressed and are
compressed again on the way back. Pings, the closing handshake, protocol errors and invalid UTF-8
are left to wirespeed. It runs until it is killed.

``wirespeed`` must be importable: ``compliance/run.py`` puts ``src`` on
``PYTHONPATH``.
"""

from __future__ import annotations

import asyncio
import sys

import wirespeed
from wirespeed import WSListener, WSMsgType, ws_create_server

#: Largest frame accepted. Autobahn's biggest frames are 16 MiB (case 9.1.6).
MAX_FRAME_SIZE = 2**25

DATA_TYPES = (WSMsgType.TEXT, WSMsgType.BINARY, WSMsgType.CONTINUATION)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class EchoListener(WSListener):
    """Send every data frame back as it is."""

    def on_ws_frame(self, transport, frame):
        if frame.msg_type in DATA_TYPES:
            transport.send(frame.msg_type, frame.get_payload_as_memoryview(), frame.fin)


async def serve(port: int) -> None:
    server = await ws_create_server(
        lambda request: EchoListener(),
        "127.0.0.1",
        port,
        max_frame_size=MAX_FRAME_SIZE,
        close_timeout=3,
        # permessage-deflate is accepted when offered (12.* and 13.*).
        compression="deflate",
    )
    core = "compiled" if wirespeed.COMPILED else "pure Python"
    log(f"listener echo server on ws://127.0.0.1:{port} (wirespeed {core} core)")
    async with server:
        await server.serve_forever()


def main(argv: list) -> int:
    if len(argv) != 2:
        print(f"usage: {argv[0]} PORT", file=sys.stderr)
        return 2
    try:
        asyncio.run(serve(int(argv[1])))
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
