#!/bin/sh
# Builds examples/MODEL.nn, trains 200 steps on the real Fashion-MNIST files,
# and checks the loss fell (loss_fell.awk): for the CNN, its convolution and
# pooling kernels, their gradients and Adam working together on real data;
# for the row LSTM, the scan, its backward scan and Adam.
# usage: train_example.sh NNC SOURCE_DIR MODEL
set -eu
nnc=$1 src=$2 model=$3
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
"$nnc" build "$src/examples/$model.nn" -o "$tmp/m"
cd "$tmp"

./m train --steps 200 --threads 2 --log log.csv --quiet
awk -F, -f "$src/tests/e2e/loss_fell.awk" log.csv
echo "ok"
