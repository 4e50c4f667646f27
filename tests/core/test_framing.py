"""Tests for the frame codec: FrameReader, serialize_frame and the rules of RFC 6455, 5."""

from __future__ import annotations

import os
import struct
import warnings
from typing import Optional, Tuple

import pytest
from conftest import (
    BINARY,
    CLOSE,
    CONT,
    EOF,
    MASK_KEY,
    PING,
    PONG,
    TEXT,
    WireFrame,
    close_payload,
    decode_frames,
    encode_frame,
    frame_to,
    outgoing,
    xor,
)

from wirespeed._core.framing import FrameReader, random_mask_key, serialize_frame
from wirespeed.exceptions import ProtocolError
from wirespeed.frames import Frame, Opcode
from wirespeed.sansio import Protocol, Side

SIDES = [Side.CLIENT, Side.SERVER]
LENGTHS = [0, 1, 125, 126, 127, 65535, 65536, 100_000]
RESERVED_OPCODES = [0x3, 0x4, 0x5, 0x6, 0x7, 0xB, 0xC, 0xD, 0xE, 0xF]

# Multi-byte characters of every length, between ASCII ones.
MIXED_TEXT = "aé€😀z".encode()


@pytest.fixture(params=SIDES, ids=["client", "server"])
def side(request):
    return request.param


def header_size(length: int) -> int:
    return 2 if length < 126 else 4 if length < 65536 else 10


def close_sent(protocol: Protocol) -> Optional[Tuple[int, str]]:
    """Code and reason of the close frame ``protocol`` sent, if any; drains its output."""
    for item in outgoing(protocol):
        if item != EOF and item.opcode == CLOSE:
            assert len(item.payload) >= 2
            return struct.unpack("!H", item.payload[:2])[0], item.payload[2:].decode()
    return None


def feed(protocol: Protocol, opcode: int, payload: bytes = b"", **kwargs) -> None:
    protocol.receive_data(frame_to(protocol.side, opcode, payload, **kwargs))


# serialize_frame.


@pytest.mark.parametrize("length", LENGTHS)
def test_serialize_unmasked_header_size(length):
    data = serialize_frame(Opcode.BINARY, b"\xaa" * length)
    assert len(data) == header_size(length) + length
    assert data[0] == 0x82
    assert data[1] & 0x80 == 0
    assert decode_frames(data, masked=False) == [WireFrame(BINARY, b"\xaa" * length)]


@pytest.mark.parametrize("length", LENGTHS)
def test_serialize_masked_header_size(length):
    data = serialize_frame(Opcode.BINARY, b"\xaa" * length, mask=True)
    assert len(data) == header_size(length) + 4 + length
    assert data[1] & 0x80
    assert decode_frames(data, masked=True) == [WireFrame(BINARY, b"\xaa" * length)]


@pytest.mark.parametrize(
    ("length", "second_and_extended"),
    [
        (0, b"\x00"),
        (125, b"\x7d"),
        (126, b"\x7e\x00\x7e"),
        (65535, b"\x7e\xff\xff"),
        (65536, b"\x7f\x00\x00\x00\x00\x00\x01\x00\x00"),
    ],
)
def test_serialize_length_encoding(length, second_and_extended):
    data = serialize_frame(Opcode.TEXT, b"a" * length)
    assert data[1 : 1 + len(second_and_extended)] == second_and_extended


@pytest.mark.parametrize(
    ("kwargs", "first_byte"),
    [
        ({}, 0x81),
        ({"fin": False}, 0x01),
        ({"rsv1": True}, 0xC1),
        ({"rsv2": True}, 0xA1),
        ({"rsv3": True}, 0x91),
        ({"fin": False, "rsv1": True, "rsv2": True, "rsv3": True}, 0x71),
    ],
)
def test_serialize_first_byte(kwargs, first_byte):
    assert serialize_frame(Opcode.TEXT, b"", **kwargs)[0] == first_byte


@pytest.mark.parametrize("opcode", list(Opcode))
def test_serialize_opcodes(opcode):
    assert serialize_frame(opcode, b"x")[0] & 0x0F == opcode


def test_serialize_masks_with_fresh_keys():
    payload = b"same payload"
    frames = [serialize_frame(Opcode.TEXT, payload, mask=True) for _ in range(50)]
    keys = {frame[2:6] for frame in frames}
    assert len(keys) > 45
    assert len(set(frames)) > 45
    for frame in frames:
        assert xor(frame[6:], frame[2:6]) == payload


