"""Incremental UTF-8 validation (RFC 3629), pure-Python implementation.

The payload of a WebSocket text message must be valid UTF-8 (RFC 6455,
section 8.1), and a receiver should fail the connection as soon as it sees a
byte that cannot belong to valid UTF-8, even when the message arrives in
several frames and each frame in several reads. :class:`Utf8Validator` checks
a message chunk by chunk, with chunk boundaries anywhere, even inside a
multi-byte character.

A byte is rejected as soon as no valid continuation is possible: ``C0``,
``C1`` and ``F5``..``FF`` anywhere; a continuation byte (``80``..``BF``) where
no sequence is open; a byte other than a continuation byte inside a sequence;
and the second byte of the leads whose second byte is restricted: after
``E0`` it must be ``A0``..``BF`` (no overlong form), after ``ED``
``80``..``9F`` (no surrogate), after ``F0`` ``90``..``BF`` (no overlong form)
and after ``F4`` ``80``..``8F`` (nothing above U+10FFFF).

Errors are :exc:`UnicodeDecodeError` instances that locate the offending byte
*in the chunk being fed*: ``UnicodeDecodeError("utf-8", bytes(chunk), start,
start + 1, reason)``, where ``reason`` is ``"invalid start byte"`` when the
byte cannot start a character and ``"invalid continuation byte"`` when it
cannot continue the open sequence (``start`` is 0 when that sequence began in
an earlier chunk). This differs from :meth:`bytes.decode`, which reports the
start of the malformed sequence, but uses the same wording.

This module is the reference implementation and the one used on the
pure-Python path (``WIRESPEED_NO_EXTENSIONS=1``). When the package is built
with Cython, the extension compiled from ``utf8.pyx`` has the same module name
and takes its place, with exactly the same behaviour. The pure version lets
CPython's UTF-8 decoder do the bulk of the work and checks the few bytes of a
sequence left open at the end of a chunk itself, since the decoder defers some
verdicts on those (it waits for the third byte of ``ED A0``, for instance).
"""

from __future__ import annotations

import codecs
from typing import Tuple, Union

__all__ = ["Utf8Validator"]

#: Anything :meth:`Utf8Validator.feed` accepts.
BufferLike = Union[bytes, bytearray, memoryview]

_decode = codecs.utf_8_decode

_INVALID_START = "invalid start byte"
_INVALID_CONTINUATION = "invalid continuation byte"


def _lead_rule(lead: int) -> Tuple[int, int, int]:
    """Describe the sequence that ``lead`` starts.

    Returns ``(continuation_bytes, low, high)``: how many continuation bytes
    must follow, and the range allowed for the first of them (the others must
    be in ``80..BF``). ``continuation_bytes`` is -1 if ``lead`` cannot start a
    character and 0 for ASCII.
    """
    if lead < 0x80:
        return 0, 0, 0
    if lead < 0xC2:
        return -1, 0, 0
    if lead < 0xE0:
        return 1, 0x80, 0xBF
    if lead < 0xF0:
        if lead == 0xE0:
            return 2, 0xA0, 0xBF
        if lead == 0xED:
            return 2, 0x80, 0x9F
        return 2, 0x80, 0xBF
    if lead < 0xF5:
        if lead == 0xF0:
            return 3, 0x90, 0xBF
        if lead == 0xF4:
            return 3, 0x80, 0x8F
        return 3, 0x80, 0xBF
    return -1, 0, 0


def _first_error(data: bytes, start: int) -> Tuple[int, str]:
    """Find the first invalid byte of the sequence beginning at ``data[start]``.

    Returns ``(index, reason)``, or ``(-1, "")`` if the bytes from ``start``
    to the end of ``data`` (at most one character) are valid, complete or
    not.
    """
    count, low, high = _lead_rule(data[start])
    if count < 0:
        return start, _INVALID_START
    end = min(start + 1 + count, len(data))
    for index in range(start + 1, end):
        byte = data[index]
        if not low <= byte <= high:
            return index, _INVALID_CONTINUATION
        low, high = 0x80, 0xBF
    return -1, ""


