"""The permessage-deflate extension (RFC 7692): compressed WebSocket messages.

Turn it on with :func:`enable_client_permessage_deflate` or
:func:`enable_server_permessage_deflate`, which add a factory with good
defaults to a list of extensions, or configure
:class:`ClientPerMessageDeflateFactory` / :class:`ServerPerMessageDeflateFactory`
yourself, and pass the list as ``extensions=`` to a client or a server::

    from wirespeed.extensions.permessage_deflate import enable_server_permessage_deflate
    from wirespeed.sansio import ServerProtocol

    protocol = ServerProtocol(extensions=enable_server_permessage_deflate(None))

Once negotiated, a :class:`PerMessageDeflate` object compresses the messages a
connection sends and decompresses the messages it receives.

How messages are compressed (RFC 7692, section 7.2)
---------------------------------------------------

* A compressed message has RSV1 set on its first frame, and only there; its
  frames' payloads together are a DEFLATE stream ended by a sync flush, whose
  last four bytes, ``00 00 ff ff``, are not sent. The receiver appends them
  back before decompressing the last frame.
* Control frames are never compressed.
* With *context takeover* (the default), the compressor keeps its LZ77 window
  from one message to the next, so a message that resembles an earlier one
  costs a few bytes. ``server_no_context_takeover`` and
  ``client_no_context_takeover`` reset the server's or the client's compressor
  after every message instead, trading ratio for memory: between messages the
  compressor and the peer's decompressor are simply dropped.
* Any message may be sent uncompressed (RSV1 clear) without disturbing the
  compression context: ``compress=False`` on ``send_text``/``send_binary``,
  every message shorter than :attr:`PerMessageDeflate.threshold` bytes, and
  messages of 1 KiB or more whose bytes look random (already compressed or
  encrypted data: more than 140 distinct byte values in 256 bytes sampled
  from the middle), which DEFLATE can't shrink anyway.
  A fragmented message is compressed or not as a whole, as its first frame
  decides; the threshold only applies to messages sent in a single frame,
  since the size of a fragmented message isn't known when it starts.

Window sizes
------------

``server_max_window_bits`` and ``client_max_window_bits`` (8 to 15) limit the
LZ77 window of the server's and of the client's compressor; the receiving end
allocates a decompressor of that size. zlib refuses a window of 2**8 bytes for
raw DEFLATE compression, so when 8 is negotiated the compressor uses 9: zlib's
compressor never refers further back than its window size minus 262 bytes (250
bytes with 9 window bits), which fits in the 256 bytes the peer's decompressor
keeps. A decompressor of 8 bits works with zlib and is used as is; if a zlib
build refused it, 9 would be used, since a larger window is always safe for
decompression.

Limits and errors
-----------------

* Decompression never produces more than the ``max_size`` the connection has
  left for the message: the decompressor is asked for at most one byte more
  than that, and :class:`~wirespeed.exceptions.PayloadTooBig` (close code
  1009) is raised as soon as it gives it. A deflate bomb therefore costs at
  most about three times ``max_size``: the output (which zlib's output buffer
  briefly holds twice) and the part of the frame zlib didn't get to.
* A compressed message that doesn't inflate fails the connection with close
  code 1007 (invalid frame payload data): the frames were well-formed, their
  payload wasn't. RFC 7692 doesn't name a code; 1002 (protocol error) is kept
  for the framing rules, which the frame reader enforces before decompression:
  RSV1 on a continuation frame or on a control frame, or RSV1 when the
  extension wasn't negotiated.
* Compression allocates nothing but its output, at most the size of the
  message plus a few bytes per 16 KiB, and zlib's state, whose size is fixed
  by the window bits and the memory level (about ``2**(window_bits + 2) +
  2**(mem_level + 9)`` bytes).

Memory
------

Compressor and decompressor are created on first use, so an idle connection
with compression negotiated costs only a small Python object; without context
takeover they are also dropped after every message. With context takeover,
:meth:`PerMessageDeflate.release_idle_compressor` frees the compressor of a
connection that stopped sending (the asyncio face calls it at each keepalive
ping); the decompressor stays, since the peer may refer to earlier messages.

zlib backends
-------------

The standard :mod:`zlib` is used unless ``zlib-ng`` is installed (``pip install
wirespeed[zlib-ng]``): its ``zlib_ng.zlib_ng`` module has the same API
(``compressobj``, ``decompressobj``, ``decompress(data, max_length)`` with
``unconsumed_tail`` and ``eof``, ``Z_SYNC_FLUSH``, ``error``), produces
interchangeable DEFLATE streams, and is faster: its level 4, the default
with it, compresses JSON-like text as well as zlib's level 6, about 1.6 times
faster, compression and decompression together. Its compressor needs more memory, though:
about 160 KiB whatever the window and memory level (a fixed 64 Ki-entry hash
table), against 38 KiB for zlib with the default settings here. Choose
explicitly with the ``zlib_module`` argument of the factories, e.g.
``zlib_module=zlib`` for many busy connections on little memory.

``isal`` is not picked up: its ``isal_zlib`` module only has compression levels
0 to 3 and ignores the memory level, so the same settings would not mean the
same thing, and its decompressor keeps the input it didn't get to inside
rather than in ``unconsumed_tail``.
"""

