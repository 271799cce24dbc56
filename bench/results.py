#!/usr/bin/python3
"""bench/results.md and docs/bench_results.svg from the measurements
bench/run.py writes to bench/results.json: the tables, each goal of issue 13
judged from the figures (met / not met), and the chart of PyTorch/nnc ratios.

  /usr/bin/python3 bench/results.py bench/results.json bench/results.md docs/bench_results.svg
"""
import json
import os
import sys

from common import median_spread
from svg import Svg

SPEED_GOAL = {"small": 2.0, "large": 1.5}  # PyTorch/nnc at batch 64 (32 for text), at batch 256
THREAD_GOAL = 1.6  # nnc's 1-thread step over its 2-thread step
RSS_GOAL = 0.5  # nnc's peak RSS over PyTorch's
PEAK_GOAL = 0.70  # share of the FMA peak for GEMM-bound steps
GEMM_BOUND = [("char_gpt", None), ("fashion_mlp", 256)]  # None: every batch


def verdict(ok):
    return "met" if ok else "**not met**"


def side(run, who):
    """Median, min, max ms/step and the median peak RSS of one side's rounds."""
    ms = median_spread([r["ms_per_step"] for r in run[who]])
    rss = median_spread([r["peak_rss_bytes"] for r in run[who]])[0]
    return ms, rss


def best(model, batch, who):
    """The run (of `batch`) where `who` is fastest: each side's best thread count."""
    runs = [r for r in model["runs"] if r["batch"] == batch]
    return min(runs, key=lambda r: side(r, who)[0][0])


def mib(b):
    return "%.0f MiB" % (b / 2**20)


def summary(model, batch):
    """The figures of one model and batch at each side's best thread count."""
    nb, tb = best(model, batch, "nnc"), best(model, batch, "torch")
    (n_ms, _, _), n_rss = side(nb, "nnc")
    (t_ms, _, _), t_rss = side(tb, "torch")
    by_threads = {r["threads"]: side(r, "nnc")[0][0] for r in model["runs"] if r["batch"] == batch}
    scaling = by_threads[1] / by_threads[2] if 1 in by_threads and 2 in by_threads else None
    return {"nnc_ms": n_ms, "nnc_threads": nb["threads"], "torch_ms": t_ms, "torch_threads": tb["threads"],
            "ratio": t_ms / n_ms, "scaling": scaling, "nnc_rss": n_rss, "torch_rss": t_rss,
            "rss_ratio": n_rss / t_rss}


