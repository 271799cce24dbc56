#!/bin/sh
# Fault injection sweep (issue 12, "Also"): every open, write, fsync,
# rename and runtime allocation of a checkpointed training run is made to
# fail in turn (NNRT_FAULT=OP:N, runtime/rt_fault.h), for a fresh run and
# for a --resume run. After each injected fault:
#   - the fault fired, and the run ended with exit 1, 2 or 3 (no crash, no
#     signal) and an error line naming the file or the operation;
#   - no sanitizer or leak report (in the ASan build);
#   - the checkpoint is absent (a fresh run failing before its first save)
#     or byte-identical to an uninterrupted run's checkpoint after some epoch
#     (for --resume: the one it started from or a later one), and it loads;
#   - no temporary file is left beside it;
#   - a vocabulary file beside the word model's checkpoint, where nnc
#     writes one, is the uninterrupted run's.
# usage: fault_sweep.sh NNC SOURCE_DIR
set -eu
nnc=$1 src=$2
. "$src/tests/hardening/common.sh"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
"$nnc" build "$src/tests/hardening/tiny_mlp.nn" -o tiny 2> /dev/null
"$nnc" build "$src/tests/hardening/tiny_text.nn" -o text 2> /dev/null
"$nnc" build "$src/tests/hardening/tiny_tab.nn" -o tab 2> /dev/null
subset_fashion data 256 64
gzip data/t10k-* # the test split through gzip, the training split plain
# The model under test: its binary and data option.
bin=tiny data="--data $tmp/data"
run() { ./$bin train $data --quiet "$@"; }

# Reference checkpoints after epochs 1, 2 and 3 of an uninterrupted run.
mkdir ref
run --epochs 1 --checkpoint ref/c.st > /dev/null && cp ref/c.st e1.st
run --epochs 2 --checkpoint ref/c.st --resume > /dev/null && cp ref/c.st e2.st
run --epochs 3 --checkpoint ref/c.st --resume > /dev/null && cp ref/c.st e3.st

# check RC REFS MUST WHAT: the assertions above for the run that left s/
# (REFS: the checkpoints it may hold; MUST: "must" when it must hold one).
check() {
  rc=$1 refs=$2 must=$3 what=$4
  fail() { echo "FAIL ($what): $1"; cat s/err; exit 1; }
  grep -q "^NNRT_FAULT: failing" s/err || fail "the fault did not fire"
  case $rc in 1 | 2 | 3) ;; 124) fail "hung (killed after 60 s)" ;; *) fail "exit $rc" ;; esac
  ! grep -q "Sanitizer\|runtime error:" s/err || fail "sanitizer report"
  grep -q "^$bin: error: .*\(c\.st\|log\.csv\|out of memory\|cannot\)" s/err ||
    fail "no error naming the file or operation"
  if [ -f s/c.st ]; then
    same=
    for e in $refs; do cmp -s s/c.st "$e" && same=$e; done
    [ -n "$same" ] || fail "c.st is none of the uninterrupted run's checkpoints $refs"
    ./$bin eval $data --checkpoint s/c.st > /dev/null 2>&1 || fail "c.st does not load"
    if [ -f ref/c.st.vocab.txt ]; then
      cmp -s s/c.st.vocab.txt ref/c.st.vocab.txt || fail "the vocabulary beside c.st is missing or differs"
    fi
  elif [ "$must" = must ]; then
    fail "c.st is gone"
  fi
  no_temps s/c.st || fail "temporary files"
}

# calls N: the calls of an op to fail, of the N a run makes: every one up to
# 120; beyond (the word model allocates each vocabulary word: about 20000
# mallocs) the first 60, the last 30 and 30 evenly spaced between, so that
# every allocation site before, after and among the repeated ones fails.
calls() {
  awk -v n="$1" 'BEGIN {
    if (n <= 120) { for (i = 1; i <= n; i++) print i; exit }
    for (i = 1; i <= 60; i++) print i
    for (k = 1; k <= 30; k++) print 60 + int(k * (n - 90) / 31)
    for (i = n - 29; i <= n; i++) print i }'
}

