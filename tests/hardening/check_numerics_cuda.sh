#!/bin/sh
# --check-numerics in a CUDA binary, on the emulated device
# (runtime/cuda/rt_cuemu.c: the kernels run on the host through
# tests/cuda/emu.h): the runtime downloads each value a kernel writes and
# names the first non-finite one exactly as the CPU binary does (its
# kernels are fused differently, so only the kernel's name and ops may
# differ):
#   - nan_op.nn: log of a negative number on line 8, in train (also with
#     NNRT_CUEMU_COPY_LATE=1, where a step runs at launch rather than when it
#     is waited for) and in eval on the finite twin's checkpoint;
#   - tiny_mlp.nn resumed with an infinite learning rate: the optimizer's
#     update, a value without a source line;
#   - a finite run: the flag changes neither the output nor the checkpoint.
# usage: check_numerics_cuda.sh NNC LIBNNRT_CUEMU LIBNNRT SOURCE_DIR OPENBLAS_LIBRARY
# Exit 77 (skipped) without a C++ compiler or Fashion-MNIST.
set -eu
nnc=$1 cuemu=$2 nnrt=$3 src=$4 openblas=$5
cxx=${CXX:-g++}
command -v "$cxx" > /dev/null 2>&1 || { echo "skipped: no C++ compiler ($cxx) for the CUDA emulation"; exit 77; }
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || { echo "skipped: no Fashion-MNIST"; exit 77; }
. "$src/tests/hardening/common.sh"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
subset_fashion data 256 64
cp "$src/tests/hardening/nan_op.nn" "$src/tests/hardening/nan_op_finite.nn" "$src/tests/hardening/tiny_mlp.nn" .
fail() { echo "FAIL: $1"; exit 1; }

# emulated MODEL: MODEL.nn as a CUDA binary MODEL_cu on the emulated device.
emulated() {
  "$nnc" build "$1.nn" --target=cuda --emit=cuda -o "$1.cu" > /dev/null 2>&1
  "$nnc" build "$1.nn" --target=cuda --emit=obj -o "$1.o" > /dev/null 2>&1
  "$cxx" -std=c++17 -O1 -w -DNNRT_CUDA_EMU -include "$src/tests/cuda/emu.h" -x c++ -c "$1.cu" -o "$1.k.o"
  # shellcheck disable=SC2086 # CUEMU_LDFLAGS: the sanitizers of an ASan build's libnnrt.a (CMakeLists.txt)
  "$cxx" -o "$1_cu" "$1.o" "$1.k.o" "$cuemu" "$nnrt" "$openblas" -lz -lm -lpthread -ldl ${CUEMU_LDFLAGS:-}
}
# The CPU twin without remat, which --target=cuda skips (driver/main.c):
# the values are then numbered alike in both.
for m in nan_op tiny_mlp; do
  emulated $m
  "$nnc" build $m.nn --disable-pass=remat -o $m 2> /dev/null
done
"$nnc" build nan_op_finite.nn -o twin 2> /dev/null

# same WANT NAME ARGS...: ./NAME (CPU) and ./NAME_cu (CUDA, emulated) run
# with ARGS each exit 3, and their messages, without the binary's name and
# the kernel, are the same and contain WANT. ARGS may name @, a copy of
# the file after it per binary (a checkpoint the run may write).
same() {
  want=$1 name=$2
  shift 2
  for b in $name ${name}_cu; do
    args=
    for a in "$@"; do
      case $a in @*) cp "${a#@}" "$b.${a#@}" && a=$b.${a#@} ;; esac
      args="$args $a"
    done
    rc=0
    # shellcheck disable=SC2086 # args are words without blanks
    ${CUEMU_ENV:-} ./$b $args > /dev/null 2> $b.err || rc=$?
    [ $rc = 3 ] || { cat "$b.err"; fail "$b$args: exit $rc, expected 3"; }
    sed "s/^$b: //; s/ (kernel .*//" "$b.err" > "$b.msg"
  done
  cmp -s "$name.msg" "${name}_cu.msg" || { cat "$name.err" "${name}_cu.err"; fail "$name $*: the CUDA binary's message differs"; }
  grep -qF -- "$want" "$name.msg" || { cat "$name.msg"; fail "$name $*: the message lacks: $want"; }
}

same "error: --check-numerics: 'z' = log at nan_op.nn:8:7 is the first non-finite value of train_step at global step 1: element 0 of 512 is NaN" \
  nan_op train --data data --quiet --check-numerics
CUEMU_ENV="env NNRT_CUEMU_COPY_LATE=1" same "'z' = log at nan_op.nn:8:7 is the first non-finite value of train_step at global step 1" \
  nan_op train --data data --quiet --check-numerics
./twin train --data data --quiet --steps 5 --checkpoint twin.st > /dev/null
same "'z' = log at nan_op.nn:8:7 is the first non-finite value of eval_step call 1 of this run: element 0 of 512 is NaN" \
  nan_op eval --data data --checkpoint twin.st --check-numerics
./tiny_mlp train --data data --quiet --steps 3 --checkpoint t.st > /dev/null
same "no .nn source line (a value the compiler added, such as the optimizer's) is the first non-finite value of train_step at global step 4" \
  tiny_mlp train --data data --quiet --resume --steps 4 --checkpoint @t.st --lr 1e39 --check-numerics
cmp -s t.st tiny_mlp_cu.t.st || fail "the CUDA binary wrote its checkpoint after a non-finite value"

# A finite run: the same output and checkpoint bytes with the flag as without.
./tiny_mlp_cu train --data data --quiet --epochs 2 --checkpoint a.st > a.out
./tiny_mlp_cu train --data data --quiet --epochs 2 --checkpoint b.st --check-numerics > b.out
cmp -s a.out b.out || fail "--check-numerics changed the CUDA binary's output"
cmp -s a.st b.st || fail "--check-numerics changed the CUDA binary's checkpoint"
./tiny_mlp_cu eval --data data --checkpoint a.st --check-numerics > /dev/null ||
  fail "eval --check-numerics on finite weights (CUDA)"
echo ok
