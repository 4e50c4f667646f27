"""HTTP/1.1 messages for the WebSocket opening handshake.

The opening handshake of RFC 6455 is one HTTP/1.1 request and one HTTP/1.1
response. This module holds what is needed to exchange them without doing any
I/O:

* :class:`Headers`, a case-insensitive, multi-valued header collection;
* :class:`Request` and :class:`Response`, value objects that serialize to
  bytes;
* :class:`RequestReader` and :class:`ResponseReader`, incremental parsers fed
  with whatever bytes the network delivers.

The readers never hold more than the configured limits in memory: a line that
cannot fit in :data:`MAX_LINE_LENGTH` is rejected as soon as enough bytes have
arrived to know it, before its end of line is seen.

Header values are decoded from and encoded to bytes with ISO-8859-1, which maps
every byte to one character, so any value received can be sent back unchanged.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from typing import NoReturn, Optional, Union

from .exceptions import (
    BodyTooLong,
    HeaderLineTooLong,
    InvalidMessage,
    InvalidState,
    RequestLineTooLong,
    StatusLineTooLong,
    TooManyHeaders,
)

__all__ = [
    "MAX_BODY_SIZE",
    "MAX_LINE_LENGTH",
    "MAX_NUM_HEADERS",
    "Headers",
    "HeadersLike",
    "MultipleValuesError",
    "Request",
    "RequestReader",
    "Response",
    "ResponseReader",
]

#: Longest request line, status line, header line or chunk-size line accepted,
#: in bytes, not counting the terminating CRLF.
MAX_LINE_LENGTH = 8192

#: Most header fields accepted in one message (trailer fields included).
MAX_NUM_HEADERS = 128

#: Largest response body accepted, in bytes.
MAX_BODY_SIZE = 2**20


# RFC 7230, section 3.2.6: token = 1*tchar.
_TCHARS = rb"!#$%&'*+\-.^_`|~0-9A-Za-z"
# VCHAR and obs-text, plus SP and HTAB: what a header value or reason phrase holds.
_TEXT = rb"\t\x20-\x7e\x80-\xff"

_REQUEST_LINE = re.compile(rb"([%s]+) ([\x21-\x7e]+) (HTTP/[0-9]\.[0-9])" % _TCHARS)
# The SP before an empty reason phrase is required of servers (RFC 9112,
# section 4); a missing one is tolerated.
_STATUS_LINE = re.compile(rb"(HTTP/[0-9]\.[0-9]) ([0-9]{3})(?: ([%s]*))?" % _TEXT)
_HEADER_LINE = re.compile(rb"([%s]+):[ \t]*([%s]*)" % (_TCHARS, _TEXT))
_CHUNK_SIZE_LINE = re.compile(rb"([0-9A-Fa-f]+)[ \t]*(?:;[%s]*)?" % _TEXT)

_NAME = re.compile(f"[{_TCHARS.decode()}]+")
_VALUE = re.compile(f"[{_TEXT.decode('latin-1')}]*")
_DIGITS = re.compile(r"[0-9]+")

# Content-Length values larger than this are clamped: no body is that long.
_MAX_CONTENT_LENGTH = 2**63 - 1


class MultipleValuesError(LookupError):
    """A header holds several values where exactly one was asked for."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(name)

    def __str__(self) -> str:
        return f"multiple values for header {self.name!r}"


