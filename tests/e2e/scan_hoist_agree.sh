#!/bin/sh
# scan-hoist (passes/scan_hoist.c) changes only the order in which the
# recurrent weight's gradient is summed: examples/fashion_rows_lstm.nn built
# with and without it trains the same 30 steps on Fashion-MNIST to the same
# logged losses and, in the checkpoint, the same parameters and Adam moments
# up to f32 rounding (1e-5 of each tensor's largest magnitude; a wrong
# gradient is off by far more; tests/e2e/agree.py). The default build must hoist: its backward
# scan's weight gradient is a batch of 28 products after the loop.
# usage: scan_hoist_agree.sh NNC SOURCE_DIR
set -eu
nnc=$1 src=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
model=$src/examples/fashion_rows_lstm.nn
"$nnc" dump "$model" --after=scan-hoist > "$tmp/ir.txt"
grep -q 'matmul .* {ta=1, tb=0} : f32\[28,128,512\]' "$tmp/ir.txt" || { echo "FAIL: the weight gradient was not hoisted"; exit 1; }
"$nnc" build "$model" -o "$tmp/hoisted"
"$nnc" build "$model" --disable-pass=scan-hoist -o "$tmp/looped"
cd "$tmp"
sh "$src/tests/train_agree.sh" hoisted looped 30 "$src/tests"
