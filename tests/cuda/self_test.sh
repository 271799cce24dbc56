#!/bin/sh
# cuda_compare checks itself on CPU builds (no CUDA backend needed): two
# builds of fashion_mlp, fused and --no-fuse, must match, and a build whose
# hidden layer is tanh instead of relu must not (exit 1, FAIL lines naming
# the outputs).
# usage: self_test.sh NNC BUILD_DIR SOURCE_DIR
set -e
nnc=$1 build=$2 src=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
model=$src/examples/fashion_mlp.nn
sed 's/|> relu/|> tanh/' "$model" >"$tmp/tanh.nn"
grep -q '|> tanh' "$tmp/tanh.nn"
"$nnc" build "$model" --emit=obj -o "$tmp/a.o" >/dev/null
"$nnc" build "$model" --no-fuse --emit=obj -o "$tmp/b.o" >/dev/null
"$nnc" build "$tmp/tanh.nn" --emit=obj -o "$tmp/c.o" >/dev/null
for x in a b c; do cc -shared -o "$tmp/$x.so" "$tmp/$x.o"; done
"$build/cuda_compare" --sym B=5 "$tmp/a.so" "$tmp/b.so" >"$tmp/same.txt" || { cat "$tmp/same.txt"; echo "FAIL: fused and unfused CPU builds differ"; exit 1; }
grep -q "fashion_mlp: 50 of 50 tensors match" "$tmp/same.txt"
if "$build/cuda_compare" --sym B=5 "$tmp/a.so" "$tmp/c.so" >"$tmp/diff.txt"; then
  cat "$tmp/diff.txt"
  echo "FAIL: a relu model and a tanh model compared equal"
  exit 1
fi
grep -q "^FAIL forward output logits" "$tmp/diff.txt"
grep -q "^FAIL train_step\[0\] global dense_1.w " "$tmp/diff.txt"
echo "cuda_compare: self test passed"
