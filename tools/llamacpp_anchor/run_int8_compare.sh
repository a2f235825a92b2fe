#!/bin/bash
# usage: tools/llamacpp_anchor/run_int8_compare.sh OUTDIR [PASS]   (on a shared machine: flock "$QLORA_LOCK" …)
# SmolLM2 pp512 / tg128 at 1 and 2 threads, side by side in one locked session: qlora f32 and int8 (native
# dispatch, and QLORA_ISA=avx2 with OpenBLAS forced to its Haswell kernels) against llama.cpp IQ4_NL and Q4_0
# built native and AVX2-only ($LLAMACPP_DIR/{native,avx2}, see COMMANDS.md). Run the whole script under the
# one CPU lock so nothing else runs beside it; each case waits for the machine to be quiet (waitquiet.sh).
set -u
OUT=${1:?outdir}; P=${2:-1}
LC=${LLAMACPP_DIR:?set LLAMACPP_DIR to the llama.cpp work folder (native/ and avx2/ builds, models/)}
Q=${QLORA_BIN:-.build/release/qlora}
M=${QLORA_MODEL:-models/SmolLM2-135M-Instruct.Q4_1.gguf}
GATE=$(dirname "$0")/waitquiet.sh
mkdir -p "$OUT"
for T in 1 2; do
  for ISA in native avx2; do
    for D in f32 int8; do
      [ $ISA = avx2 ] && [ $D = f32 ] && continue
      env="X=1"; [ $ISA = avx2 ] && env="QLORA_ISA=avx2 OPENBLAS_CORETYPE=Haswell"
      echo "pass=$P qlora $D isa=$ISA t=$T $(date -u +%T)" >> "$OUT/err.log"
      $GATE 2>> "$OUT/err.log"
      env $env $Q bench model --model $M --threads $T --compute-dtype $D --prompt-tokens 512 --gen-tokens 128 \
        --repeats 5 --json 2>> "$OUT/err.log" | sed "s/^{/{\"pass\":$P,\"isa\":\"$ISA\",/" >> "$OUT/qlora.jsonl"
    done
    [ -x $LC/$ISA/bin/llama-bench ] || { echo "no $LC/$ISA/bin/llama-bench" >> "$OUT/err.log"; continue; }
    for Mq in IQ4_NL Q4_0; do
      echo "pass=$P llama.cpp $Mq build=$ISA t=$T $(date -u +%T)" >> "$OUT/err.log"
      $GATE 2>> "$OUT/err.log"
      $LC/$ISA/bin/llama-bench -m $LC/models/smollm2-135m-$Mq.gguf -p 512 -n 128 -t $T -r 5 -o jsonl 2>> "$OUT/err.log" \
        | sed "s/^{/{\"pass\":$P,\"build\":\"$ISA\",/" >> "$OUT/llama.jsonl"
    done
  done
done
