// AVX512-BF16 instructions for the Swift kernels. Swift cannot import the bf16 vector type
// (__m512bh) that Clang's intrinsics take, so these inline wrappers take __m512i instead; a Swift
// target built with -mavx512bf16 inlines them to the single instruction (checked in the emitted
// assembly: `vdpbf16ps (mem){1to16}, zmm, zmm`). Call them only when CPUFeatures says AVX512-BF16.
#ifndef QLORA_BF16_H
#define QLORA_BF16_H

#if defined(__x86_64__)
#include <immintrin.h>

#define QLORA_BF16_FN static inline __attribute__((target("avx512bf16,avx512f,avx512bw,avx512vl,evex512")))

/// acc[i] += a[2i]·b[2i] + a[2i+1]·b[2i+1] over bf16 pairs, Float32 accumulation (`vdpbf16ps`).
QLORA_BF16_FN __m512 qlora_dpbf16_ps(__m512 acc, __m512i a, __m512i b) {
    return _mm512_dpbf16_ps(acc, (__m512bh)a, (__m512bh)b);
}

/// 32 bf16 (round to nearest even): lanes 0–15 from lo, 16–31 from hi (`vcvtne2ps2bf16`).
QLORA_BF16_FN __m512i qlora_cvtne2ps_pbh(__m512 hi, __m512 lo) {
    return (__m512i)_mm512_cvtne2ps_pbh(hi, lo);
}
#endif

#endif
