"""websocket-client's blocking API: create_connection, WebSocket, ABNF, trace, timeouts."""

from __future__ import annotations

import logging
import os
import socket
import ssl
import struct
import threading
import time

import pytest
from sync_helpers import (
    JOIN_TIMEOUT,
    RawServer,
    read_frames,
    run_in_thread,
    running_server,
    send_raw,
    server_handshake,
    wait_for,
)

import wirespeed.sync as websocket
from wirespeed.exceptions import ConnectionClosed, InvalidStatus, ProtocolError
from wirespeed.exceptions import WebSocketException as SharedWebSocketException
from wirespeed.frames import Opcode
from wirespeed.sync import ABNF, WebSocket, create_connection


def test_echo_round_trip() -> None:
    with running_server() as (_, uri):
        ws = create_connection(uri, timeout=JOIN_TIMEOUT)
        assert ws.connected
        assert ws.status == 101
        assert ws.getstatus() == 101
        assert ws.headers["upgrade"] == "websocket"
        assert ws.getheaders()["connection"] == "Upgrade"
        assert ws.getsubprotocol() is None
        assert not ws.is_ssl()
        assert ws.fileno() == ws.sock.fileno()
        assert ws.send("Hello") > 5
        assert ws.recv() == "Hello"
        ws.send_text("text")
        assert ws.recv() == "text"
        ws.send_binary(b"\x00\x01")
        assert ws.recv() == b"\x00\x01"
        ws.send_bytes(bytearray(b"ba"))
        assert ws.recv() == b"ba"
        ws.send(b"binary opcode", ABNF.OPCODE_BINARY)
        assert ws.recv_data() == (ABNF.OPCODE_BINARY, b"binary opcode")
        ws.send("frame")
        opcode, frame = ws.recv_data_frame()
        assert opcode == ABNF.OPCODE_TEXT and frame.data == b"frame" and frame.fin == 1
        ws.close()
        assert not ws.connected
        assert ws.sock is None


def test_iteration_and_next() -> None:
    with running_server() as (_, uri):
        ws = create_connection(uri, timeout=JOIN_TIMEOUT)
        ws.send("1")
        ws.send("2")
        ws.send("3")
        assert next(ws) == "1"
        assert ws.next() == "2"
        assert next(iter(ws)) == "3"
        ws.close()


def test_fragmented_frames_and_fire_cont_frame() -> None:
    def handler(connection):
        connection.send(["ab", "cd", "ef"])
        connection.send(["gh", "ij"])
        connection.recv()

    with running_server(handler) as (_, uri):
        ws = create_connection(uri, timeout=JOIN_TIMEOUT)
        assert ws.recv() == "abcdef"
        ws.close()
        ws = create_connection(uri, timeout=JOIN_TIMEOUT, fire_cont_frame=True)
        frames = [ws.recv_data_frame() for _ in range(3)]
        assert [(op, f.data, f.fin) for op, f in frames] == [
            (ABNF.OPCODE_TEXT, b"ab", 0),
            (ABNF.OPCODE_CONT, b"cd", 0),
            (ABNF.OPCODE_CONT, b"ef", 1),
        ]
        frame = ws.recv_frame()
        assert (frame.opcode, frame.data, frame.fin) == (ABNF.OPCODE_TEXT, b"gh", 0)
        ws.send("done")
        ws.close()


def test_send_fragments_with_send_frame() -> None:
    received = []

    def handler(connection):
        received.append(connection.recv())

    with running_server(handler) as (_, uri):
        ws = create_connection(uri, timeout=JOIN_TIMEOUT)
        ws.send_frame(ABNF.create_frame("Hel", ABNF.OPCODE_TEXT, 0))
        ws.send_frame(ABNF.create_frame("lo", ABNF.OPCODE_CONT, 1))
        ws.close()
        with pytest.raises(websocket.WebSocketConnectionClosedException):
            ws.send("closed")
    assert received == ["Hello"]


def test_send_frame_with_reserved_bit_is_refused() -> None:
    with running_server() as (_, uri):
        ws = create_connection(uri, timeout=JOIN_TIMEOUT)
        with pytest.raises(websocket.WebSocketProtocolException):
            ws.send_frame(ABNF(1, 1, 0, 0, ABNF.OPCODE_TEXT, 1, b"x"))
        ws.close()


