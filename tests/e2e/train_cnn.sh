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
awk -F, '$1 == "step" { n++; loss[n] = $4 }
  END {
    if (n < 200) { print "FAIL: only " n " steps logged"; exit 1 }
    for (i = 1; i <= 20; i++) { a += loss[i]; b += loss[n - 20 + i] }
    a /= 20; b /= 20
    printf "mean loss, first 20 steps: %.4f, last 20 steps: %.4f\n", a, b
    if (!(b < 0.7 * a)) { print "FAIL: the loss did not fall"; exit 1 }
  }' log.csv
echo "ok"
