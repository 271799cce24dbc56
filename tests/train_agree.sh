#!/bin/sh
# Two builds of one model train alike: in the current directory, binaries
# ./A and ./B each train STEPS steps on one thread; their logged losses and,
# in their checkpoints, every parameter and optimizer moment agree up to f32
# rounding (1e-5 of each tensor's largest magnitude: a pass that only
# reorders sums or recomputes values stays far inside it, a wrong gradient
# far outside). For tests of passes that must not change what is trained
# (tests/e2e/scan_hoist_agree.sh, tests/passes/remat_agree.sh).
# usage: train_agree.sh A B STEPS TESTS_DIR
set -eu
a=$1 b=$2 steps=$3 tests=$4
for m in "$a" "$b"; do
  ./$m train --steps "$steps" --threads 1 --log $m.csv --checkpoint $m.safetensors --quiet > /dev/null
done

awk -F, -v steps="$steps" -v a="$a" -v b="$b" 'FNR == 1 { file++ } $1 == "step" { loss[file, $3] = $4; n[file]++ }
  END {
    if (n[1] != steps || n[2] != steps) { print "FAIL: expected " steps " logged steps each, got " n[1] " and " n[2]; exit 1 }
    for (s = 1; s <= steps; s++) {
      d = loss[1, s] - loss[2, s]; if (d < 0) d = -d
      if (d > 1e-5 * loss[2, s]) { print "FAIL: step " s " loss " loss[1, s] " " a " vs " loss[2, s] " " b; exit 1 }
    }
  }' "$a.csv" "$b.csv"

/usr/bin/python3 - "$tests" "$a" "$b" "$steps" <<'EOF'
import sys
sys.path.insert(0, sys.argv[1])
import numpy as np
import safetensors_np as st

na, nb, steps = sys.argv[2], sys.argv[3], sys.argv[4]
a, b = st.load(na + ".safetensors"), st.load(nb + ".safetensors")
assert sorted(a) == sorted(b), "the checkpoints hold different tensors"
worst = 0.0
for name in sorted(a):
    x, y = np.asarray(a[name], np.float64), np.asarray(b[name], np.float64)
    scale = max(np.abs(y).max(initial=0.0), 1e-30)
    err = np.abs(x - y).max(initial=0.0) / scale
    worst = max(worst, err)
    if not np.all(np.isfinite(x)) or err > 1e-5:
        sys.exit(f"FAIL: {name}: {na} and {nb} differ by {err:.2e} of the tensor's scale")
print(f"ok: {len(a)} tensors agree within {worst:.1e} of their scale after {steps} steps")
EOF
