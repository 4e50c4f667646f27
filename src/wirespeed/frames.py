"""WebSocket frames as small value objects (RFC 6455, section 5).

:class:`Frame` is what the Sans-I/O face hands out as an event and what
extensions transform; :class:`Close` is the parsed payload of a close frame.
Parsing and serializing the wire format lives in :mod:`wirespeed._core.framing`.

This module is compiled by Cython (see ``frames.pxd``) when the extension is
built; the source is the same on both paths.
"""

from __future__ import annotations

import enum
import struct

from .exceptions import ProtocolError

__all__ = [
    "CLOSE_CODE_EXPLANATIONS",
    "CONTROL_OPCODES",
    "DATA_OPCODES",
    "OK_CLOSE_CODES",
    "Close",
    "CloseCode",
    "Frame",
    "Opcode",
    "is_valid_close_code",
]


class Opcode(enum.IntEnum):
    """Frame opcodes (RFC 6455, section 5.2)."""

    CONT = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA


OP_CONT = Opcode.CONT
OP_TEXT = Opcode.TEXT
OP_BINARY = Opcode.BINARY
OP_CLOSE = Opcode.CLOSE
OP_PING = Opcode.PING
OP_PONG = Opcode.PONG

DATA_OPCODES = (Opcode.CONT, Opcode.TEXT, Opcode.BINARY)
CONTROL_OPCODES = (Opcode.CLOSE, Opcode.PING, Opcode.PONG)

#: Opcode member for each 4-bit value; None for the reserved values.
OPCODE_BY_VALUE = tuple(
    Opcode(value) if value in Opcode._value2member_map_ else None for value in range(16)
)


class CloseCode(enum.IntEnum):
    """Close codes (RFC 6455, section 7.4.1, and the IANA registry)."""

    NORMAL_CLOSURE = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    # 1004 is reserved.
    NO_STATUS_RCVD = 1005
    ABNORMAL_CLOSURE = 1006
    INVALID_DATA = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXTENSION = 1010
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    BAD_GATEWAY = 1014
    TLS_HANDSHAKE = 1015


#: Short descriptions used when a close code is shown to a person.
CLOSE_CODE_EXPLANATIONS = {
    CloseCode.NORMAL_CLOSURE: "OK",
    CloseCode.GOING_AWAY: "going away",
    CloseCode.PROTOCOL_ERROR: "protocol error",
    CloseCode.UNSUPPORTED_DATA: "unsupported data",
    CloseCode.NO_STATUS_RCVD: "no status received [internal]",
    CloseCode.ABNORMAL_CLOSURE: "connection closed abnormally [internal]",
    CloseCode.INVALID_DATA: "invalid frame payload data",
    CloseCode.POLICY_VIOLATION: "policy violation",
    CloseCode.MESSAGE_TOO_BIG: "message too big",
    CloseCode.MANDATORY_EXTENSION: "extension required",
    CloseCode.INTERNAL_ERROR: "internal error",
    CloseCode.SERVICE_RESTART: "service restart",
    CloseCode.TRY_AGAIN_LATER: "try again later",
    CloseCode.BAD_GATEWAY: "bad gateway",
    CloseCode.TLS_HANDSHAKE: "TLS handshake failure [internal]",
}

#: Codes that may travel in a close frame. 1005, 1006 and 1015 are for local
#: use only and 1004 is reserved; 3000-4999 are registered or private codes.
WIRE_CLOSE_CODES = frozenset(
    {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014}
)

#: When both close frames carry one of these codes, the closure is "OK".
OK_CLOSE_CODES = frozenset({1000, 1001, 1005})


def is_valid_close_code(code: int) -> bool:
    """Tell whether ``code`` may be sent or received in a close frame."""
    return code in WIRE_CLOSE_CODES or 3000 <= code < 5000


