"""Opening handshake of the listener face: rejections, redirects, TLS, errors."""

from __future__ import annotations

import asyncio
import ssl

import pytest
from listener_helpers import Recorder, disconnect, run, serving, until

from wirespeed import (
    InvalidHandshake,
    InvalidStatus,
    WSError,
    WSMsgType,
    WSUpgradeResponse,
    WSUpgradeResponseWithListener,
    ws_connect,
    ws_create_server,
)
from wirespeed.handshake import accept_key

trustme = pytest.importorskip("trustme")


async def http_exchange(port: int, request: bytes, *, ssl_context=None) -> bytes:
    """Send a raw HTTP request, return everything the server answers until it closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ssl_context)
    try:
        writer.write(request)
        return await asyncio.wait_for(reader.read(), 2)
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except (ConnectionError, ssl.SSLError):
            pass


def upgrade_request(path: str = "/", host: str = "127.0.0.1") -> bytes:
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


# Server answers chosen by the listener factory


def test_factory_rejects_with_403_and_client_gets_invalid_status():
    async def main():
        def factory(request):
            if request.path == b"/forbidden":
                return WSUpgradeResponse.create_error_response(403, b"go away\n")
            return Recorder()

        server = await ws_create_server(factory, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            with pytest.raises(InvalidStatus) as info:
                await ws_connect(Recorder, f"ws://127.0.0.1:{port}/forbidden")
            assert isinstance(info.value, InvalidHandshake)
            assert isinstance(info.value, WSError)
            response = info.value.response
            assert response.status_code == 403
            assert response.body == b"go away\n"
            raw = await http_exchange(port, upgrade_request("/forbidden"))
            assert raw.startswith(b"HTTP/1.1 403 Forbidden\r\n")
            assert raw.endswith(b"\r\n\r\ngo away\n")
            # Other paths are accepted.
            transport, _ = await ws_connect(Recorder, f"ws://127.0.0.1:{port}/ok")
            await disconnect(transport)
        finally:
            server.close()
            await server.wait_closed()

    run(main())


def test_health_check_answers_plain_http_get():
    async def main():
        def factory(request):
            if request.path == b"/health":
                return WSUpgradeResponse.create_error_response(
                    200, b"healthy", extra_headers={"X-Check": "1"}
                )
            return None

        server = await ws_create_server(factory, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            raw = await http_exchange(port, b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            head, _, body = raw.partition(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            assert lines[0] == b"HTTP/1.1 200 OK"
            headers = {k.lower(): v.strip() for k, v in (line.split(b":", 1) for line in lines[1:])}
            assert body == b"healthy"
            assert headers[b"content-length"] == b"7"
            assert headers[b"x-check"] == b"1"
            # None -> 404, for a plain GET and for a WebSocket upgrade.
            raw = await http_exchange(port, b"GET /other HTTP/1.1\r\nHost: x\r\n\r\n")
            assert raw.startswith(b"HTTP/1.1 404 Not Found\r\n")
            with pytest.raises(InvalidStatus) as info:
                await ws_connect(Recorder, f"ws://127.0.0.1:{port}/ws")
            assert info.value.response.status_code == 404
        finally:
            server.close()
            await server.wait_closed()

    run(main())


def test_default_error_body_and_factory_exception_gives_500():
    async def main():
        def factory(request):
            if request.path == b"/boom":
                raise RuntimeError("factory bug")
            return WSUpgradeResponse.create_error_response(503)

        server = await ws_create_server(factory, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            with pytest.raises(InvalidStatus) as info:
                await ws_connect(Recorder, f"ws://127.0.0.1:{port}/")
            assert info.value.response.status_code == 503
            assert info.value.response.body == b"503 Service Unavailable\n"
            with pytest.raises(InvalidStatus) as info:
                await ws_connect(Recorder, f"ws://127.0.0.1:{port}/boom")
            assert info.value.response.status_code == 500
            assert b"factory bug" not in info.value.response.body
        finally:
            server.close()
            await server.wait_closed()

    run(main())


def test_garbage_request_gets_400():
    async def main():
        async with serving(Recorder) as srv:
            raw = await http_exchange(srv.port, b"NOT HTTP AT ALL\r\n\r\n")
            assert raw.startswith(b"HTTP/1.1 400 ")
            assert not srv.listeners

    run(main())


def test_response_with_listener_adds_headers_to_101():
    async def main():
        listeners = []

        def factory(request):
            listener = Recorder(echo=True)
            listeners.append(listener)
            if request.path == b"/refuse":
                return WSUpgradeResponseWithListener(
                    WSUpgradeResponse.create_error_response(403), None
                )
            response = WSUpgradeResponse.create_101_response(
                extra_headers={"X-Session": "abc", "Set-Cookie": "k=v"}
            )
            return WSUpgradeResponseWithListener(response, listener)

        server = await ws_create_server(factory, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            transport, client = await ws_connect(Recorder, f"ws://127.0.0.1:{port}/")
            assert transport.response.status_code == 101
            assert transport.response.headers["X-Session"] == "abc"
            assert transport.response.headers["Set-Cookie"] == "k=v"
            transport.send(WSMsgType.TEXT, b"echo me")
            await client.wait_frames(1)
            assert client.frames[0].payload == b"echo me"
            assert listeners[0].transport.response.headers["X-Session"] == "abc"
            await disconnect(transport)
            with pytest.raises(InvalidStatus) as info:
                await ws_connect(Recorder, f"ws://127.0.0.1:{port}/refuse")
            assert info.value.response.status_code == 403
        finally:
            server.close()
            await server.wait_closed()

    run(main())


def test_upgrade_response_repr_and_defaults():
    response = WSUpgradeResponse.create_error_response(404)
    assert response.status == 404
    assert response.body == b"404 Not Found\n"
    assert "404" in repr(response)
    assert WSUpgradeResponse.create_101_response().status == 101


# Handshake failures on the client side


def test_non_101_answer_raises_invalid_status_with_response():
    async def main():
        async def answer(reader, writer):
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Why: nope\r\n\r\nhello")
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(answer, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            with pytest.raises(InvalidStatus) as info:
                await ws_connect(Recorder, f"ws://127.0.0.1:{port}/")
            assert info.value.response.status_code == 200
            assert info.value.response.headers["X-Why"] == "nope"
            assert info.value.response.body == b"hello"
        finally:
            server.close()
            await server.wait_closed()

    run(main())


def test_bad_accept_key_raises_invalid_handshake():
    async def main():
        async def answer(reader, writer):
            await reader.readuntil(b"\r\n\r\n")
            writer.write(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Accept: d3Jvbmc=\r\n\r\n"
            )
            await writer.drain()
            await reader.read()  # the client closes the connection
            writer.close()

        server = await asyncio.start_server(answer, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            with pytest.raises(InvalidHandshake) as info:
                await ws_connect(Recorder, f"ws://127.0.0.1:{port}/")
            assert not isinstance(info.value, InvalidStatus)
        finally:
            server.close()
            await server.wait_closed()

    run(main())


def test_handshake_timeout_client_side():
    async def main():
        connections = []

        async def silent(reader, writer):
            connections.append(writer)
            await reader.read()  # never answers; returns when the client gives up
            # Close our side: since Python 3.12, Server.wait_closed() waits for it.
            writer.close()

        server = await asyncio.start_server(silent, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            loop = asyncio.get_running_loop()
            start = loop.time()
            with pytest.raises(asyncio.TimeoutError):
                await ws_connect(
                    Recorder, f"ws://127.0.0.1:{port}/", websocket_handshake_timeout=0.2
                )
            assert 0.15 < loop.time() - start < 1.5
        finally:
            server.close()
            await server.wait_closed()

    run(main())


def test_handshake_timeout_server_side():
    async def main():
        async with serving(Recorder, websocket_handshake_timeout=0.2) as srv:
            reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
            loop = asyncio.get_running_loop()
            start = loop.time()
            writer.write(b"GET / HTTP/1.1\r\n")  # an incomplete request, then silence
            data = await asyncio.wait_for(reader.read(), 2)
            assert 0.15 < loop.time() - start < 1.5
            assert b"101" not in data
            writer.close()
            assert not srv.listeners

    run(main())


def test_frames_and_close_in_the_same_read_as_the_101():
    # A server may send its 101, a message and a close frame in one write (the
    # Autobahn fuzzing server does so for /getCaseCount): ws_connect must
    # succeed and the listener must see both frames.
    async def main():
        echoed = []

        async def answer(reader, writer):
            request = await reader.readuntil(b"\r\n\r\n")
            key = next(
                line.split(b":", 1)[1].strip()
                for line in request.split(b"\r\n")
                if line.lower().startswith(b"sec-websocket-key")
            )
            writer.write(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Accept: "
                + accept_key(key.decode()).encode()
                + b"\r\n\r\n\x81\x03247\x88\x02\x03\xe8"
            )
            await writer.drain()
            echoed.append(await reader.readexactly(8))  # the client's close frame
            writer.close()

        server = await asyncio.start_server(answer, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            transport, client = await ws_connect(
                Recorder, f"ws://127.0.0.1:{port}/", websocket_handshake_timeout=1
            )
            await asyncio.wait_for(transport.wait_disconnected(), 2)
            assert [(f.msg_type, f.payload) for f in client.frames] == [
                (WSMsgType.TEXT, b"247"),
                (WSMsgType.CLOSE, b"\x03\xe8"),
            ]
            assert echoed[0][:2] == b"\x88\x82"  # a masked close frame, code 1000
        finally:
            server.close()
            await server.wait_closed()

    run(main())


# Redirects


class Redirector:
    """A tiny HTTP server answering every request with a redirect to ``location``."""

    def __init__(self, status: int, location, ssl_context=None):
        self.status = status
        self.location = location
        self.ssl_context = ssl_context
        self.requests = []

    async def handle(self, reader, writer):
        try:
            request = await reader.readuntil(b"\r\n\r\n")
            self.requests.append(request.split(b"\r\n", 1)[0])
            location = self.location() if callable(self.location) else self.location
            writer.write(
                f"HTTP/1.1 {self.status} Moved\r\nLocation: {location}\r\n"
                "Content-Length: 0\r\n\r\n".encode()
            )
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            writer.close()

    async def __aenter__(self):
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0, ssl=self.ssl_context)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc):
        self.server.close()
        await self.server.wait_closed()


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirect_followed(status):
    async def main():
        async with serving(Recorder) as srv:
            redirector = Redirector(status, f"{srv.url}target?q=1")
            async with redirector:
                transport, _ = await ws_connect(Recorder, f"ws://127.0.0.1:{redirector.port}/start")
                assert redirector.requests == [b"GET /start HTTP/1.1"]
                await until(lambda: srv.listeners and srv.listeners[0].connected)
                assert srv.listeners[0].transport.request.path == "/target?q=1"
                transport.send(WSMsgType.TEXT, b"hi")
                await srv.listeners[0].wait_frames(1)
                await disconnect(transport)

    run(main())


def test_redirect_relative_and_http_locations():
    async def main():
        async with serving(Recorder) as srv:
            # A relative location stays on the same host and port: chain a
            # redirector to itself once, then to the server with http://.
            hops = []

            def location():
                hops.append(None)
                if len(hops) == 1:
                    return "/second"
                return f"http://127.0.0.1:{srv.port}/final"

            async with Redirector(302, location) as redirector:
                transport, _ = await ws_connect(Recorder, f"ws://127.0.0.1:{redirector.port}/")
                assert redirector.requests == [b"GET / HTTP/1.1", b"GET /second HTTP/1.1"]
                await until(lambda: srv.listeners and srv.listeners[0].connected)
                assert srv.listeners[0].transport.request.path == "/final"
                await disconnect(transport)

    run(main())


def test_redirect_loop_gives_up():
    async def main():
        redirector = Redirector(302, lambda: f"ws://127.0.0.1:{redirector.port}/again")
        async with redirector:
            with pytest.raises(InvalidHandshake, match="redirect"):
                await ws_connect(Recorder, f"ws://127.0.0.1:{redirector.port}/", max_redirects=3)
            assert len(redirector.requests) == 4
            redirector.requests.clear()
            with pytest.raises(InvalidHandshake, match="redirect"):
                await ws_connect(Recorder, f"ws://127.0.0.1:{redirector.port}/")
            assert 2 <= len(redirector.requests) <= 21

    run(main())


def test_redirect_without_location_raises_invalid_status():
    async def main():
        async def answer(reader, writer):
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 302 Found\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(answer, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            with pytest.raises(InvalidStatus) as info:
                await ws_connect(Recorder, f"ws://127.0.0.1:{port}/")
            assert info.value.response.status_code == 302
        finally:
            server.close()
            await server.wait_closed()

    run(main())


# TLS


@pytest.fixture(scope="module")
def tls():
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    return server_context, client_context


def test_wss_with_test_certificate(tls):
    server_context, client_context = tls

    async def main():
        async with serving(lambda: Recorder(echo=True), ssl=server_context) as srv:
            url = f"wss://127.0.0.1:{srv.port}/"
            transport, client = await ws_connect(Recorder, url, ssl_context=client_context)
            assert transport.underlying_transport.get_extra_info("ssl_object") is not None
            for size in (5, 70000, 1_000_000):
                transport.send(WSMsgType.BINARY, b"s" * size)
            transport.send(WSMsgType.TEXT, b"tls", fin=False)
            transport.send(WSMsgType.CONTINUATION, b" works")
            await client.wait_frames(5)
            assert [len(f.payload) for f in client.frames[:3]] == [5, 70000, 1_000_000]
            assert [f.payload for f in client.frames[3:]] == [b"tls", b" works"]
            transport.send_close()
            await asyncio.wait_for(transport.wait_disconnected(), 3)
            assert client.close_code() == 1000

    run(main())


def test_wss_verification_failure_not_wrapped(tls):
    server_context, _ = tls

    async def main():
        async with serving(Recorder, ssl=server_context) as srv:
            with pytest.raises(ssl.SSLCertVerificationError):
                await ws_connect(Recorder, f"wss://127.0.0.1:{srv.port}/")
            assert not srv.listeners

    run(main())


def test_redirect_from_wss_to_ws_refused(tls):
    server_context, client_context = tls

    async def main():
        async with serving(Recorder) as srv:
            async with Redirector(302, srv.url, ssl_context=server_context) as redirector:
                with pytest.raises(InvalidHandshake, match="wss"):
                    await ws_connect(
                        Recorder,
                        f"wss://127.0.0.1:{redirector.port}/",
                        ssl_context=client_context,
                    )
                assert len(redirector.requests) == 1
            assert not srv.listeners

    run(main())


def test_redirect_from_ws_to_wss_followed(tls):
    server_context, client_context = tls

    async def main():
        async with serving(Recorder, ssl=server_context) as srv:
            target = f"wss://127.0.0.1:{srv.port}/secure"
            async with Redirector(301, target) as redirector:
                transport, _ = await ws_connect(
                    Recorder, f"ws://127.0.0.1:{redirector.port}/", ssl_context=client_context
                )
                assert transport.underlying_transport.get_extra_info("ssl_object") is not None
                await until(lambda: srv.listeners and srv.listeners[0].connected)
                assert srv.listeners[0].transport.request.path == "/secure"
                await disconnect(transport)

    run(main())


def test_invalid_upgrade_request_gets_400_and_no_connection():
    async def main():
        async with serving(Recorder) as srv:
            raw = await http_exchange(
                srv.port,
                b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n",  # no key
            )
            assert raw.startswith(b"HTTP/1.1 400 ")
            assert not any(listener.connected for listener in srv.listeners)

    run(main())
