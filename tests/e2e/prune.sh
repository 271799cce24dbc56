#!/bin/sh
# --prune=unstructured end to end: bad specs are usage errors (exit 2); a
# pruned MLP (90 %, schedule over steps 0..100, masks every 10) trains 120
# steps and is resumed to 200: the checkpoint holds exactly round(0.9 n)
# zeros in each weight, at the mask's zeros, with Adam's moments zero there,
# the masks unchanged since the schedule ended, and the resumed run equal to
# one that never stopped; train and eval report the sparsity per layer, and
# a checkpoint without masks (a dense model's) evaluates the same.
# usage: prune.sh NNC SOURCE_DIR
set -eu
nnc=$1 src=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
fail() { echo "FAIL: $*"; exit 1; }

for spec in 1.5 unstructured:1.5 unstructured:0 unstructured:0.5,foo=1 unstructured:0.5,every=0 \
            unstructured:0.5,start=200,end=100 structured:0.5,end=3; do
  rc=0; "$nnc" build "$src/examples/fashion_mlp.nn" "--prune=$spec" -o never 2> err.txt || rc=$?
  [ "$rc" = 2 ] || fail "--prune=$spec exited $rc, expected 2"
  grep -q "error: --prune" err.txt || { cat err.txt; fail "--prune=$spec: no clear message"; }
  [ ! -e never ] || fail "--prune=$spec built a binary"
done

"$nnc" build "$src/examples/fashion_mlp.nn" --prune=unstructured:0.9,end=100,every=10 -o mlp > /dev/null
./mlp train --steps 120 --checkpoint part.safetensors 2> train.txt > /dev/null
grep -q "^sparsity: dense_1.w 0.900 - dense_2.w 0.900 - all 0.900$" train.txt || { cat train.txt; fail "train's sparsity line"; }
cp part.safetensors at120.safetensors
./mlp train --steps 200 --resume --quiet --checkpoint part.safetensors > /dev/null
./mlp train --steps 200 --quiet --checkpoint whole.safetensors > /dev/null
./mlp eval --checkpoint part.safetensors > eval.txt
grep -q "^sparsity: dense_1.w 0.900 - dense_2.w 0.900 - all 0.900$" eval.txt || { cat eval.txt; fail "eval's sparsity line"; }

/usr/bin/python3 - "$src/tests" <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
import numpy as np
import safetensors_np as st
part, whole, at120 = (st.load(f + ".safetensors") for f in ("part", "whole", "at120"))
for p in ("dense_1.w", "dense_2.w"):
    w, mask = part[p], part[p + ".mask"]
    k = int(round(0.9 * w.size))
    assert (mask == 0).sum() == k, f"{p}: {(mask == 0).sum()} mask zeros, want {k}"
    assert (w == 0).sum() == k and np.all(w[mask == 0] == 0), f"{p}: {(w == 0).sum()} zeros, want {k} at the mask's"
    for s in (".m", ".v"):
        assert np.all(part[p + s][mask == 0] == 0), f"{p}{s} nonzero at a pruned entry"
        assert np.any(part[p + s][mask == 1] != 0), f"{p}{s}: all zero (the test would prove nothing)"
    assert np.array_equal(mask, at120[p + ".mask"]), f"{p}: the mask changed after the schedule ended"
for name in whole:
    assert np.array_equal(whole[name], part[name]), f"{name}: a resumed run differs from an uninterrupted one"
print("checkpoint ok:", {p: int((part[p] == 0).sum()) for p in ("dense_1.w", "dense_2.w")})
st.save("nomask.safetensors", {n: a for n, a in part.items() if not n.endswith(".mask")})
PY

./mlp eval --checkpoint nomask.safetensors > eval2.txt
[ "$(head -1 eval.txt)" = "$(head -1 eval2.txt)" ] || { head -2 eval.txt eval2.txt; fail "a checkpoint without masks evaluates differently"; }
grep -q "^sparsity: dense_1.w 0.900 - dense_2.w 0.900 - all 0.900$" eval2.txt || { cat eval2.txt; fail "eval without masks"; }
echo ok
