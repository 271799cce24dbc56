#!/bin/sh
# Trains the MLP briefly, then checks that PyTorch reads its checkpoint and
# computes the same test loss and accuracy as `mlp eval`.
# usage: torch_reads_checkpoint.sh NNC SOURCE_DIR
set -eu
nnc=$1 src=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
"$nnc" build "$src/examples/fashion_mlp.nn" -o "$tmp/mlp"
"$tmp/mlp" train --steps 100 --quiet --checkpoint "$tmp/m.safetensors"
exec /usr/bin/python3 "$src/tests/e2e/torch_reads_checkpoint.py" "$tmp/mlp" "$tmp/m.safetensors"
