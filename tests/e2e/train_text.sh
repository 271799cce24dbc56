#!/bin/sh
# Builds a text example (fortunes words: embedding, LSTMs, dropout), trains
# STEPS steps on Debian's fortunes, checks the loss fell (loss_fell.awk) and
# that eval reuses the vocabulary saved in the checkpoint and prints the per-class report;
# then that an id the embedding cannot hold is a clear error (a vocabulary
# larger than the model's).
# usage: train_text.sh NNC SOURCE_DIR MODEL STEPS
set -eu
nnc=$1 src=$2 model=$3 steps=$4
[ -d /usr/share/games/fortunes ] || { echo "skipped: Debian's fortunes package is not installed"; exit 77; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
"$nnc" build "$src/examples/$model.nn" -o "$tmp/m"
cd "$tmp"

./m train --steps "$steps" --threads 2 --log log.csv --checkpoint m.safetensors --quiet
awk -F, -f "$src/tests/e2e/loss_fell.awk" log.csv
grep -aq '"nnrt.vocab":"<pad>\\n<unk>\\n' m.safetensors || { echo "FAIL: no vocabulary in the checkpoint"; exit 1; }
[ ! -e m.safetensors.vocab.txt ] || { echo "FAIL: a vocabulary file beside the checkpoint"; exit 1; }
./m eval --checkpoint m.safetensors > eval.txt
grep -q "macro avg" eval.txt && grep -q "confusion matrix" eval.txt || { cat eval.txt; echo "FAIL: no report"; exit 1; }
grep -q "computers" eval.txt || { echo "FAIL: the report does not name the classes"; exit 1; }

# The same data with a 20000-id vocabulary: ids past the model's 10000 rows.
spec=$(sed -n 's/^ *data "\(.*\)"$/\1/p' "$src/examples/$model.nn" | sed 's/vocab=10000/vocab=20000/')
if ./m train --steps 2 --data "$spec" --quiet > out.txt 2>&1; then
  echo "FAIL: ids past the embedding's rows were accepted"; exit 1
fi
grep -q "out of range for an embedding of 10000 rows" out.txt || { cat out.txt; echo "FAIL: unclear error"; exit 1; }
echo "ok"
