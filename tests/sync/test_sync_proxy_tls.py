"""Proxies (HTTP CONNECT, SOCKS4/5 through python-socks) and TLS for the sync face."""

from __future__ import annotations

import base64
import contextlib
import select
import socket
import ssl
import struct
import threading
from typing import Any, Callable, List, Optional

import pytest
from sync_helpers import JOIN_TIMEOUT, running_server

import wirespeed.sync as websocket
from wirespeed.sync import WebSocketApp, connect, create_connection
from wirespeed.sync.net import ssl_context_from_options
from wirespeed.sync.proxy import Proxy, get_proxy, is_no_proxy_host, parse_proxy_url


def relay(client: socket.socket, upstream: socket.socket) -> None:
    """Copy bytes both ways until one side closes."""
    sockets = [client, upstream]
    try:
        while True:
            readable, _, _ = select.select(sockets, [], [], JOIN_TIMEOUT)
            if not readable:
                return
            for sock in readable:
                data = sock.recv(65536)
                if not data:
                    return
                (upstream if sock is client else client).sendall(data)
    except OSError:
        return
    finally:
        upstream.close()


class ProxyServer:
    """A tiny proxy on 127.0.0.1: ``serve_one(client)`` handles one connection."""

    def __init__(self, serve_one: Callable[[socket.socket], Any]) -> None:
        self.serve_one = serve_one
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.05)
        self.port = self.listener.getsockname()[1]
        self.stopping = threading.Event()
        self.threads: List[threading.Thread] = []
        self.requests: List[bytes] = []
        self.thread = threading.Thread(target=self.loop, daemon=True)

    def loop(self) -> None:
        while not self.stopping.is_set():
            try:
                client, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            client.settimeout(JOIN_TIMEOUT)
            thread = threading.Thread(target=self.run, args=(client,), daemon=True)
            self.threads.append(thread)
            thread.start()

    def run(self, client: socket.socket) -> None:
        with client, contextlib.suppress(OSError):
            self.serve_one(client)

    def __enter__(self) -> ProxyServer:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stopping.set()
        self.thread.join(JOIN_TIMEOUT)
        self.listener.close()
        for thread in self.threads:
            thread.join(JOIN_TIMEOUT)


def http_proxy(auth: Optional[str] = None) -> Callable[[socket.socket], None]:
    """An HTTP CONNECT proxy, requiring ``user:password`` if ``auth`` is set."""

    def serve_one(client: socket.socket) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = client.recv(1)
            if not chunk:
                return
            head += chunk
        proxy.requests.append(head)
        target = head.split(b" ")[1].decode()
        host, _, port = target.rpartition(":")
        if auth is not None:
            expected = base64.b64encode(auth.encode()).decode()
            if f"Proxy-Authorization: Basic {expected}".encode() not in head:
                client.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n")
                return
        upstream = socket.create_connection((host.strip("[]"), int(port)), timeout=JOIN_TIMEOUT)
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        relay(client, upstream)

    proxy = ProxyServer(serve_one)
    return proxy  # type: ignore[return-value]


def recv_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def socks_proxy(log: List[str]) -> ProxyServer:
    """A SOCKS4/SOCKS5 proxy (no authentication, CONNECT only)."""

    def serve_one(client: socket.socket) -> None:
        version = recv_exactly(client, 1)[0]
        if version == 4:
            _, port = struct.unpack("!BH", recv_exactly(client, 3))
            address = socket.inet_ntoa(recv_exactly(client, 4))
            while recv_exactly(client, 1) != b"\0":  # user id
                pass
            if address.startswith("0.0.0."):  # SOCKS4a: the name follows
                name = b""
                while (byte := recv_exactly(client, 1)) != b"\0":
                    name += byte
                address = name.decode()
            log.append(f"socks4 {address}:{port}")
            upstream = socket.create_connection((address, port), timeout=JOIN_TIMEOUT)
            client.sendall(b"\x00\x5a" + b"\0" * 6)
        else:
            methods = recv_exactly(client, recv_exactly(client, 1)[0])
            assert 0 in methods
            client.sendall(b"\x05\x00")
            _, _command, _, kind = recv_exactly(client, 4)
            if kind == 1:
                address = socket.inet_ntoa(recv_exactly(client, 4))
            elif kind == 3:
                address = recv_exactly(client, recv_exactly(client, 1)[0]).decode()
            else:
                address = socket.inet_ntop(socket.AF_INET6, recv_exactly(client, 16))
            (port,) = struct.unpack("!H", recv_exactly(client, 2))
            log.append(f"socks5 {address}:{port}")
            upstream = socket.create_connection((address, port), timeout=JOIN_TIMEOUT)
            client.sendall(b"\x05\x00\x00\x01" + socket.inet_aton("127.0.0.1") + b"\0\0")
        relay(client, upstream)

    return ProxyServer(serve_one)


