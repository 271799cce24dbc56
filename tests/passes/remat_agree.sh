#!/bin/sh
# remat (passes/remat.c) recomputes values, it does not change them:
# tests/passes/remat_mlp.nn (layer norms and GELUs, whose outputs weight
# gradients read again) built with and without it trains the same 30 steps
# on Fashion-MNIST to the same logged losses and, in the checkpoint, the
# same parameters and Adam moments up to f32 rounding (tests/train_agree.sh;
# the kernels that read a copy may sum in another grouping). The default
# build must recompute: its train_step has twice the GELUs.
# usage: remat_agree.sh NNC SOURCE_DIR
set -eu
nnc=$1 src=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
model=$src/tests/passes/remat_mlp.nn
before=$("$nnc" dump "$model" --after=scan-hoist | awk '/^func train_step/ { f = 1 } f && / gelu /' | wc -l)
after=$("$nnc" dump "$model" --after=remat | awk '/^func train_step/ { f = 1 } f && / gelu /' | wc -l)
[ "$before" -eq 2 ] && [ "$after" -eq 4 ] || { echo "FAIL: GELUs in train_step: $before before remat, $after after (want 2, 4)"; exit 1; }
"$nnc" build "$model" -o "$tmp/remat" 2>/dev/null
"$nnc" build "$model" --disable-pass=remat -o "$tmp/kept" 2>/dev/null
cd "$tmp"
sh "$src/tests/train_agree.sh" remat kept 30 "$src/tests"
