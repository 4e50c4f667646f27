"""Tests for wirespeed._core.mask: both implementations, side by side.

The pure-Python module is loaded straight from ``mask.py``, so it is tested in
every run; the compiled extension is loaded from its file, so it is tested in
every run too (also with ``WIRESPEED_NO_EXTENSIONS=1``), unless it was not built.
"""

from __future__ import annotations

import array
import importlib.machinery
import importlib.util
import os
import pathlib
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import threading

import pytest
from conftest import NOT_COMPILED_REASON, core_twins
from hypothesis import given
from hypothesis import strategies as st

import wirespeed._core
import wirespeed._core.mask as active
import wirespeed._implementation

pure, compiled, IMPLEMENTATIONS = core_twins("mask")
COMPILED = compiled is not None

KEY = b"\x37\xfa\x21\x3d"


def reference(data: bytes, key: bytes, offset: int = 0) -> bytes:
    """The masking operation, straight from RFC 6455: byte i ^ key[(offset + i) % 4].

    Computed independently of both implementations: each of the four
    interleaved byte streams goes through an XOR translation table.
    """
    data = bytes(data)
    result = bytearray(len(data))
    for phase in range(4):
        table = bytes(value ^ key[(offset + phase) % 4] for value in range(256))
        result[phase::4] = data[phase::4].translate(table)
    return bytes(result)


def test_reference_is_the_definition():
    data = payload(50)
    for offset in range(-4, 8):
        assert reference(data, KEY, offset) == bytes(
            byte ^ KEY[(offset + i) % 4] for i, byte in enumerate(data)
        )


def rotate(key: bytes, offset: int) -> bytes:
    shift = offset % 4
    return key[shift:] + key[:shift]


def payload(length: int, seed: int = 0) -> bytes:
    """Deterministic bytes covering all 256 values."""
    return bytes((i * 131 + seed * 17 + (i >> 8)) & 0xFF for i in range(length))


def test_pure_module_is_the_python_file():
    assert pure.__file__.endswith("mask.py")


def test_active_module_follows_the_switch():
    # wirespeed.COMPILED is true exactly when the core modules are extensions.
    import wirespeed

    active_is_compiled = isinstance(active.__spec__.loader, importlib.machinery.ExtensionFileLoader)
    assert active_is_compiled == wirespeed.COMPILED
    if wirespeed._implementation.extensions_disabled():
        assert active.__file__.endswith("mask.py")


# apply_mask


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_rfc_6455_example(impl):
    # RFC 6455, section 5.7: a masked "Hello" from a client.
    key = bytes.fromhex("37fa213d")
    assert impl.apply_mask(b"Hello", key) == bytes.fromhex("7f9f4d5158")
    assert impl.apply_mask(bytes.fromhex("7f9f4d5158"), key) == b"Hello"


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_apply_mask_every_short_length(impl):
    for length in range(41):
        data = payload(length)
        result = impl.apply_mask(data, KEY)
        assert type(result) is bytes
        assert result == reference(data, KEY), length


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("length", [65535, 65536, 65537, 65539, 1 << 20, (1 << 20) + 3])
def test_apply_mask_large(impl, length):
    data = os.urandom(length)
    result = impl.apply_mask(data, KEY)
    assert len(result) == length
    assert result == reference(data, KEY)
    assert impl.apply_mask(result, KEY) == data


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_apply_mask_empty(impl):
    assert impl.apply_mask(b"", KEY) == b""
    assert impl.apply_mask(bytearray(), KEY) == b""
    assert impl.apply_mask(memoryview(b""), KEY) == b""


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize(
    "convert",
    [
        bytes,
        bytearray,
        lambda data: memoryview(bytes(data)),  # read-only
        lambda data: memoryview(bytearray(data)),  # writable
        lambda data: array.array("B", data),
    ],
    ids=["bytes", "bytearray", "memoryview-ro", "memoryview-rw", "array"],
)
def test_apply_mask_buffer_types(impl, convert):
    for length in (0, 1, 7, 8, 9, 100, 70000):
        data = payload(length, seed=length)
        assert impl.apply_mask(convert(data), KEY) == reference(data, KEY)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_apply_mask_wide_items_are_masked_as_raw_bytes(impl):
    data = array.array("H", range(1000, 1100))
    raw = data.tobytes()
    assert impl.apply_mask(data, KEY) == reference(raw, KEY)
    assert impl.apply_mask(memoryview(data), KEY) == reference(raw, KEY)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("writable", [False, True], ids=["read-only", "writable"])
def test_apply_mask_unaligned_memoryview_slices(impl, writable):
    base = payload(300, seed=3)
    view = memoryview(bytearray(base) if writable else base)
    for start in range(9):
        for length in (0, 1, 3, 8, 15, 16, 17, 64, 200):
            data = view[start : start + length]
            assert impl.apply_mask(data, KEY) == reference(base[start : start + length], KEY)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("key_type", [bytes, bytearray, memoryview, lambda k: array.array("B", k)])