class Headers(MutableMapping[str, str]):
    """HTTP header fields: a case-insensitive, multi-valued, ordered mapping.

    Names compare case-insensitively and keep the spelling they were given.
    Assigning adds a value; it never replaces one::

        >>> headers = Headers(Host="example.com")
        >>> headers["Sec-WebSocket-Extensions"] = "permessage-deflate"
        >>> headers["sec-websocket-extensions"] = "x-custom"
        >>> headers.get_all("Sec-WebSocket-Extensions")
        ['permessage-deflate', 'x-custom']

    As a mapping, a :class:`Headers` has one key per distinct name, lower-cased,
    in the order names first appeared. Reading a key returns its value when
    there is exactly one, raises :exc:`KeyError` when there is none and
    :exc:`MultipleValuesError` when there are several; the mapping views
    :meth:`values` and :meth:`items` read keys the same way. :meth:`get_all`
    and :meth:`raw_items` give every value. Deleting a key removes all its
    values.

    The constructor and :meth:`update` accept another :class:`Headers`, a
    mapping of names to values, an iterable of ``(name, value)`` pairs and
    keyword arguments.

    Names must be HTTP tokens and values may only hold visible characters,
    spaces, tabs and characters from U+0080 to U+00FF: anything that could
    break the framing of the message, like a line feed, raises
    :exc:`ValueError` when added.
    """

    __slots__ = ("_index", "_items")

    def __init__(self, other: HeadersLike = (), /, **kwargs: str) -> None:
        self._items: list[tuple[str, str]] = []
        self._index: dict[str, list[str]] = {}
        self.update(other, **kwargs)

    # Mapping interface.

    def __getitem__(self, name: str) -> str:
        values = self._index[name.lower()]
        if len(values) > 1:
            raise MultipleValuesError(name)
        return values[0]

    def __setitem__(self, name: str, value: str) -> None:
        if not isinstance(name, str) or not isinstance(value, str):
            raise TypeError(f"header names and values must be str; got {name!r}: {value!r}")
        if _NAME.fullmatch(name) is None:
            raise ValueError(f"invalid header name: {name!r}")
        if _VALUE.fullmatch(value) is None:
            raise ValueError(f"invalid value for header {name}: {value!r}")
        self._add(name, value)

    def __delitem__(self, name: str) -> None:
        key = name.lower()
        del self._index[key]
        self._items = [item for item in self._items if item[0].lower() != key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._index

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Headers):
            return NotImplemented
        if len(self._items) != len(other._items):
            return False
        return all(
            name.lower() == other_name.lower() and value == other_value
            for (name, value), (other_name, other_value) in zip(self._items, other._items)
        )

    def __str__(self) -> str:
        return "".join(f"{name}: {value}\r\n" for name, value in self._items) + "\r\n"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._items!r})"

    # Methods beyond Mapping.

    def update(self, other: HeadersLike = (), /, **kwargs: str) -> None:  # type: ignore[override]
        """Add every header of ``other`` and of ``kwargs``, keeping existing ones.

        ``other`` may be a :class:`Headers` (all its values are added), a
        mapping of names to values or an iterable of ``(name, value)`` pairs.
        """
        pairs: Iterable[tuple[str, str]]
        if isinstance(other, Headers):
            pairs = list(other._items)
        elif isinstance(other, Mapping):
            pairs = other.items()
        else:
            pairs = other
        for name, value in pairs:
            self[name] = value
        for name, value in kwargs.items():
            self[name] = value

    def get_all(self, name: str) -> list[str]:
        """Return every value of header ``name``, in order; an empty list if none."""
        return list(self._index.get(name.lower(), ()))

    def raw_items(self) -> Iterator[tuple[str, str]]:
        """Iterate over ``(name, value)`` pairs as added, names spelled as given."""
        return iter(self._items)

    def clear(self) -> None:
        """Remove every header."""
        self._items = []
        self._index = {}

    def copy(self) -> Headers:
        """Return a shallow copy: changing it leaves this collection untouched."""
        clone = type(self)()
        clone._items = list(self._items)
        clone._index = {key: list(values) for key, values in self._index.items()}
        return clone

    def serialize(self) -> bytes:
        """Return the header block: one ``Name: value`` line per value, then CRLF."""
        return str(self).encode("latin-1")

    def _add(self, name: str, value: str) -> None:
        """Append a header without validating it (for already parsed input)."""
        self._items.append((name, value))
        self._index.setdefault(name.lower(), []).append(value)


#: What :class:`Headers` and :meth:`Headers.update` accept.
HeadersLike = Union[Headers, Mapping[str, str], Iterable[tuple[str, str]]]


@dataclasses.dataclass
class Request:
    """An HTTP request, as sent by a client to open a WebSocket connection.

    ``path`` is the request target; it must be ASCII (see
    :func:`wirespeed.uri.parse_uri`, which percent-encodes it).
    """

    path: str
    headers: Headers
    method: str = "GET"
    protocol: str = "HTTP/1.1"

    def serialize(self) -> bytes:
        """Return the request line and the header block, ready to send."""
        request_line = f"{self.method} {self.path} {self.protocol}\r\n".encode("ascii")
        return request_line + self.headers.serialize()


