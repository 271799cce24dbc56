#!/bin/sh
# pool-bias (passes/pool_bias.c) moves a per-channel bias add after the max
# pool it feeds, which changes no forward value: examples/fashion_cnn.nn
# (conv2d with its bias and relu, then maxpool) built with and without it
# trains the same 30 steps on Fashion-MNIST to the same logged losses and,
# in the checkpoint, the same parameters and Adam moments up to f32
# rounding (tests/train_agree.sh: the bias gradient sums the pooled values
# in another order).
# The default build must move it: its train_step adds no bias over the
# convolution's [B,32,26,26] output.
# usage: pool_bias_agree.sh NNC SOURCE_DIR
set -eu
nnc=$1 src=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
model=$src/examples/fashion_cnn.nn
count() { "$nnc" dump "$model" $1 --after=autodiff | awk '/^func train_step/ { f = 1 } f && /= add .*: f32\[B,32,26,26\]/' | wc -l; }
off=$(count --disable-pass=pool-bias) on=$(count "")
[ "$off" -eq 1 ] && [ "$on" -eq 0 ] || { echo "FAIL: adds over [B,32,26,26] in train_step: $off without pool-bias, $on with it (want 1, 0)"; exit 1; }
"$nnc" build "$model" -o "$tmp/moved" 2>/dev/null
"$nnc" build "$model" --disable-pass=pool-bias -o "$tmp/kept" 2>/dev/null
cd "$tmp"
sh "$src/tests/train_agree.sh" moved kept 30 "$src/tests"