def test_key_buffer_types(impl, key_type):
    data = payload(33)
    assert impl.apply_mask(data, key_type(KEY)) == reference(data, KEY)
    assert impl.mask_slice(data, 1, 30, key_type(KEY), 3) == reference(data[1:30], KEY, 3)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("key", [b"", b"\x01", b"abc", b"abcde", b"abcdefgh", bytearray(5)])
def test_wrong_key_length(impl, key):
    message = f"masking key must be 4 bytes long, not {len(key)}"
    with pytest.raises(ValueError, match=message):
        impl.apply_mask(b"data", key)
    with pytest.raises(ValueError, match=message):
        impl.apply_mask(b"", key)
    with pytest.raises(ValueError, match=message):
        impl.mask_slice(b"data", 0, 4, key, 0)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("bad", ["text", 12, None, [1, 2, 3, 4]], ids=repr)
def test_not_a_buffer(impl, bad):
    with pytest.raises(TypeError):
        impl.apply_mask(bad, KEY)
    with pytest.raises(TypeError):
        impl.apply_mask(b"data", bad)
    with pytest.raises(TypeError):
        impl.mask_slice(bad, 0, 0, KEY, 0)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_non_contiguous_buffer(impl):
    strided = memoryview(bytes(range(16)))[::2]
    with pytest.raises(BufferError):
        impl.apply_mask(strided, KEY)
    with pytest.raises(BufferError):
        impl.mask_slice(strided, 0, 4, KEY, 0)
    with pytest.raises(BufferError):
        impl.apply_mask(b"data", memoryview(b"abcdefgh")[::2])


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_result_is_a_copy(impl):
    data = bytearray(payload(100))
    result = impl.apply_mask(data, KEY)
    sliced = impl.mask_slice(data, 10, 90, KEY, 1)
    data[:] = bytes(100)
    assert result == reference(payload(100), KEY)
    assert sliced == reference(payload(100)[10:90], KEY, 1)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_bytearray_is_released_after_masking(impl):
    data = bytearray(payload(100_000))
    impl.apply_mask(data, KEY)
    impl.mask_slice(data, 0, 100_000, KEY, 0)
    data.extend(b"resizable again")  # BufferError if an export leaked


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_concurrent_large_masks(impl):
    data = [os.urandom(300_000) for _ in range(4)]
    expected = [reference(chunk, KEY) for chunk in data]
    results = [None] * 4

    def work(index):
        for _ in range(3):
            results[index] = impl.apply_mask(data[index], KEY)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == expected


# mask_slice


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_mask_slice_every_offset_and_length(impl):
    buffer = payload(60, seed=7)
    for key_offset in range(-5, 9):
        for start in range(5):
            for length in range(41):
                end = start + length
                expected = reference(buffer[start:end], KEY, key_offset)
                assert impl.mask_slice(buffer, start, end, KEY, key_offset) == expected
                assert impl.apply_mask(buffer[start:end], rotate(KEY, key_offset)) == expected


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("convert", [bytes, bytearray, memoryview], ids=lambda c: c.__name__)
@pytest.mark.parametrize("key_offset", [0, 1, 2, 3, 1001, -1])
def test_mask_slice_large(impl, convert, key_offset):
    buffer = os.urandom((1 << 20) + 21)
    start, end = 13, (1 << 20) + 17
    result = impl.mask_slice(convert(buffer), start, end, KEY, key_offset)
    assert result == reference(buffer[start:end], KEY, key_offset)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_mask_slice_unmasks_a_payload_received_in_pieces(impl):
    message = payload(1000, seed=9)
    masked = impl.apply_mask(message, KEY)
    receive_buffer = bytearray(b"header" + masked + b"next frame")
    cuts = [0, 1, 2, 5, 13, 64, 65, 500, 997, 1000]
    pieces = []
    for low, high in zip(cuts, cuts[1:]):
        pieces.append(impl.mask_slice(receive_buffer, 6 + low, 6 + high, KEY, low))
    assert b"".join(pieces) == message


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_mask_slice_empty_ranges(impl):
    for position in (0, 3, 10):
        assert impl.mask_slice(bytes(10), position, position, KEY, 2) == b""


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize(("start", "end"), [(-1, 3), (0, 11), (5, 4), (11, 11), (-3, -1), (4, -1)])
def test_mask_slice_invalid_bounds(impl, start, end):
    message = rf"invalid slice \[{start}:{end}\] of a buffer of 10 bytes"
    for buffer in (bytes(10), bytearray(10), memoryview(bytes(10))):
        with pytest.raises(ValueError, match=message):
            impl.mask_slice(buffer, start, end, KEY, 0)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_mask_slice_counts_bytes_of_wide_buffers(impl):
    data = array.array("I", range(10))
    raw = data.tobytes()
    assert impl.mask_slice(data, 3, 37, KEY, 1) == reference(raw[3:37], KEY, 1)
    with pytest.raises(ValueError):
        impl.mask_slice(data, 0, 41, KEY, 0)


