"""Shared test helpers.

The wire encoder and decoder below are written from RFC 6455, section 5.2,
independently of :mod:`wirespeed._core.framing`, so that tests of the codec
don't check it against itself. Test modules import them with
``from conftest import ...`` (this directory is on ``sys.path`` because
``tests`` isn't a package).
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import pathlib
import struct
from types import ModuleType
from typing import Any, List, NamedTuple, Optional, Tuple, Union

import pytest

from wirespeed.sansio import Protocol, Side

CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA

#: Mask key used for frames that a client sends in tests (any key would do).
MASK_KEY = b"\x5a\xc3\x01\xfe"

#: Marks the end of the stream in :func:`outgoing`.
EOF = "EOF"


class WireFrame(NamedTuple):
    """A frame decoded from bytes by :func:`decode_frames`."""

    opcode: int
    payload: bytes
    fin: bool = True


def xor(data: bytes, key: bytes) -> bytes:
    """Mask or unmask ``data`` with ``key`` (RFC 6455, section 5.3)."""
    return bytes(byte ^ key[index % 4] for index, byte in enumerate(data))


def encode_frame(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    rsv1: bool = False,
    rsv2: bool = False,
    rsv3: bool = False,
    mask_key: Optional[bytes] = None,
    length_size: Optional[int] = None,
    length: Optional[int] = None,
) -> bytes:
    """Encode a frame, valid or not.

    ``length_size`` forces the length encoding: 0 (7 bits), 2 (16 bits) or 8
    (64 bits); the default is the minimal one. ``length`` overrides the
    announced length. ``mask_key`` masks the payload and sets the MASK bit.
    """
    first = opcode | (0x80 if fin else 0) | (0x40 if rsv1 else 0)
    first |= (0x20 if rsv2 else 0) | (0x10 if rsv3 else 0)
    announced = len(payload) if length is None else length
    if length_size is None:
        length_size = 0 if announced < 126 else 2 if announced < 65536 else 8
    mask_bit = 0x80 if mask_key is not None else 0
    if length_size == 0:
        header = bytes([first, mask_bit | announced])
    elif length_size == 2:
        header = bytes([first, mask_bit | 126]) + struct.pack("!H", announced)
    else:
        header = bytes([first, mask_bit | 127]) + struct.pack("!Q", announced)
    if mask_key is not None:
        return header + mask_key + xor(payload, mask_key)
    return header + payload


def frame_to(side: Side, opcode: int, payload: bytes = b"", **kwargs: object) -> bytes:
    """Encode a frame as the peer of ``side`` sends it: masked towards a server."""
    if side is Side.SERVER:
        kwargs.setdefault("mask_key", MASK_KEY)
    return encode_frame(opcode, payload, **kwargs)  # type: ignore[arg-type]


def close_payload(code: int, reason: Union[str, bytes] = b"") -> bytes:
    """Payload of a close frame."""
    if isinstance(reason, str):
        reason = reason.encode()
    return struct.pack("!H", code) + reason


def decode_frames(data: bytes, *, masked: bool) -> List[WireFrame]:
    """Decode a byte string made of whole frames, checking masking and minimal lengths."""
    frames = []
    pos = 0
    while pos < len(data):
        first, second = data[pos], data[pos + 1]
        assert first & 0x70 == 0, "reserved bits set"
        assert bool(second & 0x80) is masked, "wrong masking"
        length = second & 0x7F
        pos += 2
        if length == 126:
            (length,) = struct.unpack_from("!H", data, pos)
            assert length >= 126, "non-minimal length"
            pos += 2
        elif length == 127:
            (length,) = struct.unpack_from("!Q", data, pos)
            assert length >= 65536, "non-minimal length"
            pos += 8
        key = b""
        if masked:
            key = data[pos : pos + 4]
            pos += 4
        payload = data[pos : pos + length]
        assert len(payload) == length, "truncated frame"
        pos += length
        if masked:
            payload = xor(payload, key)
        frames.append(WireFrame(first & 0x0F, payload, bool(first & 0x80)))
    return frames


def outgoing(protocol: Protocol) -> list:
    """Decode ``protocol.data_to_send()``: a list of :class:`WireFrame` and :data:`EOF`."""
    masked = protocol.side is Side.CLIENT
    result: list = []
    for chunk in protocol.data_to_send():
        if chunk == b"":
            result.append(EOF)
        else:
            result.extend(decode_frames(chunk, masked=masked))
    return result


def close_code_sent(protocol: Protocol) -> Optional[int]:
    """Close code of the close frame in ``protocol``'s output, if any."""
    for item in outgoing(protocol):
        if item != EOF and item.opcode == CLOSE:
            return struct.unpack("!H", item.payload[:2])[0] if item.payload else None
    return None


def load_pure_core_module(name: str) -> ModuleType:
    """Import ``wirespeed/_core/<name>.py`` under a private name: the pure twin."""
    import wirespeed._core

    path = pathlib.Path(wirespeed._core.__file__).with_name(f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"_wirespeed_pure_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_compiled_core_module(name: str) -> Optional[ModuleType]:
    """Import the compiled ``wirespeed/_core/<name>`` extension under a private name.

    Loading it by path tests it even on the pure-Python run
    (``WIRESPEED_NO_EXTENSIONS=1``); None when the extension is not built.
    """
    import wirespeed._core

    directory = pathlib.Path(wirespeed._core.__file__).parent
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = directory / f"{name}{suffix}"
        if path.exists():
            loader = importlib.machinery.ExtensionFileLoader(
                f"_wirespeed_compiled.{name}", str(path)
            )
            spec = importlib.util.spec_from_file_location(loader.name, path, loader=loader)
            assert spec is not None
            module = importlib.util.module_from_spec(spec)
            loader.exec_module(module)
            return module
    return None


NOT_COMPILED_REASON = "the compiled extension is not built (pip install without a C compiler)"


def core_twins(name: str) -> Tuple[ModuleType, Optional[ModuleType], List[Any]]:
    """Load both twins of ``wirespeed/_core/<name>``: ``(pure, compiled, params)``.

    ``params`` parametrizes a test over both (ids ``pure`` and ``compiled``);
    the compiled one is marked ``compiled_only`` and skipped when it is not
    built.
    """
    pure = load_pure_core_module(name)
    compiled = load_compiled_core_module(name)
    params = [
        pytest.param(pure, id="pure"),
        pytest.param(
            compiled,
            id="compiled",
            marks=[
                pytest.mark.compiled_only,
                pytest.mark.skipif(compiled is None, reason=NOT_COMPILED_REASON),
            ],
        ),
    ]
    return pure, compiled, params
