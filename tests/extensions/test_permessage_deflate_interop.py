"""permessage-deflate against other implementations, over 127.0.0.1.

wirespeed's Sans-I/O protocols are driven by a few lines of asyncio streams;
the peers are websockets (``compression="deflate"``, its default) and aiohttp
(``compress=15``), as a server and as a client. Each test exchanges messages
both ways, text and binary, small and large, with context takeover at work,
and checks that compression was negotiated and used. A test is skipped when
its peer library isn't installed. Every test is bounded by :data:`TIMEOUT`.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any, List, Tuple, Union

import pytest
from aiohttp_helpers import aiohttp_echo_server

from wirespeed.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    PerMessageDeflate,
    ServerPerMessageDeflateFactory,
    enable_client_permessage_deflate,
    enable_server_permessage_deflate,
)
from wirespeed.frames import Opcode
from wirespeed.http import Request, Response
from wirespeed.sansio import SEND_EOF, ClientProtocol, ServerProtocol, State
from wirespeed.uri import parse_uri

#: Seconds allowed for one test.
TIMEOUT = 10.0

#: What each test sends and expects back: text and binary, small to large,
#: repeated so that context takeover matters.
JSON_LIKE = "".join(
    f'{{"id": {i}, "name": "item-{i * 37 % 101}", "tags": ["a", "b"], '
    f'"ok": {"true" if i % 3 else "false"}}}, '
    for i in range(2000)
)
MESSAGES: List[Union[str, bytes]] = [
    "hi",
    JSON_LIKE[:300],
    JSON_LIKE,
    JSON_LIKE,
    os.urandom(3000),
    bytes(200_000),
    "é" * 5000,
    b"",
]

EXTENSION_SETTINGS = [
    pytest.param({}, id="defaults"),
    pytest.param({"no_context_takeover": True}, id="no-context-takeover"),
    pytest.param({"max_window_bits": 9}, id="window-9"),
]


def client_factories(settings: dict) -> list:
    if "no_context_takeover" in settings:
        return [
            ClientPerMessageDeflateFactory(
                server_no_context_takeover=True, client_no_context_takeover=True
            )
        ]
    if "max_window_bits" in settings:
        bits = settings["max_window_bits"]
        return [
            ClientPerMessageDeflateFactory(server_max_window_bits=bits, client_max_window_bits=bits)
        ]
    return enable_client_permessage_deflate(None)


def server_factories(settings: dict) -> list:
    if "no_context_takeover" in settings:
        return [
            ServerPerMessageDeflateFactory(
                server_no_context_takeover=True, client_no_context_takeover=True
            )
        ]
    if "max_window_bits" in settings:
        bits = settings["max_window_bits"]
        return [
            ServerPerMessageDeflateFactory(server_max_window_bits=bits, client_max_window_bits=bits)
        ]
    return enable_server_permessage_deflate(None)


class Driver:
    """Run a wirespeed Sans-I/O protocol over asyncio streams."""

    def __init__(self, protocol: Any, reader: asyncio.StreamReader, writer: Any) -> None:
        self.protocol = protocol
        self.reader = reader
        self.writer = writer
        self.messages: List[Tuple[Opcode, bytes]] = []
        self.fragments: List[bytes] = []
        self.opcode: Any = None
        self.handshake: Any = None

    def flush(self) -> None:
        for data in self.protocol.data_to_send():
            if data == SEND_EOF:
                if self.writer.can_write_eof():
                    self.writer.write_eof()
            else:
                self.writer.write(data)

    async def receive_events(self) -> None:
        """Read until one event arrives (or the connection ends)."""
        while True:
            events = self.protocol.events_received()
            for event in events:
                self.handle(event)
            if events:
                return
            data = await self.reader.read(65536)
            if data:
                self.protocol.receive_data(data)
            else:
                self.protocol.receive_eof()
            self.flush()
            if self.protocol.state is State.CLOSED and not self.protocol.events:
                return

    def handle(self, event: Any) -> None:
        if isinstance(event, (Request, Response)):
            self.handshake = event
            return
        if event.opcode in (Opcode.TEXT, Opcode.BINARY):
            self.opcode = event.opcode
            self.fragments = [event.data]
        elif event.opcode is Opcode.CONT:
            self.fragments.append(event.data)
        else:
            return
        if event.fin:
            self.messages.append((self.opcode, b"".join(self.fragments)))

    async def receive_message(self) -> Tuple[Opcode, bytes]:
        count = len(self.messages)
        while len(self.messages) == count:
            assert self.protocol.state is not State.CLOSED, self.protocol.close_exc
            await self.receive_events()
        return self.messages[-1]

    def send(self, message: Union[str, bytes]) -> None:
        if isinstance(message, str):
            self.protocol.send_text(message.encode())
        else:
            self.protocol.send_binary(message)
        self.flush()

    async def close(self) -> None:
        if self.protocol.state is State.OPEN:
            self.protocol.send_close(1000)
            self.flush()
        while self.protocol.state is not State.CLOSED:
            await self.receive_events()
        self.writer.close()


def as_pair(message: Union[str, bytes]) -> Tuple[Opcode, bytes]:
    if isinstance(message, str):
        return Opcode.TEXT, message.encode()
    return Opcode.BINARY, message


def check_negotiated(protocol: Any, settings: dict) -> PerMessageDeflate:
    [extension] = protocol.extensions
    assert isinstance(extension, PerMessageDeflate)
    if "no_context_takeover" in settings:
        assert extension.local_no_context_takeover and extension.remote_no_context_takeover
    if "max_window_bits" in settings:
        bits = settings["max_window_bits"]
        assert extension.local_max_window_bits == extension.remote_max_window_bits == bits
    return extension


async def wirespeed_client(port: int, settings: dict) -> Driver:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    protocol = ClientProtocol(
        parse_uri(f"ws://127.0.0.1:{port}/"), extensions=client_factories(settings), max_size=2**22
    )
    protocol.send_request(protocol.connect())
    driver = Driver(protocol, reader, writer)
    driver.flush()
    await driver.receive_events()
    assert protocol.state is State.OPEN, protocol.handshake_exc
    return driver


async def run_client_against_echo(port: int, settings: dict) -> None:
    driver = await wirespeed_client(port, settings)
    extension = check_negotiated(driver.protocol, settings)
    for message in MESSAGES:
        driver.send(message)
        assert await driver.receive_message() == as_pair(message)
    if "no_context_takeover" not in settings:
        # Both directions were compressed.
        assert extension.compressor is not None and extension.decompressor is not None
    await driver.close()


async def serve_wirespeed_echo(settings: dict, served: list) -> asyncio.AbstractServer:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        protocol = ServerProtocol(extensions=server_factories(settings), max_size=2**22)
        driver = Driver(protocol, reader, writer)
        await driver.receive_events()
        protocol.send_response(protocol.accept(driver.handshake))
        driver.flush()
        served.append(protocol)
        try:
            while True:
                await driver.receive_events()
                while driver.messages:
                    opcode, data = driver.messages.pop(0)
                    driver.send(data.decode() if opcode is Opcode.TEXT else data)
                if protocol.state is State.CLOSED:
                    break
        finally:
            writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


def port_of(server: Any) -> int:
    return server.sockets[0].getsockname()[1]


# websockets

try:
    import websockets
except ImportError:  # pragma: no cover - optional test dependency
    websockets = None

needs_websockets = pytest.mark.skipif(websockets is None, reason="websockets isn't installed")


def websockets_compression(settings: dict, *, server: bool) -> Any:
    """websockets' extensions for these settings (None: its defaults)."""
    from websockets.extensions import permessage_deflate as theirs

    if "no_context_takeover" in settings:
        kwargs = {"server_no_context_takeover": True, "client_no_context_takeover": True}
    elif "max_window_bits" in settings:
        bits = settings["max_window_bits"]
        kwargs = {"server_max_window_bits": bits, "client_max_window_bits": bits}
    else:
        return None
    if server:
        return [theirs.ServerPerMessageDeflateFactory(**kwargs)]
    return [theirs.ClientPerMessageDeflateFactory(**kwargs)]


