"""wirespeed.sync.connect / serve: the blocking connection of websockets' threading API."""

from __future__ import annotations

import os
import socket
import tempfile
import threading
import time

import pytest
from sync_helpers import (
    JOIN_TIMEOUT,
    RawServer,
    read_frames,
    run_in_thread,
    running_server,
    server_handshake,
    wait_for,
)

from wirespeed.exceptions import (
    ConcurrencyError,
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidStatus,
)
from wirespeed.frames import Opcode
from wirespeed.sansio import ServerProtocol, State
from wirespeed.sync import connect, serve, unix_connect, unix_serve


def test_echo_text_and_binary() -> None:
    with running_server() as (_, uri), connect(uri, ping_interval=None) as ws:
        ws.send("café")
        assert ws.recv() == "café"
        ws.send(b"\x00\xff")
        assert ws.recv() == b"\x00\xff"
        ws.send(bytearray(b"ab"))
        assert ws.recv() == b"ab"
        ws.send(memoryview(b"cd"))
        assert ws.recv() == b"cd"


def test_recv_decode_options() -> None:
    with running_server() as (_, uri), connect(uri, ping_interval=None) as ws:
        ws.send("text")
        assert ws.recv(decode=False) == b"text"
        ws.send(b"bytes")
        assert ws.recv(decode=True) == "bytes"
        ws.send(b"as text", text=True)
        assert ws.recv() == "as text"
        ws.send("as binary", text=False)
        assert ws.recv() == b"as binary"


def test_fragmented_send_and_recv_streaming() -> None:
    frames = []

    def handler(connection):
        frames.extend(connection.recv_streaming())
        connection.send(["one", "two", "three"])
        connection.send(iter([b"a", b"b"]))
        connection.recv()

    with running_server(handler) as (_, uri), connect(uri, ping_interval=None) as ws:
        ws.send(iter(["x", "y", "z"]))
        assert ws.recv() == "onetwothree"
        assert list(ws.recv_streaming()) == [b"a", b"b"]
        ws.send("done")
    assert frames == ["x", "y", "z"]


def test_send_rejects_bad_types() -> None:
    with running_server() as (_, uri), connect(uri, ping_interval=None) as ws:
        with pytest.raises(TypeError):
            ws.send({"a": 1})  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            ws.send(42)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            ws.send(["a", b"b"])  # type: ignore[list-item]
        # A fragmented message that can't be completed fails the connection.
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=JOIN_TIMEOUT)
        assert ws.close_code is not None


def test_iteration_and_normal_close() -> None:
    def handler(connection):
        connection.send("a")
        connection.send("b")
        connection.close(1000, "bye")

    with running_server(handler) as (_, uri), connect(uri, ping_interval=None) as ws:
        assert list(ws) == ["a", "b"]
        assert ws.close_code == 1000
        assert ws.close_reason == "bye"
        assert ws.state is State.CLOSED
        with pytest.raises(ConnectionClosedOK):
            ws.recv()
        with pytest.raises(ConnectionClosedOK):
            ws.send("late")
        with pytest.raises(ConnectionClosedOK):
            ws.ping()
        ws.close()  # no-op


def test_iteration_raises_on_error_close() -> None:
    def handler(connection):
        raise RuntimeError("boom")

    with running_server(handler) as (_, uri):
        ws = connect(uri, ping_interval=None)
        with pytest.raises(ConnectionClosedError) as info:
            list(ws)
    assert info.value.rcvd is not None and info.value.rcvd.code == 1011


def test_recv_timeout_keeps_partial_message() -> None:
    release = threading.Event()

    def handler(connection):
        connection.protocol_mutex.acquire()
        try:
            connection.protocol.send_text(b"hel", fin=False)
            connection.send_data()
        finally:
            connection.protocol_mutex.release()
        release.wait(JOIN_TIMEOUT)
        with connection.protocol_mutex:
            connection.protocol.send_continuation(b"lo", fin=True)
            connection.send_data()
        connection.recv()

    with running_server(handler) as (_, uri), connect(uri, ping_interval=None) as ws:
        with pytest.raises(TimeoutError):
            ws.recv(timeout=0.1)
        with pytest.raises(TimeoutError):
            ws.recv(timeout=0)
        release.set()
        assert ws.recv(timeout=JOIN_TIMEOUT) == "hello"
        ws.send("done")


def test_concurrent_recv_raises_concurrency_error() -> None:
    def handler(connection):
        connection.recv()

    with running_server(handler) as (_, uri), connect(uri, ping_interval=None) as ws:
        thread, results = run_in_thread(ws.recv)
        assert wait_for(ws.recv_in_progress.locked)
        with pytest.raises(ConcurrencyError):
            ws.recv(timeout=0.1)
        with pytest.raises(ConcurrencyError):
            next(ws.recv_streaming())
        ws.send("stop")
        ws.close()
        thread.join(JOIN_TIMEOUT)
    assert isinstance(results[0], ConnectionClosedOK)


