"""Tests for wirespeed.frames: Frame, Close, Opcode, CloseCode."""

from __future__ import annotations

import pytest

from wirespeed.exceptions import ProtocolError
from wirespeed.frames import (
    OK_CLOSE_CODES,
    Close,
    CloseCode,
    Frame,
    Opcode,
    is_valid_close_code,
)


class TestFrame:
    def test_defaults(self):
        frame = Frame(Opcode.TEXT, b"hi")
        assert (frame.fin, frame.rsv1, frame.rsv2, frame.rsv3) == (True, False, False, False)

    def test_equality_compares_every_field(self):
        assert Frame(Opcode.TEXT, b"a") == Frame(Opcode.TEXT, b"a")
        assert Frame(Opcode.TEXT, b"a") != Frame(Opcode.BINARY, b"a")
        assert Frame(Opcode.TEXT, b"a") != Frame(Opcode.TEXT, b"b")
        assert Frame(Opcode.TEXT, b"a") != Frame(Opcode.TEXT, b"a", fin=False)
        assert Frame(Opcode.TEXT, b"a") != Frame(Opcode.TEXT, b"a", rsv1=True)
        assert Frame(Opcode.TEXT, b"a") != "not a frame"

    def test_equality_accepts_any_buffer(self):
        assert Frame(Opcode.BINARY, bytearray(b"ab")) == Frame(Opcode.BINARY, b"ab")

    def test_repr_shows_fields(self):
        assert repr(Frame(Opcode.PING, b"x")) == (
            "Frame(opcode=<Opcode.PING: 9>, data=b'x', fin=True, rsv1=False, rsv2=False, rsv3=False)"
        )

    @pytest.mark.parametrize(
        ("frame", "text"),
        [
            (Frame(Opcode.TEXT, "café".encode()), "TEXT 'café' [5 bytes]"),
            (Frame(Opcode.TEXT, b"a", fin=False), "TEXT 'a' [1 byte, continued]"),
            (Frame(Opcode.BINARY, b"\x00\xff"), "BINARY 00 ff [2 bytes]"),
            (Frame(Opcode.CLOSE, b"\x03\xe8bye"), "CLOSE 1000 (OK) bye [5 bytes]"),
            (Frame(Opcode.CONT, b"end"), "CONT 'end' [3 bytes]"),
            (Frame(Opcode.TEXT, b"\xff"), "TEXT ff [1 byte]"),
        ],
    )
    def test_str_for_logs(self, frame, text):
        assert str(frame) == text

    def test_str_shortens_long_payloads(self):
        text = str(Frame(Opcode.TEXT, b"x" * 1000))
        assert "..." in text and text.endswith("[1000 bytes]")
        assert len(text) < 120

    def test_check_accepts_valid_frames(self):
        Frame(Opcode.PING, b"x" * 125).check()
        Frame(Opcode.TEXT, b"x" * 1000, fin=False).check()

    @pytest.mark.parametrize(
        ("frame", "message"),
        [
            (Frame(Opcode.TEXT, b"", rsv1=True), "reserved bits must be 0"),
            (Frame(Opcode.TEXT, b"", rsv2=True), "reserved bits must be 0"),
            (Frame(Opcode.TEXT, b"", rsv3=True), "reserved bits must be 0"),
            (Frame(Opcode.PING, b"x" * 126), "control frame too long"),
            (Frame(Opcode.CLOSE, b"\x03\xe8", fin=False), "fragmented control frame"),
        ],
    )
    def test_check_rejects_invalid_frames(self, frame, message):
        with pytest.raises(ProtocolError, match=message):
            frame.check()


class TestClose:
    @pytest.mark.parametrize(
        ("close", "text"),
        [
            (Close(1000, ""), "1000 (OK)"),
            (Close(1001, "bye"), "1001 (going away) bye"),
            (Close(1011, "keepalive ping timeout"), "1011 (internal error) keepalive ping timeout"),
            (Close(3000, ""), "3000 (registered)"),
            (Close(4999, "x"), "4999 (private use) x"),
            (Close(1006, ""), "1006 (connection closed abnormally [internal])"),
            (Close(2999, ""), "2999 (unknown)"),
        ],
    )
    def test_str(self, close, text):
        assert str(close) == text

    def test_parse_and_serialize_round_trip(self):
        close = Close(1001, "héllo")
        assert Close.parse(close.serialize()) == close

    def test_parse_empty_payload_means_no_status(self):
        assert Close.parse(b"") == Close(CloseCode.NO_STATUS_RCVD, "")

    def test_parse_one_byte_is_an_error(self):
        with pytest.raises(ProtocolError, match="close frame too short"):
            Close.parse(b"\x03")

    def test_parse_rejects_invalid_utf8_reason(self):
        with pytest.raises(UnicodeDecodeError):
            Close.parse(b"\x03\xe8\xff")

    @pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000])
    def test_invalid_codes(self, code):
        assert not is_valid_close_code(code)
        with pytest.raises(ProtocolError, match="invalid status code"):
            Close(code, "").serialize()
        with pytest.raises(ProtocolError, match="invalid status code"):
            Close.parse(code.to_bytes(2, "big"))

    @pytest.mark.parametrize(
        "code", [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4999]
    )
    def test_valid_codes(self, code):
        assert is_valid_close_code(code)
        assert Close.parse(Close(code, "r").serialize()) == Close(code, "r")

    def test_serialize_rejects_reason_that_does_not_fit(self):
        Close(1000, "x" * 123).serialize()
        with pytest.raises(ProtocolError, match="close reason too long"):
            Close(1000, "x" * 124).serialize()

    def test_equality_and_hash(self):
        assert Close(1000, "a") == Close(1000, "a")
        assert Close(1000, "a") != Close(1000, "b")
        assert len({Close(1000, "a"), Close(1000, "a")}) == 1
        assert Close(1000, "a") != (1000, "a")

    def test_ok_codes(self):
        assert {1000, 1001, 1005} == OK_CLOSE_CODES


def test_opcode_values_follow_rfc6455():
    assert [op.value for op in Opcode] == [0, 1, 2, 8, 9, 10]
