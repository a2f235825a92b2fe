#!/usr/bin/env bash
# Crash-safety harness: runs `qlora quantize`, `qlora train` (checkpointing every step) and
# `qlora merge`, SIGKILLs each at a random moment, and checks that every output path is absent,
# the previous complete version, or a new complete version — never anything else.
#
#   tools/kill_harness.sh [--kills ROUNDS] [--model M] [--qlora BIN] [--work DIR] [--seed S] [--train-args "..."]
#
# Defaults: 60 rounds (20 per command) on the tiny GGUF fixture; a round whose run finishes
# before its kill moment is checked the same way but is not counted as a SIGKILL. What "complete" means per output:
#   quantize OUT, merge OUT   byte-identical (every file) to one of two reference outputs made
#                             before the kills (quantize: blocksize 64 / 128; merge: f32 / f16),
#                             each run replacing the other with --overwrite, so "previous" and
#                             "new" are told apart;
#   train checkpoints/ckpt-N  every file listed in its manifest.json with that SHA-256, no file
#                             missing or extra (checked here with sha256sum, not by qlora);
#   train adapter + config    byte-identical to the uninterrupted reference run's;
#   summary.json, loss.svg    end as a complete file does; metrics.jsonl: whole lines only;
#   the run itself            resumed after every kill (a resume that has to skip a torn
#                             checkpoint counts as corrupt); when it completes, its adapter must be
#                             byte-identical to the reference run's.
# Exit status 0 only when nothing was corrupt. Kill moments: uniform in [0, 1.15·d] for half the
# kills and in [0.6·d, 1.1·d] (the write phase) for the other half, d = the command's measured
# uninterrupted duration (3/4 of the training run's for a round that resumes one).
set -uo pipefail
cd "$(dirname "$0")/.."

kills=60
model=Tests/Fixtures/gguf/tiny_llama.gguf
qlora=.build/release/qlora
work=""
seed=1
train_args="--steps 12 --batch 2 --seq 16 --rank 4 --alpha 8 --lr 1e-2 --seed 3 --threads 2"
while [ $# -gt 0 ]; do
    case "$1" in
        --kills) kills=$2; shift 2 ;;
        --model) model=$2; shift 2 ;;
        --qlora) qlora=$2; shift 2 ;;
        --work) work=$2; shift 2 ;;
        --seed) seed=$2; shift 2 ;;
        --train-args) train_args=$2; shift 2 ;;
        *) echo "kill_harness: unknown argument $1" >&2; exit 2 ;;
    esac
done
[ -x "$qlora" ] || { echo "kill_harness: no qlora binary at $qlora (build first)" >&2; exit 2; }
if [ -z "$work" ]; then work=$(mktemp -d "${TMPDIR:-/tmp}/qlora-kill.XXXXXX"); cleanup=1; else mkdir -p "$work"; cleanup=0; fi
RANDOM=$seed
corrupt=0
log="$work/harness.log"
: > "$log"

