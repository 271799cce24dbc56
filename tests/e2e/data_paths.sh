#!/bin/sh
# The train block's `data`: a name is a data set under /usr/share/datasets,
# a path (with a '/') is a directory, absolute or relative to where the
# binary runs; a model without one needs --data.
# usage: data_paths.sh NNC SOURCE_DIR
set -eu
nnc=$1 src=$2
fm=/usr/share/datasets/fashion-mnist
[ -d $fm ] || { echo "skipped: no $fm"; exit 77; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
mlp() { sed -e '/^train {/,$d' "$src/examples/fashion_mlp.nn"; printf '%s\n' "$@"; }

mlp 'train {' "  data \"$fm\"" '}' > abs.nn
"$nnc" build abs.nn -o abs
./abs train --steps 2 --quiet

mkdir sub && ln -s $fm sub/fm
mlp 'train {' '  data "./sub/fm"' '}' > rel.nn
"$nnc" build rel.nn -o rel
./rel train --steps 2 --quiet

mlp > none.nn
"$nnc" build none.nn -o none
if ./none train --steps 2 --quiet 2> err.txt; then echo "FAIL: trained without a data set"; exit 1; fi
grep -q "the model names no data set (its train block has no 'data' line); give one with --data DIR" err.txt ||
  { echo "FAIL: unexpected message:"; cat err.txt; exit 1; }
./none train --steps 2 --quiet --data $fm
echo "ok"
