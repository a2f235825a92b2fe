// int8 inference kernels; see include/qlora_int8.h for the numerics and the layout.
// Swift does not emit vpdpbusd or vpmaddubsw from its SIMD types, so these are C with function-level
// target attributes (one binary for every x86-64 CPU); the caller picks the variant from the CPU's features.
#include "qlora_int8.h"

#include <float.h>
#include <math.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define QLORA_X86 1
#else
#define QLORA_X86 0
#endif

// round(127 · NF4[c]) for the bitsandbytes NF4 table (QLoRACore/QuantCodebooks.swift):
// -1, -0.6962, -0.5251, -0.3949, -0.2844, -0.1848, -0.0911, 0, 0.0796, 0.1609, 0.2461, 0.3379,
// 0.4407, 0.5626, 0.7230, 1.
static const int8_t kLevels[16] = {-127, -88, -67, -50, -36, -23, -12, 0, 10, 20, 31, 43, 56, 71, 92, 127};

void qlora_i8_levels(int8_t out[16]) { memcpy(out, kLevels, 16); }

int qlora_i8_cpu_support(void) {
#if QLORA_X86
    __builtin_cpu_init();
    int bits = 0;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) bits |= 1;
    if ((bits & 1) && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni"))
        bits |= 2;
    return bits;
#else
    return 0;
#endif
}

int qlora_i8_group_rows(int variant) { return variant == QLORA_I8_VNNI ? 16 : 8; }

// MARK: repack

static inline int nibble_at(const uint8_t *packed, long j) {
    long g = j >> 5, i = j & 31;
    uint8_t b = packed[16 * g + (i & 15)];
    return i < 16 ? (b & 15) : (b >> 4);
}

void qlora_i8_repack(const uint8_t *packed, const float *blockScales, long rows, long cols, int G,
                     uint8_t *out_codes, float *out_scales) {
    long nb = cols / 64, groups = (rows + G - 1) / G;
    for (long g = 0; g < groups; g++) {
        for (long b = 0; b < nb; b++) {
            uint8_t *dst = out_codes + (g * nb + b) * 32 * G;
            float *sc = out_scales + (g * nb + b) * G;
            for (int i = 0; i < G; i++) {
                long r = g * G + i;
                sc[i] = r < rows ? blockScales[r * nb + b] / 127.0f : 0.0f;
                for (int c = 0; c < 8; c++) {
                    for (int p = 0; p < 4; p++) {
                        int lo = 7, hi = 7;
                        if (r < rows) {
                            long j = r * cols + 64 * b + 8 * c + p;
                            lo = nibble_at(packed, j);
                            hi = nibble_at(packed, j + 4);
                        }
                        dst[c * 4 * G + 4 * i + p] = (uint8_t)(lo | (hi << 4));
                    }
                }
            }
        }
    }
}

// MARK: activation quantization

// A block holding a NaN or an infinity quantizes to q = 0 with the scale NaN, on every variant: each
// product the block enters is NaN, as a Float32 product with a NaN input is (an infinite input gives
// NaN here where Float32 may give ±inf). Without this rule the reference (fmaxf skips NaN) and the
// SIMD max instructions (which return one operand or the other when one is NaN) disagreed on NaN.
static void nonfinite_block(int8_t *qb, float *s, int32_t *sum) {
    memset(qb, 0, 64);
    *s = NAN;
    *sum = 0;
}

static void quantize_ref(const float *x, long ldx, long M, long K, int8_t *q, float *s, int32_t *sums) {
    long nb = K / 64;
    for (long m = 0; m < M; m++) {
        for (long b = 0; b < nb; b++) {
            const float *xb = x + m * ldx + 64 * b;
            float amax = 0;
            int finite = 1;
            for (int k = 0; k < 64; k++) {
                float a = fabsf(xb[k]);
                finite &= a <= FLT_MAX;  // false for NaN and ±inf
                amax = fmaxf(amax, a);
            }
            int8_t *qb = q + m * K + 64 * b;
            if (!finite) {
                nonfinite_block(qb, s + m * nb + b, sums + m * nb + b);
                continue;
            }
            int32_t sum = 0;
            if (amax > 0) {
                float inv = 127.0f / amax;
                for (int k = 0; k < 64; k++) {
                    long v = lrintf(xb[k] * inv);
                    v = v > 127 ? 127 : v < -127 ? -127 : v;
                    qb[k] = (int8_t)v;
                    sum += (int32_t)v;
                }
            } else {
                memset(qb, 0, 64);
            }
            s[m * nb + b] = amax / 127.0f;
            sums[m * nb + b] = sum;
        }
    }
}