say() { echo "$*" | tee -a "$log"; }
bad() { corrupt=$((corrupt + 1)); say "CORRUPT: $*"; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# One digest for a directory: every file's relative path and SHA-256 (hidden temporaries excluded).
dir_digest() {
    (cd "$1" && find . -type f ! -name '.*' -print0 | sort -z | xargs -0 -r sha256sum) | sha256sum | cut -d' ' -f1
}

# Runs "$@" in the background, kills it after $delay_ms, waits; sets $completed=1 when it exited first.
run_and_kill() {
    local delay_ms=$1; shift
    local started; started=$(now_ms)
    "$@" > "$work/last.out" 2> "$work/last.err" &
    local pid=$!
    sleep "$(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000)))"
    if kill -0 "$pid" 2> /dev/null; then
        kill -9 "$pid" 2> /dev/null
        wait "$pid" 2> /dev/null
        completed=0
        sigkills=$((sigkills + 1))
    else
        wait "$pid"
        local rc=$?
        completed=1
        elapsed_ms=$(( $(now_ms) - started ))
        finished=$((finished + 1))
        [ "$rc" -eq 0 ] || bad "$* exited $rc before the kill: $(tail -1 "$work/last.err")"
    fi
}

# A kill moment for a command that takes $1 ms.
kill_delay() {
    local d=$1
    if [ $((RANDOM % 2)) -eq 0 ]; then
        echo $(( RANDOM * (d * 115 / 100 + 1) / 32768 ))
    else
        echo $(( d * 60 / 100 + RANDOM * (d * 50 / 100 + 1) / 32768 ))
    fi
}

# Checks one checkpoint directory against its manifest.
verify_checkpoint() {
    local dir=$1 m="$1/manifest.json"
    [ -f "$m" ] || { bad "$dir has no manifest.json (an incomplete checkpoint under its final name)"; return; }
    local names shas
    names=$(grep -o '"name" *: *"[^"]*"' "$m" | sed 's/.*: *"\(.*\)"/\1/')
    shas=$(grep -o '"sha256" *: *"[^"]*"' "$m" | sed 's/.*: *"\(.*\)"/\1/')
    local listed actual
    listed=$(echo "$names" | sort | tr '\n' ' ')
    actual=$(cd "$dir" && ls -A | grep -v '^manifest.json$' | sort | tr '\n' ' ')
    [ "$listed" = "$actual" ] || { bad "$dir holds [$actual], its manifest lists [$listed]"; return; }
    paste -d' ' <(echo "$shas") <(echo "$names") | sed 's/ /  /' | (cd "$dir" && sha256sum --quiet -c - > /dev/null 2>&1) \
        || bad "$dir: a file does not match its manifest checksum"
    verified_checkpoints=$((verified_checkpoints + 1))
}

# Checks a training run directory after a kill.
verify_run() {
    local run=$1
    [ -e "$run" ] || return 0
    for c in "$run"/checkpoints/checkpoint-*; do [ -d "$c" ] && verify_checkpoint "$c"; done
    for f in adapter_model.safetensors adapter_config.json; do
        if [ -e "$run/$f" ] && ! cmp -s "$run/$f" "$ref_train/$f"; then bad "$run/$f differs from the reference run's"; fi
    done
    if [ -e "$run/summary.json" ] && [ "$(tail -c 2 "$run/summary.json" | tr -d '\n ')" != "}" ]; then bad "$run/summary.json is torn"; fi
    if [ -e "$run/loss.svg" ] && ! tail -c 10 "$run/loss.svg" | grep -q '</svg>'; then bad "$run/loss.svg is torn"; fi
    if [ -e "$run/metrics.jsonl" ] && grep -qv '^{.*}$' "$run/metrics.jsonl"; then bad "$run/metrics.jsonl has a torn line"; fi
}

data="$work/train.jsonl"
words=(hello world "hello world" "world hello" "hello hello world")
for i in $(seq 1 60); do
    line=""
    for j in 1 2 3 4 5 6; do line="$line ${words[$(( (i * 7 + j * 3) % 5 ))]}"; done
    echo "{\"text\": \"${line# }\"}"
done > "$data"

# shellcheck disable=SC2206
train_cmd=("$qlora" train --model "$model" --data "$data" $train_args --checkpoint-every 1)

say "== references (uninterrupted runs) in $work"
t0=$(now_ms); "$qlora" quantize "$model" -o "$work/ref-q64" > /dev/null 2>> "$log" || exit 1; dq=$(( $(now_ms) - t0 ))
"$qlora" quantize "$model" -o "$work/ref-q128" --blocksize 128 > /dev/null 2>> "$log" || exit 1
ref_train="$work/ref-train"
t0=$(now_ms); "${train_cmd[@]}" -o "$ref_train" > /dev/null 2>> "$log" || exit 1; dt=$(( $(now_ms) - t0 ))
t0=$(now_ms); "$qlora" merge --model "$model" --adapter "$ref_train" -o "$work/ref-m32" --dtype f32 > /dev/null 2>> "$log" || exit 1; dm=$(( $(now_ms) - t0 ))
"$qlora" merge --model "$model" --adapter "$ref_train" -o "$work/ref-m16" --dtype f16 > /dev/null 2>> "$log" || exit 1
declare -A digest=([q64]=$(dir_digest "$work/ref-q64") [q128]=$(dir_digest "$work/ref-q128")
                   [m32]=$(dir_digest "$work/ref-m32") [m16]=$(dir_digest "$work/ref-m16"))
say "uninterrupted: quantize ${dq} ms, train ${dt} ms, merge ${dm} ms"

# State of a quantize/merge output: absent, one of the two references, or corrupt.
state_of() {
    local out=$1 a=$2 b=$3
    [ -e "$out" ] || { echo absent; return; }
    local d; d=$(dir_digest "$out")
    if [ "$d" = "${digest[$a]}" ]; then echo "$a"; elif [ "$d" = "${digest[$b]}" ]; then echo "$b"; else echo corrupt; fi
}

declare -A outcome
sigkills=0; finished=0
q_prev=absent; m_prev=absent
run="$work/run"
verified_checkpoints=0; resumes=0; fresh=0; runs_completed=0; run_done=0
for k in $(seq 1 "$kills"); do
    before=$sigkills
    case $((k % 3)) in
    1)  # quantize, alternating blocksize so a replacement is visible
        if [ "$q_prev" = q64 ]; then target=q128; extra="--blocksize 128"; else target=q64; extra=""; fi
        run_and_kill "$(kill_delay "$dq")" "$qlora" quantize "$model" -o "$work/q" --overwrite $extra
        [ "$completed" = 1 ] && [ "$elapsed_ms" -lt "$dq" ] && dq=$elapsed_ms
        s=$(state_of "$work/q" q64 q128)
        if [ "$s" = corrupt ]; then bad "quantize kill $k: $work/q matches neither reference"
        elif [ "$s" = "$q_prev" ]; then key=quantize_previous; [ "$s" = absent ] && key=quantize_absent; outcome[$key]=$(( ${outcome[$key]:-0} + 1 ))
        elif [ "$s" = "$target" ]; then outcome[quantize_new]=$(( ${outcome[quantize_new]:-0} + 1 ))
        else bad "quantize kill $k: was $q_prev, became $s"; fi
        q_prev=$s ;;
    2)  # train: start fresh, or resume the killed run
        if [ "$run_done" = 0 ] && ls -d "$run"/checkpoints/checkpoint-* > /dev/null 2>&1; then
            # A resumed run has fewer steps left than a fresh one: aim at 3/4 of the full duration.
            resumes=$((resumes + 1)); run_and_kill "$(kill_delay $((dt * 3 / 4)))" "${train_cmd[@]}" --resume "$run"
        else
            fresh=$((fresh + 1)); run_and_kill "$(kill_delay "$dt")" "${train_cmd[@]}" -o "$run" --overwrite
            [ "$completed" = 1 ] && [ "$elapsed_ms" -lt "$dt" ] && dt=$elapsed_ms
        fi
        run_done=$completed
        grep -q "skipped checkpoint" "$work/last.err" && bad "train kill $k: resume had to skip a checkpoint: $(grep skipped "$work/last.err")"
        verify_run "$run"
        if [ "$completed" = 1 ]; then
            runs_completed=$((runs_completed + 1))
            cmp -s "$run/adapter_model.safetensors" "$ref_train/adapter_model.safetensors" \
                || bad "train kill $k: a completed killed-and-resumed run's adapter differs from the reference"
            outcome[train_completed]=$(( ${outcome[train_completed]:-0} + 1 ))
        else
            outcome[train_killed]=$(( ${outcome[train_killed]:-0} + 1 ))
        fi ;;
    0)  # merge, alternating dtype
        if [ "$m_prev" = m32 ]; then target=m16; dtype=f16; else target=m32; dtype=f32; fi
        run_and_kill "$(kill_delay "$dm")" "$qlora" merge --model "$model" --adapter "$ref_train" -o "$work/m" --overwrite --dtype $dtype
        [ "$completed" = 1 ] && [ "$elapsed_ms" -lt "$dm" ] && dm=$elapsed_ms
        s=$(state_of "$work/m" m32 m16)
        if [ "$s" = corrupt ]; then bad "merge kill $k: $work/m matches neither reference"
        elif [ "$s" = "$m_prev" ]; then key=merge_previous; [ "$s" = absent ] && key=merge_absent; outcome[$key]=$(( ${outcome[$key]:-0} + 1 ))
        elif [ "$s" = "$target" ]; then outcome[merge_new]=$(( ${outcome[merge_new]:-0} + 1 ))
        else bad "merge kill $k: was $m_prev, became $s"; fi
        m_prev=$s ;;
    esac
    cmd=$(case $((k % 3)) in 1) echo quantize ;; 2) echo train ;; 0) echo merge ;; esac)
    outcome[${cmd}_sigkills]=$(( ${outcome[${cmd}_sigkills]:-0} + sigkills - before ))
