#!/bin/sh
# Builds examples/fashion_mlp.nn, trains ~200 steps on the real Fashion-MNIST
# files, and checks the loss fell; then checkpoints, reloads, and checks the
# binary is standalone (nothing from the nnc build tree at run time) and that
# its results do not depend on --threads (with GEMM epilogues too).
# usage: train_mlp.sh NNC SOURCE_DIR [SANITIZED]   (SANITIZED=1: nnc links
# the sanitizer runtimes into what it builds, and they are allowed too)
set -eu
nnc=$1 src=$2 sanitized=${3:-0}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
"$nnc" build "$src/examples/fashion_mlp.nn" -o "$tmp/mlp"
cd "$tmp"

# Only system libraries at run time.
allowed='linux-vdso|ld-linux|libc\.so|libm\.so|libpthread|libopenblas|libz\.so|libgfortran|libquadmath|libgcc_s'
[ "$sanitized" = 1 ] && allowed="$allowed|libasan|libubsan|libstdc\+\+"
if ldd ./mlp | grep -v -E "$allowed" | grep -q .; then
  echo "FAIL: unexpected shared libraries:"; ldd ./mlp; exit 1
fi

./mlp train --steps 200 --threads 2 --log log.csv --checkpoint m.safetensors --quiet
# Mean loss of the first 20 steps against the last 20.
awk -F, -f "$src/tests/e2e/loss_fell.awk" log.csv

# The checkpoint reloads and evaluates to the accuracy training reported.
./mlp eval --checkpoint m.safetensors > eval.txt 2>&1
cat eval.txt
test_acc=$(awk -F, '$1 == "test" { print $5 }' log.csv)
grep -q "acc" eval.txt
echo "test accuracy after 200 steps: $test_acc"
awk -v a="$test_acc" 'BEGIN { exit !(a > 0.6) }' || { echo "FAIL: test accuracy $test_acc after 200 steps"; exit 1; }

# A checkpoint of another model, or with a corrupt header: exit status 2 and
# a message naming the file and the offset.
sed 's/dense(x, 256)/dense(x, 128)/' "$src/examples/fashion_mlp.nn" > other.nn
"$nnc" build other.nn -o other
./other train --steps 1 --checkpoint other.safetensors --quiet > /dev/null
bad_ckpt() { # FILE MESSAGE-REGEX
  st=0; ./mlp eval --checkpoint "$1" > /dev/null 2> err.txt || st=$?
  if [ "$st" != 2 ] || ! grep -q "$2" err.txt; then echo "FAIL: eval --checkpoint $1 exited $st:"; cat err.txt; exit 1; fi
}
bad_ckpt other.safetensors "other.safetensors: offset [0-9]*: tensor 'dense_1.w': expected F32 \[784, 256\], found F32 \[784, 128\]"
cp m.safetensors corrupt.safetensors
printf '#' | dd of=corrupt.safetensors bs=1 seek=20 conv=notrunc 2> /dev/null
bad_ckpt corrupt.safetensors "corrupt.safetensors: bad header: offset 20: "

# The thread count changes the speed, never the result: the same steps with
# 1 and 3 threads give byte-identical checkpoints (OpenBLAS's own threading
# did not, nor would a reduction split across threads).
./mlp train --steps 30 --threads 1 --checkpoint t1.safetensors --quiet > /dev/null
./mlp train --steps 30 --threads 3 --checkpoint t3.safetensors --quiet > /dev/null
cmp t1.safetensors t3.safetensors || { echo "FAIL: --threads 1 and --threads 3 trained different weights"; exit 1; }
# So also with GEMM epilogues (each block of a product, then its epilogue,
# in one task): the blocks depend on the shape, not the thread count.
"$nnc" build "$src/examples/fashion_mlp.nn" --fuse=vertical,horizontal,epilogue,shared -o mlp_ep
./mlp_ep train --steps 30 --threads 1 --checkpoint e1.safetensors --quiet > /dev/null
./mlp_ep train --steps 30 --threads 3 --checkpoint e3.safetensors --quiet > /dev/null
cmp e1.safetensors e3.safetensors || { echo "FAIL: with epilogues, --threads 1 and 3 trained different weights"; exit 1; }
echo "ok"
