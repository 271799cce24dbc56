#!/bin/sh
# def and repeat end to end: tests/e2e/def_repeat.nn expands to the layers
# and parameter names it should (nnc summary, the checkpoint's tensor
# names), builds, and trains 200 steps on the real Fashion-MNIST files with
# the loss falling (loss_fell.awk).
# usage: train_def_repeat.sh NNC SOURCE_DIR
set -eu
nnc=$1 src=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
"$nnc" summary "$src/tests/e2e/def_repeat.nn" > "$tmp/summary.txt"
for row in "res0.ln (layer_norm)" "res0.up (dense)" "res0.down (dense)" "res2.down (dense)" \
           "gate_1.dense_1 (dense)" "head (dense)"; do
  grep -qF "$row" "$tmp/summary.txt" || { echo "FAIL: no row '$row' in the summary:"; cat "$tmp/summary.txt"; exit 1; }
done
# stem 784*64+64, 3 x (ln 128, up 64*128+128, down 128*64+64), gate 64*64+64, head 64*10+10
grep -q "^Total params: 105,162 " "$tmp/summary.txt" || { echo "FAIL: wrong total:"; cat "$tmp/summary.txt"; exit 1; }
"$nnc" build "$src/tests/e2e/def_repeat.nn" -o "$tmp/m"
cd "$tmp"
./m train --steps 200 --threads 2 --log log.csv --checkpoint ck.safetensors --quiet
awk -F, -f "$src/tests/e2e/loss_fell.awk" log.csv
for p in stem.w res0.ln.gamma res0.up.w res1.up.b res2.down.w gate_1.dense_1.w head.b; do
  grep -aq "\"$p\"" ck.safetensors || { echo "FAIL: the checkpoint has no tensor $p"; exit 1; }
done
echo "ok"
