#!/bin/sh
# The nnc command line: help, version, exit codes, every --emit kind, dumps.
# usage: cli.sh NNC SOURCE_DIR FILECHECK
set -u
nnc=$1 src=$2 filecheck=$3
ex=$src/examples/fashion_mlp.nn
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fails=0 passes=0
ok() { passes=$((passes + 1)); }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }
# expect CODE CMD...: runs CMD, checks its exit code
expect() {
  want=$1; shift
  "$@" >"$tmp/out" 2>"$tmp/err"; got=$?
  if [ "$got" = "$want" ]; then ok; else bad "$* exited $got, expected $want"; cat "$tmp/err"; fi
}

expect 0 "$nnc" --help
grep -q "usage: nnc <command>" "$tmp/out" && ok || bad "--help text"
expect 0 "$nnc" --version
grep -q "^nnc [0-9]" "$tmp/out" && ok || bad "--version text"
for c in build check summary dump opt; do
  expect 0 "$nnc" $c --help
  grep -q "usage: nnc $c" "$tmp/out" && ok || bad "$c --help text"
done
expect 2 "$nnc"
expect 2 "$nnc" frobnicate
expect 2 "$nnc" build --emit=wasm "$ex"
expect 2 "$nnc" build --cpu=pentium "$ex"
expect 2 "$nnc" build --bogus "$ex"
# Backends come from a registry: --version lists them, --target looks one up,
# and each takes its own options (--cpu is the CPU backend's).
"$nnc" --version | grep -q "^  cpu .*(default)" && ok || bad "--version lists the cpu target"
expect 2 "$nnc" build --target=tpu "$ex"
grep -q "unknown target 'tpu'" "$tmp/err" && ok || bad "unknown target message"
expect 0 "$nnc" build --target=cpu --cpu=generic --emit=obj -o "$tmp/t.o" "$ex"
"$nnc" build --help | grep -q "^  cpu:" && ok || bad "build --help lists the cpu target's options"
# --no-vnni (int8 products without vpdpbusd) is a flag: no value.
expect 0 "$nnc" build --no-vnni --emit=obj -o "$tmp/t.o" "$ex"
expect 2 "$nnc" build --no-vnni=1 "$ex"
grep -q "no-vnni takes no value" "$tmp/err" && ok || bad "--no-vnni=1 message"
"$nnc" build --help | grep -q "^  --no-vnni" && ok || bad "build --help lists --no-vnni"
# Per-pass options: --<pass>=<value> for a pass that takes one, checked by it.
expect 1 "$nnc" dump "$ex" --after=fuse --fuse=diagonal
grep -q "unknown fusion 'diagonal'" "$tmp/err" && ok || bad "bad --fuse value message"
expect 0 "$nnc" build "$ex" --fuse=vertical --emit=obj -o "$tmp/v.o"
# nnc build reports the memory plan on one line.
grep -q "^memory: arena [0-9]* bytes, lower bound [0-9]* bytes ([0-9.]*x)" "$tmp/err" && ok || bad "memory line"
# The fused IR shows its groups, and --print-kernels counts them.
expect 0 "$nnc" dump "$src/examples/fashion_cnn.nn" --after=fuse --print-kernels
grep -q "{group=[0-9]*}" "$tmp/out" && ok || bad "dump --after=fuse shows groups"
grep -q "^# kernels: train_step [0-9]* ([0-9]* fused), [0-9]* dispatches" "$tmp/out" && ok || bad "--print-kernels line"
expect 2 "$nnc" check
expect 1 "$nnc" check "$tmp/does-not-exist.nn"
grep -q "cannot open" "$tmp/err" && ok || bad "missing file message"

expect 0 "$nnc" check "$ex"
expect 0 "$nnc" summary "$ex"
grep -q "203,530" "$tmp/out" && ok || bad "summary total"

# Every emit kind.
expect 0 "$nnc" build "$ex" --emit=llvm -o "$tmp/m.ll"
grep -q "define.*nnc_train_step" "$tmp/m.ll" && ok || bad "llvm IR has nnc_train_step"
expect 0 "$nnc" build "$ex" --emit=asm -o "$tmp/m.s"
grep -q "nnc_train_step" "$tmp/m.s" && ok || bad "asm has nnc_train_step"
expect 0 "$nnc" build "$ex" --emit=obj -O0 --cpu=generic -o "$tmp/m.o"
[ -s "$tmp/m.o" ] && ok || bad "object file written"
expect 0 "$nnc" build "$ex" --no-fuse -O1 -o "$tmp/m_unfused"
[ -x "$tmp/m_unfused" ] && ok || bad "unfused executable written"

# Dumps: lowered IR, after autodiff, every pass, Graphviz; they parse back.
expect 0 "$nnc" dump "$ex"
grep -q "^func forward" "$tmp/out" && ok || bad "dump has forward"
expect 0 "$nnc" dump "$ex" --after=autodiff --verify-each
grep -q "^func train_step" "$tmp/out" && ok || bad "dump --after=autodiff has train_step"
cp "$tmp/out" "$tmp/ad.nnir"
expect 0 "$nnc" opt "$tmp/ad.nnir" -o "$tmp/ad2.nnir"
cmp -s "$tmp/ad.nnir" "$tmp/ad2.nnir" && ok || bad "dump output does not round-trip through nnc opt"
expect 0 "$nnc" dump "$ex" --print-after-all
[ "$(grep -c '^# -- after' "$tmp/out")" -ge 2 ] && ok || bad "--print-after-all prints after each pass"
expect 0 "$nnc" dump "$ex" --format=dot
grep -q "^digraph" "$tmp/out" && ok || bad "dot output"
expect 1 "$nnc" dump "$ex" --after=nosuchpass
expect 0 "$nnc" dump --list-passes "$ex"

# The lowered MLP, checked line by line.
"$nnc" dump "$ex" | "$filecheck" "$src/tests/e2e/fashion_mlp.check" && ok || bad "FileCheck of the lowered MLP"

echo "$passes passed, $fails failed"
[ "$fails" = 0 ]
