#!/bin/sh
# Post-training int8 (nnc build --infer --quantize=int8 --checkpoint F
# --calibrate N): the Fashion-MNIST MLP after a short training run, as an
# int8 inference binary, evaluates within 2 points of the f32 inference
# binary of the same checkpoint; its <output>.safetensors holds I8 weights
# whose values numpy recomputes from the f32 ones (ptq_weights.py), 3.5x+
# smaller; `nnc dump --after=quantize` shows the int8 ops and the calibrated
# scales, and a lower percentile gives a smaller scale; a QAT checkpoint's
# observers are used instead of calibration and the int8 binary evaluates
# as the QAT model does; the CNN builds and evaluates within 2 points too,
# its first convolution (9 terms per output channel) left f32 and named on
# stderr; a QAT CNN leaves it f32 too, and its int8 binary predicts the
# QAT model's classes.
# Bad input exits 2: --quantize=int3, --quantize=int8 without --checkpoint,
# --quantize=int8 without --infer, --calibrate without --quantize=int8 or
# with a bad count, a checkpoint of another model.
# usage: ptq_int8.sh NNC SOURCE_DIR
set -u
nnc=$(cd "$(dirname "$1")" && pwd)/$(basename "$1") src=$(cd "$2" && pwd)
mlp=$src/examples/fashion_mlp.nn cnn=$src/examples/fashion_cnn.nn
py=/usr/bin/python3
. "$(dirname "$0")/lib.sh"
cd "$tmp" || exit 1 # expect's output: out, err
# acc BINARY [EVAL OPTIONS]: its test accuracy
acc() { b=$1; shift; ./"$b" eval "$@" | awk '/test_acc:/ { for (i = 1; i <= NF; i++) if ($i == "test_acc:") print $(i + 1) }'; }
# within A B: |A - B| <= 0.02
within() { awk -v a="$1" -v b="$2" 'BEGIN { d = a - b; exit !(a > 0.5 && d <= 0.02 && d >= -0.02) }'; }

expect 0 "$nnc" build "$mlp" -o mlp
./mlp train --steps 300 --threads 2 --quiet --checkpoint mlp.safetensors > /dev/null || bad "MLP training"

# Bad input.
expect 2 "$nnc" build "$mlp" --infer --quantize=int3 --checkpoint mlp.safetensors -o x
grep -q "not 'int3'" err || bad "--quantize=int3 message"
expect 2 "$nnc" build "$mlp" --infer --quantize=int8 -o x
grep -q "nnc: error: --quantize=int8 quantizes a trained model: give its weights with --checkpoint <file>" err ||
  bad "--quantize=int8 without --checkpoint message"
expect 2 "$nnc" build "$mlp" --infer --checkpoint mlp.safetensors --calibrate 100 -o x
grep -q "calibrate options set the activation scales of --quantize=int8, which is not given" err ||
  bad "--calibrate without --quantize=int8 message"
expect 2 "$nnc" build "$mlp" --infer --quantize=int8 --checkpoint mlp.safetensors --calibrate 0 -o x
grep -q "calibrate takes a sample count from 1 to 10000000, not '0'" err || bad "--calibrate 0 message"
expect 2 "$nnc" build "$mlp" --infer --quantize=int8 --checkpoint mlp.safetensors --calibrate-percentile 101 -o x
expect 2 "$nnc" build "$cnn" --infer --quantize=int8 --checkpoint mlp.safetensors -o x
grep -q "checkpoint of another model" err || bad "another model's checkpoint message"
expect 2 "$nnc" build "$mlp" --quantize=int8 --checkpoint mlp.safetensors -o x
grep -q "nnc: error: --quantize=int8 makes an int8 inference model: add --infer" err || bad "--quantize=int8 without --infer message"

# The IR after quantize: int8 ops, i8 weights, calibrated scales.
expect 0 "$nnc" dump "$mlp" --infer --quantize=int8 --checkpoint mlp.safetensors --calibrate 200 --after=quantize
grep -q "^calibrate: 2 activation scales from 200 samples of .* (max |x|)" err || bad "calibration report"
for w in dense_1.w dense_2.w; do
  grep -q "^param @$w : " out && bad "the f32 $w is still there"
  grep -q "^param @$w.q : i8\[" out || bad "no i8 $w.q"
  grep -q "^param @$w.scale : f32\[" out || bad "no $w.scale"
  grep -q "^stats @$w.act_scale : f32\[\] = zeros data=\[" out || bad "no calibrated $w.act_scale"
done
[ "$(grep -c ' = qmatmul ' out)" = 2 ] || bad "expected 2 qmatmul"
[ "$(grep -c ' = dequantize ' out)" = 2 ] || bad "expected 2 dequantize"
scale() { sed -n "s/^stats @dense_2.w.act_scale : f32\[\] = zeros data=\[\(.*\)\]$/\1/p" out; }
smax=$(scale)
expect 0 "$nnc" dump "$mlp" --infer --quantize=int8 --checkpoint mlp.safetensors --calibrate 200 \
  --calibrate-percentile 99 --after=quantize
sp=$(scale)
echo "dense_2 input scale: max |x| $smax, 99th percentile $sp"
awk -v a="$sp" -v b="$smax" 'BEGIN { exit !(a > 0 && a < b) }' || bad "percentile scale $sp is not below the max's $smax"

