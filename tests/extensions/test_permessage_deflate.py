"""Tests for permessage-deflate (RFC 7692): negotiation and the codec.

The negotiation tables check both factories against RFC 7692, section 7.1;
the codec tests drive :class:`PerMessageDeflate` directly, frame by frame, with
RFC 7692's own examples where there are some. Tests through the Sans-I/O
protocols are in ``test_permessage_deflate_protocol.py``.
"""

from __future__ import annotations

import os
import tracemalloc
import zlib

import pytest

from wirespeed.exceptions import (
    DuplicateParameter,
    InvalidParameterName,
    InvalidParameterValue,
    NegotiationError,
    PayloadTooBig,
    ProtocolError,
)
from wirespeed.extensions.permessage_deflate import (
    DEFAULT_ZLIB,
    ClientPerMessageDeflateFactory,
    DecompressionError,
    PerMessageDeflate,
    ServerPerMessageDeflateFactory,
    enable_client_permessage_deflate,
    enable_server_permessage_deflate,
)
from wirespeed.frames import CloseCode, Frame, Opcode
from wirespeed.handshake import build_extension, parse_extension

try:
    from zlib_ng import zlib_ng
except ImportError:  # pragma: no cover - optional dependency
    zlib_ng = None

#: Every zlib module available here: the codec must behave the same on each.
BACKENDS = [pytest.param(zlib, id="zlib")]
if zlib_ng is not None:  # pragma: no branch
    BACKENDS.append(pytest.param(zlib_ng, id="zlib_ng"))

TEXT, BINARY, CONT, PING = Opcode.TEXT, Opcode.BINARY, Opcode.CONT, Opcode.PING

#: Compressible text, a few KiB, that doesn't repeat within 256 bytes only.
JSON_TEXT = b"".join(
    b'{"id": %d, "user": "user%d", "event": "%s", "price": %d.%02d}, '
    % (i, i * 7 % 311, [b"click", b"view", b"buy"][i % 3], i * 13 % 997, i % 100)
    for i in range(100)
)


def offer(text: str) -> list:
    """Parameters of a single ``permessage-deflate`` element, from header text."""
    header = "permessage-deflate" + (f"; {text}" if text else "")
    [(name, params)] = parse_extension(header)
    assert name == "permessage-deflate"
    return params


def params_text(params: list) -> str:
    """Header text of parameters, without the extension name."""
    return build_extension([("permessage-deflate", params)])[len("permessage-deflate; ") :]


def negotiated(extension: PerMessageDeflate) -> tuple:
    return (
        extension.remote_no_context_takeover,
        extension.local_no_context_takeover,
        extension.remote_max_window_bits,
        extension.local_max_window_bits,
    )


# Server-side negotiation: (factory settings, offer, response, negotiated),
# negotiated as (remote_no_context_takeover, local_no_context_takeover,
# remote_max_window_bits, local_max_window_bits) seen from the server.

CAP_12 = {"server_max_window_bits": 12, "client_max_window_bits": 12}
NO_TAKEOVER = {"server_no_context_takeover": True, "client_no_context_takeover": True}

SERVER_ACCEPTS = [
    ({}, "", "", (False, False, 15, 15)),
    ({}, "server_no_context_takeover", "server_no_context_takeover", (False, True, 15, 15)),
    ({}, "client_no_context_takeover", "client_no_context_takeover", (True, False, 15, 15)),
    (
        {},
        "server_no_context_takeover; client_no_context_takeover",
        "server_no_context_takeover; client_no_context_takeover",
        (True, True, 15, 15),
    ),
    ({}, "server_max_window_bits=10", "server_max_window_bits=10", (False, False, 15, 10)),
    ({}, "server_max_window_bits=8", "server_max_window_bits=8", (False, False, 15, 8)),
    ({}, 'server_max_window_bits="9"', "server_max_window_bits=9", (False, False, 15, 9)),
    ({}, "client_max_window_bits", "", (False, False, 15, 15)),
    ({}, "client_max_window_bits=10", "client_max_window_bits=10", (False, False, 10, 15)),
    ({}, "client_max_window_bits=8", "client_max_window_bits=8", (False, False, 8, 15)),
    (
        {},
        "server_no_context_takeover; client_no_context_takeover; "
        "server_max_window_bits=9; client_max_window_bits=11",
        "server_no_context_takeover; client_no_context_takeover; "
        "server_max_window_bits=9; client_max_window_bits=11",
        (True, True, 11, 9),
    ),
    # A server's caps apply to what the client lets it choose.
    (CAP_12, "", "server_max_window_bits=12", (False, False, 15, 12)),
    (
        CAP_12,
        "client_max_window_bits",
        "server_max_window_bits=12; client_max_window_bits=12",
        (False, False, 12, 12),
    ),
    (
        CAP_12,
        "server_max_window_bits=10; client_max_window_bits=14",
        "server_max_window_bits=10; client_max_window_bits=12",
        (False, False, 12, 10),
    ),
    (
        CAP_12,
        "server_max_window_bits=14; client_max_window_bits=9",
        "server_max_window_bits=12; client_max_window_bits=9",
        (False, False, 9, 12),
    ),
    (
        NO_TAKEOVER,
        "",
        "server_no_context_takeover; client_no_context_takeover",
        (True, True, 15, 15),
    ),
    (
        {"require_client_max_window_bits": True, "client_max_window_bits": 10},
        "client_max_window_bits",
        "client_max_window_bits=10",
        (False, False, 10, 15),
    ),
]

