"""Tests for wirespeed._core.sockio: the pure-Python and compiled twins, side by side."""

from __future__ import annotations

import gc
import os
import socket

import pytest
from conftest import core_twins

pure, compiled, IMPLEMENTATIONS = core_twins("sockio")


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize(("start", "length"), [(0, 0), (0, 10), (3, 4), (10, 0), (9, 1)])
def test_view_slice_and_bytes_match_slicing(impl, start, length):
    buffer = bytearray(b"0123456789")
    view = memoryview(buffer)
    sliced = impl.view_slice(view, start, length)
    assert type(sliced) is memoryview
    assert sliced.tobytes() == buffer[start : start + length]
    assert (sliced.nbytes, sliced.shape, sliced.strides) == (length, (length,), (1,))
    assert sliced.contiguous and sliced.format == "B" and not sliced.readonly
    assert impl.view_bytes(view, start, length) == bytes(buffer[start : start + length])
    # The slice is a view: it sees changes, and can be sliced again.
    if length:
        buffer[start] = ord("x")
        assert sliced[0] == ord("x")
        assert sliced[1:].tobytes() == buffer[start + 1 : start + length]


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize(("start", "length"), [(-1, 2), (0, -1), (8, 3), (11, 0)])
def test_view_slice_and_bytes_reject_out_of_range(impl, start, length):
    view = memoryview(bytearray(10))
    with pytest.raises(IndexError):
        impl.view_slice(view, start, length)
    with pytest.raises(IndexError):
        impl.view_bytes(view, start, length)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_view_slice_keeps_the_buffer_alive(impl):
    buffer = bytearray(b"keep me alive")
    view = memoryview(buffer)
    sliced = impl.view_slice(view, 5, 2)
    del view
    gc.collect()
    with pytest.raises(BufferError):
        buffer.extend(b"!")  # still exported through the slice
    assert sliced.tobytes() == b"me"
    sliced.release()
    buffer.extend(b"!")


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_view_slice_of_other_objects(impl):
    assert impl.view_slice(b"abcdef", 1, 3) == b"bcd"
    assert impl.view_bytes(bytearray(b"abcdef"), 2, 2) == b"cd"
    released = memoryview(bytearray(4))
    released.release()
    with pytest.raises(ValueError):
        impl.view_slice(released, 0, 1)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_new_buffer(impl):
    for size in (0, 7, 2**20):
        buffer = impl.new_buffer(size)
        assert type(buffer) is bytearray and len(buffer) == size
    with pytest.raises(ValueError):
        impl.new_buffer(-1)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_reads_and_writes(impl):
    left, right = socket.socketpair()
    try:
        left.setblocking(False)
        right.setblocking(False)
        buffer = bytearray(16)
        assert impl.read_into(left.fileno(), buffer) == -1
        assert impl.write_some(right.fileno(), b"abc") == 3
        assert impl.writev_some(right.fileno(), b"de", memoryview(b"xfg")[1:]) == 4
        assert impl.read_into(left.fileno(), buffer) == 7
        assert buffer[:7] == b"abcdefg"
        big = os.urandom(16 * 2**20)
        first = impl.write_some(right.fileno(), big)
        assert 0 < first < len(big)
        assert impl.write_some(right.fileno(), big) == -1
        right.close()
        # What was written arrives whole, then the end of the stream.
        received = bytearray()
        chunk = bytearray(2**20)
        while True:
            count = impl.read_into(left.fileno(), chunk)
            if count <= 0:
                break
            received += chunk[:count]
        assert count == 0
        assert received == big[:first]
    finally:
        left.close()
        if right.fileno() >= 0:
            right.close()