# mask_inplace


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_mask_inplace_every_offset_and_length(impl):
    original = payload(60, seed=11)
    for key_offset in range(-5, 9):
        for start in range(5):
            for length in range(41):
                end = start + length
                buffer = bytearray(original)
                assert impl.mask_inplace(buffer, start, end, KEY, key_offset) is None
                expected = reference(original[start:end], KEY, key_offset)
                assert buffer == original[:start] + expected + original[end:]


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize(
    "convert",
    [bytearray, lambda data: memoryview(bytearray(data)), lambda data: array.array("B", data)],
    ids=["bytearray", "memoryview", "array"],
)
@pytest.mark.parametrize("key_offset", [0, 3, -7])
def test_mask_inplace_large(impl, convert, key_offset):
    original = os.urandom((1 << 20) + 40)
    buffer = convert(original)
    start, end = 7, (1 << 20) + 33
    impl.mask_inplace(buffer, start, end, bytearray(KEY), key_offset)
    expected = reference(original[start:end], KEY, key_offset)
    assert bytes(buffer) == original[:start] + expected + original[end:]
    impl.mask_inplace(buffer, start, end, KEY, key_offset)
    assert bytes(buffer) == original


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_mask_inplace_wide_items_and_unaligned_views(impl):
    data = array.array("I", range(100))
    raw = data.tobytes()
    impl.mask_inplace(data, 3, 397, KEY, 2)
    assert data.tobytes() == raw[:3] + reference(raw[3:397], KEY, 2) + raw[397:]
    base = bytearray(payload(100))
    for shift in range(1, 8):
        view = memoryview(base)[shift : shift + 80]
        before = bytes(base)
        impl.mask_inplace(view, 1, 79, KEY, shift)
        expected = reference(before[shift + 1 : shift + 79], KEY, shift)
        assert base == before[: shift + 1] + expected + before[shift + 79 :]
        view.release()
    base.extend(b"resizable")  # no export left behind


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_mask_inplace_needs_a_writable_buffer(impl):
    for buffer in (b"read-only", memoryview(b"read-only")):
        with pytest.raises(TypeError, match="mask_inplace needs a writable buffer"):
            impl.mask_inplace(buffer, 0, 4, KEY, 0)
    with pytest.raises(TypeError):
        impl.mask_inplace("text", 0, 4, KEY, 0)
    with pytest.raises(BufferError):
        impl.mask_inplace(memoryview(bytearray(8))[::2], 0, 4, KEY, 0)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_mask_inplace_invalid_arguments(impl):
    buffer = bytearray(10)
    for start, end in [(-1, 3), (0, 11), (5, 4)]:
        with pytest.raises(ValueError, match="invalid slice"):
            impl.mask_inplace(buffer, start, end, KEY, 0)
    with pytest.raises(ValueError, match="masking key must be 4 bytes long, not 3"):
        impl.mask_inplace(buffer, 0, 4, b"abc", 0)
    assert buffer == bytes(10)


# Properties


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@given(data=st.binary(max_size=300), key=st.binary(min_size=4, max_size=4))
def test_masking_twice_is_identity(impl, data, key):
    masked = impl.apply_mask(data, key)
    assert len(masked) == len(data)
    assert impl.apply_mask(masked, key) == data


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@given(
    data=st.binary(max_size=300),
    key=st.binary(min_size=4, max_size=4),
    key_offset=st.integers(-(2**40), 2**40),
    bounds=st.tuples(st.integers(0, 300), st.integers(0, 300)),
)
def test_mask_slice_matches_reference(impl, data, key, key_offset, bounds):
    start, end = sorted(min(bound, len(data)) for bound in bounds)
    result = impl.mask_slice(bytearray(data), start, end, key, key_offset)
    assert result == reference(data[start:end], key, key_offset)
    unmasked = impl.mask_slice(result, 0, len(result), key, key_offset)
    assert unmasked == data[start:end]


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@given(data=st.binary(max_size=200), cuts=st.lists(st.integers(0, 200), max_size=6))
def test_pieces_with_running_offset_equal_whole(impl, data, cuts):
    key = b"\x01\x80\xfe\x7f"
    points = sorted({0, len(data), *(min(cut, len(data)) for cut in cuts)})
    pieces = [impl.mask_slice(data, a, b, key, a) for a, b in zip(points, points[1:])]
    assert b"".join(pieces) == impl.apply_mask(data, key)
    buffer = bytearray(data)
    for a, b in zip(points, points[1:]):
        impl.mask_inplace(buffer, a, b, key, a)
    assert buffer == impl.apply_mask(data, key)