from __future__ import annotations

import zlib
from types import ModuleType
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from ..exceptions import (
    DuplicateParameter,
    InvalidParameterName,
    InvalidParameterValue,
    NegotiationError,
    PayloadTooBig,
    ProtocolError,
)
from ..frames import CloseCode, Frame, Opcode
from .base import (
    ClientExtensionFactory,
    Extension,
    ExtensionParameters,
    ServerExtensionFactory,
)

__all__ = [
    "DEFAULT_LEVELS",
    "DEFAULT_ZLIB",
    "ClientPerMessageDeflateFactory",
    "DecompressionError",
    "PerMessageDeflate",
    "ServerPerMessageDeflateFactory",
    "client_extension_factories",
    "enable_client_permessage_deflate",
    "enable_server_permessage_deflate",
    "server_extension_factories",
]


def _default_zlib() -> ModuleType:
    try:
        from zlib_ng import zlib_ng
    except ImportError:  # pragma: no cover - depends on what is installed
        return zlib
    return zlib_ng


#: The zlib module used when a factory doesn't name one: ``zlib_ng.zlib_ng``
#: when ``zlib-ng`` is installed, else the standard :mod:`zlib`.
DEFAULT_ZLIB: ModuleType = _default_zlib()

#: Name of the extension in the ``Sec-WebSocket-Extensions`` header.
EXTENSION_NAME = "permessage-deflate"

#: What a sync flush ends with; removed on send, appended on receive.
_EMPTY_BLOCK_TAIL = b"\x00\x00\xff\xff"
#: Payloads up to this size get the tail appended by a copy: one call to the
#: decompressor is faster than two for them.
_TAIL_COPY_LIMIT = 65536

#: The only spellings of a window size that RFC 7692 allows (no leading zeros).
_WINDOW_BITS = {str(bits): bits for bits in range(8, 16)}

#: Defaults shared by the factories and the helpers.
#: Compression level when none is given, per zlib module: the levels at which
#: each compresses typical JSON as well as zlib does at its default level, 6
#: (zlib-ng's level 4 is within 1 % of it, and about 1.6 times faster).
DEFAULT_LEVELS = {"zlib": 6, "zlib_ng.zlib_ng": 4}
DEFAULT_MEM_LEVEL = 5
DEFAULT_THRESHOLD = 32

_OP_CONT = Opcode.CONT
_OP_TEXT = Opcode.TEXT
_OP_BINARY = Opcode.BINARY


class DecompressionError(ProtocolError):
    """A compressed message could not be decompressed.

    The connection fails with :attr:`close_code` 1007 (invalid frame payload
    data).
    """

    #: Close code for this error.
    close_code = CloseCode.INVALID_DATA
    #: The extension that raised it.
    extension_name = EXTENSION_NAME


