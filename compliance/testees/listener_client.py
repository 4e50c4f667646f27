"""Client testee for Autobahn|Testsuite's fuzzing server, on the listener face.

Usage::

    python compliance/testees/listener_client.py PORT [AGENT]

Connects with :func:`wirespeed.ws_connect` to ``wstest -m fuzzingserver`` on
127.0.0.1:PORT: reads the number of cases from ``/getCaseCount``, runs every
case at ``/runCase?case=N&agent=AGENT`` echoing each data frame as it arrives
(same type, same FIN bit, no reassembly; decompressed, then compressed again
when permessage-deflate was negotiated), then asks for the reports at
``/updateReports?agent=AGENT``. AGENT defaults to ``wirespeed-listener``.
Exit status 1 only when the case count or the reports could not be obtained.

``wirespeed`` must be importable: ``compliance/run.py`` puts ``src`` on
``PYTHONPATH``.
"""

from __future__ import annotations

import asyncio
import sys
import time

import wirespeed
from wirespeed import WSError, WSListener, WSMsgType, ws_connect

#: Largest frame accepted (see ``listener_server.MAX_FRAME_SIZE``).
MAX_FRAME_SIZE = 2**25
#: Seconds one case may take before the testee gives up on it. The longest
#: cases, 12.x.15 to 12.x.18 and 13.x.15 to 13.x.18 (a thousand compressed
#: messages of 128 KiB, in fragments as small as 256 bytes), take 15 to 80 s
#: on a busy machine, mostly in wstest.
CASE_TIMEOUT = 600.0

DEFAULT_AGENT = "wirespeed-listener"
DATA_TYPES = (WSMsgType.TEXT, WSMsgType.BINARY, WSMsgType.CONTINUATION)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class EchoListener(WSListener):
    """Send every data frame back as it is."""

    def on_ws_frame(self, transport, frame):
        if frame.msg_type in DATA_TYPES:
            transport.send(frame.msg_type, frame.get_payload_as_memoryview(), frame.fin)


class TextCollector(WSListener):
    """Keep the text frames received (for /getCaseCount)."""

    def __init__(self):
        self.texts = []

    def on_ws_frame(self, transport, frame):
        if frame.msg_type == WSMsgType.TEXT:
            self.texts.append(frame.get_payload_as_utf8_text())


async def run_session(url: str, factory) -> WSListener:
    # permessage-deflate is offered; the fuzzing server accepts it in 12.* and 13.*.
    transport, listener = await ws_connect(
        factory, url, max_frame_size=MAX_FRAME_SIZE, compression="deflate"
    )
    await asyncio.wait_for(transport.wait_disconnected(), CASE_TIMEOUT)
    return listener


async def run(base: str, agent: str) -> int:
    core = "compiled" if wirespeed.COMPILED else "pure Python"
    log(f"listener client against {base} as {agent} (wirespeed {core} core)")
    try:
        collector = await run_session(f"{base}/getCaseCount", TextCollector)
        count = int(collector.texts[0])
    except (OSError, WSError, asyncio.TimeoutError, IndexError, ValueError) as exc:
        log(f"cannot get the case count: {exc!r}")
        return 1
    started = time.monotonic()
    for case in range(1, count + 1):
        print(f"case {case}/{count}", flush=True)
        try:
            await run_session(f"{base}/runCase?case={case}&agent={agent}", EchoListener)
        except (OSError, WSError, asyncio.TimeoutError) as exc:
            log(f"case {case}: {exc!r}")
    print(f"ran {count} cases in {time.monotonic() - started:.1f}s", flush=True)
    try:
        await run_session(f"{base}/updateReports?agent={agent}", WSListener)
    except (OSError, WSError, asyncio.TimeoutError) as exc:
        log(f"cannot update the reports: {exc!r}")
        return 1
    return 0


def main(argv: list) -> int:
    if not 2 <= len(argv) <= 3:
        print(f"usage: {argv[0]} PORT [AGENT]", file=sys.stderr)
        return 2
    base = f"ws://127.0.0.1:{int(argv[1])}"
    agent = argv[2] if len(argv) == 3 else DEFAULT_AGENT
    return asyncio.run(run(base, agent))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
