"""The interface between the protocol core and WebSocket extensions.

An extension is negotiated in the opening handshake through the
``Sec-WebSocket-Extensions`` header (RFC 6455, section 9):

* on the client, a :class:`ClientExtensionFactory` offers parameters and turns
  the server's answer into an :class:`Extension`;
* on the server, a :class:`ServerExtensionFactory` reads the client's offer and
  returns the parameters of its answer with an :class:`Extension`.

Once the connection is open, the core passes every received frame through the
negotiated extensions' :meth:`Extension.decode`, last negotiated first, and every
frame it sends through :meth:`Extension.encode`, first negotiated first. The
frame reader lets through the reserved bits that an extension declares with
``uses_rsv1``/``uses_rsv2``/``uses_rsv3``; :meth:`Extension.decode` must clear
them, since the core rejects any reserved bit still set after decoding.
"""

from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

from ..frames import Frame

__all__ = ["ClientExtensionFactory", "Extension", "ExtensionParameters", "ServerExtensionFactory"]

#: Parameters of one extension in a ``Sec-WebSocket-Extensions`` header:
#: ``[(name, value or None), ...]``.
ExtensionParameters = List[Tuple[str, Optional[str]]]


class Extension:
    """A negotiated extension, attached to one connection."""

    #: Registered name of the extension, e.g. ``"permessage-deflate"``.
    name: str = ""
    #: Reserved bits that frames may carry when this extension is active.
    uses_rsv1: bool = False
    uses_rsv2: bool = False
    uses_rsv3: bool = False

    def decode(self, frame: Frame, *, max_size: Optional[int] = None) -> Frame:
        """Decode a received frame.

        :param max_size: how many more bytes the current message may hold once
            decoded; the extension must raise
            :class:`~wirespeed.exceptions.PayloadTooBig` as soon as its output
            would exceed it, before producing that output.
        :raises ProtocolError: if the frame is not valid for the extension.
        """
        raise NotImplementedError

    def encode(self, frame: Frame) -> Frame:
        """Encode a frame about to be sent."""
        raise NotImplementedError


class ClientExtensionFactory:
    """Client-side negotiation of one extension."""

    name: str = ""

    def get_request_params(self) -> ExtensionParameters:
        """Parameters to offer in the handshake request."""
        raise NotImplementedError

    def process_response_params(
        self, params: ExtensionParameters, accepted_extensions: Sequence[Extension]
    ) -> Extension:
        """Build the extension from the server's answer.

        :param accepted_extensions: extensions accepted so far in the response.
        :raises NegotiationError: if the answer is not acceptable.
        """
        raise NotImplementedError


class ServerExtensionFactory:
    """Server-side negotiation of one extension."""

    name: str = ""

    def process_request_params(
        self, params: ExtensionParameters, accepted_extensions: Sequence[Extension]
    ) -> Tuple[ExtensionParameters, Extension]:
        """Answer one offer from the client.

        Return the parameters of the answer and the extension.

        :param accepted_extensions: extensions accepted so far for this request.
        :raises NegotiationError: to decline this offer (the next offer is tried).
        """
        raise NotImplementedError
