# The masking loop of RFC 6455 (section 5.3), as an inline C function.
#
# The compiled modules that mask (mask.pyx, and sockio.pyx for a client's
# large frames written straight to the socket) cimport it:
#
#     from wirespeed._core.mask_kernel cimport mask_into
#
# Being inline and declared here, it is compiled into each of them: sockio
# stays a leaf module that imports no other wirespeed module at run time.

from libc.stdint cimport uint64_t
from libc.string cimport memcpy


cdef inline void mask_into(unsigned char* dst, const unsigned char* src, Py_ssize_t length,
                           const unsigned char* key, Py_ssize_t key_offset) noexcept nogil:
    """Write ``length`` bytes of ``src`` XOR the 4-byte ``key`` to ``dst``.

    ``src[0]`` is XORed with ``key[key_offset % 4]`` (``key_offset`` may be
    any value, negative included). ``dst`` may be ``src`` itself, which masks
    in place; other overlapping buffers are not supported. No alignment is
    required.
    """
    cdef unsigned char pattern[8]
    cdef uint64_t word_key, word0, word1, word2, word3
    cdef Py_ssize_t shift = key_offset & 3
    cdef Py_ssize_t blocks = length >> 5
    cdef Py_ssize_t i
    # The key, rotated by the offset and repeated to fill a 64-bit word.
    for i in range(8):
        pattern[i] = key[(shift + i) & 3]
    memcpy(&word_key, pattern, 8)
    # 32 bytes per iteration: four independent words, which the compiler
    # turns into SIMD loads, XORs and stores.
    for i in range(blocks):
        memcpy(&word0, src + 32 * i, 8)
        memcpy(&word1, src + 32 * i + 8, 8)
        memcpy(&word2, src + 32 * i + 16, 8)
        memcpy(&word3, src + 32 * i + 24, 8)
        word0 ^= word_key
        word1 ^= word_key
        word2 ^= word_key
        word3 ^= word_key
        memcpy(dst + 32 * i, &word0, 8)
        memcpy(dst + 32 * i + 8, &word1, 8)
        memcpy(dst + 32 * i + 16, &word2, 8)
        memcpy(dst + 32 * i + 24, &word3, 8)
    # Then up to three words, then up to seven bytes. Every position handled
    # so far is a multiple of 8, so pattern[i & 7] is the right key byte.
    for i in range(blocks * 4, length >> 3):
        memcpy(&word0, src + 8 * i, 8)
        word0 ^= word_key
        memcpy(dst + 8 * i, &word0, 8)
    for i in range(length & ~7, length):
        dst[i] = src[i] ^ pattern[i & 7]
