#!/bin/sh
# The sample subcommand on a tiny character model (one attention head, 16
# bytes of context, the 128 ASCII values: the science fortunes are plain
# ASCII) trained a few steps: it prints the prompt and exactly --length
# bytes, the same text for the same seed (and any thread count), argmax at
# temperature 0, windows that slide past the context; and clear errors for
# bytes outside the vocabulary, a model that is not a character model, and
# a missing checkpoint.
# usage: sample_char.sh NNC SOURCE_DIR
set -eu
nnc=$1 src=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
cat > tiny.nn <<'NN'
model tiny_char {
  input x: i32[B, 16]
  input y: i32[B, 16]
  h = dense(onehot(x, 128), 16, use_bias: false)
  param pos: f32[16, 16] = normal(std: 0.1)
  h = h + pos
  qkv = dense(layer_norm(h), 48)
  a = causal_mask(split(qkv, 3, 0) @ transpose(split(qkv, 3, 1), [0, 2, 1]) * 0.25) |> softmax
  h = h + a @ split(qkv, 3, 2)
  logits = dense(layer_norm(h) |> gelu, 128)
  output logits
  minimize cross_entropy(logits, y)
}
train { optimizer adam(lr: 3e-3); batch 16; data "fortunes-chars:science?len=16" }
NN
"$nnc" build tiny.nn -o tiny
./tiny train --steps 20 --checkpoint tiny.st --quiet >/dev/null

fail() { echo "FAIL: $*"; exit 1; }
bytes() { wc -c < "$1" | tr -d ' '; }

./tiny sample --checkpoint tiny.st --prompt "The " --length 40 --seed 7 > a.txt
./tiny sample --checkpoint tiny.st --prompt "The " --length 40 --seed 7 --threads 1 > b.txt
./tiny sample --checkpoint tiny.st --prompt "The " --length 40 --seed 8 > c.txt
[ "$(bytes a.txt)" = 45 ] || fail "expected the prompt, 40 bytes and a newline, got $(bytes a.txt) bytes"
[ "$(head -c 4 a.txt)" = "The " ] || fail "the prompt is not printed first"
cmp -s a.txt b.txt || fail "the same seed gave different text"
cmp -s a.txt c.txt && fail "seeds 7 and 8 gave the same 40 bytes"
./tiny sample --checkpoint tiny.st --prompt "The " --length 30 --temperature 0 --seed 1 > d.txt
./tiny sample --checkpoint tiny.st --prompt "The " --length 30 --temperature 0 --seed 2 > e.txt
cmp -s d.txt e.txt || fail "temperature 0 depends on the seed"
# A prompt longer than the context, and no prompt (a new fortune).
./tiny sample --checkpoint tiny.st --prompt "The quick brown fox jumps over the lazy dog" --length 20 > f.txt
[ "$(bytes f.txt)" = 64 ] || fail "a long prompt: expected 64 bytes, got $(bytes f.txt)"
./tiny sample --checkpoint tiny.st --length 25 > g.txt
[ "$(bytes g.txt)" = 26 ] || fail "no prompt: expected 26 bytes, got $(bytes g.txt)"

# expect_error CODE TEXT COMMAND...: fails unless COMMAND exits CODE with TEXT on stderr
expect_error() {
  code=$1 text=$2; shift 2
  set +e; "$@" > out.txt 2> err.txt; rc=$?; set -e
  [ "$rc" = "$code" ] || fail "$*: exit $rc, expected $code ($(cat err.txt))"
  grep -qF -- "$text" err.txt || fail "$*: expected '$text' on stderr, got: $(cat err.txt)"
}
expect_error 2 "byte 2 is 0xc3, outside the model's 128 token ids" ./tiny sample --checkpoint tiny.st --prompt "Ol$(printf '\303\251')"
expect_error 2 "sample needs --checkpoint FILE" ./tiny sample --prompt x
expect_error 2 "--temperature: expected a number from 0 to 100" ./tiny sample --checkpoint tiny.st --temperature -1
expect_error 2 "no-such.st" ./tiny sample --checkpoint no-such.st
"$nnc" build "$src/examples/fashion_mlp.nn" -o mlp
expect_error 2 "this model cannot sample: its input 'x' is not a window of token ids" ./mlp sample --checkpoint tiny.st
echo "ok"
