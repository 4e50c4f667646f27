"""permessage-deflate: wirespeed's faces against websockets, compression on at both ends.

Not a test: it asserts nothing. Three sections (``--sections``):

``echo`` (the acceptance numbers)
    Round trips per second over 127.0.0.1, one connection, one message in
    flight, client and server of the *same* library in two processes pinned to
    the same CPU (``--cpu``, default 0): websockets with ``compression="deflate"``
    (its default) at both ends, wirespeed's asyncio face with its defaults
    (``compression="deflate"``) at both ends, and wirespeed's listener face with
    ``compression="deflate"`` at both ends. For compressible JSON-like text
    (sent as text messages) and for random bytes (binary messages), at 256 B,
    8 KiB and 100 KB. Every message in a cell is different (a pool of 64,
    cycled), as real traffic is, so context takeover helps without making every
    message a copy of the previous one. The harness is ``bench/echo``'s: warm-up,
    then 5 windows without clock reads, the fastest window reported, with the
    CPU time of both processes per round trip (µs/rt, from ``/proc``).

    ``vs websockets`` compares the rate and the CPU time per round trip (the
    ratio of websockets' µs/rt to this row's): on a busy machine, the CPU time
    is the steadier of the two.

    The ``size`` column is the compressed size of the messages on the wire,
    as a share of their size (both directions averaged: the two directions
    have different windows), measured in process through each library's
    Sans-I/O protocols negotiated with its defaults: the faces use the same
    extension objects, so their wire bytes are the same.

``memory``
    Memory per idle connection with compression negotiated: the server
    process's resident set grows by this much per connection (``VmRSS``, 200
    connections), fresh from the handshake and after one 1 KB JSON message each
    way, which makes context takeover keep zlib's state.

``codec``
    In process, no I/O: messages per second through the negotiated extension
    objects alone, and round trips per second through the Sans-I/O protocols,
    to see how much of a round trip is compression.

Usage::

    python setup.py build_ext --inplace
    PYTHONPATH=src python bench/bench_deflate.py                       # ~2 minutes
    PYTHONPATH=src python bench/bench_deflate.py --sections echo --duration 1

The children run with the same interpreter and environment (``src`` first on
``PYTHONPATH`` if it is set so). Other work on the benchmark CPU slows every
row alike; compare the µs/rt columns, and repeat runs.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import subprocess
import sys
import time
import tracemalloc
import zlib
from typing import Any, Callable, Dict, List, Optional, Tuple

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

HERE = os.path.dirname(os.path.abspath(__file__))
SIZES = (256, 8192, 100_000)
SIZE_LABELS = {256: "256 B", 8192: "8 KiB", 100_000: "100 KB"}
KINDS = ("json", "random")
POOL = 64
#: Keepalive interval of the memory section's "then idle" column, in seconds.
KEEPALIVE = 0.5
#: The echo section's implementations, client and server of the same library.
FACES = ("websockets", "wirespeed-asyncio", "wirespeed-listener")


def json_like(size: int, seed: int) -> bytes:
    """A JSON array of event records, cut to ``size`` bytes (ASCII: valid UTF-8)."""
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
    rng = random.Random(size)
    return [rng.randbytes(size) for _ in range(POOL)]


# In-process connections, negotiated by each library's own defaults.


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


def in_process_implementations() -> Dict[str, Callable[[], Tuple[Any, Any]]]:
    implementations: Dict[str, Callable[[], Tuple[Any, Any]]] = {}
    if websockets is not None:
        implementations[f"websockets {websockets.version.version}"] = websockets_pair
    implementations["wirespeed (defaults)"] = wirespeed_pair
    implementations["wirespeed, zlib"] = lambda: wirespeed_pair(zlib)
    return implementations


def frame_types(client: Any) -> Tuple[Any, Any]:
    if isinstance(client, ClientProtocol):
        return Frame, Opcode
    return TheirFrame, TheirOpcode


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


def measure_tracemalloc(
    make_pair: Callable, connections: int, exchange: bool, release: bool = False
) -> float:
    """Bytes per server-side protocol object, fresh or after one message each way.

    ``release`` then calls ``release_idle_compressor()`` twice, as two keepalive
    pings without traffic do on the asyncio face (websockets has no such call).
    """
    gc.collect()
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        servers = []
        for _ in range(connections):
            client, server = make_pair()
            if exchange:
                client.send_text(json_like(1000, 1))
                for chunk in client.data_to_send():
                    server.receive_data(chunk)
                server.events_received()
                server.send_text(json_like(1000, 2))
                server.data_to_send()
            if release:
                for extension in server.extensions:
                    for _ in range(2):
                        getattr(extension, "release_idle_compressor", lambda: None)()
            servers.append(server)
            del client
        gc.collect()
        used = tracemalloc.get_traced_memory()[0] - baseline
    finally:
        tracemalloc.stop()
    return used / connections


# Children of the echo and memory sections: one server, one client, per job.


def die_after(seconds: float) -> None:
    import signal

    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    signal.alarm(int(seconds))


async def serve_forever(face: str, ping_interval: Optional[float]) -> None:
    """Echo server with compression at its defaults; prints its port, runs until killed."""
    if face == "websockets":
        from websockets.asyncio.server import serve

        async def echo(ws: Any) -> None:
            try:
                async for message in ws:
                    await ws.send(message)
            except websockets.exceptions.ConnectionClosed:
                pass  # the clients of the memory section just go away

        server: Any = await serve(
            echo, "127.0.0.1", 0, compression="deflate", max_size=None, ping_interval=ping_interval
        )
    elif face == "wirespeed-asyncio":
        from wirespeed.asyncio import serve as ws_serve
        from wirespeed.exceptions import ConnectionClosed

        async def echo(ws: Any) -> None:
            try:
                async for message in ws:
                    await ws.send(message)
            except ConnectionClosed:
                pass  # the clients of the memory section just go away

        server = await ws_serve(echo, "127.0.0.1", 0, max_size=None, ping_interval=ping_interval)
    elif face == "wirespeed-listener":
        from wirespeed import WSListener, ws_create_server

        class Echo(WSListener):
            def on_ws_frame(self, transport: Any, frame: Any) -> None:
                if frame.msg_type < 8:
                    transport.send(frame.msg_type, frame.get_payload_as_memoryview(), frame.fin)

        server = await ws_create_server(
            lambda request: Echo(), "127.0.0.1", 0, compression="deflate", max_frame_size=2**30
        )
    else:
        raise ValueError(face)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.Event().wait()


async def open_client(face: str, url: str) -> Tuple[Any, Callable[[bytes, bool], Any]]:
    """Connect; return the connection and ``roundtrip(message, text)``, a coroutine function."""
    if face == "websockets":
        from websockets.asyncio.client import connect

        ws: Any = await connect(url, compression="deflate", max_size=None, ping_interval=None)

        async def roundtrip(message: Any, text: bool) -> int:
            await ws.send(message)
            return len(await ws.recv(decode=False))

        return ws, roundtrip
    if face == "wirespeed-asyncio":
        from wirespeed.asyncio import connect as ws_connect_asyncio

        ws = await ws_connect_asyncio(url, max_size=None, ping_interval=None, proxy=None)

        async def roundtrip(message: Any, text: bool) -> int:
            await ws.send(message)
            return len(await ws.recv(decode=False))

        return ws, roundtrip
    raise ValueError(face)


def run_client(face: str, port: int, server_pid: int, kind: str, size: int, args: Any) -> dict:
    """Measure round trips on one connection to the server of the same face."""
    sys.path.insert(0, HERE)
    from echo.measure import measure_roundtrips

    url = f"ws://127.0.0.1:{port}/"
    text = kind == "json"
    messages: List[Any] = payloads(kind, size)
    if text and face != "wirespeed-listener":
        messages = [message.decode() for message in messages]
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)

    if face == "wirespeed-listener":
        from wirespeed import WSListener, WSMsgType, ws_connect

        opcode = WSMsgType.TEXT if text else WSMsgType.BINARY

        class Client(WSListener):
            """Sends the next message from the callback that receives an echo."""

            def __init__(self) -> None:
                self.remaining = 0
                self.index = 0
                self.last = 0
                self.done: Any = None
                self.transport: Any = None

            def on_ws_connected(self, transport: Any) -> None:
                self.transport = transport

            def send_next(self) -> None:
                self.index = (self.index + 1) % POOL
                self.transport.send(opcode, messages[self.index])

            def on_ws_frame(self, transport: Any, frame: Any) -> None:
                self.last = frame.payload_size
                self.remaining -= 1
                if self.remaining:
                    self.send_next()
                else:
                    self.done.set_result(None)

        transport, client = loop.run_until_complete(
            ws_connect(Client, url, compression="deflate", max_frame_size=2**30)
        )

        def run(count: int) -> int:
            client.remaining = count
            client.done = loop.create_future()
            client.send_next()
            loop.run_until_complete(client.done)
            return client.last

        negotiated = transport.response.headers.get("Sec-WebSocket-Extensions")
    else:
        connection, roundtrip = loop.run_until_complete(open_client(face, url))
        state = {"index": 0}

        async def loop_roundtrips(count: int) -> int:
            index = state["index"]
            received = 0
            for _ in range(count):
                index = (index + 1) % POOL
                received = await roundtrip(messages[index], text)
            state["index"] = index
            return received

        def run(count: int) -> int:
            return loop.run_until_complete(loop_roundtrips(count))

        negotiated = connection.response.headers.get("Sec-WebSocket-Extensions")
    if not negotiated or "permessage-deflate" not in negotiated:
        raise RuntimeError(f"{face}: permessage-deflate wasn't negotiated ({negotiated!r})")
    result = measure_roundtrips(run, size, args.warmup, args.duration, server_pid)
    result["extensions"] = negotiated
    return result


def run_memory_client(face: str, port: int, connections: int, exchange: bool) -> None:
    """Open ``connections`` connections (one message each way if ``exchange``), hold them."""
    url = f"ws://127.0.0.1:{port}/"
    message = json_like(1000, 1)

    async def main() -> None:
        held = []
        if face == "wirespeed-listener":
            from wirespeed import WSListener, WSMsgType, ws_connect

            class Client(WSListener):
                def __init__(self) -> None:
                    self.echo: Any = asyncio.get_running_loop().create_future()

                def on_ws_frame(self, transport: Any, frame: Any) -> None:
                    if frame.msg_type < 8 and not self.echo.done():
                        self.echo.set_result(None)

            for _ in range(connections):
                transport, client = await ws_connect(Client, url, compression="deflate")
                if exchange:
                    transport.send(WSMsgType.TEXT, message)
                    await client.echo
                held.append(transport)
        else:
            for _ in range(connections):
                ws, roundtrip = await open_client(face, url)
                if exchange:
                    await roundtrip(message.decode(), True)
                held.append(ws)
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)

    asyncio.run(main())


# The driver.


def child_command(cpu: Optional[int], *arguments: str) -> List[str]:
    command = [sys.executable, os.path.abspath(__file__), *arguments]
    if cpu is not None:
        command = ["taskset", "-c", str(cpu), *command]
    return command


def start_server(
    face: str, cpu: Optional[int], ping_interval: Optional[float] = None
) -> Tuple[subprocess.Popen, int]:
    extra = [] if ping_interval is None else ["--ping-interval", str(ping_interval)]
    server = subprocess.Popen(
        child_command(cpu, "--role", "server", "--face", face, *extra),
        stdout=subprocess.PIPE,
        text=True,
    )
    line = server.stdout.readline() if server.stdout else ""
    if not line.strip():
        stop(server)
        raise RuntimeError(f"{face} server didn't start")
    return server, int(line)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def echo_job(face: str, kind: str, size: int, args: Any) -> dict:
    server, port = start_server(face, args.cpu)
    try:
        completed = subprocess.run(
            child_command(
                args.cpu,
                "--role",
                "client",
                "--face",
                face,
                "--port",
                str(port),
                "--server-pid",
                str(server.pid),
                "--kind",
                kind,
                "--size",
                str(size),
                "--duration",
                str(args.duration),
                "--warmup",
                str(args.warmup),
            ),
            capture_output=True,
            text=True,
            timeout=120 + 3 * (args.duration + args.warmup),
        )
    finally:
        stop(server)
    if completed.returncode != 0:
        raise RuntimeError(f"{face} client failed:\n{completed.stderr[-2000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as file:
        for line in file:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def memory_job(face: str, exchange: bool, args: Any, idle: float = 0.0) -> float:
    """KiB of server RSS per held connection; ``idle``: seconds of keepalive pings first."""
    server, port = start_server(face, args.cpu, KEEPALIVE if idle else None)
    try:
        # One connection first, so that what every connection shares (imports,
        # zlib's tables) is in the baseline.
        warm = subprocess.Popen(
            child_command(
                args.cpu,
                "--role",
                "memory",
                "--face",
                face,
                "--port",
                str(port),
                "--connections",
                "1",
                "--exchange",
                "1",
            ),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert warm.stdout and warm.stdin
        warm.stdout.readline()
        time.sleep(0.2)
        before = rss_kib(server.pid)
        holder = subprocess.Popen(
            child_command(
                args.cpu,
                "--role",
                "memory",
                "--face",
                face,
                "--port",
                str(port),
                "--connections",
                str(args.connections),
                "--exchange",
                "1" if exchange else "0",
            ),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert holder.stdout and holder.stdin
        if holder.stdout.readline().strip() != "ready":
            raise RuntimeError(f"{face} memory client failed")
        time.sleep(0.2 + idle)
        after = rss_kib(server.pid)
        for child in (holder, warm):
            child.stdin.write("\n")  # type: ignore[union-attr]
            child.stdin.flush()  # type: ignore[union-attr]
            child.wait(10)
    finally:
        stop(server)
    return (after - before) / args.connections


def report_echo(args: Any) -> None:
    in_process = in_process_implementations()
    print(
        f"echo: one connection, one message in flight, client and server of the same "
        f"library on CPU {args.cpu}; fastest of 5 windows of {args.duration / 5:.2f} s"
    )
    header = (
        f"{'payload':<15}{'implementation':<21}{'RT/s':>9}{'µs/rt':>8}"
        f"{'vs websockets: RT/s':>21}{'µs/rt':>7}{'size':>8}"
    )
    print(header)
    print("-" * len(header))
    ratios_for = {
        "websockets": next((k for k in in_process if k.startswith("websockets")), None),
        "wirespeed-asyncio": "wirespeed (defaults)",
        "wirespeed-listener": "wirespeed (defaults)",
    }
    records = []
    for kind in KINDS:
        for size in SIZES:
            messages = payloads(kind, size)
            ratios = {
                name: measure_ratio(make, messages, kind == "json")
                for name, make in in_process.items()
            }
            rows = {}
            for face in args.faces:
                if face == "websockets" and websockets is None:
                    continue
                rows[face] = echo_job(face, kind, size, args)
            base = rows.get("websockets")
            label = f"{kind} {SIZE_LABELS[size]}"
            for face, row in rows.items():
                cpu_us = row["client_cpu_us"] + row["server_cpu_us"]
                versus = f"{row['rate'] / base['rate']:.2f}x" if base else "-"
                base_cpu = base["client_cpu_us"] + base["server_cpu_us"] if base else None
                versus_cpu = f"{base_cpu / cpu_us:.2f}x" if base_cpu else "-"
                ratio_name = ratios_for.get(face)
                ratio = ratios.get(ratio_name) if ratio_name else None
                size_text = f"{ratio * 100:.1f}%" if ratio is not None else "-"
                print(
                    f"{label:<15}{face:<21}{row['rate']:>9,.0f}{cpu_us:>8.0f}"
                    f"{versus:>21}{versus_cpu:>7}{size_text:>8}"
                )
                records.append(dict(row, face=face, kind=kind, payload_size=size, ratio=ratio))
            print()
    if args.json:
        with open(args.json, "w") as file:
            json.dump(records, file, indent=1)


def report_memory(args: Any) -> None:
    print(
        f"memory per idle connection with compression negotiated: server RSS growth "
        f"over {args.connections} connections"
    )
    print(f"{'implementation':<21}{'fresh':>12}{'after 1 msg each way':>24}{'then idle':>14}")
    idle = 3 * KEEPALIVE + 0.5
    for face in args.faces:
        if face == "websockets" and websockets is None:
            continue
        fresh = memory_job(face, False, args)
        used = memory_job(face, True, args)
        # The listener face has no keepalive unless the application enables
        # auto ping: nothing frees its compressors by itself.
        rested = memory_job(face, True, args, idle) if face != "wirespeed-listener" else None
        rested_text = "-" if rested is None else f"{rested:.1f} KiB"
        print(f"{face:<21}{fresh:>8.1f} KiB{used:>20.1f} KiB{rested_text:>14}")
    print(
        f"(then idle: {idle:.1f} s with keepalive pings every {KEEPALIVE} s; wirespeed's "
        "asyncio face frees an idle connection's compressor at a keepalive ping)"
    )
    print()
    print("the same, in process: tracemalloc over server-side Sans-I/O protocol objects")
    for name, make in in_process_implementations().items():
        fresh = measure_tracemalloc(make, args.connections, exchange=False)
        used = measure_tracemalloc(make, args.connections, exchange=True)
        rested = measure_tracemalloc(make, args.connections, exchange=True, release=True)
        print(
            f"{name:<21}{fresh / 1024:>8.1f} KiB{used / 1024:>20.1f} KiB{rested / 1024:>10.1f} KiB"
        )
    print()


def report_codec(args: Any) -> None:
    implementations = in_process_implementations()
    names = list(implementations)
    reference = names[0]
    print("in process: extension objects alone (codec) and Sans-I/O round trips")
    header = (
        f"{'payload':<15}{'implementation':<22}{'ratio':>8}{'codec msg/s':>14}{'sansio RT/s':>14}"
        f"{'vs ' + reference.split()[0]:>18}"
    )
    print(header)
    print("-" * len(header))
    for kind in KINDS:
        for size in SIZES:
            messages = payloads(kind, size)
            text = kind == "json"
            rows = {}
            for name in names:
                make = implementations[name]
                rows[name] = (
                    measure_ratio(make, messages, text),
                    measure_codec(make, messages, args.duration),
                    measure_sansio(make, messages, args.duration, text),
                )
            base = rows[reference]
            for name, (ratio, codec, sansio) in rows.items():
                versus = f"{codec / base[1]:.2f}x / {sansio / base[2]:.2f}x"
                print(
                    f"{kind + ' ' + SIZE_LABELS[size]:<15}{name:<22}{ratio:>8.3f}"
                    f"{codec:>14,.0f}{sansio:>14,.0f}{versus:>18}"
                )
            print()


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", default="echo,memory", help="echo, memory, codec")
    parser.add_argument("--faces", default=",".join(FACES), help="implementations to run")
    parser.add_argument("--duration", type=float, default=2.0, help="seconds measured per cell")
    parser.add_argument("--warmup", type=float, default=0.5, help="seconds of warm-up per cell")
    parser.add_argument("--connections", type=int, default=200, help="for the memory section")
    parser.add_argument("--cpu", type=int, default=0, help="CPU for both processes; -1: none")
    parser.add_argument("--json", help="write the echo results to this file")
    # Children.
    parser.add_argument("--role", choices=["server", "client", "memory"], help=argparse.SUPPRESS)
    parser.add_argument("--face", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--server-pid", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--kind", help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--exchange", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--ping-interval", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.faces = [face for face in args.faces.split(",") if face]
    args.cpu = None if args.cpu < 0 else args.cpu

    if args.role == "server":
        die_after(600)
        asyncio.run(serve_forever(args.face, args.ping_interval))
        return 0
    if args.role == "client":
        die_after(300)
        result = run_client(args.face, args.port, args.server_pid, args.kind, args.size, args)
        print(json.dumps(result))
        return 0
    if args.role == "memory":
        die_after(300)
        run_memory_client(args.face, args.port, args.connections, bool(args.exchange))
        return 0

    core = "compiled" if getattr(wirespeed, "COMPILED", False) else "pure Python"
    print(
        f"Python {sys.version.split()[0]}, wirespeed {core} core, default zlib module "
        f"{ours.DEFAULT_ZLIB.__name__}, zlib {zlib.ZLIB_RUNTIME_VERSION}"
        + ("" if zlib_ng is None else f", zlib-ng {getattr(zlib_ng, 'ZLIBNG_VERSION', '?')}")
        + ("" if websockets is None else f", websockets {websockets.version.version}")
    )
    if websockets is None:
        print("websockets isn't installed: its rows are missing")
    print()
    sections = args.sections.split(",")
    if "echo" in sections:
        report_echo(args)
    if "memory" in sections:
        report_memory(args)
    if "codec" in sections:
        report_codec(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
