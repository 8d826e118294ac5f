#!/usr/bin/env bash
# Installs Intel's MKL (and the Intel OpenMP runtime it threads with) from PyPI into ~/.local/lib,
# where cllm4rec finds it: on an Intel CPU the engine then runs its matrix products on MKL, as
# PyTorch does (see docs/performance.md). MKL is not redistributed here
# (Intel Simplified Software License); it is optional, and nothing else changes without it.
#
#   bash Tools/install/mkl.sh            # MKL 2026.2.0, the version this project was measured with
#   MKL_VERSION=2025.3.0 bash Tools/install/mkl.sh
#   PREFIX=/opt/mkl bash Tools/install/mkl.sh   # then CLLM4REC_MKL=/opt/mkl/lib
set -euo pipefail
version="${MKL_VERSION:-2026.2.0}"
prefix="${PREFIX:-$HOME/.local}"
python="$(command -v python3 || true)"
[ -n "$python" ] || { echo "install-mkl: python3 is needed (apt-get install -y python3-pip)" >&2; exit 1; }
"$python" -m pip --version >/dev/null 2>&1 || { echo "install-mkl: pip is needed (apt-get install -y python3-pip)" >&2; exit 1; }
# --no-deps: the two wheels are all the engine needs (no Python bindings); --ignore-installed: a
# copy in the Python environment itself is not where the engine looks; --prefix puts their
# shared libraries in $prefix/lib. --break-system-packages: Debian's pip refuses --prefix otherwise,
# and nothing in the system Python is touched.
flags=(--no-deps --ignore-installed --prefix "$prefix" --disable-pip-version-check)
"$python" -m pip install --help 2>/dev/null | grep -q -- --break-system-packages && flags+=(--break-system-packages)
"$python" -m pip install "${flags[@]}" "mkl==$version" "intel-openmp==$version"
lib="$prefix/lib"
[ -e "$lib/libmkl_rt.so.3" ] || [ -e "$lib/libmkl_rt.so.2" ] || { echo "install-mkl: no libmkl_rt.so in $lib after the install" >&2; exit 1; }
echo "MKL $version is in $lib."
case "$prefix" in
    "$HOME/.local"|/usr/local) echo "cllm4rec finds it there; CLLM4REC_BLAS=openblas goes back to OpenBLAS." ;;
    *) echo "Set CLLM4REC_MKL=$lib for cllm4rec to find it." ;;
esac