def test_control_frames() -> None:
    def handler(connection):
        connection.pong(b"unsolicited")
        connection.ping(b"from server").wait(JOIN_TIMEOUT)
        connection.send("after")
        connection.recv()

    with running_server(handler) as (_, uri):
        ws = create_connection(uri, timeout=JOIN_TIMEOUT)
        assert ws.recv_data(control_frame=True) == (ABNF.OPCODE_PONG, b"unsolicited")
        assert ws.recv_data(control_frame=True) == (ABNF.OPCODE_PING, b"from server")
        assert ws.recv() == "after"  # the pong was sent automatically
        ws.ping("client ping")
        ws.pong(b"client pong")
        ws.send("end")
        ws.close()


def test_control_frames_are_skipped_by_recv() -> None:
    def handler(connection):
        connection.ping(b"p")
        connection.send("message")
        connection.recv()

    with running_server(handler) as (_, uri):
        ws = create_connection(uri, timeout=JOIN_TIMEOUT)
        assert ws.recv() == "message"
        ws.send("end")
        ws.close()


def test_close_with_status_and_reason() -> None:
    closes = []

    def handler(connection):
        try:
            connection.recv()
        except ConnectionClosed as exc:
            closes.append((exc.code, exc.reason))

    with running_server(handler) as (_, uri):
        ws = create_connection(uri, timeout=JOIN_TIMEOUT)
        ws.close(status=websocket.STATUS_GOING_AWAY, reason=b"leaving", timeout=1)
        assert wait_for(lambda: bool(closes))
    assert closes == [(1001, "leaving")]


def test_server_close_then_recv_raises_closed_exception() -> None:
    def handler(connection):
        connection.close(1000, "bye")

    with running_server(handler) as (_, uri):
        ws = create_connection(uri, timeout=JOIN_TIMEOUT)
        opcode, frame = ws.recv_data_frame(True)
        assert opcode == ABNF.OPCODE_CLOSE
        assert frame.data == struct.pack("!H", 1000) + b"bye"
        with pytest.raises(websocket.WebSocketConnectionClosedException) as info:
            ws.recv()
        assert isinstance(info.value, ConnectionClosed)
        assert isinstance(info.value, SharedWebSocketException)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1000
        with pytest.raises(websocket.WebSocketConnectionClosedException):
            ws.send("late")
        ws.close()


def test_recv_returns_empty_string_on_close_frame() -> None:
    def handler(connection):
        connection.close()

    with running_server(handler) as (_, uri):
        ws = create_connection(uri, timeout=JOIN_TIMEOUT)
        assert ws.recv() == ""
        ws.close()


def test_timeouts() -> None:
    assert websocket.getdefaulttimeout() is None

    def handler(connection):
        connection.recv()

    with running_server(handler) as (_, uri):
        websocket.setdefaulttimeout(0.1)
        try:
            ws = create_connection(uri)
            assert ws.gettimeout() == 0.1
            assert ws.timeout == 0.1
            started = time.monotonic()
            with pytest.raises(websocket.WebSocketTimeoutException) as info:
                ws.recv()
            assert isinstance(info.value, TimeoutError)
            assert time.monotonic() - started < 1
        finally:
            websocket.setdefaulttimeout(None)
        ws.settimeout(JOIN_TIMEOUT)
        assert ws.sock.gettimeout() == JOIN_TIMEOUT
        ws.send("x")
        ws.close()


def test_bad_status() -> None:
    def process_request(connection, request):
        return connection.respond(403, "nope")

    with running_server(process_request=process_request) as (_, uri):
        try:
            create_connection(uri, timeout=JOIN_TIMEOUT)
        except websocket.WebSocketBadStatusException as caught:
            exc = caught
        else:  # pragma: no cover
            pytest.fail("the handshake didn't fail")
    assert exc.status_code == 403
    assert exc.resp_body == b"nope"
    assert exc.resp_headers["content-length"] == "4"
    assert isinstance(exc, InvalidStatus)
    assert isinstance(exc, websocket.WebSocketException)
    assert str(exc).startswith("Handshake status 403 Forbidden")


def test_redirect_is_followed() -> None:
    with running_server() as (_, target):

        def redirect(sock: socket.socket) -> None:
            sock.recv(65536)
            sock.sendall(
                f"HTTP/1.1 302 Found\r\nLocation: {target}\r\nContent-Length: 0\r\n\r\n".encode()
            )

        with RawServer(redirect) as server:
            ws = create_connection(server.uri, timeout=JOIN_TIMEOUT)
            ws.send("moved")
            assert ws.recv() == "moved"
            ws.close()
            with pytest.raises(websocket.WebSocketBadStatusException):
                create_connection(server.uri, timeout=JOIN_TIMEOUT, redirect_limit=0)


def test_invalid_handshake_response() -> None:
    def bogus(sock: socket.socket) -> None:
        sock.recv(65536)
        sock.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n")

    with RawServer(bogus) as server, pytest.raises(websocket.WebSocketHandshakeException):
        create_connection(server.uri, timeout=JOIN_TIMEOUT)


