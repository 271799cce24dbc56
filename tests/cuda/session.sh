#!/bin/sh
# A CUDA binary's session on the emulated device (runtime/cuda/rt_cuemu.c),
# whole: the next batch uploaded while the step runs must give the results
# of the serial path, byte for byte.
# usage: session.sh NNC LIBNNRT_CUEMU LIBNNRT SOURCE_DIR DATA_DIR OPENBLAS_LIBRARY
# Builds fashion_mlp (a hidden layer of 32) as a CUDA binary whose kernels
# run on the host through emu.h (the host object, the kernels compiled with
# -DNNRT_CUDA_EMU, libnnrt_cuemu.a and libnnrt.a), cuts 600 training and 300
# test images out of Fashion-MNIST (IDX files of their own: every epoch then
# has 4 steps, the last one partial, and validation and test 2 and 3
# batches), and trains 2 epochs with a cosine schedule (lr changes every
# step), evaluates and predicts, four ways:
#   serial   NNRT_CUDA_PREFETCH=0: each batch goes up before its step;
#   overlap  the default: the next batch goes up while the step runs; the
#            emulation runs a step only when it is waited for, so an upload
#            into memory the step reads would change its result;
#   late     NNRT_CUEMU_COPY_LATE=1: a step runs at launch and uploads are
#            copied at the next launch, from their pinned buffers as they
#            are then, so a step that does not wait for its own upload, or a
#            pinned buffer rewritten too early, would change the result;
#   late-serial  both.
# The checkpoints, the logs (less the seconds), and everything printed must
# be identical. Exit 77 (skipped) without a C++ compiler or Fashion-MNIST.
set -eu
nnc=$1 cuemu=$2 nnrt=$3 src=$4 data=$5 openblas=$6
cxx=${CXX:-g++}
if ! command -v "$cxx" >/dev/null 2>&1; then
  echo "skipped: no C++ compiler ($cxx) for the CUDA emulation"
  exit 77
fi
if [ ! -f "$data/train-images-idx3-ubyte.gz" ]; then
  echo "skipped: $data has no Fashion-MNIST"
  exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# be32 N: N as 4 big-endian bytes.
be32() {
  # shellcheck disable=SC2059 # the format is the octal escapes of the bytes
  printf "\\$(printf %03o $(($1 >> 24 & 255)))\\$(printf %03o $(($1 >> 16 & 255)))\\$(printf %03o $(($1 >> 8 & 255)))\\$(printf %03o $(($1 & 255)))"
}
# idx NAME N FILE: the first N samples of IDX file FILE (images: 28x28).
idx() {
  out=$tmp/data/$1 n=$2 f=$3
  case $1 in
  *images*) { be32 2051; be32 "$n"; be32 28; be32 28; gzip -dc "$f" | tail -c +17 | head -c $((n * 784)); } >"$out" ;;
  *) { be32 2049; be32 "$n"; gzip -dc "$f" | tail -c +9 | head -c "$n"; } >"$out" ;;
  esac
}
mkdir -p "$tmp/data"
idx train-images-idx3-ubyte 600 "$data/train-images-idx3-ubyte.gz"
idx train-labels-idx1-ubyte 600 "$data/train-labels-idx1-ubyte.gz"
idx t10k-images-idx3-ubyte 300 "$data/t10k-images-idx3-ubyte.gz"
idx t10k-labels-idx1-ubyte 300 "$data/t10k-labels-idx1-ubyte.gz"
[ "$(wc -c <"$tmp/data/train-images-idx3-ubyte")" -eq $((16 + 600 * 784)) ]

sed 's/dense(x, 256)/dense(x, 32)/' "$src/examples/fashion_mlp.nn" >"$tmp/mlp.nn"
grep -q 'dense(x, 32)' "$tmp/mlp.nn"
"$nnc" build "$tmp/mlp.nn" --target=cuda --emit=cuda -o "$tmp/mlp.cu" >/dev/null 2>&1
"$nnc" build "$tmp/mlp.nn" --target=cuda --emit=obj -o "$tmp/mlp.o" >/dev/null 2>&1
"$cxx" -std=c++17 -O1 -w -DNNRT_CUDA_EMU -include "$src/tests/cuda/emu.h" -x c++ -c "$tmp/mlp.cu" -o "$tmp/kernels.o"
"$cxx" -o "$tmp/mlp" "$tmp/mlp.o" "$tmp/kernels.o" "$cuemu" "$nnrt" "$openblas" -lz -lm \
  -lpthread -ldl

status=0
for way in serial overlap late late-serial; do
  case $way in
  serial) env="NNRT_CUDA_PREFETCH=0" ;;
  overlap) env="NNRT_CUDA_PREFETCH=1" ;;
  late) env="NNRT_CUEMU_COPY_LATE=1" ;;
  late-serial) env="NNRT_CUEMU_COPY_LATE=1 NNRT_CUDA_PREFETCH=0" ;;
  esac
  d=$tmp/$way
  mkdir "$d"
  # shellcheck disable=SC2086
  env $env "$tmp/mlp" train --epochs 2 --batch 128 --val-split 0.25 --schedule 'cosine(warmup: 2, min_lr: 1e-5)' \
    --data "$tmp/data" --quiet --checkpoint "$d/c.st" --log "$d/log.csv" >"$d/out.txt" 2>&1 || status=1
  cut -d, -f1-7,9- "$d/log.csv" >"$d/log.txt" # all but the seconds
  # shellcheck disable=SC2086
  env $env "$tmp/mlp" eval --checkpoint "$d/c.st" --data "$tmp/data" --batch 128 >>"$d/out.txt" 2>&1 || status=1
  # shellcheck disable=SC2086
  env $env "$tmp/mlp" predict --checkpoint "$d/c.st" --data "$tmp/data" --batch 128 --proba \
    --input "$tmp/data/t10k-images-idx3-ubyte" >>"$d/out.txt" 2>&1 || status=1
  sed "s|$d|DIR|g" "$d/out.txt" >"$d/out"
  if [ "$way" != serial ]; then
    for f in c.st log.txt out; do
      if ! cmp -s "$tmp/serial/$f" "$d/$f"; then
        echo "FAIL: $way: $f differs from the serial path's"
        diff "$tmp/serial/$f" "$d/$f" 2>/dev/null | head -6
        status=1
      fi
    done
  fi
done
if [ "$(grep -c '^step,' "$tmp/serial/log.txt")" -ne 8 ] || ! grep -q 'test_acc' "$tmp/serial/out"; then
  echo "FAIL: expected 8 training steps and a test accuracy:"
  cat "$tmp/serial/log.txt" "$tmp/serial/out"
  status=1
fi
[ $status -eq 0 ] && echo "session: the overlapped uploads give the serial path's results"
exit $status
