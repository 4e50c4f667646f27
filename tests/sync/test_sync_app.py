"""WebSocketApp: every rule of websocket-client's callback API (seed 000)."""

from __future__ import annotations

import os
import selectors
import signal
import socket
import struct
import threading
import time
from typing import Any, List

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

import wirespeed.sync as websocket
from wirespeed.exceptions import ConnectionClosed
from wirespeed.frames import Opcode
from wirespeed.sync import ABNF, WebSocketApp, serve
from wirespeed.sync import app as app_module


class Recorder:
    """Callbacks that record what they are called with, in order."""

    def __init__(self) -> None:
        self.events: List[Any] = []

    def callbacks(self, **overrides: Any) -> dict:
        def record(name: str):
            def callback(app: WebSocketApp, *args: Any) -> None:
                assert isinstance(app, WebSocketApp)
                self.events.append((name, *args))

            return callback

        names = ["on_open", "on_message", "on_error", "on_close", "on_data", "on_ping", "on_pong"]
        result = {name: record(name[3:]) for name in names}
        result.update(overrides)
        return result

    def names(self) -> List[str]:
        return [event[0] for event in self.events]


def run(app: WebSocketApp, **kwargs: Any) -> Any:
    """Run ``app.run_forever`` in a thread; return its result."""
    thread, results = run_in_thread(lambda: app.run_forever(**kwargs))
    thread.join(JOIN_TIMEOUT)
    assert not thread.is_alive(), "run_forever didn't return"
    return results[0]


def test_callbacks_order_and_server_close() -> None:
    def handler(connection):
        connection.send("text é")
        connection.send(b"\x00binary")
        connection.recv()
        connection.close(1000, "bye")

    recorder = Recorder()
    with running_server(handler) as (_, uri):
        app = WebSocketApp(uri, **recorder.callbacks(on_open=lambda a: a.send("from client")))
        assert run(app) is True  # the loop ended because of the disconnection
    assert recorder.events[:4] == [
        ("data", "text é", ABNF.OPCODE_TEXT, True),
        ("message", "text é"),
        ("data", b"\x00binary", ABNF.OPCODE_BINARY, True),
        ("message", b"\x00binary"),
    ]
    error = recorder.events[4]
    assert error[0] == "error"
    assert isinstance(error[1], websocket.WebSocketConnectionClosedException)
    assert isinstance(error[1], ConnectionClosed)
    assert str(error[1]) == "Connection closed normally (code 1000): bye"
    assert error[1].status_code == 1000 and error[1].reason == "bye"
    assert recorder.events[5:] == [("close", 1000, "bye")]
    assert app.sock is None and not app.keep_running


def test_on_open_and_app_close() -> None:
    recorder = Recorder()

    def on_message(app: WebSocketApp, message: str) -> None:
        recorder.events.append(("message", message))
        app.close()

    with running_server() as (_, uri):
        app = WebSocketApp(
            uri, **recorder.callbacks(on_open=lambda a: a.send("echo me"), on_message=on_message)
        )
        assert run(app) is False  # closed by the app: no error
    assert recorder.events == [
        ("data", "echo me", ABNF.OPCODE_TEXT, True),
        ("message", "echo me"),
        ("close", None, None),
    ]


def test_send_methods_and_ready() -> None:
    received = []

    def handler(connection):
        received.extend(connection.recv() for _ in range(3))

    states = []

    def on_open(app: WebSocketApp) -> None:
        states.append(app.ready())
        app.send("one")
        app.send_text("two")
        app.send_bytes(b"three")
        app.close()

    with running_server(handler) as (_, uri):
        app = WebSocketApp(uri, on_open=on_open)
        assert not app.ready()
        run(app)
    assert states == [True]
    assert received == ["one", "two", b"three"]
    assert not app.ready()
    for send in (app.send, app.send_text, app.send_bytes):
        with pytest.raises(websocket.WebSocketConnectionClosedException) as info:
            send("x" if send is not app.send_bytes else b"x")
        assert str(info.value) == "Connection is already closed."


