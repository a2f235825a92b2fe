#!/usr/bin/env bash
# Installs the Debian packages qlora builds against (OpenBLAS, zstd) and Open MPI (mpirun and libmpi, loaded at run
# time for `mpirun -np N qlora train`), when they are missing.
set -euo pipefail
need=()
for pkg in libopenblas-dev libzstd-dev openmpi-bin libopenmpi-dev; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need[@]}" >/dev/null
  echo "installed: ${need[*]}"
fi