def test_handshake_headers() -> None:
    requests = []

    def process_request(connection, request):
        requests.append(request.headers)

    with running_server(process_request=process_request, subprotocols=["chat"]) as (_, uri):
        port = uri.rsplit(":", 1)[1].strip("/")
        create_connection(
            uri,
            timeout=JOIN_TIMEOUT,
            header=["X-List: 1", "X-Other: two"],
            cookie="a=b",
            subprotocols=["chat"],
        ).close()
        create_connection(
            uri,
            timeout=JOIN_TIMEOUT,
            header={"X-Dict": "3"},
            origin="http://example.com",
            host="example.com",
        ).close()
        create_connection(
            uri, timeout=JOIN_TIMEOUT, suppress_origin=True, suppress_host=True
        ).close()
    first, second, third = requests
    assert first["X-List"] == "1" and first["X-Other"] == "two"
    assert first["Cookie"] == "a=b"
    assert first["Origin"] == f"http://127.0.0.1:{port}"
    assert first["Host"] == f"127.0.0.1:{port}"
    assert first["Sec-WebSocket-Protocol"] == "chat"
    assert second["X-Dict"] == "3"
    assert second["Origin"] == "http://example.com"
    assert second["Host"] == "example.com"
    assert "Origin" not in third and "Host" not in third


def test_subprotocol() -> None:
    with running_server(subprotocols=["chat"]) as (_, uri):
        ws = create_connection(uri, timeout=JOIN_TIMEOUT, subprotocols=["chat"])
        assert ws.getsubprotocol() == "chat"
        assert ws.subprotocol == "chat"
        ws.close()


def test_set_mask_key_is_used() -> None:
    payloads = []

    def capture(sock: socket.socket) -> None:
        protocol = server_handshake(sock)
        data = b""
        while len(data) < 2 + 4 + 5:
            data += sock.recv(65536)
        payloads.append(data[:11])
        protocol.receive_data(data)
        send_raw(sock, protocol)

    with RawServer(capture) as server:
        ws = WebSocket()
        ws.set_mask_key(lambda length: b"\x01\x02\x03\x04")
        ws.settimeout(JOIN_TIMEOUT)
        ws.connect(server.uri)
        ws.send("Hello")
        ws.shutdown()
    assert payloads[0] == b"\x81\x85\x01\x02\x03\x04" + ABNF.mask(b"\x01\x02\x03\x04", b"Hello")


def test_replaced_sock_carries_all_io() -> None:
    class Recorder:
        def __init__(self, sock: socket.socket) -> None:
            self.sock = sock
            self.calls = []

        def recv(self, size: int) -> bytes:
            self.calls.append("recv")
            return self.sock.recv(size)

        def sendall(self, data: bytes) -> None:
            self.calls.append("sendall")
            self.sock.sendall(data)

        def __getattr__(self, name: str):
            return getattr(self.sock, name)

    with running_server() as (_, uri):
        ws = create_connection(uri, timeout=JOIN_TIMEOUT)
        recorder = Recorder(ws.sock)
        ws.sock = recorder  # type: ignore[assignment]
        ws.send("through the recorder")
        assert ws.recv() == "through the recorder"
        ws.close()
        assert "recv" in recorder.calls and "sendall" in recorder.calls


def test_prepared_socket_and_class() -> None:
    class MyWebSocket(WebSocket):
        pass

    with running_server() as (_, uri):
        port = int(uri.rsplit(":", 1)[1].strip("/"))
        sock = socket.create_connection(("127.0.0.1", port))
        ws = create_connection(uri, timeout=JOIN_TIMEOUT, socket=sock, class_=MyWebSocket)
        assert isinstance(ws, MyWebSocket)
        assert ws.sock is sock
        ws.send("prepared")
        assert ws.recv() == "prepared"
        ws.close()


def test_sockopt_is_applied() -> None:
    with running_server() as (_, uri):
        ws = create_connection(
            uri, timeout=JOIN_TIMEOUT, sockopt=((socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1),)
        )
        assert ws.sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        assert ws.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        ws.close()


def test_protocol_error_from_peer() -> None:
    def masked_frame(sock: socket.socket) -> None:
        protocol = server_handshake(sock)
        # A server must not mask its frames.
        sock.sendall(b"\x81\x82\x00\x00\x00\x00hi")
        read_frames(sock, protocol)

    with RawServer(masked_frame) as server:
        ws = create_connection(server.uri, timeout=JOIN_TIMEOUT)
        with pytest.raises(websocket.WebSocketProtocolException) as info:
            ws.recv()
        assert isinstance(info.value, ProtocolError)
        ws.close()


