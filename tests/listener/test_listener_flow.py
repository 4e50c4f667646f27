"""Zero-copy payloads and their lifetime; back-pressure callbacks."""

from __future__ import annotations

import asyncio
import gc

import pytest
from listener_helpers import Recorder, disconnect, run, serving, until

from wirespeed import WSMsgType, ws_connect


def pattern(index: int, size: int) -> bytes:
    return bytes([index % 251]) * size


class Keeper(Recorder):
    """Checks each payload during the callback, keeps copies and (wrongly) views."""

    def __init__(self):
        super().__init__()
        self.copies = []
        self.views = []
        self.during = []

    def on_ws_frame(self, transport, frame):
        view = frame.get_payload_as_memoryview()
        # During the callback the view is the payload.
        self.during.append(
            (isinstance(view, memoryview), len(view) == frame.payload_size, bytes(view))
        )
        self.copies.append(frame.get_payload_as_bytes())
        self.views.append(view)  # kept past the callback: allowed, but may change


def test_memoryview_valid_during_callback_and_copies_stay_intact():
    async def main():
        async with serving(Keeper) as srv:
            transport, _ = await ws_connect(Recorder, srv.url)
            await until(lambda: srv.listeners and srv.listeners[0].connected)
            server = srv.listeners[0]
            sizes = [1, 100, 5000, 70000, 3, 300000, 10, 2_000_000, 50] * 3
            expected = [pattern(i, size) for i, size in enumerate(sizes)]
            for index, payload in enumerate(expected):
                transport.send(WSMsgType.BINARY, payload)
                if index % 4 == 0:
                    await asyncio.sleep(0)  # vary how frames share reads
            await until(lambda: len(server.copies) == len(expected), timeout=5)
            assert all(ok and size_ok for ok, size_ok, _ in server.during)
            assert [data for _, _, data in server.during] == expected
            # Copies made with get_payload_as_bytes survive later frames.
            assert server.copies == expected
            # Views kept past the callback never crash, even though the receive
            # buffer grew (2 MB frames) and was reused since: their content is
            # unspecified, their length is what it was.
            for view, payload in zip(server.views, expected):
                assert len(view) == len(payload)
                bytes(view)
                view.tobytes()
            await disconnect(transport)
        # And after the connection is gone.
        gc.collect()
        for view in server.views:
            bytes(view)

    run(main(), timeout=20)


def test_kept_views_do_not_block_buffer_growth_or_compaction():
    # A view kept into the receive buffer must not make a later read fail with
    # BufferError (a bytearray with exports cannot be resized).
    class HoldFirst(Recorder):
        held = None

        def on_ws_frame(self, transport, frame):
            if self.held is None:
                self.held = frame.get_payload_as_memoryview()
            super().on_ws_frame(transport, frame)

    async def main():
        async with serving(HoldFirst) as srv:
            transport, _client = await ws_connect(Recorder, srv.url)
            await until(lambda: srv.listeners and srv.listeners[0].connected)
            server = srv.listeners[0]
            transport.send(WSMsgType.BINARY, b"keep me")
            await server.wait_frames(1)
            for size in (10, 60000, 10, 4_000_000, 10, 8_000_000):
                transport.send(WSMsgType.BINARY, b"n" * size)
                await asyncio.sleep(0)
            await server.wait_frames(7, timeout=5)
            assert [len(f.payload) for f in server.frames] == [
                7,
                10,
                60000,
                10,
                4_000_000,
                10,
                8_000_000,
            ]
            assert len(server.held) == 7
            bytes(server.held)
            await disconnect(transport)

    run(main(), timeout=20)


def test_memoryview_from_client_side_payloads_and_text():
    class Checker(Recorder):
        def on_ws_frame(self, transport, frame):
            super().on_ws_frame(transport, frame)
            if frame.msg_type == WSMsgType.TEXT:
                view = frame.get_payload_as_memoryview()
                assert str(view, "utf-8") == frame.get_payload_as_utf8_text()

    async def main():
        async with serving(Recorder) as srv:
            transport, client = await ws_connect(Checker, srv.url)
            await until(lambda: srv.listeners and srv.listeners[0].connected)
            st = srv.listeners[0].transport
            for index in range(50):
                st.send(WSMsgType.TEXT, f"message {index} é" * (index * 37))
            await client.wait_frames(50)
            assert [f.payload.decode() for f in client.frames] == [
                f"message {index} é" * (index * 37) for index in range(50)
            ]
            await disconnect(transport)

    run(main())


# Back-pressure


@pytest.mark.parametrize("writer_side", ["client", "server"])
def test_pause_and_resume_writing(writer_side):
    async def main():
        async with serving(Recorder) as srv:
            transport, client = await ws_connect(Recorder, srv.url)
            await until(lambda: srv.listeners and srv.listeners[0].connected)
            server = srv.listeners[0]
            writer, reader = (client, server) if writer_side == "client" else (server, client)
            # The reader stops reading from its socket.
            reader.transport.underlying_transport.pause_reading()
            chunk = b"w" * 1_000_000
            sent = 0
            while "pause_writing" not in writer.events:
                writer.transport.send(WSMsgType.BINARY, chunk)
                sent += 1
                assert sent < 200, "pause_writing never called"
                await asyncio.sleep(0)
            assert "resume_writing" not in writer.events
            # Sending while paused is still accepted (buffered).
            writer.transport.send(WSMsgType.BINARY, b"last")
            sent += 1
            await asyncio.sleep(0.05)
            assert "resume_writing" not in writer.events
            reader.transport.underlying_transport.resume_reading()
            await until(lambda: "resume_writing" in writer.events, timeout=5)
            await reader.wait_frames(sent, timeout=5)
            assert reader.frames[-1].payload == b"last"
            assert all(f.payload == chunk for f in reader.frames[:-1])
            pause = writer.events.index("pause_writing")
            assert writer.events.index("resume_writing") > pause
            await disconnect(transport)

    run(main(), timeout=20)
