#!/bin/sh
# checkpoint_safety_test.sh — trained weights are never lost or clobbered
# (issue 12), on a binary built from libnnrt and fake_model.c and a
# 2000-sample copy of Fashion-MNIST (57 steps an epoch: 1800 training
# samples in batches of 32):
#
#   checkpoint_safety_test.sh FAKE_TRAIN DATA_DIR MODE
#   MODE: overwrite  train --checkpoint F on an existing F without --resume
#                    or --overwrite: exit 2 before anything is written, F
#                    untouched (item 4); --overwrite replaces it
#         log        a run killed after its last checkpoint logged steps the
#                    resumed run logs again: on --resume the CSV log is cut
#                    back to the checkpoint's step, so the log equals an
#                    uninterrupted run's (item 8)
#         every      --checkpoint-every N saves mid-epoch, --checkpoint-keep K
#                    rotates F.1 .. F.(K-1); a resume from a rotated one is
#                    bit-identical; no temp files
#         signal     SIGINT (exit 130) and SIGTERM (exit 143): the step
#                    finishes, the checkpoint is saved at the step the log
#                    reached, and --resume from it matches an uninterrupted run
# Exits 77 (skipped) when the data set is not installed.
set -u
BIN=$1
DATA=$2
MODE=$3
. "$(dirname "$0")/expect.sh"
need_fashion "$DATA"
test_dir nnrt_ckpt

small_copy

# step_of F: the checkpoint's global step, from its metadata
step_of() { LC_ALL=C grep -ao '"global_step":"[0-9]*"' "$1" | tr -dc 0-9; }
# no_temps: no F.tmp.XXXXXX left in $T
no_temps() {
  left=$(ls "$T" | grep -c '\.tmp\.......$')
  [ "$left" = 0 ] || fail "$left temp files left: $(ls "$T")"
}

case $MODE in
overwrite)
  expect 0 "" "$BIN" train --epochs 3 --quiet --data "$S" --checkpoint "$T/c.st"
  cp "$T/c.st" "$T/three.st"
  for extra in "" "--log $T/l.csv --plot $T/p.svg --checkpoint-every 5"; do
    # shellcheck disable=SC2086
    expect 2 "--checkpoint $T/c.st already exists; add --resume to continue training it, or --overwrite to replace it" \
      "$BIN" train --epochs 1 --quiet --data "$S" --checkpoint "$T/c.st" $extra
    cmp -s "$T/c.st" "$T/three.st" || fail "a refused run changed the checkpoint"
    [ ! -e "$T/l.csv" ] && [ ! -e "$T/p.svg" ] || fail "a refused run wrote its log or plot"
  done
  [ "$(ls "$T" | grep -c '^c\.st')" = 1 ] || fail "a refused run left files: $(ls "$T")"
  expect 2 "--resume continues the checkpoint and --overwrite replaces it; use one" \
    "$BIN" train --resume --overwrite --checkpoint "$T/c.st"
  expect 2 "--checkpoint-every needs --checkpoint FILE" "$BIN" train --checkpoint-every 10
  expect 2 "--checkpoint-keep: expected an integer from 1 to 1000, got '0'" "$BIN" train --checkpoint-keep 0
  expect 0 "--overwrite" "$BIN" train --help
  # --resume continues it; --overwrite starts over (1 epoch: 57 steps)
  expect 0 "nothing to train" "$BIN" train --epochs 3 --data "$S" --checkpoint "$T/c.st" --resume
  expect 0 "" "$BIN" train --epochs 1 --quiet --data "$S" --checkpoint "$T/c.st" --overwrite
  [ "$(step_of "$T/c.st")" = 57 ] || fail "--overwrite: the checkpoint is at step $(step_of "$T/c.st"), not 57"
  no_temps
  ;;

log)
  set -- --epochs 2 --quiet --data "$S"
  expect 0 "" "$BIN" train "$@" --checkpoint "$T/full.st" --log "$T/full.csv"
  # a run that saved at step 70 and was killed at step 100, after logging
  # steps 71..100 and half a row: its log and checkpoint as they were then
  expect 0 "" "$BIN" train "$@" --checkpoint "$T/part.st" --steps 70 --log "$T/part.csv"
  cp "$T/part.st" "$T/at70.st"
  expect 0 "" "$BIN" train "$@" --checkpoint "$T/part.st" --steps 100 --resume --log "$T/part.csv"
  cp "$T/at70.st" "$T/part.st"
  printf 'step,2,101,0.4' >>"$T/part.csv"
  grep -q '^step,2,100,' "$T/part.csv" || fail "setup: no row of step 100"
  head -n 71 "$T/part.csv" >"$T/kept.csv" # the header and steps 1..70 as logged
  expect 0 "" "$BIN" train "$@" --checkpoint "$T/part.st" --resume --log "$T/part.csv"
  cmp -s "$T/full.st" "$T/part.st" || fail "the resumed checkpoint differs from an uninterrupted run's"
  head -n 71 "$T/part.csv" | cmp -s - "$T/kept.csv" || fail "the rows up to the checkpoint changed"
  # every step once, in order, equal to the uninterrupted run's (elapsed seconds aside)
  grep '^step' "$T/full.csv" | cut -d, -f1-5 >"$T/a"
  grep '^step' "$T/part.csv" | cut -d, -f1-5 >"$T/b"
  cmp -s "$T/a" "$T/b" || fail "the resumed log's step rows differ from an uninterrupted run's: $(diff "$T/a" "$T/b" | head -5)"
  [ "$(wc -l <"$T/b")" -eq 114 ] || fail "expected 114 step rows, found $(wc -l <"$T/b")"
  # epoch rows: epoch 1, the partial epoch 2 the --steps 70 run ended with,
  # epoch 2; not the killed run's partial one at step 100
  [ "$(grep '^epoch,' "$T/part.csv" | cut -d, -f3 | tr '\n' ' ')" = "57 70 114 " ] ||
    fail "epoch rows: $(grep '^epoch' "$T/part.csv")"
  # a resume at the log's end drops nothing (and never rewrites it)
  cp "$T/part.csv" "$T/before.csv"
  expect 0 "" "$BIN" train "$@" --checkpoint "$T/part.st" --resume --log "$T/part.csv"
  head -c "$(wc -c <"$T/before.csv")" "$T/part.csv" | cmp -s - "$T/before.csv" || fail "a resume at the end changed the log"
  no_temps
  ;;

