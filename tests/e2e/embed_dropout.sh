#!/bin/sh
# Builds tests/e2e/embed_dropout.nn (embedding + dropout), trains it on
# generated ids and checks: the loss falls; the run does not depend on the
# thread count (dropout masks and the embedding's scatter-add gradient are
# split over the pool at batch 256); --seed changes the run; an id past the
# vocabulary stops `eval` with a message naming it, its file, offset and
# sample (the generated code's nnrt_fail_id, told the batch by the driver).
# usage: embed_dropout.sh NNC SOURCE_DIR   (exit 77: no numpy to write .npy)
set -eu
nnc=$1 src=$2
py=/usr/bin/python3
[ -x "$py" ] && "$py" -c "import numpy" 2>/dev/null || { echo "skipped: no numpy"; exit 77; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
"$nnc" build "$src/tests/e2e/embed_dropout.nn" -o "$tmp/m"
"$nnc" summary "$src/tests/e2e/embed_dropout.nn" > "$tmp/summary.txt"
grep -q "^embedding_1 (embedding) *(B, 20, 16) *160,000$" "$tmp/summary.txt" &&
  grep -q "^dropout_2 (dropout) *(B, 32) *0$" "$tmp/summary.txt" || { echo "FAIL: summary"; cat "$tmp/summary.txt"; exit 1; }
cd "$tmp"
mkdir data bad
"$py" "$src/tests/e2e/embed_data.py" data 0 2400 400 bad

./m train --data data --epochs 3 --threads 2 --log log.csv --checkpoint m.safetensors --quiet
awk -F, -f "$src/tests/e2e/loss_fell.awk" log.csv

for t in 1 3; do
  ./m train --data data --epochs 1 --batch 256 --threads $t --log t$t.csv --quiet
  cut -d, -f1-7 t$t.csv > t$t.txt
done
cmp t1.txt t3.txt || { echo "FAIL: 1 and 3 threads train differently"; exit 1; }
./m train --data data --epochs 1 --batch 256 --threads 1 --seed 7 --log s7.csv --quiet
cut -d, -f1-7 s7.csv > s7.txt
if cmp -s t1.txt s7.txt; then echo "FAIL: --seed 7 trains as --seed 42 does"; exit 1; fi

cp data/train_x.npy data/train_y.npy bad/
if ./m eval --data bad --checkpoint m.safetensors > out.txt 2> err.txt; then
  echo "FAIL: eval accepted id 10003"; exit 1
fi
grep -q "bad/test_x.npy: offset 388: sample 3, position 5: input id 10003 is out of range for an embedding of 10000 rows" err.txt ||
  { echo "FAIL: unexpected message:"; cat err.txt; exit 1; }
echo "ok"
