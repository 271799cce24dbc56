#!/bin/sh
# An int8 inference binary's kernels (qmatmul with its epilogue, quantize,
# dequantize) through the emulation against the CPU build: fashion_cnn
# trained 5 steps on Fashion-MNIST, built with --infer --quantize=int8 from
# that checkpoint (its dense layers int8), forward compared bit for bit in
# practice (within 1e-5). Exit 77 without the data set or a C++ compiler.
# usage: int8.sh NNC BUILD_DIR SOURCE_DIR
set -e
nnc=$1 build=$2 src=$3
data=/usr/share/datasets/fashion-mnist
if [ ! -d "$data" ]; then
  echo "skipped: no Fashion-MNIST at $data"
  exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$nnc" build "$src/examples/fashion_cnn.nn" -o "$tmp/cnn" >/dev/null 2>&1
"$tmp/cnn" train --steps 5 --threads 1 --quiet --checkpoint "$tmp/cnn.safetensors" >/dev/null
CUEMU_NNC_FLAGS="--infer --quantize=int8 --checkpoint $tmp/cnn.safetensors --calibrate 64" \
  sh "$src/tests/cuda/compare.sh" "$nnc" "$build" "$src" "$src/examples/fashion_cnn.nn" --sym B=5