def gemm_rows(res):
    """GEMM-bound steps at nnc's best thread count: the step's FLOPs over its
    ms/step, and the matmul kernels' FLOPs over their time, against the FMA
    peak at that thread count."""
    rows = []
    for m in res["models"]:
        for name, batch in GEMM_BOUND:
            if m["name"] != name:
                continue
            for b in m["batches"] if batch is None else [batch]:
                run = best(m, b, "nnc")
                (ms, _, _), _ = side(run, "nnc")
                mid = sorted(run["nnc"], key=lambda r: r["ms_per_step"])[len(run["nnc"]) // 2]
                t = str(run["threads"])
                step_g = mid["flops_per_step"] / (ms * 1e-3) * 1e-9
                mm_g = mid["matmul_flops"] / (mid["matmul_ms"] * 1e-3) * 1e-9 if mid["matmul_ms"] > 0 else 0
                isa = "avx512" if "avx512" in res["fma_peak"] else "avx2"
                peak = res["fma_peak"][isa][t]
                rows.append({"model": name, "batch": b, "threads": run["threads"], "flops": mid["flops_per_step"],
                             "ms": ms, "step_gflops": step_g, "matmul_gflops": mm_g, "isa": isa, "peak": peak,
                             "avx2_peak": res["fma_peak"]["avx2"][t], "step_share": step_g / peak,
                             "matmul_share": mm_g / peak})
    return rows


def gemm_engine_note(engine):
    """What the GEMM-peak paragraph says about the engine the run's GEMMs
    ran on (results.json's machine.gemm, as the binaries' bench named it)."""
    if engine.startswith("OpenBLAS"):
        return ("its GEMMs run on %s, precompiled kernels that may use a narrower ISA, hence the AVX2 column"
                % engine)
    if engine.startswith("oneDNN"):
        return ("its GEMMs run on %s, whose kernels are generated for the ISA the CPU reports when the binary "
                "runs; the AVX2 column compares with OpenBLAS's AVX2 kernels" % engine)
    return "its GEMMs run on %s, which may use a narrower ISA, hence the AVX2 column" % engine


def core_latency_note(mc):
    """What bench/core_latency.c measured, if this run measured it (older
    results.json files have no such figure)."""
    ns = mc.get("core_round_trip_ns")
    if ns is None:
        return []
    shared = ns < 150
    return ["Two cores pass a cache line there and back in %.0f ns (`bench/core_latency.c`): %s" % (
        ns, "they share a cache, so a kernel finds the data the other core just wrote nearby." if shared else
        "they share no cache (cores on two chiplets, or a VM's vCPUs placed so), so every line one core reads "
        "that the other wrote costs that much, and the memory-bound kernels of the small steps (batch 64) gain "
        "little from a second thread (docs/bench.md, \"Two threads\")."), ""]


def render(res):
    mc, st = res["machine"], res["settings"]
    L = ["# nnc against PyTorch: every example, side by side", "",
         "Generated by `bench/run.sh`%s (bench/run.py, bench/results.py) on %s: %s, %d cores%s; PyTorch %s; "
         "nnc's binaries built by `nnc build%s`, their GEMMs: %s (OPENBLAS_CORETYPE %s). "
         "Raw figures: `bench/results.json`."
         % (" --quick" if st["quick"] else "", mc["date"], mc["cpu"], mc["cores"],
            " (AVX-512)" if mc["avx512"] else "", mc["torch"],
            (" " + st["nnc_flags"]) if st.get("nnc_flags") else "", mc["gemm"], mc["openblas_coretype"]),
         "",
         "**The machine is shared with other sessions and noisy**: the 1-minute load average was %.1f when the run "
         "started and %.1f when it ended, on %d cores, so absolute times are slower and more variable than on an "
         "idle machine, and 2 threads can be slower than 1. Each round runs nnc and then PyTorch in fresh "
         "processes, so a burst of load hits both sides of a ratio alike; the spread (min..max over rounds) shows "
         "how steady a figure is." % (mc["load_avg_start"], mc["load_avg_end"], mc["cores"]),
         "",
         ] + core_latency_note(mc) + [
         "Both sides train the same model on the same data with Adam 1e-3 and the same batch and thread count: "
         "nnc's `./model profile --json` (ms/step of the steps without kernel timers), PyTorch 1.13 with glibc "
         "malloc keeping freed memory (%s; bench/common.py says why: it is the faster PyTorch). Steps per "
         "process: about %g ms of work (1 to 200); up to %d round(s) per configuration, fewer where they "
         "would not fit in the run's %g minutes (the rounds of each row are in \"Every run\"). Peak RSS: each process's own `getrusage` ru_maxrss after its steps (both load the "
         "whole training set; the text models' PyTorch side trains on 16 batches of random word ids)."
         % (", ".join("%s=%s" % kv for kv in sorted(st["torch_malloc_env"].items())), st["target_ms"],
            st["repeats"], st["budget_min"]), "",
         "![PyTorch/nnc ratio per model and batch](../docs/bench_results.svg)", ""]

    L += ["## Summary: each side at its best thread count", "",
          "Goals (issue 13): PyTorch/nnc ≥ %.1f× at batch 64 (32 for the text models) and ≥ %.1f× at 256; nnc "
          "at 2 threads ≥ %.1f× faster than at 1; nnc's peak RSS ≤ %.1f× PyTorch's."
          % (SPEED_GOAL["small"], SPEED_GOAL["large"], THREAD_GOAL, RSS_GOAL), "",
          "| model | batch | nnc ms/step (threads) | PyTorch ms/step (threads) | PyTorch/nnc | speed goal "
          "| nnc 1t/2t | threads goal | nnc RSS | PyTorch RSS | nnc/PyTorch RSS | RSS goal |",
          "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    counts = {"met": 0, "all": 0}

    def judge(ok):
        counts["all"] += 1
        counts["met"] += bool(ok)
        return verdict(ok)

    for m in res["models"]:
        for i, b in enumerate(m["batches"]):
            s = summary(m, b)
            goal = SPEED_GOAL["small" if i == 0 else "large"]
            sc = ("%.2f×" % s["scaling"], judge(s["scaling"] >= THREAD_GOAL)) if s["scaling"] else ("-", "-")
            L.append("| %s | %d | %.3f (%d) | %.3f (%d) | %.2f× | %s | %s | %s | %s | %s | %.2f | %s |"
                     % (m["name"], b, s["nnc_ms"], s["nnc_threads"], s["torch_ms"], s["torch_threads"], s["ratio"],
                        judge(s["ratio"] >= goal), sc[0], sc[1], mib(s["nnc_rss"]), mib(s["torch_rss"]),
                        s["rss_ratio"], judge(s["rss_ratio"] <= RSS_GOAL)))
    gemm = gemm_rows(res)
    for g in gemm:
        judge(g["step_share"] >= PEAK_GOAL)
    L += ["", "%d of %d goals met in this run (the GEMM-peak goal's rows are below)." % (counts["met"], counts["all"]),
          ""]

    L += ["## Every run", "",
          "ms/step: median (min..max) over the rounds; samples/s from the median.", "",
          "| model | batch | threads | rounds × steps | nnc ms/step | PyTorch ms/step | nnc samples/s "
          "| PyTorch samples/s | nnc RSS | PyTorch RSS | PyTorch/nnc |",
          "|---|---|---|---|---|---|---|---|---|---|---|"]
    for m in res["models"]:
        for r in m["runs"]:
            (n, nlo, nhi), nrss = side(r, "nnc")
            (t, tlo, thi), trss = side(r, "torch")
            L.append("| %s | %d | %d | %d × %d | %.3f (%.3f..%.3f) | %.3f (%.3f..%.3f) | %.0f | %.0f | %s | %s "
                     "| %.2f× |" % (m["name"], r["batch"], r["threads"], len(r["nnc"]), r["steps"], n, nlo, nhi, t,
                                    tlo, thi, r["batch"] * 1e3 / n, r["batch"] * 1e3 / t, mib(nrss), mib(trss), t / n))

    pk = res["fma_peak"]
    L += ["", "## FMA peak and the GEMM-bound steps", "",
          "`bench/fma_peak.c`: independent FMA chains on full vector registers, the best of 5 runs at the start and "
          "5 at the end of the run (GFLOP/s, f32):", "",
          "| ISA | " + " | ".join("%s thread%s" % (t, "s" if t != "1" else "") for t in sorted(pk["avx2"])) + " |",
          "|---|" + "---|" * len(pk["avx2"])]
    for isa in sorted(pk):
        L.append("| %s | %s |" % (isa, " | ".join("%.1f" % pk[isa][t] for t in sorted(pk[isa]))))
    L += ["", "GEMM-bound steps at nnc's best thread count: the step's FLOPs (`profile --json`, summed over its "
          "kernels) over its ms/step, and the matmul kernels' FLOPs over their time (steps with kernel timers), "
          "as a share of the %s peak at that thread count (goal: the step ≥ %.0f %%). nnc's own kernels are "
          "compiled for this CPU%s; %s." % (gemm[0]["isa"] if gemm else "", PEAK_GOAL * 100,
                                            " (AVX-512 here)" if mc["avx512"] else "", gemm_engine_note(mc["gemm"])),
          "",
          "| model | batch | threads | GFLOP/step | ms/step | step GFLOP/s | matmul GFLOP/s | peak | step % of peak "
          "| matmul % of peak | step % of AVX2 peak | goal |",
          "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for g in gemm:
        L.append("| %s | %d | %d | %.2f | %.2f | %.1f | %.1f | %.1f | %.1f %% | %.1f %% | %.1f %% | %s |"
                 % (g["model"], g["batch"], g["threads"], g["flops"] * 1e-9, g["ms"], g["step_gflops"],
                    g["matmul_gflops"], g["peak"], g["step_share"] * 100, g["matmul_share"] * 100,
                    g["step_gflops"] / g["avx2_peak"] * 100, verdict(g["step_share"] >= PEAK_GOAL)))

    L += ["", "## Build, first step, binary", "",
          "nnc: a fresh `nnc build` plus the first run of the binary (`train --steps 1 --val-split 0`: data "
          "loading, one step at the example's batch, all cores, and its closing test evaluation on a test split "
          "cut to a few samples), so an upper bound. PyTorch: a fresh interpreter, `import torch`, the data, the "
          "model and one step. Libraries: `ldd`'s list.", "",
          "| model | nnc build s | nnc build → first step s | PyTorch import → first step s | PyTorch/nnc "
          "| binary bytes | libraries |", "|---|---|---|---|---|---|---|"]
    for m in res["models"]:
        f = m["first_step"]
        nnc_s = f["nnc_build_s"] + f["nnc_first_run_s"]
        L.append("| %s | %.2f | %.2f | %.2f | %.2f× | %d | %s |"
                 % (m["name"], f["nnc_build_s"], nnc_s, f["torch_s"], f["torch_s"] / nnc_s, m["binary_bytes"],
                    ", ".join(os.path.basename(l) for l in m["libs"])))
    L += ["", "Whole run: %.0f s." % res["wall_s"], ""]
    return "\n".join(L)


def chart(res, path):
    """Bars of PyTorch/nnc per model (each side at its best thread count),
    one per batch, with lines at 1x and at the goals (1.5x, 2x)."""
    bars = [(m["name"], i, b, summary(m, b)["ratio"]) for m in res["models"] for i, b in enumerate(m["batches"])]
    top = max([2.5] + [r for _, _, _, r in bars]) * 1.1
    W, H, left, right, tp, bottom = 760, 400, 60, 150, 40, 80
    svg = Svg(W, H, left, right, tp, bottom, "Training step: PyTorch time / nnc time (higher: nnc faster)")

    def y(v):
        return tp + (top - v) / top * (H - tp - bottom)

    step = 0.5 if top <= 4 else 1.0
    svg.grid_y([k * step for k in range(int(top / step) + 1)], y, lambda t: "%g×" % t)
    for v, label in ((1.0, "1× (as fast)"), (1.5, "1.5× (goal at 256)"), (2.0, "2× (goal at 64/32)")):
        svg.line(left, W - right, "%.1f" % y(v), "%.1f" % y(v), "#333", ' stroke-dasharray="%s"'
                 % ("2,3" if v == 1.5 else "5,4"))
        svg.text(W - right + 4, "%.1f" % (y(v) + 4), label, ' font-size="10"')
    colours = ["#1f77b4", "#ff7f0e"]
    models = [m["name"] for m in res["models"]]
    group = (W - left - right) / max(1, len(models))
    bw = group * 0.32
    for name, i, b, r in bars:
        x = left + models.index(name) * group + group * 0.16 + i * bw
        svg.rect(x, y(r), bw - 2, y(0) - y(r), colours[i], "%s, batch %d: %.2f×" % (name, b, r))
        svg.text("%.1f" % (x + bw / 2 - 1), "%.1f" % (y(r) - 4), "%.2f" % r, ' text-anchor="middle" font-size="10"')
    for k, name in enumerate(models):
        svg.text("%.1f" % (left + (k + 0.5) * group), H - bottom + 16, name.replace("fashion_", "fashion "),
                 ' text-anchor="middle" font-size="10"')
    svg.text_rotated(18, (tp + H - bottom) / 2, "PyTorch ms/step / nnc ms/step")
    svg.text("%.1f" % ((left + W - right) / 2), H - 44,
             "each side at its best thread count (1 or 2); %s" % res["machine"]["date"], ' text-anchor="middle"')
    for i, label in enumerate(("batch 64 (text: 32)", "batch 256")):
        lx = left + 180 * i
        svg.rect(lx, H - 29, 12, 12, colours[i])
        svg.text(lx + 18, H - 19, label, ' font-size="11"')
    svg.save(path)


def write(res, md_path, svg_path):
    with open(md_path, "w") as f:
        f.write(render(res))
    chart(res, svg_path)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit("usage: results.py RESULTS.json RESULTS.md CHART.svg")
    write(json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3])
