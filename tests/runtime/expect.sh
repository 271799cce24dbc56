# expect.sh — helpers the runtime's shell tests source (fake_train_test.sh,
# device_test.sh): fail and expect, writing into the test's directory $T.
FAILED=0

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
