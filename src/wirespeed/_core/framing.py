"""The WebSocket frame codec (RFC 6455, section 5).

:class:`FrameReader` turns bytes received from the network into :class:`Frame`
objects. It enforces, as early as the bytes allow, every rule that a single
frame or a sequence of frames must follow:

* reserved opcodes and reserved bits (unless an extension claimed them);
* masking: a server requires masked frames, a client unmasked ones;
* control frames: at most 125 bytes, never fragmented;
* fragmentation: a continuation needs a message in progress, a new data frame
  must not start while one is in progress; control frames may interleave;
* 64-bit lengths with the most significant bit set;
* ``max_size`` on frames and on messages, checked on the header, before the
  payload is buffered;
* UTF-8 in text messages, validated incrementally across frames and across
  reads, so an invalid byte is reported as soon as it arrives.

Non-minimal length encodings are accepted: RFC 6455 requires the sender to use
the minimal encoding but does not ask the receiver to fail the connection.

:func:`serialize_frame` does the opposite, with a fresh mask key from the
operating system's CSPRNG for every client frame.

This module is compiled by Cython (see ``framing.pxd``) when the extension is
built; the source is the same on both paths.
"""

from __future__ import annotations

import os
import struct
from typing import Optional

from ..exceptions import PayloadTooBig, ProtocolError
from ..frames import Frame, Opcode
from .mask import encode_frame, encode_masked_frame, mask_inplace
from .sockio import new_buffer, new_payload, view_slice
from .utf8 import Utf8Validator

__all__ = ["FrameReader", "frame_header", "random_mask_key", "serialize_frame"]

OPCODES = (
    Opcode.CONT,
    Opcode.TEXT,
    Opcode.BINARY,
    None,
    None,
    None,
    None,
    None,
    Opcode.CLOSE,
    Opcode.PING,
    Opcode.PONG,
    None,
    None,
    None,
    None,
    None,
)

# Bits of the first header byte.
FIN_BIT = 0x80
RSV1_BIT = 0x40
RSV2_BIT = 0x20
RSV3_BIT = 0x10
RSV_BITS = 0x70
OPCODE_BITS = 0x0F
# Bits of the second header byte.
MASK_BIT = 0x80
LENGTH_BITS = 0x7F

NO_LIMIT = -1

#: Least free space offered to the transport for one read. The receive buffer
#: starts empty (an idle connection costs no buffer), is allocated at the first
#: read, and grows to hold the largest frame received. Pages that receive
#: nothing are never touched, so they cost no memory.
MIN_READ_SIZE = 65536

#: Default for :meth:`FrameReader.separate_large_payloads`.
SEPARATE_PAYLOAD_THRESHOLD = 65536

_pack_u16 = struct.Struct("!H").pack
_pack_u64 = struct.Struct("!Q").pack


# Mask keys come from os.urandom, read in blocks to save a system call per frame.
# A forked child must never reuse its parent's keys: the pool is emptied on fork.
_KEY_POOL_SIZE = 4096
_key_pool = b""
_key_pool_pos = _KEY_POOL_SIZE


def random_mask_key() -> bytes:
    """Return four bytes from the operating system's CSPRNG, for masking a frame."""
    global _key_pool, _key_pool_pos
    if _key_pool_pos >= _KEY_POOL_SIZE:
        _key_pool = os.urandom(_KEY_POOL_SIZE)
        _key_pool_pos = 0
    key = _key_pool[_key_pool_pos : _key_pool_pos + 4]
    _key_pool_pos += 4
    return key


def _forget_mask_keys() -> None:
    global _key_pool_pos
    _key_pool_pos = _KEY_POOL_SIZE


if hasattr(os, "register_at_fork"):  # pragma: no branch - absent on Windows only
    os.register_at_fork(after_in_child=_forget_mask_keys)


def first_byte(opcode: int, fin: bool, rsv1: bool, rsv2: bool, rsv3: bool) -> int:
    """Return the first header byte: FIN, RSV1-3 and the opcode."""
    first = opcode
    if fin:
        first |= FIN_BIT
    if rsv1:
        first |= RSV1_BIT
    if rsv2:
        first |= RSV2_BIT
    if rsv3:
        first |= RSV3_BIT
    return first


