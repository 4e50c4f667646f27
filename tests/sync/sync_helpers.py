"""Helpers for the tests of wirespeed.sync: servers in threads, scripted peers.

Every server listens on 127.0.0.1 and every thread is joined with a timeout,
so that a failing test can't hang the suite.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from typing import Any, Callable, Iterator, List, Tuple

from wirespeed.frames import Opcode
from wirespeed.http import Request
from wirespeed.sansio import ServerProtocol
from wirespeed.sync import Server, ServerConnection, serve

#: Upper bound, in seconds, of any wait in these tests.
JOIN_TIMEOUT = 5.0


def echo(connection: ServerConnection) -> None:
    """Send every message back."""
    for message in connection:
        connection.send(message)


@contextlib.contextmanager
def running_server(
    handler: Callable[[ServerConnection], Any] = echo, **kwargs: Any
) -> Iterator[Tuple[Server, str]]:
    """Run a wirespeed.sync server on a free port; yield it and its ws:// URI."""
    kwargs.setdefault("ping_interval", None)
    kwargs.setdefault("close_timeout", 1)
    server = serve(handler, "127.0.0.1", kwargs.pop("port", 0), **kwargs)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.socket.getsockname()[1]
    scheme = "wss" if kwargs.get("ssl") else "ws"
    try:
        yield server, f"{scheme}://127.0.0.1:{port}/"
    finally:
        server.shutdown(timeout=JOIN_TIMEOUT)
        thread.join(JOIN_TIMEOUT)
        assert not thread.is_alive()


class RawServer:
    """A TCP server on 127.0.0.1 that runs ``handler(sock)`` for each connection.

    For peers that misbehave on purpose. The handler runs in a thread; the
    socket is closed when it returns.
    """

    def __init__(self, handler: Callable[[socket.socket], Any]) -> None:
        self.handler = handler
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.05)
        self.port = self.listener.getsockname()[1]
        self.stopping = threading.Event()
        self.threads: List[threading.Thread] = []
        self.errors: List[BaseException] = []
        self.accept_thread = threading.Thread(target=self.accept_loop, daemon=True)

    @property
    def uri(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    def accept_loop(self) -> None:
        while not self.stopping.is_set():
            try:
                sock, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            thread = threading.Thread(target=self.run, args=(sock,), daemon=True)
            self.threads.append(thread)
            thread.start()

    def run(self, sock: socket.socket) -> None:
        sock.settimeout(JOIN_TIMEOUT)
        try:
            self.handler(sock)
        except Exception as exc:  # reported by the test if it cares
            self.errors.append(exc)
        finally:
            sock.close()

    def __enter__(self) -> RawServer:
        self.accept_thread.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stopping.set()
        self.accept_thread.join(JOIN_TIMEOUT)
        self.listener.close()
        for thread in self.threads:
            thread.join(JOIN_TIMEOUT)
            assert not thread.is_alive()


def server_handshake(sock: socket.socket, **kwargs: Any) -> ServerProtocol:
    """Accept the opening handshake on ``sock`` with a Sans-I/O server protocol."""
    protocol = ServerProtocol(**kwargs)
    while True:
        data = sock.recv(65536)
        if not data:
            raise EOFError("client left during the handshake")
        protocol.receive_data(data)
        events = protocol.events_received()
        if events:
            request = events[0]
            assert isinstance(request, Request)
            protocol.send_response(protocol.accept(request))
            for chunk in protocol.data_to_send():
                sock.sendall(chunk)
            return protocol


def read_frames(
    sock: socket.socket, protocol: ServerProtocol, *, answer: bool = True, until: Any = None
) -> List[Any]:
    """Feed the socket to ``protocol`` until EOF (or a frame with opcode ``until``).

    With ``answer``, the protocol's output (pongs, close frames) is written
    back; without, it is dropped: the peer then never answers pings.
    """
    frames: List[Any] = []
    while True:
        try:
            data = sock.recv(65536)
        except OSError:
            data = b""
        if data:
            protocol.receive_data(data)
        else:
            protocol.receive_eof()
        new = protocol.events_received()
        frames.extend(new)
        output = protocol.data_to_send()
        if answer or any(frame.opcode is Opcode.CLOSE for frame in new):
            for chunk in output:
                if chunk:
                    with contextlib.suppress(OSError):
                        sock.sendall(chunk)
                else:
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_WR)
        if not data:
            return frames
        if until is not None and any(frame.opcode is until for frame in new):
            return frames


def wait_for(predicate: Callable[[], bool], timeout: float = JOIN_TIMEOUT) -> bool:
    """Poll ``predicate`` every 10 ms until it is true or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def run_in_thread(target: Callable[[], Any]) -> Tuple[threading.Thread, List[Any]]:
    """Run ``target`` in a daemon thread; its result or exception lands in the list."""
    results: List[Any] = []

    def runner() -> None:
        try:
            results.append(target())
        except BaseException as exc:
            results.append(exc)

    thread = threading.Thread(target=runner, daemon=True)
    thread.start()
    return thread, results


def send_raw(sock: socket.socket, protocol: ServerProtocol) -> None:
    """Write whatever ``protocol`` has to send."""
    for chunk in protocol.data_to_send():
        if chunk:
            sock.sendall(chunk)
        else:
            sock.shutdown(socket.SHUT_WR)


__all__ = [
    "JOIN_TIMEOUT",
    "RawServer",
    "echo",
    "read_frames",
    "run_in_thread",
    "running_server",
    "send_raw",
    "server_handshake",
    "wait_for",
]
