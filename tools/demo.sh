#!/usr/bin/env bash
# The main job on the bundled small model: installs what is missing, fetches SmolLM2-135M-Instruct,
# builds qlora in release mode and quantizes the model to a bitsandbytes NF4 checkpoint.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install_deps.sh
tools/fetch_model.sh
swift build -c release --product qlora
qlora=.build/release/qlora
mkdir -p out
$qlora quantize models/SmolLM2-135M-Instruct.Q4_1.gguf -o out/smollm2-nf4 --overwrite