SERVER_DECLINES = [
    ({}, "foo", InvalidParameterName),
    ({}, "server_no_context_takeover=1", InvalidParameterValue),
    ({}, "client_no_context_takeover=x", InvalidParameterValue),
    ({}, "server_max_window_bits", InvalidParameterValue),
    ({}, "server_max_window_bits=7", InvalidParameterValue),
    ({}, "server_max_window_bits=16", InvalidParameterValue),
    ({}, "server_max_window_bits=08", InvalidParameterValue),
    ({}, "server_max_window_bits=ten", InvalidParameterValue),
    ({}, "client_max_window_bits=7", InvalidParameterValue),
    ({}, "client_max_window_bits=16", InvalidParameterValue),
    ({}, "server_no_context_takeover; server_no_context_takeover", DuplicateParameter),
    ({}, "client_no_context_takeover; client_no_context_takeover", DuplicateParameter),
    ({}, "server_max_window_bits=9; server_max_window_bits=9", DuplicateParameter),
    ({}, "client_max_window_bits; client_max_window_bits=10", DuplicateParameter),
    ({"require_client_max_window_bits": True}, "", NegotiationError),
]


@pytest.mark.parametrize(("settings", "offered", "response", "expected"), SERVER_ACCEPTS)
def test_server_accepts(settings, offered, response, expected):
    factory = ServerPerMessageDeflateFactory(**settings)
    params, extension = factory.process_request_params(offer(offered), [])
    assert params_text(params) == response
    assert negotiated(extension) == expected


@pytest.mark.parametrize(("settings", "offered", "error"), SERVER_DECLINES)
def test_server_declines(settings, offered, error):
    factory = ServerPerMessageDeflateFactory(**settings)
    with pytest.raises(error):
        factory.process_request_params(offer(offered), [])


def test_server_declines_second_permessage_deflate():
    factory = ServerPerMessageDeflateFactory()
    _, extension = factory.process_request_params([], [])
    with pytest.raises(NegotiationError, match="already negotiated"):
        factory.process_request_params([], [extension])


@pytest.mark.parametrize(("settings", "offered", "response", "expected"), SERVER_ACCEPTS)
def test_client_accepts_what_the_server_answers(settings, offered, response, expected):
    """Every answer of the server table is accepted by a client that made the offer."""
    values: dict = {"client_max_window_bits": None}
    for name, value in offer(offered):
        if name.endswith("no_context_takeover") or value is None:
            values[name] = True
        else:
            values[name] = int(value)
    client = ClientPerMessageDeflateFactory(**values)
    extension = client.process_response_params(offer(response), [])
    remote_nct, local_nct, remote_bits, local_bits = expected
    assert negotiated(extension) == (local_nct, remote_nct, local_bits, remote_bits)


# Client-side negotiation: (factory settings, response, negotiated), seen from
# the client, or an exception.

