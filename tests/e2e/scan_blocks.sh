#!/bin/sh
# A scan whose body keeps batch rows apart runs on blocks of rows, each
# block's whole time loop on one thread (codegen/cpu/k_scan.c, ir/scan_rows.c).
# That may not change a result: binaries built with and without
# --no-scan-blocks train to byte-identical checkpoints, on 1 and on 2
# threads, at a batch that leaves a short last block (40 = 24 + 16).
# The split must also really happen: the forward scans' blocks function is
# in the LLVM IR, and --no-scan-blocks removes it. The two directions of
# each of the BiLSTM's layers run at once, one on each of two threads
# (plan.c, pair_scans): train_step has 4 such pairs (2 layers, forward and
# backward), the row LSTM none; and that may not change a result either.
# usage: scan_blocks.sh NNC SOURCE_DIR
set -eu
nnc=$1 src=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
for model in fashion_rows_lstm text_bilstm_dropout; do
  "$nnc" build "$src/examples/$model.nn" -O0 --emit=llvm -o blocks.ll 2> /dev/null
  "$nnc" build "$src/examples/$model.nn" -O0 --emit=llvm --no-scan-blocks -o whole.ll 2> /dev/null
  n=$(grep -c '^define internal void @nnc_train_step_k[0-9]*_scan_rows(' blocks.ll || true)
  [ "$n" -ge 1 ] || { echo "FAIL: $model: no scan of train_step runs in blocks of rows"; exit 1; }
  ! grep -q '_scan_rows(' whole.ll || { echo "FAIL: $model: --no-scan-blocks still splits a scan"; exit 1; }
  pairs=$(awk '/^define .*@nnc_train_step\(/ { f = 1 } /^}/ { f = 0 } f && /%pair_tasks[0-9]* = alloca/' blocks.ll | wc -l)
  want=0; [ "$model" = text_bilstm_dropout ] && want=4
  [ "$pairs" -eq "$want" ] || { echo "FAIL: $model: $pairs pairs of scans at once in train_step, want $want"; exit 1; }
  "$nnc" build "$src/examples/$model.nn" -o blocks 2> /dev/null
  "$nnc" build "$src/examples/$model.nn" --no-scan-blocks -o whole 2> /dev/null
  for bin in blocks whole; do
    for t in 1 2; do
      "./$bin" train --steps 3 --batch 40 --threads $t --seed 5 --quiet --checkpoint "$bin$t.safetensors" > /dev/null
    done
  done
  for c in blocks2 whole1 whole2; do
    cmp blocks1.safetensors $c.safetensors || { echo "FAIL: $model: $c trains differently from blocks on 1 thread"; exit 1; }
  done
  rm -f ./*.safetensors
  echo "$model: $n train_step scans in blocks, $pairs pairs at once; identical checkpoints with and without, on 1 and 2 threads"
done
echo ok
