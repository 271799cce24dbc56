#!/bin/sh
# A checkpoint is never replaced by weights that do not compute finite values
# (issue 12, item 1): the training loss is checked before each step's update,
# so an update that blows the weights up right before a save went unseen and
# was written, and `train --resume --steps N --lr 1e20` exited 0 with
# test_loss nan. Every save now checks the parameters (non-finite: exit 3
# naming the tensor), the finished epoch's validation loss, or else the loss
# of one probe batch (finite but huge weights), and the test loss is checked
# at the end; each time exit 3 names the step and what was not finite, and
# the checkpoint keeps its bytes.
# usage: nan_checkpoint.sh NNC SOURCE_DIR
set -eu
nnc=$1 src=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
"$nnc" build "$src/examples/fashion_mlp.nn" -o mlp 2> /dev/null
# refused RUN_ARGS... : exit 3, the message (in $want), the checkpoint c.safetensors unchanged
refused() {
  cp c.safetensors before.safetensors
  rc=0; ./mlp "$@" --quiet > out.txt 2> err.txt || rc=$?
  [ "$rc" = 3 ] || { echo "FAIL: $*: exit $rc, expected 3"; cat out.txt err.txt; exit 1; }
  grep -q "$want" err.txt || { echo "FAIL: $*: message:"; cat err.txt; exit 1; }
  grep -q "test_loss" out.txt && { echo "FAIL: $*: printed a test result"; cat out.txt; exit 1; }
  cmp -s c.safetensors before.safetensors || { echo "FAIL: $*: the checkpoint changed"; exit 1; }
}
./mlp train --steps 20 --quiet --checkpoint c.safetensors > /dev/null

# A learning rate infinite in f32: the weights themselves are not finite.
want="holds non-finite values after global step 21; c.safetensors was not written (it keeps its previous contents)"
refused train --resume --checkpoint c.safetensors --steps 21 --lr 1e39

# The run: finite but huge weights, saved mid-epoch (no validation pass): the probe batch.
want="the loss on a probe batch of 64 validation samples is NaN with the weights after global step 21 .*c.safetensors was not written (it keeps its previous contents)"
refused train --resume --checkpoint c.safetensors --steps 21 --lr 1e20

# At an epoch's end, its validation loss (a 2000-sample copy: 28 steps an epoch of batch 64 after the 10% split).
mkdir small
for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
  case $f in *images*) hdr=16 per=784 ;; *) hdr=8 per=1 ;; esac
  n=2000; case $f in t10k*) n=500 ;; esac
  gzip -dc "/usr/share/datasets/fashion-mnist/$f.gz" | head -c $((hdr + n * per)) > "small/$f"
  # the count field (bytes 4..7, big-endian) says n
  printf "$(printf '\\%03o\\%03o' $((n / 256)) $((n % 256)))" | dd of="small/$f" bs=1 seek=6 conv=notrunc 2> /dev/null
done
./mlp train --steps 28 --quiet --data small --checkpoint c.safetensors --overwrite > /dev/null
want="val_loss is NaN after epoch 1 (global step 29): the weights no longer compute finite values; c.safetensors was not written (it keeps its previous contents)"
refused train --resume --checkpoint c.safetensors --data small --epochs 1 --lr 1e20

# Without a checkpoint nothing is saved, but the test result is not "nan" with exit 0.
want="test_loss is NaN after global step 1: the trained weights do not compute finite values"
refused train --data small --val-split 0 --steps 1 --lr 1e20
echo ok
