#!/bin/sh
# The GPU test ctest runs (label gpu): the MLP as a CUDA binary trains 20
# steps on this machine's GPU and ends where the CPU binary does (the loss
# after 20 steps within 1e-3 relative: Adam divides rounding-level gradient
# differences by their own size, see docs/cuda.md). Without a GPU or a
# driver the CUDA binary says "no CUDA device: <reason>" and this test is
# skipped (exit 77) with that reason; tests/gpu/run.sh is the full check on
# a GPU machine.
# usage: device_test.sh NNC SOURCE_DIR
set -u
nnc=$1 src=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
rc=0; "$nnc" build "$src/examples/fashion_mlp.nn" --target=cuda --gpu-arch=sm_80,sm_90 -o gpu > out.txt 2> err.txt || rc=$?
if [ $rc != 0 ] && grep -q "needs NVRTC" err.txt; then echo "skipped: no NVRTC"; exit 77; fi
[ $rc = 0 ] || { cat err.txt; echo "FAIL: the CUDA build exited $rc"; exit 1; }
rc=0; ./gpu train --steps 20 --seed 7 --quiet --log gpu.csv > gpu.txt 2> gpu_err.txt || rc=$?
if grep -q "no CUDA device" gpu_err.txt; then
  [ $rc = 1 ] || { echo "FAIL: 'no CUDA device' with exit $rc, expected 1"; exit 1; }
  echo "skipped: $(grep -o 'no CUDA device.*' gpu_err.txt | head -1)"
  exit 77
fi
[ $rc = 0 ] || { cat gpu_err.txt; echo "FAIL: the CUDA binary exited $rc on this GPU"; exit 1; }
"$nnc" build "$src/examples/fashion_mlp.nn" -o cpu 2> /dev/null || { echo "FAIL: the CPU build"; exit 1; }
./cpu train --steps 20 --seed 7 --quiet --log cpu.csv > /dev/null 2>&1 || { echo "FAIL: the CPU binary"; exit 1; }
last() { grep '^step,' "$1" | tail -n 1 | cut -d, -f4; } # the last step's loss (kind,epoch,step,loss,...)
a=$(last cpu.csv) b=$(last gpu.csv)
echo "loss after 20 steps: CPU $a, GPU $b"
awk -v a="$a" -v b="$b" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(a == a && b == b && d <= 1e-3 * (a < 0 ? -a : a)) }' ||
  { echo "FAIL: the GPU's loss differs from the CPU's"; exit 1; }
echo ok
