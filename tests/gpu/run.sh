#!/bin/bash
# tests/gpu/run.sh — the CUDA backend on a real GPU (issue 11, "On a GPU").
#
# The GPU machine has the NVIDIA driver, the CUDA 13 toolkit and PyTorch
# with CUDA, but no LLVM (so no nnc), no Debian OpenBLAS (so no CPU binary
# runs there) and no internet. So the work is split in two:
#
#   here:    tests/gpu/run.sh pack DIR [BUILD_DIR]
#            builds every model's CPU binary and CUDA binaries (fused and
#            --no-fuse) with BUILD_DIR/nnc, runs the CPU binaries to get the
#            reference checkpoints and logs, and copies the data, the PyTorch
#            bench models (bench/*_vs_torch.py) and this script into DIR.
#   the GPU: DIR/run.sh run DIR [RESULTS.md]      (under 8 minutes on an H100)
#            (a) one training step of every model from the same initial
#                weights against the CPU's: each parameter (the forward pass
#                and the update), each Adam first moment (0.1 x the
#                gradient), and the step's loss, within 1e-4 relative;
#            (b) 20 steps of the MLP, CNN, row LSTM and char_gpt from the
#                same weights against the CPU's (reported; 1e-3 relative);
#                (a) and (b) again with the binaries built --no-lt-epilogue
#                (GEMM epilogues as kernels, not cuBLASLt's) where packed:
#                the examples and op_lt_epilogues (every cuBLASLt epilogue
#                nnc uses: tests/cuda/models/lt_epilogues.nn);
#            (d) fused against --no-fuse and against --no-lt-epilogue (GEMM
#                epilogues as kernels, not cuBLASLt's) (`profile`: ms per step, the
#                memory-bound kernels' GB/s against the device-to-device copy
#                bandwidth measured with PyTorch), and each example's training
#                step at batch 256 against PyTorch eager and torch.compile on
#                the same GPU (f32, TF32 off);
#            (c) compute-sanitizer memcheck and racecheck on a few steps of
#                each example, in the time left (each run capped).
#            (e) (before (d)) the next batch uploaded while the step runs
#                (the default) against the serial path (NNRT_CUDA_PREFETCH=0,
#                and with CUDA Graphs off too): 300 steps of the MLP, CNN and
#                row LSTM from the same weights must give byte-identical
#                checkpoints; ms per step of each (from the training logs).
#            Results go to RESULTS.md (default DIR/gpu-results.md) as they
#            come, with the date, the device and the commands; copy it to
#            docs/gpu-results.md here.
# Models: examples/{fashion_mlp,fashion_cnn,fashion_rows_lstm,char_gpt}.nn
# and the parity models that read Fashion-MNIST (tests/parity), on real
# data; the op-coverage models of the CUDA emulation tests
# (tests/cuda/ops/*.nn, as op_NAME) and any tests/gpu/models/*.nn on
# synthetic data written at pack time from their `input` lines (floats in
# [0, 1), ints 0 or 1: valid ids, classes and binary labels for any).
set -u

EXAMPLES="fashion_mlp fashion_cnn fashion_rows_lstm char_gpt"
PARITY="batch_norm conv1d_layers gru_layer lstm_layer mlp_bce mlp_huber mlp_mae mlp_rmsprop rnn_activations"
TOL_ONE=1e-4   # (a): one step
TOL_MANY=1e-3  # (b): 20 steps
BUDGET=470     # seconds for `run`, leaving margin under 8 minutes

die() {
  echo "run.sh: $*" >&2
  exit 1
}

# The --data argument of model $1 in pack directory $2.
data_of() {
  case $1 in
  char_gpt) echo "fortunes-chars:computers?dir=$2/data/fortunes" ;;
  op_*) echo "$2/data/$1" ;; # synthetic (synth_data)
  *) echo "$2/data/fashion-mnist" ;;
  esac
}

