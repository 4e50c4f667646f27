"""Listener callbacks, WSTransport methods and WSFrame accessors, end to end."""

from __future__ import annotations

import asyncio
import logging

import pytest
from listener_helpers import Rec, Recorder, disconnect, raw_frame, run, serving, until

import wirespeed
from wirespeed import (
    WSCloseCode,
    WSFrame,
    WSListener,
    WSMsgType,
    WSTransport,
    WSUpgradeRequest,
    ws_connect,
)


def test_exports():
    for name in (
        "ws_connect",
        "ws_create_server",
        "WSListener",
        "WSTransport",
        "WSFrame",
        "WSMsgType",
        "WSCloseCode",
        "WSAutoPingStrategy",
        "WSUpgradeRequest",
        "WSUpgradeResponse",
        "WSUpgradeResponseWithListener",
        "WSError",
        "PICOWS_DEBUG_LL",
    ):
        assert name in wirespeed.__all__
        assert getattr(wirespeed, name) is not None
    assert wirespeed.PICOWS_DEBUG_LL == wirespeed.WIRESPEED_DEBUG_LL == 9
    assert issubclass(wirespeed.WSError, Exception)
    assert {s.name for s in wirespeed.WSAutoPingStrategy} == {"PING_WHEN_IDLE", "PING_PERIODICALLY"}


def test_callbacks_in_order_on_both_sides():
    async def main():
        async with serving(lambda: Recorder(echo=True)) as srv:
            transport, client = await ws_connect(Recorder, srv.url)
            assert isinstance(transport, WSTransport)
            assert isinstance(client, Recorder) and isinstance(client, WSListener)
            assert client.events == ["connected"]
            assert client.transport is transport
            transport.send(WSMsgType.TEXT, b"hello")
            await client.wait_frames(1)
            transport.send_close()
            await asyncio.wait_for(transport.wait_disconnected(), 2)
            await client.wait_disconnected()
            server = srv.listeners[0]
            await server.wait_disconnected()
        assert client.events[:2] == ["connected", "frame"]
        assert client.events[-1] == "disconnected"
        assert client.frames[0] == Rec(WSMsgType.TEXT, True, False, b"hello")
        # The client sees the echo of its close frame.
        assert client.close_code() == 1000
        assert server.events[0] == "connected" and server.events[-1] == "disconnected"
        assert server.frames[0] == Rec(WSMsgType.TEXT, True, False, b"hello")
        assert server.close_code() == 1000

    run(main())


def test_send_every_data_type_and_payload_kind():
    async def main():
        async with serving(Recorder) as srv:
            transport, client = await ws_connect(Recorder, srv.url)
            await until(lambda: srv.listeners and srv.listeners[0].connected)
            server = srv.listeners[0]
            transport.send(WSMsgType.TEXT, "héllo")  # str: encoded as UTF-8
            transport.send(WSMsgType.TEXT, b"bytes")
            transport.send(WSMsgType.BINARY, bytearray(b"\x00\xff"))
            transport.send(WSMsgType.BINARY, memoryview(b"xxview")[2:])
            transport.send(WSMsgType.BINARY, b"")
            transport.send(WSMsgType.BINARY, b"y" * 70000)  # 64-bit length
            transport.send(WSMsgType.BINARY, b"z" * 300)  # 16-bit length
            await server.wait_frames(7)
            assert server.frames == [
                Rec(WSMsgType.TEXT, True, False, "héllo".encode()),
                Rec(WSMsgType.TEXT, True, False, b"bytes"),
                Rec(WSMsgType.BINARY, True, False, b"\x00\xff"),
                Rec(WSMsgType.BINARY, True, False, b"view"),
                Rec(WSMsgType.BINARY, True, False, b""),
                Rec(WSMsgType.BINARY, True, False, b"y" * 70000),
                Rec(WSMsgType.BINARY, True, False, b"z" * 300),
            ]
            # And from the server to the client (unmasked, large payload path).
            st = server.transport
            st.send(WSMsgType.BINARY, bytearray(b"a" * 100000))
            st.send(WSMsgType.BINARY, memoryview(b"b" * 100000))
            st.send(WSMsgType.TEXT, "ü" * 40000)
            await client.wait_frames(3)
            assert client.frames == [
                Rec(WSMsgType.BINARY, True, False, b"a" * 100000),
                Rec(WSMsgType.BINARY, True, False, b"b" * 100000),
                Rec(WSMsgType.TEXT, True, False, "ü".encode() * 40000),
            ]
            await disconnect(transport)

    run(main())


