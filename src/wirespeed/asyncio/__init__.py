"""The asyncio face: websockets' ``connect`` / ``serve`` API on wirespeed's core.

Change ``from websockets.asyncio.server import serve`` (or
``from websockets.asyncio.client import connect``) to
``from wirespeed.asyncio import serve`` (``connect``) and the code runs on
wirespeed. The face is built on the listener face (:mod:`wirespeed`): a
:class:`Connection` is a :class:`~wirespeed.WSListener` that assembles
messages and wakes the coroutines awaiting them.

Where it differs from websockets:

* ``compression`` accepts only ``None`` for now (websockets defaults to
  ``"deflate"``); permessage-deflate comes with the listener face;
* ``read_limit`` bounds what one read brings in ahead of the parser (beyond
  the rest of the frame being received) rather than a stream buffer's size:
  frames are parsed as soon as they are read;
* ``max_queue`` counts frames (as websockets' new implementation does), and
  its low-water mark defaults to a quarter of the high-water mark;
* :func:`route` takes ``{"/path/{name}": handler}`` patterns rather than a
  werkzeug ``Map``.
"""

from __future__ import annotations

from ..exceptions import (
    ConcurrencyError,
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidHandshake,
    InvalidStatus,
    InvalidURI,
)
from ..frames import CloseCode
from ..http import Headers, Request, Response
from .client import ClientConnection, ProxyError, connect, process_exception, unix_connect
from .connection import Connection, Data, State
from .server import (
    Server,
    ServerConnection,
    basic_auth,
    broadcast,
    route,
    serve,
    unix_serve,
)

__all__ = [
    "ClientConnection",
    "CloseCode",
    "ConcurrencyError",
    "Connection",
    "ConnectionClosed",
    "ConnectionClosedError",
    "ConnectionClosedOK",
    "Data",
    "Headers",
    "InvalidHandshake",
    "InvalidStatus",
    "InvalidURI",
    "ProxyError",
    "Request",
    "Response",
    "Server",
    "ServerConnection",
    "State",
    "basic_auth",
    "broadcast",
    "connect",
    "process_exception",
    "route",
    "serve",
    "unix_connect",
    "unix_serve",
]
