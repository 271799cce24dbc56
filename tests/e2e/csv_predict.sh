#!/bin/sh
# CSV data sets and predict, end to end on small generated files:
#  - a regression model whose train block names "data/houses.csv?label=price"
#    (a relative path): the data command summarises its float targets, train
#    fits it, predict reads the CSV (skipping the label column) and tracks
#    the prices; --proba is refused for regression;
#  - a classifier on --data c.csv --label-column y: predict --proba prints
#    one line per row, class then one probability per class, summing to 1,
#    the class the most probable, from a file or from stdin alike; with
#    class names in the label column, eval and predict name the classes;
#  - hostile CSV files stop the binary with exit 2 and file:line:col;
#  - a tiny word model on Debian's fortunes (if installed): predict reads
#    raw text lines, prints the category names, and (with numpy) gives the
#    same output as the same lines tokenized in Python with the saved
#    vocabulary and fed as .npy.
# usage: csv_predict.sh NNC SOURCE_DIR
set -eu
nnc=$1
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
fail() { echo "FAIL: $*"; exit 1; }

cat > reg.nn <<'EOF'
model reg {
  input x: f32[B, 3]
  input y: f32[B, 1]
  h = dense(x, 16, activation: relu)
  p = dense(h, 1)
  output p
  minimize mse(p, y)
}
train {
  optimizer adam(lr: 1e-2)
  batch 16
  epochs 40
  data "data/houses.csv?label=price"
}
EOF
cat > cls.nn <<'EOF'
model cls {
  input x: f32[B, 2]
  input y: i32[B]
  h = dense(x, 16, activation: relu)
  logits = dense(h, 3)
  output logits
  minimize cross_entropy(logits, y)
}
train {
  optimizer adam(lr: 1e-2)
  batch 16
  epochs 20
}
EOF
"$nnc" build reg.nn -o reg >/dev/null
"$nnc" build cls.nn -o cls >/dev/null

# Park-Miller's generator (exact in awk's doubles), uniform in [-1, 1).
mkdir data
awk 'function u() { s = (s * 16807) % 2147483647; return 2 * s / 2147483647 - 1 }
  BEGIN {
    s = 42
    print "rooms,\"area, m2\",age,price" > "data/houses.csv"
    for (i = 0; i < 300; i++) {
      a = u(); b = u(); c = u()
      printf "%.5f,%.5f,%.5f,%.5f\n", a, b, c, 1.5 * a - 2 * b + 0.5 * c + 3 > "data/houses.csv"
    }
    print "a,y,b" > "c.csv"
    for (i = 0; i < 400; i++) {
      a = u(); b = u()
      printf "%.4f,%d,%.4f\n", a, (a > 0) + (b > 0.3), b > "c.csv"
    }
  }'

# --- regression: the train block's relative path, float labels ---
./reg data > data.txt || fail "data on a regression CSV: $(cat data.txt)"
grep -q "^train: 240 samples, x \[240, 3\] F32, y \[240\] F32$" data.txt || fail "data: $(cat data.txt)"
grep -q "^  targets: min .*, mean .*, std .* (MSE of always predicting the mean: " data.txt ||
  fail "data: no target summary: $(cat data.txt)"
./reg train --quiet --checkpoint r.st > train.txt
awk '/^test_loss/ { if ($2 + 0 < 0.2) ok = 1 } END { exit !ok }' train.txt || fail "regression: $(cat train.txt)"
./reg predict --checkpoint r.st --input data/houses.csv > pred.txt
[ "$(wc -l < pred.txt)" -eq 300 ] || fail "predict: $(wc -l < pred.txt) lines for 300 rows"
tail -n +2 data/houses.csv | cut -d, -f4 | paste pred.txt - |
  awk '{ d = $1 - $2; e += d * d } END { if (e / NR > 0.2) { print "FAIL: predict MSE " e / NR; exit 1 } }'
if ./reg predict --checkpoint r.st --input data/houses.csv --proba > out.txt 2>&1; then fail "--proba on regression"; fi
grep -q "reg: error: --proba: model 'reg' is a regression model; it has no class probabilities" out.txt ||
  fail "$(cat out.txt)"

# --- classification: --data FILE.csv --label-column, --proba ---
./cls train --quiet --data c.csv --label-column y --checkpoint c.st > train.txt
./cls predict --checkpoint c.st --input c.csv --label-column y --proba > proba.txt
[ "$(wc -l < proba.txt)" -eq 400 ] || fail "predict --proba: $(wc -l < proba.txt) lines for 400 rows"
tail -n +2 c.csv | cut -d, -f2 | paste proba.txt - | awk -F'\t' '
  NF != 5 { print "FAIL: line " NR " has " NF - 1 " fields: " $0; exit 1 }
  {
    s = $2 + $3 + $4; best = 0
    for (k = 1; k <= 2; k++) if ($(k + 2) > $(best + 2)) best = k
    if (s < 0.9999 || s > 1.0001) { print "FAIL: probabilities sum to " s ": " $0; exit 1 }
    if ($1 != best) { print "FAIL: class " $1 " is not the most probable: " $0; exit 1 }
    ok += $1 == $5
  }
  END { if (ok / NR < 0.85) { print "FAIL: predict accuracy " ok / NR; exit 1 } }'
if ./cls predict --checkpoint c.st --input c.csv > out.txt 2>&1; then fail "predict took the label column as a feature"; fi
grep -qF "cls: error: c.csv: samples of shape [400, 3] have 3 values per sample, but model input 'x' [B, 2] takes 2 (if the file holds the label column, name it with --label-column)" out.txt ||
  fail "$(cat out.txt)"
