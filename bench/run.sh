#!/bin/sh
# Every example against PyTorch, side by side: writes bench/results.json,
# bench/results.md and docs/bench_results.svg (docs/bench.md, "Every example
# against PyTorch"). About 25 minutes on a 2-core machine; --quick is a
# smoke test of a few minutes. Options: bench/run.py --help.
#
#   bench/run.sh [--quick] [--models fashion_mlp,char_gpt] [--build-dir build]
set -eu
cd "$(dirname "$0")/.."
exec /usr/bin/python3 bench/run.py "$@"
