"""Blocking WebSocket clients, round trips on one connection: wirespeed.sync
against websocket-client and websockets' threading client.

Every client talks to the same echo server (wirespeed's listener face, in its
own process, on uvloop when it is installed: ``--server-loop``) and keeps one
binary message in flight: send, then wait for the echo. Client and server
processes are pinned to the same CPU (``taskset -c 0``; ``--cpu``), so the rate
includes every context switch a client causes, and the server's CPU time too:
on one core, the rate is about 1 / (client CPU + server CPU) per round trip.
For each client and size it prints the round trips per second, the CPU
microseconds the client process and the server process each spend per round
trip (user + system, all of their threads), the median of ``--runs`` runs, and
each rate as a ratio to websocket-client and to websockets.

Usage::

    python bench/bench_sync.py                      # about 1 minute
    python bench/bench_sync.py --sizes 256,8192 --duration 1 --runs 5
    python bench/bench_sync.py --cpu 1 --server-loop asyncio

Peers (the ``bench`` extra): ``pip install websocket-client websockets``.
This is a benchmark, not a test: nothing here asserts a result.
"""

from __future__ import annotations

import argparse
import asyncio
import glob
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "src"))

#: Client name -> (module that must be importable, description).
CLIENTS: Dict[str, Tuple[str, str]] = {
    "wirespeed.sync.connect": ("wirespeed", "wirespeed, websockets-style Connection"),
    "wirespeed.sync.create_connection": ("wirespeed", "wirespeed, websocket-client API"),
    "websocket-client": ("websocket", "websocket-client create_connection"),
    "websockets.sync": ("websockets", "websockets.sync.client.connect"),
}


# Child processes


