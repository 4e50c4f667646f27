"""Tests for wirespeed.exceptions: hierarchy and messages."""

from __future__ import annotations

import pytest

from wirespeed import exceptions as exc
from wirespeed.frames import Close
from wirespeed.http import Headers, Response


@pytest.mark.parametrize(
    ("error", "text"),
    [
        (exc.ConnectionClosed(None, None), "no close frame received or sent"),
        (
            exc.ConnectionClosedError(None, Close(1011, "keepalive ping timeout")),
            "sent 1011 (internal error) keepalive ping timeout; no close frame received",
        ),
        (
            exc.ConnectionClosedError(Close(1002, "bad"), None),
            "received 1002 (protocol error) bad; no close frame sent",
        ),
        (
            exc.ConnectionClosedOK(Close(1000, "bye"), Close(1000, "bye"), True),
            "received 1000 (OK) bye; then sent 1000 (OK) bye",
        ),
        (
            exc.ConnectionClosedOK(Close(1001, ""), Close(1000, ""), False),
            "sent 1000 (OK); then received 1001 (going away)",
        ),
        (
            exc.InvalidURI("http://x", "scheme isn't ws or wss"),
            "http://x isn't a valid URI: scheme isn't ws or wss",
        ),
        (exc.InvalidHeader("Upgrade"), "missing Upgrade header"),
        (exc.InvalidHeader("Upgrade", ""), "empty Upgrade header"),
        (exc.InvalidHeader("Upgrade", "h2c"), "invalid Upgrade header: h2c"),
        (
            exc.InvalidHeaderFormat("Connection", "expected token", "a b", 2),
            "invalid Connection header: expected token at 2 in a b",
        ),
        (exc.InvalidOrigin(None), "missing Origin header"),
        (exc.InvalidOrigin("https://evil"), "invalid Origin header: https://evil"),
        (exc.InvalidMethod("POST"), "unsupported HTTP method; expected GET; got POST"),
        (exc.InvalidProtocol("HTTP/1.0"), "unsupported protocol; expected HTTP/1.1; got HTTP/1.0"),
        (exc.DuplicateParameter("x"), "duplicate parameter: x"),
        (exc.InvalidParameterName("x"), "invalid parameter name: x"),
        (exc.InvalidParameterValue("x", None), "missing value for parameter x"),
        (exc.InvalidParameterValue("x", ""), "empty value for parameter x"),
        (exc.InvalidParameterValue("x", "9"), "invalid value for parameter x: 9"),
        (exc.PayloadTooBig(2000, 1000), "frame of 2000 bytes exceeds the limit of 1000 bytes"),
        (exc.PayloadTooBig("custom"), "custom"),
    ],
)
def test_messages(error, text):
    assert str(error) == text


def test_payload_too_big_mentions_earlier_fragments():
    error = exc.PayloadTooBig(600, 1000, 500)
    assert str(error) == (
        "message of at least 1100 bytes (fragments so far: 500 bytes) exceeds the limit of 1000 bytes"
    )
    error.set_current_size(None)
    assert str(error) == "frame of 600 bytes exceeds the limit of 1000 bytes"


def test_invalid_status_keeps_the_response():
    response = Response(403, "Forbidden", Headers(), b"no")
    error = exc.InvalidStatus(response)
    assert error.response is response
    assert str(error) == "server rejected WebSocket connection: HTTP 403"


def test_connection_closed_code_and_reason():
    error = exc.ConnectionClosedError(Close(1002, "bad"), None)
    assert (error.code, error.reason) == (1002, "bad")
    lost = exc.ConnectionClosedError(None, None)
    assert (lost.code, lost.reason) == (1006, "")


def test_rcvd_then_sent_needs_both_frames():
    with pytest.raises(ValueError):
        exc.ConnectionClosed(None, Close(1000, ""), True)


@pytest.mark.parametrize(
    ("child", "parents"),
    [
        (exc.ConnectionClosedOK, (exc.ConnectionClosed, exc.WebSocketException)),
        (exc.ConnectionClosedError, (exc.ConnectionClosed,)),
        (exc.InvalidMethod, (exc.InvalidMessage, exc.InvalidHandshake)),
        (exc.InvalidProtocol, (exc.InvalidMessage,)),
        (exc.RequestLineTooLong, (exc.InvalidMessage, exc.SecurityError)),
        (exc.StatusLineTooLong, (exc.InvalidMessage, exc.SecurityError)),
        (exc.HeaderLineTooLong, (exc.InvalidMessage, exc.SecurityError)),
        (exc.TooManyHeaders, (exc.InvalidMessage, exc.SecurityError)),
        (exc.InvalidHeaderFormat, (exc.InvalidHeader, exc.InvalidHandshake)),
        (exc.InvalidOrigin, (exc.InvalidHeader,)),
        (exc.InvalidUpgrade, (exc.InvalidHeader,)),
        (exc.DuplicateParameter, (exc.NegotiationError, exc.InvalidHandshake)),
        (exc.InvalidState, (exc.WebSocketException, AssertionError)),
        (exc.ConcurrencyError, (exc.WebSocketException, RuntimeError)),
        (exc.PayloadTooBig, (exc.WebSocketException,)),
        (exc.ProtocolError, (exc.WebSocketException,)),
        (exc.InvalidURI, (exc.WebSocketException,)),
        (exc.ProxyError, (exc.InvalidHandshake,)),
    ],
)
def test_hierarchy(child, parents):
    for parent in parents:
        assert issubclass(child, parent)


def test_proxy_error_is_the_asyncio_face_s():
    """``wirespeed.asyncio.ProxyError`` is the shared exception, not a copy."""
    import wirespeed.asyncio

    assert wirespeed.asyncio.ProxyError is exc.ProxyError
