#!/bin/sh
# Strict data at load time (issue 12, items 2 and 6): a data set is checked
# whole before the first step, and each bad value stops the run with exit 2
# and a message naming the file, the sample and the position:
#   - a NaN or infinite feature (train, eval, predict, data), unless
#     --allow-nonfinite; predict with it prints "nan" and the reason for the
#     row instead of a class made up from NaN;
#   - a binary label that is not 0 or 1;
#   - an embedding id past the table in the test set: found before training
#     starts, not after every epoch has run (no step is logged).
# usage: strict_data.sh NNC SOURCE_DIR   (exit 77: no numpy to write .npy)
set -eu
nnc=$1 src=$2
py=/usr/bin/python3
[ -x "$py" ] && "$py" -c "import numpy" 2>/dev/null || { echo "skipped: no numpy"; exit 77; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
"$nnc" build "$src/tests/e2e/strict_mlp.nn" -o "$tmp/mlp" 2> /dev/null
"$nnc" build "$src/tests/e2e/strict_binary.nn" -o "$tmp/bin" 2> /dev/null
"$nnc" build "$src/tests/e2e/embed_dropout.nn" -o "$tmp/emb" 2> /dev/null
cd "$tmp"
mkdir good nanx infx bin2 ids pred
"$py" - <<'PY'
import numpy as np
r = np.random.default_rng(1)
def save(d, split, x, y):
    np.save(f"{d}/{split}_x.npy", x); np.save(f"{d}/{split}_y.npy", y)
for split, n in (("train", 96), ("test", 32)):
    y = r.integers(0, 3, n).astype(np.int32)
    x = (r.normal(size=(n, 6)) + y[:, None]).astype(np.float32)
    save("good", split, x, y)
    xn = x.copy(); xi = x.copy()
    if split == "train": xn[7, 4] = np.nan
    else: xi[5, 2] = -np.inf
    save("nanx", split, xn, y); save("infx", split, xi, y)
    yb = (y > 0).astype(np.int32)
    if split == "train": yb[9] = 2
    save("bin2", split, x, yb)
    ids = r.integers(0, 10000, (n, 20)).astype(np.int32)
    if split == "test": ids[4, 11] = 10000
    save("ids", split, ids, y)
p = x[:4].copy(); p[2, :] = np.nan
np.save("pred/rows.npy", p)
PY

# expect CMD... -- MESSAGE: exit 2 and the message on stderr
expect2() {
  msg=$1; shift
  rc=0; "$@" > out.txt 2> err.txt || rc=$?
  [ "$rc" = 2 ] || { echo "FAIL: '$*' exited $rc, expected 2"; cat out.txt err.txt; exit 1; }
  grep -qF "$msg" err.txt || { echo "FAIL: '$*' said:"; cat err.txt; echo "expected: $msg"; exit 1; }
}

nanmsg="nanx/train_x.npy: offset 312: sample 7, position 4: feature is nan; features must be finite (clean the data, or give --allow-nonfinite to use it as it is)"
expect2 "$nanmsg" ./mlp train --data nanx --steps 3 --quiet --log log.csv
[ ! -s log.csv ] || ! grep -q '^step' log.csv || { echo "FAIL: a step ran on data with a NaN"; exit 1; }
expect2 "infx/test_x.npy: offset 256: sample 5, position 2: feature is -inf" ./mlp train --data infx --steps 3 --quiet
expect2 "$nanmsg" ./mlp data --data nanx
./mlp train --data good --steps 6 --quiet --checkpoint m.safetensors > /dev/null
expect2 "infx/test_x.npy: offset 256: sample 5, position 2: feature is -inf" ./mlp eval --data infx --checkpoint m.safetensors
# --allow-nonfinite: the data are used as they are (train runs; NaN then
# propagates, as PyTorch's would)
./mlp train --data nanx --steps 2 --quiet --allow-nonfinite > /dev/null 2>&1 || [ $? = 3 ] ||
  { echo "FAIL: --allow-nonfinite train"; exit 1; }
./mlp eval --data infx --checkpoint m.safetensors --allow-nonfinite > eval.txt || { echo "FAIL: --allow-nonfinite eval"; exit 1; }

# predict: a NaN row is refused, or with --allow-nonfinite reported as such
expect2 "pred/rows.npy: offset 176: sample 2, position 0: feature is nan" ./mlp predict --input pred/rows.npy --checkpoint m.safetensors
./mlp predict --input pred/rows.npy --checkpoint m.safetensors --allow-nonfinite > pred.txt
[ "$(wc -l < pred.txt)" = 4 ] || { echo "FAIL: predict printed"; cat pred.txt; exit 1; }
[ "$(sed -n 3p pred.txt)" = "$(printf 'nan\tnon-finite input: feature 0 of sample 2 is nan')" ] ||
  { echo "FAIL: predict's NaN row:"; cat pred.txt; exit 1; }
grep -v nan pred.txt | grep -qx '[0-2]' || { echo "FAIL: predict's other rows:"; cat pred.txt; exit 1; }

# labels: binary must be 0 or 1
expect2 "bin2/train_y.npy: offset 164: sample 9, position 0: label is 2, but model 'strict_binary' is a binary classifier (labels must be 0 or 1)" \
  ./bin train --data bin2 --steps 3 --quiet
# an embedding id past the table in the test set stops train before any step
expect2 "ids/test_x.npy: offset 492: sample 4, position 11: input id 10000 is out of range for an embedding of 10000 rows" \
  ./emb train --data ids --epochs 2 --quiet --log elog.csv
! grep -q '^step' elog.csv 2>/dev/null || { echo "FAIL: training ran before the bad id was found"; exit 1; }
echo ok
