#!/bin/bash
# usage: run_llamabench.sh PASS ; each (model, threads) case is one locked, gated llama-bench invocation
cd "${LLAMACPP_DIR:?set LLAMACPP_DIR to the llama.cpp work folder}"
P=$1
for M in SmolLM2-135M-Instruct.Q4_1 smollm2-135m-Q4_0 smollm2-135m-IQ4_NL smollm2-135m-F32; do
  for T in 2 1; do
    echo "pass=$P model=$M t=$T $(date -u +%T)" >> results/llama-bench.err
    flock "${TMPDIR:-/tmp}/qlora-build.lock" bash -c "bench/waitquiet.sh; build/bin/llama-bench -m models/$M.gguf -p 512 -n 128 -t $T -r 5 -o jsonl" \
      >> results/llama-bench.jsonl 2>> results/llama-bench.err
  done
done
