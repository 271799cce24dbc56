#!/bin/sh
# nnc bench and ./model profile on the Fashion-MNIST MLP, a few steps each:
# the JSON report's structure and numbers that must hold (fusion cuts the
# kernel count; the first dense layer's matmul is 2*64*784*256 FLOPs in
# both builds), a well-formed SVG, per-kernel times that add up to about a
# step, and the command lines' help and errors.
# usage: bench.sh NNC SOURCE_DIR
set -eu
nnc=$1 src=$2
py=/usr/bin/python3
ex=$src/examples/fashion_mlp.nn
[ -d /usr/share/datasets/fashion-mnist ] || { echo "no Fashion-MNIST: skipped"; exit 77; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

"$nnc" bench --help | grep -q "usage: nnc bench"
if "$nnc" bench "$ex" --steps 0 2>"$tmp/err"; then echo "FAIL: --steps 0 accepted"; exit 1; fi
grep -q "steps needs a positive integer" "$tmp/err"
if "$nnc" bench 2>/dev/null; then echo "FAIL: no input accepted"; exit 1; fi
if "$nnc" bench "$ex" --rounds 0 2>"$tmp/err"; then echo "FAIL: --rounds 0 accepted"; exit 1; fi
grep -q "rounds needs an integer from 1 to 100" "$tmp/err"

"$nnc" bench "$ex" --steps 5 --rounds 2 --threads 2 --json --svg "$tmp/b.svg" >"$tmp/b.json"
"$py" - "$tmp/b.json" "$tmp/b.svg" <<'EOF'
import json, sys, xml.etree.ElementTree as ET
r = json.load(open(sys.argv[1]))
flops = 2 * 64 * 784 * 256
for v in ("fused", "unfused"):
    p = r[v]
    assert p["ms_per_step"] > 0 and p["profiled_ms_per_step"] > 0, (v, p["ms_per_step"])
    assert p["batch"] == 64 and p["threads"] == 2 and p["steps"] == 5, v
    assert p["kernels_in_table"] == len(p["kernels"]) == p["kernels_per_step"], v  # no scans in an MLP
    assert p["triad_gbs"] > 0 and p["peak_rss_bytes"] > 0 and p["workspace_bytes"] > 0, v
    names = set()
    for k in p["kernels"]:
        for f in ("name", "ops", "bytes", "flops", "ms", "calls", "memory_bound"):
            assert f in k, (v, f, k)
        assert k["name"] not in names, k["name"]
        names.add(k["name"])
        assert k["ops"] and k["bytes"] > 0 and k["flops"] >= 0 and k["ms"] >= 0 and k["calls"] == 1, k
    mm = [k for k in p["kernels"] if k["ops"] == "matmul"]
    assert any(k["flops"] == flops and not k["memory_bound"] for k in mm), (v, mm)
    assert any(k["memory_bound"] and "triad_fraction" in k for k in p["kernels"]), v
f, u = r["fused"], r["unfused"]
assert f["kernels_per_step"] < u["kernels_per_step"], (f["kernels_per_step"], u["kernels_per_step"])
# Fusion moves work between kernels; it does not add or drop any.
ff, uf = (sum(k["flops"] for k in p["kernels"]) for p in (f, u))
assert abs(ff - uf) <= 0.01 * uf, (ff, uf)
assert abs(r["ratios"]["kernels_per_step"] - u["kernels_per_step"] / f["kernels_per_step"]) < 1e-3
svg = ET.parse(sys.argv[2]).getroot()
assert svg.tag == "{http://www.w3.org/2000/svg}svg", svg.tag
rects = svg.findall(".//{http://www.w3.org/2000/svg}rect")
assert len(rects) > 20, len(rects)
EOF

# ./model profile on any built binary: per-kernel times add up to about
# the step measured with timers (the rest is the step function's own work
# and gathering the batch).
"$nnc" build "$ex" -o "$tmp/mlp"
"$tmp/mlp" profile --help | grep -q -- "--json"
"$tmp/mlp" profile --steps 5 --json >"$tmp/p.json"
"$py" - "$tmp/p.json" <<'EOF'
import json, sys
p = json.load(open(sys.argv[1]))
total = sum(k["ms"] for k in p["kernels"])
step = p["profiled_ms_per_step"]
assert abs(total - p["kernel_ms_per_step"]) < 1e-3 * step, (total, p["kernel_ms_per_step"])
assert 0.3 * step < total <= 1.02 * step, (total, step)
EOF
"$tmp/mlp" profile --steps 3 >"$tmp/p.txt"
grep -q "all kernels" "$tmp/p.txt"
grep -q "k0_matmul" "$tmp/p.txt"
echo "1 passed, 0 failed"