#if QLORA_X86
__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl")))
static void quantize_avx512(const float *x, long ldx, long M, long K, int8_t *q, float *s, int32_t *sums) {
    long nb = K / 64;
    const __m512i lim = _mm512_set1_epi32(127), nlim = _mm512_set1_epi32(-127);
    for (long m = 0; m < M; m++) {
        for (long b = 0; b < nb; b++) {
            const float *xb = x + m * ldx + 64 * b;
            __m512 v0 = _mm512_loadu_ps(xb), v1 = _mm512_loadu_ps(xb + 16);
            __m512 v2 = _mm512_loadu_ps(xb + 32), v3 = _mm512_loadu_ps(xb + 48);
            __m512 a0 = _mm512_abs_ps(v0), a1 = _mm512_abs_ps(v1), a2 = _mm512_abs_ps(v2), a3 = _mm512_abs_ps(v3);
            int8_t *qb = q + m * K + 64 * b;
            // Not (|x| <= FLT_MAX), unordered true: NaN and ±inf.
            const __m512 big = _mm512_set1_ps(FLT_MAX);
            if (_mm512_cmp_ps_mask(a0, big, _CMP_NLE_UQ) | _mm512_cmp_ps_mask(a1, big, _CMP_NLE_UQ) |
                _mm512_cmp_ps_mask(a2, big, _CMP_NLE_UQ) | _mm512_cmp_ps_mask(a3, big, _CMP_NLE_UQ)) {
                nonfinite_block(qb, s + m * nb + b, sums + m * nb + b);
                continue;
            }
            float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_max_ps(a0, a1), _mm512_max_ps(a2, a3)));
            int32_t sum = 0;
            if (amax > 0) {
                __m512 inv = _mm512_set1_ps(127.0f / amax);
                __m512i i0 = _mm512_cvt_roundps_epi32(_mm512_mul_ps(v0, inv), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
                __m512i i1 = _mm512_cvt_roundps_epi32(_mm512_mul_ps(v1, inv), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
                __m512i i2 = _mm512_cvt_roundps_epi32(_mm512_mul_ps(v2, inv), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
                __m512i i3 = _mm512_cvt_roundps_epi32(_mm512_mul_ps(v3, inv), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
                i0 = _mm512_max_epi32(_mm512_min_epi32(i0, lim), nlim);
                i1 = _mm512_max_epi32(_mm512_min_epi32(i1, lim), nlim);
                i2 = _mm512_max_epi32(_mm512_min_epi32(i2, lim), nlim);
                i3 = _mm512_max_epi32(_mm512_min_epi32(i3, lim), nlim);
                sum = _mm512_reduce_add_epi32(_mm512_add_epi32(_mm512_add_epi32(i0, i1), _mm512_add_epi32(i2, i3)));
                _mm_storeu_si128((__m128i *)qb, _mm512_cvtepi32_epi8(i0));
                _mm_storeu_si128((__m128i *)(qb + 16), _mm512_cvtepi32_epi8(i1));
                _mm_storeu_si128((__m128i *)(qb + 32), _mm512_cvtepi32_epi8(i2));
                _mm_storeu_si128((__m128i *)(qb + 48), _mm512_cvtepi32_epi8(i3));
            } else {
                memset(qb, 0, 64);
            }
            s[m * nb + b] = amax / 127.0f;
            sums[m * nb + b] = sum;
        }
    }
}
#endif

#if QLORA_X86
// The same numbers as quantize_ref: max of |x| is order-free, x · (127 / amax) is one Float32 multiply,
// and vcvtps2dq rounds to nearest even under the default MXCSR, as lrintf does.
__attribute__((target("avx2,fma")))
static void quantize_avx2(const float *x, long ldx, long M, long K, int8_t *q, float *s, int32_t *sums) {
    long nb = K / 64;
    const __m256 absMask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    const __m256i lim = _mm256_set1_epi32(127), nlim = _mm256_set1_epi32(-127);
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (long m = 0; m < M; m++) {
        for (long b = 0; b < nb; b++) {
            const float *xb = x + m * ldx + 64 * b;
            __m256 v[8];
            __m256 a = _mm256_setzero_ps(), bad = _mm256_setzero_ps();
            const __m256 big = _mm256_set1_ps(FLT_MAX);
            for (int i = 0; i < 8; i++) {
                v[i] = _mm256_loadu_ps(xb + 8 * i);
                __m256 ai = _mm256_and_ps(v[i], absMask);
                bad = _mm256_or_ps(bad, _mm256_cmp_ps(ai, big, _CMP_NLE_UQ));  // NaN or ±inf
                a = _mm256_max_ps(a, ai);
            }
            int8_t *qb = q + m * K + 64 * b;
            if (_mm256_movemask_ps(bad)) {
                nonfinite_block(qb, s + m * nb + b, sums + m * nb + b);
                continue;
            }
            __m128 h = _mm_max_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
            h = _mm_max_ps(h, _mm_movehl_ps(h, h));
            h = _mm_max_ss(h, _mm_movehdup_ps(h));
            float amax = _mm_cvtss_f32(h);
            int32_t sum = 0;
            if (amax > 0) {
                __m256 inv = _mm256_set1_ps(127.0f / amax);
                __m256i iv[8], acc = _mm256_setzero_si256();
                for (int i = 0; i < 8; i++) {
                    iv[i] = _mm256_cvtps_epi32(_mm256_mul_ps(v[i], inv));
                    iv[i] = _mm256_max_epi32(_mm256_min_epi32(iv[i], lim), nlim);
                    acc = _mm256_add_epi32(acc, iv[i]);
                }
                __m128i t = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
                t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0x4e));
                t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0xb1));
                sum = _mm_cvtsi128_si32(t);
                for (int i = 0; i < 8; i += 4) {
                    // packs work per 128-bit lane; the permute puts the 32 bytes back in element order.
                    __m256i w16a = _mm256_packs_epi32(iv[i], iv[i + 1]), w16b = _mm256_packs_epi32(iv[i + 2], iv[i + 3]);
                    __m256i w8 = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(w16a, w16b), order);
                    _mm256_storeu_si256((__m256i *)(qb + 8 * i), w8);
                }
            } else {
                memset(qb, 0, 64);
            }
            s[m * nb + b] = amax / 127.0f;
            sums[m * nb + b] = sum;
        }
    }
}
#endif

