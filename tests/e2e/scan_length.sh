#!/bin/sh
# A recurrent layer is one loop whatever the sequence length: the same LSTM
# model over 50 and over 500 steps must give the same optimised IR (node for
# node, only the length in the types differs) and binaries of the same size
# (within a page or two: constants that hold T differ by a few bytes, which
# may push a section over a 4 KiB boundary; an unrolled loop would add
# hundreds of KiB).
# Prints the compile times; bench/scan_length.sh reports them at more lengths.
# usage: scan_length.sh NNC
set -eu
nnc=$1
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
for T in 50 500; do
  cat > "lstm$T.nn" <<NN
model seq {
  input x: f32[B, $T, 8]
  input y: i32[B]
  h = lstm(x, 32, sequences: true)
  logits = dense(lstm(h, 32, bidirectional: true), 4)
  output logits
  minimize cross_entropy(logits, y)
}
NN
  "$nnc" dump "lstm$T.nn" --after=fuse | sed "s/\([[,]\)$T\([],]\)/\1T\2/g" > "ir$T.txt"
  start=$(date +%s%N)
  "$nnc" build "lstm$T.nn" -o "bin$T"
  end=$(date +%s%N)
  echo "T=$T: $(wc -l < "ir$T.txt") IR lines, $(stat -c %s "bin$T") bytes, build $(( (end - start) / 1000000 )) ms"
done
cmp ir50.txt ir500.txt || { echo "FAIL: the IR differs between T=50 and T=500"; diff ir50.txt ir500.txt | head; exit 1; }
s50=$(stat -c %s bin50) s500=$(stat -c %s bin500)
d=$((s500 > s50 ? s500 - s50 : s50 - s500))
[ "$d" -le 8192 ] || { echo "FAIL: binary sizes differ by $d bytes: $s50 vs $s500"; exit 1; }
echo "ok"
