"""Interop with websockets and aiohttp, both ways, and websockets' quick-start examples."""

from __future__ import annotations

import asyncio
import textwrap

import pytest
from aiohttp_helpers import aiohttp_echo_server
from asyncio_helpers import HOST, echo, echo_server, port_of, run

from wirespeed.asyncio import ConnectionClosedOK, connect, serve

MESSAGES = ["text", "é" * 1000, b"\x00" * 70000, b"", "x" * 200000]


async def exchange(ws) -> None:
    for message in MESSAGES:
        await ws.send(message)
        assert await ws.recv() == message
    await ws.send(["frag", "mented"])
    assert await ws.recv() == "fragmented"
    assert await (await ws.ping()) >= 0


def test_websockets_server_wirespeed_client() -> None:
    websockets_server = pytest.importorskip("websockets.asyncio.server")

    async def main() -> None:
        async with websockets_server.serve(echo, HOST, 0, compression=None) as server:
            port = server.sockets[0].getsockname()[1]
            async with connect(f"ws://{HOST}:{port}/", subprotocols=["p"]) as ws:
                await exchange(ws)

    run(main())


def test_wirespeed_server_websockets_client() -> None:
    websockets_client = pytest.importorskip("websockets.asyncio.client")

    async def main() -> None:
        async with echo_server() as (_, uri):
            async with websockets_client.connect(uri, compression=None) as ws:
                for message in MESSAGES:
                    await ws.send(message)
                    assert await ws.recv() == message
                await ws.send(["frag", "mented"])
                assert await ws.recv() == "fragmented"
                await (await ws.ping())
            assert ws.close_code == 1000

    run(main())


def test_wirespeed_server_closes_websockets_client_with_1001() -> None:
    websockets_client = pytest.importorskip("websockets.asyncio.client")
    from websockets.exceptions import ConnectionClosedOK as WebsocketsClosedOK

    async def main() -> None:
        server = await serve(echo, HOST, 0)
        ws = await websockets_client.connect(f"ws://{HOST}:{port_of(server)}/", compression=None)
        server.close()
        await server.wait_closed()
        with pytest.raises(WebsocketsClosedOK):
            await ws.recv()
        assert ws.close_code == 1001

    run(main())


def test_aiohttp_server_wirespeed_client() -> None:
    pytest.importorskip("aiohttp")

    async def main() -> None:
        async with aiohttp_echo_server() as port, connect(f"ws://{HOST}:{port}/") as ws:
            await exchange(ws)

    run(main())


def test_wirespeed_server_aiohttp_client() -> None:
    aiohttp = pytest.importorskip("aiohttp")

    async def main() -> None:
        async with echo_server() as (_, uri), aiohttp.ClientSession() as session:
            async with session.ws_connect(uri) as ws:
                for message in MESSAGES:
                    if isinstance(message, str):
                        await ws.send_str(message)
                        assert (await ws.receive()).data == message
                    else:
                        await ws.send_bytes(message)
                        assert (await ws.receive()).data == message
                await ws.close()
            assert ws.close_code == 1000

    run(main())


# websockets' quick-start examples, with the import changed to wirespeed.asyncio
# (and the address changed to a free port on 127.0.0.1, for the test).

ECHO_SERVER = """
import asyncio
from wirespeed.asyncio import serve

async def echo(websocket):
    async for message in websocket:
        await websocket.send(message)

async def main():
    async with serve(echo, "127.0.0.1", PORT) as server:
        await server.serve_forever()
"""

CLIENT = """
import asyncio
from wirespeed.asyncio import connect

async def hello():
    async with connect("ws://127.0.0.1:PORT") as websocket:
        await websocket.send("Hello world!")
        message = await websocket.recv()
        print(message)
        return message
"""

BROADCAST = """
import asyncio
from wirespeed.asyncio import broadcast, serve

CLIENTS = set()

async def handler(websocket):
    CLIENTS.add(websocket)
    try:
        await websocket.wait_closed()
    finally:
        CLIENTS.remove(websocket)

async def broadcast_messages():
    while True:
        await asyncio.sleep(0.01)
        message = "tick"
        broadcast(CLIENTS, message)

async def main():
    async with serve(handler, "127.0.0.1", PORT):
        await broadcast_messages()
"""


def load(source: str, port: int) -> dict:
    namespace: dict = {}
    exec(
        compile(textwrap.dedent(source).replace("PORT", str(port)), "<example>", "exec"), namespace
    )
    return namespace


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def test_quick_start_echo_server_and_client(capsys) -> None:
    async def main() -> None:
        port = free_port()
        server = load(ECHO_SERVER, port)
        client = load(CLIENT, port)
        task = asyncio.ensure_future(server["main"]())
        for _ in range(100):
            try:
                assert await client["hello"]() == "Hello world!"
                break
            except OSError:
                await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run(main())
    assert "Hello world!" in capsys.readouterr().out


def test_quick_start_broadcast() -> None:
    async def main() -> None:
        port = free_port()
        example = load(BROADCAST, port)
        task = asyncio.ensure_future(example["main"]())
        await asyncio.sleep(0.05)
        async with (
            connect(f"ws://127.0.0.1:{port}") as first,
            connect(f"ws://127.0.0.1:{port}") as second,
        ):
            assert await first.recv() == "tick"
            assert await second.recv() == "tick"
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run(main())


def test_legacy_module_style() -> None:
    """``import websockets`` code keeps working with ``import wirespeed.asyncio as websockets``."""
    import wirespeed.asyncio as websockets

    async def main() -> None:
        async with (
            websockets.serve(echo, HOST, 0) as server,
            websockets.connect(f"ws://{HOST}:{port_of(server)}") as ws,
        ):
            await ws.send("legacy")
            assert await ws.recv() == "legacy"
        with pytest.raises(ConnectionClosedOK):
            await ws.recv()

    run(main())