CLIENT_ACCEPTS = [
    ({}, "", (False, False, 15, 15)),
    ({}, "server_no_context_takeover", (True, False, 15, 15)),
    ({}, "client_no_context_takeover", (False, True, 15, 15)),
    ({}, "server_max_window_bits=10", (False, False, 10, 15)),
    ({}, "server_max_window_bits=8", (False, False, 8, 15)),
    ({}, "client_max_window_bits=10", (False, False, 15, 10)),
    ({}, "client_max_window_bits=8", (False, False, 15, 8)),
    ({"client_max_window_bits": 10}, "", (False, False, 15, 10)),
    ({"client_max_window_bits": 10}, "client_max_window_bits=9", (False, False, 15, 9)),
    ({"client_max_window_bits": 10}, "client_max_window_bits=10", (False, False, 15, 10)),
    ({"client_max_window_bits": None}, "", (False, False, 15, 15)),
    ({"server_max_window_bits": 10}, "server_max_window_bits=10", (False, False, 10, 15)),
    ({"server_max_window_bits": 10}, "server_max_window_bits=8", (False, False, 8, 15)),
    ({"server_no_context_takeover": True}, "server_no_context_takeover", (True, False, 15, 15)),
    ({"client_no_context_takeover": True}, "", (False, True, 15, 15)),
    (
        {"client_no_context_takeover": True},
        "client_no_context_takeover",
        (False, True, 15, 15),
    ),
    (
        {},
        "server_no_context_takeover; client_no_context_takeover; "
        "server_max_window_bits=9; client_max_window_bits=12",
        (True, True, 9, 12),
    ),
]

CLIENT_FAILS = [
    ({}, "foo", InvalidParameterName, "invalid parameter name: foo"),
    ({}, "client_max_window_bits", InvalidParameterValue, "missing value"),
    ({}, "server_max_window_bits", InvalidParameterValue, "missing value"),
    ({}, "server_max_window_bits=7", InvalidParameterValue, "invalid value"),
    ({}, "client_max_window_bits=16", InvalidParameterValue, "invalid value"),
    ({}, "server_no_context_takeover=yes", InvalidParameterValue, "invalid value"),
    ({}, "server_max_window_bits=9; server_max_window_bits=9", DuplicateParameter, "duplicate"),
    ({"client_max_window_bits": None}, "client_max_window_bits=10", NegotiationError, "offered"),
    ({"client_max_window_bits": 10}, "client_max_window_bits=11", NegotiationError, "larger"),
    ({"server_max_window_bits": 10}, "", NegotiationError, "server_max_window_bits"),
    ({"server_max_window_bits": 10}, "server_max_window_bits=11", NegotiationError, "larger"),
    ({"server_no_context_takeover": True}, "", NegotiationError, "server_no_context_takeover"),
]


@pytest.mark.parametrize(("settings", "response", "expected"), CLIENT_ACCEPTS)
def test_client_accepts(settings, response, expected):
    factory = ClientPerMessageDeflateFactory(**settings)
    extension = factory.process_response_params(offer(response), [])
    assert negotiated(extension) == expected


@pytest.mark.parametrize(("settings", "response", "error", "message"), CLIENT_FAILS)
def test_client_fails(settings, response, error, message):
    factory = ClientPerMessageDeflateFactory(**settings)
    with pytest.raises(error, match=message):
        factory.process_response_params(offer(response), [])


def test_client_fails_on_second_permessage_deflate():
    factory = ClientPerMessageDeflateFactory()
    extension = factory.process_response_params([], [])
    with pytest.raises(NegotiationError, match="already negotiated"):
        factory.process_response_params([], [extension])


@pytest.mark.parametrize(
    ("settings", "request_text"),
    [
        ({}, "client_max_window_bits"),
        ({"client_max_window_bits": None}, ""),
        ({"client_max_window_bits": False}, ""),
        ({"client_max_window_bits": 10}, "client_max_window_bits=10"),
        (
            {
                "server_no_context_takeover": True,
                "client_no_context_takeover": True,
                "server_max_window_bits": 9,
                "client_max_window_bits": 8,
            },
            "server_no_context_takeover; client_no_context_takeover; "
            "server_max_window_bits=9; client_max_window_bits=8",
        ),
    ],
)
def test_client_offer(settings, request_text):
    factory = ClientPerMessageDeflateFactory(**settings)
    assert params_text(factory.get_request_params()) == request_text


@pytest.mark.parametrize(
    "factory_type", [ClientPerMessageDeflateFactory, ServerPerMessageDeflateFactory]
)
@pytest.mark.parametrize(
    "settings",
    [
        {"server_max_window_bits": 7},
        {"server_max_window_bits": 16},
        {"client_max_window_bits": 16},
        {"client_max_window_bits": "10"},
        {"level": 10},
        {"mem_level": 0},
        {"threshold": -1},
    ],
)
def test_factory_settings_are_checked(factory_type, settings):
    with pytest.raises(ValueError):
        factory_type(**settings)