@dataclasses.dataclass
class Response:
    """An HTTP response, as sent by a server to accept or reject a handshake."""

    status_code: int
    reason_phrase: str
    headers: Headers
    body: bytes = b""
    protocol: str = "HTTP/1.1"

    def serialize(self) -> bytes:
        """Return the status line, the header block and the body, ready to send.

        The body is appended as is: framing it, with a ``Content-Length``
        header for instance, is up to whoever builds the response.
        """
        status_line = f"{self.protocol} {self.status_code:d} {self.reason_phrase}\r\n"
        return status_line.encode("latin-1") + self.headers.serialize() + self.body


class _State(enum.Enum):
    """Where a reader stands in the message."""

    START_LINE = "start line"
    HEADERS = "headers"
    BODY_LENGTH = "body"
    BODY_EOF = "body delimited by end of stream"
    CHUNK_SIZE = "chunk size"
    CHUNK_DATA = "chunk data"
    CHUNK_END = "end of chunk"
    TRAILERS = "trailers"
    DONE = "done"
    FAILED = "failed"


def _show(line: bytes, limit: int = 80) -> str:
    """Render the start of a received line for an error message."""
    if len(line) <= limit:
        return repr(line)
    return f"{line[:limit]!r}..."


def _content_length(headers: Headers) -> Optional[int]:
    """Return the value of the Content-Length header, or ``None`` if absent.

    Repeated identical values, like ``Content-Length: 42, 42``, are accepted
    (RFC 7230, section 3.3.2); differing or malformed values raise
    :exc:`InvalidMessage`.
    """
    lengths: set[int] = set()
    for value in headers.get_all("Content-Length"):
        for element in value.split(","):
            digits = element.strip(" \t")
            if _DIGITS.fullmatch(digits) is None:
                raise InvalidMessage(f"invalid Content-Length header: {value!r}")
            digits = digits.lstrip("0") or "0"
            length = int(digits) if len(digits) <= 18 else _MAX_CONTENT_LENGTH
            lengths.add(length)
    if not lengths:
        return None
    if len(lengths) > 1:
        raise InvalidMessage("conflicting Content-Length headers")
    return lengths.pop()


