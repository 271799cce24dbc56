#!/bin/sh
# nnc build --target=cuda's command line, without a GPU: --gpu-arch values
# (bad ones are usage errors, exit 2), --tf32, --emit=cuda|ptx (only for
# --target=cuda), -v's ptxas report, what the host object embeds (one cubin
# per arch, then the PTX; NnrtCuda.tf32), and a clear error when NVRTC is
# missing or cannot compile for an arch (exit 1); nnc bench --target=cuda.
# usage: cuda_cli.sh NNC SOURCE_DIR
set -u
nnc=$1 src=$2
ex=$src/examples/fashion_mlp.nn
. "$(dirname "$0")/lib.sh"

"$nnc" --version | grep -q "^  cuda " || bad "--version lists the cuda target"
"$nnc" build --help > "$tmp/help"
for opt in "--gpu-arch=" "--tf32" "--emit=cuda|ptx"; do
  grep -q -- "$opt" "$tmp/help" || bad "build --help lacks $opt"
done

# Usage errors: exit 2, before anything is compiled.
for arch in sm_70 sm_80,,sm_90 sm_80, compute_90 sm_90,sm_90 sm90 sm_9a ""; do
  expect 2 "$nnc" build --target=cuda "--gpu-arch=$arch" "$ex"
  says "error: --gpu-arch"
done
expect 2 "$nnc" build --target=cuda --gpu-arch "$ex"
says "--gpu-arch needs a value"
expect 2 "$nnc" build --target=cuda --tf32=1 "$ex"
says "--tf32 takes no value"
expect 2 "$nnc" build --target=cuda --cpu=generic "$ex"
says "unknown option '--cpu' for target cuda"
expect 2 "$nnc" build --gpu-arch=sm_90 "$ex"
says "unknown option '--gpu-arch' for target cpu"
for kind in cuda ptx; do
  expect 2 "$nnc" build --emit=$kind "$ex"
  says "--emit=$kind writes GPU kernels: it needs --target=cuda"
done

# NVRTC missing, or too old for an arch: exit 1 saying so.
expect 1 env NNC_NVRTC=/nonexistent/libnvrtc.so.13 "$nnc" build --target=cuda --emit=ptx -o "$tmp/x.ptx" "$ex"
says "needs NVRTC, the CUDA toolkit's runtime compiler: cannot load NNC_NVRTC='/nonexistent/libnvrtc.so.13'"
expect 1 "$nnc" build --target=cuda --gpu-arch=sm_80,sm_99 --emit=ptx -o "$tmp/x.ptx" "$ex"
grep -q "needs NVRTC" "$tmp/err" && { echo "skipped: no NVRTC"; cat "$tmp/err"; exit 77; }
says "cannot compile for sm_99; it supports "

# --emit=cuda: the kernels' source, named as the CPU backend names kernels.
expect 0 "$nnc" build --target=cuda --emit=cuda -o "$tmp/mlp.cu" "$ex"
grep -q '^extern "C" __global__ void .*nnc_train_step_k[0-9]*_[a-z]*(NnrtCuArgs a)' "$tmp/mlp.cu" ||
  bad "--emit=cuda: no train_step kernel in the source"
# --emit=ptx: PTX for the newest arch only, with every kernel of the source.
expect 0 "$nnc" build --target=cuda --gpu-arch=sm_90,sm_80 --emit=ptx -o "$tmp/mlp.ptx" "$ex"
grep -q "^\.target sm_90" "$tmp/mlp.ptx" || bad "--emit=ptx with sm_80,sm_90: not PTX for sm_90"
sed -n 's/^extern "C" __global__ void .* \(nnc_[a-z_]*_k[0-9]*_[a-z_0-9]*\)(NnrtCuArgs a).*/\1/p' "$tmp/mlp.cu" \
  | sort > "$tmp/kernels.cu"
sed -n 's/^\.visible \.entry \(nnc_[a-z_0-9]*\)(.*/\1/p' "$tmp/mlp.ptx" | sort > "$tmp/kernels.ptx"
[ -s "$tmp/kernels.cu" ] && cmp -s "$tmp/kernels.cu" "$tmp/kernels.ptx" ||
  bad "the PTX's entries are not the source's kernels: $(diff "$tmp/kernels.cu" "$tmp/kernels.ptx" | head -5)"

