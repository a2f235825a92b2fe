// Peak-rate loops for the int8 roofline; see include/qlora_int8_probe.h. The chains are independent so
// the loop measures throughput, not latency; every chain reads its own previous value so nothing is hoisted.
#include "qlora_int8.h"
#include "qlora_int8_probe.h"

#if defined(__x86_64__)
#include <immintrin.h>

__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni"), noinline))
static int peak_vnni(long iterations, int seed) {
    const __m512i a = _mm512_set1_epi8(3), b = _mm512_set1_epi8(-2);
    __m512i c0 = _mm512_set1_epi32(seed), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0;
    __m512i c8 = c0, c9 = c0, c10 = c0, c11 = c0, c12 = c0, c13 = c0, c14 = c0, c15 = c0;
    for (long i = 0; i < iterations; i++) {
        c0 = _mm512_dpbusd_epi32(c0, a, b); c1 = _mm512_dpbusd_epi32(c1, a, b);
        c2 = _mm512_dpbusd_epi32(c2, a, b); c3 = _mm512_dpbusd_epi32(c3, a, b);
        c4 = _mm512_dpbusd_epi32(c4, a, b); c5 = _mm512_dpbusd_epi32(c5, a, b);
        c6 = _mm512_dpbusd_epi32(c6, a, b); c7 = _mm512_dpbusd_epi32(c7, a, b);
        c8 = _mm512_dpbusd_epi32(c8, a, b); c9 = _mm512_dpbusd_epi32(c9, a, b);
        c10 = _mm512_dpbusd_epi32(c10, a, b); c11 = _mm512_dpbusd_epi32(c11, a, b);
        c12 = _mm512_dpbusd_epi32(c12, a, b); c13 = _mm512_dpbusd_epi32(c13, a, b);
        c14 = _mm512_dpbusd_epi32(c14, a, b); c15 = _mm512_dpbusd_epi32(c15, a, b);
    }
    __m512i s = _mm512_add_epi32(_mm512_add_epi32(_mm512_add_epi32(c0, c1), _mm512_add_epi32(c2, c3)),
                                 _mm512_add_epi32(_mm512_add_epi32(c4, c5), _mm512_add_epi32(c6, c7)));
    __m512i t = _mm512_add_epi32(_mm512_add_epi32(_mm512_add_epi32(c8, c9), _mm512_add_epi32(c10, c11)),
                                 _mm512_add_epi32(_mm512_add_epi32(c12, c13), _mm512_add_epi32(c14, c15)));
    return _mm512_reduce_add_epi32(_mm512_add_epi32(s, t));
}

// The AVX2 products' unit (int8_kernels.c): vpmaddubsw (32 byte products, pair sums to int16), vpmaddwd
// with ones (to int32), vpaddd into the accumulator. Each chain's vpmaddubsw takes its own previous
// result as the signed operand.
__attribute__((target("avx2,fma"), noinline))
static int peak_avx2(long iterations, int seed) {
    const __m256i a = _mm256_set1_epi8(3), ones = _mm256_set1_epi16(1);
    __m256i p0 = _mm256_set1_epi8((char)seed), p1 = p0, p2 = p0, p3 = p0, p4 = p0, p5 = p0, p6 = p0, p7 = p0;
    __m256i s0 = _mm256_setzero_si256(), s1 = s0;
    for (long i = 0; i < iterations; i++) {
        p0 = _mm256_maddubs_epi16(a, p0); p1 = _mm256_maddubs_epi16(a, p1);
        p2 = _mm256_maddubs_epi16(a, p2); p3 = _mm256_maddubs_epi16(a, p3);
        p4 = _mm256_maddubs_epi16(a, p4); p5 = _mm256_maddubs_epi16(a, p5);
        p6 = _mm256_maddubs_epi16(a, p6); p7 = _mm256_maddubs_epi16(a, p7);
        s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(p0, ones)); s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(p1, ones));
        s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(p2, ones)); s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(p3, ones));
        s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(p4, ones)); s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(p5, ones));
        s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(p6, ones)); s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(p7, ones));
    }
    __m256i s = _mm256_add_epi32(s0, s1);
    __m128i h = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
    h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4E));
    h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0xB1));
    return _mm_cvtsi128_si32(h);
}
#endif

__attribute__((noinline))
static int peak_ref(long iterations, int seed) {
    volatile unsigned m0 = 3;
    unsigned m = m0, u = (unsigned)seed, c0 = u, c1 = u + 1, c2 = u + 2, c3 = u + 3, c4 = u + 4, c5 = u + 5;
    unsigned c6 = u + 6, c7 = u + 7, c8 = u + 8, c9 = u + 9, c10 = u + 10, c11 = u + 11;
    for (long i = 0; i < iterations; i++) {
        c0 = c0 * m + 1; c1 = c1 * m + 1; c2 = c2 * m + 1; c3 = c3 * m + 1; c4 = c4 * m + 1; c5 = c5 * m + 1;
        c6 = c6 * m + 1; c7 = c7 * m + 1; c8 = c8 * m + 1; c9 = c9 * m + 1; c10 = c10 * m + 1; c11 = c11 * m + 1;
    }
    return (int)(c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11);
}

long qlora_i8_peak_ops_per_iteration(int variant) {
    switch (variant) {
    case QLORA_I8_VNNI: return 16L * 64 * 2;
    case QLORA_I8_AVX2: return 8L * 32 * 2;
    default: return 24;
    }
}

int qlora_i8_peak_loop(int variant, long iterations, int seed) {
#if defined(__x86_64__)
    if (variant == QLORA_I8_VNNI && (qlora_i8_cpu_support() & 2)) return peak_vnni(iterations, seed);
    if (variant == QLORA_I8_AVX2 && (qlora_i8_cpu_support() & 1)) return peak_avx2(iterations, seed);
#endif
    return peak_ref(iterations, seed);
}