NO_PROXY = ["nothing.invalid"]  # 127.0.0.1 is in the default no_proxy list


def test_http_connect_proxy_with_auth() -> None:
    with running_server() as (_, uri), http_proxy(auth="user:pass") as proxy:
        ws = create_connection(
            uri,
            timeout=JOIN_TIMEOUT,
            http_proxy_host="127.0.0.1",
            http_proxy_port=proxy.port,
            http_proxy_auth=("user", "pass"),
            http_no_proxy=NO_PROXY,
        )
        ws.send("through the proxy")
        assert ws.recv() == "through the proxy"
        ws.close()
        assert proxy.requests[0].startswith(f"CONNECT 127.0.0.1:{uri.split(':')[2][:-1]} ".encode())
        with pytest.raises(websocket.WebSocketProxyException):
            create_connection(
                uri,
                timeout=JOIN_TIMEOUT,
                http_proxy_host="127.0.0.1",
                http_proxy_port=proxy.port,
                http_proxy_auth=("user", "wrong"),
                http_no_proxy=NO_PROXY,
            )


def test_http_proxy_with_websocketapp_and_no_proxy() -> None:
    messages = []

    def on_message(app: WebSocketApp, message: str) -> None:
        messages.append(message)
        app.close()

    with running_server() as (_, uri), http_proxy() as proxy:
        app = WebSocketApp(uri, on_open=lambda a: a.send("app via proxy"), on_message=on_message)
        app.run_forever(
            http_proxy_host="127.0.0.1",
            http_proxy_port=proxy.port,
            http_no_proxy=NO_PROXY,
            proxy_type="http",
        )
        assert messages == ["app via proxy"]
        assert len(proxy.requests) == 1
        # The default no_proxy list (localhost, 127.0.0.1) bypasses the proxy.
        create_connection(
            uri, timeout=JOIN_TIMEOUT, http_proxy_host="127.0.0.1", http_proxy_port=proxy.port
        ).close()
        assert len(proxy.requests) == 1


def test_proxy_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    with running_server() as (_, uri), http_proxy() as proxy:
        monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{proxy.port}")
        monkeypatch.setenv("no_proxy", "example.com")
        with connect(uri, ping_interval=None) as ws:
            ws.send("env")
            assert ws.recv() == "env"
        create_connection(uri, timeout=JOIN_TIMEOUT).close()
        assert len(proxy.requests) == 2
        monkeypatch.setenv("no_proxy", "127.0.0.0/8")
        create_connection(uri, timeout=JOIN_TIMEOUT).close()
        with connect(uri, proxy=None, ping_interval=None):
            pass
        assert len(proxy.requests) == 2
        with connect(uri, proxy=f"http://127.0.0.1:{proxy.port}", ping_interval=None):
            pass
        assert len(proxy.requests) == 3


def test_proxy_unreachable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(OSError):
        create_connection(
            "ws://127.0.0.1:9/",
            timeout=1,
            http_proxy_host="127.0.0.1",
            http_proxy_port=port,
            http_no_proxy=NO_PROXY,
        )
    with pytest.raises(websocket.WebSocketProxyException):
        create_connection("ws://127.0.0.1:9/", http_proxy_host="h", proxy_type="socks6")


@pytest.mark.parametrize("proxy_type", ["socks5", "socks5h", "socks4", "socks4a"])
def test_socks_proxies(proxy_type: str) -> None:
    pytest.importorskip("python_socks")
    log: List[str] = []
    with running_server() as (_, uri), socks_proxy(log) as proxy:
        ws = create_connection(
            uri,
            timeout=JOIN_TIMEOUT,
            http_proxy_host="127.0.0.1",
            http_proxy_port=proxy.port,
            http_no_proxy=NO_PROXY,
            proxy_type=proxy_type,
        )
        ws.send(proxy_type)
        assert ws.recv() == proxy_type
        ws.close()
    assert log and log[0].startswith(proxy_type[:6]) and "127.0.0.1" in log[0]


def test_socks5_through_connect_proxy_url() -> None:
    pytest.importorskip("python_socks")
    log: List[str] = []
    with running_server() as (_, uri), socks_proxy(log) as proxy:
        ws = connect(uri, proxy=f"socks5://127.0.0.1:{proxy.port}", ping_interval=None)
        ws.send("socks")
        assert ws.recv() == "socks"
        ws.close()
    assert log == [f"socks5 127.0.0.1:{uri.split(':')[2][:-1]}"]


