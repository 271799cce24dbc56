#!/bin/sh
# Post-training int8 against f32, for the Fashion-MNIST MLP and CNN
# (docs/optimize.md, "Post-training int8"): each model is trained as its
# train block says (or for --steps N), then built twice from the same
# checkpoint as an inference binary, f32 and int8 (--calibrate 1000 by
# default), and compared on test accuracy, forward throughput at batch 256
# (`bench --batch 256`, the two binaries in alternating runs, the fastest
# of --rounds each) and the weights written beside each binary.
# usage: bench/int8.sh [--build-dir build] [--steps N] [--rounds 3] [--calibrate 1000] [--keep DIR]
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
build=$src/build steps= rounds=3 calib=1000 keep=
while [ $# -gt 0 ]; do
  case $1 in
  --build-dir) build=$(cd "$2" && pwd); shift 2 ;;
  --steps) steps=$2; shift 2 ;;
  --rounds) rounds=$2; shift 2 ;;
  --calibrate) calib=$2; shift 2 ;;
  --keep) keep=$2; shift 2 ;;
  *) echo "usage: bench/int8.sh [--build-dir build] [--steps N] [--rounds 3] [--calibrate 1000] [--keep DIR]" >&2; exit 2 ;;
  esac
done
nnc=$build/nnc
if [ -n "$keep" ]; then mkdir -p "$keep"; tmp=$(cd "$keep" && pwd); else tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT; fi
cd "$tmp"
acc() { ./"$1" eval | awk '/test_acc:/ { for (i = 1; i <= NF; i++) if ($i == "test_acc:") print $(i + 1) }'; }
ms() { ./"$1" bench --batch 256 | awk '$1 == "ms_per_step" { print $2 }'; }
min() { awk -v a="$1" -v b="$2" 'BEGIN { print (a == "" || b < a) ? b : a }'; }
now() { date +%s.%N; }

echo "| model | f32 acc | int8 acc | drop (points) | f32 ms/step | int8 ms/step | speedup | f32 weights | int8 weights | smaller | calibration |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
for model in fashion_mlp fashion_cnn; do
  "$nnc" build "$src/examples/$model.nn" -o "$model" 2> /dev/null
  ./"$model" train --quiet --checkpoint "$model.safetensors" ${steps:+--steps "$steps"} > /dev/null
  "$nnc" build "$src/examples/$model.nn" --infer --checkpoint "$model.safetensors" -o "${model}_f32" 2> /dev/null
  t0=$(now)
  "$nnc" build "$src/examples/$model.nn" --infer --quantize=int8 --checkpoint "$model.safetensors" \
    --calibrate "$calib" -o "${model}_int8" 2> calib.txt
  t1=$(now)
  a=$(acc "${model}_f32") b=$(acc "${model}_int8")
  f= q= r=0
  while [ "$r" -lt "$rounds" ]; do
    f=$(min "$f" "$(ms "${model}_f32")")
    q=$(min "$q" "$(ms "${model}_int8")")
    r=$((r + 1))
  done
  fs=$(wc -c < "${model}_f32.safetensors") qs=$(wc -c < "${model}_int8.safetensors")
  awk -v m="$model" -v a="$a" -v b="$b" -v f="$f" -v q="$q" -v fs="$fs" -v qs="$qs" -v c="$calib" -v t="$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" \
    'BEGIN { printf "| %s | %.4f | %.4f | %.2f | %.3f | %.3f | %.2fx | %d B | %d B | %.2fx | %d samples, build %.1f s |\n",
             m, a, b, 100 * (a - b), f, q, f / q, fs, qs, fs / qs, c, t }'
done
echo
echo "$(uname -m), $(nproc) cores; ms/step: the fastest of $rounds alternating runs of 'bench --batch 256' (200 steps each)"