./cls predict --checkpoint c.st --label-column y --input - < c.csv > stdin.txt
cut -f1 proba.txt | cmp -s - stdin.txt || fail "predict from stdin differs from the file's classes"

# --- class names in the label column: ids in sorted order, names printed ---
tail -n +2 c.csv | awk -F, 'BEGIN { split("gamma,alpha,beta", n, ","); print "a,kind,b" } { print $1 "," n[$2 + 1] "," $3 }' > n.csv
./cls train --quiet --data n.csv --label-column kind --checkpoint n.st > /dev/null
./cls eval --data n.csv --label-column kind --checkpoint n.st > eval.txt
grep -q "^       alpha  " eval.txt && grep -q "^       gamma  " eval.txt || fail "eval report names: $(cat eval.txt)"
./cls predict --checkpoint n.st --data n.csv --label-column kind --input n.csv > names.txt
tail -n +2 n.csv | cut -d, -f2 | paste names.txt - | awk -F'\t' '
  { id = $2 == "alpha" ? 0 : $2 == "beta" ? 1 : $2 == "gamma" ? 2 : -1 }
  id != $1 { print "FAIL: class " $1 " named " $2 ": " $0; exit 1 }
  { ok += $2 == $3 } END { if (ok / NR < 0.85) { print "FAIL: named predict accuracy " ok / NR; exit 1 } }'

# --- hostile files: exit 2, file:line:col ---
expect_error() { # FILE MESSAGE
  if ./cls train --quiet --data "$1" --label-column y > out.txt 2>&1; then fail "accepted $1"; fi
  grep -qF -- "$2" out.txt || fail "$1: expected '$2', got: $(cat out.txt)"
}
printf 'a,y,b\n1,0,2\nx1,1,2\n' > bad1.csv
expect_error bad1.csv "cls: error: bad1.csv:3:1: column 'a': expected a number, found 'x1'"
printf 'a,y,b\n1,0,2\n1,1\n' > bad2.csv
expect_error bad2.csv "cls: error: bad2.csv:3:4: the row ends after 2 cells, but the header has 3 (a ragged row)"
printf 'a,label,b\n1,0,2\n' > bad3.csv
expect_error bad3.csv "cls: error: bad3.csv:1: no label column 'y' in the header; the columns are 'a', 'label', 'b'"
printf 'a,y,b\n1,0,2\n1,1,inf\n' > bad4.csv
expect_error bad4.csv "cls: error: bad4.csv:3:5: column 'b': 'inf' is not a finite f32 number"
printf 'a,y,b\n1,0,2\n1,0.5,2\n' > bad5.csv
expect_error bad5.csv "cls: error: bad5.csv:3:3: label column 'y': expected an integer class label, found '0.5'"
printf 'a,y,b\n1,0,2\n1,7,2\n' > bad6.csv
expect_error bad6.csv "labels must be in [0, 3)"
./cls train --quiet --data bad6.csv --label-column y > out.txt 2>&1 || true
grep -qE "bad6.csv:3: label [01] is 7, but the model has 3 classes" out.txt || fail "bad6: $(cat out.txt)"

# --- text: raw lines for a word model ---
[ -f /usr/share/games/fortunes/computers ] || { echo "ok (text predict skipped: no fortunes)"; exit 0; }
cat > txt.nn <<'EOF'
model txt {
  input x: i32[B, 16]
  input y: i32[B]
  e = embedding(x, 2000, 8)
  logits = dense(flatten(e), 3)
  output logits
  minimize cross_entropy(logits, y)
}
train {
  optimizer adam(lr: 1e-2)
  batch 32
  data "fortunes:computers,cookie,science?len=16&vocab=2000"
}
EOF
"$nnc" build txt.nn -o txt >/dev/null
./txt train --steps 20 --quiet --checkpoint t.st > /dev/null
grep -v '^%' /usr/share/games/fortunes/computers | head -2 > lines.txt
printf '\n' >> lines.txt # an empty line is skipped
./txt predict --checkpoint t.st --input lines.txt --proba > tp.txt
[ "$(wc -l < tp.txt)" -eq 2 ] || fail "text predict: $(cat tp.txt)"
awk -F'\t' '{ s = $3 + $4 + $5 }
  NF != 5 || ($2 != "computers" && $2 != "cookie" && $2 != "science") || s < 0.9999 || s > 1.0001 {
    print "FAIL: text predict line: " $0; exit 1 }' tp.txt
py=/usr/bin/python3
if [ -x "$py" ] && "$py" -c "import numpy" 2>/dev/null; then
  "$py" - <<'PY'
import re, numpy as np
import json, struct
b = open("t.st", "rb").read()  # the vocabulary is in the checkpoint's metadata, one word per line
header = json.loads(b[8:8 + struct.unpack("<Q", b[:8])[0]])
ids = {w: i for i, w in enumerate(header["__metadata__"]["nnrt.vocab"].split("\n"))}
rows = []
for line in open("lines.txt"):
    words = [w.strip("'").lower()[:63] for w in re.findall(r"[A-Za-z0-9']+", line)]
    row = [ids.get(w, 1) for w in words if w][:16]
    if line.strip():
        rows.append(row + [0] * (16 - len(row)))
np.save("lines.npy", np.array(rows, np.int32))
PY
  ./txt predict --checkpoint t.st --input lines.npy --proba > np.txt
  cmp -s tp.txt np.txt || fail "text lines and the same ids as .npy predict differently: $(cat tp.txt np.txt)"
fi
echo "ok"
