#!/usr/bin/env python3
"""Prints the bf16 and int8 columns of a `qlora bench kernels --json` file as the markdown table in
docs/benchmarks.md (standard library only).   usage: tools/kernels_dtype_table.py KERNELS.json"""
import json, sys

k = json.load(open(sys.argv[1]))
m = k["machine"]
print(f"Peaks measured in the same run: Float32 FMA {m['fma_peak_gflops_1t']:.0f} / {m['fma_peak_gflops_2t']:.0f} GFLOP/s "
      f"(1 / 2 threads); bf16 `vdpbf16ps` {m.get('bf16_peak_gflops_1t', 0):.0f} / {m.get('bf16_peak_gflops_2t', 0):.0f} GFLOP/s; "
      f"int8 ({m.get('int8_variant', '?')}) {m.get('int8_peak_gops_1t', 0):.0f} / {m.get('int8_peak_gops_2t', 0):.0f} GOP/s; "
      f"read bandwidth {m['read_gbps_1t']:.1f} / {m['read_gbps_2t']:.1f} GB/s; OpenBLAS core `{m['blas_core']}`.\n")
print("| kernel | out×in | M | threads | OpenBLAS f32 ms | f32 (ours) ms | f32 vs OpenBLAS | bf16 ms | bf16 vs OpenBLAS | bf16 roofline "
      "| int8 ms | int8 GOP/s | int8 vs OpenBLAS | int8 roofline | int8 rel. RMS error |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
f = lambda v, fmt: "–" if v is None else fmt.format(v)
for r in k["rows"]:
    b, i = r.get("bf16_seconds"), r.get("int8_seconds")
    print(f"| {r['kernel']} | {r['out']}×{r['in']} | {r['m']} | {r['threads']} | {r['baseline_seconds']*1e3:.3f} | "
          f"{r['seconds']*1e3:.3f} | {r['speedup']:.2f}× | {f(b and b*1e3, '{:.3f}')} | {f(r.get('bf16_speedup'), '**{:.2f}×**')} | "
          f"{f(r.get('bf16_roofline_fraction') and r['bf16_roofline_fraction']*100, '{:.0f}%')} | {f(i and i*1e3, '{:.3f}')} | "
          f"{f(r.get('int8_gops'), '{:.1f}')} | {f(r.get('int8_speedup'), '**{:.2f}×**')} | "
          f"{f(r.get('int8_roofline_fraction') and r['int8_roofline_fraction']*100, '{:.0f}%')} | {f(r.get('int8_relative_rms_error'), '{:.4f}')} |")
