#!/bin/sh
# Which cuBLASLt epilogue each GEMM of tests/cuda/models/lt_epilogues.nn
# takes (codegen/cuda/lt.c), as `nnc build -v --target=cuda` reports it (by
# default: --target=cuda forms the GEMM groups itself):
# the lines must be lt_epilogues.expected's, the emitted source must say
# the same in its comments, and --no-lt-epilogue must leave every GEMM to
# nnrt_cu_sgemm and its epilogue kernel, and every sum a reduction kernel. (The numbers the choices compute
# are cuda_lt_*'s comparisons with the CPU backend.)
# usage: lt.sh NNC SOURCE_DIR
set -e
nnc=$1 src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
model=$src/tests/cuda/models/lt_epilogues.nn
"$nnc" build "$model" --target=cuda --emit=cuda -v -o "$tmp/lt.cu" 2>"$tmp/v.txt"
grep '^nnc: gemm ' "$tmp/v.txt" >"$tmp/got.txt" || true
if ! diff -u "$src/tests/cuda/lt_epilogues.expected" "$tmp/got.txt"; then
  echo "FAIL: the GEMMs' epilogues differ from lt_epilogues.expected (above: - expected, + got)"
  exit 1
fi
sed 's/^nnc: gemm \(.*\)$/\/* \1 *\//' "$tmp/got.txt" >"$tmp/want_comments.txt"
grep -F -x -f "$tmp/want_comments.txt" "$tmp/lt.cu" >"$tmp/comments.txt" || true
if ! cmp -s "$tmp/want_comments.txt" "$tmp/comments.txt"; then
  echo "FAIL: the emitted source's comments do not say what -v says"
  exit 1
fi
"$nnc" build "$model" --target=cuda --no-lt-epilogue --emit=cuda -v -o "$tmp/off.cu" 2>"$tmp/off.txt"
if grep 'cuBLASLt epilogue' "$tmp/off.txt" "$tmp/off.cu"; then
  echo "FAIL: --no-lt-epilogue still uses cuBLASLt epilogues"
  exit 1
fi
# Every GEMM group, and no more (a sum a BGRADA/BGRADB takes is a kernel again).
groups=$(grep -vc "not launched)$" "$tmp/got.txt")
n=$(grep -c '^nnc: gemm .*nnrt_cu_sgemm, then its epilogue kernel$' "$tmp/off.txt")
if [ "$n" -ne "$groups" ] || [ "$(grep -c "^nnc: gemm" "$tmp/off.txt")" -ne "$groups" ]; then
  echo "FAIL: --no-lt-epilogue reports $n plain GEMM groups in $(grep -c "^nnc: gemm" "$tmp/off.txt") lines, not $groups"
  exit 1
fi
echo "ok: $(grep -c "cuBLASLt epilogue" "$tmp/got.txt") cuBLASLt epilogues ($n GEMM groups); none with --no-lt-epilogue"
