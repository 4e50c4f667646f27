"""Sans-I/O WebSocket client: the opening handshake, then the shared core."""

from __future__ import annotations

from typing import Any, List, Optional, Sequence

from .._core.protocol import CONNECTING, MaxSize, Protocol, Side, State
from ..exceptions import (
    InvalidHandshake,
    InvalidHeader,
    InvalidHeaderValue,
    InvalidMessage,
    InvalidStatus,
    NegotiationError,
)
from ..extensions.base import ClientExtensionFactory, Extension
from ..handshake import (
    accept_key,
    build_authorization_basic,
    build_extension,
    build_host,
    build_subprotocol,
    check_upgrade,
    generate_key,
    parse_extension,
    parse_subprotocol,
    single_value,
)
from ..http import Headers, Request, Response, ResponseReader
from ..uri import WebSocketURI

__all__ = ["ClientProtocol"]


class ClientProtocol(Protocol):
    """Sans-I/O implementation of a WebSocket client connection.

    :param uri: URI of the server, from :func:`wirespeed.uri.parse_uri`.
    :param origin: value of the ``Origin`` header, for servers that check it.
    :param extensions: extensions to offer, in order of preference.
    :param subprotocols: subprotocols to offer, in order of preference.
    :param state: initial state: CONNECTING, or OPEN to skip the handshake.
    :param max_size: maximum size of incoming messages (see :class:`Protocol`).
    :param logger: logger for this connection; defaults to
        ``logging.getLogger("wirespeed.client")``.

    Call :meth:`connect` to build the handshake request, :meth:`send_request`
    to send it; the server's answer arrives as a :class:`~wirespeed.http.Response`
    event. If the handshake fails, :attr:`handshake_exc` says why.
    """

    def __init__(
        self,
        uri: WebSocketURI,
        *,
        origin: Optional[str] = None,
        extensions: Optional[Sequence[ClientExtensionFactory]] = None,
        subprotocols: Optional[Sequence[str]] = None,
        state: State = CONNECTING,
        max_size: MaxSize = 2**20,
        logger: Optional[Any] = None,
    ) -> None:
        super().__init__(Side.CLIENT, state=state, max_size=max_size, logger=logger)
        self.uri = uri
        self.origin = origin
        self.available_extensions = extensions
        self.available_subprotocols = subprotocols
        self.key = generate_key()
        #: Subprotocol selected by the server, if any.
        self.subprotocol: Optional[str] = None
        #: Handshake request sent, once :meth:`send_request` is called.
        self.request: Optional[Request] = None
        #: Handshake response received, once it arrived.
        self.response: Optional[Response] = None
        self.response_reader = ResponseReader()

    def connect(self) -> Request:
        """Create the handshake request to open a connection.

        Send it with :meth:`send_request`. You may add or change headers
        before that.
        """
        headers = Headers()
        headers["Host"] = build_host(self.uri.host, self.uri.port, self.uri.secure)
        if self.uri.user_info is not None:
            headers["Authorization"] = build_authorization_basic(*self.uri.user_info)
        if self.origin is not None:
            headers["Origin"] = self.origin
        headers["Upgrade"] = "websocket"
        headers["Connection"] = "Upgrade"
        headers["Sec-WebSocket-Key"] = self.key
        headers["Sec-WebSocket-Version"] = "13"
        if self.available_extensions:
            headers["Sec-WebSocket-Extensions"] = build_extension(
                [
                    (factory.name, factory.get_request_params())
                    for factory in self.available_extensions
                ]
            )
        if self.available_subprotocols:
            headers["Sec-WebSocket-Protocol"] = build_subprotocol(self.available_subprotocols)
        return Request(self.uri.resource_name, headers)

    def send_request(self, request: Request) -> None:
        """Send a handshake request to the server."""
        if self.debug:
            self.logger.debug("> %s %s HTTP/1.1", request.method, request.path)
            for name, value in request.headers.raw_items():
                if name.lower() in ("authorization", "cookie"):
                    value = "<hidden>"
                self.logger.debug("> %s: %s", name, value)
        self.request = request
        self.writes.append(request.serialize())

    def process_response(self, response: Response) -> List[Extension]:
        """Check the handshake response and negotiate extensions and subprotocol.

        :raises InvalidHandshake: if the response does not open the connection.
        """
        if response.status_code != 101:
            raise InvalidStatus(response)
        headers = response.headers

        check_upgrade(headers)
        accept = single_value(headers, "Sec-WebSocket-Accept")
        if accept != accept_key(self.key):
            raise InvalidHeaderValue("Sec-WebSocket-Accept", accept)

        extensions = self.process_extensions(headers)
        self.subprotocol = self.process_subprotocol(headers)
        return extensions

    def process_extensions(self, headers: Headers) -> List[Extension]:
        """Build the extensions that the server accepted, in its order."""
        accepted: List[Extension] = []
        values = headers.get_all("Sec-WebSocket-Extensions")
        if not values:
            return accepted
        if not self.available_extensions:
            raise NegotiationError("no extensions supported")
        for name, params in [item for value in values for item in parse_extension(value)]:
            refusal: Optional[NegotiationError] = None
            for factory in self.available_extensions:
                if factory.name != name:
                    continue
                try:
                    extension = factory.process_response_params(params, accepted)
                except NegotiationError as exc:
                    refusal = exc
                    continue
                accepted.append(extension)
                break
            else:
                message = f"unsupported extension: name = {name}, params = {params}"
                if refusal is not None:
                    message = f"{message}: {refusal}"
                raise NegotiationError(message) from refusal
        return accepted

    def process_subprotocol(self, headers: Headers) -> Optional[str]:
        """Return the subprotocol that the server selected, if any."""
        values = headers.get_all("Sec-WebSocket-Protocol")
        if not values:
            return None
        if not self.available_subprotocols:
            raise NegotiationError("no subprotocols supported")
        selected = [item for value in values for item in parse_subprotocol(value)]
        if len(selected) > 1:
            raise InvalidHeader("Sec-WebSocket-Protocol", f"multiple values: {', '.join(selected)}")
        if selected[0] not in self.available_subprotocols:
            raise NegotiationError(f"unsupported subprotocol: {selected[0]}")
        return selected[0]

    # Hooks called by Protocol in the CONNECTING state.

    def receive_handshake_data(self, data: bytes) -> None:
        try:
            response = self.response_reader.feed(data)
        except Exception as exc:
            self.fail_handshake(InvalidMessage("did not receive a valid HTTP response"), exc)
            return
        if response is not None:
            self.handle_response(response)

    def receive_handshake_eof(self) -> None:
        try:
            response = self.response_reader.feed_eof()
        except Exception as exc:
            self.fail_handshake(InvalidMessage("did not receive a valid HTTP response"), exc)
            return
        if response is not None:
            self.handle_response(response)

    def handle_response(self, response: Response) -> None:
        if self.debug:
            self.logger.debug("< HTTP/1.1 %d %s", response.status_code, response.reason_phrase)
            for name, value in response.headers.raw_items():
                self.logger.debug("< %s: %s", name, value)
        self.response = response
        try:
            extensions = self.process_response(response)
        except InvalidHandshake as exc:
            self.events.append(response)
            self.fail_handshake(exc, None)
            return
        self.events.append(response)
        self.logger.info("connection open")
        self.start_frames(extensions, self.response_reader.leftover)
