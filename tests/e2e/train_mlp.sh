#!/bin/sh
# Builds examples/fashion_mlp.nn, trains ~200 steps on the real Fashion-MNIST
# files, and checks the loss fell; then checkpoints, reloads, and checks the
# binary is standalone (nothing from the nnc build tree at run time).
# usage: train_mlp.sh NNC SOURCE_DIR
set -eu
nnc=$1 src=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
"$nnc" build "$src/examples/fashion_mlp.nn" -o "$tmp/mlp"
cd "$tmp"

# Only system libraries at run time.
if ldd ./mlp | grep -v -E 'linux-vdso|ld-linux|libc\.so|libm\.so|libpthread|libopenblas|libz\.so|libgfortran|libquadmath|libgcc_s' | grep -q .; then
  echo "FAIL: unexpected shared libraries:"; ldd ./mlp; exit 1
fi

./mlp train --steps 200 --threads 2 --log log.csv --checkpoint m.safetensors --quiet
# Mean loss of the first 20 steps against the last 20.
awk -F, '$1 == "step" { n++; loss[n] = $4 }
  END {
    if (n < 200) { print "FAIL: only " n " steps logged"; exit 1 }
    for (i = 1; i <= 20; i++) { a += loss[i]; b += loss[n - 20 + i] }
    a /= 20; b /= 20
    printf "mean loss, first 20 steps: %.4f, last 20 steps: %.4f\n", a, b
    if (!(b < 0.7 * a)) { print "FAIL: the loss did not fall"; exit 1 }
  }' log.csv

# The checkpoint reloads and evaluates to the accuracy training reported.
./mlp eval --checkpoint m.safetensors > eval.txt 2>&1
cat eval.txt
test_acc=$(awk -F, '$1 == "test" { print $5 }' log.csv)
grep -q "acc" eval.txt
echo "test accuracy after 200 steps: $test_acc"
awk -v a="$test_acc" 'BEGIN { exit !(a > 0.6) }' || { echo "FAIL: test accuracy $test_acc after 200 steps"; exit 1; }
echo "ok"
