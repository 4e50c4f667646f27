"""The asyncio face's server: serve, Server, hooks, broadcast, basic_auth, route."""

from __future__ import annotations

import asyncio
import base64
import functools
import logging
import re

import pytest
from asyncio_helpers import HOST, echo, echo_server, port_of, run, until

from wirespeed.asyncio import (
    ConnectionClosed,
    ConnectionClosedOK,
    InvalidStatus,
    ServerConnection,
    basic_auth,
    broadcast,
    connect,
    route,
    serve,
)
from wirespeed.http import Headers, Response


async def http_get(port: int, path: str = "/", headers: str = "") -> bytes:
    """Send a plain HTTP GET; return the whole answer."""
    reader, writer = await asyncio.open_connection(HOST, port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\n{headers}\r\n".encode())
    data = await reader.read()
    writer.close()
    return data


def test_await_serve_and_close() -> None:
    async def main() -> None:
        server = await serve(echo, HOST, 0)
        assert server.is_serving()
        assert server.get_loop() is asyncio.get_running_loop()
        async with connect(f"ws://{HOST}:{port_of(server)}/") as ws:
            await ws.send("x")
            assert await ws.recv() == "x"
        server.close()
        await server.wait_closed()
        assert not server.is_serving()

    run(main())


def test_close_sends_1001_and_waits_for_handlers() -> None:
    finished = []

    async def handler(ws):
        try:
            await ws.recv()
        except ConnectionClosedOK:
            finished.append(ws.close_code)
            raise

    async def main() -> None:
        async with serve(handler, HOST, 0) as server:
            clients = [await connect(f"ws://{HOST}:{port_of(server)}/") for _ in range(3)]
            await until(lambda: len(server.connections) == 3)
            server.close()
            await server.wait_closed()
            assert len(finished) == 3
            for ws in clients:
                with pytest.raises(ConnectionClosedOK) as info:
                    await ws.recv()
                assert info.value.rcvd.code == 1001
                assert ws.close_code == 1001
            assert not server.connections

    run(main())


def test_close_without_closing_connections() -> None:
    async def main() -> None:
        server = await serve(echo, HOST, 0)
        ws = await connect(f"ws://{HOST}:{port_of(server)}/")
        await until(lambda: server.connections)
        server.close(close_connections=False)
        await asyncio.sleep(0.05)
        await ws.send("still here")
        assert await ws.recv() == "still here"
        await ws.close()
        await server.wait_closed()

    run(main())


def test_serve_forever_is_cancellable() -> None:
    async def main() -> None:
        server = await serve(echo, HOST, 0)
        task = asyncio.ensure_future(server.serve_forever())
        ws = await connect(f"ws://{HOST}:{port_of(server)}/")
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        with pytest.raises(ConnectionClosed):
            await ws.recv()

    run(main())


def test_handler_errors_close_with_1011(caplog) -> None:
    async def handler(ws):
        raise ValueError("boom")

    async def main() -> None:
        async with echo_server(handler=handler) as (_, uri), connect(uri) as ws:
            with pytest.raises(ConnectionClosed) as info:
                await ws.recv()
            assert info.value.rcvd.code == 1011

    with caplog.at_level(logging.ERROR):
        run(main())
    assert "connection handler failed" in caplog.text


def test_process_request_health_check_and_async_hooks() -> None:
    async def health(connection, request):
        assert connection.remote_address[0] == HOST
        if request.path == "/healthz":
            return connection.respond(200, "OK\n")
        return None

    def add_header(connection, request, response):
        response.headers["X-Hook"] = "yes"

    async def main() -> None:
        async with echo_server(process_request=health, process_response=add_header) as (
            server,
            uri,
        ):
            answer = await http_get(port_of(server), "/healthz")
            assert answer.startswith(b"HTTP/1.1 200 OK\r\n") and answer.endswith(b"OK\n")
            async with connect(uri) as ws:
                assert ws.response.headers["X-Hook"] == "yes"
            # A plain HTTP request that isn't an upgrade gets 426.
            answer = await http_get(port_of(server), "/")
            assert answer.startswith(b"HTTP/1.1 426")

    run(main())


def test_process_response_can_replace_the_response() -> None:
    async def refuse(connection, request, response):
        return Response(403, "Forbidden", Headers([("Content-Length", "0")]))

    async def main() -> None:
        async with echo_server(process_response=refuse) as (_, uri):
            with pytest.raises(InvalidStatus) as info:
                await connect(uri)
            assert info.value.response.status_code == 403

    run(main())


def test_hook_errors_give_500(caplog) -> None:
    def broken(connection, request):
        raise RuntimeError("bug")

    async def main() -> None:
        async with echo_server(process_request=broken) as (_, uri):
            with pytest.raises(InvalidStatus) as info:
                await connect(uri)
            assert info.value.response.status_code == 500

    with caplog.at_level(logging.ERROR):
        run(main())
    assert "opening handshake failed" in caplog.text


def test_server_header() -> None:
    async def main() -> None:
        async with echo_server(server_header="MyServer/1") as (_, uri), connect(uri) as ws:
            assert ws.response.headers["Server"] == "MyServer/1"
        async with echo_server(server_header=None) as (_, uri), connect(uri) as ws:
            assert "Server" not in ws.response.headers

    run(main())


def test_origins() -> None:
    async def main() -> None:
        origins = ["https://good.example", re.compile(r"https://.*\.ok\.example"), None]
        async with echo_server(origins=origins) as (_, uri):
            async with connect(uri, origin="https://good.example"):
                pass
            async with connect(uri, origin="https://a.ok.example"):
                pass
            async with connect(uri):
                pass
            with pytest.raises(InvalidStatus) as info:
                await connect(uri, origin="https://evil.example")
            assert info.value.response.status_code == 403

    run(main())


def test_select_subprotocol() -> None:
    def select(connection, subprotocols):
        assert isinstance(connection, ServerConnection)
        return subprotocols[-1] if subprotocols else None

    async def handler(ws):
        await ws.send(ws.subprotocol or "none")

    async def main() -> None:
        async with (
            echo_server(handler=handler, select_subprotocol=select) as (_, uri),
            connect(uri, subprotocols=["a", "b"]) as ws,
        ):
            assert ws.subprotocol == "b"
            assert await ws.recv() == "b"

    run(main())


def test_create_protocol_partial_on_the_server() -> None:
    class MyServerProtocol(ServerConnection):
        def __init__(self, *args, extra_argument=None, **kwargs):
            super().__init__(*args, **kwargs)
            self.extra_argument = extra_argument

    async def handler(ws):
        await ws.send(str(ws.extra_argument))

    async def main() -> None:
        create_protocol = functools.partial(MyServerProtocol, extra_argument=42)
        async with (
            echo_server(handler=handler, create_protocol=create_protocol) as (
                _,
                uri,
            ),
            connect(uri) as ws,
        ):
            assert await ws.recv() == "42"

    run(main())


def test_open_timeout_drops_silent_clients() -> None:
    async def main() -> None:
        async with echo_server(open_timeout=0.05) as (server, _):
            reader, writer = await asyncio.open_connection(HOST, port_of(server))
            assert await asyncio.wait_for(reader.read(), 2) == b""
            writer.close()

    run(main())


# broadcast


def test_broadcast_reaches_every_open_connection() -> None:
    async def handler(ws):
        await ws.wait_closed()

    async def main() -> None:
        async with echo_server(handler=handler) as (server, uri):
            clients = [await connect(uri) for _ in range(3)]
            await until(lambda: len(server.connections) == 3)
            broadcast(server.connections, "to all")
            broadcast(server.connections, b"bytes to all")
            for ws in clients:
                assert await ws.recv() == "to all"
                assert await ws.recv() == b"bytes to all"
            with pytest.raises(TypeError):
                broadcast(server.connections, 42)
            await clients[0].close()
            await until(lambda: len(server.connections) == 2)
            broadcast(server.handlers, "closed ones are skipped")
            for ws in clients[1:]:
                await ws.close()

    run(main())


def test_broadcast_skips_slow_clients_without_blocking(caplog) -> None:
    async def handler(ws):
        await ws.wait_closed()

    async def main() -> None:
        # Uncompressed, so that the broadcast messages fill the write buffer.
        async with echo_server(handler=handler, write_limit=16384, compression=None) as (
            server,
            uri,
        ):
            slow = await connect(uri)
            fast = await connect(uri)
            await until(lambda: len(server.connections) == 2)
            slow.transport.underlying_transport.pause_reading()
            peers = {ws.remote_address[1]: ws for ws in server.connections}
            slow_peer = peers[slow.local_address[1]]
            big = b"b" * 65536
            for _ in range(200):
                broadcast(server.connections, big)
                if slow_peer.writing_paused:
                    break
                await asyncio.sleep(0.001)
            assert slow_peer.writing_paused
            broadcast(server.connections, "after")
            with pytest.raises(Exception) as info:
                broadcast(server.connections, "again", raise_exceptions=True)
            assert "slow" in repr(
                info.value.exceptions if hasattr(info.value, "exceptions") else info.value
            )
            while (message := await fast.recv()) != "after":
                assert message == big
            await fast.close()
            slow.transport.underlying_transport.resume_reading()
            await slow.close()

    with caplog.at_level(logging.WARNING):
        run(main())
    assert "skipped broadcast" in caplog.text


# basic_auth and route


def test_basic_auth() -> None:
    async def handler(ws):
        await ws.send(ws.username)

    def authorization(user, password):
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        return {"Authorization": f"Basic {token}"}

    async def main() -> None:
        auth = basic_auth(realm="test", credentials=[("alice", "secret"), ("bob", "pw")])
        async with echo_server(handler=handler, process_request=auth) as (_server, uri):
            async with connect(uri, additional_headers=authorization("alice", "secret")) as ws:
                assert await ws.recv() == "alice"
            async with connect(uri.replace("ws://", "ws://bob:pw@")) as ws:
                assert await ws.recv() == "bob"
            for headers in (None, authorization("alice", "wrong"), {"Authorization": "Bearer x"}):
                with pytest.raises(InvalidStatus) as info:
                    await connect(uri, additional_headers=headers)
                response = info.value.response
                assert response.status_code == 401
                assert response.headers["WWW-Authenticate"] == 'Basic realm="test", charset="UTF-8"'

        async def check(user, password):
            return password == "letmein"

        async with (
            echo_server(handler=handler, process_request=basic_auth(check_credentials=check)) as (
                _,
                uri,
            ),
            connect(uri.replace("ws://", "ws://carol:letmein@")) as ws,
        ):
            assert await ws.recv() == "carol"
        with pytest.raises(TypeError):
            basic_auth()

    run(main())


def test_route() -> None:
    async def home(ws):
        await ws.send("home")

    async def room(ws, name):
        await ws.send(f"room {name}")

    async def main() -> None:
        async with route({"/": home, "/rooms/{name}": room}, HOST, 0) as server:
            base = f"ws://{HOST}:{port_of(server)}"
            async with connect(base + "/") as ws:
                assert await ws.recv() == "home"
            async with connect(base + "/rooms/kitchen?x=1") as ws:
                assert await ws.recv() == "room kitchen"
            with pytest.raises(InvalidStatus) as info:
                await connect(base + "/nowhere")
            assert info.value.response.status_code == 404

    run(main())


def test_serve_forever_returns_when_closed() -> None:
    async def main() -> None:
        server = await serve(echo, HOST, 0, start_serving=False)
        assert not server.is_serving()
        task = asyncio.ensure_future(server.serve_forever())
        await until(server.is_serving)
        ws = await connect(f"ws://{HOST}:{port_of(server)}/")
        server.close()
        await task
        assert ws.closed and ws.close_code == 1001

    run(main())
