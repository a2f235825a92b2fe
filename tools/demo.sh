#!/usr/bin/env bash
# The main job on the bundled small model: installs what is missing, fetches SmolLM2-135M-Instruct,
# builds qlora, quantizes the model to NF4, measures the bundled task (dates → ISO 8601) before,
# runs a short QLoRA fine-tune (a few minutes on 2 cores), and measures it again with an example.
# Optional environment (unset: the default job above):
#   QLORA_COMPUTE_DTYPE  f32|bf16|auto: passed as --compute-dtype to train, eval and generate
#   QLORA_BIN            an already built qlora to run (skips installing, fetching and building)
#   DEMO_OUT             output folder instead of out/
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${QLORA_BIN:-}" ]; then
  q=$QLORA_BIN
else
  tools/install_deps.sh
  tools/fetch_model.sh
  swift build -c release --product qlora
  q=.build/release/qlora
fi
o=${DEMO_OUT:-out}
dt=()
[ -n "${QLORA_COMPUTE_DTYPE:-}" ] && dt=(--compute-dtype "$QLORA_COMPUTE_DTYPE")
mkdir -p "$o"
$q quantize models/SmolLM2-135M-Instruct.Q4_1.gguf -o "$o/smollm2-nf4" --overwrite > /dev/null
question="Convert the date to ISO 8601 format (YYYY-MM-DD). Answer with the date only.

the 3rd of March, 2031"
echo "== base model (NF4): exact-match accuracy on 100 held-out questions"
$q eval "${dt[@]}" --model "$o/smollm2-nf4" --task datasets/eval.jsonl --limit 100 --show 0 | grep accuracy
$q generate "${dt[@]}" --model "$o/smollm2-nf4" --chat --prompt "$question" --max-tokens 16 2>/dev/null
echo "== QLoRA fine-tune: r 16 on all linears, seq 256, batch 4, 80 steps"
$q train "${dt[@]}" --model "$o/smollm2-nf4" --data datasets/train.jsonl --eval-data datasets/eval.jsonl -o "$o/demo-run" \
  --overwrite --steps 80 --rank 16 --alpha 32 --lr 3e-4 --schedule cosine --warmup 8
echo "== after: exact-match accuracy on the same 100 questions"
$q eval "${dt[@]}" --model "$o/smollm2-nf4" --adapter "$o/demo-run" --task datasets/eval.jsonl --limit 100 --show 0 | grep accuracy
$q generate "${dt[@]}" --model "$o/smollm2-nf4" --adapter "$o/demo-run" --chat --prompt "$question" --max-tokens 16 2>/dev/null
