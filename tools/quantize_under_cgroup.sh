#!/bin/bash
# usage: quantize_under_cgroup.sh SOURCE_DIR OUT_DIR [LIMIT_GIB]  (root, cgroup v1 memory controller)
# Quantizes SOURCE_DIR inside a cgroup-v1 memory limit (default 3 GiB) and prints the cgroup's peak.
set -e
cg=/sys/fs/cgroup/memory/qlora-quantize-$$
mkdir $cg
echo $((${3:-3} * 1024 * 1024 * 1024)) > $cg/memory.limit_in_bytes
echo 0 > $cg/memory.swappiness 2>/dev/null || true
rm -rf "$2"
( echo $BASHPID > $cg/cgroup.procs; exec /usr/bin/time -f "%e s maxrss %M KB" ${QLORA:-qlora} quantize "$1" -o "$2" ) 2>&1 | tail -4
echo "cgroup max_usage $(( $(cat $cg/memory.max_usage_in_bytes) / 1048576 )) MiB, failcnt $(cat $cg/memory.failcnt), oom $(grep oom_kill $cg/memory.oom_control)"
rmdir $cg