def test_serialize_accepts_buffers():
    assert serialize_frame(Opcode.BINARY, memoryview(b"abc")) == b"\x82\x03abc"
    assert serialize_frame(Opcode.BINARY, bytearray(b"abc")) == b"\x82\x03abc"


@pytest.mark.parametrize("length", LENGTHS)
@pytest.mark.parametrize("masked", [True, False])
def test_serialize_then_read_round_trip(length, masked):
    payload = os.urandom(length)
    reader = FrameReader(expect_masked=masked)
    reader.feed(serialize_frame(Opcode.BINARY, payload, fin=False, mask=masked))
    assert reader.next_frame() == Frame(Opcode.BINARY, payload, fin=False)
    assert reader.next_frame() is None
    assert reader.buffered == 0


def test_random_mask_key():
    keys = [random_mask_key() for _ in range(3000)]  # crosses refills of the key pool
    assert all(isinstance(key, bytes) and len(key) == 4 for key in keys)
    assert len(set(keys)) > 2990


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_random_mask_key_not_shared_with_forked_child():
    random_mask_key()  # make sure the pool holds unused keys
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():
        # Python 3.12+ warns about forking a multi-threaded process (earlier
        # tests leave the asyncio face's keepalive thread running); the child
        # only takes a key and exits.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        try:
            os.write(write_end, random_mask_key())
        finally:
            os._exit(0)
    os.close(write_end)
    parent_key = random_mask_key()
    child_key = os.read(read_end, 4)
    os.close(read_end)
    os.waitpid(pid, 0)
    assert len(child_key) == 4
    assert child_key != parent_key


# Frame lengths, both directions.


