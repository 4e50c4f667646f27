"""picows and wirespeed (the listener face): one implementation for both.

wirespeed's top-level API has picows' names and semantics, so the same code runs
on either library; only the imported module differs (``ListenerRole("picows")``
or ``ListenerRole("wirespeed")``).

The client keeps one message in flight: ``on_ws_frame`` sends the next request as
soon as the echo arrives, which is how picows users write request/response code
(and what picows' own echo benchmark does).
"""

from __future__ import annotations

import asyncio
import importlib


class ListenerRole:
    is_async = True

    def __init__(self, module_name: str) -> None:
        self.lib = importlib.import_module(module_name)
        self._client_listener, self._server_listener = _listener_classes(self.lib)

    # -- server ------------------------------------------------------------------

    async def serve(self, host: str):
        listener = self._server_listener
        server = await self.lib.ws_create_server(lambda request: listener(), host, 0)
        return server, server.sockets[0].getsockname()[1]

    # -- client ------------------------------------------------------------------

    async def connect(self, url: str):
        transport, listener = await self.lib.ws_connect(self._client_listener, url)
        return transport, listener

    async def roundtrips(self, connection, payload: bytes, count: int) -> int:
        transport, listener = connection
        listener.payload = payload
        listener.remaining = count
        listener.done = asyncio.get_running_loop().create_future()
        transport.send(self.lib.WSMsgType.BINARY, payload)
        return await listener.done

    async def close(self, connection) -> None:
        transport, _ = connection
        transport.send_close(self.lib.WSCloseCode.OK)
        transport.disconnect()
        await transport.wait_disconnected()


def _listener_classes(lib):
    binary = lib.WSMsgType.BINARY
    text = lib.WSMsgType.TEXT
    continuation = lib.WSMsgType.CONTINUATION
    close = lib.WSMsgType.CLOSE
    data_types = (binary, text, continuation)

    class EchoClient(lib.WSListener):
        """Sends ``payload`` again on each echo until ``remaining`` reaches zero."""

        def __init__(self) -> None:
            super().__init__()
            self.payload = b""
            self.remaining = 0
            self.done = None

        def on_ws_frame(self, transport, frame) -> None:
            if frame.msg_type != binary:
                return
            self.remaining -= 1
            if self.remaining > 0:
                transport.send(binary, self.payload)
            elif self.done is not None and not self.done.done():
                self.done.set_result(frame.payload_size)

        def on_ws_disconnected(self, transport) -> None:
            if self.done is not None and not self.done.done():
                self.done.set_exception(ConnectionError("disconnected during the benchmark"))

    class EchoServer(lib.WSListener):
        """Echoes every data frame as it is (zero-copy view of the receive buffer)."""

        def on_ws_frame(self, transport, frame) -> None:
            msg_type = frame.msg_type
            if msg_type in data_types:
                transport.send(msg_type, frame.get_payload_as_memoryview(), frame.fin)
            elif msg_type == close:
                transport.send_close(frame.get_close_code(), frame.get_close_message())
                transport.disconnect()

    return EchoClient, EchoServer
