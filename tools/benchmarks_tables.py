#!/usr/bin/env python3
"""Prints the markdown tables of docs/benchmarks.md from Benchmarks/results/*.json (standard library only)."""
import json, os, sys
d = sys.argv[1] if len(sys.argv) > 1 else "Benchmarks/results"
def load(n):
    p = os.path.join(d, n)
    return json.load(open(p)) if os.path.exists(p) and os.path.getsize(p) else None

k = load("kernels.json")
if k:
    m = k["machine"]
    print(f"Machine limits measured in the same run: FMA peak {m['fma_peak_gflops_1t']:.0f} GFLOP/s on 1 core, "
          f"{m['fma_peak_gflops_2t']:.0f} on 2; read bandwidth {m['read_gbps_1t']:.1f} GB/s (1 thread), "
          f"{m['read_gbps_2t']:.1f} (2); OpenBLAS core `{m['blas_core']}` (asked: `{m['blas_requested_core']}`).\n")
    print("| kernel | out×in | M | threads | ours ms | GFLOP/s | weight GB/s | OpenBLAS f32 ms | ours vs OpenBLAS | vs dequantize+sgemm | roofline |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in k["rows"]:
        print(f"| {r['kernel']} | {r['out']}×{r['in']} | {r['m']} | {r['threads']} | {r['seconds']*1e3:.3f} | {r['gflops']:.1f} | "
              f"{r['weight_gbps']:.1f} | {r['baseline_seconds']*1e3:.3f} | **{r['speedup']:.2f}×** | {r['speedup_vs_dequant_sgemm']:.2f}× | "
              f"{r['roofline_fraction']*100:.0f}% |")
u = load("kernels_coretype_unset.json")
if u: print(f"\nWith OPENBLAS_CORETYPE unset: OpenBLAS runs `{u['machine']['blas_core']}`.")
print("\n| quantize source | threads | MB/s of source weights | parameters/s |")
print("|---|---|---|---|")
for src, name in (("gguf", "GGUF Q4_1 (bytes as stored)"), ("f32", "HF Float32 checkpoint")):
    for t in (1, 2):
        q = load(f"quantize_{src}_t{t}.json")
        if q:
            mbps = q["quantize_mb_per_second"]
            bpp = q["bytes_in"] / max(1, sum(x["bytes_in"] for x in q["tensors"]))
            qbytes = sum(x["bytes_in"] for x in q["tensors"] if x["action"] == "quantized")
            print(f"| {name} | {t} | {mbps:.0f} | {mbps*1e6/(qbytes/q['quantized_parameters'])/1e6:.0f} M |")
print("\n| model weights | threads | prompt 512 tokens/s | generation tokens/s | peak RSS MiB | weights MiB |")
print("|---|---|---|---|---|---|")
for base in ("nf4", "f32"):
    for t in (1, 2):
        r = load(f"model_{base}_t{t}.json")
        if r:
            print(f"| {base} | {t} | {r['prompt_tokens_per_second']:.0f} | {r['gen_tokens_per_second']:.0f} | "
                  f"{r['peak_rss_bytes']/2**20:.0f} | {r['weight_bytes']/2**20:.0f} |")
print("\n| training step (r 16 all-linear, seq 256, batch 4) | threads | s/step | tokens/s | GFLOP/s | peak RSS MiB |")
print("|---|---|---|---|---|---|")
for ck in ("", "_ckpt"):
    for t in (1, 2):
        r = load(f"train_step{ck}_t{t}.json")
        if r:
            print(f"| {'with' if ck else 'no'} checkpointing | {t} | {r['seconds_per_step']:.2f} | {r['tokens_per_second']:.0f} | "
                  f"{r['achieved_gflops']:.0f} of {r['gflops_per_step']:.0f}/step | {r['peak_rss_bytes']/2**20:.0f} |")
