#!/bin/sh
# batch-sum (passes/batch_sum.c) splits sums, it does not change them:
# examples/fashion_cnn.nn (whose convolution's bias gradient sums dy over
# axes [0,2,3]) built with and without it trains the same 30 steps on
# Fashion-MNIST to the same logged losses and, in the checkpoint, the same
# parameters and Adam moments up to f32 rounding (tests/train_agree.sh).
# The default build must split: its train_step keeps no sum over [0,2,3].
# usage: batch_sum_agree.sh NNC SOURCE_DIR
set -eu
nnc=$1 src=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
model=$src/examples/fashion_cnn.nn
count() { "$nnc" dump "$model" --after="$1" | awk '/^func train_step/ { f = 1 } f && / sum .*axes=\[0,2,3\]/' | wc -l; }
before=$(count scan-hoist) after=$(count batch-sum)
[ "$before" -eq 1 ] && [ "$after" -eq 0 ] || { echo "FAIL: sums over [0,2,3] in train_step: $before before batch-sum, $after after (want 1, 0)"; exit 1; }
"$nnc" build "$model" -o "$tmp/split" 2>/dev/null
"$nnc" build "$model" --disable-pass=batch-sum -o "$tmp/whole" 2>/dev/null
cd "$tmp"
sh "$src/tests/train_agree.sh" split whole 30 "$src/tests"
