#!/bin/sh
# GEMM libraries on nnc's products, then the examples' training steps on
# nnc build --gemm=openblas against --gemm=onednn (the default, auto,
# runs on oneDNN where libdnnl loads)
# (docs/bench.md, "GEMM libraries"):
#  1. build/bench_gemm_libs: every product shape of the examples' steps on
#     OpenBLAS, libxsmm, BLIS and oneDNN, 1 and 2 threads (GFLOP/s, the FMA
#     peak, GEMM milliseconds per step);
#  2. each example built twice, --gemm=openblas and --gemm=onednn; `bench --steps S
#     --threads T` of the two binaries in alternating runs, --rounds times:
#     the median ms/step of each and their ratio.
# usage: bench/gemm_libs.sh [--build-dir build] [--rounds 3] [--steps 5] [--no-shapes] [--models "a b"]
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
build=$src/build rounds=3 steps=5 shapes=1
models="fashion_mlp fashion_cnn fashion_rows_lstm text_lstm text_bilstm_dropout char_gpt"
usage() { echo "usage: bench/gemm_libs.sh [--build-dir build] [--rounds 3] [--steps 5] [--no-shapes] [--models \"a b\"]" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case $1 in
  --build-dir) [ $# -ge 2 ] || usage; build=$(cd "$2" && pwd); shift 2 ;;
  --rounds) [ $# -ge 2 ] || usage; rounds=$2; shift 2 ;;
  --steps) [ $# -ge 2 ] || usage; steps=$2; shift 2 ;;
  --models) [ $# -ge 2 ] || usage; models=$2; shift 2 ;;
  --no-shapes) shapes=0; shift ;;
  *) usage ;;
  esac
done
case $rounds$steps in *[!0-9]* | '') usage ;; esac
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

if [ "$shapes" = 1 ]; then
  "$build/bench_gemm_libs" --rounds 7
  echo
fi

ms() { ./"$1" bench --steps "$steps" --threads "$2" | awk '$1 == "ms_per_step" { print $2 }'; }
median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

cd "$tmp"
echo "Training step, ms (median of $rounds alternating runs of 'bench --steps $steps' after its 20 warm-up steps)"
echo
echo "| model | threads | --gemm=openblas | --gemm=onednn | speedup |"
echo "|---|---|---|---|---|"
for model in $models; do
  "$build/nnc" build "$src/examples/$model.nn" --gemm=openblas -o blas 2> /dev/null
  "$build/nnc" build "$src/examples/$model.nn" --gemm=onednn -o dnnl 2> /dev/null
  for threads in 1 2; do
    a= b= r=0
    while [ "$r" -lt "$rounds" ]; do
      a="$a $(ms blas "$threads")"
      b="$b $(ms dnnl "$threads")"
      r=$((r + 1))
    done
    ma=$(echo "$a" | median) mb=$(echo "$b" | median)
    awk -v m="$model" -v t="$threads" -v a="$ma" -v b="$mb" \
      'BEGIN { printf "| %s | %d | %.2f | %.2f | %.2fx |\n", m, t, a, b, a / b }'
  done
done
echo
echo "engines: $(./blas --version | sed 's/.*), //') / $(./dnnl --version | sed 's/.*), //'); $(nproc) cores, $(date -u +%Y-%m-%d)"
