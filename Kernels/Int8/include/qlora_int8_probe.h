// The int8 dot-product peak of this machine, for the benchmarks' roofline (`qlora bench kernels`): the
// instructions the int8 products are built from, in register-resident independent chains.
#ifndef QLORA_INT8_PROBE_H
#define QLORA_INT8_PROBE_H

#ifdef __cplusplus
extern "C" {
#endif

/// Integer operations (a multiply and an add each count as one) per iteration of qlora_i8_peak_loop:
/// VNNI 16 × vpdpbusd zmm (64 byte products each) = 2048; AVX2 8 × (vpmaddubsw + vpmaddwd + vpaddd) on
/// 32 byte pairs = 512; reference 12 scalar int32 multiply-adds = 24.
long qlora_i8_peak_ops_per_iteration(int variant);

/// Runs `iterations` iterations of the variant's loop; the result only keeps the work alive.
int qlora_i8_peak_loop(int variant, long iterations, int seed);

#ifdef __cplusplus
}
#endif
#endif
