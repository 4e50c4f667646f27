"""Server testee for Autobahn|Testsuite's fuzzing client, on ``wirespeed.sync.serve``.

Usage::

    python compliance/testees/sync_server.py PORT

Serves on 127.0.0.1:PORT until killed. Each connection runs in a thread and
echoes every message back (text as text, binary as binary); everything else,
from pings to the closing handshake and failures, is left to wirespeed.
"""

from __future__ import annotations

import sys

import wirespeed
from wirespeed.exceptions import ConnectionClosed
from wirespeed.sync import ServerConnection, serve

#: Largest message accepted: more than any case of groups 1-10 sends.
MAX_SIZE = 2**25


def echo(connection: ServerConnection) -> None:
    """Send every message back until the connection closes."""
    try:
        for message in connection:
            connection.send(message)
    except ConnectionClosed:
        pass


def main() -> None:
    port = int(sys.argv[1])
    print(f"wirespeed {wirespeed.__version__}, compiled core: {wirespeed.COMPILED}", flush=True)
    with serve(
        echo,
        "127.0.0.1",
        port,
        max_size=MAX_SIZE,
        max_queue=None,
        ping_interval=None,
        close_timeout=3,
        compression="deflate",  # offered by the fuzzing client in 12.* and 13.*
    ) as server:
        server.serve_forever()


if __name__ == "__main__":
    main()