def test_skip_utf8_validation_delivers_bytes() -> None:
    messages = []

    def on_message(app: WebSocketApp, message: Any) -> None:
        messages.append(message)
        app.close()

    with running_server() as (_, uri):
        app = WebSocketApp(uri, on_open=lambda a: a.send("raw"), on_message=on_message)
        run(app, skip_utf8_validation=True)
    assert messages == [b"raw"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"ping_timeout": 0}, "Ensure ping_timeout > 0"),
        ({"ping_timeout": -1}, "Ensure ping_timeout > 0"),
        ({"ping_interval": -1}, "Ensure ping_interval >= 0"),
        ({"ping_interval": 5, "ping_timeout": 5}, "Ensure ping_interval > ping_timeout"),
        ({"ping_interval": 5, "ping_timeout": 10}, "Ensure ping_interval > ping_timeout"),
    ],
)
def test_ping_parameters_are_checked(kwargs: dict, message: str) -> None:
    app = WebSocketApp("ws://127.0.0.1:1/")
    with pytest.raises(websocket.WebSocketException) as info:
        app.run_forever(**kwargs)
    assert str(info.value) == message


def test_socket_is_already_opened() -> None:
    errors = []

    def on_open(app: WebSocketApp) -> None:
        try:
            app.run_forever()
        except websocket.WebSocketException as exc:
            errors.append(str(exc))
        app.close()

    with running_server() as (_, uri):
        run(WebSocketApp(uri, on_open=on_open))
    assert errors == ["socket is already opened"]


def test_failing_callback_goes_to_on_error_without_recursion() -> None:
    calls = []

    def on_message(app: WebSocketApp, message: str) -> None:
        raise ValueError("bad message handler")

    def on_error(app: WebSocketApp, error: Exception) -> None:
        calls.append(error)
        raise RuntimeError("bad error handler")

    def on_close(app: WebSocketApp, code: Any, reason: Any) -> None:
        calls.append("close")

    with running_server() as (_, uri):
        app = WebSocketApp(
            uri,
            on_open=lambda a: a.send("x"),
            on_message=on_message,
            on_error=on_error,
            on_close=on_close,
        )
        thread, _ = run_in_thread(app.run_forever)
        assert wait_for(lambda: len(calls) >= 1)
        app.close()
        thread.join(JOIN_TIMEOUT)
    assert isinstance(calls[0], ValueError)
    assert calls[-1] == "close"
    assert all(not isinstance(call, RuntimeError) for call in calls)


def test_teardown_once_and_on_close_after_it() -> None:
    seen = []

    def on_close(app: WebSocketApp, code: Any, reason: Any) -> None:
        # Teardown is complete: the socket is gone and the loop stopped.
        seen.append((app.sock, app.keep_running, code))

    def handler(connection):
        connection.close(1001, "going")

    with running_server(handler) as (_, uri):
        app = WebSocketApp(uri, on_close=on_close, on_error=lambda a, e: app.close())
        run(app)
    assert seen == [(None, False, 1001)]


def test_on_close_without_close_frame() -> None:
    closes = []

    def abrupt(sock: socket.socket) -> None:
        server_handshake(sock)

    with RawServer(abrupt) as server:
        app = WebSocketApp(server.uri, on_close=lambda a, c, r: closes.append((c, r)))
        assert run(app) is True
    assert closes == [(None, None)]


def test_connection_failure_reports_error_and_returns_true() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    recorder = Recorder()
    app = WebSocketApp(f"ws://127.0.0.1:{port}/", **recorder.callbacks())
    assert run(app) is True
    assert recorder.names() == ["error", "close"]
    assert isinstance(recorder.events[0][1], ConnectionRefusedError)


def test_close_frame_parsing() -> None:
    app = WebSocketApp("ws://127.0.0.1:1/", on_close=lambda *args: None)

    def frame(data: bytes) -> ABNF:
        return ABNF(1, 0, 0, 0, ABNF.OPCODE_CLOSE, 0, data)

    assert app._parse_close_frame(None) == (None, None)
    assert app._parse_close_frame(frame(b"")) == (None, None)
    assert app._parse_close_frame(frame(b"\x03")) == (None, None)
    assert app._parse_close_frame(frame(struct.pack("!H", 1000))) == (1000, None)
    assert app._parse_close_frame(frame(struct.pack("!H", 4000) + b"why")) == (4000, "why")
    assert app._parse_close_frame(frame(struct.pack("!H", 1001) + b"\xff")) == (1001, "\ufffd")
    assert app._get_close_args(None) == [None, None]
    assert app._get_close_args(frame(struct.pack("!H", 1002) + b"x")) == [1002, "x"]
    app.on_close = None
    assert app._get_close_args(frame(struct.pack("!H", 1002))) == [None, None]
    assert str(app._close_exception(frame(b""))) == "Connection closed"
    assert str(app._close_exception(frame(struct.pack("!H", 1000)))) == (
        "Connection closed normally (code 1000)"
    )
    assert str(app._close_exception(frame(struct.pack("!H", 1001) + b"bye"))) == (
        "Connection closed (code 1001): bye"
    )


