#!/usr/bin/python3
"""bench/results.py on a fixture of bench/run.py's measurements: each goal
judged from the figures (a ratio on either side of its line), the medians,
best thread counts and goal count; the GEMM engine the run used named
where the peak is discussed; the chart's bars; and run.py's cut test
split for the first-step run. Exits non-zero on the first mismatch."""
import copy
import gzip
import os
import sys
import tempfile
import xml.etree.ElementTree as ET

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import results  # noqa: E402
import run  # noqa: E402


def side_runs(ms_list, rss, **extra):
    return [dict({"ms_per_step": ms, "peak_rss_bytes": rss}, **extra) for ms in ms_list]


def nnc_runs(ms_list, rss, flops=0):
    return side_runs(ms_list, rss, flops_per_step=flops, matmul_flops=flops * 0.9, matmul_ms=ms_list[0] * 0.8,
                     warmup_steps=10)


def config(batch, threads, nnc_ms, torch_ms, nnc_rss=100 << 20, torch_rss=400 << 20, flops=0):
    return {"batch": batch, "threads": threads, "steps": 10, "torch_warmup": 20,
            "nnc": nnc_runs(nnc_ms, nnc_rss, flops), "torch": side_runs(torch_ms, torch_rss)}


def model(name, small, runs):
    return {"name": name, "batches": [small, 256], "build_s": 0.5, "binary_bytes": 123456,
            "libs": ["libopenblas.so.0", "/lib64/ld-linux-x86-64.so.2"],
            "first_step": {"nnc_build_s": 0.5, "nnc_first_run_s": 1.5, "torch_s": 4.0}, "runs": runs}


FIXTURE = {
    "machine": {"cpu": "Test CPU", "cores": 2, "avx512": True, "date": "2026-01-01 00:00 UTC", "kernel": "x",
                "gemm": "OpenBLAS Haswell kernels", "openblas_coretype": "not set", "load_avg_start": 3.0,
                "load_avg_end": 4.0, "torch": "1.13.0"},
    "fma_peak": {"avx2": {"1": 50.0, "2": 100.0}, "avx512": {"1": 100.0, "2": 200.0}},
    "settings": {"repeats": 3, "target_ms": 1500, "torch_warm_ms": 1000, "budget_min": 25, "quick": False,
                 "torch_malloc_env": {"MALLOC_MMAP_THRESHOLD_": "1"}},
    "wall_s": 100.0,
    "models": [
        # batch 64: nnc best at 2 threads (1.0 ms; 1 thread 2.0: 2x scaling), PyTorch best at 1 (3.0): 3x, met;
        # batch 256: nnc 4.0 / 3.0 (1.33x scaling, not met), PyTorch 4.2 at 2 threads: 1.4x, not met.
        model("fashion_mlp", 64, [
            config(64, 1, [2.0, 2.1, 1.9], [3.0, 3.5, 2.9]),
            config(64, 2, [1.0, 1.2, 0.9], [3.2, 3.3, 3.4]),
            config(256, 1, [4.0, 4.1, 3.9], [5.0, 5.0, 5.0], flops=0.2e9),
            config(256, 2, [3.0, 3.1, 2.9], [4.2, 4.3, 4.1], flops=0.2e9)]),
        # RSS 300 MiB against 400: 0.75, not met; one round each.
        model("text_lstm", 32, [
            config(32, 1, [10.0], [15.0], nnc_rss=300 << 20),
            config(32, 2, [8.0], [30.0], nnc_rss=300 << 20),
            config(256, 1, [50.0], [90.0], nnc_rss=300 << 20),
            config(256, 2, [40.0], [100.0], nnc_rss=300 << 20)]),
    ],
}

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def row(md, prefix):
    rows = [l for l in md.splitlines() if l.startswith(prefix)]
    check(len(rows) == 1, "one row starting %r, got %d" % (prefix, len(rows)))
    return [c.strip() for c in rows[0].split("|")[1:-1]] if rows else []


md = results.render(FIXTURE)
r = row(md, "| fashion_mlp | 64 | 1.000 (2)")
check(r[2:6] == ["1.000 (2)", "3.000 (1)", "3.00×", "met"], "mlp 64 speed: %s" % r[2:6])
check(r[6:8] == ["2.00×", "met"], "mlp 64 thread scaling: %s" % r[6:8])
check(r[8:12] == ["100 MiB", "400 MiB", "0.25", "met"], "mlp 64 RSS: %s" % r[8:12])
r = row(md, "| fashion_mlp | 256 | 3.000 (2)")
check(r[2:8] == ["3.000 (2)", "4.200 (2)", "1.40×", "**not met**", "1.33×", "**not met**"], "mlp 256: %s" % r[2:8])
r = row(md, "| text_lstm | 32 | 8.000 (2)")
check(r[2:6] == ["8.000 (2)", "15.000 (1)", "1.88×", "**not met**"], "text 32 speed: %s" % r[2:6])
check(r[10:12] == ["0.75", "**not met**"], "text 32 RSS: %s" % r[10:12])
r = row(md, "| text_lstm | 256 | 40.000 (2)")
check(r[4:6] == ["2.25×", "met"], "text 256 speed (1.5x goal): %s" % r[4:6])
# 4 summary rows x 3 goals + 1 GEMM row; met: mlp 64's three, mlp 256's RSS, text 256's speed
check("5 of 13 goals met in this run" in md, "goal count line:\n" + next(
    (l for l in md.splitlines() if "goals met" in l), "(none)"))
