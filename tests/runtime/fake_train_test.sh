#!/bin/sh
# fake_train_test.sh — end-to-end tests of a binary built from libnnrt and the
# hand-written model in fake_model.c, on Fashion-MNIST.
#
#   fake_train_test.sh FAKE_TRAIN DATA_DIR MODE
#   MODE: steps   200 steps; the loss must fall (mean of the last 20 step
#                 losses in the CSV log below 0.7 x the first 20's)
#         epoch   1 epoch must reach >= 0.80 test accuracy
#         resume  --steps then --resume gives a checkpoint byte-identical to
#                 an uninterrupted run; SIGTERM saves and exits 143
#         cli     exit codes and messages for bad options and bad files;
#                 predict agrees with eval; Python can read the checkpoint
#         text    (DATA_DIR: Debian's fortunes) the data command, a text data
#                 set through train and eval, the vocabulary inside the
#                 checkpoint (never rewritten by a new run's data loading),
#                 an older checkpoint's vocabulary file beside it
# Exits 77 (skipped) when the data set is not installed.
set -u
BIN=$1
DATA=$2
MODE=$3
HERE=$(dirname "$0")
. "$HERE/expect.sh"
if [ "$MODE" = text ]; then
  if [ ! -f "$DATA/computers" ]; then
    echo "SKIP: $DATA has no fortunes (apt-get install fortunes)"
    exit 77
  fi
else
  need_fashion "$DATA"
fi
test_dir nnrt_e2e

case $MODE in
steps)
  expect 0 "test_acc" "$BIN" train --steps 200 --quiet --data "$DATA" --log "$T/log.csv"
  awk -F, '$1 == "step" { n++; loss[n] = $4 }
    END {
      if (n != 200) { print "FAIL: expected 200 step rows, found " n; exit 1 }
      for (i = 1; i <= 20; i++) { a += loss[i]; b += loss[n - 20 + i] }
      printf "mean loss: first 20 steps %.4f, last 20 steps %.4f\n", a / 20, b / 20
      if (!(b < 0.7 * a)) { print "FAIL: the loss did not fall"; exit 1 }
    }' "$T/log.csv" || FAILED=1
  grep -q '^epoch,1,200,' "$T/log.csv" || fail "no epoch row for the partial epoch"
  grep -q '^test,0,200,' "$T/log.csv" || fail "no test row"
  ;;

epoch)
  "$BIN" train --epochs 1 --quiet --data "$DATA" >"$T/out" 2>&1 || fail "train failed"
  cat "$T/out"
  awk '/test_acc/ { for (i = 1; i <= NF; i++) if ($i == "test_acc:") acc = $(i + 1) }
    END { if (!(acc >= 0.80)) { print "FAIL: test accuracy " acc " < 0.80"; exit 1 } }' \
    "$T/out" || FAILED=1
  ;;

resume)
  # 1800 training samples (2000 less 10% for validation): 57 steps an epoch,
  # so 70 steps stop inside epoch 2 and the resumed run crosses an epoch
  # boundary.
  small_copy
  set -- --epochs 3 --quiet --data "$S"
  expect 0 "" "$BIN" train "$@" --checkpoint "$T/full.st" --log "$T/full.csv"
  expect 0 "" "$BIN" train "$@" --checkpoint "$T/part.st" --steps 70 --log "$T/part.csv"
  expect 0 "" "$BIN" train "$@" --checkpoint "$T/part.st" --resume --log "$T/part.csv"
  cmp -s "$T/full.st" "$T/part.st" || fail "resumed checkpoint differs from an uninterrupted run"
  # the step rows of both logs agree (the column of elapsed seconds aside)
  grep '^step' "$T/full.csv" | cut -d, -f1-5 >"$T/a"
  grep '^step' "$T/part.csv" | cut -d, -f1-5 >"$T/b"
  cmp -s "$T/a" "$T/b" || fail "resumed step log differs"
  [ "$(wc -l <"$T/a")" -eq 171 ] || fail "expected 171 step rows"
  expect 2 "--resume needs --checkpoint" "$BIN" train --resume
  expect 2 "does not exist" "$BIN" train --resume --checkpoint "$T/none.st"
  # a checkpoint without a training position (same-length edit of the header)
  LC_ALL=C sed 's/"epoch":/"epocX":/' "$T/full.st" >"$T/nometa.st"
  expect 2 "has no valid \"epoch\"" "$BIN" train "$@" --resume --checkpoint "$T/nometa.st"

  # SIGTERM (a script's background job ignores SIGINT; both take one path):
  # the step finishes, the checkpoint is saved, exit 143.
  "$BIN" train --epochs 100000 --data "$S" --checkpoint "$T/sig.st" --log "$T/sig.csv" \
    >"$T/sig.out" 2>&1 &
  pid=$!
  wait_for '^epoch,2,' "$T/sig.csv"
  kill -TERM $pid
  wait $pid
  rc=$?
  [ $rc -eq 143 ] || fail "SIGTERM: exit $rc (want 143)"
  grep -q "terminated at epoch" "$T/sig.out" || fail "SIGTERM: no message"
  expect 0 "test_acc" "$BIN" eval --checkpoint "$T/sig.st" --data "$S"
  ;;