def test_on_ping_and_on_pong() -> None:
    recorder = Recorder()

    def handler(connection):
        connection.ping(b"server ping").wait(JOIN_TIMEOUT)
        connection.recv()

    def on_pong(app: WebSocketApp, data: bytes) -> None:
        recorder.events.append(("pong", data))
        app.send("stop")
        app.close()

    with running_server(handler) as (_, uri):
        app = WebSocketApp(uri, **recorder.callbacks(on_pong=on_pong))
        run(app, ping_interval=0.1, ping_payload="client ping")
    assert ("ping", b"server ping") in recorder.events
    assert ("pong", b"client ping") in recorder.events
    assert app.last_ping_tm == 0 and app.ping_thread is None  # stopped at teardown


def test_ping_timeout_against_a_silent_peer() -> None:
    def silent(sock: socket.socket) -> None:
        protocol = server_handshake(sock)
        read_frames(sock, protocol, answer=False)

    recorder = Recorder()
    with RawServer(silent) as server:
        app = WebSocketApp(server.uri, **recorder.callbacks())
        started = time.monotonic()
        assert run(app, ping_interval=0.3, ping_timeout=0.15) is True
        assert time.monotonic() - started < 3
    assert recorder.names() == ["open", "error", "close"]
    error = recorder.events[1][1]
    assert isinstance(error, websocket.WebSocketTimeoutException)
    assert str(error) == "ping/pong timed out"


def test_header_callable_cookie_subprotocols_origin_host() -> None:
    requests = []
    calls = []

    def process_request(connection, request):
        requests.append(request.headers)

    def header() -> dict:
        calls.append(1)
        return {"X-Attempt": str(len(calls))}

    with running_server(process_request=process_request, subprotocols=["chat"]) as (_, uri):
        app = WebSocketApp(
            uri,
            header=header,
            cookie="session=1",
            subprotocols=["chat"],
            on_open=lambda a: a.close(),
        )
        run(app, origin="http://origin.test", host="host.test")
        app2 = WebSocketApp(uri, header=["X-List: yes"], on_open=lambda a: a.close())
        run(app2, suppress_origin=True)
    assert calls == [1]
    assert requests[0]["X-Attempt"] == "1"
    assert requests[0]["Cookie"] == "session=1"
    assert requests[0]["Sec-WebSocket-Protocol"] == "chat"
    assert requests[0]["Origin"] == "http://origin.test"
    assert requests[0]["Host"] == "host.test"
    assert requests[1]["X-List"] == "yes"
    assert "Origin" not in requests[1]


def test_reconnect_after_server_restart() -> None:
    events: List[Any] = []
    times = {}
    attempts = []

    def handler(connection):
        connection.recv()

    def header() -> list:
        attempts.append(time.monotonic())
        return []

    first = serve(handler, "127.0.0.1", 0, ping_interval=None, close_timeout=0.5)
    port = first.socket.getsockname()[1]
    thread = threading.Thread(target=first.serve_forever, daemon=True)
    thread.start()

    def on_open(app: WebSocketApp) -> None:
        events.append("open")
        # Restart the server: the connection drops, the app reconnects.
        first.shutdown(timeout=JOIN_TIMEOUT)
        times["down"] = time.monotonic()

    def on_reconnect(app: WebSocketApp) -> None:
        events.append("reconnect")
        times["up"] = time.monotonic()
        app.close()

    app = WebSocketApp(
        f"ws://127.0.0.1:{port}/",
        header=header,
        on_open=on_open,
        on_reconnect=on_reconnect,
        on_error=lambda a, e: events.append(("error", type(e).__name__)),
        on_close=lambda a, c, r: events.append("close"),
    )
    app_thread, results = run_in_thread(lambda: app.run_forever(reconnect=0.3))
    assert wait_for(lambda: "down" in times)
    time.sleep(0.05)
    second = serve(handler, "127.0.0.1", port, ping_interval=None, close_timeout=0.5)
    second_thread = threading.Thread(target=second.serve_forever, daemon=True)
    second_thread.start()
    try:
        app_thread.join(JOIN_TIMEOUT)
        assert not app_thread.is_alive()
    finally:
        second.shutdown(timeout=JOIN_TIMEOUT)
        thread.join(JOIN_TIMEOUT)
        second_thread.join(JOIN_TIMEOUT)
    assert events[0] == "open"
    assert "reconnect" in events and events[-1] == "close"
    assert events.count("close") == 1
    assert results == [True]  # a disconnection happened along the way
    assert times["up"] - times["down"] >= 0.3
    assert len(attempts) >= 2
    assert attempts[1] - attempts[0] >= 0.3


