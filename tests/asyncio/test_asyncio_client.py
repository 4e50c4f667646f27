"""The asyncio face's client: connect's three forms, reconnection, timeouts, TLS, unix, proxies."""

from __future__ import annotations

import asyncio
import functools
import os
import socket
import ssl
import struct
import tempfile

import pytest
from asyncio_helpers import HOST, echo, echo_server, port_of, run, until

import wirespeed.asyncio.client as client_module
from wirespeed.asyncio import (
    ClientConnection,
    ConnectionClosed,
    InvalidHandshake,
    InvalidStatus,
    InvalidURI,
    ProxyError,
    connect,
    process_exception,
    serve,
    unix_connect,
    unix_serve,
)
from wirespeed.exceptions import InvalidMessage


def test_await_and_async_with() -> None:
    async def main() -> None:
        async with echo_server() as (_, uri):
            ws = await connect(uri)
            await ws.send("a")
            assert await ws.recv() == "a"
            await ws.close()
            async with connect(uri) as ws:
                await ws.send("b")
                assert await ws.recv() == "b"
            assert ws.closed and ws.close_code == 1000

    run(main())


def test_headers_origin_subprotocols() -> None:
    seen = {}

    async def handler(ws):
        seen["headers"] = ws.request.headers
        seen["subprotocol"] = ws.subprotocol
        await ws.send("hi")

    async def main() -> None:
        async with echo_server(handler=handler, subprotocols=["chat", "superchat"]) as (_, uri):
            async with connect(
                uri,
                origin="https://example.com",
                subprotocols=["superchat"],
                additional_headers={"X-Test": "1"},
                user_agent_header="agent/1",
            ) as ws:
                assert ws.subprotocol == "superchat"
                assert await ws.recv() == "hi"
                assert ws.response.headers["Server"].startswith("Python/")
            async with connect(uri, user_agent_header=None, extra_headers=[("X-B", "2")]) as ws:
                assert ws.subprotocol is None
        headers = seen["headers"]
        assert "User-Agent" not in headers and headers["X-B"] == "2"

    run(main())


def test_redirects_are_followed() -> None:
    async def redirect(connection, request):
        if request.path == "/old":
            response = connection.respond(301, "moved\n")
            response.headers["Location"] = "/new"
            return response
        return None

    async def handler(ws):
        await ws.send(ws.request.path)

    async def main() -> None:
        async with (
            echo_server(handler=handler, process_request=redirect) as (_, uri),
            connect(uri + "old") as ws,
        ):
            assert await ws.recv() == "/new"

    run(main())


def test_handshake_errors() -> None:
    async def reject(connection, request):
        return connection.respond(403, "no\n")

    async def main() -> None:
        async with echo_server(process_request=reject) as (_, uri):
            with pytest.raises(InvalidStatus) as info:
                await connect(uri)
            assert info.value.response.status_code == 403
        with pytest.raises(InvalidURI):
            await connect("http://example.com/")

    run(main())


def test_open_timeout() -> None:
    async def main() -> None:
        # A TCP server that never answers the handshake. It keeps its writers:
        # since Python 3.13 a collected StreamWriter closes its connection.
        writers = []
        server = await asyncio.start_server(lambda r, w: writers.append(w), HOST, 0)
        try:
            with pytest.raises(asyncio.TimeoutError):
                await connect(f"ws://{HOST}:{port_of(server)}/", open_timeout=0.1)
        finally:
            for writer in writers:
                writer.close()
            server.close()
            await server.wait_closed()

    run(main())


def test_create_connection_partial() -> None:
    """Seed 001: bind extra arguments of a connection subclass with functools.partial."""

    class MyConnection(ClientConnection):
        def __init__(self, *args, extra_argument=None, **kwargs):
            super().__init__(*args, **kwargs)
            self.extra_argument = extra_argument

    async def main() -> None:
        async with echo_server() as (_, uri):
            factory = functools.partial(MyConnection, extra_argument=42)
            async with connect(uri, create_connection=factory) as ws:
                assert isinstance(ws, MyConnection) and ws.extra_argument == 42
            async with connect(uri, create_protocol=factory) as ws:
                assert ws.extra_argument == 42

    run(main())


def test_process_exception_policy() -> None:
    from wirespeed.http import Headers, Response

    assert process_exception(ConnectionRefusedError()) is None
    assert process_exception(asyncio.TimeoutError()) is None
    assert process_exception(InvalidMessage("bad")) is None
    exc = InvalidStatus(Response(503, "Unavailable", Headers()))
    assert process_exception(exc) is None
    exc = InvalidStatus(Response(403, "Forbidden", Headers()))
    assert process_exception(exc) is exc
    exc = ssl.SSLCertVerificationError()
    assert process_exception(exc) is exc
    exc = InvalidURI("x", "bad")
    assert process_exception(exc) is exc


