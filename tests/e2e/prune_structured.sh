#!/bin/sh
# Structured pruning end to end: a briefly trained MLP is pruned by half
# (nnc build --prune=structured:0.5 --checkpoint F), the smaller binary
# loads the pruned checkpoint written beside it, evaluates well above
# chance before any fine-tuning, and fine-tunes from it with --init to a
# better accuracy. nnc summary shows the pruned shapes and counts. A
# fraction outside (0, 1) and structured pruning without --checkpoint are
# usage errors (exit 2).
# usage: prune_structured.sh NNC SOURCE_DIR
set -eu
nnc=$1 src=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
mlp=$src/examples/fashion_mlp.nn
"$nnc" build "$mlp" -o mlp 2> /dev/null
./mlp train --steps 300 --quiet --checkpoint trained.safetensors > /dev/null
acc() { "./$1" eval --checkpoint "$2" | awk '/test_acc/ { sub(/.*test_acc: /, ""); print $1; exit }'; }
"$nnc" build "$mlp" --prune=structured:0.5 --checkpoint trained.safetensors -o small 2> report.txt > /dev/null
grep -q 'prune: structured: @dense_1.w axis 1 (with @dense_1.b axis 0, @dense_2.w axis 0): 256 -> 128 units' report.txt ||
  { echo "FAIL: no pruning report:"; cat report.txt; exit 1; }
grep -q '@dense_2.w axis 1 (with @dense_2.b axis 0): 10 units left whole' report.txt ||
  { echo "FAIL: the output layer was not left whole:"; cat report.txt; exit 1; }
[ -f small.safetensors ] || { echo "FAIL: no small.safetensors beside the output"; exit 1; }
dense=$(acc mlp trained.safetensors) pruned=$(acc small small.safetensors)
./small train --init small.safetensors --steps 200 --quiet --checkpoint tuned.safetensors > /dev/null
tuned=$(acc small tuned.safetensors)
echo "test accuracy: dense $dense, pruned 50% $pruned, fine-tuned 200 steps $tuned"
awk -v p="$pruned" 'BEGIN { exit !(p > 0.5) }' || { echo "FAIL: the pruned model is near chance"; exit 1; }
awk -v p="$pruned" -v t="$tuned" 'BEGIN { exit !(t > p) }' || { echo "FAIL: fine-tuning did not improve it"; exit 1; }
# The dense binary cannot take the pruned checkpoint: the shapes differ.
if ./mlp eval --checkpoint small.safetensors > /dev/null 2>&1; then echo "FAIL: dense binary loaded pruned weights"; exit 1; fi
"$nnc" summary "$mlp" --prune=structured:0.5 --checkpoint trained.safetensors 2> /dev/null > summary.txt
grep -q '^dense_1 (dense) *(B, 128) *100,480$' summary.txt || { echo "FAIL: summary:"; cat summary.txt; exit 1; }
grep -q '^dense_2 (dense) *(B, 10) *1,290$' summary.txt || { echo "FAIL: summary:"; cat summary.txt; exit 1; }
grep -q '^Total params: 101,770' summary.txt || { echo "FAIL: summary totals:"; cat summary.txt; exit 1; }
refuse() { # expected-text, command...
  want=$1; shift
  rc=0; "$@" 2> err.txt > /dev/null || rc=$?
  [ "$rc" = 2 ] || { echo "FAIL: '$*' exited $rc, expected 2"; cat err.txt; exit 1; }
  grep -q "$want" err.txt || { echo "FAIL: '$*' did not say '$want':"; cat err.txt; exit 1; }
}
refuse "between 0 and 1" "$nnc" build "$mlp" --prune=structured:1.5 --checkpoint trained.safetensors -o x
refuse "needs the trained weights: add --checkpoint" "$nnc" build "$mlp" --prune=structured:0.5 -o x
refuse "needs the trained weights: add --checkpoint" "$nnc" summary "$mlp" --prune=structured:0.5
echo ok
