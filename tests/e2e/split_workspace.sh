#!/bin/sh
# The split workspace layout (codegen/memplan.c): a binary run at 8x its
# train block's batch lays the fixed-size values (the embedding's 640 KB
# gradient, the dense weights') out once and scales only the batch-sized
# ones, and must train exactly as a binary planned at that batch, which
# needs no scaling: same losses, same checkpoint bytes, on 1 and 2 threads.
# The plan-memory report says which layout the larger batch gets.
# usage: split_workspace.sh NNC SOURCE_DIR   (exit 77: no numpy to write .npy)
set -eu
nnc=$1 src=$2
py=/usr/bin/python3
[ -x "$py" ] && "$py" -c "import numpy" 2>/dev/null || { echo "skipped: no numpy"; exit 77; }
. "$src/tests/e2e/lib.sh"
cd "$tmp"
sed 's/^  batch 32$/  batch 256/' "$src/tests/e2e/embed_dropout.nn" > at256.nn
grep -q '^  batch 256$' at256.nn || { echo "FAIL: embed_dropout.nn has no 'batch 32' line to change"; exit 1; }
expect 0 "$nnc" build "$src/tests/e2e/embed_dropout.nn" -o at32 --plan-memory=report:256
grep -q "^workspace: [0-9]* bytes at batch 256: [0-9]* fixed-size, then the batch-sized [0-9]* x 8$" "$tmp/err" ||
  bad "the report does not show the split layout at batch 256: $(grep workspace "$tmp/err")"
expect 0 "$nnc" build at256.nn -o at256 --plan-memory=report
grep -q "^workspace: [0-9]* bytes at batch 256: the planned arena x 1$" "$tmp/err" ||
  bad "the report does not show the planned arena at the planned batch: $(grep workspace "$tmp/err")"
mkdir data
"$py" "$src/tests/e2e/embed_data.py" data 1 1024 256
for t in 1 2; do
  for m in at32 at256; do
    ./$m train --data data --steps 6 --batch 256 --threads $t --seed 3 --quiet \
      --log $m.$t.csv --checkpoint $m.$t.safetensors > /dev/null || bad "$m on $t threads did not train"
  done
  cmp -s at32.$t.safetensors at256.$t.safetensors || bad "$t threads: the checkpoints differ (split layout against planned)"
  cut -d, -f1-7 at32.$t.csv > a.txt; cut -d, -f1-7 at256.$t.csv > b.txt
  cmp -s a.txt b.txt || bad "$t threads: the losses differ"
done
finish
