#!/bin/bash
# each target build is a separate locked command (< ~10 min each)
cd "${LLAMACPP_DIR:?set LLAMACPP_DIR to the llama.cpp work folder}"
for t in ggml llama llama-quantize llama-bench test-backend-ops; do
  s=$(date +%s)
  flock "${TMPDIR:-/tmp}/qlora-build.lock" nice -n 19 cmake --build build --target $t -j2 >> results/build.log 2>&1 || { echo "FAIL $t"; exit 1; }
  echo "$t built in $(( $(date +%s)-s )) s (incl. lock wait)"
done