@needs_websockets
@pytest.mark.parametrize("settings", EXTENSION_SETTINGS)
def test_wirespeed_client_to_websockets_server(settings):
    from websockets.asyncio.server import serve

    async def echo(connection: Any) -> None:
        async for message in connection:
            await connection.send(message)

    async def main() -> None:
        extensions = websockets_compression(settings, server=True)
        kwargs = {"compression": None, "extensions": extensions} if extensions else {}
        async with serve(echo, "127.0.0.1", 0, max_size=2**22, **kwargs) as server:
            await run_client_against_echo(port_of(server), settings)

    asyncio.run(asyncio.wait_for(main(), TIMEOUT))


@needs_websockets
@pytest.mark.parametrize("settings", EXTENSION_SETTINGS)
def test_websockets_client_to_wirespeed_server(settings):
    from websockets.asyncio.client import connect

    async def main() -> None:
        served: list = []
        server = await serve_wirespeed_echo(settings, served)
        extensions = websockets_compression(settings, server=False)
        kwargs = {"compression": None, "extensions": extensions} if extensions else {}
        try:
            async with connect(
                f"ws://127.0.0.1:{port_of(server)}/", max_size=2**22, **kwargs
            ) as connection:
                assert connection.response.headers["Sec-WebSocket-Extensions"].startswith(
                    "permessage-deflate"
                )
                for message in MESSAGES:
                    await connection.send(message)
                    assert await connection.recv() == message
        finally:
            server.close()
            await server.wait_closed()
        extension = check_negotiated(served[0], settings)
        if "no_context_takeover" not in settings:
            # Both directions were compressed.
            assert extension.compressor is not None and extension.decompressor is not None

    asyncio.run(asyncio.wait_for(main(), TIMEOUT))


