"""permessage-deflate on the listener face: ``compression=`` / ``extensions=``.

A bare-bones client written here (:class:`RawPeer`) shows what travels on the
wire: RSV1, compressed payloads and their sizes, and sends hand-made
compressed frames. The other tests connect wirespeed to wirespeed, websockets,
aiohttp and Node's ``ws``, with compression on both directions.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import struct
import subprocess
import tracemalloc
import zlib
from typing import Any, List, Tuple

import pytest
from aiohttp_helpers import aiohttp_echo_server
from listener_helpers import HOST, Recorder, disconnect, run, serving, until
from wire_helpers import RawPeer, Wire, deflate, extension_of, inflate

from wirespeed import WSListener, WSMsgType, ws_connect
from wirespeed.extensions import (
    ClientPerMessageDeflateFactory,
    PerMessageDeflate,
    ServerPerMessageDeflateFactory,
)

TEXT, BINARY, CONT = WSMsgType.TEXT, WSMsgType.BINARY, WSMsgType.CONTINUATION

JSON_TEXT = json.dumps(
    [
        {"id": i, "name": f"item-{i * 37 % 101}", "tags": ["a", "b"], "ok": i % 3 == 0}
        for i in range(300)
    ]
).encode()
#: Small enough for the 4 KiB window of the server's defaults, with room to spare.
SMALL_JSON = JSON_TEXT[:1500]
MIB = 2**20
GIB = 2**30


# Negotiation


@pytest.mark.parametrize(
    "client, server, negotiated",
    [
        pytest.param("deflate", "deflate", True, id="both"),
        pytest.param(None, "deflate", False, id="server-only"),
        pytest.param("deflate", None, False, id="client-only"),
        pytest.param(None, None, False, id="neither"),
    ],
)
def test_negotiation(client, server, negotiated):
    async def main() -> None:
        async with serving(lambda: Recorder(echo=True), compression=server) as srv:
            transport, listener = await ws_connect(Recorder, srv.url, compression=client)
            try:
                header = transport.response.headers.get("Sec-WebSocket-Extensions")
                if negotiated:
                    # The server's defaults: 4 KiB windows both ways.
                    assert header == (
                        "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12"
                    )
                    extension = extension_of(transport)
                    assert isinstance(extension, PerMessageDeflate)
                    assert extension.local_max_window_bits == 12
                    assert extension.remote_max_window_bits == 12
                else:
                    assert header is None
                    assert extension_of(transport) is None
                transport.send(TEXT, JSON_TEXT)
                (frame,) = await listener.wait_frames(1)
                assert frame == (TEXT, True, False, JSON_TEXT)
            finally:
                await disconnect(transport)

    run(main())


def test_unknown_compression_is_rejected():
    async def main() -> None:
        with pytest.raises(ValueError, match="compression"):
            await ws_connect(Recorder, "ws://127.0.0.1:1/", compression="gzip")
        with pytest.raises(ValueError, match="compression"):
            async with serving(compression="gzip"):
                pass  # pragma: no cover

    run(main())


def test_configured_factories():
    server_factory = ServerPerMessageDeflateFactory(
        server_no_context_takeover=True, server_max_window_bits=10, level=1, mem_level=8
    )
    client_factory = ClientPerMessageDeflateFactory(
        client_no_context_takeover=True, client_max_window_bits=11, threshold=0
    )

    async def main() -> None:
        async with serving(extensions=[server_factory]) as srv:
            transport, _ = await ws_connect(Recorder, srv.url, extensions=[client_factory])
            try:
                assert transport.response.headers["Sec-WebSocket-Extensions"] == (
                    "permessage-deflate; server_no_context_takeover; "
                    "client_no_context_takeover; server_max_window_bits=10; "
                    "client_max_window_bits=11"
                )
                mine = extension_of(transport)
                assert mine.local_no_context_takeover and mine.remote_no_context_takeover
                assert (mine.local_max_window_bits, mine.remote_max_window_bits) == (11, 10)
                assert mine.threshold == 0
                await until(lambda: srv.listeners and srv.listeners[0].transport)
                theirs = extension_of(srv.listeners[0].transport)
                assert (theirs.level, theirs.mem_level) == (1, 8)
                assert (theirs.local_max_window_bits, theirs.remote_max_window_bits) == (10, 11)
            finally:
                await disconnect(transport)

    run(main())


def test_a_factory_in_extensions_replaces_the_default():
    factory = ServerPerMessageDeflateFactory(server_max_window_bits=9)

    async def main() -> None:
        async with serving(compression="deflate", extensions=[factory]) as srv:
            peer = await RawPeer.open(srv.port)
            assert peer.extensions == "permessage-deflate; server_max_window_bits=9"
            await peer.close()

    run(main())


# On the wire


def test_messages_are_compressed_on_the_wire_and_delivered_decompressed():
    async def main() -> None:
        async with serving(lambda: Recorder(echo=True), compression="deflate") as srv:
            peer = await RawPeer.open(srv.port)
            compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
            decompressor = zlib.decompressobj(-15)
            for opcode, message in [(TEXT, JSON_TEXT), (BINARY, JSON_TEXT[:1000])]:
                payload = deflate(compressor, message)
                peer.send(opcode, payload, rsv1=True)
                echo = await peer.recv()
                assert echo.opcode == opcode and echo.fin and echo.rsv1
                assert len(echo.payload) < len(message) // 4
                assert inflate(decompressor, echo.payload) == message
            # The listener saw plain frames, RSV1 cleared.
            assert srv.listeners[0].frames == [
                (TEXT, True, False, JSON_TEXT),
                (BINARY, True, False, JSON_TEXT[:1000]),
            ]
            await peer.close()

    run(main())


def test_uncompressed_messages_from_the_peer_are_delivered_as_they_are():
    async def main() -> None:
        async with serving(compression="deflate") as srv:
            peer = await RawPeer.open(srv.port)
            compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
            peer.send(TEXT, b"plain")
            peer.send(TEXT, deflate(compressor, b"squeezed" * 10), rsv1=True)
            peer.send(BINARY, b"\x00plain")
            await until(lambda: len(srv.listeners[0].frames) == 3)
            frames = srv.listeners[0].frames
            assert frames == [
                (TEXT, True, False, b"plain"),
                (TEXT, True, False, b"squeezed" * 10),
                (BINARY, True, False, b"\x00plain"),
            ]
            await peer.close()

    run(main())


def test_fragmented_compressed_message_is_delivered_frame_by_frame():
    message = JSON_TEXT
    compressed = deflate(zlib.compressobj(6, zlib.DEFLATED, -15), message)
    cuts = [0, len(compressed) // 3, 2 * len(compressed) // 3, len(compressed)]
    parts = [compressed[cuts[i] : cuts[i + 1]] for i in range(3)]

    async def main() -> None:
        async with serving(compression="deflate") as srv:
            peer = await RawPeer.open(srv.port)
            peer.send(TEXT, parts[0], fin=False, rsv1=True)
            peer.send(CONT, parts[1], fin=False)
            peer.send(CONT, parts[2], fin=True)
            await until(lambda: srv.listeners and len(srv.listeners[0].frames) == 3)
            listener = srv.listeners[0]
            frames = listener.frames
            assert [(f.msg_type, f.fin, f.rsv1) for f in frames] == [
                (TEXT, False, False),
                (CONT, False, False),
                (CONT, True, False),
            ]
            # Each frame holds its own decompressed part, in order.
            assert all(frame.payload for frame in frames)
            assert b"".join(frame.payload for frame in frames) == message
            await peer.close()

    run(main())


def test_fragmented_message_sent_is_compressed_as_one_stream():
    class Sender(WSListener):
        def on_ws_connected(self, transport):
            transport.send(TEXT, JSON_TEXT[:3000], False)
            transport.send(CONT, JSON_TEXT[3000:6000], False)
            transport.send(CONT, JSON_TEXT[6000:], True)

    async def main() -> None:
        async with serving(Sender, compression="deflate") as srv:
            peer = await RawPeer.open(srv.port)
            frames = [await peer.recv() for _ in range(3)]
            # RSV1 on the first frame only (RFC 7692, 6.1).
            assert [(f.opcode, f.fin, f.rsv1) for f in frames] == [
                (TEXT, False, True),
                (CONT, False, False),
                (CONT, True, False),
            ]
            decompressor = zlib.decompressobj(-15)
            data = b"".join(decompressor.decompress(f.payload) for f in frames)
            data += decompressor.decompress(b"\x00\x00\xff\xff")
            assert data == JSON_TEXT
            await peer.close()

    run(main())


@pytest.mark.parametrize("takeover", [True, False], ids=["context-takeover", "no-context-takeover"])
def test_context_takeover(takeover):
    offer = "permessage-deflate" if takeover else "permessage-deflate; server_no_context_takeover"

    class Sender(WSListener):
        def on_ws_connected(self, transport):
            for _ in range(3):
                transport.send(TEXT, JSON_TEXT[:1000])

    async def main() -> None:
        async with serving(Sender, compression="deflate") as srv:
            peer = await RawPeer.open(srv.port, offer)
            assert ("server_no_context_takeover" in peer.extensions) is not takeover
            frames = [await peer.recv() for _ in range(3)]
            sizes = [len(frame.payload) for frame in frames]
            if takeover:
                # The next messages refer back to the first one (all three
                # fit in the server's 4 KiB window).
                assert sizes[1] < sizes[0] // 3 and sizes[2] < sizes[0] // 3
                decompressor = zlib.decompressobj(-15)
                for frame in frames:
                    assert inflate(decompressor, frame.payload) == JSON_TEXT[:1000]
            else:
                # Every message stands alone: a fresh decompressor reads each.
                assert sizes[0] == sizes[1] == sizes[2]
                for frame in frames:
                    assert inflate(zlib.decompressobj(-15), frame.payload) == JSON_TEXT[:1000]
            await peer.close()

    run(main())


def test_per_message_opt_out():
    class Sender(WSListener):
        def on_ws_connected(self, transport):
            transport.send(TEXT, SMALL_JSON)
            transport.send(TEXT, JSON_TEXT, compress=False)
            transport.send(BINARY, JSON_TEXT[:500], False, compress=False)
            transport.send(CONT, JSON_TEXT[500:1000], True)
            transport.send(TEXT, SMALL_JSON)

    async def main() -> None:
        async with serving(Sender, compression="deflate") as srv:
            peer = await RawPeer.open(srv.port)
            frames = [await peer.recv() for _ in range(5)]
            assert [(f.opcode, f.fin, f.rsv1) for f in frames] == [
                (TEXT, True, True),
                (TEXT, True, False),
                (BINARY, False, False),
                (CONT, True, False),
                (TEXT, True, True),
            ]
            assert frames[1].payload == JSON_TEXT
            assert frames[2].payload + frames[3].payload == JSON_TEXT[:1000]
            # Uncompressed messages leave the compression context alone: the
            # last message refers back to the first one.
            decompressor = zlib.decompressobj(-15)
            assert inflate(decompressor, frames[0].payload) == SMALL_JSON
            assert inflate(decompressor, frames[4].payload) == SMALL_JSON
            assert len(frames[4].payload) < len(frames[0].payload) // 3
            await peer.close()

    run(main())


def test_rsv1_sends_the_frame_as_given():
    precompressed = deflate(zlib.compressobj(9, zlib.DEFLATED, -15), b"mine " * 100)

    class Sender(WSListener):
        def on_ws_connected(self, transport):
            transport.send(BINARY, precompressed, rsv1=True)

    async def main() -> None:
        async with serving(Sender, compression="deflate") as srv:
            peer = await RawPeer.open(srv.port)
            frame = await peer.recv()
            assert frame == (BINARY, True, True, precompressed)
            await peer.close()

    run(main())


@pytest.mark.parametrize("threshold", [None, 0, 100])
def test_threshold(threshold):
    kwargs = {} if threshold is None else {"threshold": threshold}
    factory = ServerPerMessageDeflateFactory(**kwargs)
    effective = 32 if threshold is None else threshold
    sizes = [0, 10, 31, 32, 99, 100, 1000]

    class Sender(WSListener):
        def on_ws_connected(self, transport):
            for size in sizes:
                transport.send(TEXT, b"x" * size)

    async def main() -> None:
        async with serving(Sender, extensions=[factory]) as srv:
            peer = await RawPeer.open(srv.port)
            frames = [await peer.recv() for _ in sizes]
            assert [f.rsv1 for f in frames] == [size >= effective for size in sizes]
            decompressor = zlib.decompressobj(-15)
            for size, frame in zip(sizes, frames):
                data = inflate(decompressor, frame.payload) if frame.rsv1 else frame.payload
                assert data == b"x" * size
            await peer.close()

    run(main())


def test_client_side_compresses_too():
    async def main() -> None:
        async with serving(lambda: Recorder(echo=True), compression="deflate") as srv:
            transport, listener = await ws_connect(Recorder, srv.url, compression="deflate")
            try:
                for _ in range(2):
                    transport.send(BINARY, JSON_TEXT)
                transport.send(TEXT, JSON_TEXT[:2000], False)
                transport.send(CONT, JSON_TEXT[2000:], True)
                await listener.wait_frames(4)
                assert listener.frames[:2] == [(BINARY, True, False, JSON_TEXT)] * 2
                assert [(f.msg_type, f.fin, f.rsv1) for f in listener.frames[2:]] == [
                    (TEXT, False, False),
                    (CONT, True, False),
                ]
                assert b"".join(f.payload for f in listener.frames[2:]) == JSON_TEXT
                # Both ends compressed and decompressed.
                for extension in (
                    extension_of(transport),
                    extension_of(srv.listeners[0].transport),
                ):
                    assert extension.compressor is not None
                    assert extension.decompressor is not None
            finally:
                await disconnect(transport)

    run(main())


def test_compressed_frames_that_come_with_the_handshake_response():
    class Greeter(WSListener):
        def on_ws_connected(self, transport):
            # Written right behind the 101 response: the client gets them in
            # the same read as the end of the handshake.
            transport.send(TEXT, SMALL_JSON)
            transport.send(BINARY, SMALL_JSON[:500], False)
            transport.send(CONT, SMALL_JSON[500:], True)

    async def main() -> None:
        async with serving(Greeter, compression="deflate") as srv:
            transport, listener = await ws_connect(Recorder, srv.url, compression="deflate")
            try:
                frames = await listener.wait_frames(3)
                assert frames[0] == (TEXT, True, False, SMALL_JSON)
                assert [(f.msg_type, f.fin, f.rsv1) for f in frames[1:]] == [
                    (BINARY, False, False),
                    (CONT, True, False),
                ]
                assert frames[1].payload + frames[2].payload == SMALL_JSON
            finally:
                await disconnect(transport)

    run(main())


# Limits


@pytest.fixture(scope="module")
def bomb() -> bytes:
    """1 GiB of zeros, deflated to less than 1 MiB (one 16 MiB segment repeated)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15, 9)
    segment = compressor.compress(bytes(16 * MIB)) + compressor.flush(zlib.Z_FULL_FLUSH)
    data = segment * (GIB // (16 * MIB))
    assert len(data) < MIB
    return data[:-4]


def test_bomb_closes_with_1009_and_bounded_memory(bomb):
    async def main() -> Tuple[Wire, int]:
        async with serving(compression="deflate", max_frame_size=MIB) as srv:
            peer = await RawPeer.open(srv.port)
            tracemalloc.start()
            try:
                peer.send(BINARY, bomb, rsv1=True)
                close = await peer.recv(timeout=10)
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
            await peer.close()
            await srv.listeners[0].wait_disconnected(timeout=5)
            assert srv.listeners[0].frames == []
            return close, peak

    close, peak = run(main(), timeout=30)
    assert close.opcode == WSMsgType.CLOSE
    assert struct.unpack("!H", close.payload[:2])[0] == 1009
    # Both ends live in this process: the peer's masked copy of the bomb (1
    # MiB), the server's receive buffer and frame (2 MiB) and the bounded
    # output of the decompressor (max_frame_size, briefly twice): a few MiB
    # for a gibibyte.
    print(f"peak {peak / MIB:.1f} MiB while a 1 GiB bomb was refused")
    assert peak < 10 * MIB, f"peak {peak / MIB:.1f} MiB"


def test_decompressed_frame_over_max_frame_size_closes_with_1009():
    message = b"a" * 5000
    payload = deflate(zlib.compressobj(6, zlib.DEFLATED, -15), message)

    async def main() -> Wire:
        async with serving(compression="deflate", max_frame_size=4096) as srv:
            peer = await RawPeer.open(srv.port)
            assert len(payload) < 4096
            peer.send(TEXT, payload, rsv1=True)
            close = await peer.recv()
            await peer.close()
            return close

    close = run(main())
    assert close.opcode == WSMsgType.CLOSE
    assert struct.unpack("!H", close.payload[:2])[0] == 1009


def test_invalid_compressed_data_closes_with_1007():
    async def main() -> Wire:
        async with serving(compression="deflate") as srv:
            peer = await RawPeer.open(srv.port)
            peer.send(TEXT, b"\xff\xff\xff\xff not deflate", rsv1=True)
            close = await peer.recv()
            await peer.close()
            return close

    close = run(main())
    assert struct.unpack("!H", close.payload[:2])[0] == 1007


def test_rsv1_without_compression_closes_with_1002():
    async def main() -> Wire:
        async with serving() as srv:
            peer = await RawPeer.open(srv.port, offer=None)
            peer.send(TEXT, b"x", rsv1=True)
            close = await peer.recv()
            await peer.close()
            return close

    close = run(main())
    assert struct.unpack("!H", close.payload[:2])[0] == 1002


# Interoperability

MESSAGES: List[Any] = [
    JSON_TEXT.decode(),
    JSON_TEXT,
    os.urandom(3000),
    "é" * 3000,
    JSON_TEXT.decode(),
]


def test_websockets_client_wirespeed_server():
    websockets = pytest.importorskip("websockets")
    from websockets.asyncio.client import connect

    async def main() -> None:
        async with serving(lambda: Recorder(echo=True), compression="deflate") as srv:
            ws = await connect(srv.url, compression="deflate")
            try:
                assert ws.response.headers["Sec-WebSocket-Extensions"].startswith(
                    "permessage-deflate"
                )
                for message in MESSAGES:
                    await ws.send(message)
                    assert await ws.recv() == message
                extension = extension_of(srv.listeners[0].transport)
                assert extension.compressor is not None and extension.decompressor is not None
            finally:
                await ws.close()

    assert websockets
    run(main())


def test_wirespeed_client_websockets_server():
    pytest.importorskip("websockets")
    from websockets.asyncio.server import serve

    async def echo(ws: Any) -> None:
        async for message in ws:
            await ws.send(message)

    async def main() -> None:
        async with serve(echo, HOST, 0, compression="deflate") as server:
            port = server.sockets[0].getsockname()[1]
            transport, listener = await ws_connect(
                Recorder, f"ws://{HOST}:{port}/", compression="deflate"
            )
            try:
                for index, message in enumerate(MESSAGES):
                    data = message.encode() if isinstance(message, str) else message
                    transport.send(TEXT if isinstance(message, str) else BINARY, data)
                    frames = await listener.wait_frames(index + 1)
                    assert frames[index].payload == data and not frames[index].rsv1
                extension = extension_of(transport)
                assert extension.compressor is not None and extension.decompressor is not None
                transport.send_close()
                await transport.wait_disconnected()
            finally:
                await disconnect(transport)

    run(main())


def test_aiohttp_client_wirespeed_server():
    aiohttp = pytest.importorskip("aiohttp")

    async def main() -> None:
        async with serving(lambda: Recorder(echo=True), compression="deflate") as srv:
            async with aiohttp.ClientSession() as session:
                ws = await session.ws_connect(srv.url, compress=15)
                try:
                    assert ws.compress
                    for message in MESSAGES:
                        if isinstance(message, str):
                            await ws.send_str(message)
                        else:
                            await ws.send_bytes(message)
                        reply = await ws.receive(timeout=3)
                        assert reply.data == message
                finally:
                    await ws.close()
            extension = extension_of(srv.listeners[0].transport)
            assert extension.compressor is not None and extension.decompressor is not None

    run(main())


def test_wirespeed_client_aiohttp_server():
    pytest.importorskip("aiohttp")

    async def main() -> None:
        async with aiohttp_echo_server(compress=15) as port:
            transport, listener = await ws_connect(
                Recorder, f"ws://{HOST}:{port}/", compression="deflate"
            )
            try:
                for index, message in enumerate(MESSAGES):
                    data = message.encode() if isinstance(message, str) else message
                    transport.send(TEXT if isinstance(message, str) else BINARY, data)
                    frames = await listener.wait_frames(index + 1)
                    assert frames[index].payload == data
                extension = extension_of(transport)
                assert extension.compressor is not None and extension.decompressor is not None
                transport.send_close()
                await transport.wait_disconnected()
            finally:
                await disconnect(transport)

    run(main())


# Node's ws: not installed by the test extra (it needs Node.js and npm). Point
# WIRESPEED_NODE_WS at a directory holding node_modules/ws, e.g. after
# ``npm install ws`` in /tmp/node_ws, the default.

NODE_WS_DIR = os.environ.get("WIRESPEED_NODE_WS", "/tmp/node_ws")
NODE = shutil.which("node")
needs_node_ws = pytest.mark.skipif(
    NODE is None or not os.path.isdir(os.path.join(NODE_WS_DIR, "node_modules", "ws")),
    reason="Node ws not installed (needs node, and npm install ws in $WIRESPEED_NODE_WS "
    "or /tmp/node_ws)",
)

NODE_ECHO_SERVER = """
const { WebSocketServer } = require('ws');
const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: { threshold: 0 } });
wss.on('listening', () => console.log(wss.address().port));
wss.on('connection', (ws, request) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});
setTimeout(() => process.exit(0), 20000);
"""

NODE_CLIENT = """
const WebSocket = require('ws');
const messages = JSON.parse(process.argv[3]);
const ws = new WebSocket(process.argv[2], { perMessageDeflate: { threshold: 0 } });
let index = 0;
const send = () => {
  const [kind, text] = messages[index];
  ws.send(kind === 'text' ? text : Buffer.from(text, 'base64'), { binary: kind !== 'text' });
};
ws.on('open', () => { console.log('extensions ' + ws.extensions); send(); });
ws.on('message', (data, isBinary) => {
  const [kind, text] = messages[index];
  const expected = kind === 'text' ? text : Buffer.from(text, 'base64').toString('base64');
  const got = isBinary ? data.toString('base64') : data.toString();
  if (got !== expected || isBinary !== (kind !== 'text')) { console.log('mismatch ' + index); process.exit(1); }
  index += 1;
  if (index === messages.length) { console.log('ok'); ws.close(1000); } else { send(); }
});
ws.on('close', () => process.exit(0));
ws.on('error', (error) => { console.log('error ' + error); process.exit(1); });
setTimeout(() => { console.log('timeout'); process.exit(1); }, 10000);
"""


def node_env() -> dict:
    env = dict(os.environ)
    env["NODE_PATH"] = os.path.join(NODE_WS_DIR, "node_modules")
    return env


def node_messages() -> str:
    return json.dumps(
        [
            ["text", m] if isinstance(m, str) else ["binary", base64.b64encode(m).decode()]
            for m in MESSAGES
        ]
    )


@needs_node_ws
def test_node_ws_client_wirespeed_server(tmp_path):
    script = tmp_path / "client.js"
    script.write_text(NODE_CLIENT)

    async def main() -> None:
        async with serving(lambda: Recorder(echo=True), compression="deflate") as srv:
            process = await asyncio.create_subprocess_exec(
                NODE,
                str(script),
                srv.url,
                node_messages(),
                stdout=subprocess.PIPE,
                env=node_env(),
            )
            out, _ = await asyncio.wait_for(process.communicate(), 15)
            lines = out.decode().split("\n")
            assert process.returncode == 0, lines
            assert lines[0].startswith("extensions permessage-deflate")
            assert "ok" in lines
            extension = extension_of(srv.listeners[0].transport)
            assert extension.compressor is not None and extension.decompressor is not None

    run(main(), timeout=20)


@needs_node_ws
def test_wirespeed_client_node_ws_server(tmp_path):
    script = tmp_path / "server.js"
    script.write_text(NODE_ECHO_SERVER)

    async def main() -> None:
        process = await asyncio.create_subprocess_exec(
            NODE, str(script), stdout=subprocess.PIPE, env=node_env()
        )
        try:
            port = int(await asyncio.wait_for(process.stdout.readline(), 10))
            transport, listener = await ws_connect(
                Recorder, f"ws://{HOST}:{port}/", compression="deflate"
            )
            try:
                assert transport.response.headers["Sec-WebSocket-Extensions"].startswith(
                    "permessage-deflate"
                )
                for index, message in enumerate(MESSAGES):
                    data = message.encode() if isinstance(message, str) else message
                    transport.send(TEXT if isinstance(message, str) else BINARY, data)
                    frames = await listener.wait_frames(index + 1)
                    assert frames[index].payload == data
                extension = extension_of(transport)
                assert extension.compressor is not None and extension.decompressor is not None
            finally:
                await disconnect(transport)
        finally:
            process.kill()
            await process.wait()

    run(main(), timeout=20)