@pytest.mark.parametrize("length", LENGTHS)
def test_receive_lengths(side, length):
    protocol = Protocol(side, max_size=None)
    payload = bytes(range(256)) * (length // 256) + bytes(range(length % 256))
    feed(protocol, BINARY, payload)
    assert protocol.events_received() == [Frame(Opcode.BINARY, payload)]
    assert protocol.data_to_send() == []


@pytest.mark.parametrize("length", LENGTHS)
def test_receive_lengths_in_small_reads(side, length):
    protocol = Protocol(side, max_size=None)
    payload = b"\x01" * length
    data = frame_to(side, TEXT, payload)
    for start in range(0, len(data), 1000):
        protocol.receive_data(data[start : start + 1000])
    assert protocol.events_received() == [Frame(Opcode.TEXT, payload)]


@pytest.mark.parametrize("length", LENGTHS)
def test_send_lengths(side, length):
    protocol = Protocol(side)
    protocol.send_binary(b"\x02" * length)
    (data,) = protocol.data_to_send()
    mask_size = 4 if side is Side.CLIENT else 0
    assert len(data) == header_size(length) + mask_size + length
    assert outgoing_of(data, side) == [WireFrame(BINARY, b"\x02" * length)]


def outgoing_of(data: bytes, side: Side):
    return decode_frames(data, masked=side is Side.CLIENT)


@pytest.mark.parametrize(
    ("length", "length_size"),
    [(0, 2), (5, 2), (125, 2), (0, 8), (5, 8), (125, 8), (126, 8), (65535, 8)],
)
def test_non_minimal_length_encoding_is_accepted(side, length, length_size):
    protocol = Protocol(side)
    feed(protocol, BINARY, b"y" * length, length_size=length_size)
    feed(protocol, TEXT, b"next")
    assert protocol.events_received() == [
        Frame(Opcode.BINARY, b"y" * length),
        Frame(Opcode.TEXT, b"next"),
    ]
    assert protocol.data_to_send() == []


@pytest.mark.parametrize("length_size", [2, 8])
def test_non_minimal_length_encoding_of_control_frame(side, length_size):
    protocol = Protocol(side)
    feed(protocol, PING, b"ping", length_size=length_size)
    assert protocol.events_received() == [Frame(Opcode.PING, b"ping")]
    assert outgoing(protocol) == [WireFrame(PONG, b"ping")]


@pytest.mark.parametrize("max_size", [None, 2**20])
@pytest.mark.parametrize("length", [2**63, 2**64 - 1])
def test_64_bit_length_with_most_significant_bit_set(side, max_size, length):
    protocol = Protocol(side, max_size=max_size)
    protocol.receive_data(frame_to(side, BINARY, b"", length_size=8, length=length))
    assert close_sent(protocol) == (1002, "invalid frame length: most significant bit set")


def test_64_bit_length_just_below_limit_waits(side):
    protocol = Protocol(side, max_size=None)
    protocol.receive_data(frame_to(side, BINARY, b"partial", length_size=8, length=2**63 - 1))
    assert protocol.events_received() == []
    assert protocol.data_to_send() == []


# Opcodes, reserved bits, masking.


@pytest.mark.parametrize("opcode", RESERVED_OPCODES)
def test_reserved_opcode(side, opcode):
    protocol = Protocol(side)
    feed(protocol, opcode, b"payload")
    assert close_sent(protocol) == (1002, f"invalid opcode: {opcode:#x}")
    assert protocol.events_received() == []


@pytest.mark.parametrize("opcode", RESERVED_OPCODES)
def test_reserved_opcode_detected_on_the_first_two_bytes(side, opcode):
    protocol = Protocol(side)
    protocol.receive_data(frame_to(side, opcode, b"x" * 200)[:2])
    assert close_sent(protocol)[0] == 1002


@pytest.mark.parametrize("opcode", [TEXT, BINARY, PING, PONG, CLOSE])
@pytest.mark.parametrize("rsv", ["rsv1", "rsv2", "rsv3"])
def test_reserved_bits_without_extension(side, opcode, rsv):
    protocol = Protocol(side)
    payload = close_payload(1000) if opcode == CLOSE else b"data"
    feed(protocol, opcode, payload, **{rsv: True})
    assert close_sent(protocol) == (1002, "reserved bits must be 0")
    assert protocol.events_received() == []


@pytest.mark.parametrize("rsv", ["rsv1", "rsv2", "rsv3"])
def test_reserved_bits_on_continuation(side, rsv):
    protocol = Protocol(side)
    feed(protocol, TEXT, b"a", fin=False)
    feed(protocol, CONT, b"b", **{rsv: True})
    assert close_sent(protocol)[0] == 1002
    assert protocol.events_received() == [Frame(Opcode.TEXT, b"a", fin=False)]


def test_server_rejects_unmasked_frame():
    server = Protocol(Side.SERVER)
    server.receive_data(encode_frame(TEXT, b"hello"))
    assert close_sent(server) == (1002, "incorrect masking")
    assert server.events_received() == []


def test_client_rejects_masked_frame():
    client = Protocol(Side.CLIENT)
    client.receive_data(encode_frame(TEXT, b"hello", mask_key=MASK_KEY))
    assert close_sent(client) == (1002, "incorrect masking")
    assert client.events_received() == []


@pytest.mark.parametrize("opcode", [PING, PONG, CLOSE])
def test_masking_checked_on_control_frames(opcode):
    server = Protocol(Side.SERVER)
    server.receive_data(encode_frame(opcode, b""))
    assert close_sent(server) == (1002, "incorrect masking")


@pytest.mark.parametrize(
    "key", [b"\x00\x00\x00\x00", b"\xff\xff\xff\xff", b"\x01\x02\x03\x04", MASK_KEY]
)
def test_server_unmasks_with_any_key(key):
    server = Protocol(Side.SERVER)
    server.receive_data(encode_frame(TEXT, b"masked text", mask_key=key))
    assert server.events_received() == [Frame(Opcode.TEXT, b"masked text")]


def test_server_unmasks_payload_split_at_every_offset():
    payload = bytes(range(37))
    data = encode_frame(BINARY, payload, mask_key=MASK_KEY)
    for cut in range(1, len(data)):
        server = Protocol(Side.SERVER)
        server.receive_data(data[:cut])
        server.receive_data(data[cut:])
        assert server.events_received() == [Frame(Opcode.BINARY, payload)], cut


# Control frames.


@pytest.mark.parametrize("opcode", [PING, PONG, CLOSE])
def test_control_frame_too_long(side, opcode):
    protocol = Protocol(side)
    payload = close_payload(1000, "x" * 124) if opcode == CLOSE else b"x" * 126
    feed(protocol, opcode, payload)
    assert close_sent(protocol) == (1002, "control frame too long")
    assert protocol.events_received() == []


@pytest.mark.parametrize("opcode", [PING, PONG])
def test_control_frame_of_125_bytes(side, opcode):
    protocol = Protocol(side)
    feed(protocol, opcode, b"x" * 125)
    assert protocol.events_received() == [Frame(Opcode(opcode), b"x" * 125)]


def test_control_frame_too_long_detected_on_header(side):
    protocol = Protocol(side)
    protocol.receive_data(frame_to(side, PING, b"", length=126, length_size=2))
    assert close_sent(protocol) == (1002, "control frame too long")


@pytest.mark.parametrize("opcode", [PING, PONG, CLOSE])
def test_fragmented_control_frame(side, opcode):
    protocol = Protocol(side)
    feed(protocol, opcode, close_payload(1000), fin=False)
    assert close_sent(protocol) == (1002, "fragmented control frame")
    assert protocol.events_received() == []


# Fragmentation.


def test_continuation_without_message(side):
    protocol = Protocol(side)
    feed(protocol, CONT, b"orphan")
    assert close_sent(protocol) == (1002, "unexpected continuation frame")


def test_continuation_after_message_ended(side):
    protocol = Protocol(side)
    feed(protocol, TEXT, b"a", fin=False)
    feed(protocol, CONT, b"b")
    feed(protocol, CONT, b"c")
    assert close_sent(protocol) == (1002, "unexpected continuation frame")
    assert len(protocol.events_received()) == 2


@pytest.mark.parametrize("first", [TEXT, BINARY])
@pytest.mark.parametrize("second", [TEXT, BINARY])
def test_new_data_frame_inside_fragmented_message(side, first, second):
    protocol = Protocol(side)
    feed(protocol, first, b"a", fin=False)
    feed(protocol, second, b"b")
    assert close_sent(protocol) == (1002, "expected a continuation frame")
    assert protocol.events_received() == [Frame(Opcode(first), b"a", fin=False)]


def test_control_frames_interleaved_in_fragmented_message(side):
    protocol = Protocol(side)
    feed(protocol, TEXT, b"frag", fin=False)
    feed(protocol, PING, b"1")
    # The pong is sent right away, in the middle of the message.
    assert outgoing(protocol) == [WireFrame(PONG, b"1")]
    feed(protocol, CONT, b"men", fin=False)
    feed(protocol, PONG, b"2")
    feed(protocol, CONT, b"ted")
    assert protocol.events_received() == [
        Frame(Opcode.TEXT, b"frag", fin=False),
        Frame(Opcode.PING, b"1"),
        Frame(Opcode.CONT, b"men", fin=False),
        Frame(Opcode.PONG, b"2"),
        Frame(Opcode.CONT, b"ted"),
    ]
    assert protocol.data_to_send() == []


def test_control_frames_interleaved_in_one_read(side):
    protocol = Protocol(side)
    protocol.receive_data(
        frame_to(side, BINARY, b"a", fin=False)
        + frame_to(side, PING, b"p")
        + frame_to(side, CONT, b"b")
        + frame_to(side, TEXT, b"next")
    )
    assert [frame.opcode for frame in protocol.events_received()] == [
        Opcode.BINARY,
        Opcode.PING,
        Opcode.CONT,
        Opcode.TEXT,
    ]
    assert outgoing(protocol) == [WireFrame(PONG, b"p")]


def test_close_frame_interleaved_in_fragmented_message(side):
    protocol = Protocol(side)
    feed(protocol, TEXT, b"unfinished", fin=False)
    feed(protocol, CLOSE, close_payload(1001, "bye"))
    assert protocol.events_received() == [
        Frame(Opcode.TEXT, b"unfinished", fin=False),
        Frame(Opcode.CLOSE, close_payload(1001, "bye")),
    ]
    assert close_sent(protocol) == (1001, "bye")


# UTF-8 validation of text messages.


def test_text_split_inside_characters_across_frames(side):
    for cut in range(len(MIXED_TEXT) + 1):
        protocol = Protocol(side)
        feed(protocol, TEXT, MIXED_TEXT[:cut], fin=False)
        feed(protocol, CONT, MIXED_TEXT[cut:])
        assert protocol.events_received() == [
            Frame(Opcode.TEXT, MIXED_TEXT[:cut], fin=False),
            Frame(Opcode.CONT, MIXED_TEXT[cut:]),
        ], cut
        assert protocol.data_to_send() == [], cut


def test_text_split_in_three_frames_at_every_pair_of_points(side):
    for first in range(len(MIXED_TEXT) + 1):
        for second in range(first, len(MIXED_TEXT) + 1):
            protocol = Protocol(side)
            feed(protocol, TEXT, MIXED_TEXT[:first], fin=False)
            feed(protocol, PING, b"")  # control frames don't disturb validation
            feed(protocol, CONT, MIXED_TEXT[first:second], fin=False)
            feed(protocol, CONT, MIXED_TEXT[second:])
            assert len(protocol.events_received()) == 4, (first, second)
            assert outgoing(protocol) == [WireFrame(PONG, b"")], (first, second)


def test_text_split_across_frames_and_reads(side):
    # Every frame boundary combined with every read boundary.
    for cut in range(len(MIXED_TEXT) + 1):
        data = frame_to(side, TEXT, MIXED_TEXT[:cut], fin=False) + frame_to(
            side, CONT, MIXED_TEXT[cut:]
        )
        for read in range(1, len(data)):
            protocol = Protocol(side)
            protocol.receive_data(data[:read])
            protocol.receive_data(data[read:])
            events = protocol.events_received()
            assert b"".join(frame.data for frame in events) == MIXED_TEXT, (cut, read)
            assert protocol.data_to_send() == [], (cut, read)


def test_text_fed_byte_by_byte(side):
    payload = MIXED_TEXT * 20
    protocol = Protocol(side)
    for byte in frame_to(side, TEXT, payload):
        protocol.receive_data(bytes([byte]))
        assert protocol.data_to_send() == []
    assert protocol.events_received() == [Frame(Opcode.TEXT, payload)]


def test_binary_message_is_not_validated(side):
    protocol = Protocol(side)
    feed(protocol, BINARY, b"\xff\xfe\xc0\x80", fin=False)
    feed(protocol, CONT, b"\xed\xa0\x80")
    assert len(protocol.events_received()) == 2
    assert protocol.data_to_send() == []


# (bytes, index of the first byte that can't be valid UTF-8 whatever follows)
INVALID_SEQUENCES = [
    (b"\xff", 0),
    (b"\xfe", 0),
    (b"\x80", 0),  # lone continuation byte
    (b"\xbf", 0),
    (b"\xc0\xaf", 0),  # C0 and C1 only start overlong forms
    (b"\xc1\xbf", 0),
    (b"\xf5\x80\x80\x80", 0),  # beyond U+10FFFF
    (b"\xc3\x28", 1),  # missing continuation byte
    (b"\xe0\x80\xaf", 1),  # overlong three-byte form
    (b"\xe0\x9f\xbf", 1),
    (b"\xed\xa0\x80", 1),  # UTF-16 surrogate
    (b"\xed\xbf\xbf", 1),
    (b"\xf0\x8f\xbf\xbf", 1),  # overlong four-byte form
    (b"\xf4\x90\x80\x80", 1),  # beyond U+10FFFF
    (b"\xe2\x82\x28", 2),
    (b"\xf0\x9f\x98\x41", 3),
]


@pytest.mark.parametrize(("sequence", "bad_index"), INVALID_SEQUENCES)
def test_invalid_utf8_in_text_frame(side, sequence, bad_index):
    protocol = Protocol(side)
    feed(protocol, TEXT, b"valid " + sequence + b" valid")
    code, _ = close_sent(protocol)
    assert code == 1007
    assert protocol.events_received() == []


@pytest.mark.parametrize(("sequence", "bad_index"), INVALID_SEQUENCES)
def test_invalid_utf8_detected_as_soon_as_the_byte_arrives(side, sequence, bad_index):
    # A large text frame, fed byte by byte: the connection fails right after
    # the byte that makes the text invalid, long before the end of the frame.
    prefix = "ünïcödé ".encode() * 125
    payload = prefix + sequence + b"x" * 10_000
    data = frame_to(side, TEXT, payload)
    fail_at = len(data) - len(payload) + len(prefix) + bad_index
    protocol = Protocol(side, max_size=None)
    failed_at, output = None, []
    for index in range(len(data)):
        protocol.receive_data(data[index : index + 1])
        output = protocol.data_to_send()
        if output:
            failed_at = index
            break
    assert failed_at == fail_at
    assert decode_frames(output[0], masked=side is Side.CLIENT)[0].payload[:2] == b"\x03\xef"
    assert protocol.events_received() == []
    assert protocol.reader.buffered == 0


@pytest.mark.parametrize(("sequence", "bad_index"), INVALID_SEQUENCES)
def test_invalid_utf8_in_continuation_detected_early(side, sequence, bad_index):
    protocol = Protocol(side, max_size=None)
    feed(protocol, TEXT, b"start ", fin=False)
    payload = b"more " + sequence + b"y" * 5000
    data = frame_to(side, CONT, payload)
    fail_at = len(data) - len(payload) + 5 + bad_index
    protocol.receive_data(data[:fail_at])
    assert protocol.data_to_send() == []
    protocol.receive_data(data[fail_at : fail_at + 1])
    assert close_sent(protocol)[0] == 1007


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (b"\xed", b"\xa0\x80"),  # surrogate split after its first byte
        (b"\xe0", b"\x80\x80"),  # overlong split after its first byte
        (b"\xf0\x9f", b"\x41"),  # four-byte sequence interrupted
        (b"\xc3", b"\xc3\xa9"),  # lead byte not followed by continuation
    ],
)
def test_invalid_utf8_split_across_frames(side, first, second):
    protocol = Protocol(side)
    feed(protocol, TEXT, b"a" + first, fin=False)
    assert protocol.data_to_send() == []
    feed(protocol, CONT, second + b"b")
    assert close_sent(protocol)[0] == 1007
    assert protocol.events_received() == [Frame(Opcode.TEXT, b"a" + first, fin=False)]


