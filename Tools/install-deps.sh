#!/usr/bin/env bash
# Installs the system libraries cllm4rec links against (OpenBLAS for every matrix product, zlib for
# zip/gzip), only when missing. Needs root or sudo.
set -euo pipefail
missing=()
dpkg -s libopenblas-dev >/dev/null 2>&1 || missing+=(libopenblas-dev)
dpkg -s zlib1g-dev >/dev/null 2>&1 || missing+=(libz-dev)
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
