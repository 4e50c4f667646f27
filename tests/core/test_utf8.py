"""Tests for wirespeed._core.utf8: both implementations, side by side.

The pure-Python module is loaded straight from ``utf8.py``, so it is tested in
every run; the compiled extension is loaded from its file, so it is tested in
every run too (also with ``WIRESPEED_NO_EXTENSIONS=1``), unless it was not built.

Convention under test: an error names the chunk being fed and the index, in
that chunk, of the first byte that cannot belong to valid UTF-8, with
CPython's wording for the reason.
"""

from __future__ import annotations

import array
import importlib.machinery
import importlib.util
import pathlib
import shutil
import subprocess
import sys
import sysconfig
import textwrap

import pytest
from conftest import NOT_COMPILED_REASON, core_twins
from hypothesis import example, given
from hypothesis import strategies as st

import wirespeed._core
import wirespeed._core.utf8 as active
import wirespeed._implementation

pure, compiled, IMPLEMENTATIONS = core_twins("utf8")
COMPILED = compiled is not None

START = "invalid start byte"
CONTINUATION = "invalid continuation byte"
END = "unexpected end of data"


def outcome(impl, chunks):
    """Feed ``chunks`` then finish; describe what happened.

    Returns ``None`` when the message is valid, else ``(where, absolute
    position, reason)`` with ``where`` being ``"feed"`` or ``"finish"``; for a
    feed error, the error's fields are checked against the convention.
    """
    validator = impl.Utf8Validator()
    offset = 0
    for chunk in chunks:
        try:
            validator.feed(chunk)
        except UnicodeDecodeError as exc:
            assert exc.encoding == "utf-8"
            assert exc.object == bytes(chunk)
            assert type(exc.object) is bytes
            assert exc.end == exc.start + 1
            assert 0 <= exc.start < len(chunk)
            assert exc.reason in (START, CONTINUATION)
            assert validator.complete  # reset after an error
            return ("feed", offset + exc.start, exc.reason)
        offset += len(chunk)
    complete = validator.complete
    try:
        validator.finish()
    except UnicodeDecodeError as exc:
        assert not complete
        assert exc.reason == END
        assert (exc.start, exc.end) == (0, len(exc.object))
        assert 1 <= len(exc.object) <= 3
        assert validator.complete
        return ("finish", offset - len(exc.object), END)
    assert complete
    return None


def cpython_outcome(data: bytes):
    """What ``outcome`` must return, derived from CPython's strict decoder.

    CPython reports the start of the malformed sequence and, for a bad
    continuation byte, ends the error just before the offending byte.
    """
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.reason == START:
            return ("feed", exc.start, START)
        if exc.reason == CONTINUATION:
            return ("feed", exc.end, CONTINUATION)
        assert exc.reason == END
        return ("finish", exc.start, END)
    return None


def test_pure_module_is_the_python_file():
    assert pure.__file__.endswith("utf8.py")


def test_active_module_follows_the_switch():
    # wirespeed.COMPILED is true exactly when the core modules are extensions.
    import wirespeed

    active_is_compiled = isinstance(active.__spec__.loader, importlib.machinery.ExtensionFileLoader)
    assert active_is_compiled == wirespeed.COMPILED
    if wirespeed._implementation.extensions_disabled():
        assert active.__file__.endswith("utf8.py")


# Valid input