# compare NAME MODEL SAMPLES: NAME.safetensors (a checkpoint of MODEL) as an
# f32 and an int8 inference binary (calibrated on SAMPLES); the int8 one
# evaluates within 2 points, and its checkpoint is the f32 one quantized.
compare() {
  expect 0 "$nnc" build "$2" --infer --checkpoint "$1.safetensors" -o "$1_f32"
  expect 0 "$nnc" build "$2" --infer --quantize=int8 --checkpoint "$1.safetensors" --calibrate "$3" -o "$1_int8"
  a=$(acc "$1_f32") b=$(acc "$1_int8")
  echo "$1 test accuracy: f32 $a, int8 $b"
  within "$a" "$b" || bad "int8 $1 accuracy $b is not within 2 points of f32's $a"
  $py "$src/tests/e2e/ptq_weights.py" "$1_f32.safetensors" "$1_int8.safetensors" || bad "int8 checkpoint of $1"
}

# The int8 binary against the f32 inference binary.
compare mlp "$mlp" 500
grep -q "stays f32" err && bad "an MLP layer stayed f32: $(grep 'stays f32' err)"
fs=$(wc -c < mlp_f32.safetensors) is=$(wc -c < mlp_int8.safetensors)
[ $((is * 35)) -lt $((fs * 10)) ] || bad "int8 weights $is bytes are not 3.5x smaller than f32's $fs"
./mlp_int8 bench --batch 256 --steps 5 > /dev/null || bad "int8 bench"

# A QAT checkpoint: its observers are the scales, nothing is calibrated.
expect 0 "$nnc" build "$mlp" --qat -o mlp_qat
./mlp_qat train --steps 100 --threads 2 --quiet --checkpoint qat.safetensors > /dev/null || bad "QAT training"
expect 0 "$nnc" build "$mlp" --infer --quantize=int8 --checkpoint qat.safetensors -o qat_int8
grep -q "^calibrate: 2 activation scales from the QAT observers in qat.safetensors" err || bad "QAT observers not used"
q=$(acc mlp_qat --checkpoint qat.safetensors)
b=$(acc qat_int8)
echo "QAT model $q, its int8 binary $b"
awk -v a="$q" -v b="$b" 'BEGIN { d = a - b; exit !(a > 0.5 && d <= 0.005 && d >= -0.005) }' ||
  bad "int8 of the QAT checkpoint gives $b, the QAT model $q"

# The CNN builds and evaluates.
expect 0 "$nnc" build "$cnn" -o cnn
./cnn train --steps 100 --threads 2 --quiet --checkpoint cnn.safetensors > /dev/null || bad "CNN training"
compare cnn "$cnn" 200
# Its first convolution (1 channel x 3x3: 9 terms per output channel) stays
# f32, as the build says; ptq_weights.py checked its f32 filters carried over.
grep -q "^quantize: @conv2d_1.w stays f32: its dot product has 9 terms per output channel, fewer than 16$" err ||
  bad "the CNN build does not report conv2d_1.w staying f32"

# A QAT CNN: QAT leaves that first convolution f32 too (the same rule, the
# same stderr line, no observer), so the int8 binary of its checkpoint
# computes what the QAT model does: the same accuracy and, sample by
# sample, the same class (up to an activation that f32 rounding puts on the
# other side of a rounding boundary: 0 of 10000 when measured; when QAT
# rounded that layer to 8 bits, 24 classes differed).
expect 0 "$nnc" build "$cnn" --qat -o cnn_qat
grep -q "^quantize: @conv2d_1.w stays f32: its dot product has 9 terms per output channel, fewer than 16$" err ||
  bad "the QAT CNN build does not report conv2d_1.w staying f32"
./cnn_qat train --steps 100 --threads 2 --quiet --checkpoint cnn_qat.safetensors > /dev/null || bad "QAT CNN training"
grep -a -q '"conv2d_1.w.act_scale"' cnn_qat.safetensors && bad "the QAT CNN has an observer for its f32 first layer"
expect 0 "$nnc" build "$cnn" --infer --quantize=int8 --checkpoint cnn_qat.safetensors -o cnn_qat_int8
grep -q "^calibrate: 2 activation scales from the QAT observers in cnn_qat.safetensors" err ||
  bad "QAT CNN observers not used"
q=$(acc cnn_qat --checkpoint cnn_qat.safetensors) b=$(acc cnn_qat_int8)
images=/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz
./cnn_qat predict --checkpoint cnn_qat.safetensors --input "$images" | cut -f1 > qat_classes.txt
./cnn_qat_int8 predict --input "$images" | cut -f1 > int8_classes.txt
ndiff=$(paste qat_classes.txt int8_classes.txt | awk '$1 != $2 { n++ } END { print n + 0 }')
echo "QAT CNN $q, its int8 binary $b; $ndiff of $(wc -l < qat_classes.txt) test classes differ"
awk -v a="$q" -v b="$b" 'BEGIN { d = a - b; exit !(a > 0.5 && d <= 0.0002 && d >= -0.0002) }' ||
  bad "int8 of the QAT CNN checkpoint gives $b, the QAT model $q"
[ "$(wc -l < int8_classes.txt)" = 10000 ] && [ "$ndiff" -le 2 ] ||
  bad "$ndiff test classes of the QAT CNN's int8 binary differ from the QAT model's"

finish
