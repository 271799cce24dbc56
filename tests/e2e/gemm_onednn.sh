#!/bin/sh
# nnc build --gemm=onednn: the binary's matrix products run on oneDNN's sgemm
# (runtime/rt_gemm_onednn.c, libdnnl loaded when it starts) instead of
# OpenBLAS. For the MLP (plain and transposed products) and the row LSTM
# (per-step products and a batched one), the oneDNN binary trains from the
# same seed to the OpenBLAS binary's losses and weights within f32 rounding
# (the two libraries sum in other orders), trains byte-identically on 1 and
# 2 threads (the runtime's cut, not oneDNN's threads, splits a product), and
# names its engine; --gemm's misuses are refused.
# usage: gemm_onednn.sh NNC SOURCE_DIR
set -eu
nnc=$1 src=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
fail() { echo "FAIL: $*"; exit 1; }

for model in fashion_mlp fashion_rows_lstm; do
  rm -f ./*.safetensors ./*.csv
  "$nnc" build "$src/examples/$model.nn" -o blas 2> /dev/null
  "$nnc" build "$src/examples/$model.nn" --gemm=onednn -o dnnl 2> /dev/null
  ./dnnl --version | grep -q "oneDNN [0-9]*\.[0-9]*\.[0-9]* sgemm" || fail "$model: --version: $(./dnnl --version)"
  ./blas --version | grep -q "OpenBLAS" || fail "$model: the default binary is not on OpenBLAS: $(./blas --version)"
  run() { # binary threads checkpoint log
    ./"$1" train --steps 6 --batch 32 --threads "$2" --seed 5 --quiet --checkpoint "$3" --log "$4" > /dev/null
  }
  run blas 1 blas.safetensors blas.csv
  run dnnl 1 dnnl1.safetensors dnnl1.csv
  run dnnl 2 dnnl2.safetensors dnnl2.csv
  cmp dnnl1.safetensors dnnl2.safetensors || fail "$model: the oneDNN binary trains differently on 1 and 2 threads"
  /usr/bin/python3 - "$src/tests" blas.safetensors dnnl1.safetensors blas.csv dnnl1.csv "$model" << 'EOF'
import csv, sys
sys.path.insert(0, sys.argv[1])
import numpy as np
import safetensors_np
a, b = safetensors_np.load(sys.argv[2]), safetensors_np.load(sys.argv[3])
assert a.keys() == b.keys(), (a.keys(), b.keys())
worst = 0.0
for name in a:
    x, y = a[name].astype(np.float64), b[name].astype(np.float64)
    # relative to the tensor's scale: f32 rounding, amplified by 6 steps
    err = np.abs(x - y).max() / max(np.abs(x).max(), 1e-30)
    worst = max(worst, err)
    assert err < 2e-3, f"{name}: OpenBLAS and oneDNN weights differ by {err:.2e} of their scale"
def losses(path):
    with open(path) as f:
        rows = list(csv.DictReader(f))
    return np.array([float(r["loss"]) for r in rows if r.get("loss")])
la, lb = losses(sys.argv[4]), losses(sys.argv[5])
assert len(la) > 0 and len(la) == len(lb), (la, lb)
dl = np.abs(la - lb).max() / np.abs(la).max()
assert dl < 1e-4, f"losses differ by {dl:.2e}: {la} vs {lb}"
print(f"{sys.argv[6]}: oneDNN against OpenBLAS after 6 steps: weights within {worst:.1e}, losses within {dl:.1e}")
EOF
done

# Misuse: an unknown engine, a GPU target, and --runtime beside --gemm.
expect_usage() { # message args...
  msg=$1; shift
  if "$nnc" build "$src/examples/fashion_mlp.nn" -o x "$@" 2> err.txt; then fail "accepted: $*"; else rc=$?; fi
  [ "$rc" -eq 2 ] || fail "exit $rc, not 2, for: $*"
  grep -q -- "$msg" err.txt || { cat err.txt; fail "no '$msg' for: $*"; }
}
expect_usage "--gemm must be openblas or onednn, not 'mkl'" --gemm=mkl
expect_usage "--target=cuda has its own" --gemm=onednn --target=cuda
expect_usage "--gemm=onednn and --runtime both choose" --gemm=onednn --runtime=libnnrt.a
echo "ok"