def serve(port_file: str, loop_name: str) -> None:
    """Run the echo server until stdin closes (child process)."""
    import wirespeed

    data_types = (
        wirespeed.WSMsgType.BINARY,
        wirespeed.WSMsgType.TEXT,
        wirespeed.WSMsgType.CONTINUATION,
    )

    class Echo(wirespeed.WSListener):
        def on_ws_frame(self, transport: Any, frame: Any) -> None:
            if frame.msg_type in data_types:
                transport.send(frame.msg_type, frame.get_payload_as_memoryview(), frame.fin)
            elif frame.msg_type == wirespeed.WSMsgType.CLOSE:
                transport.send_close(frame.get_close_code(), frame.get_close_message())
                transport.disconnect()

    async def main() -> None:
        server = await wirespeed.ws_create_server(
            lambda request: Echo(), "127.0.0.1", 0, max_frame_size=2**24
        )
        with open(port_file + ".tmp", "w") as file:
            file.write(str(server.sockets[0].getsockname()[1]))
        os.replace(port_file + ".tmp", port_file)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, sys.stdin.read)
        server.close()

    if loop_name == "uvloop":
        import uvloop

        uvloop.run(main())
    else:
        asyncio.run(main())


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system, all threads) of process ``pid``, from schedstat."""
    total = 0
    for path in glob.glob(f"/proc/{pid}/task/*/schedstat"):
        try:
            with open(path) as file:
                total += int(file.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total / 1e9


def open_client(name: str, url: str) -> Tuple[Callable[[bytes], Any], Callable[[], None]]:
    """Return ``(round_trip, close)`` for one client library."""
    if name == "wirespeed.sync.connect":
        from wirespeed.sync import connect

        ws = connect(url, ping_interval=None, max_size=2**24, compression=None)

        def round_trip(payload: bytes) -> Any:
            ws.send(payload)
            return ws.recv()

        return round_trip, ws.close
    if name == "wirespeed.sync.create_connection":
        from wirespeed.sync import create_connection

        ws = create_connection(url)

        def round_trip(payload: bytes) -> Any:
            ws.send_binary(payload)
            return ws.recv()

        return round_trip, ws.close
    if name == "websocket-client":
        import websocket

        ws = websocket.create_connection(url)

        def round_trip(payload: bytes) -> Any:
            ws.send_binary(payload)
            return ws.recv()

        return round_trip, ws.close
    if name == "websockets.sync":
        from websockets.sync.client import connect as websockets_connect

        ws = websockets_connect(url, max_size=2**24, compression=None, ping_interval=None)
        # Used as a context manager, as websockets asks (17.1+ warns otherwise).
        ws = ws.__enter__()

        def round_trip(payload: bytes) -> Any:
            ws.send(payload)
            return ws.recv()

        return round_trip, ws.close
    raise ValueError(name)


def client(name: str, url: str, size: int, warmup: float, duration: float, server_pid: int) -> None:
    """Measure one client at one size; print a JSON line (child process)."""
    round_trip, close = open_client(name, url)
    payload = os.urandom(size)
    try:
        assert len(round_trip(payload)) == size
        end = time.perf_counter() + warmup
        while time.perf_counter() < end:
            round_trip(payload)
        count = 0
        cpu = time.process_time()
        server_cpu = cpu_seconds(server_pid)
        started = time.perf_counter()
        end = started + duration
        while True:
            for _ in range(10 if size < 100_000 else 1):
                round_trip(payload)
            count += 10 if size < 100_000 else 1
            now = time.perf_counter()
            if now >= end:
                break
        elapsed = now - started
        cpu = time.process_time() - cpu
        server_cpu = cpu_seconds(server_pid) - server_cpu
    finally:
        close()
    result = {
        "rate": count / elapsed,
        "cpu_us": cpu / count * 1e6,
        "server_cpu_us": server_cpu / count * 1e6,
    }
    print(json.dumps(result))


# Driver


def pinned(command: List[str], cpu: Optional[str]) -> List[str]:
    """Prefix ``command`` with ``taskset -c CPU`` when pinning."""
    if cpu is None:
        return command
    return ["taskset", "-c", cpu, *command]


def start_server(
    cpu: Optional[str], loop_name: str, env: Dict[str, str]
) -> Tuple[subprocess.Popen, int]:
    port_file = os.path.join(ROOT, "bench", f".bench_sync_port_{os.getpid()}")
    process = subprocess.Popen(
        pinned([sys.executable, __file__, "--child-serve", port_file, loop_name], cpu),
        stdin=subprocess.PIPE,
        env=env,
    )
    deadline = time.monotonic() + 30
    while not os.path.exists(port_file):
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the echo server didn't start")
        time.sleep(0.05)
    with open(port_file) as file:
        port = int(file.read())
    os.unlink(port_file)
    return process, port


def run_client(
    name: str,
    url: str,
    size: int,
    args: argparse.Namespace,
    env: Dict[str, str],
    server_pid: int,
) -> Dict[str, float]:
    command = [
        sys.executable,
        __file__,
        "--child-client",
        name,
        url,
        str(size),
        str(args.warmup),
        str(args.duration),
        str(server_pid),
    ]
    output = subprocess.run(
        pinned(command, args.cpu),
        capture_output=True,
        text=True,
        env=env,
        timeout=60 + args.duration * 4,
        check=True,
    )
    return json.loads(output.stdout.strip().splitlines()[-1])


def available_module(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def available(name: str) -> bool:
    return available_module(CLIENTS[name][0])


def version(module: str) -> str:
    from importlib import metadata

    distribution = {"websocket": "websocket-client"}.get(module, module)
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "?"


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="256,8192,1000000")
    parser.add_argument("--duration", type=float, default=1.5, help="seconds per measurement")
    parser.add_argument("--warmup", type=float, default=0.3)
    parser.add_argument("--runs", type=int, default=3, help="measurements per cell (median)")
    parser.add_argument("--cpu", default="0", help="CPU for taskset -c; 'none' to not pin")
    parser.add_argument("--clients", default=",".join(CLIENTS))
    parser.add_argument(
        "--server-loop",
        choices=("uvloop", "asyncio"),
        default="uvloop" if available_module("uvloop") else "asyncio",
        help="event loop of the echo server (the same for every client)",
    )
    args = parser.parse_args(argv)
    if args.cpu == "none" or shutil.which("taskset") is None:
        args.cpu = None
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [os.path.join(ROOT, "src"), *filter(None, [env.get("PYTHONPATH")])]
    )
    import wirespeed

    names = [name for name in args.clients.split(",") if available(name)]
    sizes = [int(size) for size in args.sizes.split(",")]
    print(
        f"wirespeed {wirespeed.__version__} (compiled core: {wirespeed.COMPILED}), "
        f"websocket-client {version('websocket')}, websockets {version('websockets')}, "
        f"Python {sys.version.split()[0]}, pinned to CPU {args.cpu}"
    )
    print(
        f"median of {args.runs} runs of {args.duration}s; "
        f"server: wirespeed listener face on {args.server_loop}\n"
    )
    server, port = start_server(args.cpu, args.server_loop, env)
    url = f"ws://127.0.0.1:{port}/"
    results: Dict[Tuple[str, int], Dict[str, float]] = {}
    try:
        for size in sizes:
            for name in names:
                runs = [
                    run_client(name, url, size, args, env, server.pid) for _ in range(args.runs)
                ]
                results[name, size] = {
                    key: statistics.median(run[key] for run in runs)
                    for key in ("rate", "cpu_us", "server_cpu_us")
                }
    finally:
        assert server.stdin is not None
        server.stdin.close()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    header = (
        f"{'client':<34} {'size':>8} {'round trips/s':>14} {'client µs/rt':>12} "
        f"{'server µs/rt':>12} "
        f"{'vs websocket-client':>20} {'vs websockets':>14}"
    )
    print(header)
    print("-" * len(header))
    for size in sizes:
        for name in names:
            cell = results[name, size]
            ratios = []
            for reference in ("websocket-client", "websockets.sync"):
                other = results.get((reference, size))
                ratios.append(f"{cell['rate'] / other['rate']:.2f}x" if other else "-")
            print(
                f"{name:<34} {size:>8} {cell['rate']:>14,.0f} {cell['cpu_us']:>12.1f} "
                f"{cell['server_cpu_us']:>12.1f} "
                f"{ratios[0]:>20} {ratios[1]:>14}"
            )
        print()
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child-serve":
        serve(sys.argv[2], sys.argv[3])
    elif len(sys.argv) > 1 and sys.argv[1] == "--child-client":
        name, url, size, warmup, duration, server_pid = sys.argv[2:8]
        client(name, url, int(size), float(warmup), float(duration), int(server_pid))
    else:
        sys.exit(main())
