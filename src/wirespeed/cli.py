"""Command-line interface: ``python -m wirespeed COMMAND``.

Commands:

* ``demo`` - start an echo server and a client on localhost, exchange messages
  of several sizes and print round-trip times and messages per second.
* ``connect URI`` - an interactive client (asyncio face): each line typed is
  sent as a text message, each message received is printed after ``< ``;
  end of input (Ctrl-D) closes the connection cleanly.
* ``serve --echo HOST:PORT`` - an echo server (asyncio face), until Ctrl-C.
"""

from __future__ import annotations

import argparse
from typing import Any, List, Optional, TextIO


def main(argv: Optional[List[str]] = None) -> int:
    """Run the command line; return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m wirespeed", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="echo server and client on localhost, with figures")
    demo.add_argument(
        "--duration", type=float, default=0.5, help="seconds spent on each message size"
    )
    connect = commands.add_parser("connect", help="interactive client: send lines, print messages")
    connect.add_argument("uri", help="ws:// or wss:// URI of the server")
    serve = commands.add_parser("serve", help="run a server")
    serve.add_argument(
        "--echo", metavar="HOST:PORT", required=True, help="echo every message, on HOST:PORT"
    )
    args = parser.parse_args(argv)
    if args.command == "demo":
        import asyncio

        from .demo import run_demo

        asyncio.run(run_demo(args.duration))
    elif args.command == "connect":
        return run_until_interrupted(interactive_client(args.uri))
    elif args.command == "serve":
        host, _, port = args.echo.rpartition(":")
        if not host or not port.isdigit():
            parser.error(f"expected HOST:PORT, got {args.echo!r}")
        return run_until_interrupted(echo_server(host.strip("[]"), int(port)))
    return 0


def run_until_interrupted(coroutine: Any) -> int:
    """Run ``coroutine``; Ctrl-C ends it quietly."""
    import asyncio

    try:
        return int(asyncio.run(coroutine) or 0)
    except KeyboardInterrupt:
        return 0


def show(message: Any) -> str:
    """Format a received message for the terminal."""
    if isinstance(message, str):
        return f"< {message}"
    return f"< (binary) {message.hex()}"


async def interactive_client(
    uri: str, stdin: Optional[TextIO] = None, stdout: Optional[TextIO] = None
) -> int:
    """Connect to ``uri``; send the lines of ``stdin``, print the messages received.

    Returns when ``stdin`` ends (the connection is closed cleanly) or when the
    server closes the connection.
    """
    import asyncio
    import sys
    import threading

    from .asyncio import ConnectionClosed, connect
    from .exceptions import WebSocketException

    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    loop = asyncio.get_running_loop()

    def write(text: str) -> None:
        stdout.write(text + "\n")
        stdout.flush()

    try:
        websocket = await connect(uri)
    except (OSError, WebSocketException, asyncio.TimeoutError) as exc:
        write(f"Failed to connect to {uri}: {exc}.")
        return 1
    write(f"Connected to {uri}.")
    lines: asyncio.Queue[Optional[str]] = asyncio.Queue()

    def read_lines() -> None:
        # A daemon thread: a blocked readline() never holds the process back.
        try:
            for line in iter(stdin.readline, ""):
                loop.call_soon_threadsafe(lines.put_nowait, line.rstrip("\r\n"))
            loop.call_soon_threadsafe(lines.put_nowait, None)
        except RuntimeError:
            # The connection ended first and the event loop is gone.
            pass

    threading.Thread(target=read_lines, daemon=True).start()

    async def print_messages() -> None:
        try:
            async for message in websocket:
                write(show(message))
        except ConnectionClosed:
            pass

    printer = asyncio.ensure_future(print_messages())
    try:
        while True:
            getter = asyncio.ensure_future(lines.get())
            await asyncio.wait({getter, printer}, return_when=asyncio.FIRST_COMPLETED)
            if not getter.done():
                getter.cancel()
                break
            line = getter.result()
            if line is None:
                break
            try:
                await websocket.send(line)
            except ConnectionClosed:
                break
    finally:
        await websocket.close()
        await printer
    reason = f" {websocket.close_reason}" if websocket.close_reason else ""
    write(f"Connection closed: {websocket.close_code}{reason}.")
    return 0


async def echo_server(host: str, port: int, stdout: Optional[TextIO] = None) -> int:
    """Serve an echo server on ``host:port`` until cancelled."""
    import sys

    from .asyncio import ConnectionClosed, serve

    stdout = stdout or sys.stdout

    async def echo(websocket: Any) -> None:
        try:
            async for message in websocket:
                await websocket.send(message)
        except ConnectionClosed:
            pass

    async with serve(echo, host, port) as server:
        address = server.sockets[0].getsockname()
        stdout.write(f"Serving echo on ws://{host}:{address[1]}/ (Ctrl-C to stop)\n")
        stdout.flush()
        await server.serve_forever()
    return 0
