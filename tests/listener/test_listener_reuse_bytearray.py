"""WSTransport.send_reuse_external_bytearray and WSFrame.get_close_reason (picows API)."""

from __future__ import annotations

import os
from typing import Any, List, Optional

import pytest
from listener_helpers import Recorder, run, serving, until

from wirespeed import WSCloseCode, WSMsgType, ws_connect

OFFSET = 14


def framed(payload: bytes, offset: int = OFFSET) -> bytearray:
    """A bytearray with ``offset`` free bytes (filled with 0xEE), then ``payload``."""
    return bytearray(b"\xee" * offset) + payload


def header_length(size: int, masked: bool) -> int:
    return 2 + (0 if size < 126 else 2 if size < 65536 else 8) + (4 if masked else 0)


@pytest.mark.parametrize("side", ["server", "client"])
@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 3 * 2**20])
def test_reused_bytearray_arrives_as_the_payload(side: str, size: int) -> None:
    payload = os.urandom(size)
    offset = OFFSET + 6

    async def main() -> None:
        async with serving(Recorder, max_frame_size=2**23) as server:
            transport, client = await ws_connect(Recorder, server.url, max_frame_size=2**23)
            try:
                await until(lambda: server.listeners and server.listeners[0].connected)
                sender = transport if side == "client" else server.listeners[0].transport
                receiver = server.listeners[0] if side == "client" else client
                buffer = framed(payload, offset)
                sender.send_reuse_external_bytearray(WSMsgType.BINARY, buffer, offset)
                # The frame was built in place: the bytes before its header
                # are untouched, the header starts with FIN + BINARY.
                start = offset - header_length(size, side == "client")
                assert buffer[:start] == b"\xee" * start
                assert buffer[start] == 0x82
                if side == "client" and size >= 4:
                    assert bytes(buffer[offset:]) != payload  # masked in place
                # The buffer may be reused right away.
                buffer[:] = b"\x00" * len(buffer)
                await until(lambda: receiver.frames, timeout=10)
                assert receiver.frames[0].msg_type == WSMsgType.BINARY
                assert receiver.frames[0].payload == payload
            finally:
                transport.disconnect(graceful=False)
                await transport.wait_disconnected()

    run(main(), timeout=20)


@pytest.mark.parametrize("side", ["server", "client"])
def test_reused_bytearray_fragments_and_control_frames(side: str) -> None:
    async def main() -> None:
        async with serving(Recorder) as server:
            transport, client = await ws_connect(Recorder, server.url)
            try:
                await until(lambda: server.listeners and server.listeners[0].connected)
                sender = transport if side == "client" else server.listeners[0].transport
                receiver = server.listeners[0] if side == "client" else client
                sender.send_reuse_external_bytearray(
                    WSMsgType.TEXT, framed(b"hel"), OFFSET, fin=False
                )
                sender.send_reuse_external_bytearray(WSMsgType.CONTINUATION, framed(b"lo"), OFFSET)
                sender.send_reuse_external_bytearray(WSMsgType.PONG, framed(b"p"), OFFSET)
                await until(lambda: len(receiver.frames) == 3)
                assert [(f.msg_type, f.fin, f.payload) for f in receiver.frames] == [
                    (WSMsgType.TEXT, False, b"hel"),
                    (WSMsgType.CONTINUATION, True, b"lo"),
                    (WSMsgType.PONG, True, b"p"),
                ]
                with pytest.raises(ValueError, match="125"):
                    sender.send_reuse_external_bytearray(WSMsgType.PING, framed(b"x" * 126), OFFSET)
            finally:
                transport.disconnect(graceful=False)
                await transport.wait_disconnected()

    run(main())


def test_reused_bytearray_bad_arguments() -> None:
    async def main() -> None:
        async with serving(Recorder) as server:
            transport, _ = await ws_connect(Recorder, server.url)
            try:
                send = transport.send_reuse_external_bytearray
                with pytest.raises(ValueError, match="None"):
                    send(WSMsgType.BINARY, None, OFFSET)
                with pytest.raises(ValueError, match="at least 14 bytes"):
                    send(WSMsgType.BINARY, framed(b"data", 13), 13)
                with pytest.raises(ValueError, match="beyond the end"):
                    send(WSMsgType.BINARY, bytearray(20), 21)
                with pytest.raises(ValueError, match="send_close"):
                    send(WSMsgType.CLOSE, framed(b"\x03\xe8"), OFFSET)
                with pytest.raises(TypeError):
                    send(WSMsgType.BINARY, bytes(framed(b"data")), OFFSET)
            finally:
                transport.disconnect(graceful=False)
                await transport.wait_disconnected()

    run(main())


def test_reused_bytearray_dropped_once_closing() -> None:
    async def main() -> None:
        async with serving(Recorder) as server:
            transport, _ = await ws_connect(Recorder, server.url)
            try:
                await until(lambda: server.listeners and server.listeners[0].connected)
                transport.send_close(WSCloseCode.OK)
                buffer = framed(b"late")
                transport.send_reuse_external_bytearray(WSMsgType.BINARY, buffer, OFFSET)
                await server.listeners[0].wait_disconnected()
                assert server.listeners[0].of_type(WSMsgType.BINARY) == []
            finally:
                transport.disconnect(graceful=False)
                await transport.wait_disconnected()

    run(main())


class CloseReasons(Recorder):
    def __init__(self) -> None:
        super().__init__()
        self.reasons: List[Optional[str]] = []
        self.errors: List[Exception] = []

    def on_ws_frame(self, transport: Any, frame: Any) -> None:
        if frame.msg_type == WSMsgType.CLOSE:
            self.reasons.append(frame.get_close_reason())
        else:
            try:
                frame.get_close_reason()
            except ValueError as exc:
                self.errors.append(exc)
        super().on_ws_frame(transport, frame)


@pytest.mark.parametrize(
    ("code", "message", "expected"),
    [
        (WSCloseCode.GOING_AWAY, "bye \u00e9\u20ac", "bye \u00e9\u20ac"),
        (WSCloseCode.OK, b"", None),
        (WSCloseCode.NO_INFO, b"", None),
    ],
)
def test_get_close_reason(code: int, message: Any, expected: Optional[str]) -> None:
    async def main() -> None:
        async with serving(CloseReasons) as server:
            transport, _ = await ws_connect(Recorder, server.url)
            try:
                await until(lambda: server.listeners and server.listeners[0].connected)
                transport.send(WSMsgType.BINARY, b"not a close frame")
                transport.send_close(code, message)
                await until(lambda: server.listeners[0].reasons)
                assert server.listeners[0].reasons == [expected]
                assert len(server.listeners[0].errors) == 1
                assert "CLOSE frames" in str(server.listeners[0].errors[0])
            finally:
                transport.disconnect(graceful=False)
                await transport.wait_disconnected()

    run(main())
