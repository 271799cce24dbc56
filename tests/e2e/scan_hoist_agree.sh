#!/bin/sh
# scan-hoist (passes/scan_hoist.c) changes only the order in which the
# recurrent weight's gradient is summed: examples/fashion_rows_lstm.nn built
# with and without it trains the same 30 steps on Fashion-MNIST to the same
# logged losses and, in the checkpoint, the same parameters and Adam moments
# up to f32 rounding (1e-5 of each tensor's largest magnitude; a wrong
# gradient is off by far more). The default build must hoist: its backward
# scan's weight gradient is a batch of 28 products after the loop.
# usage: scan_hoist_agree.sh NNC SOURCE_DIR
set -eu
nnc=$1 src=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
model=$src/examples/fashion_rows_lstm.nn
"$nnc" dump "$model" --after=scan-hoist > "$tmp/ir.txt"
grep -q 'matmul .* {ta=1, tb=0} : f32\[28,128,512\]' "$tmp/ir.txt" || { echo "FAIL: the weight gradient was not hoisted"; exit 1; }
"$nnc" build "$model" -o "$tmp/hoisted"
"$nnc" build "$model" --disable-pass=scan-hoist -o "$tmp/looped"
cd "$tmp"
for m in hoisted looped; do
  ./$m train --steps 30 --threads 1 --log $m.csv --checkpoint $m.safetensors --quiet > /dev/null
done

awk -F, 'FNR == 1 { file++ } $1 == "step" { loss[file, $3] = $4; n[file]++ }
  END {
    if (n[1] != 30 || n[2] != 30) { print "FAIL: expected 30 logged steps each, got " n[1] " and " n[2]; exit 1 }
    for (s = 1; s <= 30; s++) {
      d = loss[1, s] - loss[2, s]; if (d < 0) d = -d
      if (d > 1e-5 * loss[2, s]) { print "FAIL: step " s " loss " loss[1, s] " hoisted vs " loss[2, s]; exit 1 }
    }
  }' hoisted.csv looped.csv

/usr/bin/python3 - "$src/tests" <<'EOF'
import sys
sys.path.insert(0, sys.argv[1])
import numpy as np
import safetensors_np as st

a, b = st.load("hoisted.safetensors"), st.load("looped.safetensors")
assert sorted(a) == sorted(b), "the checkpoints hold different tensors"
worst = 0.0
for name in sorted(a):
    x, y = np.asarray(a[name], np.float64), np.asarray(b[name], np.float64)
    scale = max(np.abs(y).max(initial=0.0), 1e-30)
    err = np.abs(x - y).max(initial=0.0) / scale
    worst = max(worst, err)
    if not np.all(np.isfinite(x)) or err > 1e-5:
        sys.exit(f"FAIL: {name}: hoisted and looped differ by {err:.2e} of the tensor's scale")
print(f"ok: {len(a)} tensors agree within {worst:.1e} of their scale after 30 steps")
EOF