@pytest.mark.parametrize("tail", [b"\xc3", b"\xe2\x82", b"\xf0\x9f\x98", b"\xf0"])
def test_incomplete_sequence_at_end_of_message(side, tail):
    protocol = Protocol(side)
    feed(protocol, TEXT, b"text " + tail)
    assert close_sent(protocol)[0] == 1007
    assert protocol.events_received() == []


def test_incomplete_sequence_at_end_of_fragmented_message(side):
    protocol = Protocol(side)
    feed(protocol, TEXT, b"\xf0\x9f", fin=False)
    feed(protocol, CONT, b"\x98", fin=False)
    assert protocol.data_to_send() == []
    feed(protocol, CONT, b"")
    assert close_sent(protocol)[0] == 1007


def test_incomplete_sequence_at_end_of_frame_is_fine_mid_message(side):
    protocol = Protocol(side)
    feed(protocol, TEXT, b"\xf0\x9f", fin=False)
    feed(protocol, CONT, b"\x98\x80")
    assert protocol.data_to_send() == []
    assert b"".join(frame.data for frame in protocol.events_received()).decode() == "😀"


def test_validation_restarts_with_each_message(side):
    # An invalid sequence can't be "completed" by the next message either.
    protocol = Protocol(side)
    feed(protocol, TEXT, b"ok")
    feed(protocol, BINARY, b"\xe2\x82")
    feed(protocol, TEXT, b"\xac")
    assert close_sent(protocol)[0] == 1007


