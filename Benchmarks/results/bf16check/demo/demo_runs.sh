cd "$REPO"
R=Benchmarks/results/bf16check/demo
for d in f32 bf16; do
  echo "$(date -u +%FT%TZ) start $d" >> $R/runs.log
  flock $QLORA_LOCK /usr/bin/time -f "wall %e s, max RSS %M KiB" timeout 1500 env QLORA_BIN=$QLORA_BIN QLORA_COMPUTE_DTYPE=$d DEMO_OUT=$SCRATCH/demo-$d tools/demo.sh > $R/demo_$d.out 2> $R/demo_$d.err
  echo "$(date -u +%FT%TZ) end $d rc=$?" >> $R/runs.log
done
