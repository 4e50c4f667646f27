"""The Sans-I/O face: websockets' ``Protocol`` API, on wirespeed's core.

Nothing here does I/O. Feed bytes received from the network to
:meth:`~Protocol.receive_data` / :meth:`~Protocol.receive_eof`, process
:meth:`~Protocol.events_received`, write :meth:`~Protocol.data_to_send` to the
network, and close the connection when :meth:`~Protocol.close_expected` says so.

* :class:`Protocol` - an open connection, either side;
* :class:`ClientProtocol` - a client, from the opening handshake on;
* :class:`ServerProtocol` - a server, from the opening handshake on.
"""

from __future__ import annotations

from .._core.protocol import SEND_EOF, Protocol, Side, State
from ..frames import Close, CloseCode, Frame, Opcode
from ..http import Headers, Request, Response
from .client import ClientProtocol
from .server import ServerProtocol

__all__ = [
    "SEND_EOF",
    "ClientProtocol",
    "Close",
    "CloseCode",
    "Frame",
    "Headers",
    "Opcode",
    "Protocol",
    "Request",
    "Response",
    "ServerProtocol",
    "Side",
    "State",
]
