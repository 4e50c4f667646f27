"""permessage-deflate, in process: wirespeed's defaults against websockets'.

Not a test: it asserts nothing. For compressible JSON-like text and for random
bytes, at 256 B, 8 KiB and 100 KB, it prints for each implementation:

* ``ratio``: compressed size on the wire over message size, both directions
  averaged (client to server and server to client have different windows);
* ``codec``: messages per second through the negotiated extension objects
  alone, compress on one end and decompress on the other, both directions,
  so one row unit is one round trip's worth of compression work;
* ``sansio``: round trips per second through the Sans-I/O protocols (client
  sends, server receives and sends the message back, client receives): the
  codec plus framing, masking and UTF-8 validation, no I/O.

Then memory per idle connection with compression negotiated, measured with
tracemalloc over many server-side protocol objects: fresh from the handshake,
and after one message each way (when context takeover keeps zlib's state).

Each connection is negotiated the way the libraries do it by default:
wirespeed's ``enable_client_permessage_deflate``/``enable_server_permessage_deflate``
against each other, websockets' ``compression="deflate"`` (its
``enable_*_permessage_deflate``) against each other. Every message in a run is
different (a pool of 64), as real traffic is, so context takeover helps without
making every message a copy of the previous one.

Usage::

    python bench/bench_deflate.py                 # about a minute
    python bench/bench_deflate.py --duration 0.2  # quicker, noisier

Run it against the working tree: ``PYTHONPATH=src python bench/bench_deflate.py``
after ``python setup.py build_ext --inplace``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import sys
import time
import tracemalloc
import zlib
from typing import Any, Callable, Dict, List, Tuple

import wirespeed
from wirespeed.extensions import permessage_deflate as ours
from wirespeed.frames import Frame, Opcode
from wirespeed.sansio import ClientProtocol, ServerProtocol
from wirespeed.uri import parse_uri

try:
    import websockets
    from websockets.client import ClientProtocol as TheirClient
    from websockets.extensions import permessage_deflate as theirs
    from websockets.frames import Frame as TheirFrame
    from websockets.frames import Opcode as TheirOpcode
    from websockets.server import ServerProtocol as TheirServer
    from websockets.uri import parse_uri as their_parse_uri
except ImportError:  # pragma: no cover - optional
    websockets = None

try:
    from zlib_ng import zlib_ng
except ImportError:  # pragma: no cover - optional
    zlib_ng = None

SIZES = (256, 8192, 100_000)
SIZE_LABELS = {256: "256 B", 8192: "8 KiB", 100_000: "100 KB"}
POOL = 64


def json_like(size: int, seed: int) -> bytes:
    """A JSON array of event records, cut to ``size`` bytes."""
    rng = random.Random(seed)
    records, length = [], 0
    while length < size:
        record = {
            "id": rng.randrange(10**9),
            "user": f"user{rng.randrange(5000)}",
            "event": rng.choice(["click", "view", "purchase", "scroll", "login"]),
            "ts": 1_700_000_000 + rng.randrange(10**7),
            "price": round(rng.random() * 500, 2),
            "tags": rng.sample(["red", "green", "blue", "new", "sale", "promo", "vip"], 3),
            "ok": rng.random() < 0.9,
        }
        text = json.dumps(record)
        records.append(text)
        length += len(text) + 2
    return ("[" + ", ".join(records) + "]").encode()[:size]


def payloads(kind: str, size: int) -> List[bytes]:
    if kind == "json":
        return [json_like(size, seed) for seed in range(POOL)]
    return [os.urandom(size) for _ in range(POOL)]


# Connections, negotiated by each library's own defaults.


def wirespeed_pair(zlib_module: Any = None) -> Tuple[Any, Any]:
    client_factories = ours.enable_client_permessage_deflate(None)
    server_factories = ours.enable_server_permessage_deflate(None)
    if zlib_module is not None:
        for factory in client_factories + server_factories:
            factory.zlib_module = zlib_module
    client = ClientProtocol(
        parse_uri("ws://localhost/"), extensions=client_factories, max_size=None
    )
    server = ServerProtocol(extensions=server_factories, max_size=None)
    return handshake(client, server)


def websockets_pair() -> Tuple[Any, Any]:
    client = TheirClient(
        their_parse_uri("ws://localhost/"),
        extensions=theirs.enable_client_permessage_deflate(None),
        max_size=None,
    )
    server = TheirServer(extensions=theirs.enable_server_permessage_deflate(None), max_size=None)
    return handshake(client, server)


def handshake(client: Any, server: Any) -> Tuple[Any, Any]:
    client.send_request(client.connect())
    for data in client.data_to_send():
        server.receive_data(data)
    [request] = server.events_received()
    server.send_response(server.accept(request))
    for data in server.data_to_send():
        client.receive_data(data)
    client.events_received()
    assert len(client.extensions) == 1 and len(server.extensions) == 1
    return client, server


IMPLEMENTATIONS: Dict[str, Callable[[], Tuple[Any, Any]]] = {}
if websockets is not None:
    IMPLEMENTATIONS[f"websockets {websockets.version.version}"] = websockets_pair
IMPLEMENTATIONS["wirespeed, zlib"] = lambda: wirespeed_pair(zlib)
if zlib_ng is not None:
    IMPLEMENTATIONS["wirespeed, zlib-ng"] = lambda: wirespeed_pair(zlib_ng)


def frame_types(client: Any) -> Tuple[Any, Any]:
    if isinstance(client, ClientProtocol):
        return Frame, Opcode
    return TheirFrame, TheirOpcode


# Measurements.


def measure_ratio(make_pair: Callable, messages: List[bytes], text: bool) -> float:
    """Bytes on the wire per byte of message, both directions averaged."""
    client, server = make_pair()
    sent = wire = 0
    for message in messages:
        for sender, receiver in ((client, server), (server, client)):
            (sender.send_text if text else sender.send_binary)(message)
            chunks = sender.data_to_send()
            wire += sum(payload_size(chunk) for chunk in chunks)
            sent += len(message)
            for chunk in chunks:
                receiver.receive_data(chunk)
            receiver.events_received()
    return wire / sent


def payload_size(chunk: bytes) -> int:
    """Size of the payload of the single frame in ``chunk``."""
    length = chunk[1] & 0x7F
    header = 2 + (2 if length == 126 else 8 if length == 127 else 0)
    header += 4 if chunk[1] & 0x80 else 0
    return len(chunk) - header


def measure_codec(make_pair: Callable, messages: List[bytes], duration: float) -> float:
    """Messages per second through the extension objects, both directions."""
    client, server = make_pair()
    frame_type, opcode_type = frame_types(client)
    opcode = opcode_type.BINARY
    client_extension, server_extension = client.extensions[0], server.extensions[0]
    directions = ((client_extension, server_extension), (server_extension, client_extension))
    frames = [frame_type(opcode, message) for message in messages]
    count, deadline = 0, time.perf_counter() + duration
    started = time.perf_counter()
    while time.perf_counter() < deadline:
        for frame in frames:
            for encoder, decoder in directions:
                decoder.decode(encoder.encode(frame), max_size=None)
        count += len(frames)
    return count / (time.perf_counter() - started)


def measure_sansio(
    make_pair: Callable, messages: List[bytes], duration: float, text: bool
) -> float:
    """Round trips per second through the Sans-I/O protocols."""
    client, server = make_pair()
    client_send = client.send_text if text else client.send_binary
    server_send = server.send_text if text else server.send_binary
    count, deadline = 0, time.perf_counter() + duration
    started = time.perf_counter()
    while time.perf_counter() < deadline:
        for message in messages:
            client_send(message)
            for chunk in client.data_to_send():
                server.receive_data(chunk)
            [frame] = server.events_received()
            server_send(frame.data)
            for chunk in server.data_to_send():
                client.receive_data(chunk)
            client.events_received()
        count += len(messages)
    return count / (time.perf_counter() - started)


def measure_idle_memory(make_pair: Callable, connections: int, exchange: bool) -> float:
    """Bytes per server-side connection object, fresh or after one message each way."""
    gc.collect()
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        servers = []
        for _ in range(connections):
            client, server = make_pair()
            if exchange:
                client.send_text(b'{"hello": "world", "n": 1234567890, "ok": true}')
                for chunk in client.data_to_send():
                    server.receive_data(chunk)
                server.events_received()
                server.send_text(b'{"hello": "world", "n": 1234567890, "ok": true}')
                server.data_to_send()
            servers.append(server)
            del client
        gc.collect()
        used = tracemalloc.get_traced_memory()[0] - baseline
    finally:
        tracemalloc.stop()
    return used / connections


# Report.


def main(argv: List[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=1.0, help="seconds per cell")
    parser.add_argument("--connections", type=int, default=300, help="for the memory rows")
    args = parser.parse_args(argv)

    core = "compiled" if getattr(wirespeed, "COMPILED", False) else "pure Python"
    print(
        f"Python {sys.version.split()[0]}, wirespeed {core} core, zlib {zlib.ZLIB_RUNTIME_VERSION}"
        + ("" if zlib_ng is None else f", zlib-ng {getattr(zlib_ng, 'ZLIBNG_VERSION', '?')}")
    )
    if websockets is None:
        print("websockets isn't installed: its rows are missing")
    print(f"{args.duration:.1f} s per cell; messages: {POOL} different ones per cell, cycled\n")

    names = list(IMPLEMENTATIONS)
    reference = names[0]
    header = (
        f"{'payload':<14}{'implementation':<22}{'ratio':>8}{'codec msg/s':>14}{'sansio RT/s':>14}"
    )
    header += f"{'vs ' + reference.split()[0]:>18}"
    print(header)
    print("-" * len(header))
    for kind in ("json", "random"):
        for size in SIZES:
            messages = payloads(kind, size)
            text = kind == "json"
            label = f"{kind} {SIZE_LABELS[size]}"
            rows = {}
            for name in names:
                make_pair = IMPLEMENTATIONS[name]
                ratio = measure_ratio(make_pair, messages, text)
                codec = measure_codec(make_pair, messages, args.duration)
                sansio = measure_sansio(make_pair, messages, args.duration, text)
                rows[name] = (ratio, codec, sansio)
            for name, (ratio, codec, sansio) in rows.items():
                base = rows[reference]
                versus = f"{codec / base[1]:.2f}x / {sansio / base[2]:.2f}x"
                print(
                    f"{label:<14}{name:<22}{ratio:>8.3f}{codec:>14,.0f}{sansio:>14,.0f}{versus:>18}"
                )
            print()

    print("memory per idle connection with compression negotiated (server side, tracemalloc)")
    print(f"{'implementation':<22}{'fresh':>12}{'after 1 msg each way':>24}")
    for name in names:
        fresh = measure_idle_memory(IMPLEMENTATIONS[name], args.connections, exchange=False)
        used = measure_idle_memory(IMPLEMENTATIONS[name], args.connections, exchange=True)
        print(f"{name:<22}{fresh / 1024:>9.1f} KiB{used / 1024:>21.1f} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