# The PTX for sm_80 passes the toolkit's ptxas for sm_80 (cuda_build.sh
# checks every example's embedded sm_90 PTX).
expect 0 "$nnc" build --target=cuda --gpu-arch=sm_80 --emit=ptx -o "$tmp/mlp80.ptx" "$ex"
grep -q "^\.target sm_80" "$tmp/mlp80.ptx" || bad "--emit=ptx --gpu-arch=sm_80: not PTX for sm_80"
for d in "${CUDA_HOME:-}" /usr/local/cuda; do
  [ -n "$d" ] && [ -x "$d/bin/ptxas" ] && { expect 0 "$d/bin/ptxas" -arch=sm_80 "$tmp/mlp80.ptx" -o "$tmp/mlp80.cubin"; break; }
done

# -v: ptxas's report, one line per kernel and arch.
expect 0 "$nnc" build --target=cuda --gpu-arch=sm_80,sm_90 -v --emit=obj -o "$tmp/mlp.o" "$ex"
for sm in 80 90; do
  n=$(grep -c "^nnc: ptxas sm_$sm nnc_[a-z_0-9]*: Used [0-9]* registers.*spill stores, [0-9]* bytes spill loads" \
    "$tmp/err")
  [ "$n" = "$(wc -l < "$tmp/kernels.cu")" ] || bad "-v: $n report lines for sm_$sm, $(wc -l < "$tmp/kernels.cu") kernels"
done

# What the object embeds: NnrtCuda {kernels, table, images, image table, tf32}.
cuda_row() { grep "^@nnrt_cuda = " "$1" | sed 's/.*{ *//; s/ *}.*//'; }
expect 0 "$nnc" build --target=cuda --gpu-arch=sm_80,sm_90 --emit=llvm -o "$tmp/mlp.ll" "$ex"
row=$(cuda_row "$tmp/mlp.ll")
echo "$row" | grep -q "i32 $(wc -l < "$tmp/kernels.cu"), ptr @nnrt.cu_kernels, i32 3, ptr @nnrt.cu_images, i32 0$" ||
  bad "default build: nnrt_cuda is { $row }, want its kernels, 3 images, tf32 0"
grep -q "^@nnrt.cu_images = .*{ i32 80, i32 0, ptr .*{ i32 90, i32 0, ptr .*{ i32 90, i32 1, ptr " "$tmp/mlp.ll" ||
  bad "the images are not sm_80 cubin, sm_90 cubin, sm_90 PTX"
expect 0 "$nnc" build --target=cuda --tf32 --emit=llvm -o "$tmp/tf32.ll" "$ex"
row=$(cuda_row "$tmp/tf32.ll")
echo "$row" | grep -q "i32 2, ptr @nnrt.cu_images, i32 1$" || bad "--tf32: nnrt_cuda is { $row }, want 2 images, tf32 1"

# --quantize=int8 inference binaries: qmatmul as __dp4a kernels, the binary
# linked (weights: a few CPU training steps).
expect 0 "$nnc" build "$ex" -o "$tmp/mlp_cpu"
expect 0 "$tmp/mlp_cpu" train --steps 3 --threads 1 --quiet --checkpoint "$tmp/w.safetensors"
q="--infer --quantize=int8 --checkpoint $tmp/w.safetensors --calibrate 64"
expect 0 "$nnc" build "$ex" --target=cuda $q --emit=cuda -o "$tmp/q.cu"
grep -q '__global__ .* nnc_forward_k[0-9]*_qmatmul(NnrtCuArgs a)' "$tmp/q.cu" && grep -q "__dp4a" "$tmp/q.cu" ||
  bad "--quantize=int8 --target=cuda: no qmatmul kernel with __dp4a"
expect 0 "$nnc" build "$ex" --target=cuda $q --gpu-arch=sm_80,sm_90 -o "$tmp/q_gpu"

# nnc bench --target=cuda: the target's options checked before any build
# (exit 2); here, with no GPU, the fused binary's profile says so (exit 1).
expect 2 "$nnc" bench --target=bogus "$ex"
says "unknown target 'bogus'"
expect 2 "$nnc" bench --gpu-arch=sm_70 --target=cuda "$ex"
says "sm_70"
expect 2 "$nnc" bench --gpu-arch=sm_90 "$ex"
says "unknown option or missing value '--gpu-arch=sm_90'"
"$nnc" bench --help | grep -q -- "--target=<t>" || bad "bench --help lacks --target"
expect 1 "$nnc" bench --target cuda --gpu-arch=sm_80 --tf32 --steps 1 --rounds 1 "$ex"
says "fused: error: no CUDA device: "

finish