done

# The killed training run, resumed to the end, must equal the uninterrupted one. A run killed
# before its first checkpoint was complete is resumed too (it starts from step 0): a kill during
# that first checkpoint write leaves the hidden .checkpoint-1.tmp-* directory, which only a later
# run of the same output removes (the next checkpoint save), so the clean-up check below needs it.
if [ $((fresh + resumes)) = 0 ]; then
    # Fewer than two rounds (--kills 1): no train round ran, so there is no killed run to finish.
    final="final resume: not needed (no train round ran)"
elif [ "$run_done" = 0 ] && [ -d "$run/checkpoints" ]; then
    "${train_cmd[@]}" --resume "$run" > /dev/null 2> "$work/last.err" || bad "final resume failed: $(tail -1 "$work/last.err")"
    grep -q "skipped checkpoint" "$work/last.err" && bad "final resume had to skip a checkpoint"
    cmp -s "$run/adapter_model.safetensors" "$ref_train/adapter_model.safetensors" \
        || bad "the killed-and-resumed run's final adapter differs from the uninterrupted run's"
    final="final resume: adapter byte-identical to the uninterrupted run"
elif [ "$run_done" = 0 ]; then
    # Killed before it made its checkpoints directory (or while --overwrite was removing the old
    # run, which leaves $work/.run.tmp-*): nothing to resume, so a fresh run.
    "${train_cmd[@]}" -o "$run" --overwrite > /dev/null 2> "$work/last.err" || bad "final fresh run failed: $(tail -1 "$work/last.err")"
    cmp -s "$run/adapter_model.safetensors" "$ref_train/adapter_model.safetensors" \
        || bad "the final fresh run's adapter differs from the uninterrupted run's"
    final="final run: the last train round was killed before any checkpoint directory; rerun fresh, adapter byte-identical"
