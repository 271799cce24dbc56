#!/bin/sh
# nnc build prints its own lines, not LLVM's optimisation remarks: a loop
# the vectorizer was asked to vectorize and could not made LLVM's default
# handler print "remark: <unknown>:0:0: loop not vectorized: ..." eight
# times for tests/e2e/small_cnn.nn (codegen/cpu/target.c, cg_context: only
# with --verbose now). Fused and unfused, the whole of stderr is the memory
# line.
# usage: quiet_build.sh NNC SOURCE_DIR
set -eu
nnc=$1 src=$2
. "$src/tests/e2e/lib.sh"
for flags in "" --no-fuse; do
  expect 0 "$nnc" build "$src/tests/e2e/small_cnn.nn" -o "$tmp/m" $flags
  [ "$(grep -cv '^memory: arena ' "$tmp/err")" = 0 ] || { bad "nnc build $flags printed more than its memory line:"; cat "$tmp/err"; }
done
finish
