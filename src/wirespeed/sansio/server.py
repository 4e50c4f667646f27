"""Sans-I/O WebSocket server: the opening handshake, then the shared core."""

from __future__ import annotations

import email.utils
import http
import re
from typing import Any, Callable, List, Optional, Sequence, Tuple, Union

from .._core.protocol import CONNECTING, MaxSize, Protocol, Side, State
from ..exceptions import (
    InvalidHandshake,
    InvalidHeader,
    InvalidHeaderValue,
    InvalidMessage,
    InvalidMethod,
    InvalidOrigin,
    InvalidProtocol,
    InvalidStatus,
    InvalidUpgrade,
    NegotiationError,
)
from ..extensions.base import Extension, ServerExtensionFactory
from ..handshake import (
    accept_key,
    build_extension,
    check_upgrade,
    is_valid_key,
    parse_extension,
    parse_subprotocol,
    single_value,
)
from ..http import MAX_BODY_SIZE, Headers, Request, RequestReader, Response

__all__ = ["ServerProtocol"]

Origin = Union[str, "re.Pattern[str]", None]
SelectSubprotocol = Callable[["ServerProtocol", Sequence[str]], Optional[str]]

BROWSER_HINT = (
    "\n\nYou cannot access a WebSocket server directly with a browser. "
    "You need a WebSocket client.\n"
)