VALID_SAMPLES = [
    b"",
    b"Hello, world",
    bytes(range(128)),
    "\u0080\u07ff\u0800\ufffd\uffff".encode(),
    "\U00010000\U0010ffff".encode(),
    "\ud7ff\ue000".encode(),  # around the surrogates
    "κόσμε".encode(),
    "Привет, мир! 日本語 🎉 ﷽".encode(),
    ("ascii " * 50 + "é" + "x" * 33 + "€" + "🎉" * 9).encode(),
]


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("data", VALID_SAMPLES)
def test_valid(impl, data):
    assert outcome(impl, [data]) is None
    assert outcome(impl, [data[i : i + 1] for i in range(len(data))]) is None
    for cut in range(len(data) + 1):
        assert outcome(impl, [data[:cut], data[cut:]]) is None


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_complete_tracks_sequences(impl):
    validator = impl.Utf8Validator()
    assert validator.complete
    for part, complete in [
        (b"a", True),
        (b"\xf0", False),
        (b"\x9f", False),
        (b"\x98", False),
        (b"\x80", True),
        (b"\xe2\x82", False),
        (b"", False),
        (b"\xac\xc3", False),
        (b"\xa9", True),
    ]:
        validator.feed(part)
        assert validator.complete is complete, part
    validator.finish()
    assert validator.complete


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_reset_forgets_partial_sequence(impl):
    validator = impl.Utf8Validator()
    validator.feed(b"abc\xe2\x82")
    assert not validator.complete
    validator.reset()
    assert validator.complete
    validator.feed(b"a")  # would be an invalid continuation without reset
    validator.finish()


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize(
    "convert",
    [
        bytes,
        bytearray,
        lambda data: memoryview(bytes(data)),
        lambda data: memoryview(bytearray(data)),
        lambda data: array.array("B", data),
    ],
    ids=["bytes", "bytearray", "memoryview-ro", "memoryview-rw", "array"],
)
def test_buffer_types(impl, convert):
    data = "€ and 🎉 in ascii".encode()
    assert outcome(impl, [convert(data[:2]), convert(data[2:])]) is None
    assert outcome(impl, [convert(b"ok \xc3\x28")]) == ("feed", 4, CONTINUATION)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_unaligned_memoryview_slices(impl):
    base = ("x" * 40 + "日本語" * 10 + "y" * 40).encode() + b"\xff" + b"z" * 40
    view = memoryview(base)
    bad = base.index(b"\xff")
    for start in range(9):
        assert outcome(impl, [view[start:bad]]) is None
        assert outcome(impl, [view[start:]]) == ("feed", bad - start, START)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_wide_items_are_validated_as_raw_bytes(impl):
    data = array.array("H", [0xA9C3, 0x4141])  # native order: either is checked
    assert outcome(impl, [data]) == cpython_outcome(data.tobytes())


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_not_a_buffer(impl):
    validator = impl.Utf8Validator()
    for bad in ("text", 12, None):
        with pytest.raises(TypeError):
            validator.feed(bad)
    with pytest.raises(BufferError):
        validator.feed(memoryview(b"abcdef")[::2])


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize(
    "convert",
    [bytes, bytearray, lambda data: memoryview(bytes(data)), lambda data: array.array("B", data)],
    ids=["bytes", "bytearray", "memoryview", "array"],
)
def test_feed_slice(impl, convert):
    data = b"header" + KOSME + b"\xf4\x90\x80\x80" + b"trailer"
    buffer = convert(data)
    bad = data.index(b"\x90")
    validator = impl.Utf8Validator()
    validator.feed_slice(buffer, 6, 9)
    assert not validator.complete
    validator.feed_slice(buffer, 9, 9)
    validator.feed_slice(buffer, 9, 6 + len(KOSME))
    assert validator.complete
    validator.feed_slice(buffer, bad - 1, bad)
    with pytest.raises(UnicodeDecodeError) as info:
        validator.feed_slice(buffer, bad, len(data))
    assert info.value.object == data[bad:]
    assert (info.value.start, info.value.end, info.value.reason) == (0, 1, CONTINUATION)
    with pytest.raises(UnicodeDecodeError) as info:
        validator.feed_slice(buffer, 3, len(data))
    assert info.value.object == data[3:]
    assert (info.value.start, info.value.reason) == (bad - 3, CONTINUATION)
    assert validator.complete


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_feed_slice_invalid_bounds(impl):
    validator = impl.Utf8Validator()
    for buffer in (bytes(10), bytearray(10), memoryview(bytes(10))):
        for start, end in [(-1, 3), (0, 11), (5, 4), (11, 11)]:
            with pytest.raises(ValueError, match=rf"invalid slice \[{start}:{end}\]"):
                validator.feed_slice(buffer, start, end)


# Each class of invalid byte; (chunk, index of the first bad byte, reason)

