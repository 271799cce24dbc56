#!/bin/sh
# `nnc build --checkpoint F` reads a trained model's parameters into the IR
# (their values print with `nnc dump`) and writes the weights after the
# passes beside the output, as <output>.safetensors, which the binary loads.
# A checkpoint of another model, a file that is not one, and an output that
# would overwrite the input are each refused with exit 2.
# usage: build_checkpoint.sh NNC SOURCE_DIR
set -eu
nnc=$1 src=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
"$nnc" build "$src/examples/fashion_mlp.nn" -o mlp 2> /dev/null
./mlp train --steps 60 --quiet --checkpoint trained.safetensors > /dev/null
acc() { ./mlp eval --checkpoint "$1" | awk '/test_acc/ { sub(/.*test_acc: /, ""); print $1; exit }'; }
"$nnc" build "$src/examples/fashion_mlp.nn" --checkpoint trained.safetensors -o again 2> /dev/null
[ -f again.safetensors ] || { echo "FAIL: no again.safetensors beside the output"; exit 1; }
a=$(acc trained.safetensors) b=$(acc again.safetensors)
echo "trained: $a, rewritten by nnc build: $b"
[ "$a" = "$b" ] || { echo "FAIL: the written checkpoint does not evaluate as the input"; exit 1; }
# The data shows in the IR: a bias of 10 inline, the large weights by size.
"$nnc" dump "$src/examples/fashion_mlp.nn" --checkpoint trained.safetensors > dump.txt
grep -q '^param @dense_2.b : f32\[10\] = zeros data=\[' dump.txt || { echo "FAIL: no inline data"; exit 1; }
grep -q '^param @dense_1.w : f32\[784,256\] = glorot_uniform(784, 256) data=(802816 bytes)$' dump.txt ||
  { echo "FAIL: no data size:"; grep '@dense_1.w ' dump.txt; exit 1; }
refuse() { # expected-text, command...
  want=$1; shift
  rc=0; "$@" 2> err.txt > /dev/null || rc=$?
  [ "$rc" = 2 ] || { echo "FAIL: '$*' exited $rc, expected 2"; cat err.txt; exit 1; }
  grep -q "$want" err.txt || { echo "FAIL: '$*' did not say '$want':"; cat err.txt; exit 1; }
}
refuse "is it a checkpoint of another model" "$nnc" build "$src/examples/fashion_cnn.nn" --checkpoint trained.safetensors -o cnn
printf 'not a checkpoint' > bad.safetensors
refuse "bad.safetensors" "$nnc" build "$src/examples/fashion_mlp.nn" --checkpoint bad.safetensors -o x
refuse "would overwrite the input" "$nnc" build "$src/examples/fashion_mlp.nn" --checkpoint trained.safetensors -o trained
[ "$(acc trained.safetensors)" = "$a" ] || { echo "FAIL: the input checkpoint changed"; exit 1; }
echo ok
