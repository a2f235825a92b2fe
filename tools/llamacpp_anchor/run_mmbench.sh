#!/bin/bash
# usage: run_mmbench.sh PASS ; one locked command per pass (~1-2 min), gate before each case
cd "${LLAMACPP_DIR:?set LLAMACPP_DIR to the llama.cpp work folder}"/bench
P=$1
flock "${TMPDIR:-/tmp}/qlora-build.lock" bash -c '
P='$P'
run() { ./waitquiet.sh; echo "pass=$P $(./mmbench "$@")"; }
for MK in "4096 4096" "11008 4096"; do
  for T in 1 2; do
    run f32    $MK 1 $T 0
    run q4_0   $MK 1 $T 1
    run iq4_nl $MK 1 $T 1
    run q4_0   $MK 1 $T 0
    run iq4_nl $MK 1 $T 0
  done
done
for T in 1 2; do
  run f32    4096 4096 512 $T 0
  run iq4_nl 4096 4096 512 $T 1
  run q4_0   4096 4096 512 $T 1
done
for T in 1 2; do for MIB in 16 64 256 1024; do ./waitquiet.sh; echo "pass=$P $(./membw $MIB $T)"; done; done
' >> ../results/mmbench.txt 2>> ../results/mmbench.err
