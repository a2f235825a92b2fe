#!/bin/bash
# usage: tools/peer_side_by_side.sh OUTDIR
# QLoRA training on SmolLM2-135M (r 16 on all seven linears, batch 4 × 256, 2 threads, no gradient
# checkpointing), ours and the peer's (transformers + PEFT + bitsandbytes, ../shared/reference/peer/train_bench.py)
# side by side in one session, each in Float32 and bf16 compute, then one table of tokens/s and peak RSS.
#
#   PEER_DIR     a folder with the peer's scripts/ (copied from ../shared/reference/peer/) and smollm2-hf/
#                (made there by scripts/convert_gguf.py from the same GGUF, in model/)   [required]
#   PEER_PYTHON  python of a venv with torch, transformers, peft, bitsandbytes            [default: python3]
#   QLORA_BIN    [.build/release/qlora]   QLORA_MODEL  [models/SmolLM2-135M-Instruct.Q4_1.gguf]
#   QLORA_LOCK   a lock file: every run takes it for itself only (unset: runs directly)
#   CASES        which runs, in order [qlora:f32 qlora:bf16 peer:float32 peer:bfloat16]
#   PEER_STEPS   timed peer steps after 2 warm-up steps [6]
# Each run has its own timeout and its own process (peak RSS is per run). Raw output: OUTDIR/*.json, *.log.
set -u
OUT=${1:?usage: tools/peer_side_by_side.sh OUTDIR}
PEER=${PEER_DIR:?set PEER_DIR (see the header of this script)}
PY=${PEER_PYTHON:-python3}
Q=$(realpath "${QLORA_BIN:-.build/release/qlora}")
M=$(realpath "${QLORA_MODEL:-models/SmolLM2-135M-Instruct.Q4_1.gguf}")
L=${QLORA_LOCK:+flock $QLORA_LOCK}
CASES=${CASES:-qlora:f32 qlora:bf16 peer:float32 peer:bfloat16}
STEPS=${PEER_STEPS:-6}
mkdir -p "$OUT"; OUT=$(realpath "$OUT")
[ -x "$Q" ] || { echo "peer_side_by_side: no qlora binary at $Q" >&2; exit 1; }
[ -f "$PEER/scripts/train_bench.py" ] && [ -d "$PEER/smollm2-hf" ] || { echo "peer_side_by_side: $PEER lacks scripts/train_bench.py or smollm2-hf/" >&2; exit 1; }
for c in $CASES; do
  who=${c%%:*}; d=${c#*:}
  echo "$(date -u +%FT%TZ) $who $d loadavg $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/runs.log"
  case $who in
    qlora)
      $L timeout 600 "$Q" bench train-step --model "$M" --threads 2 --steps 3 --compute-dtype "$d" --json \
        > "$OUT/qlora_$d.json" 2> "$OUT/qlora_$d.log" || echo "  qlora $d failed (rc $?)" | tee -a "$OUT/runs.log" ;;
    peer)
      # --max-wait bounds the peer's wait for a quiet machine before each step; steps taken while other
      # processes used ≥ 0.10 core are reported apart ("clean" medians).
      (cd "$PEER" && $L timeout 900 "$PY" scripts/train_bench.py --mode qlora --gc 0 --compute-dtype "$d" --threads 2 \
        --steps "$STEPS" --warmup 2 --min-clean 4 --extra 4 --quiet-threshold 0.15 --clean-threshold 0.10 --max-wait 20 \
        --out "$OUT/peer_$d.json" > "$OUT/peer_$d.log" 2>&1) || echo "  peer $d failed (rc $?)" | tee -a "$OUT/runs.log" ;;
    *) echo "peer_side_by_side: unknown case $c" >&2; exit 1 ;;
  esac
done
python3 - "$OUT" <<'PY'
import json, os, sys
out = sys.argv[1]
rows = []
def load(name):
    p = os.path.join(out, name)
    try:
        return json.load(open(p))
    except Exception:
        return None
for d in ("f32", "bf16"):
    r = load(f"qlora_{d}.json")
    if r: rows.append((f"qlora {d}", r["tokens_per_second"], r["seconds_per_step"], r["peak_rss_bytes"] / 2**20, "median of 3"))
for d in ("float32", "bfloat16"):
    r = load(f"peer_{d}.json")
    if r:
        note = f"median of {len(r['step_times_s'])}; clean {r['clean_steps']}"
        if r.get("tokens_per_s_median_clean"): note += f" ({r['tokens_per_s_median_clean']:.1f} tok/s clean)"
        rows.append((f"peer {d}", r["tokens_per_s_median"], r["median_step_s"], r["ru_maxrss_MiB"], note))
print("| run (2 threads, r 16 all-linear, 4 × 256, no checkpointing) | tokens/s | s/step | peak RSS MiB | steps |")
print("|---|---|---|---|---|")
for n, t, s, m, note in rows:
    print(f"| {n} | {t:.1f} | {s:.2f} | {m:.0f} | {note} |")
ours = {n: (t, m) for n, t, _, m, _ in rows if n.startswith("qlora")}
peer = {n: (t, m) for n, t, _, m, _ in rows if n.startswith("peer")}
if ours and peer:
    best = max(peer.items(), key=lambda kv: kv[1][0])
    for n, (t, m) in ours.items():
        print(f"{n} vs {best[0]} (the peer's fastest here): {t / best[1][0]:.2f}x tokens/s at {m / best[1][1]:.2f}x peak RSS")
PY