class ServerProtocol(Protocol):
    """Sans-I/O implementation of a WebSocket server connection.

    :param origins: acceptable values of the ``Origin`` header: strings,
        compiled regular expressions (matched in full), and ``None`` to accept
        requests without the header. ``None`` (the default) skips the check.
    :param extensions: extensions the server supports, in order of preference.
    :param subprotocols: subprotocols the server supports, in order of preference.
    :param select_subprotocol: ``select_subprotocol(protocol, subprotocols)``
        picks a subprotocol among the client's offers, or returns ``None``;
        it may raise :class:`~wirespeed.exceptions.NegotiationError` to reject
        the connection. The default picks the first of ``subprotocols`` that the
        client offers.
    :param state: initial state: CONNECTING, or OPEN to skip the handshake.
    :param max_size: maximum size of incoming messages (see :class:`Protocol`).
    :param logger: logger for this connection; defaults to
        ``logging.getLogger("wirespeed.server")``.

    The client's request arrives as a :class:`~wirespeed.http.Request` event.
    Answer it with :meth:`accept` or :meth:`reject`, then :meth:`send_response`.
    """

    def __init__(
        self,
        *,
        origins: Optional[Sequence[Origin]] = None,
        extensions: Optional[Sequence[ServerExtensionFactory]] = None,
        subprotocols: Optional[Sequence[str]] = None,
        select_subprotocol: Optional[SelectSubprotocol] = None,
        state: State = CONNECTING,
        max_size: MaxSize = 2**20,
        logger: Optional[Any] = None,
    ) -> None:
        super().__init__(Side.SERVER, state=state, max_size=max_size, logger=logger)
        self.origins = origins
        self.available_extensions = extensions
        self.available_subprotocols = subprotocols
        if select_subprotocol is not None:
            # Bind the callable so that it's called as select_subprotocol(protocol, ...).
            self.select_subprotocol = select_subprotocol.__get__(self, type(self))  # type: ignore[method-assign]
        #: Subprotocol selected for the connection, if any.
        self.subprotocol: Optional[str] = None
        #: Handshake request received, once it arrived.
        self.request: Optional[Request] = None
        #: Handshake response sent, once :meth:`send_response` was called.
        self.response: Optional[Response] = None
        self.request_reader: Optional[RequestReader] = RequestReader()
        # Frames that arrive before the response is sent wait here.
        self.early_data = bytearray()
        self.negotiated_extensions: List[Extension] = []

    def accept(self, request: Request) -> Response:
        """Create a handshake response to accept the connection.

        If the request is not a valid WebSocket handshake, the response is an
        HTTP error instead, with a body that explains it, and
        :attr:`handshake_exc` is set:

        ====== =====================================================
        status when
        ====== =====================================================
        405    the method is not GET
        505    the protocol is not HTTP/1.1
        426    Upgrade or Connection don't ask for a WebSocket, or
               Sec-WebSocket-Version is not 13
        400    Sec-WebSocket-Key is missing or invalid, or a
               subprotocol or extension can't be negotiated
        403    the Origin is not allowed
        500    an unexpected error (logged)
        ====== =====================================================

        Send the response with :meth:`send_response`.
        """
        try:
            key, extensions_header, subprotocol_header = self.process_request(request)
        except InvalidMethod as exc:
            return self.reject_for(exc, http.HTTPStatus.METHOD_NOT_ALLOWED, [("Allow", "GET")])
        except InvalidProtocol as exc:
            return self.reject_for(exc, http.HTTPStatus.HTTP_VERSION_NOT_SUPPORTED)
        except InvalidOrigin as exc:
            return self.reject_for(exc, http.HTTPStatus.FORBIDDEN)
        except InvalidUpgrade as exc:
            return self.reject_for(
                exc,
                http.HTTPStatus.UPGRADE_REQUIRED,
                [("Upgrade", "websocket")],
                hint=BROWSER_HINT,
            )
        except InvalidHeader as exc:
            if exc.name.lower() == "sec-websocket-version":
                return self.reject_for(
                    exc, http.HTTPStatus.UPGRADE_REQUIRED, [("Sec-WebSocket-Version", "13")]
                )
            return self.reject_for(exc, http.HTTPStatus.BAD_REQUEST)
        except InvalidHandshake as exc:
            return self.reject_for(exc, http.HTTPStatus.BAD_REQUEST)
        except Exception as exc:
            self.logger.error("opening handshake failed", exc_info=True)
            self.handshake_exc = exc
            return self.reject(
                http.HTTPStatus.INTERNAL_SERVER_ERROR,
                "Failed to open a WebSocket connection.\nSee server log for more information.\n",
            )

        headers = Headers()
        headers["Date"] = email.utils.formatdate(usegmt=True)
        headers["Upgrade"] = "websocket"
        headers["Connection"] = "Upgrade"
        headers["Sec-WebSocket-Accept"] = accept_key(key)
        if extensions_header is not None:
            headers["Sec-WebSocket-Extensions"] = extensions_header
        if subprotocol_header is not None:
            headers["Sec-WebSocket-Protocol"] = subprotocol_header
        return Response(101, "Switching Protocols", headers)

    def reject_for(
        self,
        exc: Exception,
        status: http.HTTPStatus,
        extra_headers: Sequence[Tuple[str, str]] = (),
        hint: str = "\n",
    ) -> Response:
        """Build the error response for a handshake that failed with ``exc``."""
        self.handshake_exc = exc
        if self.debug:
            self.logger.debug("! invalid handshake request: %s", exc)
        response = self.reject(status, f"Failed to open a WebSocket connection: {exc}.{hint}")
        for name, value in extra_headers:
            response.headers[name] = value
        return response

    def process_request(self, request: Request) -> Tuple[str, Optional[str], Optional[str]]:
        """Check the handshake request; negotiate extensions and subprotocol.

        Return the key, and the values of the ``Sec-WebSocket-Extensions`` and
        ``Sec-WebSocket-Protocol`` response headers.

        :raises InvalidHandshake: if the request is not acceptable.
        """
        if request.method != "GET":
            raise InvalidMethod(request.method)
        if request.protocol != "HTTP/1.1":
            raise InvalidProtocol(request.protocol)
        headers = request.headers

        check_upgrade(headers)
        key = single_value(headers, "Sec-WebSocket-Key")
        if not is_valid_key(key):
            raise InvalidHeaderValue("Sec-WebSocket-Key", key)
        version = single_value(headers, "Sec-WebSocket-Version")
        if version != "13":
            raise InvalidHeaderValue("Sec-WebSocket-Version", version)

        self.process_origin(headers)
        extensions_header, self.negotiated_extensions = self.process_extensions(headers)
        self.subprotocol = self.process_subprotocol(headers)
        return key, extensions_header, self.subprotocol

    def process_origin(self, headers: Headers) -> Optional[str]:
        """Check the ``Origin`` header against ``origins``.

        :raises InvalidOrigin: if it is not allowed.
        """
        values = headers.get_all("Origin")
        if len(values) > 1:
            raise InvalidHeader("Origin", "multiple values")
        origin = values[0] if values else None
        if self.origins is None:
            return origin
        for allowed in self.origins:
            if allowed is None or isinstance(allowed, str):
                if allowed == origin:
                    return origin
            elif origin is not None and allowed.fullmatch(origin):
                return origin
        raise InvalidOrigin(origin)

    def process_extensions(self, headers: Headers) -> Tuple[Optional[str], List[Extension]]:
        """Accept the first acceptable offer of each supported extension."""
        accepted: List[Extension] = []
        answers = []
        values = headers.get_all("Sec-WebSocket-Extensions")
        if values and self.available_extensions:
            for name, params in [item for value in values for item in parse_extension(value)]:
                for factory in self.available_extensions:
                    if factory.name != name:
                        continue
                    try:
                        response_params, extension = factory.process_request_params(
                            params, accepted
                        )
                    except NegotiationError:
                        continue
                    answers.append((name, response_params))
                    accepted.append(extension)
                    break
        return (build_extension(answers) if answers else None), accepted

    def process_subprotocol(self, headers: Headers) -> Optional[str]:
        """Select a subprotocol among those the client offers."""
        offered = [
            item
            for value in headers.get_all("Sec-WebSocket-Protocol")
            for item in parse_subprotocol(value)
        ]
        return self.select_subprotocol(offered)

    def select_subprotocol(self, subprotocols: Sequence[str]) -> Optional[str]:
        """Pick a subprotocol: the first of ours that the client offers, or None.

        Replace it with the ``select_subprotocol`` argument.
        """
        if not self.available_subprotocols:
            return None
        for subprotocol in self.available_subprotocols:
            if subprotocol in subprotocols:
                return subprotocol
        return None

    def reject(self, status: Union[http.HTTPStatus, int], text: str) -> Response:
        """Create a handshake response to reject the connection.

        :param status: HTTP status code.
        :param text: body of the response, sent as ``text/plain``.
        :raises ValueError: if the body is larger than 1 MiB.
        """
        status = http.HTTPStatus(status)
        body = text.encode()
        if len(body) > MAX_BODY_SIZE:
            raise ValueError(f"response body of {len(body)} bytes exceeds {MAX_BODY_SIZE} bytes")
        headers = Headers()
        headers["Date"] = email.utils.formatdate(usegmt=True)
        headers["Connection"] = "close"
        headers["Content-Length"] = str(len(body))
        headers["Content-Type"] = "text/plain; charset=utf-8"
        return Response(status.value, status.phrase, headers, body)

    def send_response(self, response: Response) -> None:
        """Send a handshake response to the client.

        A 101 response opens the connection; any other closes it.
        """
        if self.debug:
            self.logger.debug("> HTTP/1.1 %d %s", response.status_code, response.reason_phrase)
            for name, value in response.headers.raw_items():
                self.logger.debug("> %s: %s", name, value)
        self.response = response
        self.writes.append(response.serialize())
        if response.status_code == 101:
            if self._state is not CONNECTING:
                # The client went away while the request was being processed.
                return
            self.logger.info("connection open")
            data = bytes(self.early_data)
            self.early_data = bytearray()
            self.start_frames(self.negotiated_extensions, data)
        else:
            self.logger.info(
                "connection rejected (%d %s)", response.status_code, response.reason_phrase
            )
            if self.handshake_exc is None:
                self.handshake_exc = InvalidStatus(response)
            if not self.eof_sent:
                self.send_eof()
            self.start_discarding()

    # Hooks called by Protocol in the CONNECTING state.

    def receive_handshake_data(self, data: bytes) -> None:
        reader = self.request_reader
        if reader is None:
            # The request arrived; frames wait for the response. Keep them within
            # the limit that would apply to them once the connection is open.
            self.early_data += data
            limit = self.max_message_size
            if limit is not None and len(self.early_data) > limit + 14 + 2**16:
                self.fail_handshake(
                    InvalidMessage("too much data received before the handshake response"),
                    None,
                )
            return
        try:
            request = reader.feed(data)
        except Exception as exc:
            self.fail_handshake(InvalidMessage("did not receive a valid HTTP request"), exc)
            return
        if request is None:
            return
        self.request_reader = None
        self.early_data += reader.leftover
        if self.debug:
            self.logger.debug("< %s %s %s", request.method, request.path, request.protocol)
            for name, value in request.headers.raw_items():
                if name.lower() in ("authorization", "cookie"):
                    value = "<hidden>"
                self.logger.debug("< %s: %s", name, value)
        self.request = request
        self.events.append(request)

    def receive_handshake_eof(self) -> None:
        reader = self.request_reader
        if reader is None:
            # The request arrived and the client left before the response.
            return
        try:
            reader.feed_eof()
        except Exception as exc:
            self.fail_handshake(InvalidMessage("did not receive a valid HTTP request"), exc)
            return
        self.fail_handshake(InvalidMessage("did not receive a valid HTTP request"), EOFError())