void qlora_i8_quantize(int variant, const float *x, long ldx, long M, long K, int8_t *q, float *s, int32_t *sums) {
#if QLORA_X86
    if (variant == QLORA_I8_VNNI) { quantize_avx512(x, ldx, M, K, q, s, sums); return; }
    if (variant == QLORA_I8_AVX2) { quantize_avx2(x, ldx, M, K, q, s, sums); return; }
#endif
    quantize_ref(x, ldx, M, K, q, s, sums);
}

// MARK: reference product

static void gemm_ref(const uint8_t *codes, const float *scales, long N, long K, long g_lo, long g_hi,
                     const int8_t *q, const float *s, long M, float *Y, long ldy) {
    const int G = 8;
    long nb = K / 64;
    for (long g = g_lo; g < g_hi; g++) {
        for (int i = 0; i < G; i++) {
            long r = g * G + i;
            if (r >= N) break;
            for (long m = 0; m < M; m++) {
                float y = 0;
                for (long b = 0; b < nb; b++) {
                    const uint8_t *cb = codes + (g * nb + b) * 32 * G;
                    const int8_t *qb = q + m * K + 64 * b;
                    int32_t dot = 0;
                    for (int c = 0; c < 8; c++) {
                        for (int p = 0; p < 4; p++) {
                            uint8_t byte = cb[c * 4 * G + 4 * i + p];
                            dot += kLevels[byte & 15] * qb[8 * c + p] + kLevels[byte >> 4] * qb[8 * c + 4 + p];
                        }
                    }
                    y = fmaf((float)dot, scales[(g * nb + b) * G + i] * s[m * nb + b], y);
                }
                Y[m * ldy + r] = y;
            }
        }
    }
}