cli)
  expect 0 "train" "$BIN" --help
  expect 0 "--val-split F" "$BIN" train --help
  expect 0 "[default: 2]" "$BIN" train --help
  expect 0 "--checkpoint FILE" "$BIN" eval --help
  expect 0 "--input FILE" "$BIN" help predict
  expect 0 "ABI 11" "$BIN" --version
  expect 0 "[default: none]" "$BIN" train --help
  expect 2 "--schedule: unknown schedule 'linear' (expected step, cosine, plateau or none)" "$BIN" train --schedule linear
  expect 2 "--schedule: gamma must be positive, got 0" "$BIN" train --schedule 'step(gamma: 0)'
  expect 2 "--early-stop: 'val_f1' is not a metric to monitor" "$BIN" train --early-stop val_f1
  expect 2 "--checkpoint-best /nonexistent/b.st: cannot write to directory /nonexistent" "$BIN" train \
    --checkpoint-best /nonexistent/b.st
  expect 2 "--plot /nonexistent/p.svg: cannot write to directory /nonexistent" "$BIN" train --plot /nonexistent/p.svg
  expect 2 "early stopping monitors val_loss but there is no validation set" "$BIN" train --val-split 0 \
    --early-stop val_loss --data "$DATA"
  expect 2 "usage:" "$BIN"
  expect 2 "unknown command 'fit'" "$BIN" fit
  expect 2 "unknown option '--epoch'" "$BIN" train --epoch 3
  expect 2 "--epochs: expected a positive integer, got 'abc'" "$BIN" train --epochs abc
  expect 2 "--lr: expected a positive number, got '-1'" "$BIN" train --lr=-1
  expect 2 "--val-split: expected a number in [0, 1)" "$BIN" train --val-split 1
  expect 2 "needs a value" "$BIN" train --epochs
  expect 2 "takes no value" "$BIN" train --quiet=1
  expect 2 "not an option of eval" "$BIN" eval --epochs 3 --checkpoint x
  expect 2 "eval needs --checkpoint" "$BIN" eval
  expect 2 "predict needs --input" "$BIN" predict --checkpoint x
  expect 2 "unexpected argument 'foo'" "$BIN" train foo
  expect 2 "no such directory" "$BIN" train --data "$T/nowhere"
  expect 2 "cannot write to directory $T/nowhere" "$BIN" train --data "$DATA" \
    --checkpoint "$T/nowhere/c.st"

  # bad data files: truncated gzip, wrong magic, count mismatch
  mkdir "$T/d"
  for f in train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz; do
    ln -s "$DATA/$f" "$T/d/$f"
  done
  head -c 100000 "$DATA/train-images-idx3-ubyte.gz" >"$T/d/train-images-idx3-ubyte.gz"
  expect 2 "train-images-idx3-ubyte.gz: offset 16: expected 47040000 bytes" \
    "$BIN" train --data "$T/d" --steps 1
  rm "$T/d/train-images-idx3-ubyte.gz"
  printf 'not an idx file' >"$T/d/train-images-idx3-ubyte"
  expect 2 "train-images-idx3-ubyte: offset 0: bad magic number" \
    "$BIN" train --data "$T/d" --steps 1
  rm "$T/d/train-images-idx3-ubyte"
  ln -s "$DATA/t10k-images-idx3-ubyte.gz" "$T/d/train-images-idx3-ubyte.gz"
  expect 2 "train-labels-idx1-ubyte.gz: offset 4: expected 10000 labels" \
    "$BIN" train --data "$T/d" --steps 1

  # a checkpoint; bad checkpoints
  small_copy
  expect 0 "test_acc" "$BIN" train --steps 300 --quiet --data "$S" --checkpoint "$T/c.st"
  expect 2 "cannot open" "$BIN" eval --checkpoint "$T/none.st" --data "$S"
  printf 'garbage!' >"$T/bad.st"
  expect 2 "header length" "$BIN" eval --checkpoint "$T/bad.st" --data "$S"
  head -c 1000 "$T/c.st" >"$T/short.st"
  expect 2 "is past the data section" "$BIN" eval --checkpoint "$T/short.st" --data "$S"

  # a diverging run stops with exit 3 and leaves the checkpoint alone
  cp "$T/c.st" "$T/c2.st"
  expect 3 "loss is NaN at epoch 1, step" "$BIN" train --lr 3e38 --data "$S" --checkpoint "$T/c2.st" --overwrite
  cmp -s "$T/c.st" "$T/c2.st" || fail "a NaN run changed the checkpoint"

  # eval and predict agree: predict's classes vs the test labels
  expect 0 "confusion matrix" "$BIN" eval --checkpoint "$T/c.st" --data "$S"
  acc=$(awk '/test_acc/ { for (i = 1; i <= NF; i++) if ($i == "test_acc:") print $(i + 1) }' \
    "$T/out")
  # the report: sklearn's classification_report layout with Fashion-MNIST's
  # class names, supports summing to the 500 test samples, and a confusion
  # matrix whose diagonal gives test_acc
  awk -v acc="$acc" '
    BEGIN { split("T-shirt/top,Trouser,Pullover,Dress,Coat,Sandal,Shirt,Sneaker,Bag,Ankle boot", name, ",") }
    function bad(m) { print "FAIL: eval report: " m ": " $0; err = 1 }
    /^ +precision    recall  f1-score   support$/ { head = NR; next }
    head && NR == head + 1 && $0 != "" { bad("no blank line after the header") }
    head && NR >= head + 2 && NR <= head + 11 {
      c = NR - head - 1
      want = sprintf("%12s  ", name[c])
      if (substr($0, 1, 14) != want || $0 !~ /^ *[A-Za-z][A-Za-z\/ -]* +[01]\.[0-9][0-9] +[01]\.[0-9][0-9] +[01]\.[0-9][0-9] +[0-9]+$/) bad("class row " c)
      support += $NF
    }
    head && NR == head + 12 && $0 != "" { bad("no blank line after the classes") }
    $0 ~ /^    accuracy/ && $0 == sprintf("%12s  %9s %9s %9s %9s", "accuracy", "", "", $2, "500") && $2 ~ /^[01]\.[0-9][0-9]$/ { rows++ }
    /^   macro avg +[01]\.[0-9][0-9] +[01]\.[0-9][0-9] +[01]\.[0-9][0-9] +500$/ { rows++ }
    /^weighted avg +[01]\.[0-9][0-9] +[01]\.[0-9][0-9] +[01]\.[0-9][0-9] +500$/ { rows++ }
    /^confusion matrix/ { cm = NR; next }
    cm && NR >= cm + 2 && NR <= cm + 11 {
      c = NR - cm - 2
      if ($1 != c) bad("matrix row " c)
      for (j = 0; j < 10; j++) { total += $(NF - 9 + j); if (j == c) diag += $(NF - 9 + j) }
    }
    END {
      if (!head) bad("no header")
      if (support != 500) bad("supports sum to " support)
      if (rows != 3) bad(rows " of the accuracy/macro/weighted rows")
      if (total != 500) bad("the matrix sums to " total)
      d = diag / 500 - acc; if (d < 0) d = -d
      if (d > 0.00005) bad("matrix accuracy " diag / 500 " vs test_acc " acc)
      exit err
    }' "$T/out" || FAILED=1
  "$BIN" predict --checkpoint "$T/c.st" --input "$S/t10k-images-idx3-ubyte" >"$T/pred" ||
    fail "predict failed"
  tail -c +9 "$S/t10k-labels-idx1-ubyte" | od -An -v -tu1 | tr -s ' ' '\n' | grep -v '^$' \
    >"$T/labels"
  # each line: class, tab, Fashion-MNIST's name of it
  awk -F'\t' 'BEGIN { split("T-shirt/top,Trouser,Pullover,Dress,Coat,Sandal,Shirt,Sneaker,Bag,Ankle boot", name, ",") }
    NF != 2 || $2 != name[$1 + 1] { print "FAIL: predict line " NR ": " $0; exit 1 }' "$T/pred" || FAILED=1
  cut -f1 "$T/pred" | paste -d' ' - "$T/labels" | awk -v acc="$acc" '
    $1 == $2 { ok++ } END {
      if (NR != 500) { print "FAIL: predict gave " NR " rows"; exit 1 }
      d = ok / NR - acc; if (d < 0) d = -d
      if (d > 0.001) { print "FAIL: predict accuracy " ok / NR " vs eval " acc; exit 1 }
    }' || FAILED=1
  # a .npy input: three rows
  python=""
  for p in ${PYTHON:-} python3 /usr/bin/python3; do
    if "$p" -c 'import numpy' 2>/dev/null; then python=$p; break; fi
  done
  if [ -n "$python" ]; then
    "$python" -c "import numpy as np
