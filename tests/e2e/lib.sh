# lib.sh — what the e2e shell tests that count their failures share
# (cuda_cli.sh, qat.sh, ptq_int8.sh), sourced first:
#   . "$(dirname "$0")/lib.sh"
# a temporary directory $tmp, removed when the test exits; bad, which
# reports and counts a failure; expect and says, checks of a command's exit
# code and stderr; finish, the verdict.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }
# expect CODE CMD...: runs CMD (stdout to $tmp/out, stderr to $tmp/err),
# checks its exit code
expect() {
  want=$1; shift
  "$@" >"$tmp/out" 2>"$tmp/err"; got=$?
  [ "$got" = "$want" ] || { bad "$* exited $got, expected $want"; cat "$tmp/err"; }
}
# says TEXT: the last expect's stderr holds TEXT
says() { grep -q -- "$1" "$tmp/err" || { bad "stderr lacks '$1'"; cat "$tmp/err"; }; }
# finish: "ok", or the failure count and exit 1
finish() {
  if [ "$fails" = 0 ]; then echo ok; else echo "$fails failures"; exit 1; fi
}
