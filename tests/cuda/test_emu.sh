#!/bin/sh
# emu.h on hand-written kernels (test_emu.cu): compiled for the host with g++
# at test time, as the model comparisons compile generated kernel source.
# usage: test_emu.sh SOURCE_DIR
set -e
src=$1
cxx=${CXX:-g++}
if ! command -v "$cxx" >/dev/null 2>&1; then
  echo "skipped: no C++ compiler ($cxx) for the CUDA emulation"
  exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$cxx" -std=c++17 -O1 -Wall -Wextra -Werror -include "$src/tests/cuda/emu.h" -x c++ "$src/tests/cuda/test_emu.cu" \
  -o "$tmp/test_emu" -lpthread
"$tmp/test_emu"
NNRT_CUEMU_THREADS=1 "$tmp/test_emu"
NNRT_CUEMU_THREADS=4 "$tmp/test_emu"
