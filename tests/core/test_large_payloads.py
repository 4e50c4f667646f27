"""Large payloads: received into bytes of their own, sent through a reused mask buffer.

``FrameReader.separate_large_payloads`` makes the reader receive a large
data-frame payload straight into the bytes object it delivers (the asyncio
face opts in); ``sockio.write_masked`` and ``WSTransport.write_masked_frame``
mask a client's large frame into a scratch buffer that the transport keeps
and reuses. These tests check that the bytes delivered and the bytes on the
wire are exactly right whatever the reads and writes look like.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import socket
import struct
from typing import Any, Callable, List, Optional, Tuple

import pytest
from conftest import (
    BINARY,
    CONT,
    MASK_KEY,
    PING,
    TEXT,
    close_code_sent,
    core_twins,
    decode_frames,
    encode_frame,
    xor,
)

from wirespeed._core.framing import FrameReader
from wirespeed._core.protocol import Protocol, Side
from wirespeed._core.transport import WSTransport
from wirespeed.exceptions import PayloadTooBig

try:
    import uvloop
except ImportError:  # pragma: no cover - uvloop is a test dependency
    uvloop = None

pure, compiled, IMPLEMENTATIONS = core_twins("sockio")

LOOPS = ["asyncio"] + (["uvloop"] if uvloop is not None else [])

#: A low threshold keeps the frames of these tests small.
THRESHOLD = 200

# A text whose UTF-8 encoding has 1-, 2-, 3- and 4-byte sequences.
TEXT_UNIT = "aé€😀"


# What a reader made of the bytes: (opcode, fin, payload, received apart).
Received = Tuple[int, bool, bytes, bool]


def snapshot(reader: FrameReader) -> Received:
    payload = reader.payload_bytes()
    assert type(payload) is bytes
    apart = reader.payload is not None
    if apart:
        # Delivered as is: the same object every time, no copy.
        assert payload is reader.payload
        assert reader.payload_bytes() is payload
        assert reader.length >= THRESHOLD or reader.length >= reader.separate_threshold
    return reader.opcode, bool(reader.first_byte & 0x80), payload, apart


def push(reader: FrameReader, piece: bytes, frames: List[Received]) -> None:
    """Receive ``piece`` the way the faces read: into get_buffer(), then advance()."""
    while piece:
        space = reader.get_buffer(-1)
        assert len(space) > 0
        count = min(len(space), len(piece))
        space[:count] = piece[:count]
        reader.buffer_updated(count)
        piece = piece[count:]
        while reader.advance():
            frames.append(snapshot(reader))


def feed(reader: FrameReader, piece: bytes, frames: List[Received]) -> None:
    """Receive ``piece`` with feed(), as Protocol.receive_data does."""
    reader.feed(piece)
    while reader.advance():
        frames.append(snapshot(reader))


def new_reader(masked: bool, threshold: int = THRESHOLD, **kwargs: Any) -> FrameReader:
    reader = FrameReader(masked, **kwargs)
    reader.separate_large_payloads(threshold)
    return reader


def frame(opcode: int, payload: bytes, masked: bool, fin: bool = True) -> bytes:
    return encode_frame(opcode, payload, fin=fin, mask_key=MASK_KEY if masked else None)


def conversation(masked: bool) -> Tuple[bytes, List[Tuple[int, bool, bytes]]]:
    """A mix of large, small, fragmented, text and control frames, and what they carry."""
    text = (TEXT_UNIT * 100).encode()  # 1000 bytes
    expected = [
        (BINARY, True, os.urandom(1000)),
        (PING, True, b"ping"),
        (TEXT, False, text[:401]),  # ends inside a 4-byte sequence
        (PING, True, b""),
        (CONT, True, text[401:]),
        (BINARY, True, os.urandom(150)),
        (BINARY, True, os.urandom(THRESHOLD)),
        (BINARY, False, os.urandom(THRESHOLD - 1)),
        (CONT, True, os.urandom(300)),
        (TEXT, True, text[:700]),
    ]
    data = b"".join(frame(opcode, payload, masked, fin) for opcode, fin, payload in expected)
    return data, expected


def check(frames: List[Received], expected: List[Tuple[int, bool, bytes]]) -> None:
    assert [received[:3] for received in frames] == expected


@pytest.mark.parametrize("masked", [True, False], ids=["masked", "unmasked"])
@pytest.mark.parametrize("receive", [push, feed], ids=["get_buffer", "feed"])
def test_split_in_two_at_every_boundary(masked: bool, receive: Callable) -> None:
    data, expected = conversation(masked)
    for split in range(len(data) + 1):
        reader = new_reader(masked)
        frames: List[Received] = []
        receive(reader, data[:split], frames)
        receive(reader, data[split:], frames)
        check(frames, expected)
        assert reader.buffered == 0 and not reader.large and not reader.in_message


@pytest.mark.parametrize("masked", [True, False], ids=["masked", "unmasked"])
@pytest.mark.parametrize("receive", [push, feed], ids=["get_buffer", "feed"])
@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, 199, 200, 1001])
def test_received_in_pieces(masked: bool, receive: Callable, size: int) -> None:
    data, expected = conversation(masked)
    reader = new_reader(masked)
    frames: List[Received] = []
    for start in range(0, len(data), size):
        receive(reader, data[start : start + size], frames)
    check(frames, expected)
    if size < 10:
        # Every large payload started arriving after its header: all apart.
        assert [received[3] for received in frames] == [
            len(payload) >= THRESHOLD for _, _, payload in expected
        ]


@pytest.mark.parametrize("masked", [True, False], ids=["masked", "unmasked"])
def test_off_by_default(masked: bool) -> None:
    data, expected = conversation(masked)
    reader = FrameReader(masked)
    frames: List[Received] = []
    for start in range(0, len(data), 3):
        push(reader, data[start : start + 3], frames)
    check(frames, expected)
    assert not any(received[3] for received in frames)


def test_threshold_validation() -> None:
    reader = FrameReader(False)
    assert reader.separate_threshold == 0
    reader.separate_large_payloads()
    assert reader.separate_threshold == 65536
    reader.separate_large_payloads(10)  # control frames never qualify
    assert reader.separate_threshold == 126
    reader.separate_large_payloads(0)
    assert reader.separate_threshold == 0
    with pytest.raises(ValueError):
        reader.separate_large_payloads(-1)


def test_payload_reference_dropped_at_next_advance() -> None:
    reader = new_reader(False)
    frames: List[Received] = []
    payload = os.urandom(1000)
    data = frame(BINARY, payload, False)
    push(reader, data[:10], frames)
    assert reader.large
    space = reader.get_buffer(-1)
    space[: len(data) - 10] = data[10:]
    reader.buffer_updated(len(data) - 10)
    assert reader.advance()
    assert snapshot(reader) == (BINARY, True, payload, True)
    # Kept until the next advance(), which drops it (it is the application's now).
    assert not reader.advance()
    assert reader.payload is None


def test_whole_payload_buffered_is_not_moved() -> None:
    # When the whole payload arrived with its header, it is copied once on
    # delivery, like a small one: no object is allocated ahead.
    reader = new_reader(False)
    frames: List[Received] = []
    payload = os.urandom(1000)
    push(reader, frame(BINARY, payload, False), frames)
    assert frames == [(BINARY, True, payload, False)]


def test_complete_payload_not_yet_parsed() -> None:
    # get_buffer() after the last byte of a payload arrived, before advance():
    # the next bytes go to the receive buffer, not past the payload's end.
    reader = new_reader(True)
    first, second = os.urandom(1000), os.urandom(300)
    data = frame(BINARY, first, True) + frame(BINARY, second, True)
    frames: List[Received] = []
    push(reader, data[:10], frames)
    assert reader.large and not frames
    rest = data[10:]
    while rest:
        space = reader.get_buffer(-1)
        assert len(space) > 0
        count = min(len(space), len(rest))
        space[:count] = rest[:count]
        reader.buffer_updated(count)
        rest = rest[count:]
    assert reader.advance()
    assert snapshot(reader) == (BINARY, True, first, True)
    assert reader.advance()
    assert snapshot(reader)[:3] == (BINARY, True, second)
    assert not reader.advance()


def test_reads_never_cross_the_end_of_the_payload() -> None:
    reader = new_reader(False)
    reader.read_limit = 65536
    frames: List[Received] = []
    push(reader, frame(BINARY, b"x" * 1000, False)[:50], frames)
    space = reader.get_buffer(-1)
    assert len(space) == 1000 - (50 - 4)


def test_receive_buffer_does_not_grow_with_large_frames() -> None:
    # As the asyncio face reads: read_limit, and reads as large as offered.
    payloads = [os.urandom(2**20) for _ in range(3)]
    data = b"".join(frame(BINARY, payload, True) for payload in payloads)

    def receive(reader: FrameReader) -> List[Received]:
        frames: List[Received] = []
        push(reader, data, frames)
        return frames

    reader = FrameReader(True)
    reader.read_limit = 65536
    reader.separate_large_payloads()
    assert [received[2] for received in receive(reader)] == payloads
    assert len(reader.buffer) <= 2 * 65536
    # Without it, the receive buffer grows to hold the largest frame.
    reader = FrameReader(True)
    reader.read_limit = 65536
    assert [received[2] for received in receive(reader)] == payloads
    assert len(reader.buffer) >= 2**20


def test_discard_during_a_large_payload() -> None:
    reader = new_reader(True)
    frames: List[Received] = []
    push(reader, frame(BINARY, os.urandom(1000), True)[:500], frames)
    assert reader.large
    reader.discard()
    assert not reader.large and reader.payload_data is None and reader.buffered == 0
    # Reads land in the receive buffer again.
    space = reader.get_buffer(-1)
    assert len(space) >= 4096
    reader.buffer_updated(len(space))


def test_compressed_frames_stay_in_the_receive_buffer() -> None:
    reader = new_reader(True)
    reader.allow_rsv_bits(True)
    payloads = [os.urandom(1000) for _ in range(3)]
    data = encode_frame(BINARY, payloads[0], rsv1=True, fin=False, mask_key=MASK_KEY)
    data += encode_frame(CONT, payloads[1], fin=True, mask_key=MASK_KEY)
    data += encode_frame(BINARY, payloads[2], mask_key=MASK_KEY)
    frames: List[Received] = []
    for start in range(0, len(data), 5):
        push(reader, data[start : start + 5], frames)
    assert [(received[2], received[3]) for received in frames] == [
        (payloads[0], False),
        (payloads[1], False),
        (payloads[2], True),
    ]


@pytest.mark.parametrize("masked", [True, False], ids=["masked", "unmasked"])
def test_invalid_utf8_fails_before_the_frame_ends(masked: bool) -> None:
    payload = bytearray((TEXT_UNIT * 100).encode())
    payload[600] = 0xFF
    data = frame(TEXT, bytes(payload), masked)
    reader = new_reader(masked)
    frames: List[Received] = []
    with pytest.raises(UnicodeDecodeError):
        for start in range(0, len(data), 100):
            push(reader, data[start : start + 100], frames)
            assert reader.large
    # Raised by the piece that holds the invalid byte, not at the end.
    assert start == 600
    assert not frames


@pytest.mark.parametrize("receive", ["receive_data", "get_buffer"])
def test_invalid_utf8_closes_with_1007(receive: str) -> None:
    payload = bytearray((TEXT_UNIT * 100).encode())
    payload[-3] = 0xC0
    protocol = protocol_receiving(
        frame(TEXT, b"ok", True) + frame(TEXT, bytes(payload), True), receive
    )
    assert [event.data for event in protocol.events_received()] == [b"ok"]
    assert close_code_sent(protocol) == 1007


@pytest.mark.parametrize("receive", ["receive_data", "get_buffer"])
def test_max_size_closes_with_1009_before_allocating(receive: str) -> None:
    first = os.urandom(600)
    data = frame(BINARY, first, True, fin=False) + frame(CONT, os.urandom(600), True)
    protocol = protocol_receiving(data, receive, max_size=1000, pieces=50)
    # The first fragment fits; the second one would make the message too big.
    assert [(event.data, event.fin) for event in protocol.events_received()] == [(first, False)]
    assert close_code_sent(protocol) == 1009
    assert not protocol.reader.large
    # A single frame over the limit.
    reader = new_reader(True, max_message_size=1000)
    with pytest.raises(PayloadTooBig):
        push(reader, frame(BINARY, os.urandom(1001), True)[:20], [])
    assert not reader.large


def protocol_receiving(
    data: bytes, receive: str, max_size: Optional[int] = None, pieces: int = 7
) -> Protocol:
    """A server Protocol that received ``data`` in ``pieces``-byte reads."""
    protocol = Protocol(Side.SERVER, max_size=max_size)
    protocol.reader.separate_large_payloads(THRESHOLD)
    for start in range(0, len(data), pieces):
        piece = data[start : start + pieces]
        if receive == "receive_data":
            protocol.receive_data(piece)
            continue
        if protocol.discarding:
            break
        space = protocol.reader.get_buffer()
        assert len(space) >= len(piece) or protocol.reader.large
        while piece:
            space = protocol.reader.get_buffer()
            count = min(len(space), len(piece))
            space[:count] = piece[:count]
            protocol.reader.buffer_updated(count)
            protocol.parse_frames()
            piece = piece[count:]
    return protocol


def test_protocol_events_carry_the_payload_object() -> None:
    payloads = [os.urandom(1000), os.urandom(500)]
    data = frame(BINARY, payloads[0], True) + frame(BINARY, payloads[1], True)
    protocol = protocol_receiving(data, "get_buffer")
    events = protocol.events_received()
    assert [event.data for event in events] == payloads
    assert all(type(event.data) is bytes for event in events)
    assert protocol.reader.payload is None


# sockio: the primitives


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_new_payload(impl: Any) -> None:
    data, view = impl.new_payload(10)
    assert type(data) is (bytes if impl is compiled else bytearray)
    assert len(data) == 10 and len(view) == 10 and not view.readonly
    view[:] = b"0123456789"
    view[2:4] = b"ab"
    assert bytes(data) == b"01ab456789"
    # The view keeps the object alive.
    del data
    gc.collect()
    assert view.tobytes() == b"01ab456789"
    for size in (0, 1, -1):
        with pytest.raises(ValueError):
            impl.new_payload(size)


def masked_frame(header: bytes, payload: bytes, key: bytes) -> bytes:
    return header + xor(payload, key)


def read_all(sock: socket.socket, size: int) -> bytes:
    received = bytearray()
    while len(received) < size:
        chunk = sock.recv(size - len(received))
        assert chunk
        received += chunk
    return bytes(received)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("scratch_size", [15, 17, 1000, 100_000])
def test_write_masked(impl: Any, scratch_size: int) -> None:
    left, right = socket.socketpair()
    try:
        right.setblocking(False)
        # Not too many chunks: each is a write, which costs socket buffer space.
        payload = os.urandom(min(5003, 40 * scratch_size))
        header = b"\x82\x7e" + struct.pack("!H", len(payload)) + MASK_KEY
        scratch = bytearray(b"\xee" * scratch_size)
        for key_payload in (payload, memoryview(payload), bytearray(payload)):
            written = impl.write_masked(right.fileno(), scratch, header, key_payload, MASK_KEY)
            assert written == len(header) + len(payload)
            assert read_all(left, written) == masked_frame(header, payload, MASK_KEY)
        with pytest.raises(ValueError):
            impl.write_masked(right.fileno(), bytearray(8), header, payload, MASK_KEY)
        with pytest.raises(ValueError):
            impl.write_masked(right.fileno(), scratch, header, payload, b"abc")
    finally:
        left.close()
        right.close()


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_write_masked_partial_eagain_and_error(impl: Any) -> None:
    left, right = socket.socketpair()
    try:
        right.setblocking(False)
        right.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
        payload = os.urandom(8 * 2**20)
        header = b"\x82\x7f" + struct.pack("!Q", len(payload)) + MASK_KEY
        expected = masked_frame(header, payload, MASK_KEY)
        # The socket takes part of the frame (in several chunks), then nothing.
        written = impl.write_masked(right.fileno(), bytearray(2**16), header, payload, MASK_KEY)
        assert 0 < written < len(expected)
        assert impl.write_masked(right.fileno(), bytearray(100), header, payload, MASK_KEY) == -1
        assert read_all(left, written) == expected[:written]
        left.close()
        assert impl.write_masked(right.fileno(), bytearray(100), header, payload, MASK_KEY) == -2
    finally:
        left.close()
        right.close()


# The transport: large client frames through the reused scratch buffer


def run_on(loop_name: str, coro: Any) -> Any:
    if loop_name == "uvloop":
        return uvloop.run(asyncio.wait_for(coro, 20))
    return asyncio.run(asyncio.wait_for(coro, 20))


async def client_transport(small_buffers: bool) -> Tuple[WSTransport, socket.socket, Any]:
    """A client WSTransport on a TCP connection to a raw socket (the peer)."""
    loop = asyncio.get_running_loop()
    listener = socket.create_server(("127.0.0.1", 0))
    try:
        client = socket.create_connection(listener.getsockname())
        peer, _ = listener.accept()
    finally:
        listener.close()
    if small_buffers:
        client.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 32768)
        peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32768)
    peer.setblocking(False)
    client.setblocking(False)
    underlying, _ = await loop.create_connection(asyncio.Protocol, sock=client)
    protocol = Protocol(Side.CLIENT)
    transport = WSTransport(True, underlying, protocol, logging.getLogger("test"), loop)
    return transport, peer, underlying


async def receive_frames(peer: socket.socket, count: int) -> List[Tuple[int, bytes]]:
    """Read from the raw peer until ``count`` whole frames arrived; decode them."""
    loop = asyncio.get_running_loop()
    data = bytearray()
    while True:
        frames = complete_frames(bytes(data))
        if frames is not None and len(frames) >= count:
            return [(received.opcode, received.payload) for received in frames]
        chunk = await loop.sock_recv(peer, 2**20)
        assert chunk, "connection closed early"
        data += chunk


def complete_frames(data: bytes) -> Optional[List[Any]]:
    """Decode ``data`` if it ends at a frame boundary, else None."""
    pos = 0
    while pos < len(data):
        if len(data) - pos < 2:
            return None
        length = data[pos + 1] & 0x7F
        size = 2
        if length == 126:
            if len(data) - pos < 4:
                return None
            (length,) = struct.unpack_from("!H", data, pos + 2)
            size = 4
        elif length == 127:
            if len(data) - pos < 10:
                return None
            (length,) = struct.unpack_from("!Q", data, pos + 2)
            size = 10
        pos += size + 4 + length
    if pos != len(data):
        return None
    return decode_frames(data, masked=True)


@pytest.mark.parametrize("loop_name", LOOPS)
def test_mask_buffer_is_allocated_lazily_and_bounded(loop_name: str) -> None:
    async def main() -> None:
        transport, peer, underlying = await client_transport(small_buffers=False)
        try:
            assert transport.fd >= 0
            payloads = [
                os.urandom(100),
                os.urandom(16383),
                os.urandom(20_000),
                os.urandom(3 * 2**20),
            ]
            transport.send(BINARY, payloads[0])
            transport.send(BINARY, payloads[1])
            assert transport.mask_buffer is None
            reader = asyncio.ensure_future(receive_frames(peer, 4))
            transport.send(BINARY, payloads[2])
            assert transport.mask_buffer is not None and len(transport.mask_buffer) == 65536
            first = transport.mask_buffer
            transport.send(BINARY, payloads[3])
            # Grown once, and bounded: larger frames go out in chunks.
            assert 65536 < len(transport.mask_buffer) <= 2**20 + 2**16
            assert transport.mask_buffer is not first
            assert await reader == [(BINARY, payload) for payload in payloads]
        finally:
            underlying.abort()
            peer.close()

    run_on(loop_name, main())


def fill(fd: int) -> int:
    """Write to ``fd`` until it takes nothing more; return the number of bytes written."""
    total = 0
    chunk = b"\xaa" * 65536
    while True:
        try:
            total += os.write(fd, chunk)
        except BlockingIOError:
            return total


@pytest.mark.parametrize("loop_name", LOOPS)
@pytest.mark.parametrize(("size", "room"), [(20_000, False), (300_000, True), (3 * 2**20, True)])
def test_partial_direct_write_hands_a_copy_to_the_transport(
    loop_name: str, size: int, room: bool
) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        transport, peer, underlying = await client_transport(small_buffers=True)
        try:
            assert transport.fd >= 0
            payloads = [os.urandom(size), os.urandom(size), b"small", os.urandom(size)]
            # Fill the socket behind the transport's back, then (with room)
            # let the peer read a little: the next frame is written in part,
            # or (without room) not at all.
            filler = fill(transport.fd)
            read = b""
            if room:
                read = await loop.sock_recv(peer, 16384)
                await asyncio.sleep(0.05)
            transport.send(BINARY, payloads[0])
            assert underlying.get_write_buffer_size() > 0
            # What the transport holds must not be a view of the mask buffer,
            # which is scribbled over here as a later frame would.
            assert transport.mask_buffer is not None
            transport.mask_buffer[:] = b"\xee" * len(transport.mask_buffer)
            # While the transport has bytes buffered, frames queue behind them.
            transport.send(BINARY, payloads[1])
            transport.send(TEXT, payloads[2])
            rest = filler - len(read)
            while rest:
                chunk = await loop.sock_recv(peer, min(rest, 2**20))
                assert chunk and set(chunk) == {0xAA}
                rest -= len(chunk)
            frames = await receive_frames(peer, 3)
            assert frames == [(BINARY, payloads[0]), (BINARY, payloads[1]), (TEXT, b"small")]
            # Once drained, the mask buffer is used again.
            while underlying.get_write_buffer_size():
                await asyncio.sleep(0.001)
            before = transport.mask_buffer
            transport.send(BINARY, payloads[3])
            assert transport.mask_buffer is before
            assert await receive_frames(peer, 1) == [(BINARY, payloads[3])]
        finally:
            underlying.abort()
            peer.close()

    run_on(loop_name, main())
