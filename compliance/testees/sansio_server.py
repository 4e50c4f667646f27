"""Echo server testee for Autobahn|Testsuite's fuzzing client, on the Sans-I/O face.

Usage::

    python compliance/testees/sansio_server.py PORT

Listens on 127.0.0.1:PORT and serves every connection in its own thread: the
opening handshake is accepted with :meth:`wirespeed.sansio.ServerProtocol.accept`,
then every complete message is echoed back as one frame of the same type. The
connection handling is in :mod:`_sansio_io`; this module only listens, accepts
the handshake and logs failed ones. It runs until it is killed.

``wirespeed`` must be importable: ``compliance/run.py`` puts ``src`` on
``PYTHONPATH``.
"""

from __future__ import annotations

import socket
import sys
import threading
from typing import Any

from _sansio_io import EchoSession, log

import wirespeed
from wirespeed.extensions import enable_server_permessage_deflate
from wirespeed.sansio import ServerProtocol

#: Largest message accepted. Autobahn's biggest messages are 16 MiB (case 9.1.6);
#: the limit stays finite so that the limit code path is exercised as usual.
MAX_SIZE = 2**25


class ServerSession(EchoSession):
    """An echo connection that accepts the opening handshake it receives."""

    def handle_handshake(self, event: Any) -> None:
        """Answer the client's opening request with ``accept``."""
        protocol = self.protocol
        response = protocol.accept(event)
        protocol.send_response(response)
        if protocol.handshake_exc is not None:
            log(f"{self.name}: handshake failed: {protocol.handshake_exc!r}")


def serve_connection(sock: socket.socket, peer: str) -> None:
    """Run one echo connection to its end."""
    # permessage-deflate is accepted when offered (Autobahn offers it in 12.* and 13.*).
    protocol = ServerProtocol(max_size=MAX_SIZE, extensions=enable_server_permessage_deflate(None))
    session = ServerSession(sock, protocol, echo=True, name=f"connection from {peer}")
    session.run()
    if session.handshake is None and protocol.handshake_exc is not None:
        # A request that could not even be parsed never becomes an event.
        log(f"{session.name}: invalid request: {protocol.handshake_exc!r}")


def main(argv: list) -> int:
    """Listen on the port given on the command line and serve until killed."""
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        print(f"usage: {argv[0]} PORT", file=sys.stderr)
        return 2
    port = int(argv[1])
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(128)
    core = "compiled" if wirespeed.COMPILED else "pure Python"
    log(f"sansio echo server on ws://127.0.0.1:{port} (wirespeed {core} core)")
    try:
        while True:
            sock, address = listener.accept()
            peer = f"{address[0]}:{address[1]}"
            threading.Thread(target=serve_connection, args=(sock, peer), daemon=True).start()
    except KeyboardInterrupt:
        return 0
    finally:
        listener.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
