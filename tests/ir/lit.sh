#!/usr/bin/env bash
# lit.sh — runs the "# RUN:" lines of one IR test file, the way LLVM's lit
# does: %s is the file, commands run from the build directory's binaries
# (nnir_tool, nnc), FileCheck is the one CMake found, and `not cmd` succeeds
# when cmd fails without crashing.
#   usage: lit.sh <bin-dir> <FileCheck> <file.nnir>
set -o pipefail
bindir=$1 filecheck=$2 file=$3
PATH="$bindir:$PATH"
FileCheck() { "$filecheck" "$@"; }
not() {
  "$@"
  local rc=$?
  [ $rc -ne 0 ] && [ $rc -lt 128 ]
}
quoted=$(printf '%q' "$file")
n=0 status=0
while IFS= read -r line; do
  cmd=${line#*RUN:}
  cmd=${cmd//%s/$quoted}
  echo "RUN:$cmd"
  eval "$cmd" || { echo "FAILED:$cmd"; status=1; }
  n=$((n + 1))
done < <(grep -E '^#[[:space:]]*RUN:' "$file")
if [ $n -eq 0 ]; then
  echo "$file: no RUN lines"
  exit 1
fi
exit $status