def test_ping_between_text_fragments_does_not_reset_validation(side):
    protocol = Protocol(side)
    feed(protocol, TEXT, "€".encode()[:2], fin=False)
    feed(protocol, PING, b"\xff")
    feed(protocol, CONT, "€".encode()[2:])
    assert [item.opcode for item in outgoing(protocol)] == [PONG]


# Close frames.

ACCEPTED_CLOSE_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014]
ACCEPTED_CLOSE_CODES += [3000, 3999, 4000, 4999]
REJECTED_CLOSE_CODES = [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535]


@pytest.mark.parametrize("code", ACCEPTED_CLOSE_CODES)
def test_close_code_accepted(side, code):
    protocol = Protocol(side)
    feed(protocol, CLOSE, close_payload(code, "reason"))
    assert protocol.events_received() == [Frame(Opcode.CLOSE, close_payload(code, "reason"))]
    assert close_sent(protocol) == (code, "reason")  # the echo


@pytest.mark.parametrize("code", REJECTED_CLOSE_CODES)
def test_close_code_rejected(side, code):
    protocol = Protocol(side)
    feed(protocol, CLOSE, close_payload(code, "reason"))
    assert close_sent(protocol) == (1002, "invalid status code")
    assert protocol.events_received() == []
    protocol.receive_eof()
    assert protocol.close_exc.rcvd is None


