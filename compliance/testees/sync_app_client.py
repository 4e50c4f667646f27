"""Client testee for Autobahn|Testsuite's fuzzing server, on ``WebSocketApp``.

Usage::

    python compliance/testees/sync_app_client.py PORT [AGENT]

Runs each case with websocket-client's callback API as wirespeed implements
it: ``on_message`` sends every message back with its type; ``run_forever``
returns when the fuzzing server closes the connection. AGENT defaults to
``wirespeed-sync-app``.
"""

from __future__ import annotations

import sys
from typing import Union

from _sync_fuzzing import run_all

from wirespeed.sync import ABNF, WebSocketApp


def on_message(app: WebSocketApp, message: Union[str, bytes]) -> None:
    """Echo the message as one frame of the same type."""
    opcode = ABNF.OPCODE_TEXT if isinstance(message, str) else ABNF.OPCODE_BINARY
    app.send(message, opcode)


def run_case(uri: str) -> None:
    """Run one case until the connection ends."""
    # permessage-deflate is offered; the fuzzing server accepts it in 12.* and 13.*.
    WebSocketApp(uri, on_message=on_message, compression="deflate").run_forever()


if __name__ == "__main__":
    agent = sys.argv[2] if len(sys.argv) > 2 else "wirespeed-sync-app"
    sys.exit(run_all(int(sys.argv[1]), agent, run_case))
