"""Client testee for Autobahn|Testsuite's fuzzing server, on the asyncio face.

Usage::

    python compliance/testees/asyncio_client.py PORT [AGENT]

Connects with :func:`wirespeed.asyncio.connect` to ``wstest -m fuzzingserver``
on 127.0.0.1:PORT: reads the number of cases from ``/getCaseCount``, runs every
case at ``/runCase?case=N&agent=AGENT`` echoing each whole message with
``recv()`` / ``send()``, then asks for the reports at
``/updateReports?agent=AGENT``. AGENT defaults to ``wirespeed-asyncio``. Exit
status 1 only when the case count or the reports could not be obtained.

``wirespeed`` must be importable: ``compliance/run.py`` puts ``src`` on
``PYTHONPATH``.
"""

from __future__ import annotations

import asyncio
import sys
import time

import wirespeed
from wirespeed.asyncio import ConnectionClosed, connect
from wirespeed.exceptions import WebSocketException

#: Largest message accepted (see ``asyncio_server.MAX_SIZE``).
MAX_SIZE = 2**25
#: Seconds one case may take before the testee gives up on it. The longest
#: cases, 12.x.15 to 12.x.18 and 13.x.15 to 13.x.18 (a thousand compressed
#: messages of 128 KiB, in fragments as small as 256 bytes), take 15 to 80 s
#: on a busy machine, mostly in wstest.
CASE_TIMEOUT = 600.0

DEFAULT_AGENT = "wirespeed-asyncio"
#: ``compression="deflate"`` is the default, spelled out: 12.* and 13.* need it.
OPTIONS = dict(
    max_size=MAX_SIZE, ping_interval=None, close_timeout=3, proxy=None, compression="deflate"
)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def echo_case(url: str) -> None:
    async with connect(url, **OPTIONS) as websocket:
        try:
            async for message in websocket:
                await websocket.send(message)
        except ConnectionClosed:
            pass


async def run(base: str, agent: str) -> int:
    core = "compiled" if wirespeed.COMPILED else "pure Python"
    log(f"asyncio client against {base} as {agent} (wirespeed {core} core)")
    try:
        async with connect(f"{base}/getCaseCount", **OPTIONS) as websocket:
            count = int(await websocket.recv())
    except (OSError, WebSocketException, asyncio.TimeoutError, ValueError) as exc:
        log(f"cannot get the case count: {exc!r}")
        return 1
    started = time.monotonic()
    for case in range(1, count + 1):
        print(f"case {case}/{count}", flush=True)
        try:
            await asyncio.wait_for(
                echo_case(f"{base}/runCase?case={case}&agent={agent}"), CASE_TIMEOUT
            )
        except (OSError, WebSocketException, asyncio.TimeoutError) as exc:
            log(f"case {case}: {exc!r}")
    print(f"ran {count} cases in {time.monotonic() - started:.1f}s", flush=True)
    try:
        async with connect(f"{base}/updateReports?agent={agent}", **OPTIONS):
            pass
    except (OSError, WebSocketException, asyncio.TimeoutError) as exc:
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