def test_send_buffer_reused_after_send():
    # "message is not kept after the call": a bytearray changed after send()
    # doesn't change what was sent, on both sides (masked or not, large or not).
    async def main():
        async with serving(Recorder) as srv:
            transport, client = await ws_connect(Recorder, srv.url)
            await until(lambda: srv.listeners and srv.listeners[0].connected)
            server = srv.listeners[0]
            for size in (10, 1000, 200000):
                buffer = bytearray(b"a" * size)
                transport.send(WSMsgType.BINARY, buffer)
                server.transport.send(WSMsgType.BINARY, buffer)
                buffer[:] = b"b" * size
            await server.wait_frames(3)
            await client.wait_frames(3)
            for listener in (server, client):
                assert [f.payload for f in listener.frames] == [
                    b"a" * 10,
                    b"a" * 1000,
                    b"a" * 200000,
                ]
            await disconnect(transport)

    run(main())


@pytest.mark.parametrize("sender", ["client", "server"])
def test_fragments_arrive_as_separate_frames(sender):
    async def main():
        async with serving(Recorder) as srv:
            transport, client = await ws_connect(Recorder, srv.url)
            await until(lambda: srv.listeners and srv.listeners[0].connected)
            server = srv.listeners[0]
            source, sink = (transport, server) if sender == "client" else (server.transport, client)
            source.send(WSMsgType.TEXT, b"frag", fin=False)
            source.send(WSMsgType.CONTINUATION, b"men", fin=False)
            source.send(WSMsgType.PING, b"in between")  # control frames may interleave
            source.send(WSMsgType.CONTINUATION, "té", fin=True)
            source.send(WSMsgType.BINARY, b"", fin=False)
            source.send(WSMsgType.CONTINUATION, b"x" * 100000, fin=False)
            source.send(WSMsgType.CONTINUATION, b"", fin=True)
            await sink.wait_frames(6)
            # Never concatenated; the ping is answered automatically and not shown.
            assert sink.frames == [
                Rec(WSMsgType.TEXT, False, False, b"frag"),
                Rec(WSMsgType.CONTINUATION, False, False, b"men"),
                Rec(WSMsgType.CONTINUATION, True, False, "té".encode()),
                Rec(WSMsgType.BINARY, False, False, b""),
                Rec(WSMsgType.CONTINUATION, False, False, b"x" * 100000),
                Rec(WSMsgType.CONTINUATION, True, False, b""),
            ]
            # The sender got the pong.
            other = client if sender == "client" else server
            await until(lambda: other.of_type(WSMsgType.PONG))
            assert other.of_type(WSMsgType.PONG) == [
                Rec(WSMsgType.PONG, True, False, b"in between")
            ]
            await disconnect(transport)

    run(main())


def test_control_frames_cannot_be_large_or_fragmented():
    async def main():
        async with serving(Recorder) as srv:
            transport, _ = await ws_connect(Recorder, srv.url)
            with pytest.raises(ValueError):
                transport.send_ping(b"x" * 126)
            with pytest.raises(ValueError):
                transport.send(WSMsgType.PONG, b"x", fin=False)
            transport.send_ping(b"x" * 125)  # the maximum is fine
            await disconnect(transport)

    run(main())