def frame_header(
    opcode: int,
    length: int,
    fin: bool = True,
    rsv1: bool = False,
    rsv2: bool = False,
    rsv3: bool = False,
    mask_key: bytes = b"",
) -> bytes:
    """Encode a frame header for a payload of ``length`` bytes.

    ``mask_key`` (four bytes) marks the payload as masked with that key; the
    payload itself is not part of the result. The length uses the minimal
    encoding.
    """
    first = first_byte(opcode, fin, rsv1, rsv2, rsv3)
    mask_bit = MASK_BIT if mask_key else 0
    if length < 126:
        header = bytes((first, mask_bit | length))
    elif length < 65536:
        header = bytes((first, mask_bit | 126)) + _pack_u16(length)
    else:
        header = bytes((first, mask_bit | 127)) + _pack_u64(length)
    if mask_key:
        return header + mask_key
    return header


def serialize_frame(
    opcode: int,
    data: bytes,
    fin: bool = True,
    rsv1: bool = False,
    rsv2: bool = False,
    rsv3: bool = False,
    mask: bool = False,
) -> bytes:
    """Encode one frame for the wire.

    ``mask`` must be true on the client side: the payload is then masked with a
    fresh random key. The length uses the minimal encoding.
    """
    global _key_pool, _key_pool_pos
    first = first_byte(opcode, fin, rsv1, rsv2, rsv3)
    if not mask:
        return encode_frame(first, data, None)
    # random_mask_key(), without creating the key as an object.
    if _key_pool_pos >= _KEY_POOL_SIZE:
        _key_pool = os.urandom(_KEY_POOL_SIZE)
        _key_pool_pos = 0
    offset = _key_pool_pos
    _key_pool_pos = offset + 4
    return encode_masked_frame(first, data, _key_pool, offset)