def test_extension_settings_are_checked():
    with pytest.raises(ValueError):
        PerMessageDeflate(remote_max_window_bits=16)
    with pytest.raises(ValueError):
        PerMessageDeflate(local_max_window_bits=True)  # type: ignore[arg-type]


def test_enable_helpers_add_a_factory_once():
    client = enable_client_permessage_deflate(None)
    assert [type(factory) for factory in client] == [ClientPerMessageDeflateFactory]
    assert params_text(client[0].get_request_params()) == "client_max_window_bits"
    assert enable_client_permessage_deflate(client) == client
    custom = ClientPerMessageDeflateFactory(client_max_window_bits=9)
    assert enable_client_permessage_deflate([custom]) == [custom]

    server = enable_server_permessage_deflate([])
    assert [type(factory) for factory in server] == [ServerPerMessageDeflateFactory]
    params, _ = server[0].process_request_params(offer("client_max_window_bits"), [])
    assert params_text(params) == "server_max_window_bits=12; client_max_window_bits=12"
    assert enable_server_permessage_deflate(server) == server


def test_reprs_show_the_settings():
    assert "client_max_window_bits=True" in repr(ClientPerMessageDeflateFactory())
    assert "require_client_max_window_bits=False" in repr(ServerPerMessageDeflateFactory())
    assert "local_max_window_bits=15" in repr(PerMessageDeflate())


# The codec.


def pair(backend=zlib, **settings) -> tuple:
    """A sender and a receiver for one direction of a connection."""
    sender = PerMessageDeflate(zlib_module=backend, **settings)
    receiver = PerMessageDeflate(
        remote_no_context_takeover=settings.get("local_no_context_takeover", False),
        remote_max_window_bits=settings.get("local_max_window_bits", 15),
        zlib_module=backend,
        **{
            key: value
            for key, value in settings.items()
            if key not in ("local_no_context_takeover", "local_max_window_bits")
        },
    )
    return sender, receiver


def transfer(sender, receiver, frames, **kwargs) -> list:
    """Encode frames, check the wire rules, decode them; return the wire frames."""
    wire = []
    for frame in frames:
        encoded = sender.encode(frame, **kwargs)
        wire.append(encoded)
        decoded = receiver.decode(encoded)
        assert decoded == frame
    return wire


# RFC 7692, section 7.2.3: "Hello" in one compressed frame, twice with context
# takeover, in a stored block, with BFINAL set, and in two fragments.
HELLO = bytes.fromhex("f248cdc9c90700")
HELLO_AGAIN = bytes.fromhex("f200110000")
HELLO_STORED = bytes.fromhex("000500faff48656c6c6f00")
HELLO_BFINAL = bytes.fromhex("f348cdc9c9070000")


def test_rfc7692_examples_decode():
    receiver = PerMessageDeflate(zlib_module=zlib)
    assert receiver.decode(Frame(TEXT, HELLO, rsv1=True)) == Frame(TEXT, b"Hello")
    assert receiver.decode(Frame(TEXT, HELLO_AGAIN, rsv1=True)) == Frame(TEXT, b"Hello")
    assert receiver.decode(Frame(TEXT, HELLO_STORED, rsv1=True)) == Frame(TEXT, b"Hello")
    assert receiver.decode(Frame(TEXT, HELLO_BFINAL, rsv1=True)) == Frame(TEXT, b"Hello")
    # After a final block, the next message starts a new stream.
    assert receiver.decode(Frame(TEXT, HELLO, rsv1=True)) == Frame(TEXT, b"Hello")
    first = receiver.decode(Frame(TEXT, HELLO[:3], fin=False, rsv1=True))
    last = receiver.decode(Frame(CONT, HELLO[3:]))
    assert first.data + last.data == b"Hello"
    assert not first.rsv1 and not last.rsv1


def test_rfc7692_examples_encode():
    sender = PerMessageDeflate(threshold=0, zlib_module=zlib)
    assert sender.encode(Frame(TEXT, b"Hello")) == Frame(TEXT, HELLO, rsv1=True)
    assert sender.encode(Frame(TEXT, b"Hello")) == Frame(TEXT, HELLO_AGAIN, rsv1=True)