#if QLORA_X86
static inline int32_t load_i32(const int8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

// MARK: AVX512-VNNI: 16 rows × TM tokens per tile

// Weights enter vpdpbusd as the unsigned operand: level + 128 (1…255); activations are the signed one.
// The +128 adds 128 · sum(q of the block) to each row's dot, so the accumulator starts at -128 · sum.
#define VNNI_ATTR __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni"), always_inline))

static inline VNNI_ATTR void vnni_tile(const uint8_t *codes, const float *scales, long nb, long K,
                                       const int8_t *q, const float *s, const int32_t *sums, int TM,
                                       float *Y, long ldy, __mmask16 rowMask) {
    const __m512i lowMask = _mm512_set1_epi8(0x0F);
    int8_t u[16];
    for (int c = 0; c < 16; c++) u[c] = (int8_t)(kLevels[c] + 128);
    const __m512i table = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)u));
    __m512 accf[8];
    for (int t = 0; t < TM; t++) accf[t] = _mm512_setzero_ps();
    for (long b = 0; b < nb; b++) {
        const uint8_t *cb = codes + b * 512;
        __m512i acc[8];
        for (int t = 0; t < TM; t++) acc[t] = _mm512_set1_epi32(-128 * sums[t * nb + b]);
        for (int c = 0; c < 8; c++) {
            __m512i w = _mm512_loadu_si512((const void *)(cb + 64 * c));
            __m512i lo = _mm512_shuffle_epi8(table, _mm512_and_si512(w, lowMask));
            __m512i hi = _mm512_shuffle_epi8(table, _mm512_and_si512(_mm512_srli_epi16(w, 4), lowMask));
            for (int t = 0; t < TM; t++) {
                const int8_t *qa = q + t * K + 64 * b + 8 * c;
                acc[t] = _mm512_dpbusd_epi32(acc[t], lo, _mm512_set1_epi32(load_i32(qa)));
                acc[t] = _mm512_dpbusd_epi32(acc[t], hi, _mm512_set1_epi32(load_i32(qa + 4)));
            }
        }
        __m512 ws = _mm512_loadu_ps(scales + b * 16);
        for (int t = 0; t < TM; t++)
            accf[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc[t]), _mm512_mul_ps(ws, _mm512_set1_ps(s[t * nb + b])), accf[t]);
    }
    for (int t = 0; t < TM; t++) _mm512_mask_storeu_ps(Y + t * ldy, rowMask, accf[t]);
}

#define VNNI_TILE_N(n) \
    __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni"))) static void vnni_tile##n( \
        const uint8_t *c, const float *sc, long nb, long K, const int8_t *q, const float *s, const int32_t *sums, \
        float *Y, long ldy, __mmask16 mk) { vnni_tile(c, sc, nb, K, q, s, sums, n, Y, ldy, mk); }
VNNI_TILE_N(1) VNNI_TILE_N(2) VNNI_TILE_N(3) VNNI_TILE_N(4) VNNI_TILE_N(5) VNNI_TILE_N(6) VNNI_TILE_N(7)
VNNI_TILE_N(8)