np.save('$T/x.npy', np.zeros((3, 28, 28), np.float32))
np.save('$T/y.npy', np.zeros((3, 27), np.uint8))"
    expect 0 "" "$BIN" predict --checkpoint "$T/c.st" --input "$T/x.npy"
    [ "$(wc -l <"$T/out")" -eq 3 ] || fail "predict on x.npy: expected 3 lines"
    expect 2 "y.npy: offset 10: samples of shape [3, 27] have 27 values per sample, but model" \
      "$BIN" predict --checkpoint "$T/c.st" --input "$T/y.npy"
    # another reader: the checkpoint as Python's safetensors would see it
    "$python" "$HERE/check_safetensors.py" "$T/c.st" "$S" "$acc" || FAILED=1
  else
    echo "note: no Python with numpy; .npy predict and the Python reader check skipped"
  fi
  ;;

text)
  # The fake model reads 784 F32 features: word ids stand in for pixels. It
  # learns nothing useful; what is tested is the plumbing.
  SPEC="fortunes:computers,science?len=784&vocab=50&dir=$DATA"
  expect 0 "majority rate" "$BIN" data --data "fortunes:computers,science?dir=$DATA"
  expect 0 "fortunes-chars:CAT" "$BIN" data --help
  expect 0 "train: " "$BIN" data --data "fortunes-chars:computers?len=64&dir=$DATA" --samples 1
  expect 2 "needs two or more categories" "$BIN" data --data "fortunes:computers"
  expect 2 "--samples: expected an integer from 0 to 1000" "$BIN" data --samples x
  expect 2 "no such fortune category" "$BIN" train --data "fortunes:computers,nosuch?dir=$DATA" --steps 1
  expect 0 "" "$BIN" train --data "$SPEC" --steps 5 --quiet --checkpoint "$T/c.st"
  # the vocabulary is inside the checkpoint (issue 12, item 3): 50 lines
  [ ! -e "$T/c.st.vocab.txt" ] || fail "a vocabulary file beside the checkpoint"
  words=$(LC_ALL=C grep -ao '"nnrt.vocab":"[^"]*"' "$T/c.st" | sed 's/^"nnrt.vocab":"//; s/"$//; s/\\n/\n/g')
  [ "$(printf '%s' "$words" | head -n 2 | tr '\n' ' ')" = "<pad> <unk> " ] || fail "vocabulary in $T/c.st: $words"
  [ "$(printf '%s\n' "$words" | wc -l)" -eq 50 ] || fail "the vocabulary has $(printf '%s\n' "$words" | wc -l) lines, not 50"
  expect 0 "" "$BIN" eval --data "$SPEC" --checkpoint "$T/c.st"
  # the report names the categories
  grep -q '^   computers  *[01]\.[0-9][0-9] ' "$T/out" && grep -q '^     science  *[01]\.[0-9][0-9] ' "$T/out" &&
    grep -q '^0 computers  *[0-9]' "$T/out" || fail "eval report lacks the category names: $(cat "$T/out")"
  expect 0 "vocabulary: 50 ids (48 words) from the checkpoint" "$BIN" data --data "$SPEC" --checkpoint "$T/c.st"
  cp "$T/c.st" "$T/before.st"
  expect 0 "" "$BIN" eval --data "$SPEC" --checkpoint "$T/c.st"
  cp "$T/out" "$T/eval_before"
  # a new run on other data that fails: before, it had already replaced
  # c.st.vocab.txt while loading its data; now it writes nothing at all,
  # with --overwrite too, and the checkpoint still evaluates as before
  expect 3 "loss is NaN" "$BIN" train --data "fortunes:computers,linux?len=784&vocab=40&dir=$DATA" --steps 5 \
    --lr 3e38 --checkpoint "$T/c.st" --overwrite
  cmp -s "$T/c.st" "$T/before.st" || fail "a failed run changed the checkpoint"
  [ ! -e "$T/c.st.vocab.txt" ] || fail "a failed run wrote a vocabulary file"
  expect 0 "" "$BIN" eval --data "$SPEC" --checkpoint "$T/c.st"
  cmp -s "$T/out" "$T/eval_before" || fail "eval changed after a failed run: $(cat "$T/out")"
  # --resume keeps the checkpoint's vocabulary, whatever the data would build
  expect 0 "" "$BIN" train --data "fortunes:computers,science?len=784&vocab=60&dir=$DATA" --steps 6 --quiet \
    --checkpoint "$T/c.st" --resume
  LC_ALL=C grep -ao '"nnrt.vocab":"[^"]*"' "$T/before.st" >"$T/v1"
  LC_ALL=C grep -ao '"nnrt.vocab":"[^"]*"' "$T/c.st" >"$T/v2"
  cmp -s "$T/v1" "$T/v2" || fail "--resume changed the vocabulary"
  # --init from it on data with another vocabulary: refused, nothing written
  expect 2 "--init $T/c.st was trained with another vocabulary (50 ids) than this data set's (40 ids)" "$BIN" train \
    --data "fortunes:computers,linux?len=784&vocab=40&dir=$DATA" --steps 1 --init "$T/c.st" --checkpoint "$T/i.st"
  [ ! -e "$T/i.st" ] || fail "a refused --init run wrote its checkpoint"
  expect 0 "" "$BIN" train --data "$SPEC" --steps 1 --quiet --init "$T/c.st" --checkpoint "$T/i.st"
  # a vocabulary file beside it (an older nnc's) that does not match is refused
  printf '<pad>\n<unk>\nthe\n' >"$T/c.st.vocab.txt"
  expect 2 "c.st.vocab.txt does not match the vocabulary saved in $T/c.st" "$BIN" eval --data "$SPEC" --checkpoint "$T/c.st"
  # an older checkpoint (no nnrt.vocab: the key renamed in place) uses the file beside it
  LC_ALL=C sed 's/"nnrt.vocab":/"nnrt.vocaX":/' "$T/before.st" >"$T/old.st"
  printf '<pad>\n<unk>\nthe\n' >"$T/old.st.vocab.txt"
  expect 0 "vocabulary: 3 ids (1 words) from the vocabulary file" "$BIN" data --data "$SPEC" --checkpoint "$T/old.st"
  printf 'bad\n' >"$T/old.st.vocab.txt"
  expect 2 "old.st.vocab.txt:1: expected '<pad>', found 'bad'" "$BIN" eval --data "$SPEC" --checkpoint "$T/old.st"
  ;;

*)
  unknown_mode
  ;;
esac

finish "$MODE"
