#!/bin/sh
# remat (passes/remat.c) recomputes values, it does not change them:
# tests/passes/remat_mlp.nn (layer norms and GELUs, whose outputs weight
# gradients read again) built with and without it trains the same 30 steps
# on Fashion-MNIST to the same logged losses and, in the checkpoint, the
# same parameters and Adam moments up to f32 rounding (1e-5 of each
# tensor's largest magnitude; the kernels that read a copy may sum in
# another grouping; a wrong value is off by far more). The default build
# must recompute: its train_step has twice the GELUs.
# usage: remat_agree.sh NNC SOURCE_DIR
set -eu
nnc=$1 src=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
model=$src/tests/passes/remat_mlp.nn
before=$("$nnc" dump "$model" --after=scan-hoist | awk '/^func train_step/ { f = 1 } f && / gelu /' | wc -l)
after=$("$nnc" dump "$model" --after=remat | awk '/^func train_step/ { f = 1 } f && / gelu /' | wc -l)
[ "$before" -eq 2 ] && [ "$after" -eq 4 ] || { echo "FAIL: GELUs in train_step: $before before remat, $after after (want 2, 4)"; exit 1; }
"$nnc" build "$model" -o "$tmp/remat" 2>/dev/null
"$nnc" build "$model" --disable-pass=remat -o "$tmp/kept" 2>/dev/null
cd "$tmp"
for m in remat kept; do
  ./$m train --steps 30 --threads 1 --log $m.csv --checkpoint $m.safetensors --quiet > /dev/null
done

awk -F, 'FNR == 1 { file++ } $1 == "step" { loss[file, $3] = $4; n[file]++ }
  END {
    if (n[1] != 30 || n[2] != 30) { print "FAIL: expected 30 logged steps each, got " n[1] " and " n[2]; exit 1 }
    for (s = 1; s <= 30; s++) {
      d = loss[1, s] - loss[2, s]; if (d < 0) d = -d
      if (d > 1e-5 * loss[2, s]) { print "FAIL: step " s " loss " loss[1, s] " remat vs " loss[2, s]; exit 1 }
    }
  }' remat.csv kept.csv

/usr/bin/python3 - "$src/tests" <<'EOF'
import sys
sys.path.insert(0, sys.argv[1])
import numpy as np
import safetensors_np as st

a, b = st.load("remat.safetensors"), st.load("kept.safetensors")
assert sorted(a) == sorted(b), "the checkpoints hold different tensors"
worst = 0.0
for name in sorted(a):
    x, y = np.asarray(a[name], np.float64), np.asarray(b[name], np.float64)
    scale = max(np.abs(y).max(initial=0.0), 1e-30)
    err = np.abs(x - y).max(initial=0.0) / scale
    worst = max(worst, err)
    if not np.all(np.isfinite(x)) or err > 1e-5:
        sys.exit(f"FAIL: {name}: remat and kept differ by {err:.2e} of the tensor's scale")
print(f"ok: {len(a)} tensors agree within {worst:.1e} of their scale after 30 steps")
EOF