def test_invalid_utf8_from_peer() -> None:
    def invalid_text(sock: socket.socket) -> None:
        protocol = server_handshake(sock)
        sock.sendall(b"\x81\x02ok" + b"\x81\x02\xc3\x28")
        read_frames(sock, protocol)

    with RawServer(invalid_text) as server:
        ws = create_connection(server.uri, timeout=JOIN_TIMEOUT)
        assert ws.recv() == "ok"  # messages before the error are delivered
        with pytest.raises(websocket.WebSocketPayloadException):
            ws.recv()
        with pytest.raises(websocket.WebSocketConnectionClosedException):
            ws.recv()
        ws.close()


def test_abort_unblocks_recv() -> None:
    def handler(connection):
        connection.recv()

    with running_server(handler) as (_, uri):
        ws = create_connection(uri)
        thread, results = run_in_thread(ws.recv)
        time.sleep(0.05)
        ws.abort()
        thread.join(JOIN_TIMEOUT)
        assert isinstance(results[0], websocket.WebSocketConnectionClosedException)
        ws.shutdown()


def test_threads_share_a_websocket() -> None:
    received = []

    def handler(connection):
        for message in connection:
            received.append(message)

    with running_server(handler) as (_, uri):
        ws = create_connection(uri, timeout=JOIN_TIMEOUT)
        threads = [
            threading.Thread(target=lambda i=i: [ws.send(f"{i}-{n}" * 50) for n in range(50)])
            for i in range(8)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(JOIN_TIMEOUT)
        ws.close()
    assert sorted(received) == sorted(f"{i}-{n}" * 50 for i in range(8) for n in range(50))


def test_send_when_never_connected() -> None:
    ws = WebSocket()
    with pytest.raises(websocket.WebSocketConnectionClosedException):
        ws.send("x")
    with pytest.raises(websocket.WebSocketConnectionClosedException):
        ws.recv()
    ws.close()
    assert ws.status is None and ws.headers is None


def test_connection_errors() -> None:
    with pytest.raises(websocket.WebSocketAddressException):
        create_connection("ws://name.invalid/", timeout=1)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ConnectionRefusedError):
        create_connection(f"ws://127.0.0.1:{port}/", timeout=1)


def test_enable_trace_logs_handshake_and_frames(caplog: pytest.LogCaptureFixture) -> None:
    handler = logging.NullHandler()
    websocket.enableTrace(True, handler)
    try:
        with running_server() as (_, uri), caplog.at_level(logging.DEBUG, logger="websocket"):
            ws = create_connection(uri, timeout=JOIN_TIMEOUT)
            ws.send("traced")
            ws.recv()
            ws.close()
    finally:
        websocket.enableTrace(False)
        logging.getLogger("websocket").removeHandler(handler)
    text = caplog.text
    assert "--- request header ---" in text
    assert "GET / HTTP/1.1" in text
    assert "--- response header ---" in text
    assert "HTTP/1.1 101 Switching Protocols" in text
    assert "++Sent raw:" in text
    assert "++Sent decoded: fin=1 opcode=1 data=b'traced'" in text
    assert "++Rcv decoded: fin=1 opcode=1 data=b'traced'" in text


# ABNF


def test_abnf_constants() -> None:
    assert (ABNF.OPCODE_CONT, ABNF.OPCODE_TEXT, ABNF.OPCODE_BINARY) == (0, 1, 2)
    assert (ABNF.OPCODE_CLOSE, ABNF.OPCODE_PING, ABNF.OPCODE_PONG) == (8, 9, 10)
    assert ABNF.OPCODE_MAP[ABNF.OPCODE_PING] == "ping"
    assert set(ABNF.OPCODES) == {0, 1, 2, 8, 9, 10}
    assert (ABNF.LENGTH_7, ABNF.LENGTH_16, ABNF.LENGTH_63) == (126, 65536, 1 << 63)


def test_abnf_format_unmasked() -> None:
    frame = ABNF(1, 0, 0, 0, ABNF.OPCODE_TEXT, 0, "hi")
    assert frame.format() == b"\x81\x02hi"
    assert ABNF(0, 0, 0, 0, ABNF.OPCODE_BINARY, 0, b"x" * 200).format()[:4] == b"\x02\x7e\x00\xc8"
    assert ABNF(1, 0, 0, 0, ABNF.OPCODE_BINARY, 0, b"x" * 70000).format()[:10] == (
        b"\x82\x7f" + struct.pack("!Q", 70000)
    )


