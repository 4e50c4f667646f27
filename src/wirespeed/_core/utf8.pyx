# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: embedsignature=True, embedsignature.format=python
"""Incremental UTF-8 validation (RFC 3629), compiled implementation.

This extension takes the place of ``utf8.py`` when the package is built and
behaves exactly like it (see ``utf8.py`` for the contract of
:class:`Utf8Validator`, in particular where errors are reported).

Validation runs in two gears:

* outside a multi-byte sequence, an ASCII fast path tests 16 bytes at a time
  (two 64-bit words ANDed with ``0x8080808080808080``) and skips them when no
  high bit is set;
* elsewhere, a table-driven automaton consumes the bytes one by one, in
  blocks of 16, and the fast path resumes once a block ends between
  characters.

The automaton has one state per "what may come next": nothing pending, one or
two or three continuation bytes pending, and four states for the second byte
of the leads whose second byte is restricted (``E0``: ``A0..BF`` to exclude
overlong forms, ``ED``: ``80..9F`` to exclude surrogates, ``F0``: ``90..BF``
to exclude overlong forms, ``F4``: ``80..8F`` to stay below U+110000), plus a
rejecting state that is never left. A byte that leads to the rejecting state
is the first byte that cannot belong to valid UTF-8, whatever follows; that is
where the error is reported.

The transition table is "shift-based": each state is a bit offset (a multiple
of 6), and ``ROW[byte]`` packs, for every state, the offset of the state that
follows on ``byte`` into the 6 bits at that state's offset. One step is then
``state = (ROW[byte] >> state) & 63``: the table load does not depend on the
state, so the chain from one byte to the next is a single shift, with no
branch (the mask moves to the shift count, where the processor applies it
anyway, and is applied to the result once per block). A block is run without looking at the state, which is checked once at
the end (the rejecting state is absorbing); only a block that failed is run
again byte by byte to find where.

Compiled modules can cimport the class (see ``utf8.pxd``) and call its cpdef
methods, or :meth:`Utf8Validator.feed_ptr` on memory they hold, at C speed.
"""

cimport cython
from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.stdint cimport uint64_t
from libc.string cimport memcpy

__all__ = ["Utf8Validator"]

# Chunks at least this long are scanned with the GIL released.
cdef enum:
    NOGIL_THRESHOLD = 65536

cdef uint64_t HIGH_BITS = 0x8080808080808080ULL

# Byte classes: bytes with the same class are interchangeable for validation.
cdef enum:
    C_ASCII = 0         # 00..7F
    C_CONT_LOW = 1      # 80..8F
    C_CONT_MID = 2      # 90..9F
    C_CONT_HIGH = 3     # A0..BF
    C_INVALID = 4       # C0, C1, F5..FF: never valid
    C_LEAD2 = 5         # C2..DF: two-byte sequence
    C_E0 = 6            # E0: three bytes, second in A0..BF
    C_LEAD3 = 7         # E1..EC, EE, EF: three bytes
    C_ED = 8            # ED: three bytes, second in 80..9F
    C_F0 = 9            # F0: four bytes, second in 90..BF
    C_LEAD4 = 10        # F1..F3: four bytes
    C_F4 = 11           # F4: four bytes, second in 80..8F
    CLASS_COUNT = 12

# States, as bit offsets into a row of the transition table (6 bits each).
cdef enum:
    S_REJECT = 0        # the byte just read is invalid (never left)
    S_ACCEPT = 6        # between characters
    S_NEED1 = 12        # one continuation byte (80..BF) expected
    S_NEED2 = 18        # two continuation bytes expected
    S_AFTER_E0 = 24     # two expected, the next in A0..BF
    S_AFTER_ED = 30     # two expected, the next in 80..9F
    S_NEED3 = 36        # three continuation bytes expected
    S_AFTER_F0 = 42     # three expected, the next in 90..BF
    S_AFTER_F4 = 48     # three expected, the next in 80..8F
    STATE_BITS = 6
    STATE_MASK = 63
    STATE_COUNT = 9

# Bytes run through the automaton between two checks of its state.
cdef enum:
    BLOCK = 16

# ROW[byte]: for each state s, the state that follows on byte, at bit offset s.
cdef uint64_t ROW[256]