INVALID_CASES = [
    # bytes that never appear in UTF-8
    (b"\xc0", 0, START),
    (b"\xc1\xbf", 0, START),
    (b"ab\xf5\x80\x80\x80", 2, START),
    (b"\xf8\x88\x80\x80\x80", 0, START),
    (b"\xfc\x84\x80\x80\x80\x80", 0, START),
    (b"\xfe", 0, START),
    (b"\xff", 0, START),
    # overlong forms
    (b"\xc0\xaf", 0, START),
    (b"\xc1\x81", 0, START),
    (b"\xe0\x80\xaf", 1, CONTINUATION),
    (b"\xe0\x9f\xbf", 1, CONTINUATION),
    (b"\xf0\x80\x80\xaf", 1, CONTINUATION),
    (b"\xf0\x8f\xbf\xbf", 1, CONTINUATION),
    # surrogates
    (b"\xed\xa0\x80", 1, CONTINUATION),
    (b"\xed\xad\xbf", 1, CONTINUATION),
    (b"\xed\xb0\x80", 1, CONTINUATION),
    (b"\xed\xbf\xbf", 1, CONTINUATION),
    (b"\xed\xa0\x80\xed\xb0\x80", 1, CONTINUATION),
    # above U+10FFFF
    (b"\xf4\x90\x80\x80", 1, CONTINUATION),
    (b"\xf4\xbf\xbf\xbf", 1, CONTINUATION),
    (b"\xf5\x80\x80\x80", 0, START),
    (b"\xf7\xbf\xbf\xbf", 0, START),
    # stray continuation bytes
    (b"\x80", 0, START),
    (b"\xbf", 0, START),
    (b"a\x80b", 1, START),
    (b"\xc3\xa9\xa9", 2, START),
    (b"\xe2\x82\xac\x80", 3, START),
    # sequences cut short by something other than a continuation byte
    (b"\xc3A", 1, CONTINUATION),
    (b"\xc3\xc3\xa9", 1, CONTINUATION),
    (b"\xe2\x82A", 2, CONTINUATION),
    (b"\xe2\x82\xe2\x82\xac", 2, CONTINUATION),
    (b"\xf0\x9f\x98A", 3, CONTINUATION),
    (b"\xf0\x9f\x98\xf0\x9f\x98\x80", 3, CONTINUATION),
    (b"\xf1 ", 1, CONTINUATION),
]


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize(("data", "position", "reason"), INVALID_CASES)
def test_invalid(impl, data, position, reason):
    expected = ("feed", position, reason)
    assert cpython_outcome(data) == expected  # the table agrees with CPython
    assert outcome(impl, [data]) == expected
    # Nothing after the bad byte matters: the verdict is immediate.
    assert outcome(impl, [data[: position + 1]]) == expected
    # Same verdict and absolute position wherever the chunk is split.
    for cut in range(len(data) + 1):
        assert outcome(impl, [data[:cut], data[cut:]]) == expected
    assert outcome(impl, [data[i : i + 1] for i in range(len(data))]) == expected
    # And behind any prefix, whatever its length (exercises the fast paths).
    for prefix in (b"", b"x" * 7, b"x" * 16, b"y" * 31, "é€🎉".encode() * 5):
        shifted = ("feed", position + len(prefix), reason)
        assert outcome(impl, [prefix + data + b"tail" * 5]) == shifted


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("data", [b"\xc3", b"\xe2\x82", b"\xf0\x9f\x98", b"\xf4\x8f\xbf"])
def test_truncated_at_end_fails_only_at_finish(impl, data):
    for prefix in (b"", b"abc", "κόσμε".encode()):
        for cut in range(len(prefix + data) + 1):
            chunks = [(prefix + data)[:cut], (prefix + data)[cut:]]
            validator = impl.Utf8Validator()
            for chunk in chunks:
                validator.feed(chunk)
            assert not validator.complete
            with pytest.raises(UnicodeDecodeError) as info:
                validator.finish()
            assert info.value.reason == END
            assert info.value.object == data
            assert (info.value.start, info.value.end) == (0, len(data))
            assert validator.complete
            validator.feed(b"reset after finish")
            validator.finish()


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_error_resets_the_validator(impl):
    validator = impl.Utf8Validator()
    validator.feed(b"\xe2\x82")
    with pytest.raises(UnicodeDecodeError):
        validator.feed(b"A")
    assert validator.complete
    validator.feed(b"fresh start")
    validator.finish()


# Fail fast: Autobahn testsuite, cases 6.x


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize(
    ("data", "position"),
    [
        (b"\xf4\x90", 1),  # above U+10FFFF, known from the second byte
        (b"\xed\xa0", 1),  # a surrogate, known from the second byte
        (b"\xe0\x80", 1),  # overlong, known from the second byte
        (b"\xf0\x80", 1),  # overlong, known from the second byte
        (b"\xf0\x8f", 1),
        (b"\xe0\x9f", 1),
        (b"\xed\xbf", 1),
        (b"\xf4\xbf", 1),
    ],
)
def test_fail_fast_on_truncated_impossible_sequence(impl, data, position):
    # No more bytes are coming yet: the error must not wait for them.
    assert outcome(impl, [data]) == ("feed", position, CONTINUATION)
    validator = impl.Utf8Validator()
    validator.feed(data[:1])
    with pytest.raises(UnicodeDecodeError) as info:
        validator.feed(data[1:])
    assert (info.value.start, info.value.end, info.value.reason) == (0, 1, CONTINUATION)
    assert info.value.object == data[1:]