def test_concurrent_send_from_8_threads_never_interleaves() -> None:
    received = []

    def handler(connection):
        for message in connection:
            received.append(message)

    count = 50
    with running_server(handler) as (_server, uri), connect(uri, ping_interval=None) as ws:

        def sender(index: int) -> None:
            for number in range(count):
                payload = f"{index}:{number}:" + "x" * (number * 97 % 3000)
                if number % 5 == 0:
                    ws.send([payload[:10], payload[10:20], payload[20:]])
                elif number % 7 == 0:
                    ws.ping()
                else:
                    ws.send(payload)

        threads = [threading.Thread(target=sender, args=(i,)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(JOIN_TIMEOUT)
            assert not thread.is_alive()
    assert ws.close_code == 1000  # the server never saw a malformed frame
    expected = {
        f"{i}:{n}:" + "x" * (n * 97 % 3000)
        for i in range(8)
        for n in range(count)
        if n % 7 or n % 5 == 0
    }
    assert len(received) == len(expected)
    assert set(received) == expected


def test_concurrent_close_and_send() -> None:
    def consume(connection):
        for _ in connection:
            pass

    with running_server(consume) as (_, uri), connect(uri, ping_interval=None) as ws:
        errors = []

        def spam() -> None:
            try:
                while True:
                    ws.send("x" * 100)
            except ConnectionClosed:
                pass
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=spam) for _ in range(4)]
        for thread in threads:
            thread.start()
        time.sleep(0.05)
        closers = [threading.Thread(target=ws.close) for _ in range(3)]
        for thread in closers:
            thread.start()
        for thread in threads + closers:
            thread.join(JOIN_TIMEOUT)
            assert not thread.is_alive()
        assert errors == []
        assert ws.state is State.CLOSED


def test_ping_returns_latency() -> None:
    with running_server() as (_, uri), connect(uri, ping_interval=None) as ws:
        assert ws.latency == 0
        waiter = ws.ping()
        latency = waiter.result(JOIN_TIMEOUT)
        assert 0 < latency < JOIN_TIMEOUT
        assert ws.latency == latency
        assert waiter.wait(0)
        assert ws.ping("data").wait(JOIN_TIMEOUT)
        ws.pong(b"unsolicited")


def test_pong_acknowledges_older_pings() -> None:
    with RawServer(_hold_pings_then_answer_last) as server:
        ws = connect(server.uri, ping_interval=None, close_timeout=0.5)
        first = ws.ping(b"1")
        second = ws.ping(b"2")
        assert second.wait(JOIN_TIMEOUT)
        assert first.is_set() and first.latency is not None
        ws.close()


def _hold_pings_then_answer_last(sock: socket.socket) -> None:
    protocol = server_handshake(sock)
    pings = []
    while len(pings) < 2:
        protocol.receive_data(sock.recv(65536))
        pings += [frame for frame in protocol.events_received() if frame.opcode is Opcode.PING]
        protocol.data_to_send()  # drop the automatic pongs
    protocol.send_pong(pings[-1].data)
    for chunk in protocol.data_to_send():
        sock.sendall(chunk)
    read_frames(sock, protocol)


def _never_answer(sock: socket.socket) -> None:
    """Complete the handshake, then read until a close frame and hang up."""
    protocol = server_handshake(sock)
    while True:
        data = sock.recv(65536)
        if not data:
            return
        protocol.receive_data(data)
        protocol.data_to_send()
        if any(frame.opcode is Opcode.CLOSE for frame in protocol.events_received()):
            return


def test_ping_waiter_fails_when_connection_closes() -> None:
    with RawServer(_never_answer) as server:
        ws = connect(server.uri, ping_interval=None, close_timeout=0.2)
        waiter = ws.ping()
        ws.ping("same")
        with pytest.raises(ConcurrencyError):
            ws.ping("same")
        ws.close()
        with pytest.raises(ConnectionClosed):
            waiter.result(JOIN_TIMEOUT)
        with pytest.raises(TimeoutError):
            type(waiter)().result(0)


def test_keepalive_ping_timeout_fails_with_1011() -> None:
    with RawServer(_never_answer) as server:
        ws = connect(server.uri, ping_interval=0.1, ping_timeout=0.1, close_timeout=0.2)
        started = time.monotonic()
        with pytest.raises(ConnectionClosedError) as info:
            ws.recv(timeout=JOIN_TIMEOUT)
        assert time.monotonic() - started < 2
    assert str(info.value) == (
        "sent 1011 (internal error) keepalive ping timeout; no close frame received"
    )