def test_abnf_format_masked() -> None:
    frame = ABNF.create_frame("Hello", ABNF.OPCODE_TEXT)
    assert frame.data == b"Hello" and frame.fin == 1 and frame.mask_value == 1
    frame.get_mask_key = lambda length: b"\x37\xfa\x21\x3d"
    # The example of RFC 6455, section 5.7.
    assert frame.format() == b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"
    assert ABNF.mask(b"\x37\xfa\x21\x3d", b"\x7f\x9f\x4d\x51\x58") == b"Hello"
    assert ABNF.mask("abcd", "") == b""


def test_abnf_format_rejects_invalid_frames() -> None:
    with pytest.raises(ValueError):
        ABNF(2, 0, 0, 0, ABNF.OPCODE_TEXT, 0, "").format()
    with pytest.raises(ValueError):
        ABNF(1, 0, 0, 0, 3, 0, "").format()


def test_abnf_validate() -> None:
    ABNF(1, 0, 0, 0, ABNF.OPCODE_TEXT, 1, "ok").validate()
    ABNF(1, 0, 0, 0, ABNF.OPCODE_CLOSE, 1, b"").validate()
    ABNF(1, 0, 0, 0, ABNF.OPCODE_CLOSE, 1, struct.pack("!H", 1000) + b"ok").validate()
    ABNF(1, 0, 0, 0, ABNF.OPCODE_CLOSE, 1, struct.pack("!H", 1000) + b"\xff").validate(
        skip_utf8_validation=True
    )
    invalid = [
        ABNF(1, 1, 0, 0, ABNF.OPCODE_TEXT, 1, "x"),
        ABNF(1, 0, 0, 0, 7, 1, "x"),
        ABNF(0, 0, 0, 0, ABNF.OPCODE_PING, 1, "x"),
        ABNF(1, 0, 0, 0, ABNF.OPCODE_PING, 1, "x" * 126),
        ABNF(1, 0, 0, 0, ABNF.OPCODE_CLOSE, 1, b"\x03"),
        ABNF(1, 0, 0, 0, ABNF.OPCODE_CLOSE, 1, struct.pack("!H", 1005)),
        ABNF(1, 0, 0, 0, ABNF.OPCODE_CLOSE, 1, struct.pack("!H", 1000) + b"\xff"),
    ]
    for frame in invalid:
        with pytest.raises(websocket.WebSocketProtocolException):
            frame.validate()


def test_abnf_str_and_repr() -> None:
    frame = ABNF(1, 0, 0, 0, ABNF.OPCODE_TEXT, 0, b"data")
    assert str(frame) == "fin=1 opcode=1 data=b'data'"
    assert "mask_value=0" in repr(frame)
    assert ABNF(data=None).data == ""
    assert ABNF().opcode == Opcode.TEXT


def test_messages_of_one_read_keep_their_order() -> None:
    pongs = []

    def handler(sock: socket.socket) -> None:
        protocol = server_handshake(sock)
        protocol.send_text(b"one")
        protocol.send_ping(b"between")
        protocol.send_binary(b"two")
        protocol.send_text(b"thr", fin=False)
        protocol.send_continuation(b"ee", fin=True)
        sock.sendall(b"".join(protocol.data_to_send()))
        frames = read_frames(sock, protocol, until=Opcode.CLOSE)
        pongs.extend(frame.data for frame in frames if frame.opcode is Opcode.PONG)

    with RawServer(handler) as server:
        ws = create_connection(server.uri, timeout=JOIN_TIMEOUT)
        assert ws.recv() == "one"
        assert ws.recv() == b"two"
        assert ws.recv() == "three"
        ws.close()
    assert pongs == [b"between"]


def test_large_messages_both_ways() -> None:
    payload = os.urandom(3 * 2**20 + 5)
    with running_server(max_size=2**23) as (_, uri):
        ws = create_connection(uri, timeout=JOIN_TIMEOUT)
        for message in (payload, payload[:70_000], b"small", payload):
            ws.send_binary(message)
            assert ws.recv() == message
        ws.close()


def test_sockets_read_with_recv_into_unless_recv_is_overridden() -> None:
    from wirespeed.sync.net import reads_into

    class Recording(socket.socket):
        def recv(self, *args):  # type: ignore[no-untyped-def]
            return super().recv(*args)

    context = ssl.create_default_context()
    with socket.socket() as plain, Recording() as recording:
        assert reads_into(plain)
        assert not reads_into(recording)
        with context.wrap_socket(
            socket.socket(), server_hostname="localhost", do_handshake_on_connect=False
        ) as tls:
            assert reads_into(tls)
    assert not reads_into(object())
