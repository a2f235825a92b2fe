#!/usr/bin/env bash
# Two "hosts" on one machine for data-parallel runs over TCP: network namespaces qmpi0 and qmpi1 joined
# by a veth pair (10.77.0.1 and 10.77.0.2). `up` creates them, `down` removes them (root only).
# Run ranks in them with mpirun's MPMD form and Open MPI's TCP transport only on that subnet:
#   mpirun --allow-run-as-root --bind-to none --mca btl self,tcp --mca btl_tcp_if_include 10.77.0.0/24 \
#     -np 1 ip netns exec qmpi0 qlora train … : -np 1 ip netns exec qmpi1 qlora train …
set -euo pipefail
case "${1:-}" in
  up)
    for i in 0 1; do ip netns add qmpi$i; ip -n qmpi$i link set lo up; done
    ip link add qmpiv0 type veth peer name qmpiv1
    ip link set qmpiv0 netns qmpi0
    ip link set qmpiv1 netns qmpi1
    ip -n qmpi0 addr add 10.77.0.1/24 dev qmpiv0
    ip -n qmpi1 addr add 10.77.0.2/24 dev qmpiv1
    ip -n qmpi0 link set qmpiv0 up
    ip -n qmpi1 link set qmpiv1 up
    ;;
  down)
    for i in 0 1; do ip netns del qmpi$i 2>/dev/null || true; done
    ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
