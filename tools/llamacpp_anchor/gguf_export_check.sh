#!/bin/bash
# usage: gguf_export_check.sh WORKDIR
# The llama.cpp check of `qlora merge --format gguf` from a Hugging Face base (docs/methods.md,
# "GGUF export checked with llama.cpp"): SmolLM2 as an HF directory, once as it is and once with
# Llama 3.1's RoPE scaling put in its config; both exported to GGUF f16 and run greedily by
# llama.cpp's llama-completion and by `qlora generate` on the merged f32 checkpoint; llama.cpp's
# llama-tokenize against `qlora tokenize`. Each heavy step is its own locked command.
# Needs: .build/release/qlora, models/SmolLM2-135M-Instruct.Q4_1.gguf, and llama.cpp's
# llama-completion and llama-tokenize in $LLAMACPP_BIN (cmake --build BUILD --target llama-completion llama-tokenize).
set -eu
W=${1:?work folder}
BIN=${LLAMACPP_BIN:?set LLAMACPP_BIN to llama.cpp bin folder}
Q=.build/release/qlora
# QLORA_LOCK: a lock file to serialize CPU-heavy steps with other jobs (unset: run directly).
L=${QLORA_LOCK:+flock $QLORA_LOCK}
mkdir -p "$W"
# A near-identity adapter (one step at lr 1e-7: B stays ~0), so the HF base is SmolLM2 itself.
$L timeout 600 $Q train --model models/SmolLM2-135M-Instruct.Q4_1.gguf --data datasets/train.jsonl \
  -o "$W/adapter0" --steps 1 --batch 1 --seq 32 --rank 8 --alpha 16 --lr 1e-7 --seed 1 --threads 2 > /dev/null
$L timeout 600 $Q merge --model models/SmolLM2-135M-Instruct.Q4_1.gguf --adapter "$W/adapter0" -o "$W/smol-hf0" --dtype f32
# The same weights with Llama 3.1's RoPE scaling (factor 8, low 1, high 4, original context 256).
mkdir -p "$W/smol-l3"
ln -sf ../smol-hf0/model.safetensors "$W/smol-l3/model.safetensors"
cp "$W"/smol-hf0/tokenizer*.json "$W/smol-hf0/generation_config.json" "$W/smol-l3/"
sed 's/"rope_theta" : 100000,/"rope_theta" : 100000, "rope_scaling" : {"rope_type" : "llama3", "factor" : 8.0, "low_freq_factor" : 1.0, "high_freq_factor" : 4.0, "original_max_position_embeddings" : 256},/' \
  "$W/smol-hf0/config.json" > "$W/smol-l3/config.json"
grep -q llama3 "$W/smol-l3/config.json"
P=$'<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nWrite a short story about a lighthouse keeper who finds a message in a bottle.<|im_end|>\n<|im_start|>assistant\n'
printf "%s" "$P" > "$W/prompt.txt"
for m in smol-hf0 smol-l3; do
  $L timeout 600 $Q merge --model "$W/$m" --adapter "$W/adapter0" -o "$W/$m.gguf" --format gguf --dtype f16 --overwrite
  $L timeout 600 $Q merge --model "$W/$m" --adapter "$W/adapter0" -o "$W/$m-ref" --dtype f32 --overwrite
  echo "== llama.cpp llama-completion, $m.gguf"
  $L timeout 300 env LD_LIBRARY_PATH="$BIN" "$BIN/llama-completion" -m "$W/$m.gguf" -f "$W/prompt.txt" -n 96 \
    --temp 0 -t 2 -c 512 -no-cnv --simple-io 2> "$W/$m.llamacpp.err"
  echo; echo "== qlora generate, $m-ref (merged f32)"
  $L timeout 300 $Q generate --model "$W/$m-ref" --base f32 --prompt "$P" --max-tokens 96 --threads 2 2> /dev/null
  echo
done
for text in "$P" $'Héllo wörld! 12345 tokens\tand   spaces\n\n日本語 🦙 it\'s'; do
  echo "== llama-tokenize: $(LD_LIBRARY_PATH="$BIN" "$BIN/llama-tokenize" -m "$W/smol-l3.gguf" -p "$text" --ids --log-disable 2> /dev/null | tail -1)"
  echo "== qlora tokenize: $($Q tokenize --model "$W/smol-l3" --json "$text")"
done
