#!/bin/sh
# The SIGKILL loop (issue 12): kill a checkpointed training run with
# SIGKILL at random moments, N times, resuming after each kill. After every
# kill:
#   - the checkpoint loads (eval exits 0) and is byte-identical to the
#     checkpoint an uninterrupted run writes after some epoch, never an
#     earlier epoch than after the previous kill (a complete, earlier-or-
#     equal state; before the first save there may be none);
#   - at most one temporary file (the write the kill interrupted) is beside
#     it, and none once a later save has run;
# and when a resumed run finishes, its checkpoint and test result are
# bit-identical to the uninterrupted run's; then the next chain of kills
# starts from scratch.
# usage: kill_loop.sh N [NNC [SOURCE_DIR]]   (N kills; defaults: build/nnc and
# the repository around this script). Kill moments come from awk's rand,
# seeded by the trial number (KILL_LOOP_SEED adds to it), so a failure
# names the seed that reproduces it.
set -eu
trials=$1
src=${3:-$(cd "$(dirname "$0")/../.." && pwd)}
nnc=${2:-$src/build/nnc}
. "$src/tests/hardening/common.sh"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
epochs=12
"$nnc" build "$src/tests/hardening/tiny_mlp.nn" -o tiny 2> /dev/null
subset_fashion data 1024 64
train() { ./tiny train --data "$tmp/data" --quiet --epochs $epochs --checkpoint "$@"; }

# The uninterrupted run's checkpoint after each epoch (ref/e<k>.st) and
# its result; and how long a whole run takes, which bounds the kill moments.
mkdir ref
t0=$(date +%s%N)
train ref/c.st > ref/out
t1=$(date +%s%N)
span_ms=$(((t1 - t0) / 1000000 + 20))
cp ref/c.st ref/final.st
for k in $(seq 1 $epochs); do
  ./tiny train --data "$tmp/data" --quiet --epochs $k --checkpoint ref/e$k.st > /dev/null
done
cmp -s ref/e$epochs.st ref/final.st || { echo "FAIL: the reference runs disagree"; exit 1; }

fail() { echo "FAIL (trial $trial, seed $seed, kill after ${delay}s): $1"; exit 1; }
kills=0 chains=0 trial=0 prev=0 leftovers=0 fresh_kills=0 chain_kills=0 clean=0
seed0=${KILL_LOOP_SEED:-0}
while [ $kills -lt "$trials" ]; do
  trial=$((trial + 1))
  seed=$((seed0 + trial))
  delay=$(awk -v s=$seed -v ms=$span_ms 'BEGIN { srand(s); printf "%.3f", rand() * ms / 1000 }')
  resume=
  [ -f c.st ] && resume=--resume
  # The binary itself in the background (not a function's subshell), so
  # that the kill reaches it.
  ./tiny train --data "$tmp/data" --quiet --epochs $epochs --checkpoint c.st $resume > out 2> err &
  pid=$!
  sleep "$delay"
  kill -KILL $pid 2> /dev/null || true
  rc=0
  wait $pid 2> /dev/null || rc=$?
  if [ $rc = 0 ]; then # it finished first: the chain is complete
    cmp -s c.st ref/final.st || fail "the resumed run's final checkpoint differs from the uninterrupted run's"
    cmp -s out ref/out || fail "the resumed run's test result differs: $(cat out) vs $(cat ref/out)"
    no_temps c.st || fail "temporary files after the run finished"
    if [ $chain_kills -gt 0 ]; then chains=$((chains + 1)); else clean=$((clean + 1)); fi
    prev=0 chain_kills=0
    rm -f c.st
    continue
  fi
  [ $rc = 137 ] || { cat err; fail "exit $rc, not the kill's 137"; }
  kills=$((kills + 1)) chain_kills=$((chain_kills + 1))
  n=$(ls c.st.tmp.* 2> /dev/null | wc -l)
  [ "$n" -le 1 ] || fail "$n temporary files beside the checkpoint"
  leftovers=$((leftovers + n))
  if [ ! -f c.st ]; then
    [ $prev = 0 ] || fail "the checkpoint disappeared"
    fresh_kills=$((fresh_kills + 1))
    continue
  fi
  got=0
  for k in $(seq $prev $epochs); do
    if [ "$k" -gt 0 ] && cmp -s c.st ref/e$k.st; then
      got=$k
      break
    fi
  done
  [ $got -gt 0 ] || fail "the checkpoint is none of the uninterrupted run's from epoch $prev on"
  ./tiny eval --data "$tmp/data" --checkpoint c.st > /dev/null 2> err || { cat err; fail "the checkpoint does not load"; }
  prev=$got
done
# The last chain: finish it, so every interrupted write is cleaned up.
if [ -f c.st ]; then
  train c.st --resume > out
  cmp -s c.st ref/final.st && cmp -s out ref/out || fail "the last resumed run differs from the uninterrupted run"
  no_temps c.st || fail "temporary files after the last run"
  chains=$((chains + 1))
fi
echo "ok: $kills SIGKILLs ($fresh_kills before the first save), $chains killed and resumed runs finished" \
  "bit-identical to the uninterrupted run ($clean more finished before their kill), 0 corrupt checkpoints," \
  "$leftovers temporary files left by a kill (each removed by the next save), 0 leaked"
