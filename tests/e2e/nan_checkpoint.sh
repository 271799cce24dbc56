#!/bin/sh
# A checkpoint is never replaced by non-finite weights (issue 12, item 1):
# the training loss is checked before each step's update, so an update that
# blows the weights up right before a save went unseen and was written.
# Here the last step of a resumed run uses a learning rate that is infinite
# in f32: the save is refused with exit 3, naming the tensor and the step,
# and the checkpoint keeps its bytes.
# usage: nan_checkpoint.sh NNC SOURCE_DIR
set -eu
nnc=$1 src=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
"$nnc" build "$src/examples/fashion_mlp.nn" -o mlp 2> /dev/null
./mlp train --steps 20 --quiet --checkpoint c.safetensors > /dev/null
cp c.safetensors before.safetensors
rc=0; ./mlp train --resume --checkpoint c.safetensors --steps 21 --lr 1e39 --quiet > out.txt 2> err.txt || rc=$?
[ "$rc" = 3 ] || { echo "FAIL: exit $rc, expected 3"; cat err.txt; exit 1; }
grep -q "holds non-finite values after global step 21; c.safetensors was not written (it keeps its previous contents)" err.txt ||
  { echo "FAIL: message:"; cat err.txt; exit 1; }
cmp -s c.safetensors before.safetensors || { echo "FAIL: the checkpoint changed"; exit 1; }
echo ok