KOSME = "κόσμε".encode()


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize(
    ("fragments", "failing_fragment", "position"),
    [
        # 6.4.1: the second of three frames holds an invalid code point
        ([KOSME, b"\xf4\x90\x80\x80", b"edited"], 1, 1),
        # 6.4.2: the invalid code point straddles the first two frames
        ([KOSME + b"\xf4", b"\x90", b"\x80\x80edited"], 1, 0),
        # 6.4.x: the bad byte ends the first frame
        ([KOSME + b"\xf4\x90", b"\x80\x80edited"], 0, len(KOSME) + 1),
        # 6.3.1 in three fragments: an invalid byte in the middle of a frame
        ([KOSME, b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80", b"edited"], 1, 12),
    ],
)
def test_autobahn_fragmented_text(impl, fragments, failing_fragment, position):
    validator = impl.Utf8Validator()
    for index, fragment in enumerate(fragments):
        if index < failing_fragment:
            validator.feed(fragment)
            continue
        with pytest.raises(UnicodeDecodeError) as info:
            validator.feed(fragment)
        assert index == failing_fragment
        assert info.value.start == position
        assert info.value.reason == CONTINUATION
        break
    else:
        pytest.fail("no error")


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_autobahn_byte_by_byte(impl):
    # 6.4.3 / 6.4.4: the same payloads delivered one byte per read.
    data = KOSME + b"\xf4\x90\x80\x80" + b"edited"
    validator = impl.Utf8Validator()
    for index in range(len(data)):
        if index == len(KOSME) + 1:
            with pytest.raises(UnicodeDecodeError):
                validator.feed(data[index : index + 1])
            break
        validator.feed(data[index : index + 1])
    else:
        pytest.fail("no error")


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_large_chunks(impl):
    body = ("ascii text, " * 10000 + "Привет, мир! 日本語 🎉 " * 5000).encode()
    assert len(body) > 65536
    assert outcome(impl, [body]) is None
    assert outcome(impl, [body + b"\xed\xa0\x80" + body]) == ("feed", len(body) + 1, CONTINUATION)
    assert outcome(impl, [body, b"\x80" + body]) == ("feed", len(body), START)
    cut = len(body) - 1  # inside the final emoji
    assert outcome(impl, [bytearray(body[:cut]), memoryview(body[cut:])]) is None


# Properties


utf8_text = st.text().map(lambda text: text.encode("utf-8", "surrogatepass"))
nearly_valid = st.tuples(st.text(max_size=30), st.binary(max_size=3), st.text(max_size=30)).map(
    lambda parts: parts[0].encode("utf-8", "surrogatepass") + parts[1] + parts[2].encode()
)
any_bytes = st.one_of(st.binary(max_size=80), utf8_text, nearly_valid)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@given(data=any_bytes)
@example(data=b"\xed\xa0")
@example(data=b"\xe0\xa0")
@example(data=b"\xf4\x8f\xbf\xbf\xf4\x90")
def test_agrees_with_cpython(impl, data):
    assert outcome(impl, [data]) == cpython_outcome(data)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@given(data=any_bytes)
def test_every_split_point_gives_the_same_verdict(impl, data):
    expected = outcome(impl, [data])
    for cut in range(len(data) + 1):
        assert outcome(impl, [data[:cut], data[cut:]]) == expected


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@given(data=any_bytes, cuts=st.lists(st.integers(0, 90), max_size=8))
def test_any_chunking_gives_the_same_verdict(impl, data, cuts):
    points = sorted({0, len(data), *(min(cut, len(data)) for cut in cuts)})
    chunks = [data[a:b] for a, b in zip(points, points[1:])]
    assert outcome(impl, chunks) == cpython_outcome(data)
    # The same chunks, read in place out of one receive buffer.
    buffer = bytearray(b"junk" + data + b"\xff")
    validator = impl.Utf8Validator()
    result = None
    for a, b in zip(points, points[1:]):
        try:
            validator.feed_slice(buffer, 4 + a, 4 + b)
        except UnicodeDecodeError as exc:
            assert exc.object == data[a:b]
            result = ("feed", a + exc.start, exc.reason)
            break
    else:
        try:
            validator.finish()
        except UnicodeDecodeError as exc:
            result = ("finish", len(data) - len(exc.object), exc.reason)
    assert result == cpython_outcome(data)


@pytest.mark.compiled_only
@pytest.mark.skipif(not COMPILED, reason=NOT_COMPILED_REASON)
@given(data=any_bytes, cuts=st.lists(st.integers(0, 90), max_size=8))
def test_compiled_matches_pure(data, cuts):
    points = sorted({0, len(data), *(min(cut, len(data)) for cut in cuts)})
    chunks = [data[a:b] for a, b in zip(points, points[1:])]
    results = []
    for impl in (pure, compiled):
        validator = impl.Utf8Validator()
        try:
            for chunk in chunks:
                validator.feed(chunk)
            validator.finish()
        except UnicodeDecodeError as exc:
            results.append((exc.object, exc.start, exc.end, exc.reason, str(exc)))
        else:
            results.append(None)
    assert results[0] == results[1]


# The C-level API, from another Cython module


CIMPORT_SOURCE = textwrap.dedent(
    """
    from wirespeed._core.utf8 cimport Utf8Validator

    def check(list chunks):
        cdef Utf8Validator validator = Utf8Validator()
        cdef bytes chunk
        for chunk in chunks:
            validator.feed_ptr(<const unsigned char*><char*>chunk, len(chunk))
        validator.finish()

    def check_slices(bytearray buffer, list cuts):
        cdef Utf8Validator validator = Utf8Validator()
        cdef Py_ssize_t start = 0
        for end in cuts:
            validator.feed_slice(buffer, start, end)
            start = end
        validator.finish()

    def check_with_feed(list chunks):
        cdef Utf8Validator validator = Utf8Validator()
        for chunk in chunks:
            validator.feed(chunk)
        complete = validator.complete
        validator.reset()
        return complete
    """
)


@pytest.mark.compiled_only
@pytest.mark.skipif(not COMPILED, reason=NOT_COMPILED_REASON)
@pytest.mark.skipif(
    wirespeed._implementation.extensions_disabled(),
    reason="a cimport resolves wirespeed._core.utf8 by name, which WIRESPEED_NO_EXTENSIONS "
    "points at the .py file; the compiled run covers it",
)
def test_cimport_from_cython(tmp_path):
    pytest.importorskip("Cython")
    if shutil.which(sysconfig.get_config_var("CC").split()[0]) is None:
        pytest.skip("no C compiler")
    name = "wirespeed_test_cimport_utf8"
    (tmp_path / f"{name}.pyx").write_text(CIMPORT_SOURCE)
    src_dir = pathlib.Path(wirespeed._core.__file__).parents[2]
    (tmp_path / "setup.py").write_text(
        "from setuptools import setup\n"
        "from Cython.Build import cythonize\n"
        f"setup(ext_modules=cythonize({name + '.pyx'!r}, include_path=[{str(src_dir)!r}],\n"
        "      compiler_directives={'language_level': 3}, quiet=True))\n"
    )
    subprocess.run(
        [sys.executable, "setup.py", "build_ext", "--inplace"],
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    sys.path.insert(0, str(tmp_path))
    try:
        module = importlib.import_module(name)
    finally:
        sys.path.remove(str(tmp_path))

    module.check([KOSME[:3], KOSME[3:]])
    with pytest.raises(UnicodeDecodeError) as info:
        module.check([KOSME + b"\xf4", b"\x90"])
    assert (info.value.object, info.value.start, info.value.reason) == (b"\x90", 0, CONTINUATION)
    with pytest.raises(UnicodeDecodeError, match=END):
        module.check([b"\xe2\x82"])
    assert module.check_with_feed([b"\xe2", bytearray(b"\x82")]) is False
    module.check_slices(bytearray(KOSME), [1, 2, 7, len(KOSME)])
    with pytest.raises(UnicodeDecodeError) as info:
        module.check_slices(bytearray(KOSME + b"\xed\xa0\x80"), [len(KOSME) + 1, len(KOSME) + 3])
    assert (info.value.object, info.value.start) == (b"\xa0\x80", 0)
    assert module.check_with_feed([b"\xe2", memoryview(b"\x82\xac")]) is True
