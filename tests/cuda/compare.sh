#!/bin/sh
# A model's emulated CUDA kernels against its CPU build (cuda_compare).
# usage: compare.sh NNC BUILD_DIR SOURCE_DIR MODEL.nn [cuda_compare options]
# Builds MODEL twice with the same nnc flags (CUEMU_NNC_FLAGS, e.g. --no-fuse; the CPU build also the
# fusions --target=cuda does by default): the CPU object (--emit=obj) as a
# shared object, and the CUDA host object (--target=cuda --emit=obj) with
# its kernel source (--emit=cuda) compiled for the host through emu.h
# (-DNNRT_CUDA_EMU: the kernel table) and libnnrt_cuemu.a as another; then
# cuda_compare runs both on the same data and compares every output and
# global. Exit 77 (skipped) without a C++ compiler. CUEMU_SED (a sed
# script), when set, is applied to MODEL's text first: a small version of an
# example (char_gpt with a context of 16, say) without a copy of it.
# CUEMU_CUDA_FLAGS: further flags for the CUDA build alone (--no-lt-epilogue).
set -e
nnc=$1 build=$2 src=$3 model=$4
shift 4
flags=${CUEMU_NNC_FLAGS:-}
cuflags=${CUEMU_CUDA_FLAGS:-}
# --target=cuda forms GEMM groups unless told which fusions to do
# (driver/main.c); the CPU build then forms them too, so that both builds
# run one kernel plan (cuda_compare locates the first kernel that differs).
case " $flags " in
*" --fuse="* | *" --no-fuse "*) cpuflags=$flags ;;
*) cpuflags="$flags --fuse=vertical,horizontal,epilogue,shared,qepilogue,siblings" ;;
esac
cxx=${CXX:-g++}
if ! command -v "$cxx" >/dev/null 2>&1; then
  echo "skipped: no C++ compiler ($cxx) for the CUDA emulation"
  exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
name=$(basename "$model" .nn)
if [ -n "$CUEMU_SED" ]; then
  sed "$CUEMU_SED" "$model" >"$tmp/$name.nn"
  model=$tmp/$name.nn
fi
# shellcheck disable=SC2086
"$nnc" build "$model" $cpuflags --emit=obj -o "$tmp/cpu.o" >/dev/null
cc -shared -o "$tmp/cpu.so" "$tmp/cpu.o"
# shellcheck disable=SC2086
"$nnc" build "$model" $flags $cuflags --target=cuda --emit=cuda -o "$tmp/$name.cu" >/dev/null
# shellcheck disable=SC2086
"$nnc" build "$model" $flags $cuflags --target=cuda --emit=obj -o "$tmp/cuda.o" >/dev/null
"$cxx" -std=c++17 -O1 -fPIC -w -DNNRT_CUDA_EMU -include "$src/tests/cuda/emu.h" -x c++ -c "$tmp/$name.cu" \
  -o "$tmp/kernels.o" || { echo "FAIL: $name's kernel source does not compile for the emulation"; exit 1; }
"$cxx" -shared -o "$tmp/cuda.so" "$tmp/cuda.o" "$tmp/kernels.o" "$build/libnnrt_cuemu.a" -lpthread
status=0
"$build/cuda_compare" "$@" "$tmp/cpu.so" "$tmp/cuda.so" || status=$?
# Again with grids of at most 3 blocks, so every grid- and block-stride loop
# goes round (the real runtime's grids cover small tensors in one pass).
echo "--- grids capped at 3 blocks"
NNRT_CUEMU_GRID_CAP=3 "$build/cuda_compare" "$@" "$tmp/cpu.so" "$tmp/cuda.so" >"$tmp/capped.txt" || status=$?
grep -v '^ok ' "$tmp/capped.txt" || true
# CUEMU_TRAIN: options of a third comparison appended to the others, e.g.
# real training steps ("--lr 1e-3 --tol 1e-3") after gradients at --lr 0.
if [ -n "$CUEMU_TRAIN" ]; then
  echo "--- with $CUEMU_TRAIN"
  # shellcheck disable=SC2086
  "$build/cuda_compare" "$@" $CUEMU_TRAIN "$tmp/cpu.so" "$tmp/cuda.so" >"$tmp/train.txt" || status=$?
  grep -v '^ok ' "$tmp/train.txt" || true
fi
exit $status