__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")))
static void gemm_vnni(const uint8_t *codes, const float *scales, long N, long K, long g_lo, long g_hi,
                      const int8_t *q, const float *s, const int32_t *sums, long M, float *Y, long ldy) {
    long nb = K / 64;
    for (long g = g_lo; g < g_hi; g++) {
        const uint8_t *cg = codes + g * nb * 512;
        const float *sg = scales + g * nb * 16;
        long r0 = g * 16, valid = N - r0 < 16 ? N - r0 : 16;
        __mmask16 mk = (__mmask16)((1u << valid) - 1u);
        for (long m0 = 0; m0 < M; m0 += 8) {
            long tm = M - m0 < 8 ? M - m0 : 8;
            const int8_t *qm = q + m0 * K;
            const float *sm = s + m0 * nb;
            const int32_t *um = sums + m0 * nb;
            float *Ym = Y + m0 * ldy + r0;
            switch (tm) {
            case 1: vnni_tile1(cg, sg, nb, K, qm, sm, um, Ym, ldy, mk); break;
            case 2: vnni_tile2(cg, sg, nb, K, qm, sm, um, Ym, ldy, mk); break;
            case 3: vnni_tile3(cg, sg, nb, K, qm, sm, um, Ym, ldy, mk); break;
            case 4: vnni_tile4(cg, sg, nb, K, qm, sm, um, Ym, ldy, mk); break;
            case 5: vnni_tile5(cg, sg, nb, K, qm, sm, um, Ym, ldy, mk); break;
            case 6: vnni_tile6(cg, sg, nb, K, qm, sm, um, Ym, ldy, mk); break;
            case 7: vnni_tile7(cg, sg, nb, K, qm, sm, um, Ym, ldy, mk); break;
            default: vnni_tile8(cg, sg, nb, K, qm, sm, um, Ym, ldy, mk); break;
            }
        }
    }
}

// MARK: AVX2: 8 rows × TM tokens per tile

// vpmaddubsw multiplies unsigned by signed bytes and saturates pair sums to int16, so the weights go in
// as |level| and the activations take the level's sign (vpsignb): |pair| ≤ 2 · 127 · 127 = 32258, no
// saturation, and the sums stay exact (llama.cpp's AVX2 route for IQ4_NL and Q4_0).
#define AVX2_ATTR __attribute__((target("avx2,fma"), always_inline))

static inline AVX2_ATTR void avx2_tile(const uint8_t *codes, const float *scales, long nb, long K,
                                       const int8_t *q, const float *s, int TM, float *Y, long ldy, long valid) {
    const __m256i lowMask = _mm256_set1_epi8(0x0F);
    const __m256i ones = _mm256_set1_epi16(1);
    const __m256i table = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)kLevels));
    __m256 accf[6];
    for (int t = 0; t < TM; t++) accf[t] = _mm256_setzero_ps();
    for (long b = 0; b < nb; b++) {
        const uint8_t *cb = codes + b * 256;
        __m256i acc[6];
        for (int t = 0; t < TM; t++) acc[t] = _mm256_setzero_si256();
        for (int c = 0; c < 8; c++) {
            __m256i w = _mm256_loadu_si256((const __m256i *)(cb + 32 * c));
            __m256i lo = _mm256_shuffle_epi8(table, _mm256_and_si256(w, lowMask));
            __m256i hi = _mm256_shuffle_epi8(table, _mm256_and_si256(_mm256_srli_epi16(w, 4), lowMask));
            __m256i alo = _mm256_abs_epi8(lo), ahi = _mm256_abs_epi8(hi);
            for (int t = 0; t < TM; t++) {
                const int8_t *qa = q + t * K + 64 * b + 8 * c;
                __m256i plo = _mm256_maddubs_epi16(alo, _mm256_sign_epi8(_mm256_set1_epi32(load_i32(qa)), lo));
                __m256i phi = _mm256_maddubs_epi16(ahi, _mm256_sign_epi8(_mm256_set1_epi32(load_i32(qa + 4)), hi));
                acc[t] = _mm256_add_epi32(acc[t], _mm256_madd_epi16(plo, ones));
                acc[t] = _mm256_add_epi32(acc[t], _mm256_madd_epi16(phi, ones));
            }
        }
        __m256 ws = _mm256_loadu_ps(scales + b * 8);
        for (int t = 0; t < TM; t++)
            accf[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc[t]), _mm256_mul_ps(ws, _mm256_set1_ps(s[t * nb + b])), accf[t]);
    }
    for (int t = 0; t < TM; t++) {
        if (valid == 8) {
            _mm256_storeu_ps(Y + t * ldy, accf[t]);
        } else {
            float tmp[8];
            _mm256_storeu_ps(tmp, accf[t]);
            memcpy(Y + t * ldy, tmp, (size_t)valid * 4);
        }
    }
}