@pytest.mark.parametrize("backend", BACKENDS)
def test_tail_is_removed_and_restored(backend):
    sender, receiver = pair(backend, threshold=0)
    encoded = sender.encode(Frame(BINARY, JSON_TEXT))
    reference = zlib.compressobj(6, zlib.DEFLATED, -15)
    flushed = reference.compress(JSON_TEXT) + reference.flush(zlib.Z_SYNC_FLUSH)
    assert flushed.endswith(b"\x00\x00\xff\xff")
    assert not encoded.data.endswith(b"\x00\x00\xff\xff")
    assert zlib.decompressobj(-15).decompress(encoded.data + b"\x00\x00\xff\xff") == JSON_TEXT
    assert receiver.decode(encoded) == Frame(BINARY, JSON_TEXT)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("opcode", [TEXT, BINARY])
def test_round_trip(backend, opcode):
    sender, receiver = pair(backend)
    messages = [JSON_TEXT, b"", b"x" * 100, os.urandom(300), JSON_TEXT[:500]]
    wire = transfer(sender, receiver, [Frame(opcode, message) for message in messages])
    assert [frame.rsv1 for frame in wire] == [True, False, True, True, True]


@pytest.mark.parametrize("backend", BACKENDS)
def test_fragmented_message(backend):
    sender, receiver = pair(backend)
    pieces = [JSON_TEXT[:1000], JSON_TEXT[1000:1001], b"", JSON_TEXT[1001:]]
    frames = [Frame(TEXT, pieces[0], fin=False)]
    frames += [Frame(CONT, piece, fin=False) for piece in pieces[1:-1]]
    frames.append(Frame(CONT, pieces[-1]))
    wire = transfer(sender, receiver, frames)
    # RSV1 on the first frame only; one DEFLATE stream over all frames.
    assert [frame.rsv1 for frame in wire] == [True, False, False, False]
    stream = b"".join(frame.data for frame in wire) + b"\x00\x00\xff\xff"
    assert zlib.decompressobj(-15).decompress(stream) == JSON_TEXT
    # The next message still decodes (context takeover across a fragmented one).
    transfer(sender, receiver, [Frame(BINARY, JSON_TEXT)])


def test_fragmented_message_interleaved_with_control_frames():
    sender, receiver = pair()
    frames = [
        Frame(TEXT, JSON_TEXT[:100], fin=False),
        Frame(PING, b"ping"),
        Frame(CONT, JSON_TEXT[100:]),
    ]
    wire = transfer(sender, receiver, frames)
    assert wire[1] == Frame(PING, b"ping")


def test_control_frames_are_never_compressed():
    sender, receiver = pair(threshold=0)
    for opcode in (Opcode.PING, Opcode.PONG, Opcode.CLOSE):
        frame = Frame(opcode, b"\x03\xe8" + b"a" * 100)
        assert sender.encode(frame) is frame
        assert receiver.decode(frame) is frame
    assert sender.compressor is None


def test_uncompressed_messages_pass_through():
    _, receiver = pair()
    for frame in (Frame(TEXT, b"plain", fin=False), Frame(CONT, b" text")):
        assert receiver.decode(frame) is frame
    assert receiver.decompressor is None


@pytest.mark.parametrize(
    ("data", "compressed"),
    [
        pytest.param(os.urandom(1023), True, id="random-too-short-to-sample"),
        pytest.param(os.urandom(1024), False, id="random-1KiB"),
        pytest.param(os.urandom(100_000), False, id="random-100KB"),
        pytest.param(zlib.compress(JSON_TEXT * 20, 9), False, id="already-compressed"),
        pytest.param(JSON_TEXT, True, id="json"),
        pytest.param("naïve café, 東京, Москва, Αθήνα ".encode() * 100, True, id="utf-8"),
        pytest.param(
            b"".join(i.to_bytes(4, "little") for i in range(0, 10**6, 997)), True, id="int32s"
        ),
        pytest.param(os.urandom(20_000) + JSON_TEXT, False, id="random-in-the-middle"),
        pytest.param(JSON_TEXT + os.urandom(4_000), True, id="json-in-the-middle"),
    ],
)
def test_incompressible_data_is_sent_as_is(data, compressed):
    sender, receiver = pair()
    [frame] = transfer(sender, receiver, [Frame(BINARY, data)])
    assert frame.rsv1 is compressed
    if not compressed:
        assert sender.compressor is None


def test_incompressible_first_frame_decides_for_the_message():
    sender, receiver = pair()
    frames = [Frame(BINARY, os.urandom(2000), fin=False), Frame(CONT, JSON_TEXT)]
    wire = transfer(sender, receiver, frames)
    assert wire == frames