class _MessageReader:
    """Line splitting and header parsing shared by the request and response readers.

    Received bytes accumulate in ``_buffer``; ``_pos`` is where the unread part
    starts and ``_scan`` where the search for the next line feed resumes, so no
    byte is searched twice. Consumed bytes are dropped at the end of each
    :meth:`feed`.
    """

    #: Names the start line in error messages.
    _start_line_name: str
    #: Names the message in error messages.
    _message_name: str

    def __init__(self, max_line_length: int, max_num_headers: int) -> None:
        self.max_line_length = max_line_length
        self.max_num_headers = max_num_headers
        self._buffer = bytearray()
        self._pos = 0
        self._scan = 0
        self._state = _State.START_LINE
        self._headers = Headers()
        self._num_fields = 0
        self._leftover = b""

    @property
    def complete(self) -> bool:
        """Whether the whole message was received."""
        return self._state is _State.DONE

    @property
    def leftover(self) -> bytes:
        """Bytes received after the end of the message.

        Empty until the message is complete. After a ``101 Switching
        Protocols`` response or an upgrade request, these bytes belong to the
        next protocol: the first WebSocket frames.
        """
        return self._leftover

    def _check_can_feed(self) -> None:
        if self._state is _State.DONE:
            raise InvalidState(f"the HTTP {self._message_name} is already complete")
        if self._state is _State.FAILED:
            raise InvalidState(f"reading the HTTP {self._message_name} failed earlier")

    def _append(self, data: bytes) -> None:
        self._check_can_feed()
        self._buffer += data

    def _compact(self) -> None:
        """Drop the consumed part of the buffer."""
        if self._pos:
            del self._buffer[: self._pos]
            self._scan = max(self._scan - self._pos, 0)
            self._pos = 0

    def _finish(self) -> None:
        """Mark the message complete; what remains in the buffer is leftover."""
        self._leftover = bytes(self._buffer[self._pos :])
        self._buffer = bytearray()
        self._pos = self._scan = 0
        self._state = _State.DONE

    def _fail(self) -> None:
        self._buffer = bytearray()
        self._pos = self._scan = 0
        self._state = _State.FAILED

    def _read_line(self, too_long: type[InvalidMessage], what: str) -> Optional[bytes]:
        """Return the next line without its CRLF, or ``None`` if it isn't complete yet.

        Raises ``too_long`` as soon as the buffered bytes can no longer be the
        start of a line within the limit, without waiting for its end.
        """
        buffer = self._buffer
        start = self._pos
        limit = self.max_line_length
        # A valid line feed can be no further than CR after limit bytes.
        end = buffer.find(b"\n", max(self._scan, start), start + limit + 2)
        if end == -1:
            # Past the limit, only the CR of a CRLF may still be pending.
            excess = len(buffer) - start - limit
            if excess > 1 or (excess == 1 and buffer[-1] != 0x0D):
                raise too_long(f"{what} is longer than {limit} bytes")
            self._scan = len(buffer)
            return None
        if end == start or buffer[end - 1] != 0x0D:
            raise InvalidMessage(f"{what} ends with a bare LF; expected CRLF")
        self._pos = self._scan = end + 1
        return bytes(buffer[start : end - 1])

    def _read_header_block(self, headers: Optional[Headers]) -> bool:
        """Read header lines up to the empty line; return whether it was reached.

        Fields are added to ``headers``, or only checked when it is ``None``.
        """
        while True:
            line = self._read_line(HeaderLineTooLong, "HTTP header line")
            if line is None:
                return False
            if not line:
                return True
            if self._num_fields >= self.max_num_headers:
                raise TooManyHeaders(f"more than {self.max_num_headers} HTTP headers")
            if line[0] in b" \t":
                raise InvalidMessage(
                    f"HTTP header line starts with whitespace "
                    f"(obsolete line folding isn't supported): {_show(line)}"
                )
            match = _HEADER_LINE.fullmatch(line)
            if match is None:
                raise InvalidMessage(f"invalid HTTP header line: {_show(line)}")
            self._num_fields += 1
            if headers is not None:
                name, value = match.groups()
                headers._add(name.decode("ascii"), value.rstrip(b" \t").decode("latin-1"))

    def _raise_eof(self) -> NoReturn:
        """Fail because the stream ended before the message was complete."""
        state = self._state
        if state is _State.FAILED:
            raise InvalidState(f"reading the HTTP {self._message_name} failed earlier")
        self._fail()
        if state is _State.START_LINE:
            where = self._start_line_name
        elif state is _State.HEADERS:
            where = "headers"
        elif state is _State.TRAILERS:
            where = "trailers"
        else:
            where = "body"
        raise EOFError(f"connection closed while reading HTTP {where}")


class RequestReader(_MessageReader):
    """Incremental parser of the handshake request, received by a server.

    Feed it bytes as they arrive with :meth:`feed` until it returns a
    :class:`Request`; bytes that followed the request are then in
    :attr:`leftover`. Call :meth:`feed_eof` if the connection closes first.

    Any method and any ``HTTP/x.y`` version are accepted here, so that the
    server can answer them with 405 or 505; anything that doesn't follow the
    HTTP/1.1 syntax raises :exc:`InvalidMessage`, and so does a request with a body,
    which the opening handshake never has. Going over a limit raises the
    matching subclass: :exc:`RequestLineTooLong`, :exc:`HeaderLineTooLong` or
    :exc:`TooManyHeaders`.

    After an exception, or once the request is complete, the reader accepts
    no more data.
    """

    _start_line_name = "request line"
    _message_name = "request"

    def __init__(
        self,
        *,
        max_line_length: int = MAX_LINE_LENGTH,
        max_num_headers: int = MAX_NUM_HEADERS,
    ) -> None:
        super().__init__(max_line_length, max_num_headers)
        self._method = ""
        self._path = ""
        self._protocol = ""

    def feed(self, data: bytes) -> Optional[Request]:
        """Process received bytes; return the request once it is complete, else ``None``.

        Raises :exc:`InvalidMessage` (or one of its subclasses) when the
        request is invalid and :exc:`InvalidState` if the reader is done.
        """
        self._append(data)
        try:
            request = self._parse()
        except Exception:
            self._fail()
            raise
        if request is None:
            self._compact()
        return request

    def feed_eof(self) -> None:
        """Signal that the connection was closed.

        Raises :exc:`EOFError` unless a whole request was received, and
        :exc:`InvalidState` if reading the request failed earlier.
        """
        if self._state is not _State.DONE:
            self._raise_eof()

    def _parse(self) -> Optional[Request]:
        if self._state is _State.START_LINE:
            line = self._read_line(RequestLineTooLong, "HTTP request line")
            if line is None:
                return None
            match = _REQUEST_LINE.fullmatch(line)
            if match is None:
                raise InvalidMessage(f"invalid HTTP request line: {_show(line)}")
            method, path, protocol = match.groups()
            self._method = method.decode("ascii")
            self._path = path.decode("ascii")
            self._protocol = protocol.decode("ascii")
            self._state = _State.HEADERS

        if not self._read_header_block(self._headers):
            return None
        headers = self._headers
        if "Transfer-Encoding" in headers:
            raise InvalidMessage("unsupported request body: Transfer-Encoding header present")
        length = _content_length(headers)
        if length:
            raise InvalidMessage(f"unsupported request body: Content-Length is {length}")
        self._finish()
        return Request(self._path, headers, self._method, self._protocol)


