"""Client testee for Autobahn|Testsuite's fuzzing server, on the Sans-I/O face.

Usage::

    python compliance/testees/sansio_client.py PORT [AGENT]

Talks to ``wstest -m fuzzingserver`` listening on 127.0.0.1:PORT: asks for the
number of cases at ``/getCaseCount``, runs every case at
``/runCase?case=N&agent=AGENT`` echoing each complete message back as one
frame, then asks the fuzzing server to write its reports at
``/updateReports?agent=AGENT``. AGENT defaults to ``wirespeed-sansio``.

Connections are driven by :mod:`_sansio_io` with a
:class:`wirespeed.sansio.ClientProtocol`. Whether a case passes is for the
fuzzing server to judge; this script fails (exit status 1) only when it cannot
get the case count or the reports written.

``wirespeed`` must be importable: ``compliance/run.py`` puts ``src`` on
``PYTHONPATH``.
"""

from __future__ import annotations

import socket
import sys
import time
from typing import Any

from _sansio_io import EchoSession, log

import wirespeed
from wirespeed.extensions import enable_client_permessage_deflate
from wirespeed.frames import Opcode
from wirespeed.sansio import ClientProtocol
from wirespeed.uri import parse_uri

#: Largest message accepted (see ``sansio_server.MAX_SIZE``).
MAX_SIZE = 2**25

#: Seconds allowed for the TCP connection to be established.
CONNECT_TIMEOUT = 10.0

DEFAULT_AGENT = "wirespeed-sansio"


class ClientSession(EchoSession):
    """A client connection that reports a failed opening handshake."""

    def handle_handshake(self, event: Any) -> None:
        """Log the server's response when the opening handshake failed."""
        if self.protocol.handshake_exc is not None:
            log(f"{self.name}: handshake failed: {self.protocol.handshake_exc!r}")


def run_session(uri: str, *, echo: bool) -> ClientSession:
    """Open a WebSocket connection to ``uri`` and run it until it closes."""
    wsuri = parse_uri(uri)
    sock = socket.create_connection((wsuri.host, wsuri.port), timeout=CONNECT_TIMEOUT)
    # permessage-deflate is offered; the fuzzing server accepts it in 12.* and 13.*.
    protocol = ClientProtocol(
        wsuri, max_size=MAX_SIZE, extensions=enable_client_permessage_deflate(None)
    )
    protocol.send_request(protocol.connect())
    session = ClientSession(sock, protocol, echo=echo, name=uri)
    session.run()
    if session.handshake is None and protocol.handshake_exc is not None:
        log(f"{uri}: invalid response: {protocol.handshake_exc!r}")
    return session


def get_case_count(base: str) -> int:
    """Ask the fuzzing server how many cases it runs."""
    session = run_session(f"{base}/getCaseCount", echo=False)
    for opcode, data in session.messages:
        if opcode == Opcode.TEXT:
            return int(data.decode())
    raise RuntimeError("the fuzzing server sent no case count")


def main(argv: list) -> int:
    """Run every case of the fuzzing server on the port given on the command line."""
    if not 2 <= len(argv) <= 3:
        print(f"usage: {argv[0]} PORT [AGENT]", file=sys.stderr)
        return 2
    base = f"ws://127.0.0.1:{int(argv[1])}"
    agent = argv[2] if len(argv) == 3 else DEFAULT_AGENT
    core = "compiled" if wirespeed.COMPILED else "pure Python"
    log(f"sansio client against {base} as {agent} (wirespeed {core} core)")
    try:
        count = get_case_count(base)
    except (OSError, RuntimeError, ValueError) as exc:
        log(f"cannot get the case count: {exc!r}")
        return 1
    started = time.monotonic()
    for case in range(1, count + 1):
        print(f"case {case}/{count}", flush=True)
        try:
            run_session(f"{base}/runCase?case={case}&agent={agent}", echo=True)
        except OSError as exc:
            log(f"case {case}: cannot connect: {exc!r}")
    print(f"ran {count} cases in {time.monotonic() - started:.1f}s", flush=True)
    try:
        run_session(f"{base}/updateReports?agent={agent}", echo=False)
    except OSError as exc:
        log(f"cannot update the reports: {exc!r}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
