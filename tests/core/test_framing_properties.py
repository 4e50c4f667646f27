"""Property-based tests of the frame codec and of the Protocol fed with bytes."""

from __future__ import annotations

import contextlib
import signal
import struct

from conftest import (
    BINARY,
    CLOSE,
    CONT,
    EOF,
    PING,
    PONG,
    TEXT,
    WireFrame,
    close_payload,
    encode_frame,
    frame_to,
    outgoing,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wirespeed._core.framing import serialize_frame
from wirespeed.exceptions import ConnectionClosed, PayloadTooBig, ProtocolError
from wirespeed.frames import Frame, Opcode
from wirespeed.sansio import Protocol, Side, State

SIDES = st.sampled_from([Side.CLIENT, Side.SERVER])
MAX_SIZE = 1024
#: Longest frame header: 2 bytes, 8 bytes of extended length, 4 bytes of mask key.
MAX_HEADER = 14

FAST = settings(deadline=None, max_examples=150, suppress_health_check=[HealthCheck.too_slow])


@contextlib.contextmanager
def watchdog(seconds: float):
    """Fail instead of hanging if the block runs for more than ``seconds``."""

    def expire(signum, frame):
        raise TimeoutError(f"still running after {seconds} seconds")

    if not hasattr(signal, "setitimer"):  # pragma: no cover - not on Windows
        yield
        return
    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def pattern(length: int) -> bytes:
    return bytes(range(256)) * (length // 256) + bytes(range(length % 256))


def split(data: bytes, cuts) -> list:
    """Split ``data`` at the positions in ``cuts`` (any integers, taken modulo len + 1)."""
    points = sorted({cut % (len(data) + 1) for cut in cuts})
    bounds = [0, *points, len(data)]
    return [data[start:end] for start, end in zip(bounds, bounds[1:])]


# Valid frame sequences.

control_frames = st.tuples(st.sampled_from([PING, PONG]), st.binary(max_size=125))

payload_lengths = st.sampled_from([0, 125, 126, 127, 65535, 65536])


@st.composite
def messages(draw):
    """Frames of one data message, with arbitrary fragmentation and control frames."""
    if draw(st.booleans()):
        opcode = TEXT
        if draw(st.integers(0, 9)) == 0:
            payload = b"a" * draw(payload_lengths)
        else:
            payload = draw(st.text(max_size=100)).encode()
    else:
        opcode = BINARY
        if draw(st.integers(0, 9)) == 0:
            payload = pattern(draw(payload_lengths))
        else:
            payload = draw(st.binary(max_size=300))
    # Fragment boundaries may fall inside UTF-8 characters.
    pieces = split(payload, draw(st.lists(st.integers(0, 2**16), max_size=4)))
    frames = []
    for index, piece in enumerate(pieces):
        frames.append((opcode if index == 0 else CONT, piece, index == len(pieces) - 1))
        for control_opcode, control_payload in draw(st.lists(control_frames, max_size=2)):
            frames.append((control_opcode, control_payload, True))
    return frames


@st.composite
def frame_sequences(draw):
    frames = []
    for control_opcode, control_payload in draw(st.lists(control_frames, max_size=2)):
        frames.append((control_opcode, control_payload, True))
    for message in draw(st.lists(messages(), max_size=5)):
        frames.extend(message)
    if draw(st.booleans()):
        code = draw(st.sampled_from([1000, 1001, 1011, 3000, 4999]))
        reason = draw(st.text(max_size=20)).encode()[:123]
        frames.append((CLOSE, close_payload(code, reason), True))
    return frames


def expected_replies(frames, receiver_side):
    """What the receiver of ``frames`` sends back: pongs, then the close echo and EOF."""
    replies = []
    for opcode, payload, _ in frames:
        if opcode == PING:
            replies.append(WireFrame(PONG, payload))
        elif opcode == CLOSE:
            replies.append(WireFrame(CLOSE, payload))
            if receiver_side is Side.SERVER:
                replies.append(EOF)
    return replies


@FAST
@given(
    frames=frame_sequences(),
    sender=SIDES,
    cuts=st.lists(st.integers(0, 2**17), max_size=30),
)
def test_round_trip_through_serialize_frame(frames, sender, cuts):
    receiver_side = Side.SERVER if sender is Side.CLIENT else Side.CLIENT
    data = b"".join(
        serialize_frame(opcode, payload, fin, mask=sender is Side.CLIENT)
        for opcode, payload, fin in frames
    )
    receiver = Protocol(receiver_side, max_size=None)
    events = []
    replies = []
    with watchdog(10):
        for chunk in split(data, cuts):
            receiver.receive_data(chunk)
            events.extend(receiver.events_received())
            replies.extend(outgoing(receiver))
    assert events == [Frame(Opcode(opcode), payload, fin) for opcode, payload, fin in frames]
    assert replies == expected_replies(frames, receiver_side)
    assert receiver.reader.buffered == 0


@FAST
@given(
    frames=frame_sequences(),
    receiver_side=SIDES,
    encodings=st.lists(st.tuples(st.sampled_from([0, 2, 8]), st.binary(min_size=4, max_size=4))),
    cuts=st.lists(st.integers(0, 2**17), max_size=30),
)
def test_round_trip_with_any_length_encoding_and_mask_key(frames, receiver_side, encodings, cuts):
    data = b""
    for index, (opcode, payload, fin) in enumerate(frames):
        length_size, key = encodings[index] if index < len(encodings) else (0, b"\x00" * 4)
        minimal = 0 if len(payload) < 126 else 2 if len(payload) < 65536 else 8
        data += frame_to(
            receiver_side,
            opcode,
            payload,
            fin=fin,
            length_size=max(length_size, minimal),
            **({"mask_key": key} if receiver_side is Side.SERVER else {}),
        )
    receiver = Protocol(receiver_side, max_size=None)
    events = []
    with watchdog(10):
        for chunk in split(data, cuts):
            receiver.receive_data(chunk)
            events.extend(receiver.events_received())
    assert events == [Frame(Opcode(opcode), payload, fin) for opcode, payload, fin in frames]
    assert outgoing(receiver) == expected_replies(frames, receiver_side)


# Invalid input.


ODD_LENGTHS = [125, 126, MAX_SIZE, MAX_SIZE + 1, 2**16, 2**32, 2**40, 2**63 - 1, 2**63]


@st.composite
def frame_soup(draw, receiver_side):
    """Bytes that look like frames, with any field possibly wrong."""
    data = b""
    for _ in range(draw(st.integers(1, 6))):
        opcode = draw(
            st.one_of(st.sampled_from([CONT, TEXT, BINARY, CLOSE, PING, PONG]), st.integers(0, 15))
        )
        kind = draw(st.integers(0, 3))
        if kind == 0:
            payload = draw(st.binary(max_size=200))
        elif kind == 1:
            payload = draw(st.text(max_size=60)).encode()
        elif kind == 2:
            payload = struct.pack("!H", draw(st.integers(0, 65535))) + draw(
                st.binary(max_size=10)
            )
        else:
            payload = b"x" * draw(st.integers(0, 2 * MAX_SIZE))
        wrong_mask = draw(st.integers(0, 9)) == 0
        masked = (receiver_side is Side.SERVER) != wrong_mask
        length = len(payload)
        if draw(st.integers(0, 9)) == 0:  # a length that doesn't match the payload
            length = draw(st.one_of(st.integers(0, 2**64 - 1), st.sampled_from(ODD_LENGTHS)))
        minimal = 0 if length < 126 else 2 if length < 65536 else 8
        frame = encode_frame(
            opcode,
            payload,
            fin=draw(st.integers(0, 3)) != 0,
            rsv1=draw(st.integers(0, 15)) == 0,
            rsv2=draw(st.integers(0, 15)) == 0,
            rsv3=draw(st.integers(0, 15)) == 0,
            mask_key=draw(st.binary(min_size=4, max_size=4)) if masked else None,
            length_size=max(minimal, draw(st.sampled_from([0, 0, 0, 2, 8]))),
            length=length,
        )
        if draw(st.integers(0, 9)) == 0:  # truncated
            frame = frame[: draw(st.integers(0, 20))]
        data += frame
    if draw(st.booleans()):
        data += draw(st.binary(max_size=50))
    if draw(st.integers(0, 4)) == 0:  # enough bytes to overflow a wrong limit
        data += b"\x00" * draw(st.integers(0, 4 * MAX_SIZE))
    return data


EXPECTED_PARSER_ERRORS = (ProtocolError, UnicodeDecodeError, PayloadTooBig, EOFError)


def check_survives(protocol: Protocol, chunks) -> None:
    """Feed ``chunks``; check the protocol never raises, hangs or buffers too much."""
    bound = max(MAX_SIZE, 125) + MAX_HEADER
    with watchdog(10):
        for chunk in chunks:
            protocol.receive_data(chunk)
            assert protocol.reader.buffered <= bound
            for event in protocol.events_received():
                assert isinstance(event, Frame)
            for item in outgoing(protocol):
                if item != EOF and item.opcode == CLOSE and protocol.parser_exc is not None:
                    code = struct.unpack("!H", item.payload[:2])[0]
                    assert code in (1002, 1007, 1009), code
        protocol.receive_eof()
    assert protocol.state is State.CLOSED
    assert isinstance(protocol.close_exc, ConnectionClosed)
    # An error that isn't one of these is a bug in the parser (it would give 1011).
    assert protocol.parser_exc is None or isinstance(protocol.parser_exc, EXPECTED_PARSER_ERRORS)


@settings(deadline=None, max_examples=300)
@given(
    data=st.binary(max_size=3000),
    side=SIDES,
    cuts=st.lists(st.integers(0, 3000), max_size=20),
)
def test_arbitrary_bytes_never_break_the_protocol(data, side, cuts):
    protocol = Protocol(side, max_size=MAX_SIZE)
    check_survives(protocol, split(data, cuts))


@settings(deadline=None, max_examples=400)
@given(
    side=SIDES,
    data=st.data(),
    cuts=st.lists(st.integers(0, 2**14), max_size=20),
)
def test_frame_like_bytes_never_break_the_protocol(side, data, cuts):
    soup = data.draw(frame_soup(side))
    protocol = Protocol(side, max_size=MAX_SIZE)
    check_survives(protocol, split(soup, cuts))


@settings(deadline=None, max_examples=200)
@given(
    side=SIDES,
    first_byte=st.sampled_from([0x81, 0x82, 0x01, 0x02, 0x89, 0x8A, 0x88]),
    length=st.one_of(st.integers(0, 2**64 - 1), st.sampled_from(ODD_LENGTHS)),
    length_size=st.sampled_from([0, 2, 8]),
    body_size=st.integers(0, 4 * MAX_SIZE),
    cuts=st.lists(st.integers(0, 2**13), max_size=10),
)
def test_any_announced_length_keeps_the_buffer_bounded(
    side, first_byte, length, length_size, body_size, cuts
):
    # The body is ASCII, so a text frame doesn't fail on UTF-8 first.
    minimal = 0 if length < 126 else 2 if length < 65536 else 8
    header = encode_frame(
        first_byte & 0x0F,
        b"",
        fin=bool(first_byte & 0x80),
        mask_key=b"\x01\x02\x03\x04" if side is Side.SERVER else None,
        length_size=max(length_size, minimal),
        length=length,
    )
    protocol = Protocol(side, max_size=MAX_SIZE)
    check_survives(protocol, split(header + b"a" * body_size, cuts))


@settings(deadline=None, max_examples=100)
@given(side=SIDES, data=st.data(), cuts=st.lists(st.integers(0, 2**14), max_size=20))
def test_valid_prefix_then_garbage_delivers_the_prefix(side, data, cuts):
    frames = data.draw(frame_sequences())
    frames = [frame for frame in frames if frame[0] != CLOSE]
    prefix = b"".join(frame_to(side, opcode, payload, fin=fin) for opcode, payload, fin in frames)
    garbage = data.draw(frame_soup(side))
    protocol = Protocol(side, max_size=None)
    events = []
    with watchdog(10):
        for chunk in split(prefix + garbage, cuts):
            protocol.receive_data(chunk)
            events.extend(protocol.events_received())
    expected = [Frame(Opcode(opcode), payload, fin) for opcode, payload, fin in frames]
    assert events[: len(expected)] == expected


def test_huge_frame_announcement_is_not_buffered():
    for side in (Side.CLIENT, Side.SERVER):
        protocol = Protocol(side, max_size=MAX_SIZE)
        header = frame_to(side, BINARY, b"", length=2**40)
        garbage = b"\x81" * 2**20
        check_survives(protocol, [header, *split(garbage, range(0, 2**20, 4096))])
        assert protocol.close_exc.sent.code == 1009


def test_frame_at_limit_is_buffered_up_to_its_size():
    for side in (Side.CLIENT, Side.SERVER):
        for opcode in (TEXT, BINARY):
            protocol = Protocol(side, max_size=MAX_SIZE)
            data = frame_to(side, opcode, b"z" * MAX_SIZE)
            buffered = []
            for index in range(0, len(data) - 1, 100):
                protocol.receive_data(data[index : index + 100])
                buffered.append(protocol.reader.buffered)
            assert max(buffered) <= MAX_SIZE + MAX_HEADER
            assert protocol.events_received() == [Frame(Opcode(opcode), b"z" * MAX_SIZE)]


def test_one_mebibyte_of_garbage_behind_a_valid_frame():
    for side in (Side.CLIENT, Side.SERVER):
        protocol = Protocol(side, max_size=MAX_SIZE)
        data = frame_to(side, BINARY, b"ok") + bytes(range(256)) * 4096
        check_survives(protocol, split(data, range(0, len(data), 4096)))


def test_many_tiny_frames_in_one_read():
    for side in (Side.CLIENT, Side.SERVER):
        protocol = Protocol(side)
        with watchdog(10):
            protocol.receive_data(frame_to(side, PONG) * 50_000)
        assert len(protocol.events_received()) == 50_000