@pytest.mark.parametrize("backend", BACKENDS)
def test_context_takeover(backend):
    sender, receiver = pair(backend)
    first, second = transfer(sender, receiver, [Frame(TEXT, JSON_TEXT)] * 2)
    # The second copy is a few back-references to the first.
    assert len(second.data) < len(first.data) / 10
    assert sender.compressor is not None and receiver.decompressor is not None


@pytest.mark.parametrize("backend", BACKENDS)
def test_no_context_takeover(backend):
    sender, receiver = pair(backend, local_no_context_takeover=True)
    first, second = transfer(sender, receiver, [Frame(TEXT, JSON_TEXT)] * 2)
    assert first.data == second.data
    # Nothing is kept between messages.
    assert sender.compressor is None and receiver.decompressor is None


def test_no_context_takeover_between_fragments_of_one_message():
    sender, receiver = pair(local_no_context_takeover=True)
    frames = [Frame(TEXT, JSON_TEXT, fin=False), Frame(CONT, JSON_TEXT)]
    first, second = transfer(sender, receiver, frames)
    # Within a message, the context is kept, whatever the setting.
    assert len(second.data) < len(first.data) / 10
    assert sender.compressor is None


def test_remote_no_context_takeover_is_required_to_decode_independent_messages():
    """A receiver that keeps its context still decodes a sender that resets it."""
    sender = PerMessageDeflate(local_no_context_takeover=True)
    receiver = PerMessageDeflate()
    transfer(sender, receiver, [Frame(TEXT, JSON_TEXT)] * 3)


def test_compressors_are_created_lazily():
    extension = PerMessageDeflate()
    assert extension.compressor is None and extension.decompressor is None
    extension.encode(Frame(TEXT, b"short"))  # under the threshold
    assert extension.compressor is None
    extension.encode(Frame(TEXT, JSON_TEXT))
    assert extension.compressor is not None and extension.decompressor is None


@pytest.mark.parametrize(
    ("threshold", "size", "compressed"),
    [(32, 31, False), (32, 32, True), (0, 0, True), (1, 0, False), (1000, 999, False)],
)
def test_threshold(threshold, size, compressed):
    sender, receiver = pair(threshold=threshold)
    [frame] = transfer(sender, receiver, [Frame(BINARY, b"a" * size)])
    assert frame.rsv1 is compressed


def test_threshold_doesnt_apply_to_fragmented_messages():
    sender, receiver = pair(threshold=1000)
    wire = transfer(sender, receiver, [Frame(TEXT, b"ab", fin=False), Frame(CONT, b"c")])
    assert [frame.rsv1 for frame in wire] == [True, False]


def test_per_message_opt_out_keeps_the_context():
    sender, receiver = pair()
    first = sender.encode(Frame(TEXT, JSON_TEXT))
    opted_out = [
        sender.encode(Frame(BINARY, b"raw " * 20, fin=False), compress=False),
        # Continuation frames follow the first frame, whatever they're given.
        sender.encode(Frame(CONT, b"more " * 20)),
    ]
    assert opted_out == [Frame(BINARY, b"raw " * 20, fin=False), Frame(CONT, b"more " * 20)]
    again = sender.encode(Frame(TEXT, JSON_TEXT))
    assert len(again.data) < len(first.data) / 10
    for frame, expected in zip(
        [first, *opted_out, again],
        [JSON_TEXT, b"raw " * 20, b"more " * 20, JSON_TEXT],
    ):
        assert receiver.decode(frame).data == expected


def test_opt_out_is_ignored_on_continuation_frames():
    sender, receiver = pair()
    wire = [
        sender.encode(Frame(TEXT, JSON_TEXT[:300], fin=False)),
        sender.encode(Frame(CONT, JSON_TEXT[300:]), compress=False),
    ]
    assert wire[0].rsv1
    assert b"".join(receiver.decode(frame).data for frame in wire) == JSON_TEXT


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("bits", range(8, 16))
def test_window_bits(backend, bits):
    """Each window size round-trips, and stays within what the peer keeps.

    The reference decompressor has exactly the negotiated window and is fed
    one message at a time through a small output buffer, so a reference
    further back than the window fails (zlib: "invalid distance too far back").
    """
    sender, receiver = pair(backend, local_max_window_bits=bits)
    reference = zlib.decompressobj(-bits)
    chunks = [JSON_TEXT[i : i + 700] for i in range(0, len(JSON_TEXT), 700)] * 3
    for chunk in chunks:
        frame = sender.encode(Frame(TEXT, chunk))
        data = frame.data + b"\x00\x00\xff\xff"
        output = b""
        while data:
            output += reference.decompress(data, 64)
            data = reference.unconsumed_tail
        assert output == chunk
        assert receiver.decode(frame).data == chunk