class ResponseReader(_MessageReader):
    """Incremental parser of the handshake response, received by a client.

    Feed it bytes as they arrive with :meth:`feed` until it returns a
    :class:`Response`, and call :meth:`feed_eof` when the connection closes:
    a body that runs to the end of the stream is only complete then.

    Responses with status 1xx, 204 or 304 have no body. Other bodies are
    framed by ``Transfer-Encoding: chunked`` (decoded here, trailers are
    checked and dropped), by ``Content-Length``, or else by the end of the
    stream. Bytes that followed the response are in :attr:`leftover` once it
    is complete; after ``101 Switching Protocols`` they are WebSocket frames.

    Invalid responses raise :exc:`InvalidMessage`; going over a limit raises
    :exc:`StatusLineTooLong`, :exc:`HeaderLineTooLong`,
    :exc:`TooManyHeaders` or :exc:`BodyTooLong`. A body announced as larger
    than ``max_body_size`` is rejected before any of it arrives.

    After an exception, or once the response is complete, the reader accepts
    no more data.
    """

    _start_line_name = "status line"
    _message_name = "response"

    def __init__(
        self,
        *,
        max_line_length: int = MAX_LINE_LENGTH,
        max_num_headers: int = MAX_NUM_HEADERS,
        max_body_size: int = MAX_BODY_SIZE,
    ) -> None:
        super().__init__(max_line_length, max_num_headers)
        self.max_body_size = max_body_size
        self._protocol = ""
        self._status_code = 0
        self._reason_phrase = ""
        self._body = bytearray()
        self._remaining = 0  # bytes left in the body or in the current chunk

    def feed(self, data: bytes) -> Optional[Response]:
        """Process received bytes; return the response once it is complete, else ``None``.

        Raises :exc:`InvalidMessage` (or one of its subclasses) when the
        response is invalid and :exc:`InvalidState` if the reader is done.
        """
        self._append(data)
        try:
            response = self._parse()
        except Exception:
            self._fail()
            raise
        if response is None:
            self._compact()
        return response

    def feed_eof(self) -> Optional[Response]:
        """Signal that the connection was closed.

        Return the response if its body was delimited by the end of the
        stream; return ``None`` if the response was already complete; raise
        :exc:`EOFError` if the connection closed in the middle of it, and
        :exc:`InvalidState` if reading the response failed earlier.
        """
        state = self._state
        if state is _State.DONE:
            return None
        if state is _State.BODY_EOF:
            self._finish()
            return self._response()
        self._raise_eof()

    def _response(self) -> Response:
        return Response(
            self._status_code,
            self._reason_phrase,
            self._headers,
            bytes(self._body),
            self._protocol,
        )

    def _parse(self) -> Optional[Response]:
        if self._state is _State.START_LINE:
            line = self._read_line(StatusLineTooLong, "HTTP status line")
            if line is None:
                return None
            self._parse_status_line(line)
            self._state = _State.HEADERS

        if self._state is _State.HEADERS:
            if not self._read_header_block(self._headers):
                return None
            self._state = self._body_framing()

        while True:
            state = self._state
            if state is _State.DONE:  # set by _body_framing: there is no body
                self._finish()
                return self._response()
            if state is _State.BODY_LENGTH:
                self._read_data()
                if self._remaining:
                    return None
                self._finish()
                return self._response()
            if state is _State.BODY_EOF:
                self._read_to_eof()
                return None
            if state is _State.CHUNK_SIZE:
                if not self._read_chunk_size():
                    return None
            elif state is _State.CHUNK_DATA:
                self._read_data()
                if self._remaining:
                    return None
                self._state = _State.CHUNK_END
            elif state is _State.CHUNK_END:
                if not self._read_chunk_end():
                    return None
            else:  # _State.TRAILERS
                if not self._read_header_block(None):
                    return None
                self._finish()
                return self._response()

    def _parse_status_line(self, line: bytes) -> None:
        match = _STATUS_LINE.fullmatch(line)
        if match is None:
            raise InvalidMessage(f"invalid HTTP status line: {_show(line)}")
        protocol, status_code, reason_phrase = match.groups()
        code = int(status_code)
        if not 100 <= code <= 599:
            raise InvalidMessage(f"invalid HTTP status code: {code}")
        self._protocol = protocol.decode("ascii")
        self._status_code = code
        self._reason_phrase = (reason_phrase or b"").decode("latin-1")

    def _body_framing(self) -> _State:
        """Choose how the body ends, per RFC 7230, section 3.3.3."""
        code = self._status_code
        if code < 200 or code in (204, 304):
            return _State.DONE
        headers = self._headers
        if "Transfer-Encoding" in headers:
            codings = [
                coding.strip(" \t").lower()
                for value in headers.get_all("Transfer-Encoding")
                for coding in value.split(",")
            ]
            codings = [coding for coding in codings if coding]
            if not codings or "chunked" in codings[:-1]:
                value = ", ".join(headers.get_all("Transfer-Encoding"))
                raise InvalidMessage(f"invalid Transfer-Encoding header: {value!r}")
            # Transfer-Encoding overrides Content-Length.
            return _State.CHUNK_SIZE if codings[-1] == "chunked" else _State.BODY_EOF
        length = _content_length(headers)
        if length is None:
            return _State.BODY_EOF
        if length > self.max_body_size:
            raise BodyTooLong(
                f"body of {length} bytes exceeds the limit of {self.max_body_size} bytes"
            )
        self._remaining = length
        return _State.BODY_LENGTH

    def _read_data(self) -> None:
        """Move up to ``_remaining`` buffered bytes to the body."""
        start = self._pos
        end = min(start + self._remaining, len(self._buffer))
        self._body += self._buffer[start:end]
        self._remaining -= end - start
        self._pos = end

    def _read_to_eof(self) -> None:
        """Move every buffered byte to a body delimited by the end of the stream."""
        size = len(self._body) + len(self._buffer) - self._pos
        if size > self.max_body_size:
            raise BodyTooLong(f"body exceeds the limit of {self.max_body_size} bytes")
        self._body += self._buffer[self._pos :]
        self._pos = len(self._buffer)

    def _read_chunk_size(self) -> bool:
        line = self._read_line(InvalidMessage, "chunk size line")
        if line is None:
            return False
        match = _CHUNK_SIZE_LINE.fullmatch(line)
        if match is None:
            raise InvalidMessage(f"invalid chunk size line: {_show(line)}")
        digits = match.group(1).lstrip(b"0") or b"0"
        available = self.max_body_size - len(self._body)
        if len(digits) > 16 or int(digits, 16) > available:
            raise BodyTooLong(f"chunked body exceeds the limit of {self.max_body_size} bytes")
        size = int(digits, 16)
        if size == 0:
            self._state = _State.TRAILERS
        else:
            self._remaining = size
            self._state = _State.CHUNK_DATA
        return True

    def _read_chunk_end(self) -> bool:
        end = self._buffer[self._pos : self._pos + 2]
        if not b"\r\n".startswith(end):
            raise InvalidMessage("chunk data isn't followed by CRLF")
        if len(end) < 2:
            return False
        self._pos += 2
        self._scan = self._pos
        self._state = _State.CHUNK_SIZE
        return True