r = row(md, "| fashion_mlp | 64 | 2 |")
check(r[3:5] == ["3 × 10", "1.000 (0.900..1.200)"], "every-run row, median and spread: %s" % r[3:5])
check(r[6] == "64000", "samples/s from the median: %s" % r[6])
# the GEMM-bound row: 0.2 GFLOP in 3 ms at 2 threads = 66.7 GFLOP/s, 33.3 % of the 2-thread AVX-512 peak
r = row(md, "| fashion_mlp | 256 | 2 | 0.20")
check(r[5] == "66.7" and r[8] == "33.3 %" and r[10] == "66.7 %" and r[11] == "**not met**", "GEMM row: %s" % r)
r = row(md, "| text_lstm | 0.50 |")
check(r[2:5] == ["2.00", "4.00", "2.00×"] and r[5] == "123456", "first-step row: %s" % r)
check("![PyTorch/nnc ratio per model and batch](../docs/bench_results.svg)" in md, "the chart's image line")

# the GEMM-peak paragraph names the engine the run used (machine.gemm), not always OpenBLAS
def peak_paragraph(res):
    paras = [l for l in results.render(res).splitlines() if l.startswith("GEMM-bound steps at nnc's best thread")]
    check(len(paras) == 1, "one GEMM-peak paragraph, got %d" % len(paras))
    return paras[0] if paras else ""


p = peak_paragraph(FIXTURE)
check("(AVX-512 here); its GEMMs run on OpenBLAS Haswell kernels, precompiled kernels that may use a narrower ISA, "
      "hence the AVX2 column." in p, "OpenBLAS run's GEMM-peak paragraph: " + p)
onednn = copy.deepcopy(FIXTURE)
onednn["machine"]["gemm"] = "oneDNN 2.6.3 sgemm"
onednn["machine"]["avx512"] = False
p = peak_paragraph(onednn)
check("compiled for this CPU; its GEMMs run on oneDNN 2.6.3 sgemm, whose kernels are generated for the ISA" in p
      and "OpenBLAS's AVX2" in p and "run on OpenBLAS" not in p, "oneDNN run's GEMM-peak paragraph: " + p)
other = copy.deepcopy(FIXTURE)
other["machine"]["gemm"] = "BLIS 0.9.0"
p = peak_paragraph(other)
check("its GEMMs run on BLIS 0.9.0, which may use a narrower ISA" in p and "OpenBLAS" not in p,
      "another engine's GEMM-peak paragraph: " + p)

fast = copy.deepcopy(FIXTURE)
fast["fma_peak"]["avx512"]["2"] = 80.0  # now 66.7 / 80 = 83 %: met
check(row(results.render(fast), "| fashion_mlp | 256 | 2 | 0.20")[11] == "met", "GEMM goal met above 70 %")

# bench/core_latency.c's figure: no sentence without it (older results.json),
# "share no cache" above 150 ns, "share a cache" below.
check("pass a cache line" not in md, "no core-latency sentence without the figure")
for ns, says in ((437.0, "they share no cache"), (60.0, "they share a cache")):
    with_ns = copy.deepcopy(FIXTURE)
    with_ns["machine"]["core_round_trip_ns"] = ns
    text = results.render(with_ns)
    check("Two cores pass a cache line there and back in %.0f ns" % ns in text and says in text,
          "core-latency sentence at %.0f ns" % ns)

with tempfile.TemporaryDirectory() as tmp:
    svg = os.path.join(tmp, "c.svg")
    results.chart(FIXTURE, svg)
    tree = ET.parse(svg)
    ns = "{http://www.w3.org/2000/svg}"
    tips = sorted(t.text for t in tree.iter(ns + "title"))
    check(tips == ["fashion_mlp, batch 256: 1.40×", "fashion_mlp, batch 64: 3.00×", "text_lstm, batch 256: 2.25×",
                   "text_lstm, batch 32: 1.88×"], "the chart's bars: %s" % tips)
    labels = [t.text for t in tree.iter(ns + "text")]
    check("2× (goal at 64/32)" in labels and "1× (as fast)" in labels, "the 1x and 2x lines")

    # run.py's first-step data: the real training files, the test split cut to 64 samples
    d = run.tiny_test_data(os.path.join(ROOT, "examples", "fashion_mlp.nn"), tmp)
    images = gzip.open(os.path.join(d, "t10k-images-idx3-ubyte.gz")).read()
    labels = gzip.open(os.path.join(d, "t10k-labels-idx1-ubyte.gz")).read()
    check(int.from_bytes(images[4:8], "big") == 64 and len(images) == 16 + 64 * 784, "cut test images")
    check(int.from_bytes(labels[4:8], "big") == 64 and len(labels) == 8 + 64, "cut test labels")
    check(os.path.realpath(os.path.join(d, "train-images-idx3-ubyte.gz")).startswith(run.FASHION), "train files")
    spec = run.tiny_test_data(os.path.join(ROOT, "examples", "text_lstm.nn"), tmp)
    check(spec == "fortunes:computers,cookie?len=64&vocab=10000&pad=pre&test=0.01", "text spec: " + spec)
    spec = run.tiny_test_data(os.path.join(ROOT, "examples", "char_gpt.nn"), tmp)
    check(spec == "fortunes-chars:all?test=0.01", "chars spec: " + spec)

if failures:
    sys.exit("%d check(s) failed" % len(failures))
print("bench results: all checks passed")
