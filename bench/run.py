#!/usr/bin/python3
"""Every example against PyTorch, side by side (issue 13's report): what
bench/run.sh runs. Writes bench/results.json (every measurement) and, from
it (bench/results.py), bench/results.md and docs/bench_results.svg.

Per example (examples/*.nn that train on real data), batch 64 (32 for the
text models) and 256, 1 and 2 threads on both sides: `repeats` rounds, each
one fresh nnc process (`./model profile --json`) then one fresh PyTorch
process (the model of bench/<x>_vs_torch.py, imported, not copied), so a
neighbour's burst of load hits both alike. Each process reports its ms/step
and its own peak resident set (getrusage's ru_maxrss after its steps; the
binary reads it before its triad). Also per example: a fresh `nnc build`
(wall time), the binary's size and `ldd` libraries, the time from that build
to the end of the first training step against PyTorch's interpreter start,
`import torch`, data, model and first step; and the machine's FMA peak
(bench/fma_peak.c) for the GEMM-bound steps' share of it.

Steps per process follow the step's cost: as many as take the slower side
about --target-ms (1 to 200, the same on both sides), estimated from a
one-step calibration and then from the runs before; PyTorch warms up for
about --torch-warm-ms (at least nnc's warm-up steps, at most 300). The whole run keeps to --budget-min: each configuration
gets an equal share of the time left, and runs fewer rounds than --repeats
where they would not fit in it (a batch-256 char_gpt step takes seconds on a
busy machine), never fewer than one.

usage: bench/run.sh [--quick] [--models a,b] [--repeats N] [--target-ms MS] [--budget-min M]
"""
import argparse
import datetime
import gzip
import json
import math
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time

import common

# example, its batch in the goals, the module holding its PyTorch twin
MODELS = [
    ("fashion_mlp", 64, "mlp_vs_torch"),
    ("fashion_cnn", 64, "cnn_vs_torch"),
    ("fashion_rows_lstm", 64, "rows_lstm_vs_torch"),
    ("text_lstm", 32, "text_vs_torch"),
    ("text_bilstm_dropout", 32, "text_vs_torch"),
    ("char_gpt", 32, "char_gpt_vs_torch"),
]
LARGE_BATCH = 256
THREADS = (1, 2)
FASHION = "/usr/share/datasets/fashion-mnist"


def torch_trainer(torch, name, batch, threads, warmup):
    """The PyTorch twin of examples/<name>.nn, from its *_vs_torch.py."""
    module = __import__(dict((m, s) for m, _, s in MODELS)[name])
    if name.startswith("text_"):
        return module.TextTrainer(torch, name, batch, threads, warmup=warmup)
    factory = {"fashion_mlp": "torch_mlp", "fashion_cnn": "torch_cnn", "fashion_rows_lstm": "torch_lstm",
               "char_gpt": "torch_gpt"}[name]
    return getattr(module, factory)(torch, batch, threads, warmup=warmup)


