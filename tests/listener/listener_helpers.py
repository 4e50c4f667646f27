"""Helpers shared by the tests of the listener face (``tests/listener``).

Every test runs its coroutine with :func:`run`, which bounds it in time and
checks that no task is left behind; servers listen on 127.0.0.1 only and are
closed (with the connections they accepted) by :func:`serving`.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from typing import Any, AsyncIterator, Callable, List, NamedTuple, Optional

from wirespeed import WSListener, WSMsgType, ws_create_server

HOST = "127.0.0.1"


class Rec(NamedTuple):
    """A frame as a listener saw it, copied out of the callback."""

    msg_type: int
    fin: bool
    rsv1: bool
    payload: bytes


def run(coro: Any, timeout: float = 10.0) -> Any:
    """Run ``coro`` in a fresh event loop, bounded by ``timeout`` seconds.

    Fails if a task is still pending when it returns.
    """

    async def main() -> Any:
        try:
            return await asyncio.wait_for(coro, timeout)
        finally:
            # Let the callbacks scheduled by closing transports run.
            for _ in range(3):
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


class Recorder(WSListener):
    """A listener that records what happens to it.

    ``frames`` holds a :class:`Rec` per frame received; ``events`` the names of
    the callbacks in order. ``echo`` sends every data frame back as it is.
    """

    def __init__(self, echo: bool = False) -> None:
        self.echo = echo
        self.transport: Any = None
        self.frames: List[Rec] = []
        self.events: List[str] = []
        self.connected = False
        self.disconnected = False

    def on_ws_connected(self, transport: Any) -> None:
        self.transport = transport
        self.connected = True
        self.events.append("connected")

    def on_ws_frame(self, transport: Any, frame: Any) -> None:
        self.frames.append(Rec(frame.msg_type, frame.fin, frame.rsv1, frame.get_payload_as_bytes()))
        self.events.append("frame")
        if self.echo and frame.msg_type in (
            WSMsgType.TEXT,
            WSMsgType.BINARY,
            WSMsgType.CONTINUATION,
        ):
            transport.send(frame.msg_type, frame.get_payload_as_memoryview(), frame.fin)

    def on_ws_disconnected(self, transport: Any) -> None:
        self.disconnected = True
        self.events.append("disconnected")

    def pause_writing(self) -> None:
        self.events.append("pause_writing")

    def resume_writing(self) -> None:
        self.events.append("resume_writing")

    # Helpers for the tests

    def of_type(self, msg_type: int) -> List[Rec]:
        return [frame for frame in self.frames if frame.msg_type == msg_type]

    def close_frames(self) -> List[Rec]:
        return self.of_type(WSMsgType.CLOSE)

    def close_code(self) -> Optional[int]:
        """Code of the first close frame received (1005 if it has none)."""
        closes = self.close_frames()
        if not closes:
            return None
        payload = closes[0].payload
        return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005

    async def wait_frames(self, count: int, timeout: float = 3.0) -> List[Rec]:
        await until(lambda: len(self.frames) >= count, timeout)
        return self.frames

    async def wait_disconnected(self, timeout: float = 3.0) -> None:
        await until(lambda: self.disconnected, timeout)


class Server(NamedTuple):
    url: str
    port: int
    listeners: List[Any]
    server: asyncio.Server


@contextlib.asynccontextmanager
async def serving(factory: Callable[[], Any] = Recorder, **kwargs: Any) -> AsyncIterator[Server]:
    """Run a wirespeed server on 127.0.0.1; ``listeners`` collects what ``factory`` returned.

    On exit the server is closed and every connection it accepted is aborted.
    """
    listeners: List[Any] = []

    def make(request: Any) -> Any:
        listener = factory()
        listeners.append(listener)
        return listener

    server = await ws_create_server(make, HOST, 0, **kwargs)
    port = server.sockets[0].getsockname()[1]
    try:
        yield Server(f"ws://{HOST}:{port}/", port, listeners, server)
    finally:
        server.close()
        for listener in listeners:
            await disconnect(getattr(listener, "transport", None))
        await server.wait_closed()


async def disconnect(transport: Any, timeout: float = 2.0) -> None:
    """Abort ``transport`` (a WSTransport) if it is still connected and wait until it is."""
    if transport is None:
        return
    if not transport.is_disconnected:
        transport.disconnect(graceful=False)
    await asyncio.wait_for(transport.wait_disconnected(), timeout)


def raw_frame(
    opcode: int, payload: bytes = b"", *, fin: bool = True, rsv: int = 0, mask: bool = True
) -> bytes:
    """Encode one frame by hand (RFC 6455, 5.2), valid or not. ``rsv`` is 0-7 (RSV1=4)."""
    first = (0x80 if fin else 0) | (rsv << 4) | opcode
    length = len(payload)
    mask_bit = 0x80 if mask else 0
    if length < 126:
        header = bytes([first, mask_bit | length])
    elif length < 65536:
        header = bytes([first, mask_bit | 126]) + struct.pack("!H", length)
    else:
        header = bytes([first, mask_bit | 127]) + struct.pack("!Q", length)
    if not mask:
        return header + payload
    key = b"\x12\x34\x56\x78"
    return header + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))
