#!/bin/sh
# Embedding ids that reach their embedding only inside a scan body
# (scan_ids.nnir: ids [B,6] sliced per time step by the scan) are checked
# when the data are loaded, as ids read outside a scan are (issue 12, item
# 6): an id past the table in the training or the test set stops train
# before any step, and eval, with exit 2 and the file, sample and position;
# in-range ids train.
# usage: scan_ids.sh BUILD_NNIR LIBNNRT SOURCE_DIR   (exit 77: no numpy)
set -eu
build=$1 nnrt=$2 src=$3
py=/usr/bin/python3
[ -x "$py" ] && "$py" -c "import numpy" 2> /dev/null || { echo "skipped: no numpy"; exit 77; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
"$build" "$src/tests/hardening/scan_ids.nnir" scan "$nnrt" > /dev/null
mkdir good badtrain badtest
"$py" - <<'PY'
import numpy as np
r = np.random.default_rng(3)
for split, n in (("train", 64), ("test", 16)):
    x = r.integers(0, 50, (n, 6)).astype(np.int32)
    y = (x[:, -1] >= 25).astype(np.int32)
    for d in ("good", "badtrain", "badtest"):
        xd = x.copy()
        if d == "bad" + split: xd[3, 2] = 50 if split == "train" else -1
        np.save(f"{d}/{split}_x.npy", xd); np.save(f"{d}/{split}_y.npy", y)
PY

fail() { echo "FAIL: $1"; cat err.txt; exit 1; }
# expect2 MESSAGE CMD...: exit 2, MESSAGE on stderr, no step logged
expect2() {
  msg=$1; shift
  rm -f log.csv
  rc=0; "$@" > out.txt 2> err.txt || rc=$?
  [ "$rc" = 2 ] || fail "'$*' exited $rc, expected 2"
  grep -qF "$msg" err.txt || fail "'$*' did not say: $msg"
  ! grep -q '^step' log.csv 2> /dev/null || fail "'$*' ran a step before the bad id was found"
}
./scan train --data good --epochs 2 --quiet --checkpoint c.st > out.txt 2> err.txt || fail "train on good ids"
grep -q "test_acc" out.txt || fail "no test accuracy"
expect2 "badtrain/train_x.npy: offset 208: sample 3, position 2: input id 50 is out of range for an embedding of 50 rows (ids must be in [0, 50))" \
  ./scan train --data badtrain --epochs 2 --quiet --log log.csv
expect2 "badtest/test_x.npy: offset 208: sample 3, position 2: input id -1 is out of range for an embedding of 50 rows" \
  ./scan train --data badtest --epochs 2 --quiet --log log.csv
expect2 "badtest/test_x.npy: offset 208: sample 3, position 2: input id -1 is out of range" \
  ./scan eval --data badtest --checkpoint c.st
echo ok
