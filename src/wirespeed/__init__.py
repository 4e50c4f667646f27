"""wirespeed: a fast, strictly conformant WebSocket library.

One compiled protocol core, four faces:

* :mod:`wirespeed.sansio` - the Sans-I/O ``Protocol`` API of websockets;
* :mod:`wirespeed` - the low-level listener/transport API of picows;
* :mod:`wirespeed.asyncio` - the ``connect``/``serve`` API of websockets;
* :mod:`wirespeed.sync` - blocking connections and websocket-client's
  ``WebSocketApp``.

:data:`COMPILED` tells whether the compiled core is active. Set the environment
variable ``WIRESPEED_NO_EXTENSIONS=1`` before importing wirespeed to run the
pure-Python implementation of the same code.
"""

from __future__ import annotations

from . import _implementation
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

__version__ = "0.1.0"

#: True when the compiled (Cython) core is in use, False on the pure-Python path.
COMPILED: bool = _implementation._detect()

__all__ = [
    "COMPILED",
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
    "WebSocketException",
    "__version__",
]
