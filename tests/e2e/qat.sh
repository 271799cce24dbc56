#!/bin/sh
# Quantization-aware training (--qat, --quantize=qat): a bad --quantize value
# is a usage error (exit 2) that names the valid ones; --print-after=quantize
# shows the fake_quant ops and the observers; the Fashion-MNIST MLP built
# with --qat trains 300 steps to a test accuracy within 1.5 points of the
# f32 model's after the same 300 steps (same seed and batches), its
# checkpoint holds the observers, and `eval` from it gives the accuracy
# training reported; --init from the f32 checkpoint (no observers)
# fine-tunes.
# usage: qat.sh NNC SOURCE_DIR
set -u
nnc=$1 src=$(cd "$2" && pwd)
ex=$src/examples/fashion_mlp.nn
. "$(dirname "$0")/lib.sh"

expect 2 "$nnc" build "$ex" --quantize=int3 -o "$tmp/x"
grep -q "nnc: error: --quantize must be int8 (post-training int8 quantization) or qat (quantization-aware training), not 'int3'" \
  "$tmp/err" || bad "--quantize=int3 message"
expect 2 "$nnc" dump "$ex" --quantize= --after=quantize
grep -q "not ''" "$tmp/err" || bad "--quantize= message"
expect 2 "$nnc" build "$ex" --quantize=int8 --qat -o "$tmp/x"
grep -q "\-\-quantize=int8 and --quantize=qat (or --qat) contradict each other" "$tmp/err" || bad "int8 + qat message"
expect 0 "$nnc" build "$ex" --qat --quantize=qat --emit=obj -o "$tmp/x.o"
"$nnc" build --list-passes | grep -q "^  quantize " || bad "--list-passes lists quantize"

# The IR after quantize: fake_quant of both weights and both layer inputs in
# forward, eval_step and loss_step (3 x 4), and the two observers.
expect 0 "$nnc" build "$ex" --qat --print-after=quantize -o "$tmp/mlp_qat"
grep -q "^# -- after quantize --" "$tmp/out" || bad "--print-after=quantize header"
n=$(grep -c " = fake_quant " "$tmp/out")
[ "$n" = 12 ] || bad "$n fake_quant ops after quantize, expected 12"
grep -q "^stats @dense_1.w.act_scale : f32\[\] = zeros" "$tmp/out" || bad "observer of dense_1"
grep -q "^stats @dense_2.w.act_scale : f32\[\] = zeros" "$tmp/out" || bad "observer of dense_2"
grep -q "store @dense_2.w.act_scale" "$tmp/out" || bad "loss_step updates the observers"
expect 0 "$nnc" dump "$ex" --qat
grep -q fake_quant "$tmp/out" && bad "nnc dump without --after shows the IR as lowered, before quantize"

# Training: QAT against f32, the same 300 steps.
expect 0 "$nnc" build "$ex" -o "$tmp/mlp"
cd "$tmp" || exit 1
./mlp train --steps 300 --threads 2 --log f32.csv --checkpoint f32.safetensors --quiet > /dev/null ||
  bad "f32 training"
./mlp_qat train --steps 300 --threads 2 --log qat.csv --checkpoint qat.safetensors --quiet > /dev/null ||
  bad "QAT training"
awk -F, -f "$src/tests/e2e/loss_fell.awk" qat.csv || bad "QAT loss did not fall"
f32=$(awk -F, '$1 == "test" { print $5 }' f32.csv)
qat=$(awk -F, '$1 == "test" { print $5 }' qat.csv)
echo "test accuracy after 300 steps: f32 $f32, QAT $qat"
awk -v f="$f32" -v q="$qat" 'BEGIN { exit !(q > 0.7 && q >= f - 0.015) }' ||
  bad "QAT test accuracy $qat is not within 1.5 points of f32's $f32"
grep -a -q '"dense_1.w.act_scale"' qat.safetensors && grep -a -q '"dense_2.w.act_scale"' qat.safetensors ||
  bad "the checkpoint lacks the observers"
./mlp_qat eval --checkpoint qat.safetensors > eval.txt 2>&1 || bad "QAT eval"
acc=$(awk '/test_acc:/ { for (i = 1; i <= NF; i++) if ($i == "test_acc:") print $(i + 1) }' eval.txt)
awk -v a="$acc" -v q="$qat" 'BEGIN { d = a - q; exit !(d < 0.0001 && d > -0.0001) }' ||
  bad "eval from the checkpoint gives accuracy '$acc', training reported $qat"

# Fine-tuning: --init from the f32 checkpoint, which has no observers (they
# start at 0, so from the first batch); a note says so. Its first loss is the
# trained model's (the f32 run's last ones are about 0.5), not a fresh one's.
./mlp_qat train --init f32.safetensors --steps 20 --threads 2 --log ft.csv --quiet > /dev/null 2> ft.err ||
  { bad "QAT fine-tuning from the f32 checkpoint"; cat ft.err; }
grep -q "note: f32.safetensors has no statistic 'dense_1.w.act_scale'; it starts from its initial value" ft.err ||
  bad "--init note about the observers"
first=$(awk -F, '$1 == "step" && $3 == 1 { print $4 }' ft.csv)
awk -v l="$first" 'BEGIN { exit !(l > 0 && l < 1.0) }' || bad "fine-tuning's first loss $first: the f32 weights were not loaded"
finish
