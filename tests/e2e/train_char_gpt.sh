#!/bin/sh
# Builds examples/char_gpt.nn (4 Transformer blocks, d_model 128, context
# 128), trains 250 steps at batch 16 on the real text of all the fortunes,
# and checks that it learned more than byte frequencies: a model that
# ignores the context can do no better than the unigram entropy of the text,
# 3.32 nats per byte, which the loss reaches within the first 20 steps (from
# ln 256 = 5.55), so the last 20 steps must average under 2.95 nats, and
# under 0.8x the first 20. Then it samples text from the checkpoint. The
# test split is cut to 2% so the closing test pass is short.
# usage: train_char_gpt.sh NNC SOURCE_DIR
set -eu
nnc=$1 src=$2
[ -d /usr/share/games/fortunes ] || { echo "skipped: no /usr/share/games/fortunes"; exit 77; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
"$nnc" build "$src/examples/char_gpt.nn" -o "$tmp/char_gpt"
cd "$tmp"

./char_gpt train --data 'fortunes-chars:all?test=0.02' --steps 250 --batch 16 --val-split 0 --threads 2 \
  --log log.csv --checkpoint gpt.st --quiet
awk -F, -v ratio=0.8 -f "$src/tests/e2e/loss_fell.awk" log.csv
awk -F, '$1 == "step" { n++; l[n] = $4 } END { for (i = n - 19; i <= n; i++) s += l[i]
  if (!(s / 20 < 2.95)) { print "FAIL: the last 20 steps average " s / 20 " nats, not under 2.95"; exit 1 } }' log.csv
./char_gpt sample --checkpoint gpt.st --prompt "The " --length 100 --temperature 0.8 --seed 1 > sample.txt
cat sample.txt
n=$(wc -c < sample.txt | tr -d ' ')
[ "$n" = 105 ] || { echo "FAIL: expected 105 bytes of sample, got $n"; exit 1; }
echo "ok"
