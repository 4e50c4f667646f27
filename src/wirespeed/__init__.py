"""wirespeed: a fast, strictly conformant WebSocket library.

One compiled protocol core, four faces:

* :mod:`wirespeed.sansio` - the Sans-I/O ``Protocol`` API of websockets;
* :mod:`wirespeed` - the low-level listener/transport API of picows
  (:func:`ws_connect`, :func:`ws_create_server`, :class:`WSListener`,
  :class:`WSTransport`, :class:`WSFrame`);
* :mod:`wirespeed.asyncio` - the ``connect``/``serve`` API of websockets;
* :mod:`wirespeed.sync` - blocking connections and websocket-client's
  ``WebSocketApp``.

:data:`COMPILED` tells whether the compiled core is active. Set the environment
variable ``WIRESPEED_NO_EXTENSIONS=1`` before importing wirespeed to run the
pure-Python implementation of the same code.
"""

from __future__ import annotations

from . import _implementation
from ._core.transport import (
    PICOWS_DEBUG_LL,
    WIRESPEED_DEBUG_LL,
    WSAutoPingStrategy,
    WSCloseCode,
    WSCloseHandshake,
    WSFrame,
    WSListener,
    WSMsgType,
    WSTransport,
)
from .exceptions import (
    ConcurrencyError,
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidHandshake,
    InvalidHeader,
    InvalidMessage,
    InvalidStatus,
    InvalidURI,
    PayloadTooBig,
    ProtocolError,
    WebSocketException,
)
from .frames import Close, CloseCode, Frame, Opcode
from .listener import (
    WSError,
    WSUpgradeRequest,
    WSUpgradeResponse,
    WSUpgradeResponseWithListener,
    ws_connect,
    ws_create_server,
)

__version__ = "0.1.0"

#: True when the compiled (Cython) core is in use, False on the pure-Python path.
COMPILED: bool = _implementation._detect()

__all__ = [
    "COMPILED",
    "PICOWS_DEBUG_LL",
    "WIRESPEED_DEBUG_LL",
    "Close",
    "CloseCode",
    "ConcurrencyError",
    "ConnectionClosed",
    "ConnectionClosedError",
    "ConnectionClosedOK",
    "Frame",
    "InvalidHandshake",
    "InvalidHeader",
    "InvalidMessage",
    "InvalidStatus",
    "InvalidURI",
    "Opcode",
    "PayloadTooBig",
    "ProtocolError",
    "WSAutoPingStrategy",
    "WSCloseCode",
    "WSCloseHandshake",
    "WSError",
    "WSFrame",
    "WSListener",
    "WSMsgType",
    "WSTransport",
    "WSUpgradeRequest",
    "WSUpgradeResponse",
    "WSUpgradeResponseWithListener",
    "WebSocketException",
    "__version__",
    "ws_connect",
    "ws_create_server",
]
