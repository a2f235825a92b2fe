#!/usr/bin/env bash
# Runs every benchmark behind docs/benchmarks.md and writes JSON into Benchmarks/results/.
# One benchmark at a time (the machine has 2 cores); each model configuration in its own process so
# its peak RSS is its own. Usage: Benchmarks/run_all.sh [results-dir]
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-Benchmarks/results}"
mkdir -p "$out" out
tools/fetch_model.sh >/dev/null
swift build -c release --product qlora >/dev/null
q=.build/release/qlora
gguf=models/SmolLM2-135M-Instruct.Q4_1.gguf
lock() { flock "${TMPDIR:-/tmp}/qlora-build.lock" "$@"; }

# Machine
{ lscpu; echo; grep -m1 -o 'avx512[a-z_]*' /proc/cpuinfo | sort -u | tr '\n' ' '; } > "$out/machine.txt"

# Quantize throughput: from the GGUF, and from a Float32 HF checkpoint of the same weights
lock $q quantize $gguf -o out/smollm2-f32 --keep-dtype f32 --skip-modules model.layers --overwrite --json >/dev/null
for t in 1 2; do
  lock $q quantize $gguf -o out/bench-nf4 --overwrite --threads $t --json > "$out/quantize_gguf_t$t.json"
  lock $q quantize out/smollm2-f32 -o out/bench-nf4 --overwrite --threads $t --json > "$out/quantize_f32_t$t.json"
done
lock $q quantize $gguf -o out/smollm2-nf4 --overwrite --json >/dev/null

# Kernels (the BLAS core type the engine chose is in the machine block; with OPENBLAS_CORETYPE unset too)
lock $q bench kernels --json > "$out/kernels.json"
env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $q bench kernels --shape 4096x4096 --m 512 --json > "$out/kernels_coretype_unset.json"

# Model: prompt processing 512 and generation 128, NF4 and Float32, 1 and 2 threads
for base in nf4 f32; do
  model=out/smollm2-nf4; [ $base = f32 ] && model=$gguf
  for t in 1 2; do
    lock $q bench model --model $model --base $base --threads $t --json > "$out/model_${base}_t$t.json"
  done
done

# Training step: r 16 all-linear, seq 256, batch 4, with and without checkpointing, 1 and 2 threads
for t in 1 2; do
  lock $q bench train-step --model out/smollm2-nf4 --threads $t --json > "$out/train_step_t$t.json"
  lock $q bench train-step --model out/smollm2-nf4 --threads $t --grad-checkpointing --json > "$out/train_step_ckpt_t$t.json"
done
echo "results in $out"