def test_rsv1_bit_is_sent():
    # rsv1 is for an extension the application implements; a plain wirespeed
    # peer negotiated none, so it must fail the connection with 1002.
    async def main():
        got = asyncio.get_running_loop().create_future()

        async def raw_server(reader, writer):
            request = await reader.readuntil(b"\r\n\r\n")
            key = next(
                line.split(b":", 1)[1].strip()
                for line in request.split(b"\r\n")
                if line.lower().startswith(b"sec-websocket-key")
            )
            from wirespeed.handshake import accept_key

            writer.write(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Accept: "
                + accept_key(key.decode()).encode()
                + b"\r\n\r\n"
            )
            header = await reader.readexactly(2)
            got.set_result(header)
            writer.close()

        server = await asyncio.start_server(raw_server, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            transport, _ = await ws_connect(Recorder, f"ws://127.0.0.1:{port}/")
            transport.send(WSMsgType.BINARY, b"abc", fin=True, rsv1=True)
            header = await asyncio.wait_for(got, 2)
            assert header[0] == 0x80 | 0x40 | 0x02
            await disconnect(transport)
        finally:
            server.close()
            await server.wait_closed()

        async with serving(Recorder) as srv:
            transport, client = await ws_connect(Recorder, srv.url)
            transport.send(WSMsgType.BINARY, b"abc", rsv1=True)
            await client.wait_disconnected()
            assert client.close_code() == WSCloseCode.PROTOCOL_ERROR

    run(main())


def test_ping_pong_visible_without_auto_pong():
    async def main():
        async with serving(Recorder, enable_auto_pong=False) as srv:
            transport, client = await ws_connect(Recorder, srv.url, enable_auto_pong=False)
            await until(lambda: srv.listeners and srv.listeners[0].connected)
            server = srv.listeners[0]
            transport.send_ping(b"p1")
            transport.send_ping()
            transport.send_pong(b"unsolicited")
            await server.wait_frames(3)
            assert server.frames == [
                Rec(WSMsgType.PING, True, False, b"p1"),
                Rec(WSMsgType.PING, True, False, b""),
                Rec(WSMsgType.PONG, True, False, b"unsolicited"),
            ]
            server.transport.send_ping("from server")
            await client.wait_frames(1)
            await asyncio.sleep(0.05)
            # No automatic pong on either side.
            assert client.frames == [Rec(WSMsgType.PING, True, False, b"from server")]
            assert len(server.frames) == 3
            await disconnect(transport)

    run(main())


def test_send_close_with_code_and_message():
    async def main():
        async with serving(Recorder) as srv:
            transport, _client = await ws_connect(Recorder, srv.url)
            await until(lambda: srv.listeners and srv.listeners[0].connected)
            server = srv.listeners[0]
            assert transport.close_handshake is None
            transport.send_close(WSCloseCode.GOING_AWAY, b"bye now")
            transport.send(WSMsgType.TEXT, b"dropped after close")
            transport.send_close(WSCloseCode.OK)  # a second close does nothing
            await asyncio.wait_for(transport.wait_disconnected(), 2)
            await server.wait_disconnected()
            assert [f.msg_type for f in server.frames] == [WSMsgType.CLOSE]
            assert server.close_code() == 1001
            assert server.frames[0].payload[2:] == b"bye now"
            handshake = transport.close_handshake
            assert handshake.sent.code == 1001 and handshake.sent.reason == "bye now"
            assert handshake.recv.code == 1001
            assert handshake.recv_then_sent is False
            server_handshake = server.transport.close_handshake
            assert server_handshake.recv_then_sent is True
            assert server_handshake.recv.code == 1001
            assert "WSCloseHandshake" in repr(handshake)

    run(main())


def test_send_close_str_message_and_int_code():
    async def main():
        async with serving(Recorder) as srv:
            transport, _ = await ws_connect(Recorder, srv.url)
            await until(lambda: srv.listeners and srv.listeners[0].connected)
            transport.send_close(4000, "app reason")
            await asyncio.wait_for(transport.wait_disconnected(), 2)
            server = srv.listeners[0]
            await server.wait_disconnected()
            assert server.close_code() == 4000
            assert server.frames[0].payload[2:] == b"app reason"

    run(main())


class FrameInspector(Recorder):
    """Records the results of every WSFrame accessor during the callback."""

    def __init__(self):
        super().__init__()
        self.inspected = []

    def on_ws_frame(self, transport, frame):
        assert isinstance(frame, WSFrame)
        view = frame.get_payload_as_memoryview()
        info = {
            "msg_type": frame.msg_type,
            "fin": frame.fin,
            "rsv1": frame.rsv1,
            "payload_size": frame.payload_size,
            "bytes": frame.get_payload_as_bytes(),
            "view_type": type(view),
            "view_bytes": bytes(view),
            "view_len": len(view),
            "str": str(frame),
        }
        if frame.msg_type == WSMsgType.TEXT:
            info["utf8"] = frame.get_payload_as_utf8_text()
            try:
                info["ascii"] = frame.get_payload_as_ascii_text()
            except UnicodeDecodeError:
                info["ascii"] = UnicodeDecodeError
        if frame.msg_type == WSMsgType.CLOSE:
            info["close_code"] = frame.get_close_code()
            info["close_message"] = frame.get_close_message()
        self.inspected.append(info)
        super().on_ws_frame(transport, frame)


def test_wsframe_accessors():
    async def main():
        async with serving(FrameInspector, enable_auto_pong=False) as srv:
            transport, _ = await ws_connect(Recorder, srv.url)
            await until(lambda: srv.listeners and srv.listeners[0].connected)
            server = srv.listeners[0]
            transport.send(WSMsgType.TEXT, b"plain ascii")
            transport.send(WSMsgType.TEXT, "ünïcode")
            transport.send(WSMsgType.BINARY, bytes(range(256)) * 10)
            transport.send_ping(b"pp")
            transport.send_close(WSCloseCode.POLICY_VIOLATION, "no!")
            await server.wait_frames(5)
            ascii_, uni, binary, ping, close = server.inspected
            assert ascii_["utf8"] == ascii_["ascii"] == "plain ascii"
            assert ascii_["payload_size"] == ascii_["view_len"] == 11
            assert ascii_["view_type"] is memoryview
            assert uni["utf8"] == "ünïcode"
            assert uni["ascii"] is UnicodeDecodeError
            assert binary["bytes"] == binary["view_bytes"] == bytes(range(256)) * 10
            assert binary["payload_size"] == 2560
            assert binary["msg_type"] is WSMsgType.BINARY and binary["fin"] and not binary["rsv1"]
            assert "BINARY" in binary["str"] and "2560" in binary["str"]
            assert (
                ping["msg_type"] == WSMsgType.PING and ping["bytes"] == ping["view_bytes"] == b"pp"
            )
            assert close["msg_type"] == WSMsgType.CLOSE
            assert close["close_code"] == WSCloseCode.POLICY_VIOLATION
            assert isinstance(close["close_code"], WSCloseCode)
            assert close["close_message"] == b"no!"
            assert close["payload_size"] == 5
            await asyncio.wait_for(transport.wait_disconnected(), 2)

    run(main())


def test_close_without_status_and_with_unknown_code():
    # A close frame without a payload: code NO_INFO (1005), no message. A code
    # outside WSCloseCode comes back as a plain int.
    async def main():
        for payload, code, message in (
            (b"", WSCloseCode.NO_INFO, None),
            (b"\x0f\xa0", 4000, None),
            (b"\x0f\xa1why", 4001, b"why"),
        ):
            async with serving(Recorder) as srv:
                transport, client = await ws_connect(FrameInspector, srv.url)
                await until(lambda srv=srv: srv.listeners and srv.listeners[0].connected)
                # Write the close frame by hand from the server (unmasked).
                srv.listeners[0].transport.underlying_transport.write(
                    raw_frame(WSMsgType.CLOSE, payload, mask=False)
                )
                await client.wait_frames(1)
                info = client.inspected[0]
                assert info["close_code"] == code
                assert type(info["close_code"]) is (int if code >= 3000 else WSCloseCode)
                assert info["close_message"] == message
                # The client answered with the same payload.
                await until(lambda srv=srv: srv.listeners[0].frames)
                assert srv.listeners[0].frames[0].payload == payload
                await asyncio.wait_for(transport.wait_disconnected(), 2)

    run(main())


def test_disconnect_graceful_flushes_and_abort_does_not():
    async def main():
        async with serving(Recorder) as srv:
            transport, client = await ws_connect(Recorder, srv.url)
            await until(lambda: srv.listeners and srv.listeners[0].connected)
            server = srv.listeners[0]
            big = b"q" * 2_000_000
            server.transport.underlying_transport.pause_reading()
            transport.send(WSMsgType.BINARY, big)
            transport.disconnect()  # graceful: what is buffered is still sent
            assert not transport.is_disconnected
            await asyncio.sleep(0.05)
            server.transport.underlying_transport.resume_reading()
            await asyncio.wait_for(transport.wait_disconnected(), 3)
            assert transport.is_disconnected and client.disconnected
            await server.wait_disconnected()
            assert server.frames[0].payload == big
            # disconnect() again is harmless; wait_disconnected returns at once.
            transport.disconnect()
            transport.disconnect(graceful=False)
            await asyncio.wait_for(transport.wait_disconnected(), 0.1)

        async with serving(Recorder) as srv:
            transport, client = await ws_connect(Recorder, srv.url)
            await until(lambda: srv.listeners and srv.listeners[0].connected)
            server = srv.listeners[0]
            server.transport.underlying_transport.pause_reading()
            await asyncio.sleep(0.01)
            underlying = transport.underlying_transport
            for _ in range(100):  # until the kernel's buffers are full
                transport.send(WSMsgType.BINARY, big)
                await asyncio.sleep(0)
                if underlying.get_write_buffer_size() > 0:
                    break
            assert underlying.get_write_buffer_size() > 0
            # abort: disconnected at once, although the peer reads nothing and
            # the write buffer is not empty (it is dropped).
            transport.disconnect(graceful=False)
            await asyncio.wait_for(transport.wait_disconnected(), 1)
            assert client.disconnected
            server.transport.underlying_transport.resume_reading()
            await server.wait_disconnected()

    run(main())


def test_wait_disconnected_many_waiters_and_cancellation():
    async def main():
        async with serving(Recorder) as srv:
            transport, _ = await ws_connect(Recorder, srv.url)
            first = asyncio.ensure_future(transport.wait_disconnected())
            second = asyncio.ensure_future(transport.wait_disconnected())
            cancelled = asyncio.ensure_future(transport.wait_disconnected())
            await asyncio.sleep(0.01)
            cancelled.cancel()  # cancelling one waiter doesn't cancel the others
            await asyncio.sleep(0.01)
            assert not first.done()
            transport.disconnect()
            await asyncio.wait_for(asyncio.gather(first, second), 2)
            assert cancelled.cancelled()

    run(main())


def test_transport_attributes():
    async def main():
        requests = []

        def factory(request):
            requests.append(request)
            return Recorder()

        from wirespeed import ws_create_server

        server = await ws_create_server(factory, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            transport, client = await ws_connect(
                Recorder,
                f"ws://127.0.0.1:{port}/some/path?x=1",
                extra_headers={"X-Test": "yes", "User-Agent": "tester/1"},
            )
            await until(lambda: requests)
            request = requests[0]
            assert isinstance(request, WSUpgradeRequest)
            assert request.method == b"GET"
            assert request.path == b"/some/path?x=1"
            assert request.version == b"HTTP/1.1"
            assert request.headers["X-Test"] == "yes"
            assert request.headers["User-Agent"] == "tester/1"
            assert "WSUpgradeRequest" in repr(request)
            assert transport.is_client_side is True
            assert transport.is_disconnected is False
            assert isinstance(transport.underlying_transport, asyncio.Transport)
            peer = transport.underlying_transport.get_extra_info("peername")
            assert peer == ("127.0.0.1", port)
            assert transport.request.path == "/some/path?x=1"
            assert transport.request.headers["X-Test"] == "yes"
            assert transport.response.status_code == 101
            assert "Sec-WebSocket-Accept" in transport.response.headers
            assert client.connected
            await disconnect(transport)
        finally:
            server.close()
            await server.wait_closed()

        async with serving(Recorder) as srv:
            transport, _ = await ws_connect(Recorder, srv.url)
            await until(lambda: srv.listeners and srv.listeners[0].connected)
            st = srv.listeners[0].transport
            assert st.is_client_side is False
            assert st.request.path == "/"
            assert st.response.status_code == 101
            assert st.underlying_transport.get_extra_info("sockname")[1] == srv.port
            await disconnect(transport)
            await asyncio.wait_for(st.wait_disconnected(), 2)
            assert st.is_disconnected

    run(main())


def test_server_factory_without_argument_and_listener_class():
    async def main():
        from wirespeed import ws_create_server

        for factory in (Recorder, lambda: Recorder()):
            server = await ws_create_server(factory, "127.0.0.1", 0)
            port = server.sockets[0].getsockname()[1]
            try:
                transport, client = await ws_connect(Recorder, f"ws://127.0.0.1:{port}/")
                transport.send_close()
                await asyncio.wait_for(transport.wait_disconnected(), 2)
                assert client.close_code() == 1000
            finally:
                server.close()
                await server.wait_closed()

    run(main())


def test_send_from_on_ws_connected_and_frames_right_after_handshake():
    # The server sends in on_ws_connected: the frame may arrive together with
    # the 101 response; the client must see it after on_ws_connected.
    class Greeter(Recorder):
        def on_ws_connected(self, transport):
            super().on_ws_connected(transport)
            transport.send(WSMsgType.TEXT, b"welcome")
            transport.send(WSMsgType.BINARY, b"second")

    async def main():
        async with serving(Greeter) as srv:
            for _ in range(5):
                transport, client = await ws_connect(Recorder, srv.url)
                await client.wait_frames(2)
                assert client.events[:3] == ["connected", "frame", "frame"]
                assert [f.payload for f in client.frames] == [b"welcome", b"second"]
                await disconnect(transport)

    run(main())


def test_peer_abort_calls_on_ws_disconnected():
    async def main():
        async with serving(Recorder) as srv:
            transport, client = await ws_connect(Recorder, srv.url)
            await until(lambda: srv.listeners and srv.listeners[0].connected)
            srv.listeners[0].transport.disconnect(graceful=False)
            await client.wait_disconnected()
            assert transport.is_disconnected
            # Sending on a disconnected transport doesn't raise.
            transport.send(WSMsgType.TEXT, b"late")
            transport.send_close()

    run(main())


def test_connection_refused_is_not_wrapped():
    async def main():
        import socket

        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        sock.close()
        with pytest.raises(ConnectionRefusedError):
            await ws_connect(Recorder, f"ws://127.0.0.1:{port}/")

    run(main())


def test_debug_log_level_traces_frames(caplog):
    async def main():
        async with serving(Recorder, logger_name="srvtest") as srv:
            transport, _client = await ws_connect(Recorder, srv.url, logger_name="clitest")
            transport.send(WSMsgType.TEXT, b"traced")
            await until(lambda: srv.listeners and srv.listeners[0].frames)
            await disconnect(transport)

    with caplog.at_level(wirespeed.WIRESPEED_DEBUG_LL, logger="wirespeed"):
        run(main())
    names = {record.name for record in caplog.records}
    assert "wirespeed.srvtest" in names
    traced = [r for r in caplog.records if r.levelno == wirespeed.WIRESPEED_DEBUG_LL]
    assert any("TEXT" in r.getMessage() for r in traced)
    assert logging.getLevelName(9)  # a number, no name required


def test_send_close_no_info_sends_a_close_frame_without_status():
    # picows' send_close() defaults to WSCloseCode.NO_INFO; code ported from
    # picows passes it explicitly. 1005 must never be on the wire (RFC 6455,
    # 7.4.1): the close frame goes out without a status code.
    async def main():
        async with serving(Recorder) as srv:
            transport, client = await ws_connect(Recorder, srv.url)
            await until(lambda: srv.listeners and srv.listeners[0].connected)
            transport.send_close(WSCloseCode.NO_INFO)
            await asyncio.wait_for(transport.wait_disconnected(), 2)
            server = srv.listeners[0]
            await server.wait_disconnected()
            assert server.close_frames()[0].payload == b""
            assert client.close_code() == WSCloseCode.NO_INFO

    run(main())


def test_send_with_msg_type_close_is_a_close_handshake():
    # send(WSMsgType.CLOSE, payload) sends a close frame: the connection must
    # know it, so that the peer's answer completes the handshake instead of
    # being answered with a second close frame.
    async def main():
        async with serving(Recorder) as srv:
            transport, _ = await ws_connect(Recorder, srv.url)
            await until(lambda: srv.listeners and srv.listeners[0].connected)
            transport.send(WSMsgType.CLOSE, b"\x03\xe8bye")
            await asyncio.wait_for(transport.wait_disconnected(), 2)
            handshake = transport.close_handshake
            assert handshake.sent.code == 1000 and handshake.sent.reason == "bye"
            assert handshake.recv_then_sent is False

    run(main())


def test_is_secure_and_is_close_frame_sent():
    async def main():
        async with serving(Recorder) as srv:
            transport, _client = await ws_connect(Recorder, srv.url)
            assert transport.is_secure is False
            assert transport.is_close_frame_sent is False
            transport.send_close(WSCloseCode.OK)
            assert transport.is_close_frame_sent is True
            await asyncio.wait_for(transport.wait_disconnected(), 2)

    run(main())


@pytest.mark.parametrize("raise_", [True, False])
def test_disconnect_on_exception_is_picows_name_for_disconnect_on_error(raise_):
    class Raises(Recorder):
        def on_ws_frame(self, transport, frame):
            super().on_ws_frame(transport, frame)
            raise RuntimeError("frame bug")

    async def main():
        async with serving(Raises, disconnect_on_exception=raise_) as srv:
            transport, client = await ws_connect(Recorder, srv.url)
            transport.send(WSMsgType.TEXT, b"one")
            transport.send(WSMsgType.TEXT, b"two")
            await until(lambda: srv.listeners and len(srv.listeners[0].frames) >= (1 if raise_ else 2))
            server = srv.listeners[0]
            if raise_:
                await asyncio.wait_for(transport.wait_disconnected(), 2)
                assert client.close_code() == WSCloseCode.INTERNAL_ERROR
            else:
                assert [f.payload for f in server.frames] == [b"one", b"two"]
                assert not transport.is_disconnected
                await disconnect(transport)

    run(main())
