#!/bin/sh
# --check-numerics (issue 12, "Also"): the first non-finite value of a step
# is named with its op and .nn source line, exit 3.
#   - nan_op.nn computes log(h - 100) on line 8, NaN for every element: train
#     names 'z' = log at nan_op.nn:8:7 at global step 1, fused (the kernel
#     computes add,relu,sub,log) and unfused (a kernel of its own); without
#     the flag the run only says the loss is NaN;
#   - eval of the same model on its finite twin's checkpoint names it too;
#   - an infinite learning rate makes the optimizer's update the first
#     non-finite value (a value without a source line);
#   - on a finite model the flag changes nothing: the same output and the
#     same checkpoint bytes;
#   (check_numerics_cuda.sh: the same in a CUDA binary.)
# usage: check_numerics.sh NNC SOURCE_DIR
set -eu
nnc=$1 src=$2
. "$src/tests/hardening/common.sh"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
subset_fashion data 256 64
cp "$src/tests/hardening/nan_op.nn" "$src/tests/hardening/nan_op_finite.nn" "$src/tests/hardening/tiny_mlp.nn" .
"$nnc" build nan_op.nn -o nan 2> /dev/null
"$nnc" build nan_op.nn --no-fuse -o nan_unfused 2> /dev/null
"$nnc" build nan_op_finite.nn -o twin 2> /dev/null
"$nnc" build tiny_mlp.nn -o tiny 2> /dev/null
fail() { echo "FAIL: $1"; cat err 2> /dev/null; exit 1; }
# expect RC PATTERN CMD...: CMD exits RC and its stderr matches PATTERN.
expect() {
  want=$1 pat=$2
  shift 2
  rc=0
  "$@" > out 2> err || rc=$?
  [ "$rc" = "$want" ] || fail "$*: exit $rc, expected $want"
  grep -q -- "$pat" err || fail "$*: stderr does not match: $pat"
}

expect 3 "loss is NaN at epoch 1, step 1" ./nan train --data data --quiet
! grep -q "log" err || fail "without --check-numerics the message already names the op"
expect 3 "nan: error: --check-numerics: 'z' = log at nan_op.nn:8:7 is the first non-finite value of train_step at global step 1: element 0 of 512 is NaN (kernel k[0-9]*_ew, which computes add,relu,sub,log)" \
  ./nan train --data data --quiet --check-numerics --checkpoint c.st
[ ! -e c.st ] || fail "a checkpoint was written"
expect 3 "'z' = log at nan_op.nn:8:7 is the first non-finite value of train_step at global step 1: element 0 of 512 is NaN (kernel k[0-9]*_ew, which computes log)" \
  ./nan_unfused train --data data --quiet --check-numerics

./twin train --data data --quiet --steps 5 --checkpoint twin.st > /dev/null
expect 3 "'z' = log at nan_op.nn:8:7 is the first non-finite value of eval_step call 1 of this run: element 0 of 512 is NaN" \
  ./nan eval --data data --checkpoint twin.st --check-numerics

./tiny train --data data --quiet --steps 3 --checkpoint t.st > /dev/null
expect 3 "is the first non-finite value of train_step at global step 4: .* is +Inf" \
  ./tiny train --data data --quiet --resume --steps 4 --checkpoint t.st --lr 1e39 --check-numerics
grep -q "no .nn source line" err || fail "the optimizer's value has a source line?"

./tiny train --data data --quiet --epochs 2 --checkpoint a.st > a.out
./tiny train --data data --quiet --epochs 2 --checkpoint b.st --check-numerics > b.out
cmp -s a.out b.out || fail "--check-numerics changed the output"
cmp -s a.st b.st || fail "--check-numerics changed the checkpoint"
./tiny eval --data data --checkpoint a.st --check-numerics > /dev/null || fail "eval --check-numerics on finite weights"
echo ok
