#!/usr/bin/env bash
# Data-parallel scaling of `qlora train` on SmolLM2-135M (NF4): tokens/s of 1 process (2 threads),
# 2 ranks × 1 thread, 4 ranks × 1 thread (oversubscribed on 2 cores), and 2 ranks × 1 thread in two
# network namespaces over TCP (tools/mpi/netns.sh), each with the data-parallel report line (bytes
# per step, time in the allgather). On a shared machine run it under the build lock: flock "$QLORA_LOCK" tools/mpi/bench.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
q=$PWD/.build/release/qlora
out=${TMPDIR:-/tmp}/qlora-mpi-bench
mkdir -p "$out"
mkdir -p out
[ -d out/smollm2-nf4 ] || $q quantize models/SmolLM2-135M-Instruct.Q4_1.gguf -o out/smollm2-nf4 > /dev/null
steps=${STEPS:-8}
common=(--model out/smollm2-nf4 --data datasets/train.jsonl --steps "$steps" --batch 2 --seq 256 --rank 16 --alpha 32
        --lr 3e-4 --seed 1 --json --overwrite)
mpi=(mpirun --allow-run-as-root --bind-to none)
tps() { grep -o '"tokens_per_second" : [0-9.]*' "$1" | awk '{printf "%.1f", $3}'; }
run() {  # label, then the command
  local label=$1; shift
  "$@" > "$out/$label.json" 2> "$out/$label.err"
  echo "$label: $(tps "$out/$label.json") tokens/s; $(grep '^data parallel' "$out/$label.err" || echo 'one process')"
}
run single-2t $q train "${common[@]}" -o "$out/single" --threads 2 --grad-accum 2
run np2-1t "${mpi[@]}" -np 2 $q train "${common[@]}" -o "$out/np2" --threads 1 --grad-accum 1
run np4-1t-oversubscribed "${mpi[@]}" --oversubscribe -np 4 $q train "${common[@]}" -o "$out/np4" --threads 1 --grad-accum 1
if ip netns list | grep -q qmpi0; then
  run np2-1t-netns-tcp "${mpi[@]}" --mca btl self,tcp --mca btl_tcp_if_include 10.77.0.0/24 \
    -np 1 ip netns exec qmpi0 $q train "${common[@]}" -o "$out/netns" --threads 1 --grad-accum 1 : \
    -np 1 ip netns exec qmpi1 $q train "${common[@]}" -o "$out/netns" --threads 1 --grad-accum 1
else
  echo "np2-1t-netns-tcp: skipped (tools/mpi/netns.sh up first)"
fi
