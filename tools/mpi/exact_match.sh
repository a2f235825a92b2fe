#!/usr/bin/env bash
# SmolLM2 on the bundled task (dates → ISO 8601): the demo's fine-tune (80 steps, 4 rows of 256 tokens
# per step, r 16, lr 3e-4 cosine) as 1 rank × 2 threads (--batch 2 --grad-accum 2) and as 2 ranks ×
# 1 thread (--batch 2 --grad-accum 1 each), then exact match on the same 100 held-out questions.
# Run each under the build lock (the script takes it per command).
set -euo pipefail
cd "$(dirname "$0")/../.."
q=$PWD/.build/release/qlora
out=${TMPDIR:-/tmp}/qlora-mpi-em
mkdir -p "$out"
lock=${QLORA_LOCK:+flock $QLORA_LOCK}   # QLORA_LOCK: optional lock file shared with other CPU jobs
mkdir -p out
[ -d out/smollm2-nf4 ] || $lock $q quantize models/SmolLM2-135M-Instruct.Q4_1.gguf -o out/smollm2-nf4 > /dev/null
common=(--model out/smollm2-nf4 --data datasets/train.jsonl --eval-data datasets/eval.jsonl --steps 80 --batch 2
        --seq 256 --rank 16 --alpha 32 --lr 3e-4 --schedule cosine --warmup 8 --overwrite)
$lock $q train "${common[@]}" -o "$out/one" --threads 2 --grad-accum 2 | tail -3
$lock mpirun --allow-run-as-root --bind-to none -np 2 $q train "${common[@]}" -o "$out/two" --threads 1 --grad-accum 1 | tail -3
for run in one two; do
  echo "$run: $($lock $q eval --model out/smollm2-nf4 --adapter "$out/$run" --task datasets/eval.jsonl --limit 100 --show 0 --threads 2 | grep accuracy)"
done
