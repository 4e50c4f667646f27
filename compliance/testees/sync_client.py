"""Client testee for Autobahn|Testsuite's fuzzing server, on ``wirespeed.sync.connect``.

Usage::

    python compliance/testees/sync_client.py PORT [AGENT]

Echoes every message of every case with a blocking
:class:`wirespeed.sync.ClientConnection`; AGENT defaults to
``wirespeed-sync``.
"""

from __future__ import annotations

import sys

from _sync_fuzzing import run_all

from wirespeed.exceptions import ConnectionClosed
from wirespeed.sync import connect

MAX_SIZE = 2**25


def run_case(uri: str) -> None:
    """Echo every message until the fuzzing server closes the connection."""
    with connect(
        uri,
        max_size=MAX_SIZE,
        max_queue=None,
        ping_interval=None,
        close_timeout=3,
        compression="deflate",  # accepted by the fuzzing server in 12.* and 13.*
    ) as websocket:
        try:
            for message in websocket:
                websocket.send(message)
        except ConnectionClosed:
            pass


if __name__ == "__main__":
    agent = sys.argv[2] if len(sys.argv) > 2 else "wirespeed-sync"
    sys.exit(run_all(int(sys.argv[1]), agent, run_case))
