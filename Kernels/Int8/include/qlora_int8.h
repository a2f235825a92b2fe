// int8 products for inference: NF4 weights mapped to int8 levels, activations quantized to int8 per
// block of 64, integer dot products per block (AVX512-VNNI vpdpbusd, AVX2 vpmaddubsw + vpmaddwd, or
// plain C), scaled in Float32 by the weight block's absmax and the activation block's scale.
//
// Numerics (identical on every ISA, bit for bit):
//   level[c]  = round(127 * NF4[c])                              (the 16-entry table, int8)
//   a-scale   s = absmax(x[block]) / 127,  q[k] = rint(x[k] * (127 / absmax)) in [-127, 127];
//             a block holding a NaN or ±inf gets q = 0 and s = NaN (its products are NaN)
//   dot_b     = sum_{k in block b} level[code(r, k)] * q[k]      (exact int32, |dot| < 2^21)
//   w_scale   = absmax(weight block) / 127                       (the level is 127 · NF4)
//   y[r]      = fma over b in order: y = fma((float)dot_b, w_scale[r, b] * s_b, y), from y = 0
//
// Weight layout ("interleaved rows", repacked at load; the file on disk stays bitsandbytes'): rows in
// groups of G (16 for VNNI, 8 for AVX2 and the reference); per group and 64-block, 8 chunks of 4·G bytes;
// in chunk c byte 4i+p holds row i's code for k = 8c+p in its low nibble and k = 8c+4+p in its high
// nibble. Scales: Float32 [group][block][G]. Rows past the matrix are padded with code 7 (0.0), scale 0.
#ifndef QLORA_INT8_H
#define QLORA_INT8_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Kernel variants: 0 = reference C, 1 = AVX2 (vpmaddubsw + vpmaddwd), 2 = AVX512-VNNI (vpdpbusd).
enum { QLORA_I8_REF = 0, QLORA_I8_AVX2 = 1, QLORA_I8_VNNI = 2 };

/// Bits of what this CPU can run: 1 = AVX2 kernels, 2 = VNNI kernels (AVX-512 F/BW/VL + VNNI).
int qlora_i8_cpu_support(void);

/// Rows per interleaved group for a variant (16 for VNNI, 8 otherwise).
int qlora_i8_group_rows(int variant);

/// The 16-entry int8 level table (round(127 · NF4)).
void qlora_i8_levels(int8_t out[16]);

/// Repacks W [rows, cols] (cols % 64 == 0) from the kernels' "groups of 32" NF4 layout with one
/// Float32 scale per 64-block (blockScales[rows · cols / 64]) into the interleaved layout for G rows.
/// out_codes: ceil(rows / G) · (cols / 64) · 32·G bytes; out_scales: ceil(rows / G) · (cols / 64) · G floats.
void qlora_i8_repack(const uint8_t *packed, const float *blockScales, long rows, long cols, int G,
                     uint8_t *out_codes, float *out_scales);

/// Quantizes M rows of K activations (K % 64 == 0, row stride ldx) per block of 64:
/// q [M·K] int8, s [M·K/64] scales, sums [M·K/64] sum of each block's q. `variant` only picks the
/// instructions; every variant gives the same bytes.
void qlora_i8_quantize(int variant, const float *x, long ldx, long M, long K, int8_t *q, float *s, int32_t *sums);

/// Y[m, r] for rows r in row groups [g_lo, g_hi) (rows ≥ N are not written) and all M tokens:
/// Y[m·ldy + r] = sum over blocks as above. codes/scales in the layout for this variant's G.
void qlora_i8_gemm(int variant, const uint8_t *codes, const float *scales, long N, long K, long g_lo, long g_hi,
                   const int8_t *q, const float *s, const int32_t *sums, long M, float *Y, long ldy);

// MARK: 8-bit weights (the output layer): W [rows, cols] quantized to int8 per row and 64-block (llama.cpp's Q8_0
// with blocks of 64), w = round(127 · v / absmax(block)), scale absmax(block) / 127, in the same interleaved groups
// of G rows: per group and 64-block, 16 chunks of 4·G bytes, chunk j byte 4i+p = row i's value for k = 4j+p
// (stored + 128 as unsigned for VNNI, signed otherwise). Scales: Float32 [group][block][G]. Sums as above.

/// Quantizes W [rows, cols] (cols % 64 == 0, row stride ldw) per row and 64-block into the layout for G rows and the variant.
void qlora_i8_pack_rows(int variant, const float *w, long ldw, long rows, long cols, int8_t *out_values, float *out_scales);

/// Y[m, r] for 8-bit weights, rows in groups [g_lo, g_hi); otherwise as qlora_i8_gemm.
void qlora_i8_gemm_w8(int variant, const int8_t *values, const float *scales, long N, long K, long g_lo, long g_hi,
                      const int8_t *q, const float *s, const int32_t *sums, long M, float *Y, long ldy);

#ifdef __cplusplus
}
#endif
#endif
