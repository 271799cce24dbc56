#!/bin/sh
# `train --init F` starts from F's parameters: one step with a vanishing
# learning rate from a trained checkpoint keeps its test accuracy, while the
# same step from the default initialisation is at chance level.
# usage: init_from_checkpoint.sh NNC SOURCE_DIR
set -eu
nnc=$1 src=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
"$nnc" build "$src/examples/fashion_mlp.nn" -o "$tmp/mlp"
cd "$tmp"
acc() { ./mlp eval --checkpoint "$1" | awk '/test_acc/ { sub(/.*test_acc: /, ""); print $1; exit }'; }
./mlp train --steps 300 --quiet --checkpoint trained.safetensors > /dev/null
./mlp train --init trained.safetensors --steps 1 --lr 1e-12 --quiet --checkpoint again.safetensors > /dev/null
./mlp train --steps 1 --lr 1e-12 --quiet --checkpoint fresh.safetensors > /dev/null
a=$(acc trained.safetensors) b=$(acc again.safetensors) c=$(acc fresh.safetensors)
echo "trained: $a, --init trained + 1 step: $b, fresh + 1 step: $c"
[ "$a" = "$b" ] || { echo "FAIL: --init did not start from the checkpoint"; exit 1; }
awk -v a="$a" -v c="$c" 'BEGIN { exit !(a > 0.7 && c < 0.3) }' || { echo "FAIL: accuracies out of range"; exit 1; }
# A file that is not a checkpoint is refused, naming the file, with exit 2.
printf 'not a checkpoint' > bad.safetensors
rc=0; ./mlp train --init bad.safetensors --steps 1 --quiet 2> err.txt || rc=$?
[ "$rc" = 2 ] || { echo "FAIL: bad --init exited $rc, expected 2"; exit 1; }
grep -q "bad.safetensors" err.txt || { echo "FAIL: error does not name the file:"; cat err.txt; exit 1; }
echo ok
