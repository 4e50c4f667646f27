"""What the sync client testees share: talking to Autobahn's fuzzing server.

``run_all(port, agent, run_case)`` asks ``/getCaseCount``, calls
``run_case(uri)`` for ``/runCase?case=N&agent=AGENT`` for each case, then asks
for the reports with ``/updateReports?agent=AGENT``. Those bookkeeping calls
use :func:`wirespeed.sync.create_connection`.
"""

from __future__ import annotations

import sys
import time
from typing import Callable

import wirespeed
from wirespeed.sync import create_connection


def log(message: str) -> None:
    """Write one diagnostic line to standard error."""
    print(message, file=sys.stderr, flush=True)


def run_all(port: int, agent: str, run_case: Callable[[str], None]) -> int:
    """Run every case of the fuzzing server on 127.0.0.1:``port``; return the exit status."""
    base = f"ws://127.0.0.1:{port}"
    log(f"wirespeed {wirespeed.__version__}, compiled core: {wirespeed.COMPILED}")
    ws = create_connection(f"{base}/getCaseCount", timeout=30)
    count = int(ws.recv())
    ws.close()
    log(f"{count} cases")
    for case in range(1, count + 1):
        started = time.monotonic()
        try:
            run_case(f"{base}/runCase?case={case}&agent={agent}")
        except Exception as exc:  # the fuzzing server judges the case
            log(f"case {case}: {exc!r}")
        log(f"case {case} done in {time.monotonic() - started:.2f}s")
    ws = create_connection(f"{base}/updateReports?agent={agent}", timeout=60)
    ws.recv()
    ws.close()
    return 0