def test_close_payload_of_one_byte(side):
    protocol = Protocol(side)
    feed(protocol, CLOSE, b"\x03")
    assert close_sent(protocol) == (1002, "close frame too short")


@pytest.mark.parametrize("reason", [b"\xff", b"caf\xe9", b"\xed\xa0\x80", b"ok\xe2\x82"])
def test_close_reason_invalid_utf8(side, reason):
    protocol = Protocol(side)
    feed(protocol, CLOSE, close_payload(1000, reason))
    assert close_sent(protocol)[0] == 1007
    assert protocol.events_received() == []


def test_close_reason_valid_utf8(side):
    protocol = Protocol(side)
    feed(protocol, CLOSE, close_payload(1000, "à bientôt 👋"))
    assert close_sent(protocol) == (1000, "à bientôt 👋")
    protocol.receive_eof()
    assert protocol.close_reason == "à bientôt 👋"


def test_empty_close_payload(side):
    protocol = Protocol(side)
    feed(protocol, CLOSE, b"")
    output = outgoing(protocol)
    assert output[0] == WireFrame(CLOSE, b"")
    protocol.receive_eof()
    assert protocol.close_code == 1005
    assert protocol.close_reason == ""


# Bad input loses nothing that came before it.


@pytest.mark.parametrize(
    ("bad_frame", "code"),
    [
        (lambda side: frame_to(side, 0x3, b""), 1002),
        (lambda side: frame_to(side, CONT, b"x"), 1002),
        (lambda side: frame_to(side, TEXT, b"\xff"), 1007),
        (lambda side: frame_to(side, CLOSE, b"\x03"), 1002),
        (lambda side: frame_to(side, BINARY, b"x", rsv2=True), 1002),
        (lambda side: frame_to(side, PING, b"x" * 126), 1002),
    ],
)
def test_messages_before_bad_frame_are_delivered(side, bad_frame, code):
    protocol = Protocol(side)
    protocol.receive_data(
        frame_to(side, TEXT, b"one")
        + frame_to(side, BINARY, b"two", fin=False)
        + frame_to(side, PING, b"ping")
        + frame_to(side, CONT, b"three")
        + bad_frame(side)
        + frame_to(side, TEXT, b"never delivered")
    )
    assert protocol.events_received() == [
        Frame(Opcode.TEXT, b"one"),
        Frame(Opcode.BINARY, b"two", fin=False),
        Frame(Opcode.PING, b"ping"),
        Frame(Opcode.CONT, b"three"),
    ]
    output = outgoing(protocol)
    # The pong answering the ping comes before the close frame.
    assert output[0] == WireFrame(PONG, b"ping")
    assert output[1].opcode == CLOSE
    assert struct.unpack("!H", output[1].payload[:2])[0] == code
    assert output[2:] == ([EOF] if side is Side.SERVER else [])