total=0
sweep() { # sweep NAME SETUP_FILES ALLOWED_REFS MUST_EXIST ARGS...
  name=$1 setup=$2 refs=$3 must=$4
  shift 4
  rm -rf s && mkdir s && { [ -z "$setup" ] || cp $setup s/; }
  (cd s && NNRT_FAULT=count "$tmp/$bin" train $data --quiet "$@" > /dev/null 2> err) ||
    { echo "FAIL: the $name run without faults failed"; cat s/err; exit 1; }
  counts=$(sed -n 's/^NNRT_FAULT count: //p' s/err)
  echo "$name: $counts"
  for kv in $counts; do
    op=${kv%=*} n=${kv#*=}
    for i in $(calls "$n"); do
      rm -rf s && mkdir s && { [ -z "$setup" ] || cp $setup s/; }
      rc=0
      (cd s && NNRT_FAULT=$op:$i timeout 60 "$tmp/$bin" train $data --quiet "$@" > /dev/null 2> err) || rc=$?
      check "$rc" "$refs" "$must" "$name, NNRT_FAULT=$op:$i"
      total=$((total + 1))
    done
  done
}

# A fresh run saving after each of 3 epochs, with a CSV log.
sweep fresh "" "$tmp/e1.st $tmp/e2.st $tmp/e3.st" may --epochs 3 --checkpoint c.st --log log.csv
# A resumed run from epoch 1's checkpoint and its log.
run --epochs 1 --checkpoint ref/r.st --log ref/log.csv > /dev/null
cp ref/r.st c.st && cp ref/log.csv log.csv
sweep resume "$tmp/c.st $tmp/log.csv" "$tmp/e1.st $tmp/e2.st $tmp/e3.st" must --epochs 3 --checkpoint c.st --log log.csv --resume

# The word model: a fresh run saves the vocabulary with two checkpoints; a
# resumed one reads it back.
bin=text data=
rm -rf ref e1.st e2.st e3.st c.st* log.csv && mkdir ref
run --epochs 1 --checkpoint ref/c.st > /dev/null && cp ref/c.st e1.st
run --epochs 2 --checkpoint ref/c.st --resume > /dev/null && cp ref/c.st e2.st
sweep text-fresh "" "$tmp/e1.st $tmp/e2.st" may --epochs 2 --checkpoint c.st
run --epochs 1 --checkpoint r.st > /dev/null
cp r.st c.st && setup="$tmp/c.st"
# (the vocabulary is inside the checkpoint; a file beside it is older nnc's)
if [ -f r.st.vocab.txt ]; then cp r.st.vocab.txt c.st.vocab.txt && setup="$setup $tmp/c.st.vocab.txt"; fi
sweep text-resume "$setup" "$tmp/e1.st $tmp/e2.st" must --epochs 2 --checkpoint c.st --resume
# The tabular model on a CSV file (class names in the label column) and on
# .npy files (f8 features and i8 labels: converted through a buffer), fresh
# runs: the CSV and .npy loaders' opens and allocations.
bin=tab
awk 'BEGIN { srand(7); print "a,b,c,d,kind"
  for (i = 0; i < 160; i++) { k = i % 3; printf "%.4f,%.4f,%.4f,%.4f,%s\n", rand() + k, rand() - k, rand(), rand() * k,
    k == 0 ? "setosa" : k == 1 ? "versicolor" : "virginica" } }' > t.csv
for form in csv npy; do
  if [ $form = csv ]; then
    data="--data $tmp/t.csv?label=kind"
  else
    # the CSV's rows as .npy files: train the first 120, test the other 40
    /usr/bin/python3 -c "import numpy" 2> /dev/null || { echo "(no numpy: the .npy loader is not swept)"; continue; }
    mkdir npy && /usr/bin/python3 - <<'PY'
import numpy as np
names = ["setosa", "versicolor", "virginica"]
rows = [l.strip().split(",") for l in open("t.csv").read().splitlines()[1:]]
x = np.array([[float(v) for v in r[:4]] for r in rows], dtype="<f8")
y = np.array([names.index(r[4]) for r in rows], dtype="<i8")
for split, sl in (("train", slice(0, 120)), ("test", slice(120, None))):
    np.save(f"npy/{split}_x.npy", x[sl]); np.save(f"npy/{split}_y.npy", y[sl])
PY
    data="--data $tmp/npy"
  fi
  rm -rf ref e1.st e2.st c.st* && mkdir ref
  run --epochs 1 --checkpoint ref/c.st > /dev/null && cp ref/c.st e1.st
  run --epochs 2 --checkpoint ref/c.st --resume > /dev/null && cp ref/c.st e2.st
  sweep "tab-$form" "" "$tmp/e1.st $tmp/e2.st" may --epochs 2 --checkpoint c.st
done
echo "ok: $total injected faults, each a clear error with the checkpoint whole"
