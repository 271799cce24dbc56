#!/bin/sh
# The Keras way of writing a classifier, `probs = dense(h, 10, activation:
# softmax)` then `minimize cross_entropy(probs, y)`, must train exactly as
# the logits form does: cross_entropy takes the logits under the softmax
# (once the log_softmax went on top of the softmax, and the model trained to
# the majority class). Both train 200 steps on the real Fashion-MNIST files
# from the same seed; each step's loss must agree within 1e-4 (relative), the
# loss must fall, and the validation accuracy must be the logits form's.
# usage: keras_softmax.sh NNC SOURCE_DIR
set -eu
nnc=$1 src=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
cp "$src/examples/fashion_mlp.nn" logits.nn
sed -e 's/logits = dense(h, 10)/probs = dense(h, 10, activation: softmax)/' \
    -e 's/output logits/output probs/' -e 's/cross_entropy(logits, y)/cross_entropy(probs, y)/' logits.nn > probs.nn
grep -q 'activation: softmax' probs.nn && grep -q 'cross_entropy(probs, y)' probs.nn
# No warning: this is the form Keras users write.
"$nnc" check probs.nn 2> warn.txt
if [ -s warn.txt ]; then echo "FAIL: nnc check probs.nn printed:"; cat warn.txt; exit 1; fi
for m in logits probs; do
  "$nnc" build $m.nn -o $m
  ./$m train --steps 200 --threads 1 --log $m.csv --quiet > /dev/null
done
awk -F, -f "$src/tests/e2e/loss_fell.awk" probs.csv
# Step rows: kind,epoch,step,loss,...; the validation row: kind "val".
awk -F, 'NR == FNR { if ($1 == "step") a[$3] = $4; next }
         $1 == "step" { n++; d = $4 - a[$3]; if (d < 0) d = -d; r = d / a[$3]; if (r > w) w = r }
         END { printf "%d steps, worst relative loss difference %.2e\n", n, w
               if (n < 200 || !(w <= 1e-4)) { print "FAIL: the softmax form trains differently"; exit 1 } }' logits.csv probs.csv
la=$(awk -F, '$1 != "step" && $1 != "kind" { print $1, $5 }' logits.csv | tail -1)
pa=$(awk -F, '$1 != "step" && $1 != "kind" { print $1, $5 }' probs.csv | tail -1)
echo "last metrics row: logits form '$la', softmax form '$pa'"
[ "$la" = "$pa" ] || { echo "FAIL: the accuracy differs"; exit 1; }