def test_no_proxy_matching(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    assert is_no_proxy_host("localhost", None)
    assert is_no_proxy_host("127.0.0.1", None)
    assert not is_no_proxy_host("example.com", None)
    assert is_no_proxy_host("anything", ["*"])
    assert is_no_proxy_host("ws.example.com", ["example.com"])
    assert is_no_proxy_host("ws.example.com", [".example.com"])
    assert not is_no_proxy_host("badexample.com", ["example.com"])
    assert is_no_proxy_host("10.1.2.3", ["10.0.0.0/8"])
    assert not is_no_proxy_host("11.1.2.3", ["10.0.0.0/8"])
    assert is_no_proxy_host("::1", ["[::1]"])
    monkeypatch.setenv("NO_PROXY", "internal.test, other.test")
    assert is_no_proxy_host("a.internal.test", None)


def test_get_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    assert get_proxy("example.com", False) is None
    assert get_proxy("example.com", False, proxy_host="p") == Proxy("http", "p", 80)
    assert get_proxy("localhost", False, proxy_host="p") is None
    monkeypatch.setenv("https_proxy", "socks5h://u:p%40ss@proxy.test:1081")
    assert get_proxy("example.com", True) == Proxy("socks5h", "proxy.test", 1081, ("u", "p@ss"))
    assert get_proxy("example.com", False) is None
    monkeypatch.setenv("HTTP_PROXY", "proxy.test:3128")
    assert get_proxy("example.com", False) == Proxy("http", "proxy.test", 3128)
    assert parse_proxy_url("https://proxy.test").port == 80
    with pytest.raises(websocket.WebSocketProxyException):
        parse_proxy_url("ftp://proxy.test")


# TLS


@pytest.fixture(scope="module")
def certificates():
    trustme = pytest.importorskip("trustme")
    authority = trustme.CA()
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    authority.issue_cert("127.0.0.1", "localhost").configure_cert(server_context)
    client_context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    authority.configure_trust(client_context)
    with authority.cert_pem.tempfile() as ca_path:
        yield server_context, client_context, ca_path


def test_tls_connect_and_serve(certificates) -> None:
    server_context, client_context, _ = certificates
    with running_server(ssl=server_context) as (_, uri):
        assert uri.startswith("wss://")
        with connect(uri, ssl=client_context, ping_interval=None) as ws:
            ws.send("secure")
            assert ws.recv() == "secure"
            assert isinstance(ws.socket, ssl.SSLSocket)
        # Verified by default: the system CAs don't trust this certificate.
        with pytest.raises(ssl.SSLCertVerificationError):
            connect(uri)


def test_tls_create_connection_sslopt(certificates) -> None:
    server_context, _, ca_path = certificates
    with running_server(ssl=server_context) as (_, uri):
        ws = create_connection(uri, timeout=JOIN_TIMEOUT, sslopt={"ca_certs": ca_path})
        assert ws.is_ssl()
        ws.send_binary(b"\x01" * 100000)
        assert ws.recv() == b"\x01" * 100000
        ws.close()
        with pytest.raises(ssl.SSLCertVerificationError):
            create_connection(uri, timeout=JOIN_TIMEOUT)
        ws = create_connection(
            uri, timeout=JOIN_TIMEOUT, sslopt={"cert_reqs": ssl.CERT_NONE, "check_hostname": False}
        )
        ws.close()
        with pytest.raises(ssl.SSLCertVerificationError):
            create_connection(
                uri,
                timeout=JOIN_TIMEOUT,
                sslopt={"ca_certs": ca_path, "server_hostname": "other.test"},
            )


def test_tls_websocketapp(certificates) -> None:
    server_context, client_context, _ = certificates
    messages = []

    def on_message(app: WebSocketApp, message: str) -> None:
        messages.append(message)
        if len(messages) == 20:
            app.close()

    def on_open(app: WebSocketApp) -> None:
        for number in range(20):
            app.send(str(number))

    with running_server(ssl=server_context) as (_, uri):
        app = WebSocketApp(uri, on_open=on_open, on_message=on_message)
        app.run_forever(sslopt={"context": client_context})
    assert messages == [str(number) for number in range(20)]


def test_ssl_context_from_options(certificates, tmp_path) -> None:
    _, client_context, ca_path = certificates
    assert ssl_context_from_options({"context": client_context}) is client_context
    context = ssl_context_from_options(None)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    context = ssl_context_from_options({"cert_reqs": ssl.CERT_NONE})
    assert context.verify_mode == ssl.CERT_NONE and not context.check_hostname
    context = ssl_context_from_options(
        {"ca_certs": ca_path, "check_hostname": False, "ciphers": "ECDHE+AESGCM"}
    )
    assert not context.check_hostname