#define AVX2_TILE_N(n) \
    __attribute__((target("avx2,fma"))) static void avx2_tile##n(const uint8_t *c, const float *sc, long nb, long K, \
        const int8_t *q, const float *s, float *Y, long ldy, long valid) { avx2_tile(c, sc, nb, K, q, s, n, Y, ldy, valid); }
AVX2_TILE_N(1) AVX2_TILE_N(2) AVX2_TILE_N(3) AVX2_TILE_N(4) AVX2_TILE_N(5) AVX2_TILE_N(6)

__attribute__((target("avx2,fma")))
static void gemm_avx2(const uint8_t *codes, const float *scales, long N, long K, long g_lo, long g_hi,
                      const int8_t *q, const float *s, long M, float *Y, long ldy) {
    long nb = K / 64;
    for (long g = g_lo; g < g_hi; g++) {
        const uint8_t *cg = codes + g * nb * 256;
        const float *sg = scales + g * nb * 8;
        long r0 = g * 8, valid = N - r0 < 8 ? N - r0 : 8;
        for (long m0 = 0; m0 < M; m0 += 6) {
            long tm = M - m0 < 6 ? M - m0 : 6;
            const int8_t *qm = q + m0 * K;
            const float *sm = s + m0 * nb;
            float *Ym = Y + m0 * ldy + r0;
            switch (tm) {
            case 1: avx2_tile1(cg, sg, nb, K, qm, sm, Ym, ldy, valid); break;
            case 2: avx2_tile2(cg, sg, nb, K, qm, sm, Ym, ldy, valid); break;
            case 3: avx2_tile3(cg, sg, nb, K, qm, sm, Ym, ldy, valid); break;
            case 4: avx2_tile4(cg, sg, nb, K, qm, sm, Ym, ldy, valid); break;
            case 5: avx2_tile5(cg, sg, nb, K, qm, sm, Ym, ldy, valid); break;
            default: avx2_tile6(cg, sg, nb, K, qm, sm, Ym, ldy, valid); break;
            }
        }
    }
}
#endif

void qlora_i8_gemm(int variant, const uint8_t *codes, const float *scales, long N, long K, long g_lo, long g_hi,
                   const int8_t *q, const float *s, const int32_t *sums, long M, float *Y, long ldy) {
#if QLORA_X86
    if (variant == QLORA_I8_VNNI) { gemm_vnni(codes, scales, N, K, g_lo, g_hi, q, s, sums, M, Y, ldy); return; }
    if (variant == QLORA_I8_AVX2) { gemm_avx2(codes, scales, N, K, g_lo, g_hi, q, s, M, Y, ldy); return; }
#endif
    (void)sums;
    gemm_ref(codes, scales, N, K, g_lo, g_hi, q, s, M, Y, ldy);
}

// MARK: 8-bit weights (output layer)

void qlora_i8_pack_rows(int variant, const float *w, long ldw, long rows, long cols, int8_t *out_values, float *out_scales) {
    int G = qlora_i8_group_rows(variant);
    long nb = cols / 64, groups = (rows + G - 1) / G;
    for (long g = 0; g < groups; g++) {
        for (int i = 0; i < G; i++) {
            long r = g * G + i;
            for (long b = 0; b < nb; b++) {
                float amax = 0;
                if (r < rows) for (long k = 0; k < 64; k++) amax = fmaxf(amax, fabsf(w[r * ldw + 64 * b + k]));
                float inv = amax > 0 ? 127.0f / amax : 0;
                out_scales[(g * nb + b) * G + i] = amax / 127.0f;
                int8_t *dst = out_values + (g * nb + b) * 64 * G;
                for (int j = 0; j < 16; j++) {
                    for (int p = 0; p < 4; p++) {
                        long v = r < rows ? lrintf(w[r * ldw + 64 * b + 4 * j + p] * inv) : 0;
                        v = v > 127 ? 127 : v < -127 ? -127 : v;
                        dst[j * 4 * G + 4 * i + p] = (int8_t)(variant == QLORA_I8_VNNI ? (uint8_t)(v + 128) : v);
                    }
                }
            }
        }
    }
}

