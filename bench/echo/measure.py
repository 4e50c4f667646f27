"""Timing and CPU accounting of one request/response loop, shared by every client.

``run(count)`` performs ``count`` round trips on an open connection (blocking:
async clients wrap ``loop.run_until_complete``) and returns the size of the last
echo. Warm-up repeats ``run`` with growing counts until ``warmup`` seconds have
passed; the last warm-up chunk gives the rate estimate from which the measured
counts are chosen, so the measured loops contain no clock reads.

The measured time is split into ``windows`` equal windows, each with its own
wall-clock and CPU readings, and the fastest window is reported (like
``timeit``'s minimum): on one CPU the loop is CPU-bound, so a slower window is one
in which something else ran on that CPU. All windows are kept in the result.
"""

from __future__ import annotations

import os
import time
from typing import Callable

from .runtime import cpu_seconds

MIN_CHUNK_SECONDS = 0.05


def measure_roundtrips(
    run: Callable[[int], int],
    size: int,
    warmup: float,
    duration: float,
    server_pid: int,
    windows: int = 5,
) -> dict:
    count = 1
    started = time.perf_counter()
    while True:
        chunk_start = time.perf_counter()
        _check_echo(run(count), size)
        now = time.perf_counter()
        chunk_seconds = now - chunk_start
        if now - started >= warmup and chunk_seconds >= MIN_CHUNK_SECONDS:
            break
        if chunk_seconds < MIN_CHUNK_SECONDS:
            count *= 2
    count = max(10, round(count / chunk_seconds * duration / windows))

    client_pid = os.getpid()
    results = []
    for _ in range(windows):
        client_cpu = cpu_seconds(client_pid)
        server_cpu = cpu_seconds(server_pid)
        start = time.perf_counter()
        _check_echo(run(count), size)
        elapsed = time.perf_counter() - start
        client_cpu = cpu_seconds(client_pid) - client_cpu
        server_cpu = cpu_seconds(server_pid) - server_cpu
        results.append(
            {
                "rate": count / elapsed,
                "client_cpu_us": client_cpu / count * 1e6,
                "server_cpu_us": server_cpu / count * 1e6,
                # Share of the wall-clock time the two processes were on a CPU
                # (~1.0 when both are pinned to one otherwise idle CPU).
                "cpu_share": (client_cpu + server_cpu) / elapsed,
            }
        )
    best = max(results, key=lambda window: window["rate"])
    return dict(best, size=size, roundtrips=count, windows=results)


def _check_echo(received: int, size: int) -> None:
    if received != size:
        raise RuntimeError(f"echo of a {size}-byte message came back with {received} bytes")
