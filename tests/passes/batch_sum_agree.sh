#!/bin/sh
# batch-sum (passes/batch_sum.c) splits sums, it does not change them:
# examples/fashion_cnn.nn (whose convolution's bias gradient sums dy over
# axes [0,2,3]) built with and without it trains the same 10 steps on
# Fashion-MNIST to the same logged losses and, in the checkpoint, the same
# parameters and Adam moments up to f32 rounding (tests/train_agree.sh).
# Ten steps, not thirty: the two sum orders' rounding grows with each step
# the trajectories share (the conv weight's Adam moment, the most
# sensitive tensor: 1.8e-7 of its scale after 5 steps, 3.9e-7 after 10,
# 2.1e-6 after 20, 1.1e-5 after 30, past the 1e-5 tolerance once the
# weight gradient's own sums were reordered), while a wrong sum differs
# by far more than 1e-5 from the first step.
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
sh "$src/tests/train_agree.sh" split whole 10 "$src/tests"
