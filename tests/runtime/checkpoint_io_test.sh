#!/bin/sh
# checkpoint_io_test.sh — a checkpoint write that cannot finish never costs
# the previous checkpoint, and leaves no litter (issue 12, item 5):
#  - temp files a killed writer left beside the checkpoint (F.tmp.XXXXXX,
#    between mkstemp and rename) are removed by the next write of F; other
#    files that merely look alike stay;
#  - past the file size limit (ulimit -f) the binary is not killed by
#    SIGXFSZ: it says which checkpoint it could not write, exits 1, and the
#    previous checkpoint keeps its bytes.
#
#   checkpoint_io_test.sh FAKE_TRAIN DATA_DIR
set -u
BIN=$1
DATA=$2
. "$(dirname "$0")/expect.sh"
need_fashion "$DATA"
test_dir nnrt_ckio

"$BIN" train --steps 3 --quiet --data "$DATA" --checkpoint "$T/c.st" > /dev/null 2>&1 || fail "first run"
for x in AbC123 zz9Zz0 000000; do echo litter > "$T/c.st.tmp.$x"; done
echo keep > "$T/c.st.tmp.seven77"
echo keep > "$T/other.st.tmp.AbC123"
"$BIN" train --resume --steps 6 --quiet --data "$DATA" --checkpoint "$T/c.st" > /dev/null 2>&1 || fail "resumed run"
left=$(ls "$T" | grep -c '^c\.st\.tmp\.......$')
[ "$left" = 0 ] || fail "$left stale temp files left: $(ls "$T")"
[ -f "$T/c.st.tmp.seven77" ] && [ -f "$T/other.st.tmp.AbC123" ] || fail "removed files that are not its temp files"

cp "$T/c.st" "$T/before.st"
size=$(wc -c < "$T/c.st")
blocks=$(( size / 1024 / 2 )) # ulimit -f counts 1024-byte blocks (bash, dash): half the checkpoint
rc=0
(ulimit -f "$blocks" && exec "$BIN" train --resume --steps 9 --quiet --data "$DATA" --checkpoint "$T/c.st") \
  > "$T/out.txt" 2> "$T/err.txt" || rc=$?
[ "$rc" = 1 ] || { cat "$T/err.txt"; fail "exit $rc past the file size limit, expected 1"; }
grep -q "c.st: cannot write it: the file size limit (ulimit -f) is smaller than the file; the previous version is unchanged" \
  "$T/err.txt" || { cat "$T/err.txt"; fail "message"; }
grep -q "tmp\." "$T/err.txt" && { cat "$T/err.txt"; fail "the message names the temp file"; }
cmp -s "$T/c.st" "$T/before.st" || fail "the previous checkpoint changed"
left=$(ls "$T" | grep -c '^c\.st\.tmp\.......$')
[ "$left" = 0 ] || fail "the failed write left a temp file"
finish checkpoint_io