static void gemm_w8_ref(const int8_t *values, const float *scales, long N, long K, long g_lo, long g_hi,
                        const int8_t *q, const float *s, long M, float *Y, long ldy) {
    const int G = 8;
    long nb = K / 64;
    for (long g = g_lo; g < g_hi; g++) {
        for (int i = 0; i < G; i++) {
            long r = g * G + i;
            if (r >= N) break;
            for (long m = 0; m < M; m++) {
                float y = 0;
                for (long b = 0; b < nb; b++) {
                    const int8_t *vb = values + (g * nb + b) * 64 * G;
                    const int8_t *qb = q + m * K + 64 * b;
                    int32_t dot = 0;
                    for (int j = 0; j < 16; j++)
                        for (int p = 0; p < 4; p++) dot += vb[j * 4 * G + 4 * i + p] * qb[4 * j + p];
                    y = fmaf((float)dot, scales[(g * nb + b) * G + i] * s[m * nb + b], y);
                }
                Y[m * ldy + r] = y;
            }
        }
    }
}

#if QLORA_X86
static inline VNNI_ATTR void vnni_w8_tile(const int8_t *values, const float *scales, long nb, long K,
                                          const int8_t *q, const float *s, const int32_t *sums, int TM,
                                          float *Y, long ldy, __mmask16 rowMask) {
    __m512 accf[8];
    for (int t = 0; t < TM; t++) accf[t] = _mm512_setzero_ps();
    for (long b = 0; b < nb; b++) {
        const int8_t *vb = values + b * 1024;
        __m512i acc[8];
        for (int t = 0; t < TM; t++) acc[t] = _mm512_set1_epi32(-128 * sums[t * nb + b]);
        for (int j = 0; j < 16; j++) {
            __m512i w = _mm512_loadu_si512((const void *)(vb + 64 * j));
            for (int t = 0; t < TM; t++)
                acc[t] = _mm512_dpbusd_epi32(acc[t], w, _mm512_set1_epi32(load_i32(q + t * K + 64 * b + 4 * j)));
        }
        __m512 ws = _mm512_loadu_ps(scales + b * 16);
        for (int t = 0; t < TM; t++)
            accf[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc[t]), _mm512_mul_ps(ws, _mm512_set1_ps(s[t * nb + b])), accf[t]);
    }
    for (int t = 0; t < TM; t++) _mm512_mask_storeu_ps(Y + t * ldy, rowMask, accf[t]);
}

#define VNNI_W8_TILE_N(n) \
    __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni"))) static void vnni_w8_tile##n( \
        const int8_t *c, const float *sc, long nb, long K, const int8_t *q, const float *s, const int32_t *sums, \
        float *Y, long ldy, __mmask16 mk) { vnni_w8_tile(c, sc, nb, K, q, s, sums, n, Y, ldy, mk); }
VNNI_W8_TILE_N(1) VNNI_W8_TILE_N(4) VNNI_W8_TILE_N(8)

__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")))
static void gemm_w8_vnni(const int8_t *values, const float *scales, long N, long K, long g_lo, long g_hi,
                         const int8_t *q, const float *s, const int32_t *sums, long M, float *Y, long ldy) {
    long nb = K / 64;
    for (long g = g_lo; g < g_hi; g++) {
        const int8_t *cg = values + g * nb * 1024;
        const float *sg = scales + g * nb * 16;
        long r0 = g * 16, valid = N - r0 < 16 ? N - r0 : 16;
        __mmask16 mk = (__mmask16)((1u << valid) - 1u);
        for (long m0 = 0; m0 < M;) {
            long left = M - m0;
            const int8_t *qm = q + m0 * K;
            const float *sm = s + m0 * nb;
            const int32_t *um = sums + m0 * nb;
            float *Ym = Y + m0 * ldy + r0;
            if (left >= 8) { vnni_w8_tile8(cg, sg, nb, K, qm, sm, um, Ym, ldy, mk); m0 += 8; }
            else if (left >= 4) { vnni_w8_tile4(cg, sg, nb, K, qm, sm, um, Ym, ldy, mk); m0 += 4; }
            else { vnni_w8_tile1(cg, sg, nb, K, qm, sm, um, Ym, ldy, mk); m0 += 1; }
        }
    }
}

