"""Large messages on the sync face, which receives large payloads straight into
the bytes it hands out (``FrameReader.separate_large_payloads``)."""

from __future__ import annotations

import os

import pytest
from sync_helpers import running_server

import wirespeed.sync as websocket
from wirespeed.exceptions import ConnectionClosedError
from wirespeed.sync import connect


@pytest.mark.parametrize("size", [65535, 65536, 100_000, 2**20, 3 * 2**20 + 1])
def test_connection_echoes_large_messages_whole(size: int) -> None:
    with running_server(max_size=None) as (_, uri), connect(uri, max_size=None) as ws:
        for _ in range(3):
            payload = os.urandom(size)
            ws.send(payload)
            echoed = ws.recv(timeout=5)
            assert type(echoed) is bytes and echoed == payload
        text = ("aé€😀" * (size // 10 + 1))[: size // 2]
        ws.send(text)
        assert ws.recv(timeout=5) == text
        fragments = [os.urandom(size // 3 + 1) for _ in range(3)]
        ws.send(fragments)
        assert ws.recv(timeout=5) == b"".join(fragments)


def test_connection_max_size_closes_with_1009() -> None:
    with running_server(max_size=None) as (_, uri), connect(uri, max_size=300_000) as ws:
        ws.send(b"x" * 300_000)
        assert ws.recv(timeout=5) == b"x" * 300_000
        ws.send(b"y" * 300_001)
        with pytest.raises(ConnectionClosedError) as info:
            ws.recv(timeout=5)
        assert info.value.sent.code == 1009


@pytest.mark.parametrize("size", [65536, 2**20 + 7])
def test_websocket_client_api_echoes_large_messages_whole(size: int) -> None:
    with running_server(max_size=None) as (_, uri):
        ws = websocket.create_connection(uri, timeout=5)
        try:
            for _ in range(3):
                payload = os.urandom(size)
                ws.send_binary(payload)
                assert ws.recv() == payload
            text = ("aé€😀" * (size // 10 + 1))[: size // 2]
            ws.send(text)
            assert ws.recv() == text
        finally:
            ws.close()
