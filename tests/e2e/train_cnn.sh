#!/bin/sh
# Builds examples/fashion_cnn.nn, trains ~200 steps on the real Fashion-MNIST
# files, and checks the loss fell (mean of the last 20 steps under 0.7x the
# first 20): the convolution and pooling kernels, their gradients and Adam
# working together on real data.
# usage: train_cnn.sh NNC SOURCE_DIR
set -eu
nnc=$1 src=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
"$nnc" build "$src/examples/fashion_cnn.nn" -o "$tmp/cnn"
cd "$tmp"

./cnn train --steps 200 --threads 2 --log log.csv --quiet
awk -F, -f "$src/tests/e2e/loss_fell.awk" log.csv
echo "ok"
