"""Entry point of the benchmark children (``python -m echo.child server|client ...``).

The server prints ``READY <port> <pid>`` once it listens, then serves until it is
stopped (by the driver, by PID) or its ``--timeout`` alarm fires. The client runs
one ``--mode`` against it and prints ``RESULT <json>``:

* ``rtt``: round trips per second on one connection for each of ``--sizes``, with
  the CPU time of the client (itself) and of the server (``--server-pid``);
* ``concurrent``: ``--connections`` connections doing request/response at once;
* ``idle``: the server's RSS growth per connection while holding ``--connections``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time

from . import registry
from .measure import measure_roundtrips
from .runtime import die_after, new_loop, pin_to_cpu, raise_fd_limit, rss_kib, set_priority

HOST = "127.0.0.1"
CONNECT_BATCH = 50


def main(argv: list[str] | None = None) -> None:
    args = _parse(argv)
    die_after(args.timeout)
    pin_to_cpu(args.cpu)
    set_priority(args.nice)
    raise_fd_limit()
    role = registry.load(args.lib)
    if args.command == "server":
        _serve(role, args)
    else:
        result = _client(role, args)
        result.update(lib=args.lib, loop=args.loop, mode=args.mode)
        print("RESULT " + json.dumps(result), flush=True)


def _serve(role, args) -> None:
    loop = new_loop(args.loop)
    server, port = loop.run_until_complete(role.serve(HOST))  # noqa: RUF059 (kept alive)
    print(f"READY {port} {os.getpid()}", flush=True)
    loop.run_forever()  # until the driver terminates this process, or the alarm fires


def _client(role, args) -> dict:
    if role.is_async:
        loop = new_loop(args.loop)
        call = loop.run_until_complete
    else:
        loop = None

        def call(value):
            return value

    scheme = getattr(role, "scheme", "ws")
    url = f"{scheme}://{HOST}:{args.port}/"
    if args.mode == "rtt":
        connection = call(role.connect(url))
        results = []
        for size in args.sizes:
            payload = os.urandom(size)

            def run(count: int, payload: bytes = payload) -> int:
                return call(role.roundtrips(connection, payload, count))

            results.append(
                measure_roundtrips(
                    run, size, args.warmup, args.duration, args.server_pid, args.windows
                )
            )
        _close_quietly(call, role, connection)
        return {"sizes": results}
    if loop is None:
        raise SystemExit(f"{args.lib} has no event loop: only --mode rtt is supported")
    if args.mode == "concurrent":
        return _concurrent(loop, role, url, args)
    return _idle(loop, role, url, args)


def _concurrent(loop, role, url: str, args) -> dict:
    connections = loop.run_until_complete(_connect_many(role, url, args.connections))
    payload = os.urandom(args.sizes[0])

    async def run_all(count: int) -> int:
        sizes = await asyncio.gather(*(role.roundtrips(c, payload, count) for c in connections))
        return min(sizes)

    result = measure_roundtrips(
        lambda count: loop.run_until_complete(run_all(count)),
        len(payload),
        args.warmup,
        args.duration,
        args.server_pid,
        args.windows,
    )
    n = args.connections
    return {
        "connections": n,
        "size": len(payload),
        "rate": result["rate"] * n,
        "messages_per_window": result["roundtrips"] * n,
        "client_cpu_us": result["client_cpu_us"] / n,
        "server_cpu_us": result["server_cpu_us"] / n,
        "cpu_share": result["cpu_share"],
        "windows": result["windows"],
    }


def _idle(loop, role, url: str, args) -> dict:
    # One full connection first, so lazily created objects are not counted.
    warm = loop.run_until_complete(role.connect(url))
    loop.run_until_complete(role.roundtrips(warm, b"x" * 256, 10))
    loop.run_until_complete(role.close(warm))
    loop.run_until_complete(asyncio.sleep(0.3))
    before = rss_kib(args.server_pid)
    started = time.perf_counter()
    connections = loop.run_until_complete(_connect_many(role, url, args.connections))
    connect_seconds = time.perf_counter() - started
    loop.run_until_complete(asyncio.sleep(0.5))
    after = rss_kib(args.server_pid)
    return {
        "connections": len(connections),
        "connect_seconds": connect_seconds,
        "rss_before_kib": before,
        "rss_after_kib": after,
        "kib_per_connection": (after - before) / len(connections),
    }


async def _connect_many(role, url: str, count: int) -> list:
    connections: list = []
    while len(connections) < count:
        batch = min(CONNECT_BATCH, count - len(connections))
        connections += await asyncio.gather(*(role.connect(url) for _ in range(batch)))
    return connections


def _close_quietly(call, role, connection) -> None:
    try:
        if asyncio.iscoroutinefunction(role.close):
            call(asyncio.wait_for(role.close(connection), 5))
        else:
            role.close(connection)
    except Exception as exc:  # the measurement is done; a messy close doesn't void it
        print(f"close failed: {exc!r}", file=sys.stderr)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m echo.child")
    parser.add_argument("command", choices=["server", "client"])
    parser.add_argument("--lib", required=True, choices=sorted(registry.ROLES))
    parser.add_argument("--loop", default="asyncio", choices=["asyncio", "uvloop", "none"])
    parser.add_argument("--cpu", type=int, default=None, help="pin to this CPU")
    parser.add_argument("--nice", type=int, default=None, help="scheduling priority")
    parser.add_argument("--timeout", type=float, default=300, help="SIGALRM after this long")
    parser.add_argument("--port", type=int)
    parser.add_argument("--server-pid", type=int)
    parser.add_argument("--mode", default="rtt", choices=["rtt", "concurrent", "idle"])
    parser.add_argument("--sizes", type=_sizes, default=[256])
    parser.add_argument("--warmup", type=float, default=0.5)
    parser.add_argument("--duration", type=float, default=2.0)
    parser.add_argument("--connections", type=int, default=1)
    parser.add_argument("--windows", type=int, default=5, help="report the fastest of these")
    return parser.parse_args(argv)


def _sizes(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part]


if __name__ == "__main__":
    main()