class PerMessageDeflate(Extension):
    """The permessage-deflate extension, negotiated on one connection.

    The factories create it; its arguments are the outcome of the negotiation,
    seen from this end of the connection:

    :param remote_no_context_takeover: the peer resets its compressor after
        every message, so the decompressor is dropped after every message.
    :param local_no_context_takeover: reset the compressor after every message.
    :param remote_max_window_bits: window of the peer's compressor (8-15),
        hence of the decompressor.
    :param local_max_window_bits: window of the compressor (8-15); 8 means 9
        to zlib (see the module documentation).
    :param level: compression level, 0 (none) to 9 (best); ``None`` picks
        :data:`DEFAULT_LEVELS` for the zlib module: 6 for zlib, 4 for zlib-ng.
    :param mem_level: zlib's memory level, 1 to 9: memory for the compressor's
        internal state; less memory compresses a little less well.
    :param threshold: messages sent in one frame with fewer bytes than this
        are sent uncompressed.
    :param zlib_module: :mod:`zlib` or a module with the same API, such as
        ``zlib_ng.zlib_ng``; defaults to :data:`DEFAULT_ZLIB`.
    """

    name = EXTENSION_NAME
    uses_rsv1 = True

    __slots__ = (
        "compressed_since_check",
        "compressor",
        "decoding_message",
        "decompressor",
        "encoding_message",
        "level",
        "local_max_window_bits",
        "local_no_context_takeover",
        "mem_level",
        "remote_max_window_bits",
        "remote_no_context_takeover",
        "threshold",
        "zlib_module",
    )

    def __init__(
        self,
        remote_no_context_takeover: bool = False,
        local_no_context_takeover: bool = False,
        remote_max_window_bits: int = 15,
        local_max_window_bits: int = 15,
        *,
        level: Optional[int] = None,
        mem_level: int = DEFAULT_MEM_LEVEL,
        threshold: int = DEFAULT_THRESHOLD,
        zlib_module: Optional[ModuleType] = None,
    ) -> None:
        _check_window_bits("remote_max_window_bits", remote_max_window_bits)
        _check_window_bits("local_max_window_bits", local_max_window_bits)
        _check_compression_settings(level, mem_level, threshold)
        self.remote_no_context_takeover = remote_no_context_takeover
        self.local_no_context_takeover = local_no_context_takeover
        self.remote_max_window_bits = remote_max_window_bits
        self.local_max_window_bits = local_max_window_bits
        self.zlib_module = DEFAULT_ZLIB if zlib_module is None else zlib_module
        if level is None:
            level = DEFAULT_LEVELS.get(self.zlib_module.__name__, 6)
        self.level = level
        self.mem_level = mem_level
        self.threshold = threshold
        #: The compressor, while one exists (created by the first compressed
        #: message, dropped after each message without context takeover).
        self.compressor: Any = None
        #: The decompressor, while one exists (same lifetime rules).
        self.decompressor: Any = None
        # Whether the message being sent, and the message being received, is
        # compressed: continuation frames follow their first frame.
        self.encoding_message = False
        self.decoding_message = False
        # Whether a message was compressed since release_idle_compressor().
        self.compressed_since_check = False

    def __repr__(self) -> str:
        return (
            f"PerMessageDeflate(remote_no_context_takeover={self.remote_no_context_takeover}, "
            f"local_no_context_takeover={self.local_no_context_takeover}, "
            f"remote_max_window_bits={self.remote_max_window_bits}, "
            f"local_max_window_bits={self.local_max_window_bits}, level={self.level}, "
            f"mem_level={self.mem_level}, threshold={self.threshold})"
        )

    # Receiving

    def decode(self, frame: Frame, *, max_size: Optional[int] = None) -> Frame:
        """Decompress ``frame`` if it belongs to a compressed message.

        :param max_size: how many more bytes the message may hold once
            decompressed; ``None`` for no limit.
        :raises PayloadTooBig: as soon as the decompressed data would exceed
            ``max_size``.
        :raises DecompressionError: if the data isn't a valid DEFLATE stream.
        """
        opcode = frame.opcode
        if opcode is _OP_CONT:
            if not self.decoding_message:
                return frame
            if frame.fin:
                self.decoding_message = False
        elif opcode is _OP_TEXT or opcode is _OP_BINARY:
            if not frame.rsv1:
                return frame
            self.decoding_message = not frame.fin
        else:
            # Control frames are never compressed.
            return frame

        decompressor = self.decompressor
        if decompressor is None:
            decompressor = self.decompressor = self._new_decompressor()
        # Ask for one byte more than allowed: getting it proves the message
        # too big, without ever holding more than that. Below the limit, zlib
        # consumes all the input. The tail is appended to small payloads; it
        # goes in separately after large ones, which aren't worth copying.
        limit = 0 if max_size is None else max_size + 1
        data = frame.data
        separate_tail = frame.fin and len(data) > _TAIL_COPY_LIMIT
        if frame.fin and not separate_tail:
            data = bytes(data) + _EMPTY_BLOCK_TAIL
        try:
            output = decompressor.decompress(data, limit)
            if separate_tail and not decompressor.eof and (limit == 0 or len(output) < limit):
                rest = decompressor.decompress(_EMPTY_BLOCK_TAIL, limit and limit - len(output))
                if rest:
                    output += rest
        except self.zlib_module.error as exc:
            self.decompressor = None
            # zlib says "Error -3 while decompressing data: <reason>".
            reason = str(exc).rpartition(": ")[2]
            raise DecompressionError(f"invalid compressed data ({reason})") from exc
        if max_size is not None and len(output) > max_size:
            self.decompressor = None
            raise PayloadTooBig(
                f"message exceeds the limit once decompressed: more than "
                f"{max_size} bytes left for it"
            )
        if decompressor.eof:
            # The peer ended the DEFLATE stream with a final block, as RFC
            # 7692 (7.2.3.4) allows: what follows it (the tail appended above,
            # maybe padding before it) is ignored, and the next message starts
            # a new stream.
            self.decompressor = None
        elif frame.fin and self.remote_no_context_takeover:
            self.decompressor = None
        return Frame(opcode, output, frame.fin, False, frame.rsv2, frame.rsv3)

    # Sending

    def encode(self, frame: Frame, *, compress: bool = True) -> Frame:
        """Compress ``frame`` if it belongs to a message that is compressed.

        :param compress: for the first frame of a message, false sends the
            message uncompressed; ignored for other frames.
        """
        opcode = frame.opcode
        if opcode is _OP_CONT:
            if not self.encoding_message:
                return frame
            if frame.fin:
                self.encoding_message = False
            rsv1 = False
        elif opcode is _OP_TEXT or opcode is _OP_BINARY:
            size = len(frame.data)
            if (
                not compress
                or (frame.fin and size < self.threshold)
                or (size >= _SAMPLED_SIZE and _looks_incompressible(frame.data))
            ):
                self.encoding_message = False
                return frame
            self.encoding_message = not frame.fin
            self.compressed_since_check = True
            rsv1 = True
        else:
            # Control frames are never compressed.
            return frame

        compressor = self.compressor
        if compressor is None:
            compressor = self.compressor = self._new_compressor()
        data = compressor.compress(frame.data) + compressor.flush(self.zlib_module.Z_SYNC_FLUSH)
        if frame.fin:
            # The sync flush ends with an empty stored block, 00 00 ff ff.
            data = data[:-4]
            if self.local_no_context_takeover:
                self.compressor = None
        return Frame(opcode, data, frame.fin, rsv1, frame.rsv2, frame.rsv3)

    def release_idle_compressor(self) -> bool:
        """Free the compressor if no message was compressed since the previous call.

        Call it periodically (the asyncio face does it at each keepalive
        ping): a connection that stopped sending gives back the compressor's
        memory (about 160 KiB with zlib-ng, 38 KiB with zlib's defaults
        here), and the next message creates a new one. That message can't
        refer to the ones before it, which RFC 7692 allows a sender to do at
        any time: the peer's decompressor keeps its window and reads it as
        usual. The decompressor is kept, since the peer may refer to earlier
        messages. Returns whether a compressor was freed.
        """
        if self.compressed_since_check or self.encoding_message:
            self.compressed_since_check = False
            return False
        released = self.compressor is not None
        self.compressor = None
        return released

    # zlib objects

    def _new_compressor(self) -> Any:
        zlib_module = self.zlib_module
        # Raw DEFLATE (negative window bits); zlib refuses 8, see above.
        window_bits = max(self.local_max_window_bits, 9)
        return zlib_module.compressobj(
            self.level, zlib_module.DEFLATED, -window_bits, self.mem_level
        )

    def _new_decompressor(self) -> Any:
        zlib_module = self.zlib_module
        try:
            return zlib_module.decompressobj(-self.remote_max_window_bits)
        except ValueError:  # pragma: no cover - a zlib that refuses 8 bits
            return zlib_module.decompressobj(-9)


