"""Interoperability of wirespeed.sync with websockets and websocket-client, both ways.

Each test is skipped when its peer library isn't installed.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Any, Iterator

import pytest
from sync_helpers import JOIN_TIMEOUT, running_server

from wirespeed.exceptions import ConnectionClosedOK
from wirespeed.sync import WebSocketApp, connect, create_connection


@contextlib.contextmanager
def websockets_sync_server(**kwargs: Any) -> Iterator[str]:
    """An echo server from websockets' threading implementation."""
    server_module = pytest.importorskip("websockets.sync.server")

    def echo(connection: Any) -> None:
        for message in connection:
            connection.send(message)

    server = server_module.serve(echo, "127.0.0.1", 0, **kwargs)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"ws://127.0.0.1:{server.socket.getsockname()[1]}/"
    finally:
        server.shutdown()
        thread.join(JOIN_TIMEOUT)


@contextlib.contextmanager
def websockets_asyncio_server(**kwargs: Any) -> Iterator[str]:
    """An echo server from websockets' asyncio implementation, in its own loop."""
    server_module = pytest.importorskip("websockets.asyncio.server")
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    stop: Any = None
    port = []

    async def echo(connection: Any) -> None:
        async for message in connection:
            await connection.send(message)

    async def main() -> None:
        nonlocal stop
        stop = asyncio.get_running_loop().create_future()
        async with server_module.serve(echo, "127.0.0.1", 0, **kwargs) as server:
            port.append(server.sockets[0].getsockname()[1])
            ready.set()
            await stop

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(JOIN_TIMEOUT)
    try:
        yield f"ws://127.0.0.1:{port[0]}/"
    finally:
        loop.call_soon_threadsafe(stop.set_result, None)
        thread.join(JOIN_TIMEOUT)
        loop.close()


def exercise(uri: str, **kwargs: Any) -> None:
    """Round trips of every kind through an echo server."""
    with connect(uri, ping_interval=None, **kwargs) as ws:
        for message in ["hello", "é" * 1000, b"\x00" * 70000, b""]:
            ws.send(message)
            assert ws.recv(timeout=JOIN_TIMEOUT) == message
        ws.send(["frag", "mented"])
        assert ws.recv(timeout=JOIN_TIMEOUT) == "fragmented"
        assert ws.ping().wait(JOIN_TIMEOUT)
    assert ws.close_code == 1000


def test_connect_to_websockets_sync_server() -> None:
    with websockets_sync_server() as uri:
        exercise(uri)


def test_connect_to_websockets_asyncio_server() -> None:
    with websockets_asyncio_server() as uri:
        exercise(uri)


def test_connect_with_compression_to_websockets() -> None:
    with websockets_asyncio_server(compression="deflate") as uri:
        exercise(uri, compression="deflate")


def test_create_connection_and_app_to_websockets_server() -> None:
    with websockets_sync_server() as uri:
        ws = create_connection(uri, timeout=JOIN_TIMEOUT)
        ws.send("compat")
        assert ws.recv() == "compat"
        ws.send_binary(b"\x01\x02")
        assert ws.recv() == b"\x01\x02"
        ws.close()
        messages = []

        def on_message(app: WebSocketApp, message: str) -> None:
            messages.append(message)
            app.close()

        WebSocketApp(uri, on_open=lambda a: a.send("app"), on_message=on_message).run_forever()
        assert messages == ["app"]


def test_websockets_sync_client_to_our_server() -> None:
    client = pytest.importorskip("websockets.sync.client")
    with running_server() as (_, uri), client.connect(uri) as ws:
        ws.send("from websockets")
        assert ws.recv(timeout=JOIN_TIMEOUT) == "from websockets"
        ws.send(b"\xff" * 100000)
        assert ws.recv(timeout=JOIN_TIMEOUT) == b"\xff" * 100000
        ws.send(["a", "b"])
        assert ws.recv(timeout=JOIN_TIMEOUT) == "ab"
        ws.ping().wait(JOIN_TIMEOUT)


def test_websockets_compression_to_our_server() -> None:
    client = pytest.importorskip("websockets.sync.client")
    with (
        running_server(compression="deflate") as (_, uri),
        client.connect(uri, compression="deflate") as ws,
    ):
        assert ws.response.headers["Sec-WebSocket-Extensions"].startswith("permessage-deflate")
        ws.send("compressed " * 1000)
        assert ws.recv(timeout=JOIN_TIMEOUT) == "compressed " * 1000


def test_websockets_client_sees_our_close() -> None:
    client = pytest.importorskip("websockets.sync.client")
    exceptions = pytest.importorskip("websockets.exceptions")

    def handler(connection: Any) -> None:
        connection.close(4000, "custom")

    with running_server(handler) as (_, uri), client.connect(uri) as ws:
        with pytest.raises(exceptions.ConnectionClosed) as info:
            ws.recv(timeout=JOIN_TIMEOUT)
        assert info.value.rcvd.code == 4000
        assert info.value.rcvd.reason == "custom"


def test_websocket_client_to_our_server() -> None:
    websocket_client = pytest.importorskip("websocket")
    with running_server() as (_, uri):
        ws = websocket_client.create_connection(uri, timeout=JOIN_TIMEOUT)
        ws.send("from websocket-client")
        assert ws.recv() == "from websocket-client"
        ws.send_binary(b"\x00" * 70000)
        assert ws.recv() == b"\x00" * 70000
        ws.ping("p")
        ws.close()


def test_websocket_client_app_to_our_server() -> None:
    websocket_client = pytest.importorskip("websocket")
    events = []

    def handler(connection: Any) -> None:
        connection.send(connection.recv())
        connection.close(1000, "done")

    with running_server(handler) as (_, uri):
        app = websocket_client.WebSocketApp(
            uri,
            on_open=lambda a: a.send("hi"),
            on_message=lambda a, m: events.append(("message", m)),
            on_close=lambda a, c, r: events.append(("close", c, r)),
        )
        app.run_forever()
    # websocket-client 1.9.0 reports (None, None) here, against websockets too.
    assert events[0] == ("message", "hi")
    assert events[-1][0] == "close"


def test_our_server_closes_cleanly_with_websockets_client() -> None:
    client = pytest.importorskip("websockets.sync.client")
    with running_server() as (_, uri), client.connect(uri) as ws:
        ws.close()
        with pytest.raises(Exception) as info:
            ws.recv(timeout=JOIN_TIMEOUT)
        assert type(info.value).__name__ == "ConnectionClosedOK"
    assert ConnectionClosedOK  # the same name exists in both libraries