class Frame:
    """One WebSocket frame.

    ``opcode`` is an :class:`Opcode`, ``data`` the (unmasked) payload,
    ``fin`` the FIN bit and ``rsv1``/``rsv2``/``rsv3`` the reserved bits, which
    only a negotiated extension may set.
    """

    def __init__(
        self,
        opcode: Opcode,
        data: bytes,
        fin: bool = True,
        rsv1: bool = False,
        rsv2: bool = False,
        rsv3: bool = False,
    ) -> None:
        self.opcode = opcode
        self.data = data
        self.fin = fin
        self.rsv1 = rsv1
        self.rsv2 = rsv2
        self.rsv3 = rsv3

    def __repr__(self) -> str:
        return (
            f"Frame(opcode={self.opcode!r}, data={bytes(self.data)!r}, fin={self.fin!r}, "
            f"rsv1={self.rsv1!r}, rsv2={self.rsv2!r}, rsv3={self.rsv3!r})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Frame):
            return NotImplemented
        return (
            self.opcode == other.opcode
            and bytes(self.data) == bytes(other.data)
            and bool(self.fin) == bool(other.fin)
            and bool(self.rsv1) == bool(other.rsv1)
            and bool(self.rsv2) == bool(other.rsv2)
            and bool(self.rsv3) == bool(other.rsv3)
        )

    __hash__ = None  # type: ignore[assignment]  # mutable value object

    def __str__(self) -> str:
        """Describe the frame for logs, shortening long payloads."""
        length = len(self.data)
        details = [f"{length} byte{'' if length == 1 else 's'}"]
        if not self.fin:
            details.append("continued")
        if self.opcode == OP_TEXT or (self.opcode == OP_CONT and _looks_like_text(self.data)):
            try:
                preview = repr(bytes(self.data).decode())
            except UnicodeDecodeError:
                preview = _hex_preview(self.data)
        elif self.opcode == OP_CLOSE:
            try:
                preview = str(Close.parse(self.data))
            except (ProtocolError, UnicodeDecodeError):
                preview = _hex_preview(self.data)
        else:
            preview = _hex_preview(self.data)
        if len(preview) > 75:
            preview = preview[:48] + "..." + preview[-24:]
        return f"{self.opcode.name} {preview} [{', '.join(details)}]"

    def check(self) -> None:
        """Enforce the rules of RFC 6455 that don't depend on the connection.

        :raises ProtocolError: if a reserved bit is set, or a control frame is
            fragmented or longer than 125 bytes.
        """
        if self.rsv1 or self.rsv2 or self.rsv3:
            raise ProtocolError("reserved bits must be 0")
        if self.opcode >= 8:
            if len(self.data) > 125:
                raise ProtocolError("control frame too long")
            if not self.fin:
                raise ProtocolError("fragmented control frame")


def _looks_like_text(data: bytes) -> bool:
    try:
        bytes(data).decode()
    except UnicodeDecodeError:
        return False
    return True


def _hex_preview(data: bytes) -> str:
    return bytes(data[:40]).hex(" ") + (" ..." if len(data) > 40 else "")


class Close:
    """The code and reason carried by a close frame (RFC 6455, section 5.5.1)."""

    __slots__ = ("code", "reason")

    def __init__(self, code: int, reason: str) -> None:
        self.code = code
        self.reason = reason

    def __repr__(self) -> str:
        return f"Close(code={self.code!r}, reason={self.reason!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Close):
            return NotImplemented
        return self.code == other.code and self.reason == other.reason

    def __hash__(self) -> int:
        return hash((self.code, self.reason))

    def __str__(self) -> str:
        """Describe the close, for example ``1011 (internal error) keepalive ping timeout``."""
        if 3000 <= self.code < 4000:
            explanation = "registered"
        elif 4000 <= self.code < 5000:
            explanation = "private use"
        else:
            explanation = CLOSE_CODE_EXPLANATIONS.get(self.code, "unknown")  # type: ignore[call-overload]
        text = f"{self.code} ({explanation})"
        if self.reason:
            text = f"{text} {self.reason}"
        return text

    @classmethod
    def parse(cls, data: bytes) -> Close:
        """Parse the payload of a close frame.

        An empty payload means "no status code" and gives code 1005.

        :raises ProtocolError: if the payload is one byte long or the code is
            not allowed on the wire.
        :raises UnicodeDecodeError: if the reason is not valid UTF-8.
        """
        length = len(data)
        if length >= 2:
            (code,) = struct.unpack("!H", data[:2])
            reason = bytes(data[2:]).decode()
            close = cls(code, reason)
            close.check()
            return close
        if length == 0:
            return cls(CloseCode.NO_STATUS_RCVD, "")
        raise ProtocolError("close frame too short")

    def serialize(self) -> bytes:
        """Build the payload of a close frame.

        :raises ProtocolError: if the code is not allowed on the wire or the
            payload would be longer than 125 bytes.
        """
        self.check()
        data = struct.pack("!H", self.code) + self.reason.encode()
        if len(data) > 125:
            raise ProtocolError("close reason too long")
        return data

    def check(self) -> None:
        """Check that the code may travel in a close frame.

        :raises ProtocolError: if it may not.
        """
        if not is_valid_close_code(self.code):
            raise ProtocolError("invalid status code")