@pytest.fixture
def fast_backoff(monkeypatch):
    monkeypatch.setattr(client_module, "BACKOFF_INITIAL_DELAY", 0.01)
    monkeypatch.setattr(client_module, "BACKOFF_MIN_DELAY", 0.02)
    monkeypatch.setattr(client_module, "BACKOFF_MAX_DELAY", 0.05)


def test_backoff_delays_grow_with_jitter(fast_backoff) -> None:
    delays = client_module.backoff_delays()
    values = [next(delays) for _ in range(8)]
    assert 0 <= values[0] <= 0.01
    assert all(0.01 <= value <= 0.05 for value in values[1:])


def test_reconnects_when_the_server_restarts(fast_backoff) -> None:
    async def main() -> None:
        sock = socket.socket()
        sock.bind((HOST, 0))
        port = sock.getsockname()[1]
        sock.close()
        uri = f"ws://{HOST}:{port}/"
        server = await serve(echo, HOST, port)
        received = []
        attempts = 0
        async for ws in connect(uri):
            attempts += 1
            try:
                await ws.send(f"hello {attempts}")
                received.append(await ws.recv())
                if attempts == 1:
                    # Restart the server: the client reconnects once it's back.
                    server.close()
                    await server.wait_closed()
                    await ws.recv()
                else:
                    break
            except ConnectionClosed:
                server = await serve(echo, HOST, port)
                continue
        await ws.close()
        server.close()
        await server.wait_closed()
        assert received == ["hello 1", "hello 2"]

    run(main())


def test_reconnects_after_refused_connections(fast_backoff) -> None:
    async def main() -> None:
        sock = socket.socket()
        sock.bind((HOST, 0))
        port = sock.getsockname()[1]
        sock.close()
        servers = []

        async def start_later():
            await asyncio.sleep(0.1)
            servers.append(await serve(echo, HOST, port))

        starter = asyncio.ensure_future(start_later())
        async for ws in connect(f"ws://{HOST}:{port}/"):
            await ws.send("up")
            assert await ws.recv() == "up"
            await ws.close()
            break
        await starter
        servers[0].close()
        await servers[0].wait_closed()

    run(main())


def test_no_retry_on_403(fast_backoff) -> None:
    calls = []

    async def reject(connection, request):
        calls.append(request.path)
        return connection.respond(403, "forbidden\n")

    async def main() -> None:
        async with echo_server(process_request=reject) as (_, uri):
            with pytest.raises(InvalidStatus):
                async for _ in connect(uri):
                    pytest.fail("should not connect")
        assert len(calls) == 1

    run(main())


def test_retry_on_503_then_succeed(fast_backoff) -> None:
    calls = []

    async def flaky(connection, request):
        calls.append(1)
        if len(calls) < 3:
            return connection.respond(503, "busy\n")
        return None

    async def main() -> None:
        async with echo_server(process_request=flaky) as (_, uri):
            async for ws in connect(uri):
                await ws.close()
                break
        assert len(calls) == 3

    run(main())


def test_backoff_after_1013_close(fast_backoff) -> None:
    count = []

    async def handler(ws):
        count.append(1)
        if len(count) == 1:
            await ws.close(1013, "try again later")
        else:
            await ws.send("welcome back")

    async def main() -> None:
        async with echo_server(handler=handler) as (_, uri):
            async for ws in connect(uri):
                try:
                    assert await ws.recv() == "welcome back"
                    await ws.close()
                    break
                except ConnectionClosed as exc:
                    assert exc.rcvd.code == 1013
                    continue
        assert len(count) == 2

    run(main())


# TLS


@pytest.fixture(scope="module")
def tls():
    trustme = pytest.importorskip("trustme")
    authority = trustme.CA()
    certificate = authority.issue_cert("localhost", HOST)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate.configure_cert(server_context)
    client_context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    authority.configure_trust(client_context)
    return server_context, client_context


def test_tls(tls) -> None:
    server_context, client_context = tls

    async def main() -> None:
        async with serve(echo, HOST, 0, ssl=server_context) as server:
            uri = f"wss://localhost:{port_of(server)}/"
            async with connect(uri, ssl=client_context, host=HOST) as ws:
                assert ws.transport.is_secure
                await ws.send("secret")
                assert await ws.recv() == "secret"
            # Verified by default: an unknown authority is refused, not retried.
            with pytest.raises(ssl.SSLCertVerificationError):
                await connect(uri, host=HOST)
            with pytest.raises(ssl.SSLError):
                async for _ in connect(uri, host=HOST):
                    pytest.fail("should not connect")
            with pytest.raises(ValueError):
                await connect(f"ws://{HOST}:{port_of(server)}/", ssl=client_context)

    run(main())


# Unix sockets