cdef void _build_table() noexcept:
    """Fill ROW from the byte classes and the transitions, written plainly."""
    cdef unsigned char byte_class[256]
    cdef unsigned char following[STATE_COUNT][CLASS_COUNT]
    cdef int byte, state, cls

    for byte in range(0x00, 0x80):
        byte_class[byte] = C_ASCII
    for byte in range(0x80, 0x90):
        byte_class[byte] = C_CONT_LOW
    for byte in range(0x90, 0xA0):
        byte_class[byte] = C_CONT_MID
    for byte in range(0xA0, 0xC0):
        byte_class[byte] = C_CONT_HIGH
    for byte in range(0xC0, 0xC2):
        byte_class[byte] = C_INVALID
    for byte in range(0xC2, 0xE0):
        byte_class[byte] = C_LEAD2
    for byte in range(0xE1, 0xF0):
        byte_class[byte] = C_LEAD3
    byte_class[0xE0] = C_E0
    byte_class[0xED] = C_ED
    byte_class[0xF0] = C_F0
    for byte in range(0xF1, 0xF4):
        byte_class[byte] = C_LEAD4
    byte_class[0xF4] = C_F4
    for byte in range(0xF5, 0x100):
        byte_class[byte] = C_INVALID

    # following[state index][class]; whatever is not listed is rejected.
    for state in range(STATE_COUNT):
        for cls in range(CLASS_COUNT):
            following[state][cls] = S_REJECT

    state = S_ACCEPT // STATE_BITS
    following[state][C_ASCII] = S_ACCEPT
    following[state][C_LEAD2] = S_NEED1
    following[state][C_E0] = S_AFTER_E0
    following[state][C_LEAD3] = S_NEED2
    following[state][C_ED] = S_AFTER_ED
    following[state][C_F0] = S_AFTER_F0
    following[state][C_LEAD4] = S_NEED3
    following[state][C_F4] = S_AFTER_F4

    for cls in (C_CONT_LOW, C_CONT_MID, C_CONT_HIGH):
        following[S_NEED1 // STATE_BITS][cls] = S_ACCEPT
        following[S_NEED2 // STATE_BITS][cls] = S_NEED1
        following[S_NEED3 // STATE_BITS][cls] = S_NEED2

    following[S_AFTER_E0 // STATE_BITS][C_CONT_HIGH] = S_NEED1
    following[S_AFTER_ED // STATE_BITS][C_CONT_LOW] = S_NEED1
    following[S_AFTER_ED // STATE_BITS][C_CONT_MID] = S_NEED1
    following[S_AFTER_F0 // STATE_BITS][C_CONT_MID] = S_NEED2
    following[S_AFTER_F0 // STATE_BITS][C_CONT_HIGH] = S_NEED2
    following[S_AFTER_F4 // STATE_BITS][C_CONT_LOW] = S_NEED2

    for byte in range(256):
        ROW[byte] = 0
        for state in range(STATE_COUNT):
            ROW[byte] |= (<uint64_t>following[state][byte_class[byte]]) << (state * STATE_BITS)


_build_table()


cdef Py_ssize_t _scan(const unsigned char* data, Py_ssize_t length,
                      unsigned int* state) noexcept nogil:
    """Validate ``data``, starting in automaton state ``state[0]``.

    Returns -1 and stores the final state when every byte is acceptable;
    otherwise returns the index of the first rejected byte and stores the
    state in force just before it.
    """
    cdef uint64_t current = state[0]
    cdef uint64_t running, following
    cdef uint64_t word1, word2
    cdef Py_ssize_t i = 0
    cdef Py_ssize_t j, stop
    while i < length:
        if current == S_ACCEPT:
            # ASCII: skip 16 bytes at a time while no high bit is set.
            while length - i >= 16:
                memcpy(&word1, data + i, 8)
                memcpy(&word2, data + i + 8, 8)
                if (word1 | word2) & HIGH_BITS:
                    break
                i += 16
        stop = i + BLOCK if length - i > BLOCK else length
        running = current
        for j in range(i, stop):
            # Only the low 6 bits of `running` count: masking the shift count
            # instead of the result keeps the chain to a single shift.
            running = ROW[data[j]] >> (running & STATE_MASK)
        running &= STATE_MASK
        if running == S_REJECT:
            # Run the block again, step by step, to find the culprit.
            running = current
            for j in range(i, stop):
                following = (ROW[data[j]] >> running) & STATE_MASK
                if following == S_REJECT:
                    state[0] = <unsigned int>running
                    return j
                running = following
        current = running
        i = stop
    state[0] = <unsigned int>current
    return -1


@cython.final
cdef class Utf8Validator:
    """Incremental UTF-8 validator for the payload of WebSocket text messages.

    Feed the message's bytes with :meth:`feed` as they arrive, in chunks of
    any size split anywhere, then call :meth:`finish` when the message ends.
    A :exc:`UnicodeDecodeError` is raised as soon as a byte is seen that
    cannot belong to valid UTF-8, without waiting for the rest of the
    sequence, the frame or the message. See ``utf8.py`` for details.
    """

    def __init__(self):
        self.reset()

    cpdef void reset(self) noexcept:
        """Forget any partial sequence: the next byte starts a new message."""
        self._state = S_ACCEPT
        self._pending_length = 0

    @property
    def complete(self):
        """True when the bytes fed so far do not end inside a multi-byte sequence."""
        return self._state == S_ACCEPT

    cpdef void feed(self, object data) except *:
        """Validate the next chunk of the message.

        :param data: any C-contiguous buffer; may be empty.
        :raises UnicodeDecodeError: ``UnicodeDecodeError("utf-8", bytes(data),
            start, start + 1, reason)`` where ``start`` is the index in
            ``data`` of the first invalid byte (0 when that byte was meant to
            continue a sequence begun in an earlier chunk) and ``reason`` is
            ``"invalid start byte"`` or ``"invalid continuation byte"``. The
            validator is reset.
        """
        cdef Py_buffer view
        if type(data) is bytes:
            self._feed_memory(<const unsigned char*>PyBytes_AS_STRING(data),
                              PyBytes_GET_SIZE(data), True)
            return
        # The buffer export also keeps a bytearray from being resized meanwhile.
        PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
        try:
            self._feed_memory(<const unsigned char*>view.buf, view.len, True)
        finally:
            PyBuffer_Release(&view)

    cpdef void feed_slice(self, object buffer, Py_ssize_t start, Py_ssize_t end) except *:
        """Validate ``buffer[start:end]`` as the next chunk, without copying it.

        Same as ``feed(buffer[start:end])``, errors included (their object is
        ``bytes(buffer[start:end])`` and their position is counted from
        ``start``), except that the bounds must satisfy
        ``0 <= start <= end <= len(buffer)``.

        :raises ValueError: if the bounds are invalid.
        """
        cdef Py_buffer view
        cdef Py_ssize_t length
        if type(buffer) is bytes:
            length = PyBytes_GET_SIZE(buffer)
            if not 0 <= start <= end <= length:
                raise ValueError(f"invalid slice [{start}:{end}] of a buffer of {length} bytes")
            self._feed_memory(<const unsigned char*>PyBytes_AS_STRING(buffer) + start,
                              end - start, True)
            return
        PyObject_GetBuffer(buffer, &view, PyBUF_SIMPLE)
        try:
            length = view.len
            if not 0 <= start <= end <= length:
                raise ValueError(f"invalid slice [{start}:{end}] of a buffer of {length} bytes")
            self._feed_memory(<const unsigned char*>view.buf + start, end - start, True)
        finally:
            PyBuffer_Release(&view)

    cdef int feed_ptr(self, const unsigned char* data, Py_ssize_t length) except -1:
        """Validate ``length`` bytes at ``data``, like :meth:`feed`.

        For compiled callers that already hold the memory (a receive buffer,
        for instance): no buffer request, and the GIL stays held, so the
        memory only has to stay valid and unchanged for the duration of the
        call.
        """
        return self._feed_memory(data, length, False)

    cdef int _feed_memory(self, const unsigned char* data, Py_ssize_t length,
                          bint release_gil) except -1:
        """Validate ``length`` bytes at ``data``, optionally without the GIL.

        The GIL is only released for large chunks, and only when the caller
        guarantees that the memory cannot change meanwhile (a bytes object,
        or a buffer export that it holds).
        """
        cdef unsigned int state = self._state
        cdef Py_ssize_t bad
        if release_gil and length >= NOGIL_THRESHOLD:
            with nogil:
                bad = _scan(data, length, &state)
        else:
            bad = _scan(data, length, &state)
        return self._conclude(data, length, bad, state)

    cdef int _conclude(self, const unsigned char* data, Py_ssize_t length,
                       Py_ssize_t bad, unsigned int state) except -1:
        """Record the outcome of scanning ``data``; raise if ``bad`` >= 0."""
        cdef Py_ssize_t tail, kept
        if bad < 0:
            self._state = state
            if state == S_ACCEPT:
                self._pending_length = 0
                return 0
            # The chunk ends inside a sequence: remember its bytes for the
            # error finish() would raise. Its lead byte is just before the
            # trailing continuation bytes (at most three), in this chunk or,
            # if the chunk holds only continuation bytes, in an earlier one.
            tail = 0
            while tail < length and tail < 3 and (data[length - 1 - tail] & 0xC0) == 0x80:
                tail += 1
            if tail < length:
                self._pending_length = 0
                kept = tail + 1
            else:
                kept = tail
            if kept > 4 - self._pending_length:  # cannot happen; never overflow
                kept = 4 - self._pending_length
            memcpy(self._pending + self._pending_length, data + length - kept, kept)
            self._pending_length += kept
            return 0
        self.reset()
        raise UnicodeDecodeError(
            "utf-8",
            PyBytes_FromStringAndSize(<const char*>data, length),
            bad,
            bad + 1,
            "invalid start byte" if state == S_ACCEPT else "invalid continuation byte",
        )

    cpdef void finish(self) except *:
        """Declare the end of the message and reset the validator.

        :raises UnicodeDecodeError: ``UnicodeDecodeError("utf-8", pending, 0,
            len(pending), "unexpected end of data")`` if the message ends
            inside a multi-byte sequence, ``pending`` being the bytes of that
            incomplete sequence.
        """
        cdef bytes pending
        if self._state == S_ACCEPT:
            return
        pending = PyBytes_FromStringAndSize(<const char*>self._pending, self._pending_length)
        self.reset()
        raise UnicodeDecodeError("utf-8", pending, 0, len(pending), "unexpected end of data")
