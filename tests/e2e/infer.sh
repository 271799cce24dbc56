#!/bin/sh
# nnc build --infer: an inference binary (forward only) with the trained
# weights of --checkpoint built in. Its eval (no --checkpoint) gives the
# training binary's test accuracy and loss on the same checkpoint, predict the
# same classes, bench a ms_per_step, and it still runs after the checkpoint
# files are deleted (one deployable file). It has no train or profile
# command (exit 2), and --help lists only what it has. Built without
# --checkpoint, eval and predict need one and say so. The CNN gives the same
# accuracy as well.
# usage: infer.sh NNC SOURCE_DIR
set -eu
nnc=$1 src=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
images=/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz
fail() { echo "FAIL: $*"; exit 1; }
# "acc loss" of an eval's first line: test_loss: L - test_acc: A (N samples)
acc_loss() { awk '/test_acc/ { print $5, $2; exit }'; }
same_eval() { # what, reference "acc loss", candidate "acc loss": acc equal, loss within 2e-4
  echo "$1: reference $2, inference binary $3"
  echo "$2 $3" | awk '{ exit !($1 == $3 && $2 - $4 < 2e-4 && $4 - $2 < 2e-4) }' || fail "$1 differs"
}
refuse() { # expected-text, command...
  want=$1; shift
  rc=0; "$@" > out.txt 2> err.txt || rc=$?
  [ "$rc" = 2 ] || { cat out.txt err.txt; fail "'$*' exited $rc, expected 2"; }
  grep -q "$want" err.txt || { cat err.txt; fail "'$*' did not say '$want'"; }
}

"$nnc" build "$src/examples/fashion_mlp.nn" -o mlp 2> /dev/null
./mlp train --steps 100 --quiet --checkpoint trained.safetensors > /dev/null
ref=$(./mlp eval --checkpoint trained.safetensors | acc_loss)
./mlp predict --checkpoint trained.safetensors --input "$images" > want.txt

# Without --checkpoint at build time: no weights inside, so eval needs one.
"$nnc" build "$src/examples/fashion_mlp.nn" --infer -o bare 2> /dev/null
refuse "this inference binary has no embedded weights" ./bare eval
refuse "this inference binary has no embedded weights" ./bare predict --input "$images"
same_eval "bare --infer binary with --checkpoint" "$ref" "$(./bare eval --checkpoint trained.safetensors | acc_loss)"

"$nnc" build "$src/examples/fashion_mlp.nn" --infer --checkpoint trained.safetensors -o mlp_infer 2> /dev/null
rm trained.safetensors mlp_infer.safetensors # the binary is all it needs
same_eval "MLP eval" "$ref" "$(./mlp_infer eval | acc_loss)"
./mlp_infer eval | grep -q "Ankle boot" || fail "eval has no per-class report"
./mlp_infer predict --input "$images" > got.txt
cmp -s want.txt got.txt || fail "predict differs from the training binary's"
[ "$(wc -l < got.txt)" = 10000 ] || fail "predict printed $(wc -l < got.txt) lines, not 10000"
./mlp_infer bench --steps 20 > bench.txt
grep -q "^ms_per_step [0-9.]*$" bench.txt || { cat bench.txt; fail "bench printed no ms_per_step"; }
grep -q "^samples_per_s [0-9]*$" bench.txt || { cat bench.txt; fail "bench printed no samples_per_s"; }
grep -q "the forward pass" bench.txt || { cat bench.txt; fail "bench does not say it timed the forward pass"; }
refuse "this is an inference binary (nnc build --infer): it has no train command" ./mlp_infer train --steps 1
refuse "it has no profile command" ./mlp_infer profile
refuse "not an option of bench" ./mlp_infer bench --lr 0.1
./mlp_infer --help > help.txt
for c in eval predict bench; do grep -q "^  $c " help.txt || fail "--help does not list $c"; done
for c in train profile; do ! grep -q "^  $c " help.txt || fail "--help lists $c"; done

# The CNN: scans nothing, but conv and pool kernels, and its own weights.
"$nnc" build "$src/examples/fashion_cnn.nn" -o cnn 2> /dev/null
./cnn train --steps 20 --quiet --checkpoint cnn.safetensors > /dev/null
ref=$(./cnn eval --checkpoint cnn.safetensors | acc_loss)
"$nnc" build "$src/examples/fashion_cnn.nn" --infer --checkpoint cnn.safetensors -o cnn_infer 2> /dev/null
rm cnn.safetensors
same_eval "CNN eval" "$ref" "$(./cnn_infer eval | acc_loss)"
echo ok
