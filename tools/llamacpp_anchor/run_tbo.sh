#!/bin/bash
# usage: run_tbo.sh RUN ; test-backend-ops perf, dense MUL_MAT 4096x14336 cases for f32/q4_0/iq4_nl (1 thread: hw_concurrency/2)
cd "${LLAMACPP_DIR:?set LLAMACPP_DIR to the llama.cpp work folder}"
flock "${TMPDIR:-/tmp}/qlora-build.lock" bash -c "bench/waitquiet.sh; build/bin/test-backend-ops perf -o MUL_MAT -b CPU -p 'type_a=(f32|q4_0|iq4_nl),type_b=f32,m=4096,n=[0-9]+,k=14336'" > results/tbo_perf_run$1.txt 2>&1
