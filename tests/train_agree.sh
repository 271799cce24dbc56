#!/bin/sh
# Two builds of one model train alike: in the current directory, binaries
# ./A and ./B each train STEPS steps on one thread; their logged losses and,
# in their checkpoints, every parameter and optimizer moment agree up to f32
# rounding (1e-5 of each tensor's largest magnitude: a pass that only
# reorders sums or recomputes values stays far inside it, a wrong gradient
# far outside). For tests of passes that must not change what is trained
# (tests/e2e/scan_hoist_agree.sh, tests/passes/remat_agree.sh); the
# comparison is tests/e2e/agree.py's.
# usage: train_agree.sh A B STEPS TESTS_DIR
set -eu
a=$1 b=$2 steps=$3 tests=$4
for m in "$a" "$b"; do
  ./$m train --steps "$steps" --threads 1 --log $m.csv --checkpoint $m.safetensors --quiet > /dev/null
done

/usr/bin/python3 "$tests/e2e/agree.py" "$tests" "$a against $b, $steps steps" \
  "$a.safetensors" "$b.safetensors" 1e-5 "$a.csv" "$b.csv" 1e-5
