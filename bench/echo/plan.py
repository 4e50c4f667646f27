"""What to measure: the rows of each table and the jobs (process pairs) behind them.

Client rows put each client library, on each loop, against the fixed server;
server rows put each server library, on each loop, against the fixed client. The
fixed peer is picows on ``peer_loop`` (uvloop by default). A job that appears in
both tables (picows against picows on the peer loop) is measured once.
"""

from __future__ import annotations

from dataclasses import dataclass

from .driver import Job
from .registry import CLIENTS, SERVERS, SYNC_CLIENTS

REFERENCE = "picows"
CEILING = "raw-tcp"


@dataclass(frozen=True)
class Row:
    table: str  # "ceiling", "client", "server", "concurrent" or "idle"
    lib: str
    loop: str
    job: Job
    reference: Job | None  # the picows job this row is divided by (same run)


def build_plan(
    loops: list,
    peer_loop: str,
    clients: list,
    servers: list,
    sections: list,
    ceilings: list = (CEILING,),
) -> list:
    rows: list = []
    if "rtt" in sections:
        for ceiling in ceilings:
            for loop in loops:
                job = Job("rtt", ceiling, loop, ceiling, loop)
                rows.append(Row("ceiling", ceiling, loop, job, None))
        for lib in [c for c in CLIENTS if c in clients]:
            for loop in ["none"] if lib in SYNC_CLIENTS else loops:
                ref_loop = peer_loop if loop == "none" else loop
                rows.append(
                    Row(
                        "client",
                        lib,
                        loop,
                        Job("rtt", lib, loop, REFERENCE, peer_loop),
                        Job("rtt", REFERENCE, ref_loop, REFERENCE, peer_loop),
                    )
                )
        for lib in [s for s in SERVERS if s in servers]:
            for loop in loops:
                rows.append(
                    Row(
                        "server",
                        lib,
                        loop,
                        Job("rtt", REFERENCE, peer_loop, lib, loop),
                        Job("rtt", REFERENCE, peer_loop, REFERENCE, loop),
                    )
                )
    for mode, table in (("concurrent", "concurrent"), ("idle", "idle")):
        if mode not in sections:
            continue
        for lib in [s for s in SERVERS if s in servers]:
            for loop in loops:
                rows.append(
                    Row(
                        table,
                        lib,
                        loop,
                        Job(mode, REFERENCE, peer_loop, lib, loop),
                        Job(mode, REFERENCE, peer_loop, REFERENCE, loop),
                    )
                )
    return rows


def jobs_of(rows: list) -> list:
    """The distinct jobs, in plan order (each reference job included)."""
    jobs: dict = {}
    for row in rows:
        for job in (row.reference, row.job):
            if job is not None:
                jobs.setdefault(job, None)
    return list(jobs)