class FrameReader:
    """Parse frames from a stream of bytes, one side of one connection.

    ``expect_masked`` is true on the server side. ``max_message_size`` and
    ``max_fragment_size`` are limits in bytes (``None`` for no limit).

    Feed bytes with :meth:`feed`, then call :meth:`next_frame` until it returns
    ``None``. Errors are raised as :class:`ProtocolError` (close code 1002),
    :class:`PayloadTooBig` (1009) and :class:`UnicodeDecodeError` (1007); after
    an error the reader must not be used any more.
    """

    def __init__(
        self,
        expect_masked: bool,
        max_message_size: Optional[int] = None,
        max_fragment_size: Optional[int] = None,
    ) -> None:
        # Received bytes live in buffer[pos:end]; buffer[end:] is free space.
        # The buffer is never resized in place: growing it swaps in a new one,
        # so memoryviews handed out earlier stay valid (see get_buffer).
        self.buffer = bytearray()
        self.view = memoryview(self.buffer)
        self.pos = 0
        self.end = 0
        self.expect_masked = expect_masked
        self.max_message_size = NO_LIMIT if max_message_size is None else max_message_size
        self.max_fragment_size = NO_LIMIT if max_fragment_size is None else max_fragment_size
        self.allowed_rsv = 0
        self.validator = Utf8Validator()
        # The frame being read; header_done is false until its header is parsed.
        self.header_done = False
        self.opcode = 0
        self.first_byte = 0
        # The masking key of the frame, when it is masked.
        self.masked = False
        self.key = bytearray(4)
        self.length = 0
        self.received = 0
        self.validate = False
        self.payload_start = 0
        # The data message in progress: its opcode (0 when none), whether it is
        # compressed by an extension (RSV1 on its first frame), its size so far.
        self.message_opcode = 0
        self.message_compressed = False
        self.message_size = 0
        # Kind of the latest data message (1 text, 2 binary), kept after it ends,
        # and whether the latest frame's text was validated here. When it was
        # not (the message is compressed), the protocol validates the text once
        # an extension has decoded it.
        self.message_kind = 0
        self.last_frame_validated = False
        # At most this many bytes per read beyond the rest of the frame being
        # received (0: as many as the buffer holds). See get_buffer.
        self.read_limit = 0
        # Data-frame payloads at least this long are received into an object
        # of their own (0: never); see separate_large_payloads. While such a
        # payload is received (``large``), it goes to payload_data through
        # its writable view payload_buffer: ``filled`` bytes arrived, the
        # first ``received`` of them unmasked and validated. Once the frame
        # is ready, the payload is ``payload`` (bytes).
        self.separate_threshold = 0
        self.large = False
        self.payload_data = None
        self.payload_buffer = None
        self.filled = 0
        self.payload = None

    def separate_large_payloads(self, threshold: int = SEPARATE_PAYLOAD_THRESHOLD) -> None:
        """Receive data-frame payloads of ``threshold`` bytes or more into bytes of their own.

        Once the header of such a frame is parsed and its payload is not
        buffered yet, a :class:`bytes` object of the payload's size is
        allocated, what arrived of the payload is copied into it, and
        :meth:`get_buffer` offers the rest of it to the reads: the payload
        lands where it is delivered, unmasked and validated in place, and
        :meth:`payload_bytes` returns it without a copy (see :attr:`payload`).
        For faces that hand out payloads as bytes; the listener face keeps
        its zero-copy views of the receive buffer. Compressed frames are left
        in the receive buffer (decompression makes a new object anyway).
        ``threshold`` 0 turns it off.
        """
        if threshold < 0:
            raise ValueError(f"threshold must be 0 or more; got {threshold!r}")
        # Shorter payloads are better copied once; control frames never qualify.
        self.separate_threshold = threshold if threshold == 0 or threshold > 125 else 126

    def allow_rsv_bits(self, rsv1: bool, rsv2: bool = False, rsv3: bool = False) -> None:
        """Let frames use reserved bits that a negotiated extension defines."""
        self.allowed_rsv = (
            (RSV1_BIT if rsv1 else 0) | (RSV2_BIT if rsv2 else 0) | (RSV3_BIT if rsv3 else 0)
        )

    @property
    def buffered(self) -> int:
        """Number of received bytes not yet turned into a frame."""
        if self.large:
            return self.filled + self.end - self.pos
        return self.end - self.pos

    @property
    def in_message(self) -> bool:
        """Whether a fragmented data message has started and not finished."""
        return self.message_opcode != 0

    @property
    def message_is_text(self) -> bool:
        """Whether the message in progress (or just finished) is a text message."""
        return self.message_kind == 1

    def feed(self, data: bytes) -> None:
        """Add bytes received from the network."""
        size = len(data)
        if self.large:
            # The rest of a large payload goes to its own object first.
            taken = self.length - self.filled
            if taken > size:
                taken = size
            self.payload_buffer[self.filled : self.filled + taken] = data[:taken]
            self.filled += taken
            if taken == size:
                return
            data = data[taken:]
            size -= taken
        self.reserve(size)
        self.buffer[self.end : self.end + size] = data
        self.end += size

    def get_buffer(self, sizehint: int = -1) -> memoryview:
        """Return free space to receive into (``asyncio.BufferedProtocol``).

        The space is large enough for the rest of the frame being received
        (so a large frame arrives in few reads), and at least
        ``MIN_READ_SIZE`` bytes. With a :attr:`read_limit`, it is exactly the
        larger of the rest of the frame and ``read_limit`` bytes: what one read
        can bring in ahead of the parser is bounded. Report what was written
        with :meth:`buffer_updated`.

        While a large payload is received into an object of its own (see
        :meth:`separate_large_payloads`), the space is the rest of that
        object, exactly.
        """
        if self.large and self.filled < self.length:
            return view_slice(self.payload_buffer, self.filled, self.length - self.filled)
        if self.pos == self.end:
            # Everything was consumed: receive at the front again, so that a
            # large frame never has to be moved.
            self.pos = 0
            self.end = 0
        limit = self.read_limit
        wanted = MIN_READ_SIZE if limit <= 0 else limit
        if self.header_done:
            remaining = self.length - (self.end - self.pos)
            if remaining > wanted:
                wanted = remaining
        if len(self.buffer) - self.end < wanted:
            self.reserve(wanted)
        if limit > 0 and len(self.buffer) - self.end > wanted:
            return self.view[self.end : self.end + wanted]
        if self.end == 0:
            return self.view
        return self.view[self.end :]

    def buffer_updated(self, nbytes: int) -> None:
        """Record that ``nbytes`` were written at the start of :meth:`get_buffer`'s space."""
        if self.large and self.filled < self.length:
            self.filled += nbytes
        else:
            self.end += nbytes

    def reserve(self, size: int) -> None:
        """Make room for ``size`` more bytes after ``end``."""
        pending = self.end - self.pos
        if pending == 0:
            self.pos = 0
            self.end = 0
        capacity = len(self.buffer)
        if capacity - self.end >= size:
            return
        if self.pos and capacity - pending >= size:
            # Moving the pending bytes to the front makes enough room.
            self.buffer[0:pending] = self.buffer[self.pos : self.end]
        else:
            new_capacity = capacity * 2
            if new_capacity < pending + size:
                new_capacity = pending + size
            if new_capacity < 4096:
                new_capacity = 4096
            # Uninitialised: only received bytes are ever read from it.
            buffer = new_buffer(new_capacity)
            buffer[0:pending] = self.view[self.pos : self.end]
            self.buffer = buffer
            self.view = memoryview(buffer)
        self.pos = 0
        self.end = pending

    def discard(self) -> None:
        """Drop every byte received so far (after a close or a failure)."""
        self.pos = 0
        self.end = 0
        self.header_done = False
        self.drop_payload()
        self.payload = None

    def drop_payload(self) -> None:
        """Forget the large payload being received, if any."""
        self.large = False
        self.payload_data = None
        self.payload_buffer = None
        self.filled = 0

    def next_frame(self) -> Optional[Frame]:
        """Return the next complete frame, or ``None`` if more bytes are needed."""
        if not self.advance():
            return None
        return self.current_frame()

    def current_frame(self) -> Frame:
        """Return the frame that :meth:`advance` made ready, as a :class:`Frame`."""
        first = self.first_byte
        return Frame(
            OPCODES[self.opcode],
            self.payload_bytes(),
            (first & FIN_BIT) != 0,
            (first & RSV1_BIT) != 0,
            (first & RSV2_BIT) != 0,
            (first & RSV3_BIT) != 0,
        )

    def payload_bytes(self) -> bytes:
        """Return the payload of the frame that :meth:`advance` made ready.

        A copy, unless the payload was received into an object of its own
        (:attr:`payload`), returned as is.
        """
        if self.payload is not None:
            return self.payload
        start = self.payload_start
        end = start + self.length
        if self.length < 512:
            return bytes(self.buffer[start:end])
        # One copy instead of two for large payloads.
        return bytes(self.view[start:end])

    def advance(self) -> bool:
        """Process buffered bytes in place; tell whether a whole frame is ready.

        This is the codec's C-level entry for the compiled faces: it creates no
        Python object. Payload bytes are unmasked in the receive buffer as they
        arrive, and text is validated as it arrives, so that an invalid byte
        fails the connection without waiting for the rest of the frame.

        When it returns True, the frame is checked and consumed: its header is
        in :attr:`first_byte` and :attr:`opcode`, its payload is
        :attr:`payload` if that is not None (a large payload received into
        bytes of its own, see :meth:`separate_large_payloads`), otherwise
        ``buffer[payload_start:payload_start + length]``, valid until the next
        call to :meth:`feed` or :meth:`advance`.
        """
        if self.payload is not None:
            self.payload = None
        if not self.header_done:
            if not self.parse_header():
                return False
            threshold = self.separate_threshold
            if (
                threshold
                and self.length >= threshold
                and self.end - self.pos < self.length
                and self.opcode < 8
                and not (self.first_byte & RSV_BITS)
                and not (self.opcode == 0 and self.message_compressed)
            ):
                self.start_payload()
        if self.large:
            return self.advance_payload()
        pos = self.pos
        available = self.end - pos
        ready = self.length if available > self.length else available
        if ready > self.received:
            start = pos + self.received
            end = pos + ready
            if self.masked:
                mask_inplace(self.buffer, start, end, self.key, self.received)
            if self.validate:
                self.validator.feed_slice(self.buffer, start, end)
            self.received = ready
        if self.received < self.length:
            return False
        self.payload_start = pos
        self.pos = pos + self.length
        self.end_frame()
        return True

    def start_payload(self) -> None:
        """Move the frame's payload to an object of its own, with what arrived of it."""
        data, buffer = new_payload(self.length)
        pending = self.end - self.pos
        if pending:
            buffer[0:pending] = self.view[self.pos : self.end]
        self.payload_data = data
        self.payload_buffer = buffer
        self.filled = pending
        self.large = True
        # Every buffered byte belonged to the payload: the buffer is empty.
        self.pos = 0
        self.end = 0

    def advance_payload(self) -> bool:
        """:meth:`advance` for a payload received into an object of its own."""
        filled = self.filled
        start = self.received
        if filled > start:
            if self.masked:
                mask_inplace(self.payload_buffer, start, filled, self.key, start)
            if self.validate:
                self.validator.feed_slice(self.payload_data, start, filled)
            self.received = filled
        if filled < self.length:
            return False
        data = self.payload_data
        if type(data) is not bytes:
            # Pure Python receives into a bytearray.
            data = bytes(data)
        self.drop_payload()
        self.payload = data
        self.payload_start = 0
        self.end_frame()
        return True

    def parse_header(self) -> bool:
        """Parse the header of the next frame; return False if it is incomplete."""
        buffer = self.buffer
        pos = self.pos
        available = self.end - pos
        if available < 2:
            return False
        first = buffer[pos]
        second = buffer[pos + 1]
        length = second & LENGTH_BITS
        header_size = 2
        if length == 126:
            header_size = 4
        elif length == 127:
            header_size = 10
        masked = second & MASK_BIT
        if masked:
            header_size += 4
        if available < header_size:
            # Still validate what can be validated: fail fast on a bad first byte.
            self.check_first_bytes(first, masked != 0)
            return False
        self.check_first_bytes(first, masked != 0)
        if length == 126:
            length = (buffer[pos + 2] << 8) | buffer[pos + 3]
        elif length == 127:
            if buffer[pos + 2] & 0x80:
                raise ProtocolError("invalid frame length: most significant bit set")
            length = 0
            for index in range(pos + 2, pos + 10):
                length = (length << 8) | buffer[index]
        opcode = first & OPCODE_BITS
        if opcode & 0x08:
            if length > 125:
                raise ProtocolError("control frame too long")
        else:
            self.check_size(opcode, length)
        self.masked = masked != 0
        if masked:
            key = self.key
            index = pos + header_size - 4
            key[0] = buffer[index]
            key[1] = buffer[index + 1]
            key[2] = buffer[index + 2]
            key[3] = buffer[index + 3]
        self.pos = pos + header_size
        self.first_byte = first
        self.opcode = opcode
        self.length = length
        self.received = 0
        self.header_done = True
        if opcode == 1 or opcode == 2:
            self.message_kind = opcode
            if opcode == 1:
                self.validator.reset()
        self.validate = (
            (opcode == 1 or (opcode == 0 and self.message_opcode == 1))
            and not (first & RSV1_BIT and opcode)
            and not (opcode == 0 and self.message_compressed)
        )
        return True

    def check_first_bytes(self, first: int, masked: bool) -> None:
        """Validate the opcode, reserved bits, masking and fragmentation."""
        opcode = first & OPCODE_BITS
        if OPCODES[opcode] is None:
            raise ProtocolError(f"invalid opcode: {opcode:#x}")
        rsv = first & RSV_BITS
        if rsv & ~self.allowed_rsv:
            raise ProtocolError("reserved bits must be 0")
        if masked != self.expect_masked:
            raise ProtocolError("incorrect masking")
        if opcode & 0x08:
            if not first & FIN_BIT:
                raise ProtocolError("fragmented control frame")
            if rsv:
                # Extensions defined so far only apply to data frames.
                raise ProtocolError("reserved bits must be 0")
        elif opcode == 0:
            if self.message_opcode == 0:
                raise ProtocolError("unexpected continuation frame")
            if rsv & RSV1_BIT:
                raise ProtocolError("RSV1 set on a continuation frame")
        elif self.message_opcode != 0:
            raise ProtocolError("expected a continuation frame")

    def check_size(self, opcode: int, length: int) -> None:
        """Enforce ``max_size`` on a data frame, from its header alone."""
        if self.max_fragment_size != NO_LIMIT and length > self.max_fragment_size:
            raise PayloadTooBig(length, self.max_fragment_size)
        if self.max_message_size != NO_LIMIT:
            current = self.message_size if opcode == 0 else 0
            if current + length > self.max_message_size:
                raise PayloadTooBig(length, self.max_message_size, current)

    def end_frame(self) -> None:
        """Update the message state once a frame is complete."""
        first = self.first_byte
        opcode = self.opcode
        fin = (first & FIN_BIT) != 0
        self.header_done = False
        self.last_frame_validated = self.validate
        if opcode == 1 or opcode == 2:
            if fin:
                if self.validate:
                    self.validator.finish()
                self.message_opcode = 0
            else:
                self.message_opcode = opcode
                self.message_compressed = (first & RSV1_BIT) != 0
                self.message_size = self.length
        elif opcode == 0:
            if fin:
                if self.validate:
                    self.validator.finish()
                self.message_opcode = 0
                self.message_compressed = False
                self.message_size = 0
            else:
                self.message_size += self.length