def test_reconnect_default_setter() -> None:
    assert app_module.RECONNECT == 0
    websocket.set_reconnect(7)
    try:
        assert app_module.RECONNECT == 7
        websocket.setReconnect(3)
        assert app_module.RECONNECT == 3
    finally:
        websocket.set_reconnect(0)


def test_reconnect_uses_module_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app_module, "RECONNECT", 0.1)
    opens = []

    def handler(connection):
        connection.close()

    def on_open(app: WebSocketApp) -> None:
        opens.append(1)
        if len(opens) == 2:
            app.close()

    with running_server(handler) as (_, uri):
        app = WebSocketApp(uri, on_open=on_open)  # on_open stands in for on_reconnect
        run(app)
    assert len(opens) == 2


def test_keyboard_interrupt_in_callback_tears_down_and_propagates() -> None:
    recorder = Recorder()

    def on_message(app: WebSocketApp, message: str) -> None:
        raise KeyboardInterrupt

    with running_server() as (_, uri):
        app = WebSocketApp(
            uri, **recorder.callbacks(on_open=lambda a: a.send("x"), on_message=on_message)
        )
        thread, results = run_in_thread(app.run_forever)
        thread.join(JOIN_TIMEOUT)
    assert isinstance(results[0], KeyboardInterrupt)
    assert recorder.names()[-2:] == ["error", "close"]
    assert isinstance(recorder.events[-2][1], KeyboardInterrupt)
    assert app.sock is None


def test_keyboard_interrupt_signal_during_run_forever() -> None:
    if threading.current_thread() is not threading.main_thread():  # pragma: no cover
        pytest.skip("signals are delivered to the main thread")
    closes = []
    timer = None

    def on_open(app: WebSocketApp) -> None:
        nonlocal timer
        timer = threading.Timer(0.1, os.kill, (os.getpid(), signal.SIGINT))
        timer.start()

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with running_server() as (_, uri):
            app = WebSocketApp(uri, on_open=on_open, on_close=lambda *a: closes.append(a[1:]))
            with pytest.raises(KeyboardInterrupt):
                app.run_forever()
    finally:
        signal.signal(signal.SIGINT, previous)
        if timer is not None:
            timer.join(JOIN_TIMEOUT)
    assert closes == [(None, None)]
    assert app.sock is None and not app.keep_running


def test_custom_dispatcher() -> None:
    class LoopDispatcher:
        """A dispatcher with the interface of run_forever: it runs its own loop."""

        def __init__(self) -> None:
            self.reads = 0
            self.reconnects: List[float] = []

        def read(self, sock: socket.socket, read_callback: Any, check_callback: Any) -> None:
            with selectors.DefaultSelector() as selector:
                selector.register(sock, selectors.EVENT_READ)
                while True:
                    if selector.select(0.05):
                        self.reads += 1
                        if not read_callback():
                            return
                    check_callback()

        def reconnect(self, seconds: float, reconnector: Any) -> None:
            self.reconnects.append(seconds)

    dispatcher = LoopDispatcher()
    messages = []

    def handler(connection):
        connection.send("via dispatcher")
        connection.close()

    with running_server(handler) as (_, uri):
        app = WebSocketApp(uri, on_message=lambda a, m: messages.append(m))
        run(app, dispatcher=dispatcher, reconnect=2)
        app.close()
    assert messages == ["via dispatcher"]
    assert dispatcher.reads >= 1
    assert dispatcher.reconnects == [2]


