#!/bin/sh
# A batch of products summed over the batch, sum(matmul(A[T,K,M],
# B[T,K,N], ta=1), axes=[0]) -- every weight's gradient over a sequence --
# runs as one GEMM over the T*K stacked rows into the sum's buffer
# (codegen/plan.c, summed_gemms). That changes only the order of the sum:
# each recurrent example built with and without --no-summed-gemm trains 20
# steps to the same losses and checkpoint up to f32 rounding
# (tests/e2e/agree.py), on 2 threads as on 1 (byte-identical). The rewrite
# must also happen: the default build's train_step has fewer reduction
# kernels (the sum has nothing left to run), and its workspace at batch 32
# is smaller (the batch of products is never written).
# usage: summed_gemm.sh NNC SOURCE_DIR
set -eu
nnc=$1 src=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
fail() { echo "FAIL: $*"; exit 1; }
sums() { grep -c '^define internal void @nnc_train_step_k[0-9]*_sum(' "$1" || true; }
for model in fashion_rows_lstm text_lstm; do
  "$nnc" build "$src/examples/$model.nn" -O0 --emit=llvm -o one.ll 2> /dev/null
  "$nnc" build "$src/examples/$model.nn" -O0 --emit=llvm --no-summed-gemm -o batch.ll 2> /dev/null
  [ "$(sums one.ll)" -lt "$(sums batch.ll)" ] ||
    fail "$model: no batch of products became one GEMM ($(sums one.ll) sum kernels, $(sums batch.ll) without)"
  "$nnc" build "$src/examples/$model.nn" --emit=llvm --plan-memory=report:32 -o /dev/null 2> one.txt
  "$nnc" build "$src/examples/$model.nn" --emit=llvm --no-summed-gemm --plan-memory=report:32 -o /dev/null 2> batch.txt
  ws() { sed -n 's/^workspace: \([0-9]*\) bytes at batch 32.*/\1/p' "$1"; }
  [ -n "$(ws one.txt)" ] && [ "$(ws one.txt)" -lt "$(ws batch.txt)" ] ||
    fail "$model: the summed GEMM's workspace is not smaller ($(ws one.txt) bytes, $(ws batch.txt) without)"
  "$nnc" build "$src/examples/$model.nn" -o one 2> /dev/null
  "$nnc" build "$src/examples/$model.nn" --no-summed-gemm -o batch 2> /dev/null
  for bin in one batch; do
    ./$bin train --steps 20 --batch 32 --threads 1 --seed 3 --quiet --log $bin.csv --checkpoint $bin.safetensors > /dev/null
  done
  ./one train --steps 20 --batch 32 --threads 2 --seed 3 --quiet --checkpoint one2.safetensors > /dev/null
  cmp one.safetensors one2.safetensors || fail "$model: one GEMM trains differently on 1 and 2 threads"
  /usr/bin/python3 "$src/tests/e2e/agree.py" "$src/tests" "$model, one GEMM against a batch and a sum" \
    one.safetensors batch.safetensors 3e-4 one.csv batch.csv 1e-5
  rm -f ./*.safetensors ./*.csv
done
echo ok
