#!/bin/sh
# Structured pruning on Fashion-MNIST (docs/optimize.md, "Structured
# pruning"): for the MLP and the CNN, train the dense model, prune 50 % of
# the units of every prunable layer (nnc build --prune=structured:0.5
# --checkpoint), fine-tune the pruned model for 1 epoch from the pruned
# checkpoint (--init), and report test accuracy (dense, pruned before and
# after fine-tuning) and speed, pruned against dense: the training step
# (`./bin bench`, ms_per_step, wall time) and the forward pass: `./bin
# eval` of the 60,000 training images (given as its test set, for enough
# work to time) at batch 256 on one thread, its CPU time
# (user + system, which waiting for a loaded machine's cores does not
# inflate), less that of the same eval by a one-layer model on the same
# inputs (dense(flatten(x), 10): reading and decoding the images, which a
# training binary cannot skip). The binaries are timed in alternating
# rounds in one run and each keeps its fastest round, so load on a shared
# machine does not decide the ratio.
#
# usage: sh bench/prune_structured.sh [BUILD_DIR]
#   env: MODELS="fashion_mlp fashion_cnn", RATIO=0.5, EPOCHS (dense training;
#   default: the model's train block), ROUNDS=5, STEPS=100 (bench steps)
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$src/build}" && pwd)
nnc=$build/nnc
models=${MODELS:-fashion_mlp fashion_cnn}
ratio=${RATIO:-0.5} rounds=${ROUNDS:-5} steps=${STEPS:-100}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cd "$tmp"

acc() { "./$1" eval --checkpoint "$2" | awk '/test_acc/ { sub(/.*test_acc: /, ""); print $1; exit }'; }
ms_step() { "./$1" bench --steps "$steps" | awk '/^ms_per_step/ { print $2 }'; }
data=${DATA:-/usr/share/datasets/fashion-mnist}
mkdir big
for f in images-idx3-ubyte labels-idx1-ubyte; do
  ln -s "$data/train-$f.gz" "big/train-$f.gz" && ln -s "$data/train-$f.gz" "big/t10k-$f.gz"
done
ms_eval() { # CPU ms of one pass over the 60,000 images, one thread
  /usr/bin/time -f '%U %S' -o cpu.txt "./$1" eval --checkpoint "$2" --data big --batch 256 --threads 1 > /dev/null
  awk '{ print 1000 * ($1 + $2) }' cpu.txt
}
min() { awk -v a="$1" -v b="$2" 'BEGIN { print (a == "" || b + 0 < a + 0) ? b : a }'; }
params() { "$nnc" summary "$@" 2> /dev/null | awk '/^Total params/ { print $3 }'; }

# The one-layer model on m's inputs and data: what eval costs besides the
# model's forward pass.
baseline() {
  { echo "model baseline {"; grep '^ *input ' "$1"; echo "  logits = dense(flatten(x), 10)"
    echo "  output logits"; echo "  minimize cross_entropy(logits, y)"; echo "}"; sed -n '/^train/,$p' "$1"; } > base.nn
  "$nnc" build base.nn -o base 2> /dev/null
  ./base train --steps 1 --quiet --checkpoint base.safetensors > /dev/null
}

printf '%-12s %7s %7s %7s %7s  %9s %9s %6s  %9s %9s %6s  %s\n' model dense pruned tuned drop \
  "step_ms" "pr_step" "speed" "fwd_ms" "pr_fwd" "speed" "params dense -> pruned"
for m in $models; do
  nn=$src/examples/$m.nn
  baseline "$nn"
  "$nnc" build "$nn" -o dense 2> /dev/null
  ./dense train ${EPOCHS:+--epochs "$EPOCHS"} --quiet --checkpoint dense.safetensors > /dev/null
  "$nnc" build "$nn" --prune=structured:"$ratio" --checkpoint dense.safetensors -o pruned 2> report.txt
  grep '^prune:' report.txt >&2
  a_dense=$(acc dense dense.safetensors) a_pruned=$(acc pruned pruned.safetensors)
  ./pruned train --init pruned.safetensors --epochs 1 --quiet --checkpoint tuned.safetensors > /dev/null
  a_tuned=$(acc pruned tuned.safetensors)
  sd="" sp="" fd="" fp="" fb=""
  for r in $(seq "$rounds"); do
    sd=$(min "$sd" "$(ms_step dense)") sp=$(min "$sp" "$(ms_step pruned)")
    fd=$(min "$fd" "$(ms_eval dense dense.safetensors)") fp=$(min "$fp" "$(ms_eval pruned tuned.safetensors)")
    fb=$(min "$fb" "$(ms_eval base base.safetensors)")
  done
  echo "$m: eval CPU ms: dense $fd, pruned $fp, one-layer baseline $fb" >&2
  fd=$((fd - fb)) fp=$((fp - fb))
  awk -v m="$m" -v ad="$a_dense" -v ap="$a_pruned" -v at="$a_tuned" -v sd="$sd" -v sp="$sp" -v fd="$fd" -v fp="$fp" \
    -v pd="$(params "$nn")" -v pp="$(params "$nn" --prune=structured:"$ratio" --checkpoint dense.safetensors)" \
    'BEGIN { printf "%-12s %7.4f %7.4f %7.4f %7.2f  %9.2f %9.2f %5.2fx  %9d %9d %5.2fx  %s -> %s\n",
             m, ad, ap, at, 100 * (ad - at), sd, sp, sd / sp, fd, fp, fd / fp, pd, pp }'
done
echo "(accuracy: test set; drop: dense - tuned, in points; step: train_step ms at batch 64, fastest of $rounds;" \
  "fwd: eval of 60,000 images at batch 256, one thread, CPU ms less the one-layer baseline's, fastest of $rounds)"
