#!/usr/bin/env bash
# Builds the libFuzzer harness (Fuzz/, added to the package only when QLORA_FUZZ=1) with
# -sanitize=fuzzer,address in .build-fuzz, and runs fuzz targets.
#
#   tools/fuzz.sh TARGET SECONDS [libFuzzer flags...]   one target for SECONDS
#   tools/fuzz.sh all SECONDS [libFuzzer flags...]      each target for SECONDS, one after another
#   tools/fuzz.sh list                                  the target names
#
# Targets: safetensors sharded-index gguf config tokenizer-json gguf-tokenizer jsonl peft-adapter
# quant-state json. Seeds: Fuzz/corpus/TARGET (committed, read only); inputs libFuzzer finds go to
# .build-fuzz/corpus/TARGET, crashes to .build-fuzz/artifacts/TARGET/, the run's log to
# .build-fuzz/logs/TARGET.log. Every run has -rss_limit_mb=2048 -malloc_limit_mb=2048 (a header that
# makes the parser allocate more fails the run) and -timeout=10 (a hang fails it). Extra flags go to
# libFuzzer, e.g. -runs=1000000 -jobs=1 -workers=1. Exit status: non-zero if any run found a crash,
# leak, hang, sanitizer report or out-of-memory. The build holds ${TMPDIR:-/tmp}/qlora-build.lock (when flock
# exists); the runs do not. FUZZ_SKIP_BUILD=1 runs the binary already built.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TARGETS=(safetensors sharded-index gguf config tokenizer-json gguf-tokenizer jsonl peft-adapter quant-state json)
SCRATCH=$ROOT/.build-fuzz
BIN=$SCRATCH/release/qlora-fuzz

usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
[ $# -ge 1 ] || usage
if [ "$1" = list ]; then printf '%s\n' "${TARGETS[@]}"; exit 0; fi
[ $# -ge 2 ] || usage
WHAT=$1 SECONDS_EACH=$2
shift 2
[[ $SECONDS_EACH =~ ^[0-9]+$ ]] || usage
if [ "$WHAT" = all ]; then
    RUN=("${TARGETS[@]}")
elif printf '%s\n' "${TARGETS[@]}" | grep -qx -- "$WHAT"; then
    RUN=("$WHAT")
else
    echo "fuzz.sh: unknown target '$WHAT' (targets: ${TARGETS[*]})" >&2
    exit 2
fi

if [ "${FUZZ_SKIP_BUILD:-0}" != 1 ]; then
    LOCK=()
    if command -v flock >/dev/null; then LOCK=(flock "${TMPDIR:-/tmp}/qlora-build.lock"); fi
    echo "fuzz.sh: building qlora-fuzz (-sanitize=fuzzer,address) in $SCRATCH" >&2
    QLORA_FUZZ=1 "${LOCK[@]}" swift build -c release --scratch-path "$SCRATCH" --product qlora-fuzz \
        --sanitize=fuzzer --sanitize=address -Xswiftc -sanitize=fuzzer,address -Xcc -fsanitize=fuzzer-no-link -Xswiftc -g 2>&1 | tail -5 >&2
    [ "${PIPESTATUS[0]}" -eq 0 ] || { echo "fuzz.sh: build failed" >&2; exit 1; }
fi
[ -x "$BIN" ] || { echo "fuzz.sh: $BIN is missing" >&2; exit 1; }

failed=0
for t in "${RUN[@]}"; do
    mkdir -p "$SCRATCH/corpus/$t" "$SCRATCH/artifacts/$t" "$SCRATCH/logs"
    log=$SCRATCH/logs/$t.log
    start=$(date +%s.%N)
    set +e
    # -jobs/-workers run the fuzzing in a child that writes fuzz-N.log into the current directory.
    (cd "$SCRATCH/logs" && QLORA_FUZZ_TARGET=$t "$BIN" "$SCRATCH/corpus/$t" "$ROOT/Fuzz/corpus/$t" \
        -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 -malloc_limit_mb=2048 -timeout=10 \
        -print_final_stats=1 -artifact_prefix="$SCRATCH/artifacts/$t/" "$@" >"$log" 2>&1)
    status=$?
    set -e
    end=$(date +%s.%N)
    [ -f "$SCRATCH/logs/fuzz-0.log" ] && { cat "$SCRATCH/logs/fuzz-0.log" >>"$log"; rm -f "$SCRATCH/logs/fuzz-0.log"; }
    execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || true)
    rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || true)
    # libFuzzer's last status line: "corp: N/SIZE" (inputs kept, their total size).
    corpus=$(grep -o 'corp: [0-9]*/[0-9]*[a-zA-Z]*' "$log" | tail -1 | cut -d' ' -f2 || true)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2 || true)
    artifacts=$(find "$SCRATCH/artifacts/$t" -type f | wc -l)
    result=ok
    if [ $status -ne 0 ] || grep -qE '^==[0-9]+==ERROR|SUMMARY: (libFuzzer|AddressSanitizer|LeakSanitizer)|Fatal error' "$log"; then
        result="FAILED (exit $status; log $log; artifacts in $SCRATCH/artifacts/$t)"
        failed=1
    fi
    printf 'target=%s execs=%s seconds=%s exec/s=%s corpus=%s cov=%s artifacts=%s result=%s\n' \
        "$t" "${execs:-?}" "$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.0f", b - a }')" "${rate:-?}" \
        "${corpus:-?}" "${cov:-?}" "$artifacts" "$result"
done
exit $failed