# aiohttp

try:
    import aiohttp
except ImportError:  # pragma: no cover - optional test dependency
    aiohttp = None

needs_aiohttp = pytest.mark.skipif(aiohttp is None, reason="aiohttp isn't installed")


def aiohttp_compress(settings: dict) -> int:
    """aiohttp's ``compress``: a window size; it has no context takeover setting."""
    return settings.get("max_window_bits", 15)


AIOHTTP_SETTINGS = [param for param in EXTENSION_SETTINGS if param.id != "no-context-takeover"]


@needs_aiohttp
@pytest.mark.parametrize("settings", AIOHTTP_SETTINGS)
def test_wirespeed_client_to_aiohttp_server(settings):
    async def main() -> None:
        async with aiohttp_echo_server(
            compress=aiohttp_compress(settings), max_msg_size=2**22
        ) as port:
            if "max_window_bits" in settings:
                # aiohttp answers with its own window only when asked for it.
                await run_client_against_echo(port, settings)
            else:
                await run_client_against_echo(port, {})

    asyncio.run(asyncio.wait_for(main(), TIMEOUT))


@needs_aiohttp
@pytest.mark.parametrize("settings", AIOHTTP_SETTINGS)
def test_aiohttp_client_to_wirespeed_server(settings):
    async def main() -> None:
        served: list = []
        server = await serve_wirespeed_echo(settings, served)
        try:
            async with (
                aiohttp.ClientSession() as session,
                session.ws_connect(
                    f"http://127.0.0.1:{port_of(server)}/",
                    compress=aiohttp_compress(settings),
                    max_msg_size=2**22,
                ) as connection,
            ):
                for message in MESSAGES:
                    if isinstance(message, str):
                        await connection.send_str(message)
                        assert (await connection.receive_str()) == message
                    else:
                        await connection.send_bytes(message)
                        assert (await connection.receive_bytes()) == message
        finally:
            server.close()
            await server.wait_closed()
        extension = check_negotiated(served[0], settings)
        # Both directions were compressed.
        assert extension.compressor is not None and extension.decompressor is not None

    asyncio.run(asyncio.wait_for(main(), TIMEOUT))