def test_custom_event_loop_dispatcher() -> None:
    class EventLoop:
        """The interface of event-loop libraries such as rel: read(sock, cb), timeout()."""

        def __init__(self) -> None:
            self.readers = {}
            self.timers: List[Any] = []

        def read(self, sock: socket.socket, callback: Any) -> None:
            self.readers[sock] = callback

        def timeout(self, seconds: float, callback: Any, *args: Any) -> None:
            self.timers.append((time.monotonic() + seconds, callback, args))

        def dispatch(self, until: Any) -> None:
            deadline = time.monotonic() + JOIN_TIMEOUT
            while not until() and time.monotonic() < deadline:
                with selectors.DefaultSelector() as selector:
                    for sock in list(self.readers):
                        selector.register(sock, selectors.EVENT_READ)
                    for key, _ in selector.select(0.02):
                        if not self.readers[key.fileobj]():
                            del self.readers[key.fileobj]
                now = time.monotonic()
                due = [timer for timer in self.timers if timer[0] <= now]
                self.timers = [timer for timer in self.timers if timer[0] > now]
                for _, callback, args in due:
                    callback(*args)

    loop = EventLoop()
    messages = []

    def on_message(app: WebSocketApp, message: str) -> None:
        messages.append(message)
        app.close()

    with running_server() as (_, uri):
        app = WebSocketApp(uri, on_open=lambda a: a.send("looped"), on_message=on_message)
        assert app.run_forever(dispatcher=loop, ping_interval=1, ping_timeout=0.5) is False
        loop.dispatch(lambda: bool(messages))
        assert messages == ["looped"]
        assert loop.timers  # the ping/pong check was scheduled


def test_on_cont_message_delivers_fragments() -> None:
    recorder = Recorder()

    def handler(connection):
        connection.send(["first", "second", "third"])
        connection.recv()

    def on_cont_message(app: WebSocketApp, data: bytes, fin: int) -> None:
        recorder.events.append(("cont", data, fin))
        if fin:
            app.close()

    with running_server(handler) as (_, uri):
        app = WebSocketApp(uri, **recorder.callbacks(on_cont_message=on_cont_message))
        run(app)
    assert recorder.events[1:7] == [
        ("data", "first", ABNF.OPCODE_TEXT, True),
        ("message", "first"),
        ("data", b"second", ABNF.OPCODE_CONT, 0),
        ("cont", b"second", 0),
        ("data", b"third", ABNF.OPCODE_CONT, 1),
        ("cont", b"third", 1),
    ]


def test_keep_running_is_ignored_and_get_mask_key() -> None:
    frames = []

    def capture(sock: socket.socket) -> None:
        protocol = server_handshake(sock)
        frames.extend(read_frames(sock, protocol, until=Opcode.TEXT))
        sock.recv(1)

    app = WebSocketApp(
        "ws://127.0.0.1:1/",
        keep_running=True,
        get_mask_key=lambda n: b"\x00\x00\x00\x00",
    )
    assert app.keep_running is False
    with RawServer(capture) as server:
        app.url = server.uri
        app.on_open = lambda a: (a.send("masked"), a.close(timeout=0.1))
        run(app)
    assert frames[0].data == b"masked"


def test_prepared_socket() -> None:
    with running_server() as (_, uri):
        port = int(uri.rsplit(":", 1)[1].strip("/"))
        sock = socket.create_connection(("127.0.0.1", port))
        messages = []

        def on_message(app: WebSocketApp, message: str) -> None:
            messages.append(message)
            app.close()

        app = WebSocketApp(uri, socket=sock, on_open=lambda a: a.send("p"), on_message=on_message)
        run(app)
        assert app.prepared_socket is sock
    assert messages == ["p"]


def test_close_from_another_thread() -> None:
    closes = []
    with running_server() as (_, uri):
        app = WebSocketApp(uri, on_close=lambda a, c, r: closes.append((c, r)))
        thread, results = run_in_thread(app.run_forever)
        assert wait_for(app.ready)
        app.close()
        thread.join(JOIN_TIMEOUT)
        assert not thread.is_alive()
    assert results == [False]
    assert len(closes) == 1


def test_compression_option() -> None:
    messages = []

    def on_message(app: WebSocketApp, message: str) -> None:
        messages.append(message)
        app.close()

    with running_server(compression="deflate") as (_, uri):
        app = WebSocketApp(
            uri,
            on_open=lambda a: a.send("squeeze " * 100),
            on_message=on_message,
            compression="deflate",
        )
        run(app)
    assert messages == ["squeeze " * 100]
