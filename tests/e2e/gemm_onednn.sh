#!/bin/sh
# nnc build --gemm=auto|openblas|onednn (runtime/rt_gemm_select.c): a
# binary's matrix products run on oneDNN's sgemm (rt_gemm_onednn.c, libdnnl
# loaded when it starts) or OpenBLAS. For the MLP (plain and transposed
# products) and the row LSTM (per-step products and a batched one):
#   - --gemm=onednn trains from the same seed to --gemm=openblas's losses
#     and weights within f32 rounding (the two libraries sum in other
#     orders), byte-identically on 1 and 2 threads (the runtime's cut, not
#     oneDNN's threads, splits a product), and names its engine;
#   - the default (auto) binary runs on oneDNN where libdnnl loads, trains
#     byte-identically to the --gemm=onednn one, and, where the libdnnl it
#     finds is not a usable one (a stand-in without its symbols, first on
#     LD_LIBRARY_PATH), says why and trains byte-identically to the
#     --gemm=openblas one, where --gemm=onednn refuses to start;
# and --gemm's misuses are refused.
# usage: gemm_onednn.sh NNC SOURCE_DIR
set -eu
nnc=$1 src=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
fail() { echo "FAIL: $*"; exit 1; }

for model in fashion_mlp fashion_rows_lstm; do
  rm -f ./*.safetensors ./*.csv
  "$nnc" build "$src/examples/$model.nn" --gemm=openblas -o blas 2> /dev/null
  "$nnc" build "$src/examples/$model.nn" --gemm=onednn -o dnnl 2> /dev/null
  "$nnc" build "$src/examples/$model.nn" -o auto 2> /dev/null
  ./dnnl --version | grep -q "oneDNN [0-9]*\.[0-9]*\.[0-9]* sgemm$" || fail "$model: --version: $(./dnnl --version)"
  ./blas --version | grep -q "OpenBLAS .* kernels$" || fail "$model: --gemm=openblas: $(./blas --version)"
  ./auto --version | grep -q "oneDNN [0-9]*\.[0-9]*\.[0-9]* sgemm$" ||
    fail "$model: the default binary does not run on the installed oneDNN: $(./auto --version)"
  run() { # binary threads checkpoint log
    ./"$1" train --steps 6 --batch 32 --threads "$2" --seed 5 --quiet --checkpoint "$3" --log "$4" > /dev/null
  }
  run blas 1 blas.safetensors blas.csv
  run dnnl 1 dnnl1.safetensors dnnl1.csv
  run dnnl 2 dnnl2.safetensors dnnl2.csv
  run auto 2 auto.safetensors auto.csv
  cmp dnnl1.safetensors dnnl2.safetensors || fail "$model: the oneDNN binary trains differently on 1 and 2 threads"
  cmp dnnl1.safetensors auto.safetensors || fail "$model: the default binary on oneDNN trains unlike --gemm=onednn"
  # A libdnnl.so.3 without oneDNN's symbols, found first: auto falls back
  # to OpenBLAS and says why; --gemm=onednn stops with that reason.
  mkdir -p fake && echo 'int not_onednn;' > fake/f.c && cc -shared -fPIC fake/f.c -o fake/libdnnl.so.3
  LD_LIBRARY_PATH=$tmp/fake ./auto --version > v.txt
  grep -q "OpenBLAS .* kernels; oneDNN (not loaded: libdnnl.so.3 lacks dnnl_sgemm" v.txt ||
    fail "$model: auto with an unusable libdnnl: $(cat v.txt)"
  LD_LIBRARY_PATH=$tmp/fake run auto 1 fallback.safetensors fallback.csv
  cmp blas.safetensors fallback.safetensors || fail "$model: auto's OpenBLAS fallback trains unlike --gemm=openblas"
  if LD_LIBRARY_PATH=$tmp/fake ./dnnl train --steps 1 --quiet > /dev/null 2> err.txt; then
    fail "$model: --gemm=onednn ran without a usable libdnnl"
  fi
  grep -q "^error: this binary computes matrix products with oneDNN .*lacks dnnl_sgemm.*apt-get install libdnnl2" err.txt ||
    fail "$model: --gemm=onednn without libdnnl: $(cat err.txt)"
  # f32 rounding, amplified by 6 steps
  /usr/bin/python3 "$src/tests/e2e/agree.py" "$src/tests" "$model: oneDNN against OpenBLAS after 6 steps" \
    dnnl1.safetensors blas.safetensors 2e-3 dnnl1.csv blas.csv 1e-4
done

# Misuse: an unknown engine, a GPU target, and --runtime beside --gemm.
expect_usage() { # message args...
  msg=$1; shift
  if "$nnc" build "$src/examples/fashion_mlp.nn" -o x "$@" 2> err.txt; then fail "accepted: $*"; else rc=$?; fi
  [ "$rc" -eq 2 ] || fail "exit $rc, not 2, for: $*"
  grep -q -- "$msg" err.txt || { cat err.txt; fail "no '$msg' for: $*"; }
}
expect_usage "--gemm must be auto, openblas or onednn, not 'mkl'" --gemm=mkl
expect_usage "--target=cuda has its own" --gemm=onednn --target=cuda
expect_usage "--gemm=onednn and --runtime both choose" --gemm=onednn --runtime=libnnrt.a
echo "ok"