def test_window_bits_8_compresses_with_9():
    extension = PerMessageDeflate(local_max_window_bits=8, zlib_module=zlib)
    with pytest.raises(ValueError):
        zlib.compressobj(6, zlib.DEFLATED, -8)
    extension.encode(Frame(TEXT, JSON_TEXT))  # doesn't raise


@pytest.mark.parametrize("backend", BACKENDS)
def test_invalid_data_is_a_decompression_error(backend):
    _, receiver = pair(backend)
    with pytest.raises(DecompressionError, match=r"invalid compressed data \(.+\)") as raised:
        receiver.decode(Frame(TEXT, b"\xff\xff\xff\xff", rsv1=True))
    assert isinstance(raised.value, ProtocolError)
    assert raised.value.close_code == CloseCode.INVALID_DATA == 1007


def test_data_after_a_final_block_is_ignored():
    _, receiver = pair()
    assert receiver.decode(Frame(TEXT, HELLO_BFINAL[:-1], rsv1=True)).data == b"Hello"
    assert receiver.decode(Frame(TEXT, HELLO_BFINAL + b"\x00", rsv1=True)).data == b"Hello"


@pytest.mark.parametrize("backend", BACKENDS)
def test_max_size(backend):
    sender, receiver = pair(backend)
    frame = sender.encode(Frame(BINARY, JSON_TEXT))
    size = len(JSON_TEXT)
    assert receiver.decode(frame, max_size=size).data == JSON_TEXT
    frame = sender.encode(Frame(BINARY, JSON_TEXT))
    with pytest.raises(PayloadTooBig, match="exceeds the limit"):
        receiver.decode(frame, max_size=size - 1)