# FrameReader directly.


def test_frame_reader_waits_for_complete_frames():
    reader = FrameReader(expect_masked=False)
    data = encode_frame(BINARY, b"abcdef")
    reader.feed(data[:1])
    assert reader.next_frame() is None
    reader.feed(data[1:5])
    assert reader.next_frame() is None
    assert reader.buffered == 3  # 3 payload bytes
    reader.feed(data[5:])
    assert reader.next_frame() == Frame(Opcode.BINARY, b"abcdef")
    assert reader.next_frame() is None
    assert reader.buffered == 0


def test_frame_reader_reports_message_state():
    reader = FrameReader(expect_masked=True)
    reader.feed(encode_frame(TEXT, b"a", fin=False, mask_key=MASK_KEY))
    assert reader.next_frame() == Frame(Opcode.TEXT, b"a", fin=False)
    assert reader.in_message
    assert reader.message_is_text
    reader.feed(encode_frame(CONT, b"b", mask_key=MASK_KEY))
    assert reader.next_frame() == Frame(Opcode.CONT, b"b")
    assert not reader.in_message


def test_frame_reader_raises_protocol_error():
    reader = FrameReader(expect_masked=False)
    reader.feed(encode_frame(CONT, b"x"))
    with pytest.raises(ProtocolError):
        reader.next_frame()


def test_frame_reader_allows_rsv_bits_claimed_by_an_extension():
    reader = FrameReader(expect_masked=False)
    reader.allow_rsv_bits(True)
    reader.feed(encode_frame(BINARY, b"x", rsv1=True))
    assert reader.next_frame() == Frame(Opcode.BINARY, b"x", rsv1=True)
    reader.feed(encode_frame(BINARY, b"x", rsv2=True))
    with pytest.raises(ProtocolError):
        reader.next_frame()


def test_frame_reader_discard():
    reader = FrameReader(expect_masked=False)
    reader.feed(encode_frame(BINARY, b"abcdef")[:4])
    reader.discard()
    assert reader.buffered == 0
