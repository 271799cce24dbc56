#!/usr/bin/env bash
# run.sh — runs the libFuzzer harnesses of a -DNNC_FUZZ=ON build, one after
# the other, each for SECONDS seconds (CI: 60), from a working copy of its
# seeds (corpus/<h>/ and regress/<h>/) and with <h>.dict if there is one,
# under nice. A crash stops that harness and leaves the input in
# OUT/crash-<h>/; the script then exits 1.
# Each harness's last line of libFuzzer statistics is printed at the end.
#   usage: run.sh BUILD_DIR [SECONDS] [HARNESS...]   (NNC_FUZZ_SECONDS also sets SECONDS)
#   OUT: $NNC_FUZZ_OUT, else BUILD_DIR/fuzz-out
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:?usage: run.sh BUILD_DIR [SECONDS] [HARNESS...]}
secs=${2:-${NNC_FUZZ_SECONDS:-60}}
shift $(( $# >= 2 ? 2 : 1 ))
harnesses=("$@")
[ ${#harnesses[@]} -gt 0 ] || harnesses=(nn nnir safetensors arrays textdata)
out=${NNC_FUZZ_OUT:-$build/fuzz-out}
status=0
summary=()
for h in "${harnesses[@]}"; do
  bin=$build/fuzz_$h
  [ -x "$bin" ] || { echo "run.sh: $bin missing (cmake -DNNC_FUZZ=ON -DCMAKE_C_COMPILER=clang-19, target fuzz_all)"; exit 2; }
  work=$out/corpus-$h crashes=$out/crash-$h
  mkdir -p "$work" "$crashes"
  cp -n "$here/corpus/$h"/* "$work"/ 2>/dev/null
  cp -n "$here/regress/$h"/* "$work"/ 2>/dev/null
  log=$out/$h.log
  dict=()
  [ -f "$here/$h.dict" ] && dict=(-dict="$here/$h.dict") # the seeds' words, for the text formats
  echo "== fuzz_$h: ${secs}s"
  # One worker, inputs up to 64 KiB, NNC_FUZZ_TIMEOUT (60) s per input at most
  # (a big model through the passes takes seconds on a loaded machine); TMPDIR keeps
  # the harness's files with the rest of the run.
  TMPDIR=$out nice -n 10 "$bin" -max_total_time="$secs" -timeout="${NNC_FUZZ_TIMEOUT:-60}" -rss_limit_mb=2048 -max_len=65536 \
    -print_final_stats=1 -artifact_prefix="$crashes/" "${dict[@]}" "$work" >"$log" 2>&1
  rc=$?
  last=$(grep -E '^#[0-9]+' "$log" | tail -1)
  execs=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}')
  summary+=("fuzz_$h: ${execs:-?} executions; $last")
  if [ $rc -ne 0 ]; then
    status=1
    echo "fuzz_$h FAILED (exit $rc): input in $crashes/; the report:"
    grep -E -A40 'ERROR|runtime error|fuzz:' "$log" | head -60
  fi
done
printf '%s\n' "${summary[@]}"
exit $status