@pytest.mark.compiled_only
@pytest.mark.skipif(not COMPILED, reason=NOT_COMPILED_REASON)
@given(
    data=st.binary(max_size=200),
    key=st.binary(min_size=4, max_size=4),
    key_offset=st.integers(-100, 100),
    start=st.integers(0, 200),
)
def test_compiled_matches_pure(data, key, key_offset, start):
    start = min(start, len(data))
    assert compiled.apply_mask(data, key) == pure.apply_mask(data, key)
    assert compiled.mask_slice(data, start, len(data), key, key_offset) == pure.mask_slice(
        data, start, len(data), key, key_offset
    )
    buffers = [bytearray(data), bytearray(data)]
    compiled.mask_inplace(buffers[0], start, len(data), key, key_offset)
    pure.mask_inplace(buffers[1], start, len(data), key, key_offset)
    assert buffers[0] == buffers[1]


# The C-level API, from another Cython module


CIMPORT_SOURCE = textwrap.dedent(
    """
    from wirespeed._core.mask cimport apply_mask, mask_inplace, mask_into, mask_slice

    def masked_in_place(bytearray data, bytes key, Py_ssize_t key_offset):
        cdef unsigned char* pointer = <unsigned char*><char*>data
        mask_into(pointer, pointer, len(data), <const unsigned char*><char*>key, key_offset)
        return bytes(data)

    def masked(bytes data, bytes key, Py_ssize_t start, Py_ssize_t key_offset):
        cdef bytearray buffer = bytearray(data)
        mask_inplace(buffer, start, len(buffer), key, key_offset)
        return (
            apply_mask(data, key),
            mask_slice(data, start, len(data), key, key_offset),
            bytes(buffer),
        )
    """
)


def build_cython_module(tmp_path: pathlib.Path, name: str, source: str):
    """Compile ``source`` as extension module ``name`` and import it."""
    pytest.importorskip("Cython")
    if shutil.which(sysconfig.get_config_var("CC").split()[0]) is None:
        pytest.skip("no C compiler")
    (tmp_path / f"{name}.pyx").write_text(source)
    src_dir = pathlib.Path(wirespeed._core.__file__).parents[2]
    (tmp_path / "setup.py").write_text(
        textwrap.dedent(
            f"""
            from setuptools import setup
            from Cython.Build import cythonize
            setup(
                ext_modules=cythonize(
                    "{name}.pyx",
                    include_path=[{str(src_dir)!r}],
                    compiler_directives={{"language_level": 3}},
                    quiet=True,
                ),
            )
            """
        )
    )
    subprocess.run(
        [sys.executable, "setup.py", "build_ext", "--inplace"],
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    sys.path.insert(0, str(tmp_path))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(tmp_path))


@pytest.mark.compiled_only
@pytest.mark.skipif(not COMPILED, reason=NOT_COMPILED_REASON)
@pytest.mark.skipif(
    wirespeed._implementation.extensions_disabled(),
    reason="a cimport resolves wirespeed._core.mask by name, which WIRESPEED_NO_EXTENSIONS "
    "points at the .py file; the compiled run covers it",
)
def test_cimport_from_cython(tmp_path):
    module = build_cython_module(tmp_path, "wirespeed_test_cimport_mask", CIMPORT_SOURCE)
    data = payload(77, seed=5)
    for key_offset in range(-2, 6):
        assert module.masked_in_place(bytearray(data), KEY, key_offset) == reference(
            data, KEY, key_offset
        )
        whole, sliced, in_place = module.masked(data, KEY, 5, key_offset)
        assert whole == reference(data, KEY)
        assert sliced == reference(data[5:], KEY, key_offset)
        assert in_place == data[:5] + sliced


# encode_masked_frame: a client frame whose key is read from a pool of random bytes.


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("size", [0, 5, 125, 126, 65535, 65536, 70_001])
def test_encode_masked_frame_reads_its_key_in_the_pool(impl, size):
    data = payload(size, seed=size)
    pool = bytes(range(64))
    for offset in (0, 1, 7, 60):
        key = pool[offset : offset + 4]
        frame = impl.encode_masked_frame(0x82, data, pool, offset)
        assert frame == impl.encode_frame(0x82, data, key)
        header_length = 2 + (0 if size < 126 else 2 if size < 65536 else 8)
        assert frame[header_length : header_length + 4] == key
        assert frame[header_length + 4 :] == reference(data, key)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("offset", [-1, 61, 64, 1000])
def test_encode_masked_frame_rejects_an_offset_outside_the_pool(impl, offset):
    with pytest.raises(ValueError, match="4-byte key"):
        impl.encode_masked_frame(0x82, b"data", bytes(64), offset)
