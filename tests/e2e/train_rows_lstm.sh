#!/bin/sh
# Builds examples/fashion_rows_lstm.nn, trains 200 steps on the real
# Fashion-MNIST files (each image as 28 rows of 28 pixels), and checks the
# loss fell (loss_fell.awk): the scan, its backward scan and Adam working
# together on real data.
# usage: train_rows_lstm.sh NNC SOURCE_DIR
set -eu
nnc=$1 src=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
"$nnc" build "$src/examples/fashion_rows_lstm.nn" -o "$tmp/lstm"
cd "$tmp"

./lstm train --steps 200 --threads 2 --log log.csv --quiet
awk -F, -f "$src/tests/e2e/loss_fell.awk" log.csv
echo "ok"
