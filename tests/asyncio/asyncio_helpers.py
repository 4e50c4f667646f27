"""Helpers shared by the tests of the asyncio face (``tests/asyncio``).

Every test runs its coroutine with :func:`run`, bounded in time, and fails if a
task is left behind. Servers listen on 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, AsyncIterator, Callable

from wirespeed.asyncio import serve

HOST = "127.0.0.1"


def run(coro: Any, timeout: float = 10.0) -> Any:
    """Run ``coro`` in a fresh event loop, bounded by ``timeout`` seconds; check for leaks."""

    async def main() -> Any:
        try:
            return await asyncio.wait_for(coro, timeout)
        finally:
            for _ in range(5):
                await asyncio.sleep(0)
            leaked = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            assert not leaked, f"leaked tasks: {leaked}"

    return asyncio.run(main())


async def until(predicate: Callable[[], Any], timeout: float = 3.0, step: float = 0.002) -> None:
    """Wait until ``predicate()`` is true; raise ``asyncio.TimeoutError`` after ``timeout``."""

    async def poll() -> None:
        while not predicate():
            await asyncio.sleep(step)

    await asyncio.wait_for(poll(), timeout)


def port_of(server: Any) -> int:
    """The port a server listens on."""
    return int(server.sockets[0].getsockname()[1])


async def echo(websocket: Any) -> None:
    """Echo handler: send every message back."""
    async for message in websocket:
        await websocket.send(message)


@contextlib.asynccontextmanager
async def echo_server(**kwargs: Any) -> AsyncIterator[Any]:
    """An asyncio-face echo server on 127.0.0.1; yields ``(server, uri)``."""
    handler = kwargs.pop("handler", echo)
    async with serve(handler, HOST, 0, **kwargs) as server:
        yield server, f"ws://{HOST}:{port_of(server)}/"
