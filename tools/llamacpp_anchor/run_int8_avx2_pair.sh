#!/bin/bash
# usage: tools/llamacpp_anchor/run_int8_avx2_pair.sh OUTDIR [PASS]
# The AVX2 pair of issue 17: SmolLM2 pp512 / tg128 at 1 and 2 threads, qlora's forced AVX2 path
# (QLORA_ISA=avx2, OpenBLAS on its Haswell kernels) in f32 and int8 against llama.cpp IQ4_NL and Q4_0
# built AVX2-only ($LLAMACPP_DIR/avx2, see COMMANDS.md), alternating in one session.
# DTYPES [int8 f32] and QUANTS [IQ4_NL Q4_0] choose the cases (set empty: none of that side).
# QLORA_LOCK: a lock file taken per benchmark command (unset: run directly), so other jobs can run
# between cases but never beside one; each case also waits for the machine to be quiet (waitquiet.sh).
set -u
OUT=${1:?outdir}; P=${2:-1}
LC=${LLAMACPP_DIR:?set LLAMACPP_DIR to the llama.cpp work folder (avx2/ build, models/)}
Q=${QLORA_BIN:-.build/release/qlora}
M=${QLORA_MODEL:-models/SmolLM2-135M-Instruct.Q4_1.gguf}
L=${QLORA_LOCK:+flock $QLORA_LOCK}
GATE=$(dirname "$0")/waitquiet.sh
[ -x $LC/avx2/bin/llama-bench ] || { echo "no $LC/avx2/bin/llama-bench" >&2; exit 1; }
mkdir -p "$OUT"
for T in 1 2; do
  for D in ${DTYPES-int8 f32}; do
    echo "pass=$P qlora $D isa=avx2 t=$T $(date -u +%T)" >> "$OUT/err.log"
    $L bash -c "$GATE; exec env QLORA_ISA=avx2 QLORA_BLAS_CORETYPE=Haswell timeout 600 $Q bench model --model $M \
      --threads $T --compute-dtype $D --prompt-tokens 512 --gen-tokens 128 --repeats 5 --json" 2>> "$OUT/err.log" \
      | sed "s/^{/{\"pass\":$P,/" >> "$OUT/qlora.jsonl"
  done
  for Mq in ${QUANTS-IQ4_NL Q4_0}; do
    echo "pass=$P llama.cpp $Mq build=avx2 t=$T $(date -u +%T)" >> "$OUT/err.log"
    $L bash -c "$GATE; exec timeout 600 $LC/avx2/bin/llama-bench -m $LC/models/smollm2-135m-$Mq.gguf -p 512 -n 128 \
      -t $T -r 5 -o jsonl" 2>> "$OUT/err.log" | sed "s/^{/{\"pass\":$P,\"build\":\"avx2\",/" >> "$OUT/llama.jsonl"
  done
done
