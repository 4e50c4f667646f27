"""``read_limit``: what one read brings in ahead of the parser is bounded.

The asyncio face parses frames as soon as they are read, so the bytes read
ahead of the parser are those of one read. While ``max_queue`` keeps reading
paused, resuming it lets exactly one read in before the queue is full again:
the frames of that read, no more than ``read_limit`` bytes' worth, are what the
queue holds beyond ``max_queue``.
"""

from __future__ import annotations

import asyncio
from typing import Any, List

import pytest
from asyncio_helpers import echo_server, run, until

from wirespeed.asyncio import connect

PAYLOAD = 100
FRAME = PAYLOAD + 2  # unmasked server frames: a two-byte header
BURST = 1500  # ~150 kB: more than one read at the default limit


def queue_after_one_read(read_limit: int, client_loop_reads: List[int]) -> None:
    """Fill the kernel's buffers, let one read in, record the queue length."""

    async def handler(ws: Any) -> None:
        await ws.send(b"first")
        assert await ws.recv() == b"go"
        for index in range(BURST):
            await ws.send(b"%08d" % index + b"x" * (PAYLOAD - 8))
        await ws.wait_closed()

    async def main() -> None:
        async with (
            echo_server(handler=handler, compression=None) as (_, uri),
            connect(uri, max_queue=1, read_limit=read_limit, compression=None) as ws,
        ):
            assert ws.read_limit == read_limit
            # "first" fills the queue (max_queue=1): reading pauses.
            await until(lambda: ws.reading_paused)
            await ws.send(b"go")
            # The burst waits in the kernel's buffers while reading is paused.
            await asyncio.sleep(0.3)
            assert len(ws.messages) == 1
            # Taking "first" resumes reading; the next read fills the queue.
            assert await ws.recv() == b"first"
            await until(lambda: ws.reading_paused)
            client_loop_reads.append(len(ws.messages))
            # Nothing is lost or reordered.
            for index in range(BURST):
                message = await ws.recv()
                assert message[:8] == b"%08d" % index

    run(main())


def test_read_limit_bounds_the_frames_one_read_brings_in() -> None:
    small = 1024
    queued: List[int] = []
    queue_after_one_read(small, queued)
    # One read of at most 1024 bytes: ten 102-byte frames, plus the end of
    # a frame that an earlier read started.
    assert 1 <= queued[0] <= small // FRAME + 1

    queued = []
    queue_after_one_read(2**16, queued)
    # The default limit lets in one 64 KiB read: hundreds of frames.
    assert small // FRAME + 1 < queued[0] <= 2**16 // FRAME + 1


def test_read_limit_must_be_positive() -> None:
    async def main() -> None:
        async with echo_server() as (_, uri):
            with pytest.raises(ValueError, match="read_limit"):
                await connect(uri, read_limit=0)

    run(main())