@pytest.mark.parametrize("size", [1000, 70_000, 300_000])
def test_tail_is_appended_to_small_and_large_frames(size):
    sender, receiver = pair(threshold=0)
    data = os.urandom(size // 2).hex().encode()  # compressible to about half
    frame = sender.encode(Frame(BINARY, data))
    frame = Frame(BINARY, frame.data, rsv1=True)
    assert receiver.decode(frame, max_size=size).data == data
    sender, receiver = pair(threshold=0)
    with pytest.raises(PayloadTooBig):
        receiver.decode(sender.encode(Frame(BINARY, data)), max_size=size - 1)


def test_tail_can_produce_output():
    """The four bytes appended to a message count too, e.g. as a stored block's content."""
    _, receiver = pair()
    stored_block_of_4 = b"\x00\x04\x00\xfb\xff"
    assert receiver.decode(Frame(BINARY, stored_block_of_4, rsv1=True)).data == b"\x00\x00\xff\xff"
    _, receiver = pair()
    with pytest.raises(PayloadTooBig):
        receiver.decode(Frame(BINARY, stored_block_of_4, rsv1=True), max_size=3)


def test_max_size_zero_allows_empty_messages():
    sender, receiver = pair(threshold=0)
    assert receiver.decode(sender.encode(Frame(TEXT, b"")), max_size=0).data == b""
    with pytest.raises(PayloadTooBig):
        receiver.decode(sender.encode(Frame(TEXT, b"a")), max_size=0)


# The bomb: 1 GiB of zeros, about 1 MB compressed, built from one 16 MiB
# segment ended by a full flush (no back-reference crosses a segment), repeated.

GIB = 2**30
MIB = 2**20


@pytest.fixture(scope="module")
def bomb() -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15, 9)
    segment = compressor.compress(bytes(16 * MIB)) + compressor.flush(zlib.Z_FULL_FLUSH)
    data = segment * (GIB // (16 * MIB))
    assert data.endswith(b"\x00\x00\xff\xff")
    return data[:-4]


def test_bomb_is_a_gibibyte(bomb):
    decompressor = zlib.decompressobj(-15)
    total, data = 0, bomb + b"\x00\x00\xff\xff"
    while data:
        total += len(decompressor.decompress(data, 64 * MIB))
        data = decompressor.unconsumed_tail
    assert total == GIB
    assert len(bomb) < MIB


@pytest.mark.parametrize("backend", BACKENDS)
def test_bomb_costs_a_small_multiple_of_max_size(bomb, backend):
    receiver = PerMessageDeflate(zlib_module=backend)
    frame = Frame(BINARY, bomb, rsv1=True)
    tracemalloc.start()
    try:
        with pytest.raises(PayloadTooBig):
            receiver.decode(frame, max_size=MIB)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # The output stops at max_size + 1, which zlib's output buffer holds
    # twice while it joins its blocks, and zlib copies the input it didn't
    # get to (at most the frame, itself at most max_size) into
    # unconsumed_tail: 3 MiB, not 1 GiB.
    print(f"peak {peak / MIB:.2f} MiB for a 1 GiB bomb, max_size 1 MiB")
    assert peak < 3.5 * MIB, f"peak {peak / MIB:.1f} MiB"


def test_bomb_in_fragments(bomb):
    receiver = PerMessageDeflate()
    size = 64 * 1024
    frames = [Frame(BINARY, bomb[:size], fin=False, rsv1=True)]
    frames += [
        Frame(CONT, bomb[pos : pos + size], fin=False) for pos in range(size, len(bomb), size)
    ]
    decoded = 0
    with pytest.raises(PayloadTooBig):
        for frame in frames:
            decoded += len(receiver.decode(frame, max_size=MIB - decoded).data)
    assert decoded <= MIB


def test_default_backend():
    expected = zlib_ng if zlib_ng is not None else zlib
    assert DEFAULT_ZLIB is expected
    assert PerMessageDeflate().zlib_module is expected


def test_default_level_depends_on_the_zlib_module():
    assert PerMessageDeflate(zlib_module=zlib).level == 6
    if zlib_ng is not None:  # pragma: no branch
        assert PerMessageDeflate(zlib_module=zlib_ng).level == 4
    assert PerMessageDeflate(zlib_module=zlib, level=1).level == 1
    factory = ServerPerMessageDeflateFactory(level=9, zlib_module=zlib)
    _, extension = factory.process_request_params([], [])
    assert extension.level == 9
    _, extension = ServerPerMessageDeflateFactory(zlib_module=zlib).process_request_params([], [])
    assert extension.level == 6


@pytest.mark.skipif(zlib_ng is None, reason="zlib-ng isn't installed")
@pytest.mark.parametrize("direction", ["zlib to zlib_ng", "zlib_ng to zlib"])
def test_backends_interoperate(direction):
    sending, receiving = (zlib, zlib_ng) if direction == "zlib to zlib_ng" else (zlib_ng, zlib)
    sender = PerMessageDeflate(zlib_module=sending, local_max_window_bits=10)
    receiver = PerMessageDeflate(zlib_module=receiving, remote_max_window_bits=10)
    transfer(sender, receiver, [Frame(TEXT, JSON_TEXT), Frame(BINARY, os.urandom(5000))] * 2)


# Releasing the compressor of an idle connection


@pytest.mark.parametrize("backend", BACKENDS)
def test_release_idle_compressor(backend):
    sender, receiver = pair(backend)
    transfer(sender, receiver, [Frame(TEXT, JSON_TEXT)])
    # A message was compressed since the last check: nothing is released.
    assert sender.release_idle_compressor() is False
    assert sender.compressor is not None
    # Nothing sent since: the compressor goes.
    assert sender.release_idle_compressor() is True
    assert sender.compressor is None
    assert sender.release_idle_compressor() is False
    # The next messages start a new compressor; the receiver, which kept its
    # window, reads them, and context takeover works again from there.
    wire = transfer(sender, receiver, [Frame(TEXT, JSON_TEXT), Frame(TEXT, JSON_TEXT)])
    assert wire[0].rsv1 and sender.compressor is not None
    assert len(wire[1].data) < len(wire[0].data) // 5
    # The receiver's decompressor is never released by the sender's call.
    assert receiver.decompressor is not None


def test_release_idle_compressor_waits_for_the_end_of_a_fragmented_message():
    sender, receiver = pair()
    transfer(sender, receiver, [Frame(TEXT, JSON_TEXT[:500], fin=False)])
    assert sender.release_idle_compressor() is False
    assert sender.release_idle_compressor() is False  # still in the message
    transfer(sender, receiver, [Frame(CONT, JSON_TEXT[500:1000], fin=True)])
    assert sender.release_idle_compressor() is True


def test_uncompressed_messages_count_as_idle():
    sender, receiver = pair()
    transfer(sender, receiver, [Frame(TEXT, JSON_TEXT)])
    sender.release_idle_compressor()
    transfer(sender, receiver, [Frame(TEXT, JSON_TEXT)], compress=False)
    assert sender.release_idle_compressor() is True