def torch_worker(argv):
    """`run.py --torch-worker MODEL BATCH THREADS STEPS WARMUP`: one
    measurement, printed as JSON; `run.py --torch-first-step MODEL`: import,
    data, model, one step at the example's batch, and exit."""
    import torch
    if argv[1] == "--torch-first-step":
        name = argv[2]
        torch.manual_seed(0)
        torch_trainer(torch, name, dict((m, b) for m, b, _ in MODELS)[name], torch.get_num_threads(), 0).warm(1)
        return
    name, (batch, threads, steps, warmup) = argv[2], (int(a) for a in argv[3:7])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    ms = torch_trainer(torch, name, batch, threads, warmup).step_ms(steps, warmup=0)
    print(json.dumps({"ms_per_step": ms, "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                      "torch": torch.__version__}))


def run(cmd, env=None):
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode:
        sys.exit("bench/run.py: %s failed (exit %d):\n%s%s" % (" ".join(cmd), r.returncode, r.stdout, r.stderr))
    return r.stdout


def timed(cmd, env=None):
    t0 = time.perf_counter()
    run(cmd, env)
    return time.perf_counter() - t0


def torch_env():
    env = dict(os.environ)
    env.update(common.TORCH_TUNED_ENV)
    return env


def nnc_measure(binary, batch, threads, steps):
    """One `profile --json` process: ms/step (the steps without kernel
    timers), peak RSS, FLOPs per step, and the matmul kernels' FLOPs and time
    (from the steps with timers)."""
    rep = json.loads(run([binary, "profile", "--json", "--batch", str(batch), "--threads", str(threads),
                          "--steps", str(steps)]))
    mm = [k for k in rep["kernels"] if k["name"].endswith("_matmul")]
    return {"ms_per_step": rep["ms_per_step"], "peak_rss_bytes": rep["peak_rss_bytes"],
            "flops_per_step": sum(k["flops"] for k in rep["kernels"]),
            "matmul_flops": sum(k["flops"] for k in mm), "matmul_ms": sum(k["ms"] for k in mm),
            "warmup_steps": rep["warmup_steps"]}


def torch_measure(name, batch, threads, steps, warmup):
    return json.loads(run([sys.executable, os.path.abspath(__file__), "--torch-worker", name, str(batch),
                           str(threads), str(steps), str(warmup)], torch_env()).strip().splitlines()[-1])


def tiny_test_data(example, tmp):
    """--data for a first-step run whose closing test evaluation is short:
    the example's own data with a test split of a few samples (for
    Fashion-MNIST the real training files and the first 64 test images;
    for the fortunes, the example's spec with test=0.01)."""
    src = open(example).read()
    m = re.search(r'^\s*data\s+"([^"]+)"', src, re.M)
    if m:
        spec = m.group(1)
        return spec + ("&" if "?" in spec else "?") + "test=0.01"
    d = os.path.join(tmp, "fashion-tiny-test")
    os.makedirs(d, exist_ok=True)
    for f in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"):
        if not os.path.exists(os.path.join(d, f)):
            os.symlink(os.path.join(FASHION, f), os.path.join(d, f))
    for f, header, item in (("t10k-images-idx3-ubyte.gz", 16, 784), ("t10k-labels-idx1-ubyte.gz", 8, 1)):
        raw = gzip.open(os.path.join(FASHION, f)).read(header + 64 * item)
        head = bytearray(raw[:header])
        head[4:8] = (64).to_bytes(4, "big")  # the IDX count
        with gzip.open(os.path.join(d, f), "wb") as out:
            out.write(bytes(head) + raw[header:])
    return d


def fma_peak(tmp, threads):
    exe = os.path.join(tmp, "fma_peak")
    run(["cc", "-O2", "-pthread", os.path.join(common.ROOT, "bench", "fma_peak.c"), "-o", exe])
    peak = {}
    for line in run([exe, str(threads)]).splitlines():
        _, isa, t, g = line.split()
        peak.setdefault(isa, {})[t] = float(g)
    return peak


def core_round_trip_ns(tmp):
    """bench/core_latency.c's figure, or None where it cannot run (one CPU)."""
    exe = os.path.join(tmp, "core_latency")
    run(["cc", "-O2", "-pthread", os.path.join(common.ROOT, "bench", "core_latency.c"), "-o", exe])
    try:
        out = subprocess.run([exe], capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        return None
    m = re.match(r"core_round_trip_ns (\d+)", out.stdout)
    return float(m.group(1)) if out.returncode == 0 and m else None


def machine(nnc_binary):
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    flags = next((l for l in open("/proc/cpuinfo") if l.startswith("flags")), "")
    gemm = re.search(r"threads, (.*), \d+ timed", run([nnc_binary, "bench", "--steps", "1", "--batch", "64"]))
    return {"cpu": cpu, "cores": os.cpu_count(), "avx512": " avx512f" in flags,
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "kernel": platform.release(), "gemm": gemm.group(1) if gemm else "?",
            "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE", "not set"),
            "load_avg_start": os.getloadavg()[0]}


def save_json(result, path, t_start):
    """Writes the measurements so far, with the figures of the run as a whole
    (PyTorch's version, the load average now, the wall time) as of now."""
    torch_versions = {r["torch"] for m in result["models"] for c in m["runs"] for r in c["torch"]}
    result["machine"]["torch"] = ", ".join(sorted(torch_versions))
    result["machine"]["load_avg_end"] = os.getloadavg()[0]
    result["wall_s"] = time.perf_counter() - t_start
    with open(path + ".tmp", "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")
    os.replace(path + ".tmp", path)


def clamp(x, lo, hi):
    return max(lo, min(hi, x))


def bench_model(name, small, args, nnc, tmp, log, share_s):
    """Measures one example; share_s() is the seconds the next configuration
    may take."""
    example = os.path.join(common.ROOT, "examples", name + ".nn")
    binary = os.path.join(tmp, name)
    build_s = timed([nnc, "build", example] + args.nnc_flags.split() + ["-o", binary])
    libs = [l.split()[0] for l in run(["ldd", binary]).splitlines() if "=>" in l or l.strip().startswith("/")]
    first_run_s = timed([binary, "train", "--steps", "1", "--val-split", "0", "--quiet", "--data",
                         tiny_test_data(example, tmp)])
    torch_first_s = timed([sys.executable, os.path.abspath(__file__), "--torch-first-step", name], torch_env())
    rec = {"name": name, "batches": [small, LARGE_BATCH], "build_s": build_s,
           "binary_bytes": os.path.getsize(binary), "libs": libs,
           "first_step": {"nnc_build_s": build_s, "nnc_first_run_s": first_run_s, "torch_s": torch_first_s},
           "runs": []}
    log("%s: build %.2f s, %d bytes; first step: nnc %.2f s (build + run), torch %.2f s"
        % (name, build_s, rec["binary_bytes"], build_s + first_run_s, torch_first_s))
    est = {}  # batch -> ms/step estimate from nnc's runs
    est[small] = nnc_measure(binary, small, max(THREADS), 1)["ms_per_step"]
    # PyTorch's ms/step over nnc's per thread count, until measured: on a busy
    # machine PyTorch at 2 threads can be 20x slower than at 1
    torch_slower = {t: 1.5 for t in THREADS}
    for batch in (small, LARGE_BATCH):
        for threads in THREADS:
            ms = est.get(batch, est[small] * batch / small)
            torch_ms = ms * torch_slower[threads]
            steps = int(clamp(round(args.target_ms / max(ms, torch_ms)), 1, 200))  # the same on both sides
            warm = int(clamp(math.ceil(args.torch_warm_ms / torch_ms), min(steps, 10), 300))
            # nnc: warm-up, steps without and with timers, ~2 s of start and triad; PyTorch: ~4 s of start
            round_s = ((min(steps, 10) + 2 * steps) * ms + (steps + warm) * torch_ms) / 1e3 + 6
            rounds = int(clamp(share_s() // round_s, 1, args.repeats))
            run_rec = {"batch": batch, "threads": threads, "steps": steps, "torch_warmup": warm, "nnc": [], "torch": []}
            for _ in range(rounds):
                run_rec["nnc"].append(nnc_measure(binary, batch, threads, steps))
                run_rec["torch"].append(torch_measure(name, batch, threads, steps, warm))
            rec["runs"].append(run_rec)
            nm = sorted(r["ms_per_step"] for r in run_rec["nnc"])[len(run_rec["nnc"]) // 2]
            tm = sorted(r["ms_per_step"] for r in run_rec["torch"])[len(run_rec["torch"]) // 2]
            est[batch] = nm
            torch_slower[threads] = tm / nm
            log("  batch %d, %d threads, %d steps x %d rounds: nnc %.3f ms, torch %.3f ms (%.2fx)"
                % (batch, threads, steps, rounds, nm, tm, tm / nm))
    return rec


def main():
    if len(sys.argv) > 1 and sys.argv[1] in ("--torch-worker", "--torch-first-step"):
        return torch_worker(sys.argv)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", default=os.path.join(common.ROOT, "build"))
    ap.add_argument("--models", default=",".join(m for m, _, _ in MODELS))
    ap.add_argument("--repeats", type=int, default=3, help="rounds per configuration (default 3)")
    ap.add_argument("--target-ms", type=float, default=1500, help="timed work per process (default 1500)")
    ap.add_argument("--torch-warm-ms", type=float, default=1000,
                    help="PyTorch's warm-up per process, at least nnc's warm-up steps (default 1000)")
    ap.add_argument("--budget-min", type=float, default=25,
                    help="minutes the whole run should take: configurations run fewer rounds to fit (default 25)")
    ap.add_argument("--nnc-flags", default="",
                    help="nnc build options for every example, e.g. --nnc-flags=--gemm=onednn (default: none)")
    ap.add_argument("--quick", action="store_true", help="1 round, 300 ms per process: a smoke test (minutes)")
    ap.add_argument("--out-dir", default=os.path.join(common.ROOT, "bench"))
    ap.add_argument("--svg", default=os.path.join(common.ROOT, "docs", "bench_results.svg"))
    args = ap.parse_args()
    if args.quick:
        args.repeats, args.target_ms, args.torch_warm_ms = 1, 300, 300
    names = args.models.split(",")
    unknown = [n for n in names if n not in [m for m, _, _ in MODELS]]
    if unknown:
        sys.exit("bench/run.py: unknown model %s (known: %s)" % (unknown[0], ", ".join(m for m, _, _ in MODELS)))
    nnc = os.path.join(args.build_dir, "nnc")
    if not os.access(nnc, os.X_OK):
        sys.exit("bench/run.py: no %s: build nnc first (cmake -S . -B build && cmake --build build -j2)" % nnc)
    t_start = time.perf_counter()

    def log(msg):
        print("[%5.0f s] %s" % (time.perf_counter() - t_start, msg), flush=True)

    tmp = tempfile.mkdtemp(prefix="nnc-benchrep-")
    try:
        peak = fma_peak(tmp, max(THREADS))
        log("FMA peak (GFLOP/s): %s" % peak)
        mlp = os.path.join(tmp, "probe_mlp")
        run([nnc, "build", os.path.join(common.ROOT, "examples", "fashion_mlp.nn")] + args.nnc_flags.split() + ["-o", mlp])
        result = {"machine": machine(mlp), "fma_peak": peak,
                  "settings": {"repeats": args.repeats, "target_ms": args.target_ms,
                               "torch_warm_ms": args.torch_warm_ms, "budget_min": args.budget_min,
                               "quick": args.quick, "torch_malloc_env": common.TORCH_TUNED_ENV,
                               "nnc_flags": args.nnc_flags},
                  "models": []}
        result["machine"]["core_round_trip_ns"] = core_round_trip_ns(tmp)
        log("core-to-core round trip: %s ns" % result["machine"]["core_round_trip_ns"])
        configs_left = [len(names) * 2 * len(THREADS)]

        def share_s():
            configs_left[0] -= 1
            return max(0.0, args.budget_min * 60 - (time.perf_counter() - t_start)) / (configs_left[0] + 1)

        os.makedirs(args.out_dir, exist_ok=True)
        js = os.path.join(args.out_dir, "results.json")
        for name, small, _ in MODELS:
            if name in names:
                result["models"].append(bench_model(name, small, args, nnc, tmp, log, share_s))
                save_json(result, js, t_start)  # a run cut short keeps what it measured (results.py renders it)
        # again at the end, keeping the better figure: a busy neighbour only ever lowers it
        for isa, by_threads in fma_peak(tmp, max(THREADS)).items():
            for t, g in by_threads.items():
                peak[isa][t] = max(peak[isa][t], g)
        log("FMA peak, best of the start and the end (GFLOP/s): %s" % peak)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    save_json(result, js, t_start)
    import results
    results.write(result, os.path.join(args.out_dir, "results.md"), args.svg)
    log("wrote %s, %s and %s" % (js, os.path.join(args.out_dir, "results.md"), args.svg))


if __name__ == "__main__":
    main()