#: Messages from this size on are sampled before compression.
_SAMPLED_SIZE = 1024
#: Bytes in the sample, taken from the middle of the first frame.
_SAMPLE_SIZE = 256
#: More distinct byte values than this in the sample means incompressible data.
#: 256 random bytes have 162 +/- 5 distinct values; text, JSON, UTF-8 in any
#: script and typical binary formats have far fewer.
_DISTINCT_BYTES_LIMIT = 140


def _looks_incompressible(data: Any) -> bool:
    """Tell whether ``data`` looks like random bytes (compressed or encrypted).

    DEFLATE can't shrink such data, so compressing it only costs time on both
    ends: it is sent as is. The compressor never sees it, which RFC 7692
    allows without disturbing the context of later messages.
    """
    middle = len(data) // 2
    sample = data[middle - _SAMPLE_SIZE // 2 : middle + _SAMPLE_SIZE // 2]
    return len(set(sample)) > _DISTINCT_BYTES_LIMIT


# Negotiation


def _check_window_bits(name: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 8 <= value <= 15:
        raise ValueError(f"{name} must be an integer between 8 and 15, got {value!r}")


def _check_compression_settings(level: Optional[int], mem_level: int, threshold: int) -> None:
    if level is not None and not -1 <= level <= 9:
        raise ValueError(f"level must be between -1 and 9, got {level!r}")
    if not 1 <= mem_level <= 9:
        raise ValueError(f"mem_level must be between 1 and 9, got {mem_level!r}")
    if threshold < 0:
        raise ValueError(f"threshold must be non-negative, got {threshold!r}")


def _parse_params(params: ExtensionParameters, *, is_offer: bool) -> Dict[str, Any]:
    """Check the parameters of an offer or a response and return their values.

    Returns a dict with the parameters present: the two ``*_no_context_takeover``
    map to ``True``, ``server_max_window_bits`` to an int and
    ``client_max_window_bits`` to an int, or ``True`` when an offer gives it
    without a value.

    :raises NegotiationError: for an unknown parameter, a duplicate one, or a
        bad value.
    """
    values: Dict[str, Any] = {}
    for name, value in params:
        if name in values:
            raise DuplicateParameter(name)
        if name in ("server_no_context_takeover", "client_no_context_takeover"):
            if value is not None:
                raise InvalidParameterValue(name, value)
            values[name] = True
        elif name in ("server_max_window_bits", "client_max_window_bits"):
            if value is None:
                # Only a client's offer may leave client_max_window_bits bare.
                if name == "server_max_window_bits" or not is_offer:
                    raise InvalidParameterValue(name, value)
                values[name] = True
            elif value in _WINDOW_BITS:
                values[name] = _WINDOW_BITS[value]
            else:
                raise InvalidParameterValue(name, value)
        else:
            raise InvalidParameterName(name)
    return values


def _check_not_accepted(accepted_extensions: Sequence[Extension]) -> None:
    if any(extension.name == EXTENSION_NAME for extension in accepted_extensions):
        raise NegotiationError(f"{EXTENSION_NAME} was already negotiated")


class _Settings:
    """Compression settings shared by both factories."""

    level: Optional[int]
    mem_level: int
    threshold: int
    zlib_module: Optional[ModuleType]

    def _init_settings(
        self,
        level: Optional[int],
        mem_level: int,
        threshold: int,
        zlib_module: Optional[ModuleType],
    ) -> None:
        _check_compression_settings(level, mem_level, threshold)
        self.level = level
        self.mem_level = mem_level
        self.threshold = threshold
        self.zlib_module = zlib_module

    def _extension(
        self,
        remote_no_context_takeover: bool,
        local_no_context_takeover: bool,
        remote_max_window_bits: int,
        local_max_window_bits: int,
    ) -> PerMessageDeflate:
        return PerMessageDeflate(
            remote_no_context_takeover,
            local_no_context_takeover,
            remote_max_window_bits,
            local_max_window_bits,
            level=self.level,
            mem_level=self.mem_level,
            threshold=self.threshold,
            zlib_module=self.zlib_module,
        )


class ClientPerMessageDeflateFactory(_Settings, ClientExtensionFactory):
    """Offer permessage-deflate from a client, and check the server's answer.

    The four negotiation parameters are those of RFC 7692, section 7.1:

    :param server_no_context_takeover: ask the server to reset its compressor
        after every message (the server must agree).
    :param client_no_context_takeover: tell the server that this client
        resets its compressor after every message.
    :param server_max_window_bits: ask the server to use at most this window
        (8-15); ``None`` doesn't ask.
    :param client_max_window_bits: ``True`` (the default) tells the server it
        may choose the client's window; an int (8-15) also caps it; ``None``
        or ``False`` doesn't offer the parameter, and the client then uses a
        window of 15 bits.

    ``level``, ``mem_level``, ``threshold`` and ``zlib_module`` are those of
    :class:`PerMessageDeflate`.

    The client fails the opening handshake with
    :class:`~wirespeed.exceptions.NegotiationError` when the server's answer
    has an unknown or duplicate parameter, a bad value, a
    ``client_max_window_bits`` that wasn't offered or is larger than offered,
    a ``server_max_window_bits`` larger than asked or missing when asked, or
    lacks the ``server_no_context_takeover`` the client asked for.
    """

    name = EXTENSION_NAME

    def __init__(
        self,
        server_no_context_takeover: bool = False,
        client_no_context_takeover: bool = False,
        server_max_window_bits: Optional[int] = None,
        client_max_window_bits: Union[int, bool, None] = True,
        *,
        level: Optional[int] = None,
        mem_level: int = DEFAULT_MEM_LEVEL,
        threshold: int = DEFAULT_THRESHOLD,
        zlib_module: Optional[ModuleType] = None,
    ) -> None:
        if server_max_window_bits is not None:
            _check_window_bits("server_max_window_bits", server_max_window_bits)
        if client_max_window_bits is False:
            client_max_window_bits = None
        if client_max_window_bits is not None and client_max_window_bits is not True:
            _check_window_bits("client_max_window_bits", client_max_window_bits)
        self.server_no_context_takeover = server_no_context_takeover
        self.client_no_context_takeover = client_no_context_takeover
        self.server_max_window_bits = server_max_window_bits
        self.client_max_window_bits = client_max_window_bits
        self._init_settings(level, mem_level, threshold, zlib_module)

    def __repr__(self) -> str:
        return (
            f"ClientPerMessageDeflateFactory(server_no_context_takeover="
            f"{self.server_no_context_takeover}, client_no_context_takeover="
            f"{self.client_no_context_takeover}, server_max_window_bits="
            f"{self.server_max_window_bits}, client_max_window_bits="
            f"{self.client_max_window_bits}, level={self.level}, mem_level={self.mem_level}, "
            f"threshold={self.threshold})"
        )

    def get_request_params(self) -> ExtensionParameters:
        """Parameters of the offer, in the order of RFC 7692's examples."""
        params: ExtensionParameters = []
        if self.server_no_context_takeover:
            params.append(("server_no_context_takeover", None))
        if self.client_no_context_takeover:
            params.append(("client_no_context_takeover", None))
        if self.server_max_window_bits is not None:
            params.append(("server_max_window_bits", str(self.server_max_window_bits)))
        if self.client_max_window_bits is True:
            params.append(("client_max_window_bits", None))
        elif self.client_max_window_bits is not None:
            params.append(("client_max_window_bits", str(self.client_max_window_bits)))
        return params

    def process_response_params(
        self, params: ExtensionParameters, accepted_extensions: Sequence[Extension]
    ) -> PerMessageDeflate:
        """Check the server's answer against the offer and build the extension.

        :raises NegotiationError: if the answer isn't one the offer allows.
        """
        _check_not_accepted(accepted_extensions)
        values = _parse_params(params, is_offer=False)

        # 7.1.1.1: the server may add server_no_context_takeover, but must
        # keep it when the client asked for it.
        server_no_context_takeover = values.get("server_no_context_takeover", False)
        if self.server_no_context_takeover and not server_no_context_takeover:
            raise NegotiationError("the server didn't accept server_no_context_takeover")

        # 7.1.1.2: the server may ask the client not to take over the context.
        client_no_context_takeover = self.client_no_context_takeover or values.get(
            "client_no_context_takeover", False
        )

        # 7.1.2.1: the server may limit its window on its own; when asked, it
        # must answer with the same value or a smaller one.
        server_max_window_bits = values.get("server_max_window_bits")
        if self.server_max_window_bits is not None:
            if server_max_window_bits is None:
                raise NegotiationError("the server didn't accept server_max_window_bits")
            if server_max_window_bits > self.server_max_window_bits:
                raise NegotiationError(
                    f"server_max_window_bits={server_max_window_bits} is larger "
                    f"than the {self.server_max_window_bits} offered"
                )
        if server_max_window_bits is None:
            server_max_window_bits = 15

        # 7.1.2.2: the server may only send client_max_window_bits if offered,
        # with a value no larger than the offered one.
        client_max_window_bits = values.get("client_max_window_bits")
        if client_max_window_bits is not None:
            if self.client_max_window_bits is None:
                raise NegotiationError("client_max_window_bits wasn't offered")
            if (
                self.client_max_window_bits is not True
                and client_max_window_bits > self.client_max_window_bits
            ):
                raise NegotiationError(
                    f"client_max_window_bits={client_max_window_bits} is larger "
                    f"than the {self.client_max_window_bits} offered"
                )
        elif self.client_max_window_bits is None or self.client_max_window_bits is True:
            client_max_window_bits = 15
        else:
            # Keep to what the offer said; a smaller window is always safe.
            client_max_window_bits = self.client_max_window_bits

        return self._extension(
            server_no_context_takeover,
            client_no_context_takeover,
            server_max_window_bits,
            client_max_window_bits,
        )


class ServerPerMessageDeflateFactory(_Settings, ServerExtensionFactory):
    """Accept permessage-deflate offers on a server.

    The four negotiation parameters are those of RFC 7692, section 7.1, as
    the server's requirements:

    :param server_no_context_takeover: reset the server's compressor after
        every message, even if the client doesn't ask for it.
    :param client_no_context_takeover: require the client to reset its
        compressor after every message.
    :param server_max_window_bits: largest window (8-15) of the server's
        compressor; ``None`` lets the client decide, up to 15.
    :param client_max_window_bits: largest window (8-15) the client may use,
        when the client's offer lets the server choose it; ``None`` accepts
        whatever the client offers.
    :param require_client_max_window_bits: decline offers that don't let the
        server choose the client's window (the offer lacks
        ``client_max_window_bits``), rather than accept a 15-bit window.

    ``level``, ``mem_level``, ``threshold`` and ``zlib_module`` are those of
    :class:`PerMessageDeflate`.

    An offer with an unknown or duplicate parameter or a bad value is
    declined (the next offer, if any, is tried); so is a second
    permessage-deflate once one was accepted.
    """

    name = EXTENSION_NAME

    def __init__(
        self,
        server_no_context_takeover: bool = False,
        client_no_context_takeover: bool = False,
        server_max_window_bits: Optional[int] = None,
        client_max_window_bits: Optional[int] = None,
        require_client_max_window_bits: bool = False,
        *,
        level: Optional[int] = None,
        mem_level: int = DEFAULT_MEM_LEVEL,
        threshold: int = DEFAULT_THRESHOLD,
        zlib_module: Optional[ModuleType] = None,
    ) -> None:
        if server_max_window_bits is not None:
            _check_window_bits("server_max_window_bits", server_max_window_bits)
        if client_max_window_bits is not None:
            _check_window_bits("client_max_window_bits", client_max_window_bits)
        self.server_no_context_takeover = server_no_context_takeover
        self.client_no_context_takeover = client_no_context_takeover
        self.server_max_window_bits = server_max_window_bits
        self.client_max_window_bits = client_max_window_bits
        self.require_client_max_window_bits = require_client_max_window_bits
        self._init_settings(level, mem_level, threshold, zlib_module)

    def __repr__(self) -> str:
        return (
            f"ServerPerMessageDeflateFactory(server_no_context_takeover="
            f"{self.server_no_context_takeover}, client_no_context_takeover="
            f"{self.client_no_context_takeover}, server_max_window_bits="
            f"{self.server_max_window_bits}, client_max_window_bits="
            f"{self.client_max_window_bits}, require_client_max_window_bits="
            f"{self.require_client_max_window_bits}, level={self.level}, "
            f"mem_level={self.mem_level}, threshold={self.threshold})"
        )

    def process_request_params(
        self, params: ExtensionParameters, accepted_extensions: Sequence[Extension]
    ) -> Tuple[ExtensionParameters, PerMessageDeflate]:
        """Answer one offer: the response's parameters and the extension.

        :raises NegotiationError: to decline the offer.
        """
        _check_not_accepted(accepted_extensions)
        values = _parse_params(params, is_offer=True)

        server_no_context_takeover = self.server_no_context_takeover or values.get(
            "server_no_context_takeover", False
        )
        client_no_context_takeover = self.client_no_context_takeover or values.get(
            "client_no_context_takeover", False
        )

        # The smaller of the client's request and the server's setting; the
        # server may include it even when the client didn't ask.
        server_max_window_bits: Optional[int] = values.get("server_max_window_bits")
        if self.server_max_window_bits is not None and (
            server_max_window_bits is None or server_max_window_bits > self.server_max_window_bits
        ):
            server_max_window_bits = self.server_max_window_bits

        # Only when offered: bare, the server picks; with a value, at most that.
        offered: Union[int, bool, None] = values.get("client_max_window_bits")
        client_max_window_bits: Optional[int]
        if offered is None:
            if self.require_client_max_window_bits:
                raise NegotiationError("the offer lacks the required client_max_window_bits")
            client_max_window_bits = None
        elif offered is True:
            client_max_window_bits = self.client_max_window_bits
        elif self.client_max_window_bits is None:
            client_max_window_bits = offered
        else:
            client_max_window_bits = min(offered, self.client_max_window_bits)

        response: ExtensionParameters = []
        if server_no_context_takeover:
            response.append(("server_no_context_takeover", None))
        if client_no_context_takeover:
            response.append(("client_no_context_takeover", None))
        if server_max_window_bits is not None:
            response.append(("server_max_window_bits", str(server_max_window_bits)))
        if client_max_window_bits is not None:
            response.append(("client_max_window_bits", str(client_max_window_bits)))

        extension = self._extension(
            client_no_context_takeover,
            server_no_context_takeover,
            15 if client_max_window_bits is None else client_max_window_bits,
            15 if server_max_window_bits is None else server_max_window_bits,
        )
        return response, extension


# Defaults


def enable_client_permessage_deflate(
    extensions: Optional[Sequence[ClientExtensionFactory]],
) -> List[ClientExtensionFactory]:
    """Return ``extensions`` with permessage-deflate offered with good defaults.

    The offer is ``permessage-deflate; client_max_window_bits``, the one
    browsers send, which every server implementation accepts; compression uses
    memory level 5 and level 6 (4 with zlib-ng, see :data:`DEFAULT_LEVELS`),
    and messages under 32 bytes are sent as they are. A permessage-deflate
    factory already in ``extensions`` is kept as it is.
    """
    extensions = list(extensions or [])
    if not any(factory.name == EXTENSION_NAME for factory in extensions):
        extensions.append(ClientPerMessageDeflateFactory())
    return extensions


def enable_server_permessage_deflate(
    extensions: Optional[Sequence[ServerExtensionFactory]],
) -> List[ServerExtensionFactory]:
    """Return ``extensions`` with permessage-deflate accepted with good defaults.

    Windows are capped at 12 bits (4 KiB) in both directions, when the client
    lets the server choose its own, and compression uses memory level 5 and
    level 6 (4 with zlib-ng, see :data:`DEFAULT_LEVELS`). With the standard
    zlib, a connection that compressed and decompressed a message keeps about
    50 KiB of zlib state (38 KiB for the compressor, 11 KiB for the
    decompressor) instead of about 300 KiB with zlib's defaults, for a ratio
    within a few percent of the best on typical messages.
    Messages under 32 bytes are sent as they are. A permessage-deflate factory
    already in ``extensions`` is kept as it is.
    """
    extensions = list(extensions or [])
    if not any(factory.name == EXTENSION_NAME for factory in extensions):
        extensions.append(
            ServerPerMessageDeflateFactory(server_max_window_bits=12, client_max_window_bits=12)
        )
    return extensions


def client_extension_factories(
    compression: Optional[str], extensions: Optional[Sequence[ClientExtensionFactory]]
) -> Optional[List[ClientExtensionFactory]]:
    """The client's extension factories for the ``compression`` option of a face.

    ``compression="deflate"`` adds permessage-deflate with the defaults of
    :func:`enable_client_permessage_deflate` (unless ``extensions`` already has
    a permessage-deflate factory, which is then used as configured);
    ``None`` offers only ``extensions``.

    :raises ValueError: for any other ``compression``.
    """
    if compression is None:
        return list(extensions) if extensions is not None else None
    if compression != "deflate":
        raise ValueError(f"unsupported compression: {compression!r}")
    return enable_client_permessage_deflate(extensions)


def server_extension_factories(
    compression: Optional[str], extensions: Optional[Sequence[ServerExtensionFactory]]
) -> Optional[List[ServerExtensionFactory]]:
    """The server's extension factories for the ``compression`` option of a face.

    As :func:`client_extension_factories`, with the defaults of
    :func:`enable_server_permessage_deflate`.

    :raises ValueError: for any other ``compression``.
    """
    if compression is None:
        return list(extensions) if extensions is not None else None
    if compression != "deflate":
        raise ValueError(f"unsupported compression: {compression!r}")
    return enable_server_permessage_deflate(extensions)
