#!/bin/sh
# nnc build compiles an executable's module in parts on several threads
# (codegen/cpu/split.c) and compiles each distinct kernel once
# (codegen/cpu/dedup.c). Neither may change a result: for a CNN, a stacked
# LSTM (scan bodies) and a Transformer (whose kernels, each a unit of the
# cut, are inlined code or calls depending on the parts), binaries built on
# 1, 2 and 3 threads train to byte-identical checkpoints. char_gpt's
# repeated blocks share kernel functions, and --time-passes shows the
# build's phases.
# usage: build_threads.sh NNC SOURCE_DIR
set -eu
nnc=$1 src=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
for model in fashion_cnn text_lstm char_gpt; do
  for t in 1 2 3; do
    NNC_BUILD_THREADS=$t "$nnc" build "$src/examples/$model.nn" -o "m$t" 2> /dev/null
    set -- --steps 4 --batch 16 --threads 1 --seed 3 --quiet --checkpoint "c$t.safetensors"
    [ "$model" = char_gpt ] && set -- "$@" --data 'fortunes-chars:all?test=0.001' --val-split 0 # a short test pass
    "./m$t" train "$@" > /dev/null
  done
  cmp c1.safetensors c2.safetensors || { echo "FAIL: $model built on 2 threads trains differently"; exit 1; }
  cmp c1.safetensors c3.safetensors || { echo "FAIL: $model built on 3 threads trains differently"; exit 1; }
  rm -f c?.safetensors
  echo "$model: identical checkpoints from 1, 2 and 3 build threads"
done
# char_gpt: 4 blocks x 3 step functions plan ~280 kernels; far fewer are distinct.
"$nnc" build "$src/examples/char_gpt.nn" -O0 --emit=llvm -o gpt.ll 2> /dev/null
kernels=$(grep -c '^define internal void @nnc_.*_k[0-9]*_[a-z_]*(' gpt.ll || true)
echo "char_gpt: $kernels kernel functions"
[ "$kernels" -gt 0 ] && [ "$kernels" -lt 100 ] || { echo "FAIL: expected repeated kernels to share functions"; exit 1; }
NNC_BUILD_THREADS=2 "$nnc" build "$src/examples/fashion_mlp.nn" -o mlp --time-passes 2> times.txt
for row in 'front end' 'plan-memory' 'codegen: LLVM IR' 'threads side by side' 'link' 'total'; do
  grep -q "$row" times.txt || { echo "FAIL: --time-passes has no '$row' row:"; cat times.txt; exit 1; }
done
NNC_BUILD_THREADS=1 "$nnc" build "$src/examples/fashion_mlp.nn" -o mlp --time-passes 2> times.txt
for row in 'codegen: LLVM optimisation' 'codegen: machine code'; do
  grep -q "$row" times.txt || { echo "FAIL: --time-passes has no '$row' row:"; cat times.txt; exit 1; }
done
echo "ok"
