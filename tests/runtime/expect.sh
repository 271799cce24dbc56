# expect.sh — helpers the runtime's shell tests source (fake_train_test.sh,
# device_test.sh, checkpoint_safety_test.sh, checkpoint_io_test.sh): the
# test's directory $T (test_dir), the skip without Fashion-MNIST
# (need_fashion), fail, expect, wait_for and small_copy, and the verdict
# (finish, unknown_mode).
FAILED=0

# test_dir NAME: $T, a new directory NAME.XXXXXX, removed when the test exits.
test_dir() {
  T=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
  trap 'rm -rf "$T"' EXIT
}

# need_fashion DIR: exits 77 (ctest's skip) when DIR has no Fashion-MNIST.
need_fashion() {
  if [ ! -f "$1/train-images-idx3-ubyte.gz" ]; then
    echo "SKIP: $1 has no Fashion-MNIST"
    exit 77
  fi
}

fail() {
  echo "FAIL: $*"
  FAILED=1
}

# expect CODE PATTERN CMD...: runs CMD, checks its exit code and that its
# stderr+stdout contain PATTERN (a fixed string; empty: anything).
expect() {
  code=$1
  pat=$2
  shift 2
  "$@" >"$T/out" 2>&1
  rc=$?
  if [ "$rc" -ne "$code" ]; then
    fail "exit $rc (want $code): $*"
    sed 's/^/    /' "$T/out" | head -5
  elif [ -n "$pat" ] && ! grep -qF -- "$pat" "$T/out"; then
    fail "output lacks '$pat': $*"
    sed 's/^/    /' "$T/out" | head -5
  fi
}

# wait_for PATTERN FILE: until FILE (a log being written) has a line
# matching PATTERN (grep's), 10 s at the most; 1 if it never came.
wait_for() {
  waited=0
  while ! grep -q "$1" "$2" 2>/dev/null; do
    [ $waited -lt 200 ] || return 1
    sleep 0.05
    waited=$((waited + 1))
  done
}

# small_copy: into $S=$T/small, from Fashion-MNIST in $DATA, a small
# uncompressed subset (2000 training, 500 test samples): runs that
# check behaviour rather than accuracy load and evaluate in no time, and the
# loader's plain-file path is exercised too. IDX headers: magic, counts
# (2000 = 0x7d0, 500 = 0x1f4), 28, 28.
small_copy() {
  S=$T/small
  mkdir "$S"
  { printf '\000\000\010\003\000\000\007\320\000\000\000\034\000\000\000\034'
    gzip -dc "$DATA/train-images-idx3-ubyte.gz" | tail -c +17 | head -c 1568000; } \
    >"$S/train-images-idx3-ubyte"
  { printf '\000\000\010\001\000\000\007\320'
    gzip -dc "$DATA/train-labels-idx1-ubyte.gz" | tail -c +9 | head -c 2000; } \
    >"$S/train-labels-idx1-ubyte"
  { printf '\000\000\010\003\000\000\001\364\000\000\000\034\000\000\000\034'
    gzip -dc "$DATA/t10k-images-idx3-ubyte.gz" | tail -c +17 | head -c 392000; } \
    >"$S/t10k-images-idx3-ubyte"
  { printf '\000\000\010\001\000\000\001\364'
    gzip -dc "$DATA/t10k-labels-idx1-ubyte.gz" | tail -c +9 | head -c 500; } \
    >"$S/t10k-labels-idx1-ubyte"
}

# unknown_mode: the test was given a MODE it does not have: exit 2.
unknown_mode() {
  echo "$(basename "$0"): unknown mode $MODE"
  exit 2
}

# finish NAME: the verdict, "NAME: ok", or "NAME: FAILED" and exit 1 after
# any fail.
finish() {
  if [ "$FAILED" -ne 0 ]; then
    echo "$1: FAILED"
    exit 1
  fi
  echo "$1: ok"
}
