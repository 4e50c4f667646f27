"""websocket-client: the blocking ``websocket.create_connection`` client (no event loop).

Client only (websocket-client has no server). Default options.
"""

from __future__ import annotations

import websocket


class WebsocketClientRole:
    is_async = False

    def connect(self, url: str):
        return websocket.create_connection(url, timeout=60)

    def roundtrips(self, connection, payload: bytes, count: int) -> int:
        send, recv = connection.send_binary, connection.recv
        reply = b""
        for _ in range(count):
            send(payload)
            reply = recv()
        return len(reply)

    def close(self, connection) -> None:
        connection.close()
