"""permessage-deflate on the asyncio face: on by default, as in websockets.

A bare-bones client written here (:class:`RawPeer`) shows what a
:func:`~wirespeed.asyncio.serve` server puts on the wire and sends hand-made
compressed frames; the other tests connect the asyncio face to itself,
websockets, aiohttp and Node's ``ws``, with compression on both directions.
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
from typing import Any, List

import pytest
from aiohttp_helpers import aiohttp_echo_server
from asyncio_helpers import HOST, echo_server, port_of, run, until
from wire_helpers import RawPeer, Wire, deflate, extension_of, inflate

from wirespeed.asyncio import connect, serve
from wirespeed.exceptions import ConnectionClosedError
from wirespeed.extensions import (
    ClientPerMessageDeflateFactory,
    PerMessageDeflate,
    ServerPerMessageDeflateFactory,
)

TEXT, BINARY, CONT, CLOSE = 1, 2, 0, 8

JSON_TEXT = json.dumps(
    [
        {"id": i, "name": f"item-{i * 37 % 101}", "tags": ["a", "b"], "ok": i % 3 == 0}
        for i in range(300)
    ]
)
#: Fits in the 4 KiB window of the server's defaults, with room to spare.
SMALL_JSON = JSON_TEXT[:1000]
MIB = 2**20
GIB = 2**30


def close_code(frame: Wire) -> int:
    assert frame.opcode == CLOSE
    return int(struct.unpack("!H", frame.payload[:2])[0])


# Negotiation


def test_deflate_is_negotiated_by_default():
    async def main() -> None:
        async with echo_server() as (server, uri), connect(uri) as ws:
            assert ws.request.headers["Sec-WebSocket-Extensions"] == (
                "permessage-deflate; client_max_window_bits"
            )
            assert ws.response.headers["Sec-WebSocket-Extensions"] == (
                "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12"
            )
            await ws.send(JSON_TEXT)
            assert await ws.recv() == JSON_TEXT
            (peer,) = server.connections
            for extension in (extension_of(ws), extension_of(peer)):
                assert isinstance(extension, PerMessageDeflate)
                assert extension.compressor is not None and extension.decompressor is not None

    run(main())


@pytest.mark.parametrize(
    "client, server",
    [("deflate", None), (None, "deflate"), (None, None)],
    ids=["server-off", "client-off", "both-off"],
)
def test_compression_none_disables_it(client, server):
    async def main() -> None:
        async with (
            echo_server(compression=server) as (_, uri),
            connect(uri, compression=client) as ws,
        ):
            assert "Sec-WebSocket-Extensions" not in ws.response.headers
            assert extension_of(ws) is None
            await ws.send(JSON_TEXT)
            assert await ws.recv() == JSON_TEXT

    run(main())


def test_a_factory_in_extensions_replaces_the_default():
    client_factory = ClientPerMessageDeflateFactory(
        server_max_window_bits=10, client_no_context_takeover=True, level=9
    )
    server_factory = ServerPerMessageDeflateFactory(mem_level=9, threshold=0)

    async def main() -> None:
        async with (
            echo_server(extensions=[server_factory]) as (server, uri),
            connect(uri, extensions=[client_factory]) as ws,
        ):
            assert ws.response.headers["Sec-WebSocket-Extensions"] == (
                "permessage-deflate; client_no_context_takeover; server_max_window_bits=10"
            )
            mine = extension_of(ws)
            assert mine.level == 9 and mine.local_no_context_takeover
            assert mine.remote_max_window_bits == 10
            (peer,) = server.connections
            theirs = extension_of(peer)
            assert (theirs.mem_level, theirs.threshold) == (9, 0)
            await ws.send(JSON_TEXT)
            assert await ws.recv() == JSON_TEXT

    run(main())


def test_unknown_compression_is_rejected():
    with pytest.raises(ValueError, match="compression"):
        connect("ws://localhost/", compression="zstd")
    with pytest.raises(ValueError, match="compression"):
        serve(lambda ws: None, HOST, 0, compression="zstd")


# On the wire


def test_echo_is_compressed_on_the_wire():
    async def main() -> None:
        async with echo_server() as (server, _):
            peer = await RawPeer.open(port_of(server))
            assert peer.extensions == "permessage-deflate; server_max_window_bits=12"
            compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
            decompressor = zlib.decompressobj(-15)
            for opcode, message in [(TEXT, SMALL_JSON.encode()), (BINARY, b"\x00" * 5000)]:
                peer.send(opcode, deflate(compressor, message), rsv1=True)
                echo = await peer.recv()
                assert (echo.opcode, echo.fin, echo.rsv1) == (opcode, True, True)
                assert len(echo.payload) < len(message) // 4
                assert inflate(decompressor, echo.payload) == message
            await peer.close()

    run(main())


def test_fragmented_compressed_message_is_received_whole():
    message = JSON_TEXT.encode()
    compressed = deflate(zlib.compressobj(6, zlib.DEFLATED, -15), message)
    third = len(compressed) // 3
    parts = [compressed[:third], compressed[third : 2 * third], compressed[2 * third :]]
    received: List[Any] = []

    async def handler(ws: Any) -> None:
        received.append(await ws.recv())
        await ws.wait_closed()

    async def main() -> None:
        async with echo_server(handler=handler) as (server, _):
            peer = await RawPeer.open(port_of(server))
            peer.send(TEXT, parts[0], fin=False, rsv1=True)
            peer.send(CONT, parts[1], fin=False)
            peer.send(CONT, parts[2])
            await until(lambda: received)
            await peer.close()

    run(main())
    assert received == [JSON_TEXT]


def test_fragmented_message_is_sent_compressed_as_one_stream():
    chunks = [SMALL_JSON[:300], SMALL_JSON[300:600], SMALL_JSON[600:]]

    async def handler(ws: Any) -> None:
        await ws.send(chunks)
        await ws.wait_closed()

    async def main() -> None:
        async with echo_server(handler=handler) as (server, _):
            peer = await RawPeer.open(port_of(server))
            frames = []
            while not frames or not frames[-1].fin:
                frames.append(await peer.recv())
            await peer.close()
            return frames

    frames = run(main())
    # RSV1 on the first frame only (RFC 7692, 6.1); an empty last frame ends it.
    assert [f.rsv1 for f in frames] == [True] + [False] * (len(frames) - 1)
    assert [f.opcode for f in frames] == [TEXT] + [CONT] * (len(frames) - 1)
    decompressor = zlib.decompressobj(-15)
    data = b"".join(decompressor.decompress(f.payload) for f in frames)
    assert data + decompressor.decompress(b"\x00\x00\xff\xff") == SMALL_JSON.encode()


@pytest.mark.parametrize("takeover", [True, False], ids=["context-takeover", "no-context-takeover"])
def test_context_takeover(takeover):
    offer = "permessage-deflate" if takeover else "permessage-deflate; server_no_context_takeover"

    async def handler(ws: Any) -> None:
        for _ in range(3):
            await ws.send(SMALL_JSON)
        await ws.wait_closed()

    async def main() -> List[Wire]:
        async with echo_server(handler=handler) as (server, _):
            peer = await RawPeer.open(port_of(server), offer)
            frames = [await peer.recv() for _ in range(3)]
            await peer.close()
            return frames

    frames = run(main())
    sizes = [len(frame.payload) for frame in frames]
    if takeover:
        assert sizes[1] < sizes[0] // 3 and sizes[2] < sizes[0] // 3
        decompressor = zlib.decompressobj(-15)
        assert all(inflate(decompressor, f.payload) == SMALL_JSON.encode() for f in frames)
    else:
        assert sizes[0] == sizes[1] == sizes[2]
        assert all(
            inflate(zlib.decompressobj(-15), f.payload) == SMALL_JSON.encode() for f in frames
        )


def test_per_message_opt_out():
    async def handler(ws: Any) -> None:
        await ws.send(SMALL_JSON)
        await ws.send(SMALL_JSON, compress=False)
        await ws.send([b"ab", b"cd"] * 20, compress=False)
        await ws.send(SMALL_JSON.encode(), text=True, compress=False)
        await ws.send(SMALL_JSON)
        await ws.wait_closed()

    async def main() -> List[Wire]:
        async with echo_server(handler=handler) as (server, _):
            peer = await RawPeer.open(port_of(server))
            frames = []
            while len([f for f in frames if f.fin]) < 5:
                frames.append(await peer.recv())
            await peer.close()
            return frames

    frames = run(main())
    whole = [f for f in frames if f.opcode == TEXT and f.fin]
    fragments = [f for f in frames if not (f.opcode == TEXT and f.fin)]
    assert [f.rsv1 for f in whole] == [True, False, False, True]
    assert whole[1].payload == whole[2].payload == SMALL_JSON.encode()
    assert not any(f.rsv1 for f in fragments)
    assert b"".join(f.payload for f in fragments) == b"abcd" * 20
    # The uncompressed messages left the context alone: the last message
    # refers back to the first.
    decompressor = zlib.decompressobj(-15)
    assert inflate(decompressor, whole[0].payload) == SMALL_JSON.encode()
    assert inflate(decompressor, whole[3].payload) == SMALL_JSON.encode()
    assert len(whole[3].payload) < len(whole[0].payload) // 3


def test_opt_out_without_compression_is_harmless():
    async def main() -> None:
        async with echo_server(compression=None) as (_, uri), connect(uri) as ws:
            await ws.send("plain", compress=False)
            assert await ws.recv() == "plain"

    run(main())


@pytest.mark.parametrize("threshold", [None, 0, 100])
def test_threshold(threshold):
    kwargs = {} if threshold is None else {"threshold": threshold}
    effective = 32 if threshold is None else threshold
    sizes = [0, 10, 31, 32, 99, 100, 1000]

    async def handler(ws: Any) -> None:
        for size in sizes:
            await ws.send(b"x" * size)
        await ws.wait_closed()

    async def main() -> List[Wire]:
        async with echo_server(
            handler=handler, extensions=[ServerPerMessageDeflateFactory(**kwargs)]
        ) as (server, _):
            peer = await RawPeer.open(port_of(server))
            frames = [await peer.recv() for _ in sizes]
            await peer.close()
            return frames

    frames = run(main())
    assert [f.rsv1 for f in frames] == [size >= effective for size in sizes]
    decompressor = zlib.decompressobj(-15)
    for size, frame in zip(sizes, frames):
        data = inflate(decompressor, frame.payload) if frame.rsv1 else frame.payload
        assert data == b"x" * size


def test_keepalive_releases_the_compressor_of_an_idle_connection():
    async def main() -> None:
        async with (
            echo_server(ping_interval=0.05) as (server, uri),
            connect(uri, ping_interval=0.05) as ws,
        ):
            await ws.send(JSON_TEXT)
            assert await ws.recv() == JSON_TEXT
            (peer,) = server.connections
            assert extension_of(peer).compressor is not None
            # Two keepalive pings without a message in between: both ends
            # free their compressors, and keep their decompressors.
            await until(
                lambda: (
                    extension_of(peer).compressor is None and extension_of(ws).compressor is None
                )
            )
            assert extension_of(peer).decompressor is not None
            assert extension_of(ws).decompressor is not None
            for _ in range(2):
                await ws.send(JSON_TEXT)
                assert await ws.recv() == JSON_TEXT

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
    received: List[Any] = []

    async def handler(ws: Any) -> None:
        try:
            received.append(await ws.recv())
        except ConnectionClosedError as exc:
            received.append(exc)

    async def main() -> Any:
        async with echo_server(handler=handler, max_size=MIB) as (server, _):
            peer = await RawPeer.open(port_of(server))
            tracemalloc.start()
            try:
                peer.send(BINARY, bomb, rsv1=True)
                close = await peer.recv(timeout=10)
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
            await peer.close()
            await until(lambda: received, timeout=5)
            return close, peak

    close, peak = run(main(), timeout=30)
    assert close_code(close) == 1009
    assert isinstance(received[0], ConnectionClosedError)
    assert received[0].sent.code == 1009
    # The peer's masked copy of the bomb, the server's receive buffer and
    # frame, and the decompressor's output bounded by max_size: a few MiB.
    print(f"peak {peak / MIB:.1f} MiB while a 1 GiB bomb was refused")
    assert peak < 10 * MIB, f"peak {peak / MIB:.1f} MiB"


def test_max_size_applies_to_the_whole_decompressed_message():
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    part = b"y" * 600_000
    first = compressor.compress(part) + compressor.flush(zlib.Z_SYNC_FLUSH)
    second = compressor.compress(part) + compressor.flush(zlib.Z_SYNC_FLUSH)

    async def main() -> Wire:
        async with echo_server(max_size=MIB) as (server, _):
            peer = await RawPeer.open(port_of(server))
            # Each frame fits; together they are over max_size.
            peer.send(BINARY, first, fin=False, rsv1=True)
            peer.send(CONT, second[:-4])
            close = await peer.recv()
            await peer.close()
            return close

    assert close_code(run(main())) == 1009


def test_client_refuses_a_bomb_from_the_server(bomb):
    async def handler(ws: Any) -> None:
        # A server that sends a bomb: raw frame written on its transport.
        ws.transport.send(BINARY, bomb, rsv1=True)
        await ws.wait_closed()

    async def main() -> None:
        async with echo_server(handler=handler) as (_, uri), connect(uri, max_size=MIB) as ws:
            with pytest.raises(ConnectionClosedError) as info:
                await ws.recv()
            assert info.value.sent.code == 1009

    run(main(), timeout=20)


# Interoperability

MESSAGES: List[Any] = [JSON_TEXT, JSON_TEXT.encode(), os.urandom(3000), "é" * 3000, SMALL_JSON]


def test_websockets_client_wirespeed_server():
    pytest.importorskip("websockets")
    from websockets.asyncio.client import connect as websockets_connect

    async def main() -> None:
        async with echo_server() as (server, uri), websockets_connect(uri) as ws:
            assert ws.response.headers["Sec-WebSocket-Extensions"].startswith("permessage-deflate")
            for message in MESSAGES:
                await ws.send(message)
                assert await ws.recv() == message
            (peer,) = server.connections
            extension = extension_of(peer)
            assert extension.compressor is not None and extension.decompressor is not None

    run(main())


def test_wirespeed_client_websockets_server():
    pytest.importorskip("websockets")
    from websockets.asyncio.server import serve as websockets_serve

    async def echo(ws: Any) -> None:
        async for message in ws:
            await ws.send(message)

    async def main() -> None:
        async with websockets_serve(echo, HOST, 0) as server:
            uri = f"ws://{HOST}:{server.sockets[0].getsockname()[1]}/"
            async with connect(uri) as ws:
                for message in MESSAGES:
                    await ws.send(message)
                    assert await ws.recv() == message
                extension = extension_of(ws)
                assert extension.compressor is not None and extension.decompressor is not None

    run(main())


def test_aiohttp_client_wirespeed_server():
    aiohttp = pytest.importorskip("aiohttp")

    async def main() -> None:
        async with echo_server() as (server, uri), aiohttp.ClientSession() as session:
            ws = await session.ws_connect(uri, compress=15)
            try:
                assert ws.compress
                for message in MESSAGES:
                    if isinstance(message, str):
                        await ws.send_str(message)
                    else:
                        await ws.send_bytes(message)
                    assert (await ws.receive(timeout=3)).data == message
                (peer,) = server.connections
                extension = extension_of(peer)
                assert extension.compressor is not None and extension.decompressor is not None
            finally:
                await ws.close()

    run(main())


def test_wirespeed_client_aiohttp_server():
    pytest.importorskip("aiohttp")

    async def main() -> None:
        async with aiohttp_echo_server(compress=15) as port, connect(f"ws://{HOST}:{port}/") as ws:
            for message in MESSAGES:
                await ws.send(message)
                assert await ws.recv() == message
            extension = extension_of(ws)
            assert extension.compressor is not None and extension.decompressor is not None

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
wss.on('connection', (ws) => {
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
  const got = isBinary ? data.toString('base64') : data.toString();
  if (got !== text || isBinary !== (kind !== 'text')) { console.log('mismatch ' + index); process.exit(1); }
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
        async with echo_server() as (_, uri):
            process = await asyncio.create_subprocess_exec(
                NODE, str(script), uri, node_messages(), stdout=subprocess.PIPE, env=node_env()
            )
            out, _ = await asyncio.wait_for(process.communicate(), 15)
            lines = out.decode().split("\n")
            assert process.returncode == 0, lines
            assert lines[0].startswith("extensions permessage-deflate")
            assert "ok" in lines

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
            async with connect(f"ws://{HOST}:{port}/") as ws:
                assert ws.response.headers["Sec-WebSocket-Extensions"].startswith(
                    "permessage-deflate"
                )
                for message in MESSAGES:
                    await ws.send(message)
                    assert await ws.recv() == message
                extension = extension_of(ws)
                assert extension.compressor is not None and extension.decompressor is not None
        finally:
            process.kill()
            await process.wait()

    run(main(), timeout=20)