def _byte_view(obj: object) -> BufferLike:
    """Return ``obj`` as a sequence of bytes without copying it."""
    if type(obj) is bytes or type(obj) is bytearray:
        return obj  # type: ignore[return-value]
    view = memoryview(obj)  # type: ignore[arg-type]  # TypeError if not a buffer
    if not view.c_contiguous:
        raise BufferError("wirespeed: UTF-8 validation needs a C-contiguous buffer")
    if view.ndim != 1 or view.format != "B":
        view = view.cast("B")
    return view


class Utf8Validator:
    """Incremental UTF-8 validator for the payload of WebSocket text messages.

    Feed the message's bytes with :meth:`feed` as they arrive, in chunks of
    any size split anywhere, then call :meth:`finish` when the message ends::

        validator = Utf8Validator()
        for chunk in chunks:
            validator.feed(chunk)  # raises at the first invalid byte
        validator.finish()         # raises if the last character is incomplete

    After :meth:`finish`, or after an error, the validator is reset and ready
    for the next message. It only validates: it neither decodes nor keeps the
    bytes (except the at most three bytes of an incomplete character).
    """

    __slots__ = ("_pending",)

    def __init__(self) -> None:
        #: The bytes of the incomplete character at the end of the last chunk.
        self._pending = b""

    @property
    def complete(self) -> bool:
        """True when the bytes fed so far do not end inside a multi-byte sequence."""
        return not self._pending

    def reset(self) -> None:
        """Forget any partial sequence: the next byte starts a new message."""
        self._pending = b""

    def feed(self, data: BufferLike) -> None:
        """Validate the next chunk of the message.

        :param data: any C-contiguous buffer; may be empty.
        :raises UnicodeDecodeError: ``UnicodeDecodeError("utf-8", bytes(data),
            start, start + 1, reason)`` where ``start`` is the index in
            ``data`` of the first invalid byte (0 when that byte was meant to
            continue a sequence begun in an earlier chunk) and ``reason`` is
            ``"invalid start byte"`` or ``"invalid continuation byte"``. The
            validator is reset.
        """
        if type(data) is not bytes and type(data) is not bytearray:
            data = _byte_view(data)
        pending = self._pending
        # The decoder reads across chunks only through what we prepend.
        text = pending + data if pending else data
        try:
            consumed = _decode(text, "strict", False)[1]
        except UnicodeDecodeError as exc:
            # The decoder reports where the malformed sequence starts; find
            # the byte that made it malformed.
            index, reason = _first_error(bytes(text[exc.start : exc.start + 4]), 0)
            if index < 0:  # pragma: no cover - the decoder disagrees with us
                index, reason = 0, exc.reason
            raise self._error(data, exc.start + index - len(pending), reason) from None
        if consumed == len(text):
            self._pending = b""
            return
        # An incomplete character is left: the decoder may not have judged
        # all of its bytes yet (it waits for the third byte of ED A0, say).
        tail = bytes(text[consumed:])
        index, reason = _first_error(tail, 0)
        if index >= 0:
            raise self._error(data, consumed + index - len(pending), reason)
        self._pending = tail

    def feed_slice(self, buffer: BufferLike, start: int, end: int) -> None:
        """Validate ``buffer[start:end]`` as the next chunk, without copying it.

        Same as ``feed(buffer[start:end])``, errors included (their object is
        ``bytes(buffer[start:end])`` and their position is counted from
        ``start``), except that the bounds must satisfy
        ``0 <= start <= end <= len(buffer)``. The compiled implementation
        reads the bytes in place; this one copies them.

        :raises ValueError: if the bounds are invalid.
        """
        view = _byte_view(buffer)
        if not 0 <= start <= end <= len(view):
            raise ValueError(f"invalid slice [{start}:{end}] of a buffer of {len(view)} bytes")
        self.feed(view[start:end])

    def _error(self, data: BufferLike, start: int, reason: str) -> UnicodeDecodeError:
        """Reset, and return the error to raise for ``data[start]``."""
        self._pending = b""
        return UnicodeDecodeError("utf-8", bytes(data), start, start + 1, reason)

    def finish(self) -> None:
        """Declare the end of the message and reset the validator.

        :raises UnicodeDecodeError: ``UnicodeDecodeError("utf-8", pending, 0,
            len(pending), "unexpected end of data")`` if the message ends
            inside a multi-byte sequence, ``pending`` being the bytes of that
            incomplete sequence.
        """
        pending = self._pending
        if pending:
            self._pending = b""
            raise UnicodeDecodeError("utf-8", pending, 0, len(pending), "unexpected end of data")