static inline AVX2_ATTR void avx2_w8_tile(const int8_t *values, const float *scales, long nb, long K,
                                          const int8_t *q, const float *s, int TM, float *Y, long ldy, long valid) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 accf[4];
    for (int t = 0; t < TM; t++) accf[t] = _mm256_setzero_ps();
    for (long b = 0; b < nb; b++) {
        const int8_t *vb = values + b * 512;
        __m256i acc[4];
        for (int t = 0; t < TM; t++) acc[t] = _mm256_setzero_si256();
        for (int j = 0; j < 16; j++) {
            __m256i w = _mm256_loadu_si256((const __m256i *)(vb + 32 * j));
            __m256i aw = _mm256_abs_epi8(w);
            for (int t = 0; t < TM; t++) {
                __m256i p = _mm256_maddubs_epi16(aw, _mm256_sign_epi8(_mm256_set1_epi32(load_i32(q + t * K + 64 * b + 4 * j)), w));
                acc[t] = _mm256_add_epi32(acc[t], _mm256_madd_epi16(p, ones));
            }
        }
        __m256 ws = _mm256_loadu_ps(scales + b * 8);
        for (int t = 0; t < TM; t++)
            accf[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc[t]), _mm256_mul_ps(ws, _mm256_set1_ps(s[t * nb + b])), accf[t]);
    }
    for (int t = 0; t < TM; t++) {
        float tmp[8];
        _mm256_storeu_ps(tmp, accf[t]);
        memcpy(Y + t * ldy, tmp, (size_t)valid * 4);
    }
}

#define AVX2_W8_TILE_N(n) \
    __attribute__((target("avx2,fma"))) static void avx2_w8_tile##n(const int8_t *c, const float *sc, long nb, long K, \
        const int8_t *q, const float *s, float *Y, long ldy, long valid) { avx2_w8_tile(c, sc, nb, K, q, s, n, Y, ldy, valid); }
AVX2_W8_TILE_N(1) AVX2_W8_TILE_N(4)

__attribute__((target("avx2,fma")))
static void gemm_w8_avx2(const int8_t *values, const float *scales, long N, long K, long g_lo, long g_hi,
                         const int8_t *q, const float *s, long M, float *Y, long ldy) {
    long nb = K / 64;
    for (long g = g_lo; g < g_hi; g++) {
        const int8_t *cg = values + g * nb * 512;
        const float *sg = scales + g * nb * 8;
        long r0 = g * 8, valid = N - r0 < 8 ? N - r0 : 8;
        for (long m0 = 0; m0 < M;) {
            const int8_t *qm = q + m0 * K;
            const float *sm = s + m0 * nb;
            float *Ym = Y + m0 * ldy + r0;
            if (M - m0 >= 4) { avx2_w8_tile4(cg, sg, nb, K, qm, sm, Ym, ldy, valid); m0 += 4; }
            else { avx2_w8_tile1(cg, sg, nb, K, qm, sm, Ym, ldy, valid); m0 += 1; }
        }
    }
}
#endif

void qlora_i8_gemm_w8(int variant, const int8_t *values, const float *scales, long N, long K, long g_lo, long g_hi,
                      const int8_t *q, const float *s, const int32_t *sums, long M, float *Y, long ldy) {
#if QLORA_X86
    if (variant == QLORA_I8_VNNI) { gemm_w8_vnni(values, scales, N, K, g_lo, g_hi, q, s, sums, M, Y, ldy); return; }
    if (variant == QLORA_I8_AVX2) { gemm_w8_avx2(values, scales, N, K, g_lo, g_hi, q, s, M, Y, ldy); return; }
#endif
    (void)sums;
    gemm_w8_ref(values, scales, N, K, g_lo, g_hi, q, s, M, Y, ldy);
}