def test_unix_sockets() -> None:
    async def main() -> None:
        with tempfile.TemporaryDirectory() as directory:
            path = os.path.join(directory, "ws.sock")
            async with unix_serve(echo, path):
                async with unix_connect(path) as ws:
                    await ws.send("over unix")
                    assert await ws.recv() == "over unix"
                async with unix_connect(path, "ws://localhost/chat") as ws:
                    assert ws.request.path == "/chat"

    run(main())


# Proxies


async def start_connect_proxy(requests, status=200):
    """A tiny HTTP CONNECT proxy: opens the tunnel and relays bytes both ways."""

    async def relay(reader, writer):
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def handle(reader, writer):
        head = await reader.readuntil(b"\r\n\r\n")
        requests.append(head.decode())
        if status != 200:
            writer.write(f"HTTP/1.1 {status} Nope\r\n\r\n".encode())
            writer.close()
            return
        target = head.split(b" ")[1].decode()
        host, _, port = target.rpartition(":")
        up_reader, up_writer = await asyncio.open_connection(host, int(port))
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await asyncio.gather(relay(reader, up_writer), relay(up_reader, writer))

    return await asyncio.start_server(handle, HOST, 0)


def test_http_connect_proxy(monkeypatch) -> None:
    async def main() -> None:
        requests = []
        proxy = await start_connect_proxy(requests)
        try:
            async with echo_server() as (server, uri):
                proxy_url = f"http://user:pass@{HOST}:{port_of(proxy)}"
                async with connect(uri, proxy=proxy_url) as ws:
                    await ws.send("through the proxy")
                    assert await ws.recv() == "through the proxy"
                assert requests[0].startswith(f"CONNECT {HOST}:{port_of(server)} HTTP/1.1")
                assert "Proxy-Authorization: Basic dXNlcjpwYXNz" in requests[0]
                # From the environment; no_proxy applies.
                monkeypatch.setenv("http_proxy", f"http://{HOST}:{port_of(proxy)}")
                monkeypatch.setenv("no_proxy", "example.com")
                async with connect(uri) as ws:
                    await ws.send("env")
                    assert await ws.recv() == "env"
                assert len(requests) == 2
                monkeypatch.setenv("no_proxy", HOST)
                async with connect(uri) as ws:
                    pass
                assert len(requests) == 2
                async with connect(uri, proxy=None) as ws:
                    pass
        finally:
            proxy.close()
            await proxy.wait_closed()

    run(main())


def test_http_proxy_refusal() -> None:
    async def main() -> None:
        proxy = await start_connect_proxy([], status=407)
        try:
            with pytest.raises(ProxyError, match="407"):
                await connect("ws://example.invalid/", proxy=f"http://{HOST}:{port_of(proxy)}")
        finally:
            proxy.close()
            await proxy.wait_closed()

    run(main())


async def start_socks5_proxy(seen):
    """A tiny SOCKS5 proxy (no authentication, CONNECT only)."""

    async def relay(reader, writer):
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def handle(reader, writer):
        _version, count = await reader.readexactly(2)
        await reader.readexactly(count)
        writer.write(b"\x05\x00")
        _, _command, _, address_type = await reader.readexactly(4)
        if address_type == 1:
            host = socket.inet_ntoa(await reader.readexactly(4))
        else:
            (length,) = await reader.readexactly(1)
            host = (await reader.readexactly(length)).decode()
        (port,) = struct.unpack("!H", await reader.readexactly(2))
        seen.append((host, port))
        up_reader, up_writer = await asyncio.open_connection(host, port)
        writer.write(b"\x05\x00\x00\x01" + socket.inet_aton("0.0.0.0") + b"\x00\x00")
        await asyncio.gather(relay(reader, up_writer), relay(up_reader, writer))

    return await asyncio.start_server(handle, HOST, 0)


def test_socks5_proxy() -> None:
    pytest.importorskip("python_socks")

    async def main() -> None:
        seen = []
        proxy = await start_socks5_proxy(seen)
        try:
            async with echo_server() as (server, uri):
                port = port_of(server)
                async with connect(uri, proxy=f"socks5h://{HOST}:{port_of(proxy)}") as ws:
                    await ws.send("socks")
                    assert await ws.recv() == "socks"
                async with connect(uri, proxy=f"socks5://{HOST}:{port_of(proxy)}") as ws:
                    pass
            assert seen == [(HOST, port)] * 2
        finally:
            proxy.close()
            await proxy.wait_closed()

    run(main())


def test_invalid_proxy_scheme() -> None:
    async def main() -> None:
        with pytest.raises(InvalidURI):
            await connect("ws://example.invalid/", proxy="ftp://proxy")

    run(main())


def test_handshake_failure_is_invalid_handshake() -> None:
    async def main() -> None:
        async def http_only(reader, writer):
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(http_only, HOST, 0)
        try:
            with pytest.raises(InvalidHandshake):
                await connect(f"ws://{HOST}:{port_of(server)}/")
        finally:
            server.close()
            await server.wait_closed()
        await until(lambda: True)

    run(main())