every)
  set -- --epochs 2 --quiet --data "$S"
  expect 0 "" "$BIN" train "$@" --checkpoint "$T/full.st"
  expect 0 "" "$BIN" train "$@" --checkpoint "$T/c.st" --steps 75 --checkpoint-every 20 --checkpoint-keep 3
  # saves at 20, 40, 57 (epoch end), 60, 75 (--steps): the newest three kept
  [ "$(step_of "$T/c.st")" = 75 ] && [ "$(step_of "$T/c.st.1")" = 60 ] && [ "$(step_of "$T/c.st.2")" = 57 ] ||
    fail "steps of c.st, c.st.1, c.st.2: $(step_of "$T/c.st") $(step_of "$T/c.st.1") $(step_of "$T/c.st.2")"
  [ ! -e "$T/c.st.3" ] || fail "--checkpoint-keep 3 kept a fourth"
  # a mid-epoch checkpoint resumes exactly
  cp "$T/c.st.1" "$T/r.st"
  expect 0 "" "$BIN" train "$@" --checkpoint "$T/r.st" --resume
  cmp -s "$T/full.st" "$T/r.st" || fail "resumed from the step-60 checkpoint: differs from an uninterrupted run"
  expect 0 "test_acc" "$BIN" eval --checkpoint "$T/c.st.2" --data "$S"
  # --steps on a multiple of N: saved once there, not twice (c.st.1 is step 40's)
  expect 0 "" "$BIN" train "$@" --checkpoint "$T/e.st" --steps 40 --checkpoint-every 20 --checkpoint-keep 2
  [ "$(step_of "$T/e.st")" = 40 ] && [ "$(step_of "$T/e.st.1")" = 20 ] ||
    fail "steps of e.st, e.st.1: $(step_of "$T/e.st") $(step_of "$T/e.st.1")"
  # without --checkpoint-keep only F: one file
  expect 0 "" "$BIN" train "$@" --checkpoint "$T/d.st" --steps 30 --checkpoint-every 7
  [ "$(step_of "$T/d.st")" = 30 ] && [ ! -e "$T/d.st.1" ] || fail "--checkpoint-every without --checkpoint-keep"
  no_temps
  ;;

signal)
  for sig in INT TERM; do
    rm -f "$T/s.st" "$T/s.csv"
    # A script's background job starts with SIGINT ignored; env gives the
    # binary the default disposition, as a terminal's Ctrl-C finds it.
    env --default-signal=INT "$BIN" train --epochs 100000 --data "$S" --checkpoint "$T/s.st" --log "$T/s.csv" \
      >"$T/sig.out" 2>&1 &
    pid=$!
    wait_for '^epoch,1,' "$T/s.csv"
    kill -$sig $pid
    wait $pid
    rc=$?
    want=130 msg=interrupted
    [ $sig = TERM ] && want=143 msg=terminated
    [ $rc -eq $want ] || fail "SIG$sig: exit $rc (want $want): $(cat "$T/sig.out")"
    grep -q "$msg at epoch .*; checkpoint saved to $T/s.st" "$T/sig.out" || fail "SIG$sig: message: $(cat "$T/sig.out")"
    # saved at the last step the log reached
    last=$(grep '^step,' "$T/s.csv" | tail -n 1 | cut -d, -f3)
    [ "$(step_of "$T/s.st")" = "$last" ] || fail "SIG$sig: checkpoint at step $(step_of "$T/s.st"), log at $last"
    no_temps
    # --resume from it goes on exactly as a run that was never stopped
    set -- --epochs 100000 --steps $((last + 10)) --quiet --data "$S"
    rm -f "$T/ref.st"
    expect 0 "" "$BIN" train "$@" --checkpoint "$T/ref.st"
    expect 0 "" "$BIN" train "$@" --checkpoint "$T/s.st" --resume --log "$T/s.csv"
    cmp -s "$T/ref.st" "$T/s.st" || fail "SIG$sig: resumed checkpoint differs from an uninterrupted run's"
    [ "$(grep -c '^step,' "$T/s.csv")" = $((last + 10)) ] || fail "SIG$sig: the log does not hold each step once"
  done
  ;;

*)
  unknown_mode
  ;;
esac

finish "$MODE"
