#!/bin/sh
# pool-relu (passes/pool_relu.c) swaps a max pool and the relu before it,
# which changes no value: examples/fashion_cnn.nn (conv2d with relu, then
# maxpool) built with and without it trains the same 30 steps on
# Fashion-MNIST to the same logged losses and, in the checkpoint, the same
# parameters and Adam moments up to f32 rounding (tests/train_agree.sh).
# The default build must swap: its train_step keeps no relu or step over
# the convolution's [B,32,26,26] output.
# usage: pool_relu_agree.sh NNC SOURCE_DIR
set -eu
nnc=$1 src=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
model=$src/examples/fashion_cnn.nn
count() { "$nnc" dump "$model" $1 --after=autodiff | awk '/^func train_step/ { f = 1 } f && /= (relu|step) .*: f32\[B,32,26,26\]/' | wc -l; }
off=$(count --disable-pass=pool-relu) on=$(count "")
[ "$off" -eq 2 ] && [ "$on" -eq 0 ] || { echo "FAIL: relu/step over [B,32,26,26] in train_step: $off without pool-relu, $on with it (want 2, 0)"; exit 1; }
# pool-bias off in both: with pool-relu off it finds no pool of an add.
"$nnc" build "$model" --disable-pass=pool-bias -o "$tmp/swapped" 2>/dev/null
"$nnc" build "$model" --disable-pass=pool-relu --disable-pass=pool-bias -o "$tmp/kept" 2>/dev/null
cd "$tmp"
sh "$src/tests/train_agree.sh" swapped kept 30 "$src/tests"