# Synthetic .npy data for model file $1 in directory $2: its first input as
# the samples, its last as the labels (the runtime's binding), other
# symbolic dims 8; 512 training and 128 test samples, seeded.
synth_data() {
  /usr/bin/python3 - "$1" "$2" <<'EOF'
import os, re, sys
import numpy as np
src, out = sys.argv[1], sys.argv[2]
inputs = re.findall(r"^\s*input\s+\w+\s*:\s*(\w+)\[([^\]]*)\]", open(src).read(), re.M)
if len(inputs) < 2:
    sys.exit("%s: needs a samples input and a labels input" % src)
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(0)
for split, n in (("train", 512), ("test", 128)):
    for role, (dt, dims) in (("x", inputs[0]), ("y", inputs[-1])):
        shape = [n] + [int(d) if d.strip().isdigit() else 8 for d in dims.split(",")[1:]]
        a = rng.random(shape, dtype=np.float32) if dt == "f32" else rng.integers(0, 2, shape, dtype=np.int32)
        np.save(os.path.join(out, "%s_%s.npy" % (split, role)), a)
EOF
}

# ---- here: build, run the CPU references, pack ----

# Model $1's binaries and CPU references into pack directory $2 (nnc $3).
pack_model() {
  local m=$1 dir=$2 nnc=$3 steps data
  local nn=$dir/models/$m.nn
  data=$(data_of "$m" "$dir")
  "$nnc" build "$nn" -O2 -o "$dir/bin/${m}_cpu" || return 1
  "$nnc" build "$nn" -O2 --target=cuda -o "$dir/bin/${m}_cuda" || return 1
  "$nnc" build "$nn" -O2 --target=cuda --no-fuse -o "$dir/bin/${m}_cuda_unfused" || return 1
  case " $EXAMPLES op_lt_epilogues " in
  *" $m "*) "$nnc" build "$nn" -O2 --target=cuda --no-lt-epilogue -o "$dir/bin/${m}_cuda_nolt" || return 1 ;;
  esac
  # The initial weights both sides start from: the CPU binary's after one
  # step (its seeded init, then one update: nothing is zero).
  "$dir/bin/${m}_cpu" train --steps 1 --val-split 0 --quiet --data "$data" --checkpoint "$dir/ref/${m}_init.st" \
    >/dev/null || return 1
  for steps in 1 20; do
    case " $EXAMPLES " in *" $m "*) ;; *) [ $steps = 1 ] || continue ;; esac
    "$dir/bin/${m}_cpu" train --init "$dir/ref/${m}_init.st" --steps $steps --val-split 0 --quiet --data "$data" \
      --checkpoint "$dir/ref/${m}_$steps.st" --log "$dir/ref/${m}_$steps.csv" >"$dir/ref/${m}_$steps.out" || return 1
  done
}
pack() {
  local dir=$1 build=$2 src
  src=$(cd "$(dirname "$0")/../.." && pwd)
  local nnc=$build/nnc
  [ -x "$nnc" ] || die "no nnc at $nnc (build it first)"
  "$nnc" build --help 2>&1 | grep -q -- "--target" || die "$nnc has no --target=cuda"
  [ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || die "no Fashion-MNIST"
  mkdir -p "$dir"/bin "$dir"/ref "$dir"/models "$dir"/scripts "$dir"/data/fashion-mnist "$dir"/data/fortunes || exit 1
  dir=$(cd "$dir" && pwd)
  cp /usr/share/datasets/fashion-mnist/*-ubyte.gz "$dir/data/fashion-mnist/" || exit 1
  cp /usr/share/games/fortunes/computers "$dir/data/fortunes/" || exit 1
  cp "$0" "$dir/run.sh" && chmod +x "$dir/run.sh"
  cp "$src"/bench/common.py "$src"/bench/*_vs_torch.py "$dir/scripts/" || exit 1
  local m f list=""
  for m in $EXAMPLES; do cp "$src/examples/$m.nn" "$dir/models/"; list="$list $m"; done
  for m in $PARITY; do cp "$src/tests/parity/$m.nn" "$dir/models/"; list="$list $m"; done
  for f in "$src"/tests/cuda/ops/*.nn "$src"/tests/cuda/models/lt_epilogues.nn "$src"/tests/gpu/models/*.nn; do
    [ -f "$f" ] || continue
    m=op_$(basename "$f" .nn)
    cp "$f" "$dir/models/$m.nn"
    synth_data "$f" "$dir/data/$m" || continue
    list="$list $m"
  done
  git -C "$src" log --oneline -1 >"$dir/COMMIT" 2>/dev/null
  local packed=""
  for m in $list; do
    echo "== $m"
    if pack_model "$m" "$dir" "$nnc"; then
      packed="$packed $m"
    else
      case " $EXAMPLES " in *" $m "*) die "$m: see above" ;; esac
      echo "run.sh: warning: $m left out (see above)" >&2
    fi
  done
  echo "$packed" >"$dir/models/LIST"
  echo "packed into $dir ($(du -sh "$dir" | cut -f1)); on the GPU machine: $dir/run.sh run DIR"
}

# ---- on the GPU ----

# ms per training step of binary $1 on data $2 at batch 256 (CUDA Graphs),
# its errors appended to $3; empty when it fails.
ms_per_step() {
  "$1" bench --batch 256 --steps 200 --data "$2" 2>>"$3" | awk '/ms_per_step/ {print $2}'
}

# compare.py REF OUT TOL: every tensor of two checkpoints and the loss
# column of their logs; prints one markdown row cell list, exits 1 if over.
write_compare() {
  cat >"$1" <<'EOF'
import json, struct, sys
import numpy as np

def load(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        head = json.loads(f.read(n))
        data = f.read()
    out = {}
    for k, v in head.items():
        if k == "__metadata__":
            continue
        dt = {"F32": np.float32, "I32": np.int32}[v["dtype"]]
        a, b = v["data_offsets"]
        out[k] = np.frombuffer(data[a:b], dt).reshape(v["shape"]).astype(np.float64)
    return out

def losses(path):
    rows = [l.split(",") for l in open(path).read().splitlines()]
    col = rows[0].index("loss")
    return np.array([float(r[col]) for r in rows[1:] if r[0] == "step"])

ref, got, tol = load(sys.argv[1]), load(sys.argv[2]), float(sys.argv[3])
worst, worst_name, worst_m, worst_m_name = 0.0, "-", 0.0, "-"
for k, r in ref.items():
    g = got.get(k)
    if g is None or g.shape != r.shape:
        print("| tensor %s missing or misshapen |" % k)
        sys.exit(1)
    scale = max(np.abs(r).max(), 1e-30) if r.size else 1.0
    err = float(np.abs(g - r).max() / scale) if r.size else 0.0
    if k.endswith(".m"):
        if err > worst_m: worst_m, worst_m_name = err, k
    elif err > worst:
        worst, worst_name = err, k
lr, lg = losses(sys.argv[4]), losses(sys.argv[5])
lerr = float(np.abs(lr - lg).max() / max(np.abs(lr).max(), 1e-30)) if len(lr) == len(lg) and len(lr) else float("inf")
ok = max(worst, worst_m, lerr) <= tol
print("| %.2e (%s) | %.2e (%s) | %.2e | %s |" % (worst, worst_name, worst_m, worst_m_name, lerr, "pass" if ok else "**FAIL**"))
sys.exit(0 if ok else 1)
EOF
}

# The PyTorch side of (d): the copy bandwidth, then each model's training
# step at batch 256, eager and torch.compile, f32 with TF32 off.
write_torch() {
  cat >"$1" <<'EOF'
import sys, time
sys.path.insert(0, sys.argv[1])
import torch
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
torch.manual_seed(0)
dev = torch.device("cuda")
which = sys.argv[2]

if which == "copy":
    n = 256 << 20  # 1 GiB of f32
    x, y = torch.empty(n, device=dev), torch.empty(n, device=dev)
    for _ in range(3): y.copy_(x)
    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    s.record()
    for _ in range(20): y.copy_(x)
    e.record(); torch.cuda.synchronize()
    print("%.1f" % (2 * 4 * n * 20 / (s.elapsed_time(e) * 1e-3) / 1e9))
    sys.exit(0)

import common
class Capture:  # the bench scripts' models, without their CPU trainers
    def __init__(self, torch_, model, *a, **k):
        self.model = model
common.TorchTrainer = Capture
import mlp_vs_torch, cnn_vs_torch, rows_lstm_vs_torch, char_gpt_vs_torch
char_gpt_vs_torch.CharTrainer = Capture
B = 256
make = {"fashion_mlp": (mlp_vs_torch.torch_mlp, (B, 784)), "fashion_cnn": (cnn_vs_torch.torch_cnn, (B, 1, 28, 28)),
        "fashion_rows_lstm": (rows_lstm_vs_torch.torch_lstm, (B, 28, 28)), "char_gpt": (char_gpt_vs_torch.torch_gpt, None)}
factory, shape = make[which]
model = factory(torch, B, 1).model.to(dev)
if shape:
    x, y, ncls = torch.rand(shape, device=dev), torch.randint(0, 10, (B,), device=dev), 10
else:
    x = torch.randint(0, 256, (B, 128), device=dev)
    y, ncls = torch.randint(0, 256, (B, 128), device=dev), 256
lossf = torch.nn.CrossEntropyLoss()
def timed(m, steps=100):
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    def step():
        opt.zero_grad(set_to_none=True)
        lossf(m(x).reshape(-1, ncls), y.reshape(-1)).backward()
        opt.step()
    for _ in range(20): step()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps): step()
    torch.cuda.synchronize()
    return (time.perf_counter() - t0) * 1e3 / steps
eager = timed(model)
t0 = time.perf_counter()
try:
    comp = "%.3f" % timed(torch.compile(model))
except Exception as ex:  # report, do not stop the run
    comp = "failed: %s" % type(ex).__name__
print("%.3f %s %.0f" % (eager, comp, time.perf_counter() - t0))
EOF
}

# $1: JSON of `profile --json`: "ms_per_step n_memory_bound median_gbs best_gbs"
write_profile_summary() {
  cat >"$1" <<'EOF'
import json, statistics, sys
r = json.load(open(sys.argv[1]))
g = [k["gbs"] for k in r["kernels"] if k.get("memory_bound") and k.get("gbs") and k["bytes"] >= (1 << 20)]
print("%.4f %d %.0f %.0f" % (r["ms_per_step"], len(g), statistics.median(g) if g else 0, max(g) if g else 0))
EOF
}

# (e): overlapped uploads against the serial path, appended to $out (run's
# locals dir, out, tmp and t0).
overlap_section() {
  {
    echo
    echo "## (e) the next batch's upload overlapping the step, against the serial path"
    echo
    echo "\`MODEL_cuda train --init init.st --steps 300 --batch 256 --val-split 0 --checkpoint out.st --log log.csv\`:"
    echo "overlapped (the default: the next batch goes up on the copy stream while the step runs, one CUDA Graph"
    echo "per batch slot), serial (\`NNRT_CUDA_PREFETCH=0\`), and serial without graphs (also"
    echo "\`NNRT_CUDA_GRAPHS=0\`). Step times from the logs' seconds column (steps 20 to 300)."
    echo
    echo "| model | overlapped ms/step | serial ms/step | serial, no graphs, ms/step | checkpoints identical |"
    echo "|---|---|---|---|---|"
  } >>"$out"
  local m data way env ms same
  for m in fashion_mlp fashion_cnn fashion_rows_lstm; do
    [ $((SECONDS - t0)) -lt $((BUDGET - 90)) ] || { echo "| $m | skipped (time) | | | |" >>"$out"; continue; }
    data=$(data_of "$m" "$dir")
    ms="" same="yes"
    for way in overlap serial nographs; do
      case $way in
      overlap) env="NNRT_CUDA_PREFETCH=1" ;;
      serial) env="NNRT_CUDA_PREFETCH=0" ;;
      nographs) env="NNRT_CUDA_PREFETCH=0 NNRT_CUDA_GRAPHS=0" ;;
      esac
      # shellcheck disable=SC2086
      if env $env "$dir/bin/${m}_cuda" train --init "$dir/ref/${m}_init.st" --steps 300 --batch 256 --val-split 0 \
        --quiet --data "$data" --checkpoint "$tmp/$m.$way.st" --log "$tmp/$m.$way.csv" >/dev/null 2>"$tmp/$m.err"; then
        ms="$ms | $(awk -F, 'NR == 1 {for (i = 1; i <= NF; i++) if ($i == "seconds") c = i}
          $1 == "step" && $3 == 20 {a = $c} $1 == "step" && $3 == 300 {b = $c}
          END {printf "%.3f", (b - a) * 1000 / 280}' "$tmp/$m.$way.csv")"
        if [ $way != overlap ] && [ "$same" = yes ] && ! cmp -s "$tmp/$m.overlap.st" "$tmp/$m.$way.st"; then
          same="**no** ($way differs)"
        fi
      else
        ms="$ms | failed: $(tail -1 "$tmp/$m.err" | cut -c1-100)"
        [ "$same" != yes ] || same="- ($way failed)"
      fi
    done
    echo "| $m$ms | $same |" >>"$out"
  done
  echo "(e) done at $((SECONDS - t0)) s" >&2
}

run() {
  local dir out
  dir=$(cd "$1" && pwd) || exit 1
  out=${2:-$dir/gpu-results.md}
  local t0=$SECONDS
  # global: the EXIT trap reads it after run returns
  tmp=$(mktemp -d) || exit 1
  trap 'rm -rf "$tmp"' EXIT
  command -v nvidia-smi >/dev/null || die "no nvidia-smi: is this the GPU machine?"
  local py=${PYTHON:-python3}
  write_compare "$tmp/compare.py"
  write_torch "$tmp/torch_bench.py"
  write_profile_summary "$tmp/profile.py"
  local list
  list=$(cat "$dir/models/LIST")
  {
    echo "# CUDA backend on a GPU: results"
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "- device: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | head -1)"
    echo "- nnc commit: $(cat "$dir/COMMIT" 2>/dev/null)"
    echo "- PyTorch: $($py -c 'import torch; print(torch.__version__, "CUDA", torch.version.cuda)' 2>&1 | tail -1)"
    echo "- commands: \`tests/gpu/run.sh pack DIR\` on the build machine, \`DIR/run.sh run DIR\` here"
    echo
    echo "## (a), (b) the CUDA binaries against the CPU binaries' checkpoints"
    echo
    echo "\`MODEL_cuda train --init init.st --steps N --val-split 0 --checkpoint out.st --log log.csv\` against the CPU"
    echo "binary's run of the same command (packed). Errors: max |gpu - cpu| / max |cpu| per tensor, the worst."
    echo
    echo "| model | steps | parameters, state | Adam first moments (gradient) | step losses | within $TOL_ONE (1 step), $TOL_MANY (20) |"
    echo "|---|---|---|---|---|---|"
  } >"$out"
  local m steps data bin tol variant label
  for m in $list; do
    data=$(data_of "$m" "$dir")
    for variant in cuda cuda_nolt; do
      bin=$dir/bin/${m}_$variant
      [ -x "$bin" ] || continue
      label=$m
      [ $variant = cuda_nolt ] && label="$m --no-lt-epilogue"
      for steps in 1 20; do
        [ -f "$dir/ref/${m}_$steps.st" ] || continue
        tol=$TOL_ONE
        [ $steps = 20 ] && tol=$TOL_MANY
        if ! "$bin" train --init "$dir/ref/${m}_init.st" --steps $steps --val-split 0 --quiet --data "$data" \
          --checkpoint "$tmp/$m.st" --log "$tmp/$m.csv" >"$tmp/$m.out" 2>"$tmp/$m.err"; then
          echo "| $label | $steps | **the CUDA binary failed**: $(tail -1 "$tmp/$m.err") | | | |" >>"$out"
          continue
        fi
        printf '| %s | %s ' "$label" "$steps" >>"$out"
        "$py" "$tmp/compare.py" "$dir/ref/${m}_$steps.st" "$tmp/$m.st" $tol "$dir/ref/${m}_$steps.csv" "$tmp/$m.csv" \
          >>"$out" 2>&1
        rm -f "$tmp/$m.csv" "$tmp/$m.st"
      done
    done
  done
  echo "(a)+(b) done at $((SECONDS - t0)) s" >&2

  overlap_section

  # (d) performance
  local bw
  bw=$("$py" "$tmp/torch_bench.py" "$dir/scripts" copy 2>"$tmp/torch.err") || bw=""
  {
    echo
    echo "## (d) fused against --no-fuse and --no-lt-epilogue, and against PyTorch (batch 256, f32, TF32 off)"
    echo
    echo "Device-to-device copy bandwidth (PyTorch, 1 GiB, read + write): ${bw:-failed} GB/s."
    echo "Memory-bound kernels of at least 1 MB per call, from \`MODEL_cuda profile --json --batch 256 --steps 30\`"
    echo "(kernel times are synchronized around each kernel, so they include its launch);"
    echo "step times from \`MODEL_cuda bench --batch 256 --steps 200\` (CUDA Graphs)."
    echo
    echo "| model | fused ms/step | unfused ms/step | --no-lt-epilogue ms/step | mem-bound kernels | median GB/s | best GB/s | best / copy | PyTorch eager ms | torch.compile ms |"
    echo "|---|---|---|---|---|---|---|---|---|---|"
  } >>"$out"
  for m in $EXAMPLES; do
    data=$(data_of "$m" "$dir")
    local fused unfused nolt prof="- - - -" torch_r="- -" frac="-"
    fused=$(ms_per_step "$dir/bin/${m}_cuda" "$data" "$tmp/err")
    unfused=$(ms_per_step "$dir/bin/${m}_cuda_unfused" "$data" "$tmp/err")
    nolt=$(ms_per_step "$dir/bin/${m}_cuda_nolt" "$data" "$tmp/err")
    if "$dir/bin/${m}_cuda" profile --json --batch 256 --steps 30 --data "$data" >"$tmp/prof.json" 2>>"$tmp/err"; then
      prof=$("$py" "$tmp/profile.py" "$tmp/prof.json")
    fi
    # shellcheck disable=SC2086
    set -- $prof # ms n median best
    if [ -n "$bw" ] && [ "$4" != "-" ]; then frac=$(awk -v g="$4" -v b="$bw" 'BEGIN {printf "%.0f %%", 100 * g / b}'); fi
    if [ $((SECONDS - t0)) -lt 300 ]; then
      torch_r=$(timeout 120 "$py" "$tmp/torch_bench.py" "$dir/scripts" "$m" 2>>"$tmp/torch.err" | tail -1)
      [ -n "$torch_r" ] || torch_r="failed -"
    else
      torch_r="skipped (time) -"
    fi
    local te tc
    te=$(echo "$torch_r" | cut -d' ' -f1)
    tc=$(echo "$torch_r" | cut -d' ' -f2-3)
    echo "| $m | ${fused:-failed} | ${unfused:-failed} | ${nolt:-failed} | $2 | $3 | $4 | $frac | $te | $tc |" >>"$out"
  done
  if [ -s "$tmp/err" ] || [ -s "$tmp/torch.err" ]; then
    { echo; echo "Errors during (d):"; echo '```'; tail -n 20 "$tmp/err" "$tmp/torch.err"; echo '```'; } >>"$out"
  fi
  echo "(d) done at $((SECONDS - t0)) s" >&2


  # (c) compute-sanitizer, in the time left
  local cs
  cs=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
  {
    echo
    echo "## (c) compute-sanitizer"
    echo
    echo "\`compute-sanitizer --tool TOOL MODEL_cuda profile --steps 1 --batch 32\` (one warm-up step, one step with"
    echo "graphs and one kernel by kernel); each run capped by the time left."
    echo
    echo "| model | memcheck | racecheck |"
    echo "|---|---|---|"
  } >>"$out"
  for m in $EXAMPLES; do
    data=$(data_of "$m" "$dir")
    printf '| %s ' "$m" >>"$out"
    local tool left res
    for tool in memcheck racecheck; do
      left=$((BUDGET - (SECONDS - t0)))
      [ $left -gt 60 ] && left=60
      if [ ! -x "$cs" ]; then
        res="no compute-sanitizer"
      elif [ $left -lt 10 ]; then
        res="skipped (time)"
      else
        timeout $left "$cs" --tool $tool --error-exitcode 9 "$dir/bin/${m}_cuda" profile --steps 1 --batch 32 \
          --data "$data" >"$tmp/cs.out" 2>&1
        case $? in
        0) res="clean: $(grep -o 'ERROR SUMMARY: [0-9]* errors' "$tmp/cs.out" | tail -1)" ;;
        124) res="timed out after ${left} s" ;;
        9) res="**$(grep -o 'ERROR SUMMARY: [0-9]* errors' "$tmp/cs.out" | tail -1)**: $(grep -m1 -E 'Invalid|Race|hazard' "$tmp/cs.out" | cut -c1-120)" ;;
        *) res="failed: $(tail -1 "$tmp/cs.out" | cut -c1-120)" ;;
        esac
      fi
      printf '| %s ' "$res" >>"$out"
    done
    echo "|" >>"$out"
  done
  echo >>"$out"
  echo "Total time: $((SECONDS - t0)) s." >>"$out"
  echo "results in $out ($((SECONDS - t0)) s)"
}

case ${1:-} in
pack) [ $# -ge 2 ] || die "usage: run.sh pack DIR [BUILD_DIR]"; pack "$2" "${3:-build}" ;;
run) [ $# -ge 2 ] || die "usage: run.sh run DIR [RESULTS.md]"; run "$2" "${3:-}" ;;
*) die "usage: run.sh pack DIR [BUILD_DIR] (here) | run.sh run DIR [RESULTS.md] (on the GPU)" ;;
esac
