#!/usr/bin/env bash
# Installs the system libraries cllm4rec links against (OpenBLAS for every matrix product, zlib for
# zip/gzip, Open MPI for data-parallel runs under mpirun, and pkg-config, through which SwiftPM finds
# Open MPI's headers), only when missing. Needs root or sudo.
set -euo pipefail
missing=()
dpkg -s libopenblas-dev >/dev/null 2>&1 || missing+=(libopenblas-dev)
dpkg -s zlib1g-dev >/dev/null 2>&1 || missing+=(libz-dev)
dpkg -s libopenmpi-dev >/dev/null 2>&1 || missing+=(libopenmpi-dev)
dpkg -s openmpi-bin >/dev/null 2>&1 || missing+=(openmpi-bin)
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