def test_keepalive_pings_keep_connection_open() -> None:
    with running_server() as (_, uri), connect(uri, ping_interval=0.05, ping_timeout=0.5) as ws:
        time.sleep(0.3)
        assert ws.latency > 0
        ws.send("still there")
        assert ws.recv(timeout=JOIN_TIMEOUT) == "still there"


def test_max_size_fails_with_1009() -> None:
    def handler(connection):
        connection.send(b"x" * 2000)
        connection.recv()

    with running_server(handler) as (_, uri):
        ws = connect(uri, ping_interval=None, max_size=1000)
        with pytest.raises(ConnectionClosedError) as info:
            ws.recv(timeout=JOIN_TIMEOUT)
    assert info.value.sent is not None and info.value.sent.code == 1009


def test_max_queue_backpressure_loses_nothing() -> None:
    def handler(connection):
        for number in range(200):
            connection.send(str(number))
        connection.recv()

    with running_server(handler) as (_, uri), connect(uri, ping_interval=None, max_queue=4) as ws:
        assert wait_for(lambda: ws.paused)
        assert [ws.recv(timeout=JOIN_TIMEOUT) for _ in range(200)] == [str(n) for n in range(200)]
        ws.send("done")
        with pytest.raises(ValueError):
            connect(uri, max_queue=(2, 5))


def test_process_request_rejects() -> None:
    def process_request(connection, request):
        if request.headers.get("X-Token") != "secret":
            return connection.respond(403, "Forbidden\n")
        return None

    with running_server(process_request=process_request) as (_, uri):
        with pytest.raises(InvalidStatus) as info:
            connect(uri)
        assert info.value.response.status_code == 403
        with connect(uri, additional_headers={"X-Token": "secret"}, ping_interval=None) as ws:
            ws.send("ok")
            assert ws.recv() == "ok"


def test_process_response_and_headers() -> None:
    def process_response(connection, request, response):
        response.headers["X-Extra"] = "1"
        return None

    with (
        running_server(process_response=process_response, server_header="test-server") as (
            _,
            uri,
        ),
        connect(uri, ping_interval=None, user_agent_header="test-agent", origin="http://o") as ws,
    ):
        assert ws.response is not None
        assert ws.response.headers["X-Extra"] == "1"
        assert ws.response.headers["Server"] == "test-server"
        assert ws.request is not None
        assert ws.request.headers["User-Agent"] == "test-agent"
        assert ws.request.headers["Origin"] == "http://o"
        assert ws.remote_address[0] == "127.0.0.1"
        assert ws.local_address[0] == "127.0.0.1"
        assert ws.id is not None


def test_origins_are_checked() -> None:
    with running_server(origins=["http://good"]) as (_, uri):
        with pytest.raises(InvalidStatus):
            connect(uri, origin="http://evil")
        connect(uri, origin="http://good", ping_interval=None).close()


def test_subprotocol_negotiation() -> None:
    with running_server(subprotocols=["chat", "superchat"]) as (_, uri):
        ws = connect(uri, subprotocols=["superchat"], ping_interval=None)
        assert ws.subprotocol == "superchat"
        ws.close()


def test_compression_deflate_round_trip() -> None:
    with running_server(compression="deflate") as (_, uri):
        with connect(uri, compression="deflate", ping_interval=None) as ws:
            assert "permessage-deflate" in ws.response.headers["Sec-WebSocket-Extensions"]
            ws.send("z" * 10000)
            assert ws.recv() == "z" * 10000
        with pytest.raises(ValueError):
            connect(uri, compression="brotli")


def test_open_timeout() -> None:
    with RawServer(lambda sock: sock.recv(65536) and time.sleep(0.4)) as server:
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            connect(server.uri, open_timeout=0.2)
        assert time.monotonic() - started < 1


def test_connection_refused() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(OSError):
        connect(f"ws://127.0.0.1:{port}/", open_timeout=1)


def test_close_timeout_when_peer_never_closes() -> None:
    def silent(sock: socket.socket) -> None:
        server_handshake(sock)
        while sock.recv(65536):
            pass

    with RawServer(silent) as server:
        ws = connect(server.uri, ping_interval=None, close_timeout=0.2)
        started = time.monotonic()
        ws.close()
        assert time.monotonic() - started < 1.5
        assert ws.state is State.CLOSED
        assert ws.close_code == 1006


def test_server_shutdown_closes_connections_with_1001() -> None:
    with running_server() as (server, uri):
        ws = connect(uri, ping_interval=None)
        server.shutdown(timeout=JOIN_TIMEOUT)
        with pytest.raises(ConnectionClosedOK):
            ws.recv(timeout=JOIN_TIMEOUT)
        assert ws.close_code == 1001