else
    final="final resume: not needed (the last train round finished)"
fi
# One more complete run of each writer clears what killed runs left (hidden temporaries of dead
# processes); nothing hidden may remain.
"$qlora" quantize "$model" -o "$work/q" --overwrite > /dev/null 2>> "$log" || bad "clean quantize failed"
"$qlora" merge --model "$model" --adapter "$ref_train" -o "$work/m" --overwrite > /dev/null 2>> "$log" || bad "clean merge failed"
left=$(find "$work/q" "$work/m" "$run" -maxdepth 2 -name '.*.tmp-*' 2> /dev/null; ls -A "$work" | grep '\.tmp-' || true)
[ -z "$left" ] || bad "temporaries left after clean runs: $left"

say "rounds: $kills; SIGKILLs delivered: $sigkills; runs that finished before their kill moment: $finished"
say "quantize: ${outcome[quantize_sigkills]:-0} SIGKILLed; output afterwards: previous ${outcome[quantize_previous]:-0}, absent ${outcome[quantize_absent]:-0}, new ${outcome[quantize_new]:-0}"
say "train: ${outcome[train_sigkills]:-0} SIGKILLed (rounds: $fresh fresh starts, $resumes resumes), ${outcome[train_completed]:-0} finished first (adapter compared); checkpoint directories verified $verified_checkpoints"
say "merge: ${outcome[merge_sigkills]:-0} SIGKILLed; output afterwards: previous ${outcome[merge_previous]:-0}, absent ${outcome[merge_absent]:-0}, new ${outcome[merge_new]:-0}"
say "$final"
say "corrupt: $corrupt"
[ "$cleanup" = 1 ] && [ "$corrupt" = 0 ] && rm -rf "$work"
[ "$corrupt" = 0 ]
