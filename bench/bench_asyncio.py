#!/usr/bin/env python3
"""Benchmark of the asyncio face: round trips against picows and websockets.

Not a test: it asserts nothing about speed. Each library runs as both client
and server (wirespeed.asyncio against wirespeed.asyncio, wirespeed's listener
face and picows' listener API against themselves, websockets 17 against itself,
and picows' own websockets-compatible layer ``picows.websockets`` when
present), one message in flight, binary messages, compression off, no size limit. Both processes are
pinned to one CPU (``--cpu``, as ``taskset -c 0`` would do): a round trip then
costs exactly the CPU both sides spend, which is what the table ranks.

Usage::

    python bench/bench_asyncio.py --cpu 1               # about 3 minutes
    python bench/bench_asyncio.py --runs 2 --json out.json
    python bench/bench_asyncio.py --loops uvloop --sizes 256 --duration 0.5

It reuses the echo benchmark's timing and CPU accounting (``bench/echo``:
:func:`echo.measure.measure_roundtrips`, :mod:`echo.runtime`) and its picows
and websockets roles; the children are this script itself
(``bench_asyncio.py child server|client ...``). Each cell shows the rate and
``client + server`` CPU microseconds per round trip; with ``--runs N`` the
median and the range over the runs. ``x picows`` divides the rate by the
picows listener row's on the same loop and size; ``x picows cpu`` divides
picows' CPU per round trip by the row's (above 1: cheaper than picows);
``x websockets`` and ``x websockets cpu`` do the same against websockets' row.
The wirespeed-listener row shows what the asyncio face costs on top of the
listener face it is built on.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
HOST = "127.0.0.1"

LIBRARIES = [
    "wirespeed-asyncio",
    "wirespeed-listener",
    "picows",
    "websockets",
    "picows-websockets",
]
REFERENCE = "picows"
SECOND_REFERENCE = "websockets"


# The libraries, as roles for echo.measure (children only)


class AsyncioFaceRole:
    """wirespeed.asyncio, used the way a websockets application is written."""

    is_async = True

    def __init__(self, module: str = "wirespeed.asyncio") -> None:
        import importlib

        self.lib = importlib.import_module(module)
        self.options = {"compression": None, "max_size": None}

    async def serve(self, host: str):
        closed = self.lib.ConnectionClosed

        async def echo(websocket) -> None:
            try:
                async for message in websocket:
                    await websocket.send(message)
            except closed:
                pass

        server = await self.lib.serve(echo, host, 0, **self.options)
        return server, server.sockets[0].getsockname()[1]

    async def connect(self, url: str):
        return await self.lib.connect(url, **self.options)

    async def roundtrips(self, websocket, payload: bytes, count: int) -> int:
        send, recv = websocket.send, websocket.recv
        reply = b""
        for _ in range(count):
            await send(payload)
            reply = await recv()
        return len(reply)

    async def close(self, websocket) -> None:
        await websocket.close()


def load_role(name: str):
    sys.path.insert(0, str(HERE))
    if name == "wirespeed-asyncio":
        return AsyncioFaceRole()
    if name == "picows-websockets":
        return AsyncioFaceRole("picows.websockets")
    if name in ("picows", "wirespeed-listener"):
        from echo.listener import ListenerRole

        return ListenerRole("picows" if name == "picows" else "wirespeed")
    if name == "websockets":
        from echo.websockets_role import WebsocketsRole

        return WebsocketsRole()
    raise SystemExit(f"unknown library {name!r}")


def child(argv: list) -> None:
    parser = argparse.ArgumentParser(prog="bench_asyncio.py child")
    parser.add_argument("command", choices=["server", "client"])
    parser.add_argument("--lib", required=True)
    parser.add_argument("--loop", default="asyncio")
    parser.add_argument("--cpu", type=int)
    parser.add_argument("--port", type=int)
    parser.add_argument("--server-pid", type=int)
    parser.add_argument("--sizes", default="256")
    parser.add_argument("--warmup", type=float, default=0.3)
    parser.add_argument("--duration", type=float, default=1.0)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(HERE))
    from echo.measure import measure_roundtrips
    from echo.runtime import die_after, new_loop, pin_to_cpu

    die_after(600)
    pin_to_cpu(args.cpu)
    role = load_role(args.lib)
    loop = new_loop(args.loop)
    if args.command == "server":
        server, port = loop.run_until_complete(role.serve(HOST))  # noqa: RUF059 (kept alive)
        print(f"READY {port} {os.getpid()}", flush=True)
        loop.run_forever()
        return
    connection = loop.run_until_complete(role.connect(f"ws://{HOST}:{args.port}/"))
    results = []
    for size in [int(part) for part in args.sizes.split(",")]:
        payload = os.urandom(size)

        def run(count: int, payload: bytes = payload) -> int:
            return loop.run_until_complete(role.roundtrips(connection, payload, count))

        results.append(
            measure_roundtrips(run, size, args.warmup, args.duration, args.server_pid, 5)
        )
    try:
        loop.run_until_complete(asyncio.wait_for(role.close(connection), 5))
    except Exception as exc:
        print(f"close failed: {exc!r}", file=sys.stderr)
    print("RESULT " + json.dumps(results), flush=True)


# Driver


def run_job(lib: str, loop: str, args: argparse.Namespace) -> list:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [args.src, str(HERE)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
    )
    base = [sys.executable, str(Path(__file__).resolve()), "child"]
    common = ["--lib", lib, "--loop", loop, "--cpu", str(args.cpu)]
    server = subprocess.Popen(
        [*base, "server", *common], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        line = server.stdout.readline().split()
        if not line or line[0] != "READY":
            raise RuntimeError(f"{lib} server did not start")
        port, pid = line[1], line[2]
        client = subprocess.run(
            [
                *base,
                "client",
                *common,
                "--port",
                port,
                "--server-pid",
                pid,
                "--sizes",
                args.sizes,
                "--warmup",
                str(args.warmup),
                "--duration",
                str(args.duration),
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=600,
        )
        for output in client.stdout.splitlines():
            if output.startswith("RESULT "):
                return json.loads(output[7:])  # type: ignore[no-any-return]
        raise RuntimeError(f"{lib} on {loop} failed:\n{client.stderr[-2000:]}")
    finally:
        server.terminate()
        try:
            server.wait(5)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        server.stdout.close()


def available(lib: str, src: str) -> bool:
    module = {
        "wirespeed-asyncio": "wirespeed.asyncio",
        "picows": "picows",
        "wirespeed-listener": "wirespeed",
        "websockets": "websockets.asyncio.client",
        "picows-websockets": "picows.websockets",
    }[lib]
    code = f"import {module}"
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    return (
        subprocess.run([sys.executable, "-c", code], env=env, capture_output=True).returncode == 0
    )


def summarize(values: list, fmt: str) -> str:
    if len(values) == 1:
        return fmt.format(values[0])
    low, high = fmt.format(min(values)), fmt.format(max(values))
    return f"{fmt.format(statistics.median(values))} ({low}-{high})"


def size_name(size: int) -> str:
    if size >= 1000000 and size % 1000000 == 0:
        return f"{size // 1000000} MB"
    if size >= 1024 and size % 1024 == 0:
        return f"{size // 1024} KiB"
    if size >= 1000 and size % 1000 == 0:
        return f"{size // 1000} kB"
    return f"{size} B"


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "child":
        child(sys.argv[2:])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="256,8192,100000,1000000")
    parser.add_argument("--loops", default="uvloop,asyncio")
    parser.add_argument("--libs", default=",".join(LIBRARIES))
    parser.add_argument("--duration", type=float, default=1.0, help="measured seconds per size")
    parser.add_argument("--warmup", type=float, default=0.3)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--cpu", type=int, default=0, help="CPU both processes are pinned to")
    parser.add_argument("--json", help="write every raw result to this file")
    parser.add_argument(
        "--src", default=str(ROOT / "src"), help="where wirespeed is imported from (src/)"
    )
    args = parser.parse_args()
    libs = [lib for lib in args.libs.split(",") if lib]
    missing = [lib for lib in libs if not available(lib, args.src)]
    for lib in missing:
        print(f"note: {lib} is not installed; skipped", file=sys.stderr)
    libs = [lib for lib in libs if lib not in missing]
    loops = [loop for loop in args.loops.split(",") if loop]
    results: dict = {}
    started = time.monotonic()
    for run in range(args.runs):
        jobs = [(lib, loop) for loop in loops for lib in libs]
        if run % 2:
            jobs.reverse()
        for lib, loop in jobs:
            print(f"run {run + 1}: {lib} on {loop}", file=sys.stderr, flush=True)
            for record in run_job(lib, loop, args):
                key = (lib, loop, record["size"])
                results.setdefault(key, []).append(record)
    elapsed = time.monotonic() - started
    print(
        f"\n{args.runs} run(s) in {elapsed:.0f} s, pinned to CPU {args.cpu}, "
        f"wirespeed from {args.src}\n"
    )
    sizes = [int(part) for part in args.sizes.split(",")]
    print(
        "| size | loop | library | round trips/s | client + server us/rt "
        "| x picows | x picows cpu | x websockets | x websockets cpu |"
    )
    print("|" + " --- |" * 9)
    for size in sizes:
        for loop in loops:
            references = [
                results.get((REFERENCE, loop, size)),
                results.get((SECOND_REFERENCE, loop, size)),
            ]
            for lib in libs:
                records = results[(lib, loop, size)]
                rates = [r["rate"] for r in records]
                cpus = [r["client_cpu_us"] + r["server_cpu_us"] for r in records]
                split = (
                    f"{statistics.median(r['client_cpu_us'] for r in records):.1f} + "
                    f"{statistics.median(r['server_cpu_us'] for r in records):.1f}"
                )
                cells = []
                for reference in references:
                    if reference:
                        ratios = [r["rate"] / ref["rate"] for r, ref in zip(records, reference)]
                        cpu_ratios = [
                            (ref["client_cpu_us"] + ref["server_cpu_us"]) / cpu
                            for cpu, ref in zip(cpus, reference)
                        ]
                        cells += [summarize(ratios, "{:.2f}"), summarize(cpu_ratios, "{:.2f}")]
                    else:
                        cells += ["-", "-"]
                print(
                    f"| {size_name(size)} | {loop} | {lib} | {summarize(rates, '{:,.0f}')} | "
                    f"{split} ({summarize(cpus, '{:.1f}')}) | {' | '.join(cells)} |"
                )
    if args.json:
        with open(args.json, "w") as output:
            json.dump(
                [
                    {"lib": lib, "loop": loop, "size": size, "runs": records}
                    for (lib, loop, size), records in results.items()
                ],
                output,
                indent=1,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