def test_handler_closed_by_peer_is_not_an_error(caplog: pytest.LogCaptureFixture) -> None:
    def handler(connection):
        connection.recv()
        connection.recv()

    with running_server(handler) as (_, uri):
        ws = connect(uri, ping_interval=None)
        ws.send("one")
        ws.close()
    assert "connection handler failed" not in caplog.text


def test_invalid_handshake_request_gets_an_http_error() -> None:
    with running_server() as (_, uri):
        port = int(uri.rsplit(":", 1)[1].strip("/"))
        with socket.create_connection(("127.0.0.1", port), timeout=JOIN_TIMEOUT) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert sock.recv(65536).startswith(b"HTTP/1.1 426")


def test_ssl_argument_requires_wss() -> None:
    import ssl

    with pytest.raises(ValueError):
        connect("ws://127.0.0.1:1/", ssl=ssl.create_default_context())


def test_unix_sockets() -> None:
    directory = tempfile.mkdtemp()
    path = os.path.join(directory, "ws.sock")
    server = unix_serve(lambda c: c.send(c.recv()), path, ping_interval=None)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with unix_connect(path, ping_interval=None) as ws:
            ws.send("over unix")
            assert ws.recv() == "over unix"
    finally:
        server.shutdown(timeout=JOIN_TIMEOUT)
        thread.join(JOIN_TIMEOUT)
        os.unlink(path)
        os.rmdir(directory)
    with pytest.raises(TypeError):
        serve(lambda c: None, unix=True)


def test_existing_socket_and_custom_connection_class() -> None:
    from wirespeed.sync import ClientConnection

    class Custom(ClientConnection):
        pass

    with running_server() as (_, uri):
        port = int(uri.rsplit(":", 1)[1].strip("/"))
        sock = socket.create_connection(("127.0.0.1", port))
        with connect(uri, sock=sock, create_connection=Custom, ping_interval=None) as ws:
            assert isinstance(ws, Custom)
            ws.send("hi")
            assert ws.recv() == "hi"


def test_context_manager_closes_with_1011_on_exception() -> None:
    codes = []

    def handler(connection):
        try:
            connection.recv()
        except ConnectionClosed as exc:
            codes.append(exc.code)

    with running_server(handler) as (_, uri):
        with pytest.raises(KeyError), connect(uri, ping_interval=None):
            raise KeyError("x")
        assert wait_for(lambda: codes == [1011])


def test_close_is_bounded_when_a_sender_is_stuck() -> None:
    # The server echoes but the client never reads: the client's queue fills,
    # it stops reading, the server stops reading, and a sender blocks.
    with running_server() as (_, uri):
        ws = connect(uri, ping_interval=None, close_timeout=0.3, max_queue=1)
        thread, results = run_in_thread(lambda: [ws.send(b"x" * 65536) for _ in range(1000)])
        time.sleep(0.3)
        started = time.monotonic()
        ws.close()
        assert time.monotonic() - started < 2
        thread.join(JOIN_TIMEOUT)
        assert not thread.is_alive()
        assert isinstance(results[0], ConnectionClosed)


def burst(sock: socket.socket) -> ServerProtocol:
    """Accept the handshake, then write several messages and a ping in one write."""
    protocol = server_handshake(sock)
    protocol.send_text(b"one")
    protocol.send_ping(b"between")
    protocol.send_binary(b"two")
    protocol.send_text(b"thr", fin=False)
    protocol.send_continuation(b"ee", fin=True)
    sock.sendall(b"".join(protocol.data_to_send()))
    return protocol


def test_messages_of_one_read_keep_their_order() -> None:
    pongs = []

    def handler(sock: socket.socket) -> None:
        protocol = burst(sock)
        frames = read_frames(sock, protocol, until=Opcode.CLOSE)
        pongs.extend(frame.data for frame in frames if frame.opcode is Opcode.PONG)

    with RawServer(handler) as server, connect(server.uri, ping_interval=None) as ws:
        assert ws.recv(timeout=JOIN_TIMEOUT) == "one"
        assert ws.recv(timeout=JOIN_TIMEOUT) == b"two"
        assert ws.recv(timeout=JOIN_TIMEOUT) == "three"
    assert pongs == [b"between"]


def test_large_messages_both_ways() -> None:
    payload = os.urandom(3 * 2**20 + 5)
    server = running_server(max_size=2**23)
    with server as (_, uri), connect(uri, ping_interval=None, max_size=2**23) as ws:
        for message in (payload, payload[:70_000], b"small", payload):
            ws.send(message)
            assert ws.recv(timeout=JOIN_TIMEOUT) == message
